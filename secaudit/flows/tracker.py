"""Streaming connection tracker: packet chunks in, finished conn records out.

`FlowTracker.feed(chunk)` takes one `PacketChunk` (secaudit.capture), derives
per-packet connection keys with numpy, maps them to rows of the live flow
table (numba hash table), groups packets by row (counting sort) and runs the
compiled Zeek state machine (`_engine.process`).  Connections that Zeek's
timers would have removed by the chunk's last timestamp are emitted, so
memory stays bounded by the live flow table, and a connection spanning chunks
carries its state over unchanged.  `finish()` flushes what is left, as Zeek
does at the end of a trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from secaudit.flows import _derive as D
from secaudit.flows import _engine as E
from secaudit.flows._ports import port_tables
from secaudit.model import Gap

__all__ = ["OUT_DTYPE", "FlowTracker", "concat_records"]

_OUT_BATCH = 1 << 14  # finished rows drained per kernel call
_UDP_TUNNELS = (3, 4, 5, 6, 7)  # VXLAN, Geneve, GTP-U, Teredo, AYIYA: parent is the outer UDP conn

OUT_DTYPE = np.dtype(
    [
        ("start", "i8"), ("last", "i8"), ("kind", "u1"), ("ip_proto", "u1"),
        ("orig_hi", "u8"), ("orig_lo", "u8"), ("resp_hi", "u8"), ("resp_lo", "u8"),
        ("orig_p", "u2"), ("resp_p", "u2"), ("has_bytes", "?"), ("orig_bytes", "u8"),
        ("resp_bytes", "u8"), ("state", "u1"), ("missed", "u8"), ("history", "u1", (E.HMAX,)),
        ("orig_pkts", "u8"), ("orig_ip_bytes", "u8"), ("resp_pkts", "u8"),
        ("resp_ip_bytes", "u8"), ("uid1", "u8"), ("uid2", "u8"), ("vlan", "u2"),
        ("orig_l2", "u8"), ("resp_l2", "u8"), ("source", "u2"), ("npar", "u1"),
        ("par", "u8", (E.NPAR,)),
    ]
)  # fmt: skip


@nb.njit(cache=True)
def _to_out(recs, idx, out):  # type: ignore[no-untyped-def]
    """OUT_DTYPE rows for recs[idx]: every field is written (`out` may be uninitialised)."""
    for i in range(idx.shape[0]):
        s = recs[idx[i]]
        o = out[i]
        state_code, ob, rb, has_bytes = E.log_fields(s)
        o.start = s.start
        o.last = s.last
        o.kind = s.kind
        o.ip_proto = s.ip_proto
        if s.orig_is_a:
            o.orig_hi, o.orig_lo, o.orig_p = s.a_hi, s.a_lo, s.a_p
            o.resp_hi, o.resp_lo, o.resp_p = s.b_hi, s.b_lo, s.b_p
        else:
            o.orig_hi, o.orig_lo, o.orig_p = s.b_hi, s.b_lo, s.b_p
            o.resp_hi, o.resp_lo, o.resp_p = s.a_hi, s.a_lo, s.a_p
        o.has_bytes = has_bytes
        o.orig_bytes = ob
        o.resp_bytes = rb
        o.state = state_code
        o.missed = s.missed
        for k in range(E.HMAX):
            o.history[k] = s.hist[k] if k < s.hlen else 0
        o.orig_pkts = s.pkts[0]
        o.resp_pkts = s.pkts[1]
        o.orig_ip_bytes = s.ipb[0]
        o.resp_ip_bytes = s.ipb[1]
        o.uid1 = s.uid1
        o.uid2 = s.uid2
        o.vlan = s.vlan
        o.orig_l2 = s.l2[0]
        o.resp_l2 = s.l2[1]
        o.source = s.source
        o.npar = s.npar
        for k in range(E.NPAR):
            o.par[k] = s.par[k]


@nb.njit(cache=True)
def _uid2(h1, a_p, b_p, kind, seed):  # type: ignore[no-untyped-def]
    """The second uid word, as `_engine.process` derives it when a connection starts."""
    out = np.empty(h1.shape[0], np.uint64)
    for i in range(h1.shape[0]):
        out[i] = E._hash5(h1[i], np.uint64(a_p[i]), np.uint64(b_p[i]), np.uint64(kind[i]), seed)
    return out


def _row_bytes(a: np.ndarray) -> np.ndarray:
    """A (rows, itemsize) uint8 view of a contiguous structured array."""
    return a.view(np.uint8).reshape(a.shape[0], a.dtype.itemsize)


def concat_records(parts: list[np.ndarray]) -> np.ndarray:
    """np.concatenate for OUT_DTYPE rows as plain bytes: numpy's structured copy
    with subarray fields is an order of magnitude slower than memcpy."""
    if len(parts) == 1:
        return parts[0]
    raw = np.concatenate([p.view(np.uint8) for p in parts])
    return raw.view(OUT_DTYPE)


def _records_to_out(recs: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """OUT_DTYPE rows for the state rows recs[idx]."""
    out = np.empty(idx.shape[0], OUT_DTYPE)
    _to_out(recs, idx, out)
    return out


@dataclass
class FlowTracker:
    """Live flow table plus the finished connections, fed chunk by chunk."""

    ignore_checksums: bool = False
    seed: int = 0
    gaps: list[Gap] = field(default_factory=list)
    _bad_csum: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cap = 1 << 12
        self._tkeys = np.zeros((self._cap, 4), np.uint64)
        self._tmeta = np.zeros(self._cap, np.uint64)
        self._trow = np.zeros(self._cap, np.int64)
        self._nrows = 0
        self._st = np.zeros(1 << 10, E.STATE_DTYPE)
        self._tmpl = np.zeros(1, E.STATE_DTYPE)
        t = self._tmpl[0]
        t["ulen"][:] = -1
        for f in ("chk_thr", "rx_thr", "w0_thr", "gap_thr"):
            t[f][:] = 1
        t["ra_last"][:] = 1
        t["ra_trim"][:] = 1
        t["is_active"] = 1
        for f in ("t_attempt", "t_exp_a", "t_exp_b", "t_delete"):
            t[f] = -1
        self._likely, self._interactive = port_tables()
        self._out: list[np.ndarray] = []
        self._net_time = np.int64(0)
        self._seed = np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF)
        self.sources: list[str] = []
        self.packets_seen = 0
        # uid1 -> uid2 of UDP tunnel connections (few): tunnel_parents across batches
        self.parent_uids: dict[int, int] = {}
        self._dbufs = _DeriveBuffers()
        self._scratch = np.empty(0, E.STATE_DTYPE)

    # ------------------------------------------------------------ table upkeep
    def _rehash(self, keep: np.ndarray, newrow: np.ndarray, cap: int) -> None:
        ntkeys = np.zeros((cap, 4), np.uint64)
        ntmeta = np.zeros(cap, np.uint64)
        ntrow = np.zeros(cap, np.int64)
        E.rebuild(self._tkeys, self._tmeta, self._trow, keep, ntkeys, ntmeta, ntrow, newrow)
        self._tkeys, self._tmeta, self._trow, self._cap = ntkeys, ntmeta, ntrow, cap

    def _compact(self) -> None:
        """Drop the keys of finished connections when they outnumber the live ones."""
        live = self._st["active"][: self._nrows].astype(bool)
        nkeep = int(live.sum())
        if self._nrows < 2 * nkeep + 4096 and self._nrows * 2 < self._cap:
            return
        newrow = np.full(self._nrows, -1, np.int64)
        newrow[live] = np.arange(nkeep)
        cap = 1 << 12
        while cap < 4 * nkeep:
            cap <<= 1
        self._rehash(live, newrow, cap)
        # move the live rows to the front in place, as bytes (numpy's structured copy
        # with subarray fields is slow; a fresh table would fault in every page again),
        # and mark the rows left behind free: `process` rewrites a row from the template
        # when it finds it inactive, so clearing more than `active` only costs a memset
        raw = _row_bytes(self._st)
        raw[:nkeep] = raw[: self._nrows][live]
        self._st["active"][nkeep : self._nrows] = 0
        self._nrows = nkeep

    def _lookup(self, c: np.ndarray) -> tuple[np.ndarray, int]:
        """Row per packet; the table doubles whenever it passes 70 % load."""
        m = c.shape[0]
        rows = self._dbufs.scratch("rows", m, np.int64)
        j = 0
        nrows = self._nrows
        while True:
            nrows, j = E.lookup(
                c["a_hi"], c["a_lo"], c["b_hi"], c["b_lo"], c["meta"], j, int(self._cap * 0.7),
                self._tkeys, self._tmeta, self._trow, nrows, rows,
            )  # fmt: skip
            if j >= m:
                return rows, int(nrows)
            ident = np.arange(nrows, dtype=np.int64)
            self._rehash(np.ones(nrows, np.bool_), ident, self._cap * 2)

    def _ensure_rows(self, n: int) -> None:
        if n <= self._st.shape[0]:
            return
        st = np.zeros(max(n, 2 * self._st.shape[0]), E.STATE_DTYPE)
        _row_bytes(st)[: self._nrows] = _row_bytes(self._st)[: self._nrows]
        self._st = st

    def _emit(self, recs: np.ndarray, idx: np.ndarray) -> None:
        if idx.shape[0]:
            self._out.append(_records_to_out(recs, idx))

    # ------------------------------------------------------------ feeding
    def feed(self, chunk: Any) -> None:
        """Track one PacketChunk (its `.packets`, `.data`, `.tunnels`, `.source`)."""
        pk = chunk.packets
        n = pk.shape[0]
        if chunk.source not in self.sources:
            self.sources.append(chunk.source)
        src_idx = self.sources.index(chunk.source)
        self.packets_seen += n
        if n == 0:
            return
        d, tmax, inner, nbad = _derive(pk, chunk.data, self.ignore_checksums, src_idx, self._dbufs)
        self._count_bad(nbad, d.shape[0], chunk.source)
        if d.shape[0]:
            # read back only for inner (tunnel) packets, which need it zeroed
            pkt_uid = self._dbufs.scratch("pkt_uid", n, np.uint64)
            if inner:
                pkt_uid[:] = 0
            depth = d["depth"]
            # tunnels are rare: skip the unique() pass when no row is an inner packet
            levels = np.unique(depth) if inner else np.zeros(1, np.int64)
            for level in levels:
                part = d if levels.shape[0] == 1 else d[depth == level]
                if level > 0:
                    part["parent"] = _parents(chunk.tunnels, part["tunnel_id"], pkt_uid)
                    self._note_parent_uids(d, chunk.tunnels, part["tunnel_id"], pkt_uid)
                self._run(part, pkt_uid)
        self._advance(tmax)

    def _note_parent_uids(
        self, d: np.ndarray, tunnels: np.ndarray, tunnel_id: np.ndarray, pkt_uid: np.ndarray
    ) -> None:
        """Remember the full uid of each UDP tunnel connection that carries inner
        packets, so a conn table built in batches can name it in tunnel_parents."""
        ok = tunnel_id >= 0
        if not ok.any():
            return
        tr = tunnels[tunnel_id[ok]]
        outer = tr["outer_row"].astype(np.int64)
        outer = np.unique(outer[np.isin(tr["kind"], _UDP_TUNNELS) & (outer >= 0)])
        outer = outer[pkt_uid[outer] != 0]
        if not outer.shape[0]:
            return
        at = np.minimum(np.searchsorted(d["row"], outer), d.shape[0] - 1)
        found = d["row"][at] == outer
        rows = d[at[found]]
        h1 = pkt_uid[outer[found]]
        h2 = _uid2(h1, rows["a_p"], rows["b_p"], rows["kind"], self._seed)
        self.parent_uids.update(zip(h1.tolist(), h2.tolist(), strict=True))

    def _advance(self, t: int) -> None:
        if t > self._net_time:
            self._net_time = np.int64(t)
        self._sweep(False)

    def _run(self, c: np.ndarray, pkt_uid: np.ndarray) -> None:
        m = c.shape[0]
        self._compact()
        rows, nrows = self._lookup(c)
        self._ensure_rows(nrows)
        self._nrows = nrows
        order = self._dbufs.scratch("order", m, np.int64)
        bounds = self._dbufs.scratch("bounds", nrows + 1, np.int64)
        E.counting_sort(rows, nrows, order, bounds)
        out = self._buffer(m + 1)
        r0 = q0 = 0
        done = False
        while not done:
            nout, r0, q0, done = E.process(
                order, bounds, nrows, r0, q0, c["row"], self._st, self._tmpl, out, self._seed,
                self.ignore_checksums, self._likely, self._interactive,
                c["ts"], c["from_a"], c["kind"], c["a_hi"], c["a_lo"], c["b_hi"], c["b_lo"],
                c["a_p"], c["b_p"], c["ip_proto"], c["sport"], c["dport"], c["flags"], c["seq"],
                c["ack"], c["win"], c["length"], c["fullcap"], c["iplen"], c["csum_bad"],
                c["app"], c["src_mac"], c["dst_mac"], c["vlan"], c["source"], c["parent"], c["bcast"],
                pkt_uid,
            )  # fmt: skip
            self._emit(out, np.arange(nout))

    def _buffer(self, want: int) -> np.ndarray:
        """Scratch space for finished rows, bounded so memory tracks the live table.

        One buffer serves every call (`_emit` copies the rows out before the next
        use): a fresh 12 MB array per chunk page-faulted on every row it received."""
        n = max(1, min(want, _OUT_BATCH))
        if self._scratch.shape[0] < n:
            self._scratch = np.empty(n, E.STATE_DTYPE)
        return self._scratch[:n]

    def _sweep(self, flush: bool) -> None:
        idx = np.empty(self._nrows, np.int64)
        n = E.sweep(self._st, 0, self._nrows, self._net_time, idx, flush)
        self._emit(self._st, idx[:n])

    def _count_bad(self, nbad: int, total: int, source: str) -> None:
        if self.ignore_checksums:
            return
        ent = self._bad_csum.setdefault(hash(source), [0, 0])
        ent[0] += nbad
        ent[1] += total

    def checksum_gaps(self) -> list[Gap]:
        """A Gap per source where most packets had bad checksums (offloading)."""
        gaps = []
        for src in self.sources:
            bad, tot = self._bad_csum.get(hash(src), [0, 0])
            if tot and bad * 2 > tot:
                gaps.append(
                    Gap(
                        kind="checksum_offload",
                        source=src,
                        message=(
                            f"{bad} of {tot} packets have bad checksums and were not analyzed "
                            "(checksum offloading?); rerun with -C/--ignore-checksums"
                        ),
                        area="fault",
                        detail={"bad": bad, "total": tot},
                    )
                )
        return gaps

    def drain(self) -> np.ndarray:
        """Hand over the records finished so far (OUT_DTYPE) and forget them.

        Streaming consumers call this after each `feed` so memory tracks the live
        table, not the whole file; `finish()` then returns only what is left.
        """
        if not self._out:
            return np.zeros(0, OUT_DTYPE)
        res = concat_records(self._out)
        self._out = []
        return res

    def finish(self) -> np.ndarray:
        """Flush the live connections and return every finished record not yet drained."""
        self._sweep(True)
        self._nrows = 0
        if not self._out:
            return np.zeros(0, OUT_DTYPE)
        res = concat_records(self._out)
        self._out = [res]
        return res


# ----------------------------------------------------------------- per-packet derivation
class _DeriveBuffers:
    """Scratch rows for `_derive` and the per-chunk index arrays, reused from chunk
    to chunk: a fresh large array costs page faults and kernel zeroing on every
    chunk (measurably more than the derivation itself)."""

    def __init__(self) -> None:
        self.out = np.empty(0, D.DERIVED_DTYPE)
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, n: int) -> np.ndarray:
        if n > self.out.shape[0]:
            self.out = np.empty(max(n, self.out.shape[0] * 5 // 4), D.DERIVED_DTYPE)
        return self.out[:n]

    def scratch(self, name: str, n: int, dtype: type) -> np.ndarray:
        """A reused array of n items, contents undefined; valid until the next call
        for the same name."""
        a = self._arrays.get(name)
        if a is None or a.shape[0] < n:
            a = np.empty(max(n, 0 if a is None else a.shape[0] * 5 // 4), dtype)
            self._arrays[name] = a
        return a[:n]


def _derive(
    pk: np.ndarray,
    data: np.ndarray,
    ignore_csum: bool,
    src_idx: int,
    bufs: _DeriveBuffers | None = None,
) -> tuple[np.ndarray, int, int, int]:
    """DERIVED_DTYPE rows for the packets (and reassembled datagrams) Zeek would analyze,
    with the chunk's latest timestamp, how many rows are inner tunnel packets and how
    many have bad checksums (counted in the same compiled pass).

    With `bufs` the rows live in its reused buffer: valid until the next call."""
    out = (bufs or _DeriveBuffers()).get(pk.shape[0])
    k, inner, nbad, tmax = D.derive(
        pk, data, D.NOT_TRANSPORT, ignore_csum, src_idx, D.CP4, D.CP6, out
    )
    return out[: int(k)], int(tmax), int(inner), int(nbad)


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    res: np.ndarray = x ^ (x >> np.uint64(31))
    return res


def _parents(tunnels: np.ndarray, tunnel_id: np.ndarray, pkt_uid: np.ndarray) -> np.ndarray:
    """Per inner packet: uid hash of the enclosing UDP tunnel conn, or of the IP tunnel."""
    out = np.zeros(tunnel_id.shape[0], np.uint64)
    ok = tunnel_id >= 0
    if not ok.any():
        return out
    tr = tunnels[tunnel_id[ok]]
    outer = tr["outer_row"].astype(np.int64)
    via_conn = np.isin(tr["kind"], _UDP_TUNNELS) & (outer >= 0)
    h = np.where(via_conn, pkt_uid[np.maximum(outer, 0)], np.uint64(0))
    # IP-in-IP / GRE tunnels are the same tunnel in both directions (EncapsulatingConn ==)
    ha = _mix_np(tr["src_hi"] ^ _mix_np(tr["src_lo"]))
    hb = _mix_np(tr["dst_hi"] ^ _mix_np(tr["dst_lo"]))
    ip_h = _mix_np((ha + hb) ^ (tr["kind"].astype(np.uint64) << np.uint64(56))) | np.uint64(1)
    out[ok] = np.where(via_conn & (h != 0), h, ip_h)
    return out
