"""Malformed assessment configs: one line naming file:line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from secaudit.cli import root

GOOD = """organisation: {zh: 单位, en: Org}
scope: {zh: 范围, en: Scope}
period: {start: 2026-11-20T09:00:00Z, end: 2026-11-20T09:30:00Z}
inputs:
  pcaps: [a.pcap]
"""


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        (GOOD + "language: fr\n", 6, "language"),
        (GOOD + "fail_on: severe\n", 6, "fail_on"),
        (GOOD + "  pcap_files: [b.pcap]\n", 6, "unknown key"),
        (GOOD.replace("scope: {zh: 范围, en: Scope}\n", ""), 1, "scope"),
        (GOOD + "inputs2: [\n", 7, "YAML syntax error"),
        (GOOD.replace("end: 2026-11-20T09:30:00Z", "end: yesterday"), 3, "period.end"),
        (GOOD + "output: {pdf: maybe}\n", 6, "output.pdf"),
    ],
)
def test_malformed_config_is_one_line_with_file_and_line(
    tmp_path: Path, text: str, line: int, what: str
) -> None:
    cfg = tmp_path / "assess.yaml"
    cfg.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(root, ["assess", str(cfg), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert f"{cfg}:{line}" in lines[0] and what in lines[0]
    assert not (tmp_path / "out").exists()


def test_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        root, ["assess", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "nope.yaml" in result.output and "not found" in result.output
