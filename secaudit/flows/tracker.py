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

from secaudit.flows import _engine as E
from secaudit.flows._ports import port_tables
from secaudit.model import Gap

__all__ = ["OUT_DTYPE", "FlowTracker"]

# ICMP request/response pairs (Zeek ICMP4_counterpart / ICMP6_counterpart); -1 = one-way
_CP4 = np.full(256, -1, np.int16)
for _a, _b in ((8, 0), (13, 14), (15, 16), (10, 9), (17, 18)):
    _CP4[_a], _CP4[_b] = _b, _a
_CP6 = np.full(256, -1, np.int16)
for _a, _b in ((128, 129), (133, 134), (135, 136), (130, 131), (139, 140), (144, 145)):
    _CP6[_a], _CP6[_b] = _b, _a

_UDP_TUNNELS = (3, 4, 5, 6, 7)  # VXLAN, Geneve, GTP-U, Teredo, AYIYA: parent is the outer UDP conn
_NOT_TRANSPORT = (0, 4, 41, 43, 44, 47, 59, 60, 135)  # tunnels, ext headers, no-next: no session

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
def _ip4_header_ok(data, base, n):  # type: ignore[no-untyped-def]
    """IPv4 header checksum of each packet (base = first header byte, n = header length)."""
    ok = np.ones(base.shape[0], np.bool_)
    for i in range(base.shape[0]):
        b = base[i]
        if n[i] < 20 or b + n[i] > data.shape[0]:
            continue
        s = 0
        for k in range(0, n[i] - 1, 2):
            s += (np.int64(data[b + k]) << 8) | np.int64(data[b + k + 1])
        while s > 0xFFFF:
            s = (s & 0xFFFF) + (s >> 16)
        ok[i] = s == 0xFFFF
    return ok


@nb.njit(cache=True)
def _gather_u16(data, pos):  # type: ignore[no-untyped-def]
    out = np.zeros(pos.shape[0], np.int64)
    for i in range(pos.shape[0]):
        p = pos[i]
        if 0 <= p and p + 1 < data.shape[0]:
            out[i] = (np.int64(data[p]) << 8) | np.int64(data[p + 1])
    return out


@nb.njit(cache=True)
def _to_out(recs, n, out, state_code, ob, rb, has_bytes):  # type: ignore[no-untyped-def]
    for i in range(n):
        s = recs[i]
        o = out[i]
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
        o.has_bytes = has_bytes[i]
        o.orig_bytes = ob[i]
        o.resp_bytes = rb[i]
        o.state = state_code[i]
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


def _records_to_out(recs: np.ndarray, n: int) -> np.ndarray:
    state = np.zeros(n, np.uint8)
    ob = np.zeros(n, np.uint64)
    rb = np.zeros(n, np.uint64)
    hb = np.zeros(n, np.bool_)
    E.finalize(recs, n, state, ob, rb, hb)
    out = np.zeros(n, OUT_DTYPE)
    _to_out(recs, n, out, state, ob, rb, hb)
    return out


