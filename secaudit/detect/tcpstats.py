"""TCP per-packet analysis: retransmissions, duplicate ACKs, zero windows, handshake RTT.

Semantics follow Wireshark's tcp.analysis flags, which analysts already read:
* retransmission: a segment with > 1 payload byte that starts below the highest
  sequence end already sent in that direction (window probes and keep-alives,
  i.e. 1-byte segments and segments sent while the peer advertises a zero
  window, are not retransmissions);
* duplicate ACK: a pure ACK (no SYN/FIN/RST) repeating the previous ACK
  number and the same non-zero window of that direction;
* zero window: a non-RST, non-SYN segment advertising window 0; the stall lasts
  until the same side advertises a non-zero window;
* handshake RTT: first SYN-ACK minus the last SYN before it.

One numba pass over packets grouped by flow (dense flow ids from a hash table,
then a stable counting sort), so the cost is linear in TCP packets.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

from secaudit.detect._kernels import (
    MARK_FTP_FAIL,
    MARK_HTTP_POST,
    MARK_HTTP_RESP,
    MARK_IMAP_NO,
    MARK_POP_ERR,
    MARK_RDP_CR,
    MARK_SMB_LOGON_FAIL,
    MARK_SMTP_AUTH_FAIL,
    MARK_SSH_BANNER,
    MARK_TELNET_FAIL,
)

__all__ = ["TcpAnalysis", "analyze_tcp"]

FIN, SYN, RST, PSH, ACK, URG = 1, 2, 4, 8, 16, 32
_NO_TS = np.iinfo(np.int64).min


@nb.njit(cache=True)
def _dense_ids(keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids 0..k-1 in order of first appearance (open addressing hash table that grows
    with the distinct keys, so it stays cache-resident for many packets of few flows)."""
    n = keys.shape[0]
    size = 4096
    mask = size - 1
    umask = np.uint64(mask)
    slot_key = np.zeros(size, np.uint64)
    slot_id = np.full(size, -1, np.int64)
    firsts = np.empty(n, np.uint64)  # key of each id, for re-insertion when growing
    out = np.empty(n, np.int64)
    nxt = 0
    for i in range(n):
        k = keys[i]
        h = np.int64(k & umask)
        while True:
            if slot_id[h] < 0:
                if 2 * (nxt + 1) > size:
                    size *= 2
                    mask = size - 1
                    umask = np.uint64(mask)
                    slot_key = np.zeros(size, np.uint64)
                    slot_id = np.full(size, -1, np.int64)
                    for e in range(nxt):
                        q = np.int64(firsts[e] & umask)
                        while slot_id[q] >= 0:
                            q = (q + 1) & mask
                        slot_key[q] = firsts[e]
                        slot_id[q] = e
                    h = np.int64(k & umask)
                    while slot_id[h] >= 0:
                        h = (h + 1) & mask
                slot_key[h] = k
                slot_id[h] = nxt
                firsts[nxt] = k
                out[i] = nxt
                nxt += 1
                break
            if slot_key[h] == k:
                out[i] = slot_id[h]
                break
            h = (h + 1) & mask
    return out, nxt


