"""`backup_audit`: run every check on every configured repository, collect Findings and Gaps.

Per repository (in parallel; restic waits on I/O): list locks first (before
anything of ours could create one), snapshots, retention dry-run, check and
data reads, restore drill.  A repository that cannot be opened yields its
finding (repository_missing / repository_access_denied / repository_unreadable)
plus a Gap for every check that could not run; the others are still audited.
Off-site lag and the DR scorecard are computed afterwards from the collected
snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from secaudit.backup.checks import (
    Group,
    audit_freshness,
    audit_locks,
    audit_offsite,
    audit_retention,
    group_label,
    group_snapshots,
    make_finding,
    offsite_lag,
)
from secaudit.backup.drill import DrillResult, run_drill, select_snapshot
from secaudit.backup.ledger import Ledger
from secaudit.backup.policy import BackupPolicy, EffectivePolicy, load_policy
from secaudit.backup.restic import (
    RepositoryLocked,
    RepositoryMissing,
    Restic,
    ResticError,
    ResticNotInstalled,
    ResticTimeout,
    ResticVersion,
    Runner,
    WrongPassword,
    parse_time,
    restic_version,
)
from secaudit.backup.result import (
    BackupAudit,
    RepoResult,
    scorecard_frame,
    side_tables,
    snapshots_frame,
)
from secaudit.config import load_yaml
from secaudit.errors import InputError
from secaudit.i18n import t
from secaudit.model import Finding, Gap

__all__ = ["BackupAudit", "RepoResult", "backup_audit", "snapshots_frame"]


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def _gap(pol: EffectivePolicy, kind: str, what: str, message: str, **detail: Any) -> Gap:
    return Gap(kind=kind, source=pol.name, message=f"{what}: {message}", area="backup",
               detail={"check": what, **detail})  # fmt: skip


# --------------------------------------------------------------------------- one repository
def _open_failed(res: RepoResult, exc: ResticError, now: datetime) -> None:
    pol = res.pol
    res.error = exc.message
    detector = (
        "repository_missing" if isinstance(exc, RepositoryMissing)
        else "repository_access_denied" if isinstance(exc, WrongPassword)
        else "repository_unreadable"
    )  # fmt: skip
    res.error_kind = detector
    res.findings.append(
        make_finding(pol, detector, now,
                     {"location": pol.access.location, "error": exc.message,
                      "stderr": list(exc.stderr)},
                     reason=exc.message)
    )  # fmt: skip
    for what in ("snapshots", "freshness", "retention", "locks", "integrity", "restore_drill"):
        res.gaps.append(_gap(pol, "unreadable", what, t("gap.repo_unreadable", "en"),
                             reason=detector))  # fmt: skip


def _audit_repo(
    res: RepoResult, restic: Restic, now: datetime, wall_now: datetime, ledger: Ledger
) -> None:
    pol = res.pol
    try:
        res.locks = restic.locks()
    except ResticNotInstalled:
        raise
    except ResticError as exc:
        _open_failed(res, exc, now)
        return
    try:
        res.snapshots = restic.snapshots()
    except ResticNotInstalled:
        raise
    except ResticError as exc:
        _open_failed(res, exc, now)
        return
    res.opened = True
    res.groups = group_snapshots(res.snapshots, pol)
    if not res.snapshots:
        res.findings.append(
            make_finding(pol, "repository_empty", now, {"location": pol.access.location})
        )
    res.findings += audit_locks(pol, res.locks, now, wall_now)
    res.findings += audit_freshness(pol, res.groups, now)
    res.findings += audit_retention(pol, res.groups, now)
    drill_findings: list[Finding] = []
    drill_gaps: list[Gap] = []
    # a drill on damaged packs waits out restic's retry back-off (~45 s): run it alongside
    with ThreadPoolExecutor(max_workers=1) as side:
        drill = side.submit(_drill, res, restic, now, ledger, drill_findings, drill_gaps)
        _retention_enforced(res, restic, now)
        _integrity(res, restic, now, ledger)
        drill.result()
    res.findings += drill_findings
    res.gaps += drill_gaps


def _retention_enforced(res: RepoResult, restic: Restic, now: datetime) -> None:
    """retention_not_enforced: restic's own forget (dry run) would remove snapshots."""
    pol = res.pol
    keep = pol.keep.levels()
    if not keep or not res.snapshots:
        return
    try:
        res.forget = restic.forget_dry_run(keep, pol.group_by)
    except ResticError as exc:
        res.gaps.append(_gap(pol, "tool_failed", "retention_dry_run", exc.message))
        return
    for g in res.forget:
        if g.remove:
            key = "|".join(x for x in (g.host or "", ",".join(g.paths)) if x)
            res.findings.append(
                make_finding(pol, "retention_not_enforced", now,
                             {"group": key, "keep": keep, "would_keep": len(g.keep),
                              "would_remove": len(g.remove),
                              "remove_ids": [i[:8] for i in g.remove[:50]]},
                             id_keys={"group": key}, count=len(g.remove),
                             group=group_label(g.host, g.paths), n=len(g.remove))
            )  # fmt: skip


