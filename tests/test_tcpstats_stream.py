"""Streaming TCP analysis (tcpstats.TcpStream): per-flow state carried across chunks.

Results must not depend on where chunks split a capture (flows spanning chunks, table
growth), a chunk whose timestamps go backwards is analysed in time order, and the
sample capture keeps the counters the per-packet implementation it replaced produced.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet
from scapy.utils import wrpcap

from secaudit.capture import iter_chunks
from secaudit.detect._kernels import (
    D_LAST,
    D_OUT,
    D_PKTS,
    D_STALL,
    DIR_WORDS,
    NO_TS,
    ST_STALL,
    tcp_dir_rows,
)
from secaudit.detect.health import service_health
from secaudit.detect.tables import PacketTables
from secaudit.detect.tcpstats import TcpStream, tcp_tables

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "pcaps" / "sample.pcap"
T0 = 1_700_000_000.0


def _seg(
    t: float, src: str, dst: str, sport: int, dport: int, flags: str, seq: int, ack: int = 0,
    payload: bytes = b"", win: int = 8192, v6: bool = False,
) -> Packet:  # fmt: skip
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    tcp = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=win)
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    pkt: Packet = eth / ip / tcp / payload if payload else eth / ip / tcp
    pkt.time = t
    return pkt


def _session(t: float, c: str, s: str, cport: int, v6: bool = False) -> list[Packet]:
    """Handshake, two data segments (the second retransmitted), two duplicate ACKs, a zero
    window stall of 2 s, an SSH banner, a FIN."""
    return [
        _seg(t, c, s, cport, 22, "S", 100, v6=v6),
        _seg(t + 0.010, s, c, 22, cport, "SA", 500, 101, v6=v6),
        _seg(t + 0.011, c, s, cport, 22, "A", 101, 501, v6=v6),
        _seg(t + 0.020, s, c, 22, cport, "PA", 501, 101, b"SSH-2.0-OpenSSH_9.6\r\n", v6=v6),
        _seg(t + 0.030, c, s, cport, 22, "PA", 101, 522, b"x" * 100, v6=v6),
        _seg(t + 0.040, c, s, cport, 22, "PA", 201, 522, b"y" * 100, v6=v6),
        _seg(t + 0.300, c, s, cport, 22, "PA", 201, 522, b"y" * 100, v6=v6),  # retransmission
        _seg(t + 0.310, s, c, 22, cport, "A", 522, 301, v6=v6),
        _seg(t + 0.320, s, c, 22, cport, "A", 522, 301, v6=v6),  # duplicate ACK
        _seg(t + 0.330, s, c, 22, cport, "A", 522, 301, v6=v6),  # duplicate ACK
        _seg(t + 1.000, s, c, 22, cport, "A", 522, 301, win=0, v6=v6),  # zero window ...
        _seg(t + 3.000, s, c, 22, cport, "A", 522, 301, v6=v6),  # ... for 2 s
        _seg(t + 3.100, c, s, cport, 22, "FA", 301, 522, v6=v6),
    ]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pkts = _session(T0, "10.0.0.1", "10.0.0.2", 40000)
    pkts += _session(T0 + 0.005, "2001:db8::1", "2001:db8::2", 40001, v6=True)
    pkts += _session(T0 + 0.007, "10.0.0.9", "10.0.0.2", 40002)
    pkts.sort(key=lambda p: float(p.time))
    path = tmp_path_factory.mktemp("tcp") / "sessions.pcap"
    wrpcap(str(path), pkts)
    return path


def _tables(path: Path, chunk_packets: int) -> dict[str, pd.DataFrame]:
    own = PacketTables()
    for chunk in iter_chunks(path, chunk_packets=chunk_packets):
        own.update(chunk.packets, chunk.data)
    return {k: v for k, v in own.finish().items() if k.startswith("tcp_")}


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)


def test_counters_of_known_sessions(capture: Path) -> None:
    t = _tables(capture, 1000)
    dirs = t["tcp_dirs"]
    for client in ("10.0.0.1", "2001:db8::1", "10.0.0.9"):
        c = dirs[dirs["src"] == client].iloc[0]
        assert (c["pkts"], c["data_pkts"], c["retrans"], c["payload_bytes"]) == (6, 3, 1, 300)
        srv = dirs[dirs["dst"] == client].iloc[0]
        assert (srv["pkts"], srv["dupacks"], srv["zero_win"], srv["ssh_banner"]) == (7, 2, 1, 1)
        assert srv["zw_stall_ns"] == 2_000_000_000
    flows = t["tcp_flows"]
    assert len(flows) == 3 and (flows["rtt_ns"] == 10_000_000).all()
    sides = t["tcp_dirs"].merge(flows, on="flow")
    sent_syn = sides["src"].isin(["10.0.0.1", "2001:db8::1", "10.0.0.9"])
    assert ((sides["dir"] == sides["client_dir"]) == sent_syn).all()
    # per flow and second: data segments, retransmissions, duplicate ACKs
    b = t["tcp_buckets"].groupby("sec")[["data", "retrans", "dupack"]].sum()
    assert list(b.loc[int(T0)]) == [3 * 4, 3, 3 * 2]


@pytest.mark.parametrize("chunk_packets", [1, 2, 7, 16])
def test_chunk_boundaries_do_not_matter(capture: Path, chunk_packets: int) -> None:
    _same(_tables(capture, 1000), _tables(capture, chunk_packets))


def test_many_flows_grow_the_state(tmp_path: Path) -> None:
    """More flows than the initial capacities, over several chunks: slots in order of
    each flow's first packet, the same tables as one chunk."""
    pkts = []
    for k in range(3000):
        t = T0 + k * 0.001
        c = f"10.{1 + k // 250}.{k % 250}.1"
        pkts += [_seg(t, c, "10.0.0.2", 1024 + k, 80, "S", k),
                 _seg(t + 0.0005, "10.0.0.2", c, 80, 1024 + k, "SA", 7, k + 1)]  # fmt: skip
    path = tmp_path / "many.pcap"
    wrpcap(str(path), pkts)
    one = _tables(path, 10_000)
    _same(one, _tables(path, 999))
    assert len(one["tcp_flows"]) == 3000
    assert one["tcp_dirs"]["dport"].iloc[::2].tolist() == list(range(1024, 4024))  # dir 0: server


