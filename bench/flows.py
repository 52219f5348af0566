"""Benchmark: pcap -> connection table; secaudit vs tshark, dpkt, scapy, tcpdump, same run.

secaudit is measured two ways:

* in-process pipeline: capture reader + Zeek state machine + conn table
  (`iter_chunks` -> `FlowTracker` -> `conn_arrow` -> DataFrame, the path of
  `flow_table()`), after one warm-up pass so the compiled kernels are loaded
  from the numba cache; CPU seconds per stage, best of --reps.  This is the
  "packets/s on one core" figure.
* CLI: `secaudit flows -r F -l OUT --quiet` in a fresh process (interpreter
  start, imports, JIT cache load, streaming Zeek TSV writer), wall time.

Peers, each in its own fresh process (peak RSS from GNU time); tshark and dpkt,
whose times give the ratios, keep the least CPU of --peer-reps runs as the
pipeline keeps its best of --reps:

* tshark:   `tshark -r F -T fields -e frame.time_epoch -e ip.src ... > /dev/null`
* dpkt:     decode Ethernet/IP/TCP/UDP per packet into a 5-tuple dict of counters
* scapy:    the same loop over the first --scapy-packets packets, extrapolated
* tcpdump:  `tcpdump -r F -w /dev/null` (the I/O floor)

A CLI run on a --repeat x larger file (make_bench_pcap.py --repeat) records
peak RSS to show that memory stays flat while streaming.

    .venv/bin/python bench/flows.py [--packets 2000000] [--repeat 10] [--peer-reps 2] [--skip-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import (  # noqa: E402
    CACHE_NOTE,
    cache_as_read,
    copy_in_small_pages,
    time_v,
    write_section,
)

MAKE = ROOT.parent / "shared" / "tools" / "make_bench_pcap.py"
OUT = ROOT / "bench" / "out"

PIPELINE = """
import json, os, sys, time
from secaudit.capture import iter_chunks
from secaudit.flows import FlowTracker
from secaudit.flows.table import arrow_to_frame, conn_arrow
pt = time.process_time

def run(path):
    c0, w0 = pt(), time.perf_counter()
    tr = FlowTracker()
    cap = trk = 0.0
    it = iter_chunks(path)
    while True:
        a = pt()
        ch = next(it, None)
        b = pt()
        cap += b - a
        if ch is None:
            break
        tr.feed(ch)
        del ch
        trk += pt() - b
    a = pt()
    recs = tr.finish()
    b = pt()
    table = conn_arrow(recs, tr.sources)
    c = pt()
    df = arrow_to_frame(table)
    d = pt()
    return {"cpu": d - c0, "wall": time.perf_counter() - w0, "capture": cap,
            "track": trk + b - a, "table": c - b, "frame": d - c,
            "packets": tr.packets_seen, "conns": len(df)}

run(sys.argv[1])  # warm-up: kernels loaded from the numba cache, first calls dispatched
import resource
rss_one = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak of one pass
runs = [run(sys.argv[1]) for _ in range(int(sys.argv[2]))]
best = min(runs, key=lambda r: r["cpu"])
best["load"] = os.getloadavg()[0]
best["rss_one"] = rss_one

# floors of the capture pass: mapping the windows the reader maps (one byte read
# per page) and, on top, following every record header (no decoding)
import numba as nb
import numpy as np
from secaudit.capture._source import WINDOW, FileSource

from secaudit.flows._engine import prefetch

@nb.njit
def walk(b, ahead):
    pos = 0
    n = b.shape[0]
    acc = 0
    pf = 0
    while pos + 16 <= n:
        if ahead:  # hint every line up to `ahead` bytes on before it is read
            while pf < min(pos + ahead, n):
                prefetch(b, pf)
                pf += 64
        incl = np.int64(b[pos + 8]) | (np.int64(b[pos + 9]) << 8) | (
            np.int64(b[pos + 10]) << 16) | (np.int64(b[pos + 11]) << 24)
        if pos + 16 + incl > n:
            break
        acc += b[pos + 16]
        pos += 16 + incl
    return pos, acc

def floor(headers, ahead=0):
    src = FileSource(sys.argv[1])
    cur = 24
    c0 = pt()
    while cur < src.size:
        buf, eof = src.window(cur, WINDOW)
        if headers:
            cur += walk(buf, ahead)[0]
        else:
            buf[::4096].sum()
            cur += len(buf)
        del buf
        if eof:
            break
    src.close()
    return pt() - c0