def _read_mode(res: RepoResult, now: datetime, ledger: Ledger) -> tuple[bool, str | None]:
    """(full read?, subset) for this audit from the check policy and the ledger."""
    cp = res.pol.check
    if cp.read_data:
        return True, None
    if cp.read_data_subset is None:
        return False, None
    if cp.full_every_days is not None:
        last = ledger.last_full(res.pol.name)
        if last is None or now - last >= timedelta(days=cp.full_every_days):
            return True, None
    return False, ledger.next_subset(res.pol.name, cp.read_data_subset)


def _integrity(res: RepoResult, restic: Restic, now: datetime, ledger: Ledger) -> None:
    pol = res.pol
    if not pol.check.enabled:
        res.check_gap = "disabled"
        return
    full, subset = _read_mode(res, now, ledger)
    reads = full or subset is not None
    no_lock = False
    try:
        try:
            res.check = restic.check()
        except RepositoryLocked:
            if res.locks:
                raise
            # no lock was there, so restic could not *create* one (read-only storage):
            # checking without a lock is then the only way and nothing can race it
            no_lock = True
            res.check = restic.check(no_lock=True)
    except RepositoryLocked as exc:
        res.check_gap = "locked"
        for what in ("integrity", *(("integrity_read_data",) if reads else ())):
            res.gaps.append(_gap(pol, "not_checked", what, t("gap.check_locked", "en"),
                                 stderr=list(exc.stderr)))  # fmt: skip
        return
    except (ResticTimeout, ResticError) as exc:
        res.check_gap = "failed_to_run"
        res.gaps.append(_gap(pol, "tool_failed", "integrity", exc.message))
        return
    if not res.check.ok:
        res.findings.append(
            make_finding(pol, "integrity_check_failed", now,
                         {"errors": list(res.check.errors), "command": "check"},
                         id_keys={"mode": "structural"}, count=len(res.check.errors) or 1,
                         error=res.check.errors[0] if res.check.errors else "")
        )  # fmt: skip
    if not reads:
        return
    mode_label = "--read-data" if full else f"--read-data-subset {subset}"
    if not res.check.ok:
        # `check --read-data` runs every structural check first, so it fails as well;
        # re-reading known-bad packs would only add restic's retry back-off (minutes).
        res.read_implied = True
        res.findings.append(
            make_finding(pol, "integrity_check_failed_read_data", now,
                         {"errors": list(res.check.errors), "command": f"check {mode_label}",
                          "implied_by_structural_check": True},
                         id_keys={"mode": "read"}, error=res.check.errors[0] if res.check.errors else "")
        )  # fmt: skip
        return
    try:
        res.read = restic.check(read_data=full, subset=subset, no_lock=no_lock)
    except RepositoryLocked as exc:
        res.gaps.append(_gap(pol, "not_checked", "integrity_read_data", t("gap.check_locked", "en"),
                             stderr=list(exc.stderr)))  # fmt: skip
        return
    except ResticError as exc:
        res.gaps.append(_gap(pol, "tool_failed", "integrity_read_data", exc.message))
        return
    ledger.record_read(pol.name, now, res.read)
    if not res.read.ok:
        res.findings.append(
            make_finding(pol, "integrity_check_failed_read_data", now,
                         {"errors": list(res.read.errors), "command": f"check {mode_label}",
                          "packs_read": res.read.packs_read, "packs_total": res.read.packs_total},
                         id_keys={"mode": "read"}, count=len(res.read.errors) or 1,
                         error=res.read.errors[0] if res.read.errors else "")
        )  # fmt: skip


