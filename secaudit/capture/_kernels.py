"""Compiled kernels of the capture reader: record scanners + frame decoder.

Everything numba compiles for capture/ lives in this one module on purpose:
numba's on-disk cache (cache=True) is invalidated by the *calling* module's
file stamp only, so a decoder in another file could be served stale from
the cache after an edit.

## Record scanners
Classic pcap and pcapng.

Each scanner walks one window of the input (a memory map, a bytes object or a
decompressed gzip block), finds record boundaries and decodes every frame in
the same pass (`decode_frame`), so each byte is touched once.  They
stop when the window ends in the middle of a record (status NEED_MORE: the
caller maps the next window from `pos`), when the output arrays are full
(FULL), or at the end of the input (END).

Damage is reported as (code, offset, value) triples in `gaps`; the caller
turns them into `Gap`s.  Classic pcap has no framing to resynchronise on, so
after a corrupt record header the scanner looks ahead for two consecutive
plausible record headers (bounded search, RESYNC_WINDOW bytes) and resumes
there, or stops when none is found.  pcapng resynchronises on the next block
whose leading and trailing lengths agree.

## Frame decoder
Link layer -> IP -> transport, tunnels, checksums.

`decode_frame` fills one row of the packets table (schemas.PACKET_DTYPE) from
the bytes of one captured frame.  It never raises on hostile bytes: every read
is checked against the captured length, and a header that does not fit stops
decoding at the last layer that did (ip_version stays 0 when the IP header
itself is incomplete).

Tunnels are removed the way Zeek's packet analyzers do it (IP-in-IP, GRE incl.
ERSPAN/TEB/PPTP, VXLAN, Geneve, GTP-U, Teredo, AYIYA, GRE-in-UDP).  For UDP
encapsulations the outer UDP packet gets a row of its own (tunnel_depth 0) just
before the inner row, because Zeek logs the outer UDP connection too; the
caller passes `outb`, a byte view of the packets array, so the common frame
fields are copied with one slice assignment.
"""

# The kernels mix np.int64 scalars (numba needs them: int() of a uint8 stays
# uint8 there, and uint64/int64 mixes become float64) with plain ints, which
# mypy cannot unify; the annotations below document intent, numba types them.
# mypy: disable-error-code="arg-type, assignment, return-value, operator"

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# decoder states
_DONE = 0
_ETH = 1
_ETYPE = 2  # dispatch on `et`
_IP4 = 3
_IP6 = 4
_IPV = 5  # IPv4 or IPv6 by version nibble
_PPP = 6  # 2-byte PPP protocol number at off
_NULL_LE = 7
_W80211 = 8
_RADIOTAP = 9
_NFLOG = 10
_SLL = 11
_SLL2 = 12
_PPP_HDLC = 13  # optional ff 03 then PPP protocol
_LLC = 14  # 802.2 LLC/SNAP header with a zero OUI, then the ethertype

# ip_drop codes: Zeek's IP analyzer discards the packet before transport analysis
DROP_TRUNCATED_LEN = 1  # fewer bytes on the wire than the IP length ("truncated_IP_len")
DROP_FRAGMENT_CUT = 2  # non-first fragment not captured whole ("incompletely_captured_fragment")
DROP_ESP = 3  # IPsec ESP: an esp_packet event, no connection
DROP_MOBILITY = 4  # IPv6 mobility header: a mobile_ipv6_message event, no connection
DROP_NO_NEXT = 5  # IPv6 "no next header" outside Teredo ("ipv6_no_next")

# csum_bad bits: what Zeek's transport layer rejects
CSUM_OWN = 1  # this packet's own IPv4-header / TCP / UDP / ICMP checksum (or zero IPv4 length)
CSUM_OUTER = 2  # an enclosing packet's: Zeek dropped it there and never sees this inner one
TCP_HDR_BAD = 4  # data offset < 5 words or past the captured / IP payload bytes: Zeek
#                  creates the connection but analyzes nothing ("truncated_header"), even with -C

MAX_DEPTH = 8  # encapsulations removed at most (each advances the offset, this bounds work)
MAX_SUBFRAMES = 16  # A-MSDU subframes after the first decoded per frame (each a row)
ROWS_PER_FRAME = MAX_DEPTH + 1 + MAX_SUBFRAMES  # worst case rows one frame can produce

# tunnel kinds (keep in sync with _layout.TunnelKind)
_T_IP = 1
_T_GRE = 2
_T_VXLAN = 3
_T_GENEVE = 4
_T_GTP = 5
_T_TEREDO = 6
_T_AYIYA = 7
_T_GRE_UDP = 8

_V4MAP_HI = np.uint64(0)
_V4MAP_LO = np.uint64(0x0000FFFF00000000)

# TCP option bits written to tcp_opts
OPT_MSS = 1
OPT_WSCALE = 2
OPT_SACK_OK = 4
OPT_SACK = 8
OPT_TS = 16


@intrinsic
def _borrow(typingctx, arr):  # type: ignore[no-untyped-def]
    """The same array without its reference-counted owner (meminfo).

    Numba increfs and decrefs every array a function receives or rebinds, with
    locked (serialising) instructions; per packet that cost the scanners more
    than decoding.  A borrowed view makes those calls no-ops; it is only used
    inside a scanner call, while the caller holds the real array.
    """
    sig = arr(arr)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)  # type: ignore[no-untyped-call]
        return ary._getvalue()

    return sig, codegen


def _load_codegen(bits: int) -> Any:
    """Code generation of an unaligned native load of `bits` bits at arr[idx]."""

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, aty, ary, [args[1]], wraparound=False
        )
        return builder.load(builder.bitcast(ptr, ir.IntType(bits).as_pointer()), align=1)

    return codegen


