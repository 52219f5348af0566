"""Tables and figures of notebooks/30_behavior_faults.ipynb (library code, so tests reach it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secaudit.detect.health import service_health
from secaudit.detect.run import DetectResult, detect
from secaudit.i18n import t
from secaudit.model import Category, findings_frame
from secaudit.plotfonts import cjk

__all__ = [
    "BEHAVIOR_DETECTORS",
    "behavior_audit",
    "findings_table",
    "health_figure",
    "link_health_table",
    "summary",
    "timeline_figure",
]

# this area's detectors (the links ones run in notebook 10)
BEHAVIOR_DETECTORS = (
    "port_scan", "ping_sweep", "arp_scan", "arp_spoof", "syn_flood", "udp_flood", "icmp_flood",
    "amplification", "brute_force", "dns_tunnel", "icmp_tunnel", "long_connection", "data_exfil",
    "retransmission", "zero_window", "rejected", "unanswered", "icmp_unreachable", "dns_failure",
)  # fmt: skip
_COLORS = {"attack": "#c0392b", "malware": "#8e44ad", "fault": "#e67e22"}


def behavior_audit(
    pcaps: Sequence[str | Path] | str | Path,
    policy_dir: str | Path | None = None,
    *,
    lang: str = "en",
    scheduler: str | None = None,
) -> DetectResult:
    """Run this area's detectors on the captures (policy only sharpens internal/external);
    `scheduler`: a Dask distributed scheduler that reads the files (secaudit.distributed)."""
    pol = policy_dir if policy_dir and Path(policy_dir).exists() else None
    return detect(pcaps, pol, only=list(BEHAVIOR_DETECTORS), lang=lang, scheduler=scheduler or None)


def findings_table(res: DetectResult) -> pd.DataFrame:
    cols = [
        "severity",
        "category",
        "detector",
        "subject",
        "title",
        "first_seen",
        "last_seen",
        "count",
    ]
    return findings_frame(res.findings)[cols]


@cjk
def timeline_figure(res: DetectResult, *, lang: str = "en") -> Any:
    """One horizontal bar per finding from first to last seen, coloured by category."""
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * max(len(res.findings), 2) + 1.2))
    ax.set_title(t("nb30.timeline", lang))
    if not res.findings:
        ax.text(0.5, 0.5, t("nb30.none", lang), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    labels = []
    for k, f in enumerate(res.findings):
        t0 = pd.Timestamp(f.first_seen) if f.first_seen else None
        t1 = pd.Timestamp(f.last_seen) if f.last_seen else t0
        if t0 is None or t1 is None:
            continue
        width = max((t1 - t0).total_seconds(), 1.0) / 86400.0
        left = float(mdates.date2num(t0.tz_convert(None).to_pydatetime()))  # type: ignore[no-untyped-call]
        ax.barh(k, width, left=left, color=_COLORS.get(f.category.value, "#7f8c8d"))
        ax.xaxis_date()
        labels.append(f"{f.detector}: {f.subject}")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


@cjk
def health_figure(res: DetectResult, *, lang: str = "en", bin_s: float = 60.0, top: int = 8) -> Any:
    """Retransmission %, handshake RTT p50/p95 and S0/REJ counts over time, busiest servers."""
    import matplotlib.pyplot as plt

    h = service_health(res, by="host", bin_s=bin_s)
    fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    axes[0].set_title(t("health.title", lang))
    if h.empty:
        return fig
    busiest = h.groupby("key")["data_pkts"].sum().nlargest(top).index
    for key, g in h[h["key"].isin(busiest)].groupby("key"):
        x = g["bin"].dt.tz_convert(None)
        axes[0].plot(x, g["retrans_pct"], marker=".", label=str(key))
        axes[1].plot(x, g["rtt_p50_ms"], marker=".", label=f"{key} p50")
        axes[1].plot(x, g["rtt_p95_ms"], linestyle="--", label=f"{key} p95")
    bad = h.groupby("bin")[["s0", "rej"]].sum()
    when = pd.DatetimeIndex(bad.index).tz_convert(None)
    axes[2].bar(when, bad["s0"], width=bin_s / 86400, label=t("health.s0", lang))
    axes[2].bar(when, bad["rej"], width=bin_s / 86400, bottom=bad["s0"],
                label=t("health.rej", lang))  # fmt: skip
    axes[0].set_ylabel(t("health.retrans_pct", lang))
    axes[1].set_ylabel(t("health.rtt_p50", lang) + " / p95")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[2].legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def link_health_table(res: DetectResult, policy: Any = None) -> pd.DataFrame:
    """Per link (zone or subnet pair) over the whole capture: retrans %, RTT p50/p95, S0/REJ."""
    h = service_health(res, by="link", bin_s=1e9, policy=policy)
    if h.empty:
        return h
    g = h.groupby("key").agg(
        conns=("conns", "sum"), s0=("s0", "sum"), rej=("rej", "sum"),
        data_pkts=("data_pkts", "sum"), retrans=("retrans", "sum"), dupacks=("dupacks", "sum"),
        rtt_p50_ms=("rtt_p50_ms", "median"), rtt_p95_ms=("rtt_p95_ms", "max"),
    )  # fmt: skip
    g["retrans_pct"] = (100 * g["retrans"] / g["data_pkts"].clip(lower=1)).round(2)
    return g.sort_values(["retrans_pct", "s0", "rej"], ascending=False).reset_index()


def summary(res: DetectResult) -> dict[str, Any]:
    """Counts per category/detector for the report chapter."""
    by_cat = {c.value: 0 for c in (Category.ATTACK, Category.MALWARE, Category.FAULT)}
    by_det: dict[str, int] = {}
    for f in res.findings:
        by_cat[f.category.value] = by_cat.get(f.category.value, 0) + 1
        by_det[f.detector] = by_det.get(f.detector, 0) + 1
    return {"by_category": by_cat, "by_detector": by_det, "gaps": len(res.gaps)}
