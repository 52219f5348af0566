"""违规内联: devices and internal links that break the policy.

unregistered_device    MAC (or, on a registered MAC, an address of its own zone) not in assets.yaml
ip_mac_conflict        one address claimed by several MACs, or by a MAC other than the registered one
forbidden_zone_link    zone -> zone (or internet -> zone) flows that links.yaml does not allow (attempts included)
inbound_to_classified  connections into a classified zone that no rule allows
rogue_dhcp             DHCP offers/acks from a server that is not registered
rogue_gateway          router advertisements, ARP claims of a gateway address, ICMP redirects from a non-gateway
hidden_nat             several TTL baselines, SYN fingerprints or IP-ID counters behind one address, routed TTLs, hotspot OUIs
dual_homed             one MAC using addresses in two zones

Layer-2 facts come from the links_* tables (links_tables.py); routers'
MACs (role gateway/network) carry many zones' addresses by design and are
never taken as the sender of routed packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect._common import findings_bulk, gc_paused, text_has
from secaudit.detect.ipid import IpIdCounters
from secaudit.detect.links_base import (
    CONTROLS,
    VIEW_TABLES,
    flow_view,
    groups,
    links_finding,
    links_rules,
    per_origin,
    top,
    whole,
)
from secaudit.detect.links_tables import first_rows, fold_codes, mix64
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding, Severity
from secaudit.policy import Policy, Role, Trust
from secaudit.policy.addr import format_mac, format_macs, hilo_of_strings, is_special, parse_mac
from secaudit.policy.lookup import AddrTable, unique_pairs

__all__ = [
    "dual_homed",
    "forbidden_zone_link",
    "hidden_nat",
    "inbound_to_classified",
    "ip_mac_conflict",
    "rogue_dhcp",
    "rogue_gateway",
    "unregistered_device",
]

IL = Category.INTERNAL_LINK
_ROUTERS = (Role.GATEWAY, Role.NETWORK)


# --------------------------------------------------------------------------- zone links
@register("forbidden_zone_link", IL, needs=("conn", "policy", *VIEW_TABLES))
def forbidden_zone_link(ctx: DetectContext) -> list[Finding]:
    """Flows between two zones, or from the internet into a zone, that no links.yaml allow
    rule permits (attempts included).  From the internet only what the outside host opened
    counts (a TCP handshake, a datagram, an echo request): a record that starts mid-stream
    may be an outbound connection whose first packets were not captured."""
    pol: Policy | None = ctx.policy
    if pol is None:
        return []
    v = flow_view(ctx)
    oz, rz = v.oz_link, v.rz_link
    cross = v.initiated & (oz >= 0) & (rz >= 0) & (oz != rz)
    inbound = v.initiated & (oz == -1) & (rz >= 0)
    if inbound.any():
        cross |= inbound & ((v.proto != 6) | text_has(v.conn, "history", "S"))
    if not cross.any():
        return []
    allowed = pol.allowed_internal(oz, rz, v.proto, v.port)
    rows = cross & ~allowed & (v.excepted < 0)
    return per_origin(ctx, v, rows, IL, "forbidden_zone_link", severity=Severity.MEDIUM)


@register("inbound_to_classified", IL, needs=("conn", "policy", *VIEW_TABLES))
def inbound_to_classified(ctx: DetectContext) -> list[Finding]:
    """Connections into a classified zone from another zone or the internet that nothing allows."""
    pol: Policy | None = ctx.policy
    if pol is None:
        return []
    classified = np.array(
        sorted(set(pol.zones_with_trust(Trust.CLASSIFIED)) | pol.forbidden_zone_ids), dtype=np.int32
    )
    if not len(classified):
        return []
    v = flow_view(ctx)
    oz, rz = v.oz_link, v.rz_link
    into = v.initiated & np.isin(rz, classified) & (oz != rz) & (oz >= -1)
    if not into.any():
        return []
    allowed = (oz >= 0) & pol.allowed_internal(oz, rz, v.proto, v.port)
    rows = into & ~allowed & (v.excepted < 0)
    return per_origin(
        ctx, v, rows, IL, "inbound_to_classified", severity=(Severity.HIGH, Severity.MEDIUM)
    )


# --------------------------------------------------------------------------- layer 2
_HOSTS: list[tuple[Any, Any, pd.DataFrame]] = []


def _hosts(ctx: DetectContext) -> pd.DataFrame | None:
    """links_hosts rows sent by non-router MACs, with zone, asset-of-IP and asset-of-MAC
    (computed once per (table, policy); four detectors read it, none modifies it)."""
    table = ctx.tables.get("links_hosts")
    pol: Policy = ctx.policy
    if table is None or pol is None:
        return None
    if _HOSTS and _HOSTS[0][0] is table and _HOSTS[0][1] is pol:
        return _HOSTS[0][2]
    h = _hosts_view(table, pol)
    _HOSTS[:] = [(table, pol, h)]
    return h


def _hosts_view(table: pd.DataFrame, pol: Policy) -> pd.DataFrame:
    h: pd.DataFrame = table
    h = h[h["src_mac"].to_numpy(np.uint64) != 0]
    mac = h["src_mac"].to_numpy(np.uint64)
    h = h[~np.isin(mac, pol.gateway_macs) & ((mac >> np.uint64(40)) & np.uint64(1) == 0)].copy()
    hi = h["src_hi"].to_numpy(np.uint64)
    lo = h["src_lo"].to_numpy(np.uint64)
    h["zone"] = pol.zone_of(hi, lo)
    h["special"] = is_special(hi, lo)
    h["ip_asset"] = pol.asset_of_ip(hi, lo)
    h["mac_asset"] = pol.asset_of_mac(h["src_mac"].to_numpy(np.uint64))
    return h


def _iso_ns(ns: Any) -> float:
    return float(ns) / 1e9


def _asset_name(pol: Policy, i: int) -> str | None:
    return pol.assets[i].name if i >= 0 else None


def _mac_finding(
    ctx: DetectContext,
    detector: str,
    severity: Severity,
    subject: str,
    first_ns: Any,
    last_ns: Any,
    count: int,
    evidence: Mapping[str, Any],
    mac_s: str,
    *,
    id_kind: str | None = None,
    **params: Any,
) -> Finding:
    """A finding about one MAC, keyed and titled by it (times in ns): one convention for all."""
    id_keys = {"mac": mac_s} if id_kind is None else {"mac": mac_s, "kind": id_kind}
    return links_finding(
        ctx, detector, IL, severity, subject, _iso_ns(first_ns), _iso_ns(last_ns), count,
        evidence, id_keys=id_keys, mac=mac_s, **params,
    )  # fmt: skip


def _registered_ip(pol: Policy, asset: int, prefer_zone: int | None = None) -> str | None:
    if asset < 0 or not pol.assets[asset].ips:
        return None
    ips = list(pol.assets[asset].ips)
    if prefer_zone is not None:
        hi, lo, _ = hilo_of_strings(ips)
        z = pol.zone_of(hi, lo)
        for ip, zz in zip(ips, z, strict=True):
            if zz == prefer_zone:
                return ip
    return ips[0]


@register("unregistered_device", IL, needs=("links_hosts", "links_dhcp", "policy"))
@gc_paused
def unregistered_device(ctx: DetectContext) -> list[Finding]:
    """Devices whose MAC is not registered, and unregistered addresses on registered MACs."""
    h = _hosts(ctx)
    if h is None or not len(h):
        return []
    pol: Policy = ctx.policy
    rules = links_rules(ctx)
    dhcp = ctx.tables.get("links_dhcp")
    out: list[Finding] = []
    unknown = h[h["mac_asset"] < 0].sort_values(["src_mac", "first_ns"], kind="stable")
    offered: dict[int, list[str]] = {}
    offered_zones: dict[int, set[int]] = {}
    if dhcp is not None and len(dhcp):
        # acknowledged addresses first: the one a device was given names it, not an offer
        d = dhcp.iloc[np.argsort(dhcp["mtype"].to_numpy() != 5, kind="stable")]
        y4 = d["yiaddr"].to_numpy(np.uint64)
        y_zone = pol.zone_of(np.zeros(len(y4), np.uint64), y4 | np.uint64(0xFFFF_0000_0000))
        for c, y, z in zip(d["chaddr"], d["yiaddr"], y_zone.tolist(), strict=True):
            if y:
                lst = offered.setdefault(int(c), [])
                offered_zones.setdefault(int(c), set()).add(z)
                if len(lst) < 10 and _v4(int(y)) not in lst:
                    lst.append(_v4(int(y)))
    per_mac = _per_mac(unknown)
    rows: dict[int, list[dict[Any, Any]]] = {}
    macless = pol.macless_assets
    for r in unknown[["src_mac", "ip", "zone", "special", "vlan", "ip_asset"]].to_dict("records"):
        rows.setdefault(int(r["src_mac"]), []).append(r)
    unmanaged = {i for i, z in enumerate(pol.zones) if z.trust in rules.unmanaged_trust}
    for mac, t_first, t_last, pkts, arp_only in per_mac:
        recs = rows[int(mac)]
        zone_ips = top((r["ip"] for r in recs if not r["special"] and r["zone"] >= 0), 1000)
        all_ips = top([*zone_ips, *(r["ip"] for r in recs if not r["special"])], 1000)
        got = offered.get(int(mac), [])
        seen_zones = {int(r["zone"]) for r in recs if not r["special"] and r["zone"] >= 0}
        seen_zones |= {z for z in offered_zones.get(int(mac), set()) if z >= 0}
        if unmanaged and seen_zones and seen_zones <= unmanaged:
            continue  # a visitor's device in a guest zone needs no registration
        if zone_ips and all(r["ip_asset"] in macless for r in recs if r["ip"] in zone_ips):
            continue  # assets.yaml registers these addresses without a MAC: this is its MAC
        mac_s = format_mac(int(mac))
        subject = all_ips[0] if all_ips else (got[0] if got else mac_s)
        zones = sorted(
            {pol.zone_names[r["zone"]] for r in recs if not r["special"] and r["zone"] >= 0}
        )
        ev: dict[str, Any] = {
            "mac": mac_s,
            "oui": mac_s[:8],
            "ips": all_ips[: rules.max_evidence],
            "zones": zones,
            "vlans": sorted({int(r["vlan"]) for r in recs}),
            "packets": int(pkts),
            "arp_only": bool(arp_only),
        }
        if got:
            ev["dhcp_offered"] = got
        if len(all_ips) >= rules.many_ips_per_mac:
            ev["many_ips"] = len(all_ips)
        out.append(
            _mac_finding(
                ctx,
                "unregistered_device",
                Severity.MEDIUM if zone_ips else Severity.LOW,
                subject,
                t_first,
                t_last,
                int(pkts),
                ev,
                mac_s,
            )  # fmt: skip
        )
    # registered MAC, unregistered IPv4 address of the asset's own zone (other zones: dual_homed)
    # when assets.yaml plans its IPv4 addresses; IPv6 addresses are autoconfigured (SLAAC,
    # privacy addresses), so on a registered MAC they are the registered device's own
    plans_v4 = pol.assets_plan_v4
    v4 = (h["src_hi"].to_numpy(np.uint64) == 0) & (
        (h["src_lo"].to_numpy(np.uint64) >> np.uint64(32)) == np.uint64(0xFFFF)
    )
    known = h[
        (h["mac_asset"] >= 0)
        & (h["ip_asset"] < 0)
        & (h["zone"] >= 0)
        & ~h["special"]
        & v4
        & plans_v4[h["mac_asset"].to_numpy()]
    ]
    if len(known):
        own_zone = np.array([pol.zone_id.get(pol.assets[a].zone, -9) for a in known["mac_asset"]])
        known = known[known["zone"].to_numpy() == own_zone]
    leased = _leases(ctx)
    for (mac, ip), g in groups(known, ["src_mac", "ip"]):
        if (int(mac), str(ip)) in leased:
            continue  # the address plan is the DHCP server's: a leased address is not a violation
        asset = int(g["mac_asset"].iloc[0])
        mac_s = format_mac(int(mac))
        out.append(
            _mac_finding(
                ctx,
                "unregistered_device",
                Severity.LOW,
                str(ip),
                g["first_ns"].min(),
                g["last_ns"].max(),
                int(g["pkts"].sum()),
                {
                    "mac": mac_s,
                    "asset": _asset_name(pol, asset),
                    "registered_ips": list(pol.assets[asset].ips),
                    "vlans": sorted({int(x) for x in g["vlan"]}),
                    "reason": "address not registered",
                },
                mac_s,
            )  # fmt: skip
        )
    return out


def _per_mac(h: pd.DataFrame) -> list[tuple[int, int, int, int, bool]]:
    """(MAC, first_ns, last_ns, packets, ARP only?) per MAC of host rows sorted by MAC (each
    MAC's rows a run), in that order: groupby(sort=False).agg without pandas' per-group cost."""
    mac = h["src_mac"].to_numpy(np.uint64)
    if not len(mac):
        return []
    starts = np.flatnonzero(np.r_[True, mac[1:] != mac[:-1]])
    return list(
        zip(
            mac[starts].tolist(),
            np.minimum.reduceat(h["first_ns"].to_numpy(np.int64), starts).tolist(),
            np.maximum.reduceat(h["last_ns"].to_numpy(np.int64), starts).tolist(),
            np.add.reduceat(h["pkts"].to_numpy(np.int64), starts).tolist(),
            np.logical_and.reduceat(h["arp"].to_numpy(bool), starts).tolist(),
            strict=True,
        )
    )


def _leases(ctx: DetectContext) -> set[tuple[int, str]]:
    """(client MAC, address) pairs some DHCP server acknowledged (rogue servers judged elsewhere)."""
    d = ctx.tables.get("links_dhcp")
    if d is None or not len(d):
        return set()
    acks = d[(d["mtype"] == 5) & (d["yiaddr"] > 0)]
    return {(int(c), _v4(int(y))) for c, y in zip(acks["chaddr"], acks["yiaddr"], strict=True)}


def _v4(n: int) -> str:
    return f"{(n >> 24) & 255}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@register("ip_mac_conflict", IL, needs=("links_hosts", "links_dhcp", "policy"))
def ip_mac_conflict(ctx: DetectContext) -> list[Finding]:
    """An address used by several MACs, or by a MAC other than the one registered for it."""
    h = _hosts(ctx)
    if h is None or not len(h):
        return []
    pol: Policy = ctx.policy
    h = h[~h["special"]]
    # candidates first, whole-column: several MACs per address, or a MAC other than the registered
    asset_mac = pol.asset_macs[h["ip_asset"].to_numpy()]
    mac = h["src_mac"].to_numpy(np.uint64)
    foreign = (h["ip_asset"].to_numpy() >= 0) & (asset_mac != 0) & (mac != asset_mac)
    ip_code = unique_pairs(h["src_hi"].to_numpy(np.uint64), h["src_lo"].to_numpy(np.uint64))[0]
    n_macs = _distinct_per(ip_code, mac)  # the address text is one-to-one with (hi, lo)
    bad_ips = pd.unique(h.loc[foreign | (n_macs >= 2), "ip"])
    h = h[h["ip"].isin(bad_ips)]
    out: list[Finding] = []
    leased = _leases(ctx) if len(h) else set()
    for ip, g in groups(h, "ip"):
        macs = sorted({int(m) for m in g["src_mac"]})
        asset = int(g["ip_asset"].iloc[0])
        reg = parse_mac(pol.assets[asset].mac) if asset >= 0 and pol.assets[asset].mac else None
        foreign = [m for m in macs if reg is not None and m != reg]
        if len(macs) < 2 and not foreign:
            continue
        if asset < 0 and all((m, str(ip)) in leased for m in macs):
            continue  # an unplanned address the DHCP server leased to each of them in turn
        per_mac = g.groupby("src_mac")["first_ns"].min().sort_values()
        ev = {
            "ip": ip,
            "registered_asset": _asset_name(pol, asset),
            "registered_mac": format_mac(reg) if reg is not None else None,
            "macs": [
                {"mac": format_mac(whole(m)), "asset": _asset_name(pol, whole(pol.asset_of_mac([whole(m)])[0])),
                 "first_seen_ns": whole(t)}
                for m, t in per_mac.items()
            ],
        }  # fmt: skip
        out.append(
            links_finding(
                ctx,
                "ip_mac_conflict",
                IL,
                Severity.HIGH,
                str(ip),
                _iso_ns(g["first_ns"].min()),
                _iso_ns(g["last_ns"].max()),
                len(macs),
                ev,
                macs=len(macs),
            )  # fmt: skip
        )
    return out


def _distinct_per(group: npt.NDArray[Any], value: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Per row, how many distinct `value`s its `group` holds (groupby(group)[value]
    .transform("nunique") for integer columns without missing values)."""
    if not len(group):
        return np.zeros(0, np.int64)
    g, groups_ = pd.factorize(group)
    v = pd.factorize(value)[0].astype(np.int64)
    span = int(v.max()) + 1
    pairs = np.unique(g.astype(np.int64) * span + v)  # distinct (group, value)
    counts = np.bincount(pairs // span, minlength=len(groups_))
    return np.asarray(counts[g], dtype=np.int64)


def _asset_zones(pol: Policy, assets: list[int]) -> dict[int, set[int]]:
    """For the given assets, the zones each may use: its own and those of its listed addresses."""
    owner = [i for i in assets for _ in pol.assets[i].ips]
    hi, lo, ok = hilo_of_strings([ip for i in assets for ip in pol.assets[i].ips])
    zone = np.where(ok, pol.zone_of(hi, lo), -2).tolist()
    out = {i: {pol.zone_id.get(pol.assets[i].zone, -9)} for i in assets}
    for i, z in zip(owner, zone, strict=True):
        if z >= 0:
            out[i].add(int(z))
    return out


@register("dual_homed", IL, needs=("links_hosts", "policy"))
def dual_homed(ctx: DetectContext) -> list[Finding]:
    """One (non-router) MAC sending from addresses in two or more zones that assets.yaml
    does not register for it."""
    h = _hosts(ctx)
    if h is None or not len(h):
        return []
    pol: Policy = ctx.policy
    h = h[(h["zone"] >= 0) & ~h["special"]]
    h = h[_distinct_per(h["src_mac"].to_numpy(), h["zone"].to_numpy()) >= 2]
    out: list[Finding] = []
    own = _asset_zones(pol, sorted({int(a) for a in h["mac_asset"] if a >= 0}))
    for mac, g in groups(h, "src_mac"):
        zones = sorted({int(z) for z in g["zone"]})
        asset = int(g["mac_asset"].iloc[0])
        if len(zones) < 2 or (asset >= 0 and set(zones) <= own[asset]):
            continue  # a registered multi-homed device (its listed addresses span these zones)
        home = pol.zone_id.get(pol.assets[asset].zone) if asset >= 0 else None
        subject = _registered_ip(pol, asset, home) or g.sort_values("first_ns")["ip"].iloc[0]
        by_zone = {
            str(pol.zone_name([z])[0]): top(g.loc[g["zone"] == z].sort_values("first_ns")["ip"], 10)
            for z in zones
        }
        mac_s = format_mac(int(mac))
        out.append(
            _mac_finding(
                ctx,
                "dual_homed",
                Severity.HIGH,
                str(subject),
                g["first_ns"].min(),
                g["last_ns"].max(),
                int(g["pkts"].sum()),
                {"mac": mac_s, "asset": _asset_name(pol, asset), "ips_by_zone": by_zone},
                mac_s,
                zones=", ".join(by_zone),
            )  # fmt: skip
        )
    return out


# --------------------------------------------------------------------------- rogue services
@register("rogue_dhcp", IL, needs=("links_dhcp", "policy"))
def rogue_dhcp(ctx: DetectContext) -> list[Finding]:
    """DHCP OFFER/ACK/NAK from a server that assets.yaml does not register (role dhcp/gateway)."""
    d = ctx.tables.get("links_dhcp")
    pol: Policy | None = ctx.policy
    if d is None or pol is None or not len(d):
        return []
    servers = pol.assets_with_role(Role.DHCP, *_ROUTERS)
    ips: set[int] = set()
    for i in servers:
        for ip in pol.assets[i].ips:
            if ":" not in ip:
                parts = [int(x) for x in ip.split(".")]
                ips.add((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3])
    macs = np.array(
        [m for i in servers if (m := parse_mac(pol.assets[i].mac)) is not None], dtype=np.uint64
    )
    src4 = (d["src_lo"].to_numpy(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    sid = d["server_id"].to_numpy(np.int64)
    # the server is the sender, or the server id it names when the sender is a relay (a router
    # forwarding another server's reply) or 0.0.0.0; it must be registered, and the frame must
    # come from a registered server's or router's MAC
    relayed = (src4 == 0) | np.isin(d["src_mac"].to_numpy(np.uint64), pol.gateway_macs)
    srv = np.where(relayed & (sid > 0), sid, src4)
    mac_ok = np.isin(d["src_mac"].to_numpy(np.uint64), macs) | (len(macs) == 0)
    bad = d.assign(_srv=srv)[~(np.isin(srv, list(ips)) & mac_ok)]
    out: list[Finding] = []
    gw_ips = {ip for i in pol.assets_with_role(*_ROUTERS) for ip in pol.assets[i].ips}
    for (srv_ip, mac), g in groups(bad, ["_srv", "src_mac"]):
        server = _v4(int(srv_ip))
        types = {2: "offer", 5: "ack", 6: "nak"}
        routers = top((_v4(int(r)) for r in g["router"] if r), 5)
        mac_s = format_mac(int(mac))
        ev = {
            "server": server,
            "relayed_by": str(g["src"].iloc[0]) if str(g["src"].iloc[0]) != server else None,
            "mac": mac_s,
            "asset": _asset_name(pol, int(pol.asset_of_mac([mac])[0])),
            "messages": {
                types.get(whole(k), str(k)): whole(n) for k, n in g["mtype"].value_counts().items()
            },
            "clients": top((format_mac(int(c)) for c in g["chaddr"] if c), 10),
            "offered": top((_v4(int(y)) for y in g["yiaddr"] if y), 10),
            "router_option": routers,
            "router_not_registered": [r for r in routers if r not in gw_ips],
        }
        out.append(
            _mac_finding(
                ctx,
                "rogue_dhcp",
                Severity.HIGH,
                server,
                g["ts_ns"].min(),
                g["ts_ns"].max(),
                len(g),
                ev,
                mac_s,
            )  # fmt: skip
        )
    return out


@register("rogue_gateway", IL, needs=("conn", "links_ra", "links_arp", "policy", *VIEW_TABLES))
def rogue_gateway(ctx: DetectContext) -> list[Finding]:
    """Router advertisements from non-gateways; ARP claims of a gateway's address by another
    MAC; ICMP redirects (telling hosts to route through someone else) from non-gateways."""
    pol: Policy | None = ctx.policy
    if pol is None:
        return []
    out: list[Finding] = _redirects(ctx) if len(ctx.conn) else []
    gw = pol.gateway_macs
    gw_assets = pol.assets_with_role(*_ROUTERS)
    ra = ctx.tables.get("links_ra")
    if ra is not None and len(ra):
        macless = {ip for i in gw_assets if not pol.assets[i].mac for ip in pol.assets[i].ips}
        mac = ra["src_mac"].to_numpy(np.uint64)
        ok = np.isin(mac, gw) | ra["src"].isin(macless).to_numpy()
        for (src, m), g in groups(ra[~ok], ["src", "src_mac"]):
            mac_s = format_mac(int(m))
            out.append(
                _mac_finding(
                    ctx,
                    "rogue_gateway",
                    Severity.HIGH,
                    str(src),
                    g["ts"].min(),
                    g["ts"].max(),
                    len(g),
                    {
                        "kind": "router_advertisement",
                        "src": str(src),
                        "mac": mac_s,
                        "asset": _asset_name(pol, int(pol.asset_of_mac([m])[0])),
                    },
                    mac_s,
                    id_kind="ra",
                    kind="IPv6 router advertisement",
                )  # fmt: skip
            )
    arp = ctx.tables.get("links_arp")
    if arp is not None and len(arp) and gw_assets:
        rows = [(ip, i) for i in gw_assets for ip in pol.assets[i].ips if ":" not in ip]
        hi, lo, _ = hilo_of_strings([r[0] for r in rows])
        table = AddrTable(
            [(int(h), int(low), k) for k, (h, low) in enumerate(zip(hi, lo, strict=True))]
        )
        spa_lo = arp["src_lo"].to_numpy(np.uint64)
        which = table.lookup(np.zeros(len(arp), np.uint64), spa_lo)
        sha = arp["arp_sha"].to_numpy(np.uint64)
        claim = (which >= 0) & ~np.isin(sha, gw) & (sha != 0)
        a = arp[claim].assign(_gw=which[claim])
        for (spa, sh), g in groups(a, ["spa", "arp_sha"]):
            owner = rows[int(g["_gw"].iloc[0])][1]
            grat = int(((g["spa"] == g["tpa"]) | (g["arp_op"] == 2)).sum())
            mac_s = format_mac(int(sh))
            out.append(
                _mac_finding(
                    ctx,
                    "rogue_gateway",
                    Severity.CRITICAL if grat else Severity.HIGH,
                    str(spa),
                    g["ts"].min(),
                    g["ts"].max(),
                    len(g),
                    {
                        "kind": "arp_claim",
                        "gateway_ip": str(spa),
                        "gateway": pol.assets[owner].name,
                        "gateway_mac": pol.assets[owner].mac,
                        "claimed_by": mac_s,
                        "claimer_asset": _asset_name(pol, int(pol.asset_of_mac([sh])[0])),
                        "replies_or_gratuitous": grat,
                        "arp_packets": len(g),
                    },
                    mac_s,
                    id_kind="arp",
                    kind="ARP claim of the gateway address",
                )  # fmt: skip
            )
    return out


def _redirects(ctx: DetectContext) -> list[Finding]:
    """ICMP / ICMPv6 redirects sent by an address that is no registered router's."""
    pol: Policy = ctx.policy
    v = flow_view(ctx)
    redirect = ((v.proto == 1) & (v.port == 5)) | ((v.proto == 58) & (v.port == 137))
    if not redirect.any():
        return []
    routers = np.array(pol.assets_with_role(*_ROUTERS), dtype=np.int32)
    rows = np.flatnonzero(redirect & ~np.isin(v.oa, routers))
    if not len(rows):
        return []
    h = _hosts(ctx)  # the sender's MAC, where its own frames were seen
    mac_of: dict[str, int] = {}
    if h is not None and len(h):
        for ip, m in zip(h["ip"].tolist(), h["src_mac"].to_numpy(np.uint64).tolist(), strict=True):
            mac_of.setdefault(str(ip), int(m))
    out: list[Finding] = []
    c = v.conn.iloc[rows].assign(_ts=v.ts[rows], _oa=v.oa[rows])
    for src, g in groups(c, "id.orig_h"):
        mac_s = format_mac(mac_of[str(src)]) if str(src) in mac_of else "?"
        out.append(
            links_finding(
                ctx,
                "rogue_gateway",
                IL,
                Severity.HIGH,
                str(src),
                float(g["_ts"].min()),
                float(g["_ts"].max()),
                len(g),
                {
                    "kind": "icmp_redirect",
                    "src": str(src),
                    "mac": mac_s,
                    "asset": _asset_name(pol, int(g["_oa"].iloc[0])),
                    "redirected_hosts": top((str(x) for x in g["id.resp_h"]), 10),
                },
                id_keys={"kind": "redirect", "src": str(src)},
                mac=mac_s,
                kind="ICMP redirect",
            )  # fmt: skip
        )
    return out


@register("hidden_nat", IL, needs=("links_hosts", "links_ipid", "links_syn", "policy"))
@gc_paused
def hidden_nat(ctx: DetectContext) -> list[Finding]:
    """Several OS TTL baselines, SYN fingerprints or IP-ID counters (or routed TTLs) behind
    one address; mobile-hotspot OUIs."""
    h = _hosts(ctx)
    if h is None or not len(h):
        return []
    pol: Policy = ctx.policy
    cfg = links_rules(ctx).hidden_nat
    hotspot = {o.lower() for o in links_rules(ctx).hotspot_ouis}
    initials = np.array(sorted(cfg.initial_ttls), dtype=np.int64)
    u = h[h["uni"].to_numpy(bool) & (h["zone"].to_numpy() >= 0) & ~h["special"].to_numpy(bool)]
    if u.empty:
        return []
    ttl = u["ttl"].to_numpy(np.int64)
    hops = initials[np.minimum(np.searchsorted(initials, ttl), len(initials) - 1)] - ttl
    mac = u["src_mac"].to_numpy(np.uint64)
    hi, lo = u["src_hi"].to_numpy(np.uint64), u["src_lo"].to_numpy(np.uint64)
    pkts = u["pkts"].to_numpy(np.int64)
    t_first, t_last = u["first_ns"].to_numpy(np.int64), u["last_ns"].to_numpy(np.int64)
    # hosts (MAC, address) and TTL classes (MAC, address, TTL) as codes numbered in order of
    # first appearance (the address text is one-to-one with (hi, lo))
    g = fold_codes([mac, hi, lo])
    cls = fold_codes([g, ttl])
    ng, nc = int(g.max()) + 1, int(cls.max()) + 1
    g_row = first_rows(g)
    c_row = first_rows(cls)
    c_g = g[c_row]
    # a baseline is one exact TTL value: a host's own packets keep one; packets it routes for a
    # device behind it arrive one lower (same OS) or from another initial TTL (another OS)
    c_pkts = _sum_int(cls, pkts, nc)
    c_first = np.full(nc, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(c_first, cls, t_first)
    total = _sum_int(c_g, c_pkts, ng)
    strong = (c_pkts >= cfg.min_packets) & (c_pkts >= cfg.min_share * total[c_g])
    n_strong = np.bincount(c_g, weights=strong, minlength=ng).astype(np.int64)
    min_hops = np.full(ng, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(min_hops, g, hops)
    g_pkts = _sum_int(g, pkts, ng)
    g_first = np.full(ng, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(g_first, g, t_first)
    g_last = np.full(ng, np.iinfo(np.int64).min, np.int64)
    np.maximum.at(g_last, g, t_last)
    g_mac, g_hi, g_lo = mac[g_row], hi[g_row], lo[g_row]
    ouis = np.array(
        [parse_mac(o + ":00:00:00") or 0 for o in hotspot], dtype=np.uint64
    ) >> np.uint64(24)
    oui = np.isin(g_mac >> np.uint64(24), ouis)
    routed = cfg.flag_routed_ttl & (min_hops >= 1) & (g_pkts >= cfg.min_packets)
    n_fp = _strong_fingerprints(ctx, cfg, g_mac, g_hi, g_lo)
    n_ipid = _ipid_counters(ctx, cfg, g_mac, g_hi, g_lo)
    sel = np.flatnonzero((n_strong >= 2) | routed | oui | (n_fp >= 2) | (n_ipid >= 2))
    if not len(sel):
        return []
    # per selected host: packets per TTL class (in class order), and when the second baseline
    # appeared: the first packet outside the biggest class (of equally big classes, the one
    # seen first is the baseline)
    order = np.lexsort((c_first, -c_pkts, c_g))  # per host: biggest class, then earliest
    top_cls = order[np.r_[True, c_g[order][1:] != c_g[order][:-1]]]
    rest = np.ones(nc, dtype=bool)
    rest[top_cls] = False
    second = np.full(ng, -1, np.int64)
    if rest.any():
        later = np.full(ng, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(later, c_g[rest], c_first[rest])
        has = later < np.iinfo(np.int64).max
        second[has] = later[has]
    picked = np.zeros(ng, dtype=bool)
    picked[sel] = True
    c_sel = np.flatnonzero(picked[c_g])
    c_sel = c_sel[np.argsort(c_g[c_sel], kind="stable")]
    ttl_packets: dict[int, dict[str, int]] = {}
    for gi, tv, n in zip(
        c_g[c_sel].tolist(), ttl[c_row[c_sel]].tolist(), c_pkts[c_sel].tolist(), strict=True
    ):
        ttl_packets.setdefault(gi, {})[str(tv)] = n
    several = n_strong[sel] >= 2
    first_ns = np.where(several & (second[sel] >= 0), second[sel], g_first[sel])
    ips = u["ip"].take(g_row[sel]).to_numpy(dtype=object).tolist()
    fps = _syn_fingerprints(ctx, np.unique(g_mac[sel]))
    assets = pol.asset_names[u["mac_asset"].to_numpy(np.int64)[g_row[sel]]].tolist()
    # which reasons hold, as one code per host: each code's list and text are made once
    flags = np.stack([several, routed[sel], oui[sel], n_fp[sel] >= 2, n_ipid[sel] >= 2], axis=1)
    code = (flags @ (1 << np.arange(len(_NAT_REASONS)))).tolist()
    reasons_of = {c: [r for k, r in enumerate(_NAT_REASONS) if c >> k & 1] for c in set(code)}
    text_of = {c: "; ".join(r) for c, r in reasons_of.items()}
    mac_text = format_macs(g_mac[sel])
    evidence: list[dict[str, Any]] = []
    for gi, m, ip, mac_s, hi_k, lo_k, asset, c, n_id in zip(
        sel.tolist(), g_mac[sel].tolist(), ips, mac_text, g_hi[sel].tolist(), g_lo[sel].tolist(),
        assets, code, n_ipid[sel].tolist(), strict=True,
    ):  # fmt: skip
        ev: dict[str, Any] = {
            "ip": ip, "mac": mac_s, "asset": asset,
            "reasons": list(reasons_of[c]), "ttl_packets": ttl_packets.get(gi, {}),
        }  # fmt: skip
        fp = fps.get((m, hi_k, lo_k))
        if fp:
            ev["syn_fingerprints"] = fp
        if c & _NAT_IPID:
            ev["ipid_counters"] = n_id
        evidence.append(ev)
    reasons_text = [text_of[c] for c in code]
    return findings_bulk(
        ctx, "hidden_nat", IL, [Severity.MEDIUM] * len(sel), [str(ip) for ip in ips],
        first_ns / 1e9, g_last[sel] / 1e9, g_pkts[sel].tolist(), evidence,
        id_keys=[{"mac": m} for m in mac_text], controls=CONTROLS["hidden_nat"],
        title_params={"reasons": reasons_text},
    )  # fmt: skip


# hidden_nat's reasons, in the order the evidence lists them (bit k of a host's reason code)
_NAT_REASONS = (
    "several TTL baselines",
    "every packet is one or more hops behind the port",
    "mobile-hotspot OUI",
    "several TCP SYN fingerprints",
    "several IP-ID counters",
)
_NAT_IPID = 1 << 4


def _sum_int(
    codes: npt.NDArray[np.int64], values: npt.NDArray[np.int64], k: int
) -> npt.NDArray[np.int64]:
    """Exact per-code sums of an integer column."""
    out = np.zeros(k, np.int64)
    np.add.at(out, codes, values)
    return out


def _ipid_counters(
    ctx: DetectContext,
    cfg: Any,
    mac: npt.NDArray[np.uint64],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
) -> npt.NDArray[np.int64]:
    """Per host (MAC, address): IP-ID sequences that moved between destinations
    (detect/ipid.py), i.e. global counters of separate hosts.  IPv6 has no IP-ID: 0."""
    out = np.zeros(len(mac), np.int64)
    ipid: Any = ctx.tables.get("links_ipid")
    if not isinstance(ipid, IpIdCounters) or not len(mac):
        return out
    c = ipid.counters(cfg.ipid_min_packets, cfg.ipid_min_dst_changes, cfg.ipid_min_apart)
    c = c[c["global"].to_numpy() > 0]
    if c.empty:
        return out
    known = pd.MultiIndex.from_arrays(
        [c["src_mac"].to_numpy(np.uint64), c["src_lo"].to_numpy(np.uint64)]
    )
    pos = known.get_indexer(pd.MultiIndex.from_arrays([mac, lo]))
    hit = (pos >= 0) & (hi == 0)  # IPv4 lives in ::ffff:0:0/96: high half zero
    out[hit] = c["global"].to_numpy(np.int64)[pos[hit]]
    return out


def _strong_fingerprints(
    ctx: DetectContext,
    cfg: Any,
    mac: npt.NDArray[np.uint64],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
) -> npt.NDArray[np.int64]:
    """Per host (MAC, address): how many distinct SYN
    fingerprints (window, scale, option layout; TTL aside) each carry `min_packets` SYNs and
    `min_share` of the address's SYNs.  One TCP stack keeps one; a second OS behind the
    address shows another even when the NAT rewrites the TTL.  Hash keys, no multi-key groupby."""
    syn = ctx.tables.get("links_syn")
    if syn is None or not len(syn) or not len(mac):
        return np.zeros(len(mac), np.int64)
    host = _host_key(
        syn["src_mac"].to_numpy(np.uint64),
        syn["src_hi"].to_numpy(np.uint64),
        syn["src_lo"].to_numpy(np.uint64),
    )
    shape = syn["win"].to_numpy(np.uint64) | (syn["wscale"].to_numpy(np.uint64) << np.uint64(32))
    fkey = mix64(host ^ mix64(shape ^ mix64(syn["layout"].to_numpy(np.uint64))))
    fcode, fvals = pd.factorize(fkey)
    nf = len(fvals)
    syns = np.bincount(fcode, weights=syn["syns"].to_numpy(np.float64), minlength=nf)
    f_host = np.zeros(nf, np.uint64)
    f_host[fcode] = host  # every row of one fingerprint has the same host
    hcode, hvals = pd.factorize(f_host)
    total = np.bincount(hcode, weights=syns, minlength=len(hvals))
    strong = (syns >= cfg.min_packets) & (syns >= cfg.min_share * total[hcode])
    n_strong = np.bincount(hcode, weights=strong, minlength=len(hvals)).astype(np.int64)
    q = _host_key(mac, hi, lo)
    pos = pd.Index(np.asarray(hvals, dtype=np.uint64)).get_indexer(pd.Index(q))
    return np.where(pos >= 0, n_strong[np.maximum(pos, 0)], 0).astype(np.int64)


def _host_key(
    mac: npt.NDArray[np.uint64], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of (MAC, address) per row."""
    return mix64(mac ^ mix64(hi ^ mix64(lo)))


def _syn_fingerprints(
    ctx: DetectContext, macs: npt.NDArray[np.uint64], top_n: int = 5
) -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    """The `top_n` SYN fingerprints (TTL, window, scale, option layout) by count per
    (MAC, address), for evidence.  Selection and ordering are whole-column; option
    layouts are rendered once per distinct code."""
    syn = ctx.tables.get("links_syn")
    out: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
    if syn is None or not len(syn) or not len(macs):
        return out
    rows = np.flatnonzero(np.isin(syn["src_mac"].to_numpy(np.uint64), macs))
    if not len(rows):
        return out
    mac, hi, lo = (syn[c].to_numpy(np.uint64)[rows] for c in ("src_mac", "src_hi", "src_lo"))
    syns = syn["syns"].to_numpy(np.int64)[rows]
    # per (MAC, address), most SYNs first (ties in table order), the first top_n of each
    order = np.lexsort((-syns, lo, hi, mac))
    mac, hi, lo = mac[order], hi[order], lo[order]
    new = np.r_[True, (mac[1:] != mac[:-1]) | (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])]
    starts = np.flatnonzero(new)
    pos = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = pos < top_n
    take = rows[order[keep]]
    codes, uniq = pd.factorize(syn["layout"].to_numpy(np.uint64)[take])
    text = np.array([_layout(int(c)) for c in uniq], dtype=object)[codes].tolist()
    cols = [syn[c].to_numpy(np.int64)[take].tolist() for c in ("ttl", "win", "wscale", "syns")]
    prints = [
        {"ttl": t, "win": w, "wscale": ws, "options": o, "syns": n}
        for t, w, ws, o, n in zip(*cols[:3], text, cols[3], strict=True)
    ]
    bounds = np.flatnonzero(new[keep]).tolist() + [len(prints)]
    heads = np.flatnonzero(new)
    for k, (m, h, low) in enumerate(
        zip(mac[heads].tolist(), hi[heads].tolist(), lo[heads].tolist(), strict=True)
    ):
        out[(m, h, low)] = prints[bounds[k] : bounds[k + 1]]
    return out


def _layout(code: int) -> str:
    """Packed option kinds -> p0f-style text (mss,nop,ws,sok,ts…)."""
    k = code >> 60
    names = {0: "eol", 1: "nop", 2: "mss", 3: "ws", 4: "sok", 5: "sack", 8: "ts"}
    kinds = [(code >> (8 * (k - 1 - i))) & 0xFF for i in range(k)]
    return ",".join(names.get(x, str(x)) for x in kinds)


def classified_zone_ids(pol: Policy) -> npt.NDArray[np.int32]:
    return np.array(sorted(set(pol.zones_with_trust(Trust.CLASSIFIED))), dtype=np.int32)
