"""The audit's result objects and the tables built from them (scorecard, snapshots, …).

Kept apart from the orchestration in `audit` so notebooks and the CLI can
import the result types without pulling in the restic runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from secaudit.backup.checks import Group, OffsiteLag, age_hours, is_fresh
from secaudit.backup.drill import DrillResult
from secaudit.backup.ledger import Coverage
from secaudit.backup.policy import EffectivePolicy
from secaudit.backup.restic import CheckResult, ForgetGroup, Lock, Snapshot
from secaudit.model import Finding, Gap, ResultDisplay
from secaudit.schemas import SNAPSHOTS_SCHEMA

__all__ = [
    "SCORECARD_COLUMNS",
    "BackupAudit",
    "RepoResult",
    "scorecard_frame",
    "snapshots_frame",
    "side_tables",
]

SCORECARD_COLUMNS = [
    "repo", "group", "label", "host", "paths", "snapshots", "newest", "age_hours", "rpo_hours",
    "fresh", "retention_ok", "offsite", "offsite_missing", "checked", "read_coverage",
    "drilled", "drill_seconds", "status", "why",
]  # fmt: skip


@dataclass
class RepoResult:
    """Everything learned about one repository in one audit."""

    pol: EffectivePolicy
    opened: bool = False
    error: str | None = None
    error_kind: str | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)
    forget: list[ForgetGroup] = field(default_factory=list)
    check: CheckResult | None = None
    read: CheckResult | None = None
    read_implied: bool = False
    check_gap: str | None = None
    drills: dict[str, DrillResult] = field(default_factory=dict)
    drill_gap: str | None = None
    coverage: Coverage | None = None
    offsite: OffsiteLag | None = None
    findings: list[Finding] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


@dataclass(repr=False)
class BackupAudit(ResultDisplay):
    """Result of `backup_audit`: findings, gaps and the tables the report plots."""

    findings: list[Finding]
    gaps: list[Gap]
    scorecard: pd.DataFrame
    snapshots: pd.DataFrame
    offsite: pd.DataFrame
    coverage: pd.DataFrame
    drills: pd.DataFrame
    repos: dict[str, RepoResult]
    now: datetime
    restic_version: str

    def summary(self) -> dict[str, int]:
        """Traffic-light counts over the scorecard rows."""
        counts = self.scorecard["status"].value_counts().to_dict() if len(self.scorecard) else {}
        return {k: int(counts.get(k, 0)) for k in ("green", "amber", "red")}


def scorecard_frame(results: dict[str, RepoResult], now: datetime) -> pd.DataFrame:
    offsite_of: dict[str, list[RepoResult]] = {}
    for r in results.values():
        if r.pol.offsite_of:
            offsite_of.setdefault(r.pol.offsite_of, []).append(r)
    rows: list[dict[str, Any]] = []
    for name, r in results.items():
        if not r.opened:
            rows.append({"repo": name, "group": None, "label": None, "status": "red",
                         "why": r.error_kind or "unreadable"})  # fmt: skip
            continue
        retention_bad = {f.evidence.get("group") for f in r.findings
                         if f.detector == "retention_violation"}  # fmt: skip
        checked: bool | None
        if r.check is None:
            checked = None
        else:
            checked = r.check.ok and (r.read is None or r.read.ok) and not r.read_implied
        for g in r.groups:
            newest = g.newest
            fresh = is_fresh(r.pol, g, now)
            why: list[str] = []
            # off-site: this repo is a copy, or a readable copy holds all but the allowed lag
            offsite: bool | None
            missing: int | None = None
            if r.pol.offsite_of:
                offsite = True
            elif name in offsite_of:
                lags = [o.offsite for o in offsite_of[name] if o.offsite is not None]
                if lags:
                    ids = {s.id for s in g.snapshots}
                    missing = min(sum(1 for s in lg.missing if s.id in ids) for lg in lags)
                    offsite = missing <= min(o.pol.offsite_max_lag_snapshots
                                             for o in offsite_of[name])  # fmt: skip
                else:
                    offsite = None
            else:
                offsite = False
            drill = next((d for d in r.drills.values() if newest is not None
                          and d.host == newest.host and d.snapshot == newest.short_id), None)  # fmt: skip
            drilled: bool | None = None if drill is None else drill.ok
            if not fresh:
                why.append("stale")
            if checked is False:
                why.append("check_failed")
            if drilled is False:
                why.append("drill_failed")
            red = bool(why)
            if g.key in retention_bad:
                why.append("retention")
            if offsite is False:
                why.append("offsite" if name in offsite_of else "no_offsite")
            if offsite is None:
                why.append("offsite_unknown")
            if checked is None:
                why.append("not_checked")
            if drilled is None:
                why.append("not_drilled")
            if r.locks:
                why.append("lock")
            status = "red" if red else ("amber" if why else "green")
            rows.append({
                "repo": name, "group": g.key, "label": g.label,
                "host": g.host or (newest.host if newest else None),
                "paths": ",".join(g.paths), "snapshots": len(g.snapshots),
                "newest": newest.time if newest else None,
                "age_hours": age_hours(g, now),
                "rpo_hours": g.config.max_age_hours if g.config and g.config.max_age_hours
                else r.pol.max_age_hours,
                "fresh": fresh, "retention_ok": g.key not in retention_bad,
                "offsite": offsite, "offsite_missing": missing, "checked": checked,
                "read_coverage": r.coverage.fraction if r.coverage else None,
                "drilled": drilled, "drill_seconds": drill.seconds if drill else None,
                "status": status, "why": ",".join(why),
            })  # fmt: skip
    df = pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
    df["newest"] = pd.to_datetime(df["newest"], utc=True)
    return df


def snapshots_frame(results: dict[str, RepoResult]) -> pd.DataFrame:
    """All snapshots as the `snapshots` table (schemas.SNAPSHOTS_SCHEMA)."""
    rows = [
        {"repo": name, "id": s.id, "short_id": s.short_id, "time": s.time, "host": s.host,
         "paths": list(s.paths), "tags": list(s.tags), "original": s.original,
         "parent": s.parent, "tree": s.tree,
         "size": (s.summary or {}).get("total_bytes_processed")}
        for name, r in results.items() for s in r.snapshots
    ]  # fmt: skip
    frame: pd.DataFrame = pa.Table.from_pylist(rows, schema=SNAPSHOTS_SCHEMA).to_pandas()
    return frame


def side_tables(results: dict[str, RepoResult]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    off = [
        {"repo": n, "source": r.offsite.source, "source_snapshots": r.offsite.source_snapshots,
         "copied": r.offsite.copied, "missing": len(r.offsite.missing),
         "orphaned": r.offsite.orphaned, "lag_hours": r.offsite.lag_hours,
         "newest_source": r.offsite.newest_source, "newest_copied": r.offsite.newest_copied}
        for n, r in results.items() if r.offsite is not None
    ]  # fmt: skip
    cov = [
        {"repo": n, "checked": r.check is not None,
         "check_ok": None if r.check is None else r.check.ok,
         "read_mode": None if r.read is None else r.read.mode,
         "read_subset": None if r.read is None else r.read.subset,
         "read_ok": None if r.read is None else r.read.ok,
         "coverage_30d": None if r.coverage is None else r.coverage.fraction,
         "reads_in_window": None if r.coverage is None else r.coverage.reads,
         "last_full_read": None if r.coverage is None else r.coverage.last_full,
         "not_checked_because": r.check_gap,
         "packs_total": None if r.read is None else r.read.packs_total}
        for n, r in results.items()
    ]  # fmt: skip
    drills = [
        {"repo": n, "probe": label, "ok": d.ok, "snapshot": d.snapshot, "files": d.files,
         "bytes": d.bytes, "seconds": d.seconds, "estimated_full_seconds": d.estimated_full_seconds,
         "problems": "; ".join(d.problems)}
        for n, r in results.items() for label, d in r.drills.items()
    ]  # fmt: skip
    return (
        pd.DataFrame(off, columns=["repo", "source", "source_snapshots", "copied", "missing",
                                   "orphaned", "lag_hours", "newest_source", "newest_copied"]),
        pd.DataFrame(cov, columns=["repo", "checked", "check_ok", "read_mode", "read_subset",
                                   "read_ok", "coverage_30d", "reads_in_window",
                                   "last_full_read", "not_checked_because", "packs_total"]),
        pd.DataFrame(drills, columns=["repo", "probe", "ok", "snapshot", "files", "bytes",
                                      "seconds", "estimated_full_seconds", "problems"]),
    )  # fmt: skip
