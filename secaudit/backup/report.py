"""What notebooks/50_backup_dr.ipynb shows: scorecard, timelines, off-site lag, coverage.

Library functions so the notebook holds no logic: each takes a BackupAudit and
a language and returns a table or a matplotlib Figure; `save` writes the
findings contract (secaudit.report.contract) for `secaudit assess`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from secaudit.backup.audit import BackupAudit
from secaudit.backup.checks import group_label
from secaudit.backup.policy import SEVERITIES
from secaudit.errors import ToolError
from secaudit.i18n import t
from secaudit.model import Gap
from secaudit.plotfonts import cjk

__all__ = [
    "DETECTORS",
    "audit_or_gap",
    "coverage_figure",
    "offsite_figure",
    "sample_config",
    "save",
    "scorecard_table",
    "timeline_figure",
]

DETECTORS = tuple(SEVERITIES)
_COLORS = {"green": "#27ae60", "amber": "#f39c12", "red": "#c0392b"}


def sample_config(dest: str | Path, now: str | None = None) -> Path:
    """Build the bundled sample repositories (samples/backup/build.py in a checkout)."""
    builder = Path(__file__).resolve().parents[2] / "samples" / "backup" / "build.py"
    spec = importlib.util.spec_from_file_location("secaudit_sample_backup", builder)
    if spec is None or spec.loader is None or not builder.is_file():
        raise ToolError(
            "samples/backup/build.py is not available here", "sample", source=str(builder)
        )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    kwargs: dict[str, Any] = {"now": now} if now else {}
    return Path(mod.build_sample_repos(dest, **kwargs))


def audit_or_gap(backup_config: str | Path | None, now: str | None, out_dir: str | Path,
                 *, sample_if_empty: bool = True,
                 state: str | Path | None = None) -> BackupAudit:  # fmt: skip
    """The notebook's entry: audit `backup_config`; "" builds the sample; None -> a Gap only.

    `secaudit assess` passes None when the assessment has no backup input: the
    chapter must then say "not tested", never show the sample's findings.  `state` is
    the coverage ledger: the assessment's history store (`history.duckdb`), so read
    coverage and drills accumulate across assessments; default `out_dir/history.duckdb`.
    """
    from secaudit.backup.audit import backup_audit
    from secaudit.backup.result import scorecard_frame, side_tables, snapshots_frame

    if backup_config is None or (backup_config == "" and not sample_if_empty):
        at = pd.Timestamp(now or pd.Timestamp.now(tz="UTC")).tz_convert("UTC").to_pydatetime()
        gap = Gap("missing_input", "backup_config", "no backup configuration was given",
                  area="backup")  # fmt: skip
        off, cov, drills = side_tables({})
        return BackupAudit([], [gap], scorecard_frame({}, at), snapshots_frame({}), off, cov,
                           drills, {}, at, "")  # fmt: skip
    config = backup_config or sample_config(Path(out_dir) / "sample", now=now)
    return backup_audit(config, now=now, state=state or Path(out_dir) / "history.duckdb")


def scorecard_table(audit: BackupAudit, lang: str = "en") -> Any:
    """The DR scorecard with traffic-light colours (a pandas Styler)."""
    df = audit.scorecard.copy()
    df["status"] = [t(f"backup.status.{s}", lang) for s in audit.scorecard["status"]]
    colors = {t(f"backup.status.{k}", lang): v for k, v in _COLORS.items()}
    return df.style.map(
        lambda v: f"background-color: {colors[v]}; color: white" if v in colors else "",
        subset=["status"],
    )


@cjk
def timeline_figure(audit: BackupAudit, lang: str = "en") -> Figure:
    """One row per (repository, group): a dot per snapshot, the audit time as a line."""
    fig = Figure(figsize=(10, max(2.0, 0.45 * max(1, len(audit.scorecard)) + 1)))
    ax = fig.subplots()
    snaps = audit.snapshots
    labels: list[str] = []
    if len(snaps):
        # one row per repository and group, named as the scorecard's `label` (host:paths)
        keys = [
            group_label(h, sorted(p)) for h, p in zip(snaps["host"], snaps["paths"], strict=True)
        ]
        for i, ((repo, key), part) in enumerate(snaps.assign(key=keys).groupby(["repo", "key"])):
            ax.scatter(part["time"], [i] * len(part), s=14)
            labels.append(f"{repo}: {key}")
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    now = pd.Timestamp(audit.now)
    ax.axvline(now, color="#c0392b", linestyle="--", linewidth=1)  # type: ignore[arg-type]
    ax.set_title(t("backup.nb.timeline", lang))
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


@cjk
def offsite_figure(audit: BackupAudit, lang: str = "en") -> Figure:
    """Per off-site copy: source snapshots not copied (bars) and lag in hours (label)."""
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    off = audit.offsite
    if len(off):
        bars = ax.barh(off["repo"], off["missing"], color="#d68910")
        for bar, lag in zip(bars, off["lag_hours"], strict=True):
            text = "∞" if pd.isna(lag) else f"{lag:.0f} h"
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {text}", va="center")
    else:
        ax.text(0.5, 0.5, t("backup.nb.no_data", lang), ha="center", transform=ax.transAxes)
    ax.set_title(t("backup.nb.offsite", lang))
    fig.tight_layout()
    return fig


@cjk
def coverage_figure(audit: BackupAudit, lang: str = "en") -> Figure:
    """Share of pack data read (check --read-data / rotating subsets) within the window."""
    fig = Figure(figsize=(8, 3))
    ax = fig.subplots()
    cov = audit.coverage.dropna(subset=["coverage_30d"])
    if len(cov):
        ax.barh(cov["repo"], cov["coverage_30d"].astype(float) * 100, color="#2874a6")
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
    else:
        ax.text(0.5, 0.5, t("backup.nb.no_data", lang), ha="center", transform=ax.transAxes)
    ax.set_title(t("backup.nb.coverage", lang))
    fig.tight_layout()
    return fig


def save(audit: BackupAudit, out_dir: str | Path, *, inputs: tuple[str, ...] = ()) -> Path:
    """Findings contract for `secaudit assess` plus the scorecard and tables as CSV."""
    from secaudit.report.contract import save_results

    out = Path(out_dir)
    save_results(
        out,
        audit.findings,
        audit.gaps,
        detectors=DETECTORS,
        inputs=inputs,
        summary={"scorecard": audit.summary(), "restic": audit.restic_version,
                 "now": audit.now.isoformat()},
    )  # fmt: skip
    audit.scorecard.to_csv(out / "scorecard.csv", index=False)
    audit.coverage.to_csv(out / "coverage.csv", index=False)
    audit.offsite.to_csv(out / "offsite.csv", index=False)
    audit.drills.to_csv(out / "drills.csv", index=False)
    return out
