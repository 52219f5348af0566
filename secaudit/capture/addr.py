"""128-bit addresses (hi, lo uint64 pairs) <-> text, and MACs <-> text.

IPv4 lives in ::ffff:0:0/96 so one pair of columns serves both families.
Conversions work on the distinct values only (np.unique + inverse index), so
cost grows with the number of hosts, not of packets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numpy as np

__all__ = ["V4_MAPPED_LO", "addr_to_str", "mac_to_str", "str_to_addr"]

V4_MAPPED_LO = 0x0000FFFF00000000  # lo word of ::ffff:a.b.c.d is this | a.b.c.d


def _one_addr(hi: int, lo: int) -> str:
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def addr_to_str(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Object array of "10.0.0.1" / "2001:db8::1" for each (hi, lo) pair."""
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    if hi.size == 0:
        return np.empty(0, dtype=object)
    pairs = np.empty(hi.shape, dtype=[("hi", "u8"), ("lo", "u8")])
    pairs["hi"] = hi
    pairs["lo"] = lo
    uniq, inverse = np.unique(pairs.ravel(), return_inverse=True)
    text = np.array([_one_addr(int(u["hi"]), int(u["lo"])) for u in uniq], dtype=object)
    return text[inverse].reshape(hi.shape)


def str_to_addr(values: Iterable[str] | str) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint64 arrays for IPv4/IPv6 address strings (IPv4 mapped); ValueError on junk."""
    arr = np.asarray([values] if isinstance(values, str) else list(values), dtype=object)
    hi = np.zeros(arr.shape, dtype=np.uint64)
    lo = np.zeros(arr.shape, dtype=np.uint64)
    if arr.size == 0:
        return hi, lo
    uniq, inverse = np.unique(arr.astype(str), return_inverse=True)
    uhi = np.zeros(len(uniq), dtype=np.uint64)
    ulo = np.zeros(len(uniq), dtype=np.uint64)
    for i, text in enumerate(uniq):
        ip = ipaddress.ip_address(str(text).strip())
        if ip.version == 4:
            ulo[i] = V4_MAPPED_LO | int(ip)
        else:
            v = int(ip)
            uhi[i] = v >> 64
            ulo[i] = v & 0xFFFFFFFFFFFFFFFF
    return uhi[inverse].reshape(arr.shape), ulo[inverse].reshape(arr.shape)


def mac_to_str(mac: np.ndarray) -> np.ndarray:
    """Object array of "aa:bb:cc:dd:ee:ff" for 48-bit integers (0 -> None)."""
    mac = np.asarray(mac, dtype=np.uint64)
    if mac.size == 0:
        return np.empty(0, dtype=object)
    uniq, inverse = np.unique(mac, return_inverse=True)
    text = np.array(
        [
            None if int(m) == 0 else ":".join(f"{b:02x}" for b in int(m).to_bytes(6, "big"))
            for m in uniq
        ],
        dtype=object,
    )
    return text[inverse].reshape(mac.shape)
