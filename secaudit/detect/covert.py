"""Covert channels and exfiltration: DNS and ICMP tunnels, long connections, large uploads.

* dns_tunnel: per (client, registered domain), many distinct names whose
  left-hand part is long, random-looking or hex-encoded, whose left-hand parts together
  use an encoding's whole alphabet, or mostly TXT/NULL lookups -
  the shape of iodine, dnscat2, DNSExfiltrator and friends.  Reverse
  lookups and mDNS are excluded by suffix.
* icmp_tunnel: echo traffic whose replies do not echo the request's data, or
  whose data past the timestamp vary from request to request (ping repeats
  one pattern there, at any size), or are large and vary in size and content.
* long_connection: a connection open longer than a threshold, counting TCP records that
  Zeek split at idle gaps (no new handshake, the same endpoints) as one connection.
* data_exfil: an internal host sending far more to one external peer than
  it receives, above a volume threshold.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect._common import (
    Groups,
    conn_addr_codes,
    conn_internal,
    echo_pairs,
    finding,
    first_of_codes,
    group_codes,
    internal_mask,
    sample,
    severity_of,
    text_codes,
    text_has,
    text_in,
)
from secaudit.detect.config import DataExfil, DnsTunnel, IcmpTunnel, LongConnection
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding

__all__ = ["data_exfil", "dns_tunnel", "icmp_tunnel", "long_connection"]


_HEX_LABEL = re.compile(r"(?<![^.])[0-9a-f]{4,}(?![^.])")  # a whole label of hex digits


_TUNNEL_COLS = ["ts", "id.orig_h", "id.resp_h", "query", "reg_domain", "qtype", "qtype_name",
                "sub_len", "sub_entropy", "n_queries"]  # fmt: skip


def _hex_encoded(q: pd.DataFrame, min_len: int) -> npt.NDArray[np.bool_]:
    """Per row: do hex labels (digits and letters a-f) make up most of the name left of the
    registered domain, at least `min_len` characters of them?  dnscat2, DNSteal and Cobalt
    Strike's DNS channel write data as hex labels (beside a fixed word or counter); host
    names are not hex.  Decided once per distinct name."""
    codes, names = text_codes(q, "query")
    if not len(names):
        return np.zeros(len(q), dtype=bool)
    first = pd.Series(codes).drop_duplicates()
    sub = np.zeros(len(names), np.int64)
    sub[first.to_numpy()] = q["sub_len"].to_numpy(np.int64)[first.index.to_numpy()]
    flags = np.zeros(len(names), dtype=bool)
    for i, (name, n) in enumerate(zip(names.tolist(), sub.tolist(), strict=True)):
        if n < min_len:
            continue
        labels = _HEX_LABEL.findall(name[:n])
        chars = sum(len(x) for x in labels)
        text = "".join(labels)
        flags[i] = (
            chars >= min_len
            and 3 * chars >= 2 * n
            and any(c.isdigit() for c in text)
            and any(c.isalpha() for c in text)
        )
    return flags[codes]


def _pooled_entropy(q: pd.DataFrame, codes: npt.NDArray[np.int64]) -> dict[int, float]:
    """Bits/char over the distinct left-hand parts of each group (`codes`: per row of `q`,
    its (client, domain) group) together.

    Per name, entropy is capped by its length (18 characters cannot reach 4.2 bits), so
    short encoded labels look like host names one by one; pooled, data encoded in base32
    or base64 spreads over its whole alphabet while host names repeat a few letters."""
    d = pd.DataFrame({"g": codes, "query": q["query"].to_numpy(), "sub": q["sub_len"].to_numpy()})
    d = d.drop_duplicates(["g", "query"])
    out = {}
    for _, grp in d.groupby("g", sort=False):
        text = "".join(
            n[:k] for n, k in zip(grp["query"].astype(str), grp["sub"].tolist(), strict=True)
        )
        b = np.frombuffer(text.replace(".", "").encode(), np.uint8)
        counts = np.bincount(b, minlength=256)
        p = counts[counts > 0] / max(len(b), 1)
        out[int(grp["g"].to_numpy()[0])] = float(-(p * np.log2(p)).sum()) if len(b) else 0.0
    return out


@register("dns_tunnel", Category.MALWARE, needs=("dns",))
def dns_tunnel(ctx: DetectContext) -> list[Finding]:
    """Many unique long/high-entropy names (or TXT/NULL lookups) under one domain from one client."""
    cfg = DnsTunnel.model_validate(ctx.settings("dns_tunnel"))
    dns = ctx.tables.get("dns")
    if dns is None or dns.empty:
        return []
    ignore = tuple(s.lower().strip(".") for s in cfg.ignore_suffixes)
    # registered domains tested once per distinct value (their text as astype(str) gives it)
    reg_code, reg_values = pd.factorize(dns["reg_domain"], use_na_sentinel=False)
    reg = pd.Series([str(v) for v in reg_values], dtype=object)
    wanted = (reg != "") & ~(reg.isin(ignore) | reg.str.endswith(tuple("." + s for s in ignore)))
    keep = wanted.to_numpy(bool)[reg_code]
    # the client as its integer address where the table has it (secaudit's own extracts)
    by = ["orig_hi", "orig_lo"] if "orig_lo" in dns else ["id.orig_h"]
    cols = [c for c in dict.fromkeys([*_TUNNEL_COLS, *by]) if c in dns]
    q = dns.loc[keep, cols]  # the columns read below, then the rows
    if q.empty:
        return []
    q = q.assign(
        txt_null=q["qtype"].isin([10, 16]),
        ent_ok=np.where(q["sub_len"] >= 12, q["sub_entropy"], np.nan),
        queries=q["n_queries"].clip(lower=1),
    )
    # per (client, domain), numbered (the domain by its code: the same groups, no text hashed)
    grp = Groups(pd.DataFrame({**{c: q[c].to_numpy() for c in by}, "reg": reg_code[keep]}))
    g = pd.DataFrame(
        {
            "n": grp.sum(q["queries"]),
            "unique": grp.nunique(q["query"]),
            "mean_sub": grp.mean(q["sub_len"]),
            "max_sub": grp.max(q["sub_len"]).astype(np.int64),
            "mean_ent": grp.mean(q["ent_ok"]),
            "txt_null": grp.mean(q["txt_null"]),
            "first": grp.min(q["ts"]),
            "last": grp.max(q["ts"]),
        }
    )
    g["ratio"] = g["unique"] / g["n"].clip(lower=1)
    busy = g[
        (g["n"] >= cfg.min_queries)
        & (g["unique"] >= cfg.min_unique)
        & (g["ratio"] >= cfg.min_unique_ratio)
    ]
    g["hex_share"] = 0.0
    if len(busy):  # names are read for hex only in groups busy enough to matter
        rows = np.isin(grp.codes, busy.index.to_numpy())
        hexy = _hex_encoded(q[rows], cfg.min_hex_len)
        hits = np.bincount(grp.codes[rows], weights=hexy, minlength=grp.n)
        g["hex_share"] = hits / np.maximum(grp.size(), 1)
    g["pooled_ent"] = 0.0
    many = busy[busy["unique"] >= cfg.pooled_min_unique]
    if len(many):
        rows = np.isin(grp.codes, many.index.to_numpy())
        g["pooled_ent"] = pd.Series(_pooled_entropy(q[rows], grp.codes[rows])).reindex(g.index)
        g["pooled_ent"] = g["pooled_ent"].fillna(0.0)
    shape = (
        (g["mean_sub"] >= cfg.long_subdomain)
        | (g["mean_ent"].fillna(0) >= cfg.high_entropy)
        | (g["txt_null"] >= cfg.txt_null_ratio)
        | (g["hex_share"] >= cfg.hex_ratio)
        | (g["pooled_ent"] >= cfg.pooled_entropy)
    )
    hot = g[
        (g["n"] >= cfg.min_queries)
        & (g["unique"] >= cfg.min_unique)
        & (g["ratio"] >= cfg.min_unique_ratio)
        & shape
    ]
    out = []
    for key, r in hot.iterrows():
        at = grp.first[int(key)]  # type: ignore[call-overload]
        client, domain = q["id.orig_h"].iloc[at], q["reg_domain"].iloc[at]
        mine = q[grp.codes == key]
        reasons = [
            name
            for name, ok in (
                ("long_names", r["mean_sub"] >= cfg.long_subdomain),
                ("high_entropy", (r["mean_ent"] or 0) >= cfg.high_entropy),
                ("txt_null_records", r["txt_null"] >= cfg.txt_null_ratio),
                ("hex_encoded_names", r["hex_share"] >= cfg.hex_ratio),
                ("encoded_alphabet", r["pooled_ent"] >= cfg.pooled_entropy),
            )
            if ok
        ]
        out.append(
            finding(
                ctx,
                "dns_tunnel",
                Category.MALWARE,
                severity_of(float(r["n"]), cfg.severity, "high"),
                str(client),
                float(r["first"]),
                float(r["last"]),
                int(r["n"]),
                {
                    "domain": str(domain),
                    "queries": int(r["n"]),
                    "unique_names": int(r["unique"]),
                    "mean_subdomain_len": round(float(r["mean_sub"]), 1),
                    "mean_entropy": round(float(r["mean_ent"]), 2)
                    if pd.notna(r["mean_ent"])
                    else None,
                    "txt_null_share": round(float(r["txt_null"]), 2),
                    "hex_name_share": round(float(r["hex_share"]), 2),
                    "pooled_entropy": round(float(r["pooled_ent"]), 2),
                    "qtypes": mine["qtype_name"].value_counts().head(5).to_dict(),
                    "resolvers": sample(mine["id.resp_h"], 5),
                    "reasons": reasons,
                    "sample_queries": sample(mine["query"], 3),
                },
                id_keys={"domain": str(domain)},
                domain=str(domain),
            )
        )
    return out


@register("icmp_tunnel", Category.MALWARE, needs=("icmp",))
def icmp_tunnel(ctx: DetectContext) -> list[Finding]:
    """Echo traffic that is not an echo: mismatched replies, or large data of varying size."""
    cfg = IcmpTunnel.model_validate(ctx.settings("icmp_tunnel"))
    icmp = ctx.tables.get("icmp")
    if icmp is None or icmp.empty:
        return []
    req, rep, src, dst, vocab, pair = echo_pairs(icmp)  # a reply shares its request's pair
    if not len(req):
        return []
    col = {c: icmp[c].to_numpy() for c in ("id", "seq", "size", "captured", "hash", "tail_hash")}
    g_req, g_rep = pair[: len(req)], pair[len(req) :]
    groups = Groups(pd.Series(g_req))  # one group per (src, dst) that sent requests
    gid = np.full(int(pair.max()) + 1, -1, np.int64)
    gid[g_req[groups.first]] = np.arange(groups.n)
    g = pd.DataFrame(
        {
            "n": groups.size(),
            "mean_size": groups.mean(col["size"][req]),
            "sizes": groups.nunique(pd.Series(col["size"][req])),
            "entropy": groups.mean(icmp["entropy"].to_numpy(np.float64)[req]),
            "first": groups.min(icmp["ts"].to_numpy(np.float64)[req]),
            "last": groups.max(icmp["ts"].to_numpy(np.float64)[req]),
        }
    )
    # request/reply pairs (same pair, id and seq; fully captured): the first of each side
    full = col["captured"] >= col["size"]
    fq, fr = full[req], full[rep]
    echo = group_codes(
        pd.DataFrame(
            {
                "p": np.concatenate([g_req[fq], g_rep[fr]]),
                "id": np.concatenate([col["id"][req][fq], col["id"][rep][fr]]),
                "seq": np.concatenate([col["seq"][req][fq], col["seq"][rep][fr]]),
            }
        )
    )
    e_req, e_rep = echo[: int(fq.sum())], echo[int(fq.sum()) :]
    k = int(echo.max()) + 1 if len(echo) else 0
    # the first request and the first reply of each key are compared
    q_first = first_of_codes(e_req)  # the request part leads the numbering: first appearance
    r_keys, r_first = np.unique(e_rep, return_index=True)
    h_req = np.zeros(k, np.uint64)
    h_rep = np.zeros(k, np.uint64)
    h_req[e_req[q_first]] = col["hash"][req][fq][q_first]
    h_rep[r_keys] = col["hash"][rep][fr][r_first]
    has_rep = np.zeros(k, bool)
    has_rep[r_keys] = True
    keys = e_req[q_first][has_rep[e_req[q_first]]]
    key_group = np.full(k, -1, np.int64)
    key_group[e_req] = gid[g_req[fq]]
    g["pairs"] = np.bincount(key_group[keys], minlength=groups.n)
    g["mismatched"] = np.bincount(
        key_group[keys], weights=h_req[keys] != h_rep[keys], minlength=groups.n
    ).astype(np.int64)
    # mean reply size of the pair's replies (NaN without replies)
    r_gid = gid[g_rep]
    answered = r_gid >= 0
    r_n = np.bincount(r_gid[answered], minlength=groups.n)
    r_sum = np.bincount(r_gid[answered], weights=col["size"][rep][answered], minlength=groups.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        g["reply_mean_size"] = np.where(r_n > 0, r_sum / np.maximum(r_n, 1), np.nan)
    g["mismatch_ratio"] = g["mismatched"] / g["pairs"].clip(lower=1)
    # ping repeats one pattern behind its timestamp: share of requests off the pair's usual tail
    sized = (col["captured"][req] >= cfg.min_varying_size) & (
        col["size"][req] >= cfg.min_varying_size
    )
    g["varying"], g["sized"] = 0.0, 0
    if sized.any():
        sg = groups.codes[sized]
        tails = group_codes(pd.DataFrame({"g": sg, "t": col["tail_hash"][req][sized]}))
        per_tail = np.bincount(tails)
        top = np.zeros(groups.n, np.int64)
        np.maximum.at(top, sg[first_of_codes(tails)], per_tail)
        tot = np.bincount(sg, minlength=groups.n)
        g["varying"] = np.where(tot > 0, 1 - top / np.maximum(tot, 1), 0.0)
        g["sized"] = tot
    paired = g["pairs"] >= cfg.min_packets // 2
    # ping -s N / MTU probes vary the size but keep the pattern: large sizes alone are not data
    big = (
        (g["mean_size"] > cfg.max_normal_size) & (g["sizes"] >= 3) & (g["varying"] > 0)
    ).to_numpy()
    varying = ((g["sized"] >= cfg.min_packets) & (g["varying"] >= cfg.min_varying_ratio)).to_numpy()
    mism = (paired & (g["mismatch_ratio"] >= cfg.min_mismatch_ratio)).to_numpy()
    hot = np.flatnonzero((g["n"].to_numpy() >= cfg.min_packets) & (mism | big | varying))
    # report in (src, dst) text order
    pinger, target = vocab[src[req][groups.first[hot]]], vocab[dst[req][groups.first[hot]]]
    order = np.lexsort((target.astype(str), pinger.astype(str)))
    v = {c: g[c].to_numpy(np.float64) for c in g.columns}  # as iterrows gives a row: floats
    out = []
    for at in order.tolist():
        i = int(hot[at])
        src, dst = pinger[at], target[at]
        reasons = [
            name
            for name, flags in (
                ("reply_differs_from_request", mism),
                ("large_variable_payloads", big),
                ("payload_varies", varying),
            )
            if bool(flags[i])
        ]
        out.append(
            finding(
                ctx,
                "icmp_tunnel",
                Category.MALWARE,
                severity_of(float(v["n"][i]), cfg.severity, "high"),
                str(src),
                float(v["first"][i]),
                float(v["last"][i]),
                int(v["n"][i]),
                {
                    "peer": str(dst),
                    "echo_requests": int(v["n"][i]),
                    "mean_request_size": round(float(v["mean_size"][i]), 1),
                    "mean_reply_size": (
                        round(float(v["reply_mean_size"][i]), 1)
                        if not np.isnan(v["reply_mean_size"][i])
                        else None
                    ),
                    "distinct_sizes": int(v["sizes"][i]),
                    "mean_entropy": round(float(v["entropy"][i]), 2),
                    "pairs_compared": int(v["pairs"][i]),
                    "mismatched_replies": int(v["mismatched"][i]),
                    "varying_payload_share": round(float(v["varying"][i]), 2),
                    "reasons": reasons,
                },
                id_keys={"peer": str(dst)},
                peer=str(dst),
            )
        )
    return out


_SESSION_COLS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
                 "duration", "orig_bytes", "resp_bytes"]  # fmt: skip


def _tcp_sessions(
    conn: pd.DataFrame, ok: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], pd.DataFrame]:
    """(rows that belong to a chain, one row per chain) for TCP records (among rows `ok`)
    that continue an earlier one.

    Zeek expires a TCP connection idle for 5 minutes; its next packet opens a new record
    without a handshake (history without S/s), often with the sides swapped.  A reverse
    shell waiting for its operator is such a chain.  A record without a SYN continues the
    previous record of the same two endpoints; the session keeps the first record's sides,
    spans first start to last end, and sums bytes per side."""
    tcp = ok & text_in(conn, "proto", ("tcp",))
    cont = tcp & ~text_has(conn, "history", "S") & ~text_has(conn, "history", "s")
    if not cont.any():
        return np.zeros(len(conn), dtype=bool), pd.DataFrame(columns=[*_SESSION_COLS, "pieces"])
    # the unordered endpoint pair as an integer: (address code, port) per side, lower first
    oc, rc, _ = conn_addr_codes(conn)
    a = oc.astype(np.int64) * 65536 + conn["id.orig_p"].fillna(0).to_numpy(np.int64)
    b = rc.astype(np.int64) * 65536 + conn["id.resp_p"].fillna(0).to_numpy(np.int64)
    lo_code, lo_vals = pd.factorize(np.minimum(a, b))
    hi_code = pd.factorize(np.maximum(a, b))[0]
    key = hi_code.astype(np.int64) * (len(lo_vals) + 1) + lo_code
    chained = tcp & np.isin(key, key[cont])
    c = conn.loc[chained, _SESSION_COLS].reset_index(drop=True)
    c = c.assign(_key=key[chained], _cont=cont[chained])
    c = c.sort_values(["_key", "ts"], kind="stable")
    starts = ~c["_cont"].to_numpy() | (c["_key"].to_numpy() != np.roll(c["_key"].to_numpy(), 1))
    starts[0] = True
    c["_chain"] = np.cumsum(starts)
    first = c.groupby("_chain", sort=False).transform("first")
    same = (c["id.orig_h"] == first["id.orig_h"]) & (c["id.orig_p"] == first["id.orig_p"])
    ob, rb = c["orig_bytes"].fillna(0), c["resp_bytes"].fillna(0)
    c["orig_bytes"], c["resp_bytes"] = ob.where(same, rb), rb.where(same, ob)
    c["_end"] = c["ts"] + c["duration"].fillna(0)
    g = c.groupby("_chain", sort=False)
    sess = g.first()[_SESSION_COLS[:7]]
    sess["duration"] = g["_end"].max() - sess["ts"]
    sess["orig_bytes"], sess["resp_bytes"] = g["orig_bytes"].sum(), g["resp_bytes"].sum()
    sess["pieces"] = g.size()
    return chained, sess.reset_index(drop=True)


@register("long_connection", Category.EXTERNAL_LINK, needs=("conn",))
def long_connection(ctx: DetectContext) -> list[Finding]:
    """Connections open longer than the threshold (external_link when the peer is outside);
    TCP records Zeek split at idle gaps count as one connection (_tcp_sessions)."""
    cfg = LongConnection.model_validate(ctx.settings("long_connection"))
    conn = ctx.conn
    if conn.empty:
        return []
    ok = text_in(conn, "proto", cfg.protocols)
    chained, sessions = _tcp_sessions(conn, ok)
    single = ok & ~chained & (conn["duration"].fillna(0) >= cfg.min_duration_s).to_numpy()
    c = pd.concat(
        [
            conn.loc[single, _SESSION_COLS].assign(pieces=1),
            sessions[sessions["duration"].fillna(0) >= cfg.min_duration_s],
        ],
        ignore_index=True,
    )
    if c.empty:
        return []
    g = c.groupby(["id.orig_h", "id.resp_h", "id.resp_p", "proto"], sort=True).agg(
        n=("uid", "size"),
        longest=("duration", "max"),
        first=("ts", "min"),
        last=("ts", lambda s: float((s + c.loc[s.index, "duration"]).max())),
        orig_bytes=("orig_bytes", "sum"),
        resp_bytes=("resp_bytes", "sum"),
        pieces=("pieces", "sum"),
        uids=("uid", lambda s: list(s.head(5))),
    )
    g = g.reset_index()
    g["inside"] = internal_mask(ctx, g["id.resp_h"])
    out = []
    for _, r in g.iterrows():
        cat = Category.INTERNAL_LINK if bool(r["inside"]) else Category.EXTERNAL_LINK
        out.append(
            finding(
                ctx,
                "long_connection",
                cat,
                severity_of(float(r["longest"]), cfg.severity, "low"),
                str(r["id.orig_h"]),
                float(r["first"]),
                float(r["last"]),
                int(r["n"]),
                {
                    "dst": str(r["id.resp_h"]),
                    "port": int(r["id.resp_p"]),
                    "proto": str(r["proto"]),
                    "duration_s": round(float(r["longest"]), 1),
                    "orig_bytes": int(r["orig_bytes"] or 0),
                    "resp_bytes": int(r["resp_bytes"] or 0),
                    "sample_uids": list(r["uids"]),
                    "zeek_records": int(r["pieces"]),
                },
                id_keys={"dst": str(r["id.resp_h"]), "port": int(r["id.resp_p"])},
                dst=str(r["id.resp_h"]),
                hours=round(float(r["longest"]) / 3600, 1),
            )
        )
    return out


@register("data_exfil", Category.MALWARE, needs=("conn",))
def data_exfil(ctx: DetectContext) -> list[Finding]:
    """An internal host uploading a large volume to one external peer (sent >> received)."""
    cfg = DataExfil.model_validate(ctx.settings("data_exfil"))
    conn = ctx.conn
    if conn.empty:
        return []
    oc, rc, addrs = conn_addr_codes(conn)
    inside = conn_internal(ctx)
    sent_b = conn["orig_bytes"].fillna(0).to_numpy(np.float64)
    rows = np.flatnonzero((sent_b > 0) & inside[oc] & ~inside[rc])
    if not len(rows):
        return []
    # per (internal source, external peer): integer pair codes, sums by bincount
    pair = np.unique(oc[rows].astype(np.int64) * len(addrs) + rc[rows], return_inverse=True)[1]
    k = int(pair.max()) + 1
    sent = np.bincount(pair, weights=sent_b[rows], minlength=k)
    received = np.bincount(
        pair, weights=conn["resp_bytes"].fillna(0).to_numpy(np.float64)[rows], minlength=k
    )
    hot = np.flatnonzero(
        (sent >= cfg.min_bytes) & (sent >= cfg.min_ratio * np.maximum(received, 1))
    )
    if not len(hot):
        return []
    n = np.bincount(pair, minlength=k)
    ts = conn["ts"].to_numpy(np.float64)[rows]
    first = np.full(k, np.inf)
    last = np.full(k, -np.inf)
    np.minimum.at(first, pair, ts)
    np.maximum.at(last, pair, ts)
    _, rep = np.unique(pair, return_index=True)
    src_of = addrs[oc[rows[rep]]]
    dst_of = addrs[rc[rows[rep]]]
    out = []
    for i in sorted(hot.tolist(), key=lambda i: (str(src_of[i]), str(dst_of[i]))):
        src, dst = str(src_of[i]), str(dst_of[i])
        out.append(
            finding(
                ctx,
                "data_exfil",
                Category.MALWARE,
                severity_of(float(sent[i]), cfg.severity, "medium"),
                src,
                float(first[i]),
                float(last[i]),
                int(n[i]),
                {
                    "dst": dst,
                    "bytes_sent": int(sent[i]),
                    "bytes_received": int(received[i]),
                    "connections": int(n[i]),
                },
                id_keys={"dst": dst},
                dst=dst,
                mbytes=round(float(sent[i]) / 1e6, 1),
            )
        )
    return out
