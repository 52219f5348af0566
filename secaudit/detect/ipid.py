"""IP-ID counters behind one address: how many hosts share it (a hidden NAT).

Bellovin's technique ("A Technique for Counting NATted Hosts", IMW 2002): a host whose
IPv4 stack numbers its packets from one global counter (Windows, many embedded stacks)
sends IDs that rise by one per packet whatever the destination.  Packets from one source
address are linked into sequences: each joins the sequence whose last ID it follows most
closely (within `max_gap`), or starts a new one.  Linux numbers per connection or per
destination and macOS at random, so their sequences never span destinations; a
sequence that moves between `min_dst_changes`+1 destinations is one host's global
counter, and two such counters behind one address are two hosts - when their values lie
apart: counters within `min_apart` IDs of each other are taken for one (reordered or
lost packets split a single counter; two hosts' counters start at random offsets).

The pass streams over chunks (numba, state per (MAC, address) carried across chunks, a
fixed number of live sequences per address, the least recently extended one replaced),
so memory follows the number of senders, not packets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np
import pandas as pd

__all__ = ["IpIdCounters", "SLOTS"]

SLOTS = 8  # live sequences kept per sender
# per sequence: last id, packets, destination changes, last destination (low 64 bits), last use
_LAST, _PKTS, _CHANGES, _DST, _USED = range(5)


@nb.njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    return x


@nb.njit(cache=True, inline="always")
def _slot(keys: np.ndarray, used: np.ndarray, mac: np.uint64, src: np.uint64) -> tuple:  # type: ignore[type-arg]
    """(slot, new) of sender (mac, src) in the open-addressing table, claiming a free slot
    for a new sender (the caller keeps the table at most half full).  Inlined: a call per
    packet, passing the table's arrays, cost about as much as the probe itself."""
    mask = np.uint64(keys.shape[0] - 1)
    h = _mix(mac ^ _mix(src)) & mask
    while used[h] and not (keys[h, 0] == mac and keys[h, 1] == src):
        h = (h + np.uint64(1)) & mask
    if used[h]:
        return h, False
    used[h] = True
    keys[h, 0] = mac
    keys[h, 1] = src
    return h, True


@nb.njit(cache=True)
def _grow(keys: np.ndarray, used: np.ndarray, seqs: np.ndarray) -> tuple:  # type: ignore[type-arg]
    """Double the table (keys: (mac, addr) pairs; seqs: SLOTS x 5 per key)."""
    size = keys.shape[0] * 2
    nk = np.zeros((size, 2), np.uint64)
    nu = np.zeros(size, np.bool_)
    ns = np.zeros((size, SLOTS, 5), np.int64)
    for i in range(keys.shape[0]):
        if used[i]:
            h, _new = _slot(nk, nu, keys[i, 0], keys[i, 1])
            ns[h] = seqs[i]
    return nk, nu, ns


@nb.njit(cache=True)
def _link(
    keys: np.ndarray,
    used: np.ndarray,
    seqs: np.ndarray,
    n: int,
    clock: int,
    max_gap: int,
    entry: np.ndarray,
    ids: np.ndarray,
    dsts: np.ndarray,
    mac: np.ndarray,
    src: np.ndarray,
    slot_of: np.ndarray,
    start: int,
) -> tuple[int, int, int]:
    """Link packets `start`.. (ID `ids`, destination `dsts`, in capture order) each to its
    sender's closest sequence, or start one, until the table must grow; returns (the packet
    to go on from, the key count, the clock).  `slot_of`: each sender entry's slot, -1 not
    looked up yet."""
    for i in range(start, entry.shape[0]):
        if 2 * (n + 1) > keys.shape[0]:
            return i, n, clock
        e = entry[i]
        h = slot_of[e]
        if h < 0:
            found, new = _slot(keys, used, mac[e], src[e])
            h = np.int64(found)
            slot_of[e] = h
            if new:
                n += 1
                for s in range(SLOTS):
                    seqs[h, s, _LAST] = -1
        clock += 1
        x = np.int64(ids[i])
        d = np.int64(dsts[i])
        best, best_gap = -1, max_gap + 1
        victim, victim_used = 0, np.iinfo(np.int64).max  # an empty slot, else the LRU one
        for s in range(SLOTS):
            last = seqs[h, s, _LAST]
            if last < 0:
                if victim_used >= 0:
                    victim, victim_used = s, -1
                continue
            gap = (x - last) & 0xFFFF
            if gap <= max_gap and gap < best_gap:
                best, best_gap = s, gap
            if seqs[h, s, _USED] < victim_used:
                victim, victim_used = s, seqs[h, s, _USED]
        if best < 0:
            best = victim
            seqs[h, best, _PKTS] = 0
            seqs[h, best, _CHANGES] = 0
            seqs[h, best, _DST] = d
        elif seqs[h, best, _DST] != d:
            seqs[h, best, _CHANGES] += 1
            seqs[h, best, _DST] = d
        seqs[h, best, _LAST] = x
        seqs[h, best, _PKTS] += 1
        seqs[h, best, _USED] = clock
    return entry.shape[0], n, clock


