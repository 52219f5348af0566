"""What every links detector shares: the policy view of the conn table, computed once.

`flow_view(ctx)` classifies each connection against the policy (zones,
assets, approvals, exceptions, compliant role egress, server names) with
whole-column operations; the detectors in links.py, links_internal.py and
beacon.py are then simple masks over it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.config import load_yaml
from secaudit.detect._common import (
    GBT,
    conn_addr_codes,
    conn_addr_numbers,
    finding,
    findings_bulk,
    gc_paused,
    text_codes,
    text_factorize,
    text_lookup,
)
from secaudit.detect.links_tables import first_rows
from secaudit.detect.registry import DetectContext
from secaudit.model import Category, Finding, Severity
from secaudit.policy import Policy, Role, ports_match
from secaudit.policy.addr import hilo_of_distinct
from secaudit.policy.policy import exception_window
from secaudit.policy.rules import LinksRules
from secaudit.policy.rules import load_links_rules as _load_rules

__all__ = [
    "CONTROLS",
    "DEFAULT_LINKS_RULES",
    "VIEW_TABLES",
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
    name_of: Callable[[], npt.NDArray[np.object_]]  # computes `name` (see below)
    approved: BoolArr
    excepted: npt.NDArray[np.int32]  # valid exception index, -1 none
    inactive: npt.NDArray[np.int32]  # an exception that matches but was not in force, -1 none
    role_ok: BoolArr  # the origin's role/via lets it send this service to the internet
    mark_of: Callable[[], npt.NDArray[np.int64]]  # computes `mark`
    oz_link: npt.NDArray[np.int32]  # zone for zone->zone rules: a router asset's own zone
    rz_link: npt.NDArray[np.int32]
    r_hi: npt.NDArray[np.uint64]  # responder address (hi, lo)
    r_lo: npt.NDArray[np.uint64]
    managed: BoolArr  # the origin's zone holds managed devices (trust not in unmanaged_trust)
    o_code: npt.NDArray[np.intp]  # orig address as a code into o_text (text_codes of conn)
    o_text: npt.NDArray[np.object_]  # distinct orig address texts ("" for a missing one)
    r_code: npt.NDArray[np.intp]
    r_text: npt.NDArray[np.object_]
    state_code: npt.NDArray[np.intp]  # conn_state as a code into state_text
    state_text: npt.NDArray[np.object_]  # distinct conn_state texts (str(); missing: "nan")
    duration: npt.NDArray[np.float64]  # seconds, 0 where missing

    @cached_property
    def name(self) -> npt.NDArray[np.object_]:
        """Destination's server name (SNI/Host/DNS answer) or None, per row; joined when a
        detector first asks (beacon never does), unless domain approvals needed it."""
        return self.name_of()

    @cached_property
    def mark(self) -> npt.NDArray[np.int64]:
        """Remote-access payload marker (links_kernels.MARK_*) per row, 0 none; on first use."""
        return self.mark_of()

    @cached_property
    def o_rank(self) -> npt.NDArray[np.int64]:
        """Rank of each distinct origin text in text order (findings go by origin text)."""
        rank = np.empty(len(self.o_text), np.int64)
        rank[np.argsort(self.o_text.astype(str), kind="stable")] = np.arange(len(self.o_text))
        return rank

    @property
    def outbound(self) -> BoolArr:
        """Initiated by a host in a policy zone towards the internet."""
        return np.asarray((self.oz >= 0) & (self.rz == -1) & self.initiated, dtype=np.bool_)


# the tables flow_view reads besides conn (destination names: TLS SNI / HTTP Host tables
# where given, the links extracts' names, DNS answers; remote-access markers): the
# `needs` of every detector built on it
VIEW_TABLES = ("tls", "http", "links_names", "dns", "links_marks")

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


def _num(df: pd.DataFrame, name: str, dtype: type, fill: float = 0) -> npt.NDArray[Any]:
    """Numeric column `name`, `fill` where missing or not a number (and for a missing column)."""
    if name not in df.columns:
        return np.full(len(df), fill, dtype=dtype)
    col = df[name]
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return np.asarray(col.to_numpy(dtype=dtype, na_value=fill), dtype=dtype)  # no copy first
    return np.asarray(pd.to_numeric(col, errors="coerce").fillna(fill).to_numpy(dtype), dtype=dtype)


def _codes(df: pd.DataFrame, name: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]]:
    """text_codes of a text column; a missing column reads as all missing ("")."""
    if name in df.columns:
        return text_codes(df, name)
    return np.zeros(len(df), dtype=np.intp), np.array([""], dtype=object)


def _build(ctx: DetectContext) -> FlowView:
    pol: Policy = ctx.policy
    rules = links_rules(ctx)
    conn = ctx.conn
    if not conn.index.equals(pd.RangeIndex(len(conn))):
        conn = conn.reset_index(drop=True)
    n = len(conn)
    # addresses: looked up once per distinct address, then gathered by code
    (o_code, o_text, uo_hi, uo_lo, uo_ok), (r_code, r_text, ur_hi, ur_lo, ur_ok) = _addresses(conn)
    uoz = pol.zone_of(uo_hi, uo_lo, distinct=True)
    uoz[~uo_ok] = -2
    uoa = pol.asset_of_ip(uo_hi, uo_lo, distinct=True)
    if r_text is o_text:  # one code space for both ends: one lookup
        urz, ura = uoz, uoa
    else:
        urz = pol.zone_of(ur_hi, ur_lo, distinct=True)
        urz[~ur_ok] = -2
        ura = pol.asset_of_ip(ur_hi, ur_lo, distinct=True)
    o_hi, o_lo = uo_hi[o_code], uo_lo[o_code]
    r_hi, r_lo = ur_hi[r_code], ur_lo[r_code]
    oz, rz = uoz[o_code], urz[r_code]
    oa, ra = uoa[o_code], ura[r_code]
    v6 = ((uo_hi != 0) | ((uo_lo >> np.uint64(32)) != np.uint64(0xFFFF)))[o_code]
    pcodes, pnames = _codes(conn, "proto")  # a missing protocol reads "": number 0
    pnum = np.array(
        [_PROTO_NUM.get(str(u).lower(), 0) for u in pnames], dtype=np.int64
    )[pcodes] if len(pnames) else np.zeros(n, dtype=np.int64)  # fmt: skip
    proto: npt.NDArray[np.int64] = np.asarray(np.where((pnum == 1) & v6, 58, pnum), dtype=np.int64)
    if "ip_proto" in conn.columns:
        ipp = _num(conn, "ip_proto", np.int64)
        proto = np.asarray(np.where(ipp > 0, ipp, proto), dtype=np.int64)
    resp_p = _num(conn, "id.resp_p", np.int64)
    oport = _num(conn, "id.orig_p", np.int64)
    icmp = (proto == 1) | (proto == 58)
    port = np.where(icmp, oport, resp_p)  # ICMP: the type (Zeek's orig_p), so icmp/8 is echo
    ts = _num(conn, "ts", np.float64)
    state_code, state_text = _states(conn)
    resp_pkts = _num(conn, "resp_pkts", np.float64)
    answered = (np.isin(state_text, list(_ANSWERED_STATES))[state_code] & (resp_pkts > 0)) | (
        (proto == 1) | (proto == 58)
    ) & (resp_pkts > 0)
    icmp_err = np.zeros(n, dtype=bool)
    for num, types in ((1, rules.icmp_error_types), (58, rules.icmp6_error_types)):
        rows = np.flatnonzero(proto == num)
        icmp_err[rows] = np.isin(oport[rows], types)
    initiated = ~icmp_err

    ext = (rz == -1) | (oz == -1)
    orig_pm = _num(conn, "id.orig_p", np.int64, fill=-1)  # the join keys: missing reads -1
    resp_pm = _num(conn, "id.resp_p", np.int64, fill=-1)
    ends = ((o_code, o_text, orig_pm), (r_code, r_text, resp_pm))
    name_of = functools.partial(_server_name, ctx, conn, ext, *ends)
    approved = np.zeros(n, dtype=bool)
    if ext.any():
        # the CIDR per distinct responder, the ports per row
        unet = pol.approved_net(ur_hi, ur_lo, distinct=True)
        approved[ext] = pol.approved_ports(unet[r_code[ext]], proto[ext], port[ext])
        if any(a.domain for a in pol.links.external.approved):  # names decide approvals
            name = name_of()
            name_of = functools.partial(_given, name)
            named = ext & pd.notna(name)
            if named.any():
                approved[named] |= pol.approved_domain(
                    pd.Series(name[named], dtype=object), proto[named], port[named]
                )
    excepted, inactive = pol.exception_for((o_hi, o_lo), (r_hi, r_lo), proto, port, ts)
    role_ok = _role_egress(pol, rules, oa, proto, port)
    mark_of = functools.partial(_marks, ctx, proto, *ends)
    # a router's own traffic (syslog, SNMP, routing) leaves from its interface in every zone;
    # for zone->zone rules it belongs to the zone the asset is registered in
    asset_zone = pol.asset_zone_ids
    router = np.zeros(len(pol.assets) + 1, dtype=bool)  # per asset, then -1 (none): False
    router[pol.assets_with_role(Role.GATEWAY, Role.NETWORK)] = True
    oz_link = np.where(router[uoa], asset_zone[uoa], uoz).astype(np.int32)[o_code]
    rz_link = np.where(router[ura], asset_zone[ura], urz).astype(np.int32)[r_code]
    unmanaged = np.zeros(len(pol.zones) + 2, dtype=bool)  # per zone, then -2 and -1: False
    unmanaged[[i for i, z in enumerate(pol.zones) if z.trust in rules.unmanaged_trust]] = True
    managed = ~unmanaged[uoz][o_code]
    return FlowView(
        conn, oz, rz, oa, ra, proto, port, ts, answered, initiated, name_of, approved,
        excepted, inactive, role_ok, mark_of, oz_link, rz_link, r_hi, r_lo, managed,
        o_code, o_text, r_code, r_text, state_code, state_text, _num(conn, "duration", np.float64),
    )  # fmt: skip


_End = tuple[
    npt.NDArray[np.intp], npt.NDArray[np.object_], npt.NDArray[np.uint64],
    npt.NDArray[np.uint64], BoolArr,
]  # fmt: skip


def _addresses(conn: pd.DataFrame) -> tuple[_End, _End]:
    """Per end (orig, resp): codes, distinct texts and each text's (hi, lo, parsed ok).

    A conn table built by conn_frame_coded has both ends in one code space with the
    tracker's own numbers (conn_addr_numbers): nothing is hashed or parsed, and both ends
    share the same arrays.  Any other table (a conn.log read back) is factorized and
    parsed per distinct text."""
    numbers = conn_addr_numbers(conn)
    if numbers is not None:
        oc, rc, values = conn_addr_codes(conn)
        ok = np.ones(len(values), dtype=bool)
        both = (values, numbers[0], numbers[1], ok)
        return (oc, *both), (rc, *both)
    ends = []
    for name in ("id.orig_h", "id.resp_h"):
        code, text = _codes(conn, name)
        ends.append((code, text, *hilo_of_distinct(text.tolist())))
    return ends[0], ends[1]


def _states(conn: pd.DataFrame) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]]:
    """conn_state codes and texts; a missing state reads "nan", as str() of it did."""
    if "conn_state" not in conn.columns:
        return np.zeros(len(conn), dtype=np.intp), np.array(["nan"], dtype=object)
    codes, raw = text_factorize(conn["conn_state"])
    return codes, np.array(["nan" if u is None else str(u) for u in raw], dtype=object)


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
    for i, role in enumerate(pol.asset_roles):
        if role in rules.role_egress:
            grants.setdefault(i, set()).add(role)
    for service, role in via_service.items():
        for i in pol.via_assets(service):
            grants.setdefault(i, set()).add(role)
    for i, roles in grants.items():
        rows = oa == i
        if rows.any():
            for role in roles:
                ok[rows] |= ports_match(rules.role_egress.get(role, ()), proto[rows], port[rows])
    return ok


Ends = tuple[npt.NDArray[np.intp], npt.NDArray[np.object_], npt.NDArray[np.int64]]


def _given(value: Any) -> Any:
    return value


def _server_name(
    ctx: DetectContext, conn: pd.DataFrame, ext: BoolArr, orig: Ends, resp: Ends
) -> npt.NDArray[np.object_]:
    """_server_names' names only (None where there is none)."""
    return _server_names(ctx, conn, ext, orig, resp)[0]


