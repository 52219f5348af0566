"""TCP analysis: retransmissions, duplicate ACKs, zero windows, handshake RTT.

Semantics follow Wireshark's tcp.analysis flags, which analysts already read:
* retransmission: a segment with > 1 payload byte that starts below the highest
  sequence end already sent in that direction (window probes and keep-alives,
  i.e. 1-byte segments and segments sent while the peer advertises a zero
  window, are not retransmissions);
* duplicate ACK: a pure ACK (no SYN/FIN/RST) repeating the previous ACK
  number and the same non-zero window of that direction;
* zero window: a non-RST, non-SYN segment advertising window 0; the stall lasts
  until the same side advertises a non-zero window (or its last packet);
* handshake RTT: first SYN-ACK minus the last SYN before it.

Streaming: `TcpStream.feed` runs each chunk's TCP packets through one numba pass
(_kernels.tcp_feed, beside the marker and hash code it inlines) that updates
per-flow state held in arrays growing with the flows (flow hash -> slot table),
so nothing per packet outlives its chunk.  Packets are analysed in capture
order, each chunk stably sorted by time when its timestamps go backwards; a
packet that steps back behind an earlier chunk is taken in capture order (the
per-packet implementation this replaced sorted the whole capture; results
differ only for such captures).  Per flow and second the stream also counts
data segments, retransmissions and duplicate ACKs (`buckets`, for
detect.health).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from secaudit.detect._addr import addr_column
from secaudit.detect._kernels import (
    DIR_WORDS,
    FLOW_WORDS,
    NO_TS,
    TCP_BLOCK,
    in_time_order,
    tcp_dir_rows,
    tcp_feed,
    tcp_rehash,
)

__all__ = ["TcpAnalysis", "TcpStream", "tcp_tables"]

_FLOWS0, _ROWS0 = 1024, 4096  # initial capacities; doubled as the flows come

_DIR_COLS = [  # the columns of tcp_feed's counters, in _kernels.D_* order
    "pkts", "data_pkts", "retrans", "dupacks", "zero_win", "zw_stall_ns", "first_ns",
    "last_ns", "payload_bytes", "probes", "probe_bits", "ssh_banner", "login_fail",
    "http_auth_fail", "login_post", "rdp_cr",
]  # fmt: skip


_FLOW_COLS = ["syn_ns", "synack_ns", "rtt_ns", "client_dir"]
_BUCKET_COLS = ["flow", "sec", "data", "retrans", "dupack"]


class TcpAnalysis:
    """Results of the TCP analysis: `directions` (one row per flow and sending side),
    `flows` (handshake) and `buckets` (per flow and second: data, retrans, dupack)."""

    def __init__(
        self, directions: pd.DataFrame, flows: pd.DataFrame, buckets: pd.DataFrame
    ) -> None:
        self.directions = directions
        self.flows = flows
        self.buckets = buckets


class TcpStream:
    """Per-flow TCP state carried from chunk to chunk (memory grows with flows, not packets).

    Slots are numbered in order of the flows' first packets, which is the row order of
    `result()`.  Arrays are those _kernels.tcp_feed documents.
    """

    def __init__(self) -> None:
        self.count = np.zeros(3, np.int64)  # flows, bucket rows, unused
        self.table = np.full((4 * _FLOWS0, 2), -1, np.int64)
        self.keys = np.empty(_FLOWS0, np.uint64)
        self.d = _aligned((_FLOWS0, 2, DIR_WORDS))
        self.fs = _aligned((_FLOWS0, FLOW_WORDS))
        self.ep = np.empty((_FLOWS0, 5), np.uint64)
        self.bk = np.empty((_ROWS0, 5), np.int64)

    def feed(
        self, p: np.ndarray, data: np.ndarray, idx: np.ndarray, in_order: bool = False
    ) -> None:
        """Analyse the TCP packets rows `idx` of a chunk (packets: schemas.PACKET_DTYPE);
        in_order: the whole chunk is known to be in time order (no need to check)."""
        if not in_order and not in_time_order(p, idx):  # backwards: the chunk in time order
            idx = idx[np.argsort(p["ts"][idx], kind="stable")]
        pos = 0
        while True:
            pos = tcp_feed(p, idx, pos, data, self.table, self.keys, self.d, self.fs, self.ep,
                           self.bk, self.count)  # fmt: skip
            if pos == len(idx):
                return
            self._grow()

    def _grow(self) -> None:
        """Double whatever tcp_feed stopped for (room for a block of new flows and rows):
        flow slots, the hash table, bucket rows."""
        n, rows = int(self.count[0]), int(self.count[1])
        if n + TCP_BLOCK > len(self.keys):
            for name in ("keys", "d", "fs", "ep"):
                old = getattr(self, name)
                new = _aligned((2 * len(old), *old.shape[1:]), old.dtype)
                new[:n] = old[:n]
                setattr(self, name, new)
        if 2 * (n + TCP_BLOCK) > len(self.table):
            self.table = tcp_rehash(self.keys, n, 2 * len(self.table))
        if rows + TCP_BLOCK > len(self.bk):
            bk = np.empty((2 * len(self.bk), 5), np.int64)
            bk[:rows] = self.bk[:rows]
            self.bk = bk

    def result(self) -> TcpAnalysis:
        """The tables of the packets fed so far (the state is left as it is)."""
        k, rows = int(self.count[0]), int(self.count[1])
        if k == 0:
            return _empty()
        keys = self.keys[:k].copy()
        out, kept = tcp_dir_rows(self.d, k)  # the directions that sent packets
        dirs = pd.DataFrame(out, columns=_DIR_COLS)
        dirs.insert(0, "flow", keys[kept >> 1])
        dirs.insert(1, "dir", (kept & 1).astype(np.uint8))
        # endpoints: the canonical (a, b) of the slot, a the source of direction 0
        ep = self.ep[kept >> 1]
        d0 = (kept & 1) == 0
        dirs["src"] = addr_column(
            np.where(d0, ep[:, 0], ep[:, 2]), np.where(d0, ep[:, 1], ep[:, 3])
        )
        dirs["dst"] = addr_column(
            np.where(d0, ep[:, 2], ep[:, 0]), np.where(d0, ep[:, 3], ep[:, 1])
        )
        a_port, b_port = ep[:, 4] >> np.uint64(16), ep[:, 4] & np.uint64(0xFFFF)
        dirs["sport"] = np.where(d0, a_port, b_port).astype(np.uint16)
        dirs["dport"] = np.where(d0, b_port, a_port).astype(np.uint16)
        flows = pd.DataFrame(self.fs[:k, :4].copy(), columns=_FLOW_COLS)
        flows.insert(0, "flow", keys)
        flows = flows.replace(NO_TS, np.nan)
        bk = self.bk[:rows]
        buckets = pd.DataFrame(
            {
                "flow": keys[bk[:, 0]],
                **{c: bk[:, j].copy() for j, c in enumerate(_BUCKET_COLS[1:], 1)},
            }
        )
        return TcpAnalysis(dirs, flows, buckets)


def _aligned(shape: tuple[int, ...], dtype: type = np.int64) -> np.ndarray:
    """An empty array starting on a 64-byte cache line, so that each flow's state rows
    (multiples of 64 bytes) span as few lines as they can."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(n + 64, np.uint8)
    off = -buf.ctypes.data % 64
    return buf[off : off + n].view(dtype).reshape(shape)


