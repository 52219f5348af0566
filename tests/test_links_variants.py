"""The links detectors on a second, differently built office network ("network B").

The corpus scenarios and tests/data/links share one address plan and naming
scheme; these variants check that the detectors follow the policy's
semantics rather than that plan: Chinese zone and asset names, 172.16/12
and IPv6 zones with a more-specific guest network inside the office one,
one gateway per zone plus a registered NAT box, a web proxy named in `via`
by asset (role server) on tcp/8080, resolvers by role and by `via`,
approvals by CIDR with ports, by IPv6 CIDR and by domain (SNI, HTTP Host
with a port, DNS AAAA answer), exceptions valid / expired / not yet valid /
for another host, DoT/DoH, remote-access tools by port, server name and
payload, inbound attempts from the internet, VLAN-tagged frames, DHCP-only,
ARP-only and SLAAC-only devices, and beacons with jitter.

Capture convention as in the corpus: a host's own frames carry its MAC; what
reaches it routed carries its zone gateway's MAC and a decremented TTL.
Every scenario states exactly which (detector, subject) pairs must appear;
`maybe` lists the ones the corpus README calls "arguably implied".
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_RA, IPv6
from scapy.layers.ipsec import ESP
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

T0 = 1_772_442_000.0  # 2026-03-02 09:00 UTC
LINKS = (
    "external_link,proxy_bypass,resolver_bypass,forbidden_zone_external,remote_access_out,"
    "unregistered_device,ip_mac_conflict,forbidden_zone_link,inbound_to_classified,rogue_dhcp,"
    "rogue_gateway,hidden_nat,dual_homed,beacon"
)

# ----------------------------------------------------------------------------- network B
JY, BG, FK, DMZ, OPS = "机要网", "办公网", "访客网", "dmz-b", "ops"
VLAN = {JY: 110, BG: 120, FK: 130, DMZ: 150, OPS: 199}
GW = {  # zone -> gateway (MAC, IPv4)
    JY: ("02:00:00:00:10:01", "172.16.0.1"),
    BG: ("02:00:00:00:20:01", "172.20.0.1"),
    FK: ("02:00:00:00:30:01", "172.20.200.1"),
    DMZ: ("02:00:00:00:50:01", "172.31.5.1"),
    OPS: ("02:00:00:00:99:01", "172.30.0.1"),
}
WEBGW = ("02:00:00:00:50:08", "172.31.5.8")  # the web proxy: role server, named in via.web
RSV_A = ("02:00:00:00:50:35", "172.31.5.53")  # role resolver
RSV_B = ("02:00:00:00:50:36", "172.31.5.54")  # role server, named in via.dns
NTP = ("02:00:00:00:50:7b", "172.31.5.123")
PORTAL = ("02:00:00:00:50:1e", "172.31.5.30")
DB = ("02:00:00:00:50:28", "172.31.5.40")
DHCPS = ("02:00:00:00:20:05", "172.20.0.5")
BRIDGE = ("02:00:00:00:60:01", "172.20.1.60", "172.31.5.60")  # registered in two zones
LABNAT = ("02:00:00:00:70:01", "172.20.1.70")  # registered NAT box (role gateway)
JUMP = ("02:00:00:00:99:10", "172.30.0.10")
JYFS = ("02:00:00:01:10:10", "172.16.1.10")
DYN = ("02:00:00:01:20:ee", "172.20.1.180")  # registered by MAC only
LEGACY = ("02:00:00:01:20:5a", "172.20.1.90")  # registered by address only (no MAC listed)


def ws(n: int) -> tuple[str, str]:
    """Office workstation n: (MAC, 172.20.1.n)."""
    return f"02:00:00:01:20:{n:02x}", f"172.20.1.{n}"


def jy(n: int) -> tuple[str, str]:
    """Classified workstation n: (MAC, 172.16.1.n)."""
    return f"02:00:00:01:10:{n:02x}", f"172.16.1.{n}"


GUEST = ("02:00:00:01:30:15", "172.20.200.21")
WS4_V6 = "2001:db8:20::14"


def slaac(mac: str, prefix: str = "2001:db8:20::") -> str:
    """EUI-64 SLAAC address of `mac` in a /64."""
    b = bytes.fromhex(mac.replace(":", ""))
    iid = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:]
    net = ipaddress.ip_network(prefix + "/64")
    return str(net.network_address + int.from_bytes(iid, "big"))


def policy_b() -> dict[str, Any]:
    zones = [
        {"name": JY, "title": {"zh": "机要网", "en": "Classified"}, "trust": "classified",
         "networks": ["172.16.0.0/16", "fd00:16::/48"], "vlans": [VLAN[JY]]},
        {"name": BG, "title": {"zh": "办公网", "en": "Office"}, "trust": "internal",
         "networks": ["172.20.0.0/16", "2001:db8:20::/48"], "vlans": [VLAN[BG]]},
        {"name": FK, "title": {"zh": "访客网", "en": "Guests"}, "trust": "guest",
         "networks": ["172.20.200.0/24"], "vlans": [VLAN[FK]]},
        {"name": DMZ, "trust": "dmz", "networks": ["172.31.5.0/24"], "vlans": [VLAN[DMZ]]},
        {"name": OPS, "trust": "management", "networks": ["172.30.0.0/24"], "vlans": [VLAN[OPS]]},
    ]  # fmt: skip
    assets: list[dict[str, Any]] = [
        {"name": f"gw-{VLAN[z]}", "mac": m, "ips": [ip, "fe80::1"], "zone": z, "role": "gateway"}
        for z, (m, ip) in GW.items()
    ]
    assets[1]["ips"].append("2001:db8:20::1")
    assets += [
        {"name": "webgw", "mac": WEBGW[0], "ips": [WEBGW[1]], "zone": DMZ, "role": "server"},
        {"name": "rsv-a", "mac": RSV_A[0], "ips": [RSV_A[1]], "zone": DMZ, "role": "resolver"},
        {"name": "rsv-b", "mac": RSV_B[0], "ips": [RSV_B[1]], "zone": DMZ, "role": "server"},
        {"name": "时间服务器", "mac": NTP[0], "ips": [NTP[1]], "zone": DMZ, "role": "ntp"},
        {"name": "门户网站", "mac": PORTAL[0], "ips": [PORTAL[1]], "zone": DMZ, "role": "server"},
        {"name": "db-b", "mac": DB[0], "ips": [DB[1]], "zone": DMZ, "role": "server"},
        {"name": "dhcp-b", "mac": DHCPS[0], "ips": [DHCPS[1]], "zone": BG, "role": "dhcp"},
        {"name": "bridge", "mac": BRIDGE[0], "ips": [BRIDGE[1], BRIDGE[2]], "zone": BG, "role": "server"},
        {"name": "lab-nat", "mac": LABNAT[0], "ips": [LABNAT[1]], "zone": BG, "role": "gateway"},
        {"name": "jump", "mac": JUMP[0], "ips": [JUMP[1]], "zone": OPS, "role": "server"},
        {"name": "机要文件服务器", "mac": JYFS[0], "ips": [JYFS[1]], "zone": JY, "role": "server"},
        {"name": "guest-kiosk", "mac": GUEST[0], "ips": [GUEST[1]], "zone": FK, "role": "workstation"},
        {"name": "laptop-dyn", "mac": DYN[0], "zone": BG, "role": "workstation"},
        {"name": "laptop-dyn2", "mac": "02:00:00:01:20:ef", "zone": BG, "role": "workstation"},
        {"name": "prn-legacy", "ips": [LEGACY[1]], "zone": BG, "role": "printer"},
    ]  # fmt: skip
    for n in range(11, 31):
        mac, ip = ws(n)
        ips = [ip, WS4_V6] if n == 14 else [ip]
        assets.append(
            {"name": f"ws-{n}", "mac": mac, "ips": ips, "zone": BG, "role": "workstation"}
        )
    for n in range(21, 26):
        mac, ip = jy(n)
        ips = [ip, f"fd00:16::{n}"]
        assets.append(
            {"name": f"jy-{n}", "mac": mac, "ips": ips, "zone": JY, "role": "workstation"}
        )
    links = {
        "allow": [
            {"from": BG, "to": DMZ, "ports": ["tcp/8080", "udp/53", "tcp/53", "udp/123", "tcp/443", "icmp/8"]},
            {"from": "internet", "to": DMZ, "ports": ["tcp/443"]},
            {"from": FK, "to": DMZ, "ports": ["tcp/8080", "udp/53"]},
            {"from": JY, "to": DMZ, "ports": ["udp/53"]},
            {"from": BG, "to": JY, "ports": ["tcp/443"]},
            {"from": OPS, "to": "*", "ports": ["*"]},
        ],
        "external": {
            "approved": [
                {"cidr": "192.0.2.0/28", "ports": ["tcp/443"], "reason": "provincial platform"},
                {"cidr": "2001:db8:ee::/48", "reason": "national platform (IPv6)"},
                {"domain": "*.platform.example", "reason": "government sites"},
                {"domain": "*.vendor-portal.example", "ports": ["tcp/443"], "reason": "web only"},
            ],
            "via": {"web": ["webgw"], "dns": ["rsv-b"]},  # rsv-a egresses by its role
        },
        "exceptions": [
            {"from": ws(12)[1], "to": "198.51.100.12", "ports": ["tcp/1433"],
             "expires": "2026-12-31", "reason": "vendor sync, ticket 1"},
            {"from": ws(12)[1], "to": "198.51.100.13", "ports": ["tcp/1433"],
             "expires": "2026-12-31", "reason": "granted to ws-12 only"},
            {"from": ws(13)[1], "to": "198.51.100.14", "ports": ["tcp/1433"],
             "expires": "2026-02-28", "reason": "expired before the capture"},
            {"from": "ws-26", "to": "198.51.100.16", "ports": ["tcp/1433"],
             "expires": "2026-12-31", "reason": "by asset name"},
            {"from": OPS, "to": "198.51.100.17/32", "expires": "2026-12-31", "reason": "by zone name"},
            {"from": ws(27)[1], "to": "db-b", "ports": ["tcp/3306"],
             "expires": "2026-12-31", "reason": "to an asset, inside the network"},
            {"from": ws(15)[1], "to": "198.51.100.15", "ports": ["tcp/1433"],
             "starts": "2026-04-01", "expires": "2026-12-31", "reason": "not valid yet"},
        ],
    }  # fmt: skip
    return {"zones": {"zones": zones}, "assets": {"assets": assets}, "links": links}


def write_policy(folder: Path, pol: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in pol.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


# ----------------------------------------------------------------------------- crafting
def _l3(src: str, dst: str, ttl: int) -> Packet:
    return IPv6(src=src, dst=dst, hlim=ttl) if ":" in src else IP(src=src, dst=dst, ttl=ttl)


def _at(pkts: list[Packet], t: float) -> list[Packet]:
    for i, p in enumerate(pkts):
        p.time = t + i * 0.001
    return pkts


LINUX = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
WINDOWS = [
    ("MSS", 1460),
    ("NOP", None),
    ("WScale", 8),
    ("NOP", None),
    ("NOP", None),
    ("SAckOK", b""),
]
ANDROID = [("MSS", 1400), ("SAckOK", b""), ("Timestamp", (9, 0)), ("NOP", None), ("WScale", 9)]


@dataclass
class Host:
    mac: str
    ip: str
    ttl: int = 64
    syn: list[Any] = field(default_factory=lambda: LINUX)
    win: int = 64240


def host(mac_ip: tuple[str, str], ttl: int = 64, *, ip: str | None = None) -> Host:
    syn = WINDOWS if ttl == 128 else LINUX
    return Host(mac_ip[0], ip or mac_ip[1], ttl, syn)


def tcp(
    c: Host, via_mac: str, dst: str, dport: int, t: float, *, sport: int = 40000,
    request: bytes = b"hello", reply: bytes = b"world", state: str = "SF", rttl: int = 52,
) -> list[Packet]:  # fmt: skip
    """One TCP connection from c (its own frames) to dst, answers through `via_mac`."""
    a = Ether(src=c.mac, dst=via_mac) / _l3(c.ip, dst, c.ttl)
    b = Ether(src=via_mac, dst=c.mac) / _l3(dst, c.ip, rttl)
    syn = a / TCP(sport=sport, dport=dport, flags="S", seq=1000, window=c.win, options=c.syn)
    if state == "S0":
        return _at([syn], t)
    if state == "REJ":
        return _at([syn, b / TCP(sport=dport, dport=sport, flags="RA", seq=0, ack=1001)], t)
    q, r = len(request), len(reply)
    return _at(
        [
            syn,
            b / TCP(sport=dport, dport=sport, flags="SA", seq=5000, ack=1001),
            a / TCP(sport=sport, dport=dport, flags="A", seq=1001, ack=5001),
            a / TCP(sport=sport, dport=dport, flags="PA", seq=1001, ack=5001) / Raw(request),
            b / TCP(sport=dport, dport=sport, flags="PA", seq=5001, ack=1001 + q) / Raw(reply),
            a / TCP(sport=sport, dport=dport, flags="FA", seq=1001 + q, ack=5001 + r),
            b / TCP(sport=dport, dport=sport, flags="FA", seq=5001 + r, ack=1002 + q),
            a / TCP(sport=sport, dport=dport, flags="A", seq=1002 + q, ack=5002 + r),
        ],
        t,
    )


def udp(
    c: Host, via_mac: str, dst: str, dport: int, t: float, *, sport: int = 50000,
    request: bytes = b"q" * 40, reply: bytes | None = b"a" * 60, rttl: int = 52,
) -> list[Packet]:  # fmt: skip
    pkts = [
        Ether(src=c.mac, dst=via_mac)
        / _l3(c.ip, dst, c.ttl)
        / UDP(sport=sport, dport=dport)
        / Raw(request)
    ]
    if reply is not None:
        pkts.append(
            Ether(src=via_mac, dst=c.mac)
            / _l3(dst, c.ip, rttl)
            / UDP(sport=dport, dport=sport)
            / Raw(reply)
        )
    return _at(pkts, t)  # fmt: skip


def raw_ip(c: Host, via_mac: str, dst: str, proto: Packet, t: float, n: int = 3) -> list[Packet]:
    """n packets of another IP protocol (GRE, ESP) each way."""
    out: list[Packet] = []
    for i in range(n):
        out += _at([Ether(src=c.mac, dst=via_mac) / _l3(c.ip, dst, c.ttl) / proto.copy()], t + i)
        out += _at([Ether(src=via_mac, dst=c.mac) / _l3(dst, c.ip, 52) / proto.copy()], t + i + 0.5)
    return out


def ping(c: Host, via_mac: str, dst: str, t: float, n: int = 4) -> list[Packet]:
    out: list[Packet] = []
    for i in range(n):
        if ":" in c.ip:
            req, rep = ICMPv6EchoRequest(id=7, seq=i), ICMPv6EchoReply(id=7, seq=i)
        else:
            req, rep = ICMP(type=8, id=7, seq=i), ICMP(type=0, id=7, seq=i)
        out += _at(
            [
                Ether(src=c.mac, dst=via_mac) / _l3(c.ip, dst, c.ttl) / req / Raw(b"x" * 32),
                Ether(src=via_mac, dst=c.mac) / _l3(dst, c.ip, 52) / rep / Raw(b"x" * 32),
            ],
            t + i,
        )
    return out


def client_hello(sni: str) -> bytes:
    name = sni.encode()
    sn = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    ext = struct.pack("!HH", 0, len(sn)) + sn
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext)) + ext
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def http_get(host_header: str) -> bytes:
    return f"GET / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: t\r\n\r\n".encode()


def dns(
    c: Host, via_mac: str, server: str, name: str, answer: str, t: float, sport: int = 53000
) -> list[Packet]:
    qtype = "AAAA" if ":" in answer else "A"
    q = (
        Ether(src=c.mac, dst=via_mac)
        / _l3(c.ip, server, c.ttl)
        / UDP(sport=sport, dport=53)
        / DNS(id=9, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    )
    a = (
        Ether(src=via_mac, dst=c.mac)
        / _l3(server, c.ip, 63)
        / UDP(sport=53, dport=sport)
        / DNS(
            id=9,
            qr=1,
            rd=1,
            ra=1,
            qd=DNSQR(qname=name, qtype=qtype),
            an=DNSRR(rrname=name, type=qtype, rdata=answer, ttl=300),
        )
    )
    return _at([q, a], t)  # fmt: skip


def arp(
    op: int, mac: str, psrc: str, pdst: str, t: float, hwdst: str = "00:00:00:00:00:00"
) -> list[Packet]:
    dst = "ff:ff:ff:ff:ff:ff" if op == 1 or psrc == pdst else hwdst
    return _at([Ether(src=mac, dst=dst) / ARP(op=op, hwsrc=mac, psrc=psrc, pdst=pdst, hwdst=hwdst)], t)  # fmt: skip


def dhcp_msg(smac: str, sip: str, client: str, yiaddr: str, t: float, mtype: str, *,
             server_id: str | None = None, router: str = "172.20.0.1") -> list[Packet]:  # fmt: skip
    ch = bytes.fromhex(client.replace(":", "")) + b"\x00" * 10
    opts = [("message-type", mtype), ("server_id", server_id or sip), ("router", router),
            ("lease_time", 3600), "end"]  # fmt: skip
    p = (Ether(src=smac, dst="ff:ff:ff:ff:ff:ff") / IP(src=sip, dst="255.255.255.255", ttl=64)
         / UDP(sport=67, dport=68) / BOOTP(op=2, yiaddr=yiaddr, siaddr=sip, chaddr=ch, xid=7) / DHCP(options=opts))  # fmt: skip
    return _at([p], t)


def dhcp_discover(mac: str, t: float) -> list[Packet]:
    ch = bytes.fromhex(mac.replace(":", "")) + b"\x00" * 10
    p = (Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255", ttl=64)
         / UDP(sport=68, dport=67) / BOOTP(op=1, chaddr=ch, xid=7) / DHCP(options=[("message-type", "discover"), "end"]))  # fmt: skip
    return _at([p], t)


def router_adv(mac: str, src: str, t: float, n: int = 1) -> list[Packet]:
    return [
        _at([Ether(src=mac, dst="33:33:00:00:00:01") / IPv6(src=src, dst="ff02::1", hlim=255)
             / ICMPv6ND_RA(routerlifetime=1800)], t + 30 * i)[0]
        for i in range(n)
    ]  # fmt: skip


def redirect(mac: str, src: str, dst: str, gw: str, t: float) -> list[Packet]:
    """An ICMP redirect (type 5, code 1: host) from src telling dst to use gateway gw."""
    inner = IP(src=dst, dst="198.51.100.250", ttl=63) / UDP(sport=5000, dport=53)
    return _at([Ether(src=mac, dst="02:00:00:00:00:99") / IP(src=src, dst=dst) / ICMP(type=5, code=1, gw=gw) / inner], t)  # fmt: skip


def vlan_tag(pkts: list[Packet], vid: int) -> list[Packet]:
    """The same frames with an 802.1Q tag (a trunk SPAN)."""
    out = []
    for p in pkts:
        e = p[Ether]
        q = Ether(src=e.src, dst=e.dst) / Dot1Q(vlan=vid) / e.payload.copy()
        q.time = p.time
        out.append(q)
    return out


# ----------------------------------------------------------------------------- scenarios
def office_background(t: float = T0) -> list[list[Packet]]:
    """Compliant traffic of network B, rich in look-alikes (nothing here is a violation)."""
    gbg, gfk, gdmz, gjy, gops = GW[BG][0], GW[FK][0], GW[DMZ][0], GW[JY][0], GW[OPS][0]
    w11, w12 = host(ws(11)), host(ws(12), 128)
    w13v6 = Host(ws(13)[0], slaac(ws(13)[0]))  # registered MAC, autoconfigured IPv6 address
    w14v6 = Host(ws(14)[0], WS4_V6, 128, WINDOWS)
    out: list[list[Packet]] = [
        arp(1, ws(11)[0], ws(11)[1], GW[BG][1], t),
        arp(2, gbg, GW[BG][1], ws(11)[1], t + 0.01, ws(11)[0]),
        arp(2, gbg, GW[BG][1], GW[BG][1], t + 0.5),  # the gateway's own gratuitous ARP
        router_adv(gbg, "fe80::1", t + 1),
    ]
    for i, (c, sni) in enumerate([(w11, "www.example.com"), (w12, "news.example.org")]):
        for k in range(4):
            out.append(tcp(c, gbg, WEBGW[1], 8080, t + 5 + i + 60 * k, sport=41000 + 10 * i + k,
                           request=b"CONNECT " + sni.encode() + b":443 HTTP/1.1\r\n\r\n", rttl=63))  # fmt: skip
        out.append(
            udp(c, gbg, RSV_A[1] if i else RSV_B[1], 53, t + 7 + i, sport=52000 + i, rttl=63)
        )
    # the proxy and the resolvers do their own service (DoT upstream from the via-named server)
    for k in range(6):
        out.append(tcp(host(WEBGW), gdmz, f"198.51.100.{20 + k}", 443 if k % 2 else 80, t + 6 + 60 * k,
                       sport=43000 + k, request=client_hello("www.example.com")))  # fmt: skip
    out.append(udp(host(RSV_A), gdmz, "198.51.100.53", 53, t + 8))
    out.append(tcp(host(RSV_B), gdmz, "9.9.9.9", 853, t + 9, sport=44000))
    # approvals: CIDR with its port, IPv6 CIDR, domain by SNI, by HTTP Host with a port, by AAAA
    out.append(
        tcp(w11, gbg, "192.0.2.5", 443, t + 20, sport=45000, request=client_hello("x.example"))
    )
    out.append(tcp(w12, gbg, "198.51.100.60", 443, t + 21, sport=45001,
                   request=client_hello("Portal.Platform.Example.")))  # fmt: skip
    out.append(tcp(w11, gbg, "198.51.100.61", 8081, t + 22, sport=45002,
                   request=http_get("downloads.platform.example:8081")))  # fmt: skip
    out.append(dns(host(ws(14)), gbg, RSV_A[1], "cdn.platform.example", "2001:db8:ff::61", t + 23))
    out.append(
        tcp(
            w14v6,
            gbg,
            "2001:db8:ff::61",
            443,
            t + 24,
            sport=45003,
            request=b"\x16\x03\x01\x00\x05hello",
        )
    )
    out.append(tcp(w13v6, gbg, "2001:db8:ee::10", 443, t + 25, sport=45004))
    out.append(
        tcp(w11, gbg, "198.51.100.62", 443, t + 27, sport=45006,
            request=client_hello("a.vendor-portal.example"))
    )  # fmt: skip
    out.append(tcp(w13v6, gbg, "2001:db8:ee::10", 443, t + 26, sport=45005))
    # a valid exception (ws-12 -> 198.51.100.12 tcp/1433)
    for k in range(3):
        out.append(tcp(w12, gbg, "198.51.100.12", 1433, t + 30 + 5 * k, sport=46000 + k))
    # exceptions by asset and by zone name
    out.append(tcp(host(ws(26)), gbg, "198.51.100.16", 1433, t + 36, sport=46010))
    out.append(tcp(host(JUMP), gops, "198.51.100.17", 22, t + 37, sport=46011))
    out.append(tcp(host(ws(27)), gbg, DB[1], 3306, t + 38, sport=46012, rttl=63))
    # DHCP: registered server on the segment, and relayed by the guest gateway
    out.append(dhcp_discover(ws(16)[0], t + 40))
    out.append(dhcp_msg(DHCPS[0], DHCPS[1], ws(16)[0], ws(16)[1], t + 40.1, "offer"))
    out.append(dhcp_msg(DHCPS[0], DHCPS[1], ws(16)[0], ws(16)[1], t + 40.2, "ack"))
    out.append(dhcp_msg(gfk, GW[FK][1], GUEST[0], GUEST[1], t + 41, "ack", server_id=DHCPS[1],
                        router=GW[FK][1]))  # fmt: skip
    out.append(tcp(host(GUEST), gfk, WEBGW[1], 8080, t + 42, sport=47000, rttl=63))
    # the guest zone holds unmanaged devices: a visitor's phone goes straight out
    phone = Host("02:77:00:00:00:01", "172.20.200.77")
    out.append(arp(1, phone.mac, phone.ip, GW[FK][1], t + 43))
    out.append(
        tcp(
            phone,
            gfk,
            "198.51.100.99",
            443,
            t + 44,
            sport=47001,
            request=client_hello("m.example.com"),
        )
    )
    out.append(udp(phone, gfk, "8.8.8.8", 53, t + 45, sport=47002))
    # a registered laptop without a planned address (DHCP, lease older than the capture)
    out.append(arp(1, DYN[0], DYN[1], GW[BG][1], t + 46))
    out.append(tcp(Host(*DYN), gbg, WEBGW[1], 8080, t + 47, sport=47003, rttl=63))
    out.append(ping(w11, gbg, PORTAL[1], t + 48))  # allowed as icmp/8
    out.append(redirect(gbg, GW[BG][1], ws(11)[1], "172.20.0.2", t + 48.5))  # the gateway may
    # a DHCP pool address leased to one registered laptop, later to another
    dyn2 = ("02:00:00:01:20:ef", "172.20.1.181")
    for k, mac in enumerate((DYN[0], dyn2[0])):
        out.append(dhcp_msg(DHCPS[0], DHCPS[1], mac, dyn2[1], t + 150 + 300 * k, "ack"))
        out.append(arp(1, mac, dyn2[1], GW[BG][1], t + 151 + 300 * k))
        out.append(tcp(Host(mac, dyn2[1]), gbg, WEBGW[1], 8080, t + 152 + 300 * k,
                       sport=47010 + k, rttl=63))  # fmt: skip
    out.append(arp(1, LEGACY[0], LEGACY[1], GW[BG][1], t + 49))
    out.append(tcp(Host(*LEGACY), gbg, WEBGW[1], 8080, t + 49.5, sport=47004, rttl=63))
    # allowed zone pairs: office -> classified tcp/443, ops -> anything, classified -> DMZ dns
    out.append(tcp(w12, gbg, JYFS[1], 443, t + 50, sport=48000, rttl=63))
    out.append(tcp(host(JUMP), gops, jy(21)[1], 3389, t + 51, sport=48001, rttl=127))
    out.append(udp(host(jy(21)), gjy, RSV_A[1], 53, t + 52, sport=48002, rttl=63))
    # the public portal serves the internet (not a zone-pair question)
    out.append(
        tcp(Host(gdmz, "203.0.113.77", 50), PORTAL[0], PORTAL[1], 443, t + 53, sport=48003, rttl=64)
    )
    # registered multi-zone server; registered NAT box carrying its lab's (TTL 63) traffic
    out.append(tcp(host(BRIDGE[:2]), gbg, WEBGW[1], 8080, t + 60, sport=49000, rttl=63))
    out.append(
        tcp(host((BRIDGE[0], BRIDGE[2])), PORTAL[0], PORTAL[1], 22, t + 61, sport=49001, rttl=64)
    )
    for k in range(4):
        out.append(tcp(host(LABNAT), gbg, WEBGW[1], 8080, t + 62 + k, sport=49100 + k, rttl=63))
        out.append(tcp(Host(LABNAT[0], LABNAT[1], 63, ANDROID, 65535), gbg, WEBGW[1], 8080,
                       t + 70 + k, sport=49200 + k, rttl=63))  # fmt: skip
    # periodic but compliant: NTP server upstream every 64 s, update check via the proxy
    for k in range(40):
        out.append(udp(host(NTP), gdmz, "203.0.113.123", 123, t + 100 + 64 * k, sport=123,
                       request=b"\x23" + b"\x00" * 47, reply=b"\x24" + b"\x00" * 47))  # fmt: skip
        out.append(udp(w11, gbg, NTP[1], 123, t + 101 + 64 * k, sport=123,
                       request=b"\x23" + b"\x00" * 47, reply=b"\x24" + b"\x00" * 47, rttl=63))  # fmt: skip
    for k in range(10):
        out.append(tcp(w12, gbg, WEBGW[1], 8080, t + 110 + 240 * k, sport=50000 + k, rttl=63,
                       request=b"CONNECT update.vendor.example:443 HTTP/1.1\r\n\r\n"))  # fmt: skip
        out.append(tcp(host(WEBGW), gdmz, "198.51.100.90", 443, t + 110.5 + 240 * k, sport=50100 + k,
                       request=client_hello("update.vendor.example")))  # fmt: skip
    return out


@dataclass
class Scenario:
    name: str
    build: Callable[[], list[list[Packet]]]
    must: set[tuple[str, str]]
    maybe: set[tuple[str, str]] = field(default_factory=set)
    vlan: bool = False


def s_external() -> list[list[Packet]]:
    gbg, gjy = GW[BG][0], GW[JY][0]
    w = {n: host(ws(n), 128 if n % 2 == 0 else 64) for n in range(11, 31)}
    w14v6 = Host(ws(14)[0], WS4_V6, 128, WINDOWS)
    t = T0 + 200
    return [
        *[tcp(w14v6, gbg, "2001:db8:ff::5", 5222, t + 60 * k, sport=40100 + k) for k in range(3)],
        tcp(w[11], gbg, "198.51.100.13", 1433, t + 1, sport=40200),  # exception of another host
        tcp(w[13], gbg, "198.51.100.14", 1433, t + 2, sport=40201),  # expired exception
        tcp(w[15], gbg, "198.51.100.15", 1433, t + 3, sport=40202),  # exception not valid yet
        tcp(w[12], gbg, "198.51.100.29", 80, t + 4, sport=40203, request=http_get("files.example.net")),
        tcp(w[17], gbg, "192.0.2.5", 22, t + 5, sport=40204),  # approved CIDR, not on this port
        tcp(w[18], gbg, "9.9.9.9", 853, t + 6, sport=40205),  # DoT
        tcp(w[16], gbg, "8.8.8.8", 443, t + 7, sport=40206, request=client_hello("dns.google")),
        udp(host(jy(21)), gjy, "198.51.100.201", 514, t + 8, sport=40207, reply=None),
        *[tcp(host(jy(22)), gjy, "203.0.113.9", 443, t + 9 + 3 * k, sport=40208, state="S0") for k in range(3)],
        ping(Host(jy(23)[0], "fd00:16::23"), gjy, "2001:db8:ee::10", t + 10),  # approved, forbidden zone
        udp(w[19], gbg, "198.51.100.53", 53, t + 11, sport=40210),  # public resolver
        tcp(w[21], gbg, "1.1.1.1", 443, t + 11.5, sport=40212),  # DoH by address (no SNI)
        # a domain approved for tcp/443 only, reached on tcp/22 (name from a DNS answer)
        dns(w[20], gbg, RSV_A[1], "ssh.vendor-portal.example", "198.51.100.63", t + 12),
        tcp(w[20], gbg, "198.51.100.63", 22, t + 13, sport=40211),
    ]  # fmt: skip


def s_remote() -> list[list[Packet]]:
    gbg = GW[BG][0]
    w = {n: host(ws(n)) for n in range(11, 31)}
    t = T0 + 300
    wg_init = b"\x01\x00\x00\x00" + b"\x11" * 144
    return [
        tcp(w[11], gbg, "198.51.100.71", 443, t, request=client_hello("router7.teamviewer.com")),
        tcp(w[12], gbg, "198.51.100.72", 7070, t + 1, sport=40001),
        tcp(w[13], gbg, "198.51.100.73", 3389, t + 2, sport=40002),
        udp(w[14], gbg, "198.51.100.74", 500, t + 3, sport=500),
        udp(w[14], gbg, "198.51.100.74", 4500, t + 4, sport=4500),
        raw_ip(w[14], gbg, "198.51.100.74", ESP(spi=0x1001, seq=1) / Raw(b"e" * 64), t + 5),
        udp(w[15], gbg, "198.51.100.75", 1701, t + 6, sport=1701),
        tcp(w[16], gbg, "198.51.100.76", 1723, t + 7, sport=40003),
        raw_ip(w[16], gbg, "198.51.100.76", GRE(proto=0x880B, key_present=1, key=1) / Raw(b"p" * 40), t + 8),
        tcp(w[17], gbg, "198.51.100.77", 2222, t + 9, sport=40004, request=b"SSH-2.0-OpenSSH_9.6\r\n",
            reply=b"SSH-2.0-OpenSSH_8.9\r\n"),
        udp(w[18], gbg, "198.51.100.78", 443, t + 10, sport=40005, request=wg_init, reply=b"\x02\x00\x00\x00" + b"\x22" * 88),
        tcp(Host(ws(20)[0], slaac(ws(20)[0])), gbg, "2001:db8:ee::22", 22, t + 12, sport=40007),  # approved
    ]  # fmt: skip


def s_zones() -> list[list[Packet]]:
    gbg, gfk = GW[BG][0], GW[FK][0]
    t = T0 + 400
    return [
        tcp(host(GUEST), gfk, ws(11)[1], 445, t, sport=40000, rttl=63),  # guest -> office
        tcp(host(ws(11)), gbg, DB[1], 3306, t + 1, sport=40001, rttl=63),  # office -> DMZ, port
        tcp(host(ws(12), 128), gbg, JYFS[1], 445, t + 2, sport=40002, state="REJ", rttl=63),
        tcp(host(ws(12), 128), gbg, JYFS[1], 22, t + 3, sport=40003, state="S0"),
        tcp(Host(GW[JY][0], "203.0.113.66", 50), JYFS[0], JYFS[1], 3389, t + 4, sport=40004, state="S0"),
        tcp(host(jy(24)), GW[JY][0], DB[1], 3306, t + 5, sport=40005, rttl=63),  # classified -> DMZ
        _at([Ether(src=ws(13)[0], dst=gbg) / IP(src=ws(13)[1], dst=PORTAL[1]) / ICMP(type=13)], t + 6),
    ]  # fmt: skip


def s_devices() -> list[list[Packet]]:
    gbg = GW[BG][0]
    t = T0 + 500
    u1, u2, u3, u4, u5 = (f"02:aa:00:00:00:0{i}" for i in range(1, 6))
    rogue = ("50:c7:bf:00:00:01", "172.20.1.250")
    phone = Host(ws(21)[0], ws(21)[1], 63, ANDROID, 65535)
    win_behind = Host(ws(22)[0], ws(22)[1], 127, WINDOWS)
    out: list[list[Packet]] = [
        # unregistered MAC with a static address, browsing through the proxy
        arp(1, u1, "172.20.1.201", GW[BG][1], t),
        tcp(Host(u1, "172.20.1.201"), gbg, WEBGW[1], 8080, t + 1, rttl=63),
        # DHCP only: discover, offers (the rogue's too), ack from the registered server
        dhcp_discover(u2, t + 2),
        dhcp_msg(rogue[0], rogue[1], u2, "172.20.1.152", t + 2.05, "offer", router=rogue[1]),
        dhcp_msg(DHCPS[0], DHCPS[1], u2, "172.20.1.202", t + 2.1, "offer"),
        dhcp_msg(DHCPS[0], DHCPS[1], u2, "172.20.1.202", t + 2.2, "ack"),
        # ARP only
        *[arp(1, u3, "172.20.1.203", f"172.20.1.{11 + k}", t + 3 + k) for k in range(3)],
        # IPv6 only (SLAAC)
        tcp(Host(u4, slaac(u4)), gbg, "2001:db8:ee::10", 443, t + 7, sport=40010),
        # a registered workstation on an address nobody gave it
        arp(1, ws(23)[0], "172.20.1.99", GW[BG][1], t + 8),
        tcp(Host(ws(23)[0], "172.20.1.99"), gbg, WEBGW[1], 8080, t + 9, sport=40011, rttl=63),
        # ws-24's address taken over by another MAC
        tcp(host(ws(24)), gbg, WEBGW[1], 8080, t + 10, sport=40012, rttl=63),
        arp(2, u5, ws(24)[1], GW[BG][1], t + 11, GW[BG][0]),
        tcp(Host(u5, ws(24)[1]), gbg, WEBGW[1], 8080, t + 12, sport=40013, rttl=63),
        # rogue DHCP server on the office segment
        dhcp_discover(ws(25)[0], t + 13),
        dhcp_msg(rogue[0], rogue[1], ws(25)[0], "172.20.1.150", t + 13.1, "offer", router=rogue[1]),
        # an unregistered server in another network, relayed by the guest gateway
        dhcp_msg(
            GW[FK][0],
            GW[FK][1],
            "02:77:00:00:00:09",
            "172.20.200.99",
            t + 13.15,
            "offer",
            server_id="172.20.9.9",
            router=GW[FK][1],
        ),  # fmt: skip
        # a registered workstation handing out leases is a rogue server as well
        dhcp_msg(
            ws(30)[0], ws(30)[1], ws(25)[0], "172.20.1.151", t + 13.2, "offer", router=ws(30)[1]
        ),
        # ws-26 claims the office gateway's address; ws-27 advertises itself as IPv6 router
        *[arp(2, ws(26)[0], GW[BG][1], GW[BG][1], t + 14 + k) for k in range(3)],
        router_adv(ws(27)[0], "fe80::2:ff:fe01:201b", t + 15, n=3),
        # ws-29 tells ws-11 to route through it
        redirect(ws(29)[0], ws(29)[1], ws(11)[1], ws(29)[1], t + 15.5),
        # dual-homed: ws-28's MAC also uses a classified address
        arp(1, ws(28)[0], "172.16.1.77", GW[JY][1], t + 16),
        tcp(Host(ws(28)[0], "172.16.1.77"), GW[JY][0], JYFS[1], 445, t + 17, sport=40014, rttl=63),
        tcp(host(ws(28)), gbg, WEBGW[1], 8080, t + 18, sport=40015, rttl=63),
        # a hotspot-vendor MAC (unregistered) browsing
        tcp(
            Host("00:15:ff:12:34:56", "172.20.1.210"),
            gbg,
            WEBGW[1],
            8080,
            t + 19,
            sport=40016,
            rttl=63,
        ),
    ]
    # hidden NAT that rewrites the TTL (64, like ws-25's own): only the phone's SYNs differ
    ttl_fixed = Host(ws(25)[0], ws(25)[1], 64, ANDROID, 65535)
    for k in range(6):
        out.append(tcp(host(ws(25)), gbg, WEBGW[1], 8080, t + 60 + k, sport=41400 + k, rttl=63))
        out.append(tcp(ttl_fixed, gbg, WEBGW[1], 8080, t + 70 + k, sport=41500 + k, rttl=63))
    for k in range(4):  # hidden NAT: Linux ws-21 + phone behind it; Windows ws-22 + laptop
        out.append(tcp(host(ws(21)), gbg, WEBGW[1], 8080, t + 20 + k, sport=41000 + k, rttl=63))
        out.append(tcp(phone, gbg, WEBGW[1], 8080, t + 30 + k, sport=41100 + k, rttl=63))
        out.append(
            tcp(host(ws(22), 128), gbg, WEBGW[1], 8080, t + 40 + k, sport=41200 + k, rttl=63)
        )
        out.append(tcp(win_behind, gbg, WEBGW[1], 8080, t + 50 + k, sport=41300 + k, rttl=63))
    return out


def s_beacon(spread: int = 30, sizes: int = 0) -> list[list[Packet]]:
    """ws-29 calls home every 300 s +- `spread` s and 256 +- `sizes` bytes (deterministic
    pseudo-random jitter) for 2 h; ws-30 polls an approved platform just as regularly."""
    gbg = GW[BG][0]
    out = []
    rnd = random.Random(29)
    for k in range(25):
        jitter = rnd.uniform(-spread, spread)
        size = 256 + rnd.randint(-sizes, sizes)
        out.append(tcp(host(ws(29)), gbg, "198.51.100.140", 8443, T0 + 60 + 300 * k + jitter,
                       sport=42000 + k, request=b"b" * size, reply=b"r" * 64))  # fmt: skip
        out.append(tcp(host(ws(30)), gbg, "192.0.2.9", 443, T0 + 70 + 300 * k,
                       sport=42100 + k, request=b"b" * 256, reply=b"r" * 64))  # fmt: skip
    return out


SCENARIOS = [
    Scenario("clean", lambda: [], set()),
    Scenario(
        "external",
        s_external,
        {
            ("external_link", WS4_V6),
            ("external_link", ws(11)[1]),
            ("external_link", ws(13)[1]),
            ("external_link", ws(15)[1]),
            ("external_link", ws(12)[1]),
            ("proxy_bypass", ws(12)[1]),
            ("external_link", ws(17)[1]),
            ("remote_access_out", ws(17)[1]),
            ("external_link", ws(18)[1]),
            ("resolver_bypass", ws(18)[1]),
            ("external_link", ws(16)[1]),
            ("resolver_bypass", ws(16)[1]),
            ("proxy_bypass", ws(16)[1]),
            ("external_link", jy(21)[1]),
            ("forbidden_zone_external", jy(21)[1]),
            ("external_link", jy(22)[1]),
            ("forbidden_zone_external", jy(22)[1]),
            ("proxy_bypass", jy(22)[1]),
            ("forbidden_zone_external", "fd00:16::23"),
            ("external_link", ws(19)[1]),
            ("resolver_bypass", ws(19)[1]),
            ("external_link", ws(20)[1]),
            ("remote_access_out", ws(20)[1]),
            ("external_link", ws(21)[1]),
            ("resolver_bypass", ws(21)[1]),
            ("proxy_bypass", ws(21)[1]),
        },
    ),
    Scenario(
        "remote",
        s_remote,
        {
            (d, ws(n)[1])
            for n in (11, 12, 13, 14, 15, 16, 17, 18)
            for d in ("external_link", "remote_access_out")
        }
        | {("proxy_bypass", ws(11)[1])},
    ),  # fmt: skip
    Scenario(
        "zones",
        s_zones,
        {
            ("forbidden_zone_link", GUEST[1]),
            ("forbidden_zone_link", ws(11)[1]),
            ("forbidden_zone_link", ws(12)[1]),
            ("inbound_to_classified", ws(12)[1]),
            ("inbound_to_classified", "203.0.113.66"),
            ("forbidden_zone_link", jy(24)[1]),
            ("forbidden_zone_link", ws(13)[1]),
        },
        maybe={("forbidden_zone_link", "203.0.113.66")},
    ),
    Scenario(
        "devices",
        s_devices,
        {
            ("unregistered_device", "172.20.1.201"),
            ("unregistered_device", "172.20.1.202"),
            ("unregistered_device", "172.20.1.203"),
            ("unregistered_device", slaac("02:aa:00:00:00:04")),
            ("unregistered_device", "172.20.1.99"),
            ("ip_mac_conflict", ws(24)[1]),
            ("rogue_dhcp", "172.20.1.250"),
            ("rogue_dhcp", ws(30)[1]),
            ("rogue_dhcp", "172.20.9.9"),
            ("rogue_gateway", GW[BG][1]),
            ("rogue_gateway", "fe80::2:ff:fe01:201b"),
            ("rogue_gateway", ws(29)[1]),
            ("dual_homed", ws(28)[1]),
            ("hidden_nat", "172.20.1.210"),
            ("hidden_nat", ws(21)[1]),
            ("hidden_nat", ws(22)[1]),
            ("hidden_nat", ws(25)[1]),
            ("unregistered_device", "172.20.1.210"),
        },
        maybe={
            ("unregistered_device", ws(24)[1]),
            ("unregistered_device", "172.20.1.250"),
            ("ip_mac_conflict", GW[BG][1]),
        },
    ),
    Scenario(
        "beacon",
        s_beacon,
        {("beacon", ws(29)[1]), ("external_link", ws(29)[1])},
    ),
    Scenario(
        "beacon-jitter",
        lambda: s_beacon(spread=60, sizes=24),
        {("beacon", ws(29)[1]), ("external_link", ws(29)[1])},
    ),
]
SCENARIOS += [
    Scenario(s.name + "-vlan", s.build, s.must, s.maybe, vlan=True)
    for s in SCENARIOS
    if s.name in ("clean", "external", "devices")
]


def _vlan_of(p: Packet) -> int:
    """The VLAN a frame travels on at a trunk: its sender's zone (by source MAC or address)."""
    src = p[Ether].src
    for z, (m, _) in GW.items():
        if src == m:
            return VLAN[z]
    ip = p[IP].src if IP in p else p[IPv6].src if IPv6 in p else p[ARP].psrc if ARP in p else ""
    if ip.startswith("172.16.") or ip.startswith("fd00:16"):
        return VLAN[JY]
    if ip.startswith("172.20.200."):
        return VLAN[FK]
    if ip.startswith("172.31.5."):
        return VLAN[DMZ]
    if ip.startswith("172.30."):
        return VLAN[OPS]
    return VLAN[BG]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_policy(tmp_path_factory.mktemp("policy_b") / "policy", policy_b())


