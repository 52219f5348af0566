"""capture/: pcapng features, link types and tunnels, on hand-built and real files."""

from __future__ import annotations

import gzip
import struct
from typing import Any

import numpy as np
import pytest
from conftest import DATA

from secaudit.capture import TunnelKind, addr_to_str, read_packets, read_pcap
from secaudit.capture._kernels import MAX_SUBFRAMES

CAP = DATA / "capture"
MAC = "02:00:00:00:00:02"


def _frames() -> list[bytes]:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    return [
        bytes(Ether(dst=MAC) / IP(src="10.1.0.1", dst="10.1.0.2") / TCP(sport=1000, dport=22)),
        bytes(Ether(dst=MAC) / IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=5353, dport=53)),
    ]


# --------------------------------------------------------------------------- pcapng writer
def _opt(e: str, code: int, value: bytes) -> bytes:
    pad = b"\0" * (-len(value) % 4)
    return struct.pack(e + "HH", code, len(value)) + value + pad


def _block(e: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)


def _shb(e: str) -> bytes:
    return _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def _idb(e: str, linktype: int = 1, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += _opt(e, 9, bytes([tsresol]))
    if tsoffset:
        opts += _opt(e, 14, struct.pack(e + "q", tsoffset))
    if opts:
        opts += _opt(e, 0, b"")
    return _block(e, 1, struct.pack(e + "HHI", linktype, 0, 65535) + opts)


def _epb(e: str, iface: int, units: int, frame: bytes) -> bytes:
    hdr = struct.pack(e + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame))
    return _block(e, 6, hdr + frame)


def _spb(e: str, frame: bytes) -> bytes:
    return _block(e, 3, struct.pack(e + "I", len(frame)) + frame)


def _pb(e: str, iface: int, units: int, frame: bytes) -> bytes:
    hdr = struct.pack(
        e + "HHIIII", iface, 0, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)
    )
    return _block(e, 2, hdr + frame)


T0 = 1_700_000_000  # seconds


def _multi_section_file() -> bytes:
    f1, f2 = _frames()
    little = (
        _shb("<")
        + _idb("<")  # iface 0: default microseconds
        + _idb("<", tsresol=9)  # iface 1: nanoseconds
        + _idb("<", tsresol=0x80 | 20, tsoffset=100)  # iface 2: 2^-20 s, +100 s
        + _block("<", 0x0BAD, b"custom block the reader must skip")
        + _block("<", 4, b"\x00\x00\x00\x00")  # name resolution block (ignored)
        + _epb("<", 0, T0 * 1_000_000 + 250_000, f1)
        + _epb("<", 1, T0 * 1_000_000_000 + 7, f2)
        + _epb("<", 2, (T0 << 20) + (1 << 19), f1)  # half a second
        + _spb("<", f2)
        + _pb("<", 0, T0 * 1_000_000 + 1, f1)
    )
    big = _shb(">") + _idb(">", linktype=1, tsresol=3) + _epb(">", 0, T0 * 1000 + 5, f2)
    return little + big


def test_pcapng_sections_interfaces_resolutions() -> None:
    chunk = read_packets(_multi_section_file())
    p = chunk.packets
    assert chunk.gaps == ()
    assert len(p) == 6
    ns = 1_000_000_000
    assert p["ts"].tolist() == [
        T0 * ns + 250_000_000,
        T0 * ns + 7,
        (T0 + 100) * ns + 500_000_000,
        (T0 + 100) * ns + 500_000_000,  # SPB has no timestamp: the previous one is kept
        T0 * ns + 1_000,
        T0 * ns + 5_000_000,  # big-endian section, milliseconds
    ]
    assert p["iface"].tolist() == [0, 1, 2, 0, 0, 0]
    assert p["proto"].tolist() == [6, 17, 6, 17, 6, 17]
    assert addr_to_str(p["src_hi"], p["src_lo"]).tolist()[:2] == ["10.1.0.1", "fd00::1"]


def test_pcapng_damage_resyncs_on_block_lengths() -> None:
    f1, _ = _frames()
    good = _epb("<", 0, T0 * 1_000_000, f1)
    head = _shb("<") + _idb("<")
    data = head + good + b"GARBAGE!" * 3 + good + good[:-9] + good
    chunk = read_packets(data)
    assert len(chunk.packets) == 3
    kinds = {g.kind for g in chunk.gaps}
    assert kinds == {"corrupt"}
    offsets = sorted(g.offset for g in chunk.gaps if g.offset is not None)
    assert offsets[0] == len(head) + len(good)  # where the garbage starts


