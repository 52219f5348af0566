"""Beaconing: periodic connections from an internal host to one external address (RITA-style).

Per (source, destination) pair with at least `min_connections` connections:

* timing   - mean of 1-|Bowley skewness| of the gaps between connection starts
             and 1 - MAD(gaps)/median(gaps) (jitter relative to the period);
* size     - mean of 1-|Bowley skewness| of request sizes and 1 - MAD(sizes)/size_mad_bytes;
* count    - connections / count_full (capped at 1);
* coverage - share of the capture's span that the pair's connections cover.

score = weighted mean (rules/links.yaml beacon.weights); a pair at or above
score_threshold is a finding.  Approved destinations and compliant egress
(proxy/resolver/relay own traffic) are left out unless include_compliant.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from secaudit.detect.links_base import (
    VIEW_TABLES,
    flow_view,
    links_finding,
    links_rules,
    records,
    top,
)
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding, Severity
from secaudit.policy import default_policy, ports_match

__all__ = ["beacon", "beacon_scores"]


def _bowley(q1: pd.Series, q2: pd.Series, q3: pd.Series) -> pd.Series:
    den = q3 - q1
    num = q3 + q1 - 2 * q2
    return (num / den.where(den > 0)).fillna(0.0).clip(-1, 1)


_COLUMNS = ["src", "dst", "connections", "score", "timing", "size", "count", "coverage",
            "median_gap_s", "first", "last", "dport"]  # fmt: skip


def beacon_scores(ctx: DetectContext) -> pd.DataFrame:
    """Score table of every candidate (src, dst) pair, highest first (for notebooks too)."""
    bare = ctx.policy is None
    if bare:  # bare capture: private address space is internal
        ctx = dataclasses.replace(ctx, policy=default_policy())
    return _scores(ctx, bare)


def _scores(ctx: DetectContext, bare: bool) -> pd.DataFrame:
    """beacon_scores on a context with a policy (`bare`: the default one, for a capture
    analysed without a policy)."""
    cols = _COLUMNS
    if not len(ctx.conn):
        return pd.DataFrame(columns=cols)
    v = flow_view(ctx)
    cfg = links_rules(ctx).beacon
    # Without a policy the audited network may use public addresses (a university or
    # provider network): any originator towards the internet is then the audited side.
    sel = ((v.rz == -1) & v.initiated & (v.oz != -2)) if bare else v.outbound
    sel &= (v.proto != 1) & (v.proto != 58)
    sel &= ~ports_match(cfg.exclude_ports, v.proto, v.port)
    if not cfg.include_compliant:
        sel &= ~(v.approved | v.role_ok | (v.excepted >= 0))
    if not sel.any():
        return pd.DataFrame(columns=cols)
    c = v.conn
    # pairs as one integer that sorts like (src text, dst text): the texts' ranks, so the
    # group-bys below hash integers, not address text, and keep the text order of pairs
    o_rank = v.o_rank
    r_rank = o_rank if v.r_text is v.o_text else _text_rank(v.r_text)
    o, r = v.o_code[sel], v.r_code[sel]
    df = pd.DataFrame(
        {
            "pair": o_rank[o] * np.int64(len(v.r_text)) + r_rank[r],
            "ts": v.ts[sel],
            "bytes": pd.to_numeric(c["orig_bytes"], errors="coerce").fillna(0).to_numpy()[sel]
            if "orig_bytes" in c.columns
            else 0.0,
            "dport": v.port[sel],
        }
    )
    n = df.groupby("pair", sort=False)["ts"].transform("size")
    df = df[n >= cfg.min_connections].sort_values(["pair", "ts"], kind="stable")
    if df.empty:
        return pd.DataFrame(columns=cols)
    df["gap"] = df.groupby("pair", sort=False)["ts"].diff()
    g = df.groupby("pair", sort=False)
    with_gap = df.dropna(subset=["gap"])
    gaps = with_gap.groupby("pair", sort=False)["gap"]
    gq = gaps.quantile(np.array([0.25, 0.5, 0.75])).unstack()
    gmad = group_mad(with_gap["gap"], with_gap["pair"])
    sq = g["bytes"].quantile(np.array([0.25, 0.5, 0.75])).unstack()
    smad = group_mad(df["bytes"], df["pair"])
    res = g.agg(
        connections=("ts", "size"),
        first=("ts", "min"),
        last=("ts", "max"),
        dport=("dport", "first"),
    )
    med = gq[0.5]
    timing = (
        (1 - _bowley(gq[0.25], med, gq[0.75]).abs())
        + (1 - gmad / med.where(med > 0)).fillna(0).clip(0, 1)
    ) / 2
    size = (
        (1 - _bowley(sq[0.25], sq[0.5], sq[0.75]).abs())
        + (1 - smad / cfg.size_mad_bytes).clip(0, 1)
    ) / 2
    span = max(float(v.ts.max() - v.ts.min()), 1e-9)
    res["timing"] = timing.reindex(res.index).fillna(0)
    res["size"] = size.reindex(res.index).fillna(0)
    res["count"] = (res["connections"] / cfg.count_full).clip(upper=1)
    res["coverage"] = ((res["last"] - res["first"]) / span).clip(0, 1)
    res["median_gap_s"] = med.reindex(res.index)
    w = np.asarray(cfg.weights, dtype=float)
    res["score"] = res[["timing", "size", "count", "coverage"]].to_numpy() @ (w / w.sum())
    res.loc[res["median_gap_s"].fillna(0) < cfg.min_interval_s, "score"] = 0.0
    # each pair's texts back from its ranks
    pair = res.index.to_numpy(np.int64)
    res.insert(0, "src", v.o_text[np.argsort(o_rank)[pair // len(v.r_text)]])
    res.insert(1, "dst", v.r_text[np.argsort(r_rank)[pair % len(v.r_text)]])
    return res.reset_index(drop=True).sort_values("score", ascending=False)[cols]


def group_mad(values: pd.Series, key: pd.Series) -> pd.Series:
    """Median absolute deviation from the median, per group of `key` in order of first
    appearance: two compiled group medians instead of a Python call per group."""
    med = values.groupby(key, sort=False).transform("median")
    return (values - med).abs().groupby(key, sort=False).median()


def _text_rank(texts: np.ndarray) -> np.ndarray:
    """Rank of each text in text order (as FlowView.o_rank)."""
    rank = np.empty(len(texts), np.int64)
    rank[np.argsort(texts.astype(str), kind="stable")] = np.arange(len(texts))
    return rank


def _code(texts: np.ndarray, text: str) -> int:
    """Code of an address text in the view's distinct texts (-1: none)."""
    hit = np.flatnonzero(texts == text)
    return int(hit[0]) if len(hit) else -1


