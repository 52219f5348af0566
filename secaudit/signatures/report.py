"""Tables and figures for notebooks/20_signatures.ipynb (library side, so the notebook stays calls only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from secaudit.i18n import t
from secaudit.model import write_findings, write_gaps
from secaudit.plotfonts import cjk
from secaudit.signatures.api import SignatureResult, signatures, write_eve

__all__ = ["run", "by_signature", "by_host", "timeline_figure", "save"]


def run(pcaps: str | Sequence[str], rules_dir: str | Path) -> SignatureResult:
    """Rules, YARA and IOC lists from one rules/ folder (signatures/, yara/, iocs/)."""
    root = Path(rules_dir)
    return signatures(
        [pcaps] if isinstance(pcaps, str) else list(pcaps),
        root / "signatures",
        yara=root / "yara" if (root / "yara").is_dir() else None,
        iocs=root / "iocs" if (root / "iocs").is_dir() else None,
    )


def by_signature(res: SignatureResult) -> pd.DataFrame:
    a = res.alerts
    if a.empty:
        return pd.DataFrame(columns=["sid", "signature", "severity", "alerts", "sources"])
    g = a.groupby(["sid", "signature", "severity"], as_index=False).agg(
        alerts=("ts", "size"), sources=("src_ip", "nunique")
    )
    return g.sort_values(["severity", "alerts"], ascending=[True, False])


def by_host(res: SignatureResult) -> pd.DataFrame:
    a = res.alerts
    if a.empty:
        return pd.DataFrame(columns=["src_ip", "dest_ip", "alerts", "signatures"])
    g = a.groupby(["src_ip", "dest_ip"], as_index=False).agg(
        alerts=("ts", "size"), signatures=("sid", "nunique")
    )
    return g.sort_values("alerts", ascending=False)


@cjk
def timeline_figure(res: SignatureResult, title: str | None = None, *, lang: str = "en") -> Any:
    """Alerts over time, one row per signature id, coloured by Suricata severity (1 high)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3))
    a = res.alerts
    if not a.empty:
        for sev, grp in a.groupby("severity"):
            ax.plot(grp["ts"], grp["sid"].astype(str), "o", label=t("nb20.severity", lang, n=sev))
        ax.legend(loc="upper right")
    ax.set_title(title or t("nb20.timeline", lang))
    fig.autofmt_xdate()
    return fig


def save(res: SignatureResult, out_dir: str | Path) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_eve(res.eve_lines, out / "eve.json")
    write_findings(res.findings, out / "findings.json")
    write_gaps(res.gaps, out / "gaps.json")
    res.carved.to_csv(out / "files.csv", index=False)
