"""The shared scorer on the restic scenario corpus: every repository's verdicts, no leaked secret."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, TOOLS, need_shared

pytestmark = pytest.mark.skipif(shutil.which("restic") is None, reason="restic is not installed")


def test_score_backup_all_pass(tmp_path: Path) -> None:
    need_shared()
    secaudit = Path(sys.executable).parent / "secaudit"
    p = subprocess.run(  # noqa: S603
        [sys.executable, str(TOOLS / "score_backup.py"),
         "--scenario", str(CORPUS / "restic" / "scenario"), "--keep", str(tmp_path),
         "--cmd", f"{secaudit} backup audit {{config}} --now {{now}} -o {{out}}"],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    last = p.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"backup: (\d+) passed, (\d+) failed", last)
    assert m, p.stdout + p.stderr
    assert int(m.group(2)) == 0 and int(m.group(1)) >= 10, p.stdout