def test_backwards_time_within_a_chunk_is_sorted(capture: Path, tmp_path: Path) -> None:
    """A chunk whose timestamps step back is analysed in time order (stable sort)."""
    pkts = list(PcapPackets(capture))
    shuffled = pkts[::2] + pkts[1::2]  # same packets, capture order scrambled
    path = tmp_path / "shuffled.pcap"
    wrpcap(str(path), shuffled)
    a, b = _tables(capture, 1000), _tables(path, 1000)
    # the same statistics; rows in order of first appearance in time, as before
    _same(a, b)


def test_backwards_time_across_chunks_keeps_capture_order(capture: Path, tmp_path: Path) -> None:
    """Across chunks packets are taken in capture order: the totals stay, nothing breaks."""
    pkts = list(PcapPackets(capture))
    path = tmp_path / "late.pcap"
    wrpcap(str(path), pkts[10:] + pkts[:10])  # the first packets arrive last
    t = _tables(path, 8)
    ref = _tables(capture, 1000)["tcp_dirs"]
    assert t["tcp_dirs"]["pkts"].sum() == ref["pkts"].sum()
    assert t["tcp_dirs"]["payload_bytes"].sum() == ref["payload_bytes"].sum()
    assert t["tcp_buckets"]["data"].sum() == ref["data_pkts"].sum()


