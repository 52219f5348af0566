"""Generate the bundled sample network: a 30-minute capture of a small government network.

    python samples/generate.py            # rewrites samples/pcaps/sample.pcap and samples/rules/policy/

Deterministic (fixed seed, fixed start 2026-11-20T09:00:00Z, certificates from
seeded keys): regenerating gives the same bytes, which a test checks.  Every
TCP connection has a full handshake, coherent sequence numbers, data and a FIN
teardown (or the RST a scanner sends); checksums are computed by scapy.

Capture point: the core switch's SPAN.  A flow is seen on the segment of its
initiator (for flows from the internet: of the DMZ server); traffic routed
through the core carries the gateway's MAC and a TTL decremented by one.

The planted incidents are listed in INCIDENTS (and documented for people in
samples/INCIDENTS.md); everything else is normal traffic that the policy in
samples/rules/policy/ allows.
"""

from __future__ import annotations

import base64
import random
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Packet, Raw

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from samples import _tls as tls

SEED = 20261120
START = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
DURATION_S = 30 * 60
HERE = Path(__file__).resolve().parent
PCAP = HERE / "pcaps" / "sample.pcap"
POLICY_DIR = HERE / "rules" / "policy"
START_US = int(START.timestamp()) * 1_000_000


# ---------------------------------------------------------------- the network


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    zone: str  # gov-internal | gov-external | dmz | management | internet
    role: str
    mac: str = ""
    ttl: int = 64
    owner: str = ""


ZONES = [
    ("gov-internal", "政务内网", "Government internal network", "classified", "10.10.0.0/16"),
    ("gov-external", "政务外网", "Government extranet", "internal", "10.20.0.0/16"),
    ("dmz", "隔离区", "DMZ", "dmz", "172.16.10.0/24"),
    ("management", "管理网", "Management network", "management", "10.99.0.0/24"),
]


def _mac(n: int) -> str:
    return f"52:54:00:10:{n >> 8:02x}:{n & 0xFF:02x}"


def _hosts() -> list[Host]:
    h: list[Host] = []
    n = 1

    def add(name: str, ip: str, zone: str, role: str, ttl: int = 64, owner: str = "") -> None:
        nonlocal n
        h.append(Host(name, ip, zone, role, _mac(n), ttl, owner))
        n += 1

    add("gw-internal", "10.10.0.1", "gov-internal", "gateway", 255, "网络运维组")
    add("gw-external", "10.20.0.1", "gov-external", "gateway", 255, "网络运维组")
    add("gw-dmz", "172.16.10.1", "dmz", "gateway", 255, "网络运维组")
    add("gw-mgmt", "10.99.0.1", "management", "gateway", 255, "网络运维组")
    add("oa01", "10.10.1.10", "gov-internal", "server", owner="办公室")
    add("fs01", "10.10.1.11", "gov-internal", "server", owner="信息中心")
    add("db01", "10.10.1.12", "gov-internal", "server", owner="信息中心")
    for i in range(1, 13):
        add(f"cw-{i:03d}", f"10.10.2.{100 + i}", "gov-internal", "workstation", 128, "机要科")
    add("fs-w01", "10.20.1.10", "gov-external", "server", 128, "信息中心")
    add("app-w01", "10.20.1.20", "gov-external", "server", owner="信息中心")
    add("prn-01", "10.20.1.50", "gov-external", "printer", owner="办公室")
    for i in range(1, 19):
        add(f"ws-{i:03d}", f"10.20.3.{100 + i}", "gov-external", "workstation", 128, "业务处")
    add("proxy01", "172.16.10.5", "dmz", "proxy", owner="信息中心")
    add("dns01", "172.16.10.10", "dmz", "resolver", owner="信息中心")
    add("dns02", "172.16.10.11", "dmz", "resolver", owner="信息中心")
    add("ntp01", "172.16.10.12", "dmz", "ntp", owner="信息中心")
    add("mail01", "172.16.10.25", "dmz", "mail", owner="信息中心")
    add("portal01", "172.16.10.30", "dmz", "server", owner="宣传处")
    add("app02", "172.16.10.31", "dmz", "server", owner="业务处")
    add("jump01", "10.99.0.10", "management", "server", owner="网络运维组")
    add("nms01", "10.99.0.20", "management", "server", owner="网络运维组")
    add("backup01", "10.99.0.30", "management", "backup", owner="信息中心")
    return h


HOSTS = _hosts()
BY_NAME = {x.name: x for x in HOSTS}
GATEWAY = {x.zone: x for x in HOSTS if x.role == "gateway"}


def _inet(name: str, ip: str) -> Host:
    return Host(name, ip, "internet", "external", "", 52)


# internet peers (RFC 5737 documentation ranges)
UPSTREAM_DNS = _inet("upstream-dns", "192.0.2.53")
PLATFORM = _inet("platform.example.gov.cn", "203.0.113.10")  # approved provincial platform
PLATFORM_MX = _inet("mx.example.gov.cn", "203.0.113.25")
PLATFORM_NTP = _inet("ntp.example.gov.cn", "203.0.113.123")
WEB_SITES = [
    _inet("www.example-news.com", "198.51.100.10"),
    _inet("docs.example-cloud.net", "198.51.100.11"),
    _inet("cdn.example-static.org", "198.51.100.12"),
    _inet("standards.example.org", "198.51.100.13"),
    _inet("mirror.example-linux.org", "198.51.100.14"),
]
WEB_CLIENTS = [_inet(f"visitor{i}", f"192.0.2.{100 + i}") for i in range(6)]

