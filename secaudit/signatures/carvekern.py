"""Compiled half of file carving (carve.py): TCP connections and their reassembled streams.

One call of `feed` walks a batch of TCP packet rows in file order: connection table (open
addressing, both directions one key), the Python engine's TCP state machine
(Engine._tcp) and TcpStream.add's reassembly (first data wins, out-of-order segments
wait in a queue until the gap fills, `DEPTH` bytes in order and `OOO_LIMIT` queued per
side), protocol detection on each side's first bytes (fast._detect_app), and the
capture time of every append (TcpStream.times).  Bytes are copied once into `arena` and
kept only for connections whose files could be carved; a connection whose protocol is
TLS/SSH/DNS and whose client does not start with an HTTP method is dropped at once.
`gather` copies chosen connections' streams out for the per-connection Python parsers;
`compact` rebuilds the storage with only the connections that still keep bytes.
"""

from __future__ import annotations

import numba
import numpy as np

from secaudit.proto.stream import _OOO_LIMIT, DEFAULT_DEPTH
from secaudit.signatures.fast import _detect_app

__all__ = ["DEPTH", "new_tables", "feed", "rehash", "gather", "compact"]

DEPTH = DEFAULT_DEPTH
_OOO = _OOO_LIMIT
_HEAD = 64  # bytes of each side protocol detection looks at (Engine._tcp)


# columns of the int64 connection table `C` (state, ISNs, first/last ts ns, flow id, in-order
# lengths, piece/queue/event list heads and tails, queued bytes, flags, ports, app codes)
ST, ISN0, ISN1, TSF, TSL, FID, LEN0, LEN1 = 0, 1, 2, 3, 4, 5, 6, 7
PH0, PH1, PT0, PT1, OH0, OH1, OB0, OB1 = 8, 9, 10, 11, 12, 13, 14, 15
EH0, EH1, ET0, ET1, FLAGS, CPORT, SPORT, APP = 16, 17, 18, 19, 20, 21, 22, 23
APP0, APP1, VER = 24, 25, 26
NCOL = 27

# bits of C[:, FLAGS]
KEEP = 1  # bytes are stored
CARVED = 2  # files were carved early; any later packet makes it REDO
FIN0 = 4
FIN1 = 8
DETACHED = 16  # a new SYN after RST started a new connection on the same key
REDO = 32  # the carve is not final: the Python engine decides this key
ROUTE = 64  # a packet the kernel does not follow exactly: the Python engine decides
DATA = 128  # some packet carried payload (a connection without any has no files)


# counters in `cnt`
_NC, _NPC, _NEV, _NOO, _NAR = 0, 1, 2, 3, 4


def new_tables(
    conns: int = 1 << 12, pieces: int = 1 << 14, arena: int = 1 << 24
) -> dict[str, np.ndarray]:
    """Empty tables: C (conns x NCOL), A (client hi/lo, server hi/lo, key hash),
    bytes per side), HT (hash slots), PC (arena off, len, next), EV (stream off, ts, next),
    OO (stream off, arena off, len, next), arena, cnt."""
    return {
        "C": np.zeros((conns, NCOL), np.int64),
        "A": np.zeros((conns, 5), np.uint64),
        "HT": np.full(conns * 4, -1, np.int64),
        "PC": np.zeros((pieces, 3), np.int64),
        "EV": np.zeros((pieces, 3), np.int64),
        "OO": np.zeros((1 << 10, 4), np.int64),
        "arena": np.zeros(arena, np.uint8),
        "spare": np.zeros(0, np.uint8),
        "gbuf": np.zeros(0, np.uint8),
        "cnt": np.zeros(8, np.int64),
    }


@numba.njit(cache=True)
def _copy(dst: np.ndarray, at: int, src: np.ndarray, start: int, n: int) -> None:
    """dst[at : at + n] = src[start : start + n] (in bounds, not overlapping) as a plain
    loop: LLVM makes it a vectorized copy, where numba's slice assignment goes byte by
    byte at a quarter of the speed (the kernels copy every stored payload byte 2-3 times)."""
    d = dst[at : at + n]
    s = src[start : start + n]
    for k in range(n):  # k >= 0: no negative-index fixup per byte, so it vectorizes
        d[k] = s[k]


