"""The engine's fast tier: one numba pass over the capture's chunk tables, libhyperscan from numba.

Pass 1 (numba, `_scan_chunk`) walks the packet rows in file order without copying
payloads: flow table (open addressing), the Python engine's TCP state machine and
in-order stream tracking, protocol detection on each side's first bytes, and a
vectored hyperscan scan of [last bytes of the stream, new payload] per packet so
matches that span segments are found and only matches ending in new bytes count
(the Python engine's "new match in the stream window" rule).  Fast-tier sigs
(fasttables.is_fast) are decided right there; their alerts are arrays.

A flow is handed to the Python engine instead ("routed") when the kernel cannot
follow it exactly (fragments, tunnels, truncated or bad-checksum packets, out-of-order
or overlapping data that changes the stream, a new SYN on a closed 5-tuple, very
long streams, match-buffer overflow) or when a rule outside the fast tier could
match in it: its pattern occurs and its header fits, it has no pattern, or it reads
an app-layer transaction of a protocol the flow carries.  Pass 2 feeds the routed
flows' frames (with their original frame numbers) to `Engine`, which then runs all
rules on them; each flow is decided by exactly one tier.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from secaudit.capture import iter_chunks
from secaudit.model import Gap
from secaudit.signatures import hs
from secaudit.signatures.compile import Sig
from secaudit.signatures.engine import Alert, Engine, _is_tx_sig, _sig_order
from secaudit.signatures.fasttables import APP_NAMES, FastTables, build_tables, paused_gc
from secaudit.signatures.prefilter import Prefilter

__all__ = ["FastRun", "run_fast"]

_SCAN = hs.SCAN_VECTOR
_DEPTH = 1 << 20  # TcpStream.DEFAULT_DEPTH: longer streams go to the Python engine
_COUNT_CAP = 1000  # engine._count_matches stops counting here
_LOOKBACK = 65536  # engine._LOOKBACK
_MATCH_CAP = 1 << 18
_SAVE_LIMIT = 256 << 20  # bytes of frames kept from pass 1 for the Python engine
_TUNNEL_UDP_PORTS = (4789, 6081)

GROUP_DTYPE = np.dtype(
    [
        ("kproto", "u1"), ("kx_hi", "u8"), ("kx_lo", "u8"), ("ky_hi", "u8"), ("ky_lo", "u8"),
        ("kpx", "i8"), ("kpy", "i8"), ("kxid", "i8"),
        ("a_hi", "u8"), ("a_lo", "u8"), ("b_hi", "u8"), ("b_lo", "u8"), ("pa", "i8"), ("pb", "i8"),
        ("ver", "u1"), ("first_frame", "i8"), ("client", "u1"), ("state", "u1"), ("isn_set", "u1"),
        ("isn0", "i8"), ("isn1", "i8"), ("len0", "i8"), ("len1", "i8"), ("est", "u1"),
        ("seen", "u1"), ("app", "i8"), ("app0", "i8"), ("app1", "i8"), ("appmask", "i8"),
        ("route", "u1"), ("pair", "u8"),
    ]
)  # fmt: skip


@numba.njit(cache=True, inline="always")
def _mix(h: np.uint64, v: np.uint64) -> np.uint64:
    h ^= v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    return h * np.uint64(0xBF58476D1CE4E5B9)


@numba.njit(cache=True)
def _in_range(op: int, a: int, b: int, x: int) -> bool:
    if op == 0:
        return x == a
    if op == 1:
        return x != a
    if op == 2:
        return x < a
    if op == 3:
        return x > a
    if op == 4:
        return x <= a
    if op == 5:
        return x >= a
    return a < x < b


@numba.njit(cache=True)
def _addr_ok(
    ptr: np.ndarray, anyp: np.ndarray, ranges: np.ndarray, s: int, k: int, ver: int,
    hi: np.uint64, lo: np.uint64,
) -> bool:  # fmt: skip
    if not anyp[s, k]:
        hit = False
        for r in range(ptr[s, 2 * k, 0], ptr[s, 2 * k, 1]):
            if ranges[r, 0] != ver:
                continue
            if (hi, lo) >= (ranges[r, 1], ranges[r, 2]) and (hi, lo) <= (
                ranges[r, 3],
                ranges[r, 4],
            ):
                hit = True
                break
        if not hit:
            return False
    for r in range(ptr[s, 2 * k + 1, 0], ptr[s, 2 * k + 1, 1]):
        if ranges[r, 0] != ver:
            continue
        if (hi, lo) >= (ranges[r, 1], ranges[r, 2]) and (hi, lo) <= (ranges[r, 3], ranges[r, 4]):
            return False
    return True


@numba.njit(cache=True)
def _port_ok(ptr: np.ndarray, anyp: np.ndarray, pr: np.ndarray, s: int, k: int, port: int) -> bool:
    if not anyp[s, k]:
        hit = False
        for r in range(ptr[s, 2 * k, 0], ptr[s, 2 * k, 1]):
            if pr[r, 0] <= port <= pr[r, 1]:
                hit = True
                break
        if not hit:
            return False
    for r in range(ptr[s, 2 * k + 1, 0], ptr[s, 2 * k + 1, 1]):
        if pr[r, 0] <= port <= pr[r, 1]:
            return False
    return True


@numba.njit(cache=True)
def _header_ok(
    t_proto: np.ndarray, t_ipver: np.ndarray, a_ptr: np.ndarray, a_any: np.ndarray,
    ranges: np.ndarray, p_ptr: np.ndarray, p_any: np.ndarray, pranges: np.ndarray,
    port_rule: np.ndarray, bidir: np.ndarray, s: int, proto: int, ver: int,
    s_hi: np.uint64, s_lo: np.uint64, d_hi: np.uint64, d_lo: np.uint64, sp: int, dp: int,
) -> bool:  # fmt: skip
    """Engine._header_ok on one packet tuple (l4 decoded: the kernel handles no other rows)."""
    if not t_proto[s, proto]:
        return False
    if t_ipver[s] != 0 and t_ipver[s] != ver:
        return False
    ports = proto == 6 or proto == 17 or proto == 132
    if port_rule[s] and not ports:
        return False
    if (
        _addr_ok(a_ptr, a_any, ranges, s, 0, ver, s_hi, s_lo)
        and _addr_ok(a_ptr, a_any, ranges, s, 1, ver, d_hi, d_lo)
        and (not ports or (_port_ok(p_ptr, p_any, pranges, s, 0, sp)
                           and _port_ok(p_ptr, p_any, pranges, s, 1, dp)))
    ):  # fmt: skip
        return True
    if bidir[s]:
        return (
            _addr_ok(a_ptr, a_any, ranges, s, 0, ver, d_hi, d_lo)
            and _addr_ok(a_ptr, a_any, ranges, s, 1, ver, s_hi, s_lo)
            and (not ports or (_port_ok(p_ptr, p_any, pranges, s, 0, dp)
                               and _port_ok(p_ptr, p_any, pranges, s, 1, sp)))
        )  # fmt: skip
    return False


@numba.njit(cache=True)
def _upper(c: int) -> int:
    return c - 32 if 97 <= c <= 122 else c


@numba.njit(cache=True)
def _starts(h: np.ndarray, n: int, lit: bytes, upper: bool) -> bool:
    if n < len(lit):
        return False
    for i in range(len(lit)):
        c = _upper(h[i]) if upper else h[i]
        if c != lit[i]:
            return False
    return True


@numba.njit(cache=True)
def _is_http_request(h: np.ndarray, n: int) -> bool:
    return (
        _starts(h, n, b"GET ", False) or _starts(h, n, b"POST ", False)
        or _starts(h, n, b"HEAD ", False) or _starts(h, n, b"PUT ", False)
        or _starts(h, n, b"DELETE ", False) or _starts(h, n, b"OPTIONS ", False)
        or _starts(h, n, b"CONNECT ", False) or _starts(h, n, b"TRACE ", False)
        or _starts(h, n, b"PATCH ", False) or _starts(h, n, b"PROPFIND ", False)
    )  # fmt: skip


@numba.njit(cache=True)
def _detect_app(h: np.ndarray, n: int, port_s: int, port_c: int, to_server: bool) -> int:
    """engine._detect_app on the first (up to 64) stream bytes; codes of fasttables.APP_CODES."""
    if n == 0:
        return 0
    if to_server and _is_http_request(h, n):
        return 1
    if not to_server and _starts(h, n, b"HTTP/", True):
        return 1
    if n >= 5 and (h[0] & 0x80) != 0 and h[2] == 1 and (h[3] == 2 or h[3] == 3):
        return 2
    if n >= 3 and 0x14 <= h[0] <= 0x17 and h[1] == 3 and h[2] <= 4:
        return 2
    if _starts(h, n, b"SSH-", False):
        return 3
    if port_s == 53 or port_c == 53:
        return 4
    if not to_server and (_starts(h, n, b"220 ", False) or _starts(h, n, b"220-", False)):
        if port_s == 21 or port_c == 21:
            return 5
        return 6
    if to_server and (_starts(h, n, b"EHLO ", True) or _starts(h, n, b"HELO ", True)):
        return 6
    if to_server and _starts(h, n, b"USER ", True):
        return 5
    return 0


@numba.njit(cache=True)
def _checks_ok(
    chk_ptr: np.ndarray, chk: np.ndarray, s: int, proto: int, ver: int, plen: int, ttl: int,
    itype: int, icode: int, flags: int, win: int, seq: int, ack: int, ipid: int,
) -> bool:  # fmt: skip
    for c in range(chk_ptr[s], chk_ptr[s + 1]):
        kind, op, a, b = chk[c, 0], chk[c, 1], chk[c, 2], chk[c, 3]
        if kind == 1:  # dsize: "!N" and ">=N" also need a payload (Suricata's sig mask)
            ok = _in_range(op, a, b, plen) and (plen > 0 or (op != 1 and op != 5))
        elif kind == 2:
            ok = _in_range(op, a, b, ttl)
        elif kind == 3:
            ok = (proto == 1 or proto == 58) and _in_range(op, a, b, itype)
        elif kind == 4:
            ok = (proto == 1 or proto == 58) and _in_range(op, a, b, icode)
        elif kind == 5:
            if proto != 6:
                return False
            f = flags & 0xFF & ~b
            if op == 0:
                ok = f == a
            elif op == 1:
                ok = (f & a) == a
            elif op == 2:
                ok = (f & a) != 0 if a else f == 0
            else:
                ok = (f & a) == 0
        elif kind == 6:
            ok = proto == 6 and _in_range(op, a, b, win)
        elif kind == 7:
            ok = proto == 6 and _in_range(op, a, b, seq)
        elif kind == 8:
            ok = proto == 6 and _in_range(op, a, b, ack)
        else:
            ok = ver == 4 and _in_range(op, a, b, ipid)
        if not ok:
            return False
    return True


@numba.njit(cache=True)
def _lookup(
    g: np.ndarray, slots: np.ndarray, state: np.ndarray, proto: int, x_hi: np.uint64,
    x_lo: np.uint64, y_hi: np.uint64, y_lo: np.uint64, px: int, py: int, xid: int,
) -> tuple[int, bool]:  # fmt: skip
    h = _mix(np.uint64(proto), x_hi)
    h = _mix(h, x_lo)
    h = _mix(h, y_hi)
    h = _mix(h, y_lo)
    h = _mix(h, np.uint64(px * 65536 + py))
    h = _mix(h, np.uint64(xid))
    mask = np.uint64(len(slots) - 1)
    i = h & mask
    while True:
        j = slots[i]
        if j < 0:
            k = state[0]
            state[0] = k + 1
            slots[i] = k
            r = g[k]
            r.kproto = proto
            r.kx_hi = x_hi
            r.kx_lo = x_lo
            r.ky_hi = y_hi
            r.ky_lo = y_lo
            r.kpx = px
            r.kpy = py
            r.kxid = xid
            return k, True
        r = g[j]
        if (
            r.kproto == proto and r.kx_hi == x_hi and r.kx_lo == x_lo and r.ky_hi == y_hi
            and r.ky_lo == y_lo and r.kpx == px and r.kpy == py and r.kxid == xid
        ):  # fmt: skip
            return j, False
        i = (i + np.uint64(1)) & mask


@numba.njit(cache=True, inline="always")
def _note_hit(
    pid: int,
    gi: int,
    side: int,
    py_ptr: np.ndarray,
    pyh: np.ndarray,
    n_py: int,
    f_ptr: np.ndarray,
    f_own: np.ndarray,
    cand: np.ndarray,
    nc: int,
) -> tuple[np.ndarray, int, np.ndarray, int]:
    """Pattern `pid` occurs in this packet (first time): hand its Python-tier rules' flow to
    the Python engine (a row of `pyh`) and add its fast-tier rules to the candidates."""
    if py_ptr[pid + 1] > py_ptr[pid]:
        pyh = _grow_i8(pyh, n_py)
        pyh[n_py, 0] = gi
        pyh[n_py, 1] = side
        pyh[n_py, 2] = pid
        n_py += 1
    for q in range(f_ptr[pid], f_ptr[pid + 1]):
        cand = _grow_i8(cand, nc)
        cand[nc] = f_own[q]
        nc += 1
    return pyh, n_py, cand, nc


@numba.njit(cache=True)
def _grow_i8(a: np.ndarray, n: int) -> np.ndarray:
    if n < a.shape[0]:
        return a
    b = np.empty((a.shape[0] * 2,) + a.shape[1:], a.dtype)
    b[: a.shape[0]] = a
    return b


@numba.njit(cache=True)
def _scan(
    dbp: int, scr: int, handler: int, ptrs: np.ndarray, lens: np.ndarray, nvec: int,
    buf: np.ndarray,
) -> bool:  # fmt: skip
    buf[0] = 0
    buf[2] = 0
    _SCAN(
        np.uint64(dbp), np.uint64(ptrs.ctypes.data), np.uint64(lens.ctypes.data), np.uint32(nvec),
        np.uint32(0), np.uint64(scr), np.uint64(handler), np.uint64(buf.ctypes.data),
    )  # fmt: skip
    return bool(buf[2] == 0)


@numba.njit(cache=True)
def _scan_chunk(
    pk: np.ndarray, data: np.ndarray, frame_base: int, g: np.ndarray, slots: np.ndarray,
    state: np.ndarray, head: np.ndarray, tail: np.ndarray, taillen: np.ndarray,
    tl_max: int, dbp: int, scr: int, handler: int, mbuf: np.ndarray,
    pat_len: np.ndarray, f_ptr: np.ndarray, f_own: np.ndarray, py_ptr: np.ndarray,
    sig_flow: np.ndarray, s_only: np.ndarray, p_only: np.ndarray, sig_pid: np.ndarray,
    nocontent: np.ndarray, t_proto: np.ndarray, t_ipver: np.ndarray, a_ptr: np.ndarray,
    a_any: np.ndarray, ranges: np.ndarray, p_ptr: np.ndarray, p_any: np.ndarray,
    pranges: np.ndarray, port_rule: np.ndarray, bidir: np.ndarray, chk_ptr: np.ndarray,
    chk: np.ndarray, row_group: np.ndarray, row_frame: np.ndarray, row_special: np.ndarray,
    al: np.ndarray, pyh: np.ndarray, counts: np.ndarray, occ_keys: np.ndarray,
    occ_cnt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """One chunk, file order.  counts: [alerts, python-tier hits, frames, packets scanned,
    payload bytes scanned, (stream side, pattern) occurrence counters]."""
    n = pk.shape[0]
    npat = pat_len.shape[0]
    stamp_new = np.full(max(npat, 1), -1, np.int64)
    stamp_pkt = np.full(max(npat, 1), -1, np.int64)
    stamp_py = np.full(max(npat, 1), -1, np.int64)
    n_new = np.zeros(max(npat, 1), np.int64)
    newpids = np.empty(64, np.int64)
    nn = 0
    cand = np.empty(64, np.int64)
    ptrs = np.zeros(2, np.uint64)
    lens = np.zeros(2, np.uint32)
    tmp = np.empty(tl_max + 1, np.uint8)
    base = data.ctypes.data
    n_al = counts[0]
    n_py = counts[1]
    frame = frame_base
    pktno = 0
    i = 0
    while i < n:
        off = pk[i]["data_off"]
        j = i
        while j + 1 < n and pk[j + 1]["data_off"] == off:
            j += 1
        frame += 1
        special = j > i
        for r in range(i, j + 1):
            row_frame[r] = frame
            rw = pk[r]
            if rw["ip_version"] == 0 and rw["ethertype"] == 0x0806 and j == i:
                continue  # ARP
            pr = rw["proto"]
            plen_hdr = np.int64(rw["payload_len"])
            room = np.int64(rw["caplen"]) - np.int64(rw["payload_off"])
            if (
                rw["tunnel_depth"] > 0 or (rw["frag"] & 1) != 0 or rw["reasm"] != 0
                or rw["ip_version"] == 0 or rw["l4_off"] == 0
                or not (pr == 6 or pr == 17 or pr == 1 or pr == 58)
                or plen_hdr > room or rw["csum_bad"] != 0
                or (pr == 17 and (rw["dport"] == 4789 or rw["dport"] == 6081))
            ):  # fmt: skip
                special = True
        for r in range(i, j + 1):
            row_special[r] = special
        rlo = i
        i = j + 1
        counts[2] += 1
        for r in range(rlo, j + 1):
            rw = pk[r]
            if rw["ip_version"] == 0 and rw["ethertype"] == 0x0806 and rlo == j:
                # ARP: the Python decoder yields no packet for it, nothing to feed or track
                row_group[r] = -1
                row_special[r] = False
                continue
            pr = int(rw["proto"])
            ver = int(rw["ip_version"])
            s_hi, s_lo, d_hi, d_lo = rw["src_hi"], rw["src_lo"], rw["dst_hi"], rw["dst_lo"]
            tcpudp = pr == 6 or pr == 17
            sp = int(rw["sport"]) if tcpudp else 0
            dp = int(rw["dport"]) if tcpudp else 0
            fo = np.int64(off) + np.int64(rw["l4_off"])
            xid = 0
            if (pr == 1 or pr == 58) and rw["l4_off"] > 0 and fo + 8 <= off + rw["caplen"]:
                it = int(rw["sport"])
                echo = (
                    (it in (0, 8, 13, 14, 15, 16, 17, 18)) if pr == 1 else (it == 128 or it == 129)
                )
                if echo:
                    xid = int(data[fo + 4]) * 256 + int(data[fo + 5])
            if (s_hi, s_lo, sp) <= (d_hi, d_lo, dp):
                gi, new = _lookup(g, slots, state, pr, s_hi, s_lo, d_hi, d_lo, sp, dp, xid)
            else:
                gi, new = _lookup(g, slots, state, pr, d_hi, d_lo, s_hi, s_lo, dp, sp, xid)
            row_group[r] = gi
            gr = g[gi]
            if new:
                gr.a_hi, gr.a_lo, gr.b_hi, gr.b_lo = s_hi, s_lo, d_hi, d_lo
                gr.pa, gr.pb = sp, dp
                gr.ver = ver
                gr.first_frame = frame
                gr.client = 1 if (pr == 6 and (rw["tcp_flags"] & 0x12) == 0x12) else 0
                gr.isn0 = -1
                gr.isn1 = -1
                mn = (s_hi, s_lo) if (s_hi, s_lo) <= (d_hi, d_lo) else (d_hi, d_lo)
                mx = (d_hi, d_lo) if (s_hi, s_lo) <= (d_hi, d_lo) else (s_hi, s_lo)
                ph = _mix(_mix(_mix(_mix(np.uint64(pr), mn[0]), mn[1]), mx[0]), mx[1])
                gr.pair = ph
                if pr == 17 and (sp == 53 or dp == 53):
                    gr.app = 4
                    gr.appmask |= 1 << 4
            if special:
                gr.route = 1
            if gr.route:
                continue
            side = 0 if (s_hi == gr.a_hi and s_lo == gr.a_lo and sp == gr.pa) else 1
            d = 0 if side == gr.client else 1
            to_server = d == 0
            gr.seen |= 1 << d
            pktno += 1
            plen = int(rw["payload_len"])
            pay = base + np.uint64(off) + np.uint64(rw["payload_off"])
            flags = int(rw["tcp_flags"])
            rst = (flags & 4) != 0
            # ---- TCP state and stream (Engine._tcp / TcpStream.add)
            est_before = gr.est  # flow:established judges the state the packet found
            has_stream = False
            new_lo = 0  # first payload byte that is new stream data
            new_n = 0
            if pr == 6:
                syn, ackf = (flags & 2) != 0, (flags & 16) != 0
                st = gr.state
                if syn and not ackf:
                    if st == 4:
                        gr.route = 2  # a new SYN on a closed 5-tuple starts a new flow
                        continue
                    if (st == 0 or st == 1) and d == 0:
                        gr.isn0 = rw["seq"]
                        gr.isn_set |= 1
                        gr.state = 1
                    elif st == 1 and d == 1:
                        gr.isn1 = rw["seq"]
                        gr.isn_set |= 2
                        gr.state = 7
                elif syn and ackf:
                    if (st == 1 and d == 1) or st == 0:
                        if d == 0:
                            gr.isn0 = rw["seq"]
                        else:
                            gr.isn1 = rw["seq"]
                        gr.isn_set |= 1 << d
                        gr.state = 2
                    elif st == 7 and d == 0:
                        gr.state = 8
                elif (st == 2 and ackf and d == 0) or (st == 8 and ackf and d == 1):
                    gr.state = 3
                    gr.est = 1
                has_stream = (gr.isn_set & (1 << d)) != 0 and gr.state >= 1
                if rst:
                    if gr.state >= 1:
                        gr.state = 4
                elif plen > 0 and has_stream:
                    st = gr.state
                    if not (st == 0 or st == 7 or st == 8 or (st == 1 and not (syn and d == 0))):
                        isn = gr.isn0 if d == 0 else gr.isn1
                        seq = (np.int64(rw["seq"]) + (1 if syn else 0)) & 0xFFFFFFFF
                        rel = (seq - isn - 1) & 0xFFFFFFFF
                        if rel > 0x7FFFFFFF:
                            rel -= 0x100000000
                        cur = gr.len0 if d == 0 else gr.len1
                        if cur >= _DEPTH:
                            pass  # past the reassembly depth nothing new enters the stream
                        elif rel > cur:
                            gr.route = 3  # out of order: TcpStream's queue decides
                            continue
                        elif cur - rel < plen:
                            new_lo = cur - rel
                            new_n = min(plen - new_lo, _DEPTH - cur)
                            if d == 0:
                                gr.len0 = cur + new_n
                            else:
                                gr.len1 = cur + new_n
            elif pr == 17:
                if gr.seen == 3:
                    gr.est = 1
            elif gr.seen == 3:
                gr.est = 1
            # the ACK completing the handshake is not established yet unless it carries
            # data (Suricata: flow.c judges the state before the stream engine's update)
            pkt_est = est_before != 0 or (gr.est != 0 and (pr != 6 or plen > 0))
            hb = gi * 2 + d
            if new_n > 0:
                # protocol detection on the side's first 64 bytes
                hl = taillen[hb, 1]
                if hl < 64:
                    c = min(64 - hl, new_n)
                    for q in range(c):
                        head[hb, hl + q] = data[
                            np.int64(off) + np.int64(rw["payload_off"]) + new_lo + q
                        ]
                    taillen[hb, 1] = hl + c
                appd = gr.app0 if d == 0 else gr.app1
                if appd == 0:
                    port_s = gr.pb if gr.client == 0 else gr.pa
                    port_c = gr.pa if gr.client == 0 else gr.pb
                    appd = _detect_app(head[hb], taillen[hb, 1], port_s, port_c, to_server)
                    if appd != 0:
                        if d == 0:
                            gr.app0 = appd
                        else:
                            gr.app1 = appd
                        gr.appmask |= 1 << appd
                        if gr.app == 0:
                            gr.app = appd
            # ---- hyperscan: new stream bytes behind the stream's last bytes, else the payload
            tln = taillen[hb, 0]
            nv = 0
            overflow = False
            if dbp == 0:
                pass
            elif new_n > 0:
                ptrs[0] = tail[hb].ctypes.data
                lens[0] = tln
                ptrs[1] = pay + np.uint64(new_lo)
                lens[1] = new_n
                overflow = not _scan(dbp, scr, handler, ptrs, lens, 2, mbuf)
                nv = 1
                counts[4] += new_n
            elif plen > 0:
                ptrs[0] = pay
                lens[0] = plen
                overflow = not _scan(dbp, scr, handler, ptrs, lens, 1, mbuf)
                nv = 2
                counts[4] += plen
            if overflow:
                gr.route = 5
                continue
            counts[3] += 1
            nc = 0
            if nv != 0:
                nm = mbuf[0]
                for k in range(nm):
                    pid = mbuf[3 + 2 * k]
                    end = mbuf[4 + 2 * k]
                    if nv == 1:
                        if end > tln:
                            if stamp_new[pid] != pktno:
                                stamp_new[pid] = pktno
                                n_new[pid] = 0
                                if nn == newpids.shape[0]:
                                    np2 = np.empty(nn * 2, np.int64)
                                    np2[:nn] = newpids
                                    newpids = np2
                                newpids[nn] = pid
                                nn += 1
                            n_new[pid] += 1
                        if new_lo == 0 and end - pat_len[pid] >= tln:
                            stamp_pkt[pid] = pktno
                    else:
                        stamp_pkt[pid] = pktno
                    if stamp_py[pid] != pktno:
                        stamp_py[pid] = pktno
                        pyh, n_py, cand, nc = _note_hit(
                            pid, gi, side, py_ptr, pyh, n_py, f_ptr, f_own, cand, nc
                        )
                if nn > 0:
                    # Engine._payload_match counts a pattern's earlier occurrences in the stream
                    # (up to 1000, within 64 KiB): 1000 of them hide a new one
                    n0 = (gr.len0 if d == 0 else gr.len1) - new_n
                    if 2 * (counts[5] + nn) >= occ_keys.shape[0]:
                        occ_keys, occ_cnt = _occ_grow(occ_keys, occ_cnt, 4 * (counts[5] + nn))
                    busy = False
                    for q in range(nn):
                        pid = newpids[q]
                        before = _occ_add(occ_keys, occ_cnt, hb * npat + pid, n_new[pid], counts)
                        if before >= _COUNT_CAP:
                            if n0 > _LOOKBACK:
                                busy = True  # the 64 KiB window decides: Python engine
                                break
                            stamp_new[pid] = -2
                    nn = 0
                    if busy:
                        gr.route = 6
                        continue
                if nv == 1 and new_n < plen:
                    # part of the payload was old stream data: packet-only rules see it all
                    ptrs[0] = pay
                    lens[0] = plen
                    if not _scan(dbp, scr, handler, ptrs, lens, 1, mbuf):
                        gr.route = 7
                        continue
                    for k in range(mbuf[0]):
                        pid = mbuf[3 + 2 * k]
                        stamp_pkt[pid] = pktno
                        if stamp_py[pid] != pktno:
                            stamp_py[pid] = pktno
                            pyh, n_py, cand, nc = _note_hit(
                                pid, gi, side, py_ptr, pyh, n_py, f_ptr, f_own, cand, nc
                            )
            # the stream's last bytes, for matches that span the next segment
            if new_n > 0 and tl_max > 0:
                src0 = np.int64(off) + np.int64(rw["payload_off"]) + new_lo
                if new_n >= tl_max:
                    for q in range(tl_max):
                        tail[hb, q] = data[src0 + new_n - tl_max + q]
                    taillen[hb, 0] = tl_max
                else:
                    keep = min(tln, tl_max - new_n)
                    for q in range(keep):
                        tmp[q] = tail[hb, tln - keep + q]
                    for q in range(keep):
                        tail[hb, q] = tmp[q]
                    for q in range(new_n):
                        tail[hb, keep + q] = data[src0 + q]
                    taillen[hb, 0] = keep + new_n
            # ---- fast-tier sigs on this packet
            for q in range(nocontent.shape[0]):
                cand = _grow_i8(cand, nc)
                cand[nc] = nocontent[q]
                nc += 1
            if nc == 0:
                continue
            cs = np.sort(cand[:nc])
            prev = -1
            for q in range(nc):
                s = cs[q]
                if s == prev:
                    continue
                prev = s
                if not _header_ok(
                    t_proto,
                    t_ipver,
                    a_ptr,
                    a_any,
                    ranges,
                    p_ptr,
                    p_any,
                    pranges,
                    port_rule,
                    bidir,
                    s,
                    pr,
                    ver,
                    s_hi,
                    s_lo,
                    d_hi,
                    d_lo,
                    sp,
                    dp,
                ):
                    continue  # fmt: skip
                fl = sig_flow[s]
                if (fl & 1) and not to_server:
                    continue
                if (fl & 2) and to_server:
                    continue
                if (fl & 4) and not pkt_est:
                    continue
                if (fl & 8) and pkt_est:
                    continue
                if not _checks_ok(
                    chk_ptr,
                    chk,
                    s,
                    pr,
                    ver,
                    plen,
                    int(rw["ttl"]),
                    int(rw["sport"]),
                    int(rw["dport"]),
                    flags,
                    int(rw["win"]),
                    int(rw["seq"]),
                    int(rw["ack"]),
                    int(rw["ip_id"]),
                ):
                    continue  # fmt: skip
                pid = sig_pid[s]
                if pid >= 0:
                    if pr == 6 and not p_only[s] and has_stream:
                        if new_n == 0:
                            if not (not s_only[s] and plen > 0 and rst and stamp_pkt[pid] == pktno):
                                continue
                        elif stamp_new[pid] != pktno:
                            continue
                    else:
                        if s_only[s] or plen == 0 or stamp_pkt[pid] != pktno:
                            continue
                al = _grow_i8(al, n_al)
                al[n_al, 0] = r
                al[n_al, 1] = s
                al[n_al, 2] = gi
                al[n_al, 3] = gr.app
                al[n_al, 4] = frame
                n_al += 1
    counts[0] = n_al
    counts[1] = n_py
    return al, pyh, occ_keys, occ_cnt


@numba.njit(cache=True)
def _slot(key: int, mask: np.int64) -> np.int64:
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64((h >> np.uint64(17)) & np.uint64(mask))


@numba.njit(cache=True)
def _occ_add(keys: np.ndarray, cnt: np.ndarray, key: int, add: int, counts: np.ndarray) -> int:
    """Add `add` to the counter of `key` (open addressing); returns the count before."""
    mask = np.int64(keys.shape[0] - 1)
    i = _slot(key, mask)
    while True:
        k = keys[i]
        if k == key:
            before = cnt[i]
            cnt[i] = before + add
            return int(before)
        if k < 0:
            keys[i] = key
            cnt[i] = add
            counts[5] += 1
            return 0
        i = (i + np.int64(1)) & mask


@numba.njit(cache=True)
def _occ_grow(keys: np.ndarray, cnt: np.ndarray, want: int) -> tuple[np.ndarray, np.ndarray]:
    size = np.int64(keys.shape[0])
    while size < want:
        size = size * 2
    nk = np.full(size, -1, np.int64)
    nc = np.zeros(size, np.int64)
    mask = np.int64(size - 1)
    for j in range(keys.shape[0]):
        key = keys[j]
        if key < 0:
            continue
        i = _slot(key, mask)
        while nk[i] >= 0:
            i = (i + np.int64(1)) & mask
        nk[i] = key
        nc[i] = cnt[j]
    return nk, nc


@numba.njit(cache=True, inline="always")
def _group_header_ok(
    t_proto: np.ndarray, t_ipver: np.ndarray, a_ptr: np.ndarray, a_any: np.ndarray,
    ranges: np.ndarray, p_ptr: np.ndarray, p_any: np.ndarray, pranges: np.ndarray,
    port_rule: np.ndarray, bidir: np.ndarray, s: int, gr: Any, reverse: bool,
) -> bool:  # fmt: skip
    """_header_ok on a flow group's tuple, a -> b or (reverse) b -> a: one place swaps the sides."""
    if reverse:
        return _header_ok(t_proto, t_ipver, a_ptr, a_any, ranges, p_ptr, p_any, pranges,
                          port_rule, bidir, s, gr.kproto, gr.ver, gr.b_hi, gr.b_lo, gr.a_hi,
                          gr.a_lo, gr.pb, gr.pa)  # fmt: skip
    return _header_ok(t_proto, t_ipver, a_ptr, a_any, ranges, p_ptr, p_any, pranges,
                      port_rule, bidir, s, gr.kproto, gr.ver, gr.a_hi, gr.a_lo, gr.b_hi,
                      gr.b_lo, gr.pa, gr.pb)  # fmt: skip