# planted incidents (see samples/INCIDENTS.md)
BYPASS_HOST = BY_NAME["ws-014"]
BYPASS_TLS = _inet("share.example-files.net", "198.51.100.77")
BYPASS_HTTP = _inet("update.example-soft.com", "198.51.100.78")
ROGUE = Host(
    "(unregistered laptop)", "10.10.2.250", "gov-internal", "workstation", "f0:de:f1:7a:33:c9", 128
)
SCANNER = BY_NAME["ws-017"]
SCAN_TARGET = BY_NAME["app-w01"]
EICAR_HOST = BY_NAME["ws-008"]
EICAR_SITE = _inet("malware-test.example.net", "198.51.100.66")
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
TUNNEL_HOST = BY_NAME["ws-005"]
TUNNEL_DOMAIN = "t.exfil-tunnel.example.org"
STORM_SERVER = BY_NAME["fs-w01"]
STORM_WINDOW = (20 * 60, 26 * 60)  # seconds after START
BADCERT_SERVER = BY_NAME["app02"]

INCIDENT_TIMES = {  # seconds after START
    "proxy_bypass": 12 * 60,
    "unregistered_device": 10 * 60,
    "port_scan": 14 * 60,
    "eicar": 17 * 60 + 30,
    "dns_tunnel": (8 * 60, 14 * 60),
    "retransmission": STORM_WINDOW,
    "bad_cert": 6 * 60,
}

INTERNAL_NAMES = {
    "oa.example.gov.cn": "10.10.1.10",
    "fs.example.gov.cn": "10.10.1.11",
    "portal.example.gov.cn": "172.16.10.30",
    "app02.dmz.example.gov.cn": "172.16.10.31",
    "mail.example.gov.cn": "172.16.10.25",
    "proxy.example.gov.cn": "172.16.10.5",
    "platform.example.gov.cn": "203.0.113.10",
    "fsw.example.gov.cn": "10.20.1.10",
    "app.example.gov.cn": "10.20.1.20",
}


# ---------------------------------------------------------------- frames


@dataclass
class Capture:
    """Frames with integer microsecond timestamps; written sorted by (time, insertion)."""

    frames: list[tuple[int, int, bytes]] = field(default_factory=list)
    ip_id: dict[str, int] = field(default_factory=dict)

    def add(self, t_us: int, pkt: Packet) -> None:
        self.frames.append((t_us, len(self.frames), bytes(pkt)))

    def next_id(self, ip: str) -> int:
        v = self.ip_id.get(ip, (sum(map(int, ip.split("."))) * 2654435761) & 0xFFFF)
        self.ip_id[ip] = (v + 1) & 0xFFFF
        return v

    def pcap(self) -> bytes:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        for t, _, data in sorted(self.frames, key=lambda f: (f[0], f[1])):
            out.append(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(data), len(data)))
            out.append(data)
        return b"".join(out)


def _segment_host(a: Host, b: Host) -> Host:
    """The local host on whose segment a flow between a (initiator) and b is seen."""
    return a if a.zone != "internet" else b


def _l2(src: Host, dst: Host, seg: Host) -> tuple[str, str, int]:
    """(src MAC, dst MAC, TTL) of a frame src->dst seen on seg's segment."""
    if src is seg:
        peer_mac = dst.mac if dst.zone == seg.zone else GATEWAY[seg.zone].mac
        return seg.mac, peer_mac, src.ttl
    routed = src.zone != seg.zone
    src_mac = GATEWAY[seg.zone].mac if routed else src.mac
    return src_mac, seg.mac, src.ttl - 1 if routed else src.ttl


def _ip(cap: Capture, src: Host, dst: Host, seg: Host, proto_payload: Packet) -> Packet:
    smac, dmac, ttl = _l2(src, dst, seg)
    flags = "DF" if isinstance(proto_payload, TCP) else 0
    return (
        Ether(src=smac, dst=dmac)
        / IP(src=src.ip, dst=dst.ip, ttl=ttl, id=cap.next_id(src.ip), flags=flags)
        / proto_payload
    )


def udp_exchange(
    cap: Capture,
    t: int,
    cli: Host,
    cport: int,
    srv: Host,
    sport: int,
    request: bytes | Packet,
    reply: bytes | Packet | None,
    rtt_us: int,
) -> int:
    seg = _segment_host(cli, srv)
    cap.add(t, _ip(cap, cli, srv, seg, UDP(sport=cport, dport=sport) / request))
    if reply is not None:
        t += rtt_us
        cap.add(t, _ip(cap, srv, cli, seg, UDP(sport=sport, dport=cport) / reply))
    return t


