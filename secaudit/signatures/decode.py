"""Frame bytes -> `Pkt` for the signature engine (bounds-checked, never raises on bad bytes).

The engine needs more than the packets contract carries (IP/TCP/UDP header
bytes for `ipv4.hdr`/`tcp.hdr`, TCP options, ICMP id/seq, tunnel layers), so
it decodes the frame bytes that `secaudit.capture` hands over.  Tunnels that
Suricata decodes by default (GRE, VXLAN 4789, Geneve 6081, NSH, IPv4/IPv6 in IP)
yield the outer packet and then the inner one, marked with `tunnel_parent`.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator

__all__ = ["Pkt", "decode_frame", "ip_text", "PROTO_NAMES"]

PROTO_NAMES = {
    1: "ICMP",
    2: "IGMP",
    6: "TCP",
    17: "UDP",
    47: "GRE",
    58: "IPv6-ICMP",
    132: "SCTP",
    50: "ESP",
}

_IPV6_EXT = {0, 43, 60, 51, 135, 139, 140}


def ip_text(addr: bytes) -> str:
    if len(addr) == 4:
        return ".".join(str(b) for b in addr)
    return str(ipaddress.IPv6Address(addr))


class Pkt:
    """One decoded IP packet (or an inner packet of a tunnel)."""

    __slots__ = (
        "ts",
        "ipver",
        "src",
        "dst",
        "proto",
        "ttl",
        "ip_id",
        "ip_hdr",
        "l4_hdr",
        "sport",
        "dport",
        "flags",
        "seq",
        "ack",
        "window",
        "tcp_opts",
        "payload",
        "itype",
        "icode",
        "icmp_id",
        "icmp_seq",
        "frag_off",
        "more_frags",
        "frag_id",
        "is_fragment",
        "tunnel_parent",
        "ip_bytes",
        "l4_ok",
        "ipopts",
        "frag_bits",
        "csum_bad",
        "pcap_index",
    )

    def __init__(self) -> None:
        self.ts = 0.0
        self.ipver = 4
        self.src = b""
        self.dst = b""
        self.proto = 0
        self.ttl = 0
        self.ip_id = 0
        self.ip_hdr = b""
        self.l4_hdr = b""
        self.sport = 0
        self.dport = 0
        self.flags = 0
        self.seq = 0
        self.ack = 0
        self.window = 0
        self.tcp_opts: dict[int, bytes] = {}
        self.payload = b""
        self.itype = -1
        self.icode = -1
        self.icmp_id = -1
        self.icmp_seq = -1
        self.frag_off = 0
        self.more_frags = False
        self.frag_id = 0
        self.is_fragment = False
        self.tunnel_parent: Pkt | None = None
        self.ip_bytes = b""
        self.l4_ok = False
        self.ipopts: list[int] = []
        self.frag_bits = 0
        self.csum_bad = False
        self.pcap_index = 0


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return int(s)


def l4_checksum_ok(p: Pkt) -> bool:
    """TCP/UDP/ICMP checksum over the (reassembled) packet."""
    seg = p.l4_hdr + p.payload
    if p.proto not in (6, 17, 1, 58) or not seg:
        return True
    if p.proto == 17 and p.ipver == 4 and len(seg) >= 8 and seg[6:8] == b"\0\0":
        return True
    if p.proto == 1:
        return _csum(seg) == 0xFFFF
    if p.ipver == 4:
        pseudo = p.src + p.dst + struct.pack("!BBH", 0, p.proto, len(seg))
    else:
        pseudo = p.src + p.dst + struct.pack("!IxxxB", len(seg), p.proto)
    return _csum(pseudo + seg) == 0xFFFF


def ipv4_checksum_ok(p: Pkt) -> bool:
    return p.ipver != 4 or _csum(p.ip_hdr) == 0xFFFF


def _options(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes | None]]:
    """(kind, value) of the IPv4/TCP options in data[start:end], one walk for both headers:
    EOL ends, NOP is skipped; a kind whose length byte is missing or below 2 comes last, with
    value None (the IPv4 decoder still records it, the TCP one does not)."""
    i = start
    while i < end:
        k = data[i]
        if k == 0:
            return
        if k == 1:
            i += 1
            continue
        if i + 1 >= end or data[i + 1] < 2:
            yield k, None
            return
        ln = data[i + 1]
        yield k, data[i + 2 : i + ln]
        i += ln


def _l4(p: Pkt, data: bytes, out: list[Pkt]) -> None:
    proto = p.proto
    if p.is_fragment:
        p.payload = data
        return
    if proto == 6:
        if len(data) < 20:
            return
        hl = (data[12] >> 4) * 4
        if hl < 20 or hl > len(data):
            return
        p.sport, p.dport, p.seq, p.ack = struct.unpack_from("!HHII", data)
        p.flags = data[13] | ((data[12] & 1) << 8)
        p.window = struct.unpack_from("!H", data, 14)[0]
        p.l4_hdr = data[:hl]
        p.payload = data[hl:]
        for k, value in _options(data, 20, hl):
            if value is not None:
                p.tcp_opts[k] = value
        p.l4_ok = True
    elif proto == 17:
        if len(data) < 8:
            return
        p.sport, p.dport, ulen = struct.unpack_from("!HHH", data)
        p.l4_hdr = data[:8]
        end = ulen if 8 <= ulen <= len(data) else len(data)
        p.payload = data[8:end]
        p.l4_ok = True
        _udp_tunnel(p, out)
    elif proto in (1, 58):
        if len(data) < 4:
            return
        p.itype, p.icode = data[0], data[1]
        p.l4_hdr = data[:8] if len(data) >= 8 else data
        if len(data) >= 8:
            echo = (0, 8, 13, 14, 15, 16, 17, 18) if proto == 1 else (128, 129)
            if p.itype in echo:
                p.icmp_id, p.icmp_seq = struct.unpack_from("!HH", data, 4)
        p.payload = data[8:]
        p.l4_ok = True
    elif proto == 132:  # SCTP: the common header's ports; the chunks are the payload
        if len(data) < 12:
            return
        p.sport, p.dport = struct.unpack_from("!HH", data)
        p.l4_hdr = data[:12]
        p.payload = data[12:]
        p.l4_ok = True
    elif proto == 47:
        _gre(p, data, out)
    elif proto in (4, 41):
        inner = _ip(data, p.ts, out, parent=p)
        if inner is not None:
            pass
    else:
        p.payload = data


def _gre(p: Pkt, data: bytes, out: list[Pkt]) -> None:
    if len(data) < 4:
        return
    flags, etype = struct.unpack_from("!HH", data)
    hl = 4
    if flags & 0x8000:
        hl += 4
    if flags & 0x2000:
        hl += 4
    if flags & 0x1000:
        hl += 4
    if hl > len(data):
        return
    p.l4_hdr = data[:hl]
    p.payload = data[hl:]
    p.l4_ok = True
    inner = data[hl:]
    if etype == 0x88BE and len(inner) >= 8:  # ERSPAN type II
        _ether(inner[8:], p.ts, out, parent=p)
    elif etype == 0x6558:
        _ether(inner, p.ts, out, parent=p)
    else:
        _ethertype(etype, inner, p.ts, out, parent=p)


def _udp_tunnel(p: Pkt, out: list[Pkt]) -> None:
    d = p.payload
    if p.dport == 4789 and len(d) >= 8 and d[0] & 0x08:
        _ether(d[8:], p.ts, out, parent=p)
    elif p.dport == 6081 and len(d) >= 8:
        optlen = (d[0] & 0x3F) * 4
        etype = struct.unpack_from("!H", d, 2)[0]
        if 8 + optlen <= len(d):
            if etype == 0x6558:
                _ether(d[8 + optlen :], p.ts, out, parent=p)
            else:
                _ethertype(etype, d[8 + optlen :], p.ts, out, parent=p)


def _ip(data: bytes, ts: float, out: list[Pkt], parent: Pkt | None = None) -> Pkt | None:
    if not data:
        return None
    v = data[0] >> 4
    p = Pkt()
    p.ts = ts
    p.tunnel_parent = parent
    if v == 4:
        if len(data) < 20:
            return None
        ihl = (data[0] & 0xF) * 4
        total = struct.unpack_from("!H", data, 2)[0]
        if ihl < 20 or ihl > len(data):
            return None
        if total < ihl or total > len(data):
            total = len(data)
        p.ipver = 4
        p.ip_hdr = data[:ihl]
        p.ip_bytes = data[:total]
        p.ip_id = struct.unpack_from("!H", data, 4)[0]
        fo = struct.unpack_from("!H", data, 6)[0]
        p.frag_bits = fo >> 13
        p.more_frags = bool(fo & 0x2000)
        p.frag_off = (fo & 0x1FFF) * 8
        p.is_fragment = p.more_frags or p.frag_off > 0
        p.frag_id = p.ip_id
        p.ttl = data[8]
        p.proto = data[9]
        p.src = data[12:16]
        p.dst = data[16:20]
        p.ipopts.extend(k for k, _value in _options(data, 20, ihl))
        out.append(p)
        _l4(p, data[ihl:total], out)
        return p
    if v == 6:
        if len(data) < 40:
            return None
        plen = struct.unpack_from("!H", data, 4)[0]
        end = min(len(data), 40 + plen) if plen else len(data)
        p.ipver = 6
        p.ttl = data[7]
        p.src = data[8:24]
        p.dst = data[24:40]
        nh = data[6]
        off = 40
        while nh in _IPV6_EXT or nh == 44:
            if off + 8 > end:
                break
            if nh == 44:
                fo = struct.unpack_from("!H", data, off + 2)[0]
                p.frag_off = fo & 0xFFF8
                p.more_frags = bool(fo & 1)
                p.frag_id = struct.unpack_from("!I", data, off + 4)[0]
                p.is_fragment = True
                nh = data[off]
                off += 8
                continue
            hl = (data[off + 1] + 1) * (4 if nh == 51 else 8)
            nh = data[off]
            off += hl
        if off > end:
            return None
        p.proto = nh
        p.ip_hdr = data[:off]
        p.ip_bytes = data[:end]
        out.append(p)
        _l4(p, data[off:end], out)
        return p
    return None


def _ethertype(
    etype: int, data: bytes, ts: float, out: list[Pkt], parent: Pkt | None = None
) -> None:
    for _ in range(8):
        if etype in (0x8100, 0x88A8, 0x9100):
            if len(data) < 4:
                return
            etype = struct.unpack_from("!H", data, 2)[0]
            data = data[4:]
            continue
        if etype == 0x8847:  # MPLS unicast
            while len(data) >= 4:
                bos = data[2] & 1
                data = data[4:]
                if bos:
                    break
            if data and data[0] >> 4 in (4, 6):
                _ip(data, ts, out, parent)
            return
        if etype == 0x894F:  # NSH
            if len(data) < 8:
                return
            length = (data[1] & 0x3F) * 4
            nxt = data[3]
            data = data[length:]
            if nxt == 1:
                etype = 0x0800
            elif nxt == 2:
                etype = 0x86DD
            elif nxt == 3:
                _ether(data, ts, out, parent)
                return
            else:
                return
            continue
        break
    if etype in (0x0800, 0x86DD):
        _ip(data, ts, out, parent)


def _ether(data: bytes, ts: float, out: list[Pkt], parent: Pkt | None = None) -> None:
    if len(data) < 14:
        return
    etype = struct.unpack_from("!H", data, 12)[0]
    _ethertype(etype, data[14:], ts, out, parent)


def decode_frame(frame: bytes, linktype: int, ts: float) -> list[Pkt]:
    """All IP packets in one frame: the outer one first, then tunnel payloads."""
    out: list[Pkt] = []
    try:
        if linktype == 1:
            _ether(frame, ts, out)
        elif linktype in (101, 12, 14, 228, 229):
            _ip(frame, ts, out)
        elif linktype in (0, 108, 109):
            if len(frame) >= 4:
                _ip(frame[4:], ts, out)
        elif linktype == 113:
            if len(frame) >= 16:
                _ethertype(struct.unpack_from("!H", frame, 14)[0], frame[16:], ts, out)
        elif linktype == 276:
            if len(frame) >= 20:
                _ethertype(struct.unpack_from("!H", frame, 0)[0], frame[20:], ts, out)
        elif linktype == 104:  # Cisco HDLC: address, control, EtherType
            if len(frame) >= 4:
                _ethertype(struct.unpack_from("!H", frame, 2)[0], frame[4:], ts, out)
        else:
            _ip(frame, ts, out)
    except (struct.error, IndexError, ValueError):
        pass
    return out