@register("beacon", Category.EXTERNAL_LINK, needs=("conn", *VIEW_TABLES))
def beacon(ctx: DetectContext) -> list[Finding]:
    """Regular, same-sized connections from one internal host to one external address."""
    bare = ctx.policy is None
    if bare:  # one context with the default policy, so flow_view is built once
        ctx = dataclasses.replace(ctx, policy=default_policy())
    s = _scores(ctx, bare)  # a bare capture is treated apart (see _scores)
    cfg = links_rules(ctx).beacon
    s = s[s["score"] >= cfg.score_threshold]
    out = []
    for r in records(s):
        ev: dict[str, Any] = {
            "src": r.src,
            "dst": r.dst,
            "dport": int(r.dport),
            "score": round(float(r.score), 3),
            "timing": round(float(r.timing), 3),
            "size": round(float(r.size), 3),
            "count_score": round(float(r.count), 3),
            "coverage": round(float(r.coverage), 3),
            "median_gap_s": round(float(r.median_gap_s), 3),
            "connections": int(r.connections),
        }
        v = flow_view(ctx)
        if "uid" in v.conn.columns:
            m = (v.o_code == _code(v.o_text, r.src)) & (v.r_code == _code(v.r_text, r.dst))
            ev["uids"] = top(v.conn["uid"].take(np.flatnonzero(m)), 5)
        sev = Severity.HIGH if r.score >= 0.9 else Severity.MEDIUM
        out.append(
            links_finding(
                ctx,
                "beacon",
                Category.EXTERNAL_LINK,
                sev,
                str(r.src),
                float(r.first),
                float(r.last),
                int(r.connections),
                ev,
                id_keys={"dst": r.dst},
                dst=r.dst,
                period=round(float(r.median_gap_s), 1),
            )  # fmt: skip
        )
    return out