@dataclass
class _Frags:
    """Fragments waiting for the rest of their datagram (kept across chunks)."""

    pending: int = 0


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

    # ------------------------------------------------------------ table upkeep
    def _ensure_capacity(self, incoming: int) -> None:
        if (self._nrows + incoming) * 2 <= self._cap:
            return
        live = self._st["active"][: self._nrows].astype(bool)
        nkeep = int(live.sum())
        newrow = np.full(self._nrows, -1, np.int64)
        newrow[live] = np.arange(nkeep)
        cap = 1 << 12
        while cap < 4 * (nkeep + incoming):
            cap <<= 1
        ntkeys = np.zeros((cap, 4), np.uint64)
        ntmeta = np.zeros(cap, np.uint64)
        ntrow = np.zeros(cap, np.int64)
        E.rebuild(self._tkeys, self._tmeta, self._trow, live, ntkeys, ntmeta, ntrow, newrow)
        self._tkeys, self._tmeta, self._trow, self._cap = ntkeys, ntmeta, ntrow, cap
        st = np.zeros(max(1 << 10, 2 * nkeep), E.STATE_DTYPE)
        st[:nkeep] = self._st[: self._nrows][live]
        self._st = st
        self._nrows = nkeep

    def _ensure_rows(self, n: int) -> None:
        if n <= self._st.shape[0]:
            return
        st = np.zeros(max(n, 2 * self._st.shape[0]), E.STATE_DTYPE)
        st[: self._nrows] = self._st[: self._nrows]
        self._st = st

    def _emit(self, recs: np.ndarray, n: int) -> None:
        if n:
            self._out.append(_records_to_out(recs, n))

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
        d = _derive(pk, chunk.data, chunk.tunnels, self.ignore_checksums, src_idx)
        if d is None:
            self._advance(int(pk["ts"].max()))
            return
        self._count_bad(pk, d, chunk.source)
        pkt_uid = np.zeros(n, np.uint64)
        depth = d["depth"]
        for level in np.unique(depth):
            m = depth == level
            sel = d["row"][m]
            cols = {k: v[m] for k, v in d.items()}
            if level > 0:
                cols["parent"] = _parents(chunk.tunnels, pk["tunnel_id"][sel], pkt_uid)
            self._run(sel, cols, pkt_uid)
        self._advance(int(pk["ts"].max()))

    def _advance(self, t: int) -> None:
        if t > self._net_time:
            self._net_time = np.int64(t)
        out = np.zeros(max(self._nrows, 1), E.STATE_DTYPE)
        k = E.sweep(self._st, self._nrows, self._net_time, out, False)
        self._emit(out, k)

    def _run(self, sel: np.ndarray, c: dict[str, np.ndarray], pkt_uid: np.ndarray) -> None:
        m = sel.shape[0]
        self._ensure_capacity(m)
        rows = np.empty(m, np.int64)
        idx = np.arange(m, dtype=np.int64)
        nrows = E.lookup(
            c["a_hi"], c["a_lo"], c["b_hi"], c["b_lo"], c["meta"], idx,
            self._tkeys, self._tmeta, self._trow, self._nrows, rows,
        )  # fmt: skip
        self._ensure_rows(nrows)
        self._nrows = nrows
        order, bounds = E.counting_sort(rows, nrows)
        out = np.zeros(m + 1, E.STATE_DTYPE)
        nout = E.process(
            order, bounds, nrows, sel, self._st, self._tmpl, out, 0, self._seed,
            self.ignore_checksums, self._likely, self._interactive,
            c["ts"], c["from_a"], c["kind"], c["a_hi"], c["a_lo"], c["b_hi"], c["b_lo"],
            c["a_p"], c["b_p"], c["ip_proto"], c["sport"], c["dport"], c["flags"], c["seq"],
            c["ack"], c["win"], c["length"], c["fullcap"], c["iplen"], c["csum_bad"],
            c["src_mac"], c["dst_mac"], c["vlan"], c["source"], c["parent"], c["bcast"],
            pkt_uid,
        )  # fmt: skip
        self._emit(out, nout)

    def _count_bad(self, pk: np.ndarray, d: dict[str, np.ndarray], source: str) -> None:
        if self.ignore_checksums:
            return
        bad = d["csum_bad"].astype(bool)
        ent = self._bad_csum.setdefault(hash(source), [0, 0])
        ent[0] += int(bad.sum())
        ent[1] += int(bad.shape[0])

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

    def finish(self) -> np.ndarray:
        """Flush the live connections and return every finished record (OUT_DTYPE)."""
        out = np.zeros(max(self._nrows, 1), E.STATE_DTYPE)
        k = E.sweep(self._st, self._nrows, self._net_time, out, True)
        self._emit(out, k)
        self._nrows = 0
        if not self._out:
            return np.zeros(0, OUT_DTYPE)
        res = np.concatenate(self._out)
        self._out = [res]
        return res


