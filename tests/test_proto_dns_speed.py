"""Regression checks for the interned / cached paths of the DNS dissector (issue #6).

parse_dns builds text once per distinct name, registered domain, answer set and address,
copies the fields of a question name repeated byte for byte, and writes IPv6 text itself;
dns_log groups transactions over str pointers.  Each shortcut must give what the plain
path gives.
"""

from __future__ import annotations

import ipaddress
import struct

import numpy as np
import pandas as pd
from test_detect_dns import message, name, packets

from secaudit.capture.addr import addr_to_str
from secaudit.proto.dns import DnsStream, dns_log, messages_frame, parse_dns, query_codes


def _aaaa(raw: bytes) -> bytes:
    return b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + raw


def _a(raw: bytes) -> bytes:
    return b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + raw


def test_answer_text_matches_addr_to_str() -> None:
    """IPv6 text as `ipaddress` writes it (zero runs, leading zeros), IPv4-mapped dotted."""
    rng = np.random.default_rng(3)
    fixed = [
        bytes(16),
        bytes(15) + b"\x01",
        b"\x20\x01\x0d\xb8" + bytes(12),
        b"\x20\x01\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00",
        bytes(10) + b"\xff\xff\x0a\x00\x00\x01",
        bytes(12) + b"\x01\x02\x03\x04",
        b"\xfe\x80" + bytes(6) + b"\x12\x34\x00\x00\x00\x00\xab\xcd",
    ]
    sparse = [bytes(rng.choice([0, 0, 0, 1, 255], 16).astype(np.uint8)) for _ in range(150)]
    addrs = fixed + sparse
    payloads = []
    for k in range(0, len(addrs), 6):  # responses of 1..7 answers, one A among them
        group = addrs[k : k + 6]
        body = b"".join(_aaaa(a) for a in group) + _a(bytes([10, 0, 0, k % 256]))
        payloads.append(
            message(k, 0x8180, name(b"v6", b"example", b"com"), 28, body, len(group) + 1)
        )
    pk, data = packets(payloads, query_first=False)
    got = [x for lst in parse_dns(pk, data)["answers"] for x in lst]
    want_hi, want_lo = [], []
    for k in range(0, len(addrs), 6):
        for a in addrs[k : k + 6]:
            v = int.from_bytes(a, "big")
            want_hi.append(v >> 64)
            want_lo.append(v & (2**64 - 1))
        want_hi.append(0)
        want_lo.append((0xFFFF << 32) | int(ipaddress.IPv4Address(f"10.0.0.{k % 256}")))
    want = addr_to_str(np.array(want_hi, np.uint64), np.array(want_lo, np.uint64)).tolist()
    assert got == want


def test_repeated_names_and_answer_sets_give_the_same_fields() -> None:
    """The second copy of a question name (the copied path) equals the first (decoded)."""
    qn = name(b"Mail", b"example", b"co", b"uk")
    ans = _a(bytes([192, 0, 2, 1])) + _a(bytes([192, 0, 2, 2]))
    msgs = [message(1, 0x0100, qn), message(1, 0x8180, qn, answers=ans, an=2)] * 3
    pk, data = packets(msgs)
    m = parse_dns(pk, data)
    cols = ["query", "reg_domain", "labels", "max_label", "sub_labels", "sub_len", "sub_entropy"]
    assert (m[cols] == m[cols].iloc[0]).all().all()
    assert m["reg_domain"].iloc[0] == "example.co.uk" and m["query"].iloc[0] == "mail.example.co.uk"
    responses = m["answers"][m["qr"]].tolist()
    assert responses[0] == ["192.0.2.1", "192.0.2.2"]
    assert all(r is responses[0] for r in responses)  # one shared list per distinct set


