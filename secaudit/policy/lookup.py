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

from secaudit.policy.addr import U64

__all__ = ["AddrTable", "CidrTable", "addr_text", "unique_pairs"]

I32 = npt.NDArray[np.int32]
_ALL = (1 << 64) - 1


def unique_pairs(hi: U64, lo: U64) -> tuple[npt.NDArray[np.intp], U64, U64]:
    """(inverse, unique hi, unique lo) of (hi, lo) pairs, hash-based (no lexsort)."""
    ch, uh = pd.factorize(hi)
    cl, ul = pd.factorize(lo)
    key = ch.astype(np.int64) * np.int64(max(len(ul), 1)) + cl.astype(np.int64)
    inv, ukey = pd.factorize(key)
    uk = np.asarray(ukey, dtype=np.int64)
    n = np.int64(max(len(ul), 1))
    return (
        inv,
        np.asarray(uh, dtype=np.uint64)[uk // n],
        np.asarray(ul, dtype=np.uint64)[uk % n],
    )


def addr_text(hi: npt.ArrayLike, lo: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Text of every (hi, lo) address; each distinct one formatted once (inet_ntop, in C)."""
    h = np.asarray(hi, dtype=np.uint64)
    low = np.asarray(lo, dtype=np.uint64)
    if h.size == 0:
        return np.zeros(0, dtype=object)
    inv, uh, ul = unique_pairs(h, low)
    text = np.empty(len(uh), dtype=object)
    for i, (a, b) in enumerate(zip(uh.tolist(), ul.tolist(), strict=True)):
        if a == 0 and (b >> 32) == 0xFFFF:
            text[i] = socket.inet_ntop(socket.AF_INET, (b & 0xFFFF_FFFF).to_bytes(4, "big"))
        else:
            text[i] = socket.inet_ntop(socket.AF_INET6, ((a << 64) | b).to_bytes(16, "big"))
    return text[inv]


def _masks(plen: int) -> tuple[np.uint64, np.uint64]:
    bits = ((1 << plen) - 1) << (128 - plen) if plen else 0
    return np.uint64(bits >> 64), np.uint64(bits & _ALL)


class CidrTable:
    """Longest-prefix match of addresses against a list of networks -> a value per row."""

    def __init__(self, nets: Sequence[tuple[int, int, int, int]]) -> None:
        """`nets`: (net hi, net lo, prefix length 0-128, value >= 0); first entry wins a tie."""
        self._groups: list[tuple[np.uint64, np.uint64, pd.MultiIndex, npt.NDArray[np.int32]]] = []
        for plen in sorted({n[2] for n in nets}, reverse=True):
            rows = [n for n in nets if n[2] == plen]
            mh, ml = _masks(plen)
            h = np.array([r[0] for r in rows], dtype=np.uint64) & mh
            low = np.array([r[1] for r in rows], dtype=np.uint64) & ml
            vals = np.array([r[3] for r in rows], dtype=np.int32)
            idx = pd.MultiIndex.from_arrays([h, low])
            keep = ~idx.duplicated(keep="first")
            self._groups.append((mh, ml, idx[keep], vals[keep]))

    def __len__(self) -> int:
        return sum(len(g[2]) for g in self._groups)

    def lookup_unique(self, hi: U64, lo: U64) -> I32:
        """Lookup without de-duplication (use on already distinct addresses)."""
        out = np.full(len(hi), -1, dtype=np.int32)
        for mh, ml, idx, vals in self._groups:
            todo = np.flatnonzero(out < 0)
            if not len(todo):
                break
            q = pd.MultiIndex.from_arrays([hi[todo] & mh, lo[todo] & ml])
            pos = idx.get_indexer(q)
            hit = pos >= 0
            out[todo[hit]] = vals[pos[hit]]
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