def PcapPackets(path: Path) -> list[Packet]:  # noqa: N802 - reads like the scapy reader
    from scapy.utils import rdpcap

    return list(rdpcap(str(path)))


def test_files_merged(capture: Path) -> None:
    """Two passes (secaudit.distributed: one per file) merge per flow: counters add up."""
    streams = []
    for _ in range(2):
        s = TcpStream()
        for chunk in iter_chunks(capture):
            s.feed(chunk.packets, chunk.data, np.flatnonzero(chunk.packets["proto"] == 6))
        streams.append(s)
    one, two = tcp_tables(streams[:1]), tcp_tables(streams)
    cols = ["pkts", "data_pkts", "retrans", "dupacks", "payload_bytes", "zw_stall_ns"]
    assert (two.directions[cols] == 2 * one.directions[cols]).all().all()
    assert two.directions[["flow", "dir", "src", "dst", "sport", "dport", "first_ns",
                           "last_ns", "probe_bits"]].equals(
        one.directions[["flow", "dir", "src", "dst", "sport", "dport", "first_ns", "last_ns",
                        "probe_bits"]])  # fmt: skip
    pd.testing.assert_frame_equal(two.flows, one.flows)
    assert len(two.buckets) == 2 * len(one.buckets)


def test_empty() -> None:
    t = tcp_tables([])
    assert len(t.directions) == len(t.flows) == len(t.buckets) == 0
    assert {"flow", "dir", "pkts", "src", "dport"} <= set(t.directions.columns)
    assert list(t.buckets.columns) == ["flow", "sec", "data", "retrans", "dupack"]


def test_sample_keeps_the_per_packet_results() -> None:
    """Totals the per-packet implementation (before streaming) gave on the sample."""
    t = _tables(SAMPLE, 500_000)
    d, f = t["tcp_dirs"], t["tcp_flows"]
    got = {c: int(d[c].sum()) for c in ("pkts", "data_pkts", "retrans", "dupacks",
                                        "payload_bytes", "ssh_banner")}  # fmt: skip
    assert got == {"pkts": 12417, "data_pkts": 4436, "retrans": 66, "dupacks": 41,
                   "payload_bytes": 3346244, "ssh_banner": 8}  # fmt: skip
    assert (len(d), len(f), int(f["rtt_ns"].notna().sum()), int(f["rtt_ns"].sum())) == (
        2906, 1453, 432, 945_100_000)  # fmt: skip
    assert d.iloc[0][["flow", "dir", "pkts", "src", "dport"]].tolist() == [
        8882446931420908016, 0, 11, "10.20.3.115", 3128]  # fmt: skip
    h = service_health(tables=t, bin_s=60.0)
    assert (int(h["data_pkts"].sum()), int(h["retrans"].sum()), int(h["dupacks"].sum())) == (
        4436,
        66,
        41,
    )


def test_dir_rows_match_numpy() -> None:
    """tcp_dir_rows against the plain numpy gather, stall fix-up and selection on random
    state (directions without packets, open and closed stalls)."""
    rng = np.random.default_rng(11)
    k = 500
    d = rng.integers(0, 10**9, (k + 7, 2, DIR_WORDS)).astype(np.int64)
    d[:, :, D_PKTS] = rng.integers(0, 3, (k + 7, 2))
    d[:, :, ST_STALL] = np.where(rng.random((k + 7, 2)) < 0.5, NO_TS, d[:, :, ST_STALL])
    out, kept = tcp_dir_rows(d, k)
    want = d[:k][:, :, list(D_OUT)]
    last, start = d[:k, :, D_LAST], d[:k, :, ST_STALL]
    want[:, :, D_OUT.index(D_STALL)] += np.maximum(last - np.where(start == NO_TS, last, start), 0)
    flat = want.reshape(2 * k, len(D_OUT))
    rows = np.flatnonzero(flat[:, 0] > 0)
    assert np.array_equal(kept, rows)
    assert np.array_equal(out, flat[rows])