@nb.njit(cache=True)
def _counting_order(ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable order grouping equal ids; also the start offset of each group."""
    counts = np.zeros(k + 1, np.int64)
    for i in range(ids.shape[0]):
        counts[ids[i] + 1] += 1
    for j in range(k):
        counts[j + 1] += counts[j]
    starts = counts.copy()
    pos = counts[:k].copy()
    order = np.empty(ids.shape[0], np.int64)
    for i in range(ids.shape[0]):
        g = ids[i]
        order[pos[g]] = i
        pos[g] += 1
    return order, starts


@nb.njit(cache=True)
def _analyze(
    order: np.ndarray,
    starts: np.ndarray,
    ts: np.ndarray,
    direction: np.ndarray,
    flags: np.ndarray,
    seq: np.ndarray,
    ack: np.ndarray,
    win: np.ndarray,
    plen: np.ndarray,
    mark: np.ndarray,
    status: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    k = starts.shape[0] - 1
    n = order.shape[0]
    # per (flow, dir): pkts, data, retrans, dupack, zero_win, stall_ns, first, last, bytes,
    #                  probes(no SYN/ACK/RST), probe_bits, ssh, fail, http_auth_fail, login_post, rdp
    d = np.zeros((k, 2, 16), np.int64)
    # per flow: syn_ts, synack_ts, rtt_ns, client_dir
    fl = np.full((k, 4), _NO_TS, np.int64)
    pkt_retrans = np.zeros(n, np.bool_)
    pkt_dupack = np.zeros(n, np.bool_)
    for g in range(k):
        base = np.zeros(2, np.int64)
        seen = np.zeros(2, np.bool_)
        maxend = np.zeros(2, np.int64)
        last_ack = np.full(2, -1, np.int64)
        last_win = np.full(2, -1, np.int64)
        cur_win = np.full(2, -1, np.int64)
        stall_start = np.full(2, _NO_TS, np.int64)
        last_syn = _NO_TS
        for j in range(starts[g], starts[g + 1]):
            i = order[j]
            dr = direction[i]
            pe = 1 - dr
            f = flags[i]
            t = ts[i]
            row = d[g, dr]
            if row[0] == 0:
                row[6] = t
            row[0] += 1
            row[7] = max(row[7], t)
            pl = np.int64(plen[i])
            row[8] += pl
            if f & (SYN | ACK | RST) == 0:
                row[9] += 1
                row[10] |= 1 << (f & 0x3F)  # remember which flag combinations probed
            mk = mark[i]
            if mk == MARK_SSH_BANNER:
                row[11] += 1
            elif mk in (
                MARK_FTP_FAIL,
                MARK_SMTP_AUTH_FAIL,
                MARK_POP_ERR,
                MARK_IMAP_NO,
                MARK_SMB_LOGON_FAIL,
                MARK_TELNET_FAIL,
            ):
                row[12] += 1
            elif mk == MARK_HTTP_RESP and status[i] == 401:
                row[13] += 1
            elif mk == MARK_HTTP_POST and status[i] == 1:
                row[14] += 1
            elif mk == MARK_RDP_CR:
                row[15] += 1
            # handshake
            if f & SYN and not f & ACK:
                if fl[g, 0] == _NO_TS:
                    fl[g, 0] = t
                    fl[g, 3] = dr
                if fl[g, 1] == _NO_TS:
                    last_syn = t
            elif f & SYN and f & ACK and fl[g, 1] == _NO_TS:
                fl[g, 1] = t
                if last_syn != _NO_TS and t >= last_syn:
                    fl[g, 2] = t - last_syn
            # sequence tracking (relative, unwrapped against the direction's base)
            s = np.int64(seq[i])
            if not seen[dr]:
                seen[dr] = True
                base[dr] = s
                rel = 0
            else:
                rel = (s - base[dr]) & 0xFFFFFFFF
                if rel >= 0x80000000:
                    rel -= 0x100000000
            seg_len = pl + (1 if f & SYN else 0) + (1 if f & FIN else 0)
            end = rel + seg_len
            if pl > 0:
                row[1] += 1
                if pl > 1 and not f & (SYN | RST) and rel < maxend[dr] and cur_win[pe] != 0:
                    row[2] += 1
                    pkt_retrans[i] = True
            if seg_len > 0 and end > maxend[dr]:
                maxend[dr] = end
            # duplicate ACKs
            a = np.int64(ack[i])
            w = np.int64(win[i])
            if (
                pl == 0
                and f & ACK
                and not f & (SYN | FIN | RST)
                and a == last_ack[dr]
                and w == last_win[dr]
                and w != 0
                and seen[pe]
            ):
                row[3] += 1
                pkt_dupack[i] = True
            if f & ACK:
                last_ack[dr] = a
                last_win[dr] = w
            # zero window stalls
            if not f & (RST | SYN):
                if w == 0:
                    row[4] += 1
                    if stall_start[dr] == _NO_TS:
                        stall_start[dr] = t
                elif stall_start[dr] != _NO_TS:
                    row[5] += max(t - stall_start[dr], 0)
                    stall_start[dr] = _NO_TS
                cur_win[dr] = w
        for dr in range(2):
            if stall_start[dr] != _NO_TS:
                d[g, dr, 5] += max(d[g, dr, 7] - stall_start[dr], 0)
    return d, fl, pkt_retrans, pkt_dupack


_DIR_COLS = [
    "pkts", "data_pkts", "retrans", "dupacks", "zero_win", "zw_stall_ns", "first_ns",
    "last_ns", "payload_bytes", "probes", "probe_bits", "ssh_banner", "login_fail",
    "http_auth_fail", "login_post", "rdp_cr",
]  # fmt: skip


class TcpAnalysis:
    """Results of `analyze_tcp`: `directions` (one row per flow and sending side) and `flows`."""

    def __init__(
        self, directions: pd.DataFrame, flows: pd.DataFrame, packets: pd.DataFrame
    ) -> None:
        self.directions = directions
        self.flows = flows
        self.packets = packets  # ts, flow, dir, data, retrans, dupack (for time series)


def analyze_tcp(tcp: np.ndarray, endpoints: pd.DataFrame) -> TcpAnalysis:
    """Run the per-packet analysis on the compact TCP table (tables.TCP_DTYPE)."""
    if len(tcp) == 0:
        dirs = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ["flow", "dir", *_DIR_COLS]})
        for c in ("src", "dst"):
            dirs[c] = pd.Series(dtype=object)
        for c in ("sport", "dport"):
            dirs[c] = pd.Series(dtype=np.uint16)
        flows = pd.DataFrame(
            {
                c: pd.Series(dtype=np.int64)
                for c in ["flow", "syn_ns", "synack_ns", "rtt_ns", "client_dir"]
            }
        )
        pk = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in ["ts", "flow", "dir"]})
        return TcpAnalysis(dirs, flows, pk)
    ts = tcp["ts"]
    if np.any(ts[1:] < ts[:-1]):  # timestamps going backwards: analyse in time order
        tcp = tcp[np.argsort(ts, kind="stable")]
    ids, k = _dense_ids(tcp["flow"])
    order, starts = _counting_order(ids, k)
    d, fl, pkt_retrans, pkt_dupack = _analyze(
        order,
        starts,
        tcp["ts"],
        tcp["dir"],
        tcp["flags"],
        tcp["seq"],
        tcp["ack"],
        tcp["win"],
        tcp["plen"],
        tcp["mark"],
        tcp["status"],
    )
    # flow hash of each dense id
    first_idx = np.empty(k, np.int64)
    first_idx[ids[::-1]] = np.arange(len(ids))[::-1]
    flow_keys = tcp["flow"][first_idx]
    flat = d.reshape(k * 2, len(_DIR_COLS))
    dirs = pd.DataFrame(flat, columns=_DIR_COLS)
    dirs.insert(0, "flow", np.repeat(flow_keys, 2))
    dirs.insert(1, "dir", np.tile(np.array([0, 1], np.uint8), k))
    dirs = dirs[dirs["pkts"] > 0]
    dirs = dirs.merge(endpoints, on=["flow", "dir"], how="left")
    flows = pd.DataFrame(fl, columns=["syn_ns", "synack_ns", "rtt_ns", "client_dir"])
    flows.insert(0, "flow", flow_keys)
    flows = flows.replace(_NO_TS, np.nan)
    pk = pd.DataFrame(
        {
            "ts": tcp["ts"],
            "flow": tcp["flow"],
            "dir": tcp["dir"],
            "data": tcp["plen"] > 0,
            "retrans": pkt_retrans,
            "dupack": pkt_dupack,
        }
    )
    return TcpAnalysis(dirs.reset_index(drop=True), flows, pk)
