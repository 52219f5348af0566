"""Operational faults (运行故障): retransmissions, zero windows, rejected and unanswered
connections, ICMP unreachable / time exceeded, DNS failures.

Subjects follow the cause: the retransmitting sender, the zero-window
receiver, the rejecting or silent server, the unreachable destination, the
failing resolver (or the client drowning in NXDOMAIN).  Severities come from
the ladders in rules/detect.yaml.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect._common import (
    Groups,
    conn_addr_codes,
    finding,
    first_of_codes,
    group_codes,
    internal_mask,
    keyparts,
    rows_by_code,
    sample,
    severity_of,
    text_in,
)
from secaudit.detect.config import (
    DnsFailure,
    IcmpUnreachable,
    Rejected,
    Retransmission,
    Unanswered,
    ZeroWindow,
)
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding

__all__ = [
    "dns_failure",
    "icmp_unreachable",
    "rejected",
    "retransmission",
    "unanswered",
    "zero_window",
]

_UNREACH_CODES = {
    0: "net_unreachable", 1: "host_unreachable", 2: "protocol_unreachable",
    3: "port_unreachable", 4: "fragmentation_needed", 5: "source_route_failed",
    6: "net_unknown", 7: "host_unknown", 9: "net_prohibited", 10: "host_prohibited",
    13: "admin_prohibited",
}  # fmt: skip


@register("retransmission", Category.FAULT, needs=("tcp_dirs",))
def retransmission(ctx: DetectContext) -> list[Finding]:
    """A sender retransmitting a large share of its TCP data segments (loss on its path)."""
    cfg = Retransmission.model_validate(ctx.settings("retransmission"))
    dirs = ctx.tables.get("tcp_dirs")
    if dirs is None or dirs.empty:
        return []
    grp = Groups(dirs["src"])  # per sender
    g = pd.DataFrame(
        {
            "data": grp.sum(dirs["data_pkts"].to_numpy(np.int64)),
            "retrans": grp.sum(dirs["retrans"].to_numpy(np.int64)),
            "first": grp.min(dirs["first_ns"].to_numpy(np.int64)),
            "last": grp.max(dirs["last_ns"].to_numpy(np.int64)),
        },
        index=pd.Index(dirs["src"].iloc[grp.first].to_numpy(dtype=object)),
    )
    g["ratio"] = g["retrans"] / g["data"].clip(lower=1)
    busy = (
        (g["data"] >= cfg.min_data_pkts)
        & (g["retrans"] >= cfg.min_retrans)
        & (g["ratio"] >= cfg.min_ratio)
    ).to_numpy(bool)
    hot = g[busy & g.index.notna()].sort_index()  # sender order, as a text groupby gives
    out = []
    for src, r in hot.iterrows():
        mine = dirs[(dirs["src"] == src) & (dirs["retrans"] > 0)]
        peers = mine.groupby("dst")["retrans"].sum().sort_values(ascending=False)
        # duplicate ACKs sent back by the receivers of this sender's data
        back = dirs[(dirs["dst"] == src) & dirs["flow"].isin(mine["flow"])]["dupacks"].sum()
        out.append(
            finding(
                ctx,
                "retransmission",
                Category.FAULT,
                severity_of(float(r["ratio"]), cfg.severity, "low"),
                str(src),
                float(r["first"]) / 1e9,
                float(r["last"]) / 1e9,
                int(r["retrans"]),
                {
                    "retransmitted_segments": int(r["retrans"]),
                    "data_segments": int(r["data"]),
                    "retrans_pct": round(100 * float(r["ratio"]), 2),
                    "dup_acks_received": int(back),
                    "flows_affected": int(mine["flow"].nunique()),
                    "peers": {str(k): int(v) for k, v in peers.head(10).items()},
                    "ports": sorted(int(p) for p in sample(mine["sport"], 10)),
                },
                pct=round(100 * float(r["ratio"]), 1),
            )
        )
    return out


@register("zero_window", Category.FAULT, needs=("tcp_dirs",))
def zero_window(ctx: DetectContext) -> list[Finding]:
    """A receiver advertising a zero window for long (it cannot keep up: overloaded host/app)."""
    cfg = ZeroWindow.model_validate(ctx.settings("zero_window"))
    dirs = ctx.tables.get("tcp_dirs")
    if dirs is None or dirs.empty:
        return []
    z = dirs[dirs["zero_win"] > 0]
    g = z.groupby("src").agg(
        events=("zero_win", "sum"),
        stall_ns=("zw_stall_ns", "sum"),
        flows=("flow", "nunique"),
        first=("first_ns", "min"),
        last=("last_ns", "max"),
    )
    g["stall_s"] = g["stall_ns"] / 1e9
    hot = g[(g["events"] >= cfg.min_events) & (g["stall_s"] >= cfg.min_stall_s)]
    out = []
    for src, r in hot.iterrows():
        mine = z[z["src"] == src]
        out.append(
            finding(
                ctx,
                "zero_window",
                Category.FAULT,
                severity_of(float(r["stall_s"]), cfg.severity, "low"),
                str(src),
                float(r["first"]) / 1e9,
                float(r["last"]) / 1e9,
                int(r["events"]),
                {
                    "zero_window_segments": int(r["events"]),
                    "stalled_s": round(float(r["stall_s"]), 1),
                    "flows_affected": int(r["flows"]),
                    "peers": sample(mine["dst"], 10),
                    "ports": sorted(int(p) for p in sample(mine["sport"], 10)),
                },
                seconds=round(float(r["stall_s"]), 1),
            )
        )
    return out


_SERVERS: list[tuple[pd.DataFrame, dict[str, np.ndarray]]] = []


def _servers(conn: pd.DataFrame) -> dict[str, np.ndarray]:
    """TCP connections grouped by (responder, port), once per conn table: per-row group
    code (-1 for non-TCP rows), attempts, first/last time and a representative row."""
    if _SERVERS and _SERVERS[0][0] is conn:
        return _SERVERS[0][1]
    tcp = text_in(conn, "proto", ("tcp",))
    _, hcodes, _ = conn_addr_codes(conn)  # one-to-one with the text: the same groups
    port = conn["id.resp_p"].fillna(0).to_numpy(np.int64)
    key = hcodes.astype(np.int64) * 65536 + port
    codes = np.full(len(conn), -1, np.int64)
    sub, _ = pd.factorize(key[tcp])
    codes[tcp] = sub
    k = int(sub.max()) + 1 if len(sub) else 0
    ts = conn["ts"].to_numpy(np.float64)
    t = ts[tcp]
    first = np.full(k, np.inf)
    last = np.full(k, -np.inf)
    np.minimum.at(first, sub, t)
    np.maximum.at(last, sub, t)
    _, rep = np.unique(sub, return_index=True)
    out = {
        "codes": codes,
        "attempts": np.bincount(sub, minlength=k),
        "first": first,
        "last": last,
        "row": np.flatnonzero(tcp)[rep],
    }
    _SERVERS[:] = [(conn, out)]
    return out


def _per_server(
    ctx: DetectContext,
    name: str,
    sel: np.ndarray,
    min_n: int,
    min_ratio: float,
    ladder: dict[str, float],
    extra_mask: np.ndarray | None = None,
) -> list[Finding]:
    conn = ctx.conn
    g = _servers(conn)
    codes = g["codes"]
    k = len(g["attempts"])
    pick = sel & (codes >= 0)
    bad = np.bincount(codes[pick], minlength=k)
    ratio = bad / np.maximum(g["attempts"], 1)
    hot = np.flatnonzero((bad >= min_n) & (ratio >= min_ratio))
    if not len(hot):
        return []
    rows = g["row"][hot]
    hosts = conn["id.resp_h"].to_numpy(dtype=object)[rows]
    ports = conn["id.resp_p"].fillna(0).to_numpy(np.int64)[rows]
    if extra_mask is not None:
        keep = internal_mask(ctx, pd.Series(hosts, dtype=object))
        hot, hosts, ports = hot[keep], hosts[keep], ports[keep]
    out = []
    groups = rows_by_code(np.where(pick, codes, -1), hot)
    for code, host, port in sorted(
        zip(hot.tolist(), hosts.tolist(), ports.tolist(), strict=True),
        key=lambda x: (str(x[1]), x[2]),
    ):
        mine = conn.iloc[groups[code]]
        out.append(
            finding(
                ctx,
                name,
                Category.FAULT,
                severity_of(float(bad[code]), ladder, "low"),
                str(host),
                float(g["first"][code]),
                float(mine["ts"].max()),
                int(bad[code]),
                {
                    "port": int(port),
                    "proto": "tcp",
                    name: int(bad[code]),
                    "attempts": int(g["attempts"][code]),
                    "ratio": round(float(ratio[code]), 3),
                    "clients": sample(mine["id.orig_h"], 10),
                    "distinct_clients": int(mine["id.orig_h"].nunique()),
                    "states": mine["conn_state"].value_counts().to_dict(),
                    "sample_uids": sample(mine["uid"], 5),
                },
                id_keys={"port": int(port)},
                port=int(port),
            )
        )
    return out


@register("rejected", Category.FAULT, needs=("conn",))
def rejected(ctx: DetectContext) -> list[Finding]:
    """A service refusing most connection attempts (REJ, or reset before any data)."""
    cfg = Rejected.model_validate(ctx.settings("rejected"))
    conn = ctx.conn
    if conn.empty:
        return []
    no_data = ((conn["orig_bytes"].fillna(0) == 0) & (conn["resp_bytes"].fillna(0) == 0)).to_numpy(
        bool
    )
    sel = text_in(conn, "proto", ("tcp",)) & (
        text_in(conn, "conn_state", ("REJ",))
        | (text_in(conn, "conn_state", ("RSTR", "RSTRH")) & no_data)
    )
    return _per_server(ctx, "rejected", sel, cfg.min_rejected, cfg.min_ratio, cfg.severity)


@register("unanswered", Category.FAULT, needs=("conn",))
def unanswered(ctx: DetectContext) -> list[Finding]:
    """SYNs to an internal service that never get any answer (S0): the service is down."""
    cfg = Unanswered.model_validate(ctx.settings("unanswered"))
    conn = ctx.conn
    if conn.empty:
        return []
    sel = text_in(conn, "proto", ("tcp",)) & text_in(conn, "conn_state", ("S0",))
    return _per_server(
        ctx,
        "unanswered",
        sel,
        cfg.min_attempts,
        cfg.min_ratio,
        cfg.severity,
        extra_mask=np.ones(1, bool) if cfg.internal_only else None,
    )


def _reasons(e: pd.DataFrame, unreach: npt.NDArray[np.bool_]) -> npt.NDArray[np.object_]:
    """Per ICMP error row: why (named IPv4 unreachable code, v6_code_N, or ttl_exceeded),
    worded once per distinct (v6, unreachable, code)."""
    v6 = e["v6"].to_numpy(bool)
    code = e["code"].to_numpy(np.int64)
    keys, inv = np.unique(v6 * 512 + unreach * 256 + code, return_inverse=True)
    words = [
        "ttl_exceeded"
        if not k & 256
        else f"v6_code_{k & 255}"
        if k & 512
        else _UNREACH_CODES.get(k & 255, f"code_{k & 255}")
        for k in keys.tolist()
    ]
    return np.array(words, dtype=object)[inv.reshape(-1)]


@register("icmp_unreachable", Category.FAULT, needs=("icmp",))
def icmp_unreachable(ctx: DetectContext) -> list[Finding]:
    """Repeated ICMP destination-unreachable or time-exceeded for one destination.

    Time exceeded counts per reporting router (a routing loop), so the few
    reports per hop that a traceroute draws are not a fault.
    """
    cfg = IcmpUnreachable.model_validate(ctx.settings("icmp_unreachable"))
    icmp = ctx.tables.get("icmp")
    if icmp is None or icmp.empty:
        return []
    v4 = ~icmp["v6"].astype(bool)
    unreach = (v4 & (icmp["type"] == 3)) | (~v4 & (icmp["type"] == 1))
    exceeded = (v4 & (icmp["type"] == 11)) | (~v4 & (icmp["type"] == 3))
    e = icmp[(unreach | exceeded) & icmp["quoted_dst"].notna()]
    if e.empty:
        return []
    un = unreach[e.index].to_numpy(bool)
    e = e.assign(kind=np.where(un, "unreachable", "time_exceeded"), reason=_reasons(e, un))
    # port unreachable is about one service: keyed by (destination, port); the rest by destination
    port_unreach = np.where(e["v6"], e["code"] == 4, e["code"] == 3) & (e["kind"] == "unreachable")
    e = e.assign(svc_port=np.where(port_unreach, e["q_dport"].astype(np.int64), -1))
    # per (quoted destination, kind, port) on integer codes; reported in that key's order
    te_row = (e["kind"] == "time_exceeded").to_numpy()
    svc = e["svc_port"].to_numpy(np.int64)
    grp = Groups(pd.DataFrame({"d": e["quoted_dst"], "k": te_row, "p": svc}))
    ts = e["ts"].to_numpy(np.float64)
    g = pd.DataFrame(
        {"n": grp.size(), "first": grp.min(ts), "last": grp.max(ts), "top_reporter": 0}
    )
    # time exceeded: a loop makes the same router(s) report packet after packet; a
    # traceroute draws a few reports from each hop, so count the busiest reporter
    if te_row.any():
        per_rep = group_codes(pd.DataFrame({"g": grp.codes, "s": e["src"]}))
        top = np.zeros(grp.n, np.int64)
        np.maximum.at(top, grp.codes[first_of_codes(per_rep)], np.bincount(per_rep))
        g["top_reporter"] = np.where(te_row[grp.first], top, 0)
    is_te = te_row[grp.first]
    hot = g[(g["n"] >= cfg.min_messages) & (~is_te | (g["top_reporter"] >= cfg.min_messages))]
    at = grp.first[hot.index.to_numpy()]
    hot.index = pd.MultiIndex.from_arrays(
        [e["quoted_dst"].iloc[at].to_numpy(dtype=object), e["kind"].to_numpy()[at], svc[at]]
    )
    hot = hot.sort_index()  # (destination, kind, port) order, as a groupby on them gives
    out = []
    for key, r in hot.iterrows():
        dst, kind, svc_port = keyparts(key)
        mine = e[(e["quoted_dst"] == dst) & (e["kind"] == kind) & (e["svc_port"] == svc_port)]
        loop = kind == "time_exceeded"
        out.append(
            finding(
                ctx,
                "icmp_unreachable",
                Category.FAULT,
                severity_of(float(r["n"]), cfg.severity, "low"),
                str(dst),
                float(r["first"]),
                float(r["last"]),
                int(r["n"]),
                {
                    "kind": kind,
                    "reasons": mine["reason"].value_counts().to_dict(),
                    "reported_by": sample(mine["src"], 10),
                    "affected_clients": sample(mine["dst"], 10),
                    "quoted_protocols": sorted(int(p) for p in sample(mine["q_proto"], 5)),
                    "quoted_ports": sorted(int(p) for p in sample(mine["q_dport"], 10)),
                    "routing_loop_suspected": bool(loop and mine["src"].nunique() > 1),
                },
                mode=kind,
                id_keys={"kind": kind, "port": int(svc_port)},
                kind=kind,
            )
        )
    return out


# reversed IPv4 octets in front of a list zone (DNSBL, RFC 5782 2.1) or a reverse lookup
_NO_RECORD_RX = r"^(?:\d{1,3}\.){4}[a-z0-9]|\.arpa\.?$"


def _nxdomain_failures(dns: pd.DataFrame) -> pd.Series:
    """NXDOMAIN answers that are failures: not those where NXDOMAIN means "no such record",
    reverse (PTR) lookups and DNSBL checks (a mail server's "not listed").  The names of
    NXDOMAIN rows are tested once per distinct name."""
    nx = (dns["rcode"] == 3).to_numpy(bool)
    rows = np.flatnonzero(nx & (dns["qtype"].to_numpy() != 12))
    names = dns["query"].to_numpy(dtype=object)[rows]
    codes, uniq = pd.factorize(pd.Series(names, dtype=object))
    if len(uniq):
        flags = pd.Series(uniq, dtype=object).astype(str).str.contains(_NO_RECORD_RX, regex=True)
        keep = ~flags.to_numpy(bool)[codes]
    else:
        keep = np.zeros(0, dtype=bool)
    out = np.zeros(len(dns), dtype=bool)
    out[rows[keep]] = True
    return pd.Series(out, index=dns.index)


@register("dns_failure", Category.FAULT, needs=("dns",))
def dns_failure(ctx: DetectContext) -> list[Finding]:
    """Resolvers answering SERVFAIL/REFUSED or not at all; clients in NXDOMAIN storms.

    NXDOMAIN for reverse lookups and DNSBL checks is an answer ("no PTR record",
    "not listed"), so those lookups do not make a storm.
    """
    cfg = DnsFailure.model_validate(ctx.settings("dns_failure"))
    dns = ctx.tables.get("dns")
    if dns is None or dns.empty:
        return []
    cols = ["ts", "id.orig_h", "id.resp_h", "rcode", "rcode_name", "answered", "qtype", "query"]
    asked = dns.loc[dns["n_queries"] > 0, cols]  # the columns read below, then the rows
    out: list[Finding] = []
    checks = (
        ("servfail", "id.resp_h", asked["rcode"].isin([2, 5]), cfg.min_failures, cfg.min_ratio),
        (
            "unanswered",
            "id.resp_h",
            ~asked["answered"].astype(bool),
            cfg.min_failures,
            cfg.min_ratio,
        ),
        (
            "nxdomain",
            "id.orig_h",
            _nxdomain_failures(asked),
            cfg.nxdomain_min,
            cfg.nxdomain_ratio,
        ),
    )
    hosts: dict[str, Groups] = {}  # per host column, its groups (two checks share one)
    for mode, who, bad, min_n, min_ratio in checks:
        grp = hosts[who] = hosts.get(who) or Groups(asked[who])
        failed, n = grp.sum(bad.to_numpy(np.int64)), grp.size()
        ratio = failed / np.maximum(n, 1)
        keys = asked[who].iloc[grp.first].to_numpy(dtype=object)
        sel = (failed >= min_n) & (ratio >= min_ratio) & pd.notna(keys)
        hot = pd.DataFrame(
            {"n": n[sel], "bad": failed[sel], "ratio": ratio[sel]},
            index=pd.Index(keys[sel], name=who),
        )
        hot = hot.sort_index()  # host order, as a groupby on the text column gives
        for host, r in hot.iterrows():
            mine = asked[bad & (asked[who] == host)]
            other = "id.orig_h" if who == "id.resp_h" else "id.resp_h"
            out.append(
                finding(
                    ctx,
                    "dns_failure",
                    Category.FAULT,
                    severity_of(float(r["bad"]), cfg.severity, "low"),
                    str(host),
                    float(mine["ts"].min()),
                    float(mine["ts"].max()),
                    int(r["bad"]),
                    {
                        "mode": mode,
                        "failed": int(r["bad"]),
                        "queries": int(r["n"]),
                        "ratio": round(float(r["ratio"]), 3),
                        "rcodes": mine["rcode_name"].fillna("none").value_counts().to_dict(),
                        ("clients" if who == "id.resp_h" else "resolvers"): sample(mine[other], 10),
                        "sample_queries": sample(mine["query"], 5),
                    },
                    mode=mode,
                    id_keys={"mode": mode},
                    kind=mode,
                )
            )
    return out
