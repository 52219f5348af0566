"""The bundled sample: reproducible bytes, and every planted incident present at packet level.

Packets are decoded with dpkt (an independent decoder), so these tests do not
depend on secaudit's own reader.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dpkt
import pytest
import yaml
from cryptography import x509

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # samples/ is a folder of the checkout, not an installed package

from samples import generate as gen  # noqa: E402

PCAP = ROOT / "samples" / "pcaps" / "sample.pcap"
POLICY = ROOT / "samples" / "rules" / "policy"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp()


def _mac(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


@pytest.fixture(scope="module")
def frames() -> list[dict[str, Any]]:
    """Every frame, decoded into a small dict (ts, macs, ip, transport fields, payload)."""
    out = []
    with PCAP.open("rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            row: dict[str, Any] = {"ts": ts, "src_mac": _mac(eth.src), "dst_mac": _mac(eth.dst)}
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP):
                row.update(src=socket.inet_ntoa(ip.src), dst=socket.inet_ntoa(ip.dst), p=ip.p)
                l4 = ip.data
                if isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
                    row.update(sport=l4.sport, dport=l4.dport, payload=bytes(l4.data))
                if isinstance(l4, dpkt.tcp.TCP):
                    row.update(flags=l4.flags, seq=l4.seq)
                row["ip_raw"] = bytes(ip)
            out.append(row)
    return out


def test_regenerating_gives_the_same_bytes() -> None:
    data, policy = gen.build()
    assert data == PCAP.read_bytes()
    for name, text in policy.items():
        assert (POLICY / name).read_text(encoding="utf-8") == text
    assert len(data) < 5_000_000


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def test_checksums_are_correct(frames: list[dict[str, Any]]) -> None:
    bad = 0
    for f in frames:
        raw = f.get("ip_raw")
        if raw is None:
            continue
        ihl = (raw[0] & 0x0F) * 4
        bad += _csum(raw[:ihl]) != 0xFFFF
        if f["p"] in (6, 17):
            seg = raw[ihl:]
            pseudo = raw[12:20] + struct.pack("!BBH", 0, f["p"], len(seg))
            bad += _csum(pseudo + seg) != 0xFFFF
    assert bad == 0


def test_every_mac_but_the_rogue_is_registered(frames: list[dict[str, Any]]) -> None:
    assets = yaml.safe_load((POLICY / "assets.yaml").read_text(encoding="utf-8"))["assets"]
    registered = {a["mac"] for a in assets}
    assert len(assets) == 50
    seen = {f["src_mac"] for f in frames}
    assert seen - registered == {gen.ROGUE.mac}
    rogue = [f for f in frames if f["src_mac"] == gen.ROGUE.mac]
    assert {f.get("src") for f in rogue if "src" in f} == {gen.ROGUE.ip}
    t = gen.INCIDENT_TIMES["unregistered_device"]
    assert all(START + t <= f["ts"] < START + t + 60 for f in rogue)


def _syns(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("p") == 6 and f["flags"] & 0x12 == 0x02]


def test_proxy_bypass_is_direct_internet_from_one_workstation(frames: list[dict[str, Any]]) -> None:
    internal = ("10.", "172.16.")
    direct = {
        (f["src"], f["dst"], f["dport"])
        for f in _syns(frames)
        if f["src"].startswith("10.20.") and not f["dst"].startswith(internal)
    }
    # the bypass plus the approved platform (203.0.113.0/24); nothing else goes out directly
    assert {d for d in direct if not d[1].startswith("203.0.113.")} == {
        (gen.BYPASS_HOST.ip, gen.BYPASS_TLS.ip, 443),
        (gen.BYPASS_HOST.ip, gen.BYPASS_HTTP.ip, 80),
    }
    # gov-internal (forbidden zone) never reaches outside the private ranges
    assert not any(
        f["src"].startswith("10.10.") and not f["dst"].startswith(internal) for f in _syns(frames)
    )


def test_port_scan_touches_1024_ports(frames: list[dict[str, Any]]) -> None:
    ports = {
        f["dport"]
        for f in _syns(frames)
        if f["src"] == gen.SCANNER.ip and f["dst"] == gen.SCAN_TARGET.ip
    }
    assert ports == set(range(1, 1025))
    rst = [
        f
        for f in frames
        if f.get("p") == 6 and f["src"] == gen.SCAN_TARGET.ip and f["flags"] & dpkt.tcp.TH_RST
    ]
    assert len(rst) == 1024 - 3
    # no other host receives SYNs on more than a handful of ports
    per_pair: dict[tuple[str, str], set[int]] = defaultdict(set)
    for f in _syns(frames):
        per_pair[(f["src"], f["dst"])].add(f["dport"])
    big = {k for k, v in per_pair.items() if len(v) > 5}
    assert big == {(gen.SCANNER.ip, gen.SCAN_TARGET.ip)}


def test_eicar_travels_through_the_proxy(frames: list[dict[str, Any]]) -> None:
    hits = {(f["src"], f["dst"]) for f in frames if gen.EICAR in f.get("payload", b"")}
    assert hits == {("172.16.10.5", gen.EICAR_HOST.ip), (gen.EICAR_SITE.ip, "172.16.10.5")}


def test_dns_tunnel_only_from_one_host(frames: list[dict[str, Any]]) -> None:
    txt: Counter[str] = Counter()
    for f in frames:
        if f.get("p") == 17 and f.get("dport") == 53:
            msg = dpkt.dns.DNS(f["payload"])
            for q in msg.qd:
                if q.name.endswith(gen.TUNNEL_DOMAIN):
                    txt[f["src"]] += 1
                    assert q.type == dpkt.dns.DNS_TXT
                    assert len(q.name.split(".")[0]) >= 50
    # the host, and the resolver forwarding the same names upstream
    assert txt == {gen.TUNNEL_HOST.ip: 360, "172.16.10.10": 360}


def test_retransmissions_only_on_the_storm_link(frames: list[dict[str, Any]]) -> None:
    seen: set[tuple[Any, ...]] = set()
    retrans = []
    for f in frames:
        if f.get("p") != 6 or not f["payload"]:
            continue
        key = (f["src"], f["sport"], f["dst"], f["dport"], f["seq"], len(f["payload"]))
        if key in seen:
            retrans.append(f)
        seen.add(key)
    assert len(retrans) >= 40
    lo, hi = gen.STORM_WINDOW
    for f in retrans:
        assert gen.STORM_SERVER.ip in (f["src"], f["dst"]) and 445 in (f["sport"], f["dport"])
        assert START + lo <= f["ts"] <= START + hi + 120


def _certificates(frames: list[dict[str, Any]], server: str) -> list[x509.Certificate]:
    """Reassemble the server->client byte stream per connection and pull Certificate messages."""
    streams: dict[tuple[Any, ...], dict[int, bytes]] = defaultdict(dict)
    for f in frames:
        if f.get("p") == 6 and f["src"] == server and f["sport"] == 443 and f["payload"]:
            streams[(f["dst"], f["dport"])][f["seq"]] = f["payload"]
    certs = []
    for segs in streams.values():
        data = b"".join(segs[s] for s in sorted(segs))
        pos = 0
        hs = b""
        while pos + 5 <= len(data) and data[pos] == 0x16:
            n = struct.unpack("!H", data[pos + 3 : pos + 5])[0]
            hs += data[pos + 5 : pos + 5 + n]
            pos += 5 + n
        i = 0
        while i + 4 <= len(hs):
            mtype, mlen = hs[i], int.from_bytes(hs[i + 1 : i + 4], "big")
            if mtype == 11:
                body, j = hs[i + 7 : i + 4 + mlen], 0
                while j < len(body):
                    clen = int.from_bytes(body[j : j + 3], "big")
                    certs.append(x509.load_der_x509_certificate(body[j + 3 : j + 3 + clen]))
                    j += 3 + clen
            i += 4 + mlen
    return certs


def test_dmz_server_presents_expired_self_signed_certificate(frames: list[dict[str, Any]]) -> None:
    certs = _certificates(frames, gen.BADCERT_SERVER.ip)
    assert len(certs) == 5
    c = certs[0]
    assert c.issuer == c.subject
    assert c.not_valid_after_utc.timestamp() < START
    good = _certificates(frames, "172.16.10.30")
    assert good and all(
        g.issuer != g.subject
        or g.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        for g in good
    )
    assert all(g.not_valid_after_utc.timestamp() > START for g in good)


def test_tcp_connections_complete(frames: list[dict[str, Any]]) -> None:
    """Outside the scan, every SYN gets a SYN-ACK and every connection ends with FINs."""
    syn, synack, fin = Counter(), Counter(), Counter()
    for f in frames:
        if f.get("p") != 6 or f["src"] == gen.SCANNER.ip and f["dst"] == gen.SCAN_TARGET.ip:
            continue
        if f["src"] == gen.SCAN_TARGET.ip and f["dst"] == gen.SCANNER.ip:
            continue
        conn = frozenset([(f["src"], f["sport"]), (f["dst"], f["dport"])])
        if f["flags"] & 0x12 == 0x02:
            syn[conn] += 1
        elif f["flags"] & 0x12 == 0x12:
            synack[conn] += 1
        if f["flags"] & dpkt.tcp.TH_FIN:
            fin[conn] += 1
    assert syn and set(syn) == set(synack)
    assert all(fin[c] == 2 for c in syn)
