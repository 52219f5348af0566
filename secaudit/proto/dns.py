"""DNS over UDP: a bounds-checked numba dissector over the packets table, and a dns.log builder.

`parse_dns(packets, data)` reads every UDP datagram to or from the DNS ports in
place (no per-packet Python): header, first question, and a walk over the
answer records (sizes, TXT/NULL counts, lowest TTL).  Like dnspython's
parser, every read is bounds-checked against the captured bytes, labels are
at most 63 bytes, names at most 255, and compression pointers must point
strictly backwards, so hostile bytes end in a `status`, never a crash or loop.

`dns_log(messages)` pairs queries with responses (Zeek dns.log semantics:
one row per (client, client port, server, trans_id, query)), with `rtt`,
`rcode`, and `answered`.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd

__all__ = [
    "DNS_PORTS",
    "INVALID_TLD",
    "QTYPE_NAMES",
    "RCODE_NAMES",
    "STATUS_MALFORMED",
    "STATUS_OK",
    "STATUS_TRUNCATED",
    "dns_log",
    "parse_dns",
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
def _entropy(out: np.ndarray, start: int, stop: int) -> float:
    """Shannon entropy (bits/char) of out[start:stop] ignoring dots."""
    counts = np.zeros(256, np.int64)
    n = 0
    for k in range(start, stop):
        c = out[k]
        if c != 46:
            counts[c] += 1
            n += 1
    if n == 0:
        return 0.0
    h = 0.0
    for c in range(256):
        if counts[c]:
            p = counts[c] / n
            h -= p * np.log2(p)
    return h


@nb.njit(cache=True)
def _parse(
    idx: np.ndarray,
    data_off: np.ndarray,
    caplen: np.ndarray,
    payload_off: np.ndarray,
    payload_len: np.ndarray,
    data: np.ndarray,
    words: np.ndarray,
    wlen: np.ndarray,
) -> tuple[np.ndarray, ...]:
    n = idx.shape[0]
    hdr = np.zeros((n, 6), np.int32)  # id, flags, qd, an, ns, ar
    q = np.zeros((n, 2), np.int32)  # qtype, qclass
    names = np.zeros((n, NAME_OUT), np.uint8)
    geo = np.zeros((n, 6), np.int32)  # text len, labels, max label, reg start, sub labels, sub len
    ent = np.zeros(n, np.float64)
    ans = np.zeros((n, 4), np.int64)  # answer rdata bytes, TXT/NULL answers, min TTL, records read
    status = np.zeros(n, np.uint8)
    a_hi = np.zeros((n, MAX_ADDRS), np.uint64)
    a_lo = np.zeros((n, MAX_ADDRS), np.uint64)
    a_n = np.zeros(n, np.int32)
    label_off = np.zeros(128, np.int64)
    label_len = np.zeros(128, np.int64)
    for r in range(n):
        i = idx[r]
        base = data_off[i] + payload_off[i]
        avail = min(int(payload_len[i]), int(caplen[i]) - int(payload_off[i]))
        if avail < HEADER_LEN:
            status[r] = STATUS_TRUNCATED
            continue
        end = base + avail
        for k in range(6):
            hdr[r, k] = (data[base + 2 * k] << 8) | data[base + 2 * k + 1]
        ans[r, 2] = -1
        pos = base + HEADER_LEN
        if hdr[r, 2] == 0:
            continue
        st, tl, wl, nlab = _read_name(data, base, pos, end, names[r], label_off, label_len)
        geo[r, 0] = tl
        geo[r, 1] = nlab
        mx = 0
        for k in range(min(nlab, 128)):
            mx = max(mx, label_len[k])
        geo[r, 2] = mx
        # registered domain: last two labels, three under a generic second level (x.com.cn)
        nl = min(nlab, 128)
        keep = 2
        if nl >= 3 and label_len[nl - 1] == 2:
            off2 = label_off[nl - 2]
            if _is_sld_word(names[r], off2, label_len[nl - 2], words, wlen):
                keep = 3
        if nl >= 1 and not _plausible_tld(names[r], label_off[nl - 1], label_len[nl - 1]):
            # no registered domain under a TLD that cannot exist (dnscat2 without a domain
            # sends "dnscat.<hex>.<hex>"): the whole name is the left-hand part
            geo[r, 3] = tl
            geo[r, 4] = nl
            geo[r, 5] = tl
            ent[r] = _entropy(names[r], 0, tl)
        elif nl > keep:
            reg = label_off[nl - keep]
            geo[r, 3] = reg
            geo[r, 4] = nl - keep
            geo[r, 5] = reg - 1  # minus the dot before the registered domain
            ent[r] = _entropy(names[r], 0, reg - 1)
        else:
            geo[r, 3] = 0
        if st != STATUS_OK:
            status[r] = st
            continue
        p2 = _skip_name(data, pos, end)
        if p2 < 0 or p2 + 4 > end:
            status[r] = STATUS_TRUNCATED
            continue
        q[r, 0] = (data[p2] << 8) | data[p2 + 1]
        q[r, 1] = (data[p2 + 2] << 8) | data[p2 + 3]
        pos = p2 + 4
        # skip further questions
        for _ in range(1, min(hdr[r, 2], 16)):
            p2 = _skip_name(data, pos, end)
            if p2 < 0 or p2 + 4 > end:
                status[r] = STATUS_TRUNCATED
                break
            pos = p2 + 4
        if status[r] != STATUS_OK:
            continue
        for _ in range(min(hdr[r, 3], MAX_ANSWERS)):
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
            ans[r, 0] += rdlen
            if rtype == 16 or rtype == 10:
                ans[r, 1] += 1
            if ans[r, 2] < 0 or ttl < ans[r, 2]:
                ans[r, 2] = ttl
            ans[r, 3] += 1
            rd = p2 + 10
            if a_n[r] < MAX_ADDRS and (
                (rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16)
            ):
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
                a_hi[r, a_n[r]] = hi
                a_lo[r, a_n[r]] = lo
                a_n[r] += 1
            pos = p2 + 10 + rdlen
    return hdr, q, names, geo, ent, ans, status, a_hi, a_lo, a_n


@nb.njit(cache=True)
def _suffix(
    names: np.ndarray, lengths: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """names[r, start[r]:lengths[r]] for every row (the registered domain)."""
    out = np.zeros_like(names)
    out_len = np.zeros(names.shape[0], np.int32)
    for r in range(names.shape[0]):
        k = 0
        for j in range(start[r], lengths[r]):
            out[r, k] = names[r, j]
            k += 1
        out_len[r] = k
    return out, out_len


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
    idx = rows
    if idx.size == 0:
        return empty_messages()
    words, wlen = _sld_table()
    hdr, q, names, geo, ent, ans, status, a_hi, a_lo, a_n = _parse(
        idx,
        packets["data_off"],
        packets["caplen"],
        packets["payload_off"],
        packets["payload_len"],
        data,
        words,
        wlen,
    )
    p = {
        k: packets[k][idx]
        for k in ("ts", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "file_offset")
    }
    text = _names_to_str(names, geo[:, 0])
    reg_names, reg_len = _suffix(names, geo[:, 0], geo[:, 3])
    reg = _names_to_str(reg_names, reg_len)
    reg[(reg_len == 0) & (geo[:, 1] > 0)] = INVALID_TLD
    flags = hdr[:, 1]
    out: dict[str, Any] = {
        "ts_ns": p["ts"],
        "src_hi": p["src_hi"],
        "src_lo": p["src_lo"],
        "dst_hi": p["dst_hi"],
        "dst_lo": p["dst_lo"],
        "sport": p["sport"],
        "dport": p["dport"],
        "trans_id": hdr[:, 0].astype(np.uint16),
        "qr": (flags & 0x8000) != 0,
        "opcode": ((flags >> 11) & 0xF).astype(np.uint8),
        "rcode": (flags & 0xF).astype(np.uint8),
        "AA": (flags & 0x0400) != 0,
        "TC": (flags & 0x0200) != 0,
        "RD": (flags & 0x0100) != 0,
        "RA": (flags & 0x0080) != 0,
        "qdcount": hdr[:, 2].astype(np.uint16),
        "ancount": hdr[:, 3].astype(np.uint16),
        "qtype": q[:, 0].astype(np.uint16),
        "qclass": q[:, 1].astype(np.uint16),
        "query": pd.Series(text, dtype=object),  # object, not inferred arrow text
        "labels": geo[:, 1],
        "max_label": geo[:, 2],
        "sub_labels": geo[:, 4],
        "sub_len": np.maximum(geo[:, 5], 0),
        "sub_entropy": ent,
        "reg_domain": pd.Series(reg, dtype=object),
        "answer_bytes": ans[:, 0],
        "txt_null_answers": ans[:, 1],
        "min_ttl": ans[:, 2],
        "status": status,
        "file_offset": p["file_offset"],
    }
    out["answers"] = _answer_lists(a_hi, a_lo, a_n)
    return pd.DataFrame(out)


def _row_codes(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, first row of each code) for a 2-D uint64 matrix: splitmix64 over
    the row's words, then a hash factorization (distinct rows colliding needs ~2^32 of
    them).  Text is then built once per distinct row, not once per message."""
    h = np.zeros(words.shape[0], np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h ^= words[:, j] + np.uint64((0x9E3779B97F4A7C15 * (j + 1)) & (2**64 - 1))
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
    codes = np.asarray(pd.factorize(h)[0])
    # factorize numbers rows in order of first appearance: a new code is a new running max
    first = np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])
    return codes, first


