"""numba kernels of the links tables: one pass over a chunk's records (candidate rows with
remote-access payload markers, the senders, the IP-ID input), DHCP server fields, TLS SNI /
HTTP Host spans, TCP SYN option layouts; and the grouping of rows that finish() merges.

The parsers walk only the candidate rows they are given (UDP 67, SYNs, first
payload bytes), bounds-check every read against the captured length and
never raise on hostile bytes: a field that does not fit is left at 0.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from secaudit.detect._kernels import word_byte
from secaudit.flows._engine import prefetch

__all__ = [
    "MARK_OPENVPN",
    "MARK_SSH",
    "MARK_WIREGUARD",
    "chunk_scan",
    "dhcp_fields",
    "join_spans",
    "merge_counts",
    "name_spans",
    "row_codes",
    "syn_layouts",
]

MARK_SSH = 1
MARK_WIREGUARD = 2
MARK_OPENVPN = 3

NAME_SNI = 1
NAME_HOST = 2


@nb.njit(cache=True)
def dhcp_fields(
    idx: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    payload_off: np.ndarray,
    data: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(message type, server id, yiaddr, chaddr, router) of BOOTREPLY messages (RFC 2131/2132)."""
    n = idx.shape[0]
    mtype = np.zeros(n, np.uint8)
    server = np.zeros(n, np.uint32)
    yiaddr = np.zeros(n, np.uint32)
    chaddr = np.zeros(n, np.uint64)
    router = np.zeros(n, np.uint32)
    for r in range(n):
        i = idx[r]
        pos = data_off[i] + payload_off[i]
        end = data_off[i] + caplen[i]
        if pos + 240 > end or data[pos] != 2:  # op 2 = BOOTREPLY
            continue
        if not (
            data[pos + 236] == 99
            and data[pos + 237] == 130
            and data[pos + 238] == 83
            and data[pos + 239] == 99
        ):
            continue
        y = np.uint32(0)
        for k in range(4):
            y = (y << np.uint32(8)) | np.uint32(data[pos + 16 + k])
        yiaddr[r] = y
        if data[pos + 2] == 6:
            m = np.uint64(0)
            for k in range(6):
                m = (m << np.uint64(8)) | np.uint64(data[pos + 28 + k])
            chaddr[r] = m
        o = pos + 240
        while o < end:
            code = data[o]
            if code == 255:
                break
            if code == 0:
                o += 1
                continue
            if o + 1 >= end:
                break
            ln = np.int64(data[o + 1])
            v = o + 2
            if v + ln > end:
                break
            if code == 53 and ln >= 1:
                mtype[r] = data[v]
            elif (code == 54 or code == 3) and ln >= 4:
                a = np.uint32(0)
                for k in range(4):
                    a = (a << np.uint32(8)) | np.uint32(data[v + k])
                if code == 54:
                    server[r] = a
                else:
                    router[r] = a
            o = v + ln
    return mtype, server, yiaddr, chaddr, router


