"""Behavioural/fault detectors on the 2 M-packet bench file, against building the conn table.

    .venv/bin/python bench/detect.py            # SECAUDIT_BENCH_PCAP=/path overrides the input

One pass over the capture's chunks times, per chunk and in the same process,
(a) reading, (b) the flow tracker and (c) this area's extracts
(PacketTables.update: DNS, ARP, ICMP, compact TCP, flood counters); then
conn_frame(); PacketTables.finish() + analyze_tcp(); then every behavioural
detector on the DetectContext.  Target: detect (c + finish + analysis +
detectors) <= 30 % of building the conn table (a + b + conn_frame).
A warm-up run on the first chunk compiles/loads the numba caches first.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from bench.links import bench_pcap  # noqa: E402
from secaudit.capture import iter_chunks  # noqa: E402
from secaudit.detect.behavior_report import BEHAVIOR_DETECTORS  # noqa: E402
from secaudit.detect.config import Thresholds  # noqa: E402
from secaudit.detect.registry import DetectContext  # noqa: E402
from secaudit.detect.run import load_detectors, run_detectors  # noqa: E402
from secaudit.detect.tables import PacketTables  # noqa: E402
from secaudit.detect.tcpstats import analyze_tcp  # noqa: E402
from secaudit.flows import FlowTracker  # noqa: E402
from secaudit.flows.table import conn_frame  # noqa: E402


def main() -> int:
    pcap = bench_pcap()
    # warm-up: numba caches of both pipelines
    first = next(iter_chunks(pcap, chunk_packets=50_000))
    FlowTracker(ignore_checksums=True).feed(first)
    wt = PacketTables()
    wt.update(first.packets, first.data)
    w = wt.finish()
    analyze_tcp(w["tcp"], w["endpoints"])

    t_read = t_flow = t_own = 0.0
    tracker = FlowTracker(ignore_checksums=True)
    own = PacketTables()
    packets = 0
    t = time.perf_counter()
    for chunk in iter_chunks(pcap):
        t1 = time.perf_counter()
        t_read += t1 - t
        tracker.feed(chunk)
        t2 = time.perf_counter()
        t_flow += t2 - t1
        own.update(chunk.packets, chunk.data)
        t = time.perf_counter()
        t_own += t - t2
        packets += len(chunk.packets)
    t0 = time.perf_counter()
    conn = conn_frame(tracker.finish(), tracker.sources, None)
    t_conn = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = own.finish()
    tcp = analyze_tcp(tables.pop("tcp"), tables.pop("endpoints"))
    tables.update(tcp_dirs=tcp.directions, tcp_flows=tcp.flows, tcp_packets=tcp.packets)
    t_finish = time.perf_counter() - t0
    specs = load_detectors()
    th = Thresholds().as_mapping()
    th["_run"] = {"lang": "en"}
    ctx = DetectContext(conn=conn, tables=tables, thresholds=th, sources=(str(pcap),))
    t0 = time.perf_counter()
    findings, gaps = run_detectors(ctx, [specs[n] for n in BEHAVIOR_DETECTORS], strict=True)
    t_det = time.perf_counter() - t0
    base = t_read + t_flow + t_conn
    extra = t_own + t_finish + t_det
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    by_det: dict[str, int] = {}
    for f in findings:
        by_det[f.detector] = by_det.get(f.detector, 0) + 1
    md = "\n".join(
        [
            "## detect: behavioural attack and fault detectors",
            "",
            f"Input: `{pcap.name}`, {packets:,} packets, {len(conn):,} connections. "
            "Same process, same pass over the chunks; numba caches warm.",
            "",
            "| stage | seconds |",
            "|---|---|",
            f"| read chunks | {t_read:.2f} |",
            f"| flow tracker | {t_flow:.2f} |",
            f"| conn_frame | {t_conn:.2f} |",
            f"| **conn table total** | **{base:.2f}** |",
            f"| detect extracts (PacketTables.update) | {t_own:.2f} |",
            f"| tables finish + TCP analysis | {t_finish:.2f} |",
            f"| {len(BEHAVIOR_DETECTORS)} detectors | {t_det:.2f} |",
            f"| **detect total** | **{extra:.2f}** ({100 * extra / base:.0f} % of the conn table; target <= 30 %) |",
            "",
            f"Peak RSS {rss:,.0f} MB. Findings on the synthetic mix: "
            + (", ".join(f"{k} {v}" for k, v in sorted(by_det.items())) or "none")
            + f"; gaps {len(gaps)}.",
        ]
    )
    print(md)
    write_section("detect", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