@numba.njit(cache=True)
def _route_groups(
    g: np.ndarray, ng: int, pyh: np.ndarray, n_py: int, py_ptr: np.ndarray, py_own: np.ndarray,
    py_always: np.ndarray, tx_apps: int, tx_any: bool, head: np.ndarray, taillen: np.ndarray,
    t_proto: np.ndarray, t_ipver: np.ndarray, a_ptr: np.ndarray, a_any: np.ndarray,
    ranges: np.ndarray, p_ptr: np.ndarray, p_any: np.ndarray, pranges: np.ndarray,
    port_rule: np.ndarray, bidir: np.ndarray, frag_pairs: np.ndarray,
) -> None:  # fmt: skip
    """Mark the flows where a Python-tier rule could match (superset: header and pattern)."""
    for k in range(n_py):
        gi, side, pid = pyh[k, 0], pyh[k, 1], pyh[k, 2]
        gr = g[gi]
        if gr.route:
            continue
        for q in range(py_ptr[pid], py_ptr[pid + 1]):
            s = py_own[q]
            ok = _group_header_ok(t_proto, t_ipver, a_ptr, a_any, ranges, p_ptr, p_any, pranges,
                                  port_rule, bidir, s, gr, side != 0)  # fmt: skip
            if ok:
                gr.route = 8
                break
    fp = np.sort(frag_pairs)
    for gi in range(ng):
        gr = g[gi]
        if gr.route:
            continue
        if fp.shape[0] > 0:
            k = np.searchsorted(fp, gr.pair)
            if k < fp.shape[0] and fp[k] == gr.pair:
                gr.route = 9
                continue
        mask = gr.appmask
        # _flow_tx parses HTTP when the client's stream starts with a request line
        if gr.kproto == 6 and _is_http_request(head[gi * 2], taillen[gi * 2, 1]):
            mask |= 1 << 1
        if (mask & tx_apps) != 0 or (tx_any and gr.kproto in (6, 17)):
            gr.route = 10
            continue
        for q in range(py_always.shape[0]):
            s = py_always[q]
            ok = _group_header_ok(t_proto, t_ipver, a_ptr, a_any, ranges, p_ptr, p_any, pranges,
                                  port_rule, bidir, s, gr, False)  # fmt: skip
            if not ok:
                ok = _group_header_ok(t_proto, t_ipver, a_ptr, a_any, ranges, p_ptr, p_any,
                                      pranges, port_rule, bidir, s, gr, True)  # fmt: skip
            if ok:
                gr.route = 11
                break


