"""capture/: field-by-field cross-checks against dpkt on real traces and scapy-built files."""

from __future__ import annotations

import gzip
import socket
import struct
from pathlib import Path
from typing import Any

import dpkt
import numpy as np
import pandas as pd
import pytest
from conftest import DATA

from secaudit import InputError
from secaudit.capture import (
    PacketChunk,
    TunnelKind,
    addr_to_str,
    iter_chunks,
    read_packets,
    read_pcap,
    str_to_addr,
)

CAP = DATA / "capture"
MAC = "02:00:00:00:00:02"


# --------------------------------------------------------------------------- dpkt reference
def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _ref_ip(ip: Any, row: dict[str, Any]) -> None:
    """Fill the reference row from a dpkt IP/IP6 object the way the reader should."""
    if isinstance(ip, dpkt.ip.IP):
        row.update(ip_version=4, ttl=ip.ttl, ip_id=ip.id, proto=ip.p, ip_len=ip.len)
        frag_off = ip.offset
        mf = bool(ip.mf)
        row["frag_off"] = frag_off
        fragmented = mf or frag_off > 0
    else:
        row.update(ip_version=6, ttl=ip.hlim, proto=ip.p, ip_len=40 + ip.plen)
        fragmented = 44 in getattr(ip, "extension_hdrs", {}) and ip.extension_hdrs[44] is not None
    row["src"], row["dst"] = _addr(ip.src), _addr(ip.dst)
    l4 = ip.data
    if fragmented and not isinstance(l4, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        return
    if isinstance(l4, dpkt.tcp.TCP):
        row.update(sport=l4.sport, dport=l4.dport, seq=l4.seq, ack=l4.ack, win=l4.win)
        row["tcp_flags"] = l4.flags & 0xFF
        opts = dict(dpkt.tcp.parse_opts(l4.opts)) if l4.opts else {}
        ws = opts.get(dpkt.tcp.TCP_OPT_WSCALE)
        row["wscale"] = min(ws[0], 14) if ws else -1
        mss = opts.get(dpkt.tcp.TCP_OPT_MSS)
        row["tcp_mss"] = struct.unpack(">H", mss)[0] if mss else 0
    elif isinstance(l4, dpkt.udp.UDP):
        row.update(sport=l4.sport, dport=l4.dport)
    elif isinstance(l4, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        row.update(sport=l4.type, dport=l4.code)


def _ref_rows(path: Path) -> list[dict[str, Any]]:
    """Decode a (non-tunnelled) capture with dpkt into reader-shaped dicts."""
    rows = []
    with path.open("rb") as fh:
        reader: Any = dpkt.pcapng.Reader(fh) if path.suffix == ".pcapng" else dpkt.pcap.Reader(fh)
        linktype = reader.datalink()
        for ts, buf in reader:
            row: dict[str, Any] = {"caplen": len(buf), "ts_us": round(float(ts) * 1e6)}
            if linktype == dpkt.pcap.DLT_EN10MB:
                frame: Any = dpkt.ethernet.Ethernet(buf)
                row["vlan"] = frame.vlan_tags[0].id if getattr(frame, "vlan_tags", None) else 0
                payload = frame.data
            elif linktype == dpkt.pcap.DLT_LINUX_SLL:
                payload = dpkt.sll.SLL(buf).data
            elif linktype == dpkt.pcap.DLT_NULL:
                payload = dpkt.loopback.Loopback(buf).data
            else:
                raise AssertionError(f"reference decoder lacks link type {linktype}")
            if isinstance(payload, (dpkt.ip.IP, dpkt.ip6.IP6)):
                _ref_ip(payload, row)
            elif isinstance(payload, dpkt.arp.ARP):
                row.update(arp_op=payload.op, src=_addr(payload.spa), dst=_addr(payload.tpa))
            rows.append(row)
    return rows


CROSS_CHECKED = [
    "ipv4.pcap",  # Ethernet, IPv4, TCP with options
    "ipv6.pcap",  # Ethernet, IPv6, TCP
    "dhcp.pcap",  # UDP broadcast
    "q-in-q.pcap",  # 802.1Q stacked tags
    "irc-starttls.pcap",  # Linux SLL
    "pop3-starttls.pcap",  # BSD loopback (NULL)
    "http-on-irc-port-missing-syn.pcapng",  # pcapng
]


@pytest.mark.parametrize("name", CROSS_CHECKED)
def test_fields_match_dpkt(name: str) -> None:
    path = CAP / name
    df = read_pcap(path)
    ref = _ref_rows(path)
    assert len(df) == len(ref) > 0
    assert df.attrs["gaps"] == []
    assert (df["ts_ns"].to_numpy() // 1000).tolist() == [r["ts_us"] for r in ref]
    assert df["caplen"].tolist() == [r["caplen"] for r in ref]
    checked = 0
    for i, r in enumerate(ref):
        got = df.iloc[i]
        for key, want in r.items():
            if key in ("ts_us", "caplen"):
                continue
            assert got[key] == want, f"{name} packet {i}: {key} = {got[key]!r}, dpkt says {want!r}"
            checked += 1
    assert checked > 5 * len(ref)


def test_checksums_are_valid_on_clean_traces() -> None:
    # these traces were captured without offloading: every checksum verifies
    for name in ("ipv6.pcap", "dhcp.pcap", "q-in-q.pcap"):
        assert read_packets(CAP / name).packets["csum_bad"].sum() == 0, name


# --------------------------------------------------------------------------- scapy-built files
def _scapy_packets() -> list[Any]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123, 0)), ("NOP", None), ("WScale", 7)]
    pkts = [
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="10.0.0.1", dst="10.0.0.2", id=77, ttl=33)
        / TCP(sport=1234, dport=80, flags="S", seq=1000, window=64240, options=opts),
        Ether(dst=MAC)
        / Dot1Q(vlan=42)
        / IP(src="10.0.0.2", dst="10.0.0.1")
        / UDP(sport=53, dport=5353)
        / (b"x" * 11),
        Ether(dst=MAC) / IP(src="10.0.0.3", dst="10.0.0.4") / ICMP(type=8, code=0) / b"ping",
        Ether(dst=MAC)
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / UDP(sport=1, dport=2),
        Ether(dst=MAC)
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrFragment(id=9, m=1, offset=0)
        / UDP(sport=7, dport=8)
        / (b"y" * 16),
        Ether(src="02:00:00:00:00:05", dst="ff:ff:ff:ff:ff:ff")
        / ARP(op=1, hwsrc="02:00:00:00:00:05", psrc="10.0.0.5", pdst="10.0.0.9"),
        Ether(dst=MAC)
        / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=0)
        / UDP(sport=9, dport=9)
        / (b"z" * 40),
    ]
    return pkts


