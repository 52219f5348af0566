"""Links detectors on the 2 M-packet bench file with a 5,000-asset / 200-CIDR policy.

    .venv/bin/python bench/links.py            # SECAUDIT_BENCH_PCAP=/path overrides the input

One pass over the capture's chunks times, per chunk and in the same process,
(a) reading, (b) the flow tracker (conn table) and (c) the links extracts
(LinksTables.update); then conn_frame() and LinksTables.finish(); then every
links detector on the resulting DetectContext.  Target: links (c + finish +
detectors) <= 20 % of building the conn table (a + b + conn_frame).
The policy is generated from the capture's own clients (setup, not timed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import write_section  # noqa: E402
from secaudit.capture import addr_to_str, iter_chunks  # noqa: E402
from secaudit.detect.links_base import CONTROLS  # noqa: E402
from secaudit.detect.links_tables import LinksTables  # noqa: E402
from secaudit.detect.registry import DetectContext  # noqa: E402
from secaudit.detect.run import load_detectors, run_detectors  # noqa: E402
from secaudit.flows import FlowTracker  # noqa: E402
from secaudit.flows.table import conn_frame  # noqa: E402
from secaudit.policy import load_policy  # noqa: E402
from secaudit.policy.addr import format_mac  # noqa: E402

SHARED = ROOT.parent / "shared"
GW_MAC = 0x001B21A1B2C3  # make_bench_pcap.py's router


def bench_pcap() -> Path:
    given = os.environ.get("SECAUDIT_BENCH_PCAP")
    for p in (
        [Path(given)]
        if given
        else [Path("/tmp/bench2m.pcap"), ROOT / "bench" / "out" / "bench2m.pcap"]
    ):
        if p.exists():
            return p
    out = ROOT / "bench" / "out" / "bench2m.pcap"
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(SHARED / "tools" / "make_bench_pcap.py"), "-o", str(out), "-q"],
        check=True,
    )
    return out


def make_policy(pcap: Path, folder: Path, n_assets: int = 5000, n_cidrs: int = 200) -> None:
    """200 CIDRs in 5 zones and 5,000 assets: the capture's clients plus filler servers."""
    chunk = next(iter_chunks(pcap, chunk_packets=500_000))
    p = chunk.packets
    own = (p["ip_version"] > 0) & (p["src_mac"] != GW_MAC) & (p["src_mac"] != 0)
    pairs = np.unique(
        np.stack([p["src_mac"][own], p["src_hi"][own], p["src_lo"][own]], axis=1), axis=0
    )
    ips_of: dict[int, list[str]] = {}
    for mac, ip in zip(pairs[:, 0], addr_to_str(pairs[:, 1], pairs[:, 2]), strict=True):
        ips_of.setdefault(int(mac), []).append(str(ip))
    cidrs = {"clients": [f"10.1.{i * 4}.0/22" for i in range(64)],
             "servers": [f"10.2.{i * 4}.0/22" for i in range(64)],
             "classified": [f"10.3.{i * 4}.0/22" for i in range(64)],
             "mgmt": ["10.0.0.0/24", *[f"10.4.{i}.0/24" for i in range(6)]],
             "clients6": ["2a02:1234:5678::/48"]}  # fmt: skip
    assert sum(len(v) for v in cidrs.values()) == n_cidrs
    trust = {
        "clients": "internal",
        "servers": "dmz",
        "classified": "classified",
        "mgmt": "management",
        "clients6": "internal",
    }
    zones = [{"name": z, "trust": trust[z], "networks": n} for z, n in cidrs.items()]
    assets = [
        {
            "name": "gw",
            "mac": format_mac(GW_MAC),
            "ips": ["10.1.0.1", "10.0.0.1"],
            "zone": "mgmt",
            "role": "gateway",
        }
    ]
    for k, (mac, ips) in enumerate(ips_of.items()):
        ip = ips[0]
        zone = "mgmt" if ip.startswith("10.0.") else ("clients6" if ":" in ip else "clients")
        role = "resolver" if ip in ("10.0.0.53", "10.0.0.54") else "workstation"
        assets.append(
            {"name": f"h{k}", "mac": format_mac(mac), "ips": ips, "zone": zone, "role": role}
        )
    assets = assets[: n_assets - 200]  # room for 200 registered servers in any case
    k = 0
    while len(assets) < n_assets:
        assets.append(
            {
                "name": f"srv{k}",
                "mac": format_mac(0x5254_0100_0000 + k),
                "ips": [f"10.2.{k // 250}.{k % 250 + 1}"],
                "zone": "servers",
                "role": "server",
            }
        )
        k += 1
    resolvers = [a["name"] for a in assets if a["role"] == "resolver"]
    links = {
        "allow": [
            {"from": "clients", "to": "servers", "ports": ["*"]},
            {"from": "clients6", "to": "mgmt", "ports": ["udp/53", "tcp/53"]},{"from": "clients", "to": "mgmt", "ports": ["udp/53", "tcp/53", "udp/123", "icmp"]}, {"from": "mgmt", "to": "*", "ports": ["*"]}],
        # the bench file's servers sit in 21 /8s and 4 IPv6 /32s: approve all but two /8s
        "external": {"approved": [{"cidr": f"{o}.0.0.0/8", "reason": "bench"} for o in (23, 31, 34, 35, 45, 52, 54, 64, 66, 69, 74, 93, 104, 142, 151, 157, 162, 203, 216)]
                     + [{"cidr": c, "reason": "bench"} for c in ("2606:4700::/32", "2a00:1450::/32", "2620:11c::/32", "2a03:2880::/32")]
                     + [{"cidr": "129.6.15.28/32", "reason": "ntp"}, {"cidr": "162.159.200.1/32", "reason": "ntp"}, {"cidr": "216.239.35.0/24", "reason": "ntp"}, {"cidr": "17.253.74.123/32", "reason": "ntp"}],
                     "via": {"dns": resolvers}, "forbidden_zones": ["classified"]},
    }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zones.yaml").write_text(yaml.safe_dump({"zones": zones}), encoding="utf-8")
    (folder / "assets.yaml").write_text(
        yaml.safe_dump({"assets": assets[:n_assets]}), encoding="utf-8"
    )
    (folder / "links.yaml").write_text(yaml.safe_dump(links), encoding="utf-8")