@numba.njit(cache=True)
def _prefix_of(h: np.ndarray, n: int, lit: bytes) -> bool:
    for i in range(min(n, len(lit))):  # noqa: SIM110 - numba: no generator in all()
        if h[i] != lit[i]:
            return False
    return True


@numba.njit(cache=True)
def _may_be_request(h: np.ndarray, n: int) -> bool:
    """Could a client stream that starts with h[:n] still start with an HTTP method?"""
    return (
        _prefix_of(h, n, b"GET ") or _prefix_of(h, n, b"POST ") or _prefix_of(h, n, b"HEAD ")
        or _prefix_of(h, n, b"PUT ") or _prefix_of(h, n, b"DELETE ")
        or _prefix_of(h, n, b"OPTIONS ") or _prefix_of(h, n, b"CONNECT ")
        or _prefix_of(h, n, b"TRACE ") or _prefix_of(h, n, b"PATCH ")
        or _prefix_of(h, n, b"PROPFIND ")
    )  # fmt: skip


@numba.njit(cache=True)
def _same(A: np.ndarray, C: np.ndarray, c: int, shi: np.uint64, slo: np.uint64, sp: int,
          dhi: np.uint64, dlo: np.uint64, dp: int) -> bool:  # fmt: skip
    if A[c, 0] == shi and A[c, 1] == slo and C[c, CPORT] == sp:
        return bool(A[c, 2] == dhi and A[c, 3] == dlo and C[c, SPORT] == dp)
    return bool(
        A[c, 0] == dhi and A[c, 1] == dlo and C[c, CPORT] == dp
        and A[c, 2] == shi and A[c, 3] == slo and C[c, SPORT] == sp
    )  # fmt: skip


@numba.njit(cache=True)
def rehash(A: np.ndarray, C: np.ndarray, n: int, HT: np.ndarray) -> None:
    """Insert the connections that still own their key into an empty slot table."""
    mask = np.uint64(HT.shape[0] - 1)
    for c in range(n):
        if C[c, FLAGS] & DETACHED:
            continue
        j = A[c, 4] & mask
        while HT[j] >= 0:
            j = (j + np.uint64(1)) & mask
        HT[j] = c


@numba.njit(cache=True)
def _push(
    C: np.ndarray,
    L: np.ndarray,
    cnt: np.ndarray,
    slot: int,
    c: int,
    head: int,
    tail: int,
    x: int,
    y: int,
) -> None:
    """Append row (x, y, next=-1) to table L (rows counted in cnt[slot]) and link it at the
    end of connection c's list whose head/tail row numbers are in C[c, head] / C[c, tail]."""
    k = cnt[slot]
    cnt[slot] = k + 1
    L[k, 0] = x
    L[k, 1] = y
    L[k, 2] = -1
    if C[c, tail] >= 0:
        L[C[c, tail], 2] = k
    else:
        C[c, head] = k
    C[c, tail] = k


@numba.njit(cache=True)
def _piece(C: np.ndarray, PC: np.ndarray, cnt: np.ndarray, c: int, d: int, a: int, n: int) -> None:
    _push(C, PC, cnt, _NPC, c, PH0 + d, PT0 + d, a, n)


@numba.njit(cache=True)
def _append(C: np.ndarray, PC: np.ndarray, arena: np.ndarray, cnt: np.ndarray,
            src: np.ndarray, s0: int, c: int, d: int, off: int, n: int, copy: bool) -> None:  # fmt: skip
    """TcpStream._append: the part of [off, off + n) past the stream end, up to DEPTH."""
    cur = C[c, LEN0 + d]
    if off + n <= cur:
        return
    skip = cur - off
    m = min(n - skip, DEPTH - cur)
    if m <= 0:
        return
    if copy:
        a = cnt[_NAR]
        _copy(arena, a, src, s0 + skip, m)
        cnt[_NAR] = a + m
    else:
        a = s0 + skip  # src is the arena: the queued segment's bytes are reused in place
    _piece(C, PC, cnt, c, d, a, m)
    C[c, LEN0 + d] = cur + m


