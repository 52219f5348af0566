"""Reconnaissance: port scans (vertical, horizontal, knock), ICMP ping sweeps, ARP scans.

Port scans are counted the way Zeek's policy/misc/scan.zeek counts them: only
*failed* attempts matter (no data exchanged: S0, REJ, RSTO/RSTR/RSTOS0/RSTRH,
SH/SHR, OTH; UDP without any response; stealth probes without SYN/ACK/RST),
and a scanner is flagged when the distinct (victim, port) pairs it failed on
reach a threshold inside a sliding window: distinct ports on one victim
(vertical), distinct victims on one port (horizontal), a few distinct
pairs that are all on sensitive ports (knock), or a block of several ports
that each failed on a range of victims (block: under both limits per host
and per port, yet a sweep of services across a subnet).  Internal and external
scanners have separate limits.  One scanner = one finding, with all targets.
UDP probes that an ICMP time-exceeded message quotes never reached their host
(traceroute), and a victim failing attempts from `flood_sources` sources at
once is flooded or down: neither makes anyone a scanner.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from secaudit.detect._common import (
    Groups,
    conn_addr_codes,
    echo_pairs,
    finding,
    first_of_codes,
    group_codes,
    internal_mask,
    sample,
    severity_of,
    text_has,
    text_in,
    text_lookup,
    window_hits,
)
from secaudit.detect.config import ArpScan, PingSweep, PortScan
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding

__all__ = ["arp_scan", "failed_attempts", "ping_sweep", "port_scan"]

_FAILED_STATES = {"S0", "REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}
# probe_bits (1 << flags&0x3f) of FIN-only, NULL and Xmas (FIN|PSH|URG) probes
_FIN_BIT, _NULL_BIT, _XMAS_BIT = 1 << 1, 1 << 0, 1 << 41
_NO_CODES = np.zeros(0, np.intp)
_NO_TEXT = np.zeros(0, dtype=object)


def _is_broadcast(values: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """Per address text: broadcast, multicast or unspecified (not a host a scan can probe)."""
    text = pa.array(values.tolist(), type=pa.string())
    hit = pc.or_(
        pc.or_(pc.ends_with(text, ".255"), pc.equal(text, "0.0.0.0")),
        pc.or_(
            pc.starts_with(text, "224."),
            pc.or_(pc.starts_with(text, "239."), pc.starts_with(text, "ff")),
        ),
    )
    return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _expired_in_transit(
    ctx: DetectContext,
    codes: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
    values: npt.NDArray[np.object_],
    rows: npt.NDArray[np.bool_],
) -> npt.NDArray[np.bool_]:
    """Per conn row (among `rows`): a UDP probe that an ICMP time-exceeded message quotes.

    It never reached its destination (traceroute sends one such probe per TTL to
    ever higher ports), so it probed no port of that host.  `codes`: the conn's
    (orig, resp) address codes into `values` (conn_addr_codes).
    """
    out = np.zeros(len(rows), dtype=bool)
    icmp = ctx.tables.get("icmp")
    if icmp is None or icmp.empty or not rows.any():
        return out
    v4 = ~icmp["v6"].astype(bool)
    te = icmp[((v4 & (icmp["type"] == 11)) | (~v4 & (icmp["type"] == 3))) & (icmp["q_proto"] == 17)]
    if te.empty:
        return out
    # (prober, probed host, port) as one integer; an address the conn table lacks matches no row
    o, r = text_lookup(te["dst"], values), text_lookup(te["quoted_dst"], values)
    known = (o >= 0) & (r >= 0)
    n = len(values) + 1
    quoted = (o[known] * n + r[known]) * 65536 + te["q_dport"].to_numpy(np.int64)[known]
    idx = np.flatnonzero(rows)
    port = ctx.conn["id.resp_p"].to_numpy(np.int64, na_value=-1)[idx]
    probe = (codes[0][idx].astype(np.int64) * n + codes[1][idx]) * 65536 + port
    out[idx[np.isin(probe, quoted) & (port >= 0)]] = True
    return out


def failed_attempts(ctx: DetectContext) -> tuple[pd.DataFrame, npt.NDArray[np.object_]]:
    """Failed connection attempts and the address texts their codes index.

    Columns: scanner, victim (address codes), port, tcp (bool; else UDP), ts, row
    (conn row, -1 for a stealth probe seen only in the TCP analysis), kind.  Integer
    codes make every later group-by cheap; text is looked up for reported scanners only.
    """
    cols = ["scanner", "victim", "port", "tcp", "ts", "row", "kind"]
    parts = []
    conn = ctx.conn
    oc, rc, values = conn_addr_codes(conn) if len(conn) else (_NO_CODES, _NO_CODES, _NO_TEXT)
    if len(conn):
        is_tcp = text_in(conn, "proto", ("tcp",))
        is_udp = text_in(conn, "proto", ("udp",))
        no_data = (
            (conn["orig_bytes"].fillna(0) == 0) & (conn["resp_bytes"].fillna(0) == 0)
        ).to_numpy(bool)
        tcp_fail = is_tcp & no_data & text_in(conn, "conn_state", _FAILED_STATES)
        udp_fail = is_udp & (conn["resp_pkts"].fillna(0) == 0).to_numpy(bool)
        udp_fail &= ~_expired_in_transit(ctx, (oc, rc), values, udp_fail)
        idx = np.flatnonzero(tcp_fail | udp_fail)
        kind = np.where(
            is_udp[idx], "udp", np.where(text_has(conn, "history", "A")[idx], "connect", "syn")
        )
        kind = np.where(is_tcp[idx] & ~text_has(conn, "history", "S")[idx], "stealth", kind)
        parts.append(
            pd.DataFrame(
                {
                    "scanner": oc[idx],
                    "victim": rc[idx],
                    "port": conn["id.resp_p"].to_numpy(np.int64)[idx],
                    "tcp": is_tcp[idx],
                    "ts": conn["ts"].to_numpy(np.float64)[idx],
                    "row": idx,
                    "kind": kind,
                }
            )
        )
    dirs = ctx.tables.get("tcp_dirs")
    if dirs is not None and len(dirs):
        p = dirs[dirs["probes"] > 0]
        bits = p["probe_bits"].to_numpy(np.int64)
        kind = np.where(
            bits & _XMAS_BIT,
            "xmas",
            np.where(bits & _FIN_BIT, "fin", np.where(bits & _NULL_BIT, "null", "stealth")),
        )
        (src, dst), values = _codes_in(values, p["src"], p["dst"])
        parts.append(
            pd.DataFrame(
                {
                    "scanner": src,
                    "victim": dst,
                    "port": p["dport"].to_numpy(np.int64),
                    "tcp": True,
                    "ts": p["first_ns"].to_numpy(np.float64) / 1e9,
                    "row": -1,
                    "kind": kind,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=cols), values
    a = pd.concat(parts, ignore_index=True)
    victim = a["victim"].to_numpy()
    seen = np.unique(victim)
    bad = np.zeros(len(values), dtype=bool)
    bad[seen] = _is_broadcast(values[seen])
    return a[~bad[victim]], values


def _codes_in(
    values: npt.NDArray[np.object_], *cols: pd.Series
) -> tuple[list[npt.NDArray[np.intp]], npt.NDArray[np.object_]]:
    """Codes of text columns in the code space of `values`, which grows by the texts it
    lacked (in order of first appearance)."""
    out = [np.asarray(text_lookup(c, values), np.intp) if len(values) else
           np.full(len(c), -1, np.intp) for c in cols]  # fmt: skip
    missing = [c[pos < 0].astype(object).to_numpy() for c, pos in zip(cols, out, strict=True)]
    new = pd.unique(np.concatenate(missing)) if missing else np.zeros(0, object)
    if len(new):
        where = pd.Index(new).get_indexer
        for pos, miss in zip(out, missing, strict=True):
            pos[pos < 0] = len(values) + where(miss)
        values = np.concatenate([values, np.asarray(new, dtype=object)])
    return out, values


def _flooded_victims(d: pd.DataFrame, min_sources: int, window: float) -> list[object]:
    """Victims with failed attempts from `min_sources` distinct sources within `window`
    (each source counted at its first attempt); integer codes, no string groupby."""
    vc, victims = pd.factorize(d["victim"], use_na_sentinel=False)
    per = np.bincount(vc, minlength=len(victims))
    if not len(per) or per.max() < min_sources:
        return []
    pair = group_codes(pd.DataFrame({"victim": vc, "scanner": d["scanner"].to_numpy()}))
    first = np.full(int(pair.max()) + 1, np.inf)
    np.minimum.at(first, pair, d["ts"].to_numpy(np.float64))
    pair_victim = np.zeros(len(first), np.int64)
    pair_victim[pair] = vc
    hit = window_hits(pd.Series(pair_victim), first, min_sources, window)
    return [victims[v] for v in np.unique(pair_victim[hit]).tolist()]


@register("port_scan", Category.ATTACK, needs=("conn", "tcp_dirs", "icmp"))
def port_scan(ctx: DetectContext) -> list[Finding]:
    """Vertical/horizontal/knock port scans from failed attempts (Zeek scan.zeek counting)."""
    cfg = PortScan.model_validate(ctx.settings("port_scan"))
    a, values = failed_attempts(ctx)
    if a.empty:
        return []
    # one row per distinct (scanner, victim, proto, port): its first attempt
    by_time = a.iloc[np.argsort(a["ts"].to_numpy(), kind="stable")]
    key = ["scanner", "victim", "tcp", "port"]
    d = by_time.iloc[first_of_codes(group_codes(by_time[key]))][[*key, "ts"]]
    d = d.reset_index(drop=True)
    # a victim failing attempts from very many sources at once is flooded (spoofed
    # sources, random ports) or down: none of those sources is scanning it
    flooded = _flooded_victims(d, cfg.flood_sources, cfg.window_s)
    if len(flooded):
        victims = flooded
        d = d[~d["victim"].isin(victims)]
        a = a[~a["victim"].isin(victims)]
        if d.empty:
            return []
    scanners = np.unique(d["scanner"].to_numpy())
    inside = np.zeros(len(values), dtype=bool)
    inside[scanners] = internal_mask(ctx, pd.Series(values[scanners], dtype=object))
    internal = inside[d["scanner"].to_numpy()]
    d["ports_thr"] = np.where(internal, cfg.internal.ports, cfg.external.ports)
    d["hosts_thr"] = np.where(internal, cfg.internal.hosts, cfg.external.hosts)
    flagged: dict[int, set[str]] = {}

    def mark(key: list[str], thr_col: str, mode: str) -> None:
        # each scanner's own threshold (its key holds the scanner, so a group has one)
        need = d[thr_col].to_numpy(np.float64)
        hit = window_hits(d[key], d["ts"], need, cfg.window_s)
        for scanner in np.unique(d["scanner"].to_numpy()[hit]).tolist():
            flagged.setdefault(int(scanner), set()).add(mode)

    mark(["scanner", "victim"], "ports_thr", "vertical")
    mark(["scanner", "tcp", "port"], "hosts_thr", "horizontal")
    # block: several ports that each failed on `block.hosts` victims within the window (only
    # scanners with that many distinct pairs at all can have such a block)
    sc = pd.factorize(d["scanner"], use_na_sentinel=False)[0]
    b = d[np.bincount(sc)[sc] >= cfg.block.hosts * cfg.block.ports]
    per_port = window_hits(b[["scanner", "tcp", "port"]], b["ts"], cfg.block.hosts, cfg.window_s)
    if per_port.any():
        ports = b.loc[per_port].drop_duplicates(["scanner", "tcp", "port"])["scanner"]
        counts = ports.value_counts()
        for s in counts.index[counts.to_numpy() >= cfg.block.ports]:
            flagged.setdefault(int(s), set()).add("block")
    knock = d[d["tcp"] & d["port"].isin(cfg.knock.ports)]
    if len(knock):
        hit = window_hits(knock["scanner"], knock["ts"], cfg.knock.min_targets, cfg.window_s)
        for s in knock.loc[hit, "scanner"].unique():
            flagged.setdefault(int(s), set()).add("knock")
    out = []
    uid_col = ctx.conn["uid"] if "uid" in ctx.conn else pd.Series(dtype=object)
    for code, modes in sorted(flagged.items(), key=lambda kv: str(values[kv[0]])):
        scanner = str(values[code])
        mine = a[a["scanner"] == code]
        di = d[d["scanner"] == code]
        kinds = mine["kind"].value_counts()
        n_pairs = len(di)
        rows = mine["row"].to_numpy()
        uids = np.full(len(rows), None, dtype=object)
        uids[rows >= 0] = uid_col.iloc[rows[rows >= 0]].astype(object).to_numpy()
        out.append(
            finding(
                ctx,
                "port_scan",
                Category.ATTACK,
                severity_of(n_pairs, cfg.severity, "medium"),
                scanner,
                float(mine["ts"].min()),
                float(mine["ts"].max()),
                n_pairs,
                {
                    "modes": sorted(modes),
                    "scan_types": kinds.index.tolist(),
                    "distinct_targets": int(di["victim"].nunique()),
                    "distinct_ports": int(di["port"].nunique()),
                    "failed_attempts": len(mine),
                    "targets": [values[v] for v in sample(di["victim"].to_numpy(), 20)],
                    "ports": sorted(int(p) for p in sample(di["port"], 30)),
                    "sample_uids": sample(uids, 5),
                    "internal_scanner": bool(internal_mask(ctx, pd.Series([scanner]))[0]),
                },
                mode="+".join(sorted(modes)),
                id_keys={"modes": sorted(modes)},
                targets=int(di["victim"].nunique()),
                ports=int(di["port"].nunique()),
            )
        )
    return out


@register("ping_sweep", Category.ATTACK, needs=("icmp",))
def ping_sweep(ctx: DetectContext) -> list[Finding]:
    """One source sending ICMP echo requests to many distinct addresses within a window.

    Targets that answered `monitor_min_replies` or more requests are left out: a
    monitoring station pings the same live hosts every few seconds, a sweep probes
    addresses once or twice (and most of them do not answer).
    """
    cfg = PingSweep.model_validate(ctx.settings("ping_sweep"))
    icmp = ctx.tables.get("icmp")
    if icmp is None or icmp.empty:
        return []
    req, rep, src, dst, vocab, pair = echo_pairs(icmp)
    if not len(req):
        return []
    grp = Groups(pd.Series(pair[: len(req)]))  # one per (src, dst) pinged, first-ping order
    if np.bincount(src[req][grp.first]).max() < cfg.min_targets:
        return []  # no source pinged that many addresses at all
    # a target that answered again and again is being monitored, not discovered
    n_ans = np.bincount(pair[len(req) :], minlength=int(pair.max()) + 1)
    keep = n_ans[pair[: len(req)][grp.first]] < cfg.monitor_min_replies
    at = req[grp.first[keep]]
    firsts = pd.DataFrame(
        {
            "src": vocab[src[at]],
            "dst": vocab[dst[at]],
            "ts": grp.min(icmp["ts"].to_numpy()[req])[keep],
        }
    )
    req_rows, rep_rows = icmp.iloc[req], icmp.iloc[rep]
    hit = window_hits(firsts["src"], firsts["ts"], cfg.min_targets, cfg.window_s)
    out = []
    for who in firsts.loc[hit, "src"].unique():
        mine = req_rows[req_rows["src"] == who]
        targets = firsts.loc[firsts["src"] == who, "dst"]
        answering = rep_rows[(rep_rows["dst"] == who) & rep_rows["src"].isin(targets)]
        alive = answering["src"].nunique()
        n = int(targets.nunique())
        out.append(
            finding(
                ctx,
                "ping_sweep",
                Category.ATTACK,
                severity_of(n, cfg.severity, "low"),
                str(who),
                float(mine["ts"].min()),
                float(mine["ts"].max()),
                n,
                {
                    "distinct_targets": n,
                    "echo_requests": len(mine),
                    "targets_replying": int(alive),
                    "targets": sample(targets, 20),
                },
                targets=n,
            )
        )
    return out


@register("arp_scan", Category.ATTACK, needs=("arp",))
def arp_scan(ctx: DetectContext) -> list[Finding]:
    """One sender asking who-has for many distinct addresses within a window."""
    cfg = ArpScan.model_validate(ctx.settings("arp_scan"))
    arp = ctx.tables.get("arp")
    if arp is None or arp.empty:
        return []
    req = arp[(arp["op"] == 1) & (arp["tpa"] != arp["spa"])]  # not gratuitous announcements
    if req.empty:
        return []
    sender = req["spa"].where(req["spa"] != "0.0.0.0", "mac:" + req["sha"].astype(str))
    req = req.assign(sender=sender)
    firsts = req.groupby(["sender", "tpa"], sort=False)["ts"].min().reset_index()
    hit = window_hits(firsts["sender"], firsts["ts"], cfg.min_targets, cfg.window_s)
    out = []
    for s in firsts.loc[hit, "sender"].unique():
        mine = req[req["sender"] == s]
        targets = firsts.loc[firsts["sender"] == s, "tpa"]
        macs = [f"{int(m):012x}" for m in sample(mine["sha"], 3)]
        macs = [":".join(m[i : i + 2] for i in range(0, 12, 2)) for m in macs]
        n = int(targets.nunique())
        out.append(
            finding(
                ctx,
                "arp_scan",
                Category.ATTACK,
                severity_of(n, cfg.severity, "medium"),
                str(s),
                float(mine["ts"].min()),
                float(mine["ts"].max()),
                n,
                {
                    "distinct_targets": n,
                    "requests": len(mine),
                    "sender_macs": macs,
                    "targets": sample(targets, 20),
                },
                targets=n,
            )
        )
    return out
