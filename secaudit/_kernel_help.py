"""numba helpers shared by the protocol and detect kernels over the packets table."""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from secaudit.flows._engine import prefetch

__all__ = ["ask_record", "counts_entropy", "record_bytes"]

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