@numba.njit(cache=True)
def _head(C: np.ndarray, PC: np.ndarray, arena: np.ndarray, c: int, d: int, out: np.ndarray) -> int:
    """The first (up to 64) in-order bytes of side d into `out`; returns how many."""
    n = 0
    x = C[c, PH0 + d]
    while x >= 0 and n < _HEAD:
        m = min(PC[x, 1], _HEAD - n)
        _copy(out, n, arena, PC[x, 0], m)
        n += m
        x = PC[x, 2]
    return n


@numba.njit(cache=True)
def _add(C: np.ndarray, head: np.ndarray, PC: np.ndarray, EV: np.ndarray, OO: np.ndarray,
         arena: np.ndarray, cnt: np.ndarray, data: np.ndarray, c: int, d: int, seq: int,
         ps: int, n: int, ts: int) -> None:  # fmt: skip
    """TcpStream.add for one segment of side d (bytes data[ps : ps + n])."""
    r = (seq - C[c, ISN0 + d] - 1) & 0xFFFFFFFF
    off = r - 0x100000000 if r > 0x80000000 else r
    if off < 0:
        if -off >= n:
            return
        ps -= off
        n += off
        off = 0
    before = C[c, LEN0 + d]
    if off > before:
        if off - before > DEPTH or C[c, OB0 + d] + n > _OOO:
            return
        e = C[c, OH0 + d]
        while e >= 0 and OO[e, 0] != off:
            e = OO[e, 3]
        if e < 0:
            a = cnt[_NAR]
            _copy(arena, a, data, ps, n)
            cnt[_NAR] = a + n
            e = cnt[_NOO]
            cnt[_NOO] = e + 1
            OO[e, 0] = off
            OO[e, 1] = a
            OO[e, 2] = n
            OO[e, 3] = C[c, OH0 + d]
            C[c, OH0 + d] = e
            C[c, OB0 + d] += n
        elif OO[e, 2] < n:
            old = OO[e, 2]
            a = cnt[_NAR]
            _copy(arena, a, arena, OO[e, 1], old)
            _copy(arena, a + old, data, ps + old, n - old)
            cnt[_NAR] = a + n
            OO[e, 1] = a
            OO[e, 2] = n
            C[c, OB0 + d] += n - old
        return
    _append(C, PC, arena, cnt, data, ps, c, d, off, n, True)
    while True:
        # the queued segment with the lowest offset the stream has reached
        cur = C[c, LEN0 + d]
        best = -1
        prev_best = -1
        prev = -1
        e = C[c, OH0 + d]
        while e >= 0:
            if OO[e, 0] <= cur and (best < 0 or OO[e, 0] < OO[best, 0]):
                best = e
                prev_best = prev
            prev = e
            e = OO[e, 3]
        if best < 0:
            break
        if prev_best < 0:
            C[c, OH0 + d] = OO[best, 3]
        else:
            OO[prev_best, 3] = OO[best, 3]
        C[c, OB0 + d] -= OO[best, 2]
        _append(C, PC, arena, cnt, arena, OO[best, 1], c, d, OO[best, 0], OO[best, 2], False)
    if C[c, LEN0 + d] > before:
        _push(C, EV, cnt, _NEV, c, EH0 + d, ET0 + d, before, ts)
        if C[c, APP0 + d] == 0:
            nh = _head(C, PC, arena, c, d, head)
            app = _detect_app(head, nh, C[c, SPORT], C[c, CPORT], d == 0)
            C[c, APP0 + d] = app
            if C[c, APP] == 0:
                C[c, APP] = app
        app = C[c, APP]
        if (app == 2 or app == 3 or app == 4) and C[c, LEN0] > 0:
            n0 = _head(C, PC, arena, c, 0, head)
            if not _may_be_request(head, n0):
                # TLS/SSH/DNS without an HTTP request: nothing to carve (Engine._flow_tx)
                C[c, FLAGS] &= ~KEEP