@nb.njit(cache=True)
def _sni(data: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """(start, length) of the first host_name in a TLS ClientHello record, (0, 0) if none."""
    # record header 5, handshake header 4, version 2, random 32
    if end - pos < 43 or data[pos] != 22 or data[pos + 5] != 1:
        return 0, 0
    o = pos + 43
    if o >= end:
        return 0, 0
    o += 1 + int(data[o])  # session id
    if o + 2 > end:
        return 0, 0
    o += 2 + ((int(data[o]) << 8) | int(data[o + 1]))  # cipher suites
    if o + 1 > end:
        return 0, 0
    o += 1 + int(data[o])  # compression methods
    if o + 2 > end:
        return 0, 0
    ext_end = min(end, o + 2 + ((int(data[o]) << 8) | int(data[o + 1])))
    o += 2
    while o + 4 <= ext_end:
        etype = (int(data[o]) << 8) | int(data[o + 1])
        elen = (int(data[o + 2]) << 8) | int(data[o + 3])
        v = o + 4
        if etype == 0 and v + 5 <= ext_end:
            # server_name_list length 2, name type 1, name length 2
            if data[v + 2] == 0:
                nlen = (int(data[v + 3]) << 8) | int(data[v + 4])
                if 0 < nlen <= 255 and v + 5 + nlen <= ext_end:
                    return v + 5, nlen
            return 0, 0
        o = v + elen
    return 0, 0


@nb.njit(cache=True)
def _host(data: np.ndarray, pos: int, end: int) -> tuple[int, int]:
    """(start, length) of the Host header value of an HTTP request, (0, 0) if none."""
    lim = min(end, pos + 4096)
    k = pos
    while k + 7 < lim:
        if data[k] == 13 and data[k + 1] == 10:
            if data[k + 2] == 13:
                return 0, 0  # end of headers
            c0, c1, c2, c3, c4 = data[k + 2], data[k + 3], data[k + 4], data[k + 5], data[k + 6]
            if (
                (c0 | 32) == 104
                and (c1 | 32) == 111
                and (c2 | 32) == 115
                and (c3 | 32) == 116
                and c4 == 58
            ):
                s = k + 7
                while s < lim and (data[s] == 32 or data[s] == 9):
                    s += 1
                e = s
                while e < lim and data[e] != 13 and data[e] != 10 and data[e] != 58:
                    e += 1  # stop at ':' to drop a port
                if e > s and e - s <= 255:
                    return s, e - s
                return 0, 0
        k += 1
    return 0, 0


@nb.njit(cache=True, inline="always")
def _is_method(w: np.uint64) -> bool:
    """An HTTP request line starts with an upper-case token then a space (GET, POST, CONNECT…),
    judged on the payload's first 8 bytes `w` (packets `head`; all 8 captured)."""
    k = 0
    while k < 8 and 65 <= word_byte(w, k) <= 90:
        k += 1
    return k > 2 and k < 8 and word_byte(w, k) == 32


@nb.njit(cache=True)
def name_spans(p: np.ndarray, idx: np.ndarray, data: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """(kind 1 SNI / 2 Host, start, length) of the server name in the TCP payload of each
    packet row `idx` of records `p`, 0 when none (the payload's first bytes, `head`, pick the
    parser); then the rows' (src_hi, src_lo, dst_hi, dst_lo, sport, dport), read from the
    records with their offsets (a gather per field reads each record again)."""
    n = idx.shape[0]
    kind = np.zeros(n, np.uint8)
    start = np.zeros(n, np.int64)
    length = np.zeros(n, np.int64)
    src_hi = np.empty(n, np.uint64)
    src_lo = np.empty(n, np.uint64)
    dst_hi = np.empty(n, np.uint64)
    dst_lo = np.empty(n, np.uint64)
    sport = np.empty(n, np.uint16)
    dport = np.empty(n, np.uint16)
    head = np.empty(n, np.uint64)
    # payload bounds in a loop of their own, asking for each payload (as syn_layouts): the
    # cache misses of the parsers overlap instead of stalling them one by one
    begin = np.empty(n, np.int64)
    stop = np.empty(n, np.int64)
    for r in range(n):
        q = p[idx[r]]
        src_hi[r], src_lo[r], dst_hi[r], dst_lo[r] = q.src_hi, q.src_lo, q.dst_hi, q.dst_lo
        sport[r], dport[r], head[r] = q.sport, q.dport, q.head
        begin[r] = q.data_off + q.payload_off
        stop[r] = q.data_off + min(np.int64(q.caplen), np.int64(q.payload_off) + q.payload_len)
        if stop[r] - begin[r] >= 8:
            prefetch(data, begin[r])  # type: ignore[call-arg]
    for r in range(n):
        pos = begin[r]
        end = stop[r]
        if end - pos < 8:
            continue
        w = head[r]
        b0 = word_byte(w, 0)
        if b0 == 22:
            s, ln = _sni(data, pos, end)
            if ln > 0:
                kind[r], start[r], length[r] = NAME_SNI, s, ln
        elif 65 <= b0 <= 90 and _is_method(w):
            s, ln = _host(data, pos, end)
            if ln > 0:
                kind[r], start[r], length[r] = NAME_HOST, s, ln
    return kind, start, length, (src_hi, src_lo, dst_hi, dst_lo, sport, dport)


@nb.njit(cache=True, inline="always")
def _marker(w: np.uint64, avail: int, tcp: bool, plen: int) -> int:
    """Remote-access handshake at the start of a payload (MARK_*, 0 none), recognised on
    any port: SSH banner, WireGuard handshake initiation, OpenVPN hard reset.  `w`: the
    payload's first 8 bytes (packets `head`), `avail` of them captured."""
    if avail < 4:
        return 0
    b0 = word_byte(w, 0)
    if tcp:
        if b0 == 83 and word_byte(w, 1) == 83 and word_byte(w, 2) == 72 and word_byte(w, 3) == 45:
            return MARK_SSH
        if avail >= 16 and word_byte(w, 2) == 0x38:
            # OpenVPN over TCP: 2-byte length, then P_CONTROL_HARD_RESET_CLIENT_V2
            ln = (np.int64(b0) << 8) | np.int64(word_byte(w, 1))
            if ln + 2 == plen:
                return MARK_OPENVPN
        return 0
    if b0 == 1 and (w & np.uint64(0xFFFFFF00)) == 0 and plen == 148:
        return MARK_WIREGUARD  # WireGuard handshake initiation: type 1, three zero bytes
    if (b0 == 0x38 or b0 == 0x50) and plen >= 14:
        return MARK_OPENVPN  # hard reset client v2 / v3, key id 0
    return 0


@nb.njit(cache=True)
def syn_layouts(p: np.ndarray, idx: np.ndarray, data: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """TCP option kinds of each SYN (rows `idx` of records `p`), in order, packed into a
    uint64 (p0f's 'olayout'); then the rows' (src_hi, src_lo, src_mac, ttl, win, wscale, ts),
    read with the header offsets (a gather per field reads each record again)."""
    n = idx.shape[0]
    out = np.zeros(n, np.uint64)
    src_hi = np.empty(n, np.uint64)
    src_lo = np.empty(n, np.uint64)
    src_mac = np.empty(n, np.uint64)
    ttl = np.empty(n, np.uint8)
    win = np.empty(n, np.uint16)
    wscale = np.empty(n, np.int8)
    ts = np.empty(n, np.int64)
    # header offsets and the data-offset byte in a loop of their own: no branch waits on a
    # load, so the cache misses into the chunk's records and bytes overlap
    start = np.empty(n, np.int64)
    stop = np.empty(n, np.int64)
    hlen = np.zeros(n, np.uint8)
    for r in range(n):
        q = p[idx[r]]
        src_hi[r], src_lo[r], src_mac[r] = q.src_hi, q.src_lo, q.src_mac
        ttl[r], win[r], wscale[r], ts[r] = q.ttl, q.win, q.wscale, q.ts
        start[r] = q.data_off + q.l4_off
        stop[r] = q.data_off + q.caplen
        if start[r] + 20 <= stop[r]:
            hlen[r] = data[start[r] + 12]
    for r in range(n):
        t = start[r]
        end = stop[r]
        if t + 20 > end:
            continue
        hl = np.int64(hlen[r] >> 4) * 4
        o = t + 20
        oe = min(end, t + hl)
        code = np.uint64(0)
        k = 0
        while o < oe and k < 7:
            kind = data[o]
            code = (code << np.uint64(8)) | np.uint64(kind)
            k += 1
            if kind == 0:
                break
            if kind == 1:
                o += 1
                continue
            if o + 1 >= oe or data[o + 1] < 2:
                break
            o += np.int64(data[o + 1])
        out[r] = code | (np.uint64(k) << np.uint64(60))
    return out, (src_hi, src_lo, src_mac, ttl, win, wscale, ts)


@nb.njit(cache=True, inline="always")
def _special(hi: np.uint64, lo: np.uint64) -> bool:
    """Link-local, multicast, broadcast, loopback, unspecified (see policy.addr.is_special)."""
    if hi == 0 and (lo >> np.uint64(32)) == np.uint64(0xFFFF):
        a = lo & np.uint64(0xFFFFFFFF)
        first = a >> np.uint64(24)
        return bool(
            first == 0 or first == 127 or first >= 224 or (a >> np.uint64(16)) == np.uint64(0xA9FE)
        )
    top16 = hi >> np.uint64(48)
    if (top16 & np.uint64(0xFFC0)) == np.uint64(0xFE80) or (top16 >> np.uint64(8)) == np.uint64(
        0xFF
    ):
        return True
    return bool(hi == 0 and lo <= 1)


@nb.njit(cache=True, inline="always")
def _mix64(h: np.uint64) -> np.uint64:
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def _may_name(w: np.uint64, avail: int) -> bool:
    """The checks name_spans starts with, on the payload's first 8 bytes `w` (`avail`
    captured): a TLS ClientHello record or an HTTP request line (name_spans finds no name in
    anything else)."""
    if avail < 8:
        return False
    b0 = word_byte(w, 0)
    if b0 == 22:
        return avail >= 43 and word_byte(w, 5) == 1
    return _is_method(w)


@nb.njit(cache=True)
def _slots(rows: int, cap: int) -> np.ndarray:
    """A buffer for an open-addressing table of `cap` slots that can grow in place (_rehash)
    to the most a table of `rows` entries at most half full needs; the first `cap` cleared.
    Growing in place, not into a new array: an array reassigned inside a numba loop is
    reference-counted on every iteration."""
    big = cap
    while big < 2 * (rows + 1):
        big *= 2
    slot_of = np.empty(big, np.int64)  # pages beyond the slots in use are never touched
    slot_of[:cap] = -1
    return slot_of


@nb.njit(cache=True)
def _rehash(slot_of: np.ndarray, k_hash: np.ndarray, m: int, cap: int) -> None:
    """The first `cap` slots (a power of two) of `slot_of` made to hold entries 0 .. m-1 by
    their hashes."""
    mask = np.uint64(cap - 1)
    slot_of[:cap] = -1
    for e in range(m):
        q = k_hash[e] & mask
        while slot_of[q] >= 0:
            q = (q + np.uint64(1)) & mask
        slot_of[q] = e


@nb.njit(cache=True, inline="always")
def _insert(
    slot_of: np.ndarray, k_hash: np.ndarray, m: int, cap: int, mask: Any, h: Any, s: Any
) -> tuple[int, Any]:
    """Enter new entry m (hash h), whose probe ended at the free slot s; the table first
    doubles (in place) when one more entry would fill it past half.  Returns (cap, mask)."""
    if 2 * (m + 1) > cap:
        cap *= 2
        mask = np.uint64(cap - 1)
        _rehash(slot_of, k_hash, m, cap)
        s = h & mask
        while slot_of[s] >= 0:
            s = (s + np.uint64(1)) & mask
    slot_of[s] = m
    k_hash[m] = h
    return cap, mask


@nb.njit(cache=True)
def chunk_scan(p: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """The one pass of the links extracts over a chunk's records (schemas.PACKET_DTYPE), each
    record read once: a separate pass per extract pays for reading every record again.

    Returns three tuples:

    * candidates: row indexes of ARP, DHCP replies, router advertisements, TCP SYNs, TCP
      payloads that may name a server (TLS ClientHello / HTTP request line), remote-access
      handshakes and their marker (MARK_*); the chunk's first and last timestamp.  Payloads
      are judged by their first 8 bytes (`head`), which the record holds;
    * hosts: distinct (MAC, address, VLAN, TTL, ARP?, unicast TCP/UDP?) senders with packet
      count and first/last time, numbered in order of first appearance by an open-addressing
      hash table (exact keys);
    * IP-ID input: per unfragmented, untunnelled IPv4 packet with an ID and a MAC, its
      sender entry, ID and destination (IpIdCounters.feed)."""
    n = p.shape[0]
    arp = np.empty(n, np.int64)
    ra = np.empty(n, np.int64)
    syn = np.empty(n, np.int64)
    dhcp = np.empty(n, np.int64)
    names = np.empty(n, np.int64)
    marks = np.empty(n, np.int64)
    mark = np.empty(n, np.uint8)
    # the hosts table grows with the distinct senders (a few thousand per chunk), so it
    # stays cache-resident instead of being sized for every packet; an entry's key and its
    # counts are rows of their own, so a probe reads one cache line, not one per field
    cap = 4096
    mask = np.uint64(cap - 1)
    slot_of = _slots(n, cap)
    k_hash = np.empty(n, np.uint64)
    key = np.empty((n, 4), np.uint64)  # MAC, hi, lo, VLAN | TTL << 16 | ARP << 24 | uni << 25
    agg = np.empty((n, 3), np.int64)  # packets, first, last
    id_entry = np.empty(n, np.int64)
    id_val = np.empty(n, np.uint32)
    id_dst = np.empty(n, np.uint64)
    na = nr = ns = nd = nn = nm = m = nid = 0
    t0 = p[0].ts
    t1 = t0
    for i in range(n):
        q = p[i]
        ts = q.ts
        if ts < t0:
            t0 = ts
        if ts > t1:
            t1 = ts
        mac = q.src_mac
        isarp = q.arp_op > 0
        ipv = q.ip_version
        pr = q.proto
        if mac != 0 and (ipv != 0 or isarp):
            ttl = np.uint8(0) if isarp else q.ttl
            uni = (pr == 6 or pr == 17) and not isarp and not _special(q.dst_hi, q.dst_lo)
            hi, lo = q.src_hi, q.src_lo
            small = (
                np.uint64(q.vlan)
                | (np.uint64(ttl) << np.uint64(16))
                | (np.uint64(isarp) << np.uint64(24))
                | (np.uint64(uni) << np.uint64(25))
            )
            # independent products, one mix: the slot only spreads keys (entries are compared
            # field by field and numbered in order of first appearance, whatever the hash)
            h = _mix64(
                (mac * np.uint64(0x9E3779B97F4A7C15))
                ^ (hi * np.uint64(0xC2B2AE3D27D4EB4F))
                ^ (lo * np.uint64(0x165667B19E3779F9))
                ^ small
            )
            s = h & mask
            while True:
                j = slot_of[s]
                if j < 0:
                    cap, mask = _insert(slot_of, k_hash, m, cap, mask, h, s)
                    key[m, 0], key[m, 1], key[m, 2], key[m, 3] = mac, hi, lo, small
                    agg[m, 0], agg[m, 1], agg[m, 2] = 1, ts, ts
                    j = m
                    m += 1
                    break
                if key[j, 0] == mac and key[j, 1] == hi and key[j, 2] == lo and key[j, 3] == small:
                    agg[j, 0] += 1
                    if ts < agg[j, 1]:
                        agg[j, 1] = ts
                    if ts > agg[j, 2]:
                        agg[j, 2] = ts
                    break
                s = (s + np.uint64(1)) & mask
            if ipv == 4 and q.tunnel_depth == 0 and q.ip_id != 0 and not q.frag & 1:
                id_entry[nid] = j
                id_val[nid] = q.ip_id
                id_dst[nid] = q.dst_lo
                nid += 1
        if isarp:
            arp[na] = i
            na += 1
            continue
        if ipv == 0:
            continue
        if pr == 6 and (q.tcp_flags & 0x12) == 0x02:
            syn[ns] = i
            ns += 1
        elif pr == 58 and q.sport == 134 and ipv == 6:
            ra[nr] = i
            nr += 1
        cap_len = np.int64(q.caplen)
        off = np.int64(q.payload_off)
        pl = q.payload_len
        if (pr != 6 and pr != 17) or pl == 0 or off >= cap_len:
            continue
        tcp = pr == 6
        w = q.head
        avail = int(min(cap_len, off + pl) - off)  # payload bytes captured (1 .. caplen)
        if not tcp and q.sport == 67 and pl >= 240:
            dhcp[nd] = i
            nd += 1
        if tcp and _may_name(w, avail):
            names[nn] = i
            nn += 1
        b0 = word_byte(w, 0)
        if b0 == 83 or b0 == 1 or b0 == 0x38 or b0 == 0x50 or b0 == 0:
            mk = _marker(w, avail, tcp, pl)
            if mk:
                marks[nm] = i
                mark[nm] = mk
                nm += 1
    small_k = key[:m, 3]
    hosts = (
        key[:m, 0].copy(),
        key[:m, 1].copy(),
        key[:m, 2].copy(),
        (small_k & np.uint64(0xFFFF)).astype(np.uint16),
        ((small_k >> np.uint64(16)) & np.uint64(0xFF)).astype(np.uint8),
        (small_k >> np.uint64(24)) & np.uint64(1) == 1,
        (small_k >> np.uint64(25)) & np.uint64(1) == 1,
        agg[:m, 0].copy(),
        agg[:m, 1].copy(),
        agg[:m, 2].copy(),
    )
    cands = (arp[:na], dhcp[:nd], ra[:nr], syn[:ns], names[:nn], marks[:nm], mark[:nm], t0, t1)
    return cands, hosts, (id_entry[:nid], id_val[:nid], id_dst[:nid])


@nb.njit(cache=True)
def row_codes(keys: np.ndarray) -> np.ndarray:
    """One code per distinct row of a (rows, columns) uint64 matrix, numbered in order of
    first appearance: an open-addressing table over whole rows (exact comparison), one pass
    instead of hashing, factorizing and checking column by column."""
    n, k = keys.shape
    codes = np.empty(n, np.int64)
    cap = 1024  # grows with the distinct rows, not the rows: a table that stays in cache
    mask = np.uint64(cap - 1)
    slot_of = _slots(n, cap)
    k_hash = np.empty(n, np.uint64)
    first = np.empty(n, np.int64)  # row of each code's first appearance
    m = 0
    for i in range(n):
        h = np.uint64(0)
        for c in range(k):  # independent products, one mix (as chunk_scan's hosts)
            h ^= (keys[i, c] + np.uint64(c)) * np.uint64(0x9E3779B97F4A7C15 + 2 * c)  # odd
        h = _mix64(h)
        s = h & mask
        while True:
            j = slot_of[s]
            if j < 0:
                cap, mask = _insert(slot_of, k_hash, m, cap, mask, h, s)
                first[m] = i
                codes[i] = m
                m += 1
                break
            r = first[j]
            same = True
            for c in range(k):
                if keys[r, c] != keys[i, c]:
                    same = False
                    break
            if same:
                codes[i] = j
                break
            s = (s + np.uint64(1)) & mask
    return codes


@nb.njit(cache=True)
def merge_counts(
    codes: np.ndarray, k: int, count: np.ndarray, first_ns: np.ndarray, last_ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code 0 .. k-1: the sum of `count`, the least `first_ns` and the greatest `last_ns`."""
    total = np.zeros(k, np.int64)
    lo = np.full(k, np.iinfo(np.int64).max, np.int64)
    hi = np.full(k, np.iinfo(np.int64).min, np.int64)
    for i in range(codes.shape[0]):
        g = codes[i]
        total[g] += np.int64(count[i])
        if np.int64(first_ns[i]) < lo[g]:
            lo[g] = np.int64(first_ns[i])
        if np.int64(last_ns[i]) > hi[g]:
            hi[g] = np.int64(last_ns[i])
    return total, lo, hi


@nb.njit(cache=True)
def join_spans(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """The byte spans (start, length) of `data` end to end: copied span by span, not
    gathered through an index per byte."""
    out = np.empty(np.sum(length), np.uint8)
    o = 0
    for r in range(start.shape[0]):
        s = start[r]
        for k in range(length[r]):
            out[o + k] = data[s + k]
        o += length[r]
    return out
