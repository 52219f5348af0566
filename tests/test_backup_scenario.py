"""The restic scenario corpus measured field by field against expected.json (not just verdicts)."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest
from conftest import CORPUS, need_shared

import secaudit as sa

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")

FAST = ["healthy", "offsite", "stale", "retention-gap", "multihost", "locked", "wrong-password",
        "missing"]  # fmt: skip


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, sa.BackupAudit]:
    need_shared()
    scen = CORPUS / "restic" / "scenario"
    exp = json.loads((scen / "expected.json").read_text())
    work = tmp_path_factory.mktemp("scenario")
    (work / "pw").write_text(exp["_meta"]["password"] + "\n")
    pol = exp["_meta"]["policy"]
    lines = ["defaults:", f"  max_age_hours: {pol['max_age_hours']}",
             f"  keep: {{daily: {pol['keep_daily']}}}",
             f"  offsite_max_lag_snapshots: {pol['offsite_max_lag_snapshots']}",
             "  check: {read_data: true}", "repositories:"]  # fmt: skip
    for name in FAST:
        r = exp["repos"][name]
        if r.get("tarball"):
            with tarfile.open(scen / r["tarball"]) as tf:
                tf.extractall(work / name, filter="data")
        lines += [f"  - name: {name}", f"    repo: {work / name / 'repo'}", "    password_file: pw"]
        if r.get("copy_of"):
            lines.append(f"    offsite_of: {r['copy_of']}")
    (work / "b.yaml").write_text("\n".join(lines) + "\n")
    return exp, sa.backup_audit(work / "b.yaml", now=exp["_meta"]["audit_now"])


def test_snapshot_counts_groups_and_ages(scenario: tuple[dict, sa.BackupAudit]) -> None:
    exp, audit = scenario
    card = audit.scorecard
    for name in FAST:
        r = exp["repos"][name]
        snaps = audit.snapshots[audit.snapshots.repo == name]
        assert len(snaps) == (r.get("snapshot_count") or 0), name
        for g in r.get("groups", []):
            key = f"{g['host']}|{','.join(g['paths'])}"
            row = card[(card.repo == name) & (card.group == key)].iloc[0]
            assert row["snapshots"] == g["count"]
            assert row["age_hours"] == pytest.approx(g["newest_age_hours_at_audit_now"])
            assert (not row["fresh"]) == (key in r["stale_groups"])


def test_retention_missing_days_match(scenario: tuple[dict, sa.BackupAudit]) -> None:
    exp, audit = scenario
    got = {(f.subject, f.evidence["group"]): f.evidence["missing_periods"].get("daily", [])
           for f in audit.findings if f.detector == "retention_violation"}  # fmt: skip
    for name in FAST:
        for key, days in exp["repos"][name].get("retention_missing_days_last7", {}).items():
            assert got.get((name, key), []) == days, (name, key)


def test_offsite_lag_and_pruned_sources(scenario: tuple[dict, sa.BackupAudit]) -> None:
    exp, audit = scenario
    r = exp["repos"]["offsite"]
    row = audit.offsite.set_index("repo").loc["offsite"]
    assert row["missing"] == r["copy_lag_snapshots"]
    assert row["orphaned"] == r["offsite_originals_pruned_from_source"]
    [f] = [f for f in audit.findings if f.detector == "offsite_copy_lagging"]
    assert [s["time"] for s in f.evidence["missing_snapshots"]] == r[
        "source_snapshots_missing_offsite"
    ]


def test_locks_and_access(scenario: tuple[dict, sa.BackupAudit]) -> None:
    exp, audit = scenario
    for name in FAST:
        lk = exp["repos"][name].get("list_locks_no_lock") or {}
        if lk.get("count") is not None:
            assert len(audit.repos[name].locks) == lk["count"], name
    assert audit.repos["locked"].check is None and audit.repos["locked"].check_gap == "locked"
    assert not audit.repos["wrong-password"].opened and not audit.repos["missing"].opened