@nb.njit(cache=True)
def _feed(
    keys: np.ndarray,
    used: np.ndarray,
    seqs: np.ndarray,
    n: int,
    clock: int,
    max_gap: int,
    entry: np.ndarray,
    ids: np.ndarray,
    dsts: np.ndarray,
    mac: np.ndarray,
    src: np.ndarray,
) -> tuple:  # type: ignore[type-arg]
    """_link over all the packets, growing the table where it must; returns the possibly
    grown table, the key count and the clock (a packet counter for LRU).

    `entry` numbers each packet's sender (MAC `mac[entry]`, address `src[entry]`; a group
    of packets that share both): the table is probed once per group and the slot remembered
    (until the table grows), not hashed again for every packet.  The growth stays out of
    _link's loop: arrays reassigned in a loop cost reference counting on every packet."""
    slot_of = np.full(mac.shape[0], -1, np.int64)
    i = 0
    while True:
        i, n, clock = _link(
            keys, used, seqs, n, clock, max_gap, entry, ids, dsts, mac, src, slot_of, i
        )
        if i == entry.shape[0]:
            return keys, used, seqs, n, clock
        keys, used, seqs = _grow(keys, used, seqs)
        slot_of[:] = -1  # every sender moved


@nb.njit(cache=True)
def _clusters(lasts: np.ndarray, ok: np.ndarray, min_apart: int) -> np.ndarray:
    """Per sender: groups of its qualifying counters whose last IDs lie more than
    `min_apart` apart on the 16-bit circle."""
    out = np.zeros(lasts.shape[0], np.int64)
    for i in range(lasts.shape[0]):
        vals = np.sort(lasts[i][ok[i]])
        k = vals.shape[0]
        if k == 0:
            continue
        n = 0
        for j in range(k):  # gap to the next value around the circle
            nxt = vals[(j + 1) % k] + (65536 if j == k - 1 else 0)
            if nxt - vals[j] > min_apart:
                n += 1
        out[i] = max(n, 1)
    return out


@dataclass
class IpIdCounters:
    """Per (source MAC, IPv4 source) sequences of IP-IDs across packet chunks."""

    max_gap: int = 64  # the next ID of one counter: at most this far ahead (unseen packets)
    keys: np.ndarray = field(default_factory=lambda: np.zeros((1024, 2), np.uint64))
    used: np.ndarray = field(default_factory=lambda: np.zeros(1024, np.bool_))
    seqs: np.ndarray = field(default_factory=lambda: np.zeros((1024, SLOTS, 5), np.int64))
    n: int = 0
    clock: int = 0

    def update(self, packets: np.ndarray) -> None:
        """Feed one chunk (schemas.PACKET_DTYPE): unfragmented, untunnelled IPv4 with an ID
        and a source MAC, each packet looked up as a sender of its own."""
        p = packets
        ok = (p["ip_version"] == 4) & (p["tunnel_depth"] == 0) & (p["ip_id"] != 0)
        rows = np.flatnonzero(ok & (p["frag"] & 1 == 0) & (p["src_mac"] != 0))
        self.feed(
            np.arange(len(rows)), p["ip_id"][rows], p["dst_lo"][rows],
            p["src_mac"][rows], p["src_lo"][rows],
        )  # fmt: skip

    def feed(
        self, entry: np.ndarray, ids: np.ndarray, dsts: np.ndarray, mac: np.ndarray,
        src: np.ndarray,
    ) -> None:  # fmt: skip
        """Feed packets in capture order by their IDs, destinations (low 64 bits) and
        senders: packet i is sender entry[i], MAC mac[entry[i]], IPv4 src[entry[i]]
        (links_kernels.chunk_scan gives them per chunk, without a second read of the records)."""
        if not len(entry):
            return
        self.keys, self.used, self.seqs, self.n, self.clock = _feed(
            self.keys, self.used, self.seqs, self.n, self.clock, self.max_gap,
            entry, ids, dsts, mac, src,
        )  # fmt: skip

    def merge(self, other: IpIdCounters) -> None:
        """Another file's senders: kept side by side (a sender seen in both keeps this one's
        sequences; IDs of separate captures do not continue each other)."""
        for i in np.flatnonzero(other.used).tolist():
            if 2 * (self.n + 1) > self.keys.shape[0]:
                self.keys, self.used, self.seqs = _grow(self.keys, self.used, self.seqs)
            h, new = _slot(self.keys, self.used, other.keys[i, 0], other.keys[i, 1])
            if new:
                self.seqs[h] = other.seqs[i]
                self.n += 1

    def counters(
        self, min_packets: int, min_dst_changes: int, min_apart: int = 4096
    ) -> pd.DataFrame:
        """One row per sender: src_mac, src_lo, global (sequences that span destinations with
        `min_packets` packets, counted once per group of values `min_apart` apart), packets
        (in those sequences)."""
        live = np.flatnonzero(self.used)
        s = self.seqs[live]
        ok = (s[:, :, _LAST] >= 0) & (s[:, :, _PKTS] >= min_packets)
        ok &= s[:, :, _CHANGES] >= min_dst_changes
        return pd.DataFrame(
            {
                "src_mac": self.keys[live, 0],
                "src_lo": self.keys[live, 1],
                "global": _clusters(s[:, :, _LAST], ok, min_apart),
                "packets": np.where(ok, s[:, :, _PKTS], 0).sum(axis=1).astype(np.int64),
            }
        )
