"""DNS dissector: well-formed messages, compression, and hostile bytes that must not crash."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secaudit.proto.dns import STATUS_MALFORMED, STATUS_OK, STATUS_TRUNCATED, dns_log, parse_dns
from secaudit.schemas import PACKET_DTYPE


def name(*labels: bytes) -> bytes:
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\0"


def message(
    tid: int, flags: int, qname: bytes, qtype: int = 1, answers: bytes = b"", an: int = 0
) -> bytes:
    return (
        struct.pack(">HHHHHH", tid, flags, 1, an, 0, 0)
        + qname
        + struct.pack(">HH", qtype, 1)
        + answers
    )


def packets(payloads: list[bytes], query_first: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """UDP rows whose payloads sit back to back in one buffer (offsets as capture sets them)."""
    p = np.zeros(len(payloads), PACKET_DTYPE)
    off = 0
    for i, pl in enumerate(payloads):
        q = (i % 2 == 0) if query_first else True
        p[i]["ts"] = 1_700_000_000_000_000_000 + i * 1_000_000
        p[i]["data_off"] = off
        p[i]["caplen"] = len(pl)
        p[i]["payload_off"] = 0
        p[i]["payload_len"] = len(pl)
        p[i]["proto"] = 17
        p[i]["ip_version"] = 4
        p[i]["src_lo"] = (0xFFFF << 32) | (0x0A000007 if q else 0x0A000035)
        p[i]["dst_lo"] = (0xFFFF << 32) | (0x0A000035 if q else 0x0A000007)
        p[i]["sport"], p[i]["dport"] = (40000, 53) if q else (53, 40000)
        off += len(pl)
    return p, np.frombuffer(b"".join(payloads), np.uint8).copy()


def test_query_and_response_pair_with_compressed_answer() -> None:
    qn = name(b"WWW", b"example", b"com")
    ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 7])
    pk, data = packets([message(7, 0x0100, qn), message(7, 0x8180, qn, answers=ans, an=1)])
    m = parse_dns(pk, data)
    assert m["query"].tolist() == ["www.example.com"] * 2
    assert m["status"].tolist() == [STATUS_OK] * 2
    assert m["reg_domain"].iloc[0] == "example.com" and m["sub_len"].iloc[0] == 3
    log = dns_log(m)
    assert len(log) == 1
    row = log.iloc[0]
    assert row["answered"] and row["rcode_name"] == "NOERROR" and row["answers"] == ["192.0.2.7"]
    assert abs(row["rtt"] - 0.001) < 1e-6


def test_registered_domain_under_generic_second_level() -> None:
    pk, data = packets([message(1, 0x0100, name(b"a1b2c3", b"x", b"example", b"com", b"cn"))])
    assert parse_dns(pk, data)["reg_domain"].iloc[0] == "example.com.cn"


def test_forward_pointer_and_pointer_loop_are_malformed() -> None:
    fwd = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x20" + b"\0" * 30
    loop = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c"
    pk, data = packets([fwd, loop], query_first=False)
    assert parse_dns(pk, data)["status"].tolist() == [STATUS_MALFORMED] * 2


def test_truncated_and_long_label() -> None:
    short = message(1, 0x0100, name(b"abc", b"example", b"com"))[:20]
    bad_label = (
        struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + bytes([0x41]) + b"a" * 65 + b"\0\0\1\0\1"
    )
    pk, data = packets([short, bad_label], query_first=False)
    assert parse_dns(pk, data)["status"].tolist() == [STATUS_TRUNCATED, STATUS_MALFORMED]


def test_non_printable_bytes_are_escaped() -> None:
    pk, data = packets([message(1, 0x0100, name(b"a\x00b", b"example", b"com"))])
    assert parse_dns(pk, data)["query"].iloc[0] == "a\\x00b.example.com"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=8))
def test_random_bytes_never_crash(payloads: list[bytes]) -> None:
    pk, data = packets(payloads, query_first=False)
    m = parse_dns(pk, data)
    assert len(m) == len(payloads)
    dns_log(m)