_FINDINGS: dict[str, list[Any]] = {}


def run(tmp: Path, policy: Path, groups: list[list[Packet]], vlan: bool = False) -> list[Any]:
    from secaudit.detect.run import detect

    pkts = sorted((p for g in groups for p in g), key=lambda p: float(p.time))
    if vlan:
        pkts = [vlan_tag([p], _vlan_of(p))[0] for p in pkts]
    wrpcap(str(tmp / "t.pcap"), pkts)
    return detect(tmp / "t.pcap", policy, only=LINKS, strict=True).findings


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_variant(sc: Scenario, tmp_path: Path, policy_dir: Path) -> None:
    found = run(tmp_path, policy_dir, [*office_background(), *sc.build()], sc.vlan)
    _FINDINGS[sc.name] = found
    got = {(f.detector, f.subject) for f in found}
    missing = sc.must - got
    extra = got - sc.must - sc.maybe
    assert not missing and not extra, f"missing {sorted(missing)}; unexpected {sorted(extra)}"


def _one(scenario: str, detector: str, subject: str) -> Any:
    if scenario not in _FINDINGS:
        pytest.skip(f"scenario {scenario} did not run")
    hits = [f for f in _FINDINGS[scenario] if f.detector == detector and f.subject == subject]
    assert len(hits) == 1
    return hits[0]