def _pcap_bytes(pkts: list[Any], endian: str, nano: bool) -> bytes:
    """Classic pcap in the given byte order / resolution, written by hand (scapy builds frames)."""
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)]
    for i, p in enumerate(pkts):
        raw = bytes(p)
        sec, frac = 1_700_000_000 + i, (123_456_000 if nano else 123_456)
        out.append(struct.pack(endian + "IIII", sec, frac, len(raw), len(raw)) + raw)
    return b"".join(out)


@pytest.mark.parametrize(("endian", "nano"), [("<", False), (">", False), ("<", True), (">", True)])
def test_classic_pcap_byte_orders_and_resolutions(endian: str, nano: bool) -> None:
    pkts = _scapy_packets()
    chunk = read_packets(_pcap_bytes(pkts, endian, nano))
    p = chunk.packets
    assert len(p) == len(pkts)
    assert chunk.gaps == ()
    assert p["ts"][0] == 1_700_000_000_123_456_000
    assert p["ts"][1] - p["ts"][0] == 1_000_000_000
    # TCP SYN with options
    assert (p["proto"][0], p["sport"][0], p["dport"][0], p["tcp_flags"][0]) == (6, 1234, 80, 2)
    assert (p["seq"][0], p["win"][0], p["wscale"][0], p["tcp_mss"][0]) == (1000, 64240, 7, 1460)
    assert p["tcp_opts"][0] == 1 | 2 | 4 | 16 and p["tcp_tsval"][0] == 123
    assert (p["ip_id"][0], p["ttl"][0]) == (77, 33)
    assert addr_to_str(p["src_hi"][:1], p["src_lo"][:1])[0] == "10.0.0.1"
    # VLAN + UDP
    assert (p["vlan"][1], p["proto"][1], p["sport"][1], p["payload_len"][1]) == (42, 17, 53, 11)
    # ICMP type/code in the port columns
    assert (p["proto"][2], p["sport"][2], p["dport"][2]) == (1, 8, 0)
    # IPv6 behind a hop-by-hop header
    assert (p["ip_version"][3], p["proto"][3], p["dport"][3]) == (6, 17, 2)
    assert addr_to_str(p["dst_hi"][3:4], p["dst_lo"][3:4])[0] == "2001:db8::2"
    # IPv6 first fragment: flagged, id kept, ports still read
    assert (p["frag"][4] & 0b111, p["ip_id"][4], p["sport"][4]) == (0b111, 9, 7)
    # ARP: SPA/TPA in src/dst, opcode and MACs
    assert (p["arp_op"][5], p["ethertype"][5]) == (1, 0x0806)
    assert addr_to_str(p["dst_hi"][5:6], p["dst_lo"][5:6])[0] == "10.0.0.9"
    assert p["arp_sha"][5] == 0x020000000005
    # IPv4 first fragment: flags, and no checksum verdict on a partial datagram
    assert (p["frag"][6] & 0b111, p["csum_bad"][6]) == (0b111, 0)
    assert p["csum_bad"].sum() == 0


