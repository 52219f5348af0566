"""Zeek conn.log semantics of secaudit.flows, one behaviour per test.

Captures are built with scapy and read through the real capture reader, so
each test runs the whole pcap -> conn path.  Expected values follow Zeek's
TCPSessionAdapter / conn main.zeek rules (cited per test).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw, wrpcap  # type: ignore[attr-defined]

from secaudit.flows import flow_table, read_conn_log, write_conn_log

C, S = "10.0.0.1", "10.0.0.2"
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _tcp(src: str, dst: str, sp: int, dp: int, flags: str, seq: int, ack: int = 0,
         data: bytes = b"", t: float = 0.0, win: int = 8192) -> Ether:  # fmt: skip
    smac, dmac = (MAC_C, MAC_S) if src == C else (MAC_S, MAC_C)
    p = (
        Ether(src=smac, dst=dmac)
        / IP(src=src, dst=dst)
        / TCP(sport=sp, dport=dp, flags=flags, seq=seq % 2**32, ack=ack % 2**32, window=win)
    )
    if data:
        p = p / Raw(data)
    p.time = 1_700_000_000 + t
    return p


class Conv:
    """A client:40000 <-> server:80 TCP conversation with running sequence numbers."""

    def __init__(self, cseq: int = 1000, sseq: int = 5000, sport: int = 40000, dport: int = 80):
        self.c, self.s = cseq, sseq
        self.sport, self.dport = sport, dport
        self.t = 0.0
        self.pkts: list[Ether] = []

    def _add(self, from_client: bool, flags: str, data: bytes = b"", dt: float = 0.01,
             seq: int | None = None) -> None:  # fmt: skip
        self.t += dt
        if from_client:
            p = _tcp(C, S, self.sport, self.dport, flags, self.c if seq is None else seq,
                     self.s if "A" in flags else 0, data, self.t)  # fmt: skip
            if seq is None:
                self.c += len(data) + ("S" in flags) + ("F" in flags)
        else:
            p = _tcp(S, C, self.dport, self.sport, flags, self.s if seq is None else seq,
                     self.c if "A" in flags else 0, data, self.t)  # fmt: skip
            if seq is None:
                self.s += len(data) + ("S" in flags) + ("F" in flags)
        self.pkts.append(p)

    def c_(self, flags: str, data: bytes = b"", **kw: float) -> Conv:
        self._add(True, flags, data, **kw)  # type: ignore[arg-type]
        return self

    def s_(self, flags: str, data: bytes = b"", **kw: float) -> Conv:
        self._add(False, flags, data, **kw)  # type: ignore[arg-type]
        return self

    def handshake(self) -> Conv:
        return self.c_("S").s_("SA").c_("A")


def _conn(tmp_path: Path, pkts: list[Ether], **kw: object) -> pd.DataFrame:
    path = tmp_path / "t.pcap"
    wrpcap(str(path), pkts)
    return flow_table(str(path), **kw).conn  # type: ignore[arg-type]


def _one(tmp_path: Path, pkts: list[Ether], **kw: object) -> pd.Series:
    df = _conn(tmp_path, pkts, **kw)
    assert len(df) == 1, df[["id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "history"]]
    return df.iloc[0]


# ------------------------------------------------------------------ conn_state
def test_sf_full_exchange_counts_bytes_from_sequence_numbers(tmp_path: Path) -> None:
    c = Conv().handshake().c_("PA", b"x" * 100).s_("A").s_("PA", b"y" * 300).c_("A")
    c.c_("FA").s_("FA").c_("A")
    r = _one(tmp_path, c.pkts)
    assert (r["conn_state"], r["history"]) == ("SF", "ShADadFf")
    assert (r["orig_bytes"], r["resp_bytes"]) == (100, 300)
    assert (r["orig_pkts"], r["resp_pkts"]) == (6, 4)
    assert (r["orig_ip_bytes"], r["resp_ip_bytes"]) == (6 * 40 + 100, 4 * 40 + 300)
    assert (r["id.orig_h"], r["id.orig_p"], r["id.resp_p"], r["proto"]) == (C, 40000, 80, "tcp")
    assert r["uid"].startswith("C") and len(r["uid"]) == 18


@pytest.mark.parametrize(
    ("build", "state", "history"),
    [
        (lambda c: c.c_("S"), "S0", "S"),
        (lambda c: c.c_("S").s_("RA"), "REJ", "Sr"),
        (lambda c: c.handshake(), "S1", "ShA"),
        (lambda c: c.handshake().c_("FA"), "S2", "ShAF"),
        (lambda c: c.handshake().s_("FA"), "S3", "ShAf"),
        (lambda c: c.handshake().c_("RA"), "RSTO", "ShAR"),
        (lambda c: c.handshake().s_("RA"), "RSTR", "ShAr"),
        (lambda c: c.c_("S").c_("R"), "RSTOS0", "SR"),
        (lambda c: c.c_("S").c_("F"), "SH", "SF"),
        (lambda c: c.c_("PA", b"abc").s_("A"), "OTH", "Da"),
    ],
)
def test_conn_states(tmp_path: Path, build: object, state: str, history: str) -> None:
    c = Conv(sport=40000, dport=4444)  # not a likely server port: no orientation heuristic
    build(c)  # type: ignore[operator]
    r = _one(tmp_path, c.pkts)
    assert (r["conn_state"], r["history"]) == (state, history)


@pytest.mark.parametrize(
    ("flags", "dport", "state", "history"),
    [
        ("R", 80, "RSTRH", "^hr"),  # SYN-ACK from a likely server port: flipped at once
        ("F", 80, "SHR", "^hf"),
        ("R", 4444, "OTH", "HR"),  # otherwise the SYN-ACK sender stays the originator
    ],
)
def test_synack_first_half_connections(
    tmp_path: Path, flags: str, dport: int, state: str, history: str
) -> None:
    c = Conv(dport=dport).s_("SA").s_(flags)
    r = _one(tmp_path, c.pkts)
    assert (r["conn_state"], r["history"]) == (state, history)


def test_udp_states_and_orientation(tmp_path: Path) -> None:
    def udp(src: str, dst: str, sp: int, dp: int, n: int, t: float) -> Ether:
        # a DNS header (standard query opcode) padded to n bytes: the DNS analyzer on
        # port 53 marks unknown opcodes with 'X'
        dns = b"\x12\x34\x01\x00" + b"q" * (n - 4)
        p = Ether() / IP(src=src, dst=dst) / UDP(sport=sp, dport=dp) / Raw(dns)
        p.time = 1_700_000_000 + t
        return p

    pk = [udp(C, S, 5555, 53, 30, 0.0), udp(S, C, 53, 5555, 90, 0.1)]
    r = _one(tmp_path, pk)
    assert (r["conn_state"], r["history"], r["orig_bytes"], r["resp_bytes"]) == ("SF", "Dd", 30, 90)
    # a reply-first exchange from a likely server port is flipped ('^')
    r = _one(tmp_path, [udp(S, C, 53, 5555, 90, 0.0)])
    assert (r["id.orig_h"], r["id.resp_p"], r["conn_state"], r["history"]) == (C, 53, "SHR", "^d")
    assert pd.isna(r["duration"]) and pd.isna(r["orig_bytes"])  # single packet: unset


def test_icmp_echo_pairs_request_and_reply(tmp_path: Path) -> None:
    req = Ether() / IP(src=C, dst=S) / ICMP(type=8, id=7) / Raw(b"p" * 56)
    rep = Ether() / IP(src=S, dst=C) / ICMP(type=0, id=7) / Raw(b"p" * 56)
    req.time, rep.time = 1_700_000_000.0, 1_700_000_000.5
    r = _one(tmp_path, [req, rep])
    assert (r["proto"], r["id.orig_p"], r["id.resp_p"], r["conn_state"]) == ("icmp", 8, 0, "OTH")
    assert (r["orig_bytes"], r["resp_bytes"], r["orig_pkts"], r["resp_pkts"]) == (56, 56, 1, 1)


# ------------------------------------------------------------------ history rules
def test_retransmissions_are_logged_at_1_10_100(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    c.c_("PA", b"z" * 10)
    seq = c.c - 10
    for _ in range(11):  # 11 retransmissions: letters at the 1st and 10th
        c.c_("PA", b"z" * 10, seq=seq)
    r = _one(tmp_path, c.pkts)
    assert r["history"] == "ShADTT"
    assert r["orig_bytes"] == 10


def test_data_and_ack_letters_once_per_direction(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    for _ in range(5):
        c.c_("PA", b"a").s_("A")
    assert _one(tmp_path, c.pkts)["history"] == "ShADa"


def test_zero_window_letter(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    c.pkts.append(_tcp(S, C, 4444, 40000, "A", c.s, c.c, t=1.0, win=0))
    assert _one(tmp_path, c.pkts)["history"] == "ShAaw"  # 'a' (update_history) before 'w'


def test_sequence_wraparound(tmp_path: Path) -> None:
    c = Conv(cseq=2**32 - 50).handshake()
    for _ in range(3):
        c.c_("PA", b"w" * 40).s_("A")
    c.c_("FA").s_("FA").c_("A")
    r = _one(tmp_path, c.pkts)
    assert (r["orig_bytes"], r["conn_state"], r["missed_bytes"]) == (120, "SF", 0)


def test_content_gap_counts_missed_bytes(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    c.c_("PA", b"a" * 100)
    c.c += 500  # 500 bytes never captured
    c.c_("PA", b"b" * 100).s_("A")
    r = _one(tmp_path, c.pkts)
    assert (r["missed_bytes"], r["orig_bytes"]) == (500, 700)
    assert "G" in r["history"]


def test_gap_far_ahead_after_loss_is_still_counted(tmp_path: Path) -> None:
    # Zeek stops reassembling only when the blocks hold > 10 MB of data
    # (DataBlockList::DataSize), not when the hole before one segment is that wide:
    # a 20 MB loss is a content gap (core.tcp.large-file-reassembly: 5.4 GB missed)
    c = Conv(dport=4444).handshake()
    c.c_("PA", b"a" * 100).s_("A")
    c.c += 20_000_000
    c.c_("PA", b"b" * 100).s_("A")
    r = _one(tmp_path, c.pkts)
    assert (r["missed_bytes"], r["orig_bytes"]) == (20_000_000, 20_000_200)
    assert "G" in r["history"]


def test_synack_first_is_flipped_on_first_ack(tmp_path: Path) -> None:
    c = Conv(dport=4444).s_("SA").c_("A").c_("PA", b"hi")
    r = _one(tmp_path, c.pkts)
    assert (r["id.orig_h"], r["id.orig_p"], r["history"]) == (C, 40000, "^hAD")


def test_midstream_from_server_port_is_oriented_to_the_server(tmp_path: Path) -> None:
    c = Conv(dport=80).s_("PA", b"HTTP/1.1 200 OK\r\n").c_("A")
    r = _one(tmp_path, c.pkts)
    assert (r["id.resp_p"], r["history"][0]) == (80, "^")


# ------------------------------------------------------------------ lifecycle
def test_syn_retry_after_attempt_timeout_starts_a_new_connection(tmp_path: Path) -> None:
    c = Conv(dport=4444).c_("S").c_("S", dt=3.0, seq=1000).c_("S", dt=6.0, seq=1000)
    df = _conn(tmp_path, c.pkts)
    assert list(df["conn_state"]) == ["S0", "S0"]
    assert list(df["orig_pkts"]) == [2, 1]


def test_udp_inactivity_timeout_splits(tmp_path: Path) -> None:
    pk = []
    for t in (0.0, 10.0, 75.0):
        p = Ether() / IP(src=C, dst=S) / UDP(sport=5000, dport=6000) / Raw(b"x")
        p.time = 1_700_000_000 + t
        pk.append(p)
    df = _conn(tmp_path, pk)
    assert list(df["orig_pkts"]) == [2, 1]


def test_new_syn_after_close_is_a_new_connection(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake().c_("FA").s_("FA").c_("A")
    c.c += 10000
    c.s += 10000
    c.handshake()
    df = _conn(tmp_path, c.pkts)
    assert list(df["conn_state"]) == ["SF", "S1"]


def test_chunked_run_equals_single_chunk(tmp_path: Path) -> None:
    pk = []
    for i in range(6):
        c = Conv(sport=41000 + i, dport=4444)
        c.t = i * 0.003
        c.handshake().c_("PA", b"q" * (10 * i + 1)).s_("PA", b"r" * 7).c_("FA").s_("FA").c_("A")
        pk.extend(c.pkts)
    pk.sort(key=lambda p: float(p.time))
    path = tmp_path / "m.pcap"
    wrpcap(str(path), pk)
    one = flow_table(str(path)).conn.drop(columns=["source"])
    for size in (1, 2, 7):
        many = flow_table(str(path), chunk_packets=size).conn.drop(columns=["source"])
        pd.testing.assert_frame_equal(one, many)


# ------------------------------------------------------------------ checksums, local nets
def test_bad_checksum_packets_are_skipped_unless_ignored(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    bad = _tcp(C, S, 40000, 4444, "PA", c.c, c.s, b"data", t=1.0)
    bad[TCP].chksum = 0x1234
    pk = [*c.pkts, bad]
    r = _one(tmp_path, pk)
    assert (r["history"], r["orig_pkts"]) == ("ShAC", 2)
    r2 = _one(tmp_path, pk, ignore_checksums=True)
    assert (r2["history"], r2["orig_pkts"]) == ("ShAD", 3)


def test_dns_session_timer_splits_idle_udp_dns(tmp_path: Path) -> None:
    # DNS_Analyzer::ExpireTimer fires every dns_session_timeout (10 s) from the start and
    # removes the session once its last packet is >= 9 s old (core.tunnels.teredo): the
    # same 5-tuple 16 s later is a new connection on port 53, not on a port without DNS
    def q(dport: int, t: float) -> Ether:
        p = Ether() / IP(src=C, dst=S) / UDP(sport=1920, dport=dport) / Raw(b"q" * 20)
        p.time = 1_700_000_000.0 + t
        return p

    dns = _conn(tmp_path, [q(53, 0), q(53, 0.2), q(53, 16.0)])
    assert dns["orig_pkts"].tolist() == [2, 1]
    other = _conn(tmp_path, [q(7000, 0), q(7000, 0.2), q(7000, 16.0)])
    assert other["orig_pkts"].tolist() == [3]
    # activity within 9 s of each firing keeps it: 0, 8, 16, 24 s is one session
    assert _conn(tmp_path, [q(53, t) for t in (0, 8, 16, 24)])["orig_pkts"].tolist() == [4]


def test_ntp_analyzer_flips_a_server_message_from_the_originator(tmp_path: Path) -> None:
    # ntp-analyzer.pac flips once for mode 4 from the originator; ConnSize (after the
    # analyzer) still counts that packet on its arrival side, the UDP lengths never flip
    # (scripts.base.protocols.ntp.misordered-ntp: D^, 2/0 packets, 96/0 bytes, S0)
    srv, cli = "17.253.4.253", "192.168.1.95"
    first = Ether() / IP(src=srv, dst=cli) / UDP(sport=123, dport=123) / Raw(b"\x24" + b"\0" * 47)
    second = Ether() / IP(src=cli, dst=srv) / UDP(sport=123, dport=123) / Raw(b"\x23" + b"\0" * 47)
    first.time, second.time = 1_700_000_000.0, 1_700_000_000.9
    r = _one(tmp_path, [first, second])
    assert (r["id.orig_h"], r["history"], r["conn_state"]) == (cli, "D^", "S0")
    assert (r["orig_pkts"], r["resp_pkts"], r["orig_bytes"], r["resp_bytes"]) == (2, 0, 96, 0)


def test_dns_analyzer_flips_a_first_response_and_marks_unknown_opcodes(
    tmp_path: Path,
) -> None:
    # DNS_Interpreter::ParseMessage: a first message that is a response from the originator
    # flips the roles (not towards a multicast responder); an unknown opcode adds 'X'
    def msg(src: str, dst: str, flags: bytes, sp: int = 53, dp: int = 53) -> Ether:
        p = (
            Ether()
            / IP(src=src, dst=dst)
            / UDP(sport=sp, dport=dp)
            / Raw(b"\x12\x34" + flags + b"\0" * 8)
        )
        p.time = 1_700_000_000.0
        return p

    r = _one(tmp_path, [msg(S, C, b"\x81\x80")])
    assert (r["id.orig_h"], r["history"]) == (C, "D^")  # the letter is added before it
    r = _one(tmp_path, [msg(S, "224.0.0.251", b"\x84\x00", 5353, 5353)])
    assert (r["id.orig_h"], r["history"]) == (S, "D")
    r = _one(tmp_path, [msg(C, S, b"\x10\x00")])  # opcode 2 (status)
    assert (r["id.orig_h"], r["history"]) == (C, "DX")
    r = _one(tmp_path, [msg(C, S, b"\x10\x00", 137, 137)])  # NetBIOS: any opcode
    assert r["history"] == "D"


def test_bad_udp_checksum_is_not_counted(tmp_path: Path) -> None:
    # UDP.cc hands a datagram to ConnSize only after its checksum passed: a bad one
    # leaves 'C' in the history and no packets or bytes
    ok = Ether() / IP(src=C, dst=S) / UDP(sport=5000, dport=7000) / Raw(b"ping")
    bad = Ether() / IP(src=C, dst=S) / UDP(sport=5000, dport=7000, chksum=0x1234) / Raw(b"ping")
    ok.time, bad.time = 1_700_000_000.0, 1_700_000_001.0
    r = _one(tmp_path, [ok, bad])
    assert (r["history"], r["orig_pkts"], r["orig_ip_bytes"]) == ("DC", 1, 32)
    r2 = _one(tmp_path, [ok, bad], ignore_checksums=True)
    assert (r2["history"], r2["orig_pkts"], r2["orig_ip_bytes"]) == ("D", 2, 64)


def test_tunnel_inside_a_bad_checksum_is_not_decapsulated(tmp_path: Path) -> None:
    # Zeek drops the VXLAN datagram at its bad UDP checksum, so the inner packet never
    # becomes a connection (core.tunnels.vxlan-unknown-internal-packet); -C analyzes both
    from scapy.layers.vxlan import VXLAN  # type: ignore[import-untyped]

    inner = Ether() / IP(src="192.168.9.80", dst="192.168.9.1") / UDP(sport=1, dport=9) / b"x"
    outer = (
        Ether() / IP(src=C, dst=S) / UDP(sport=48036, dport=4789, chksum=0x1234)
        / VXLAN(vni=7) / inner
    )  # fmt: skip
    outer.time = 1_700_000_000.0
    r = _one(tmp_path, [outer])
    assert (r["id.resp_p"], r["history"], r["orig_pkts"]) == (4789, "C", 0)
    df = _conn(tmp_path, [outer], ignore_checksums=True)
    assert sorted(df["id.orig_h"]) == ["10.0.0.1", "192.168.9.80"]


def test_packets_zeeks_ip_layer_discards_make_no_connection(tmp_path: Path) -> None:
    # ESP: an esp_packet event and nothing else; a wire shorter than the IP total length:
    # "truncated_IP" - neither becomes a connection, with or without -C
    from scapy.layers.ipsec import ESP  # type: ignore[import-untyped]

    esp = Ether() / IP(src=C, dst=S) / ESP(spi=1, seq=1, data=b"x" * 20)
    short = Ether() / IP(src=C, dst=S, len=200) / UDP(sport=5, dport=6) / b"abc"
    udp = Ether() / IP(src=C, dst=S) / UDP(sport=1000, dport=53) / b"abc"
    for i, p in enumerate((esp, short, udp)):
        p.time = 1_700_000_000.0 + i
    for kw in ({}, {"ignore_checksums": True}):
        r = _one(tmp_path, [esp, short, udp], **kw)
        assert (r["proto"], r["id.orig_p"]) == ("udp", 1000)


def test_unusable_tcp_header_makes_an_empty_connection(tmp_path: Path) -> None:
    # a data offset past the captured bytes: TCPAnalyzer's "truncated_header" - the
    # session exists (created from the ports), the packet is not analyzed, even with -C
    p = _tcp(C, S, 40000, 4444, "S", 1000)
    p[TCP].dataofs = 15  # 60-byte header, 20 bytes there
    for kw in ({}, {"ignore_checksums": True}):
        r = _one(tmp_path, [p], **kw)
        assert (r["id.orig_p"], r["orig_pkts"], r["conn_state"]) == (40000, 0, "OTH")
        assert pd.isna(r["history"])


def test_local_nets(tmp_path: Path) -> None:
    c = Conv(dport=4444).handshake()
    r = _one(tmp_path, c.pkts, local_nets=["10.0.0.1/32"])
    assert (r["local_orig"], r["local_resp"]) == (True, False)
    assert pd.isna(_one(tmp_path, c.pkts)["local_orig"])


# ------------------------------------------------------------------ conn.log IO
@pytest.mark.parametrize("fmt", ["zeek", "json", "parquet"])
def test_conn_log_round_trip(tmp_path: Path, fmt: str) -> None:
    c = Conv(dport=4444).handshake().c_("PA", b"abc").c_("FA").s_("FA").c_("A")
    df = _conn(tmp_path, c.pkts + [Conv(sport=1, dport=4444).c_("S").pkts[0]])
    path = write_conn_log(df, tmp_path / "conn.log", format=fmt)  # type: ignore[arg-type]
    back = read_conn_log(path)
    assert list(back["conn_state"]) == list(df["conn_state"])
    assert back["orig_bytes"].dtype == "UInt64" and back["id.orig_p"].dtype == "UInt16"
    assert back["orig_bytes"].isna().tolist() == df["orig_bytes"].isna().tolist()
    assert back["history"].tolist() == df["history"].tolist()
    if fmt == "zeek":
        text = path.read_text()
        assert text.startswith("#separator \\x09\n") and "#close\t" in text
        assert "\t-\t" in text  # unset fields


# ------------------------------------------------------------------ table growth / compaction
def _udp_chunk(n_flows: int, rounds: int, gap_s: float) -> object:
    """Synthetic PacketChunk: n_flows UDP request/reply pairs, `rounds` times, gap_s apart."""
    import numpy as np

    from secaudit.capture import PacketChunk
    from secaudit.capture._layout import TUNNEL_DTYPE
    from secaudit.schemas import PACKET_DTYPE

    n = n_flows * 2 * rounds
    pk = np.zeros(n, PACKET_DTYPE)
    data = np.zeros(n * 64, np.uint8)
    i = np.arange(n)
    flow = (i // 2) % n_flows
    rnd = i // (2 * n_flows)
    reply = (i % 2) == 1
    pk["ts"] = (1_700_000_000 * 10**9 + rnd * int(gap_s * 1e9) + i * 1000).astype(np.int64)
    pk["data_off"] = i * 64
    pk["caplen"] = pk["wirelen"] = 60
    pk["ethertype"], pk["ip_version"], pk["ip_off"], pk["ip_len"] = 0x0800, 4, 14, 38
    pk["proto"], pk["l4_off"], pk["payload_off"], pk["payload_len"] = 17, 34, 42, 10
    pk["tunnel_id"] = -1
    # a new client address each round: finished keys pile up and get compacted away
    client = (0xFFFF << 32) | (0x0A000000 + flow + rnd * n_flows).astype(np.uint64)
    server = np.uint64((0xFFFF << 32) | 0xC0A80001)
    pk["src_lo"] = np.where(reply, server, client)
    pk["dst_lo"] = np.where(reply, client, server)
    pk["sport"] = np.where(reply, 9999, 20000 + flow % 1000)
    pk["dport"] = np.where(reply, 20000 + flow % 1000, 9999)
    data[i * 64 + 34 + 5] = 18  # UDP length 18 = 8 + 10 payload bytes
    return PacketChunk(pk, data, np.zeros(0, TUNNEL_DTYPE), "synthetic", ())


def _track(chunk: object, size: int) -> pd.DataFrame:
    import numpy as np

    from secaudit.capture import PacketChunk
    from secaudit.flows.table import conn_frame
    from secaudit.flows.tracker import FlowTracker

    assert isinstance(chunk, PacketChunk)
    tr = FlowTracker()
    for start in range(0, chunk.packets.shape[0], size):
        part = chunk.packets[start : start + size]
        tr.feed(PacketChunk(part, chunk.data, chunk.tunnels, chunk.source, ()))
    df = conn_frame(tr.finish(), tr.sources)
    return (
        df.sort_values(["ts", "id.orig_h"])
        .reset_index(drop=True)
        .drop(columns=["uid"])
        .pipe(lambda d: d.assign(n=np.arange(len(d))))
    )


def test_many_flows_across_chunks_with_timeouts_and_compaction() -> None:
    chunk = _udp_chunk(n_flows=5000, rounds=3, gap_s=90.0)  # 90 s > udp timeout: 3 conns each
    one = _track(chunk, 10**9)
    assert len(one) == 15000
    assert set(one["conn_state"]) == {"SF"} and set(one["orig_bytes"]) == {10}
    pd.testing.assert_frame_equal(one, _track(chunk, 1777))
