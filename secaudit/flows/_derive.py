# mypy: disable-error-code="no-untyped-def,unused-ignore,assignment,arg-type"
"""Per-packet connection keys and the fields the state machine reads (compiled).

`derive` picks the packets Zeek would hand to a transport analyzer (IPv4/IPv6,
not ARP, not tunnel or extension-header protocols, with a transport header
for TCP/UDP/ICMP, not a fragment) and fills one `DERIVED_DTYPE` row per
picked packet: the canonical bidirectional key (side A = the lower
address:port, except for one-way ICMP messages, whose key keeps its
direction), ICMP's Zeek "ports" (type, counterpart type or code), lengths as
Zeek computes them from the IP header, and whether the payload was captured.
A packet whose IPv4 header checksum is wrong, or that was carried inside a packet
whose checksum is wrong (csum_bad & CSUM_OUTER), is dropped (Zeek drops it before any
connection exists) unless checksums are ignored; so is one Zeek's IP layer discards
(ip_drop: ESP, IPv6 mobility, a wire shorter than the IP length...), even with -C.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from secaudit.capture._kernels import CSUM_OUTER, CSUM_OWN
from secaudit.flows import _engine as E

__all__ = ["CP4", "CP6", "DERIVED_DTYPE", "NOT_TRANSPORT", "derive"]

# ICMP request/response pairs (Zeek ICMP4_counterpart / ICMP6_counterpart); -1 = one-way
CP4 = np.full(256, -1, np.int16)
for _a, _b in ((8, 0), (13, 14), (15, 16), (10, 9), (17, 18)):
    CP4[_a], CP4[_b] = _b, _a
CP6 = np.full(256, -1, np.int16)
for _a, _b in ((128, 129), (133, 134), (135, 136), (130, 131), (139, 140), (144, 145)):
    CP6[_a], CP6[_b] = _b, _a

# IP protocols that never become a session: IP-in-IP, IPv6 extension headers, GRE, no-next
NOT_TRANSPORT = np.zeros(256, np.bool_)
NOT_TRANSPORT[[0, 4, 41, 43, 44, 47, 59, 60, 135]] = True

# One row per analyzed packet, 119 bytes (was 166 with int64 for every integer): each
# field is as wide as the packets-table field it comes from (row: an int32 index into a
# chunk's rows; length fits int32 since IP lengths are at most 65535 + 40), so `derive`
# writes and the tracker reads less per packet.  The fields `process` reads for every
# packet come first (bytes 0-43: at most two cache lines per row), then those it reads
# when a connection starts, then the key `lookup` hashes, then tunnel bookkeeping.
DERIVED_DTYPE = np.dtype(
    [
        ("row", "i4"), ("ts", "i8"), ("kind", "u1"), ("from_a", "u1"), ("flags", "u2"),
        ("seq", "u4"), ("ack", "u4"), ("win", "u2"), ("fullcap", "?"), ("csum_bad", "u1"),
        ("app", "u1"),
        ("length", "i4"), ("iplen", "u4"), ("parent", "u8"),
        ("ip_proto", "u1"), ("bcast", "?"), ("a_p", "u2"), ("b_p", "u2"), ("sport", "u2"),
        ("dport", "u2"), ("vlan", "u2"), ("source", "u2"), ("src_mac", "u8"), ("dst_mac", "u8"),
        ("a_hi", "u8"), ("a_lo", "u8"), ("b_hi", "u8"), ("b_lo", "u8"), ("meta", "u8"),
        ("depth", "u1"), ("tunnel_id", "i4"),
    ]
)  # fmt: skip

_BCAST_LO = np.uint64(0x0000FFFFFFFFFFFF)


@nb.njit(cache=True, inline="always")
def _app(head: np.uint64, n: int) -> int:
    """`app` bits (_engine.APP_*) of a UDP payload of n captured bytes whose first 8 are
    `head` (LE): what the UDP analyzers Zeek attaches by port read from a datagram's first
    bytes, decided here so the tracker needs no payload."""
    if n <= 0:
        return 0
    b0 = np.int64(head & np.uint64(0xFF))
    a = 0
    if n >= 48:
        mode = b0 & 7
        if mode == 4:
            a |= E.APP_NTP_SERVER
        elif mode == 3:
            a |= E.APP_NTP_CLIENT
    if n >= 12:
        a |= E.APP_DNS
        b2 = np.int64((head >> np.uint64(16)) & np.uint64(0xFF))
        if b2 & 0x80:
            a |= E.APP_DNS_QR
        op = (b2 >> 3) & 15
        if op == 0 or op == 4 or op == 5:
            a |= E.APP_DNS_OP_OK
    return a


AHEAD = 16  # packets `derive` looks ahead when it asks for frame bytes


@nb.njit(cache=True)
def _ip4_header_ok(data, b, n):  # type: ignore[no-untyped-def]
    if n < 20 or b + n > data.shape[0]:
        return True
    s = 0
    for k in range(0, n - 1, 2):
        s += (np.int64(data[b + k]) << 8) | np.int64(data[b + k + 1])
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


@nb.njit(cache=True)
def derive(pk, data, not_transport, ignore_csum, src_idx, cp4, cp6, out):  # type: ignore[no-untyped-def]
    """Fill `out` (DERIVED_DTYPE) for the packets Zeek hands to a transport analyzer;
    returns (kept, kept inner tunnel packets, kept packets with csum_bad, latest
    timestamp of any packet).

    One pass over the packets table: picking the packets and deriving their
    fields together reads each row once.  Fragments are skipped (the capture
    reader adds the reassembled datagram as a row of its own, reasm=2).
    """
    k = 0
    inner = 0  # rows with tunnel_depth > 0
    nbad = 0  # kept rows with csum_bad
    nd = data.shape[0]
    tmax = np.int64(-(2**62))
    npk = pk.shape[0]
    for i in range(npk):
        if i + AHEAD < npk:
            # the frame bytes read below (UDP length; IPv4 header of a csum_bad packet) lie
            # far behind the capture scan in the window, out of the caches: start loading
            # them a few packets ahead rather than stalling on each
            q = pk[i + AHEAD]
            if q.proto == 17:
                E.prefetch(data, np.int64(q.data_off) + np.int64(q.l4_off) + 4)  # type: ignore[call-arg]
            if q.csum_bad & CSUM_OWN:
                E.prefetch(data, np.int64(q.data_off) + np.int64(q.ip_off))  # type: ignore[call-arg]
        b = pk[i]
        if b.ts > tmax:
            tmax = b.ts
        v = b.ip_version
        if (v != 4 and v != 6) or b.arp_op != 0 or not_transport[b.proto] or b.frag & 1:
            continue
        if b.ip_drop != 0:
            continue  # Zeek's IP layer discards it (ESP, truncated IP length, ...): no session
        pr = np.int64(b.proto)
        needs_l4 = pr == 6 or pr == 17 or (pr == 1 and v == 4) or (pr == 58 and v == 6)
        if needs_l4 and b.l4_off == 0:
            continue
        bad = b.csum_bad
        if bad & CSUM_OUTER and not ignore_csum:
            continue  # an enclosing packet failed its checksum: Zeek never decapsulated it
        if bad & CSUM_OWN and not ignore_csum and v == 4:
            hl = np.int64(b.l4_off) - np.int64(b.ip_off) if b.l4_off > 0 else 20
            if not _ip4_header_ok(data, np.int64(b.data_off) + np.int64(b.ip_off), hl):
                continue  # bad IP header checksum: Zeek never sees the packet
        o = out[k]
        o.row = i
        o.ts = b.ts
        is_icmp = (pr == 1 and v == 4) or (pr == 58 and v == 6)
        if pr == 6:
            kind = E.K_TCP
        elif pr == 17:
            kind = E.K_UDP
        elif is_icmp:
            kind = E.K_ICMP
        else:
            kind = E.K_OTHER
        o.kind = kind
        o.ip_proto = pr
        sp = np.int64(b.sport)
        dp = np.int64(b.dport)
        one_way = False
        if kind == E.K_ICMP:
            cp = cp4[sp & 0xFF] if v == 4 else cp6[sp & 0xFF]
            if cp < 0:
                one_way = True
            else:
                dp = np.int64(cp)
        elif kind == E.K_OTHER:
            sp = 0
            dp = 0
        shi, slo, dhi, dlo = b.src_hi, b.src_lo, b.dst_hi, b.dst_lo
        first = shi < dhi or (shi == dhi and (slo < dlo or (slo == dlo and sp <= dp)))
        fa = first or one_way
        o.from_a = 1 if fa else 0
        if fa:
            o.a_hi, o.a_lo, o.b_hi, o.b_lo, o.a_p, o.b_p = shi, slo, dhi, dlo, sp, dp
        else:
            o.a_hi, o.a_lo, o.b_hi, o.b_lo, o.a_p, o.b_p = dhi, dlo, shi, slo, dp, sp
        o.meta = (
            np.uint64(1 << 63)
            | (np.uint64(1 if one_way else 0) << np.uint64(40))
            | (np.uint64(pr) << np.uint64(32))
            | (np.uint64(o.a_p) << np.uint64(16))
            | np.uint64(o.b_p)
        )
        o.sport = sp
        o.dport = dp
        o.flags = b.tcp_flags
        o.seq = b.seq
        o.ack = b.ack
        o.win = b.win
        ip_off = np.int64(b.ip_off)
        l4o = np.int64(b.l4_off)
        iplen = np.int64(b.ip_len)
        # ConnSize counts the IP header's total length as is: 0 for TSO frames
        o.iplen = iplen
        # Only a zeroed IPv4 total length changes that, and the reader marks such
        # packets csum_bad; a zero IPv6 payload length already gives ip_len 40.  Testing
        # the flag first spares a cache miss into the frame bytes per packet.
        if v == 4 and bad and b.reasm == 0:
            hp = np.int64(b.data_off) + ip_off + 2
            if hp + 1 < nd and data[hp] == 0 and data[hp + 1] == 0:
                o.iplen = 0
        ippay = iplen - (l4o - ip_off)
        caplen = np.int64(b.caplen)
        length = np.int64(0)
        if kind == E.K_TCP:
            thl = np.int64(b.payload_off) - l4o
            length = max(ippay - thl, 0)
            full = caplen - np.int64(b.payload_off) >= length
        else:
            if kind == E.K_UDP:
                pos = np.int64(b.data_off) + l4o + 4
                ulen = 0
                if pos + 1 < nd:
                    ulen = (np.int64(data[pos]) << 8) | np.int64(data[pos + 1])
                length = ulen - 8
            elif kind == E.K_ICMP:
                length = ippay - 8
            full = caplen - l4o >= ippay
        o.length = length
        o.fullcap = full
        o.csum_bad = bad
        o.app = 0
        if kind == E.K_UDP:
            o.app = _app(b.head, min(length, caplen - np.int64(b.payload_off)))
        o.src_mac = b.src_mac
        o.dst_mac = b.dst_mac
        o.vlan = b.vlan
        o.source = src_idx
        o.parent = 0
        o.bcast = dhi == 0 and dlo == _BCAST_LO
        o.depth = b.tunnel_depth
        o.tunnel_id = b.tunnel_id
        if b.tunnel_depth:
            inner += 1
        if bad & (CSUM_OWN | CSUM_OUTER):
            nbad += 1
        k += 1
    return k, inner, nbad, tmax
