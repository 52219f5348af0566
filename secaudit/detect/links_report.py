"""The links audit for notebooks: run the links detectors, then tables and figures of the result.

    audit = links_audit(pcaps, policy_dir)
    violations_by_zone_pair(audit); zone_graph_figure(audit); unregistered_table(audit)
    beacon_figure(audit); policy_warnings(audit)

Everything the notebook shows is computed here, so tests reach it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secaudit.detect.links_base import CONTROLS, flow_view, records
from secaudit.detect.registry import DetectContext
from secaudit.i18n import t
from secaudit.model import Finding, Gap, ResultDisplay, findings_frame
from secaudit.plotfonts import cjk
from secaudit.policy import Policy, Trust, load_policy

__all__ = [
    "LINKS_DETECTORS",
    "LinksAudit",
    "beacon_figure",
    "links_audit",
    "policy_warnings",
    "unregistered_table",
    "violations_by_zone_pair",
    "zone_graph_figure",
    "zone_pair_counts",
]

LINKS_DETECTORS: tuple[str, ...] = tuple(sorted(CONTROLS))


@dataclass(repr=False)
class LinksAudit(ResultDisplay):
    """Findings and gaps of the links detectors, with the context they were computed from."""

    findings: list[Finding]
    gaps: list[Gap]
    policy: Policy
    ctx: DetectContext
    inputs: list[str] = field(default_factory=list)


def links_audit(
    pcaps: str | Path | Sequence[str | Path],
    policy_dir: str | Path,
    *,
    lang: str = "en",
    scheduler: str | None = None,
) -> LinksAudit:
    """Run every links detector on the captures with the policy folder; `scheduler`: a Dask
    distributed scheduler that reads the files (secaudit.distributed)."""
    from secaudit.detect.run import _build_tables, run_detectors
    from secaudit.detect.run import load_detectors as _load

    pol = load_policy(policy_dir)
    srcs = [pcaps] if isinstance(pcaps, (str, Path)) else list(pcaps)
    conn, tables, gaps = _build_tables(
        srcs, ignore_checksums=True, local_nets=None, quiet=True, scheduler=scheduler or None
    )
    ctx = DetectContext(
        conn=conn, tables=tables, policy=pol, thresholds={"_run": {"lang": lang}},
        sources=tuple(str(s) for s in srcs), gaps=tuple(gaps),
    )  # fmt: skip
    specs = _load()
    findings, run_gaps = run_detectors(ctx, [specs[n] for n in LINKS_DETECTORS if n in specs])
    return LinksAudit(
        findings, [*gaps, *run_gaps, *pol.warning_gaps()], pol, ctx, [str(s) for s in srcs]
    )


def zone_pair_counts(audit: LinksAudit) -> pd.DataFrame:
    """Initiated connections per (from zone, to zone) with allowed/not-allowed counts."""
    v = flow_view(audit.ctx)
    pol = audit.policy
    keep = v.initiated & (v.oz_link != -2) & (v.rz_link != -2)
    oz, rz = v.oz_link[keep], v.rz_link[keep]
    internal = (oz >= 0) & (rz >= 0)
    allowed = np.zeros(len(oz), dtype=bool)
    allowed[internal] = pol.allowed_internal(
        oz[internal], rz[internal], v.proto[keep][internal], v.port[keep][internal]
    )
    out_ = (oz >= 0) & (rz == -1)
    allowed[out_] = (v.approved | v.role_ok | (v.excepted >= 0))[keep][out_]
    into = oz == -1  # from the internet: only public-facing (dmz) zones take connections
    dmz = np.array(pol.zones_with_trust(Trust.DMZ), dtype=np.int32)
    allowed[into] = np.isin(rz[into], dmz) | (v.excepted[keep][into] >= 0)
    df = pd.DataFrame({"from": pol.zone_name(oz), "to": pol.zone_name(rz), "allowed": allowed})
    out = (
        df.groupby(["from", "to"])
        .agg(connections=("allowed", "size"), allowed=("allowed", "sum"))
        .reset_index()
    )
    out["not_allowed"] = out["connections"] - out["allowed"]
    return out.sort_values(["not_allowed", "connections"], ascending=False).reset_index(drop=True)


def violations_by_zone_pair(audit: LinksAudit) -> pd.DataFrame:
    """Findings per (detector, zone of the subject) and the zone pairs their flows crossed."""
    f = findings_frame(audit.findings)
    if f.empty:
        return pd.DataFrame(columns=["detector", "zone", "findings", "connections"])
    zones = []
    for x in audit.findings:
        z = x.evidence.get("zone")
        if z is None:
            zs = x.evidence.get("zones")
            z = ",".join(zs) if isinstance(zs, list) and zs else None
        zones.append(z or "-")
    f["zone"] = zones
    return (
        f.groupby(["detector", "zone"])
        .agg(findings=("id", "size"), connections=("count", "sum"))
        .reset_index()
        .sort_values(["findings", "connections"], ascending=False)
        .reset_index(drop=True)
    )


def unregistered_table(audit: LinksAudit) -> pd.DataFrame:
    """One row per unregistered_device finding: address, MAC, zones, VLANs, first/last seen."""
    rows = [
        {
            "subject": x.subject,
            "mac": x.evidence.get("mac"),
            "ips": ", ".join(x.evidence.get("ips", [])),
            "zones": ", ".join(x.evidence.get("zones", [])),
            "vlans": ", ".join(str(v) for v in x.evidence.get("vlans", [])),
            "first_seen": x.first_seen,
            "last_seen": x.last_seen,
            "packets": x.count,
        }
        for x in audit.findings
        if x.detector == "unregistered_device"
    ]
    return pd.DataFrame(
        rows,
        columns=["subject", "mac", "ips", "zones", "vlans", "first_seen", "last_seen", "packets"],
    )


def policy_warnings(audit: LinksAudit) -> pd.DataFrame:
    return pd.DataFrame(
        [{"file": w.source, "line": w.line, "warning": w.message} for w in audit.policy.warnings],
        columns=["file", "line", "warning"],
    )


@cjk
def zone_graph_figure(audit: LinksAudit, *, lang: str = "en") -> Any:
    """Zones on a circle; grey arrows = allow rules, coloured = seen (red when not allowed)."""
    import matplotlib.pyplot as plt

    pol = audit.policy
    names = [*pol.zone_names, "internet"]
    pos = {
        n: (math.cos(2 * math.pi * i / len(names)), math.sin(2 * math.pi * i / len(names)))
        for i, n in enumerate(names)
    }
    fig, ax = plt.subplots(figsize=(7, 6))
    for r in pol.links.allow:
        for a in pol.zone_names if r.from_ == "*" else [r.from_]:
            for b in pol.zone_names if r.to == "*" else [r.to]:
                if a != b:
                    _arrow(ax, pos[a], pos[b], "#bbbbbb", 1.0, "--")
    seen = zone_pair_counts(audit)
    peak = max(int(seen["connections"].max()), 1) if len(seen) else 1
    for s in records(seen):
        a, b = str(s[0]), str(s[1])
        if a == b or a not in pos or b not in pos:
            continue
        colour = "#d62728" if int(s.not_allowed) else "#2ca02c"
        _arrow(ax, pos[a], pos[b], colour, 1 + 4 * int(s.connections) / peak, "-")
    for n, (x, y) in pos.items():
        ax.scatter([x], [y], s=900, color="#1f77b4" if n != "internet" else "#7f7f7f", zorder=3)
        zone = next((z for z in pol.zones if z.name == n), None)
        label = (getattr(zone.title, lang, "") or n) if zone else n
        ax.annotate(label, (x, y), xytext=(0, -28), textcoords="offset points", ha="center")
    ax.set_title(t("links.graph.title", lang))
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.axis("off")
    return fig


def _arrow(
    ax: Any, a: tuple[float, float], b: tuple[float, float], colour: str, width: float, style: str
) -> None:
    ax.annotate(
        "", xy=b, xytext=a,
        arrowprops={"arrowstyle": "->", "color": colour, "lw": width, "linestyle": style,
                    "shrinkA": 16, "shrinkB": 16, "connectionstyle": "arc3,rad=0.12"},
    )  # fmt: skip


@cjk
def beacon_figure(audit: LinksAudit, *, lang: str = "en") -> Any:
    """Beacon score against connections for every scored (src, dst) pair; threshold line."""
    import matplotlib.pyplot as plt

    from secaudit.detect.beacon import beacon_scores
    from secaudit.detect.links_base import links_rules

    s = beacon_scores(audit.ctx)
    fig, ax = plt.subplots(figsize=(7, 4))
    if len(s):
        ax.scatter(s["connections"], s["score"], c=s["score"], cmap="viridis", vmin=0, vmax=1)
        for r in s.head(5).itertuples(index=False):
            ax.annotate(f"{r.src}→{r.dst}", (r.connections, r.score), fontsize=8)
    ax.axhline(links_rules(audit.ctx).beacon.score_threshold, color="#d62728", linestyle="--")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(t("links.beacon.connections", lang))
    ax.set_ylabel(t("links.beacon.score", lang))
    ax.set_title(t("links.beacon.title", lang))
    return fig
