"""numba helpers shared by the protocol and detect kernels over the packets table."""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from secaudit.flows._engine import prefetch

__all__ = ["AHEAD", "ask_ahead", "ask_record", "counts_entropy", "record_bytes"]

AHEAD = 8  # rows a per-packet kernel looks ahead for the memory it will read
_RECORD_SPAN = 137  # bytes of a packet record the kernels read: ts .. payload_len


@nb.njit(cache=True, inline="always")
def record_bytes(p: np.ndarray) -> np.ndarray:
    """The bytes of packet records `p`, for ask_record: a view of a contiguous table (the
    chunks'), else of a copy (the hints then miss; results are the same)."""
    return np.ascontiguousarray(p).view(np.uint8)


@nb.njit(cache=True, inline="always")
def ask_record(raw: np.ndarray, p: np.ndarray, row: Any) -> None:
    """Ask for packet record `row`'s bytes the kernels read (prefetch, no wait; raw:
    p.view(np.uint8)): a 173-byte record straddles up to four cache lines, and a kernel
    visiting a few records out of many finds them out of the caches."""
    at = np.int64(row) * p.itemsize
    for k in (0, 64, 128, _RECORD_SPAN - 1):
        prefetch(raw, at + k)  # type: ignore[call-arg]


@nb.njit(cache=True, inline="always")
def ask_ahead(
    raw: np.ndarray, p: np.ndarray, idx: np.ndarray, r: Any, data: np.ndarray, l4: bool
) -> None:
    """The hints of a kernel visiting packet rows idx[0], idx[1], ... at position r: the
    record 2 * AHEAD rows on (ask_record) and, AHEAD rows on, the first byte it will read
    of that frame, its L4 header (l4) or its payload (records and frames lie out of the
    caches when a kernel visits a few rows out of many)."""
    if r + 2 * AHEAD < idx.shape[0]:
        ask_record(raw, p, idx[r + 2 * AHEAD])
    if r + AHEAD < idx.shape[0]:
        a = p[idx[r + AHEAD]]
        off = a.l4_off if l4 else a.payload_off
        prefetch(data, np.int64(a.data_off) + np.int64(off))  # type: ignore[call-arg]


@nb.njit(cache=True)
def counts_entropy(counts: np.ndarray, n: int, first: int, last: int) -> float:
    """Shannon entropy (bits) of `n` bytes whose value counts are counts[first:last + 1]
    (all others zero), clearing those counts: the sum in ascending value order over the
    values seen, the same float as over all 256 at a fraction of the work."""
    h = 0.0
    for c in range(first, last + 1):
        if counts[c]:
            p = counts[c] / n
            h -= p * np.log2(p)
            counts[c] = 0
    return h