def test_pcapng_truncated_tail_is_a_gap() -> None:
    data = _multi_section_file()
    chunk = read_packets(data[:-7])
    assert len(chunk.packets) == 5
    (gap,) = chunk.gaps
    assert gap.kind == "truncated" and gap.offset is not None and gap.offset < len(data)


def test_pcapng_unknown_interface_is_a_gap() -> None:
    f1, _ = _frames()
    chunk = read_packets(_shb("<") + _idb("<") + _epb("<", 3, 0, f1))
    assert len(chunk.packets) == 0
    assert [g.kind for g in chunk.gaps] == ["corrupt"] and "3" in chunk.gaps[0].message


def test_real_pcapng_with_several_interfaces() -> None:
    df = read_pcap(CAP / "pcapng-multi-interface.pcapng")
    assert set(df["iface"]) == {0, 1}
    assert (df["ip_version"] > 0).all()


def test_gzip_pcapng_and_truncated_gzip(tmp_path: Any) -> None:
    data = _multi_section_file()
    gz = gzip.compress(data)
    assert np.array_equal(read_packets(gz).packets, read_packets(data).packets)
    chunk = read_packets(gz[: len(gz) // 2])
    assert any(g.kind == "truncated" and "decompressed" in g.message for g in chunk.gaps)


# --------------------------------------------------------------------------- link types
def _pcap(linktype: int, frames: list[bytes]) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", T0 + i, 0, len(f), len(f)) + f)
    return b"".join(out)


def _ip4_udp() -> bytes:
    from scapy.layers.inet import IP, UDP

    return bytes(IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1111, dport=2222) / b"abc")


def _ip6_tcp() -> bytes:
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6

    return bytes(
        IPv6(src="2001:db8::a", dst="2001:db8::b") / TCP(sport=3333, dport=443, flags="SA")
    )


@pytest.mark.parametrize(
    ("linktype", "prefix4", "prefix6"),
    [
        (101, b"", b""),  # LINKTYPE_RAW
        (12, b"", b""),  # DLT_RAW (OpenBSD numbering)
        (14, b"", b""),  # DLT_RAW (BSD/OS numbering)
        (228, b"", None),  # LINKTYPE_IPV4
        (229, None, b""),  # LINKTYPE_IPV6
        (0, struct.pack("<I", 2), struct.pack("<I", 30)),  # NULL, host order, AF_INET6 = 30
        (0, struct.pack(">I", 2), struct.pack(">I", 24)),  # NULL written on a big-endian host
        (108, struct.pack(">I", 2), struct.pack(">I", 28)),  # OpenBSD LOOP
        (9, b"\xff\x03\x00\x21", b"\xff\x03\x00\x57"),  # PPP
        (113, b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x00", bytes(14) + b"\x86\xdd"),  # SLL
        (276, b"\x08\x00" + bytes(18), b"\x86\xdd" + bytes(18)),  # SLL2
    ],
)
def test_link_types(linktype: int, prefix4: bytes | None, prefix6: bytes | None) -> None:
    frames, want = [], []
    if prefix4 is not None:
        frames.append(prefix4 + _ip4_udp())
        want.append((4, 17, 1111, "192.0.2.1"))
    if prefix6 is not None:
        frames.append(prefix6 + _ip6_tcp())
        want.append((6, 6, 3333, "2001:db8::a"))
    chunk = read_packets(_pcap(linktype, frames))
    p = chunk.packets
    assert chunk.gaps == ()
    got = list(
        zip(
            p["ip_version"].tolist(),
            p["proto"].tolist(),
            p["sport"].tolist(),
            addr_to_str(p["src_hi"], p["src_lo"]).tolist(),
            strict=True,
        )
    )
    assert got == want
    assert (p["csum_bad"] == 0).all()


def test_real_link_layers() -> None:
    # PPPoE, MPLS in VLAN, PBB, VN-Tag, FabricPath, 802.11: every frame reaches IP
    for name in ("mpls-in-vlan.pcap", "pbb.pcap", "vntag.pcap", "cisco-fabric-path.pcap"):
        p = read_packets(CAP / name).packets
        assert (p["ip_version"] > 0).mean() > 0.8, name  # pbb.pcap has 2 frames of ethertype 0x8102
    # PPPoE: exactly the session frames carrying PPP IPv4/IPv6 reach IP (not discovery, LCP)
    chunk = read_packets(CAP / "pppoe.pcap")
    p = chunk.packets
    ppp_proto = np.array(
        [int.from_bytes(chunk.data[o + 20 : o + 22].tobytes(), "big") for o in p["data_off"]]
    )
    carries_ip = (p["ethertype"] == 0x8864) & np.isin(ppp_proto, [0x0021, 0x0057])
    assert carries_ip.sum() > 10
    assert np.array_equal(p["ip_version"] > 0, carries_ip)
    w = read_packets(CAP / "wlanmon.pcap").packets
    assert w["linktype"][0] == 105 and (w["ip_version"] > 0).all()
    assert read_packets(CAP / "q-in-q.pcap").packets["vlan_inner"].max() > 0


# --------------------------------------------------------------------------- tunnels
def _inner(name: str) -> tuple[np.ndarray, np.ndarray]:
    chunk = read_packets(CAP / name)
    p = chunk.packets
    inner = p[p["tunnel_depth"] > 0]
    assert len(inner) > 0, name
    return inner, chunk.tunnels[inner["tunnel_id"]]


@pytest.mark.parametrize(
    ("name", "kind", "outer_udp", "inner_src"),
    [
        ("erspanII.pcap", TunnelKind.GRE, False, "23.0.0.2"),
        ("gre-sample.pcap", TunnelKind.GRE, False, "66.59.111.190"),
        ("gre-pptp.pcap", TunnelKind.GRE, False, "172.16.44.3"),
        ("gre-over-udp-4754.pcap", TunnelKind.GRE_UDP, True, "172.17.0.2"),
        ("vxlan.pcap", TunnelKind.VXLAN, True, "10.0.0.1"),
        ("geneve.pcap", TunnelKind.GENEVE, True, "30.0.0.1"),
        ("geneve-ipv6.pcap", TunnelKind.GENEVE, True, None),
        ("gtp7_ipv6.pcap", TunnelKind.GTPV1, True, None),
        ("gtp6_gtp_0x32.pcap", TunnelKind.GTPV1, True, None),
        (
            "teredo_bubble_with_payload.pcap",
            TunnelKind.TEREDO,
            True,
            "2001:0:4137:9e50:8000:f12a:b9c8:2815",
        ),
    ],
)
def test_tunnels_decapsulated(name: str, kind: int, outer_udp: bool, inner_src: str | None) -> None:
    chunk = read_packets(CAP / name)
    p, t = chunk.packets, chunk.tunnels
    inner = np.flatnonzero(p["tunnel_depth"] > 0)
    assert len(inner) > 0
    tids = p["tunnel_id"][inner]
    assert (t["kind"][tids] == kind).all()
    if outer_udp:
        # the outer UDP packet has its own row, right before the inner one
        outer = t["outer_row"][tids]
        assert (outer == inner - 1).all()
        assert (p["proto"][outer] == 17).all() and (p["tunnel_depth"][outer] == 0).all()
        assert (p["file_offset"][outer] == p["file_offset"][inner]).all()
    else:
        # Zeek logs no outer connection for IP-in-IP / GRE: no outer row
        assert (t["outer_row"][tids] == -1).all()
        assert (p["tunnel_depth"] > 0).all()
    if inner_src is not None:
        srcs = set(addr_to_str(p["src_hi"][inner], p["src_lo"][inner]))
        assert inner_src in srcs


def test_no_false_tunnels_on_plain_traffic() -> None:
    for name in ("ipv4.pcap", "ipv6.pcap", "dhcp.pcap"):
        chunk = read_packets(CAP / name)
        assert len(chunk.tunnels) == 0 and chunk.packets["tunnel_depth"].max() == 0


def test_ayiya_and_ip_in_ip() -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    inner = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=4000, dport=4001)
    ayiya_hdr = (
        bytes([0x41, 0x52, 0x11, 41]) + bytes(4) + bytes(16) + bytes(20)
    )  # id 16 B, SHA-1 sig
    f_ayiya = (
        Ether(dst=MAC) / IP(src="198.51.100.1", dst="198.51.100.2") / UDP(sport=5072, dport=5072)
    )
    f_ayiya = f_ayiya / (ayiya_hdr + bytes(inner))
    f_6in4 = Ether(dst=MAC) / IP(src="198.51.100.1", dst="198.51.100.2", proto=41) / inner
    f_4in6 = (
        Ether(dst=MAC)
        / IPv6(src="2001:db8::9", dst="2001:db8::8", nh=4)
        / IP(src="10.9.9.9", dst="10.8.8.8")
        / UDP(sport=7, dport=7)
    )
    chunk = read_packets(_pcap(1, [bytes(f_ayiya), bytes(f_6in4), bytes(f_4in6)]))
    p, t = chunk.packets, chunk.tunnels
    assert p["tunnel_depth"].tolist() == [0, 1, 1, 1]
    assert t["kind"].tolist() == [TunnelKind.AYIYA, TunnelKind.IP, TunnelKind.IP]
    assert p["dport"].tolist() == [5072, 4001, 4001, 7]
    assert addr_to_str(t["src_hi"], t["src_lo"]).tolist() == ["198.51.100.1"] * 2 + ["2001:db8::9"]
    assert (p["csum_bad"] == 0).all()


# --------------------------------------------------------------------------- IP reassembly
def test_ipv4_and_ipv6_fragments_are_reassembled() -> None:
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
    from scapy.layers.l2 import Ether

    payload = bytes(range(256)) * 12
    v4 = fragment(
        IP(src="10.0.0.1", dst="10.0.0.2", id=4242) / UDP(sport=5000, dport=6000) / payload, 1000
    )
    v6 = fragment6(
        IPv6(src="fd00::1", dst="fd00::2")
        / IPv6ExtHdrFragment(id=77)
        / UDP(sport=7, dport=8)
        / payload,
        1200,
    )
    assert len(v4) == 4 and len(v6) == 3
    frames = [bytes(Ether(dst=MAC) / f) for f in [v4[1], v4[0], v4[3], v4[2], *v6]]
    chunk = read_packets(_pcap(1, frames))
    p = chunk.packets
    # 7 fragments + one reassembled row after the fragment that completed each datagram
    assert len(p) == 9
    assert p["reasm"].tolist() == [0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert (p["frag"][p["reasm"] == 0] & 1).all()
    r4, r6 = p[4], p[8]
    assert (r4["proto"], r4["sport"], r4["dport"], r4["payload_len"]) == (
        17,
        5000,
        6000,
        len(payload),
    )
    assert (r6["ip_version"], r6["sport"], r6["dport"], r6["payload_len"]) == (
        6,
        7,
        8,
        len(payload),
    )
    assert r4["frag"] == 0 and r4["csum_bad"] == 0 and r6["csum_bad"] == 0  # UDP checksum verified
    assert r4["ip_len"] == 20 + 8 + len(payload)
    assert r4["file_offset"] == p[3]["file_offset"] and r4["ts"] == p[3]["ts"]
    start = r4["data_off"] + r4["payload_off"]
    assert chunk.data[start : start + len(payload)].tobytes() == payload


def test_incomplete_fragments_are_not_reassembled() -> None:
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether

    frags = fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=1) / UDP() / (b"q" * 3000), 1000)
    chunk = read_packets(_pcap(1, [bytes(Ether(dst=MAC) / f) for f in frags[:-1]]))
    assert len(chunk.packets) == len(frags) - 1 and (chunk.packets["reasm"] == 0).all()