def _answer_lists(a_hi: np.ndarray, a_lo: np.ndarray, a_n: np.ndarray) -> np.ndarray:
    """Per message, the list of A/AAAA answer addresses as text (None when there are none).

    Responses repeat the same answer sets: text is made once per distinct set and
    messages with the same set share one list object (read-only by contract).
    """
    from secaudit.capture.addr import addr_to_str

    out = np.full(a_n.shape[0], None, dtype=object)
    rows = np.flatnonzero(a_n > 0)
    if rows.size == 0:
        return out
    sets = np.column_stack([a_hi[rows], a_lo[rows], a_n[rows].astype(np.uint64)])
    codes, first = _row_codes(sets)
    u_rows = rows[first]
    mask = np.arange(MAX_ADDRS)[None, :] < a_n[u_rows, None]
    text = addr_to_str(a_hi[u_rows][mask], a_lo[u_rows][mask]).tolist()
    bounds = np.r_[0, np.cumsum(a_n[u_rows])].tolist()
    lists = np.empty(len(u_rows), dtype=object)
    for k in range(len(u_rows)):  # one list per distinct answer set
        lists[k] = text[bounds[k] : bounds[k + 1]]
    out[rows] = lists[codes]
    return out


def _names_to_str(names: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Fixed-width byte rows -> str array (rows are zero past their length, printable before).

    Decoded once per distinct name (str objects are shared between rows).
    """
    if names.shape[0] == 0:
        return np.zeros(0, dtype=object)
    width = max(int(lengths.max()), 1)
    w8 = -(-width // 8) * 8
    if names.shape[1] < w8:
        names = np.pad(names, ((0, 0), (0, w8 - names.shape[1])))
    words = np.ascontiguousarray(names[:, :w8]).view(np.uint64)
    codes, first = _row_codes(words)
    raw = np.ascontiguousarray(names[first, :width]).view(f"S{width}").ravel()
    uniq: np.ndarray = raw.astype(f"U{width}").astype(object)
    out: np.ndarray = uniq[codes]
    return out


_LOG_KEY = ["client_hi", "client_lo", "cport", "server_hi", "server_lo", "trans_id", "query"]


def _first_rows(codes: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Per code 0..k-1, the smallest of its `rows` (ascending input: its first row);
    codes without rows get a value past every row.  No sort."""
    out = np.full(k, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(out, codes, rows.astype(np.int64))
    return out


def _txn_codes(key: pd.DataFrame) -> np.ndarray:
    """Dense code per row of the transaction key (_LOG_KEY): splitmix64 over the columns
    (the query name by its factorized code), then a hash factorization.  Two distinct
    keys colliding needs ~2^32 transactions."""
    q = pd.factorize(key["query"].to_numpy(dtype=object), use_na_sentinel=False)[0]
    h = np.zeros(len(key), np.uint64)
    with np.errstate(over="ignore"):
        for k, c in enumerate([*(key[c].to_numpy() for c in _LOG_KEY[:-1]), q]):
            h ^= c.astype(np.uint64) + np.uint64((0x9E3779B97F4A7C15 * (k + 1)) & (2**64 - 1))
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
    codes: np.ndarray = pd.factorize(h)[0]
    return codes


def dns_log(messages: pd.DataFrame) -> pd.DataFrame:
    """Pair queries and responses: one row per transaction, Zeek dns.log-like columns.

    Numeric address columns are kept (orig_hi/lo, resp_hi/lo) so callers can
    convert only the addresses they report.  `answered` is False for a query
    that never saw a response; a response without a seen query is kept too.
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
    m = messages[(messages["opcode"] == 0) & (messages["status"] != STATUS_MALFORMED)]
    is_q = ~m["qr"].to_numpy(bool)
    col = {c: m[c].to_numpy() for c in m.columns if c not in ("query", "reg_domain", "answers")}
    key = pd.DataFrame(
        {
            "client_hi": np.where(is_q, col["src_hi"], col["dst_hi"]),
            "client_lo": np.where(is_q, col["src_lo"], col["dst_lo"]),
            "cport": np.where(is_q, col["sport"], col["dport"]),
            "server_hi": np.where(is_q, col["dst_hi"], col["src_hi"]),
            "server_lo": np.where(is_q, col["dst_lo"], col["src_lo"]),
            "trans_id": col["trans_id"],
            "query": m["query"].to_numpy(dtype=object),
        }
    )
    sport_srv = np.where(is_q, col["dport"], col["sport"])
    # one integer code per transaction (hash of the key columns, then a factorization);
    # every per-transaction value below is an array indexed by that code: no groupby, no join
    txn = _txn_codes(key)
    k = int(txn.max()) + 1 if len(txn) else 0
    q_rows, r_rows = np.flatnonzero(is_q), np.flatnonzero(~is_q)
    qc, rc = txn[q_rows], txn[r_rows]
    has_q = np.zeros(k, bool)
    has_q[qc] = True
    answered = np.zeros(k, bool)
    answered[rc] = True
    qf = _first_rows(qc, q_rows, k)  # first query / response message of each transaction
    rf = _first_rows(rc, r_rows, k)
    qf[~has_q] = 0  # any valid row: only read where has_q / answered
    rf[~answered] = 0
    rep = np.where(has_q, qf, rf)
    ts = col["ts_ns"].astype(np.int64)
    big = np.iinfo(np.int64).max
    q_ts = np.full(k, big, np.int64)
    r_ts = np.full(k, big, np.int64)
    np.minimum.at(q_ts, qc, ts[q_rows])
    np.minimum.at(r_ts, rc, ts[r_rows])
    ts_ns = np.where(has_q, q_ts, r_ts)
    both = has_q & answered
    rtt = np.full(k, np.nan)
    rtt[both] = (r_ts[both].astype(np.float64) - q_ts[both].astype(np.float64)) / 1e9
    # answers: the first response that carried any (None: answered without; NaN: no response)
    ans_obj = m["answers"].to_numpy(dtype=object)
    answers = np.full(k, np.nan, dtype=object)
    answers[answered] = None
    with_ans = r_rows[pd.notna(ans_obj[r_rows])]
    first_ans = _first_rows(txn[with_ans], with_ans, k)
    has_ans = first_ans < len(txn)
    answers[has_ans] = ans_obj[first_ans[has_ans]]

    def q_or(name: str, fill: Any, dtype: Any) -> np.ndarray:
        v: np.ndarray = np.where(has_q, col[name][qf].astype(dtype), fill).astype(dtype)
        return v

    def r_or(name: str, fill: Any, dtype: Any) -> np.ndarray:
        v: np.ndarray = np.where(answered, col[name][rf].astype(dtype), fill).astype(dtype)
        return v

    reg = m["reg_domain"].to_numpy(dtype=object)
    out = pd.DataFrame(
        {
            "ts": ts_ns.astype(np.float64) / 1e9,
            "orig_hi": key["client_hi"].to_numpy(np.uint64)[rep],
            "orig_lo": key["client_lo"].to_numpy(np.uint64)[rep],
            "id.orig_p": key["cport"].to_numpy(np.uint16)[rep],
            "resp_hi": key["server_hi"].to_numpy(np.uint64)[rep],
            "resp_lo": key["server_lo"].to_numpy(np.uint64)[rep],
            "id.resp_p": sport_srv.astype(np.uint16)[rep],
            "trans_id": col["trans_id"].astype(np.uint16)[rep],
            "rtt": rtt,
            "query": pd.Series(key["query"].to_numpy(dtype=object)[rep], dtype=object),
            "reg_domain": pd.Series(reg[rep], dtype=object),
            "qtype": col["qtype"].astype(np.uint16)[rep],
            "rcode": r_or("rcode", -1, np.int16),
            "answered": answered,
            "n_queries": np.bincount(qc, minlength=k).astype(np.int64),
            "ancount": r_or("ancount", 0, np.int64),
            "answer_bytes": r_or("answer_bytes", 0, np.int64),
            "txt_null_answers": r_or("txt_null_answers", 0, np.int64),
            "min_ttl": r_or("min_ttl", -1, np.int64),
            "answers": answers,
            "labels": col["labels"].astype(np.int32)[rep],
            "max_label": q_or("max_label", 0, np.int32),
            "sub_labels": q_or("sub_labels", 0, np.int32),
            "sub_len": q_or("sub_len", 0, np.int32),
            "sub_entropy": q_or("sub_entropy", 0.0, np.float64),
            "status": q_or("status", 0, np.uint8),
            "file_offset": col["file_offset"].astype(np.int64)[rep],
        }
    )
    out["qtype_name"] = out["qtype"].map(QTYPE_NAMES).fillna(out["qtype"].astype(str))
    out["rcode_name"] = out["rcode"].map(RCODE_NAMES)
    out.loc[~out["answered"], "rcode_name"] = None
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out[cols]
