"""`Policy`: the loaded zones, assets and links with column-wise lookups for detectors."""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.errors import ConfigError
from secaudit.model import Gap
from secaudit.policy.addr import (
    U64,
    hilo_of_distinct,
    hilo_of_strings,
    is_special,
    network_hilo,
    parse_macs,
)
from secaudit.policy.lookup import AddrTable, CidrTable
from secaudit.policy.models import (
    INTERNET,
    Asset,
    ExceptionRule,
    LinksFile,
    PortSpec,
    Role,
    Trust,
    Zone,
)

__all__ = ["INTERNET", "LOCAL", "Policy", "ports_match"]

LOCAL = "local"  # link-local, multicast, broadcast, loopback, unspecified: never routed
ZONE_INTERNET = -1
ZONE_LOCAL = -2
BoolArr = npt.NDArray[np.bool_]
I32 = npt.NDArray[np.int32]


def ports_match(specs: Sequence[PortSpec], proto: npt.ArrayLike, port: npt.ArrayLike) -> BoolArr:
    """Rows whose (ip protocol number, responder port) match any of `specs`."""
    p = np.asarray(proto, dtype=np.int64)
    q = np.asarray(port, dtype=np.int64)
    out = np.zeros(len(p), dtype=bool)
    for s in specs:
        if s.matches_any():
            return np.ones(len(p), dtype=bool)
        m = (q >= s.lo) & (q <= s.hi)
        if s.proto is not None:
            m &= p == s.proto
        out |= m
    return out


def _in_net(hi: U64, lo: U64, nh: int, nl: int, plen: int) -> BoolArr:
    bits = ((1 << plen) - 1) << (128 - plen) if plen else 0
    mh, ml = np.uint64(bits >> 64), np.uint64(bits & ((1 << 64) - 1))
    hit = ((hi & mh) == np.uint64(nh & int(mh))) & ((lo & ml) == np.uint64(nl & int(ml)))
    return np.asarray(hit, dtype=np.bool_)