@numba.njit(cache=True)
def _payload(pk: np.ndarray, r: int, data: np.ndarray, validate: bool) -> tuple[bool, int, int]:
    """(special, payload start in data, payload length) of TCP row r as decode.py sees it:
    special when the kernel does not follow it exactly (tunnel, fragment, odd link layer or
    IPv6 extension headers, bad TCP header, and with validation a bad or uncheckable sum)."""
    rw = pk[r]
    base = np.int64(rw["data_off"])
    l4 = np.int64(rw["l4_off"])
    cap = np.int64(rw["caplen"])
    ip_off = np.int64(rw["ip_off"])
    ip_len = np.int64(rw["ip_len"])
    ver = rw["ip_version"]
    doff = (np.int64(data[base + l4 + 12]) >> 4) * 4
    l4end = cap if (ver == 6 and ip_len == 40) else min(ip_off + ip_len, cap)
    lt = rw["linktype"]
    et = rw["ethertype"]
    special = (
        (rw["frag"] & 1) != 0 or rw["tunnel_depth"] > 0 or rw["reasm"] != 0
        or not (lt == 0 or lt == 1 or lt == 12 or lt == 14 or lt == 101 or lt == 108
                or lt == 113 or lt == 228 or lt == 229 or lt == 276)
        or ((lt == 1 or lt == 113 or lt == 276) and et != 0x0800 and et != 0x86DD)
        or (ver == 6 and l4 != ip_off + 40) or doff < 20 or l4 + doff > l4end
    )  # fmt: skip
    if validate and (
        rw["csum_bad"] != 0 or np.int64(rw["payload_off"]) + np.int64(rw["payload_len"]) > cap
    ):
        special = True
    return bool(special), int(base + l4 + doff), max(int(l4end - l4 - doff), 0)


@numba.njit(cache=True)
def feed(
    start: int, rows: np.ndarray, pk: np.ndarray, hsh: np.ndarray, data: np.ndarray,
    row_base: int, validate: bool, route_all: bool, C: np.ndarray, A: np.ndarray,
    HT: np.ndarray, PC: np.ndarray, EV: np.ndarray, OO: np.ndarray,
    arena: np.ndarray, cnt: np.ndarray,
) -> int:  # fmt: skip
    """TCP rows `rows[start:]` of a chunk (pk, data; hsh: the engine's connection hash per
    row); returns where a table ran out of room (or len(rows)).  Flow ids are 8 x the
    1-based packet-table row (row_base: rows in earlier chunks)."""
    mask = np.uint64(HT.shape[0] - 1)
    head = np.empty(_HEAD, np.uint8)
    for i in range(start, rows.shape[0]):
        r = rows[i]
        special, ps, n = _payload(pk, r, data, validate)
        special = special or route_all
        if (
            cnt[_NC] + 1 > C.shape[0] or 2 * (cnt[_NC] + 1) > HT.shape[0]
            or cnt[_NPC] + 1 + cnt[_NOO] > PC.shape[0] or cnt[_NEV] + 1 > EV.shape[0]
            or cnt[_NOO] + 1 > OO.shape[0] or cnt[_NAR] + n > arena.shape[0]
        ):  # fmt: skip
            return i
        rw = pk[r]
        h = hsh[r]
        shi, slo, dhi, dlo = rw["src_hi"], rw["src_lo"], rw["dst_hi"], rw["dst_lo"]
        sp, dp = int(rw["sport"]), int(rw["dport"])
        ts = int(rw["ts"])
        j = h & mask
        c = -1
        while HT[j] >= 0:
            if A[HT[j], 4] == h and _same(A, C, HT[j], shi, slo, sp, dhi, dlo, dp):
                c = HT[j]
                break
            j = (j + np.uint64(1)) & mask
        fl = np.int64(rw["tcp_flags"])
        seq0 = int(rw["seq"])
        if c >= 0 and C[c, ST] == 4 and (fl & 0x12) == 0x02:
            C[c, FLAGS] |= DETACHED  # a new SYN on a closed 5-tuple starts a new flow
            c = -1
        if c < 0:
            c = cnt[_NC]
            cnt[_NC] = c + 1
            HT[j] = c
            C[c, :] = -1
            C[c, ST] = 0
            C[c, TSF] = ts
            C[c, FID] = (row_base + r + 1) * 8
            C[c, LEN0] = 0
            C[c, LEN1] = 0
            C[c, OB0] = 0
            C[c, OB1] = 0
            C[c, FLAGS] = KEEP
            C[c, APP] = 0
            C[c, APP0] = 0
            C[c, APP1] = 0
            C[c, VER] = np.int64(rw["ip_version"])
            A[c, 4] = h
            if (fl & 0x12) == 0x12:  # first seen packet is a SYN/ACK: the receiver is the client
                A[c, 0], A[c, 1], C[c, CPORT] = dhi, dlo, dp
                A[c, 2], A[c, 3], C[c, SPORT] = shi, slo, sp
            else:
                A[c, 0], A[c, 1], C[c, CPORT] = shi, slo, sp
                A[c, 2], A[c, 3], C[c, SPORT] = dhi, dlo, dp
        C[c, TSL] = ts
        if A[c, 0] == A[c, 2] and A[c, 1] == A[c, 3]:
            d = 0 if sp == C[c, CPORT] else 1
        else:
            d = 0 if (shi == A[c, 0] and slo == A[c, 1] and sp == C[c, CPORT]) else 1
        if n > 0 or rw["payload_len"] > 0:
            C[c, FLAGS] |= DATA
        if special:
            C[c, FLAGS] = (C[c, FLAGS] | ROUTE) & ~KEEP
            continue
        if C[c, FLAGS] & CARVED:
            C[c, FLAGS] |= REDO
            continue
        syn, ack, rst, fin = fl & 2, fl & 16, fl & 4, fl & 1
        st = C[c, ST]
        if syn and not ack:
            if (st == 0 or st == 1) and d == 0:
                C[c, ISN0] = seq0
                C[c, ST] = 1
            elif st == 1 and d == 1:
                C[c, ISN1] = seq0
                C[c, ST] = 7
        elif syn and ack:
            if (st == 1 and d == 1) or st == 0:
                C[c, ISN0 + d] = seq0
                C[c, ST] = 2
            elif st == 7 and d == 0:
                C[c, ST] = 8
        elif (st == 2 and ack and d == 0) or (st == 8 and ack and d == 1):
            C[c, ST] = 3
        if fin:
            C[c, FLAGS] |= FIN0 << d
        if rst:
            if C[c, ST] >= 1:
                C[c, ST] = 4
            continue
        if n == 0:
            continue
        st = C[c, ST]
        if C[c, ISN0 + d] < 0 or st == 0:
            continue
        if st == 7 or st == 8 or (st == 1 and not (syn and d == 0)):
            continue  # data before the handshake completes: not reassembled
        if not C[c, FLAGS] & KEEP:
            continue
        seq = seq0 + 1 if syn else seq0
        _add(C, head, PC, EV, OO, arena, cnt, data, c, d, seq, ps, n, ts)
    return int(rows.shape[0])


