"""The first bytes of every TCP stream in a capture, in sequence order, without a loop per packet.

Per chunk of packets (secaudit.capture), TCP segments with payload are
grouped by direction, placed by relative sequence number, de-duplicated and
trimmed (retransmissions, overlaps) and gathered with one vectorized copy;
only the prefix before the first hole is kept, up to a per-stream limit.  A
`keep` callback sees each stream's first bytes and decides how much more of
it is worth keeping (0 = drop), so unrelated traffic costs no memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from secaudit.model import Gap

__all__ = ["Stream", "StreamKey", "collect_streams"]

StreamKey = tuple[int, int, int, int, int, int]  # src_hi, src_lo, sport, dst_hi, dst_lo, dport
_SYN, _TCP = 2, 6
_GROUP = np.int64(1) << np.int64(34)  # spacing that keeps streams apart in one cumulative max


@dataclass
class Stream:
    """One direction of a TCP connection: first bytes, where they sit, when they were seen."""

    key: StreamKey
    base: int | None = None  # sequence number of the first payload byte (ISN + 1)
    data: bytearray = field(default_factory=bytearray)
    limit: int = 0
    first_ts: int = 0  # ns
    last_ts: int = 0
    hole: bool = False  # bytes missing: nothing after the hole is kept
    decided: bool = False  # keep() has fixed the limit
    source: str = ""

    @property
    def done(self) -> bool:
        return self.hole or len(self.data) >= self.limit


KeepFn = Callable[[Stream], int]


_GATHER_BATCH = 1 << 22  # bytes per fancy-index batch: the int64 index costs 8x the data


def _gather(
    data: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint8]:
    """Concatenate data[s:s+l] for all (s, l), a few fancy-index batches instead of a loop."""
    total = int(lens.sum())
    out = np.empty(total, dtype=np.uint8)
    if total == 0:
        return out
    ends = np.cumsum(lens)
    cut = np.searchsorted(ends, np.arange(_GATHER_BATCH, total, _GATHER_BATCH), side="left")
    bounds = np.unique(np.concatenate(([0], cut + 1, [len(lens)])))
    pos = 0
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        ln = lens[a:b]
        n = int(ln.sum())
        if n == 0:
            continue
        e = np.cumsum(ln)
        idx = np.arange(n, dtype=np.int64) + np.repeat(starts[a:b] - (e - ln), ln)
        out[pos : pos + n] = data[idx]
        pos += n
    return out


def _chunks(pcaps: Iterable[str | Path], gaps: list[Gap]) -> Iterator[tuple[object, str]]:
    from secaudit.capture import iter_chunks

    for chunk in iter_chunks([str(p) for p in pcaps]):
        gaps.extend(chunk.gaps)
        yield chunk, chunk.source


def collect_streams(
    pcaps: Iterable[str | Path],
    keep: KeepFn,
    *,
    initial_limit: int = 65536,
    gaps: list[Gap] | None = None,
    on_chunk: Callable[[Any], None] | None = None,
) -> dict[StreamKey, Stream]:
    """First bytes of each TCP stream of the captures (keys: directional 6-tuples).

    `on_chunk` sees every PacketChunk too, so other per-packet audits share the one read.
    """
    streams: dict[StreamKey, Stream] = {}
    dropped: set[StreamKey] = set()
    gap_list = gaps if gaps is not None else []
    for chunk, source in _chunks(pcaps, gap_list):
        if on_chunk is not None:
            on_chunk(chunk)
        _add_chunk(chunk, source, streams, dropped, keep, initial_limit)
    return streams


def _add_chunk(
    chunk: object,
    source: str,
    streams: dict[StreamKey, Stream],
    dropped: set[StreamKey],
    keep: KeepFn,
    initial_limit: int,
) -> None:
    pk = chunk.packets  # type: ignore[attr-defined]
    data = chunk.data  # type: ignore[attr-defined]
    tcp = pk["proto"] == _TCP
    names = pk.dtype.names or ()
    if "frag" in names:  # IP fragments: only the reassembled datagram's row carries the segment
        whole = (pk["frag"] & 1) == 0
        if "reasm" in names:
            whole |= pk["reasm"] == 2
        tcp &= whole
    if not tcp.any():
        return
    p = pk[tcp]
    cap = np.clip(
        p["caplen"].astype(np.int64) - p["payload_off"].astype(np.int64),
        0,
        p["payload_len"].astype(np.int64),
    )
    syn = (p["tcp_flags"] & _SYN) != 0
    sel = (cap > 0) | syn
    p, cap, syn = p[sel], cap[sel], syn[sel]
    if len(p) == 0:
        return
    keys = np.empty(
        len(p), dtype=[("a", "u8"), ("b", "u8"), ("c", "u2"), ("d", "u8"), ("e", "u8"), ("f", "u2")]
    )
    keys["a"], keys["b"], keys["c"] = p["src_hi"], p["src_lo"], p["sport"]
    keys["d"], keys["e"], keys["f"] = p["dst_hi"], p["dst_lo"], p["dport"]
    uniq, inv = np.unique(keys, return_inverse=True)
    inv = inv.reshape(-1)
    seq = p["seq"].astype(np.int64)
    ts = p["ts"]
    # first packet (file order) of each stream in this chunk, SYN sequence numbers
    first_idx = np.full(len(uniq), len(p), dtype=np.int64)
    np.minimum.at(first_idx, inv, np.arange(len(p)))
    first_pay = np.full(len(uniq), len(p), dtype=np.int64)
    pay_rows = np.flatnonzero(cap > 0)
    np.minimum.at(first_pay, inv[pay_rows], pay_rows)
    syn_seq = np.full(len(uniq), -1, dtype=np.int64)
    syn_rows = np.flatnonzero(syn)
    syn_seq[inv[syn_rows]] = seq[syn_rows]  # a retransmitted SYN carries the same ISN
    base = np.zeros(len(uniq), dtype=np.int64)
    have = np.zeros(len(uniq), dtype=np.int64)
    limit = np.zeros(len(uniq), dtype=np.int64)
    active = np.zeros(len(uniq), dtype=bool)
    states: list[Stream | None] = []
    for u, row in enumerate(uniq.tolist()):  # one step per stream, not per packet
        k: StreamKey = tuple(int(x) for x in row)  # type: ignore[assignment]
        if k in dropped:
            states.append(None)
            continue
        st = streams.get(k)
        if st is None:
            st = Stream(k, limit=initial_limit, first_ts=int(ts[first_idx[u]]), source=source)
            streams[k] = st
        if st.base is None:
            st.base = int((syn_seq[u] + 1) & 0xFFFFFFFF) if syn_seq[u] >= 0 else None
        if st.base is None:  # no SYN seen: the first segment with payload starts the stream
            if first_pay[u] >= len(p):
                states.append(st)
                continue
            st.base = int(seq[first_pay[u]])
        states.append(st)
        if st.done:
            continue
        base[u], have[u], limit[u], active[u] = st.base, len(st.data), st.limit, True
    use = active[inv] & (cap > 0)
    if not use.any():
        return
    idx = np.flatnonzero(use)
    g = inv[idx]
    rel = (seq[idx] - base[g]) & 0xFFFFFFFF
    rel = np.where(
        rel >= (1 << 31), rel - (1 << 32), rel
    )  # before the base: retransmitted old data
    length = np.minimum(cap[idx], np.maximum(limit[g] - rel, 0))
    end = rel + length
    ok = (length > 0) & (end > have[g])
    idx, g, rel, end = idx[ok], g[ok], rel[ok], end[ok]
    if len(idx) == 0:
        return
    order = np.lexsort((rel, g))
    idx, g, rel, end = idx[order], g[order], rel[order], end[order]
    # bytes already covered before each segment: running max of ends within the stream
    offset = g.astype(np.int64) * _GROUP
    run = np.maximum.accumulate(offset + end)
    prev = np.empty_like(run)
    prev[0] = offset[0] + have[g[0]]
    prev[1:] = run[:-1]
    first_of_group = np.ones(len(g), dtype=bool)
    first_of_group[1:] = g[1:] != g[:-1]
    prev = np.where(first_of_group, offset + have[g], np.maximum(prev, offset + have[g])) - offset
    hole = rel > prev
    # nothing after the first hole of a stream is contiguous with what we have
    hole_seen = np.maximum.accumulate(offset + hole.astype(np.int64) * (_GROUP // 2)) - offset
    take = (hole_seen == 0) & (end > prev)
    holes = np.unique(g[hole])
    start_in_seg = np.maximum(prev - rel, 0)
    idx, g, s, e = idx[take], g[take], start_in_seg[take], (end - rel)[take]
    src = p["data_off"][idx].astype(np.int64) + p["payload_off"][idx].astype(np.int64) + s
    blob = _gather(data, src, e - s)
    lens = e - s
    bounds = np.concatenate(([0], np.cumsum(lens)))
    grp_first = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1])))
    grp_last = np.concatenate((grp_first[1:], [len(g)]))
    for a, b in zip(grp_first.tolist(), grp_last.tolist(), strict=True):  # per stream
        st = states[int(g[a])]
        assert st is not None
        st.data += blob[bounds[a] : bounds[b]].tobytes()
        st.last_ts = int(ts[idx[b - 1]])
        if not st.decided and len(st.data) >= 8:
            st.limit = keep(st)
            st.decided = True
            if st.limit <= 0:
                dropped.add(st.key)
                del streams[st.key]
                continue
        if len(st.data) > st.limit:
            del st.data[st.limit :]
    for u in holes.tolist():
        st = states[int(u)]
        if st is not None and st.key in streams:
            st.hole = True
