"""Time `secaudit assess` on the bundled sample (per stage), cold and warm; write docs/benchmarks.md.

    .venv/bin/python bench/assess.py

Cold = a fresh output folder (the sample's restic repositories are built, numba caches are
whatever the machine has); warm = the same folder again (history has one run).  The target is
< 60 s for the whole job on the sample.
"""

from __future__ import annotations

import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from secaudit.report.assess import assess  # noqa: E402

STAGES = [
    "config",
    "inputs",
    "notebooks",
    "collect",
    "verdicts",
    "history",
    "exports",
    "html",
    "pdf",
]


def _cpu() -> float:
    """User+system CPU seconds of this process and its finished children (kernels, chromium)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    out = ROOT / "bench" / "out" / "assess"
    shutil.rmtree(out, ignore_errors=True)
    runs = []
    cpu = []
    for label in ("cold", "warm"):
        t0, c0 = time.perf_counter(), _cpu()
        res = assess(
            ROOT / "samples" / "assessment.yaml", out, log=lambda m: print(m, file=sys.stderr)
        )
        runs.append((label, time.perf_counter() - t0, res))
        cpu.append(_cpu() - c0)
    notebooks = sorted((out / "notebooks").glob("*.ipynb"))
    head = "| stage | " + " | ".join(label for label, _, _ in runs) + " |"
    lines = [
        "## assess: `secaudit assess samples/assessment.yaml -o OUT` (both languages, HTML + PDF)",
        "",
        f"Notebooks run: {', '.join(p.stem for p in notebooks) or 'none'} (2 kernels at once). "
        f"Findings: {len(runs[-1][2].findings)}, gaps: {len(runs[-1][2].gaps)}, "
        f"controls tested: {sum(v.verdict != 'not_tested' for v in runs[-1][2].verdicts)}/{len(runs[-1][2].verdicts)}.",
        "",
        head,
        "|---|" + "---:|" * len(runs),
    ]
    for stage in STAGES:
        lines.append(
            f"| {stage} | "
            + " | ".join(f"{r.timings.get(stage, 0):.2f} s" for _, _, r in runs)
            + " |"
        )
    lines.append(
        "| **total (wall)** | " + " | ".join(f"**{total:.1f} s**" for _, total, _ in runs) + " |"
    )
    lines.append(
        "| CPU time (this process + kernels + chromium) | "
        + " | ".join(f"{c:.1f} s" for c in cpu)
        + " |"
    )
    lines += [
        "",
        "Target: < 60 s on the sample. `inputs` includes building the sample's restic repositories on the "
        "cold run; `notebooks` is papermill kernel start-up plus each area's analysis; `pdf` is two headless "
        "Chromium prints (zh, en).",
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs share "
        "the machine; wall times above that load are inflated - the CPU time row is the job's own cost).",
    ]
    md = "\n".join(lines)
    write_section("assess", md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
