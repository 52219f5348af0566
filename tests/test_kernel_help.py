"""secaudit._kernel_help: the entropy of byte counts and the packet-record hints."""

from __future__ import annotations

import numpy as np

from secaudit._kernel_help import counts_entropy, record_bytes
from secaudit.schemas import PACKET_DTYPE


def test_counts_entropy_matches_the_sum_over_all_values() -> None:
    """The span sum gives the same float as summing over all 256 values, and clears."""
    rng = np.random.default_rng(2)
    for n in (1, 7, 64, 1500):
        b = rng.integers(40, 200, n) if n % 2 else rng.integers(0, 256, n)
        counts = np.bincount(b, minlength=256).astype(np.int64)
        want = 0.0
        for c in range(256):
            if counts[c]:
                p = counts[c] / n
                want -= p * np.log2(p)
        got = counts_entropy(counts, n, int(b.min()), int(b.max()))
        assert got == want
        assert not counts.any()
    assert counts_entropy(np.zeros(256, np.int64), 0, 256, -1) == 0.0


def test_record_bytes_of_strided_records() -> None:
    """A strided packets table (not the chunks' contiguous one) is read through a copy."""
    p = np.zeros(10, PACKET_DTYPE)
    p["ts"] = np.arange(10)
    raw = record_bytes(p[::2])
    assert raw.shape == (5 * PACKET_DTYPE.itemsize,)
    assert np.array_equal(raw.view(PACKET_DTYPE)["ts"], [0, 2, 4, 6, 8])
    assert record_bytes(p).ctypes.data == p.ctypes.data  # contiguous: a view