def run(pcap: Path, policy_dir: Path) -> dict[str, float]:
    t: dict[str, float] = dict.fromkeys(
        ["read", "flows", "links_update", "conn_frame", "links_finish", "detectors"], 0.0
    )
    t0 = time.perf_counter()
    pol = load_policy(policy_dir)
    t["policy_load"] = time.perf_counter() - t0
    tracker = FlowTracker(ignore_checksums=True)
    links = LinksTables()
    n = 0
    it = iter(iter_chunks(pcap, quiet=True))
    while True:
        t0 = time.perf_counter()
        chunk = next(it, None)
        t["read"] += time.perf_counter() - t0
        if chunk is None:
            break
        n += len(chunk.packets)
        t0 = time.perf_counter()
        tracker.feed(chunk)
        t["flows"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        links.update(chunk.packets, chunk.data)
        t["links_update"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    conn = conn_frame(tracker.finish(), tracker.sources, None)
    t["conn_frame"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tables = links.finish()
    t["links_finish"] = time.perf_counter() - t0
    ctx = DetectContext(conn=conn, tables=tables, policy=pol, thresholds={"_run": {"lang": "en"}})
    specs = load_detectors()
    t0 = time.perf_counter()
    findings, gaps = run_detectors(ctx, [specs[d] for d in sorted(CONTROLS)], strict=True)
    t["detectors"] = time.perf_counter() - t0
    t["packets"] = n
    t["connections"] = len(conn)
    t["findings"] = len(findings)
    return t


def main() -> int:
    pcap = bench_pcap()
    with tempfile.TemporaryDirectory() as tmp:
        pol = Path(tmp) / "policy"
        make_policy(pcap, pol)
        pd_ = load_policy(pol)
        run(pcap, pol)  # warm-up: numba caches, page cache
        r = run(pcap, pol)
    conn_build = r["read"] + r["flows"] + r["conn_frame"]
    flows_only = r["flows"] + r["conn_frame"]
    links = r["links_update"] + r["links_finish"] + r["detectors"]
    md = (
        "## Links detectors (违规外联 / 违规内联, beacon)\n\n"
        f"`{pcap.name}`: {int(r['packets']):,} packets, {int(r['connections']):,} connections; generated policy "
        f"{len(pd_.assets):,} assets, {sum(len(z.networks) for z in pd_.zones)} CIDRs in {len(pd_.zones)} zones "
        f"(policy load {r['policy_load']:.2f} s, not counted). Same process, same chunks, warm run.\n\n"
        "| step | seconds |\n|---|---|\n"
        f"| read chunks | {r['read']:.2f} |\n| flow tracker + conn_frame | {flows_only:.2f} |\n"
        f"| **conn table (read + flows)** | **{conn_build:.2f}** |\n"
        f"| links extracts (LinksTables.update) | {r['links_update']:.2f} |\n"
        f"| LinksTables.finish | {r['links_finish']:.2f} |\n"
        f"| 14 links detectors ({int(r['findings'])} findings) | {r['detectors']:.2f} |\n"
        f"| **links total** | **{links:.2f}** |\n\n"
        f"Links add **{100 * links / conn_build:.1f} %** to building the conn table "
        f"({100 * links / flows_only:.1f} % of the flow tracker alone); target <= 20 %.\n"
    )
    print(md)
    write_section("links", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