@numba.njit(cache=True)
def _contiguous(PC: np.ndarray, x: int) -> bool:
    """Whether the pieces of the list starting at row x follow each other in the arena."""
    while x >= 0 and PC[x, 2] >= 0:
        nxt = PC[x, 2]
        if PC[nxt, 0] != PC[x, 0] + PC[x, 1]:
            return False
        x = nxt
    return True


@numba.njit(cache=True)
def gather(
    C: np.ndarray, PC: np.ndarray, EV: np.ndarray, arena: np.ndarray, ids: np.ndarray,
    out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Streams of connections `ids`, as bounds [k, 6]: per side (start, length, 1 when the
    bytes are arena[start : start + length] as they lie, 0 when copied to `out`).  A side
    whose pieces follow each other in the arena (most: a connection's packets tend to come
    in runs) is not copied; the rest go to `out` (reused when large enough, which saves the
    page faults of a new buffer).  Also the append events (stream off, ts), with [k, 3]."""
    k = ids.shape[0]
    bounds = np.zeros((k, 6), np.int64)
    nb = 0
    ne = 0
    for q in range(k):
        c = ids[q]
        for d in range(2):
            x = C[c, PH0 + d]
            bounds[q, 3 * d + 1] = C[c, LEN0 + d]
            if _contiguous(PC, x):
                bounds[q, 3 * d] = PC[x, 0] if x >= 0 else 0
                bounds[q, 3 * d + 2] = 1
            else:
                nb += C[c, LEN0 + d]
            e = C[c, EH0 + d]
            while e >= 0:
                ne += 1
                e = EV[e, 2]
    if out.shape[0] < nb:
        out = np.empty(nb + nb // 2, np.uint8)
    evs = np.empty((ne, 2), np.int64)
    ebounds = np.zeros((k, 3), np.int64)
    p = 0
    pe = 0
    for q in range(k):
        c = ids[q]
        ebounds[q, 0] = pe
        for d in range(2):
            if bounds[q, 3 * d + 2] == 0:
                bounds[q, 3 * d] = p
                x = C[c, PH0 + d]
                while x >= 0:
                    _copy(out, p, arena, PC[x, 0], PC[x, 1])
                    p += PC[x, 1]
                    x = PC[x, 2]
            e = C[c, EH0 + d]
            m = 0
            while e >= 0:
                evs[pe, 0] = EV[e, 0]
                evs[pe, 1] = EV[e, 1]
                pe += 1
                m += 1
                e = EV[e, 2]
            ebounds[q, 1 + d] = m
    return out, bounds, evs, ebounds


@numba.njit(cache=True)
def compact(
    C: np.ndarray, PC: np.ndarray, EV: np.ndarray, OO: np.ndarray, arena: np.ndarray,
    cnt: np.ndarray, room: int, rows: int, spare: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """New PC/EV/OO/arena holding only the connections that keep bytes, each side's
    in-order bytes as one piece, with room for `room` more bytes and `rows` more packets
    (the arena is `spare`, a previous one, when it is large enough).  Updates C's list
    heads and cnt."""
    nc = cnt[_NC]
    nb = 0
    ne = 0
    no = 0
    nlive = 0
    for c in range(nc):
        if not C[c, FLAGS] & KEEP:
            for d in range(2):
                C[c, PH0 + d] = -1
                C[c, PT0 + d] = -1
                C[c, EH0 + d] = -1
                C[c, ET0 + d] = -1
                C[c, OH0 + d] = -1
                C[c, OB0 + d] = 0
            continue
        nlive += 1
        for d in range(2):
            nb += C[c, LEN0 + d]
            e = C[c, EH0 + d]
            while e >= 0:
                ne += 1
                e = EV[e, 2]
            e = C[c, OH0 + d]
            while e >= 0:
                no += 1
                nb += OO[e, 2]
                e = OO[e, 3]
    need = nb + room
    # a new arena gets a quarter more, so that the next compaction (whose need has grown
    # a little) can take this one back as its spare instead of faulting in fresh pages
    arena2 = spare if spare.shape[0] >= need else np.empty(need + need // 4, np.uint8)
    PC2 = np.empty((2 * nlive + 2 * no + 2 * rows + 1024, 3), np.int64)
    EV2 = np.empty((ne + rows + 1024, 3), np.int64)
    OO2 = np.empty((no + rows + 1024, 4), np.int64)
    p = 0
    npc = 0
    cnt[_NEV] = 0  # EV2's rows, counted by _push
    noo = 0
    for c in range(nc):
        if not C[c, FLAGS] & KEEP:
            continue
        for d in range(2):
            start = p
            x = C[c, PH0 + d]
            while x >= 0:
                _copy(arena2, p, arena, PC[x, 0], PC[x, 1])
                p += PC[x, 1]
                x = PC[x, 2]
            if p > start:
                PC2[npc, 0] = start
                PC2[npc, 1] = p - start
                PC2[npc, 2] = -1
                C[c, PH0 + d] = npc
                C[c, PT0 + d] = npc
                npc += 1
            e = C[c, EH0 + d]
            C[c, EH0 + d] = -1
            C[c, ET0 + d] = -1
            while e >= 0:  # the arrival list, relinked in EV2 in the same order
                _push(C, EV2, cnt, _NEV, c, EH0 + d, ET0 + d, EV[e, 0], EV[e, 1])
                e = EV[e, 2]
            e = C[c, OH0 + d]
            head = -1
            while e >= 0:
                m = OO[e, 2]
                _copy(arena2, p, arena, OO[e, 1], m)
                OO2[noo, 0] = OO[e, 0]
                OO2[noo, 1] = p
                OO2[noo, 2] = m
                OO2[noo, 3] = head
                head = noo
                noo += 1
                p += m
                e = OO[e, 3]
            C[c, OH0 + d] = head
    cnt[_NPC] = npc
    cnt[_NOO] = noo
    cnt[_NAR] = p
    return PC2, EV2, OO2, arena2