def _drill(
    res: RepoResult,
    restic: Restic,
    now: datetime,
    ledger: Ledger,
    findings: list[Finding],
    gaps: list[Gap],
) -> None:
    """Runs beside the other checks (restore uses --no-lock), so it reports into its own lists."""
    pol = res.pol
    drill = pol.drill
    if drill is None:
        res.drill_gap = "not_configured"
        return
    snap = select_snapshot(res.snapshots, drill)
    label = f"{drill.host or '*'}:{drill.path or '/'}"
    if snap is None:
        # `restic restore latest --host H --path P` fails here too: nothing to restore
        res.drill_gap = "no_snapshot"
        problem = t("gap.drill_no_snapshot", "en")
        findings.append(
            make_finding(pol, "restore_drill_failed", now, {"probe": label, "problems": [problem]},
                         id_keys={"probe": label}, probe=label, problem=problem)
        )  # fmt: skip
        return
    if drill.every_days is not None:
        last = ledger.last_good_drill(pol.name, label, now)
        if last is not None and now - parse_time(last["time"]) < timedelta(days=drill.every_days):
            res.drill_gap = "recent"
            return
    try:
        result = run_drill(restic, snap, drill)
    except (RepositoryLocked, WrongPassword, RepositoryMissing, ResticTimeout) as exc:
        res.drill_gap = "failed_to_run"
        gaps.append(_gap(pol, "tool_failed", "restore_drill", exc.message, probe=label))
        return
    except ResticError as exc:  # restic could not read the snapshot's content: the drill failed
        result = DrillResult(False, snap.short_id, snap.host, drill.path, 0, 0, 0.0, 0, None,
                             problems=(exc.message, *exc.stderr[1:4]))  # fmt: skip
    res.drills[label] = result
    ledger.record_drill(pol.name, now, label, result.ok, result.seconds)
    evidence = {"probe": label, "snapshot": result.snapshot, "files": result.files,
                "bytes": result.bytes, "seconds": result.seconds,
                "estimated_full_restore_seconds": result.estimated_full_seconds,
                "verified_with_dump": result.verified_with_dump, **result.detail}  # fmt: skip
    if not result.ok:
        findings.append(
            make_finding(pol, "restore_drill_failed", now,
                         {**evidence, "problems": list(result.problems)},
                         id_keys={"probe": label}, probe=label,
                         problem=result.problems[0] if result.problems else "")
        )  # fmt: skip
    elif (
        drill.rto_minutes is not None
        and result.estimated_full_seconds is not None
        and result.estimated_full_seconds > drill.rto_minutes * 60
    ):
        findings.append(
            make_finding(pol, "rto_exceeded", now, {**evidence, "rto_minutes": drill.rto_minutes},
                         id_keys={"probe": label}, probe=label,
                         minutes=round(result.estimated_full_seconds / 60, 1))
        )  # fmt: skip


# --------------------------------------------------------------------------- across repositories
def _offsite(results: dict[str, RepoResult], now: datetime) -> None:
    copied = {r.pol.offsite_of for r in results.values() if r.pol.offsite_of}
    for res in results.values():
        if res.pol.require_offsite and not res.pol.offsite_of and res.pol.name not in copied:
            res.findings.append(
                make_finding(res.pol, "offsite_missing", now, {"location": res.pol.access.location})
            )
    for res in results.values():
        src_name = res.pol.offsite_of
        if src_name is None:
            continue
        src = results[src_name]
        if not (res.opened and src.opened):
            res.gaps.append(
                _gap(res.pol, "not_checked", "offsite", t("gap.offsite_unreadable", "en"),
                     source=src_name)
            )  # fmt: skip
            continue
        res.offsite = offsite_lag(res.pol.name, res.snapshots, src_name, src.snapshots)
        res.findings += audit_offsite(res.pol, res.offsite, now)


