"""Pure backup audits: snapshots + policy + `now` -> Findings (no restic calls here).

Grouping follows restic: snapshots are grouped by `--group-by` (default
host,paths), exactly as `restic forget` groups them; a group configured in
backup.yaml (`groups:`) takes the snapshots it selects first.  Boundaries:
a group is stale when its newest snapshot is *older* than the RPO (age equal
to the RPO is still fresh); a retention period is the UTC calendar period
(hour, day, ISO week, month, year) and the window ends with the period that
holds `now`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from secaudit.backup.policy import KEEP_LEVELS, EffectivePolicy, GroupPolicy, Keep
from secaudit.backup.restic import Lock, Snapshot
from secaudit.i18n import t, with_title_params
from secaudit.model import Category, Finding

__all__ = [
    "Group",
    "audit_freshness",
    "audit_locks",
    "audit_offsite",
    "audit_retention",
    "group_snapshots",
    "make_finding",
    "period_key",
]

CONTROLS: dict[str, tuple[str, ...]] = {
    "stale_backup": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.10.11"),
    "retention_violation": ("GB/T 22239-2019 8.1.10.11", "GB/T 22239-2019 8.1.4.9 a"),
    "retention_not_enforced": ("GB/T 22239-2019 8.1.10.11",),
    "offsite_copy_lagging": ("GB/T 22239-2019 8.1.4.9 b",),
    "offsite_missing": ("GB/T 22239-2019 8.1.4.9 b",),
    "integrity_check_failed": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.4.7"),
    "integrity_check_failed_read_data": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.4.7"),
    "restore_drill_failed": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.10.13"),
    "rto_exceeded": ("GB/T 22239-2019 8.1.10.13",),
    "lock_present": ("GB/T 22239-2019 8.1.10.11",),
    "repository_missing": ("GB/T 22239-2019 8.1.4.9 a",),
    "repository_access_denied": ("GB/T 22239-2019 8.1.4.9 a",),
    "repository_unreadable": ("GB/T 22239-2019 8.1.4.9 a",),
    "repository_empty": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.10.11"),
    "missing_backup": ("GB/T 22239-2019 8.1.4.9 a", "GB/T 22239-2019 8.1.10.11"),
    "system_backup_missing": ("GB/T 22239-2019 8.1.4.9 a",),
}

CADENCE_ORDER = ("hourly", "daily", "weekly", "monthly", "yearly")


def make_finding(
    pol: EffectivePolicy,
    detector: str,
    now: datetime,
    evidence: Mapping[str, Any],
    *,
    subject: str | None = None,
    id_keys: Mapping[str, Any] | None = None,
    first_seen: datetime | None = None,
    count: int = 1,
    **params: Any,
) -> Finding:
    """A backup Finding with catalog title/remediation, policy severity and controls.

    The title's parameters are kept in the evidence too, so the report can re-title the
    finding in each of its languages from the catalog.
    """
    name = subject or pol.name
    title_params = {"repo": name, **params}
    return Finding(
        rule_id=f"backup.{detector}",
        detector=detector,
        category=Category.BACKUP,
        severity=pol.severity_of(detector),  # type: ignore[arg-type]
        title=t(f"finding.{detector}.title", "en", **title_params),
        subject=name,
        first_seen=(first_seen or now).isoformat().replace("+00:00", "Z"),
        last_seen=now.isoformat().replace("+00:00", "Z"),
        count=count,
        evidence=with_title_params(evidence, title_params),
        controls=CONTROLS.get(detector, ()),
        remediation=t(f"finding.{detector}.remediation", "en"),
        id_keys={"repo": name, **(id_keys or {})},
    )


@dataclass
class Group:
    """Snapshots that restic would treat as one lineage (or one configured group)."""

    key: str
    host: str | None
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    snapshots: list[Snapshot] = field(default_factory=list)
    config: GroupPolicy | None = None

    @property
    def label(self) -> str:
        """How a reader names the group: its configured name, else host:paths [tags]
        (`key`, the '|'-joined grouping key, stays the finding's identity)."""
        if self.config is not None:
            return self.key
        return group_label(self.host, self.paths, self.tags)

    @property
    def newest(self) -> Snapshot | None:
        return max(self.snapshots, key=lambda s: s.time) if self.snapshots else None

    @property
    def oldest(self) -> Snapshot | None:
        return min(self.snapshots, key=lambda s: s.time) if self.snapshots else None

    def cadence(self) -> str | None:
        """Finest cadence tag (hourly < daily < weekly …) on the group's snapshots."""
        tags = {tg.lower() for s in self.snapshots for tg in s.tags}
        return next((c for c in CADENCE_ORDER if c in tags), None)


def group_label(host: str | None, paths: Sequence[str], tags: Sequence[str] = ()) -> str:
    """host:path1,path2 [tag1,tag2], as in the restore-drill message (parts that are unset
    are left out)."""
    where = ",".join(paths)
    text = f"{host}:{where}" if host and where else host or where or "*"
    return f"{text} [{','.join(tags)}]" if tags else text


def _key(host: str | None, paths: Sequence[str], tags: Sequence[str], by: Sequence[str]) -> str:
    parts = []
    if "host" in by:
        parts.append(host or "")
    if "paths" in by:
        parts.append(",".join(paths))
    if "tags" in by:
        parts.append(",".join(tags))
    return "|".join(parts)


def group_snapshots(snapshots: Iterable[Snapshot], pol: EffectivePolicy) -> list[Group]:
    """Configured groups first (even when empty), then restic's --group-by grouping."""
    groups: dict[str, Group] = {}
    configured = [Group(g.name, g.host, tuple(g.paths or ()), tuple(g.tags or ()), [], g)
                  for g in pol.groups]  # fmt: skip
    by = pol.group_by
    for s in snapshots:
        target = next((g for g in configured if g.config and g.config.matches(s)), None)
        if target is None:
            tags = tuple(sorted(s.tags))
            key = _key(s.host, s.paths, tags, by)
            target = groups.get(key)
            if target is None:
                target = groups[key] = Group(
                    key,
                    s.host if "host" in by else None,
                    s.paths if "paths" in by else (),
                    tags if "tags" in by else (),
                )
        target.snapshots.append(s)
    for g in groups.values():
        g.snapshots.sort(key=lambda s: s.time)
    for g in configured:
        g.snapshots.sort(key=lambda s: s.time)
    return configured + sorted(groups.values(), key=lambda g: g.key)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _rpo(pol: EffectivePolicy, g: Group) -> float:
    if g.config is not None and g.config.max_age_hours is not None:
        return g.config.max_age_hours
    return pol.max_age_hours


def _keep(pol: EffectivePolicy, g: Group) -> Keep:
    return g.config.keep if g.config is not None and g.config.keep is not None else pol.keep


def age_hours(g: Group, now: datetime) -> float | None:
    newest = g.newest
    return None if newest is None else (now - newest.time).total_seconds() / 3600.0


def is_fresh(pol: EffectivePolicy, g: Group, now: datetime) -> bool:
    age = age_hours(g, now)
    return age is not None and age <= _rpo(pol, g)


def audit_freshness(pol: EffectivePolicy, groups: Sequence[Group], now: datetime) -> list[Finding]:
    """stale_backup: newest snapshot of a group older than its RPO (or none at all)."""
    out = []
    for g in groups:
        rpo = _rpo(pol, g)
        newest = g.newest
        if newest is None:
            if g.config is not None and g.config.required:
                out.append(
                    make_finding(
                        pol, "stale_backup", now,
                        {"group": g.key, "host": g.host, "paths": list(g.paths), "newest": None,
                         "max_age_hours": rpo, "snapshots": 0},
                        id_keys={"group": g.key}, group=g.label, age="never",
                    )
                )  # fmt: skip
            continue
        age = (now - newest.time).total_seconds() / 3600.0
        if age > rpo:
            out.append(
                make_finding(
                    pol, "stale_backup", now,
                    {"group": g.key, "host": g.host or newest.host, "paths": list(g.paths or newest.paths),
                     "newest": _iso(newest.time), "newest_id": newest.short_id,
                     "age_hours": round(age, 3), "max_age_hours": rpo, "snapshots": len(g.snapshots)},
                    id_keys={"group": g.key}, first_seen=newest.time + timedelta(hours=rpo),
                    group=g.label, age=f"{age:.1f} h",
                )
            )  # fmt: skip
    return out


def period_key(level: str, dt: datetime) -> str:
    """The calendar period of `dt` (UTC) at a keep level, as restic buckets them."""
    if level == "hourly":
        return dt.strftime("%Y-%m-%dT%H")
    if level == "daily":
        return dt.strftime("%Y-%m-%d")
    if level == "weekly":
        y, w, _ = dt.isocalendar()
        return f"{y}-W{w:02d}"
    if level == "monthly":
        return dt.strftime("%Y-%m")
    return dt.strftime("%Y")


def _periods(level: str, now: datetime, n: int) -> list[str]:
    """The n calendar periods ending with the one that holds `now`, oldest first."""
    keys: list[str] = []
    if level == "hourly":
        base = now.replace(minute=0, second=0, microsecond=0)
        keys = [period_key(level, base - timedelta(hours=i)) for i in range(n)]
    elif level == "daily":
        keys = [period_key(level, now - timedelta(days=i)) for i in range(n)]
    elif level == "weekly":
        keys = [period_key(level, now - timedelta(weeks=i)) for i in range(n)]
    elif level == "monthly":
        y, m = now.year, now.month
        for _ in range(n):
            keys.append(f"{y:04d}-{m:02d}")
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    else:
        keys = [f"{now.year - i:04d}" for i in range(n)]
    return keys[::-1]


def applicable_levels(pol: EffectivePolicy, g: Group, keep: Keep) -> dict[str, int]:
    """keep-* levels that bind this group: a cadence tag ("weekly") exempts finer levels."""
    levels = {k: v for k, v in keep.levels().items() if k in KEEP_LEVELS}
    cadence = g.cadence() if pol.cadence_tags and g.config is None else None
    if cadence is None:
        return levels
    rank = CADENCE_ORDER.index(cadence)
    return {k: v for k, v in levels.items() if CADENCE_ORDER.index(k) >= rank}


def audit_retention(pol: EffectivePolicy, groups: Sequence[Group], now: datetime) -> list[Finding]:
    """retention_violation: a required calendar period has no snapshot (or too few kept)."""
    out = []
    for g in groups:
        keep = _keep(pol, g)
        if not g.snapshots and g.config is None:
            continue
        have: dict[str, set[str]] = {}
        missing: dict[str, list[str]] = {}
        for level, n in applicable_levels(pol, g, keep).items():
            have[level] = {period_key(level, s.time) for s in g.snapshots}
            gap = [p for p in _periods(level, now, n) if p not in have[level]]
            if gap:
                missing[level] = gap
        too_few = keep.last is not None and len(g.snapshots) < keep.last
        if missing or too_few:
            n_missing = sum(len(v) for v in missing.values())
            out.append(
                make_finding(
                    pol, "retention_violation", now,
                    {"group": g.key, "host": g.host, "paths": list(g.paths),
                     "keep": keep.levels(), "missing_periods": missing,
                     "snapshots": len(g.snapshots),
                     **({"keep_last_short_by": keep.last - len(g.snapshots)}
                        if too_few and keep.last is not None else {})},
                    id_keys={"group": g.key}, count=max(1, n_missing),
                    group=g.label, missing=n_missing,
                )
            )  # fmt: skip
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_lock(lock: Lock, wall_now: datetime, minutes: float) -> bool:
    """restic's rule: older than 30 min, or made on this host by a process that is gone.

    Lock age is measured against the wall clock, not the audit's `now`: a lock is
    live state of the repository, not part of its backup history.
    """
    if lock.time is None or (wall_now - lock.time) > timedelta(minutes=minutes):
        return True
    return (
        lock.hostname == socket.gethostname() and lock.pid is not None and not _pid_alive(lock.pid)
    )


def audit_locks(
    pol: EffectivePolicy, locks: Sequence[Lock], now: datetime, wall_now: datetime
) -> list[Finding]:
    """lock_present: more locks than the policy allows (they block check/prune on 0.14)."""
    if len(locks) <= pol.locks_allowed:
        return []
    rows = [
        {"id": lk.id[:8], "time": _iso(lk.time) if lk.time else None, "exclusive": lk.exclusive,
         "hostname": lk.hostname, "username": lk.username, "pid": lk.pid,
         "stale": stale_lock(lk, wall_now, pol.stale_lock_minutes)}
        for lk in locks
    ]  # fmt: skip
    return [
        make_finding(
            pol, "lock_present", now,
            {"locks": rows, "count": len(locks), "allowed": pol.locks_allowed,
             "stale": sum(r["stale"] for r in rows)},
            id_keys={"locks": sorted(lk.id for lk in locks)}, count=len(locks), n=len(locks),
        )
    ]  # fmt: skip


@dataclass(frozen=True)
class OffsiteLag:
    offsite: str
    source: str
    source_snapshots: int
    missing: tuple[Snapshot, ...]
    copied: int
    orphaned: int  # off-site copies whose source snapshot was since forgotten (not a problem)
    lag_hours: float | None  # newest source snapshot vs newest source snapshot that has a copy
    newest_source: datetime | None
    newest_copied: datetime | None


def offsite_lag(
    offsite: str, off: Sequence[Snapshot], source: str, src: Sequence[Snapshot]
) -> OffsiteLag:
    """Match by lineage: a copy's `original` (or id) equals the source's `original` (or id)."""
    copies = {s.lineage for s in off}
    src_lineages = {s.lineage for s in src}
    missing = tuple(sorted((s for s in src if s.lineage not in copies), key=lambda s: s.time))
    copied = [s for s in src if s.lineage in copies]
    newest_source = max((s.time for s in src), default=None)
    newest_copied = max((s.time for s in copied), default=None)
    lag: float | None
    if newest_source is None:
        lag = 0.0
    elif newest_copied is None:
        lag = None
    else:
        lag = (newest_source - newest_copied).total_seconds() / 3600.0
    return OffsiteLag(
        offsite, source, len(src), missing, len(copied),
        sum(1 for s in off if s.lineage not in src_lineages), lag, newest_source, newest_copied,
    )  # fmt: skip


def audit_offsite(pol: EffectivePolicy, lag: OffsiteLag, now: datetime) -> list[Finding]:
    """offsite_copy_lagging: more un-copied source snapshots than allowed, or too old a lag."""
    n = len(lag.missing)
    by_count = n > pol.offsite_max_lag_snapshots
    by_time = (
        pol.offsite_max_lag_hours is not None
        and lag.source_snapshots > 0
        and (lag.lag_hours is None or lag.lag_hours > pol.offsite_max_lag_hours)
    )
    if not (by_count or by_time):
        return []
    return [
        make_finding(
            pol, "offsite_copy_lagging", now,
            {"source": lag.source, "missing": n, "max_lag_snapshots": pol.offsite_max_lag_snapshots,
             "lag_hours": None if lag.lag_hours is None else round(lag.lag_hours, 3),
             "max_lag_hours": pol.offsite_max_lag_hours,
             "missing_snapshots": [{"id": s.short_id, "time": _iso(s.time), "host": s.host}
                                   for s in lag.missing[-50:]],
             "copied": lag.copied, "orphaned_copies": lag.orphaned,
             "newest_source": _iso(lag.newest_source) if lag.newest_source else None,
             "newest_copied": _iso(lag.newest_copied) if lag.newest_copied else None},
            id_keys={"source": lag.source}, count=max(1, n),
            first_seen=lag.missing[0].time if lag.missing else None,
            source=lag.source, missing=n,
        )
    ]  # fmt: skip