walk(np.zeros(64, np.uint8), 0)
best["floor_map"] = min(floor(False) for _ in range(3))
best["floor_walk"] = min(floor(True) for _ in range(3))
best["floor_walk_pf"] = min(floor(True, 4096) for _ in range(3))
print(json.dumps(best))
"""

DPKT = """
import json, sys, time, dpkt
t = time.perf_counter()
flows = {}
n = 0
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        try:
            eth = dpkt.ethernet.Ethernet(buf)
        except Exception:
            continue
        ip = eth.data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            continue
        l4 = ip.data
        sp = getattr(l4, "sport", 0)
        dp = getattr(l4, "dport", 0)
        a, b = (ip.src, sp), (ip.dst, dp)
        key = (min(a, b), max(a, b), ip.p)
        c = flows.get(key)
        if c is None:
            flows[key] = c = [ts, ts, 0, 0]
        c[1] = ts
        c[2] += 1
        c[3] += len(buf)
print(json.dumps({"packets": n, "conns": len(flows), "s": time.perf_counter() - t}))
"""

SCAPY = """
import json, sys, time
t = time.perf_counter()
from scapy.all import IP, IPv6, PcapReader
limit = int(sys.argv[2])
flows = {}
n = 0
for pkt in PcapReader(sys.argv[1]):
    n += 1
    ip = pkt.getlayer(IP) or pkt.getlayer(IPv6)
    if ip is not None:
        l4 = ip.payload
        sp = getattr(l4, "sport", 0)
        dp = getattr(l4, "dport", 0)
        a, b = (ip.src, sp), (ip.dst, dp)
        key = (min(a, b), max(a, b))
        c = flows.setdefault(key, [float(pkt.time), 0, 0])
        c[1] += 1
        c[2] += len(pkt)
    if n >= limit:
        break
