"""capture.addr.addr_text_rows (the compiled address writer behind addr_to_str and the DNS
answer lists) against Python's ipaddress: RFC 5952 text for IPv6, dotted quads for
IPv4-mapped addresses."""

from __future__ import annotations

import ipaddress
import random

import numpy as np

from secaudit.capture.addr import addr_to_str

SPECIAL = ["::", "::1", "2001:db8::1", "fe80::1:0:0:1", "1:0:0:1:0:0:0:1", "1::", "0:0:1::",
           "2001:0:0:1::1", "::1.2.3.4", "ff02::1:ff00:1", "1:2:3:4:5:6:7:8", "1:0:2:0:3:0:4:0",
           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]  # fmt: skip


def test_text_matches_ipaddress() -> None:
    r = random.Random(3)
    vals = [int(ipaddress.IPv6Address(x)) for x in SPECIAL]
    for _ in range(3000):  # sparse groups: many zero runs of every length and place
        groups = [r.choice([0, 0, 0, r.randrange(65536)]) for _ in range(8)]
        vals.append(int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups), "big"))
    vals += [(0xFFFF << 32) | r.randrange(1 << 32) for _ in range(500)] + [0xFFFF << 32]
    want = [
        str(ipaddress.IPv4Address(v & 0xFFFFFFFF)) if v >> 32 == 0xFFFF
        else str(ipaddress.IPv6Address(v))
        for v in vals
    ]  # fmt: skip
    hi = np.array([v >> 64 for v in vals], np.uint64)
    lo = np.array([v & (2**64 - 1) for v in vals], np.uint64)
    assert addr_to_str(hi, lo).tolist() == want
