"""Packet crafting for the links tests (scapy): sessions, DHCP, ARP, RA, TLS ClientHello.

Capture point as in the links corpus: the core switch's SPAN, so a host's own
frames carry its MAC and frames routed from elsewhere carry the gateway's MAC.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6ND_RA, IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

T0 = 1_772_442_000.0  # 2026-03-02 09:00 UTC, as in the links corpus
GW_EXT = "52:54:00:00:00:02"
GW_INT = "52:54:00:00:00:01"
GW_DMZ = "52:54:00:00:00:03"
GW_MGMT = "52:54:00:00:00:04"
WS1 = ("52:54:00:00:01:01", "10.20.1.1")
WS2 = ("52:54:00:00:01:02", "10.20.1.2")
WS3 = ("52:54:00:00:01:03", "10.20.1.3")
PRN = ("52:54:00:00:01:50", "10.20.1.50")
CW1 = ("52:54:00:00:02:01", "10.10.2.1")
FS1 = ("52:54:00:00:02:10", "10.10.1.10")
PROXY = ("52:54:00:00:00:05", "192.0.2.5")
DNS1 = ("52:54:00:00:00:0a", "192.0.2.10")
DHCP1 = ("52:54:00:00:00:0b", "10.20.0.3")
JUMP = ("52:54:00:00:03:10", "10.99.0.10")


def _at(pkts: list[Packet], t: float) -> list[Packet]:
    for i, p in enumerate(pkts):
        p.time = t + i * 0.001
    return pkts


def tcp_session(
    cmac: str, cip: str, smac: str, sip: str, dport: int, t: float, *,
    sport: int = 40000, request: bytes = b"hello", reply: bytes = b"world",
    state: str = "SF", ttl: int = 64, sttl: int = 63, win: int = 64240, options: list | None = None,
) -> list[Packet]:  # fmt: skip
    """One TCP connection seen at the SPAN: SF (complete), REJ (RST answer) or S0 (SYN only)."""
    opts = (
        options
        if options is not None
        else [
            ("MSS", 1460),
            ("NOP", None),
            ("WScale", 8),
            ("NOP", None),
            ("NOP", None),
            ("SAckOK", b""),
        ]
    )
    c = Ether(src=cmac, dst=smac) / IP(src=cip, dst=sip, ttl=ttl)
    s = Ether(src=smac, dst=cmac) / IP(src=sip, dst=cip, ttl=sttl)
    syn = c / TCP(sport=sport, dport=dport, flags="S", seq=1000, window=win, options=opts)
    if state == "S0":
        return _at([syn], t)
    if state == "REJ":
        return _at([syn, s / TCP(sport=dport, dport=sport, flags="RA", seq=0, ack=1001)], t)
    pkts = [
        syn,
        s / TCP(sport=dport, dport=sport, flags="SA", seq=5000, ack=1001),
        c / TCP(sport=sport, dport=dport, flags="A", seq=1001, ack=5001),
        c / TCP(sport=sport, dport=dport, flags="PA", seq=1001, ack=5001) / Raw(request),
        s
        / TCP(sport=dport, dport=sport, flags="PA", seq=5001, ack=1001 + len(request))
        / Raw(reply),
        c
        / TCP(sport=sport, dport=dport, flags="FA", seq=1001 + len(request), ack=5001 + len(reply)),
        s
        / TCP(sport=dport, dport=sport, flags="FA", seq=5001 + len(reply), ack=1002 + len(request)),
        c
        / TCP(sport=sport, dport=dport, flags="A", seq=1002 + len(request), ack=5002 + len(reply)),
    ]
    return _at(pkts, t)


def udp_exchange(
    cmac: str, cip: str, smac: str, sip: str, dport: int, t: float, *,
    sport: int = 50000, request: bytes = b"q" * 40, reply: bytes | None = b"a" * 60,
) -> list[Packet]:  # fmt: skip
    pkts = [
        Ether(src=cmac, dst=smac)
        / IP(src=cip, dst=sip, ttl=64)
        / UDP(sport=sport, dport=dport)
        / Raw(request)
    ]
    if reply is not None:
        pkts.append(
            Ether(src=smac, dst=cmac)
            / IP(src=sip, dst=cip, ttl=63)
            / UDP(sport=dport, dport=sport)
            / Raw(reply)
        )
    return _at(pkts, t)


def ping(cmac: str, cip: str, smac: str, sip: str, t: float, n: int = 4) -> list[Packet]:
    pkts: list[Packet] = []
    for i in range(n):
        pkts += _at(
            [
                Ether(src=cmac, dst=smac)
                / IP(src=cip, dst=sip, ttl=64)
                / ICMP(type=8, id=7, seq=i)
                / Raw(b"x" * 32),
                Ether(src=smac, dst=cmac)
                / IP(src=sip, dst=cip, ttl=63)
                / ICMP(type=0, id=7, seq=i)
                / Raw(b"x" * 32),
            ],
            t + i,
        )
    return pkts


def client_hello(sni: str) -> bytes:
    """A minimal TLS 1.2 ClientHello record carrying one server_name."""
    name = sni.encode()
    sn = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = struct.pack("!HH", 0, len(sn)) + sn
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def http_get(host: str, path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n".encode()


def arp(
    op: int, src_mac: str, psrc: str, pdst: str, t: float, hwdst: str = "00:00:00:00:00:00"
) -> list[Packet]:
    dst = "ff:ff:ff:ff:ff:ff" if op == 1 or psrc == pdst else hwdst
    return _at(
        [
            Ether(src=src_mac, dst=dst)
            / ARP(op=op, hwsrc=src_mac, psrc=psrc, pdst=pdst, hwdst=hwdst)
        ],
        t,
    )


def dhcp_reply(
    server_mac: str,
    server_ip: str,
    client_mac: str,
    yiaddr: str,
    t: float,
    *,
    mtype: str = "offer",
    router: str = "10.20.0.1",
) -> list[Packet]:
    chaddr = bytes.fromhex(client_mac.replace(":", "")) + b"\x00" * 10
    p = (
        Ether(src=server_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src=server_ip, dst="255.255.255.255", ttl=64)
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, yiaddr=yiaddr, siaddr=server_ip, chaddr=chaddr, xid=0x1234)
        / DHCP(
            options=[
                ("message-type", mtype),
                ("server_id", server_ip),
                ("router", router),
                ("lease_time", 3600),
                "end",
            ]
        )
    )
    return _at([p], t)


def dhcp_discover(client_mac: str, t: float) -> list[Packet]:
    chaddr = bytes.fromhex(client_mac.replace(":", "")) + b"\x00" * 10
    p = (
        Ether(src=client_mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255", ttl=128)
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, chaddr=chaddr, xid=0x1234)
        / DHCP(options=[("message-type", "discover"), "end"])
    )
    return _at([p], t)


def router_adv(src_mac: str, src_ip: str, t: float) -> list[Packet]:
    return _at(
        [
            Ether(src=src_mac, dst="33:33:00:00:00:01")
            / IPv6(src=src_ip, dst="ff02::1", hlim=255)
            / ICMPv6ND_RA(routerlifetime=1800)
        ],
        t,
    )


def write(path: Path, *groups: list[Packet]) -> Path:
    """All packets of `groups`, sorted by time, into a pcap."""
    pkts = sorted((p for g in groups for p in g), key=lambda p: float(p.time))
    wrpcap(str(path), pkts)
    return path


def background(t: float = T0) -> list[list[Packet]]:
    """Compliant office traffic: ARP for the gateway, browsing via the proxy, DNS via dns01."""
    out = [
        arp(1, WS1[0], WS1[1], "10.20.0.1", t),
        arp(2, GW_EXT, "10.20.0.1", WS1[1], t + 0.01, WS1[0]),
    ]
    for i, (mac, ip) in enumerate((WS1, WS2, WS3)):
        out.append(
            tcp_session(
                mac,
                ip,
                GW_EXT,
                PROXY[1],
                3128,
                t + 1 + i,
                sport=41000 + i,
                request=http_get("www.example.com"),
            )
        )
        out.append(udp_exchange(mac, ip, GW_EXT, DNS1[1], 53, t + 2 + i, sport=52000 + i))
    out.append(
        tcp_session(
            PROXY[0],
            PROXY[1],
            GW_DMZ,
            "198.51.100.20",
            443,
            t + 5,
            request=client_hello("www.example.com"),
        )
    )
    out.append(udp_exchange(DNS1[0], DNS1[1], GW_DMZ, "198.51.100.53", 53, t + 6))
    return out


def dns_answer(
    cmac: str, cip: str, smac: str, sip: str, name: str, answer: str, t: float, sport: int = 53000
) -> list[Packet]:
    """A DNS A query and its answer (the name -> address mapping the detectors learn)."""
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    q = (
        Ether(src=cmac, dst=smac)
        / IP(src=cip, dst=sip, ttl=64)
        / UDP(sport=sport, dport=53)
        / DNS(id=7, rd=1, qd=DNSQR(qname=name))
    )
    a = (
        Ether(src=smac, dst=cmac) / IP(src=sip, dst=cip, ttl=63) / UDP(sport=53, dport=sport)
        / DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=DNSRR(rrname=name, rdata=answer, ttl=300))
    )  # fmt: skip
    return _at([q, a], t)


def detect_on(tmp_path: Path, *groups: list[Packet], only: str, policy: Path | None = None) -> list:
    """Write the packets to a pcap and run the named detectors with the test policy."""
    from secaudit.detect.run import detect

    pcap = write(tmp_path / "t.pcap", *groups)
    pol = policy or Path(__file__).parent / "data" / "links" / "policy"
    return detect(pcap, pol, only=only, strict=True).findings
