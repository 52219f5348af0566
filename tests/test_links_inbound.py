"""forbidden_zone_link from the internet: an outside host opening a connection into a zone
that no allow rule names `internet` for (links.yaml default deny), e.g. RDP to a workstation."""

from __future__ import annotations

import shutil
from pathlib import Path

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from test_links_craft import GW_EXT, PROXY, T0, WS1, detect_on, tcp_session

POLICY = Path(__file__).parent / "data" / "links" / "policy"
OUTSIDE = "198.51.100.99"


def test_internet_opening_rdp_to_a_workstation_fires(tmp_path: Path) -> None:
    pkts = tcp_session(GW_EXT, OUTSIDE, WS1[0], WS1[1], 3389, T0, ttl=50, sttl=128)
    out = detect_on(tmp_path, pkts, only="forbidden_zone_link")
    assert [(f.subject, f.evidence["zone"]) for f in out] == [(OUTSIDE, "internet")]
    assert out[0].evidence["destinations"][0]["service"] == "tcp/3389"


def test_inbound_allowed_by_an_internet_rule_is_silent(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    shutil.copytree(POLICY, policy)
    links = policy / "links.yaml"
    links.write_text(
        links.read_text().replace(
            "allow:\n", "allow:\n  - {from: internet, to: dmz, ports: [tcp/443]}\n", 1
        )
    )
    portal = tcp_session(GW_EXT, OUTSIDE, PROXY[0], PROXY[1], 443, T0)  # a DMZ server
    rdp = tcp_session(GW_EXT, OUTSIDE, PROXY[0], PROXY[1], 3389, T0 + 5, sport=40001)
    out = detect_on(tmp_path, portal, rdp, only="forbidden_zone_link", policy=policy)
    assert [f.evidence["destinations"][0]["service"] for f in out] == ["tcp/3389"]


def test_mid_stream_record_from_outside_is_silent(tmp_path: Path) -> None:
    """The capture starts inside an outbound session: its first packet is the server's
    data, so Zeek names the server the originator; nothing was opened from outside."""
    s = Ether(src=GW_EXT, dst=WS1[0]) / IP(src=OUTSIDE, dst=WS1[1])
    c = Ether(src=WS1[0], dst=GW_EXT) / IP(src=WS1[1], dst=OUTSIDE)
    pkts = [
        s / TCP(sport=8443, dport=40000, flags="PA", seq=5000, ack=1000) / (b"d" * 100),
        c / TCP(sport=40000, dport=8443, flags="A", seq=1000, ack=5100),
    ]
    for i, p in enumerate(pkts):
        p.time = T0 + i * 0.01
    assert detect_on(tmp_path, pkts, only="forbidden_zone_link") == []
