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
        if nl > keep:
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


def parse_dns(
    packets: np.ndarray, data: np.ndarray, *, ports: tuple[int, ...] = (53, 5353)
) -> pd.DataFrame:
    """One row per DNS message in UDP datagrams to/from `ports` (names lowercase, escaped)."""
    if len(packets) == 0:
        return empty_messages()
    port_arr = np.asarray(ports, np.uint16)
    sel = (packets["proto"] == 17) & (
        np.isin(packets["sport"], port_arr) | np.isin(packets["dport"], port_arr)
    )
    idx = np.flatnonzero(sel)
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
        "query": text,
        "labels": geo[:, 1],
        "max_label": geo[:, 2],
        "sub_labels": geo[:, 4],
        "sub_len": np.maximum(geo[:, 5], 0),
        "sub_entropy": ent,
        "reg_domain": reg,
        "answer_bytes": ans[:, 0],
        "txt_null_answers": ans[:, 1],
        "min_ttl": ans[:, 2],
        "status": status,
        "file_offset": p["file_offset"],
    }
    out["answers"] = _answer_lists(a_hi, a_lo, a_n)
    df = pd.DataFrame(out)
    df["query"] = df["query"].astype(object)
    df["reg_domain"] = df["reg_domain"].astype(object)
    return df


def _answer_lists(a_hi: np.ndarray, a_lo: np.ndarray, a_n: np.ndarray) -> np.ndarray:
    """Per message, the list of A/AAAA answer addresses as text (None when there are none)."""
    from secaudit.capture.addr import addr_to_str

    out = np.full(a_n.shape[0], None, dtype=object)
    rows = np.flatnonzero(a_n > 0)
    if rows.size == 0:
        return out
    mask = np.arange(MAX_ADDRS)[None, :] < a_n[rows, None]
    text = addr_to_str(a_hi[rows][mask], a_lo[rows][mask]).tolist()
    ends = np.cumsum(a_n[rows]).tolist()
    start = 0
    for r, end in zip(rows.tolist(), ends, strict=True):  # one list slice per response
        out[r] = text[start:end]
        start = end
    return out


