"""Vectorized address lookups: longest-prefix CIDR match and exact address match.

Both work over whole columns of (hi, lo) uint64 addresses.  Distinct
addresses are found first (three hash factorizations, no sort), each
distinct address is looked up once per prefix length present in the table
(masked, then a hash lookup), and the answer is broadcast back to the rows.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from secaudit.capture.addr import addr_text_rows
from secaudit.policy.addr import U64

__all__ = ["AddrTable", "CidrTable", "addr_text", "addr_text_column", "unique_pairs"]

I32 = npt.NDArray[np.int32]
_ALL = (1 << 64) - 1


def unique_pairs(hi: U64, lo: U64) -> tuple[npt.NDArray[np.intp], U64, U64]:
    """(inverse, unique hi, unique lo) of (hi, lo) pairs in order of first appearance,
    hash-based (no lexsort).

    One factorization of a 64-bit combination of the pair (exact for IPv4-mapped rows,
    whose hi is 0), checked against the rows; should two pairs share a combination,
    the pairs are factorized column by column instead."""
    with np.errstate(over="ignore"):
        mixed = (hi * np.uint64(0x9E3779B97F4A7C15)) ^ lo
    inv, _ = pd.factorize(mixed)
    first = (
        np.flatnonzero(np.r_[True, inv[1:] > np.maximum.accumulate(inv)[:-1]]) if len(inv) else inv
    )
    uh, ul = hi[first], lo[first]
    if np.array_equal(uh[inv], hi) and np.array_equal(ul[inv], lo):
        return inv, np.asarray(uh, dtype=np.uint64), np.asarray(ul, dtype=np.uint64)
    ch, uh2 = pd.factorize(hi)
    cl, ul2 = pd.factorize(lo)
    key = ch.astype(np.int64) * np.int64(max(len(ul2), 1)) + cl.astype(np.int64)
    inv, ukey = pd.factorize(key)
    uk = np.asarray(ukey, dtype=np.int64)
    n = np.int64(max(len(ul2), 1))
    return (
        inv,
        np.asarray(uh2, dtype=np.uint64)[uk // n],
        np.asarray(ul2, dtype=np.uint64)[uk % n],
    )


def addr_text(hi: npt.ArrayLike, lo: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Text of every (hi, lo) address; each distinct one formatted once (inet_ntop, in C)."""
    h = np.asarray(hi, dtype=np.uint64)
    low = np.asarray(lo, dtype=np.uint64)
    if h.size == 0:
        return np.zeros(0, dtype=object)
    inv, uh, ul = unique_pairs(h, low)
    return np.array(_distinct_text(uh, ul), dtype=object)[inv]


def addr_text_column(hi: npt.ArrayLike, lo: npt.ArrayLike) -> pd.Series:
    """addr_text as a pandas text column built from Arrow (the dtype pandas gives a column
    of addr_text), without a Python str per row; empty: an object column, as before."""
    h = np.asarray(hi, dtype=np.uint64)
    low = np.asarray(lo, dtype=np.uint64)
    if h.size == 0:
        return pd.Series(np.zeros(0, dtype=object), dtype=object)
    inv, uh, ul = unique_pairs(h, low)
    return pd.Series(_distinct_arrow(uh, ul).take(pa.array(inv.astype(np.int64))), dtype="str")


def _distinct_arrow(uh: U64, ul: U64) -> pa.LargeStringArray:
    """_distinct_text as an Arrow array built from byte rows, without a Python str per
    address: IPv4-mapped ones from the capture reader's compiled formatter, the rest
    (usually few) from inet_ntop one by one."""
    v4 = (uh == 0) & ((ul >> np.uint64(32)) == np.uint64(0xFFFF))
    rows = np.zeros((len(uh), 46), np.uint8)  # zero-padded; inet_ntop writes <= 45 bytes
    rows[v4, :39] = addr_text_rows(
        np.ascontiguousarray(uh[v4], np.uint64), np.ascontiguousarray(ul[v4], np.uint64)
    )
    for i in np.flatnonzero(~v4).tolist():
        b = (int(uh[i]) << 64) | int(ul[i])
        text = socket.inet_ntop(socket.AF_INET6, b.to_bytes(16, "big")).encode("ascii")
        rows[i, : len(text)] = np.frombuffer(text, np.uint8)
    filled = rows != 0  # a text is its leading non-zero bytes
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(filled.sum(axis=1), out=offsets[1:])
    data = np.ascontiguousarray(rows[filled])
    return pa.LargeStringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data))


