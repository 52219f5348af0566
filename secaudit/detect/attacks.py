"""Spoofing and floods: ARP spoofing, SYN floods, UDP/ICMP floods, reflection amplification."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect._common import (
    Groups,
    conn_addr_codes,
    finding,
    keyparts,
    rows_by_code,
    sample,
    severity_of,
    text_codes,
    text_factorize,
    text_has,
    text_in,
    window_hits,
)
from secaudit.detect.config import Amplification, ArpSpoof, Flood, SynFlood
from secaudit.detect.registry import DetectContext, register
from secaudit.detect.tables import FLOOD_BUCKET_S
from secaudit.model import Category, Finding

__all__ = ["amplification", "arp_spoof", "icmp_flood", "syn_flood", "udp_flood"]


def _mac(v: int) -> str:
    h = f"{int(v):012x}"
    return ":".join(h[i : i + 2] for i in range(0, 12, 2))


@register("arp_spoof", Category.ATTACK, needs=("arp",))
def arp_spoof(ctx: DetectContext) -> list[Finding]:
    """ARP cache poisoning: one IP claimed by two MACs at overlapping times, or pushed.

    A claim is any ARP packet whose sender address is set (replies, requests,
    gratuitous announcements).  A MAC change that does not overlap in time
    (a replaced NIC, a DHCP lease moving) is not flagged; interleaved claims,
    with at least `min_claims` from the second MAC, are.  So is a stream of
    unsolicited replies (no request just before) for an IP from a MAC that
    also claims another IP - poisoning even when the real owner stays silent.
    """
    cfg = ArpSpoof.model_validate(ctx.settings("arp_spoof"))
    arp = ctx.tables.get("arp")
    if arp is None or arp.empty:
        return []
    claims = arp[(arp["spa"] != "0.0.0.0") & (arp["sha"] != 0)]
    # per (ip, mac) claimed, in order of first claim
    grp = Groups(claims[["spa", "sha"]])
    ts = claims["ts"].to_numpy(np.float64)
    per = pd.DataFrame(
        {
            "spa": claims["spa"].to_numpy()[grp.first],
            "sha": claims["sha"].to_numpy()[grp.first],
            "first": grp.min(ts),
            "last": grp.max(ts),
            "n": grp.size(),
            "replies": grp.sum((claims["op"].to_numpy() == 2).astype(np.int64)),
        }
    )
    ips_per_mac = claims.groupby("sha")["spa"].nunique()
    unsol = _unsolicited(arp, cfg.window_s)
    if len(unsol):
        u = unsol.rename("unsolicited").reset_index()
        u["ip"] = u["ip"].astype(object)
        u["sha"] = u["sha"].astype(np.uint64)
        looked = pd.DataFrame(
            {"ip": per["spa"].astype(object).to_numpy(), "sha": per["sha"].to_numpy(np.uint64)}
        ).merge(u, on=["ip", "sha"], how="left")
        per["unsolicited"] = looked["unsolicited"].fillna(0).to_numpy(np.int64)
    else:
        per["unsolicited"] = 0
    per["other_ips"] = per["sha"].map(ips_per_mac).fillna(1).to_numpy() - 1
    multi = per.groupby("spa")["sha"].transform("size") > 1
    pushed = (per["unsolicited"] >= cfg.min_unsolicited) & (per["other_ips"] > 0)
    cand = per[multi | per["spa"].isin(per.loc[pushed, "spa"])]
    out = []
    for ip, g in cand.groupby("spa", sort=True):
        g = g.sort_values("first")
        # overlap: a later MAC starts before an earlier one stops claiming
        overlap = len(g) > 1 and bool(
            (g["first"].to_numpy()[1:] <= g["last"].cummax().to_numpy()[:-1]).any()
        )
        conflict = overlap and int(g["n"].nsmallest(2).iloc[-1]) >= cfg.min_claims
        gp = g[(g["unsolicited"] >= cfg.min_unsolicited) & (g["other_ips"] > 0)]
        if not conflict and gp.empty:
            continue
        suspect = (
            (gp if len(gp) else g)
            .sort_values(["unsolicited", "other_ips", "first"], ascending=[False, False, False])
            .iloc[0]
        )
        reasons = [
            x
            for x, ok in (("ip_mac_conflict", conflict), ("unsolicited_replies", len(gp) > 0))
            if ok
        ]
        out.append(
            finding(
                ctx,
                "arp_spoof",
                Category.ATTACK,
                severity_of(len(g), cfg.severity, "high"),
                str(ip),
                float(g["first"].min()),
                float(g["last"].max()),
                int(g["n"].sum()),
                {
                    "macs": {_mac(m): int(n) for m, n in zip(g["sha"], g["n"], strict=True)},
                    "suspect_mac": _mac(int(suspect["sha"])),
                    "suspect_claims": int(suspect["n"]),
                    "suspect_unsolicited_replies": int(suspect["unsolicited"]),
                    "suspect_other_ips": int(suspect["other_ips"]),
                    "reasons": reasons,
                },
                id_keys={"macs": sorted(_mac(m) for m in g["sha"])},
                mac=_mac(int(suspect["sha"])),
            )
        )
    return out


def _unsolicited(arp: pd.DataFrame, window_s: float) -> pd.Series:
    """Replies per (claimed IP, MAC) without a request from their target for that IP just before."""
    rep = arp[(arp["op"] == 2) & (arp["spa"] != "0.0.0.0")].sort_values("ts")
    req = arp[arp["op"] == 1].sort_values("ts")
    if rep.empty:
        return pd.Series(dtype=np.int64)
    # (asker, ip) as one integer: a reply's target asked for its sender's address
    both, texts = text_factorize(pd.concat([arp["spa"], arp["tpa"]], ignore_index=True))
    n = len(texts) + 1
    spa, tpa = both[: len(arp)], both[len(arp) :]
    at_rep, at_req = arp.index.get_indexer(rep.index), arp.index.get_indexer(req.index)
    left = pd.DataFrame(
        {"ts": rep["ts"].to_numpy(float), "key": tpa[at_rep].astype(np.int64) * n + spa[at_rep],
         "ip": rep["spa"].to_numpy(object), "sha": rep["sha"].to_numpy()}
    )  # fmt: skip
    right = pd.DataFrame(
        {"ts": req["ts"].to_numpy(float), "key": spa[at_req].astype(np.int64) * n + tpa[at_req],
         "req_ts": req["ts"].to_numpy(float)}
    )  # fmt: skip
    m = pd.merge_asof(
        left,
        right,
        on="ts",
        by="key",
        direction="backward",
        tolerance=window_s,  # type: ignore[arg-type]
    )
    m["ip"] = m["ip"].astype(str)
    return m[m["req_ts"].isna()].groupby(["ip", "sha"]).size()


@register("syn_flood", Category.ATTACK, needs=("conn",))
def syn_flood(ctx: DetectContext) -> list[Finding]:
    """Many half-open handshakes to one host inside a short window; subject = victim.

    Counted per (host, port), or per host over distinct sources: a flood from
    spoofed random sources may also pick random ports, while a port scan (one
    source, many ports) never spreads over sources.
    """
    cfg = SynFlood.model_validate(ctx.settings("syn_flood"))
    conn = ctx.conn
    if conn.empty:
        return []
    half = (
        text_in(conn, "proto", ("tcp",))
        & text_has(conn, "history", "S")
        & ~text_has(conn, "history", "A")
        & ~text_has(conn, "history", "D")
    )
    cols = ["ts", "uid", "id.orig_h", "id.resp_h", "id.resp_p"]  # what is read below
    h = conn.loc[half, cols].assign(_synack=text_has(conn, "history", "h")[half])
    if h.empty:
        return []
    hit = window_hits(h[["id.resp_h", "id.resp_p"]], h["ts"], cfg.min_half_open, cfg.window_s)
    groups: list[tuple[str, int | str, pd.DataFrame]] = []
    for key, mine in h[hit].groupby(["id.resp_h", "id.resp_p"], sort=True):
        victim, port = keyparts(key)
        groups.append((str(victim), int(port), mine))
    # spread: distinct sources per victim (each counted at its first half-open attempt)
    oc, rc, addrs = conn_addr_codes(conn)
    k = len(addrs)
    victims = rc[half].astype(np.int64)
    busy = np.bincount(victims, minlength=1) >= cfg.min_half_open
    if not busy.any():
        return _syn_findings(ctx, cfg, groups)  # no host has that many half-open at all
    rows = np.flatnonzero(busy[victims])
    pair, uniq = pd.factorize(victims[rows] * k + oc[half][rows])
    t_first = np.full(len(uniq), np.inf)
    np.minimum.at(t_first, pair, h["ts"].to_numpy(np.float64)[rows])
    uniq = np.asarray(uniq, np.int64)
    spread = window_hits(pd.Series(uniq // k), t_first, cfg.min_half_open, cfg.window_s)
    by_port = {g[0] for g in groups}
    for v in np.unique(uniq[spread] // k).tolist():
        if str(addrs[v]) in by_port:
            continue
        mine = h[victims == v]
        ports = mine["id.resp_p"].astype(np.int64)
        groups.append((str(addrs[v]), f"{int(ports.min())}-{int(ports.max())}", mine))
    return _syn_findings(ctx, cfg, groups)


def _syn_findings(
    ctx: DetectContext, cfg: SynFlood, groups: list[tuple[str, int | str, pd.DataFrame]]
) -> list[Finding]:
    out = []
    for victim, port, mine in groups:
        srcs = mine["id.orig_h"].astype(str)
        nets = srcs.str.rsplit(".", n=1).str[0].nunique()
        span = max(float(mine["ts"].max() - mine["ts"].min()), 1e-3)
        answered = mine["_synack"].sum()
        n = len(mine)
        out.append(
            finding(
                ctx,
                "syn_flood",
                Category.ATTACK,
                severity_of(n, cfg.severity, "high"),
                victim,
                float(mine["ts"].min()),
                float(mine["ts"].max()),
                n,
                {
                    "port": port,
                    "distinct_ports": int(mine["id.resp_p"].nunique()),
                    "half_open": n,
                    "rate_per_s": round(n / span, 1),
                    "distinct_sources": int(srcs.nunique()),
                    "source_slash24s": int(nets),
                    "spoofed_spread": bool(srcs.nunique() > 0.5 * n),
                    "synack_answered": int(answered),
                    "sample_sources": sample(srcs, 10),
                    "sample_uids": sample(mine["uid"], 5),
                },
                id_keys={"port": port},
                port=port,
            )
        )
    return out


def _flood(ctx: DetectContext, name: str, proto: int) -> list[Finding]:
    cfg = Flood.model_validate(ctx.settings(name))
    fl = ctx.tables.get("flood")
    if fl is None or fl.empty:
        return []
    rows = np.flatnonzero(fl["proto"].to_numpy() == proto)
    if not len(rows):
        return []
    per_win = max(int(cfg.window_s // FLOOD_BUCKET_S), 1)
    # per (host, window), on the host's text code (shared by the UDP and ICMP detectors);
    # text only for the hot rows
    all_codes, hosts = text_codes(fl, "host")
    codes = all_codes[rows]
    win = fl["bucket"].to_numpy(np.int64)[rows] // per_win
    grp = Groups(pd.DataFrame({"host": codes, "win": win}))

    def total(col: str) -> npt.NDArray[np.int64]:
        return np.asarray(grp.sum(fl[col].to_numpy(np.int64)[rows]), np.int64)

    agg = pd.DataFrame(
        {
            "code": codes[grp.first],
            "win": win[grp.first],
            "pkts": total("in_pkts"),
            "bytes": total("in_bytes"),
            "srcs": grp.max(fl["srcs"].to_numpy(np.int64)[rows]).astype(np.int64),
            "out": total("out_pkts"),
        }
    )
    hot = agg[agg["pkts"] >= cfg.min_packets]
    if proto == 17:
        # a UDP flood is one-way: the target answers (almost) nothing back
        hot = hot[hot["out"] < cfg.max_reply_ratio * hot["pkts"]]
    hot = hot.assign(host=hosts[hot["code"].to_numpy()])
    hot = hot[hot["host"] != ""]  # text_codes' value for a missing host
    out = []
    for dst, g in hot.groupby("host", sort=True):
        n = int(g["pkts"].sum())
        t0 = float(g["win"].min() * per_win * FLOOD_BUCKET_S)
        t1 = float((g["win"].max() + 1) * per_win * FLOOD_BUCKET_S)
        out.append(
            finding(
                ctx,
                name,
                Category.ATTACK,
                severity_of(n, cfg.severity, "high"),
                str(dst),
                t0,
                t1,
                n,
                {
                    "packets": n,
                    "bytes": int(g["bytes"].sum()),
                    "peak_pps": round(float(g["pkts"].max()) / cfg.window_s, 1),
                    "windows": len(g),
                    "max_sources_per_s": int(g["srcs"].max()),
                    "packets_sent_back": int(g["out"].sum()),
                },
            )
        )
    return out


@register("udp_flood", Category.ATTACK, needs=("flood",))
def udp_flood(ctx: DetectContext) -> list[Finding]:
    """A UDP packet rate toward one host far above normal, with no replies."""
    return _flood(ctx, "udp_flood", 17)


@register("icmp_flood", Category.ATTACK, needs=("flood",))
def icmp_flood(ctx: DetectContext) -> list[Finding]:
    """An ICMP packet rate toward one host far above normal (ping flood, smurf)."""
    return _flood(ctx, "icmp_flood", 1)


@register("amplification", Category.ATTACK, needs=("conn",))
def amplification(ctx: DetectContext) -> list[Finding]:
    """Many reflectors (DNS/NTP/SSDP/…) sending far more to one host than it asked for."""
    cfg = Amplification.model_validate(ctx.settings("amplification"))
    conn = ctx.conn
    if conn.empty:
        return []
    oc, rc, addrs = conn_addr_codes(conn)
    udp = text_in(conn, "proto", ("udp",))
    ports = np.array(sorted(set(cfg.ports)), dtype=np.int64)
    rp = conn["id.resp_p"].fillna(-1).to_numpy(np.int64)
    op = conn["id.orig_p"].fillna(-1).to_numpy(np.int64)
    resp_is_srv = udp & np.isin(rp, ports)
    orig_is_srv = udp & np.isin(op, ports) & ~resp_is_srv
    s1, s2 = np.flatnonzero(resp_is_srv), np.flatnonzero(orig_is_srv)
    if not len(s1) and not len(s2):
        return []
    ob = conn["orig_ip_bytes"].fillna(0).to_numpy(np.float64)
    rb = conn["resp_ip_bytes"].fillna(0).to_numpy(np.float64)
    # one row per reflected exchange: victim, reflector (address codes), bytes each way
    victim = np.concatenate([oc[s1], rc[s2]]).astype(np.int64)
    reflector = np.concatenate([rc[s1], oc[s2]]).astype(np.int64)
    in_bytes = np.concatenate([rb[s1], ob[s2]])
    out_bytes = np.concatenate([ob[s1], rb[s2]])
    ts = conn["ts"].to_numpy(np.float64)[np.concatenate([s1, s2])]
    port = np.concatenate([rp[s1], op[s2]])
    k = len(addrs)
    got = np.bincount(victim, weights=in_bytes, minlength=k)
    sent = np.bincount(victim, weights=out_bytes, minlength=k)
    pairs = np.unique(victim * k + reflector)
    n_refl = np.bincount(pairs // k, minlength=k)
    hot = np.flatnonzero(
        (got >= cfg.min_resp_bytes)
        & (got >= cfg.min_ratio * np.maximum(sent, 1))
        & (n_refl >= cfg.min_peers)
    )
    out = []
    groups = rows_by_code(victim, hot)
    for v in sorted(hot.tolist(), key=lambda v: str(addrs[v])):
        mine = groups[v]
        t = ts[mine]
        out.append(
            finding(
                ctx,
                "amplification",
                Category.ATTACK,
                severity_of(float(got[v]), cfg.severity, "high"),
                str(addrs[v]),
                float(t.min()),
                float(t.max()),
                len(mine),
                {
                    "response_bytes": int(got[v]),
                    "request_bytes": int(sent[v]),
                    "ratio": round(float(got[v]) / max(float(sent[v]), 1.0), 1),
                    "reflectors": int(n_refl[v]),
                    "sample_reflectors": sample(addrs[reflector[mine]], 10),
                    "ports": sorted(int(p) for p in sample(port[mine], 10)),
                },
            )
        )
    return out