@dataclass(frozen=True)
class Policy:
    """Zones, assets and links of one network, validated, with fast lookups.

    Zone indexes: 0..n-1 index `zones`; -1 is the internet (anything not
    listed); -2 is link-local/multicast/broadcast traffic that belongs to no
    zone and never leaves the link.
    """

    source: str
    zones: tuple[Zone, ...]
    assets: tuple[Asset, ...]
    links: LinksFile
    warnings: tuple[ConfigError, ...] = ()
    asset_lines: tuple[int | None, ...] = field(default=(), repr=False)

    # ------------------------------------------------------------------ zones
    @cached_property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(z.name for z in self.zones)

    @cached_property
    def zone_id(self) -> dict[str, int]:
        return {z.name: i for i, z in enumerate(self.zones)}

    @cached_property
    def _zone_table(self) -> CidrTable:
        nets = []
        for i, z in enumerate(self.zones):
            for n in z.networks:
                h, low, plen = network_hilo(n)
                nets.append((h, low, plen, i))
        return CidrTable(nets)

    def zone_of(self, hi: U64, lo: U64, *, distinct: bool = False) -> I32:
        """Zone index per address (-1 internet, -2 link-local/multicast/broadcast).
        `distinct`: the addresses are already distinct (no de-duplication first)."""
        table = self._zone_table
        z = table.lookup_unique(hi, lo) if distinct else table.lookup(hi, lo)
        z[(z < 0) & is_special(hi, lo)] = ZONE_LOCAL
        return z

    def zone_of_strings(self, values: pd.Series) -> I32:
        hi, lo, ok = hilo_of_strings(values)
        z = self.zone_of(hi, lo)
        z[~ok] = ZONE_LOCAL
        return z

    def zone_name(self, idx: npt.ArrayLike) -> npt.NDArray[np.object_]:
        names = np.array([*self.zone_names, LOCAL, INTERNET], dtype=object)
        i = np.asarray(idx, dtype=np.int64)
        return names[np.where(i >= 0, i, len(self.zones) + (i == ZONE_INTERNET))]

    @cached_property
    def zone_trust(self) -> tuple[Trust, ...]:
        return tuple(z.trust for z in self.zones)

    def zones_with_trust(self, trust: Trust) -> list[int]:
        return [i for i, t in enumerate(self.zone_trust) if t == trust]

    @cached_property
    def forbidden_zone_ids(self) -> frozenset[int]:
        """Zones that must never reach the internet (default: every classified zone)."""
        names = self.links.external.forbidden_zones
        if names is None:
            return frozenset(self.zones_with_trust(Trust.CLASSIFIED))
        return frozenset(self.zone_id[n] for n in names if n in self.zone_id)

    # ------------------------------------------------------------------ assets
    @cached_property
    def asset_id(self) -> dict[str, int]:
        return {a.name: i for i, a in enumerate(self.assets)}

    @cached_property
    def _asset_ip_pairs(self) -> list[tuple[int, str]]:
        """(asset index, address text) of every address assets.yaml lists, in order."""
        return [(i, str(ip)) for i, a in enumerate(self.assets) for ip in a.ips]

    @cached_property
    def _ip_table(self) -> AddrTable:
        pairs = self._asset_ip_pairs
        # one compiled pass for the dotted quads (texts repeat seldom: no factorization)
        hi, lo, ok = hilo_of_distinct([ip for _, ip in pairs])
        rows = zip(hi.tolist(), lo.tolist(), [i for i, _ in pairs], strict=True)
        return AddrTable([r for r, good in zip(rows, ok.tolist(), strict=True) if good])

    def asset_of_ip(self, hi: U64, lo: U64, *, distinct: bool = False) -> I32:
        """Registered asset per address, -1 when none (first asset wins a shared link-local).
        `distinct`: the addresses are already distinct (no de-duplication first)."""
        if distinct:
            return self._ip_table.lookup_unique(hi, lo)
        return self._ip_table.lookup(hi, lo)

    def asset_of_ip_strings(self, values: pd.Series) -> I32:
        hi, lo, ok = hilo_of_strings(values)
        a = self.asset_of_ip(hi, lo)
        a[~ok] = -1
        return a

    @cached_property
    def _asset_mac_values(self) -> tuple[int | None, ...]:
        """Each asset's MAC as an int (None: none or invalid), parsed once for every
        MAC lookup table below."""
        macs = parse_macs([a.mac for a in self.assets if a.mac])[::-1]
        return tuple(macs.pop() if a.mac else None for a in self.assets)

    @cached_property
    def _mac_index(self) -> tuple[pd.Index, npt.NDArray[np.int32]]:
        ids = [i for i, m in enumerate(self._asset_mac_values) if m is not None]
        macs = [self._asset_mac_values[i] for i in ids]
        idx = pd.Index(np.array(macs, dtype=np.uint64))
        keep = ~idx.duplicated(keep="first")
        return idx[keep], np.array(ids, dtype=np.int32)[keep]

    def asset_of_mac(self, macs: npt.ArrayLike) -> I32:
        """Registered asset per 48-bit MAC, -1 when none."""
        idx, ids = self._mac_index
        m = np.asarray(macs, dtype=np.uint64)
        if len(idx) == 0:
            return np.full(len(m), -1, dtype=np.int32)
        pos = idx.get_indexer(pd.Index(m))
        return np.where(pos >= 0, ids[np.maximum(pos, 0)], -1).astype(np.int32)

    @cached_property
    def asset_macs(self) -> npt.NDArray[np.uint64]:
        """48-bit MAC per asset (0 when none), with a trailing 0 so index -1 reads "none"."""
        return np.array([m or 0 for m in self._asset_mac_values] + [0], dtype=np.uint64)

    @cached_property
    def asset_zone_ids(self) -> npt.NDArray[np.int32]:
        """Zone index each asset is registered in (-2 unknown), with a trailing -2 for -1."""
        return np.array([self.zone_id.get(a.zone, -2) for a in self.assets] + [-2], dtype=np.int32)

    @cached_property
    def asset_names(self) -> npt.NDArray[np.object_]:
        """Each asset's name, with a trailing None so index -1 reads "none"."""
        return np.array([a.name for a in self.assets] + [None], dtype=object)

    @cached_property
    def asset_roles(self) -> tuple[str, ...]:
        """Each asset's role name (Role values), read once."""
        return tuple(a.role.value for a in self.assets)

    @cached_property
    def macless_assets(self) -> frozenset[int]:
        """Assets registered with addresses but no MAC."""
        return frozenset(i for i, a in enumerate(self.assets) if not a.mac and a.ips)

    @cached_property
    def assets_plan_v4(self) -> npt.NDArray[np.bool_]:
        """Per asset: does assets.yaml list an IPv4 address for it (trailing False for -1)."""
        out = np.zeros(len(self.assets) + 1, dtype=bool)
        out[[i for i, ip in self._asset_ip_pairs if ":" not in ip]] = True
        return out

    @cached_property
    def _assets_by_role(self) -> dict[Role, list[int]]:
        """Asset indexes per role, ascending (detectors ask for the same roles often)."""
        out: dict[Role, list[int]] = {}
        for i, a in enumerate(self.assets):
            out.setdefault(a.role, []).append(i)
        return out

    def assets_with_role(self, *roles: Role) -> list[int]:
        """Indexes of the assets with any of `roles`, ascending."""
        return sorted(i for r in set(roles) for i in self._assets_by_role.get(r, ()))

    @cached_property
    def gateway_macs(self) -> npt.NDArray[np.uint64]:
        """MACs of routers (role gateway or network): they carry many zones' IPs by design."""
        routers = (Role.GATEWAY, Role.NETWORK)
        out = [
            m
            for a, m in zip(self.assets, self._asset_mac_values, strict=True)
            if m is not None and a.role in routers
        ]
        return np.array(out, dtype=np.uint64)

    def via_assets(self, service: str) -> list[int]:
        names: Iterable[str] = getattr(self.links.external.via, service, ())
        return [self.asset_id[n] for n in names if n in self.asset_id]

    # ------------------------------------------------------------------ links
    @cached_property
    def _approved_table(self) -> CidrTable:
        nets = []
        for i, ap in enumerate(self.links.external.approved):
            if ap.cidr is not None:
                h, low, plen = network_hilo(ap.cidr)
                nets.append((h, low, plen, i))
        return CidrTable(nets)

    def approved_cidr(self, hi: U64, lo: U64, proto: npt.ArrayLike, port: npt.ArrayLike) -> BoolArr:
        """Rows whose destination lies in an approved CIDR (and its ports, if it names any)."""
        return self.approved_ports(self.approved_net(hi, lo), proto, port)

    def approved_net(self, hi: U64, lo: U64, *, distinct: bool = False) -> I32:
        """Per address, the approved entry whose CIDR holds it (longest prefix), -1 none.
        `distinct`: the addresses are already distinct (no de-duplication first)."""
        table = self._approved_table
        return table.lookup_unique(hi, lo) if distinct else table.lookup(hi, lo)

    def approved_ports(self, net: I32, proto: npt.ArrayLike, port: npt.ArrayLike) -> BoolArr:
        """Rows whose approved_net `net` (-1 none) also allows the row's service."""
        idx = np.asarray(net)
        ok = idx >= 0
        approved = self.links.external.approved
        if ok.any() and any(not p.matches_any() for a in approved for p in a.ports):
            pr, po = np.asarray(proto), np.asarray(port)
            for i, ap in enumerate(approved):
                rows = idx == i
                if rows.any() and not all(p.matches_any() for p in ap.ports):
                    ok[rows] = ports_match(ap.ports, pr[rows], po[rows])
        return ok

    def approved_domain(
        self,
        domains: pd.Series,
        proto: npt.ArrayLike | None = None,
        port: npt.ArrayLike | None = None,
    ) -> BoolArr:
        """Rows whose domain (lower case, no trailing dot) matches an approved domain glob
        (and its ports, if it names any and `proto`/`port` are given).

        `*.example.gov.cn` also covers `example.gov.cn` itself.
        """
        entries = [a for a in self.links.external.approved if a.domain]
        out = np.zeros(len(domains), dtype=bool)
        if not entries:
            return out
        # normalized once per distinct value; a missing one reads "" (matches nothing)
        codes, raw = pd.factorize(domains, use_na_sentinel=True)
        uniques = [str(u).lower().rstrip(".") for u in np.asarray(raw, dtype=object).tolist()]
        rows = np.where(codes < 0, len(uniques), codes)
        for ap in entries:
            g = str(ap.domain)
            hits = np.zeros(len(uniques) + 1, dtype=bool)
            for i, d in enumerate(uniques):  # one test per distinct domain
                hits[i] = bool(d) and (
                    fnmatch.fnmatchcase(d, g) or (g.startswith("*.") and d == g[2:])
                )
            m = hits[rows]
            limited = not all(p.matches_any() for p in ap.ports)
            if m.any() and limited and proto is not None and port is not None:
                m[m] = ports_match(ap.ports, np.asarray(proto)[m], np.asarray(port)[m])
            out |= m
        return out

    def allowed_internal(
        self, from_zone: I32, to_zone: I32, proto: npt.ArrayLike, port: npt.ArrayLike
    ) -> BoolArr:
        """Rows whose zone pair and service an `allow` rule permits (same zone: always).

        A rule may name "internet" (everything unlisted) on either side, e.g. a public
        portal: {from: internet, to: dmz, ports: [tcp/443]}.
        """
        fz = np.asarray(from_zone)
        tz = np.asarray(to_zone)
        out = fz == tz
        for rule in self.links.allow:
            m = self._zone_match(rule.from_, fz) & self._zone_match(rule.to, tz)
            if m.any():
                m[m] = ports_match(rule.ports, np.asarray(proto)[m], np.asarray(port)[m])
            out |= m
        return np.asarray(out, dtype=np.bool_)

    def _zone_match(self, name: str, zone: npt.NDArray[np.int32]) -> BoolArr:
        """Rows in zone `name` of an allow rule: "*" is every listed zone, "internet" is -1."""
        if name == "*":
            return np.asarray(zone >= 0, dtype=np.bool_)
        if name == INTERNET:
            return np.asarray(zone == ZONE_INTERNET, dtype=np.bool_)
        return np.asarray(zone == self.zone_id.get(name, -99), dtype=np.bool_)

    def endpoint_networks(
        self, end: ipaddress.IPv4Network | ipaddress.IPv6Network | str
    ) -> list[tuple[int, int, int]]:
        """(hi, lo, prefix length) networks of an exception's end: the network itself, an
        asset's addresses (asset names win over zone names), or a zone's networks."""
        if not isinstance(end, str):
            return [network_hilo(end)]
        if end in self.asset_id:
            nets = [ipaddress.ip_network(ip) for ip in self.assets[self.asset_id[end]].ips]
        elif end in self.zone_id:
            nets = list(self.zones[self.zone_id[end]].networks)
        else:
            nets = []
        return [network_hilo(n) for n in nets]

    def _in_any(
        self, addr: tuple[U64, U64], end: ipaddress.IPv4Network | ipaddress.IPv6Network | str
    ) -> BoolArr:
        m = np.zeros(len(addr[0]), dtype=bool)
        for net in self.endpoint_networks(end):
            m |= _in_net(addr[0], addr[1], *net)
        return m

    def exception_for(
        self,
        orig: tuple[U64, U64],
        resp: tuple[U64, U64],
        proto: npt.ArrayLike,
        port: npt.ArrayLike,
        ts: npt.ArrayLike,
    ) -> tuple[I32, I32]:
        """(valid exception index, inactive exception index) per row, -1 when none.

        An exception excuses a flow whose time (seconds since the epoch, UTC)
        falls within its validity: from the start of its `starts` day (if given)
        to the end of its `expires` day.  One that matches the flow but was not
        valid at that time (expired, or not yet in force) excuses nothing and is
        named in the evidence.
        """
        n = len(orig[0])
        valid = np.full(n, -1, dtype=np.int32)
        inactive = np.full(n, -1, dtype=np.int32)
        t = np.asarray(ts, dtype=np.float64)
        for i, ex in enumerate(self.links.exceptions):
            m = self._in_any(orig, ex.from_)
            if not m.any():
                continue
            m &= self._in_any(resp, ex.to)
            if not m.any():
                continue
            m[m] = ports_match(ex.ports, np.asarray(proto)[m], np.asarray(port)[m])
            since, until = exception_window(ex)
            now = (t >= since) & (t < until)
            valid[m & now & (valid < 0)] = i
            inactive[m & ~now & (inactive < 0)] = i
        return valid, inactive

    def warning_gaps(self) -> list[Gap]:
        """The loader's warnings (overlapping zones, expired exceptions) as Gaps for a report."""
        return [
            Gap(
                kind="policy_warning",
                source=w.source or self.source,
                message=w.message,
                line=w.line,
                area="internal_link",
            )
            for w in self.warnings
        ]

    def expired_exceptions(self, now: dt.date | None = None) -> list[int]:
        today = now or dt.datetime.now(dt.UTC).date()
        return [i for i, ex in enumerate(self.links.exceptions) if ex.expires < today]


def exception_window(ex: ExceptionRule) -> tuple[float, float]:
    """(start of `starts`, end of `expires`) in UTC as seconds since the epoch."""
    end = dt.datetime.combine(ex.expires + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    start = (
        dt.datetime.combine(ex.starts, dt.time(), tzinfo=dt.UTC).timestamp()
        if ex.starts is not None
        else -np.inf
    )
    return float(start), end.timestamp()