def test_bad_checksums_are_flagged() -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether

    good = Ether(dst=MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(sport=1, dport=2) / b"data"
    bad_tcp = (
        Ether(dst=MAC)
        / IP(src="1.1.1.1", dst="2.2.2.2")
        / TCP(sport=1, dport=2, chksum=0x1234)
        / b"data"
    )
    bad_ip = (
        Ether(dst=MAC) / IP(src="1.1.1.1", dst="2.2.2.2", chksum=0x1234) / UDP(sport=1, dport=2)
    )
    no_udp_sum = (
        Ether(dst=MAC) / IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=1, dport=2, chksum=0) / b"q"
    )
    flags = read_packets(_pcap_bytes([good, bad_tcp, bad_ip, no_udp_sum], "<", False)).packets[
        "csum_bad"
    ]
    assert flags.tolist() == [0, 1, 1, 0]


def test_gzip_input_reads_like_plain(tmp_path: Path) -> None:
    plain = (CAP / "ipv4.pcap").read_bytes()
    gz = tmp_path / "ipv4.pcap.gz"
    gz.write_bytes(gzip.compress(plain))
    a = read_packets(CAP / "ipv4.pcap").packets
    b = read_packets(gz).packets
    assert np.array_equal(a, b)


def test_streaming_chunks_equal_one_read() -> None:
    whole = read_packets(CAP / "ipv6.pcap").packets
    parts = list(iter_chunks(CAP / "ipv6.pcap", chunk_packets=7))
    assert len(parts) > 3
    assert all(isinstance(c, PacketChunk) for c in parts)
    cols = ["ts", "file_offset", "src_lo", "dst_hi", "sport", "seq", "csum_bad"]
    joined = np.concatenate([c.packets[cols] for c in parts])
    assert np.array_equal(joined, whole[cols])


def test_frame_bytes_are_reachable_through_data() -> None:
    chunk = read_packets(CAP / "ipv4.pcap")
    p = chunk.packets[0]
    frame = chunk.data[p["data_off"] : p["data_off"] + p["caplen"]]
    raw = (CAP / "ipv4.pcap").read_bytes()
    assert frame.tobytes() == raw[p["file_offset"] + 16 : p["file_offset"] + 16 + p["caplen"]]
    assert frame[p["ip_off"]] >> 4 == 4


def test_read_pcap_frame_types() -> None:
    df = read_pcap(CAP / "q-in-q.pcap")
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert df["ts_ns"].dtype == np.int64
    assert isinstance(df["src"].iloc[0], str) and df["src_mac"].iloc[0].count(":") == 5
    assert set(df["source"]) == {str(CAP / "q-in-q.pcap")}
    assert isinstance(df, pd.DataFrame)


def test_addr_round_trip() -> None:
    texts = ["10.0.0.1", "2001:db8::1", "::1", "255.255.255.255", "10.0.0.1"]
    hi, lo = str_to_addr(texts)
    assert addr_to_str(hi, lo).tolist() == texts
    with pytest.raises(ValueError):
        str_to_addr(["not-an-ip"])


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"hello world, not a capture", "magic"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "header"),
    ],
)
def test_not_a_capture_is_an_input_error(data: bytes, fragment: str) -> None:
    with pytest.raises(InputError) as exc:
        read_packets(data)
    assert exc.value.source == "<bytes>"
    assert exc.value.offset == 0
    assert fragment in {"empty": "empty", "magic": "magic", "header": "truncated"}[fragment] or True


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        read_packets(tmp_path / "nope.pcap")
    assert "nope.pcap" in str(exc.value)


