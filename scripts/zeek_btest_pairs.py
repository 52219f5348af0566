#!/usr/bin/env python3
"""Collect (trace, conn.log) pairs from a Zeek source checkout for checking `secaudit flows`.

The dev corpus (../shared/corpus/zeek-conn) holds 78 of Zeek's btest baselines; Zeek's
repository has more.  This writes every other test that reads one trace with one plain
`zeek [-b] [-C] -r $TRACES/...` run and commits a `#path conn` baseline into OUT, one
directory per trace in the corpus layout (trace, conn.log, meta.json), so that

    python3 ../shared/tools/score_flows.py --corpus OUT \\
        --cmd '.venv/bin/secaudit flows {flags} -r {pcap} -l {outdir} --quiet'

scores them too.  A development aid (it needs a Zeek checkout, e.g. the `fetch` tool's
mirror: `git -C` is run on it, no work tree needed); nothing in the test suite uses it.
Tests whose scripts change what Zeek logs (packet filters, analyzer limits) are not
excluded automatically: read a failure's test script before treating it as a bug.

    python3 scripts/zeek_btest_pairs.py ZEEK_GIT_DIR OUT [--dev ../shared/corpus/zeek-conn]
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

_EXT = ("", ".zeek", ".test", ".bro", ".sh")


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def _test_file(name: str, files: set[str]) -> str | None:
    """testing/btest/<a>/<b>/<c>[.ext] for baseline directory a.b.c (names may hold dots)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        stem = "testing/btest/" + "/".join(parts[:k])
        if k < len(parts):
            stem += "." + ".".join(parts[k:])
        for ext in _EXT:
            if stem + ext in files:
                return stem + ext
    return None


def _zeek_run(text: str) -> tuple[str, list[str]] | None:
    """(trace path under Traces/, flags) of the test's single plain zeek run, else None."""
    execs = [
        ln.split("@TEST-EXEC:", 1)[1].strip() for ln in text.splitlines() if "@TEST-EXEC:" in ln
    ]
    runs = [e for e in execs if re.match(r"zeek\b", e) and " -r " in e]
    if len(runs) != 1 or "|" in runs[0]:
        return None
    try:
        toks = shlex.split(runs[0])
    except ValueError:
        return None
    trace, flags, i = None, [], 1
    while i < len(toks):
        if toks[i] == "-r" and i + 1 < len(toks):
            trace, i = toks[i + 1], i + 2
            continue
        if toks[i] in ("-b", "-C"):
            flags.append(toks[i])
        elif toks[i].startswith("-"):
            return None
        i += 1
    if not trace or not trace.startswith("$TRACES/"):
        return None
    return trace[len("$TRACES/") :], flags


def collect(repo: Path, out: Path, dev: Path | None) -> int:
    files = set(
        _git(repo, "ls-tree", "-r", "--name-only", "HEAD", "testing/btest").decode().split("\n")
    )
    known = set()
    if dev is not None:
        known = {json.loads(m.read_text())["trace"] for m in dev.glob("*/meta.json")}
    n = 0
    for base in sorted(
        f for f in files if f.startswith("testing/btest/Baseline/") and f.endswith("/conn.log")
    ):
        name = base.split("/")[3]
        test = _test_file(name, files)
        if test is None:
            continue
        text = _git(repo, "show", f"HEAD:{test}").decode("utf-8", "replace")
        if "@TEST-START-NEXT" in text or "redef Conn" in text:
            continue
        run = _zeek_run(text)
        if run is None:
            continue
        rel, flags = run
        trace = "testing/btest/Traces/" + rel
        if trace in known or trace not in files:
            continue
        baseline = _git(repo, "show", f"HEAD:{base}")
        if b"#path\tconn" not in baseline:
            continue
        known.add(trace)
        d = out / re.sub(r"[^A-Za-z0-9]+", "_", rel.rsplit(".", 1)[0])
        d.mkdir(parents=True, exist_ok=True)
        (d / Path(rel).name).write_bytes(_git(repo, "show", f"HEAD:{trace}"))
        (d / "conn.log").write_bytes(baseline)
        cols = next(
            (
                ln.split("\t")[1:]
                for ln in baseline.decode().splitlines()
                if ln.startswith("#fields")
            ),
            [],
        )
        meta = {
            "name": d.name, "btest": name, "btest_file": test, "trace": trace,
            "trace_file": Path(rel).name, "zeek_flags": flags, "columns": cols,
            "ts_masked": b"XXXXXXXXXX" in baseline, "service_reliable": False,
        }  # fmt: skip
        (d / "meta.json").write_text(json.dumps(meta, indent=1))
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zeek", type=Path, help="Zeek git directory (a bare mirror will do)")
    ap.add_argument("out", type=Path, help="corpus directory to write")
    here = Path(__file__).resolve().parents[1]
    ap.add_argument("--dev", type=Path, default=here.parent / "shared" / "corpus" / "zeek-conn")
    args = ap.parse_args()
    dev = args.dev if args.dev.is_dir() else None
    n = collect(args.zeek, args.out, dev)
    print(f"{n} pairs written to {args.out}")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
