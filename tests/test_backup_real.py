"""Real restic, no mocks: repositories built in tmp (backdated with --time), then audited."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import ModuleType

import pytest
from conftest import DATA, ROOT

import secaudit as sa

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")

NOW = "2026-01-15T12:00:00Z"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sample_backup_build", ROOT / "samples/backup/build.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


B = _builder()


def detectors(audit: sa.BackupAudit, repo: str) -> set[str]:
    return {f.detector for f in audit.findings if f.subject == repo}


def test_sample_repositories_give_the_demo_verdicts(tmp_path: Path) -> None:
    config = B.build_sample_repos(tmp_path / "demo", NOW)
    audit = sa.backup_audit(config, now=NOW, state=tmp_path / "state.json")
    assert detectors(audit, "files-local") == set()  # fresh, complete, checked, drilled
    assert detectors(audit, "files-offsite") >= {"offsite_copy_lagging", "stale_backup"}
    assert detectors(audit, "db-local") == {"stale_backup", "retention_violation"}
    arch = detectors(audit, "archive")
    assert {"integrity_check_failed_read_data", "restore_drill_failed"} <= arch
    assert "stale_backup" not in arch
    # `group` is the grouping key (host|paths, as the scenario corpus names groups);
    # `label` is how a reader names it (host:paths), printed by the CLI
    labels = audit.scorecard["label"].dropna()
    assert len(labels) and all(":" in g and "|" not in g for g in labels), list(labels)
    card = audit.scorecard.set_index(["repo", "group"])
    share = [g for r, g in card.index if r == "files-local" and g.endswith("share")][0]
    row = card.loc[("files-local", share)]
    assert row["fresh"] and row["checked"] and row["drilled"] and row["status"] == "amber"
    assert set(audit.scorecard[audit.scorecard.repo == "archive"].status) == {"red"}
    assert len(audit.snapshots) == int(audit.scorecard.snapshots.sum())
    # coverage ledger: full reads recorded for every checked repository
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["repositories"]["files-local"]["reads"][0]["mode"] == "full"
    assert audit.coverage.set_index("repo").loc["files-local", "coverage_30d"] == 1.0


def _stale_lock(repo: Path, pw: Path) -> None:
    """A lock left by a killed `restic backup --stdin`, as in the scenario corpus."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update({"RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(pw)})
    p = subprocess.Popen(["restic", "--no-cache", "backup", "--stdin", "--host", "mail01"],  # noqa: S607
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        assert p.stdin is not None
        p.stdin.write(b"partial mail spool\n")
        p.stdin.flush()
        for _ in range(100):
            if _lock_files(repo):
                break
            time.sleep(0.1)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert _lock_files(repo), "restic did not create its lock"


def _lock_files(repo: Path) -> list[Path]:
    """Finished lock files: the local backend writes `<id>-tmp-*` first and renames it, and
    `restic list locks` ignores a temporary file left by a kill before the rename."""
    return [f for f in (repo / "locks").iterdir() if re.fullmatch(r"[0-9a-f]{64}", f.name)]


def test_lock_wrong_password_missing_and_no_secret_anywhere(tmp_path: Path) -> None:
    secret = "audit-secret-Pw-4711"
    env_secret = "env-secret-Pw-0815"
    pw = tmp_path / "audit.pw"
    pw.write_text(secret + "\n")
    other = tmp_path / "other.pw"
    other.write_text("nobody-configured-this\n")
    repos = tmp_path / "repos"
    src = tmp_path / "src"
    from datetime import datetime, timedelta

    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    B.restic_cmd(repos / "locked", pw, ["init"])
    B.backup_at(repos / "locked", pw, src / "maildir", "mail01", now - timedelta(hours=5))
    _stale_lock(repos / "locked", pw)
    B.restic_cmd(repos / "wrongpw", other, ["init"])
    envpw = tmp_path / "envpw.pw"
    envpw.write_text(env_secret + "\n")
    B.restic_cmd(repos / "viaenv", envpw, ["init"])
    B.backup_at(repos / "viaenv", envpw, src / "www", "web01", now - timedelta(hours=1))
    config = tmp_path / "backup.yaml"
    config.write_text(
        "defaults: {max_age_hours: 36, check: {read_data: true}}\n"
        "repositories:\n"
        "  - {name: locked, repo: repos/locked, password_file: audit.pw}\n"
        "  - {name: wrongpw, repo: repos/wrongpw, password_file: audit.pw}\n"
        "  - {name: missing, repo: repos/does-not-exist, password_file: audit.pw}\n"
        f"  - {{name: viaenv, repo: repos/viaenv, password_env: SA_TEST_PW}}\n"
        f"  - {{name: viacmd, repo: repos/locked, password_command: 'cat {pw}'}}\n"
    )
    out = tmp_path / "out"
    cli = [str(Path(sys.executable).parent / "secaudit")]
    env = {**os.environ, "SA_TEST_PW": env_secret}
    p = subprocess.run([*cli, "backup", "audit", str(config), "--now", NOW,  # noqa: S603
                        "-o", str(out / "findings.json"), "--fail-on", "high"],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                       timeout=300)  # fmt: skip
    assert p.returncode == 1, p.stderr  # high findings present
    findings = json.loads((out / "findings.json").read_text())
    got: dict[str, set[str]] = {}
    for f in findings:
        got.setdefault(f["subject"], set()).add(f["detector"])
    assert got["locked"] == {"lock_present"}  # never "integrity failed", never clean
    assert got["wrongpw"] == {"repository_access_denied"}
    assert got["missing"] == {"repository_missing"}
    assert "viaenv" not in got  # opened through the env password, fresh and clean
    gaps = json.loads((out / "backup_gaps.json").read_text())
    assert any(g["source"] == "locked" and g["kind"] == "not_checked" for g in gaps)
    assert any(g["source"] == "wrongpw" and g["kind"] == "unreadable" for g in gaps)
    # the secrets appear nowhere: stdout, stderr, findings, gaps, scorecard, ledger
    blobs = [p.stdout, p.stderr] + [f.read_text(errors="replace") for f in out.iterdir()]
    for s in (secret, env_secret):
        assert not any(s in b for b in blobs)
    assert "wrongpw" in p.stdout


def test_upstream_edge_case_repositories_match_restic(tmp_path: Path) -> None:
    up = DATA / "backup" / "upstream"
    outcomes = json.loads((up / "outcomes_restic_0.14.json").read_text())
    names = [n for n, v in outcomes.items() if not n.startswith("_") and v.get("is_repository")]
    (tmp_path / "pw").write_text("geheim\n")
    lines = ["defaults: {max_age_hours: 1000000, check: {read_data: true}}", "repositories:"]
    for n in names:
        dest = tmp_path / n.removesuffix(".tar.gz")
        with tarfile.open(up / n) as tf:
            tf.extractall(dest, filter="data")
        lines.append(f"  - {{name: {dest.name}, repo: {dest / 'repo'}, password_file: pw}}")
    (tmp_path / "b.yaml").write_text("\n".join(lines) + "\n")
    audit = sa.backup_audit(tmp_path / "b.yaml", now="2026-01-15T00:00:00Z")
    counts = audit.snapshots.groupby("repo").size().to_dict()
    for n in names:
        name = n.removesuffix(".tar.gz")
        o = outcomes[n]
        d = detectors(audit, name)
        assert ("integrity_check_failed" in d) == (o["check"]["exit_code"] != 0), name
        assert ("integrity_check_failed_read_data" in d) == (
            o["check_read_data"]["exit_code"] != 0
        ), name
        assert counts.get(name, 0) == o["snapshots_json"]["snapshot_count"], name


def test_drill_probe_checksum_empty_repo_and_asset_coverage(tmp_path: Path) -> None:
    import hashlib
    from datetime import datetime, timedelta

    pw = tmp_path / "pw"
    pw.write_text("drill-pw\n")
    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    www = tmp_path / "src" / "www"
    B.restic_cmd(tmp_path / "web", pw, ["init"])
    B.backup_at(tmp_path / "web", pw, www, "web01", now - timedelta(hours=2))
    B.restic_cmd(tmp_path / "empty", pw, ["init"])
    good = hashlib.sha256((www / "daily.txt").read_bytes()).hexdigest()
    bad = "0" * 64
    probe = f'{{host: web01, path: "{www}", file: "{www / "daily.txt"}"'
    (tmp_path / "b.yaml").write_text(
        "defaults: {max_age_hours: 36}\n"
        "assets:\n  - {name: web01, role: server}\n  - {name: db09, role: server}\n"
        "  - {name: pc7, role: workstation}\n"
        "repositories:\n"
        f"  - {{name: ok, repo: web, password_file: pw, drill: {probe}, sha256: {good}}}}}\n"
        f"  - {{name: badsum, repo: web, password_file: pw, drill: {probe}, sha256: '{bad}'}}}}\n"
        "  - {name: nohost, repo: web, password_file: pw, drill: {host: web99, path: /srv}}\n"
        "  - {name: empty, repo: empty, password_file: pw}\n"
    )
    audit = sa.backup_audit(tmp_path / "b.yaml", now=NOW)
    assert detectors(audit, "ok") == set()
    assert detectors(audit, "badsum") == {"restore_drill_failed"}
    assert detectors(audit, "nohost") == {"restore_drill_failed"}
    assert detectors(audit, "empty") == {"repository_empty"}
    assert detectors(audit, "db09") == {"missing_backup"}
    assert detectors(audit, "web01") == {"system_backup_missing"}  # only /…/www is backed up
    assert detectors(audit, "pc7") == set()
    drill = audit.drills.set_index("repo").loc["ok"]
    assert drill["ok"] and drill["files"] == 3 and drill["seconds"] > 0


@pytest.mark.parametrize("ledger_name", ["history.duckdb", "state.json"])
def test_read_data_subset_rotates_through_the_ledger(tmp_path: Path, ledger_name: str) -> None:
    from datetime import datetime, timedelta

    pw = tmp_path / "pw"
    pw.write_text("subset-pw\n")
    now = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
    B.restic_cmd(tmp_path / "r", pw, ["init"])
    B.backup_at(tmp_path / "r", pw, tmp_path / "src" / "d", "h1", now - timedelta(hours=1))
    (tmp_path / "b.yaml").write_text(
        "defaults: {check: {read_data_subset: '1/3'}}\n"
        "repositories:\n  - {name: r, repo: r, password_file: pw}\n"
    )
    state = tmp_path / ledger_name
    seen = []
    for day in range(3):
        at = (now + timedelta(days=day)).isoformat()
        audit = sa.backup_audit(tmp_path / "b.yaml", now=at, state=state)
        row = audit.coverage.set_index("repo").loc["r"]
        seen.append((row["read_subset"], round(float(row["coverage_30d"]), 3)))
    assert seen == [("1/3", 0.333), ("2/3", 0.667), ("3/3", 1.0)]


def test_wrapper_reads_config_stats_ls_dump_of_a_real_repository(tmp_path: Path) -> None:
    import hashlib
    from datetime import datetime

    from secaudit.backup.restic import RepoAccess, Restic, WrongPassword

    pw = tmp_path / "pw"
    pw.write_text("wrapper-pw\n")
    src = tmp_path / "src" / "d"
    B.restic_cmd(tmp_path / "r", pw, ["init"])
    B.backup_at(tmp_path / "r", pw, src, "h1", datetime(2026, 1, 14, 23, 30))
    r = Restic(RepoAccess("r", str(tmp_path / "r"), password_file=str(pw)))
    assert r.config()["version"] == 2  # 0.14 `init` makes format v2
    assert r.stats("restore-size")["snapshots_count"] == 1
    assert r.stats("raw-data")["total_size"] > 0
    [snap] = r.snapshots()
    assert snap.time.isoformat() == "2026-01-14T23:30:00+00:00"  # --time read as UTC
    files = {n.path: n.size for n in r.ls(snap.id) if n.type == "file"}
    daily = str(src / "daily.txt")
    assert files[daily] == (src / "daily.txt").stat().st_size
    digest, size = r.dump_sha256(snap.id, daily)
    assert digest == hashlib.sha256((src / "daily.txt").read_bytes()).hexdigest()
    wrong = tmp_path / "wrong"
    wrong.write_text("not-it\n")
    with pytest.raises(WrongPassword) as info:
        Restic(RepoAccess("r", str(tmp_path / "r"), password_file=str(wrong))).snapshots()
    assert info.value.repo == "r" and "not-it" not in str(info.value)
