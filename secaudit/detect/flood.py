"""UDP/ICMP packet counters per (host, protocol, second), streamed over packet chunks.

detect.attacks reads them for floods: per host and second, packets and bytes sent to
it, packets it sent, and how many sources sent to it.  A numba kernel counts each chunk
straight into an open-addressing table keyed exactly by (host hi, host lo, protocol,
second) that lives across chunks, so memory follows the keys and `frame()` has nothing
left to group.  That table lies out of the caches, so the kernel hashes a chunk's keys
first and asks for their entries and rows a few keys ahead (prefetch).

Rows are numbered in order of first appearance, chunk by chunk: a chunk's destinations
first (in packet order), then its sources not seen yet.  `srcs` counts distinct sources
per (host, second) within each chunk and adds the chunk counts up (an upper bound when
a source sends in several chunks): evidence of spoofed spread, not a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from secaudit._kernel_help import AHEAD, ask_record, record_bytes
from secaudit.detect._addr import addr_column
from secaudit.detect._kernels import _mix
from secaudit.flows._engine import prefetch

__all__ = ["FloodCounters"]

# per key, one row (one cache line): host hi, host lo, protocol (17 UDP, 1 ICMP/ICMPv6),
# second, then the counters: packets and bytes toward the host, distinct sources (summed
# per chunk), packets the host sent
_HI, _LO, _PROTO, _BUCKET, _IN_PKTS, _IN_BYTES, _SRCS, _OUT_PKTS = range(8)
_WORDS = 8
_COLUMNS = ["host", "proto", "bucket", "in_pkts", "in_bytes", "srcs", "out_pkts"]


@nb.njit(cache=True, inline="always")
def _hash(hi: Any, lo: Any, proto: Any, bucket: Any) -> np.uint64:
    return _mix(
        _mix(_mix(hi ^ np.uint64(0x9E3779B97F4A7C15)) ^ lo) ^ (proto << np.uint64(56)) ^ bucket
    )


@nb.njit(cache=True)
def _slot(
    table: np.ndarray, rows: np.ndarray, n: int, hi: Any, lo: Any, proto: Any, bucket: Any
) -> int:
    """Row of key (hi, lo, proto, bucket), a new key taking row n with zero counters.

    Open addressing; an entry is the key's hash tag (high 32 bits) and row (low 32 bits),
    -1 when free, so a probe reads a row only for a likely match (rows are big and read
    at random).  The caller keeps the table at most half full and `rows` long enough.
    """
    return _slot_of(table, rows, n, _hash(hi, lo, proto, bucket), hi, lo, proto, bucket)


@nb.njit(cache=True, inline="always")
def _slot_of(
    table: np.ndarray, rows: np.ndarray, n: int, h: Any, hi: Any, lo: Any, proto: Any, bucket: Any
) -> int:
    """_slot of the key whose hash `h` is already made."""
    mask = table.shape[0] - 1
    tag = np.int64(h >> np.uint64(32))
    e = np.int64(h & np.uint64(mask))
    while True:
        x = table[e]
        if x == -1:
            table[e] = (tag << 32) | n
            rows[n, _HI], rows[n, _LO], rows[n, _PROTO], rows[n, _BUCKET] = hi, lo, proto, bucket
            for w in range(_IN_PKTS, _WORDS):  # element by element: no view per new key
                rows[n, w] = 0
            return n
        if (x >> 32) & 0xFFFFFFFF == tag:
            s = x & 0xFFFFFFFF
            if (
                rows[s, _HI] == hi
                and rows[s, _LO] == lo
                and rows[s, _PROTO] == proto
                and rows[s, _BUCKET] == bucket
            ):
                return int(s)
        e = (e + 1) & mask


@nb.njit(cache=True)
def _rehash(rows: np.ndarray, n: int, size: int) -> np.ndarray:
    """A table of `size` (a power of two) entries for rows 0..n-1."""
    table = np.full(size, -1, np.int64)
    mask = size - 1
    for s in range(n):
        k = rows[s]
        h = _hash(k[_HI], k[_LO], k[_PROTO], k[_BUCKET])
        e = np.int64(h & np.uint64(mask))
        while table[e] != -1:
            e = (e + 1) & mask
        table[e] = (np.int64(h >> np.uint64(32)) << 32) | s
    return table


@nb.njit(cache=True)
def _count_chunk(
    p: np.ndarray,
    idx: np.ndarray,
    bucket_ns: int,
    table: np.ndarray,
    rows: np.ndarray,
    n: int,
    pairs: np.ndarray,
) -> int:
    """Count packets rows `idx` (UDP, ICMP, ICMPv6) into the table and rows of all chunks
    (`n` keys so far, room for 2 * len(idx) more); returns the key count.

    Two passes: destinations (new keys numbered in packet order) with the chunk's
    distinct (destination key, source) pairs, exact by a table of first rows (`pairs`:
    a power of two >= 2 * len(idx), all -1); then sources (keys only a source names come
    after).  Straight into the table of all chunks: most keys (host, second) are new in
    their chunk, so a table per chunk added up afterwards did the work twice.
    """
    m = idx.shape[0]
    dk = np.empty((m, 5), np.uint64)  # destination keys: hi, lo, proto, second; hash
    sk = np.empty((m, 5), np.uint64)  # source keys
    size = np.empty(m, np.uint64)
    raw = record_bytes(p)
    for r in range(m):
        if r + AHEAD < m:  # the records lie out of the caches
            ask_record(raw, p, idx[r + AHEAD])
        q = p[idx[r]]
        pr = np.uint64(17) if q.proto == 17 else np.uint64(1)
        b = np.uint64(q.ts // bucket_ns)
        dk[r, 0], dk[r, 1], dk[r, 2], dk[r, 3] = q.dst_hi, q.dst_lo, pr, b
        sk[r, 0], sk[r, 1], sk[r, 2], sk[r, 3] = q.src_hi, q.src_lo, pr, b
        dk[r, 4] = _hash(q.dst_hi, q.dst_lo, pr, b)
        sk[r, 4] = _hash(q.src_hi, q.src_lo, pr, b)
        size[r] = q.wirelen
    flat = rows.reshape(rows.size)
    dst = np.empty(m, np.int64)
    mask = pairs.shape[0] - 1
    for r in range(m):
        _hint(table, flat, dk, r)
        s = _slot_of(table, rows, n, dk[r, 4], dk[r, 0], dk[r, 1], dk[r, 2], dk[r, 3])
        n = max(n, s + 1)
        dst[r] = s
        rows[s, _IN_PKTS] += np.uint64(1)
        rows[s, _IN_BYTES] += size[r]
        hi, lo = sk[r, 0], sk[r, 1]
        e = np.int64(_mix(_mix(np.uint64(s) ^ hi) ^ lo) & np.uint64(mask))
        while True:
            f = pairs[e]
            if f < 0:
                pairs[e] = r
                rows[s, _SRCS] += np.uint64(1)
                break
            if dst[f] == s and sk[f, 0] == hi and sk[f, 1] == lo:
                break
            e = (e + 1) & mask
    for r in range(m):
        _hint(table, flat, sk, r)
        s = _slot_of(table, rows, n, sk[r, 4], sk[r, 0], sk[r, 1], sk[r, 2], sk[r, 3])
        n = max(n, s + 1)
        rows[s, _OUT_PKTS] += np.uint64(1)
    return n


@nb.njit(cache=True, inline="always")
def _hint(table: np.ndarray, flat: np.ndarray, keys: np.ndarray, r: int) -> None:
    """Ask for what key r + 2 * AHEAD probes first (its table entry), and for the row
    that key r + AHEAD's first entry names (fetched by now): the table and rows of all
    chunks lie out of the caches."""
    mask = np.uint64(table.shape[0] - 1)
    if r + 2 * AHEAD < keys.shape[0]:
        prefetch(table, np.int64(keys[r + 2 * AHEAD, 4] & mask))  # type: ignore[call-arg]
    if r + AHEAD < keys.shape[0]:
        x = table[np.int64(keys[r + AHEAD, 4] & mask)]
        if x >= 0:
            prefetch(flat, (x & 0xFFFFFFFF) * _WORDS)  # type: ignore[call-arg]


@nb.njit(cache=True)
def _add(table: np.ndarray, rows: np.ndarray, n: int, o_rows: np.ndarray, o_n: int) -> int:
    """Add rows o_rows[:o_n] (keys in their order, counters added); returns the key count."""
    for j in range(o_n):
        k = o_rows[j]
        s = _slot(table, rows, n, k[_HI], k[_LO], k[_PROTO], k[_BUCKET])
        n = max(n, s + 1)
        for w in range(_IN_PKTS, _WORDS):
            rows[s, w] += k[w]
    return n


@dataclass
class FloodCounters:
    """Per (host, UDP|ICMP, second) counters across packet chunks (and merged files)."""

    bucket_ns: int = 1_000_000_000
    n: int = 0
    table: np.ndarray = field(default_factory=lambda: np.full(2048, -1, np.int64))
    rows: np.ndarray = field(default_factory=lambda: np.empty((1024, _WORDS), np.uint64))

    def update(self, packets: np.ndarray, idx: np.ndarray) -> None:
        """Count packets rows `idx` (UDP, ICMP, ICMPv6; packets: schemas.PACKET_DTYPE)."""
        if idx.size:
            self._room(2 * len(idx))
            size = 16
            while size < 2 * len(idx):  # a pair per packet at most, at most half full
                size *= 2
            pairs = np.full(size, -1, np.int64)
            self.n = _count_chunk(packets, idx, self.bucket_ns, self.table, self.rows, self.n,
                                  pairs)  # fmt: skip

    def merge(self, other: FloodCounters) -> None:
        """Another file's counters: its keys after these, counts of shared keys added
        (what counting its chunks after these would give)."""
        self._room(other.n)
        self.n = _add(self.table, self.rows, self.n, other.rows, other.n)

    def _room(self, n: int) -> None:
        """Room for `n` new keys: rows, and a table at most half full."""
        need = self.n + n
        if need > len(self.rows):
            grown = np.empty((max(need, 2 * len(self.rows)), _WORDS), np.uint64)
            grown[: self.n] = self.rows[: self.n]
            self.rows = grown
        if 2 * need > len(self.table):
            size = len(self.table)
            while size < 2 * need:
                size *= 2
            self.table = _rehash(self.rows, self.n, size)

    def frame(self) -> pd.DataFrame:
        """host (text), proto, bucket (second), in_pkts, in_bytes, srcs, out_pkts."""
        if self.n == 0:
            return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in _COLUMNS})
        r = self.rows[: self.n]
        out: dict[str, Any] = {
            "host": addr_column(r[:, _HI], r[:, _LO]),
            "proto": r[:, _PROTO].astype(np.uint8),
            "bucket": r[:, _BUCKET].astype(np.int64),
        }
        for name, w in zip(_COLUMNS[3:], (_IN_PKTS, _IN_BYTES, _SRCS, _OUT_PKTS), strict=True):
            out[name] = r[:, w].astype(np.int64)
        return pd.DataFrame(out)