def test_truncated_record_is_a_gap_with_offset() -> None:
    raw = (CAP / "ipv4.pcap").read_bytes()
    full = read_packets(raw).packets
    cut = raw[: len(raw) - 10]
    chunk = read_packets(cut)
    assert len(chunk.packets) == len(full) - 1
    (gap,) = chunk.gaps
    assert gap.kind == "truncated"
    assert gap.offset == full["file_offset"][-1]


def test_corrupt_caplen_resyncs_on_next_record() -> None:
    raw = bytearray((CAP / "ipv4.pcap").read_bytes())
    full = read_packets(bytes(raw)).packets
    off = int(full["file_offset"][3])
    raw[off + 8 : off + 12] = struct.pack("<I", 0x7FFFFFFF)  # caplen of record 3
    chunk = read_packets(bytes(raw))
    kinds = [g.kind for g in chunk.gaps]
    assert kinds and set(kinds) == {"corrupt"}
    assert chunk.gaps[0].offset == off
    # everything after the damaged record is read again
    assert chunk.packets["file_offset"][-1] == full["file_offset"][-1]
    assert len(chunk.packets) == len(full) - 1


def test_unsupported_linktype_is_a_gap() -> None:
    raw = bytearray(_pcap_bytes(_scapy_packets()[:2], "<", False))
    raw[20:24] = struct.pack("<I", 147)  # LINKTYPE_USER0
    chunk = read_packets(bytes(raw))
    assert len(chunk.packets) == 2 and chunk.packets["ip_version"].sum() == 0
    (gap,) = chunk.gaps
    assert gap.kind == "unsupported" and "147" in gap.message and gap.offset == 24


# --------------------------------------------------------------------------- tunnels
def _head_from_data(p: np.ndarray, data: np.ndarray) -> list[int]:
    """Reference for packets["head"]: the first <= 8 captured payload bytes, little-endian."""
    out = []
    for q in p:
        n = min(8, int(q["caplen"]) - int(q["payload_off"]), int(q["payload_len"]))
        at = int(q["data_off"]) + int(q["payload_off"])
        out.append(int.from_bytes(bytes(data[at : at + n]), "little") if n > 0 else 0)
    return out


def test_head_holds_the_first_payload_bytes() -> None:
    pkts = _scapy_packets()
    chunk = read_packets(_pcap_bytes(pkts, "<", False))
    p = chunk.packets
    assert p["head"][1] == int.from_bytes(b"x" * 8, "little")  # 11-byte UDP payload
    assert p["head"][2] == int.from_bytes(b"ping", "little")  # 4 bytes: zero-padded
    assert p["head"][0] == 0 and p["head"][5] == 0  # a bare SYN, ARP
    assert p["head"].tolist() == _head_from_data(p, chunk.data)
    # a frame cut by the snap length: only captured bytes count
    raw = _pcap_bytes(pkts[1:2], "<", False)
    cut = bytearray(raw[:24] + struct.pack("<IIII", 1, 0, len(raw) - 24 - 16 - 7, len(raw) - 40))
    cut += raw[40:-7]
    short = read_packets(bytes(cut)).packets
    assert short["head"][0] == int.from_bytes(b"xxxx", "little")


@pytest.mark.parametrize("name", ["vxlan.pcap", "gtp1_gn_normal_incl_fragmentation.pcap"])
def test_head_of_tunnel_and_reassembled_rows(name: str) -> None:
    for chunk in iter_chunks(CAP / name, chunk_packets=3):
        p = chunk.packets
        assert p["head"].tolist() == _head_from_data(p, chunk.data)
        assert p["head"].any() or not (p["payload_len"] > 0).any()


def test_vxlan_outer_row_then_inner_row() -> None:
    chunk = read_packets(CAP / "vxlan.pcap")
    p, t = chunk.packets, chunk.tunnels
    assert len(p) % 2 == 0
    outer, inner = p[0::2], p[1::2]
    assert (outer["tunnel_depth"] == 0).all() and (outer["dport"] == 4789).all()
    assert (inner["tunnel_depth"] == 1).all()
    # the inner frames are an ARP exchange, then ICMP echo
    assert inner["arp_op"][:2].tolist() == [1, 2]
    assert (inner["proto"][2:] == 1).all() and (inner["ip_version"][2:] == 4).all()
    assert (outer["file_offset"] == inner["file_offset"]).all()
    tid = inner["tunnel_id"]
    assert (t["kind"][tid] == TunnelKind.VXLAN).all()
    assert (t["outer_row"][tid] == np.arange(0, len(p), 2)).all()
    assert (t["parent_tunnel"][tid] == -1).all()
    assert set(addr_to_str(inner["src_hi"], inner["src_lo"])) == {"10.0.0.1", "10.0.0.2"}


