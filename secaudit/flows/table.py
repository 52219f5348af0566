"""Finished connection records -> the conn table (CONN_SCHEMA, Zeek column names)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numba as nb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from secaudit.capture.addr import addr_codes, addr_int_to_str, distinct_arrow
from secaudit.flows._engine import K_ICMP, K_OTHER, K_TCP, K_UDP, STATE_NAMES
from secaudit.schemas import CONN_SCHEMA

__all__ = [
    "CONN_COLUMNS",
    "ConnAddrCodes",
    "arrow_to_frame",
    "conn_arrow",
    "conn_arrow_codes",
    "conn_frame",
    "conn_frame_codes",
    "empty_conn_frame",
    "uid_bytes_of",
    "uid_strings",
]

CONN_COLUMNS = [f.name for f in CONN_SCHEMA]
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_UID_LEN = 18  # "C" + 17 base62 digits of 96 bits, like Zeek's uids


@nb.njit(cache=True)
def _b62(u1, u2, alphabet, out):  # type: ignore[no-untyped-def]
    """'C' + 17 base62 digits: 10 from the low end of u1, 7 from u2 (like Zeek's 96 bits)."""
    for i in range(u1.shape[0]):
        out[i, 0] = 67  # 'C'
        v = u1[i]
        for d in range(1, 11):
            out[i, d] = alphabet[v % np.uint64(62)]
            v //= np.uint64(62)
        v = u2[i]
        for d in range(11, _UID_LEN):
            out[i, d] = alphabet[v % np.uint64(62)]
            v //= np.uint64(62)


def uid_bytes_of(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Zeek-style uids as a fixed-width bytes array (S18)."""
    out = np.zeros((u1.shape[0], _UID_LEN), np.uint8)
    _b62(u1.astype(np.uint64), u2.astype(np.uint64), _B62, out)
    return out.view(f"S{_UID_LEN}").ravel()


def uid_strings(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Zeek-style uids ("C" + 17 base62 digits) as a numpy unicode array."""
    return uid_bytes_of(u1, u2).astype(str)


@nb.njit(cache=True)
def _mac_text(mac, out):  # type: ignore[no-untyped-def]
    hexd = "0123456789abcdef"
    for i in range(mac.shape[0]):
        m = mac[i]
        for j in range(6):
            byte = (m >> np.uint64(40 - 8 * j)) & np.uint64(0xFF)
            out[i, 3 * j] = ord(hexd[byte >> np.uint64(4)])
            out[i, 3 * j + 1] = ord(hexd[byte & np.uint64(0xF)])
            if j < 5:
                out[i, 3 * j + 2] = 58


def _mac_strings(mac: np.ndarray) -> pa.Array:
    """'aa:bb:..' per MAC (unset for 0), each distinct MAC formatted once."""
    codes, uniq = pd.factorize(mac.astype(np.uint64))
    uniq = np.asarray(uniq, np.uint64)
    buf = np.zeros((uniq.shape[0], 17), np.uint8)
    _mac_text(uniq, buf)
    text = pa.array(buf.view("S17").ravel(), mask=uniq == 0).cast(pa.string())
    return text.take(pa.array(codes.astype(np.int32)))


def _local(hi: np.ndarray, lo: np.ndarray, nets: Sequence[str] | None) -> pa.Array:
    """Site::is_local_addr per address; all unset when no local networks are configured."""
    if nets is None:
        return pa.nulls(hi.shape[0], pa.bool_())
    parsed = [ipaddress.ip_network(n, strict=False) for n in nets]
    codes, uh, ul = addr_codes(hi, lo)
    flags = []
    for h, low in zip(uh.tolist(), ul.tolist(), strict=True):
        ip = ipaddress.ip_address(addr_int_to_str(h, low))
        flags.append(any(ip.version == n.version and ip in n for n in parsed))
    return pa.array(np.asarray(flags, bool)[codes])


def empty_conn_frame() -> pd.DataFrame:
    """A conn table with no rows and the declared column types."""
    return pd.DataFrame({c: pd.Series([], dtype=_DTYPES.get(c, object)) for c in CONN_COLUMNS})


_DTYPES = {
    "ts": "float64", "id.orig_p": "UInt16", "id.resp_p": "UInt16", "duration": "Float64",
    "orig_bytes": "UInt64", "resp_bytes": "UInt64", "local_orig": "boolean",
    "local_resp": "boolean", "missed_bytes": "UInt64", "orig_pkts": "UInt64",
    "orig_ip_bytes": "UInt64", "resp_pkts": "UInt64", "resp_ip_bytes": "UInt64",
    "ip_proto": "UInt8", "vlan": "UInt16",
}  # fmt: skip


_PANDAS_TYPES = {
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _text(values: np.ndarray) -> pa.Array:
    """Arrow strings from a fixed-width bytes array, without Python objects."""
    return pa.array(np.ascontiguousarray(values)).cast(pa.string())


_MAX_OFFSET = 2**31 - 1  # Arrow string offsets are int32


def _fixed_text(values: np.ndarray) -> pa.Array:
    """Arrow strings of a fixed-width bytes array whose values fill their width (uids):
    its buffer becomes the string data as is, no copy and no UTF-8 check."""
    n, width = values.shape[0], values.dtype.itemsize
    if n * width > _MAX_OFFSET:
        return _text(values)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    data = np.ascontiguousarray(values).view(np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


@nb.njit(cache=True)
def _pack_rows(rows, offsets, data):  # type: ignore[no-untyped-def]
    """Each row's bytes up to its first zero, one after the other; offsets[i] is where
    row i starts (offsets[n]: the end).  Returns how many bytes were written."""
    k = 0
    for i in range(rows.shape[0]):
        offsets[i] = k
        for c in rows[i]:
            if c == 0:
                break
            data[k] = c
            k += 1
    offsets[rows.shape[0]] = k
    return k


def _history_text(rows: np.ndarray) -> pa.Array:
    """Arrow strings of zero-padded ASCII rows (history letters), null when empty."""
    n = rows.shape[0]
    if rows.size > _MAX_OFFSET:
        hist = rows.view(f"S{rows.shape[1]}").ravel()
        return pa.array(hist, mask=hist == b"").cast(pa.string())
    offsets = np.empty(n + 1, np.int32)
    data = np.empty(rows.size, np.uint8)
    used = _pack_rows(rows, offsets, data)
    valid = offsets[1:] != offsets[:-1]
    bitmap = np.packbits(valid, bitorder="little")
    return pa.StringArray.from_buffers(
        n,
        pa.py_buffer(offsets),
        pa.py_buffer(data[:used]),
        pa.py_buffer(bitmap),
        null_count=n - int(np.count_nonzero(valid)),
    )


def _parent_names(
    npar: np.ndarray,
    par: np.ndarray,
    uid1: np.ndarray,
    uid_bytes: np.ndarray,
    parent_uids: Mapping[int, int] | None,
) -> pa.Array:
    """tunnel_parents: the uids of each row's enclosing tunnels (a Python step per
    tunnelled connection only; most rows have none)."""
    n = npar.shape[0]
    parents: list[str | None] = [None] * n
    by_h1 = dict(zip(uid1.tolist(), uid_bytes.astype(str).tolist(), strict=True))
    for i in np.flatnonzero(npar > 0).tolist():
        names = []
        for h in par[i][: npar[i]].tolist():
            name = by_h1.get(h)
            if name is None and parent_uids is not None and h in parent_uids:
                # the tunnel's own connection was written in an earlier batch
                name = str(
                    uid_strings(np.array([h], np.uint64), np.array([parent_uids[h]], np.uint64))[0]
                )
            if name is None:  # an IP-in-IP/GRE tunnel: no conn of its own, a stable uid
                name = str(uid_strings(np.array([h], np.uint64), np.array([h >> 7], np.uint64))[0])
            names.append(name)
        parents[i] = ",".join(sorted(set(names)))
    return pa.array(parents, type=pa.string())


_PROTO_BY_KIND = {K_TCP: "tcp", K_UDP: "udp", K_ICMP: "icmp", K_OTHER: "unknown_transport"}
_PROTO_NAMES = pa.array([_PROTO_BY_KIND[k] for k in range(len(_PROTO_BY_KIND))], pa.string())
_STATE_TEXT = pa.array(list(STATE_NAMES), pa.string())


def _codes(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int32))


_U8 = (
    "orig_hi", "orig_lo", "resp_hi", "resp_lo", "orig_bytes", "resp_bytes", "missed",
    "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "uid1", "uid2", "orig_l2",
    "resp_l2",
)  # fmt: skip


@nb.njit(cache=True)
def _gather(recs, order, i8, u8, u2, u1, hist, par):  # type: ignore[no-untyped-def]
    """Tracker records (tracker.OUT_DTYPE) in `order`, split into column arrays in one
    pass: extracting each field from the 229-byte records separately reads them ~30x."""
    for i in range(order.shape[0]):
        r = recs[order[i]]
        i8[0, i] = r.start
        i8[1, i] = r.last
        u8[0, i] = r.orig_hi
        u8[1, i] = r.orig_lo
        u8[2, i] = r.resp_hi
        u8[3, i] = r.resp_lo
        u8[4, i] = r.orig_bytes
        u8[5, i] = r.resp_bytes
        u8[6, i] = r.missed
        u8[7, i] = r.orig_pkts
        u8[8, i] = r.orig_ip_bytes
        u8[9, i] = r.resp_pkts
        u8[10, i] = r.resp_ip_bytes
        u8[11, i] = r.uid1
        u8[12, i] = r.uid2
        u8[13, i] = r.orig_l2
        u8[14, i] = r.resp_l2
        u2[0, i] = r.orig_p
        u2[1, i] = r.resp_p
        u2[2, i] = r.vlan
        u2[3, i] = r.source
        u1[0, i] = r.kind
        u1[1, i] = r.ip_proto
        u1[2, i] = 1 if r.has_bytes else 0
        u1[3, i] = r.state
        u1[4, i] = r.npar
        for k in range(hist.shape[1]):
            hist[i, k] = r.history[k]
        for k in range(par.shape[1]):
            par[i, k] = r.par[k]


def _start_order(recs: np.ndarray) -> np.ndarray:
    """Row order by (start, uid1): one stable sort, a lexsort only when starts tie."""
    start = np.ascontiguousarray(recs["start"])
    order = np.argsort(start, kind="stable")
    s = start[order]
    if (s[1:] == s[:-1]).any():
        order = np.lexsort((np.ascontiguousarray(recs["uid1"]), start))
    return order


class ConnAddrCodes(NamedTuple):
    """Per conn row, its orig and resp address as codes into `values` (address text): one
    code space, numbered in order of first appearance down id.orig_h, then the id.resp_h
    addresses it lacks.  Detectors group and join on these integers (detect._common);
    `hi`/`lo` are each value's address as numbers (IPv4 mapped), so a policy lookup need
    not parse the text back."""

    orig: npt.NDArray[np.intp]
    resp: npt.NDArray[np.intp]
    values: npt.NDArray[np.object_]
    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]


def conn_arrow(
    recs: np.ndarray,
    sources: Sequence[str],
    local_nets: Sequence[str] | None = None,
    parent_uids: Mapping[int, int] | None = None,
) -> pa.Table:
    """The conn table (CONN_SCHEMA) as an Arrow table, ordered by start time.

    Columnar all the way: strings are built from distinct values (addresses,
    states, sources) and gathered with Arrow `take`, so no Python object is made
    per row.  parent_uids maps uid1 -> uid2 of tunnel connections already written
    in earlier batches (streaming), so tunnel_parents can name them.
    """
    return _conn_arrow(recs, sources, local_nets, parent_uids)[0]


def conn_arrow_codes(
    recs: np.ndarray,
    sources: Sequence[str],
    local_nets: Sequence[str] | None = None,
    parent_uids: Mapping[int, int] | None = None,
) -> tuple[pa.Table, ConnAddrCodes]:
    """conn_arrow and the address codes it built the address columns from, which spares
    a reader of the table hashing its address text again."""
    table, codes, (text, hi, lo) = _conn_arrow(recs, sources, local_nets, parent_uids)
    n = table.num_rows
    values = np.empty(len(text), dtype=object)
    values[:] = text.to_pylist()
    return table, ConnAddrCodes(codes[:n], codes[n:], values, hi, lo)


def _conn_arrow(
    recs: np.ndarray,
    sources: Sequence[str],
    local_nets: Sequence[str] | None,
    parent_uids: Mapping[int, int] | None,
) -> tuple[pa.Table, npt.NDArray[np.intp], tuple[pa.Array, np.ndarray, np.ndarray]]:
    """(table, orig then resp address codes, (distinct address text, its hi, its lo))."""
    if recs.shape[0] == 0:
        empty = pa.Table.from_pandas(empty_conn_frame(), schema=CONN_SCHEMA, preserve_index=False)
        none = np.zeros(0, np.uint64)
        return empty, np.zeros(0, np.intp), (pa.array([], pa.string()), none, none)
    order = _start_order(recs)
    n = recs.shape[0]
    i8 = np.empty((2, n), np.int64)
    u8 = np.empty((len(_U8), n), np.uint64)
    u2 = np.empty((4, n), np.uint16)
    u1 = np.empty((5, n), np.uint8)
    hmax, npmax = recs.dtype["history"].shape[0], recs.dtype["par"].shape[0]
    hist_rows = np.empty((n, hmax), np.uint8)
    par = np.empty((n, npmax), np.uint64)
    _gather(recs, order, i8, u8, u2, u1, hist_rows, par)
    got = dict(zip(_U8, u8, strict=True))
    got.update(start=i8[0], last=i8[1], orig_p=u2[0], resp_p=u2[1], vlan=u2[2], source=u2[3])
    got.update(kind=u1[0], ip_proto=u1[1], has_bytes=u1[2].view(np.bool_), state=u1[3], npar=u1[4])

    def col(name: str) -> np.ndarray:
        return got[name]

    start, uid1, uid2 = col("start"), col("uid1"), col("uid2")
    uid_bytes = uid_bytes_of(uid1, uid2)
    kind = col("kind")
    proto_code = np.where(kind < len(_PROTO_BY_KIND), kind, K_OTHER)
    no_bytes = ~col("has_bytes")
    dur = (col("last") - start).astype(np.float64) / 1e9
    orig_hi, orig_lo, resp_hi, resp_lo = (
        col("orig_hi"),
        col("orig_lo"),
        col("resp_hi"),
        col("resp_lo"),
    )
    nulls = pa.nulls(n, pa.string())
    src_names = pa.array(list(sources) or ["-"], pa.string())
    src_code = np.minimum(col("source"), len(src_names) - 1)
    vlan = col("vlan")
    npar = col("npar")
    parents = nulls
    if npar.any():
        parents = _parent_names(npar, par, uid1, uid_bytes, parent_uids)
    # both address columns in one code space: one hash pass, each address formatted once
    inv, uh, ul = addr_codes(np.concatenate([orig_hi, resp_hi]), np.concatenate([orig_lo, resp_lo]))
    codes = np.asarray(inv, np.intp)
    text = distinct_arrow(uh, ul)
    at = codes.astype(np.int32)
    cols: dict[str, pa.Array] = {
        "ts": pa.array(start.astype(np.float64) / 1e9),
        "uid": _fixed_text(uid_bytes),
        "id.orig_h": text.take(pa.array(at[:n])),
        "id.orig_p": pa.array(col("orig_p")),
        "id.resp_h": text.take(pa.array(at[n:])),
        "id.resp_p": pa.array(col("resp_p")),
        "proto": _PROTO_NAMES.take(_codes(proto_code)),
        "service": nulls,
        "duration": pa.array(dur, mask=no_bytes),
        "orig_bytes": pa.array(col("orig_bytes"), mask=no_bytes),
        "resp_bytes": pa.array(col("resp_bytes"), mask=no_bytes),
        "conn_state": _STATE_TEXT.take(_codes(col("state"))),
        "local_orig": _local(orig_hi, orig_lo, local_nets),
        "local_resp": _local(resp_hi, resp_lo, local_nets),
        "missed_bytes": pa.array(col("missed")),
        "history": _history_text(hist_rows),
        "orig_pkts": pa.array(col("orig_pkts")),
        "orig_ip_bytes": pa.array(col("orig_ip_bytes")),
        "resp_pkts": pa.array(col("resp_pkts")),
        "resp_ip_bytes": pa.array(col("resp_ip_bytes")),
        "tunnel_parents": parents,
        "ip_proto": pa.array(col("ip_proto")),
        "orig_l2_addr": _mac_strings(col("orig_l2")),
        "resp_l2_addr": _mac_strings(col("resp_l2")),
        "vlan": pa.array(vlan, mask=vlan == 0),
        "orig_zone": nulls,
        "resp_zone": nulls,
        "source": src_names.take(_codes(src_code)),
    }
    return pa.table(cols, schema=CONN_SCHEMA), codes, (text, uh, ul)


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """The analysts' DataFrame (object strings, nullable integer columns) of a conn table."""
    df: pd.DataFrame = table.to_pandas(types_mapper=_PANDAS_TYPES.get)
    df["duration"] = df["duration"].astype("Float64")
    return df


def conn_frame(
    recs: np.ndarray,
    sources: Sequence[str],
    local_nets: Sequence[str] | None = None,
    parent_uids: Mapping[int, int] | None = None,
) -> pd.DataFrame:
    """Build the conn table from tracker records, ordered by start time like conn.log."""
    if recs.shape[0] == 0:
        return empty_conn_frame()
    return arrow_to_frame(conn_arrow(recs, sources, local_nets, parent_uids))


def conn_frame_codes(
    recs: np.ndarray, sources: Sequence[str], local_nets: Sequence[str] | None = None
) -> tuple[pd.DataFrame, ConnAddrCodes]:
    """conn_frame and its address codes (ConnAddrCodes)."""
    table, codes = conn_arrow_codes(recs, sources, local_nets)
    frame = empty_conn_frame() if recs.shape[0] == 0 else arrow_to_frame(table)
    return frame, codes