@numba.njit(cache=True)
def _rehash(g: np.ndarray, ng: int, slots: np.ndarray) -> None:
    slots[:] = -1
    mask = np.uint64(len(slots) - 1)
    for k in range(ng):
        r = g[k]
        h = _mix(np.uint64(r.kproto), r.kx_hi)
        h = _mix(h, r.kx_lo)
        h = _mix(h, r.ky_hi)
        h = _mix(h, r.ky_lo)
        h = _mix(h, np.uint64(r.kpx * 65536 + r.kpy))
        h = _mix(h, np.uint64(r.kxid))
        i = h & mask
        while slots[i] >= 0:
            i = (i + np.uint64(1)) & mask
        slots[i] = k


def _grow(a: np.ndarray, rows: int, zero: bool = True) -> np.ndarray:
    if a.shape[0] >= rows:
        return a
    shape = (max(rows, a.shape[0] * 2),) + a.shape[1:]
    b = np.zeros(shape, a.dtype) if zero else np.empty(shape, a.dtype)
    b[: a.shape[0]] = a
    return b


def ng_now(state: np.ndarray) -> int:
    return int(state[0])


def _ip_bytes(ver: int, hi: int, lo: int) -> bytes:
    if ver == 4:
        return (lo & 0xFFFFFFFF).to_bytes(4, "big")
    return hi.to_bytes(8, "big") + lo.to_bytes(8, "big")