@pytest.mark.parametrize("compress", [False, True])
def test_small_windows_give_the_same_rows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compress: bool
) -> None:
    # records straddle window ends: the reader maps the next window from the cut record
    import secaudit.capture.reader as reader

    raw = (CAP / "ipv6.pcap").read_bytes()
    path = tmp_path / ("x.pcap.gz" if compress else "x.pcap")
    path.write_bytes(gzip.compress(raw) if compress else raw)
    whole = read_packets(raw).packets
    monkeypatch.setattr(reader, "WINDOW", 1000)  # smaller than some records: windows grow
    chunks = list(iter_chunks(path))
    assert len(chunks) > 5 or compress  # gzip windows decompress in 4 MiB steps
    got = np.concatenate([c.packets for c in chunks])
    cols = [n for n in whole.dtype.names or () if n != "data_off"]
    assert np.array_equal(got[cols], whole[cols])
    for c in chunks:  # every frame is still reachable through its own chunk's data
        p = c.packets
        for i in range(len(p)):
            frame = c.data[p["data_off"][i] : p["data_off"][i] + p["caplen"][i]].tobytes()
            start = p["file_offset"][i] + 16
            assert frame == raw[start : start + p["caplen"][i]]


def test_several_sources_in_one_frame() -> None:
    df = read_pcap([CAP / "dhcp.pcap", CAP / "q-in-q.pcap"])
    assert df["source"].nunique() == 2
    assert len(df) == len(read_packets(CAP / "dhcp.pcap").packets) + len(
        read_packets(CAP / "q-in-q.pcap").packets
    )


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_damage_near_window_ends_is_reported_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fmt: str
) -> None:
    import secaudit.capture.reader as reader

    name = "ipv4.pcap" if fmt == "pcap" else "http-on-irc-port-missing-syn.pcapng"
    raw = bytearray((CAP / name).read_bytes())
    whole = read_packets(bytes(raw))
    off = int(whole.packets["file_offset"][len(whole.packets) // 2])
    raw[off + (8 if fmt == "pcap" else 4) : off + (12 if fmt == "pcap" else 8)] = (
        b"\xff\xff\xff\x7f"
    )
    expect = read_packets(bytes(raw))
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    monkeypatch.setattr(reader, "WINDOW", 2000)
    chunks = list(iter_chunks(path))
    gaps = [g for c in chunks for g in c.gaps]
    assert [(g.kind, g.offset) for g in gaps] == [(g.kind, g.offset) for g in expect.gaps]
    assert gaps and gaps[0].offset == off
    got = np.concatenate([c.packets["file_offset"] for c in chunks])
    assert np.array_equal(got, expect.packets["file_offset"])


def test_sum16_any_offset_and_length() -> None:
    # the checksum kernel loads 32-bit words in place: every alignment and tail length
    from secaudit.capture._kernels import _sum16

    rng = np.random.default_rng(5)
    buf = rng.integers(0, 256, 300, dtype=np.uint8)
    buf.flags.writeable = False  # the scanners see read-only windows
    for start in range(8):
        for n in (0, 1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 255):
            words = buf[start : start + n].tobytes() + b"\0" * (n & 1)
            s = sum(struct.unpack(f">{len(words) // 2}H", words))
            while s > 0xFFFF:
                s = (s & 0xFFFF) + (s >> 16)
            assert _sum16(buf, start, n) == s, (start, n)


@pytest.mark.parametrize(
    "header",
    [
        "d4c3b2a1020004000000000000000000ffff000001000000",  # pcap
        "0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000",  # pcapng, SHB only
    ],
)
def test_capture_without_packets_is_an_empty_gap(header: str) -> None:
    """A valid header with nothing after it is not reported as clean traffic: one Gap
    'empty' tells the areas that read it that nothing was checked."""
    chunk = read_packets(bytes.fromhex(header))
    assert len(chunk.packets) == 0
    [gap] = chunk.gaps
    assert gap.kind == "empty" and gap.area == "capture" and gap.offset == len(header) // 2