def test_evidence_names_exceptions_tools_and_addresses() -> None:
    """Run after test_variant (same module): what the findings say, not only that they exist."""
    assert (
        _one("external", "external_link", ws(13)[1]).evidence["expired_exceptions"][0]["expires"]
        == "2026-02-28"
    )
    early = _one("external", "external_link", ws(15)[1]).evidence
    assert early["exceptions_not_yet_valid"][0]["starts"] == "2026-04-01"
    assert "expired_exceptions" not in early
    assert "exceptions_not_yet_valid" not in _one("external", "external_link", ws(11)[1]).evidence
    tools = {
        n: {d.get("tool") for d in _one("remote", "remote_access_out", ws(n)[1]).evidence["destinations"]}
        for n in (11, 12, 13, 14, 15, 16, 17, 18)
    }  # fmt: skip
    assert tools == {
        11: {"teamviewer"}, 12: {"anydesk"}, 13: {"rdp"}, 14: {"ipsec"}, 15: {"l2tp"},
        16: {"pptp"}, 17: {"ssh"}, 18: {"wireguard"},
    }  # fmt: skip
    dest = _one("external", "external_link", WS4_V6).evidence["destinations"][0]
    assert dest["dst"] == "2001:db8:ff::5" and dest["service"] == "tcp/5222"
    dual = _one("devices", "dual_homed", ws(28)[1]).evidence["ips_by_zone"]
    assert dual == {JY: ["172.16.1.77"], BG: [ws(28)[1]]}
    assert _one("devices", "unregistered_device", "172.20.1.202").evidence["dhcp_offered"] == [
        "172.20.1.202",
        "172.20.1.152",
    ]


