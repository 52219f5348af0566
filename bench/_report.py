"""Write one benchmark's section into docs/benchmarks.md (between its own markers)."""

from __future__ import annotations

import os
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
    (stdout discarded with devnull).

    The process may cache Python bytecode even where the calling shell forbids it
    (PYTHONDONTWRITEBYTECODE), as an installed secaudit does: else every run would compile
    the package's sources again (~0.3 s for `secaudit detect`), which no user pays twice."""
    import subprocess
    import time

    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
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


CACHE_NOTE = (
    "Page cache: before the runs the input's cached pages are dropped and read back "
    "sequentially (`cache_as_read`), so every tool reads it as after a first read from disk "
    "(readahead caches it in large folios)."
)


def cache_as_read(path: Path) -> None:
    """Leave `path` in the page cache as a first sequential read from disk leaves it.

    A file this machine just wrote (the bench generators) sits in the cache in the 4 KiB
    pieces its small writes made, and mapping those costs about twice as much per byte
    as the large folios readahead makes; which state a run finds would otherwise depend on
    how the file got there.  Dropping its pages (clean after fsync) and reading it once
    makes every bench start from the same state, the common one for a capture on disk.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def copy_in_small_pages(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` with 4 KiB writes: the copy is cached in 4 KiB pages, the state
    of a capture that was just written by a small-write tool (for the contrast row)."""
    with src.open("rb") as fin, dst.open("wb", buffering=0) as fout:
        while block := fin.read(1 << 20):
            view = memoryview(block)
            for at in range(0, len(view), 4096):
                fout.write(view[at : at + 4096])


SAMPLE_PCAP = Path(__file__).resolve().parent.parent / "samples" / "pcaps" / "sample.pcap"


def warm_up(cmds: list[list[str]], pcap: Path) -> None:
    """Run each CLI command once on the bundled sample instead of `pcap`, unmeasured: the
    bytecode and numba caches it loads are then those of a user's second run."""
    for cmd in cmds:
        time_v([str(SAMPLE_PCAP) if a == str(pcap) else a for a in cmd], devnull=True)