def _server_names(
    ctx: DetectContext, conn: pd.DataFrame, ext: BoolArr, orig: Ends, resp: Ends
) -> tuple[npt.NDArray[np.object_], BoolArr]:
    """Destination name per row (the flow's own TLS SNI / HTTP Host, else a DNS answer
    name) and where there is one.

    `orig`/`resp` are the conn address codes, texts and ports (-1 missing): the names
    table and DNS answers are matched on them (text equality, as a join on the text
    columns) with integer keys."""
    n = len(conn)
    out = np.full(n, None, dtype=object)
    if not ext.any():
        return out, np.zeros(n, dtype=bool)
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
    names = ctx.tables.get("links_names")
    if names is not None and len(names):
        rows = np.flatnonzero(ext)
        if "id.orig_p" in conn.columns and "id.resp_p" in conn.columns:
            where = _join(
                (orig[0][rows], orig[2][rows], resp[0][rows], resp[2][rows]),
                (
                    text_lookup(names["src"], orig[1]),
                    names["sport"].to_numpy(np.int64),
                    text_lookup(names["dst"], resp[1]),
                    names["dport"].to_numpy(np.int64),
                ),
            )
            hit = where >= 0
            got = names["name"].take(where[hit]).to_numpy(dtype=object)
            rows = rows[hit]
            empty = pd.isna(out[rows])
            out[rows[empty]] = got[empty]
    dns = ctx.tables.get("dns")
    if dns is not None and len(dns) and "answers" in dns.columns and "query" in dns.columns:
        need = ext & pd.isna(out)
        if need.any() and "id.resp_h" in conn.columns:
            ans = _distinct_objects(dns[["query", "answers"]].dropna())
            ans = ans.explode("answers").dropna()
            ans = ans.drop_duplicates("answers")
            ip_name = pd.Series(
                ans["query"].astype(str).str.lower().str.rstrip(".").to_numpy(),
                index=ans["answers"].astype(str).to_numpy(),
            )
            per_text = pd.Series(resp[1], dtype=object).map(ip_name).to_numpy(dtype=object)
            rows = np.flatnonzero(need)
            looked = per_text[resp[0][rows]]
            looked[conn["id.resp_h"].isna().to_numpy(bool)[rows]] = None  # no address, no name
            out[rows] = looked
    missing = pd.isna(out)
    out[missing] = None
    return out, ~missing