@dataclass
class FastStats:
    """What the fast tier did on one capture (for benchmarks and the differential test)."""

    frames: int = 0
    packets_scanned: int = 0
    payload_bytes: int = 0
    flows: int = 0
    flows_routed: int = 0
    frames_routed: int = 0
    alerts_fast: int = 0
    alerts_python: int = 0
    route_reasons: dict[str, int] = field(default_factory=dict)


_REASONS = {1: "special frame", 2: "new SYN on closed flow", 3: "out-of-order data",
            4: "stream depth", 5: "match buffer full", 6: "many matches", 7: "match buffer full",
            8: "python-tier pattern", 9: "fragment pair", 10: "app-layer rules",
            11: "python-tier rule without pattern"}  # fmt: skip


class FastRun:
    """A rule set prepared for the fast tier (tables + hyperscan database), reusable per capture."""

    def __init__(self, sigs: list[Sig], prefilter: Prefilter | None = None) -> None:
        with paused_gc():
            # the engine's evaluation order (Engine.__init__); kernel sig ids index this list
            self.sigs = sorted(sigs, key=_sig_order)
            self.t: FastTables = build_tables(self.sigs, [_is_tx_sig(s) for s in self.sigs])
        self.prefilter = prefilter
        self.db = hs.HsDatabase(self.t.patterns) if self.t.patterns else None
        self.tl = max(self.t.max_pat - 1, 0)
        self.stats = FastStats()

    def run(self, pcap: str, checksum: str = "auto") -> tuple[list[Alert], Engine]:
        t = self.t
        st = FastStats()
        cap = 1 << 12
        g = np.zeros(cap, GROUP_DTYPE)
        slots = np.full(cap * 2, -1, np.int64)
        state = np.zeros(1, np.int64)
        head = np.zeros((cap * 2, 64), np.uint8)
        tail = np.zeros((cap * 2, max(self.tl, 1)), np.uint8)
        taillen = np.zeros((cap * 2, 2), np.int64)
        mbuf = hs.new_match_buffer(_MATCH_CAP)
        al = np.zeros((1024, 5), np.int64)
        pyh = np.zeros((1024, 3), np.int64)
        counts = np.zeros(6, np.int64)
        occ_keys = np.full(1 << 16, -1, np.int64)
        occ_cnt = np.zeros(1 << 16, np.int64)
        dbp = self.db.db.value if self.db is not None else 0
        scr = self.db.scratch.value if self.db is not None else 0
        per_chunk: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        fast_rows: list[np.ndarray] = []
        frag_pairs: list[np.ndarray] = [np.zeros(0, np.uint64)]
        head_frames: list[tuple[bytes, int, float]] = []
        saved: dict[int, tuple[bytes, int, float, int]] = {}
        saved_bytes = 0
        frame_base = 0
        capture_gaps: list[Gap] = []  # damage the reader found (truncation, garbage)
        for chunk in iter_chunks(pcap):
            capture_gaps.extend(chunk.gaps)
            pk = chunk.packets
            n = len(pk)
            need = int(state[0]) + n + 1
            if need > g.shape[0]:
                g = _grow(g, need)
                head = _grow(head, 2 * g.shape[0], zero=False)  # read only below their lengths
                tail = _grow(tail, 2 * g.shape[0], zero=False)
                taillen = _grow(taillen, 2 * g.shape[0])
            if len(slots) < 2 * need:
                size = 1 << int(2 * need - 1).bit_length()
                slots = np.full(size, -1, np.int64)
                _rehash(g, int(state[0]), slots)
            row_group = np.empty(n, np.int64)
            row_frame = np.empty(n, np.int64)
            row_special = np.empty(n, np.bool_)
            n_al0 = int(counts[0])
            al, pyh, occ_keys, occ_cnt = _scan_chunk(
                pk, chunk.data, frame_base, g, slots, state, head, tail, taillen, self.tl,
                dbp, scr, hs.MATCH_HANDLER, mbuf, t.pat_len, t.fast_own_ptr, t.fast_own,
                t.py_own_ptr, t.sig_flow, t.sig_stream_only, t.sig_packet_only, t.sig_pid,
                t.nocontent_fast, t.proto_mask, t.ipver, t.addr_ptr, t.addr_any, t.ranges,
                t.port_ptr, t.port_any, t.port_ranges, t.port_rule, t.bidir, t.chk_ptr, t.chk,
                row_group, row_frame, row_special, al, pyh, counts, occ_keys, occ_cnt,
            )  # fmt: skip
            if len(head_frames) < 1000:
                head_frames.extend(itertools.islice(_frames(chunk, None), 1000 - len(head_frames)))
            got = al[n_al0 : int(counts[0])]
            if len(got):
                rows = pk[got[:, 0]]
                fast_rows.append(_alert_rows(rows, got))
            frags = (pk["frag"] & 1) != 0
            if frags.any():
                frag_pairs.append(g["pair"][row_group[frags]])
            per_chunk.append((row_group, row_frame, row_special))
            # keep the frames the Python engine will need for sure (special frames, flows already
            # routed) so pass 2 re-reads the capture only for flows routed after their chunk
            if saved_bytes < _SAVE_LIMIT:
                now = row_special | np.append(g["route"][: ng_now(state)] != 0, False)[row_group]
                if now.any():
                    for fr in _frames_at(chunk, row_frame, np.unique(row_frame[now])):
                        saved[fr[3]] = fr
                        saved_bytes += len(fr[0])
            frame_base = int(row_frame[-1]) if n else frame_base
        ng = int(state[0])
        _route_groups(
            g, ng, pyh, int(counts[1]), t.py_own_ptr, t.py_own, t.py_always, int(t.tx_apps),
            t.tx_any_app, head, taillen, t.proto_mask, t.ipver, t.addr_ptr, t.addr_any, t.ranges,
            t.port_ptr, t.port_any, t.port_ranges, t.port_rule, t.bidir,
            np.concatenate(frag_pairs),
        )  # fmt: skip
        why = g["route"][:ng]
        routed = why.astype(bool)
        st.route_reasons = {
            _REASONS[k]: int(v)
            for k, v in zip(*np.unique(why[routed], return_counts=True), strict=True)
        }
        st.frames = frame_base
        st.packets_scanned = int(counts[3])
        st.payload_bytes = int(counts[4])
        st.flows = ng
        st.flows_routed = int(routed.sum())
        # pass 2: the Python engine on the routed flows only
        routed_x = np.append(routed, False)  # row_group -1: a row no flow tracks (ARP)
        wanted = [rs | routed_x[rg] for rg, _rf, rs in per_chunk]
        wanted_any = any(w.any() for w in wanted)
        if wanted_any and self.prefilter is None:
            # the Python engine's own prefilter, built only when some flow needs that engine
            self.prefilter = Prefilter.build(self.sigs)
        eng = Engine(self.sigs, self.prefilter, checksum=checksum)
        eng.source = str(pcap)
        eng.gaps.extend(capture_gaps)
        eng.sample_checksums(head_frames)
        need_frames = [
            np.unique(rf[w]) for (_rg, rf, _rs), w in zip(per_chunk, wanted, strict=True)
        ]
        all_need = np.concatenate(need_frames).tolist() if need_frames else []
        if all(f in saved for f in all_need):
            for fno in all_need:  # chunk by chunk, each sorted: file order
                frame, lt, ts, idx = saved[fno]
                eng.feed(frame, lt, ts, index=idx)
                st.frames_routed += 1
        else:
            chunks = iter_chunks(pcap)
            for chunk, (_rg, rf, _rs), frames_w in zip(
                chunks, per_chunk, need_frames, strict=False
            ):
                if not len(frames_w):
                    continue
                for frame, lt, ts, idx in _frames_at(chunk, rf, frames_w):
                    eng.feed(frame, lt, ts, index=idx)
                    st.frames_routed += 1
        py_alerts = eng.finish()
        fast = np.concatenate(fast_rows) if fast_rows else np.zeros(0, _ALERT_ROW)
        fast = fast[~routed[fast["group"]]] if len(fast) else fast
        fast["first"] = g["first_frame"][fast["group"]]
        fast = fast[np.lexsort((fast["frame"], fast["ts"]))]
        mine = self._alerts(fast)
        out = list(heapq.merge(py_alerts, mine, key=lambda a: (a.ts, a.pcap_cnt)))
        st.alerts_python = len(py_alerts)
        st.alerts_fast = len(fast)
        self.stats = st
        eng.alerts = out
        return out, eng

    def _alerts(self, fast: np.ndarray) -> list[Alert]:
        """Alert objects for the kernel's rows: columns computed with numpy, addresses turned
        into bytes once per distinct address, then one constructor call per alert."""
        n = len(fast)
        if not n:
            return []
        ver = np.concatenate([fast["ver"], fast["ver"]]).astype(np.uint64)
        hi = np.concatenate([fast["s_hi"], fast["d_hi"]])
        lo = np.concatenate([fast["s_lo"], fast["d_lo"]])
        order = np.lexsort((lo, hi, ver))
        new = np.ones(2 * n, bool)
        new[1:] = (np.diff(ver[order]) != 0) | (np.diff(hi[order]) != 0) | (np.diff(lo[order]) != 0)
        first = order[new]
        inv = np.empty(2 * n, np.int64)
        inv[order] = np.cumsum(new) - 1
        ub = [_ip_bytes(int(v), int(h), int(x)) for v, h, x in
              zip(ver[first].tolist(), hi[first].tolist(), lo[first].tolist(), strict=True)]  # fmt: skip
        srcs = [ub[i] for i in inv[:n].tolist()]
        dsts = [ub[i] for i in inv[n:].tolist()]
        icmp = (fast["proto"] == 1) | (fast["proto"] == 58)
        zero = np.zeros(n, np.int64)
        minus = np.full(n, -1, np.int64)
        names = [APP_NAMES.get(k) for k in range(max(APP_NAMES) + 1)]
        sigs = self.sigs
        with paused_gc():
            return list(
                map(
                    Alert,
                    (fast["ts"] / 1e9).tolist(),  # the float int(ns) / 1e9 gives
                    [sigs[i] for i in fast["sig"].tolist()],
                    srcs,
                    dsts,
                    np.where(icmp, zero, fast["sp"]).tolist(),
                    np.where(icmp, zero, fast["dp"]).tolist(),
                    fast["proto"].tolist(),
                    (fast["first"] * 8).tolist(),
                    fast["frame"].tolist(),
                    np.where(icmp, fast["sp"], minus).tolist(),
                    np.where(icmp, fast["dp"], minus).tolist(),
                    [names[k] for k in fast["app"].tolist()],
                )
            )


