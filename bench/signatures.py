"""Signature engine benchmark: pattern search over the bench pcap's payloads, rule loading, full engine.

One run, peers side by side (each in its own process, peak RSS from the OS):
  * secaudit prefilter (hyperscan, patterns escaped per byte) with 1,000 and 10,000 content rules
  * pyahocorasick and yara-python on the same patterns (pattern search alone)
  * a plain-Python loop (`pattern in payload`) on a sample, extrapolated
  * rule loading: 10,000 rules cold (empty cache) and cached
  * the full engine (flows, reassembly, app layer, all rules) on the first N packets

    .venv/bin/python bench/signatures.py [--packets 2000000] [--engine-packets 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402

MAKE = ROOT.parent / "shared" / "tools" / "make_bench_pcap.py"
OUT = ROOT / "bench" / "out"
PY = sys.executable

COMMON = r"""
import json, os, random, resource, sys, time
import numpy as np
from secaudit.capture import iter_chunks

def payloads(path, limit):
    out = []
    for ch in iter_chunks(path):
        p = ch.packets
        d = ch.data
        off = (p["data_off"] + p["payload_off"]).astype(np.int64)
        ln = np.minimum(p["payload_len"].astype(np.int64), p["caplen"].astype(np.int64) - p["payload_off"].astype(np.int64))
        mb = memoryview(d)
        for o, n in zip(off.tolist(), ln.tolist()):
            if n > 0:
                out.append(bytes(mb[o:o + n]))
        if len(out) >= limit:
            break
    return out[:limit]

def patterns(pl, n, seed=7):
    rnd = random.Random(seed)
    pats = set()
    # a tenth taken from real payloads (hits), the rest random 8-byte strings (mostly misses)
    while len(pats) < n:
        if len(pats) < n // 10 and pl:
            p = rnd.choice(pl)
            if len(p) >= 16:
                i = rnd.randrange(len(p) - 8)
                pats.add(p[i:i + 8])
                continue
        pats.add(bytes(rnd.randrange(256) for _ in range(8)))
    return sorted(pats)

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
"""

SEARCH = (
    COMMON
    + r"""
mode, path, n, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
pl = payloads(path, limit)
pats = patterns(pl, n)
total = sum(len(p) for p in pl)
hits = 0
if mode == "secaudit":
    from secaudit.signatures.rule import parse_rule
    from secaudit.signatures.compile import compile_rule, Vars
    from secaudit.signatures.prefilter import Prefilter
    sigs = [compile_rule(parse_rule('alert tcp any any -> any any (content:"|%s|"; sid:%d;)' % (p.hex(), i + 1)), Vars(), i) for i, p in enumerate(pats)]
    pf = Prefilter.build(sigs)
    t = time.perf_counter()
    for b in pl:
        hits += len(pf.hits(b))
    s = time.perf_counter() - t
elif mode == "ahocorasick":
    import ahocorasick
    a = ahocorasick.Automaton()
    for i, p in enumerate(pats):
        a.add_word(p.decode("latin-1"), i)
    a.make_automaton()
    t = time.perf_counter()
    for b in pl:
        hits += len({v for _e, v in a.iter(b.decode("latin-1"))})
    s = time.perf_counter() - t
elif mode == "yara":
    import yara
    src = "rule r { strings: " + " ".join("$s%d = { %s }" % (i, p.hex(" ")) for i, p in enumerate(pats)) + " condition: any of them }"
    rules = yara.compile(source=src)
    t = time.perf_counter()
    for b in pl:
        hits += len(rules.match(data=b))
    s = time.perf_counter() - t