class TcpSession:
    """One TCP connection with coherent sequence numbers, as a capture on `seg` sees it."""

    def __init__(
        self,
        cap: Capture,
        rng: random.Random,
        t: int,
        cli: Host,
        cport: int,
        srv: Host,
        sport: int,
        *,
        rtt_us: int = 800,
        retrans: float = 0.0,
    ) -> None:
        self.cap, self.rng, self.t = cap, rng, t
        self.cli, self.srv, self.cport, self.sport = cli, srv, cport, sport
        self.seg = _segment_host(cli, srv)
        self.rtt = rtt_us
        self.retrans = retrans
        self.seq = {"c": rng.getrandbits(32), "s": rng.getrandbits(32)}
        self.win = {"c": 64240 if cli.ttl == 128 else 64256, "s": 65160}

    def _send(
        self, side: str, flags: str, payload: bytes = b"", options: list | None = None
    ) -> None:  # type: ignore[type-arg]
        src, dst = (self.cli, self.srv) if side == "c" else (self.srv, self.cli)
        sp, dp = (self.cport, self.sport) if side == "c" else (self.sport, self.cport)
        other = "s" if side == "c" else "c"
        ack = self.seq[other] if "A" in flags else 0
        seg = TCP(
            sport=sp,
            dport=dp,
            seq=self.seq[side] & 0xFFFFFFFF,
            ack=ack & 0xFFFFFFFF,
            flags=flags,
            window=self.win[side] if "S" in flags else 502,
            options=options or [],
        )
        pkt = _ip(self.cap, src, dst, self.seg, seg / Raw(payload) if payload else seg)
        self.cap.add(self.t, pkt)

    def open(self) -> TcpSession:
        opts = [
            ("MSS", 1460),
            ("NOP", None),
            ("WScale", 8),
            ("NOP", None),
            ("NOP", None),
            ("SAckOK", b""),
        ]
        self._send("c", "S", options=opts)
        self.seq["c"] += 1
        self.t += self.rtt // 2
        self._send("s", "SA", options=opts)
        self.seq["s"] += 1
        self.t += self.rtt // 2
        self._send("c", "A")
        self.t += 200
        return self

    def send(self, side: str, data: bytes, think_us: int = 0, mss: int = 1448) -> TcpSession:
        """`side` ('c' or 's') sends `data` in MSS segments; the peer ACKs every second one."""
        self.t += think_us
        other = "s" if side == "c" else "c"
        chunks = [data[i : i + mss] for i in range(0, len(data), mss)] or []
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self._send(side, "PA" if last else "A", chunk)
            if self.retrans and self.rng.random() < self.retrans:
                # the segment is lost behind the SPAN: dup-ACK, then the RTO resend
                self.t += self.rtt // 2
                self._send(other, "A")
                self.t += 200_000 + self.rng.randrange(0, 100_000)
                self._send(side, "PA" if last else "A", chunk)
            self.seq[side] += len(chunk)
            self.t += 120 + len(chunk) // 12  # ~100 Mbit/s serialisation
            if i % 2 == 1 or last:
                self.t += self.rtt // 2
                self._send(other, "A")
        self.t += self.rtt // 2
        return self

    def close(self, first: str = "c") -> int:
        second = "s" if first == "c" else "c"
        self.t += 1000
        self._send(first, "FA")
        self.seq[first] += 1
        self.t += self.rtt // 2
        self._send(second, "FA")
        self.seq[second] += 1
        self.t += self.rtt // 2
        self._send(first, "A")
        return self.t

    def reset_by_client(self) -> int:
        self._send("c", "R")
        return self.t


@dataclass(frozen=True)
class SampleCerts:
    """The sample's certificates with their private keys (the scan builder serves them)."""

    ca_der: bytes
    servers: dict[str, tuple[list[bytes], rsa.RSAPrivateKey]]  # name -> (chain DER, leaf key)


def sample_certs() -> SampleCerts:
    """Seeded CA, three CA-signed server certificates and app02's expired self-signed one.

    The draw order of the seeded RNG is part of the pcap's bytes: keep it.
    """
    krng = random.Random(SEED + 1)
    ca_key = tls.rsa_key(krng)
    ca_cn = "Example Provincial Government CA"
    org = "Example Provincial Government"
    nb, na = datetime(2025, 1, 1, tzinfo=UTC), datetime(2035, 1, 1, tzinfo=UTC)
    ca_der = tls.certificate(
        subject_cn=ca_cn, org=org, key=ca_key, serial=0x1001, not_before=nb, not_after=na, ca=True
    )

    def leaf(cn: str, serial: int) -> tuple[list[bytes], rsa.RSAPrivateKey]:
        key = tls.rsa_key(krng)
        der = tls.certificate(
            subject_cn=cn,
            org=org,
            key=key,
            serial=serial,
            not_before=datetime(2026, 3, 1, tzinfo=UTC),
            not_after=datetime(2027, 3, 1, tzinfo=UTC),
            issuer_cn=ca_cn,
            issuer_key=ca_key,
            sans=(cn,),
        )
        return [der, ca_der], key

    servers = {
        "portal01": leaf("portal.example.gov.cn", 0x2001),
        "oa01": leaf("oa.example.gov.cn", 0x2002),
        "platform": leaf("platform.example.gov.cn", 0x2003),
    }
    bad_key = tls.rsa_key(krng)
    bad_cert = tls.certificate(
        subject_cn="app02.dmz.example.gov.cn",
        org="app02",
        key=bad_key,
        serial=0x01,
        not_before=datetime(2023, 11, 1, tzinfo=UTC),
        not_after=datetime(2025, 10, 31, tzinfo=UTC),
        sans=("app02.dmz.example.gov.cn",),
    )
    servers["app02"] = ([bad_cert], bad_key)
    return SampleCerts(ca_der, servers)


