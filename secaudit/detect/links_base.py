"""What every links detector shares: the policy view of the conn table, computed once.

`flow_view(ctx)` classifies each connection against the policy (zones,
assets, approvals, exceptions, compliant role egress, server names) with
whole-column operations; the detectors in links.py, links_internal.py and
beacon.py are then simple masks over it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.config import load_yaml
from secaudit.detect._common import GBT, finding, text_codes
from secaudit.detect.registry import DetectContext
from secaudit.model import Category, Finding, Severity
from secaudit.policy import Policy, Role, ports_match
from secaudit.policy.addr import hilo_of_strings
from secaudit.policy.policy import exception_window
from secaudit.policy.rules import LinksRules
from secaudit.policy.rules import load_links_rules as _load_rules

__all__ = [
    "CONTROLS",
    "DEFAULT_LINKS_RULES",
    "FlowView",
    "flow_view",
    "links_finding",
    "links_rules",
    "per_origin",
    "groups",
    "records",
    "num",
    "whole",
]

DEFAULT_LINKS_RULES = Path(__file__).resolve().parents[2] / "rules" / "links.yaml"

# Controls each links detector gives evidence for (ids from CONTROLS-GBT22239-L3.md).
CONTROLS: dict[str, tuple[str, ...]] = {
    "external_link": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.10.6 j"),
    "proxy_bypass": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.3.1 a", f"{GBT} 8.1.3.5 d"),
    "resolver_bypass": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.3.2 e", "ATT&CK T1071.004", "ATT&CK T1572"),
    "forbidden_zone_external": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.2.1 d", f"{GBT} 8.1.10.6 j"),
    "remote_access_out": (
        f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.3.5 d", f"{GBT} 8.1.10.6 i", "ATT&CK T1572", "ATT&CK T1219",
    ),
    "unregistered_device": (f"{GBT} 8.1.3.1 b", f"{GBT} 8.1.10.2 a", "ATT&CK T1200"),
    "ip_mac_conflict": (f"{GBT} 8.1.3.1 b", f"{GBT} 8.1.2.1 c", "ATT&CK T1557.002"),
    "forbidden_zone_link": (f"{GBT} 8.1.3.2 a", f"{GBT} 8.1.3.2 c", f"{GBT} 8.1.2.1 c"),
    "inbound_to_classified": (f"{GBT} 8.1.2.1 d", f"{GBT} 8.1.3.2 a", f"{GBT} 8.1.3.2 c"),
    "rogue_dhcp": (f"{GBT} 8.1.3.1 b", "ATT&CK T1557.003"),
    "rogue_gateway": (f"{GBT} 8.1.3.1 b", f"{GBT} 8.1.3.3 b", "ATT&CK T1557.002"),
    "hidden_nat": (f"{GBT} 8.1.3.1 b", f"{GBT} 8.1.3.1 d", f"{GBT} 8.1.10.6 j", "ATT&CK T1200"),
    "dual_homed": (f"{GBT} 8.1.3.1 a", f"{GBT} 8.1.2.1 d", "ATT&CK T1200"),
    "beacon": (f"{GBT} 8.1.3.3 c", f"{GBT} 8.1.3.4 a", "ATT&CK T1071", "ATT&CK T1573"),
}  # fmt: skip

BoolArr = npt.NDArray[np.bool_]
_PROTO_NUM = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "sctp": 132}
_ANSWERED_STATES = {"SF", "S1", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "SH", "SHR", "OTH"}


def links_rules(ctx: DetectContext) -> LinksRules:
    """Thresholds: ctx.thresholds["links"] if the runner loaded them, else rules/links.yaml."""
    given = ctx.thresholds.get("links")
    if isinstance(given, LinksRules):
        return given
    if isinstance(given, Mapping) and given:
        return LinksRules.model_validate(dict(given))
    return _cached_default_rules()


_DEFAULT: list[LinksRules] = []


def _cached_default_rules() -> LinksRules:
    if not _DEFAULT:
        data = load_yaml(DEFAULT_LINKS_RULES, missing_ok=True)
        _DEFAULT.append(_load_rules(DEFAULT_LINKS_RULES) if data is not None else LinksRules())
    return _DEFAULT[0]


@dataclass(frozen=True)
class FlowView:
    """The conn table plus per-row policy facts (numpy arrays aligned with `conn`)."""

    conn: pd.DataFrame
    oz: npt.NDArray[np.int32]  # orig zone index (-1 internet, -2 link-local/multicast)
    rz: npt.NDArray[np.int32]
    oa: npt.NDArray[np.int32]  # orig registered asset, -1 none
    ra: npt.NDArray[np.int32]
    proto: npt.NDArray[np.int64]  # IP protocol number
    port: npt.NDArray[np.int64]  # responder port (ICMP: code)
    ts: npt.NDArray[np.float64]
    answered: BoolArr
    initiated: BoolArr  # not an ICMP error message (those answer another flow)
    name: npt.NDArray[np.object_]  # destination's server name (SNI/Host/DNS answer) or None
    approved: BoolArr
    excepted: npt.NDArray[np.int32]  # valid exception index, -1 none
    inactive: npt.NDArray[np.int32]  # an exception that matches but was not in force, -1 none
    role_ok: BoolArr  # the origin's role/via lets it send this service to the internet
    mark: npt.NDArray[np.int64]  # remote-access payload marker (links_kernels.MARK_*), 0 none
    oz_link: npt.NDArray[np.int32]  # zone for zone->zone rules: a router asset's own zone
    rz_link: npt.NDArray[np.int32]
    r_hi: npt.NDArray[np.uint64]  # responder address (hi, lo)
    r_lo: npt.NDArray[np.uint64]
    managed: BoolArr  # the origin's zone holds managed devices (trust not in unmanaged_trust)

    @property
    def outbound(self) -> BoolArr:
        """Initiated by a host in a policy zone towards the internet."""
        return np.asarray((self.oz >= 0) & (self.rz == -1) & self.initiated, dtype=np.bool_)


_CACHE: dict[int, tuple[DetectContext, FlowView]] = {}


def flow_view(ctx: DetectContext) -> FlowView:
    """The FlowView of ctx (computed once per context; detectors share it)."""
    hit = _CACHE.get(id(ctx))
    if hit is not None and hit[0] is ctx:
        return hit[1]
    view = _build(ctx)
    _CACHE.clear()
    _CACHE[id(ctx)] = (ctx, view)
    return view


def _col(df: pd.DataFrame, name: str, default: Any) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series([default] * len(df), index=df.index)


def _build(ctx: DetectContext) -> FlowView:
    pol: Policy = ctx.policy
    rules = links_rules(ctx)
    conn = ctx.conn.reset_index(drop=True)
    n = len(conn)
    o_hi, o_lo, o_ok = hilo_of_strings(_col(conn, "id.orig_h", None))
    r_hi, r_lo, r_ok = hilo_of_strings(_col(conn, "id.resp_h", None))
    oz = pol.zone_of(o_hi, o_lo)
    rz = pol.zone_of(r_hi, r_lo)
    oz[~o_ok] = -2
    rz[~r_ok] = -2
    oa = pol.asset_of_ip(o_hi, o_lo)
    ra = pol.asset_of_ip(r_hi, r_lo)
    v6 = (o_hi != 0) | ((o_lo >> np.uint64(32)) != np.uint64(0xFFFF))
    pcodes, pnames = pd.factorize(_col(conn, "proto", ""), use_na_sentinel=False)
    pnum = np.array(
        [0 if pd.isna(u) else _PROTO_NUM.get(str(u).lower(), 0) for u in pnames], dtype=np.int64
    )[pcodes] if len(pnames) else np.zeros(n, dtype=np.int64)  # fmt: skip
    proto: npt.NDArray[np.int64] = np.asarray(np.where((pnum == 1) & v6, 58, pnum), dtype=np.int64)
    if "ip_proto" in conn.columns:
        ipp = pd.to_numeric(conn["ip_proto"], errors="coerce").fillna(0).to_numpy(np.int64)
        proto = np.asarray(np.where(ipp > 0, ipp, proto), dtype=np.int64)
    port = pd.to_numeric(_col(conn, "id.resp_p", 0), errors="coerce").fillna(0).to_numpy(np.int64)
    oport = pd.to_numeric(_col(conn, "id.orig_p", 0), errors="coerce").fillna(0).to_numpy(np.int64)
    icmp = (proto == 1) | (proto == 58)
    port = np.where(icmp, oport, port)  # ICMP: the type (Zeek's orig_p), so icmp/8 is echo
    ts = pd.to_numeric(_col(conn, "ts", 0.0), errors="coerce").fillna(0).to_numpy(np.float64)
    state = _col(conn, "conn_state", "").astype(str)
    resp_pkts = pd.to_numeric(_col(conn, "resp_pkts", 0), errors="coerce").fillna(0).to_numpy()
    answered = (state.isin(_ANSWERED_STATES).to_numpy() & (resp_pkts > 0)) | (
        (proto == 1) | (proto == 58)
    ) & (resp_pkts > 0)
    icmp_err = ((proto == 1) & np.isin(oport, rules.icmp_error_types)) | (
        (proto == 58) & np.isin(oport, rules.icmp6_error_types)
    )
    initiated = ~icmp_err

    ext = (rz == -1) | (oz == -1)
    name = _server_names(ctx, conn, ext)
    approved = np.zeros(n, dtype=bool)
    if ext.any():
        approved[ext] = pol.approved_cidr(r_hi[ext], r_lo[ext], proto[ext], port[ext])
        named = ext & pd.notna(name)
        if named.any():
            approved[named] |= pol.approved_domain(
                pd.Series(name[named], dtype=object), proto[named], port[named]
            )
    excepted, inactive = pol.exception_for((o_hi, o_lo), (r_hi, r_lo), proto, port, ts)
    role_ok = _role_egress(pol, rules, oa, proto, port)
    mark = _marks(ctx, conn, proto)
    # a router's own traffic (syslog, SNMP, routing) leaves from its interface in every zone;
    # for zone->zone rules it belongs to the zone the asset is registered in
    asset_zone = np.array([pol.zone_id.get(a.zone, -2) for a in pol.assets] + [-2], dtype=np.int32)
    routers = np.array(pol.assets_with_role(Role.GATEWAY, Role.NETWORK), dtype=np.int32)
    oz_link = np.where(np.isin(oa, routers) & (oa >= 0), asset_zone[oa], oz).astype(np.int32)
    rz_link = np.where(np.isin(ra, routers) & (ra >= 0), asset_zone[ra], rz).astype(np.int32)
    unmanaged = [i for i, z in enumerate(pol.zones) if z.trust in rules.unmanaged_trust]
    managed = ~np.isin(oz, np.array(unmanaged, dtype=np.int32))
    return FlowView(
        conn, oz, rz, oa, ra, proto, port, ts, answered, initiated, name, approved,
        excepted, inactive, role_ok, mark, oz_link, rz_link, r_hi, r_lo, managed,
    )  # fmt: skip


def _role_egress(
    pol: Policy,
    rules: LinksRules,
    oa: npt.NDArray[np.int32],
    proto: npt.NDArray[np.int64],
    port: npt.NDArray[np.int64],
) -> BoolArr:
    """Rows where the origin is a proxy/resolver/relay (by role or via) doing its own service."""
    ok = np.zeros(len(oa), dtype=bool)
    via_service = {"web": "proxy", "dns": "resolver", "mail": "mail", "ntp": "ntp"}
    grants: dict[int, set[str]] = {}
    for i, a in enumerate(pol.assets):
        if a.role.value in rules.role_egress:
            grants.setdefault(i, set()).add(a.role.value)
    for service, role in via_service.items():
        for i in pol.via_assets(service):
            grants.setdefault(i, set()).add(role)
    for i, roles in grants.items():
        rows = oa == i
        if rows.any():
            for role in roles:
                ok[rows] |= ports_match(rules.role_egress.get(role, ()), proto[rows], port[rows])
    return ok


def _server_names(ctx: DetectContext, conn: pd.DataFrame, ext: BoolArr) -> npt.NDArray[np.object_]:
    """Destination name per row: the flow's own TLS SNI / HTTP Host, else a DNS answer name."""
    n = len(conn)
    out = np.full(n, None, dtype=object)
    if not ext.any():
        return out
    sub = conn.loc[ext, ["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]].copy()
    sub["_row"] = np.flatnonzero(ext)
    flows = []
    names = ctx.tables.get("links_names")
    if names is not None and len(names):
        flows.append(
            names.rename(
                columns={
                    "src": "id.orig_h",
                    "sport": "id.orig_p",
                    "dst": "id.resp_h",
                    "dport": "id.resp_p",
                }
            )[["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "name"]]
        )
    for table, column in (("tls", "server_name"), ("http", "host")):
        t = ctx.tables.get(table)
        if (
            t is not None
            and len(t)
            and column in t.columns
            and "uid" in t.columns
            and "uid" in conn.columns
        ):
            m = (
                conn.loc[ext, ["uid"]]
                .assign(_row=np.flatnonzero(ext))
                .merge(t[["uid", column]].dropna().drop_duplicates("uid"), on="uid")
            )
            out[m["_row"].to_numpy()] = m[column].astype(str).str.lower().to_numpy()
    if flows:
        f = pd.concat(flows, ignore_index=True).drop_duplicates(
            ["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"]
        )
        for c in ("id.orig_p", "id.resp_p"):
            f[c] = f[c].astype(np.int64)
            sub[c] = pd.to_numeric(sub[c], errors="coerce").fillna(-1).astype(np.int64)
        m = sub.merge(f, on=["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p"])
        rows = m["_row"].to_numpy()
        empty = pd.isna(out[rows])
        out[rows[empty]] = m["name"].to_numpy()[empty]
    dns = ctx.tables.get("dns")
    if dns is not None and len(dns) and "answers" in dns.columns and "query" in dns.columns:
        need = ext & pd.isna(out)
        if need.any():
            ans = dns[["query", "answers"]].dropna().explode("answers").dropna()
            ans = ans.drop_duplicates("answers")
            ip_name = pd.Series(
                ans["query"].astype(str).str.lower().str.rstrip(".").to_numpy(),
                index=ans["answers"].astype(str).to_numpy(),
            )
            looked = conn.loc[need, "id.resp_h"].map(ip_name)
            out[np.flatnonzero(need)] = looked.to_numpy(dtype=object)
    out[pd.isna(out)] = None
    return out


def _marks(
    ctx: DetectContext, conn: pd.DataFrame, proto: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Remote-access payload marker per row, matched on the 5-tuple in either direction."""
    out = np.zeros(len(conn), dtype=np.int64)
    marks = ctx.tables.get("links_marks")
    if marks is None or not len(marks) or not len(conn):
        return out
    # only connections between two marked endpoints can match: filter before the merge
    ends = pd.unique(np.concatenate([marks["src"].to_numpy(object), marks["dst"].to_numpy(object)]))
    near = np.flatnonzero(
        conn["id.orig_h"].isin(ends).to_numpy(bool) & conn["id.resp_h"].isin(ends).to_numpy(bool)
    )
    if not len(near):
        return out
    conn = conn.iloc[near]
    proto = proto[near]
    m = marks[["src", "sport", "dst", "dport", "proto", "mark"]].copy()
    both = pd.concat(
        [
            m.rename(columns={"src": "o", "sport": "op", "dst": "r", "dport": "rp"}),
            m.rename(columns={"dst": "o", "dport": "op", "src": "r", "sport": "rp"}),
        ],
        ignore_index=True,
    )
    both = both.astype({"op": np.int64, "rp": np.int64, "proto": np.int64, "mark": np.int64})
    both = both.drop_duplicates(["o", "op", "r", "rp", "proto"])
    key = pd.DataFrame(
        {
            "o": conn["id.orig_h"].to_numpy(),
            "op": pd.to_numeric(conn["id.orig_p"], errors="coerce")
            .fillna(-1)
            .astype(np.int64)
            .to_numpy(),
            "r": conn["id.resp_h"].to_numpy(),
            "rp": pd.to_numeric(conn["id.resp_p"], errors="coerce")
            .fillna(-1)
            .astype(np.int64)
            .to_numpy(),
            "proto": proto,
            "_row": np.arange(len(conn)),
        }
    )
    j = key.merge(both, on=["o", "op", "r", "rp", "proto"])
    out[near[j["_row"].to_numpy()]] = j["mark"].to_numpy()
    return out


def links_finding(
    ctx: DetectContext,
    detector: str,
    category: Category,
    severity: Severity,
    subject: str,
    first: float | None,
    last: float | None,
    count: int,
    evidence: Mapping[str, Any],
    *,
    id_keys: Mapping[str, Any] | None = None,
    **params: Any,
) -> Finding:
    """A links Finding with catalog title/remediation and the detector's controls."""
    return finding(
        ctx, detector, category, severity, subject, first, last, count, evidence,
        id_keys=id_keys, controls=CONTROLS[detector], **params,
    )  # fmt: skip


def top(values: Iterable[Any], n: int) -> list[Any]:
    """First n distinct values in order."""
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
            if len(seen) >= n:
                break
    return seen


def is_role(pol: Policy, asset_idx: npt.NDArray[np.int32], *roles: Role) -> BoolArr:
    ids = np.array(pol.assets_with_role(*roles), dtype=np.int32)
    return np.isin(asset_idx, ids) & (asset_idx >= 0)


def per_origin(
    ctx: DetectContext,
    v: FlowView,
    rows: BoolArr,
    category: Category,
    detector: str,
    *,
    severity: Severity | tuple[Severity, Severity],
    what: npt.NDArray[np.object_] | None = None,
) -> list[Finding]:
    """One finding per originating host over the selected flows, destinations in the evidence.

    `severity` is one level, or (level when any flow was answered, level for attempts only).
    All aggregation is done once over the selected rows; the Python loop is per finding.
    """
    if not rows.any():
        return []
    rules = links_rules(ctx)
    pol: Policy = ctx.policy
    cap = rules.max_evidence
    c = v.conn
    idx = np.flatnonzero(rows)
    # rows in (origin text, time) order; origins and responders as integer codes
    o_codes, o_vals = text_codes(c, "id.orig_h")
    r_codes, r_vals = text_codes(c, "id.resp_h")
    o_rank = np.empty(len(o_vals), np.int64)
    o_rank[np.argsort(o_vals.astype(str), kind="stable")] = np.arange(len(o_vals))
    ts_all = v.ts[idx]
    perm = idx[np.lexsort((ts_all, o_rank[o_codes[idx]]))]
    og = o_rank[o_codes[perm]]  # non-decreasing: one run per origin
    rc = r_codes[perm].astype(np.int64)
    ts = v.ts[perm]
    dur = (
        pd.to_numeric(c["duration"], errors="coerce").fillna(0).to_numpy(np.float64)[perm]
        if "duration" in c.columns
        else np.zeros(len(perm))
    )
    answered = v.answered[perm].astype(np.int64)
    m = len(perm)
    starts = np.flatnonzero(np.r_[True, og[1:] != og[:-1]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, m]))  # origin run per row
    pos_in_run = np.arange(m) - starts[run]
    origins = o_vals[o_codes[perm[starts]]]
    first_ts = np.minimum.reduceat(ts, starts)
    last_ts = np.maximum.reduceat(ts + dur, starts)
    count = np.diff(np.r_[starts, m])
    n_answered = np.add.reduceat(answered, starts)
    oz, oa = v.oz[perm[starts]], v.oa[perm[starts]]
    # destinations (origin, responder, proto, port) in order of first appearance
    k1 = pd.factorize(run.astype(np.int64) * (len(r_vals) + 1) + rc)[0].astype(np.int64)
    dcode = pd.factorize(k1 * (256 * 65536) + (v.proto[perm] & 0xFF) * 65536 + v.port[perm])[0]
    nd = int(dcode.max()) + 1
    d_first_row = _first_rows(dcode, nd)
    d_run = run[d_first_row]
    d_count = np.bincount(dcode, minlength=nd)
    d_answered = np.bincount(dcode, weights=answered, minlength=nd)
    d_first = np.full(nd, np.inf)
    np.minimum.at(d_first, dcode, ts)
    d_name = _first_present(v.name[perm], dcode, nd)
    d_what = _first_present(what[perm], dcode, nd) if what is not None else None
    n_dest = np.bincount(d_run, minlength=len(starts))
    order = np.lexsort((d_first, -d_count, d_run))  # per origin: most connections, then earliest
    d_sorted_run = d_run[order]
    d_starts = np.flatnonzero(np.r_[True, d_sorted_run[1:] != d_sorted_run[:-1]])
    d_pos = np.arange(nd) - np.repeat(d_starts, np.diff(np.r_[d_starts, nd]))
    shown = order[d_pos < cap]
    listed: list[list[dict[str, Any]]] = [[] for _ in range(len(starts))]
    services: dict[tuple[int, int], str] = {}
    d_proto = v.proto[perm][d_first_row]
    d_port = v.port[perm][d_first_row]
    d_resp = r_vals[r_codes[perm[d_first_row]]]
    for d in shown.tolist():
        key = (int(d_proto[d]), int(d_port[d]))
        if key not in services:
            services[key] = _service(*key)
        item: dict[str, Any] = {
            "dst": d_resp[d],
            "service": services[key],
            "connections": int(d_count[d]),
            "attempts_only": bool(d_answered[d] == 0),
        }
        if d_name[d]:
            item["domain"] = d_name[d]
        if d_what is not None and d_what[d]:
            item["tool"] = d_what[d]
        listed[d_run[d]].append(item)
    # connection states per origin, in order of first appearance
    state = c["conn_state"].astype(str).to_numpy()[perm] if "conn_state" in c.columns else None
    states: list[dict[str, int]] = [{} for _ in range(len(starts))]
    if state is not None:
        s_codes, s_vals = pd.factorize(state, use_na_sentinel=False)
        pair = pd.factorize(run.astype(np.int64) * (len(s_vals) + 1) + s_codes)[0]
        p_first = _first_rows(pair, int(pair.max()) + 1)
        p_count = np.bincount(pair)
        for r_, sv, n in zip(
            run[p_first].tolist(), s_vals[s_codes[p_first]].tolist(), p_count.tolist(), strict=True
        ):
            states[r_][str(sv)] = n
    uids: list[list[Any]] = [[] for _ in range(len(starts))]
    if "uid" in c.columns:
        head = np.flatnonzero(pos_in_run < cap)
        for r_, u in zip(run[head].tolist(), c["uid"].to_numpy()[perm[head]].tolist(), strict=True):
            uids[r_].append(u)
    else:
        for r_ in range(len(starts)):
            uids[r_] = [""] * min(int(count[r_]), cap)
    # exceptions that match but were not in force: expired, or not valid yet
    inactive: dict[int, dict[str, list[dict[str, str]]]] = {}
    ex_rows = np.flatnonzero(v.inactive[perm] >= 0)
    seen: set[tuple[int, int]] = set()
    for r_, i, t in zip(
        run[ex_rows].tolist(),
        v.inactive[perm[ex_rows]].tolist(),
        ts[ex_rows].tolist(),
        strict=True,
    ):
        if (r_, i) in seen:
            continue
        seen.add((r_, i))
        rule = pol.links.exceptions[int(i)]
        item = {"expires": rule.expires.isoformat(), "reason": rule.reason}
        if rule.starts is not None:
            item["starts"] = rule.starts.isoformat()
        kind = (
            "expired_exceptions" if t >= exception_window(rule)[1] else "exceptions_not_yet_valid"
        )
        inactive.setdefault(r_, {}).setdefault(kind, []).append(item)
    zone_names = pol.zone_name(oz)
    out = []
    for k, (orig, asset, cnt, ans, first, last) in enumerate(
        zip(
            origins.tolist(),
            oa.astype(np.int64).tolist(),
            count.tolist(),
            n_answered.tolist(),
            first_ts.tolist(),
            last_ts.tolist(),
            strict=True,
        )
    ):
        evidence: dict[str, Any] = {
            "src": orig,
            "zone": zone_names[k],
            "asset": pol.assets[asset].name if asset >= 0 else None,
            "destinations": listed[k],
            "distinct_destinations": int(n_dest[k]),
            "attempts": cnt - ans,
            "states": states[k],
            "uids": uids[k],
        }
        evidence.update(inactive.get(k, {}))
        sev = severity if isinstance(severity, Severity) else severity[0 if ans else 1]
        out.append(
            links_finding(
                ctx,
                detector,
                category,
                sev,
                str(orig),
                first,
                last,
                cnt,
                evidence,
                id_keys={"zone": evidence["zone"]},
                dst=listed[k][0]["dst"],
                destinations=int(n_dest[k]),
            )  # fmt: skip
        )
    return out


def _first_rows(codes: npt.NDArray[Any], k: int) -> npt.NDArray[np.int64]:
    """Row of each code's first appearance (codes numbered in order of first appearance)."""
    c = np.asarray(codes)
    return np.flatnonzero(np.r_[True, c[1:] > np.maximum.accumulate(c)[:-1]])[:k]


def _first_present(
    values: npt.NDArray[np.object_], codes: npt.NDArray[Any], k: int
) -> npt.NDArray[np.object_]:
    """Per code, its first non-missing value in row order (None when it has none)."""
    out = np.full(k, None, dtype=object)
    present = np.flatnonzero(pd.notna(values))
    if len(present):
        first = np.full(k, len(values), np.int64)
        np.minimum.at(first, codes[present], present)
        has = first < len(values)
        out[has] = values[first[has]]
    return out


def _service(proto: int, port: int) -> str:
    names = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6", 47: "gre", 50: "esp", 132: "sctp"}
    p = names.get(proto, str(proto))
    return p if proto in (1, 58, 47, 50) else f"{p}/{port}"


def groups(df: pd.DataFrame, by: str | list[str]) -> Iterator[tuple[Any, pd.DataFrame]]:
    """`df.groupby(by, sort=False)` with the key typed Any (pandas-stubs say Hashable)."""
    yield from df.groupby(by, sort=False)


def records(df: pd.DataFrame) -> Iterator[Any]:
    """Rows as attribute objects (itertuples typed loosely for mypy)."""
    yield from df.itertuples(index=False)


def num(x: Any) -> float:
    """A pandas/numpy scalar as float."""
    return float(x)


def whole(x: Any) -> int:
    """A pandas/numpy scalar as int."""
    return int(x)