def _empty() -> TcpAnalysis:
    dirs = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ["flow", "dir", *_DIR_COLS]})
    for c in ("src", "dst"):
        dirs[c] = pd.Series(dtype=object)
    for c in ("sport", "dport"):
        dirs[c] = pd.Series(dtype=np.uint16)
    flows = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ["flow", *_FLOW_COLS]})
    buckets = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in _BUCKET_COLS})
    return TcpAnalysis(dirs, flows, buckets)


def tcp_tables(streams: list[TcpStream]) -> TcpAnalysis:
    """The TCP tables of one pass (one stream), or of several files' passes merged.

    Files analysed apart (secaudit.distributed) merge per flow: counters add up, first/last
    times widen, probe bits are or-ed, the handshake is the first file's that saw one; a
    segment retransmitted across a file boundary is not recognised as one.
    """
    parts = [s.result() for s in streams]
    if not parts:
        return _empty()
    if len(parts) == 1:
        return parts[0]
    dirs = pd.concat([x.directions for x in parts], ignore_index=True)
    g = dirs.groupby(["flow", "dir"], sort=False)
    agg = {c: "sum" for c in _DIR_COLS} | {"first_ns": "min", "last_ns": "max"}
    out = g.agg({**agg, **{c: "first" for c in ("src", "dst", "sport", "dport")}})
    code = g.ngroup().to_numpy()
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(code[order]) != 0])
    out["probe_bits"] = np.bitwise_or.reduceat(dirs["probe_bits"].to_numpy()[order], starts)
    flows = pd.concat([x.flows for x in parts], ignore_index=True)
    flows = flows.groupby("flow", sort=False).first().reset_index()
    buckets = pd.concat([x.buckets for x in parts], ignore_index=True)
    return TcpAnalysis(out.reset_index(), flows, buckets)