_ALERT_ROW = np.dtype(
    [("ts", "i8"), ("ver", "i8"), ("s_hi", "u8"), ("s_lo", "u8"), ("d_hi", "u8"), ("d_lo", "u8"),
     ("sp", "i8"), ("dp", "i8"), ("proto", "i8"), ("sig", "i8"), ("group", "i8"), ("app", "i8"),
     ("frame", "i8"), ("first", "i8")]
)  # fmt: skip


def _alert_rows(rows: np.ndarray, got: np.ndarray) -> np.ndarray:
    out = np.zeros(len(got), _ALERT_ROW)
    out["ts"] = rows["ts"]
    out["ver"] = rows["ip_version"]
    for k in ("src_hi", "src_lo", "dst_hi", "dst_lo"):
        out[k[0] + "_" + k.split("_")[1]] = rows[k]
    out["sp"] = rows["sport"]
    out["dp"] = rows["dport"]
    out["proto"] = rows["proto"]
    out["sig"] = got[:, 1]
    out["group"] = got[:, 2]
    out["app"] = got[:, 3]
    out["frame"] = got[:, 4]
    return out


def _frames(chunk: object, limit: int | None) -> Iterator[tuple[bytes, int, float]]:
    pk = chunk.packets  # type: ignore[attr-defined]
    data = chunk.data  # type: ignore[attr-defined]
    seen = -1
    for i in range(len(pk) if limit is None else min(limit, len(pk))):
        off = int(pk["data_off"][i])
        if off == seen:
            continue
        seen = off
        cap = int(pk["caplen"][i])
        yield bytes(data[off : off + cap]), int(pk["linktype"][i]), int(pk["ts"][i]) / 1e9


def _frames_at(
    chunk: object, row_frame: np.ndarray, frames: np.ndarray
) -> Iterator[tuple[bytes, int, float, int]]:
    """The frames numbered `frames` (sorted) of a chunk: bytes, linktype, ts, frame number."""
    pk = chunk.packets  # type: ignore[attr-defined]
    data = chunk.data  # type: ignore[attr-defined]
    first = np.searchsorted(row_frame, frames)  # row_frame is non-decreasing
    for r, fno in zip(first.tolist(), frames.tolist(), strict=True):
        off = int(pk["data_off"][r])
        cap = int(pk["caplen"][r])
        yield bytes(data[off : off + cap]), int(pk["linktype"][r]), int(pk["ts"][r]) / 1e9, fno


def run_fast(
    pcap: str, sigs: list[Sig], prefilter: Prefilter | None = None, checksum: str = "auto"
) -> tuple[list[Alert], Engine, FastStats]:
    fr = FastRun(sigs, prefilter)
    alerts, eng = fr.run(pcap, checksum)
    return alerts, eng, fr.stats