# ----------------------------------------------------------------- per-packet derivation
def _derive(
    pk: np.ndarray, data: np.ndarray, tunnels: np.ndarray, ignore_csum: bool, src_idx: int
) -> dict[str, np.ndarray] | None:
    """Keys and the fields the state machine reads, for the packets Zeek would analyze."""
    ipv = pk["ip_version"]
    proto = pk["proto"].astype(np.int64)
    l4 = pk["l4_off"].astype(np.int64)
    frag = pk["frag"]
    is_frag = (frag & 1) != 0
    cand = ((ipv == 4) | (ipv == 6)) & (pk["arp_op"] == 0) & ~np.isin(proto, _NOT_TRANSPORT)
    is_icmp = ((proto == 1) & (ipv == 4)) | ((proto == 58) & (ipv == 6))
    needs_l4 = (proto == 6) | (proto == 17) | is_icmp
    # fragments: reassemble the complete datagrams, like Zeek's FragReassembler
    rows = np.flatnonzero(cand & ~is_frag & (~needs_l4 | (l4 > 0)))
    base_of = rows
    dg_len = np.full(rows.shape[0], -1, np.int64)
    dg_full = np.ones(rows.shape[0], bool)
    if is_frag.any():
        rows, base_of, dg_len, dg_full = _reassemble(pk, data, cand & is_frag, rows)
    if rows.shape[0] == 0:
        return None
    p = pk[rows]
    b = pk[base_of]  # header fields come from the first fragment of a reassembled datagram
    proto = b["proto"].astype(np.int64)
    ipv = b["ip_version"]
    is_icmp = ((proto == 1) & (ipv == 4)) | ((proto == 58) & (ipv == 6))
    kind = np.full(rows.shape[0], E.K_OTHER, np.uint8)
    kind[proto == 6] = E.K_TCP
    kind[proto == 17] = E.K_UDP
    kind[is_icmp] = E.K_ICMP

    # IPv4 header checksum: Zeek drops the packet before any connection exists
    csum_bad = b["csum_bad"].astype(np.uint8)
    if not ignore_csum and csum_bad.any():
        cb = np.flatnonzero((csum_bad != 0) & (ipv == 4))
        if cb.shape[0]:
            hdr_base = b["data_off"][cb].astype(np.int64) + b["ip_off"][cb].astype(np.int64)
            hlen = (b["l4_off"][cb].astype(np.int64) - b["ip_off"][cb].astype(np.int64))
            hlen = np.where(b["l4_off"][cb] > 0, hlen, 20)
            ok = _ip4_header_ok(data, hdr_base, hlen)
            drop = cb[~ok]
            if drop.shape[0]:
                keep = np.ones(rows.shape[0], bool)
                keep[drop] = False
                rows, p, b, kind, csum_bad = rows[keep], p[keep], b[keep], kind[keep], csum_bad[keep]
                proto, ipv, is_icmp = proto[keep], ipv[keep], is_icmp[keep]
                base_of, dg_len, dg_full = base_of[keep], dg_len[keep], dg_full[keep]

    sport = b["sport"].astype(np.int64)
    dport = b["dport"].astype(np.int64)
    one_way = np.zeros(rows.shape[0], bool)
    if is_icmp.any():
        t = sport[is_icmp] & 0xFF
        cp = np.where(ipv[is_icmp] == 4, _CP4[t], _CP6[t]).astype(np.int64)
        ow = cp < 0
        dport[is_icmp] = np.where(ow, dport[is_icmp], cp)
        one_way[is_icmp] = ow
    other = kind == E.K_OTHER
    sport[other] = 0
    dport[other] = 0

    s_hi, s_lo, d_hi, d_lo = b["src_hi"], b["src_lo"], b["dst_hi"], b["dst_lo"]
    src_first = (s_hi < d_hi) | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (sport <= dport))))
    from_a = src_first | one_way
    a_hi = np.where(from_a, s_hi, d_hi)
    a_lo = np.where(from_a, s_lo, d_lo)
    b_hi = np.where(from_a, d_hi, s_hi)
    b_lo = np.where(from_a, d_lo, s_lo)
    a_p = np.where(from_a, sport, dport)
    b_p = np.where(from_a, dport, sport)
    meta = (
        np.uint64(1 << 63)
        | (one_way.astype(np.uint64) << np.uint64(40))
        | (proto.astype(np.uint64) << np.uint64(32))
        | (a_p.astype(np.uint64) << np.uint64(16))
        | b_p.astype(np.uint64)
    )

    # lengths as Zeek computes them from the IP header
    ip_off = b["ip_off"].astype(np.int64)
    l4o = b["l4_off"].astype(np.int64)
    iplen = np.where(dg_len >= 0, dg_len, b["ip_len"].astype(np.int64))
    ippay = iplen - (l4o - ip_off)
    thl = b["payload_off"].astype(np.int64) - l4o
    length = np.zeros(rows.shape[0], np.int64)
    tcp = kind == E.K_TCP
    length[tcp] = np.maximum(ippay[tcp] - thl[tcp], 0)
    udp = kind == E.K_UDP
    if udp.any():
        pos = b["data_off"][udp].astype(np.int64) + l4o[udp] + 4
        length[udp] = _gather_u16(data, pos) - 8
    length[is_icmp] = ippay[is_icmp] - 8
    caplen = b["caplen"].astype(np.int64)
    fullcap = np.where(
        tcp, caplen - b["payload_off"].astype(np.int64) >= length, caplen - l4o >= ippay
    )
    fullcap = fullcap & dg_full

    bcast = (d_hi == 0) & (d_lo == np.uint64(0x0000FFFFFFFFFFFF))
    depth = b["tunnel_depth"].astype(np.int64)
    return {
        "row": rows.astype(np.int64),
        "depth": depth,
        "ts": p["ts"].astype(np.int64),
        "from_a": from_a.astype(np.uint8),
        "kind": kind,
        "a_hi": a_hi.astype(np.uint64),
        "a_lo": a_lo.astype(np.uint64),
        "b_hi": b_hi.astype(np.uint64),
        "b_lo": b_lo.astype(np.uint64),
        "a_p": a_p.astype(np.uint16),
        "b_p": b_p.astype(np.uint16),
        "meta": meta,
        "ip_proto": proto.astype(np.uint8),
        "sport": sport.astype(np.int64),
        "dport": dport.astype(np.int64),
        "flags": b["tcp_flags"].astype(np.int64),
        "seq": b["seq"].astype(np.uint32),
        "ack": b["ack"].astype(np.uint32),
        "win": b["win"].astype(np.int64),
        "length": length,
        "fullcap": fullcap.astype(np.bool_),
        "iplen": iplen,
        "csum_bad": csum_bad,
        "src_mac": b["src_mac"].astype(np.uint64),
        "dst_mac": b["dst_mac"].astype(np.uint64),
        "vlan": b["vlan"].astype(np.uint16),
        "source": np.full(rows.shape[0], src_idx, np.uint16),
        "parent": np.zeros(rows.shape[0], np.uint64),
        "bcast": bcast,
    }


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


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


