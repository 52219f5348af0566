"""Baseline diff of two nmap scans with ndiff's semantics (no dependency on ndiff itself).

Verdict (`any_difference`, exit 0/1) follows ndiff's cost: host state, address
or host-name sets, per-port state / service (name, product, version,
extrainfo) / script output, OS match list, extraports summary and host
scripts.  Scan type, command line and timing are ignored, as ndiff does.
Ports whose state is "extraports" on both sides are not compared (ndiff's
include_diff).  The lists name what changed, keyed by host address and
"port/proto"; ports of hosts that appear or disappear count as opened/closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from secaudit.exposure.nmap_xml import NmapHost, NmapPort, NmapScan

__all__ = ["ScanDiff", "diff_scans"]

_NOT_LISTED = "port no longer listed (falls into extraports)"


@dataclass
class ScanDiff:
    """What changed from scan `a` (baseline) to scan `b`; see expected_diffs.json for shapes."""

    hosts_added: list[str] = field(default_factory=list)
    hosts_removed: list[str] = field(default_factory=list)
    host_state_changes: list[dict[str, Any]] = field(default_factory=list)
    mac_changes: list[dict[str, Any]] = field(default_factory=list)
    ports_opened: list[dict[str, Any]] = field(default_factory=list)
    ports_closed: list[dict[str, Any]] = field(default_factory=list)
    port_state_changes: list[dict[str, Any]] = field(default_factory=list)
    service_changes: list[dict[str, Any]] = field(default_factory=list)
    script_changes: list[dict[str, Any]] = field(default_factory=list)
    os_changes: list[dict[str, Any]] = field(default_factory=list)
    hostname_changes: list[dict[str, Any]] = field(default_factory=list)
    cost: int = 0  # ndiff's cost: > 0 means "different"

    @property
    def any_difference(self) -> bool:
        return self.cost > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts_added": self.hosts_added,
            "hosts_removed": self.hosts_removed,
            "host_state_changes": self.host_state_changes,
            "mac_changes": self.mac_changes,
            "ports_opened": self.ports_opened,
            "ports_closed": self.ports_closed,
            "port_state_changes": self.port_state_changes,
            "service_changes": self.service_changes,
            "script_changes": self.script_changes,
            "os_changes": self.os_changes,
            "hostname_changes": self.hostname_changes,
            "any_difference": self.any_difference,
        }


def _script_diff_ids(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> list[str]:
    """Script ids added, removed or with different output (ndiff merges sorted (id, output))."""
    la, lb = sorted(a), sorted(b)
    out: list[str] = []
    i = j = 0
    while i < len(la) and j < len(lb):
        if la[i][0] < lb[j][0]:
            out.append(la[i][0])
            i += 1
        elif la[i][0] > lb[j][0]:
            out.append(lb[j][0])
            j += 1
        else:
            if la[i][1] != lb[j][1]:
                out.append(la[i][0])
            i += 1
            j += 1
    out.extend(s[0] for s in la[i:])
    out.extend(s[0] for s in lb[j:])
    return sorted(set(out))


def _service_key(p: NmapPort | None) -> tuple[str | None, ...]:
    if p is None:
        return (None, None, None, None)
    return (p.service, p.product, p.version, p.extrainfo)


def _ports(h: NmapHost | None) -> dict[tuple[int, str], NmapPort]:
    if h is None:
        return {}
    # a port without <state> is not a port for ndiff
    return {(p.port, p.proto): p for p in h.ports if p.state is not None}


def _is_extraports(h: NmapHost | None, state: str | None) -> bool:
    return state is None or (h is not None and state in {s for s, _ in h.extraports})


def _host_key(h: NmapHost) -> str:
    return h.addr or f"<no address #{id(h)}>"


def _index(scan: NmapScan) -> dict[str, NmapHost]:
    out: dict[str, NmapHost] = {}
    for h in scan.hosts:
        out.setdefault(_host_key(h), h)
    return out


def _diff_host(d: ScanDiff, key: str, ha: NmapHost | None, hb: NmapHost | None) -> None:
    state_a = ha.state if ha else None
    state_b = hb.state if hb else None
    if state_a != state_b:
        d.cost += 1
        if ha is not None and hb is not None:
            d.host_state_changes.append({"host": key, "from": state_a, "to": state_b})
    addrs_a = set(ha.addresses) if ha else set()
    addrs_b = set(hb.addresses) if hb else set()
    names_a = set(ha.hostnames) if ha else set()
    names_b = set(hb.hostnames) if hb else set()
    if addrs_a != addrs_b or names_a != names_b:
        d.cost += 1
        if ha is not None and hb is not None:
            if (ha.mac or None) != (hb.mac or None):
                d.mac_changes.append({"host": key, "from": ha.mac, "to": hb.mac})
            if names_a != names_b:
                d.hostname_changes.append(
                    {"host": key, "from": sorted(names_a), "to": sorted(names_b)}
                )

    ports_a, ports_b = _ports(ha), _ports(hb)
    for spec in sorted(set(ports_a) | set(ports_b)):
        pa_, pb_ = ports_a.get(spec), ports_b.get(spec)
        sa = pa_.state if pa_ else None
        sb = pb_.state if pb_ else None
        port = f"{spec[0]}/{spec[1]}"
        if _is_extraports(ha, sa) and _is_extraports(hb, sb):
            continue
        scripts = _script_diff_ids(pa_.scripts if pa_ else [], pb_.scripts if pb_ else [])
        service_differs = _service_key(pa_) != _service_key(pb_)
        cost = int(sa != sb) + int(service_differs) + len(scripts)
        d.cost += cost
        if sa != sb and ha is not None and hb is not None:
            d.port_state_changes.append({"host": key, "port": port, "from": sa, "to": sb})
        if sb == "open" and sa != "open" and pb_ is not None:
            d.ports_opened.append({"host": key, "port": port, "service": pb_.service_dict()})
        if sa == "open" and sb != "open":
            d.ports_closed.append(
                {
                    "host": key,
                    "port": port,
                    "to_state": sb,
                    "note": _NOT_LISTED if pb_ is None and hb is not None else None,
                }
            )
        if (
            sa == "open"
            and sb == "open"
            and pa_ is not None
            and pb_ is not None
            and (service_differs or pa_.tunnel != pb_.tunnel)
        ):
            # a tunnel-only change is listed but, as in ndiff (Service.__eq__), costs nothing
            d.service_changes.append(
                {"host": key, "port": port, "from": pa_.service_dict(), "to": pb_.service_dict()}
            )
        if scripts:
            d.script_changes.append({"host": key, "port": port, "scripts": scripts})

    os_a = ha.os if ha else []
    os_b = hb.os if hb else []
    if os_a != os_b:
        d.cost += 1
        if ha is not None and hb is not None:
            d.os_changes.append({"host": key, "from": os_a, "to": os_b})
    extra_a = ha.extraports if ha else []
    extra_b = hb.extraports if hb else []
    if extra_a != extra_b:
        d.cost += 1
    host_scripts = _script_diff_ids(ha.scripts if ha else [], hb.scripts if hb else [])
    if host_scripts:
        d.cost += len(host_scripts)
        d.script_changes.append({"host": key, "port": None, "scripts": host_scripts})


def diff_scans(a: NmapScan, b: NmapScan) -> ScanDiff:
    """Compare baseline `a` with new scan `b` (hosts keyed like ndiff: IPv4, IPv6, else MAC)."""
    d = ScanDiff()
    ia, ib = _index(a), _index(b)
    for key in sorted(set(ia) | set(ib)):
        ha, hb = ia.get(key), ib.get(key)
        if ha is None:
            d.hosts_added.append(key)
        elif hb is None:
            d.hosts_removed.append(key)
        _diff_host(d, key, ha, hb)
    return d