@intrinsic
def _le32(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """The 4 bytes at arr[idx] as a native (little-endian) uint32, any alignment.

    Replaces a `.view(np.uint32)` of a slice, which allocates an array
    (and touches its refcount) on every checksum.
    """
    return types.uint32(arr, idx), _load_codegen(32)


@intrinsic
def _le64(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """The 8 bytes at arr[idx] as a native (little-endian) uint64, any alignment."""
    return types.uint64(arr, idx), _load_codegen(64)


@njit(cache=True, inline="always")
def _u16(b: np.ndarray, i: int) -> int:
    return (np.int64(b[i]) << 8) | np.int64(b[i + 1])


@njit(cache=True, inline="always")
def _u32(b: np.ndarray, i: int) -> int:
    return (
        (np.int64(b[i]) << 24)
        | (np.int64(b[i + 1]) << 16)
        | (np.int64(b[i + 2]) << 8)
        | np.int64(b[i + 3])
    )


@njit(cache=True, inline="always")
def _u64(b: np.ndarray, i: int) -> np.uint64:
    return (np.uint64(_u32(b, i)) << np.uint64(32)) | np.uint64(_u32(b, i + 4))


@njit(cache=True, inline="always")
def _mac(b: np.ndarray, i: int) -> np.uint64:
    return np.uint64((_u16(b, i) << 32) | _u32(b, i + 2))


@njit(cache=True)
def _sum16(b: np.ndarray, start: int, n: int) -> int:
    """Ones'-complement sum of n bytes as big-endian 16-bit words (folded to 16 bits).

    Sums little-endian 32-bit words (RFC 1071: the sum is byte-order
    independent up to a final byte swap), which runs at memory speed.
    """
    n4 = n >> 2
    acc = np.uint64(0)
    for i in range(n4):
        acc += np.uint64(_le32(b, start + 4 * i))  # type: ignore[call-arg]
    s = np.int64((acc & np.uint64(0xFFFFFFFF)) + (acc >> np.uint64(32)))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    for j in range(n4 * 4, n):
        if j & 1:
            s += np.int64(b[start + j]) << 8
        else:
            s += np.int64(b[start + j])
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ((s & 0xFF) << 8) | (s >> 8)


@njit(cache=True, inline="always")
def _hsum(b: np.ndarray, o: int, n: int) -> int:
    """Unfolded sum of the big-endian 16-bit words of a short header b[o:o+n] (n even).

    For IP headers and pseudo-header addresses: a plain loop over a few words
    costs less per packet than setting up `_sum16`'s word view.
    """
    s = 0
    for i in range(o, o + n, 2):
        s += (np.int64(b[i]) << 8) | np.int64(b[i + 1])
    return s


@njit(cache=True, inline="always")
def _fold(s: int) -> int:
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


@njit(cache=True)
def _reset_l3(out: np.ndarray, r: int) -> None:
    """Clear what a previous (outer) decode wrote above the link layer."""
    p = out[r]
    p.ip_version = 0
    p.ip_off = 0
    p.ip_len = 0
    p.ip_id = 0
    p.ttl = 0
    p.frag = 0
    p.frag_off = 0
    p.src_hi = 0
    p.src_lo = 0
    p.dst_hi = 0
    p.dst_lo = 0
    p.proto = 0
    p.l4_off = 0
    p.sport = 0
    p.dport = 0
    p.tcp_flags = 0
    p.seq = 0
    p.ack = 0
    p.win = 0
    p.wscale = -1
    p.payload_off = 0
    p.payload_len = 0
    p.arp_op = 0
    p.arp_sha = 0
    p.arp_tha = 0
    p.tcp_opts = 0
    p.tcp_mss = 0
    p.tcp_tsval = 0
    p.tcp_tsecr = 0
    p.ip_drop = 0
    # like Zeek's fresh inner Packet: VLAN tags belong to the outer frame
    p.vlan = 0
    p.vlan_inner = 0


@njit(cache=True, inline="always")
def _next_row(out: np.ndarray, outb: np.ndarray, r: int) -> int:
    """Row r + 1 as a copy of row r with everything above the link layer cleared: where
    one frame gives another packet (a UDP tunnel's inner packet, an A-MSDU subframe)."""
    outb[r + 1, :] = outb[r, :]
    _reset_l3(out, r + 1)
    return r + 1


@njit(cache=True, inline="always")
def _amsdu_next(sub_end: int, sub_len: int, amsdu_end: int) -> int:
    """Offset of the A-MSDU subframe header after one ending at sub_end, -1 when none.

    Zeek skips `sub_len % 4` padding bytes when that many remain (not the padding to a
    multiple of 4 the standard describes); any bytes left start another subframe."""
    nxt = sub_end
    if amsdu_end - sub_end >= sub_len % 4:
        nxt += sub_len % 4
    return nxt if nxt < amsdu_end else -1


@njit(cache=True)
def _add_tunnel(
    out: np.ndarray,
    r: int,
    tun: np.ndarray,
    nt: int,
    kind: int,
    l4proto: int,
    sport: int,
    dport: int,
    vni: int,
    outer_row: int,
) -> None:
    """Append the tunnel whose outer IP header is described by row r."""
    p = out[r]
    t = tun[nt]
    t.kind = kind
    t.ip_version = p.ip_version
    t.proto = l4proto
    t.src_hi = p.src_hi
    t.src_lo = p.src_lo
    t.dst_hi = p.dst_hi
    t.dst_lo = p.dst_lo
    t.sport = sport
    t.dport = dport
    t.vni = vni
    t.parent_tunnel = p.tunnel_id
    t.outer_row = outer_row


@njit(cache=True)
def _tcp_options(b: np.ndarray, out: np.ndarray, r: int, o: int, e: int) -> None:
    """MSS, window scale, SACK-permitted, SACK and timestamps from options [o, e)."""
    p = out[r]
    while o < e:
        kind = np.int64(b[o])
        if kind == 0:
            return
        if kind == 1:
            o += 1
            continue
        if o + 1 >= e:
            return
        ln = np.int64(b[o + 1])
        if ln < 2 or o + ln > e:
            return
        if kind == 2 and ln == 4:
            p.tcp_opts |= OPT_MSS
            p.tcp_mss = _u16(b, o + 2)
        elif kind == 3 and ln == 3:
            p.tcp_opts |= OPT_WSCALE
            p.wscale = min(np.int64(b[o + 2]), 14)
        elif kind == 4 and ln == 2:
            p.tcp_opts |= OPT_SACK_OK
        elif kind == 5:
            p.tcp_opts |= OPT_SACK
        elif kind == 8 and ln == 10:
            p.tcp_opts |= OPT_TS
            p.tcp_tsval = _u32(b, o + 2)
            p.tcp_tsecr = _u32(b, o + 6)
        o += ln


@njit(cache=True)
def decode_frame(
    b: np.ndarray,
    base: int,
    caplen: int,
    linktype: int,
    out: np.ndarray,
    outb: np.ndarray,
    r: int,
    tun: np.ndarray,
    nt: int,
) -> tuple[int, int, int]:
    """Decode the frame b[base:base+caplen] into out[r] (+ rows for UDP tunnels).

    Returns (next free row, next free tunnel row, bytes of A-MSDU subframes left undecoded
    past MAX_SUBFRAMES).  The scanner has already set
    the record fields (ts, file_offset, data_off, caplen, wirelen, iface,
    linktype); everything else in the row is written here.
    """
    end = base + caplen
    r_first = r
    p = out[r]
    p.wscale = -1
    p.tunnel_id = -1
    wend = base + np.int64(p.wirelen)  # end of the bytes on the wire (Zeek's packet->len)
    off = base
    et = 0
    depth = 0
    # -- link layer: pick the first state
    if linktype == 1:
        st = _ETH
    elif linktype == 101 or linktype == 12 or linktype == 14:
        st = _IPV
    elif linktype == 228:
        st = _IP4
    elif linktype == 229:
        st = _IP6
    elif linktype == 0:
        st = _NULL_LE
    elif linktype == 108:
        # OpenBSD LOOP: address family in network byte order
        if off + 4 > end:
            return r + 1, nt, 0
        af = _u32(b, off)
        off += 4
        st = _IP4 if af == 2 else (_IP6 if af == 24 or af == 28 or af == 30 else _DONE)
    elif linktype == 113:
        st = _SLL
    elif linktype == 276:
        st = _SLL2
    elif linktype == 9 or linktype == 50:
        st = _PPP_HDLC
    elif linktype == 51:
        et = 0x8864
        st = _ETYPE
    elif linktype == 104:
        # Cisco HDLC: address, control, then an EtherType
        if off + 4 > end:
            return r + 1, nt, 0
        et = _u16(b, off + 2)
        off += 4
        st = _ETYPE
    elif linktype == 105:
        st = _W80211
    elif linktype == 127:
        st = _RADIOTAP
    elif linktype == 239:
        st = _NFLOG
    else:
        return r + 1, nt, 0

    # A-MSDU (802.11 QoS data carrying several subframes): the next subframe header, the
    # end of the aggregate and the 802.11-level fields each subframe row starts from
    amsdu_at = -1
    amsdu_end = 0
    nsub = 0
    sv_src = np.uint64(0)
    sv_dst = np.uint64(0)
    sv_tid = -1
    sv_depth = 0
    sv_bad = 0
    while True:
        while st != _DONE:
            p = out[r]
            if st == _ETH:
                if off + 14 > end:
                    break
                # Cisco FabricPath: a 16-byte outer header, then the real Ethernet frame
                if b[off + 12] == 0x89 and b[off + 13] == 0x03:
                    if off + 16 + 14 > end:
                        break
                    off += 16
                p.dst_mac = _mac(b, off)
                p.src_mac = _mac(b, off + 6)
                et = _u16(b, off + 12)
                off += 14
                if et <= 1500:
                    # 802.3 length: only LLC/SNAP carries IP
                    if (
                        off + 8 <= end
                        and b[off] == 0xAA
                        and b[off + 1] == 0xAA
                        and b[off + 2] == 0x03
                    ):
                        et = _u16(b, off + 6)
                        off += 8
                    else:
                        p.ethertype = 0
                        break
                st = _ETYPE
            elif st == _ETYPE:
                p.ethertype = et
                if et == 0x0800:
                    st = _IP4
                elif et == 0x86DD:
                    st = _IP6
                elif et == 0x8100 or et == 0x88A8 or et == 0x9100 or et == 0x9200:
                    if off + 4 > end:
                        break
                    vid = _u16(b, off) & 0x0FFF
                    if p.vlan == 0:
                        p.vlan = vid
                    elif p.vlan_inner == 0:
                        p.vlan_inner = vid
                    et = _u16(b, off + 2)
                    off += 4
                elif et == 0x0806 or et == 0x8035:
                    # ARP / RARP over Ethernet + IPv4 only
                    if off + 28 > end:
                        break
                    if (
                        _u16(b, off) != 1
                        or _u16(b, off + 2) != 0x0800
                        or b[off + 4] != 6
                        or b[off + 5] != 4
                    ):
                        break
                    p.arp_op = min(_u16(b, off + 6), 255)
                    p.arp_sha = _mac(b, off + 8)
                    p.src_hi = _V4MAP_HI
                    p.src_lo = _V4MAP_LO | np.uint64(_u32(b, off + 14))
                    p.arp_tha = _mac(b, off + 18)
                    p.dst_hi = _V4MAP_HI
                    p.dst_lo = _V4MAP_LO | np.uint64(_u32(b, off + 24))
                    break
                elif et == 0x8847 or et == 0x8848:
                    # MPLS label stack down to bottom-of-stack, then IP by version nibble
                    while True:
                        if off + 4 > end:
                            st = _DONE
                            break
                        bos = b[off + 2] & 1
                        off += 4
                        if bos:
                            st = _IPV
                            break
                elif et == 0x8864:
                    # PPPoE session: 6-byte header, then the PPP protocol number
                    if off + 6 > end:
                        break
                    off += 6
                    st = _PPP
                elif et == 0x88E7:
                    # 802.1ah PBB: I-TAG, then the customer Ethernet frame
                    if off + 4 > end:
                        break
                    off += 4
                    st = _ETH
                elif et == 0x8926:
                    # VN-Tag: 4 bytes, then the next ethertype
                    if off + 6 > end:
                        break
                    et = _u16(b, off + 4)
                    off += 6
                elif et == 0x6558:
                    st = _ETH
                else:
                    break
            elif st == _PPP_HDLC:
                if off + 2 <= end and b[off] == 0xFF and b[off + 1] == 0x03:
                    off += 2
                st = _PPP
            elif st == _PPP:
                if off + 2 > end:
                    break
                pp = _u16(b, off)
                off += 2
                if pp == 0x0021:
                    st = _IP4
                elif pp == 0x0057:
                    st = _IP6
                else:
                    break
            elif st == _NULL_LE:
                if off + 4 > end:
                    break
                # BSD loopback: AF in the capturing host's byte order
                af = (
                    np.int64(b[off])
                    | (np.int64(b[off + 1]) << 8)
                    | (np.int64(b[off + 2]) << 16)
                    | (np.int64(b[off + 3]) << 24)
                )
                if af > 0xFFFF:
                    af = _u32(b, off)
                off += 4
                if af == 2:
                    st = _IP4
                elif af == 24 or af == 28 or af == 30:
                    st = _IP6
                else:
                    break
            elif st == _SLL:
                if off + 16 > end:
                    break
                alen = _u16(b, off + 4)
                if alen == 6:
                    p.src_mac = _mac(b, off + 6)
                et = _u16(b, off + 14)
                off += 16
                st = _ETYPE
            elif st == _SLL2:
                if off + 20 > end:
                    break
                if b[off + 11] == 6:
                    p.src_mac = _mac(b, off + 12)
                et = _u16(b, off)
                off += 20
                st = _ETYPE
            elif st == _RADIOTAP:
                if off + 4 > end:
                    break
                rlen = np.int64(b[off + 2]) | (np.int64(b[off + 3]) << 8)
                if rlen < 4:
                    break
                off += rlen
                st = _W80211
            elif st == _W80211:
                if off + 24 > end:
                    break
                fc0 = np.int64(b[off])
                fc1 = np.int64(b[off + 1])
                if ((fc0 >> 2) & 3) != 2 or (fc1 & 0x40) != 0:
                    break  # not a data frame, or protected
                if (fc0 >> 4) & 4:
                    break  # null-function data frames carry nothing
                tods = fc1 & 1
                fromds = (fc1 >> 1) & 1
                hl = 24
                if tods and fromds:
                    hl = 30
                amsdu = False
                if (fc0 >> 4) & 8:  # QoS data
                    if off + hl >= end:
                        break
                    amsdu = (b[off + hl] & 0x80) != 0  # several subframes follow
                    hl += 2
                    if fc1 & 0x80:
                        hl += 4
                if off + hl > end:
                    break
                a1 = _mac(b, off + 4)
                a2 = _mac(b, off + 10)
                a3 = _mac(b, off + 16)
                p.dst_mac = a3 if tods else a1
                if fromds:
                    p.src_mac = _mac(b, off + 24) if tods else a3
                else:
                    p.src_mac = a2
                off += hl
                st = _LLC
                if amsdu and nsub == 0:
                    # the first subframe continues in this row, the others follow (below)
                    if off + 14 > end:
                        break
                    sub_len = _u16(b, off + 12)
                    if off + 14 + sub_len > end:
                        break  # truncated_802_11_amsdu_packet
                    sv_src, sv_dst = p.src_mac, p.dst_mac
                    sv_tid, sv_depth, sv_bad = p.tunnel_id, p.tunnel_depth, p.csum_bad
                    amsdu_end = end
                    off += 14
                    end = off + sub_len
                    amsdu_at = _amsdu_next(end, sub_len, amsdu_end)
            elif st == _LLC:
                # LLC/SNAP with a zero OUI (encapsulated Ethernet), as Zeek's 802.11 analyzer
                if (
                    off + 8 > end or b[off] != 0xAA or b[off + 1] != 0xAA or b[off + 2] != 0x03
                    or b[off + 3] != 0 or b[off + 4] != 0 or b[off + 5] != 0
                ):  # fmt: skip
                    break
                et = _u16(b, off + 6)
                off += 8
                st = _ETYPE
            elif st == _NFLOG:
                if off + 4 > end:
                    break
                fam = np.int64(b[off])
                o = off + 4
                st = _DONE
                while o + 4 <= end:
                    tl = np.int64(b[o]) | (np.int64(b[o + 1]) << 8)
                    tt = np.int64(b[o + 2]) | (np.int64(b[o + 3]) << 8)
                    if tl < 4:
                        break
                    if tt == 9:  # NFULA_PAYLOAD
                        off = o + 4
                        end = min(end, o + tl)
                        st = _IP4 if fam == 2 else (_IP6 if fam == 10 else _DONE)
                        break
                    o += (tl + 3) & ~3
            elif st == _IPV:
                if off >= end:
                    break
                v = b[off] >> 4
                st = _IP4 if v == 4 else (_IP6 if v == 6 else _DONE)
            else:
                # ---------------------------------------------------------- IPv4 / IPv6
                frag = 0
                l4end_wire = 0
                if st == _IP4:
                    if off + 20 > end or (b[off] >> 4) != 4:
                        break
                    ihl = (np.int64(b[off]) & 15) * 4
                    if ihl < 20 or off + ihl > end:
                        break
                    tot = _u16(b, off + 2)
                    zero_len = tot == 0
                    if zero_len:
                        tot = end - off  # segmentation offload zeroes the length
                    if tot < ihl:
                        break
                    if zero_len:
                        p.csum_bad |= CSUM_OWN  # Zeek drops it unless -C, like a bad checksum
                    if wend - off < tot:
                        p.ip_drop = DROP_TRUNCATED_LEN
                    p.ip_version = 4
                    p.ip_off = off - base
                    p.ip_len = tot
                    p.ip_id = _u16(b, off + 4)
                    p.ttl = b[off + 8]
                    fw = _u16(b, off + 6)
                    fo = (fw & 0x1FFF) * 8
                    mf = (fw >> 13) & 1
                    if mf or fo:
                        frag = 1 | (mf << 1) | (4 if fo == 0 else 0)
                    if fw & 0x4000:
                        frag |= 8
                    p.frag = frag
                    p.frag_off = fo
                    p.src_hi = _V4MAP_HI
                    p.src_lo = _V4MAP_LO | np.uint64(_u32(b, off + 12))
                    p.dst_hi = _V4MAP_HI
                    p.dst_lo = _V4MAP_LO | np.uint64(_u32(b, off + 16))
                    proto = np.int64(b[off + 9])
                    if _fold(_hsum(b, off, ihl)) != 0xFFFF:
                        p.csum_bad |= CSUM_OWN
                    l4 = off + ihl
                    l4end_wire = off + tot
                    # pseudo-header sum (without protocol/length)
                    ph = _hsum(b, off + 12, 8)
                    ph_len = tot - ihl
                else:
                    if off + 40 > end or (b[off] >> 4) != 6:
                        break
                    plen = _u16(b, off + 4)
                    p.ip_version = 6
                    p.ip_off = off - base
                    p.ip_len = 40 + plen
                    if wend - off < 40 + plen:
                        p.ip_drop = DROP_TRUNCATED_LEN
                    p.ttl = b[off + 7]
                    p.src_hi = _u64(b, off + 8)
                    p.src_lo = _u64(b, off + 16)
                    p.dst_hi = _u64(b, off + 24)
                    p.dst_lo = _u64(b, off + 32)
                    ph = _hsum(b, off + 8, 32)
                    proto = np.int64(b[off + 6])
                    l4 = off + 40
                    l4end_wire = off + 40 + plen
                    if plen == 0:
                        l4end_wire = end  # jumbogram or offload: trust the capture
                    # extension headers
                    ok = True
                    while True:
                        if proto == 0 or proto == 43 or proto == 60 or proto == 135:
                            if l4 + 8 > end:
                                ok = False
                                break
                            if proto == 43 and b[l4 + 2] == 0 and b[l4 + 3] > 0:
                                # type-0 routing header: checksum uses the final address
                                nseg = np.int64(b[l4 + 1]) // 2
                                fa = l4 + 8 + (nseg - 1) * 16
                                if nseg > 0 and fa + 16 <= end:
                                    ph = _sum16(b, off + 8, 16) + _sum16(b, fa, 16)
                            elif (
                                proto == 43 and b[l4 + 2] == 2 and b[l4 + 3] > 0 and l4 + 24 <= end
                            ):
                                ph = _sum16(b, off + 8, 16) + _sum16(b, l4 + 8, 16)
                            if proto == 135:
                                break  # mobility header: Zeek treats it as the transport
                            nxt = np.int64(b[l4])
                            l4 += (np.int64(b[l4 + 1]) + 1) * 8
                            proto = nxt
                        elif proto == 44:
                            if l4 + 8 > end:
                                ok = False
                                break
                            fw = _u16(b, l4 + 2)
                            fo = fw & 0xFFF8
                            mf = fw & 1
                            p.ip_id = _u32(b, l4 + 4)
                            frag = 1 | (mf << 1) | (4 if fo == 0 else 0)
                            p.frag = frag
                            p.frag_off = fo
                            nxt = np.int64(b[l4])
                            l4 += 8
                            proto = nxt
                        elif proto == 51:
                            if l4 + 8 > end:
                                ok = False
                                break
                            nxt = np.int64(b[l4])
                            l4 += (np.int64(b[l4 + 1]) + 2) * 4
                            proto = nxt
                        else:
                            break
                    if not ok or l4 > end:
                        p.proto = proto
                        break
                    ph_len = l4end_wire - l4
                p.proto = proto
                if ph_len < 0:
                    break
                p.l4_off = l4 - base
                # transport payload must be whole in the capture to verify a checksum
                whole = l4end_wire <= end and (frag & 1) == 0
                if proto == 50:
                    p.ip_drop = DROP_ESP
                elif proto == 135:
                    p.ip_drop = DROP_MOBILITY
                elif proto == 59 and (p.tunnel_id < 0 or tun[p.tunnel_id].kind != _T_TEREDO):
                    p.ip_drop = DROP_NO_NEXT
                if frag & 1 and (frag & 4) == 0:
                    # a non-first fragment carries no transport header
                    if l4end_wire > end:
                        p.ip_drop = DROP_FRAGMENT_CUT
                    p.l4_off = 0
                    p.payload_off = l4 - base
                    p.payload_len = ph_len
                    break
                if proto == 6:
                    if l4 + 20 > end:
                        p.l4_off = 0
                        break
                    p.sport = _u16(b, l4)
                    p.dport = _u16(b, l4 + 2)
                    p.seq = _u32(b, l4 + 4)
                    p.ack = _u32(b, l4 + 8)
                    doff = (np.int64(b[l4 + 12]) >> 4) * 4
                    p.tcp_flags = ((np.int64(b[l4 + 12]) & 1) << 8) | np.int64(b[l4 + 13])
                    p.win = _u16(b, l4 + 14)
                    if doff < 20 or l4 + doff > end or doff > ph_len:
                        p.csum_bad |= TCP_HDR_BAD
                    if doff > 20:
                        _tcp_options(b, out, r, l4 + 20, min(l4 + doff, end))
                    if doff < 20:
                        doff = 20
                    p.payload_off = l4 + doff - base
                    p.payload_len = max(ph_len - doff, 0)
                    if whole:
                        s = ph + 6 + ph_len + _sum16(b, l4, ph_len)
                        if _fold(s) != 0xFFFF:
                            p.csum_bad |= CSUM_OWN
                    break
                if proto == 17:
                    if l4 + 8 > end:
                        p.l4_off = 0
                        break
                    sp = _u16(b, l4)
                    dp = _u16(b, l4 + 2)
                    ulen = _u16(b, l4 + 4)
                    ck = _u16(b, l4 + 6)
                    p.sport = sp
                    p.dport = dp
                    p.payload_off = l4 + 8 - base
                    p.payload_len = max(min(ulen, ph_len) - 8, 0)
                    pay = l4 + 8
                    pend = min(l4end_wire, end)
                    if whole:
                        verify = True
                        if ck == 0:
                            if st == _IP4:
                                verify = False
                            elif dp == 4789 and pend - pay > 22 and (b[pay] & 0x08) != 0:
                                verify = False  # VXLAN over IPv6 may send a zero checksum
                        if verify:
                            s = ph + 17 + ph_len + _sum16(b, l4, ph_len)
                            if _fold(s) != 0xFFFF:
                                p.csum_bad |= CSUM_OWN
                    if frag & 1 or depth >= MAX_DEPTH:
                        break
                    # ---- UDP encapsulations (Zeek forwards on the responder port;
                    # we accept either port, flows can re-check with tunnels.sport/dport)
                    kind = 0
                    vni = 0
                    nst = _DONE
                    noff = pay
                    if dp == 4789 or sp == 4789:
                        if pay + 8 <= pend and (b[pay] & 0x08):
                            kind = _T_VXLAN
                            vni = _u32(b, pay + 4) >> 8
                            noff = pay + 8
                            nst = _ETH
                    elif dp == 6081 or sp == 6081:
                        if pay + 8 <= pend and (b[pay] >> 6) == 0:
                            olen = (np.int64(b[pay]) & 0x3F) * 4
                            gp = _u16(b, pay + 2)
                            if pay + 8 + olen <= pend:
                                kind = _T_GENEVE
                                vni = _u32(b, pay + 4) >> 8
                                noff = pay + 8 + olen
                                if gp == 0x6558 or gp == 0x0800 or gp == 0x86DD or gp == 0x0806:
                                    et = gp
                                    nst = _ETYPE
                                else:
                                    kind = 0
                    elif dp == 2152 or sp == 2152 or dp == 2123 or sp == 2123:
                        if pay + 8 <= pend:
                            g0 = np.int64(b[pay])
                            if (g0 >> 5) == 1 and (g0 & 0x10) and b[pay + 1] == 0xFF:
                                go = pay + 8
                                gok = True
                                if g0 & 0x07:
                                    go += 4
                                    if g0 & 0x04:
                                        nxe = np.int64(b[go - 1])
                                        while nxe != 0:
                                            if go >= pend:
                                                gok = False
                                                break
                                            el = np.int64(b[go]) * 4
                                            if el == 0 or go + el > pend:
                                                gok = False
                                                break
                                            nxe = np.int64(b[go + el - 1])
                                            go += el
                                if gok and go < pend:
                                    kind = _T_GTP
                                    vni = _u32(b, pay + 4)
                                    noff = go
                                    nst = _IPV
                    elif (dp == 4754 or sp == 4754) and pay + 4 <= pend:
                        kind = _T_GRE_UDP
                        noff = pay
                        nst = _DONE  # resolved below by the GRE parser
                    if kind == 0:
                        # AYIYA (udp/5072 or its signature) and Teredo (udp/3544 or its
                        # signature): Zeek's protocol detection tries them on any port
                        ao, nh = _ayiya(b, pay, pend, dp == 5072 or sp == 5072)
                        if ao >= 0:
                            kind = _T_AYIYA
                            noff = ao
                            nst = _IP4 if nh == 4 else _IP6
                        else:
                            to = _teredo(b, pay, pend, dp == 3544 or sp == 3544)
                            if to >= 0:
                                kind = _T_TEREDO
                                noff = to
                                nst = _IP6
                    if kind == 0:
                        break
                    # outer UDP row stays as decoded; the inner packet continues in a copy
                    if kind == _T_GRE_UDP:
                        gst, goff, gvni = _gre(b, pay, pend, end)
                        if gst == _DONE:
                            break
                        nst = gst
                        noff = goff
                        vni = gvni
                    _add_tunnel(out, r, tun, nt, kind, 17, sp, dp, vni, r)
                    r = _next_row(out, outb, r)
                    p = out[r]
                    p.csum_bad = CSUM_OUTER if p.csum_bad & (CSUM_OWN | CSUM_OUTER) else 0
                    p.tunnel_id = nt
                    p.tunnel_depth += 1
                    nt += 1
                    depth += 1
                    off = noff
                    end = pend
                    if kind == _T_GRE_UDP:
                        wend = pend  # GRE hands the inner IP its payload as caplen and wire length
                    # other UDP encapsulations keep the frame's wire end (Zeek's build_inner_packet)
                    st = nst
                    continue
                if proto == 1 or proto == 58:
                    if l4 + 4 > end:
                        p.l4_off = 0
                        break
                    p.sport = b[l4]
                    p.dport = b[l4 + 1]
                    p.payload_off = l4 + 8 - base
                    p.payload_len = max(ph_len - 8, 0)
                    if whole:
                        s = _sum16(b, l4, ph_len)
                        if proto == 58:
                            s += ph + 58 + ph_len
                        if _fold(s) != 0xFFFF:
                            p.csum_bad |= CSUM_OWN
                    break
                if (proto == 4 or proto == 41 or proto == 47) and depth < MAX_DEPTH:
                    if frag & 1:
                        break
                    if proto == 47:
                        gst, goff, gvni = _gre(b, l4, min(l4end_wire, end), end)
                        if gst == _DONE:
                            break
                        kind = _T_GRE
                    else:
                        gst = _IP4 if proto == 4 else _IP6
                        goff = l4
                        gvni = 0
                        kind = _T_IP
                    _add_tunnel(out, r, tun, nt, kind, proto, 0, 0, gvni, -1)
                    # Zeek logs no connection for the outer IP of IP-in-IP / GRE:
                    # the same row carries the inner packet
                    outer_bad = p.csum_bad
                    _reset_l3(out, r)
                    p.csum_bad = CSUM_OUTER if outer_bad & (CSUM_OWN | CSUM_OUTER) else 0
                    p.tunnel_id = nt
                    p.tunnel_depth += 1
                    nt += 1
                    depth += 1
                    off = goff
                    st = gst
                    end = min(l4end_wire, end)
                    wend = end
                    continue
                if proto == 132 and l4 + 4 <= end:
                    # SCTP ports (checksum is CRC32c, not verified here)
                    p.sport = _u16(b, l4)
                    p.dport = _u16(b, l4 + 2)
                    p.payload_off = l4 + 12 - base
                    p.payload_len = max(ph_len - 12, 0)
                break
        # IEEE802_11Analyzer hands each A-MSDU subframe on as a packet of its own: a new
        # row from the 802.11 level (addresses, encapsulation), decoded from its LLC header
        if amsdu_at < 0 or nsub >= MAX_SUBFRAMES or amsdu_at + 14 > amsdu_end:
            break
        sub_len = _u16(b, amsdu_at + 12)
        if amsdu_at + 14 + sub_len > amsdu_end:
            break  # truncated_802_11_amsdu_packet
        nsub += 1
        r = _next_row(out, outb, r)
        p = out[r]
        p.src_mac = sv_src
        p.dst_mac = sv_dst
        p.tunnel_id = sv_tid
        p.tunnel_depth = sv_depth
        p.csum_bad = sv_bad
        p.ethertype = 0
        off = amsdu_at + 14
        end = off + sub_len
        amsdu_at = _amsdu_next(end, sub_len, amsdu_end)
        st = _LLC

    for k in range(r_first, r + 1):  # UDP tunnels: the outer rows, then the inner one
        q = out[k]
        q.head = _payload_head(b, base, q)
    lost = amsdu_end - amsdu_at if amsdu_at >= 0 and nsub >= MAX_SUBFRAMES else 0
    return r + 1, nt, lost


@njit(cache=True, inline="always")
def _payload_head(b: np.ndarray, base: int, p: Any) -> np.uint64:
    """The first (up to 8) captured payload bytes of the frame at b[base:] decoded into
    record `p`, as a little-endian word (zeros past the capture or the payload)."""
    w = np.uint64(0)
    if p.payload_len > 0 and p.payload_off < p.caplen:
        at = base + np.int64(p.payload_off)
        n: int = min(np.int64(p.caplen) - np.int64(p.payload_off), np.int64(p.payload_len))
        if n >= 8:
            return _le64(b, at)  # type: ignore[call-arg]
        for k in range(n):
            w |= np.uint64(b[at + k]) << np.uint64(8 * k)
    return w


# classic pcap's scanner gets decode_frame inlined (numba IR level): as a call it
# cost a quarter of the scan in argument passing and per-call array refcounting.
# pcapng keeps the call, which compiles in a third of the time.
_decode_inline = njit(cache=True, inline="always")(decode_frame.py_func)


@njit(cache=True)
def _ayiya(b: np.ndarray, pay: int, pend: int, on_port: bool) -> tuple[int, int]:
    """(offset of the inner IP, next header) of an AYIYA data packet, (-1, 0) if none.

    Zeek detects AYIYA on any port by bytes 1-2 = 0x52 0x11 (SHA-1 signature,
    IPv6-in-AYIYA defaults); only opcode 1 (forward) carries a packet.
    """
    n = pend - pay
    if n < 8:
        return -1, 0
    if not on_port and not (b[pay + 1] == 0x52 and b[pay + 2] == 0x11):
        return -1, 0
    hl = 8 + (1 << (np.int64(b[pay]) >> 4)) + (np.int64(b[pay + 1]) >> 4) * 4
    if hl >= n or (np.int64(b[pay + 2]) & 15) != 1:
        return -1, 0
    nh = np.int64(b[pay + 3])
    if nh != 4 and nh != 41:
        return -1, 0
    return pay + hl, nh


@njit(cache=True)
def _teredo(b: np.ndarray, pay: int, pend: int, on_port: bool) -> int:
    """Offset of the IPv6 packet inside a Teredo payload, -1 if it is not Teredo.

    Off udp/3544 the payload must pass Zeek's detection: an IPv6 header with a
    Teredo (2001:0::/32) source or destination, or origin indication /
    authentication headers followed by IPv6.  The inner packet must fill the
    payload exactly (a bubble, next header 59 with no payload, may be followed
    by trailing bytes).
    """
    n = pend - pay
    if n < 40:
        return -1
    if not on_port:
        d0 = np.int64(b[pay])
        if (d0 >> 4) == 6:
            if not (_u32(b, pay + 8) == 0x20010000 or _u32(b, pay + 24) == 0x20010000):
                return -1
        elif d0 == 0 and (b[pay + 1] == 0 or b[pay + 1] == 1):
            q = pay
            val = np.int64(b[pay + 1])
            if val == 1:
                q += 13 + np.int64(b[pay + 2]) + np.int64(b[pay + 3])
                if pend - q < 40:
                    return -1
                val = _u16(b, q)
            if val != 0:
                return -1
            q += 8
            if pend - q < 40 or (b[q] >> 4) != 6:
                return -1
        else:
            return -1
    # origin indication and authentication, each at most once, then IPv6
    q = pay
    seen_origin = False
    seen_auth = False
    while True:
        if pend - q < 2:
            return -1
        tag = _u16(b, q)
        if tag == 0:
            if seen_origin or pend - q < 8:
                return -1
            seen_origin = True
            q += 8
        elif tag == 1:
            if seen_origin or seen_auth or pend - q < 4:
                return -1
            seen_auth = True
            q += 13 + np.int64(b[q + 2]) + np.int64(b[q + 3])
        elif (tag >> 12) == 6:
            break
        else:
            return -1
    if pend - q < 40:
        return -1
    plen = _u16(b, q + 4)
    if q + 40 + plen == pend:
        return q
    if q + 40 + plen < pend and plen == 0 and b[q + 6] == 59:
        return q  # bubble with trailing payload: Zeek still forwards it
    return -1


@njit(cache=True)
def _gre(b: np.ndarray, g: int, gend: int, end: int) -> tuple[int, int, int]:
    """Parse a GRE header at g; returns (next state, offset of the inner header, key).

    Follows Zeek's GRE analyzer: versions 0 and 1 only, no routing, no unknown
    flag bits; v0 carries IPv4/IPv6, Transparent Ethernet Bridging (0x6558), Aruba's
    802.11 frames (0x8200-0x82f0, 0x8300-0x8370, 0x9000) and
    ERSPAN II (0x88be, 8-byte header when the sequence bit is set) / III
    (0x22eb, 12 bytes + 8 with the O bit); v1 is PPTP with a 4-byte PPP header.
    """
    if g + 4 > gend:
        return _DONE, 0, 0
    fl = _u16(b, g)
    ver = fl & 7
    gp = _u16(b, g + 2)
    if ver > 1 or fl & 0x4000 or fl & 0x0078:
        return _DONE, 0, 0
    ho = g + 4
    key = 0
    if fl & 0x8000:
        ho += 4
    if fl & 0x2000:
        if ho + 4 > gend:
            return _DONE, 0, 0
        key = _u32(b, ho) if ver == 0 else _u16(b, ho + 2)  # PPTP: call id
        ho += 4
    if fl & 0x1000:
        ho += 4
    if fl & 0x0080:
        ho += 4
    if ho > gend:
        return _DONE, 0, 0
    if ver == 1:
        if gp != 0x880B or ho + 4 > gend:
            return _DONE, 0, 0
        pp = _u16(b, ho + 2)
        if pp == 0x0021:
            return _IP4, ho + 4, key
        if pp == 0x0057:
            return _IP6, ho + 4, key
        return _DONE, 0, 0
    if gp == 0x0800:
        return _IP4, ho, key
    if gp == 0x86DD:
        return _IP6, ho, key
    if gp == 0x6558:
        return (_ETH, ho, key) if ho + 14 < gend else (_DONE, 0, 0)
    if (
        ((gp & 0x8200) == 0x8200 and (gp & 0x0F) == 0)
        or ((gp & 0x8300) == 0x8300 and (gp & 0x0F) == 0 and gp <= 0x8370)
        or gp == 0x9000
    ):
        # Aruba WLAN: an 802.11 frame (GRE.cc sets the inner link type to IEEE802_11)
        return (_W80211, ho, key) if ho < gend else (_DONE, 0, 0)
    if gp == 0x88BE:
        if fl & 0x1000:
            ho += 8
        return (_ETH, ho, key) if ho + 14 <= gend else (_DONE, 0, 0)
    if gp == 0x22EB:
        if ho + 12 + 14 >= gend:
            return _DONE, 0, 0
        ho += 12 + (8 if b[ho + 11] & 1 else 0)
        return (_ETH, ho, key) if ho + 14 <= gend else (_DONE, 0, 0)
    return _DONE, 0, 0


# =========================================================================== record scanners

# scanner status
END = 0
NEED_MORE = 1
FULL = 2
STOPPED = 3  # damage with no safe way to continue

MAX_CAPLEN = 262_144  # libpcap's MAXIMUM_SNAPLEN: larger records are corrupt
MAX_BLOCK = 16 * 1024 * 1024  # pcapng blocks above this are treated as corrupt
RESYNC_WINDOW = 1 << 20  # classic pcap: how far to look for the next record header
MAX_IFACES = 256

# gap codes (keep in sync with _layout.GapCode)
G_TRUNCATED_RECORD = 1
G_CAPLEN_TOO_BIG = 2
G_BAD_BLOCK_LENGTH = 3
G_TRAILER_MISMATCH = 4
G_GARBAGE = 5
G_BAD_INTERFACE = 6
G_TOO_MANY_INTERFACES = 7
G_BAD_SHB = 8
G_TRUNCATED_FRAME = 9
G_BAD_TSRESOL = 10
G_STOPPED = 11  # set by the caller: reading gave up after damage
G_AMSDU_LIMIT = 12  # an A-MSDU had more subframes than MAX_SUBFRAMES + 1 (value: bytes left)


@njit(cache=True, inline="always")
def _rd32(b: np.ndarray, i: int, swapped: bool) -> int:
    if swapped:
        return (
            (np.int64(b[i]) << 24)
            | (np.int64(b[i + 1]) << 16)
            | (np.int64(b[i + 2]) << 8)
            | np.int64(b[i + 3])
        )
    return (
        np.int64(b[i])
        | (np.int64(b[i + 1]) << 8)
        | (np.int64(b[i + 2]) << 16)
        | (np.int64(b[i + 3]) << 24)
    )


@njit(cache=True, inline="always")
def _rd16(b: np.ndarray, i: int, swapped: bool) -> int:
    if swapped:
        return (np.int64(b[i]) << 8) | np.int64(b[i + 1])
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8)


@njit(cache=True)
def _gap(gaps: np.ndarray, ng: int, code: int, offset: int, value: int) -> int:
    if ng < gaps.shape[0]:
        g = gaps[ng]
        g.code = code
        g.offset = offset
        g.value = value
    return ng + 1


@njit(cache=True)
def _pcap_plausible(
    b: np.ndarray, h: int, n: int, swapped: bool, frac_max: int, last_sec: int
) -> bool:
    if h + 16 > n:
        return False
    sec = _rd32(b, h, swapped)
    frac = _rd32(b, h + 4, swapped)
    incl = _rd32(b, h + 8, swapped)
    orig = _rd32(b, h + 12, swapped)
    if frac >= frac_max or incl > MAX_CAPLEN or orig < incl or orig > 4 * MAX_CAPLEN:
        return False
    return not (last_sec >= 0 and abs(sec - last_sec) > 86400 * 7)


@njit(cache=True)
def scan_pcap(
    b: np.ndarray,
    pos: int,
    at_eof: bool,
    file_base: int,
    swapped: bool,
    nano: bool,
    linktype: int,
    out: np.ndarray,
    outb: np.ndarray,
    r: int,
    tun: np.ndarray,
    nt: int,
    gaps: np.ndarray,
    ng: int,
    state: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Scan classic pcap records from b[pos:]; returns (status, pos, rows, tunnels, gaps).

    state[0] holds the last good timestamp's seconds (-1 before the first
    record) so resynchronisation can sanity-check candidates across windows;
    state[S_NFRAG] counts fragments seen.
    """
    b, out, outb, tun = _borrow(b), _borrow(out), _borrow(outb), _borrow(tun)  # type: ignore[call-arg]
    n = b.shape[0]
    rcap = out.shape[0]
    tcap = tun.shape[0]
    mul = 1 if nano else 1000
    frac_max = 1_000_000_000 if nano else 1_000_000
    while True:
        if pos >= n:
            return (END if at_eof else NEED_MORE), pos, r, nt, ng
        if r + ROWS_PER_FRAME > rcap or nt + MAX_DEPTH > tcap:
            return FULL, pos, r, nt, ng
        if pos + 16 > n:
            if at_eof:
                ng = _gap(gaps, ng, G_TRUNCATED_RECORD, file_base + pos, n - pos)
                return END, n, r, nt, ng
            return NEED_MORE, pos, r, nt, ng
        sec = _rd32(b, pos, swapped)
        frac = _rd32(b, pos + 4, swapped)
        incl = _rd32(b, pos + 8, swapped)
        orig = _rd32(b, pos + 12, swapped)
        if incl > MAX_CAPLEN:
            ng0 = ng
            ng = _gap(gaps, ng, G_CAPLEN_TOO_BIG, file_base + pos, incl)
            # look for two consecutive plausible headers and resume there; away from
            # the end of the input a candidate needs room for itself and its successor
            found = -1
            room = n if at_eof else n - 2 * (16 + MAX_CAPLEN)
            lim = min(room, pos + RESYNC_WINDOW)
            for h in range(pos + 1, lim):
                if _pcap_plausible(b, h, n, swapped, frac_max, state[0]):
                    nx = h + 16 + _rd32(b, h + 8, swapped)
                    if nx == n and at_eof or _pcap_plausible(b, nx, n, swapped, frac_max, state[0]):
                        found = h
                        break
            if found < 0:
                if lim == room and not at_eof:
                    return NEED_MORE, pos, r, nt, ng0  # retried on a window starting here
                return STOPPED, pos, r, nt, ng
            ng = _gap(gaps, ng, G_GARBAGE, file_base + pos, found - pos)
            pos = found
            continue
        if pos + 16 + incl > n:
            if at_eof:
                ng = _gap(gaps, ng, G_TRUNCATED_RECORD, file_base + pos, incl - (n - pos - 16))
                return END, n, r, nt, ng
            return NEED_MORE, pos, r, nt, ng
        outb[r, :] = 0  # the caller may hand in a reused buffer: start from a clean row
        p = out[r]
        p.ts = sec * 1_000_000_000 + frac * mul
        p.file_offset = file_base + pos
        p.data_off = pos + 16
        p.caplen = incl
        p.wirelen = orig
        p.iface = 0
        p.linktype = linktype
        state[0] = sec
        r0 = r
        r, nt, lost = _decode_inline(b, pos + 16, incl, linktype, out, outb, r, tun, nt)
        if lost:
            ng = _gap(gaps, ng, G_AMSDU_LIMIT, file_base + pos, lost)
        if out[r0].frag & 1:
            state[S_NFRAG] += 1
        pos += 16 + incl


# pcapng state vector layout
S_SWAPPED = 0  # 1 when the current section is big-endian
S_NIFACE = 1  # interfaces declared in the current section
S_LAST_TS = 2  # last timestamp (ns), used for Simple Packet Blocks which carry none
S_SECTION = 3  # 1 once a valid SHB was seen
S_NFRAG = 4  # outermost IP fragments seen (both formats): reassembly runs only when > 0
S_UNSUPPORTED = 5  # interface blocks declaring a link type the decoder does not know
STATE_SIZE = 6

# keep in sync with _layout.LINKTYPES (decode_frame's first dispatch)
_KNOWN_LINKTYPES = (0, 1, 9, 12, 14, 50, 51, 101, 104, 105, 108, 113, 127, 228, 229, 239, 276)


@njit(cache=True)
def _known_linktype(lt: int) -> bool:
    # a loop, not any(...): numba compiles no generator expressions
    for k in _KNOWN_LINKTYPES:  # noqa: SIM110
        if lt == k:
            return True
    return False


_TYPE_SHB = 0x0A0D0D0A


@njit(cache=True)
def _ts_ns(units: int, tsexp: int, pow2: bool, tsoff: int) -> int:
    """Timestamp units at resolution 10^-tsexp or 2^-tsexp seconds -> ns since the epoch."""
    if pow2:
        sec = units >> tsexp
        frac = units & ((1 << tsexp) - 1)
        ns = frac * 1000000000 >> tsexp if tsexp <= 32 else int(frac / 2.0**tsexp * 1000000000.0)
        return (sec + tsoff) * 1_000_000_000 + ns
    if tsexp <= 9:
        m = 1
        for _ in range(9 - tsexp):
            m *= 10
        return units * m + tsoff * 1_000_000_000
    d = 1
    for _ in range(tsexp - 9):
        d *= 10
    return units // d + tsoff * 1_000_000_000


@njit(cache=True)
def _ng_block_ok(b: np.ndarray, h: int, n: int, swapped: bool, at_eof: bool) -> bool:
    """Does a plausible pcapng block start at h (known type, lengths agree)?"""
    if h + 12 > n:
        return False
    bt = _rd32(b, h, swapped)
    if bt == _TYPE_SHB:
        bom = _rd32(b, h + 8, False)
        sw = bom == 0x4D3C2B1A
        if bom != 0x1A2B3C4D and not sw:
            return False
        bl = _rd32(b, h + 4, sw)
        if bl < 28 or bl % 4 or bl > MAX_BLOCK:
            return False
        return h + bl <= n and _rd32(b, h + bl - 4, sw) == bl
    if not (1 <= bt <= 10 or bt == 0xBAD or bt == 0x40000BAD):
        return False
    bl = _rd32(b, h + 4, swapped)
    if bl < 12 or bl % 4 or bl > MAX_BLOCK:
        return False
    if h + bl > n:
        return False
    return _rd32(b, h + bl - 4, swapped) == bl


@njit(cache=True)
def scan_pcapng(
    b: np.ndarray,
    pos: int,
    at_eof: bool,
    file_base: int,
    out: np.ndarray,
    outb: np.ndarray,
    r: int,
    tun: np.ndarray,
    nt: int,
    gaps: np.ndarray,
    ng: int,
    state: np.ndarray,
    if_link: np.ndarray,
    if_snap: np.ndarray,
    if_tsexp: np.ndarray,
    if_pow2: np.ndarray,
    if_tsoff: np.ndarray,
) -> tuple[int, int, int, int, int]:
    """Scan pcapng blocks from b[pos:]; returns (status, pos, rows, tunnels, gaps).

    Section and interface state (byte order, IDBs) lives in the arrays passed
    in, so it survives window and chunk boundaries.
    """
    b, out, outb, tun = _borrow(b), _borrow(out), _borrow(outb), _borrow(tun)  # type: ignore[call-arg]
    n = b.shape[0]
    rcap = out.shape[0]
    tcap = tun.shape[0]
    while True:
        if pos >= n:
            return (END if at_eof else NEED_MORE), pos, r, nt, ng
        if r + ROWS_PER_FRAME > rcap or nt + MAX_DEPTH > tcap:
            return FULL, pos, r, nt, ng
        if pos + 12 > n:
            if at_eof:
                ng = _gap(gaps, ng, G_TRUNCATED_RECORD, file_base + pos, n - pos)
                return END, n, r, nt, ng
            return NEED_MORE, pos, r, nt, ng
        swapped = state[S_SWAPPED] == 1
        ng0 = ng
        bt = _rd32(b, pos, swapped)
        if bt == _TYPE_SHB:
            bom = _rd32(b, pos + 8, False)
            if bom == 0x1A2B3C4D:
                swapped = False
            elif bom == 0x4D3C2B1A:
                swapped = True
            else:
                ng = _gap(gaps, ng, G_BAD_SHB, file_base + pos, bom)
                bt = -1  # resync below
        bl = _rd32(b, pos + 4, swapped) if bt >= 0 else 0
        bad = bt < 0 or bl < 12 or bl % 4 != 0 or bl > MAX_BLOCK
        if not bad and pos + bl > n:
            if not at_eof:
                return NEED_MORE, pos, r, nt, ng
            ng = _gap(gaps, ng, G_TRUNCATED_RECORD, file_base + pos, bl - (n - pos))
            return END, n, r, nt, ng
        if not bad and _rd32(b, pos + bl - 4, swapped) != bl:
            ng = _gap(gaps, ng, G_TRAILER_MISMATCH, file_base + pos, bl)
            bad = True
        elif bad and bt >= 0:
            ng = _gap(gaps, ng, G_BAD_BLOCK_LENGTH, file_base + pos, bl)
        if bad:
            # resynchronise: next offset where a plausible block starts
            # (away from the end of the input, only where a whole block still fits)
            found = -1
            room = n if at_eof else n - (MAX_BLOCK + 12)
            for h in range(pos + 1, room):
                if _ng_block_ok(b, h, n, state[S_SWAPPED] == 1, at_eof):
                    found = h
                    break
            if found < 0:
                if not at_eof:
                    return NEED_MORE, pos, r, nt, ng0  # retried on a window starting here
                ng = _gap(gaps, ng, G_GARBAGE, file_base + pos, n - pos)
                return END, n, r, nt, ng
            ng = _gap(gaps, ng, G_GARBAGE, file_base + pos, found - pos)
            pos = found
            continue
        body_end = pos + bl - 4
        if bt == _TYPE_SHB:
            if bl < 28 or _rd16(b, pos + 12, swapped) != 1:
                ng = _gap(gaps, ng, G_BAD_SHB, file_base + pos, _rd16(b, pos + 12, swapped))
            state[S_SWAPPED] = 1 if swapped else 0
            state[S_NIFACE] = 0
            state[S_SECTION] = 1
        elif bt == 1:  # IDB
            k = state[S_NIFACE]
            if bl < 20:
                ng = _gap(gaps, ng, G_BAD_BLOCK_LENGTH, file_base + pos, bl)
            elif k >= if_link.shape[0]:
                ng = _gap(gaps, ng, G_TOO_MANY_INTERFACES, file_base + pos, k)
            else:
                if_link[k] = _rd16(b, pos + 8, swapped)
                if not _known_linktype(if_link[k]):
                    state[S_UNSUPPORTED] += 1
                if_snap[k] = _rd32(b, pos + 12, swapped)
                if_tsexp[k] = 6
                if_pow2[k] = 0
                if_tsoff[k] = 0
                o = pos + 16
                while o + 4 <= body_end:
                    code = _rd16(b, o, swapped)
                    ol = _rd16(b, o + 2, swapped)
                    if code == 0 or o + 4 + ol > body_end:
                        break
                    if code == 9 and ol >= 1:
                        v = np.int64(b[o + 4])
                        e = v & 0x7F
                        if (v & 0x80 and e > 62) or (not v & 0x80 and e > 18):
                            ng = _gap(gaps, ng, G_BAD_TSRESOL, file_base + pos, v)
                        else:
                            if_tsexp[k] = e
                            if_pow2[k] = 1 if v & 0x80 else 0
                    elif code == 14 and ol >= 8:
                        lo = _rd32(b, o + 4, swapped)
                        hi = _rd32(b, o + 8, swapped)
                        if swapped:
                            lo, hi = hi, lo
                        if hi >= 0x80000000:
                            hi -= 0x100000000  # signed 64-bit seconds
                        tso = hi * 0x100000000 + lo
                        if_tsoff[k] = tso
                    o += 4 + ((ol + 3) & ~3)
                state[S_NIFACE] = k + 1
        elif bt == 6 or bt == 2 or bt == 3:  # EPB, obsolete PB, SPB
            if bt == 3:
                iface = 0
                hdr = 12
                if bl < 16:
                    ng = _gap(gaps, ng, G_BAD_BLOCK_LENGTH, file_base + pos, bl)
                    pos += bl
                    continue
                wl = _rd32(b, pos + 8, swapped)
                cl = min(wl, body_end - (pos + hdr))
                if iface < state[S_NIFACE] and if_snap[0] > 0:
                    cl = min(cl, if_snap[0])
                ts = state[S_LAST_TS]
            else:
                hdr = 28
                if bl < 32:
                    ng = _gap(gaps, ng, G_BAD_BLOCK_LENGTH, file_base + pos, bl)
                    pos += bl
                    continue
                iface = _rd32(b, pos + 8, swapped) if bt == 6 else _rd16(b, pos + 8, swapped)
                tsh = _rd32(b, pos + 12, swapped)
                tsl = _rd32(b, pos + 16, swapped)
                cl = _rd32(b, pos + 20, swapped)
                wl = _rd32(b, pos + 24, swapped)
                if iface >= state[S_NIFACE]:
                    ng = _gap(gaps, ng, G_BAD_INTERFACE, file_base + pos, iface)
                    pos += bl
                    continue
                if cl > body_end - (pos + hdr):
                    ng = _gap(gaps, ng, G_TRUNCATED_FRAME, file_base + pos, cl)
                    cl = body_end - (pos + hdr)
                ts = _ts_ns(
                    (tsh << 32) | tsl, if_tsexp[iface], if_pow2[iface] == 1, if_tsoff[iface]
                )
                state[S_LAST_TS] = ts
            if iface >= state[S_NIFACE]:
                ng = _gap(gaps, ng, G_BAD_INTERFACE, file_base + pos, iface)
                pos += bl
                continue
            if cl > MAX_CAPLEN:
                ng = _gap(gaps, ng, G_CAPLEN_TOO_BIG, file_base + pos, cl)
                cl = MAX_CAPLEN
            lt = if_link[iface]
            outb[r, :] = 0  # the caller may hand in a reused buffer: start from a clean row
            p = out[r]
            p.ts = ts
            p.file_offset = file_base + pos
            p.data_off = pos + hdr
            p.caplen = cl
            p.wirelen = wl
            p.iface = iface
            p.linktype = lt
            r0 = r
            r, nt, lost = decode_frame(b, pos + hdr, cl, lt, out, outb, r, tun, nt)
            if lost:
                ng = _gap(gaps, ng, G_AMSDU_LIMIT, file_base + pos, lost)
            if out[r0].frag & 1:
                state[S_NFRAG] += 1
        pos += bl


# =========================================================================== IP reassembly


@njit(cache=True)
def _order(keys: np.ndarray, n: int) -> np.ndarray:
    """Indices that sort keys[:n] (insertion sort: a datagram has few fragments, and
    np.argsort would add seconds to the cold compile)."""
    idx = np.empty(n, np.int64)
    for i in range(n):
        j = i
        while j > 0 and keys[idx[j - 1]] > keys[i]:
            idx[j] = idx[j - 1]
            j -= 1
        idx[j] = i
    return idx


@njit(cache=True)
def reassemble(
    b: np.ndarray,
    out: np.ndarray,
    frag_rows: np.ndarray,
    group_start: np.ndarray,
    ext: np.ndarray,
    d_row: np.ndarray,
    d_pos: np.ndarray,
    d_len: np.ndarray,
    d_bad: np.ndarray,
) -> tuple[int, int]:
    """Rebuild IP datagrams from fragment rows, as Zeek does before analysis.

    `frag_rows` holds the rows of outermost fragments grouped by (version,
    src, dst, proto, id) and in arrival order within a group; `group_start`
    marks where groups begin (with a final sentinel).  Each datagram whose
    fragments cover [0, end of the MF=0 fragment) is rebuilt in `ext` (first
    fragment's header with the length patched and the fragment fields
    cleared; later bytes overwrite earlier ones on overlap) and described by
    (row of the completing fragment, offset, length, any checksum flag); each
    is preceded by a 16-byte pcap record header, so `scan_pcap` with
    LINKTYPE_RAW decodes them.  Returns (datagrams, bytes used in ext).
    """
    nd = 0
    ext_pos = 0
    ngroups = group_start.shape[0] - 1
    for g in range(ngroups):
        gs = group_start[g]
        ge = group_start[g + 1]
        k = ge - gs
        starts = np.empty(k, np.int64)
        lens = np.empty(k, np.int64)
        srcs = np.empty(k, np.int64)
        have = 0
        total = -1
        first = -1
        bad = 0
        for j in range(gs, ge):
            r = frag_rows[j]
            q = out[r]
            fs = np.int64(q.l4_off) if q.l4_off != 0 else np.int64(q.payload_off)
            flen = np.int64(q.ip_len) - (fs - np.int64(q.ip_off))
            if fs == 0 or flen < 0 or fs + flen > np.int64(q.caplen):
                continue  # not captured whole: cannot contribute bytes
            starts[have] = q.frag_off
            lens[have] = flen
            srcs[have] = np.int64(q.data_off) + fs
            bad |= q.csum_bad
            if q.frag_off == 0:
                first = r
            if (q.frag & 2) == 0:
                total = np.int64(q.frag_off) + flen
            have += 1
            if total < 0 or first < 0:
                continue
            # covered? sweep the intervals in start order
            idx = _order(starts, have)
            reach = 0
            for t in idx:
                if starts[t] > reach:
                    break
                reach = max(reach, starts[t] + lens[t])
            if reach < total:
                continue
            # ---- rebuild the datagram in ext
            f = out[first]
            hs = np.int64(f.data_off) + np.int64(f.ip_off)
            hl = (np.int64(b[hs]) & 15) * 4 if f.ip_version == 4 else 40
            need = hl + total
            if ext_pos + 16 + need > ext.shape[0]:
                return nd, ext_pos
            # a classic pcap record header (LE, time 0) so scan_pcap can decode the
            # datagrams: no second compiled copy of the decoder
            for t in range(4):
                ext[ext_pos + 8 + t] = (need >> (8 * t)) & 0xFF
                ext[ext_pos + 12 + t] = (need >> (8 * t)) & 0xFF
            ext_pos += 16
            ext[ext_pos : ext_pos + hl] = b[hs : hs + hl]
            for t in idx:
                s0 = starts[t]
                ln = min(lens[t], total - s0)
                if ln > 0:
                    ext[ext_pos + hl + s0 : ext_pos + hl + s0 + ln] = b[srcs[t] : srcs[t] + ln]
            if f.ip_version == 4:
                tl = hl + total
                ext[ext_pos + 2] = (tl >> 8) & 0xFF
                ext[ext_pos + 3] = tl & 0xFF
                ext[ext_pos + 6] = 0
                ext[ext_pos + 7] = 0
                ext[ext_pos + 10] = 0
                ext[ext_pos + 11] = 0
                c = 0xFFFF - _sum16(ext, ext_pos, hl)
                ext[ext_pos + 10] = (c >> 8) & 0xFF
                ext[ext_pos + 11] = c & 0xFF
            else:
                ext[ext_pos + 4] = (total >> 8) & 0xFF
                ext[ext_pos + 5] = total & 0xFF
                ext[ext_pos + 6] = f.proto  # the header after the fragment header
            if nd >= d_row.shape[0]:
                return nd, ext_pos
            d_row[nd] = r
            d_pos[nd] = ext_pos
            d_len[nd] = need
            d_bad[nd] = bad
            nd += 1
            ext_pos += need
            # a later datagram may reuse the id: start over
            have = 0
            total = -1
            first = -1
            bad = 0
    return nd, ext_pos
