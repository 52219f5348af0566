"""Load and check a policy folder: zones.yaml, assets.yaml, links.yaml.

Every problem is collected first (pySigma's habit) and the first is raised
as a ConfigError with `.all_errors`; each names file:line and what was
expected.  Things that are legal but suspicious (overlapping zone networks,
expired exceptions) become `Policy.warnings`, with the same location form.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from secaudit.config import line_of, load_model, load_yaml
from secaudit.errors import ConfigError
from secaudit.policy.models import INTERNET, AssetsFile, LinksFile, Role, ZonesFile
from secaudit.policy.policy import Policy

__all__ = ["default_policy", "find_policy_dir", "load_policy"]

# Address space that is never "the internet" when no policy says otherwise.
PRIVATE_NETWORKS = (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7",
)  # fmt: skip

M = TypeVar("M", bound=BaseModel)
_ROUTERS = (Role.GATEWAY, Role.NETWORK)


def find_policy_dir(path: str | Path) -> Path:
    """The folder holding zones.yaml: `path` itself or `path/policy` (a rules/ folder)."""
    p = Path(path)
    if (p / "zones.yaml").is_file():
        return p
    if (p / "policy" / "zones.yaml").is_file():
        return p / "policy"
    if not p.exists():
        raise ConfigError("policy folder not found", str(p))
    raise ConfigError("no zones.yaml here or in policy/ (expected a policy folder)", str(p))


def _load(model: type[M], path: Path, errors: list[ConfigError]) -> tuple[M | None, Any]:
    """(model or None, raw data or None): raw data survives a validation error for cross-checks."""
    data = None
    try:
        data = load_yaml(path)
        return load_model(model, path, data), data
    except ConfigError as exc:
        for e in getattr(exc, "all_errors", [exc]):
            e.message = e.message.replace("Value error, ", "")
            errors.append(e)
        return None, data


def _raw_names(data: Any, key: str) -> set[str]:
    """Names listed under `key` in a file that failed validation (so other files can be checked)."""
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return set()
    return {str(i["name"]) for i in items if isinstance(i, dict) and "name" in i}


def _err(
    errors: list[ConfigError], msg: str, path: Path, data: Any, loc: Sequence[int | str]
) -> None:
    errors.append(ConfigError(msg, str(path), line=line_of(data, loc)))


def load_policy(path: str | Path, *, today: dt.date | None = None) -> Policy:
    """Read and check a policy folder; raise the first ConfigError (all on `.all_errors`)."""
    folder = find_policy_dir(path)
    errors: list[ConfigError] = []
    warnings: list[ConfigError] = []
    zpath, apath, lpath = folder / "zones.yaml", folder / "assets.yaml", folder / "links.yaml"

    zones_f, zdata = _load(ZonesFile, zpath, errors)
    assets_f, adata = _load(AssetsFile, apath, errors) if apath.exists() else (AssetsFile(), None)
    links_f, ldata = (
        _load(LinksFile, lpath, errors) if lpath.exists() else (LinksFile.model_validate({}), None)
    )
    if not apath.exists():
        warnings.append(
            ConfigError("no assets.yaml: every device counts as unregistered", str(apath))
        )
    if not lpath.exists():
        warnings.append(
            ConfigError("no links.yaml: every cross-zone and external flow is denied", str(lpath))
        )

    zone_names = _raw_names(zdata, "zones")
    if zones_f is not None:
        _check_zones(zones_f, zpath, zdata, errors, warnings)
        zone_names = {z.name for z in zones_f.zones}
    known_zones = zones_f is not None or bool(zone_names)
    if assets_f is not None and known_zones:
        _check_assets(assets_f, zone_names, apath, adata, errors)
    if links_f is not None and known_zones:
        asset_names = (
            {a.name for a in assets_f.assets}
            if assets_f is not None
            else _raw_names(adata, "assets")
        )
        _check_links(links_f, zone_names, asset_names, lpath, ldata, errors, warnings, today)

    if errors or zones_f is None or assets_f is None or links_f is None:
        first = errors[0]
        first.all_errors = errors  # type: ignore[attr-defined]
        raise first
    asset_lines = tuple(
        line_of(adata, ["assets", i]) if adata is not None else None
        for i in range(len(assets_f.assets))
    )
    return Policy(
        source=str(folder),
        zones=zones_f.zones,
        assets=assets_f.assets,
        links=links_f,
        warnings=tuple(warnings),
        asset_lines=asset_lines,
    )


def _check_zones(
    zf: ZonesFile, path: Path, data: Any, errors: list[ConfigError], warnings: list[ConfigError]
) -> None:
    seen: dict[str, int] = {}
    vlans: dict[int, str] = {}
    nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, int, int]] = []
    for i, z in enumerate(zf.zones):
        if z.name in seen:
            _err(
                errors,
                f"zones.{i}.name: duplicate zone {z.name!r} (first at item {seen[z.name]})",
                path,
                data,
                ["zones", i, "name"],
            )
        seen.setdefault(z.name, i)
        for v in z.vlans:
            if v in vlans and vlans[v] != z.name:
                warnings.append(
                    ConfigError(
                        f"zones.{i}.vlans: VLAN {v} also belongs to zone {vlans[v]!r}",
                        str(path),
                        line=line_of(data, ["zones", i, "vlans"]),
                    )
                )
            vlans.setdefault(v, z.name)
        for j, n in enumerate(z.networks):
            nets.append((n, z.name, i, j))
    # overlaps across zones: sort by (version, start) and compare neighbours' ranges
    nets.sort(key=lambda t: (t[0].version, int(t[0].network_address), -t[0].prefixlen))
    open_: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str, int, int]] = []
    for cur in nets:
        open_ = [
            o
            for o in open_
            if o[0].version == cur[0].version
            and int(o[0].broadcast_address) >= int(cur[0].network_address)
        ]
        for o in open_:
            if o[1] != cur[1]:
                warnings.append(
                    ConfigError(
                        f"zones.{cur[2]}.networks.{cur[3]}: {cur[0]} of zone {cur[1]!r} overlaps {o[0]} of zone {o[1]!r} (the longer prefix wins)",
                        str(path),
                        line=line_of(data, ["zones", cur[2], "networks", cur[3]]),
                    )
                )
        open_.append(cur)


def _check_assets(
    af: AssetsFile, zones: set[str], path: Path, data: Any, errors: list[ConfigError]
) -> None:
    names: dict[str, int] = {}
    macs: dict[str, list[int]] = defaultdict(list)
    ips: dict[str, list[int]] = defaultdict(list)
    for i, a in enumerate(af.assets):
        if a.name in names:
            _err(
                errors,
                f"assets.{i}.name: duplicate asset {a.name!r} (first at item {names[a.name]})",
                path,
                data,
                ["assets", i, "name"],
            )
        names.setdefault(a.name, i)
        if a.zone not in zones:
            _err(
                errors,
                f"assets.{i}.zone: unknown zone {a.zone!r} (expected one of {', '.join(sorted(zones))})",
                path,
                data,
                ["assets", i, "zone"],
            )
        if a.mac:
            macs[a.mac].append(i)
        for ip in set(a.ips):
            ips[ip].append(i)
    for mac, idx in macs.items():
        if len(idx) > 1 and not all(af.assets[k].role in _ROUTERS for k in idx):
            for k in idx[1:]:
                _err(
                    errors,
                    f"assets.{k}.mac: duplicate MAC {mac} (also asset {af.assets[idx[0]].name!r})",
                    path,
                    data,
                    ["assets", k, "mac"],
                )
    for ip, idx in ips.items():
        if (
            len(idx) > 1 and not ipaddress.ip_address(ip).is_link_local
        ):  # fe80::1 on every link is normal
            for k in idx[1:]:
                j = list(af.assets[k].ips).index(ip)
                _err(
                    errors,
                    f"assets.{k}.ips: duplicate IP {ip} (also asset {af.assets[idx[0]].name!r})",
                    path,
                    data,
                    ["assets", k, "ips", j],
                )


def _check_links(
    lf: LinksFile,
    zones: set[str],
    assets: set[str],
    path: Path,
    data: Any,
    errors: list[ConfigError],
    warnings: list[ConfigError],
    today: dt.date | None,
) -> None:
    expected = ", ".join(sorted(zones)) + f", {INTERNET!r} or '*'"
    for i, r in enumerate(lf.allow):
        for key, name in (("from", r.from_), ("to", r.to)):
            if name not in ("*", INTERNET) and name not in zones:
                _err(
                    errors,
                    f"allow.{i}.{key}: unknown zone {name!r} (expected {expected})",
                    path,
                    data,
                    ["allow", i, key],
                )
    fz = lf.external.forbidden_zones or ()
    for i, name in enumerate(fz):
        if name not in zones:
            _err(
                errors,
                f"external.forbidden_zones.{i}: unknown zone {name!r}",
                path,
                data,
                ["external", "forbidden_zones", i],
            )
    for service in ("web", "dns", "mail", "ntp"):
        for i, name in enumerate(getattr(lf.external.via, service)):
            if name not in assets:
                _err(
                    errors,
                    f"external.via.{service}.{i}: unknown asset {name!r} (expected a name from assets.yaml)",
                    path,
                    data,
                    ["external", "via", service, i],
                )
    now = today or dt.datetime.now(dt.UTC).date()
    for i, ex in enumerate(lf.exceptions):
        for key, end in (("from", ex.from_), ("to", ex.to)):
            if isinstance(end, str) and end not in assets and end not in zones:
                _err(
                    errors,
                    f"exceptions.{i}.{key}: unknown asset or zone {end!r} (expected an IP address, CIDR, or a name from assets.yaml / zones.yaml)",
                    path,
                    data,
                    ["exceptions", i, key],
                )
        if ex.expires < now:
            warnings.append(
                ConfigError(
                    f"exceptions.{i}: expired on {ex.expires.isoformat()} ({ex.reason}); it no longer excuses traffic",
                    str(path),
                    line=line_of(data, ["exceptions", i]),
                )
            )
        elif ex.starts is not None and ex.starts > now:
            warnings.append(
                ConfigError(
                    f"exceptions.{i}: not in force before {ex.starts.isoformat()} ({ex.reason}); until then it excuses nothing",
                    str(path),
                    line=line_of(data, ["exceptions", i]),
                )
            )


def default_policy() -> Policy:
    """The policy assumed when none is given: private address space is one internal zone.

    Lets policy-aware detectors that only need "internal vs internet" (beacon)
    run on a bare capture; nothing is approved and no device is registered.
    """
    zones = ZonesFile.model_validate(
        {"zones": [{"name": "private", "trust": "internal", "networks": list(PRIVATE_NETWORKS)}]}
    ).zones
    return Policy(
        source="(default: private address space is internal)",
        zones=zones,
        assets=(),
        links=LinksFile.model_validate({}),
    )
