"""Run every benchmark in bench/ one after another (each refreshes its docs/benchmarks.md section).

Benchmarks compete for the CPU, so they run serially; a failing one is reported
and the rest still run.  Exit status 1 when any failed.

    .venv/bin/python bench/run_all.py [NAME ...]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["flows", "links", "detect", "signatures", "exposure", "backup", "assess"]


def main(argv: list[str]) -> int:
    names = argv or [n for n in ORDER if (HERE / f"{n}.py").exists()]
    failed = []
    for name in names:
        started = time.perf_counter()
        print(f"== bench/{name}.py", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(
            f"== bench/{name}.py exit {rc} after {time.perf_counter() - started:.0f} s", flush=True
        )
        if rc != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