def _distinct_text(uh: U64, ul: U64) -> list[str]:
    """inet_ntop text of distinct addresses: IPv4-mapped ones as dotted quads by the capture
    reader's compiled formatter (the same text), the rest through inet_ntop one by one."""
    v4 = (uh == 0) & ((ul >> np.uint64(32)) == np.uint64(0xFFFF))
    text = np.empty(len(uh), dtype=object)
    if v4.any():
        quads = addr_text_rows(
            np.ascontiguousarray(uh[v4], np.uint64), np.ascontiguousarray(ul[v4], np.uint64)
        )
        text[v4] = quads.view("S39").ravel().astype("U39").astype(object)
    for i in np.flatnonzero(~v4).tolist():
        b = (int(uh[i]) << 64) | int(ul[i])
        text[i] = socket.inet_ntop(socket.AF_INET6, b.to_bytes(16, "big"))
    out: list[str] = text.tolist()
    return out


def _masks(plen: int) -> tuple[np.uint64, np.uint64]:
    bits = ((1 << plen) - 1) << (128 - plen) if plen else 0
    return np.uint64(bits >> 64), np.uint64(bits & _ALL)


def _mix(hi: U64, lo: U64) -> U64:
    """unique_pairs' 64-bit combination of (hi, lo) (exact for IPv4-mapped addresses)."""
    with np.errstate(over="ignore"):
        out: U64 = (hi * np.uint64(0x9E3779B97F4A7C15)) ^ lo
    return out


class _Group:
    """The networks of one prefix length: masked (hi, lo) keys found through one uint64
    hash index of their combination (a MultiIndex of two levels costs several times more
    to build and to probe); a probe's hit is checked against both halves."""

    def __init__(self, plen: int, hi: U64, lo: U64, vals: npt.NDArray[np.int32]) -> None:
        self.mh, self.ml = _masks(plen)
        inv, self.hi, self.lo = unique_pairs(hi & self.mh, lo & self.ml)
        first = np.flatnonzero(np.r_[True, inv[1:] > np.maximum.accumulate(inv)[:-1]])
        self.vals = vals[first]  # the first entry of equal networks wins
        self.index = pd.Index(_mix(self.hi, self.lo))
        self.exact = self.index.is_unique  # else two networks share a combination: MultiIndex
        if not self.exact:
            self.index = pd.MultiIndex.from_arrays([self.hi, self.lo])

    def __len__(self) -> int:
        return len(self.vals)

    def find(self, hi: U64, lo: U64) -> npt.NDArray[np.intp]:
        """Row of each address's network in this group, -1 where none."""
        qh, ql = hi & self.mh, lo & self.ml
        if not self.exact:
            return np.asarray(self.index.get_indexer(pd.MultiIndex.from_arrays([qh, ql])))
        pos = np.asarray(self.index.get_indexer(pd.Index(_mix(qh, ql))))
        cand = np.maximum(pos, 0)
        same = (self.hi[cand] == qh) & (self.lo[cand] == ql)
        return np.where((pos >= 0) & same, pos, -1)


class CidrTable:
    """Longest-prefix match of addresses against a list of networks -> a value per row."""

    def __init__(self, nets: Sequence[tuple[int, int, int, int]]) -> None:
        """`nets`: (net hi, net lo, prefix length 0-128, value >= 0); first entry wins a tie."""
        self._groups: list[_Group] = []
        for plen in sorted({n[2] for n in nets}, reverse=True):
            rows = [n for n in nets if n[2] == plen]
            h = np.array([r[0] for r in rows], dtype=np.uint64)
            low = np.array([r[1] for r in rows], dtype=np.uint64)
            vals = np.array([r[3] for r in rows], dtype=np.int32)
            self._groups.append(_Group(plen, h, low, vals))

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups)

    def lookup_unique(self, hi: U64, lo: U64) -> I32:
        """Lookup without de-duplication (use on already distinct addresses)."""
        out = np.full(len(hi), -1, dtype=np.int32)
        for g in self._groups:
            todo = np.flatnonzero(out < 0)
            if not len(todo):
                break
            pos = g.find(hi[todo], lo[todo])
            hit = pos >= 0
            out[todo[hit]] = g.vals[pos[hit]]
        return out

    def lookup(self, hi: U64, lo: U64) -> I32:
        """Value of the longest matching network per row, -1 where none matches."""
        if not self._groups or len(hi) == 0:
            return np.full(len(hi), -1, dtype=np.int32)
        if len(hi) < 4096:
            return self.lookup_unique(hi, lo)
        inv, uh, ul = unique_pairs(hi, lo)
        return self.lookup_unique(uh, ul)[inv]


class AddrTable(CidrTable):
    """Exact address -> value (a CidrTable of /128s)."""

    def __init__(self, addrs: Sequence[tuple[int, int, int]]) -> None:
        super().__init__([(h, low, 128, v) for h, low, v in addrs])
