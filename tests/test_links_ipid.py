"""hidden_nat by IP-ID counters (secaudit/detect/ipid.py): two hosts that number their
packets from one global counter each, behind one address whose NAT rewrites the TTL (so
neither TTL baselines nor SYN fingerprints tell them apart)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd
from scapy.layers.inet import IP
from scapy.packet import Packet
from test_links_craft import DNS1, FS1, GW_EXT, PRN, PROXY, T0, WS1, detect_on, tcp_session

from secaudit.detect.ipid import IpIdCounters
from secaudit.schemas import PACKET_DTYPE

_DESTS = [(GW_EXT, PROXY[1], 3128), (FS1[0], FS1[1], 445), (PRN[0], PRN[1], 9100),
          (DNS1[0], DNS1[1], 53)]  # fmt: skip


def _host(start_id: int | None, t: float, sessions: int, seed: int) -> list[Packet]:
    """One machine behind WS1's address, TTL rewritten to 64; IDs from one global counter
    starting at `start_id`, or (None) Linux-style: a random start per connection."""
    r = random.Random(seed)
    out: list[Packet] = []
    nxt = start_id
    for k in range(sessions):
        mac, ip, port = _DESTS[k % len(_DESTS)]
        pkts = tcp_session(
            WS1[0], WS1[1], mac, ip, port, t + 7 * k, sport=43000 + seed + k, sttl=64
        )
        own = r.randint(1, 60000) if nxt is None else None
        for p in pkts:
            if p[IP].src != WS1[1]:
                continue
            if own is not None:
                p[IP].id, own = own, own + 1
            else:
                assert nxt is not None
                p[IP].id, nxt = nxt, nxt + 1 + r.randint(0, 2)  # a few packets not seen here
            del p[IP].chksum
        out += pkts
    return out


def test_two_global_counters_behind_one_address(tmp_path: Path) -> None:
    out = detect_on(tmp_path, _host(1000, T0, 8, 1), _host(41000, T0 + 3, 8, 2), only="hidden_nat")
    f = [x for x in out if x.detector == "hidden_nat"]
    assert [x.subject for x in f] == [WS1[1]]
    assert "several IP-ID counters" in f[0].evidence["reasons"]
    assert f[0].evidence["ipid_counters"] == 2


def test_one_windows_host_is_silent(tmp_path: Path) -> None:
    out = detect_on(tmp_path, _host(1000, T0, 16, 1), only="hidden_nat")
    assert out == []


def test_per_connection_counters_are_silent(tmp_path: Path) -> None:
    """Linux numbers each connection from a random start: many sequences, none moves
    between destinations."""
    out = detect_on(tmp_path, _host(None, T0, 16, 3), only="hidden_nat")
    assert out == []


def _packets(ids: list[int], dsts: list[int]) -> np.ndarray:
    p = np.zeros(len(ids), PACKET_DTYPE)
    p["ip_version"], p["src_mac"], p["src_lo"] = 4, 0xAA, 0x0A000005
    p["ip_id"], p["dst_lo"] = np.asarray(ids) & 0xFFFF, dsts
    return p


def _count(p: np.ndarray, chunk: int = 37) -> int:
    c = IpIdCounters()
    for k in range(0, len(p), chunk):  # state carried across chunks
        c.update(p[k : k + chunk])
    return int(c.counters(10, 3)["global"].sum())


def _counter_ids(who: np.ndarray, starts: list[int] | np.ndarray) -> list[int]:
    """IDs of packets sent by counters `who` (one counter per value, each +1 per packet)."""
    own = pd.Series(who).groupby(who).cumcount().to_numpy()
    return (np.asarray(starts)[who] + own).tolist()


def test_counter_kernel() -> None:
    rng = np.random.default_rng(1)
    n = 600
    # one global counter (wrapping past 65535) to 20 destinations
    assert _count(_packets(list(range(65300, 65300 + n)), list(rng.integers(1, 20, n)))) == 1
    # two interleaved global counters
    who = rng.permutation(np.r_[np.zeros(n, int), np.ones(n, int)])
    ids = _counter_ids(who, [100, 30000])
    assert _count(_packets(ids, list(rng.integers(1, 20, 2 * n)))) == 2
    # two counters a few hundred IDs apart: indistinguishable from one split by reordering
    ids = _counter_ids(who, [100, 400])
    assert _count(_packets(ids, list(rng.integers(1, 20, 2 * n)))) == 1
    # random IDs (macOS) and per-destination counters (Linux datagrams): none
    assert (
        _count(_packets(list(rng.integers(1, 65535, 3000)), list(rng.integers(1, 50, 3000)))) == 0
    )
    start = rng.integers(1, 65535, 20)
    dst = rng.integers(0, 20, 2000)
    assert _count(_packets(_counter_ids(dst, start), (dst + 1).tolist())) == 0


def test_merge_keeps_both_files_senders() -> None:
    a, b = IpIdCounters(), IpIdCounters()
    a.update(_packets(list(range(100, 200)), [1, 2, 3, 4] * 25))
    q = _packets(list(range(5000, 5100)), [1, 2, 3, 4] * 25)
    q["src_lo"] = 0x0A000006
    b.update(q)
    a.merge(b)
    got = a.counters(10, 3).sort_values("src_lo")
    assert got["src_lo"].tolist() == [0x0A000005, 0x0A000006]
    assert got["global"].tolist() == [1, 1]


def test_entries_give_the_same_state_as_per_packet_lookups() -> None:
    """Senders looked up once per chunk_scan hosts entry (LinksTables) leave the very state
    that hashing every packet does, the table growing mid-chunk included."""
    from secaudit.detect.links_kernels import chunk_scan

    rng = np.random.default_rng(4)
    n = 6000
    p = _packets(rng.integers(1, 65535, n).tolist(), rng.integers(1, 30, n).tolist())
    p["src_mac"] = 0xAA00 + rng.integers(0, 900, n)  # ~900 senders: 1024 slots grow twice
    p["src_lo"] = 0xFFFF_0A00_0000 + (p["src_mac"] & 0xFF)  # some MACs share an address
    p["ttl"] = rng.choice([64, 63], n)  # several entries per sender
    p["ip_id"][::50] = 0  # not counted, still in hosts
    a, b = IpIdCounters(), IpIdCounters()
    for k in range(0, n, 2500):
        q = p[k : k + 2500]
        _cands, hosts, (entry, ids, dsts) = chunk_scan(q)
        a.update(q)
        b.feed(entry, ids, dsts, hosts[0], hosts[2])
    assert a.n == b.n > 512 and a.clock == b.clock
    for name in ("keys", "used", "seqs"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