else:  # python loop on a sample, extrapolated to all payloads
    sample = pl[: max(1, len(pl) // 200)]
    st = sum(len(p) for p in sample)
    t = time.perf_counter()
    for b in sample:
        for p in pats:
            if p in b:
                hits += 1
    s = (time.perf_counter() - t) * (total / max(st, 1))
print(json.dumps({"mode": mode, "rules": n, "payloads": len(pl), "mb": total / 1e6, "s": s, "mbps": total / 1e6 / s, "hits": hits, "rss_mb": rss()}))
"""
)

LOAD = (
    COMMON
    + r"""
path, n = sys.argv[1], int(sys.argv[2])
import random
rnd = random.Random(3)
rules = path + ".rules"
with open(rules, "w") as f:
    for i in range(n):
        f.write('alert tcp any any -> any any (msg:"gen %d"; content:"|%s|"; sid:%d; rev:1;)\n' % (i, bytes(rnd.randrange(256) for _ in range(8)).hex(), i + 1))
from secaudit.signatures.api import load_rules
from secaudit.signatures.prefilter import Prefilter
t = time.perf_counter()
rs = load_rules(rules)
Prefilter.build(rs.sigs)
print(json.dumps({"rules": len(rs.sigs), "s": time.perf_counter() - t, "rss_mb": rss()}))
"""
)

ENGINE = (
    COMMON
    + r"""
path, limit, rules = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from secaudit.signatures.api import load_rules
from secaudit.signatures.engine import Engine, frames_of
from secaudit.signatures.prefilter import Prefilter
rs = load_rules(rules)
e = Engine(rs.sigs, Prefilter.build(rs.sigs), checksum="none")
t = time.perf_counter()
n = 0
for fr, lt, ts in frames_of(path):
    e.feed(fr, lt, ts)
    n += 1
    if n >= limit:
        break
e.finish()
s = time.perf_counter() - t
pay = sum(len(f.streams[0].data) + len(f.streams[1].data) for f in e.all_flows)
print(json.dumps({"packets": n, "s": s, "pps": n / s, "stream_mb": pay / 1e6, "alerts": len(e.alerts), "rss_mb": rss()}))
"""
)


def _run(code: str, *args: str, env: dict[str, str] | None = None) -> dict[str, float]:
    r = subprocess.run(
        [PY, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    if r.returncode != 0:
        raise SystemExit(f"bench step failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--engine-packets", type=int, default=50_000)
    ap.add_argument(
        "--search-payloads", type=int, default=400_000, help="payloads used for pattern search"
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    pcap = OUT / f"bench{args.packets}.pcap"
    if not pcap.exists():
        subprocess.run([PY, str(MAKE), "--packets", str(args.packets), "-o", str(pcap)], check=True)
    rows = []
    for n in (1000, 10000):
        for mode in ("secaudit", "ahocorasick", "yara", "python"):
            r = _run(SEARCH, mode, str(pcap), str(n), str(args.search_payloads))
            rows.append(r)
            print(r, flush=True)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SECAUDIT_CACHE=cache)
        cold = _run(LOAD, str(OUT / "load"), "10000", env=env)
        warm = _run(LOAD, str(OUT / "load"), "10000", env=env)
    eng = _run(ENGINE, str(pcap), str(args.engine_packets), str(ROOT / "rules" / "signatures"))
    print(cold, warm, eng, flush=True)
    lines = [
        f"Pattern search over the first {rows[0]['payloads']:,} non-empty payloads "
        f"({rows[0]['mb']:.1f} MB) of `make_bench_pcap.py --packets {args.packets}`; "
        "8-byte content patterns, a tenth of them taken from real payloads. One process per row.",
        "",
        "| engine | rules | MB/s | peak RSS MB |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['rules']:,} | {r['mbps']:.1f} | {r['rss_mb']:.0f} |")
    lines += [
        "",
        f"Loading 10,000 rules (parse + compile + prefilter): cold {cold['s']:.2f} s, cached {warm['s']:.2f} s "
        f"(peak RSS {warm['rss_mb']:.0f} MB).",
        "",
        f"Full engine (decode, flows, reassembly, HTTP/TLS/DNS, starter ruleset) on the first "
        f"{eng['packets']:,} packets: {eng['pps']:,.0f} packets/s, {eng['stream_mb'] / eng['s']:.1f} MB/s of "
        f"stream payload, peak RSS {eng['rss_mb']:.0f} MB.",
        "",
        "Targets (issue 5): >= 400 MB/s with 1,000 rules, >= 150 MB/s with 10,000, load < 5 s cold / < 1 s "
        "cached, RSS <= 1.5 GB. The prefilter calls python-hyperscan, which calls back into Python per match, "
        "and the engine walks packets in Python: the numba + libhyperscan fast path is not built yet.",
    ]
    write_section("signatures", "\n".join(lines))


if __name__ == "__main__":
    main()
