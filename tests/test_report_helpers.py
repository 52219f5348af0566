"""Helpers for the report/assess tests: small pcaps built with the sample generator's
TCP/UDP builders, test notebooks, and assessment configs."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scapy.layers.dns import DNS, DNSQR, DNSRR  # noqa: E402

from samples import generate as gen  # noqa: E402


def web_pcap(path: Path, requests: list[tuple[str, str]], dns_names: list[str] = ()) -> Path:  # type: ignore[assignment]
    """A pcap where ws-001 fetches http://HOST/URI from 198.51.100.x and resolves DNS names."""
    rng = random.Random(7)
    cap = gen.Capture()
    ws = gen.BY_NAME["ws-001"]
    t = gen.START_US
    for i, (host, uri) in enumerate(requests):
        srv = gen.Host(host, f"198.51.100.{20 + i}", "internet", "external", "", 52)
        s = gen.TcpSession(cap, rng, t, ws, 50000 + i, srv, 80).open()
        s.send("c", f"GET {uri} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode("latin-1"))
        s.send("s", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", think_us=2000)
        t = s.close("s") + 100_000
    dns01 = gen.BY_NAME["dns01"]
    for i, name in enumerate(dns_names):
        q = DNS(id=i, rd=1, qd=DNSQR(qname=name))
        r = DNS(
            id=i,
            qr=1,
            rd=1,
            ra=1,
            qd=DNSQR(qname=name),
            an=DNSRR(rrname=name, rdata="198.51.100.9"),
        )
        t = gen.udp_exchange(cap, t, ws, 40000 + i, dns01, 53, q, r, 500) + 10_000
    path.write_bytes(cap.pcap())
    return path


PROBE_CODE = r"""
import dpkt
import secaudit as sa
findings, gaps = [], []
for p in pcaps:
    with open(p, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            l4 = getattr(ip, "data", None)
            if isinstance(l4, dpkt.tcp.TCP) and l4.dport == 80 and l4.data.startswith(b"GET "):
                req = dpkt.http.Request(bytes(l4.data))
                host = req.headers.get("host", "")
                findings.append(sa.Finding(rule_id="probe.http", detector="external_link", category="external_link",
                    severity=severity, title=f"HTTP request to {host}{req.uri}", subject=host,
                    evidence={"uri": req.uri}, controls=("GB/T 22239-2019 8.1.3.1 c",), id_keys={"host": host}))
            elif isinstance(l4, dpkt.udp.UDP) and l4.dport == 53:
                for q in dpkt.dns.DNS(bytes(l4.data)).qd:
                    findings.append(sa.Finding(rule_id="probe.dns", detector="resolver_bypass", category="external_link",
                        severity="low", title=f"DNS query {q.name}", subject=q.name, id_keys={"q": q.name}))
sa.save_results(out_dir, findings, gaps, detectors=["external_link", "resolver_bypass"], inputs=["pcap"])
"""


def notebook(path: Path, params: str, code: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(code)]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def probe_notebooks(folder: Path, fail: bool = False) -> Path:
    """10_links.ipynb (reads HTTP/DNS names from the pcaps into findings), optionally 20_signatures that fails."""
    notebook(
        folder / "10_links.ipynb",
        'pcaps = []\nout_dir = "."\nseverity = "high"\nlang = "en"',
        PROBE_CODE,
    )
    if fail:
        notebook(folder / "30_behavior_faults.ipynb", 'out_dir = "."', "x = 1  # writes nothing")
        notebook(
            folder / "20_signatures.ipynb",
            'pcaps = []\nout_dir = "."',
            'raise RuntimeError("rule engine exploded")',
        )
    return folder


def config(path: Path, pcaps: list[str], *, extra: str = "", policy: str | None = None) -> Path:
    lines = [
        "organisation: {zh: 测试单位, en: Test organisation}",
        "scope: {zh: 测试范围, en: Test scope}",
        "period: {start: 2026-11-20T09:00:00Z, end: 2026-11-20T09:30:00Z}",
        "language: en",
        "inputs:",
        f"  pcaps: [{', '.join(pcaps)}]",
    ]
    if policy:
        lines.append(f"  policy_dir: {policy}")
    lines.append("output: {pdf: false, notebooks_html: false}")
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path