def _assets(policy: BackupPolicy, base: Path, results: dict[str, RepoResult], now: datetime,
            pol0: EffectivePolicy | None) -> tuple[list[Finding], list[Gap]]:  # fmt: skip
    """missing_backup / system_backup_missing for servers listed in the assets inventory."""
    if policy.assets is None or pol0 is None:
        return [], []
    items: list[dict[str, Any]]
    if isinstance(policy.assets, str):
        p = Path(policy.assets)
        data = load_yaml(p if p.is_absolute() else base / p)
        raw = data.get("assets", []) if isinstance(data, dict) else data or []
        items = [dict(a) for a in raw if isinstance(a, dict) and a.get("name")]
    else:
        items = [a.model_dump() for a in policy.assets]
    hosts: dict[str, list[tuple[str, Group]]] = {}
    for res in results.values():
        for g in res.groups:
            for s in g.snapshots[-1:]:
                hosts.setdefault(s.host, []).append((res.pol.name, g))
    unread = [n for n, r in results.items() if not r.opened]
    findings: list[Finding] = []
    gaps: list[Gap] = []
    system = set(policy.system_paths)
    for a in items:
        if str(a.get("role", "")) != "server":
            continue
        names = {str(a[k]) for k in ("backup_host", "hostname", "name") if a.get(k)}
        seen = [x for n in names for x in hosts.get(n, [])]
        ev = {"asset": a["name"], "hostnames": sorted(names), "unreadable_repositories": unread}
        if not seen:
            findings.append(make_finding(pol0, "missing_backup", now, ev, subject=str(a["name"]),
                                         id_keys={"asset": a["name"]}, asset=a["name"]))  # fmt: skip
            continue
        has_system = any(
            (g.config is not None and g.config.kind == "system")
            or system & set(g.paths)
            or (g.newest is not None and system & set(g.newest.paths))
            for _, g in seen
        )
        if not has_system:
            findings.append(
                make_finding(pol0, "system_backup_missing", now,
                             {**ev, "backed_up_paths": sorted({p for _, g in seen for p in g.paths}),
                              "system_paths": sorted(system)},
                             subject=str(a["name"]), id_keys={"asset": a["name"]}, asset=a["name"])
            )  # fmt: skip
    return findings, gaps


def _now(now: datetime | str | None) -> datetime:
    if now is None:
        return datetime.now(UTC).replace(microsecond=0)
    if isinstance(now, str):
        try:
            return parse_time(now)
        except ValueError:
            raise InputError(f"not an ISO 8601 time: {now!r}", "now") from None
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def backup_audit(
    config: str | Path,
    now: datetime | str | None = None,
    *,
    state: str | Path | None = None,
    runner: Runner | None = None,
    version: ResticVersion | None = None,
    workers: int | None = None,
    only: Sequence[str] | None = None,
) -> BackupAudit:
    """Audit every repository in backup.yaml `config` as of `now` (default: the clock).

    `state` is the coverage ledger (JSON) kept across audits; None keeps none.
    `runner`/`version` replace the restic subprocess (tests of scale only).
    """
    policy, pols = load_policy(config)
    base = Path(config).resolve().parent
    at = _now(now)
    wall = datetime.now(UTC)
    if only:
        pols = [p for p in pols if p.name in only]
    binary = str(policy.restic.get("binary", "restic"))
    ver = version or restic_version(binary)
    ledger = Ledger.load(state)
    results = {p.name: RepoResult(p) for p in pols}

    def run_all(batch: list[RepoResult]) -> None:
        # names sharing one location run one after another: our own `check` lock must
        # never show up in another name's `list locks`
        for res in batch:
            restic = Restic(res.pol.access, binary=binary, timeouts=res.pol.timeouts,
                            runner=runner, version=ver)  # fmt: skip
            _audit_repo(res, restic, at, wall, ledger)

    batches: dict[str, list[RepoResult]] = {}
    for r in results.values():
        batches.setdefault(r.pol.access.repo, []).append(r)
    n = workers or int(policy.restic.get("workers", 0)) or min(16, max(1, len(batches)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        for fut in [pool.submit(run_all, b) for b in batches.values()]:
            fut.result()
    for r in results.values():
        if r.opened and r.pol.check.enabled:
            r.coverage = ledger.coverage(r.pol.name, at, r.pol.check.coverage_window_days)
    _offsite(results, at)
    asset_findings, asset_gaps = _assets(policy, base, results, at, pols[0] if pols else None)
    ledger.save()
    findings = [f for r in results.values() for f in r.findings] + asset_findings
    gaps = [g for r in results.values() for g in r.gaps] + asset_gaps
    off, cov, drills = side_tables(results)
    return BackupAudit(
        findings=findings,
        gaps=gaps,
        scorecard=scorecard_frame(results, at),
        snapshots=snapshots_frame(results),
        offsite=off,
        coverage=cov,
        drills=drills,
        repos=results,
        now=at,
        restic_version=str(ver),
    )
