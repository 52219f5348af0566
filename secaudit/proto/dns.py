"""DNS over UDP: a bounds-checked numba dissector over the packets table, and a dns.log builder.

`parse_dns(packets, data)` reads every UDP datagram to or from the DNS ports in
place (no per-packet Python): header, first question, and a walk over the
answer records (sizes, TXT/NULL counts, lowest TTL).  Like dnspython's
parser, every read is bounds-checked against the captured bytes, labels are
at most 63 bytes, names at most 255, and compression pointers must point
strictly backwards, so hostile bytes end in a `status`, never a crash or loop.
`message_columns` gives the same columns as numpy arrays and `messages_frame` makes one
frame of such parts.  The detect extracts feed chunk after chunk to a `DnsStream`, which
keeps the interned values across chunks (each distinct name decoded and made text once per
pass) and gives its query names' codes, from which `query_codes` numbers the queries of
several passes (dns_log's grouping key) without hashing every row's text.

The kernel also interns names, registered domains and A/AAAA answer sets as
it reads them (exact: a hash probe, then a byte compare), so str and list
objects are made once per distinct value and shared between rows (read-only
by contract); a question name repeated byte for byte reuses the fields of its
first message.

`dns_log(messages)` pairs queries with responses (Zeek dns.log semantics:
one row per (client, client port, server, trans_id, query)), with `rtt`,
`rcode`, and `answered`: one numba pass over the messages groups them, the
per-transaction arrays are put in time order, then the frame is built once.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa

from secaudit._kernel_help import ask_ahead, counts_entropy, record_bytes
from secaudit.capture.addr import addr_text_rows, pair_codes, splitmix

__all__ = [
    "DNS_PORTS",
    "INVALID_TLD",
    "QTYPE_NAMES",
    "RCODE_NAMES",
    "STATUS_MALFORMED",
    "STATUS_OK",
    "STATUS_TRUNCATED",
    "dns_log",
    "DnsStream",
    "message_columns",
    "messages_frame",
    "parse_dns",
    "query_codes",
]

STATUS_OK, STATUS_TRUNCATED, STATUS_MALFORMED = 0, 1, 2
HEADER_LEN = 12
MAX_NAME = 255  # RFC 1035 2.3.4 (wire form)
NAME_OUT = 320  # escaped text form: printable bytes as is, others as \xHH (capped)
MAX_ANSWERS = 64  # records walked per message; the rest are counted but not read
MAX_ADDRS = 8  # A/AAAA answer addresses kept per message

QTYPE_NAMES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 15: "MX", 16: "TXT",
    28: "AAAA", 33: "SRV", 35: "NAPTR", 41: "OPT", 43: "DS", 46: "RRSIG", 48: "DNSKEY",
    64: "SVCB", 65: "HTTPS", 99: "SPF", 252: "AXFR", 255: "ANY",
}  # fmt: skip
RCODE_NAMES = {
    0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
}  # fmt: skip

# second-level labels under which registrations happen one level deeper (example.com.cn)
_SLD_WORDS = (b"com", b"net", b"org", b"gov", b"edu", b"ac", b"co", b"or", b"ne", b"go", b"mil")


@nb.njit(cache=True)
def _skip_name(buf: np.ndarray, start: int, end: int) -> int:
    """Offset after the name at `start` (pointers end a name); -1 truncated, -2 malformed."""
    pos = start
    while True:
        if pos >= end:
            return -1
        ln = buf[pos]
        if ln == 0:
            return pos + 1
        if ln & 0xC0 == 0xC0:
            return pos + 2 if pos + 2 <= end else -1
        if ln & 0xC0:
            return -2
        pos += 1 + ln


@nb.njit(cache=True)
def _plain_name_end(buf: np.ndarray, start: int, end: int) -> int:
    """Offset after the name at `start` when it is plain labels ending before `end` in at
    most MAX_NAME bytes (no pointer: its bytes alone decide its text); else -1."""
    pos = start
    while pos < end and pos - start < MAX_NAME:
        ln = buf[pos]
        if ln == 0:
            return pos + 1
        if ln & 0xC0:
            return -1
        pos += 1 + ln
    return -1


@nb.njit(cache=True)
def _read_name(
    buf: np.ndarray,
    base: int,
    start: int,
    end: int,
    out: np.ndarray,
    label_off: np.ndarray,
    label_len: np.ndarray,
) -> tuple[int, int, int, int]:
    """Decode the name at `start` into `out` (lowercase, escaped).

    Returns (status, text length, wire length, label count); label_off/label_len
    receive each label's position in `out`.  Pointers must point strictly
    backwards from the lowest offset read so far (dnspython's rule).
    """
    pos = start
    lowest = start
    n_out = 0
    wire = 0
    nlab = 0
    while True:
        if pos >= end:
            return STATUS_TRUNCATED, n_out, wire, nlab
        ln = buf[pos]
        if ln == 0:
            return STATUS_OK, n_out, wire + 1, nlab
        if ln & 0xC0 == 0xC0:
            if pos + 1 >= end:
                return STATUS_TRUNCATED, n_out, wire, nlab
            target = base + (((ln & 0x3F) << 8) | buf[pos + 1])
            if target >= lowest or target < base:
                return STATUS_MALFORMED, n_out, wire, nlab
            pos = target
            lowest = target
            continue
        if ln & 0xC0:
            return STATUS_MALFORMED, n_out, wire, nlab
        wire += 1 + ln
        if wire + 1 > MAX_NAME:
            return STATUS_MALFORMED, n_out, wire, nlab
        if pos + 1 + ln > end:
            return STATUS_TRUNCATED, n_out, wire, nlab
        if nlab > 0 and n_out < out.shape[0]:
            out[n_out] = 46  # '.'
            n_out += 1
        if nlab < label_off.shape[0]:
            label_off[nlab] = n_out
        for k in range(ln):
            c = buf[pos + 1 + k]
            if 65 <= c <= 90:
                c += 32
            if 33 <= c <= 126 and c != 92:
                if n_out < out.shape[0]:
                    out[n_out] = c
                    n_out += 1
            elif n_out + 4 <= out.shape[0]:
                out[n_out] = 92  # '\'
                out[n_out + 1] = 120  # 'x'
                hi = c >> 4
                lo = c & 15
                out[n_out + 2] = hi + 48 if hi < 10 else hi + 87
                out[n_out + 3] = lo + 48 if lo < 10 else lo + 87
                n_out += 4
        if nlab < label_len.shape[0]:
            label_len[nlab] = ln
        nlab += 1
        pos += 1 + ln
        lowest = min(lowest, pos)


@nb.njit(cache=True)
def _is_sld_word(out: np.ndarray, off: int, ln: int, words: np.ndarray, wlen: np.ndarray) -> bool:
    for w in range(words.shape[0]):
        if wlen[w] != ln:
            continue
        same = True
        for k in range(ln):
            if out[off + k] != words[w, k]:
                same = False
                break
        if same:
            return True
    return False


@nb.njit(cache=True)
def _plausible_tld(out: np.ndarray, off: int, ln: int) -> bool:
    """A top-level label that can exist: 2-63 letters, or an IDN "xn--" label (RFC 1123
    2.1 rules out all-numeric TLDs; none has digits but IDNs)."""
    if ln < 2 or off + ln > out.shape[0]:
        return False
    if ln > 4 and out[off] == 120 and out[off + 1] == 110 and out[off + 2] == 45:
        return bool(out[off + 3] == 45)  # "xn--"
    letters = 0
    for k in range(ln):
        if 97 <= out[off + k] <= 122:
            letters += 1
    return letters == ln


@nb.njit(cache=True)
def _entropy(out: np.ndarray, start: int, stop: int, counts: np.ndarray) -> float:
    """Shannon entropy (bits/char) of out[start:stop] ignoring dots.

    `counts`: 256 zeros, left zero again.  Only the span of byte values seen is summed,
    in ascending order as over all 256 (the same float result, a fraction of the work)."""
    n = 0
    first = 256
    last = -1
    for k in range(start, stop):
        c = out[k]
        if c != 46:
            counts[c] += 1
            n += 1
            first = min(first, c)
            last = max(last, c)
    return counts_entropy(counts, n, first, last)


@nb.njit(cache=True)
def _bytes_hash(buf: np.ndarray, start: int, stop: int) -> np.uint64:
    """64-bit hash of buf[start:stop]: splitmix64 over its 8-byte words and its length."""
    h = np.uint64(stop - start)
    k = start
    while k + 8 <= stop:  # whole words: a fixed inner loop the compiler unrolls
        w = np.uint64(0)
        for j in range(8):
            w = (w << np.uint64(8)) | np.uint64(buf[k + j])
        h = splitmix(h, w)
        k += 8
    w = np.uint64(0)
    while k < stop:
        w = (w << np.uint64(8)) | np.uint64(buf[k])
        k += 1
    return splitmix(h, w)


@nb.njit(cache=True)
def _intern(
    key: np.ndarray,
    k0: int,
    k1: int,
    store: np.ndarray,
    at: np.ndarray,
    slots: np.ndarray,
    state: np.ndarray,
) -> int:
    """Code of the bytes key[k0:k1] among the distinct keys seen so far (codes in order of
    first appearance).  Exact: a hash probe, then a byte compare with the stored copy; a new
    key is appended to `store` (key c is store[at[c]:at[c + 1]]).  state: [keys, bytes]."""
    h = _bytes_hash(key, k0, k1)
    mask = slots.shape[0] - 1
    s = np.int64(h & np.uint64(mask))
    ln = k1 - k0
    while True:
        c = slots[s]
        if c < 0:
            break
        if at[c + 1] - at[c] == ln:
            same = True
            base = at[c]
            for k in range(ln):
                if store[base + k] != key[k0 + k]:
                    same = False
                    break
            if same:
                return int(c)
        s = (s + 1) & mask
    c = state[0]
    nb_ = state[1]
    for k in range(ln):
        store[nb_ + k] = key[k0 + k]
    slots[s] = c
    at[c + 1] = nb_ + ln
    state[0] = c + 1
    state[1] = nb_ + ln
    return int(c)


@nb.njit(cache=True)
def _table(n: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An empty _intern table for up to n keys of up to `width` bytes: store, at, slots,
    state.  Store and offsets are np.empty (only the part used is ever touched), the slots
    int32 at a load of at most 0.8: fresh memory costs page faults."""
    size = 16
    while size < n + n // 4:
        size *= 2
    at = np.empty(n + 1, np.int64)
    at[0] = 0
    return np.empty(n * width, np.uint8), at, np.full(size, -1, np.int32), np.zeros(2, np.int64)


@nb.njit(cache=True)
def _parse(
    idx: np.ndarray,
    packets: np.ndarray,
    data: np.ndarray,
    words: np.ndarray,
    wlen: np.ndarray,
    names: tuple[np.ndarray, ...],
    regs: tuple[np.ndarray, ...],
    sets: tuple[np.ndarray, ...],
    wires: tuple[np.ndarray, ...],
    w_info: np.ndarray,
    w_ent: np.ndarray,
    per_name: np.ndarray,
    ent_val: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Dissect the messages at packet rows `idx`, gathering their packet fields on the way
    (one read of each record instead of a numpy gather per field).

    Names, registered domains and A/AAAA answer sets are interned as they are read (per row
    a code, the distinct values once each), so text is built once per distinct value; a
    question name repeated byte for byte copies the fields of its first message, and the
    entropy of a repeated name is reused.  The tables (DnsStream's, kept from chunk to
    chunk, room made for len(idx) new keys each): names, regs, sets, wires (question names
    in wire form) as _table gives them; per wire name, in one row (few cache lines to read
    back) w_info (geo, name and registered domain codes, status) and w_ent (its entropy);
    per name code, from its first message, per_name (the span its entropy was taken on,
    the registered domain's start and code) and ent_val (the entropy).
    """
    n = idx.shape[0]
    ts = np.zeros(n, np.int64)
    file_offset = np.zeros(n, np.int64)
    addr = np.zeros((4, n), np.uint64)  # src_hi, src_lo, dst_hi, dst_lo
    port = np.zeros((2, n), np.uint16)  # sport, dport
    hdr = np.zeros((6, n), np.int32)  # id, flags, qd, an, ns, ar
    q = np.zeros((2, n), np.int32)  # qtype, qclass
    geo = np.zeros((6, n), np.int32)  # text len, labels, max label, reg start, sub labels, sub len
    ent = np.zeros(n, np.float64)
    ans = np.zeros((4, n), np.int64)  # answer rdata bytes, TXT/NULL answers, min TTL, records read
    status = np.zeros(n, np.uint8)
    codes = np.full((3, n), -1, np.int32)  # name, registered domain, answer set (-1: none)
    n_store, n_at, n_slots, n_state = names
    r_store, r_at, r_slots, r_state = regs
    s_store, s_at, s_slots, s_state = sets
    w_store, w_at, w_slots, w_state = wires
    ent_stop, reg_start, reg_code = per_name[:, 0], per_name[:, 1], per_name[:, 2]
    name = np.zeros(NAME_OUT, np.uint8)  # scratch, all zero again after every message
    addrs = np.zeros(2 * MAX_ADDRS, np.uint64)  # scratch: hi, lo of each answer address
    addr_bytes = addrs.view(np.uint8)
    counts = np.zeros(256, np.int64)  # _entropy's scratch
    label_off = np.zeros(128, np.int64)
    label_len = np.zeros(128, np.int64)
    raw = record_bytes(packets)
    for r in range(n):
        ask_ahead(raw, packets, idx, r, data, False)  # records and messages
        p = packets[idx[r]]
        ts[r] = p.ts
        file_offset[r] = p.file_offset
        addr[0, r] = p.src_hi
        addr[1, r] = p.src_lo
        addr[2, r] = p.dst_hi
        addr[3, r] = p.dst_lo
        port[0, r] = p.sport
        port[1, r] = p.dport
        base = p.data_off + p.payload_off
        avail = min(int(p.payload_len), int(p.caplen) - int(p.payload_off))
        if avail < HEADER_LEN:
            status[r] = STATUS_TRUNCATED
            codes[0, r] = codes[1, r] = 0  # the empty name
            continue
        end = base + avail
        for k in range(6):
            hdr[k, r] = (data[base + 2 * k] << 8) | data[base + 2 * k + 1]
        ans[2, r] = -1
        pos = base + HEADER_LEN
        if hdr[2, r] == 0:
            codes[0, r] = codes[1, r] = 0  # the empty name
            continue
        # a name repeated byte for byte (no compression pointer) has the same fields: copy
        # them from the first message that carried it instead of decoding it again
        w_end = _plain_name_end(data, pos, end)
        w = -1
        known_w = w_state[0]
        if w_end > 0:
            w = _intern(data, pos, w_end, w_store, w_at, w_slots, w_state)
        if 0 <= w < known_w:
            for k in range(6):
                geo[k, r] = w_info[w, k]
            codes[0, r] = w_info[w, 6]
            codes[1, r] = w_info[w, 7]
            st = w_info[w, 8]
            ent[r] = w_ent[w]
        else:
            st, tl, wl, nlab = _read_name(data, base, pos, end, name, label_off, label_len)
            geo[0, r] = tl
            geo[1, r] = nlab
            mx = 0
            for k in range(min(nlab, 128)):
                mx = max(mx, label_len[k])
            geo[2, r] = mx
            # registered domain: last two labels, three under a generic second level (x.com.cn)
            nl = min(nlab, 128)
            keep = 2
            if nl >= 3 and label_len[nl - 1] == 2:
                off2 = label_off[nl - 2]
                if _is_sld_word(name, off2, label_len[nl - 2], words, wlen):
                    keep = 3
            stop = -1  # entropy of name[:stop] (none: -1)
            if nl >= 1 and not _plausible_tld(name, label_off[nl - 1], label_len[nl - 1]):
                # no registered domain under a TLD that cannot exist (dnscat2 without a domain
                # sends "dnscat.<hex>.<hex>"): the whole name is the left-hand part
                geo[3, r] = tl
                geo[4, r] = nl
                geo[5, r] = tl
                stop = tl
            elif nl > keep:
                reg = label_off[nl - keep]
                geo[3, r] = reg
                geo[4, r] = nl - keep
                geo[5, r] = reg - 1  # minus the dot before the registered domain
                stop = reg - 1
            else:
                geo[3, r] = 0
            known = n_state[0]
            c = _intern(name, 0, tl, n_store, n_at, n_slots, n_state)
            if c == known:  # a new name
                ent_stop[c] = -2
                reg_start[c] = -1
            codes[0, r] = c
            if reg_start[c] != geo[3, r]:
                reg_code[c] = _intern(name, geo[3, r], tl, r_store, r_at, r_slots, r_state)
                reg_start[c] = geo[3, r]
            codes[1, r] = reg_code[c]
            if stop >= 0:
                if ent_stop[c] == stop:
                    ent[r] = ent_val[c]
                else:
                    ent[r] = _entropy(name, 0, stop, counts)
                    if ent_stop[c] == -2:
                        ent_stop[c] = stop
                        ent_val[c] = ent[r]
            for k in range(tl):
                name[k] = 0
            if w >= 0:
                for k in range(6):
                    w_info[w, k] = geo[k, r]
                w_info[w, 6] = codes[0, r]
                w_info[w, 7] = codes[1, r]
                w_info[w, 8] = st
                w_ent[w] = ent[r]
        if st != STATUS_OK:
            status[r] = st
            continue
        p2 = _skip_name(data, pos, end)
        if p2 < 0 or p2 + 4 > end:
            status[r] = STATUS_TRUNCATED
            continue
        q[0, r] = (data[p2] << 8) | data[p2 + 1]
        q[1, r] = (data[p2 + 2] << 8) | data[p2 + 3]
        pos = p2 + 4
        # skip further questions
        for _ in range(1, min(hdr[2, r], 16)):
            p2 = _skip_name(data, pos, end)
            if p2 < 0 or p2 + 4 > end:
                status[r] = STATUS_TRUNCATED
                break
            pos = p2 + 4
        if status[r] != STATUS_OK:
            continue
        a_n = 0
        for _ in range(min(hdr[3, r], MAX_ANSWERS)):
            p2 = _skip_name(data, pos, end)
            if p2 == -2:
                status[r] = STATUS_MALFORMED
                break
            if p2 < 0 or p2 + 10 > end:
                status[r] = STATUS_TRUNCATED
                break
            rtype = (data[p2] << 8) | data[p2 + 1]
            ttl = (
                (np.int64(data[p2 + 4]) << 24)
                | (data[p2 + 5] << 16)
                | (data[p2 + 6] << 8)
                | data[p2 + 7]
            )
            rdlen = (data[p2 + 8] << 8) | data[p2 + 9]
            if p2 + 10 + rdlen > end:
                status[r] = STATUS_TRUNCATED
                break
            ans[0, r] += rdlen
            if rtype == 16 or rtype == 10:
                ans[1, r] += 1
            if ans[2, r] < 0 or ttl < ans[2, r]:
                ans[2, r] = ttl
            ans[3, r] += 1
            rd = p2 + 10
            if a_n < MAX_ADDRS and ((rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16)):
                hi = np.uint64(0)
                lo = np.uint64(0)
                if rtype == 1:
                    lo = np.uint64(0xFFFF) << np.uint64(32)
                    for k in range(4):
                        lo |= np.uint64(data[rd + k]) << np.uint64(8 * (3 - k))
                else:
                    for k in range(8):
                        hi = (hi << np.uint64(8)) | np.uint64(data[rd + k])
                        lo = (lo << np.uint64(8)) | np.uint64(data[rd + 8 + k])
                addrs[2 * a_n] = hi
                addrs[2 * a_n + 1] = lo
                a_n += 1
            pos = p2 + 10 + rdlen
        if a_n:
            codes[2, r] = _intern(addr_bytes, 0, 16 * a_n, s_store, s_at, s_slots, s_state)
    return ts, file_offset, addr, port, hdr, q, geo, ent, ans, status, codes


def _sld_table() -> tuple[np.ndarray, np.ndarray]:
    words = np.zeros((len(_SLD_WORDS), 8), np.uint8)
    wlen = np.zeros(len(_SLD_WORDS), np.int64)
    for k, w in enumerate(_SLD_WORDS):
        words[k, : len(w)] = np.frombuffer(w, np.uint8)
        wlen[k] = len(w)
    return words, wlen


_MSG_COLUMNS = {
    "ts_ns": "int64", "src_hi": "uint64", "src_lo": "uint64", "dst_hi": "uint64",
    "dst_lo": "uint64", "sport": "uint16", "dport": "uint16", "trans_id": "uint16",
    "qr": "bool", "opcode": "uint8", "rcode": "uint8", "AA": "bool", "TC": "bool",
    "RD": "bool", "RA": "bool", "qdcount": "uint16", "ancount": "uint16", "qtype": "uint16",
    "qclass": "uint16", "query": "object", "labels": "int32", "max_label": "int32",
    "sub_labels": "int32", "sub_len": "int32", "sub_entropy": "float64", "reg_domain": "object",
    "answer_bytes": "int64", "txt_null_answers": "int64", "min_ttl": "int64",
    "status": "uint8", "file_offset": "int64", "answers": "object",
}  # fmt: skip


def empty_messages() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _MSG_COLUMNS.items()})


DNS_PORTS = (53, 5353)
INVALID_TLD = "(invalid-tld)"  # reg_domain of names whose last label is no possible TLD


def parse_dns(
    packets: np.ndarray,
    data: np.ndarray,
    *,
    ports: tuple[int, ...] = DNS_PORTS,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per DNS message in UDP datagrams to/from `ports` (names lowercase, escaped).

    `rows`: the UDP rows on those ports when the caller has already selected them (the
    detect extracts classify every record in one pass)."""
    if len(packets) == 0:
        return empty_messages()
    if rows is None:
        sport, dport = packets["sport"], packets["dport"]
        on_port = np.zeros(len(packets), dtype=bool)
        for port in ports:  # a couple of compares beat np.isin's sort
            on_port |= (sport == port) | (dport == port)
        rows = np.flatnonzero((packets["proto"] == 17) & on_port)
    if rows.size == 0:
        return empty_messages()
    return messages_frame([message_columns(packets, data, rows)])


def messages_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """The messages frame (parse_dns's columns) of message_columns parts, in their order:
    one frame for a whole capture instead of one per chunk and a concat."""
    if not parts:
        return empty_messages()
    if len(parts) == 1:
        cols = parts[0]
    else:
        cols = {c: np.concatenate([p[c] for p in parts]) for c in _MSG_COLUMNS}
    out = {c: pd.Series(v, dtype=object) if v.dtype == object else v for c, v in cols.items()}
    return pd.DataFrame(out, copy=False)  # fresh arrays: no copy, no consolidation


def message_columns(
    packets: np.ndarray, data: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """parse_dns's columns (as numpy arrays, text as object arrays) of the messages at
    packets rows `rows` (UDP on the DNS ports)."""
    stream = DnsStream()
    stream.feed(packets, data, rows)
    return stream.columns()


@nb.njit(cache=True)
def _reslot(store: np.ndarray, at: np.ndarray, keys: int, size: int) -> np.ndarray:
    """_intern's slots (`size`, a power of two) for keys 0..keys-1 of store/at."""
    slots = np.full(size, -1, np.int32)
    mask = size - 1
    for c in range(keys):
        e = np.int64(_bytes_hash(store, at[c], at[c + 1]) & np.uint64(mask))
        while slots[e] >= 0:
            e = (e + 1) & mask
        slots[e] = c
    return slots


def _room(a: np.ndarray, n: int, used: int) -> np.ndarray:
    """`a`, or when it has fewer than `n` rows a new array with room for them (at least
    twice as many) holding its first `used` rows (the rest is never touched: no faults)."""
    if len(a) >= n:
        return a
    out = np.empty((max(n, 2 * len(a)), *a.shape[1:]), a.dtype)
    out[:used] = a[:used]
    return out


class _Interned:
    """An _intern table (store, at, slots, state as _table makes them) kept from chunk to
    chunk, grown before each: its keys are made text once, at the end."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.store, self.at, self.slots, self.state = _table(0, width)

    def reserve(self, n: int) -> None:
        """Room for `n` more keys: bytes, offsets, slots at a load of at most 0.8."""
        keys, used = int(self.state[0]), int(self.state[1])
        self.store = _room(self.store, used + n * self.width, used)
        self.at = _room(self.at, keys + n + 1, keys + 1)
        size = len(self.slots)
        while size < (keys + n) + (keys + n) // 4:
            size *= 2
        if size > len(self.slots):
            self.slots = _reslot(self.store, self.at, keys, size)

    def tables(self) -> tuple[np.ndarray, ...]:
        return self.store, self.at, self.slots, self.state

    def texts(self) -> np.ndarray:
        """The str of each key (object array)."""
        keys, used = int(self.state[0]), int(self.state[1])
        return _texts(self.store[:used], self.at[: keys + 1])

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a Dask worker's result) without the room made for further chunks."""
        keys, used = int(self.state[0]), int(self.state[1])
        return self.__dict__ | {"store": self.store[:used].copy(), "at": self.at[: keys + 1].copy()}


class DnsStream:
    """The DNS messages of one pass over packet chunks (columns as parse_dns's).

    Names, registered domains, answer sets and question wire names stay interned from chunk
    to chunk, so each distinct one is decoded once per pass and made text once, in
    `columns()`; per chunk only numeric columns and codes are kept.
    """

    def __init__(self) -> None:
        self.names, self.regs = _Interned(NAME_OUT), _Interned(NAME_OUT)
        self.sets, self.wires = _Interned(16 * MAX_ADDRS), _Interned(MAX_NAME)
        self.w_info = np.empty((0, 9), np.int64)
        self.w_ent = np.empty(0, np.float64)
        self.per_name = np.empty((0, 3), np.int64)
        self.ent_val = np.empty(0, np.float64)
        self.parts: list[dict[str, np.ndarray]] = []
        self.codes: list[np.ndarray] = []  # per chunk: name, registered domain, answer set
        self.invalid: list[np.ndarray] = []  # per chunk: names without a possible TLD
        self._reserve(1)
        empty = np.zeros(0, np.uint8)
        _intern(empty, 0, 0, *self.names.tables())  # code 0: the empty name
        _intern(empty, 0, 0, *self.regs.tables())
        self.per_name[0, 0], self.per_name[0, 1] = -2, -1  # no entropy, no domain yet

    def _reserve(self, n: int) -> None:
        """Room for `n` more messages (each at most one new key per table)."""
        for table in (self.names, self.regs, self.sets, self.wires):
            table.reserve(n)
        wires, names = int(self.wires.state[0]), int(self.names.state[0])
        self.w_info = _room(self.w_info, len(self.wires.at), wires)
        self.w_ent = _room(self.w_ent, len(self.wires.at), wires)
        self.per_name = _room(self.per_name, len(self.names.at), names)
        self.ent_val = _room(self.ent_val, len(self.names.at), names)

    def feed(self, packets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> None:
        """Parse the messages at packets rows `rows` (UDP on the DNS ports)."""
        self._reserve(len(rows))
        words, wlen = _sld_table()
        ts, file_offset, addr, l4port, hdr, q, geo, ent, ans, status, codes = _parse(
            np.asarray(rows, np.int64), packets, data, words, wlen, self.names.tables(),
            self.regs.tables(), self.sets.tables(), self.wires.tables(), self.w_info,
            self.w_ent, self.per_name, self.ent_val,
        )  # fmt: skip
        self.codes.append(codes)
        self.invalid.append((geo[0] == geo[3]) & (geo[1] > 0))  # empty suffix of a name
        flags = hdr[1]
        self.parts.append(
            {
                "ts_ns": ts,
                "src_hi": addr[0],
                "src_lo": addr[1],
                "dst_hi": addr[2],
                "dst_lo": addr[3],
                "sport": l4port[0],
                "dport": l4port[1],
                "trans_id": hdr[0].astype(np.uint16),
                "qr": (flags & 0x8000) != 0,
                "opcode": ((flags >> 11) & 0xF).astype(np.uint8),
                "rcode": (flags & 0xF).astype(np.uint8),
                "AA": (flags & 0x0400) != 0,
                "TC": (flags & 0x0200) != 0,
                "RD": (flags & 0x0100) != 0,
                "RA": (flags & 0x0080) != 0,
                "qdcount": hdr[2].astype(np.uint16),
                "ancount": hdr[3].astype(np.uint16),
                "qtype": q[0].astype(np.uint16),
                "qclass": q[1].astype(np.uint16),
                "labels": geo[1],
                "max_label": geo[2],
                "sub_labels": geo[4],
                "sub_len": np.maximum(geo[5], 0),
                "sub_entropy": ent,
                "answer_bytes": ans[0],
                "txt_null_answers": ans[1],
                "min_ttl": ans[2],
                "status": status,
                "file_offset": file_offset,
            }
        )

    def name_codes(self) -> np.ndarray:
        """Per message, the code of its query name (an index into query_names())."""
        return np.concatenate([c[0] for c in self.codes]) if self.codes else np.empty(0, np.int32)

    def query_names(self) -> np.ndarray:
        """The distinct query names (object array of str, by code)."""
        return self.names.texts()

    def columns(self) -> dict[str, np.ndarray]:
        """The messages fed so far as parse_dns's columns (numpy arrays, text as object
        arrays whose str and list objects are shared between rows, read-only)."""
        if not self.parts:
            return {c: np.empty(0, t) for c, t in _MSG_COLUMNS.items()}
        if len(self.parts) == 1:
            cols = dict(self.parts[0])
        else:
            cols = {c: np.concatenate([p[c] for p in self.parts]) for c in self.parts[0]}
        codes = np.concatenate(self.codes, axis=1)
        reg = self.regs.texts()[codes[1]]
        reg[np.concatenate(self.invalid)] = INVALID_TLD
        cols["query"] = self.query_names()[codes[0]]
        cols["reg_domain"] = reg
        cols["answers"] = _answer_lists(
            self.sets.store[: self.sets.state[1]], self.sets.at[: self.sets.state[0] + 1], codes[2]
        )
        return {c: cols[c] for c in _MSG_COLUMNS}


def query_codes(names: list[np.ndarray], codes: list[np.ndarray]) -> np.ndarray:
    """Per message of the parts (in part order), a code equal for equal query names only
    (names: each part's distinct names; codes: per message an index into them): what
    dns_log groups on, the distinct names factorized instead of every row's text."""
    if not names:
        return np.empty(0, np.int64)
    per_name = _object_codes(np.concatenate(names))
    start = np.cumsum([0, *(len(n) for n in names[:-1])])
    return np.concatenate([per_name[s + c] for s, c in zip(start, codes, strict=True)])


def _texts(store: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Object array of the str of each interned key, store[at[k]:at[k + 1]] (escaped names:
    ASCII), made by Arrow from the buffers as they are."""
    arr = pa.Array.from_buffers(
        pa.string(), at.shape[0] - 1, [None, pa.py_buffer(at.astype(np.int32)), pa.py_buffer(store)]
    )
    text: np.ndarray = arr.to_numpy(zero_copy_only=False)
    return text


def _answer_lists(set_store: np.ndarray, set_at: np.ndarray, set_code: np.ndarray) -> np.ndarray:
    """Per message, the list of A/AAAA answer addresses as text (None when there are none).

    One list per distinct answer set (messages with the same set share that list object,
    read-only by contract), made in C by `tolist` of a 2-D array per set size; address
    text is made once per distinct address.
    """
    if set_at.shape[0] == 1:
        return np.full(set_code.shape[0], None, dtype=object)
    words = set_store.view(np.uint64)
    a_code, a_first = pair_codes(words[0::2], words[1::2])  # distinct (hi, lo) addresses
    rows = addr_text_rows(words[0::2][a_first], words[1::2][a_first])
    used = rows != 0  # text then zero padding: row-major nonzero bytes are the texts in order
    text = _texts(rows[used], np.r_[0, np.cumsum(used.sum(axis=1))])
    start = set_at[:-1] // 16
    size = np.diff(set_at) // 16
    lists = np.full(size.shape[0] + 1, None, dtype=object)  # [0]: None, for set code -1
    for k in np.unique(size).tolist():  # at most MAX_ADDRS sizes
        sel = np.flatnonzero(size == k)
        members = a_code[start[sel, None] + np.arange(k)[None, :]]
        lists[sel + 1] = np.fromiter(text[members].tolist(), dtype=object, count=sel.size)
    out: np.ndarray = lists[set_code + 1]
    return out


@nb.njit(cache=True)
def _transactions(
    is_q: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    trans_id: np.ndarray,
    qcode: np.ndarray,
    ts: np.ndarray,
    has_answers: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Group messages into transactions, keyed by (client, client port, server, trans_id,
    query code) with client = the query's source / the response's destination.

    One pass, rows in order: an open-addressing table, exact on the key (each probe compares
    with the transaction's first row), so transactions are numbered in order of first
    appearance.  Per transaction: first query and first response row (-1: none), their
    lowest timestamps, the number of queries and the first response row with answers.
    """
    n = is_q.shape[0]
    size = 16
    while size < n + n // 4:
        size *= 2
    slots = np.full(size, -1, np.int32)  # int32: a small table misses the cache less
    # per transaction, one row (one cache line): key hash, first row, first query, first
    # response, lowest query ts, lowest response ts, queries, first response with answers
    big = np.iinfo(np.int64).max
    tx = np.empty((n, 8), np.int64)
    k = 0
    for r in range(n):
        q = is_q[r]
        c_hi, c_lo, c_p = (
            (src_hi[r], src_lo[r], sport[r]) if q else (dst_hi[r], dst_lo[r], dport[r])
        )
        s_hi, s_lo = (dst_hi[r], dst_lo[r]) if q else (src_hi[r], src_lo[r])
        h = splitmix(
            splitmix(splitmix(c_hi, c_lo), splitmix(s_hi, s_lo)),
            splitmix(np.uint64(qcode[r]), np.uint64((np.int64(c_p) << 16) | np.int64(trans_id[r]))),
        )
        hs = np.int64(h)
        s = np.int64(h & np.uint64(size - 1))
        while True:
            t = int(slots[s])
            if t < 0:
                t = k
                slots[s] = t
                tx[t, 0] = hs
                tx[t, 1] = r
                tx[t, 2] = -1
                tx[t, 3] = -1
                tx[t, 4] = big
                tx[t, 5] = big
                tx[t, 6] = 0
                tx[t, 7] = -1
                k += 1
                break
            if tx[t, 0] == hs:
                f = tx[t, 1]
                fq = is_q[f]
                if (
                    qcode[f] == qcode[r]
                    and trans_id[f] == trans_id[r]
                    and (src_hi[f] if fq else dst_hi[f]) == c_hi
                    and (src_lo[f] if fq else dst_lo[f]) == c_lo
                    and (sport[f] if fq else dport[f]) == c_p
                    and (dst_hi[f] if fq else src_hi[f]) == s_hi
                    and (dst_lo[f] if fq else src_lo[f]) == s_lo
                ):
                    break
            s = (s + 1) & (size - 1)
        if q:
            if tx[t, 2] < 0:
                tx[t, 2] = r
            tx[t, 4] = min(tx[t, 4], ts[r])
            tx[t, 6] += 1
        else:
            if tx[t, 3] < 0:
                tx[t, 3] = r
            tx[t, 5] = min(tx[t, 5], ts[r])
            if tx[t, 7] < 0 and has_answers[r]:
                tx[t, 7] = r
    return tx[:k, 2], tx[:k, 3], tx[:k, 4], tx[:k, 5], tx[:k, 6], tx[:k, 7]


# columns dns_log takes from a transaction's first query / first response (fill, dtype)
_FROM_QUERY = (
    ("max_label", 0, np.int32), ("sub_labels", 0, np.int32), ("sub_len", 0, np.int32),
    ("sub_entropy", 0.0, np.float64), ("status", 0, np.uint8),
)  # fmt: skip
_FROM_RESPONSE = (
    ("rcode", -1, np.int16), ("ancount", 0, np.int64), ("answer_bytes", 0, np.int64),
    ("txt_null_answers", 0, np.int64), ("min_ttl", -1, np.int64),
)  # fmt: skip


@nb.njit(cache=True)
def _pick_into(values: np.ndarray, rows: np.ndarray, fill: Any, out: np.ndarray) -> None:
    for j in range(rows.shape[0]):
        out[j] = values[rows[j]] if rows[j] >= 0 else fill


def _pick(values: np.ndarray, rows: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
    """values[rows] as `dtype`, `fill` where a row is -1: one pass instead of numpy's
    gather, cast, where and cast."""
    out = np.empty(rows.shape[0], dtype)
    _pick_into(values, rows, fill, out)
    return out


@nb.njit(cache=True)
def _ends(
    rep: np.ndarray,
    is_q: np.ndarray,
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Client (orig) and server (resp) address and port of each transaction's message
    `rep`: a query's source is the client, a response's destination."""
    k = rep.shape[0]
    o_hi, o_lo = np.empty(k, np.uint64), np.empty(k, np.uint64)
    r_hi, r_lo = np.empty(k, np.uint64), np.empty(k, np.uint64)
    o_p, r_p = np.empty(k, np.uint16), np.empty(k, np.uint16)
    for j in range(k):
        m = rep[j]
        if is_q[m]:
            o_hi[j], o_lo[j], o_p[j] = src_hi[m], src_lo[m], sport[m]
            r_hi[j], r_lo[j], r_p[j] = dst_hi[m], dst_lo[m], dport[m]
        else:
            o_hi[j], o_lo[j], o_p[j] = dst_hi[m], dst_lo[m], dport[m]
            r_hi[j], r_lo[j], r_p[j] = src_hi[m], src_lo[m], sport[m]
    return o_hi, o_lo, o_p, r_hi, r_lo, r_p


def _object_codes(values: np.ndarray) -> np.ndarray:
    """Codes of equal values (None/NaN included) of an object array, as pd.factorize
    numbers them."""
    return np.asarray(
        pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)[0], np.int64
    )


def _object_notna(values: np.ndarray) -> np.ndarray:
    """pd.notna of an object array, as a bool array."""
    return np.asarray(pd.notna(np.asarray(values, dtype=object)), bool)


def _names_column(values: np.ndarray, names: dict[int, str], fallback: bool) -> pd.Series:
    """A "str" column of names[value] (fallback: str(value), else missing) for small
    integers >= -1 (qtype, rcode), made once per distinct value and spread by an Arrow take
    (distinct values by a bincount, no sort)."""
    shifted = values.astype(np.int64) + 1
    uniq = np.flatnonzero(np.bincount(shifted))
    slot = np.zeros(uniq[-1] + 1 if uniq.size else 1, np.int64)
    slot[uniq] = np.arange(uniq.size)
    text = [names.get(v - 1, str(v - 1) if fallback else None) for v in uniq.tolist()]
    arr = pd.array(text, dtype="str").take(slot[shifted])
    return pd.Series(arr, copy=False)


def dns_log(messages: pd.DataFrame, codes: np.ndarray | None = None) -> pd.DataFrame:
    """Pair queries and responses: one row per transaction, Zeek dns.log-like columns.

    Numeric address columns are kept (orig_hi/lo, resp_hi/lo) so callers can
    convert only the addresses they report.  `answered` is False for a query
    that never saw a response; a response without a seen query is kept too.
    codes: per message, a code of its query name (query_codes) when the caller has them.
    """
    cols = [
        "ts", "orig_hi", "orig_lo", "id.orig_p", "resp_hi", "resp_lo", "id.resp_p",
        "trans_id", "rtt", "query", "reg_domain", "qtype", "qtype_name", "rcode",
        "rcode_name", "answered", "n_queries", "ancount", "answer_bytes",
        "txt_null_answers", "min_ttl", "answers", "labels", "max_label", "sub_labels", "sub_len",
        "sub_entropy", "status", "file_offset",
    ]  # fmt: skip
    if messages.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    keep = np.flatnonzero(
        (messages["opcode"].to_numpy() == 0) & (messages["status"].to_numpy() != STATUS_MALFORMED)
    )
    whole = keep.size == len(messages)

    def col(name: str, dtype: Any = None) -> np.ndarray:
        v = messages[name].to_numpy(dtype=dtype)
        return v if whole else v[keep]

    is_q = ~col("qr", bool)
    query = col("query", object)
    answers_in = col("answers", object)
    src_hi, src_lo, dst_hi, dst_lo = (
        col(c, np.uint64) for c in ("src_hi", "src_lo", "dst_hi", "dst_lo")
    )
    sport, dport = col("sport", np.int64), col("dport", np.int64)
    trans_id = col("trans_id", np.int64)
    ts_in = col("ts_ns", np.int64)
    given = codes if codes is None or whole else codes[keep]
    qcode = _object_codes(query) if given is None else given
    qf, rf, q_ts, r_ts, n_q, first_ans = _transactions(
        is_q, src_hi, src_lo, dst_hi, dst_lo, sport, dport, trans_id, qcode,
        ts_in, _object_notna(answers_in),
    )  # fmt: skip
    has_q, answered = qf >= 0, rf >= 0
    ts_ns = np.where(has_q, q_ts, r_ts)
    rtt = np.full(len(qf), np.nan)
    both = has_q & answered
    rtt[both] = (r_ts[both].astype(np.float64) - q_ts[both].astype(np.float64)) / 1e9
    ts = ts_ns.astype(np.float64) / 1e9
    # the output order (stable by the float ts, as sorting the frame did), applied to every
    # per-transaction array before the frame is made
    order = np.argsort(ts, kind="stable")
    has_q, answered, qf, rf = has_q[order], answered[order], qf[order], rf[order]
    rep = np.where(has_q, qf, rf)  # the first query, else the first response
    ends = _ends(rep, is_q, src_hi, src_lo, dst_hi, dst_lo, sport, dport)
    msg = {name: _pick(col(name), qf, fill, dtype) for name, fill, dtype in _FROM_QUERY}
    msg |= {name: _pick(col(name), rf, fill, dtype) for name, fill, dtype in _FROM_RESPONSE}
    # answers: the first response that carried any (None: answered without; NaN: no response)
    answers = np.full(len(qf), np.nan, dtype=object)
    answers[answered] = None
    fa = first_ans[order]
    answers[fa >= 0] = answers_in[fa[fa >= 0]]
    qtype, rcode = col("qtype").astype(np.uint16)[rep], msg["rcode"]
    return pd.DataFrame(
        {
            "ts": ts[order],
            "orig_hi": ends[0],
            "orig_lo": ends[1],
            "id.orig_p": ends[2],
            "resp_hi": ends[3],
            "resp_lo": ends[4],
            "id.resp_p": ends[5],
            "trans_id": trans_id[rep].astype(np.uint16),
            "rtt": rtt[order],
            "query": pd.Series(query[rep], dtype=object),
            "reg_domain": pd.Series(col("reg_domain", object)[rep], dtype=object),
            "qtype": qtype,
            "qtype_name": _names_column(qtype, QTYPE_NAMES, True),
            "rcode": rcode,
            "rcode_name": _names_column(np.where(answered, rcode, -1), RCODE_NAMES, False),
            "answered": answered,
            "n_queries": n_q[order],
            "ancount": msg["ancount"],
            "answer_bytes": msg["answer_bytes"],
            "txt_null_answers": msg["txt_null_answers"],
            "min_ttl": msg["min_ttl"],
            "answers": answers,
            "labels": col("labels").astype(np.int32)[rep],
            "max_label": msg["max_label"],
            "sub_labels": msg["sub_labels"],
            "sub_len": msg["sub_len"],
            "sub_entropy": msg["sub_entropy"],
            "status": msg["status"],
            "file_offset": col("file_offset").astype(np.int64)[rep],
        },
        copy=False,  # fresh arrays: no copy, no consolidation
    )
