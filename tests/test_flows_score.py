"""The Zeek conn.log scorer on the whole dev corpus must stay above issue 3's bar.

Runs ../shared/tools/score_flows.py against `secaudit flows` (the real CLI, one
process per trace) and parses its summary: at least 95 % of the traces pass
and at least 99 % of matched records agree on conn_state, history,
orig/resp_bytes and orig/resp_pkts.  Skipped when ../shared is absent.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, TOOLS, need_shared

PASS_RATE = 0.95
FIELD_AGREEMENT = 99.0
FIELDS = ("conn_state", "history", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts")


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.timeout(1800)
def test_score_flows_on_dev_corpus(tmp_path: Path) -> None:
    need_shared()
    exe = ROOT / ".venv" / "bin" / "secaudit"
    if not exe.exists():
        exe = Path(sys.executable).with_name("secaudit")
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    # compile (or load) the kernels once, before parallel runs race to fill the cache
    warm = next((CORPUS / "zeek-conn").glob("*/*.pcap"))
    subprocess.run(
        [str(exe), "flows", "-r", str(warm), "-l", str(tmp_path / "warm"), "--quiet"],
        env=env,
        check=True,
        timeout=600,
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(TOOLS / "score_flows.py"),
            "--cmd",
            f"{exe} flows {{flags}} -r {{pcap}} -l {{outdir}} --quiet",
            "--jobs",
            "2",
            "--timeout",
            "300",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    out = proc.stdout
    m = re.search(r"^flows: (\d+) passed, (\d+) failed$", out, re.M)
    assert m, out[-2000:] + proc.stderr[-2000:]
    passed, failed = int(m.group(1)), int(m.group(2))
    assert passed + failed > 0
    assert passed / (passed + failed) >= PASS_RATE, out
    for field in FIELDS:
        fm = re.search(rf"^\s+{field}\s+([\d.]+)%", out, re.M)
        assert fm, f"no agreement line for {field}:\n{out}"
        assert float(fm.group(1)) >= FIELD_AGREEMENT, f"{field} {fm.group(1)}%\n{out}"
