"""Pure backup audits on built snapshot lists: each detector fires and stays silent, boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secaudit.backup.checks import (
    audit_freshness,
    audit_locks,
    audit_offsite,
    audit_retention,
    group_snapshots,
    offsite_lag,
    stale_lock,
)
from secaudit.backup.ledger import Ledger
from secaudit.backup.policy import EffectivePolicy, load_policy
from secaudit.backup.restic import CheckResult, Lock, Snapshot
from secaudit.errors import ConfigError

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
_n = 0


def snap(host: str, path: str, when: datetime, tags: tuple[str, ...] = ("daily",),
         original: str | None = None) -> Snapshot:  # fmt: skip
    global _n
    _n += 1
    sid = f"{_n:064x}"
    return Snapshot(sid, sid[:8], when, host, (path,), tags, original)


def policy(
    tmp_path: Path, extra: str = "", defaults: str = "", keep: str = "{daily: 7}"
) -> list[EffectivePolicy]:
    cfg = tmp_path / "backup.yaml"
    cfg.write_text(
        f"defaults:\n  max_age_hours: 36\n  keep: {keep}\n  offsite_max_lag_snapshots: 1\n"
        + defaults
        + "repositories:\n  - name: local\n    repo: /nonexistent/local\n    password_file: pw\n"
        + "  - name: remote\n    repo: sftp:u@h:/r\n    password_file: pw\n    offsite_of: local\n"
        + extra
    )
    return load_policy(cfg)[1]


def daily(host: str, path: str, last: datetime, n: int, **kw: object) -> list[Snapshot]:
    return [snap(host, path, last - timedelta(days=i), **kw) for i in range(n)]  # type: ignore[arg-type]


def test_stale_fires_past_rpo_and_not_at_it(tmp_path: Path) -> None:
    pol = policy(tmp_path)[0]
    exactly = group_snapshots([snap("web01", "/www", NOW - timedelta(hours=36))], pol)
    assert audit_freshness(pol, exactly, NOW) == []
    late = group_snapshots([snap("web01", "/www", NOW - timedelta(hours=36, seconds=1))], pol)
    [f] = audit_freshness(pol, late, NOW)
    assert f.detector == "stale_backup" and f.subject == "local"
    assert f.evidence["age_hours"] == pytest.approx(36.0, abs=0.01)
    # a reader sees the group as host:paths; the '|'-joined grouping key stays its identity
    assert f.title.startswith("Backup of web01:/www in local is stale"), f.title
    assert f.evidence["group"] == "web01|/www"


def test_freshness_is_per_host_paths_group(tmp_path: Path) -> None:
    pol = policy(tmp_path)[0]
    snaps = daily("web02", "/www", NOW - timedelta(hours=10), 7) + [
        snap("db02", "/pg", NOW - timedelta(days=10))
    ]
    findings = audit_freshness(pol, group_snapshots(snaps, pol), NOW)
    assert [f.evidence["host"] for f in findings] == ["db02"]


def test_per_repository_override_of_rpo(tmp_path: Path) -> None:
    pols = policy(tmp_path, extra="    max_age_hours: 100\n")
    snaps = [snap("web01", "/www", NOW - timedelta(hours=80))]
    assert audit_freshness(pols[0], group_snapshots(snaps, pols[0]), NOW)
    assert audit_freshness(pols[1], group_snapshots(snaps, pols[1]), NOW) == []


def test_retention_missing_days_and_complete_week(tmp_path: Path) -> None:
    pol = policy(tmp_path)[0]
    full = daily("app01", "/data", NOW.replace(hour=2), 7)
    assert audit_retention(pol, group_snapshots(full, pol), NOW) == []
    holes = [s for s in full if s.time.day not in (10, 12, 13)]
    [f] = audit_retention(pol, group_snapshots(holes, pol), NOW)
    assert f.evidence["missing_periods"] == {"daily": ["2026-01-10", "2026-01-12", "2026-01-13"]}


def test_retention_weekly_tagged_group_not_held_to_daily(tmp_path: Path) -> None:
    pol0 = policy(tmp_path, keep="{daily: 7, weekly: 3}")[0]
    weekly = [snap("web02", "/etc", NOW - timedelta(weeks=i), ("weekly",)) for i in range(3)]
    assert audit_retention(pol0, group_snapshots(weekly, pol0), NOW) == []
    gap = [s for i, s in enumerate(weekly) if i != 1]
    [f] = audit_retention(pol0, group_snapshots(gap, pol0), NOW)
    assert list(f.evidence["missing_periods"]) == ["weekly"]


def test_offsite_lag_by_original_ignores_pruned_sources(tmp_path: Path) -> None:
    local, remote = policy(tmp_path)
    src = daily("web01", "/www", NOW.replace(hour=2), 7)
    pruned = daily("web01", "/www", NOW.replace(hour=2) - timedelta(days=10), 3)
    # copies of the 4 oldest remaining sources and of 3 sources since forgotten
    copies = [snap(s.host, s.paths[0], s.time, original=s.id) for s in src[3:] + pruned]
    lag = offsite_lag("remote", copies, "local", src)
    assert len(lag.missing) == 3 and lag.orphaned == 3 and lag.lag_hours == 72.0
    [f] = audit_offsite(remote, lag, NOW)
    assert f.detector == "offsite_copy_lagging" and f.subject == "remote"
    # exactly the allowed lag (1) is not a finding
    lag1 = offsite_lag("remote", [snap("web01", "/www", s.time, original=s.id) for s in src[1:]],
                       "local", src)  # fmt: skip
    assert len(lag1.missing) == 1 and audit_offsite(remote, lag1, NOW) == []


def test_offsite_copy_of_a_copy_keeps_original(tmp_path: Path) -> None:
    _, remote = policy(tmp_path)
    src = [snap("web01", "/www", NOW, original="a" * 64)]  # the source itself is a copy
    off = [snap("web01", "/www", NOW, original="a" * 64)]
    assert audit_offsite(remote, offsite_lag("remote", off, "local", src), NOW) == []


def test_locks(tmp_path: Path) -> None:
    pol = policy(tmp_path)[0]
    assert audit_locks(pol, [], NOW, NOW) == []
    lk = Lock("ae570ec2" * 8, NOW - timedelta(hours=2), False, "vm", "root", 4242)
    [f] = audit_locks(pol, [lk], NOW, NOW)
    assert f.detector == "lock_present" and f.evidence["stale"] == 1
    import os
    import socket

    mine = Lock(
        "1" * 64, NOW - timedelta(minutes=5), True, socket.gethostname(), "root", os.getpid()
    )
    assert not stale_lock(mine, NOW, 30)  # recent, and its process is alive
    gone = Lock("2" * 64, NOW - timedelta(minutes=5), True, socket.gethostname(), "root", 2**22 + 7)
    assert stale_lock(gone, NOW, 30)
    [f] = audit_locks(pol, [mine], NOW, NOW)
    assert f.evidence["stale"] == 0


def test_configured_group_without_snapshots_is_stale(tmp_path: Path) -> None:
    pol = policy(
        tmp_path,
        extra="    groups:\n      - {name: db-system, host: db01, paths: [/etc], kind: system}\n",
    )[1]
    groups = group_snapshots([snap("web01", "/www", NOW)], pol)
    [f] = audit_freshness(pol, groups, NOW)
    assert f.evidence["group"] == "db-system" and f.evidence["newest"] is None
    assert f.title.startswith("Backup of db-system in"), f.title


@pytest.mark.parametrize("name", ["state.json", "history.duckdb"])
def test_ledger_rotation_and_coverage(tmp_path: Path, name: str) -> None:
    led = Ledger.load(tmp_path / name)
    assert led.next_subset("r", "1/4") == "1/4"
    for day, g in enumerate((1, 2, 3)):
        res = CheckResult(True, "subset", f"{g}/4", group=g, groups_total=4)
        led.record_read("r", NOW - timedelta(days=40 - 15 * day), res)
    assert led.next_subset("r", "1/4") == "4/4"
    cov = led.coverage("r", NOW, 30)
    assert cov.groups_read == (2, 3) and cov.fraction == 0.5  # group 1 fell out of the window
    led.record_drill("r", NOW, "db01", True, 12.5)
    led.save()
    back = Ledger.load(tmp_path / name)
    assert back.next_subset("r", "1/4") == "4/4"
    assert back.coverage("r", NOW, 30) == cov
    assert back.last_good_drill("r", "db01", NOW) == {
        "time": NOW.isoformat(), "group": "db01", "ok": True, "seconds": 12.5
    }  # fmt: skip


def test_ledger_shares_the_history_store_with_assessment_runs(tmp_path: Path) -> None:
    from secaudit.report.history import History

    db = tmp_path / "history.duckdb"
    hist = History(db)
    hist.close()
    led = Ledger.load(db)
    led.record_read("r", NOW, CheckResult(True, "full"))
    led.save()
    hist = History(db)  # the report's tables are untouched and still open
    assert hist.last_run() is None
    hist.close()
    assert Ledger.load(db).last_full("r") == NOW


def test_unreadable_history_store_names_the_file(tmp_path: Path) -> None:
    from secaudit.errors import InputError

    bad = tmp_path / "history.duckdb"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(InputError) as exc:
        Ledger.load(bad)
    assert str(bad) in str(exc.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("repositories:\n  - {name: a, repo: /x}\n", "password"),
        ("repositories:\n  - {name: a, repo: /x, password_file: p, bogus: 1}\n", "unknown key"),
        ("repositories:\n  - {name: a, repo: /x, password_file: p}\n  - {name: a, repo: /y, password_file: p}\n", "duplicate"),
        ("repositories:\n  - {name: a, repo: /x, password_file: p, offsite_of: zz}\n", "no repository named"),
        ("defaults:\n  check: {read_data_subset: '5/3'}\nrepositories: []\n", "n/t"),
    ],
)  # fmt: skip
def test_config_errors_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "b.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_policy(cfg)
    assert needle in str(info.value) and info.value.line is not None


def test_full_read_every_n_days_between_subset_reads(tmp_path: Path) -> None:
    from secaudit.backup.audit import _read_mode
    from secaudit.backup.result import RepoResult

    pol = policy(tmp_path, defaults="  check: {read_data_subset: '1/5', full_every_days: 7}\n")[0]
    led = Ledger.load(None)
    res = RepoResult(pol)
    assert _read_mode(res, NOW, led) == (True, None)  # never read in full: full now
    led.record_read("local", NOW, CheckResult(True, "full"))
    assert _read_mode(res, NOW + timedelta(days=1), led) == (False, "1/5")
    assert _read_mode(res, NOW + timedelta(days=7), led) == (True, None)


def test_check_without_lock_only_when_restic_could_not_create_one(tmp_path: Path) -> None:
    """Read-only storage: no lock listed, yet check cannot lock -> `check --no-lock` (root can't
    make a real read-only repository here, so restic's answers are scripted for this case)."""
    from collections.abc import Mapping, Sequence

    from secaudit.backup import backup_audit
    from secaudit.backup.restic import Completed, ResticVersion

    snaps = '[{"time": "2026-01-15T02:00:00Z", "hostname": "h", "paths": ["/d"], "id": "ab12"}]'

    def runner(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        args = [a for a in argv[1:] if a != "--no-cache"]
        locks = "ae570ec2" * 8 if env["RESTIC_REPOSITORY"].endswith("locked") else ""
        out, rc, err = "", 0, ""
        if args[:2] == ["list", "locks"]:
            out = locks
        elif args[:2] == ["cat", "lock"]:
            out = '{"time": "2026-01-15T01:00:00Z", "exclusive": false, "hostname": "x", "pid": 1}'
        elif args[0] == "snapshots":
            out = snaps
        elif args[0] == "forget":
            out = "[]"
        elif args[0] == "check" and "--no-lock" not in args:
            rc, err = 1, "unable to create lock in backend: permission denied\n"
        return Completed(tuple(argv), rc, out, err, 0.0)

    cfg = tmp_path / "b.yaml"
    cfg.write_text(
        "repositories:\n  - {name: ro, repo: /ro, password_file: pw}\n"
        "  - {name: locked, repo: /locked, password_file: pw}\n"
    )
    audit = backup_audit(cfg, now=NOW, runner=runner, version=ResticVersion(0, 14, 0))
    assert audit.repos["ro"].check is not None and audit.repos["ro"].check.ok
    assert audit.repos["locked"].check is None and audit.repos["locked"].check_gap == "locked"
    assert {f.detector for f in audit.findings if f.subject == "locked"} == {"lock_present"}
