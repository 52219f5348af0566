"""Write one benchmark's section into docs/benchmarks.md (between its own markers)."""

from __future__ import annotations

import platform
import re
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section is written by its script in `bench/`, which runs secaudit and the peer tools on the\n"
    "same input in the same run. Re-run with `make bench` (or one script) to refresh a section.\n\n"
)


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(name: str, markdown: str) -> Path:
    """Replace (or append) the section `name` in docs/benchmarks.md."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"<!-- bench:{name} -->\n{markdown.rstrip()}\n\n_Measured {stamp} on {machine()}._\n<!-- /bench:{name} -->\n"
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + block
    )
    DOC.write_text(text, encoding="utf-8")
    return DOC


def _usage(stderr: str) -> tuple[float, float]:
    """(CPU s, peak RSS MB) from GNU time -v output."""
    cpu = rss = 0.0
    for line in stderr.splitlines():
        key, _, val = line.strip().rpartition(":")
        if key in ("User time (seconds)", "System time (seconds)"):
            cpu += float(val)
        elif key == "Maximum resident set size (kbytes)":
            rss = float(val) / 1024.0
    return cpu, rss


def time_v(
    cmd: list[str], env: dict[str, str] | None = None, devnull: bool = False
) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, stdout) of a fresh process, from GNU time -v
    (stdout discarded with devnull)."""
    import os
    import subprocess
    import time

    t = time.perf_counter()
    with open(os.devnull, "w") as sink:
        p = subprocess.run(
            ["/usr/bin/time", "-v", *cmd],
            stdout=sink if devnull else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            check=False,
        )
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-400:]}")
    cpu, rss = _usage(p.stderr)
    return wall, cpu, rss, p.stdout or ""
