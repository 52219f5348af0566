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

from secaudit.detect._common import (
    finding,
    internal_mask,
    sample,
    severity_of,
    text_has,
    text_in,
    window_hits,
)
from secaudit.detect.config import ArpScan, PingSweep, PortScan
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding

__all__ = ["arp_scan", "failed_attempts", "ping_sweep", "port_scan"]

_FAILED_STATES = {"S0", "REJ", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH"}
# probe_bits (1 << flags&0x3f) of FIN-only, NULL and Xmas (FIN|PSH|URG) probes
_FIN_BIT, _NULL_BIT, _XMAS_BIT = 1 << 1, 1 << 0, 1 << 41


def _is_broadcast(addrs: pd.Series) -> np.ndarray:
    """Broadcast/multicast/unspecified victims, decided once per distinct address."""
    codes, uniq = pd.factorize(addrs, use_na_sentinel=False)
    flags = np.array(
        [
            isinstance(u, str)
            and (u.endswith(".255") or u.startswith(("224.", "239.", "ff")) or u == "0.0.0.0")
            for u in np.asarray(uniq, dtype=object).tolist()
        ],
        dtype=bool,
    )
    return flags[codes] if len(uniq) else np.zeros(len(addrs), dtype=bool)


def _expired_in_transit(
    ctx: DetectContext, conn: pd.DataFrame, rows: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Per conn row (among `rows`): a UDP probe that an ICMP time-exceeded message quotes.

    It never reached its destination (traceroute sends one such probe per TTL to
    ever higher ports), so it probed no port of that host.
    """
    out = np.zeros(len(conn), dtype=bool)
    icmp = ctx.tables.get("icmp")
    if icmp is None or icmp.empty or not rows.any():
        return out
    v4 = ~icmp["v6"].astype(bool)
    te = icmp[((v4 & (icmp["type"] == 11)) | (~v4 & (icmp["type"] == 3))) & (icmp["q_proto"] == 17)]
    if te.empty:
        return out
    quoted = pd.DataFrame(
        {
            "o": te["dst"].astype(str).to_numpy(),
            "r": te["quoted_dst"].astype(str).to_numpy(),
            "p": te["q_dport"].to_numpy(np.int64),
        }
    ).drop_duplicates()
    idx = np.flatnonzero(rows)
    c = conn.iloc[idx]
    probe = pd.DataFrame(
        {
            "o": c["id.orig_h"].astype(str).to_numpy(),
            "r": c["id.resp_h"].astype(str).to_numpy(),
            "p": c["id.resp_p"].fillna(-1).to_numpy(np.int64),
        }
    )
    hit = probe.merge(quoted, how="left", indicator=True)["_merge"].to_numpy() == "both"
    out[idx[hit]] = True
    return out


def failed_attempts(ctx: DetectContext) -> pd.DataFrame:
    """Failed connection attempts: scanner, victim, port, proto, ts, uid, kind."""
    parts = []
    conn = ctx.conn
    if len(conn):
        is_tcp = text_in(conn, "proto", ("tcp",))
        is_udp = text_in(conn, "proto", ("udp",))
        no_data = (
            (conn["orig_bytes"].fillna(0) == 0) & (conn["resp_bytes"].fillna(0) == 0)
        ).to_numpy(bool)
        tcp_fail = is_tcp & no_data & text_in(conn, "conn_state", _FAILED_STATES)
        udp_fail = is_udp & (conn["resp_pkts"].fillna(0) == 0).to_numpy(bool)
        udp_fail &= ~_expired_in_transit(ctx, conn, udp_fail)
        sel = tcp_fail | udp_fail
        # the columns used, then the rows: filtering every (Arrow) column of conn costs more
        c = conn[["id.orig_h", "id.resp_h", "id.resp_p", "proto", "ts", "uid"]][sel]
        kind = np.where(
            is_udp[sel], "udp", np.where(text_has(conn, "history", "A")[sel], "connect", "syn")
        )
        kind = np.where(is_tcp[sel] & ~text_has(conn, "history", "S")[sel], "stealth", kind)
        parts.append(
            pd.DataFrame(
                {
                    "scanner": c["id.orig_h"].astype(object).to_numpy(),
                    "victim": c["id.resp_h"].astype(object).to_numpy(),
                    "port": c["id.resp_p"].to_numpy(np.int64),
                    "proto": c["proto"].astype(object).to_numpy(),
                    "ts": c["ts"].to_numpy(np.float64),
                    "uid": c["uid"].astype(object).to_numpy(),
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
        parts.append(
            pd.DataFrame(
                {
                    "scanner": p["src"].to_numpy(),
                    "victim": p["dst"].to_numpy(),
                    "port": p["dport"].to_numpy(np.int64),
                    "proto": "tcp",
                    "ts": p["first_ns"].to_numpy(np.float64) / 1e9,
                    "uid": None,
                    "kind": kind,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["scanner", "victim", "port", "proto", "ts", "uid", "kind"])
    a = pd.concat(parts, ignore_index=True)
    a = a[~_is_broadcast(a["victim"])]
    return a


def _flooded_victims(d: pd.DataFrame, min_sources: int, window: float) -> list[object]:
    """Victims with failed attempts from `min_sources` distinct sources within `window`
    (each source counted at its first attempt); integer codes, no string groupby."""
    vc, victims = pd.factorize(d["victim"], use_na_sentinel=False)
    per = np.bincount(vc, minlength=len(victims))
    if not len(per) or per.max() < min_sources:
        return []
    sc, scanners = pd.factorize(d["scanner"], use_na_sentinel=False)
    pair, _ = pd.factorize(vc.astype(np.int64) * (len(scanners) + 1) + sc)
    first = np.full(int(pair.max()) + 1, np.inf)
    np.minimum.at(first, pair, d["ts"].to_numpy(np.float64))
    pair_victim = np.zeros(len(first), np.int64)
    pair_victim[pair] = vc
    hit = window_hits(pd.Series(pair_victim), first, min_sources, window)
    return [victims[v] for v in np.unique(pair_victim[hit]).tolist()]


@register("port_scan", Category.ATTACK, needs=("conn",))
def port_scan(ctx: DetectContext) -> list[Finding]:
    """Vertical/horizontal/knock port scans from failed attempts (Zeek scan.zeek counting)."""
    cfg = PortScan.model_validate(ctx.settings("port_scan"))
    a = failed_attempts(ctx)
    if a.empty:
        return []
    # one row per distinct (scanner, victim, proto, port): its first attempt
    d = (
        a.sort_values("ts", kind="stable")
        .groupby(["scanner", "victim", "proto", "port"], sort=False)
        .agg(ts=("ts", "first"), tries=("ts", "size"))
        .reset_index()
    )
    # a victim failing attempts from very many sources at once is flooded (spoofed
    # sources, random ports) or down: none of those sources is scanning it
    flooded = _flooded_victims(d, cfg.flood_sources, cfg.window_s)
    if len(flooded):
        victims = flooded
        d = d[~d["victim"].isin(victims)]
        a = a[~a["victim"].isin(victims)]
        if d.empty:
            return []
    internal = internal_mask(ctx, d["scanner"])
    d["ports_thr"] = np.where(internal, cfg.internal.ports, cfg.external.ports)
    d["hosts_thr"] = np.where(internal, cfg.internal.hosts, cfg.external.hosts)
    flagged: dict[str, set[str]] = {}

    def mark(key: list[str], thr_col: str, mode: str) -> None:
        for thr, idx in d.groupby(thr_col, sort=False).groups.items():
            part = d.loc[idx]
            hit = window_hits(part[key], part["ts"], float(str(thr)), cfg.window_s)
            for scanner in part.loc[hit, "scanner"].unique():
                flagged.setdefault(str(scanner), set()).add(mode)

    mark(["scanner", "victim"], "ports_thr", "vertical")
    mark(["scanner", "proto", "port"], "hosts_thr", "horizontal")
    # block: several ports that each failed on `block.hosts` victims within the window (only
    # scanners with that many distinct pairs at all can have such a block)
    sc = pd.factorize(d["scanner"], use_na_sentinel=False)[0]
    b = d[np.bincount(sc)[sc] >= cfg.block.hosts * cfg.block.ports]
    per_port = window_hits(b[["scanner", "proto", "port"]], b["ts"], cfg.block.hosts, cfg.window_s)
    if per_port.any():
        ports = b.loc[per_port].drop_duplicates(["scanner", "proto", "port"])["scanner"]
        counts = ports.value_counts()
        for s in counts.index[counts.to_numpy() >= cfg.block.ports]:
            flagged.setdefault(str(s), set()).add("block")
    knock = d[(d["proto"] == "tcp") & d["port"].isin(cfg.knock.ports)]
    if len(knock):
        hit = window_hits(knock["scanner"], knock["ts"], cfg.knock.min_targets, cfg.window_s)
        for s in knock.loc[hit, "scanner"].unique():
            flagged.setdefault(str(s), set()).add("knock")
    out = []
    for scanner, modes in sorted(flagged.items()):
        mine = a[a["scanner"] == scanner]
        di = d[d["scanner"] == scanner]
        kinds = mine["kind"].value_counts()
        n_pairs = len(di)
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
                    "targets": sample(di["victim"], 20),
                    "ports": sorted(int(p) for p in sample(di["port"], 30)),
                    "sample_uids": sample(mine["uid"], 5),
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
    req = icmp[((icmp["type"] == 8) & ~icmp["v6"]) | ((icmp["type"] == 128) & icmp["v6"])]
    if req.empty:
        return []
    firsts = req.groupby(["src", "dst"], sort=False)["ts"].min().reset_index()
    if firsts["src"].value_counts().max() < cfg.min_targets:
        return []  # no source pinged that many addresses at all
    rep = icmp[((icmp["type"] == 0) & ~icmp["v6"]) | ((icmp["type"] == 129) & icmp["v6"])]
    # a target that answered again and again is being monitored, not discovered
    answers = rep.groupby(["dst", "src"], sort=False).size()
    answers.index = answers.index.set_names(["src", "dst"])
    n_ans = answers.reindex(pd.MultiIndex.from_frame(firsts[["src", "dst"]])).fillna(0)
    firsts = firsts[n_ans.to_numpy() < cfg.monitor_min_replies]
    hit = window_hits(firsts["src"], firsts["ts"], cfg.min_targets, cfg.window_s)
    out = []
    for src in firsts.loc[hit, "src"].unique():
        mine = req[req["src"] == src]
        targets = firsts.loc[firsts["src"] == src, "dst"]
        alive = rep[(rep["dst"] == src) & rep["src"].isin(targets)]["src"].nunique()
        n = int(targets.nunique())
        out.append(
            finding(
                ctx,
                "ping_sweep",
                Category.ATTACK,
                severity_of(n, cfg.severity, "low"),
                str(src),
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