def test_policy_b_mistakes_are_located(tmp_path: Path) -> None:
    """Mistakes in the Chinese-named policy still give file:line and what was expected."""
    from secaudit.errors import ConfigError
    from secaudit.policy import load_policy

    pol = policy_b()
    pol["links"]["exceptions"][-1]["starts"] = "2027-01-01"  # after its expiry
    pol["assets"]["assets"][5]["zone"] = "机要区"  # no such zone
    folder = write_policy(tmp_path / "a" / "policy", pol)
    with pytest.raises(ConfigError) as err:
        load_policy(folder)
    lines = [str(e) for e in err.value.all_errors]  # type: ignore[attr-defined]
    assert any(
        "assets.yaml:" in x and "assets.5.zone: unknown zone '机要区'" in x for x in lines
    ), lines
    assert any("links.yaml:" in x and "starts 2027-01-01 is after expires" in x for x in lines), (
        lines
    )
    pol = policy_b()
    pol["links"]["allow"][0]["from"] = "办公 网"  # unknown (and not a name at all)
    pol["zones"]["zones"][2]["name"] = "访客 网"
    with pytest.raises(ConfigError) as err:
        load_policy(write_policy(tmp_path / "b" / "policy", pol))
    lines = [str(e) for e in err.value.all_errors]  # type: ignore[attr-defined]
    assert any("zones.yaml:" in x and "bad name '访客 网'" in x for x in lines), lines
    pol = policy_b()
    pol["links"]["exceptions"][3]["from"] = "ws-99"  # no such asset or zone
    with pytest.raises(ConfigError) as err:
        load_policy(write_policy(tmp_path / "c" / "policy", pol))
    assert "links.yaml:" in str(err.value) and "unknown asset or zone 'ws-99'" in str(err.value)
