# ruff: noqa: SIM102, SIM108, SIM109  -- branches mirror Zeek's C++ one to one (easier to audit)
# mypy: disable-error-code="no-untyped-def,unused-ignore,assignment,arg-type"
"""Compiled connection state machine with Zeek's conn.log semantics.

One row of `STATE_DTYPE` holds one live connection.  Packets are grouped by
connection (canonical bidirectional key -> row through an open-addressing hash
table, then a counting sort) and each group is walked once, in capture order,
by `process`, which follows Zeek's TCPSessionAdapter / UDP / ICMP analyzers
(src/packet_analysis/protocol/*) closely: endpoint states, relative sequence
numbers with wraparound, history letters and their repeat rules, content gaps
from acked holes, ConnSize packet and IP byte counts, and the timers that end
a connection (attempt, expire, close/delete, inactivity).  Finished rows are
handed out (`process` copies them to an output array, `sweep` lists their
indices); `log_fields` turns them into log fields.

Everything here is numba; there is no Python step per packet.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

from secaudit.capture._kernels import CSUM_OUTER, CSUM_OWN, TCP_HDR_BAD

# ----------------------------------------------------------------- constants
NS = 1_000_000_000
HMAX = 48  # history letters kept per connection
NBLK = 8  # out-of-order blocks kept per TCP endpoint (beyond: merged)
NPAR = 4  # tunnel parents kept per connection

K_TCP, K_UDP, K_ICMP, K_OTHER = 0, 1, 2, 3

# Zeek's TCP endpoint states (analyzer/protocol/tcp/TCP_Endpoint.h)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = 0, 1, 2, 3, 4, 5, 6

F_FIN, F_SYN, F_RST, F_ACK = 1, 2, 4, 16
TOO_LARGE_SEQ_DELTA = 1048576

# history masks (TCP_Endpoint::HistoryMasks; responder bits << 16)
H_SYN, H_FIN, H_RST, H_FIN_RST, H_DATA, H_ACK, H_MULTI = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
H_LIMIT = 0x400

# timers (init-bare.zeek defaults), in ns
TCP_SYN_TIMEOUT = 5 * NS
TCP_SESSION_TIMER = 6 * NS
TCP_CONNECTION_LINGER = 5 * NS
TCP_ATTEMPT_DELAY = 5 * NS
TCP_CLOSE_DELAY = 5 * NS
TCP_INACTIVITY = 300 * NS
UDP_INACTIVITY = 60 * NS
DNS_SESSION_TIMEOUT = 10 * NS  # dns_session_timeout: the DNS analyzer's UDP session timer
NTP_PORT = 123  # NTP::ports
NETBIOS_PORT = 137
# udp_an bits
U_NTP = 1  # the NTP analyzer is attached (responder port 123)
U_NTP_FLIPPED = 2  # it flipped the roles once (NTP_Flow's flipped_)
U_DNS = 4  # the DNS analyzer is attached (responder port in DNS::ports)
U_DNS_SEEN = 8  # it parsed a first message (DNS_Interpreter's first_message is false)
U_NETBIOS = 16  # either port is 137: any opcode is accepted
# `app` bits of a derived UDP row (set by _derive._app from the payload's first bytes)
APP_NTP_SERVER = 1  # an NTP message (>= 48 bytes) in mode 4 (server)
APP_NTP_CLIENT = 2  # ... in mode 3 (client)
APP_DNS = 4  # at least a DNS header (12 bytes)
APP_DNS_QR = 8  # its QR bit: a response
APP_DNS_OP_OK = 16  # opcode query, notify or dynamic update (others: 'X' unless NetBIOS)
ICMP_INACTIVITY = 60 * NS
OTHER_INACTIVITY = 60 * NS
INTERACTIVE_INACTIVITY = 3600 * NS  # Conn::port_inactivity_timeouts
TCP_MAX_INITIAL_WINDOW = 16384
TCP_MAX_ABOVE_HOLE = 16384
TCP_EXCESSIVE_DATA = 10 * 1024 * 1024
TUNNEL_MAX_CHANGES = 5

STATE_DTYPE = np.dtype(
    [
        ("active", "u1"),
        ("kind", "u1"),
        ("udp_an", "u1"),  # UDP analyzers attached by port and their state (U_* bits)
        ("orig_is_a", "u1"),
        ("ip_proto", "u1"),
        ("a_hi", "u8"),
        ("a_lo", "u8"),
        ("b_hi", "u8"),
        ("b_lo", "u8"),
        ("a_p", "u2"),
        ("b_p", "u2"),
        ("vlan", "u2"),
        ("source", "u2"),
        ("start", "i8"),
        ("last", "i8"),
        ("inact", "i8"),
        ("uid1", "u8"),
        ("uid2", "u8"),
        ("l2", "u8", (2,)),
        ("pkts", "u8", (2,)),
        ("ipb", "u8", (2,)),
        ("ulen", "i8", (2,)),  # UDP/ICMP request/reply length, -1 = inactive
        ("hist", "u1", (HMAX,)),
        ("hlen", "u1"),
        ("hseen", "u4"),
        ("missed", "u8"),
        # scaled history counters (checksum, retransmission, zero window, gap)
        ("chk_cnt", "u4", (2,)),
        ("chk_thr", "u4", (2,)),
        ("rx_cnt", "u4", (2,)),
        ("rx_thr", "u4", (2,)),
        ("w0_cnt", "u4", (2,)),
        ("w0_thr", "u4", (2,)),
        ("gap_cnt", "u4", (2,)),
        ("gap_thr", "u4", (2,)),
        # TCP endpoints
        ("st", "u1", (2,)),
        ("pst", "u1", (2,)),
        ("start_seq", "i8", (2,)),
        ("last_seq", "u4", (2,)),
        ("ack_seq", "u4", (2,)),
        ("seq_wraps", "u4", (2,)),
        ("ack_wraps", "u4", (2,)),
        ("fin_cnt", "u4", (2,)),
        ("rst_cnt", "u4", (2,)),
        ("fin_seq", "u8", (2,)),
        ("did_close", "u1", (2,)),
        ("hl_syn", "u8", (2,)),
        ("hl_fin", "u8", (2,)),
        ("hl_rst", "u8", (2,)),
        # reassembler per endpoint (only what gap accounting needs)
        ("ra_last", "u8", (2,)),
        ("ra_trim", "u8", (2,)),
        ("ra_skip", "u1", (2,)),
        ("ra_n", "u1", (2,)),
        ("ra_lo", "u8", (2, NBLK)),
        ("ra_hi", "u8", (2, NBLK)),
        # TCP connection
        ("is_partial", "u1"),
        ("first_seen", "u1"),
        ("is_active", "u1"),
        ("t_attempt", "i8"),
        ("t_exp_a", "i8"),
        ("t_exp_b", "i8"),
        ("t_delete", "i8"),
        # tunnels
        ("encap", "u8"),
        ("tun_changes", "u1"),
        ("npar", "u1"),
        ("par", "u8", (NPAR,)),
    ]
)


PREFETCH_AHEAD = 16  # packets `process` looks ahead when it asks for their rows
# The per-packet TCP path (_tcp_packet and the helpers it calls once per packet) is
# inlined into `process` at numba level: ~10 % less CPU there for no extra compile
# time (inlining every small helper too gained no more and tripled compile time).


@intrinsic
def prefetch(typingctx, arr, idx):  # type: ignore[no-untyped-def]
    """Ask the CPU to start loading arr[idx] (LLVM's prefetch hint; no effect on results).

    `process` visits the packet rows in connection order, i.e. scattered over a
    chunk that no longer fits the caches; hinting rows a few packets ahead
    overlaps those misses instead of paying them one after the other.
    """
    sig = nb.types.void(arr, idx)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        aty = signature.args[0]
        ary = context.make_array(aty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(  # type: ignore[no-untyped-call]
            context, builder, aty, ary, [args[1]], wraparound=False
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
            builder.module, fnty, "llvm.prefetch.p0i8"
        )
        # read access, high temporal locality, data cache
        rw, loc, data = ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)
        builder.call(fn, [builder.bitcast(ptr, i8p), rw, loc, data])
        return context.get_dummy_value()

    return sig, codegen


# ----------------------------------------------------------------- hashing
@nb.njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def _hash5(a: np.uint64, b: np.uint64, c: np.uint64, d: np.uint64, e: np.uint64) -> np.uint64:
    h = _mix(a + np.uint64(0x9E3779B97F4A7C15))
    h = _mix(h ^ b)
    h = _mix(h ^ c)
    h = _mix(h ^ d)
    return _mix(h ^ e)


@nb.njit(cache=True)
def lookup(a_hi, a_lo, b_hi, b_lo, meta, j0, limit, tkeys, tmeta, trow, next_row, out_row):  # type: ignore[no-untyped-def]
    """Row of each packet's connection key from j0 on; inserts unseen keys.

    `tkeys` (cap, 4) / `tmeta` (cap,) / `trow` (cap,) form the open-addressing
    table (tmeta == 0 marks an empty bucket: meta always has bit 63 set).  Stops
    before an insertion would reach `limit` rows, so the caller can grow the
    table; returns (next free row, next packet to look up).
    """
    cap = tkeys.shape[0]
    mask = np.uint64(cap - 1)
    for j in range(j0, a_hi.shape[0]):
        if (
            j > j0
            and meta[j] == meta[j - 1]
            and a_lo[j] == a_lo[j - 1]
            and b_lo[j] == b_lo[j - 1]
            and a_hi[j] == a_hi[j - 1]
            and b_hi[j] == b_hi[j - 1]
        ):
            # packets of one connection often come in runs: same key, same row
            out_row[j] = out_row[j - 1]
            continue
        h = _hash5(a_hi[j], a_lo[j], b_hi[j], b_lo[j], meta[j])
        pos = h & mask
        while True:
            m = tmeta[pos]
            if m == 0:
                if next_row >= limit:
                    return next_row, j
                tkeys[pos, 0] = a_hi[j]
                tkeys[pos, 1] = a_lo[j]
                tkeys[pos, 2] = b_hi[j]
                tkeys[pos, 3] = b_lo[j]
                tmeta[pos] = meta[j]
                trow[pos] = next_row
                out_row[j] = next_row
                next_row += 1
                break
            if (
                m == meta[j]
                and tkeys[pos, 0] == a_hi[j]
                and tkeys[pos, 1] == a_lo[j]
                and tkeys[pos, 2] == b_hi[j]
                and tkeys[pos, 3] == b_lo[j]
            ):
                out_row[j] = trow[pos]
                break
            pos = (pos + np.uint64(1)) & mask
    return next_row, a_hi.shape[0]


@nb.njit(cache=True)
def rebuild(tkeys, tmeta, trow, keep, ntkeys, ntmeta, ntrow, newrow):  # type: ignore[no-untyped-def]
    """Copy the buckets whose row is kept into a fresh table, renumbering rows."""
    cap = ntkeys.shape[0]
    mask = np.uint64(cap - 1)
    for pos0 in range(tkeys.shape[0]):
        if tmeta[pos0] == 0:
            continue
        r = trow[pos0]
        if not keep[r]:
            continue
        h = _hash5(tkeys[pos0, 0], tkeys[pos0, 1], tkeys[pos0, 2], tkeys[pos0, 3], tmeta[pos0])
        pos = h & mask
        while ntmeta[pos] != 0:
            pos = (pos + np.uint64(1)) & mask
        for k in range(4):
            ntkeys[pos, k] = tkeys[pos0, k]
        ntmeta[pos] = tmeta[pos0]
        ntrow[pos] = newrow[r]


@nb.njit(cache=True)
def counting_sort(rows, nrows, order, counts):  # type: ignore[no-untyped-def]
    """Fill `order` (len(rows)) with the stable order of packets grouped by row and
    `counts` (nrows + 1) with each row's [start, end); the caller reuses both."""
    counts[:] = 0
    for r in rows:
        counts[r + 1] += 1
    for k in range(nrows):
        counts[k + 1] += counts[k]
    starts = counts.copy()
    for j in range(rows.shape[0]):
        r = rows[j]
        order[starts[r]] = j
        starts[r] += 1


# ----------------------------------------------------------------- small helpers
@nb.njit(cache=True, inline="always")
def _sd(a: np.uint32, b: np.uint32) -> np.int64:
    """seq_delta: signed 32-bit difference."""
    d = np.int64((np.uint32(a) - np.uint32(b)) & np.uint32(0xFFFFFFFF))
    if d >= 0x80000000:
        d -= 0x100000000
    return d


@nb.njit(cache=True)
def _hadd(s, c):  # type: ignore[no-untyped-def]
    n = s.hlen
    if n < HMAX:
        s.hist[n] = c
        s.hlen = n + 1


@nb.njit(cache=True)
def _check_hist(s, mask, c):  # type: ignore[no-untyped-def]
    """Connection::CheckHistory: add the letter the first time; True if seen before."""
    if (s.hseen & np.uint32(mask)) == 0:
        s.hseen |= np.uint32(mask)
        _hadd(s, c)
        return False
    return True


@nb.njit(cache=True)
def _scaled(s, code, cnt, thr, e):  # type: ignore[no-untyped-def]
    """Session::ScaledHistoryEntry with base 10 (1st, 10th, 100th ... occurrence)."""
    cnt[e] += np.uint32(1)
    if cnt[e] == thr[e]:
        _hadd(s, code)
        nt = np.uint64(thr[e]) * np.uint64(10)
        if nt > np.uint64(0xFFFFFFFF):
            cnt[e] = 0
        else:
            thr[e] = np.uint32(nt)


@nb.njit(cache=True)
def _flip(s):  # type: ignore[no-untyped-def]
    """_flip_conn plus the TCP adapter's endpoint state (Connection::FlipRoles on a TCP
    connection, or on any connection as it is created)."""
    _flip_conn(s)
    for arr in (s.fin_seq, s.hl_syn, s.hl_fin, s.hl_rst, s.ra_last, s.ra_trim):
        tmp = arr[0]
        arr[0] = arr[1]
        arr[1] = tmp
    for arr4 in (
        s.chk_cnt, s.chk_thr, s.rx_cnt, s.rx_thr, s.w0_cnt, s.w0_thr, s.gap_cnt, s.gap_thr,
        s.last_seq, s.ack_seq, s.seq_wraps, s.ack_wraps, s.fin_cnt, s.rst_cnt,
    ):  # fmt: skip
        tmp4 = arr4[0]
        arr4[0] = arr4[1]
        arr4[1] = tmp4
    for arr1 in (s.st, s.pst, s.did_close, s.ra_skip, s.ra_n):
        tmp1 = arr1[0]
        arr1[0] = arr1[1]
        arr1[1] = tmp1
    tmp8 = s.start_seq[0]
    s.start_seq[0] = s.start_seq[1]
    s.start_seq[1] = tmp8
    for k in range(NBLK):
        lo = s.ra_lo[0, k]
        s.ra_lo[0, k] = s.ra_lo[1, k]
        s.ra_lo[1, k] = lo
        hi = s.ra_hi[0, k]
        s.ra_hi[0, k] = s.ra_hi[1, k]
        s.ra_hi[1, k] = hi
    fs = s.first_seen
    s.first_seen = (2 if fs & 1 else 0) | (1 if fs & 2 else 0)
    s.is_partial = 0


@nb.njit(cache=True)
def _flip_conn(s):  # type: ignore[no-untyped-def]
    """Connection::FlipRoles with ConnSize's flip: addresses, packet and IP byte counters,
    '^'.  Alone it is what a live UDP connection gets (the UDP adapter's request/reply
    lengths and the history bits stay as they are)."""
    s.orig_is_a = 1 - s.orig_is_a
    for arr in (s.l2, s.pkts, s.ipb):
        tmp = arr[0]
        arr[0] = arr[1]
        arr[1] = tmp
    _hadd(s, 94)  # '^'


@nb.njit(cache=True, inline="always")
def _multicast(hi, lo):  # type: ignore[no-untyped-def]
    """224.0.0.0/4 for a v4-mapped address, else ff00::/8."""
    if hi == np.uint64(0) and (lo >> np.uint64(32)) == np.uint64(0xFFFF):
        return ((lo >> np.uint64(28)) & np.uint64(0xF)) == np.uint64(0xE)
    return (hi >> np.uint64(56)) == np.uint64(0xFF)


@nb.njit(cache=True)
def _udp_analyzers(s, e, a):  # type: ignore[no-untyped-def]
    """What the NTP and DNS analyzers do to the connection record for one datagram from
    side e (0 orig) with derived `app` bits a: ntp-analyzer.pac flips once for a server
    message from the originator or a client message from the responder;
    DNS_Interpreter::ParseMessage adds 'X' for an unknown opcode and flips when the first
    message is a response from the originator, unless the responder is multicast."""
    if s.udp_an & U_NTP and not s.udp_an & U_NTP_FLIPPED:
        if (a & APP_NTP_SERVER and e == 0) or (a & APP_NTP_CLIENT and e == 1):
            s.udp_an |= U_NTP_FLIPPED
            _flip_conn(s)
    if s.udp_an & U_DNS and a & APP_DNS:
        if not a & APP_DNS_OP_OK and not s.udp_an & U_NETBIOS:
            _check_hist(s, H_LIMIT, 88)  # 'X'
            return
        if not s.udp_an & U_DNS_SEEN:
            s.udp_an |= U_DNS_SEEN
            if a & APP_DNS_QR and e == 0:
                rhi = s.a_hi if s.orig_is_a == 0 else s.b_hi
                rlo = s.a_lo if s.orig_is_a == 0 else s.b_lo
                if not _multicast(rhi, rlo):
                    _flip_conn(s)


# ----------------------------------------------------------------- TCP endpoint helpers
@nb.njit(cache=True, inline="always")
def _is_hs(x: int) -> bool:
    return x == INACTIVE or x == SYN_SENT or x == SYN_ACK_SENT


@nb.njit(cache=True)
def _set_state(s, e, new):  # type: ignore[no-untyped-def]
    cur = s.st[e]
    if new != cur:
        if (not _is_hs(new)) and _is_hs(cur) and _is_hs(s.st[1 - e]):
            if s.inact < TCP_INACTIVITY:
                s.inact = TCP_INACTIVITY
        s.pst[e] = cur
        s.st[e] = new


@nb.njit(cache=True, inline="always")
def _full(seq: np.uint32, wraps: np.uint32) -> np.uint64:
    return (np.uint64(wraps) << np.uint64(32)) + np.uint64(seq)


@nb.njit(cache=True)
def _rel_seq(s, e, cur, last, wraps):  # type: ignore[no-untyped-def]
    """get_relative_seq; returns (rel, underflow)."""
    delta = _sd(cur, last)
    w = np.int64(wraps)
    if delta < 0:
        if w > 0 and cur > last:
            w -= 1
    elif delta > 0:
        if cur < last:
            w += 1
    if w == 0:
        d2 = _sd(cur, np.uint32(np.uint64(s.start_seq[e]) & np.uint64(0xFFFFFFFF)))
        return np.uint64(np.int64(d2)), d2 < 0
    return _full(cur, np.uint32(w)) - np.uint64(s.start_seq[e]), False


@nb.njit(cache=True)
def _no_data_acked(s, e):  # type: ignore[no-untyped-def]
    ack = _full(s.ack_seq[e], s.ack_wraps[e])
    start = np.uint64(s.start_seq[e])
    return ack == start or ack == start + np.uint64(1)


@nb.njit(cache=True)
def tcp_size(s, e):  # type: ignore[no-untyped-def]
    """TCP_Endpoint::Size: bytes from sequence numbers (SYN/FIN octets excluded)."""
    if (
        s.pst[e] == SYN_SENT
        and s.st[e] == RESET
        and s.st[1 - e] == INACTIVE
        and not _no_data_acked(s, e)
    ):
        return np.uint64(0)
    last64 = _full(s.last_seq[e], s.seq_wraps[e])
    ack64 = _full(s.ack_seq[e], s.ack_wraps[e])
    st = np.uint64(s.start_seq[e])
    if last64 > ack64:
        size = last64 - st
    else:
        size = ack64 - st
    if size != 0:
        size -= np.uint64(1)
    if s.fin_cnt[e] > 0 and size != 0:
        size -= np.uint64(1)
    return size


# ----------------------------------------------------------------- reassembly (gap accounting)
@nb.njit(cache=True)
def _is_clean(s, e):  # type: ignore[no-untyped-def]
    return s.st[e] == ESTABLISHED or (s.st[e] == CLOSED and s.pst[e] == ESTABLISHED)


@nb.njit(cache=True)
def _gap(s, e, length):  # type: ignore[no-untyped-def]
    """TCP_Reassembler::Gap: history g/G and missed_bytes for clean connections."""
    if _is_clean(s, e) and _is_clean(s, 1 - e):
        _scaled(s, 71 if e == 0 else 103, s.gap_cnt, s.gap_thr, e)
        s.missed += length


@nb.njit(cache=True)
def _deliver(s, e):  # type: ignore[no-untyped-def]
    """BlockInserted: move last_reassem_seq over contiguous undelivered blocks."""
    n = s.ra_n[e]
    k = 0
    while k < n and s.ra_lo[e, k] <= s.ra_last[e]:
        if s.ra_hi[e, k] > s.ra_last[e]:
            s.ra_last[e] = s.ra_hi[e, k]
        k += 1
    if k > 0:
        _remove_blocks(s, e, 0, k)


@nb.njit(cache=True, inline="always")
def _remove_blocks(s, e, a, m):  # type: ignore[no-untyped-def]
    """Drop the m undelivered blocks from index a on, closing the gap (both the delivery and
    the merge of an inserted block shrink the list this way)."""
    n = s.ra_n[e]
    for q in range(a + m, n):
        s.ra_lo[e, q - m] = s.ra_lo[e, q]
        s.ra_hi[e, q - m] = s.ra_hi[e, q]
    s.ra_n[e] = n - m


@nb.njit(cache=True)
def _insert_block(s, e, lo, hi):  # type: ignore[no-untyped-def]
    """Add [lo, hi) to the sorted, merged list of undelivered blocks."""
    n = s.ra_n[e]
    # merge with overlapping/adjacent blocks
    j = 0
    while j < n and s.ra_hi[e, j] < lo:
        j += 1
    k = j
    while k < n and s.ra_lo[e, k] <= hi:
        if s.ra_lo[e, k] < lo:
            lo = s.ra_lo[e, k]
        if s.ra_hi[e, k] > hi:
            hi = s.ra_hi[e, k]
        k += 1
    # blocks j..k-1 are replaced by one
    removed = k - j
    if removed == 0:
        if n == NBLK:  # full: merge into the nearest neighbour (approximation)
            if j == n:
                j = n - 1
            if s.ra_lo[e, j] < lo:
                lo = s.ra_lo[e, j]
            if s.ra_hi[e, j] > hi:
                hi = s.ra_hi[e, j]
            s.ra_lo[e, j] = lo
            s.ra_hi[e, j] = hi
            return
        for q in range(n, j, -1):
            s.ra_lo[e, q] = s.ra_lo[e, q - 1]
            s.ra_hi[e, q] = s.ra_hi[e, q - 1]
        s.ra_lo[e, j] = lo
        s.ra_hi[e, j] = hi
        s.ra_n[e] = n + 1
        return
    s.ra_lo[e, j] = lo
    s.ra_hi[e, j] = hi
    if removed > 1:  # blocks j+1..k-1 are merged into j
        _remove_blocks(s, e, j + 1, removed - 1)


@nb.njit(cache=True)
def _undelivered(s, e, up_to):  # type: ignore[no-untyped-def]
    """TCP_Reassembler::Undelivered: report holes below up_to as content gaps."""
    if up_to <= np.uint64(2) and s.is_partial:
        return
    if not s.ra_skip[e]:
        while s.ra_n[e] > 0 and s.ra_lo[e, 0] < up_to:
            lo = s.ra_lo[e, 0]
            if lo > s.ra_last[e]:
                _gap(s, e, lo - s.ra_last[e])
                s.ra_last[e] = lo
            _deliver(s, e)
        if up_to > s.ra_last[e]:
            _gap(s, e, up_to - s.ra_last[e])
    if up_to > s.ra_last[e]:
        s.ra_last[e] = up_to


@nb.njit(cache=True)
def _trim(s, e, seq):  # type: ignore[no-untyped-def]
    if seq > s.ra_last[e]:
        _undelivered(s, e, seq)
    # drop undelivered blocks wholly below seq
    while s.ra_n[e] > 0 and s.ra_hi[e, 0] <= seq:
        for j in range(1, s.ra_n[e]):
            s.ra_lo[e, j - 1] = s.ra_lo[e, j]
            s.ra_hi[e, j - 1] = s.ra_hi[e, j]
        s.ra_n[e] -= 1
    if seq > s.ra_trim[e]:
        s.ra_trim[e] = seq
    if s.ra_n[e] > 0 and s.ra_lo[e, 0] <= s.ra_last[e]:
        _deliver(s, e)


@nb.njit(cache=True)
def _ack_received(s, e, seq):  # type: ignore[no-untyped-def]
    """TCP_Reassembler::AckReceived for endpoint e's data."""
    if s.fin_cnt[e] > 0 and seq >= s.fin_seq[e]:
        seq = s.fin_seq[e] - np.uint64(1)
    if seq <= s.ra_trim[e]:
        return
    _trim(s, e, seq)


@nb.njit(cache=True)
def _undelivered_bytes(s, e):  # type: ignore[no-untyped-def]
    n = s.ra_n[e]
    if n == 0:
        return np.uint64(0)
    return s.ra_hi[e, n - 1] - s.ra_last[e]


@nb.njit(cache=True)
def _undelivered_data(s, e):  # type: ignore[no-untyped-def]
    """Bytes held in the undelivered blocks (their data, not the holes between them)."""
    total = np.uint64(0)
    for k in range(s.ra_n[e]):
        total += s.ra_hi[e, k] - s.ra_lo[e, k]
    return total


@nb.njit(cache=True, inline="always")
def _data_sent(s, e, seq, length):  # type: ignore[no-untyped-def]
    """TCP_Reassembler::DataSent + Reassembler::NewBlock, without the bytes."""
    if s.ra_skip[e]:
        return
    ack = _full(s.ack_seq[e], s.ack_wraps[e]) - np.uint64(s.start_seq[e])
    upper = seq + np.uint64(length)
    if seq < ack:
        if upper <= ack:
            return
        seq = ack
    if upper <= s.ra_trim[e]:
        return
    if seq < s.ra_trim[e]:
        seq = s.ra_trim[e]
    if upper <= s.ra_last[e]:
        pass  # already delivered: an overlap, nothing new
    else:
        if seq < s.ra_last[e]:
            seq = s.ra_last[e]
        _insert_block(s, e, seq, upper)
        _deliver(s, e)
        if (
            _no_data_acked(s, e)
            and tcp_size(s, e) > np.uint64(TCP_MAX_INITIAL_WINDOW)
            and s.ra_last[e] > s.ra_trim[e]
        ):
            s.ra_trim[e] = s.ra_last[e]
    if _no_data_acked(s, e) and _undelivered_bytes(s, e) > np.uint64(TCP_MAX_ABOVE_HOLE):
        s.ra_n[e] = 0
        s.ra_skip[e] = 1
    # DataBlockList::DataSize: the data the blocks hold; a far-ahead segment after lost
    # packets is a small block, not the span of the hole before it
    buffered = s.ra_last[e] - s.ra_trim[e] + _undelivered_data(s, e)
    if buffered > np.uint64(TCP_EXCESSIVE_DATA):
        s.ra_n[e] = 0
        s.ra_skip[e] = 1


# ----------------------------------------------------------------- TCP packet
@nb.njit(cache=True)
def _ep_check(s, e, mask, code):  # type: ignore[no-untyped-def]
    """TCP_Endpoint::CheckHistory, including the flip of SYN-ACK-first connections."""
    if (code == 65 or code == 68) and s.hlen == 1 and s.hist[0] == 72:  # 'A'/'D' after "H"
        _flip(s)
        e = 1 - e
        s.hist[0] = 94  # "^h"
        s.hist[1] = 104
        s.hlen = 2
        s.first_seen |= 1
    if e == 1:
        mask = mask << 16
        code = code + 32
    return _check_hist(s, mask, code), e


@nb.njit(cache=True)
def _ep_add(s, e, code):  # type: ignore[no-untyped-def]
    _hadd(s, code + 32 if e == 1 else code)


@nb.njit(cache=True, inline="always")
def _update_history(s, e, flags, rel_seq, length):  # type: ignore[no-untyped-def]
    syn = (flags & F_SYN) != 0
    fin = (flags & F_FIN) != 0
    rst = (flags & F_RST) != 0
    ackf = (flags & F_ACK) != 0
    bits = int(syn) + int(fin) + int(rst)
    if bits > 1:
        if fin and rst:
            _, e = _ep_check(s, e, H_FIN_RST, 73)  # 'I'
        else:
            _, e = _ep_check(s, e, H_MULTI, 81)  # 'Q'
    elif bits == 1:
        if syn:
            code = 72 if ackf else 83  # 'H' / 'S'
            seen, e = _ep_check(s, e, H_SYN, code)
            if seen and rel_seq != s.hl_syn[e]:
                _ep_add(s, e, code)
            s.hl_syn[e] = rel_seq
        if fin:
            seen, e = _ep_check(s, e, H_FIN, 70)
            if seen and rel_seq + np.uint64(length) != s.hl_fin[e]:
                _ep_add(s, e, 70)
            s.hl_fin[e] = rel_seq + np.uint64(length)
        if rst:
            seen, e = _ep_check(s, e, H_RST, 82)
            if seen and rel_seq != s.hl_rst[e]:
                _ep_add(s, e, 82)
            s.hl_rst[e] = rel_seq
    else:
        if length:
            _, e = _ep_check(s, e, H_DATA, 68)
        elif ackf:
            _, e = _ep_check(s, e, H_ACK, 65)
    return e


@nb.njit(cache=True)
def _established_event(s, interactive):  # type: ignore[no-untyped-def]
    """Conn::connection_established handler (inactivity.zeek): longer timeout for login ports."""
    if s.orig_is_a:
        op, rp = s.a_p, s.b_p
    else:
        op, rp = s.b_p, s.a_p
    port = rp
    if s.st[0] == INACTIVE and interactive[0, rp] == 0 and interactive[0, op] != 0:
        port = op
    if interactive[1, port]:
        s.inact = INTERACTIVE_INACTIVITY


@nb.njit(cache=True, inline="always")
def _state_machine(s, e, t, base_seq, length, delta_last, is_orig, flags, interactive):  # type: ignore[no-untyped-def]
    """UpdateStateMachine; returns (do_close, gen_event, e after a possible flip)."""
    syn = (flags & F_SYN) != 0
    fin = (flags & F_FIN) != 0
    rst = (flags & F_RST) != 0
    ackf = (flags & F_ACK) != 0
    do_close = False
    gen_event = False
    cur = s.st[e]
    if cur == INACTIVE:
        p = 1 - e
        if syn:
            if is_orig:
                _set_state(s, e, SYN_ACK_SENT if ackf else SYN_SENT)
                s.t_attempt = t + TCP_ATTEMPT_DELAY
            else:
                if (
                    (not ackf)
                    and s.st[p] == SYN_ACK_SENT
                    and base_seq == np.uint32(np.uint64(s.start_seq[e]) & np.uint64(0xFFFFFFFF))
                ):
                    # SYN/SYN-ACK reversal: flip and establish
                    s.is_partial = 0
                    _flip(s)
                    e = 1 - e
                    p = 1 - e
                    _set_state(s, p, ESTABLISHED)
                    s.first_seen |= 1
                if s.st[p] == SYN_SENT:
                    _set_state(s, p, ESTABLISHED)
                _set_state(s, e, ESTABLISHED)
                if s.st[p] != PARTIAL:
                    _established_event(s, interactive)
        if fin:
            _set_state(s, e, CLOSED)
            do_close = True
            gen_event = True
        if rst:
            _set_state(s, e, RESET)
            is_reject = False
            if is_orig:
                if s.st[p] == ESTABLISHED:
                    is_reject = True
            elif s.st[p] == SYN_SENT or s.st[p] == SYN_ACK_SENT:
                is_reject = True
            do_close = True
            gen_event = not is_reject
        if s.st[e] == INACTIVE:
            if (not is_orig) and length == 0 and s.st[0] == SYN_SENT:
                pass
            elif ackf and s.st[p] == ESTABLISHED:
                _set_state(s, e, ESTABLISHED)
                s.is_partial = 0
                s.first_seen |= 1 if is_orig else 2
            else:
                _set_state(s, e, PARTIAL)
    elif cur == SYN_SENT or cur == SYN_ACK_SENT:
        if fin:
            _set_state(s, e, CLOSED)
            do_close = True
            gen_event = True
        if rst:
            _set_state(s, e, RESET)
            s.is_active = 0
            do_close = True
    elif cur == ESTABLISHED or cur == PARTIAL:
        p = 1 - e
        if syn and cur == PARTIAL and s.st[p] == INACTIVE and not ackf:
            _set_state(s, e, SYN_SENT)
        if fin and not rst:
            _set_state(s, e, CLOSED)
            if s.st[p] == RESET and s.pst[p] == CLOSED:
                _set_state(s, p, CLOSED)
            do_close = True
            gen_event = True
        if rst:
            _set_state(s, e, RESET)
            do_close = True
            if s.st[p] != RESET or s.pst[p] != ESTABLISHED:
                s.is_active = 0
    elif cur == CLOSED:
        p = 1 - e
        if rst and s.st[p] != CLOSED:
            _set_state(s, e, RESET)
            if not s.did_close[e]:
                do_close = True
    return do_close, gen_event, e


@nb.njit(cache=True)
def _conn_closed(s, e, gen_event):  # type: ignore[no-untyped-def]
    """ConnectionClosed: did_close, and the timers that will remove the connection."""
    p = 1 - e
    if s.did_close[e]:
        return
    s.did_close[e] = 1
    complete = s.st[e] == RESET or s.did_close[p] or s.st[p] == INACTIVE
    if complete:
        if (s.pst[e] != INACTIVE or s.st[p] != INACTIVE) and gen_event:
            s.is_active = 0
        s.t_attempt = -1
        s.t_exp_a = -1
        s.t_exp_b = -1
        s.t_delete = s.last + TCP_CLOSE_DELAY
    elif s.pst[e] != INACTIVE:
        nt = s.last + TCP_SESSION_TIMER
        if s.t_exp_b < 0 or nt < s.t_exp_b:
            s.t_exp_b = nt


@nb.njit(cache=True, inline="always")
def _tcp_packet(s, e, t, flags, seq, ack, win, length, fullcap, interactive):  # type: ignore[no-untyped-def]
    """TCPSessionAdapter::Process for one packet of endpoint e; returns e after flips."""
    syn = (flags & F_SYN) != 0
    fin = (flags & F_FIN) != 0
    rst = (flags & F_RST) != 0
    ackf = (flags & F_ACK) != 0
    is_orig = e == 0
    # SetPartialStatus
    if is_orig:
        if not (s.first_seen & 1):
            s.is_partial = 1 if ((not syn) or ackf) else 0
    elif not (s.first_seen & 2) and not s.is_partial:
        s.is_partial = 0 if syn else 1
    seg_len = np.int64(length) + int(syn) + int(fin)
    if rst:
        seg_len -= length
    seq1 = np.uint32((np.int64(seq) + seg_len) & 0xFFFFFFFF)
    # init_endpoint
    cur = s.st[e]
    if cur == INACTIVE:
        last = seq1
        if syn:
            s.ack_seq[e] = seq
            s.start_seq[e] = np.int64(seq)
        else:
            m1 = np.uint32((np.int64(seq) - 1) & 0xFFFFFFFF)
            s.ack_seq[e] = m1
            s.start_seq[e] = np.int64(m1)
            last = seq
        s.last_seq[e] = last
    elif cur == SYN_SENT or cur == SYN_ACK_SENT:
        if syn and seq != np.uint32(np.uint64(s.start_seq[e]) & np.uint64(0xFFFFFFFF)):
            s.start_seq[e] = np.int64(seq)
            s.ack_seq[e] = seq
            s.last_seq[e] = seq1
    elif cur == ESTABLISHED or cur == PARTIAL:
        if syn:
            s.start_seq[e] = np.int64(seq)
            s.ack_seq[e] = seq
            s.last_seq[e] = seq1
    elif cur == RESET:
        if syn and s.pst[e] == INACTIVE:
            s.start_seq[e] = np.int64(seq)
            s.ack_seq[e] = seq
            s.last_seq[e] = seq1
    rel_seq, underflow = _rel_seq(s, e, seq, s.last_seq[e], s.seq_wraps[e])
    e = _update_history(s, e, flags, rel_seq, length)
    p = 1 - e
    # update_window: zero windows
    if win == 0 and not rst and s.st[p] != CLOSED and s.st[e] != RESET:
        _scaled(s, 87 if e == 0 else 119, s.w0_cnt, s.w0_thr, e)
    if not (s.did_close[0] and s.did_close[1]):
        s.last = t
    if fin:
        s.fin_cnt[e] += np.uint32(1)
        s.fin_seq[e] = rel_seq + np.uint64(seg_len)
    if rst:
        s.rst_cnt[e] += np.uint32(1)
    rel_ack = np.uint64(0)
    if ackf:
        if s.st[p] == INACTIVE:
            rel_ack = np.uint64(1)
            m1 = np.uint32((np.int64(ack) - 1) & 0xFFFFFFFF)
            s.start_seq[p] = np.int64(m1)
            s.ack_seq[p] = m1
            s.last_seq[p] = m1
        else:
            rel_ack, au = _rel_seq(s, p, ack, s.ack_seq[p], s.ack_wraps[p])
            if au:
                rel_ack = np.uint64(0)
            elif not rst:
                d = _sd(ack, s.ack_seq[p])
                if ack == 0 and d > TOO_LARGE_SEQ_DELTA:
                    pass
                elif d > 0:
                    if ack < s.ack_seq[p]:
                        s.ack_wraps[p] += np.uint32(1)
                    s.ack_seq[p] = ack
    # update_last_seq
    delta_last = _sd(seq1, s.last_seq[e])
    start32 = np.uint32((np.uint64(s.start_seq[e]) + np.uint64(1)) & np.uint64(0xFFFFFFFF))
    if (syn or rst) and (delta_last > TOO_LARGE_SEQ_DELTA or delta_last < -TOO_LARGE_SEQ_DELTA):
        pass
    elif (fin and s.last_seq[e] == start32) or (s.st[e] != RESET and delta_last > 0):
        if seq1 < s.last_seq[e]:
            s.seq_wraps[e] += np.uint32(1)
        s.last_seq[e] = seq1
    elif s.st[e] == RESET:
        pass
    elif length > 0:
        _scaled(s, 84 if e == 0 else 116, s.rx_cnt, s.rx_thr, e)
    do_close, gen_event, e = _state_machine(
        s, e, t, seq, length, delta_last, is_orig, flags, interactive
    )
    p = 1 - e
    if ackf:
        _ack_received(s, p, rel_ack)
    rel_data = rel_seq + np.uint64(1) if syn else rel_seq
    if length > 0 and fullcap and not rst and not underflow:
        _data_sent(s, e, rel_data, length)
    if do_close:
        _conn_closed(s, e, gen_event)
    return e


@nb.njit(cache=True)
def _is_reuse(s, flags, seq):  # type: ignore[no-untyped-def]
    """TCPSessionAdapter::IsReuse: a new SYN on a finished or different connection."""
    if not (flags & F_SYN):
        return False
    co = 0
    if flags & F_ACK:
        if s.st[0] != INACTIVE:
            return False
        co = 1
    if not (s.did_close[0] or s.did_close[1]):
        if seq == np.uint32(np.uint64(s.start_seq[co]) & np.uint64(0xFFFFFFFF)):
            return False
        if (
            not (flags & F_ACK)
            and s.st[co] == SYN_ACK_SENT
            and s.st[1] == INACTIVE
            and seq == np.uint32(np.uint64(s.start_seq[1]) & np.uint64(0xFFFFFFFF))
        ):
            return False
    return True


@nb.njit(cache=True)
def _expire_cond(s):  # type: ignore[no-untyped-def]
    if s.did_close[0] or s.did_close[1]:
        if (
            (s.did_close[0] and s.did_close[1])
            or s.st[0] == RESET
            or s.st[1] == RESET
            or s.st[0] == INACTIVE
            or s.st[1] == INACTIVE
        ):
            return True
    return s.st[0] == INACTIVE and s.st[1] == INACTIVE


@nb.njit(cache=True, inline="always")
def _next_fire(tm, after):  # type: ignore[no-untyped-def]
    """First time of the chain tm, tm+6s, ... strictly after `after`."""
    if tm > after:
        return tm
    return tm + TCP_SESSION_TIMER * ((after - tm) // TCP_SESSION_TIMER + 1)


@nb.njit(cache=True)
def expired(s, t):  # type: ignore[no-untyped-def]
    """Has a Zeek timer removed this connection by network time t?"""
    if t >= s.last + s.inact:
        return True
    if s.kind == K_UDP and s.udp_an & U_DNS:
        # DNS_Analyzer::ExpireTimer fires every dns_session_timeout from the connection's
        # start and removes it once the last packet is at least that less 1 s old; the
        # latest firing by t decides (earlier ones found the connection active)
        fired = s.start + DNS_SESSION_TIMEOUT * ((t - s.start) // DNS_SESSION_TIMEOUT)
        return fired > s.start and fired - s.last >= DNS_SESSION_TIMEOUT - NS
    if s.kind != K_TCP:
        return False
    if s.t_delete >= 0 and s.t_delete <= t:
        return True
    if not s.is_active:
        return False
    if s.t_attempt >= 0 and s.t_attempt <= t:
        if (s.st[0] == SYN_SENT or s.st[0] == SYN_ACK_SENT) and s.st[1] == INACTIVE:
            return True
        s.t_attempt = -1
    if _expire_cond(s):
        for tm in (s.t_exp_a, s.t_exp_b):
            if tm >= 0 and tm <= t:
                if _next_fire(tm, s.last + TCP_CONNECTION_LINGER) <= t:
                    return True
    return False


@nb.njit(cache=True)
def _advance_timers(s, t):  # type: ignore[no-untyped-def]
    if s.t_exp_a >= 0 and s.t_exp_a <= t:
        s.t_exp_a = _next_fire(s.t_exp_a, t)
    if s.t_exp_b >= 0 and s.t_exp_b <= t:
        s.t_exp_b = _next_fire(s.t_exp_b, t)


@nb.njit(cache=True)
def _add_parent(s, h):  # type: ignore[no-untyped-def]
    for k in range(s.npar):
        if s.par[k] == h:
            return
    if s.npar < NPAR:
        s.par[s.npar] = h
        s.npar += 1


# ----------------------------------------------------------------- per chunk
@nb.njit(cache=True)
def process(
    order, bounds, nrows, r0, q0, sel, st, tmpl, out, seed, ignore_csum, likely, interactive,
    ts, from_a, kind, a_hi, a_lo, b_hi, b_lo, a_p, b_p, ip_proto,
    sport, dport, flags, seq, ack, win, length, fullcap, iplen, csum_bad,
    app, src_mac, dst_mac, vlan, source, parent, bcast, pkt_uid,
):  # type: ignore[no-untyped-def]  # fmt: skip
    """Walk each connection's packets in capture order, from row r0 / position q0.

    Finished connections are copied to `out`; when it is full the walk stops and
    returns (n_out, r, q, False) so the caller can drain `out` and resume at (r, q).
    """
    nout = 0
    cap = out.shape[0]
    nq = order.shape[0]
    for r in range(r0, nrows):
        lo = bounds[r]
        if r == r0 and q0 > lo:
            lo = q0
        hi = bounds[r + 1]
        if lo >= hi:
            continue
        s = st[r]
        for q in range(lo, hi):
            if nout >= cap:
                return nout, r, q, False
            if q + PREFETCH_AHEAD < nq:
                # the row's per-packet fields span bytes 0-43 (_derive.DERIVED_DTYPE):
                # at most two cache lines, those of sel and parent
                ja = order[q + PREFETCH_AHEAD]
                prefetch(sel, ja)  # type: ignore[call-arg]
                prefetch(parent, ja)  # type: ignore[call-arg]
            j = order[q]
            t = ts[j]
            k = kind[j]
            if s.active:
                gone = expired(s, t)
                if not gone and k == K_TCP and _is_reuse(s, flags[j], seq[j]):
                    gone = True
                if gone:
                    out[nout] = s
                    nout += 1
                    s.active = 0
                else:
                    _advance_timers(s, t)
                    if parent[j] != s.encap:
                        if s.tun_changes >= TUNNEL_MAX_CHANGES:
                            _check_hist(s, H_LIMIT, 88)  # 'X'
                        else:
                            s.tun_changes += 1
                            if parent[j] != 0:
                                _add_parent(s, parent[j])
                        s.encap = parent[j]
            if not s.active:
                st[r] = tmpl[0]
                s.active = 1
                s.kind = k
                s.orig_is_a = from_a[j]
                s.ip_proto = ip_proto[j]
                s.a_hi = a_hi[j]
                s.a_lo = a_lo[j]
                s.b_hi = b_hi[j]
                s.b_lo = b_lo[j]
                s.a_p = a_p[j]
                s.b_p = b_p[j]
                s.vlan = vlan[j]
                s.source = source[j]
                s.start = t
                s.last = t
                s.l2[0] = src_mac[j]
                s.l2[1] = dst_mac[j]
                s.uid1 = _hash5(seed, a_hi[j] ^ np.uint64(t), a_lo[j], b_hi[j], b_lo[j])
                s.uid2 = _hash5(s.uid1, np.uint64(a_p[j]), np.uint64(b_p[j]), np.uint64(k), seed)
                s.encap = parent[j]
                if parent[j] != 0:
                    _add_parent(s, parent[j])
                if k == K_TCP:
                    s.inact = UDP_INACTIVITY
                    s.t_exp_a = t + TCP_SYN_TIMEOUT
                    # WantConnection: partial connections may be flipped by likely server ports
                    f = flags[j]
                    if (not (f & F_SYN)) or (f & F_ACK):
                        flip = False
                        if likely[0, sport[j]]:
                            if likely[0, dport[j]]:
                                flip = (not (f & F_SYN)) and sport[j] < dport[j]
                            else:
                                flip = True
                        if flip and not bcast[j]:
                            _flip(s)
                elif k == K_UDP:
                    s.inact = UDP_INACTIVITY
                    if likely[1, sport[j]] & 1 and not likely[1, dport[j]] & 1 and not bcast[j]:
                        _flip(s)
                    rp = s.b_p if s.orig_is_a else s.a_p
                    if likely[1, rp] & 2:
                        s.udp_an |= U_DNS  # with it the DNS session timer, from s.start
                        if sport[j] == NETBIOS_PORT or dport[j] == NETBIOS_PORT:
                            s.udp_an |= U_NETBIOS
                    if rp == NTP_PORT:
                        s.udp_an |= U_NTP
                elif k == K_ICMP:
                    s.inact = ICMP_INACTIVITY
                else:
                    s.inact = OTHER_INACTIVITY
            e = 0 if from_a[j] == s.orig_is_a else 1
            cb = csum_bad[j]
            bad = (cb & (CSUM_OWN | CSUM_OUTER)) != 0 and not ignore_csum
            if k == K_TCP:
                if cb & TCP_HDR_BAD:
                    pass  # unusable TCP header: the connection exists, nothing is analyzed
                elif bad:
                    _scaled(s, 67 if e == 0 else 99, s.chk_cnt, s.chk_thr, e)
                else:
                    e = _tcp_packet(
                        s,
                        e,
                        t,
                        flags[j],
                        seq[j],
                        ack[j],
                        win[j],
                        length[j],
                        fullcap[j],
                        interactive,
                    )
                    s.pkts[e] += np.uint64(1)
                    s.ipb[e] += np.uint64(iplen[j])
            elif k == K_UDP:
                # ConnSize sees a UDP packet only once its checksum passed (UDP.cc forwards
                # to the session's child analyzers after the check)
                if bad:
                    _scaled(s, 67 if e == 0 else 99, s.chk_cnt, s.chk_thr, e)
                else:
                    s.last = t
                    _check_hist(s, 1 if e == 0 else 2, 68 if e == 0 else 100)
                    if s.ulen[e] < 0:
                        s.ulen[e] = 0
                    s.ulen[e] += length[j]
                    if s.udp_an:
                        _udp_analyzers(s, e, app[j])
                    # ConnSize comes after the protocol analyzer and counts on the side
                    # the packet arrived from, even when that analyzer just flipped roles
                    s.pkts[e] += np.uint64(1)
                    s.ipb[e] += np.uint64(iplen[j])
            elif k == K_ICMP:
                if not bad:
                    s.last = t
                    if s.ulen[e] < 0:
                        s.ulen[e] = 0
                    s.ulen[e] += length[j]
                    if fullcap[j]:
                        s.pkts[e] += np.uint64(1)
                        s.ipb[e] += np.uint64(iplen[j])
            else:
                s.last = t
                s.pkts[e] += np.uint64(1)
                s.ipb[e] += np.uint64(iplen[j])
            pkt_uid[sel[j]] = s.uid1
    return nout, nrows, 0, True


@nb.njit(cache=True)
def sweep(st, r0, r1, t, out, flush):  # type: ignore[no-untyped-def]
    """Finish rows r0..r1 that Zeek's timers removed by network time t (all when flush):
    their indices go to `out`, the rows stay in place (inactive) until the caller
    has converted them, which spares copying each 776-byte row out and back."""
    n = 0
    for r in range(r0, r1):
        s = st[r]
        if s.active and (flush or expired(s, t)):
            out[n] = r
            n += 1
            s.active = 0
    return n


# ----------------------------------------------------------------- output fields
STATE_NAMES = (
    "S0",
    "S1",
    "SF",
    "REJ",
    "S2",
    "S3",
    "RSTO",
    "RSTR",
    "RSTOS0",
    "RSTRH",
    "SH",
    "SHR",
    "OTH",
)


@nb.njit(cache=True)
def _rstos0(h, n):  # type: ignore[no-untyped-def]
    """History matches /^\\^?S[^HAFGIQ]*R.*$/."""
    i = 0
    if i < n and h[i] == 94:
        i += 1
    if i >= n or h[i] != 83:
        return False
    i += 1
    while i < n:
        c = h[i]
        if c == 82:
            return True
        if c == 72 or c == 65 or c == 70 or c == 71 or c == 73 or c == 81:
            return False
        i += 1
    return False


@nb.njit(cache=True, inline="always")
def log_fields(s):  # type: ignore[no-untyped-def]
    """(conn_state code (main.zeek conn_state()), orig bytes, resp bytes, whether the
    bytes are set) of a finished row; inlined where the row is copied out, so each
    row is read in one pass."""
    k = s.kind
    has_bytes = s.last > s.start
    if k == K_TCP:
        o = tcp_size(s, 0)
        r = tcp_size(s, 1)
        os_ = s.st[0]
        rs = s.st[1]
        oi = os_ == INACTIVE or os_ == PARTIAL
        ri = rs == INACTIVE or rs == PARTIAL
        if rs == RESET:
            if os_ == SYN_SENT or os_ == SYN_ACK_SENT or (os_ == RESET and o == 0 and r == 0):
                c = 3
            elif oi:
                c = 9
            else:
                c = 7
        elif os_ == RESET:
            if ri:
                c = 8 if _rstos0(s.hist, s.hlen) else 12
            else:
                c = 6
        elif rs == CLOSED and os_ == CLOSED:
            c = 2
        elif os_ == CLOSED:
            c = 10 if ri else 4
        elif rs == CLOSED:
            c = 11 if oi else 5
        elif os_ == SYN_SENT and rs == INACTIVE:
            c = 0
        elif os_ == ESTABLISHED and rs == ESTABLISHED:
            c = 1
        else:
            c = 12
        return c, o, r, has_bytes
    ob = np.uint64(max(s.ulen[0], 0)) if k != K_OTHER else np.uint64(0)
    rb = np.uint64(max(s.ulen[1], 0)) if k != K_OTHER else np.uint64(0)
    c = 12
    if k == K_UDP:
        oa = s.ulen[0] >= 0
        ra = s.ulen[1] >= 0
        if oa:
            c = 2 if ra else 0
        else:
            c = 11 if ra else 12
    return c, ob, rb, has_bytes
