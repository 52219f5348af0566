"""capture/: seeded mutation fuzzing of the pcap/pcapng reader (issue 3, "Must show").

10,000+ truncated and mutated variants of small real captures go through
`read_packets` as bytes.  Every one must either raise InputError (not a capture
at all) or return packets whose offsets stay inside the data, with every Gap
carrying a byte offset; a cut in the middle of a record must produce a Gap.
"""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from conftest import DATA

from secaudit import InputError
from secaudit.capture import read_packets

CAP = DATA / "capture"
SEEDS = [
    "q-in-q.pcap",
    "vxlan.pcap",
    "erspanII.pcap",
    "gre-pptp.pcap",
    "geneve-ipv6.pcap",
    "gtp7_ipv6.pcap",
    "pcapng-multi-interface.pcapng",
    "geneve-truncated.pcapng",
    "http-on-irc-port-missing-syn.pcapng",
    "dhcp.pcap",
]
INTERESTING = [
    0,
    1,
    0xFF,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    12,
    16,
    28,
    40,
    65535,
    262145,
]


def record_boundaries(data: bytes) -> set[int]:
    """Offsets where a record/block starts or the file ends (cuts there are clean)."""
    bounds = {len(data)}
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos, endian = 0, "<"
        while pos + 12 <= len(data):
            if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            bounds.add(pos)
            pos += struct.unpack(endian + "I", data[pos + 4 : pos + 8])[0]
        return bounds
    pos = 24
    while pos + 16 <= len(data):
        bounds.add(pos)
        pos += 16 + struct.unpack("<I", data[pos + 8 : pos + 12])[0]
    return bounds


def mutate(rng: np.random.Generator, data: bytes) -> tuple[bytes, bool]:
    """One random damage; returns (bytes, whether it was a plain truncation)."""
    buf = bytearray(data)
    op = int(rng.integers(0, 7))
    if op == 0:
        return bytes(buf[: int(rng.integers(0, len(buf)))]), True
    if op == 1:  # flip random bytes
        for _ in range(int(rng.integers(1, 9))):
            i = int(rng.integers(0, len(buf)))
            buf[i] ^= 1 << int(rng.integers(0, 8))
    elif op == 2:  # an interesting 32-bit value somewhere (often a length field)
        i = int(rng.integers(0, max(1, len(buf) - 4)))
        v = INTERESTING[int(rng.integers(0, len(INTERESTING)))]
        buf[i : i + 4] = struct.pack("<I" if rng.random() < 0.5 else ">I", v)
    elif op == 3:  # insert garbage
        i = int(rng.integers(0, len(buf)))
        buf[i:i] = rng.integers(0, 256, int(rng.integers(1, 64))).astype(np.uint8).tobytes()
    elif op == 4:  # delete a range
        i = int(rng.integers(0, len(buf)))
        del buf[i : i + int(rng.integers(1, 64))]
    elif op == 5:  # duplicate a range
        i = int(rng.integers(0, len(buf)))
        buf[i:i] = buf[i : i + int(rng.integers(1, 200))]
    else:  # random bytes over a header-sized span
        i = int(rng.integers(0, len(buf)))
        n = int(rng.integers(1, 40))
        buf[i : i + n] = rng.integers(0, 256, n).astype(np.uint8).tobytes()
    return bytes(buf), False


def check(data: bytes, truncated_from: bytes | None) -> int:
    """Read one input; assert the reader's promises; return the number of gaps."""
    try:
        chunk = read_packets(data)
    except InputError as exc:
        assert exc.source == "<bytes>" and exc.offset is not None
        return 0
    p = chunk.packets
    assert (p["data_off"] + p["caplen"] <= len(chunk.data)).all()
    assert (p["ip_off"] <= p["caplen"]).all() and (p["l4_off"] <= p["caplen"]).all()
    tid = p["tunnel_id"]
    assert ((tid == -1) | ((tid >= 0) & (tid < len(chunk.tunnels)))).all()
    limit = None if data[:2] == b"\x1f\x8b" else len(data)
    for gap in chunk.gaps:
        assert gap.offset is not None and gap.offset >= 0, gap
        assert limit is None or gap.offset <= limit, gap  # gzip: offsets are decompressed
        assert gap.kind in ("truncated", "corrupt", "unsupported", "empty") and gap.message
    if (
        truncated_from is not None
        and len(data) >= 24
        and len(data) not in record_boundaries(truncated_from)
    ):
        assert chunk.gaps, f"cut at {len(data)} of {len(truncated_from)} left no gap"
    return len(chunk.gaps)


@pytest.mark.slow
def test_fuzz_ten_thousand_damaged_captures() -> None:
    rng = np.random.default_rng(20261127)
    seeds = [(CAP / name).read_bytes() for name in SEEDS]
    # IP fragments carrying GTP-U: the first records of a real trace (reassembly paths)
    gtp = (CAP / "gtp1_gn_normal_incl_fragmentation.pcap").read_bytes()
    seeds.append(gtp[: max(b for b in record_boundaries(gtp) if b <= 7000)])
    total = gaps = 0
    for n in range(10_200):
        seed = seeds[n % len(seeds)]
        data, truncated = mutate(rng, seed)
        if n % 50 == 0:  # some compressed inputs: gzip of damage, and damaged gzip
            data = gzip.compress(data)
            if rng.random() < 0.5:
                data = data[: int(rng.integers(10, len(data)))]
            truncated = False
        gaps += check(data, seed if truncated else None) > 0
        total += 1
    assert total >= 10_000
    assert gaps > total // 4  # most damage is seen (some mutations hit payload bytes only)