def test_tunnel_inside_fragments_is_decapsulated() -> None:
    # the GTP trace carries GTP-U in fragmented outer IP: Zeek reassembles, then decapsulates
    chunk = read_packets(DATA / "capture" / "gtp1_gn_normal_incl_fragmentation.pcap")
    p = chunk.packets
    whole = p[(p["frag"] & 1) == 0]
    inner_tcp = whole[(whole["tunnel_depth"] == 1) & (whole["proto"] == 6)]
    assert len(inner_tcp) == 68  # Zeek's conn.log: orig_pkts + resp_pkts of the inner connection
    assert (p["reasm"] == 2).sum() > 0


def test_ip_drop_marks_what_zeek_discards() -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether

    ok = bytes(Ether(dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP())
    esp = bytes(Ether(dst=MAC) / IP(src="10.0.0.1", dst="10.0.0.2", proto=50) / (b"\x00" * 16))
    nonext = bytes(Ether(dst=MAC) / IPv6(src="fd00::1", dst="fd00::2", nh=59))
    frames = [ok, esp, nonext]
    raw = bytearray(_pcap(1, frames))
    chunk = read_packets(bytes(raw))
    assert chunk.packets["ip_drop"].tolist() == [0, 3, 5]
    # a record whose wire length is shorter than the IP length: "truncated_IP_len"
    short = bytearray(_pcap(1, [ok]))
    short[24 + 12 : 24 + 16] = struct.pack("<I", len(ok) - 4)  # wirelen
    assert read_packets(bytes(short)).packets["ip_drop"].tolist() == [1]
    # IPv4 total length 0 (segmentation offload): Zeek drops it unless -C
    tso = bytearray(_pcap(1, [ok]))
    tso[24 + 16 + 14 + 2 : 24 + 16 + 14 + 4] = b"\x00\x00"
    p = read_packets(bytes(tso)).packets
    assert p["csum_bad"][0] == 1 and p["ip_len"][0] == len(ok) - 14


def _amsdu_frame(subframes: list[bytes], amsdu: bool = True) -> bytes:
    """Ethernet / IPv4 / GRE (Aruba 0x8240) / 802.11 QoS data (FromDS) with A-MSDU
    subframes: 14-byte header, LLC/SNAP + IP, `len % 4` padding bytes between (Zeek's rule)."""
    from scapy.layers.inet import GRE, IP
    from scapy.layers.l2 import Ether

    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
    body = b""
    for k, ip in enumerate(subframes):
        sub = snap + ip
        body += bytes(6) + bytes(6) + struct.pack(">H", len(sub)) + sub
        if k < len(subframes) - 1:
            body += bytes(len(sub) % 4)
    if not amsdu:
        body = snap + subframes[0]
    wlan = (
        b"\x88\x02"  # QoS data, FromDS
        + bytes(2)
        + bytes.fromhex("020000000001 020000000002 020000000003")
        + bytes(2)
        + (b"\x80\x00" if amsdu else b"\x00\x00")  # QoS control: A-MSDU present
    )
    outer = Ether(dst=MAC) / IP(src="10.226.22.9", dst="10.102.16.187") / GRE(proto=0x8240)
    return bytes(outer / (wlan + body))


def test_aruba_gre_amsdu_subframes_are_packets() -> None:
    # IEEE802_11Analyzer hands each A-MSDU subframe on as a packet of its own
    # (core.tunnels.gre-aruba-amsdu): two TCP segments from one frame, one row each
    from scapy.layers.inet import IP, TCP

    a = bytes(
        IP(src="157.240.18.16", dst="149.159.130.184") / TCP(sport=443, dport=49392) / (b"x" * 241)
    )
    b = bytes(
        IP(src="157.240.18.16", dst="149.159.130.184")
        / TCP(sport=443, dport=49392, seq=241)
        / (b"y" * 35)
    )
    for frame, n in ((_amsdu_frame([a, b]), 2), (_amsdu_frame([a], amsdu=False), 1)):
        p = read_packets(_pcap(1, [frame])).packets
        tcp = p[p["proto"] == 6]
        assert len(tcp) == n
        assert tcp["ip_len"].tolist() == [len(a), len(b)][:n]
        assert (tcp["tunnel_depth"] == 1).all() and (tcp["src_mac"] == 0x020000000003).all()
    # past MAX_SUBFRAMES + 1 subframes the rest is a Gap, not silently dropped
    many = read_packets(_pcap(1, [_amsdu_frame([b] * (MAX_SUBFRAMES + 3))]))
    assert (many.packets["proto"] == 6).sum() == MAX_SUBFRAMES + 1
    assert [g.kind for g in many.gaps] == ["unsupported"]
    assert "A-MSDU" in many.gaps[0].message and many.gaps[0].offset == 24
    # an LLC header with a non-zero OUI is not encapsulated Ethernet: nothing follows
    odd = _amsdu_frame([a], amsdu=False).replace(
        b"\xaa\xaa\x03\x00\x00\x00", b"\xaa\xaa\x03\x00\x00\x0c"
    )
    assert (read_packets(_pcap(1, [odd])).packets["proto"] == 6).sum() == 0


def test_linktype_tables_agree() -> None:
    from secaudit.capture import LINKTYPES
    from secaudit.capture._kernels import _KNOWN_LINKTYPES

    assert set(LINKTYPES) == set(_KNOWN_LINKTYPES)


def test_pcapng_unsupported_interface_is_a_gap() -> None:
    f1, _ = _frames()
    data = (
        _shb("<") + _idb("<") + _idb("<", linktype=147) + _epb("<", 0, 0, f1) + _epb("<", 1, 0, f1)
    )
    chunk = read_packets(data)
    assert len(chunk.packets) == 2
    (gap,) = chunk.gaps
    assert gap.kind == "unsupported" and gap.detail["linktype"] == 147 and gap.detail["frames"] == 1