def _names_to_str(names: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Fixed-width byte rows -> str array (rows are zero past their length, printable before)."""
    if names.shape[0] == 0:
        return np.zeros(0, dtype=object)
    width = max(int(lengths.max()), 1)
    raw = np.ascontiguousarray(names[:, :width]).view(f"S{width}").ravel()
    out: np.ndarray = raw.astype(f"U{width}").astype(object)
    return out


_LOG_KEY = ["client_hi", "client_lo", "cport", "server_hi", "server_lo", "trans_id", "query"]


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
    is_q = ~m["qr"].to_numpy()
    key = pd.DataFrame(
        {
            "client_hi": np.where(is_q, m["src_hi"], m["dst_hi"]),
            "client_lo": np.where(is_q, m["src_lo"], m["dst_lo"]),
            "cport": np.where(is_q, m["sport"], m["dport"]),
            "server_hi": np.where(is_q, m["dst_hi"], m["src_hi"]),
            "server_lo": np.where(is_q, m["dst_lo"], m["src_lo"]),
            "sport_srv": np.where(is_q, m["dport"], m["sport"]),
            "trans_id": m["trans_id"].to_numpy(),
            "query": m["query"].to_numpy(),
        }
    )
    feat = m[
        [
            "ts_ns", "qtype", "reg_domain", "labels", "max_label", "sub_labels", "sub_len",
            "sub_entropy", "status", "file_offset",
        ]
    ].reset_index(drop=True)  # fmt: skip
    key = pd.concat([key, feat], axis=1)
    # one integer transaction code instead of a 7-column (object) groupby key and a
    # MultiIndex join: hash the key columns, then factorize the hashes
    txn = _txn_codes(key)
    key["_k"] = txn
    qs = key[is_q]
    rs = pd.concat(
        [
            key[~is_q].reset_index(drop=True),
            m.loc[
                ~is_q,
                ["rcode", "ancount", "answer_bytes", "txt_null_answers", "min_ttl", "answers"],
            ].reset_index(drop=True),
        ],
        axis=1,
    )
    qa = qs.groupby("_k", sort=False).agg(
        ts_ns=("ts_ns", "min"),
        n_queries=("ts_ns", "size"),
        sport_srv=("sport_srv", "first"),
        qtype=("qtype", "first"),
        reg_domain=("reg_domain", "first"),
        labels=("labels", "first"),
        max_label=("max_label", "first"),
        sub_labels=("sub_labels", "first"),
        sub_len=("sub_len", "first"),
        sub_entropy=("sub_entropy", "first"),
        status=("status", "first"),
        file_offset=("file_offset", "first"),
    )
    ra = rs.groupby("_k", sort=False).agg(
        r_ts=("ts_ns", "min"),
        r_sport=("sport_srv", "first"),
        r_qtype=("qtype", "first"),
        r_reg=("reg_domain", "first"),
        rcode=("rcode", "first"),
        ancount=("ancount", "first"),
        answer_bytes=("answer_bytes", "first"),
        txt_null_answers=("txt_null_answers", "first"),
        min_ttl=("min_ttl", "first"),
        r_off=("file_offset", "first"),
        r_feat=("labels", "first"),
        answers=("answers", "first"),
    )
    j = qa.join(ra, how="outer")
    # the key columns, exact (no float round trip), from any row of each transaction
    _, first_row = np.unique(txn, return_index=True)
    rows = first_row[j.index.to_numpy(np.int64)]
    j = j.reset_index(drop=True)
    for c in _LOG_KEY:
        j[c] = key[c].to_numpy()[rows]
    has_q = j["ts_ns"].notna()
    answered = j["r_ts"].notna()
    ts_ns = j["ts_ns"].where(has_q, j["r_ts"])
    out = pd.DataFrame(
        {
            "ts": ts_ns.to_numpy(np.float64) / 1e9,
            "orig_hi": j["client_hi"].to_numpy(np.uint64),
            "orig_lo": j["client_lo"].to_numpy(np.uint64),
            "id.orig_p": j["cport"].to_numpy(np.uint16),
            "resp_hi": j["server_hi"].to_numpy(np.uint64),
            "resp_lo": j["server_lo"].to_numpy(np.uint64),
            "id.resp_p": j["sport_srv"].where(has_q, j["r_sport"]).to_numpy(np.uint16),
            "trans_id": j["trans_id"].to_numpy(np.uint16),
            "rtt": np.where(has_q & answered, (j["r_ts"] - j["ts_ns"]) / 1e9, np.nan),
            "query": j["query"].astype(object),
            "reg_domain": j["reg_domain"].where(has_q, j["r_reg"]).astype(object),
            "qtype": j["qtype"].where(has_q, j["r_qtype"]).to_numpy(np.uint16),
            "rcode": j["rcode"].fillna(-1).to_numpy(np.int16),
            "answered": answered.to_numpy(),
            "n_queries": j["n_queries"].fillna(0).to_numpy(np.int64),
            "ancount": j["ancount"].fillna(0).to_numpy(np.int64),
            "answer_bytes": j["answer_bytes"].fillna(0).to_numpy(np.int64),
            "txt_null_answers": j["txt_null_answers"].fillna(0).to_numpy(np.int64),
            "min_ttl": j["min_ttl"].fillna(-1).to_numpy(np.int64),
            "answers": j["answers"].astype(object).to_numpy(),
            "labels": j["labels"].fillna(j["r_feat"]).fillna(0).to_numpy(np.int32),
            "max_label": j["max_label"].fillna(0).to_numpy(np.int32),
            "sub_labels": j["sub_labels"].fillna(0).to_numpy(np.int32),
            "sub_len": j["sub_len"].fillna(0).to_numpy(np.int32),
            "sub_entropy": j["sub_entropy"].fillna(0.0).to_numpy(np.float64),
            "status": j["status"].fillna(0).to_numpy(np.uint8),
            "file_offset": j["file_offset"].where(has_q, j["r_off"]).to_numpy(np.int64),
        }
    )
    out["qtype_name"] = out["qtype"].map(QTYPE_NAMES).fillna(out["qtype"].astype(str))
    out["rcode_name"] = out["rcode"].map(RCODE_NAMES)
    out.loc[~out["answered"], "rcode_name"] = None
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out[cols]