print(json.dumps({"packets": n, "conns": len(flows), "s": time.perf_counter() - t}))
"""

TSHARK_FIELDS = [
    "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto",
    "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.flags", "tcp.seq_raw",
    "tcp.len", "frame.len",
]  # fmt: skip


@dataclass
class Run:
    """One measured row: wall and CPU (user + system) seconds, peak RSS."""

    name: str
    wall: float
    cpu: float
    rss: float
    note: str = ""


def _least(
    measure: Callable[[], tuple[float, float, float, str]], reps: int
) -> tuple[float, float, float, str]:
    """The run with the least CPU seconds of `reps` (load on a shared box only ever adds)."""
    return min((measure() for _ in range(max(reps, 1))), key=lambda r: r[1])


def _reps_note(reps: int) -> str:
    return f"least CPU of {max(reps, 1)} runs"


def _make(path: Path, packets: int, repeat: int = 1) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(MAKE), "-o", str(path), "--packets", str(packets), "-q"]
    if repeat > 1:
        cmd += ["--repeat", str(repeat)]
    subprocess.run(cmd, check=True)


def _existing(*paths: Path) -> Path:
    """The first of the candidate names that exists (bench files are shared), else the last."""
    return next((p for p in paths if p.exists()), paths[-1])


def _cli(py: str, pcap: Path, env: dict[str, str]) -> tuple[Run, int]:
    """`secaudit flows` in a fresh process (streaming Zeek TSV) and its conn count."""
    out = OUT / "flows_cli"
    exe = Path(py).with_name("secaudit")
    cmd = [str(exe) if exe.exists() else "secaudit", "flows", "-r", str(pcap), "-l", str(out)]
    wall, cpu, rss, _ = time_v([*cmd, "--quiet"], env)
    log = out / "conn.log"
    with log.open("rb") as fh:
        conns = sum(1 for ln in fh if not ln.startswith(b"#"))
    log.unlink()
    run = Run("secaudit flows CLI (fresh process, streaming Zeek TSV)", wall, cpu, rss)
    run.note = f"{conns} conns"
    return run, conns


def _verdict(ok: bool, text: str) -> str:
    return f"{'met' if ok else 'NOT met'}: {text}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument(
        "--repeat", type=int, default=10, help="streaming run size (x --packets); 0 skips"
    )
    ap.add_argument("--reps", type=int, default=3, help="in-process pipeline runs (best kept)")
    ap.add_argument(
        "--peer-reps", type=int, default=2, help="tshark and dpkt runs (least CPU kept)"
    )
    ap.add_argument("--scapy-packets", type=int, default=200_000)
    ap.add_argument("--pcap", type=Path, default=None, help="use this pcap instead of generating")
    ap.add_argument("--skip-peers", action="store_true", help="secaudit only (no table written)")
    args = ap.parse_args()

    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    py = str(ROOT / ".venv" / "bin" / "python")
    if not Path(py).exists():
        py = sys.executable
    pcap = args.pcap or _existing(
        OUT / f"bench{args.packets}.pcap", OUT / f"bench{args.packets // 1_000_000}m.pcap"
    )
    _make(pcap, args.packets)
    cache_as_read(pcap)
    load0 = os.getloadavg()[0]

    # in-process pipeline (warm JIT cache): CPU time per stage, best of --reps
    _, _, rss, out = time_v([py, "-c", PIPELINE, str(pcap), str(args.reps)], env)
    pl = json.loads(out)
    n = pl["packets"]
    pipe = Run(
        "secaudit in-process pipeline (pcap -> conn DataFrame)",
        pl["wall"],
        pl["cpu"],
        pl["rss_one"],
        f"{pl['conns']} conns; warm JIT cache, best of {args.reps}; RSS: peak of one pass "
        f"(the process after {args.reps + 1} passes and the floors: {rss:.0f} MB)",
    )
    # contrast: the same bytes cached in 4 KiB pages (a capture just written by small writes)
    small = OUT / "small_pages.pcap"
    copy_in_small_pages(pcap, small)
    try:
        _, _, _, out4k = time_v([py, "-c", PIPELINE, str(small), str(args.reps)], env)
    finally:
        small.unlink()  # 1.5 GB: never left behind
    pl4k = json.loads(out4k)
    pipe4k = Run(
        "secaudit in-process pipeline, input cached in 4 KiB pages (contrast)",
        pl4k["wall"],
        pl4k["cpu"],
        pl4k["rss_one"],
        f"the same file copied with 4 KiB writes; capture {pl4k['capture']:.3f} s, "
        f"mapping floor {pl4k['floor_map']:.3f} s; best of {args.reps}",
    )
    _cli(py, pcap, env)  # a first run loads (or refreshes) the JIT cache, as a user's first run
    cli, _ = _cli(py, pcap, env)
    runs = [pipe, cli, pipe4k]
    if not args.skip_peers:
        wall, cpu, rss, _ = time_v(["tcpdump", "-r", str(pcap), "-w", "/dev/null"])
        runs.append(Run("tcpdump -r -w /dev/null (I/O floor)", wall, cpu, rss))
        tshark = ["tshark", "-n", "-r", str(pcap), "-T", "fields"]
        for f in TSHARK_FIELDS:
            tshark += ["-e", f]
        # the two ratio peers get the pipeline's treatment: the least CPU of --peer-reps
        # runs (their own run-to-run spread on this shared box is about 10 %)
        wall, cpu, rss, _ = _least(lambda: time_v(tshark, devnull=True), args.peer_reps)
        runs.append(Run("tshark -T fields", wall, cpu, rss, _reps_note(args.peer_reps)))
        wall, cpu, rss, out = _least(
            lambda: time_v([py, "-c", DPKT, str(pcap)], env), args.peer_reps
        )
        note = f"{json.loads(out)['conns']} flows; {_reps_note(args.peer_reps)}"
        runs.append(Run("dpkt 5-tuple dict loop", wall, cpu, rss, note))
        wall, cpu, rss, out = time_v([py, "-c", SCAPY, str(pcap), str(args.scapy_packets)], env)
        k = n / json.loads(out)["packets"]
        runs.append(
            Run(
                f"scapy (first {args.scapy_packets:,} packets, x{k:.0f} extrapolated)",
                wall * k,
                cpu * k,
                rss,
            )
        )
    load1 = os.getloadavg()[0]

    md = [
        f"pcap -> connection table on `make_bench_pcap.py --packets {args.packets}` "
        f"({n:,} packets, {pcap.stat().st_size / 1e9:.2f} GB), one core, page cache warm, "
        "all rows from the same run. packets/s and the ratios use CPU seconds (user + system; "
        "every tool here runs on one core), which a busy shared box disturbs less than wall time. "
        "The pipeline rows are one process after a warm-up pass (no interpreter start or "
        f"imports); every other row is a fresh process. {CACHE_NOTE} The contrast row runs "
        "the pipeline on a copy cached in 4 KiB pages, as a file just written by small writes "
        "is: mapping it costs more (peers not re-run on it).\n",
        "| tool | wall s | CPU s | packets/s (CPU) | pipeline is x faster | CLI is x faster "
        "| peak RSS MB | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        md.append(
            f"| {r.name} | {r.wall:.2f} | {r.cpu:.2f} | {n / r.cpu:,.0f} | "
            f"{r.cpu / pipe.cpu:.1f} | {r.cpu / cli.cpu:.1f} | {r.rss:.0f} | {r.note} |"
        )
    md.append("")
    md.append(
        f"Pipeline stages (CPU s): capture {pl['capture']:.3f}, flow state machine "
        f"{pl['track']:.3f}, conn table (Arrow) {pl['table']:.3f}, DataFrame {pl['frame']:.3f}. "
        f"The CLI adds interpreter start and imports, loading the compiled kernels from the "
        "numba cache, and writing conn.log."
    )
    md.append("")
    md.append(
        f"Floors of the capture pass (same windows, CPU s): mapping and unmapping the file "
        f"window by window, one byte read per page, {pl['floor_map']:.3f}; following every "
        f"record header on top of that (no decoding) {pl['floor_walk']:.3f}, or "
        f"{pl['floor_walk_pf']:.3f} when the next 4 KiB are prefetched (the plain walk waits "
        "on memory once per record). The decoder reads every byte anyway (checksums), so "
        "prefetching gains it nothing: beyond the mapping it spends its time decoding, "
        "summing checksums and writing the packets table."
    )
    peers = {r.name.split()[0]: r for r in runs[3:]}
    verdict = [
        _verdict(
            n / pipe.cpu >= 3e6,
            f">= 3 M packets/s on one core (pipeline {n / pipe.cpu / 1e6:.2f} M/s, "
            f"CLI {n / cli.cpu / 1e6:.2f} M/s CPU, {n / cli.wall / 1e6:.2f} M/s wall)",
        )
    ]
    for peer, want in (("tshark", 100), ("dpkt", 40)):
        if peer in peers:
            r = peers[peer]
            verdict.append(
                _verdict(
                    r.cpu / pipe.cpu >= want,
                    f">= {want}x {peer} (pipeline {r.cpu / pipe.cpu:.0f}x; on the 4 KiB-page "
                    f"copy {r.cpu / pipe4k.cpu:.0f}x; CLI {r.cpu / cli.cpu:.0f}x CPU / "
                    f"{r.wall / cli.wall:.0f}x wall)",
                )
            )
    verdict.append(
        _verdict(
            max(pipe.rss, cli.rss) <= 1024,
            f"peak RSS <= 1 GB (pipeline process {pipe.rss:.0f} MB, CLI {cli.rss:.0f} MB)",
        )
    )

    if args.repeat:
        big = OUT / f"bench{args.packets // 1_000_000 * args.repeat}m.pcap"
        _make(big, args.packets, args.repeat)
        stream, conns = _cli(py, big, env)
        flat = stream.rss <= cli.rss * 1.15 + 50
        verdict.append(
            _verdict(flat, f"memory flat on a {args.repeat}x larger capture (details below)")
        )
        md.append("")
        md.append("Targets (issue 3): " + "; ".join(verdict) + ".")
        md.append("")
        md.append(
            f"Streaming: `secaudit flows` on {big.stat().st_size / 1e9:.1f} GB "
            f"(--repeat {args.repeat}, {n * args.repeat:,} packets, {conns:,} conns) took "
            f"{stream.wall:.1f} s wall, {stream.cpu:.1f} s CPU "
            f"({n * args.repeat / stream.cpu:,.0f} packets/s CPU); peak RSS {stream.rss:.0f} MB "
            f"vs {cli.rss:.0f} MB for {n:,} packets: memory "
            + ("stays flat" if flat else "is NOT flat")
            + ". Finished connections are written in batches of 100,000, the flow table holds "
            "only live connections and one 128 MiB window of the capture is mapped at a time. "
            "`flow_table()` / `sa.flows()` still return the whole table as one DataFrame, so "
            "their memory grows with the number of connections."
        )
    else:
        md.append("")
        md.append("Targets (issue 3): " + "; ".join(verdict) + ".")
    md.append("")
    md.append(
        f"Load average {load0:.2f} at the start, {load1:.2f} after the peers (2 cores shared "
        "with other builds)."
    )
    text = "\n".join(md)
    print(text)
    if not args.skip_peers:
        write_section("flows", text)


if __name__ == "__main__":
    main()