# ---------------------------------------------------------------- traffic kinds


class Net:
    def __init__(self) -> None:
        self.rng = random.Random(SEED)
        self.cap = Capture()
        self.ports: dict[str, int] = {}
        self.resolver_cache: set[tuple[str, str]] = set()
        self._make_certs()

    def eph(self, host: Host) -> int:
        base = 49152 if host.ttl == 128 else 40000
        p = self.ports.get(host.ip, base + self.rng.randrange(0, 4000))
        self.ports[host.ip] = p + 1 + self.rng.randrange(0, 3)
        return p

    def us(self, seconds: float) -> int:
        return START_US + int(seconds * 1_000_000)

    # -- certificates
    def _make_certs(self) -> None:
        certs = sample_certs()
        self.ca_der = certs.ca_der
        self.chain = {name: chain for name, (chain, _key) in certs.servers.items()}
        self.bad_cert = self.chain["app02"][0]

    # -- building blocks
    def dns(
        self, t: int, cli: Host, name: str, resolver: Host | None = None, qtype: str = "A"
    ) -> int:
        rng = self.rng
        resolver = resolver or (BY_NAME["dns01"] if rng.random() < 0.7 else BY_NAME["dns02"])
        qid = rng.getrandbits(16)
        if qtype == "TXT":
            ans = DNSRR(
                rrname=name, type="TXT", ttl=0, rdata=[base64.b64encode(rng.randbytes(60)).decode()]
            )
        else:
            addr = INTERNAL_NAMES.get(name) or next(
                (w.ip for w in WEB_SITES if w.name == name), "198.51.100.20"
            )
            ans = DNSRR(rrname=name, type="A", ttl=300, rdata=addr)
        q = DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype))
        r = DNS(id=qid, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype), an=ans)
        cached = (
            (resolver.name, name) in self.resolver_cache
            or name in INTERNAL_NAMES
            and not name.startswith("platform")
        )
        rtt = 400 + rng.randrange(0, 300)
        if not cached:
            # the resolver asks upstream first (its own, allowed, traffic)
            uq = DNS(id=rng.getrandbits(16), rd=0, qd=DNSQR(qname=name, qtype=qtype))
            ur = DNS(id=uq.id, qr=1, aa=1, qd=DNSQR(qname=name, qtype=qtype), an=ans)
            udp_exchange(
                self.cap, t + 150, resolver, self.eph(resolver), UPSTREAM_DNS, 53, uq, ur, 18_000
            )
            rtt += 19_000
            if qtype == "A":
                self.resolver_cache.add((resolver.name, name))
        return udp_exchange(self.cap, t, cli, self.eph(cli), resolver, 53, q, r, rtt)

    def http(
        self,
        t: int,
        cli: Host,
        srv: Host,
        port: int,
        request: bytes,
        status: str,
        body: bytes,
        ctype: str = "text/html; charset=utf-8",
        retrans: float = 0.0,
    ) -> int:
        head = (
            f"HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        s = TcpSession(self.cap, self.rng, t, cli, self.eph(cli), srv, port, retrans=retrans).open()
        s.send("c", request).send("s", head + body, think_us=3000)
        return s.close("s")

    def tls12(
        self,
        t: int,
        cli: Host,
        srv: Host,
        sni: str,
        chain: list[bytes],
        up: int,
        down: int,
        port: int = 443,
    ) -> int:
        rng = self.rng
        s = TcpSession(self.cap, rng, t, cli, self.eph(cli), srv, port, rtt_us=900).open()
        s.send("c", tls.client_hello(rng, sni, tls13=False))
        s.send("s", tls.server_flight_12(rng, chain), think_us=1500)
        s.send("c", tls.client_finish_12(rng), think_us=800)
        s.send("s", tls.server_finish_12(rng), think_us=500)
        s.send("c", tls.app_data(rng, up), think_us=300)
        s.send("s", tls.app_data(rng, down), think_us=4000)
        s.send("c", tls.close_notify(rng), think_us=rng.randrange(50_000, 2_000_000))
        return s.close("c")

    def tls13_payloads(self, sni: str, up: int, down: int) -> list[tuple[str, bytes, int]]:
        rng = self.rng
        return [
            ("c", tls.client_hello(rng, sni, tls13=True), 0),
            ("s", tls.server_flight_13(rng), 30_000),
            ("c", tls.client_finish_13(rng) + tls.app_data(rng, up), 600),
            ("s", tls.app_data(rng, down), 40_000),
        ]

    def play(
        self,
        t: int,
        cli: Host,
        srv: Host,
        port: int,
        steps: list[tuple[str, bytes, int]],
        rtt_us: int = 800,
    ) -> int:
        s = TcpSession(self.cap, self.rng, t, cli, self.eph(cli), srv, port, rtt_us=rtt_us).open()
        for side, data, think in steps:
            s.send(side, data, think_us=think)
        return s.close("c")

    # -- normal traffic
    def web_via_proxy(self, t: int, ws: Host) -> None:
        rng = self.rng
        site = rng.choice(WEB_SITES)
        proxy = BY_NAME["proxy01"]
        if rng.random() < 0.7:
            connect = (
                f"CONNECT {site.name}:443 HTTP/1.1\r\nHost: {site.name}:443\r\n"
                "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0\r\n"
                "Proxy-Connection: keep-alive\r\n\r\n"
            ).encode()
            steps = self.tls13_payloads(
                site.name, rng.randrange(300, 1000), rng.randrange(1000, 6000)
            )
            self.play(
                t,
                ws,
                proxy,
                3128,
                [
                    ("c", connect, 0),
                    ("s", b"HTTP/1.1 200 Connection established\r\n\r\n", 25_000),
                    *steps,
                ],
            )
            # the proxy's own upstream connection (allowed egress of a `via` asset)
            self.dns(t + 500, proxy, site.name)
            self.play(t + 21_000, proxy, site, 443, steps, rtt_us=20_000)
        else:
            path = rng.choice(
                ["/", "/news/today.html", "/css/site.css", "/img/logo.png", "/api/v1/status"]
            )
            body = (
                rng.randbytes(rng.randrange(800, 5000))
                if path.endswith(".png")
                else (
                    b"<html><head><title>"
                    + site.name.encode()
                    + b"</title></head><body>"
                    + b"x" * rng.randrange(300, 4000)
                    + b"</body></html>"
                )
            )
            ctype = "image/png" if path.endswith(".png") else "text/html; charset=utf-8"
            req = (
                f"GET http://{site.name}{path} HTTP/1.1\r\nHost: {site.name}\r\n"
                "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0\r\nAccept: */*\r\n\r\n"
            ).encode()
            up_req = f"GET {path} HTTP/1.1\r\nHost: {site.name}\r\nVia: 1.1 proxy01\r\nAccept: */*\r\n\r\n".encode()
            self.dns(t + 500, proxy, site.name)
            self.http(t + 21_000, proxy, site, 80, up_req, "200 OK", body, ctype)
            self.http(t, ws, proxy, 3128, req, "200 OK", body, ctype)

    def mail(self, t: int, ws: Host) -> None:
        rng = self.rng
        relay = BY_NAME["mail01"]
        rcpt = rng.choice(["zhang.wei", "li.na", "wang.fang", "office"])
        msg = (
            f"From: {ws.name}@example.gov.cn\r\nTo: {rcpt}@example.gov.cn\r\nSubject: weekly report\r\n\r\n"
            + "report line\r\n" * rng.randrange(20, 200)
            + ".\r\n"
        ).encode()
        steps = [
            ("s", b"220 mail.example.gov.cn ESMTP Postfix\r\n", 2000),
            ("c", f"EHLO {ws.name}.example.gov.cn\r\n".encode(), 1000),
            ("s", b"250-mail.example.gov.cn\r\n250-SIZE 52428800\r\n250 8BITMIME\r\n", 500),
            ("c", f"MAIL FROM:<{ws.name}@example.gov.cn>\r\n".encode(), 500),
            ("s", b"250 2.1.0 Ok\r\n", 400),
            ("c", f"RCPT TO:<{rcpt}@example.gov.cn>\r\n".encode(), 500),
            ("s", b"250 2.1.5 Ok\r\n", 400),
            ("c", b"DATA\r\n", 400),
            ("s", b"354 End data with <CR><LF>.<CR><LF>\r\n", 400),
            ("c", msg, 500),
            ("s", b"250 2.0.0 Ok: queued\r\n", 3000),
            ("c", b"QUIT\r\n", 400),
            ("s", b"221 2.0.0 Bye\r\n", 300),
        ]
        end = self.play(t, ws, relay, 25, steps)
        if rng.random() < 0.4:  # relayed to the provincial platform's MX (approved)
            self.play(end + 200_000, relay, PLATFORM_MX, 25, steps, rtt_us=8000)

    def ntp(self, t: int, host: Host, server: Host) -> None:
        rng = self.rng
        ts = int((t / 1e6 + 2_208_988_800) * 2**32)
        req = bytes([0x23, 0, 6, 0xEC]) + bytes(36) + struct.pack("!Q", ts)
        rep = (
            bytes([0x24, 2, 6, 0xE9])
            + rng.randbytes(8)
            + b"\xcb\x00\x71\x7b"
            + rng.randbytes(24)
            + struct.pack("!Q", ts + 3000)
        )
        udp_exchange(
            self.cap,
            t,
            host,
            123,
            server,
            123,
            Raw(req),
            Raw(rep),
            600 if server.zone != "internet" else 9000,
        )

    def backup(self, t: int, server: Host, size: int) -> None:
        """restic to rest-server over HTTPS (`rest-server --tls`): TLS 1.3, nothing in clear."""
        rng = self.rng
        target = BY_NAME["backup01"]
        s = TcpSession(self.cap, rng, t, server, self.eph(server), target, 8000).open()
        s.send("c", tls.client_hello(rng, "backup01.example.gov.cn", tls13=True))
        s.send("s", tls.server_flight_13(rng), think_us=1500)
        s.send("c", tls.client_finish_13(rng), think_us=500)
        for _ in range(max(1, size // 65536)):
            s.send("c", tls.app_data(rng, min(size, 65536) + 300))
            s.send("s", tls.app_data(rng, 60), think_us=2000)
        s.send("c", tls.close_notify(rng), think_us=1000)
        s.close("c")

    def smb(self, t: int, ws: Host, retrans: float) -> None:
        rng = self.rng
        steps: list[tuple[str, bytes, int]] = [
            ("c", b"\x00\x00\x00\x66\xfeSMB" + rng.randbytes(98), 0),
            ("s", b"\x00\x00\x00\xf0\xfeSMB" + rng.randbytes(236), 800),
        ]
        for _ in range(rng.randrange(2, 5)):
            size = rng.randrange(1500, 7000)
            steps.append(("c", b"\x00\x00\x00\x31\xfeSMB" + rng.randbytes(45), 20_000))
            steps.append(
                (
                    "s",
                    b"\x00" + struct.pack("!I", size)[1:] + b"\xfeSMB" + rng.randbytes(size),
                    1000,
                )
            )
        s = TcpSession(
            self.cap, rng, t, ws, self.eph(ws), STORM_SERVER, 445, retrans=retrans
        ).open()
        for side, data, think in steps:
            s.send(side, data, think_us=think)
        s.close("c")

    def ssh(self, t: int, admin: Host, srv: Host) -> None:
        rng = self.rng
        steps = [
            ("c", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 0),
            ("s", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 2000),
            ("c", rng.randbytes(1500), 500),
            ("s", rng.randbytes(1100), 800),
            ("c", rng.randbytes(48), 2000),
            ("s", rng.randbytes(560), 2000),
        ]
        for _ in range(rng.randrange(5, 20)):
            steps.append(("c", rng.randbytes(36), rng.randrange(200_000, 3_000_000)))
            steps.append(("s", rng.randbytes(rng.randrange(36, 2000)), 3000))
        self.play(t, admin, srv, 22, steps)

    def arp(self, t: int, host: Host, target_ip: str, target_mac: str) -> None:
        self.cap.add(
            t,
            Ether(src=host.mac, dst="ff:ff:ff:ff:ff:ff")
            / ARP(op=1, hwsrc=host.mac, psrc=host.ip, pdst=target_ip),
        )
        self.cap.add(
            t + 300,
            Ether(src=target_mac, dst=host.mac)
            / ARP(op=2, hwsrc=target_mac, psrc=target_ip, hwdst=host.mac, pdst=host.ip),
        )

    def ping(self, t: int, src: Host, dst: Host, seq: int) -> None:
        seg = _segment_host(src, dst)
        ident = 0x4E4D
        data = bytes(range(48))
        self.cap.add(t, _ip(self.cap, src, dst, seg, ICMP(type=8, id=ident, seq=seq) / Raw(data)))
        self.cap.add(
            t + 500, _ip(self.cap, dst, src, seg, ICMP(type=0, id=ident, seq=seq) / Raw(data))
        )

    # -- scenario
    def normal(self) -> None:
        rng = self.rng
        internal_ws = [h for h in HOSTS if h.zone == "gov-internal" and h.role == "workstation"]
        external_ws = [h for h in HOSTS if h.zone == "gov-external" and h.role == "workstation"]
        local = [h for h in HOSTS if h.role != "gateway"]
        # ARP for the gateway at the start, for every local host
        for h in local:
            gw = GATEWAY[h.zone]
            self.arp(self.us(rng.uniform(0, 20)), h, gw.ip, gw.mac)
        # NTP: everyone polls ntp01 every ~5 min; ntp01 polls the platform's server
        for h in local:
            if h.name == "ntp01":
                continue
            off = rng.uniform(0, 300)
            while off < DURATION_S:
                self.ntp(self.us(off), h, BY_NAME["ntp01"])
                off += rng.uniform(280, 320)
        for k in range(0, DURATION_S, 64):
            self.ntp(self.us(k + 3), BY_NAME["ntp01"], PLATFORM_NTP)
        # internal workstations: OA portal over HTTPS, file server, DNS via the official resolvers
        for ws in internal_ws:
            off = rng.uniform(5, 120)
            while off < DURATION_S - 30:
                self.dns(self.us(off), ws, "oa.example.gov.cn")
                self.tls12(
                    self.us(off + 0.05),
                    ws,
                    BY_NAME["oa01"],
                    "oa.example.gov.cn",
                    self.chain["oa01"],
                    rng.randrange(400, 1500),
                    rng.randrange(1500, 8000),
                )
                off += rng.uniform(160, 420)
            self.dns(self.us(rng.uniform(30, 1700)), ws, "portal.example.gov.cn")
        # extranet workstations: web via the proxy, mail, platform (approved, direct), file server
        storm_lo, storm_hi = STORM_WINDOW
        for ws in external_ws:
            off = rng.uniform(5, 60)
            while off < DURATION_S - 30:
                kind = rng.random()
                if kind < 0.55:
                    self.web_via_proxy(self.us(off), ws)
                elif kind < 0.65:
                    self.dns(self.us(off), ws, "mail.example.gov.cn")
                    self.mail(self.us(off + 0.05), ws)
                elif kind < 0.8:
                    self.dns(self.us(off), ws, "platform.example.gov.cn")
                    self.tls12(
                        self.us(off + 0.05),
                        ws,
                        PLATFORM,
                        "platform.example.gov.cn",
                        self.chain["platform"],
                        rng.randrange(400, 1200),
                        rng.randrange(1500, 6000),
                    )
                elif kind < 0.9:
                    self.dns(self.us(off), ws, "fsw.example.gov.cn")
                    storm = storm_lo <= off < storm_hi
                    self.smb(self.us(off + 0.05), ws, 0.3 if storm else 0.0)
                else:
                    self.dns(self.us(off), ws, "portal.example.gov.cn")
                    self.tls12(
                        self.us(off + 0.05),
                        ws,
                        BY_NAME["portal01"],
                        "portal.example.gov.cn",
                        self.chain["portal01"],
                        rng.randrange(400, 1500),
                        rng.randrange(1500, 8000),
                    )
                off += rng.uniform(90, 270)
        # the storm window also gets some extra file-server traffic so the fault is visible
        for i in range(10):
            ws = external_ws[i % len(external_ws)]
            self.smb(self.us(storm_lo + 20 + i * 33), ws, 0.3)
        # printing
        for _ in range(6):
            ws = rng.choice(external_ws)
            s = TcpSession(
                self.cap,
                rng,
                self.us(rng.uniform(60, 1700)),
                ws,
                self.eph(ws),
                BY_NAME["prn-01"],
                9100,
            ).open()
            s.send("c", b"\x1b%-12345X@PJL JOB\r\n" + rng.randbytes(rng.randrange(4000, 12000)))
            s.close("c")
        # visitors from the internet on the portal (DMZ, allowed inbound)
        for _ in range(15):
            v = rng.choice(WEB_CLIENTS)
            self.tls12(
                self.us(rng.uniform(10, 1780)),
                v,
                BY_NAME["portal01"],
                "portal.example.gov.cn",
                self.chain["portal01"],
                rng.randrange(400, 1500),
                rng.randrange(1500, 8000),
            )
        # backups to backup01 (restic REST server) from the servers
        for i, name in enumerate(["oa01", "fs01", "db01", "portal01", "mail01", "fs-w01"]):
            self.backup(self.us(300 + i * 90), BY_NAME[name], 49152 * (1 + i % 2))
        # management: nms01 pings the 8 critical servers each minute (below any sweep
        # threshold: monitoring is not a ping sweep), jump01 SSH to servers
        nms = BY_NAME["nms01"]
        targets = [
            BY_NAME[n]
            for n in ("oa01", "db01", "proxy01", "dns01", "dns02", "mail01", "portal01", "fs-w01")
        ]
        for k, minute in enumerate(range(30, DURATION_S, 60)):
            for j, tgt in enumerate(targets):
                self.ping(self.us(minute + j * 0.01), nms, tgt, k + 1)
        for name in ("oa01", "db01", "portal01", "backup01"):
            self.ssh(self.us(rng.uniform(100, 1600)), BY_NAME["jump01"], BY_NAME[name])
        # DMZ servers resolve each other / mail01 resolves the platform MX
        for _ in range(10):
            self.dns(self.us(rng.uniform(0, 1790)), BY_NAME["mail01"], "mx.example.gov.cn")
        # app02 (DMZ) is used by a few extranet users -- the expired self-signed cert incident
        for i in range(5):
            ws = external_ws[(3 * i + 1) % len(external_ws)]
            at = INCIDENT_TIMES["bad_cert"] + i * 170
            self.dns(self.us(at), ws, "app02.dmz.example.gov.cn")
            self.tls12(
                self.us(at + 0.05),
                ws,
                BADCERT_SERVER,
                "app02.dmz.example.gov.cn",
                self.chain["app02"],
                1200,
                9000,
            )

    def incidents(self) -> None:
        rng = self.rng
        # (a) proxy bypass: ws-014 goes to the internet directly (TLS 443 and HTTP 80)
        t0 = INCIDENT_TIMES["proxy_bypass"]
        ws = BYPASS_HOST
        self.dns(self.us(t0), ws, BYPASS_TLS.name)
        self.play(
            self.us(t0 + 0.1),
            ws,
            BYPASS_TLS,
            443,
            self.tls13_payloads(BYPASS_TLS.name, 40_000, 3000),
            rtt_us=30_000,
        )
        self.dns(self.us(t0 + 40), ws, BYPASS_HTTP.name)
        req = f"GET /client/latest.exe HTTP/1.1\r\nHost: {BYPASS_HTTP.name}\r\nUser-Agent: UpdateAgent/2.1\r\n\r\n".encode()
        self.http(
            self.us(t0 + 40.1),
            ws,
            BYPASS_HTTP,
            80,
            req,
            "200 OK",
            rng.randbytes(12_000),
            "application/octet-stream",
        )
        # (b) unregistered device on the internal LAN
        t0 = INCIDENT_TIMES["unregistered_device"]
        gw = GATEWAY["gov-internal"]
        self.arp(self.us(t0), ROGUE, gw.ip, gw.mac)
        self.dns(self.us(t0 + 2), ROGUE, "oa.example.gov.cn")
        self.tls12(
            self.us(t0 + 2.1),
            ROGUE,
            BY_NAME["oa01"],
            "oa.example.gov.cn",
            self.chain["oa01"],
            2000,
            20_000,
        )
        self.dns(self.us(t0 + 30), ROGUE, "fs.example.gov.cn")
        # (c) vertical SYN scan of app-w01, ports 1-1024, from ws-017
        t0 = INCIDENT_TIMES["port_scan"]
        open_ports = {22, 80, 443}
        for i, port in enumerate(rng.sample(range(1, 1025), 1024)):
            t = self.us(t0) + i * 2000
            s = TcpSession(self.cap, rng, t, SCANNER, 61_000, SCAN_TARGET, port, rtt_us=400)
            s._send("c", "S", options=[("MSS", 1460)])
            s.seq["c"] += 1
            s.t += 200
            if port in open_ports:
                s._send("s", "SA", options=[("MSS", 1460)])
                s.t += 200
                s._send("c", "R")
            else:
                s.seq["s"] = 0
                s._send("s", "RA")
        # (d) EICAR test file fetched through the proxy (both legs seen)
        t0 = INCIDENT_TIMES["eicar"]
        proxy = BY_NAME["proxy01"]
        req = (
            f"GET http://{EICAR_SITE.name}/download/eicar.com HTTP/1.1\r\nHost: {EICAR_SITE.name}\r\n"
            "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0\r\nAccept: */*\r\n\r\n"
        ).encode()
        up = f"GET /download/eicar.com HTTP/1.1\r\nHost: {EICAR_SITE.name}\r\nVia: 1.1 proxy01\r\n\r\n".encode()
        self.dns(self.us(t0 + 0.0005), proxy, EICAR_SITE.name)
        self.http(
            self.us(t0 + 0.021),
            proxy,
            EICAR_SITE,
            80,
            up,
            "200 OK",
            EICAR,
            "application/octet-stream",
        )
        self.http(
            self.us(t0), EICAR_HOST, proxy, 3128, req, "200 OK", EICAR, "application/octet-stream"
        )
        # (e) DNS tunnel: ws-005 sends ~1 TXT query/s with encoded labels via dns01
        lo, hi = INCIDENT_TIMES["dns_tunnel"]
        for i in range(int(hi - lo)):
            label = base64.b32encode(rng.randbytes(35)).decode().rstrip("=").lower()
            name = f"{label}.{i:04x}.{TUNNEL_DOMAIN}"
            self.dns(
                self.us(lo + i + rng.uniform(0, 0.3)),
                TUNNEL_HOST,
                name,
                BY_NAME["dns01"],
                qtype="TXT",
            )
        # (f) retransmission storm: built into the fs-w01 SMB traffic in STORM_WINDOW (normal())
        # (g) expired self-signed certificate on app02: built into normal() (users of app02)


def build() -> tuple[bytes, dict[str, str]]:
    """The sample capture bytes and the policy files (name -> YAML text)."""
    net = Net()
    net.normal()
    net.incidents()
    return net.cap.pcap(), policy_files()


# ---------------------------------------------------------------- policy


def _yaml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(items) + "]"


def policy_files() -> dict[str, str]:
    head = "# generated by samples/generate.py - edit the generator, not this file\n"
    zones = head + "zones:\n"
    for name, zh, en, trust, cidr in ZONES:
        zones += f"  - name: {name}\n    title: {{zh: {zh}, en: {en}}}\n    trust: {trust}\n    networks: [{cidr}]\n"
    assets = head + "assets:\n"
    for h in HOSTS:
        assets += f'  - name: {h.name}\n    mac: "{h.mac}"\n    ips: [{h.ip}]\n    zone: {h.zone}\n    role: {h.role}\n'
        if h.owner:
            assets += f"    owner: {h.owner}\n"
    links = head + (
        "allow:\n"
        "  - {from: internet, to: dmz, ports: [tcp/443]}\n"
        "  - {from: gov-internal, to: dmz, ports: [udp/53, udp/123, tcp/443]}\n"
        "  - {from: gov-external, to: dmz, ports: [tcp/3128, udp/53, udp/123, tcp/25, tcp/443]}\n"
        "  - {from: gov-internal, to: management, ports: [tcp/8000]}\n"
        "  - {from: gov-external, to: management, ports: [tcp/8000]}\n"
        "  - {from: dmz, to: management, ports: [tcp/8000]}\n"
        "  - {from: management, to: '*', ports: ['*']}\n"
        "external:\n"
        "  approved:\n"
        "    - {cidr: 203.0.113.0/24, reason: 'provincial e-government platform: web, mail, NTP'}\n"
        "    - {domain: '*.example.gov.cn', reason: government sites}\n"
        "  via:\n"
        "    web: [proxy01]\n"
        "    dns: [dns01, dns02]\n"
        "  forbidden_zones: [gov-internal]\n"
        "exceptions: []\n"
    )
    return {"zones.yaml": zones, "assets.yaml": assets, "links.yaml": links}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("-o", "--output", type=Path, default=PCAP)
    ap.add_argument("--policy-dir", type=Path, default=POLICY_DIR)
    args = ap.parse_args(argv)
    data, policy = build()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(data)
    args.policy_dir.mkdir(parents=True, exist_ok=True)
    for name, text in policy.items():
        (args.policy_dir / name).write_text(text, encoding="utf-8")
    print(f"{args.output}: {len(data)} bytes; policy in {args.policy_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