def _distinct_objects(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of `df` whose cells are not, all of them, the very same objects as those of
    an earlier row.  dns_log shares one str per distinct query name and one list per
    distinct answer set, so this drops repeats by identity (no hashing of text or lists)
    and what is done with the rest (explode, keep the first per answer) is unchanged."""
    if len(df) < 2:
        return df
    ids = pd.DataFrame(
        {c: np.fromiter(map(id, df[c].to_numpy(dtype=object)), np.int64, len(df)) for c in df}
    )
    return df[~ids.duplicated().to_numpy()]


def _join(
    left: tuple[npt.NDArray[Any], ...], right: tuple[npt.NDArray[Any], ...]
) -> npt.NDArray[np.intp]:
    """Per left row, the first right row with equal values in every column, else -1
    (an inner join on integer columns where the right side's first duplicate wins).
    The columns are packed into one int64 key (offset by their minimum); when their
    ranges do not fit in 62 bits, they are folded into dense codes first."""
    n = len(left[0])
    cols = [
        np.concatenate([np.asarray(a, np.int64), np.asarray(b, np.int64)])
        for a, b in zip(left, right, strict=True)
    ]
    key = np.zeros(len(cols[0]), dtype=np.int64)
    if len(key):
        spans = [(int(c.min()), int(c.max()) - int(c.min()) + 1) for c in cols]
        if math.prod(s for _, s in spans) < 1 << 62:
            for c, (lo, span) in zip(cols, spans, strict=True):
                key = key * span + (c - lo)
        else:
            for c in cols:
                codes, uniq = pd.factorize(c)
                key = pd.factorize(key * (len(uniq) + 1) + codes)[0].astype(np.int64)
    kr = key[n:]
    first = np.flatnonzero(~pd.Index(kr).duplicated(keep="first"))
    pos = pd.Index(kr[first]).get_indexer(pd.Index(key[:n]))
    return np.asarray(np.where(pos >= 0, first[np.maximum(pos, 0)], -1), dtype=np.intp)


def _marks(
    ctx: DetectContext, proto: npt.NDArray[np.int64], orig: Ends, resp: Ends
) -> npt.NDArray[np.int64]:
    """Remote-access payload marker per row, matched on the 5-tuple in either direction."""
    out = np.zeros(len(proto), dtype=np.int64)
    marks = ctx.tables.get("links_marks")
    if marks is None or not len(marks) or not len(proto):
        return out
    src, dst = marks["src"], marks["dst"]
    # both directions, forward rows first (the first of equal 5-tuples wins)
    # one lookup per vocabulary: each call turns its vocabulary into an Arrow value set
    m_o = text_lookup(pd.concat([src, dst], ignore_index=True), orig[1])
    if (
        resp[1] is orig[1]
    ):  # one code space (flow_view's _addresses): the same lookup, halves swapped
        m_r = np.concatenate([m_o[len(src) :], m_o[: len(src)]])
    else:
        m_r = text_lookup(pd.concat([dst, src], ignore_index=True), resp[1])
    sp, dp = marks["sport"].to_numpy(np.int64), marks["dport"].to_numpy(np.int64)
    # only connections between two marked endpoints can match: filter before the join
    o_end = np.zeros(len(orig[1]) + 1, dtype=bool)  # per address code, then -1: False
    r_end = np.zeros(len(resp[1]) + 1, dtype=bool)
    o_end[m_o] = True
    r_end[m_r] = True
    o_end[-1] = r_end[-1] = False
    near = np.flatnonzero(o_end[orig[0]] & r_end[resp[0]])
    if not len(near):
        return out
    where = _join(
        (orig[0][near], orig[2][near], resp[0][near], resp[2][near], proto[near]),
        (
            m_o,
            np.concatenate([sp, dp]),
            m_r,
            np.concatenate([dp, sp]),
            np.tile(marks["proto"].to_numpy(np.int64), 2),
        ),
    )
    hit = where >= 0
    out[near[hit]] = np.tile(marks["mark"].to_numpy(np.int64), 2)[where[hit]]
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


@gc_paused
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
    o_codes, o_vals = v.o_code, v.o_text
    r_codes, r_vals = v.r_code, v.r_text
    o_rank = v.o_rank
    ts_all = v.ts[idx]
    perm = idx[np.lexsort((ts_all, o_rank[o_codes[idx]]))]
    og = o_rank[o_codes[perm]]  # non-decreasing: one run per origin
    rc = r_codes[perm].astype(np.int64)
    ts = v.ts[perm]
    dur = v.duration[perm]
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
    d_first_row = first_rows(dcode)
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
    sd = perm[d_first_row[shown]]  # the shown destinations' first rows
    for run_, resp, proto_, port_, n_, none_answered, name_, tool in zip(
        d_run[shown].tolist(),
        r_vals[r_codes[sd]].tolist(),
        v.proto[sd].tolist(),
        v.port[sd].tolist(),
        d_count[shown].tolist(),
        (d_answered[shown] == 0).tolist(),
        d_name[shown].tolist(),
        d_what[shown].tolist() if d_what is not None else [None] * len(shown),
        strict=True,
    ):
        key = (proto_, port_)
        if key not in services:
            services[key] = _service(*key)
        item: dict[str, Any] = {
            "dst": resp,
            "service": services[key],
            "connections": n_,
            "attempts_only": none_answered,
        }
        if name_:
            item["domain"] = name_
        if tool:
            item["tool"] = tool
        listed[run_].append(item)
    # connection states per origin, in order of first appearance
    states: list[dict[str, int]] = [{} for _ in range(len(starts))]
    if "conn_state" in c.columns:
        s_codes = v.state_code[perm]
        pair = pd.factorize(run.astype(np.int64) * (len(v.state_text) + 1) + s_codes)[0]
        p_first = first_rows(pair)
        p_count = np.bincount(pair)
        for r_, sv, n in zip(
            run[p_first].tolist(),
            v.state_text[s_codes[p_first]].tolist(),
            p_count.tolist(),
            strict=True,
        ):
            states[r_][sv] = n
    uids: list[list[Any]] = [[] for _ in range(len(starts))]
    if "uid" in c.columns:
        head = np.flatnonzero(pos_in_run < cap)
        u_head = c["uid"].take(perm[head]).to_numpy(dtype=object)
        u_head[pd.isna(u_head)] = None  # what Finding's evidence check makes of a missing uid
        for r_, u in zip(run[head].tolist(), u_head.tolist(), strict=True):
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
    zone_names = pol.zone_name(oz).tolist()
    n_dest_l = n_dest.tolist()
    attempts = (count - n_answered).tolist()
    evidence: list[dict[str, Any]] = []
    for k, (orig, zone, asset) in enumerate(
        zip(origins.tolist(), zone_names, oa.tolist(), strict=True)
    ):
        ev: dict[str, Any] = {
            "src": orig,
            "zone": zone,
            "asset": pol.assets[asset].name if asset >= 0 else None,
            "destinations": listed[k],
            "distinct_destinations": n_dest_l[k],
            "attempts": attempts[k],
            "states": states[k],
            "uids": uids[k],
        }
        if k in inactive:
            ev.update(inactive[k])
        evidence.append(ev)
    if isinstance(severity, Severity):
        sevs = [severity] * len(starts)
    else:
        sevs = [severity[0] if a else severity[1] for a in n_answered.tolist()]
    return findings_bulk(
        ctx, detector, category, sevs, [str(o) for o in origins.tolist()], first_ts, last_ts,
        count.tolist(), evidence, id_keys=[{"zone": z} for z in zone_names],
        controls=CONTROLS[detector],
        title_params={"dst": [d[0]["dst"] for d in listed], "destinations": n_dest_l},
    )  # fmt: skip


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
