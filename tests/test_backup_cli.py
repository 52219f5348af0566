"""`secaudit backup` CLI contract and the zh/en catalog of every backup detector."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from secaudit.backup.policy import SEVERITIES
from secaudit.cli import root

CATALOG = Path(__file__).resolve().parent.parent / "secaudit" / "catalog"


def test_every_detector_has_title_and_remediation_in_both_languages() -> None:
    for lang in ("en", "zh"):
        cat = yaml.safe_load((CATALOG / lang / "backup.yaml").read_text(encoding="utf-8"))
        for det in SEVERITIES:
            assert cat.get(f"finding.{det}.title"), (lang, det)
            assert cat.get(f"finding.{det}.remediation"), (lang, det)


def test_config_error_exits_2_with_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "backup.yaml"
    cfg.write_text("repositories:\n  - name: a\n    repo: /x\n    password_file: p\n    keep: 7\n")
    res = CliRunner().invoke(root, ["backup", "audit", str(cfg), "-o", str(tmp_path / "f.json")])
    assert res.exit_code == 2
    assert f"{cfg}:5" in res.output and "keep" in res.output


def test_missing_restic_binary_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "backup.yaml"
    cfg.write_text(
        "restic: {binary: /nonexistent/restic}\n"
        "repositories:\n  - {name: a, repo: /x, password_file: p}\n"
    )
    res = CliRunner().invoke(root, ["backup", "audit", str(cfg), "-o", str(tmp_path / "f.json")])
    assert res.exit_code == 2 and "restic" in res.output
    assert not (tmp_path / "f.json").exists()


def test_bad_now_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "backup.yaml"
    cfg.write_text("repositories:\n  - {name: a, repo: /x, password_file: p}\n")
    res = CliRunner().invoke(
        root, ["backup", "audit", str(cfg), "--now", "yesterday", "-o", str(tmp_path / "f.json")]
    )
    assert res.exit_code == 2 and "--now" in res.output