def _reassemble(
    pk: np.ndarray, data: np.ndarray, frag_mask: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Complete IP datagrams from fragments (within a chunk), placed at their last fragment.

    Returns (position rows, header rows, datagram IP length or -1, fully captured)
    merged with the unfragmented `rows`.  Incomplete datagrams are dropped, as Zeek
    never delivers them.
    """
    fr = np.flatnonzero(frag_mask)
    f = pk[fr]
    v4 = f["ip_version"] == 4
    ihl = np.full(fr.shape[0], 48, np.int64)  # IPv6: fixed header + fragment header
    if v4.any():
        pos = f["data_off"][v4].astype(np.int64) + f["ip_off"][v4].astype(np.int64)
        ok = pos < data.shape[0]
        ihl_v4 = np.full(pos.shape[0], 20, np.int64)
        ihl_v4[ok] = (data[pos[ok]] & 0x0F).astype(np.int64) * 4
        ihl[v4] = ihl_v4
    paylen = f["ip_len"].astype(np.int64) - ihl
    off = f["frag_off"].astype(np.int64)
    more = (f["frag"] & 2) != 0
    full = (f["caplen"].astype(np.int64) - f["ip_off"].astype(np.int64)) >= f["ip_len"].astype(np.int64)
    order = np.lexsort((f["proto"], f["ip_id"], f["dst_lo"], f["dst_hi"], f["src_lo"], f["src_hi"]))
    keys = np.stack(
        [f["src_hi"], f["src_lo"], f["dst_hi"], f["dst_lo"], f["ip_id"].astype(np.uint64),
         f["proto"].astype(np.uint64)], axis=1
    )[order]  # fmt: skip
    newgrp = np.ones(order.shape[0], bool)
    newgrp[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    gid = np.cumsum(newgrp) - 1
    ng = int(gid[-1]) + 1 if gid.shape[0] else 0
    o_off, o_pay, o_more, o_full, o_row = off[order], paylen[order], more[order], full[order], fr[order]
    total = np.zeros(ng, np.int64)
    np.maximum.at(total, gid, o_off + o_pay)
    covered = np.bincount(gid, weights=o_pay, minlength=ng)
    has_last = np.zeros(ng, bool)
    has_last[gid[~o_more]] = True
    first_row = np.full(ng, -1, np.int64)
    first_row[gid[o_off == 0]] = o_row[o_off == 0]
    last_row = np.full(ng, -1, np.int64)
    np.maximum.at(last_row, gid, o_row)
    allfull = np.ones(ng, bool)
    np.logical_and.at(allfull, gid, o_full)
    complete = has_last & (first_row >= 0) & (covered >= total)
    hdr_first = np.zeros(ng, np.int64)
    hdr_first[gid[o_off == 0]] = ihl[order][o_off == 0]
    g = np.flatnonzero(complete & (pk["l4_off"][np.maximum(first_row, 0)] > 0))
    pos_rows = np.concatenate([rows, last_row[g]])
    base = np.concatenate([rows, first_row[g]])
    dg_len = np.concatenate([np.full(rows.shape[0], -1, np.int64), hdr_first[g] + total[g]])
    dg_full = np.concatenate([np.ones(rows.shape[0], bool), allfull[g]])
    srt = np.argsort(pos_rows, kind="stable")
    return pos_rows[srt], base[srt], dg_len[srt], dg_full[srt]