def test_same_text_from_different_labels_keeps_its_own_fields() -> None:
    """A dot inside a label prints like a label boundary: equal text, different labels."""
    one = name(b"a.b", b"com")
    two = name(b"a", b"b", b"com")
    pk, data = packets([message(1, 0x0100, one), message(2, 0x0100, two), message(3, 0x0100, one)])
    m = parse_dns(pk, data)
    assert m["query"].tolist() == ["a.b.com"] * 3
    assert m["labels"].tolist() == [2, 3, 2]
    assert m["reg_domain"].tolist() == ["a.b.com", "b.com", "a.b.com"]


def test_pairs_across_chunks() -> None:
    """Query and response parsed in different chunks (distinct str objects) still pair."""
    qn = name(b"www", b"example", b"org")
    q_pk, q_data = packets([message(9, 0x0100, qn)])
    r_pk, r_data = packets([message(9, 0x8180, qn, answers=_a(bytes([198, 51, 100, 7])), an=1)])
    r_pk["ts"] += 5_000_000
    r_pk["src_lo"], r_pk["dst_lo"] = q_pk["dst_lo"], q_pk["src_lo"]
    r_pk["sport"], r_pk["dport"] = q_pk["dport"], q_pk["sport"]
    msgs = pd.concat([parse_dns(q_pk, q_data), parse_dns(r_pk, r_data)], ignore_index=True)
    log = dns_log(msgs)
    assert len(log) == 1
    row = log.iloc[0]
    assert row["answered"] and row["n_queries"] == 1 and row["answers"] == ["198.51.100.7"]
    assert abs(row["rtt"] - 0.005) < 1e-6


def _chunks(seed: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Chunks of random DNS messages: names repeated within and across chunks (case
    differing), empty, truncated and dropped (UPDATE) messages, A answers."""
    rng = np.random.default_rng(seed)
    words = [b"www", b"mail", b"api", b"x1", b"Example", b"example", b"org", b"com", b"zz9"]
    out = []
    for _ in range(n):
        payloads = []
        for k in range(40):
            labels = [words[i] for i in rng.integers(0, len(words), rng.integers(1, 4))]
            ans = b"".join(_a(bytes([10, 0, 0, int(i)])) for i in rng.integers(0, 3, k % 3))
            payloads.append(message(k, 0x8180 if k % 3 else 0x0100, name(*labels), 1, ans, k % 3))
        payloads += [b"\x00\x01\x01", struct.pack(">HHHHHH", 99, 0x0100, 0, 0, 0, 0)]  # no name
        payloads.append(message(77, 0x2800, name(b"upd", b"com")))  # an UPDATE: dns_log drops it
        out.append(packets(payloads))
    return out


def test_stream_matches_chunk_by_chunk() -> None:
    """A DnsStream fed chunk after chunk (values interned across chunks) gives the columns
    of parsing each chunk alone."""
    chunks = _chunks(5, 4)
    stream = DnsStream()
    for pk, data in chunks:
        stream.feed(pk, data, np.arange(len(pk)))
    got = messages_frame([stream.columns()])
    want = pd.concat([parse_dns(pk, data) for pk, data in chunks], ignore_index=True)
    assert got.equals(want)
    for c in ("query", "reg_domain", "answers"):
        assert got[c].map(repr).tolist() == want[c].map(repr).tolist()


def test_query_codes_match_factorized_queries() -> None:
    """query_codes over several streams are equal exactly where the concatenated query
    texts are, and dns_log given them builds the same log."""
    streams = []
    for seed in (6, 7):
        stream = DnsStream()
        for pk, data in _chunks(seed, 3):
            stream.feed(pk, data, np.arange(len(pk)))
        streams.append(stream)
    frame = messages_frame([s.columns() for s in streams])
    got = query_codes([s.query_names() for s in streams], [s.name_codes() for s in streams])
    want = pd.factorize(frame["query"].to_numpy(object), use_na_sentinel=False)[0]
    assert np.array_equal(pd.factorize(got)[0], want)  # the same partition of the rows
    assert dns_log(frame, got).equals(dns_log(frame))
