"""notebooks/50_backup_dr.ipynb runs headless with papermill (the way `secaudit assess` runs it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import papermill as pm
import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def test_backup_notebook_executes_and_saves_results(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("nb-pw\n")
    (tmp_path / "b.yaml").write_text(
        "repositories:\n  - {name: gone, repo: does-not-exist, password_file: pw}\n"
    )
    out = tmp_path / "out"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "50_backup_dr.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "backup_config": str(tmp_path / "b.yaml"),
            "now": "2026-01-15T12:00:00Z",
            "lang": "zh",
            "out_dir": str(out),
        },  # fmt: skip
        cwd=str(ROOT / "notebooks"),
        kernel_name="python3",
        progress_bar=False,
    )
    findings = json.loads((out / "findings.json").read_text())
    assert [f["detector"] for f in findings] == ["repository_missing"]
    assert "restore_drill_failed" in json.loads((out / "coverage.json").read_text())["detectors"]
    assert (out / "scorecard.csv").read_text().count("\n") == 2


def test_no_backup_input_is_a_gap_not_the_sample(tmp_path: Path) -> None:
    from secaudit.backup import report

    audit = report.audit_or_gap(None, "2026-01-15T12:00:00Z", tmp_path)
    assert audit.findings == [] and [g.kind for g in audit.gaps] == ["missing_input"]
    assert len(audit.scorecard) == 0 and len(audit.snapshots) == 0
    for fig in (report.timeline_figure(audit, "zh"), report.offsite_figure(audit, "en"),
                report.coverage_figure(audit, "en")):  # fmt: skip
        assert fig.axes
    report.save(audit, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "gaps.json").read_text())[0]["kind"] == "missing_input"
