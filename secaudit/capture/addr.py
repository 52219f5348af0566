"""128-bit addresses (hi, lo uint64 pairs) <-> text, and MACs <-> text.

IPv4 lives in ::ffff:0:0/96 so one pair of columns serves both families.
Conversions work on the distinct values only (hash factorization + inverse index),
so cost grows with the number of hosts, not of packets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import numba as nb
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

__all__ = [
    "V4_MAPPED_LO",
    "addr_codes",
    "addr_int_to_str",
    "addr_text_rows",
    "addr_to_str",
    "distinct_arrow",
    "mac_to_str",
    "pair_codes",
    "splitmix",
    "str_to_addr",
]

V4_MAPPED_LO = 0x0000FFFF00000000  # lo word of ::ffff:a.b.c.d is this | a.b.c.d


@nb.njit(cache=True)
def _hex16(out: np.ndarray, k: int, v: int) -> int:
    """Write `v` as lowercase hex without leading zeros at out[k]; the new end."""
    started = False
    for shift in (12, 8, 4, 0):
        d = (v >> shift) & 15
        if d or started or shift == 0:
            out[k] = d + 48 if d < 10 else d + 87
            k += 1
            started = True
    return k


@nb.njit(cache=True)
def addr_text_rows(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Text rows (39 bytes, zero-padded) of (hi, lo) addresses, written without Python:
    IPv4-mapped as a dotted quad, others as `ipaddress` does (RFC 5952: lowercase, no
    leading zeros, the first longest run of two or more zero groups as "::")."""
    out = np.zeros((hi.shape[0], 39), np.uint8)
    groups = np.zeros(8, np.int64)
    for i in range(hi.shape[0]):
        k = 0
        if hi[i] == 0 and (lo[i] >> np.uint64(32)) == np.uint64(0xFFFF):
            v = int(lo[i] & np.uint64(0xFFFFFFFF))
            for shift in (24, 16, 8, 0):
                o = (v >> shift) & 0xFF
                if o >= 100:
                    out[i, k] = 48 + o // 100
                    k += 1
                if o >= 10:
                    out[i, k] = 48 + (o // 10) % 10
                    k += 1
                out[i, k] = 48 + o % 10
                k += 1
                if shift:
                    out[i, k] = 46
                    k += 1
            continue
        for g in range(4):
            groups[g] = int((hi[i] >> np.uint64(48 - 16 * g)) & np.uint64(0xFFFF))
            groups[g + 4] = int((lo[i] >> np.uint64(48 - 16 * g)) & np.uint64(0xFFFF))
        best, best_len, run_start, run_len = -1, 0, -1, 0
        for g in range(8):
            if groups[g] == 0:
                if run_start < 0:
                    run_start = g
                run_len += 1
                if run_len > best_len:
                    best, best_len = run_start, run_len
            else:
                run_start, run_len = -1, 0
        if best_len < 2:
            best = -1
        g = 0
        while g < 8:
            if g == best:
                out[i, k] = 58
                out[i, k + 1] = 58
                k += 2
                g += best_len
                continue
            if g > 0 and g != best + best_len:
                out[i, k] = 58
                k += 1
            k = _hex16(out[i], k, groups[g])
            g += 1
    return out


def addr_codes(hi: npt.ArrayLike, lo: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code per address, distinct hi words, distinct lo words), codes in first-seen order.

    Hash factorization, no sort: IPv4-only input (all hi words 0) hashes the lo word
    alone, otherwise one compiled pass hashes the pairs (pair_codes).
    """
    h = np.asarray(hi, dtype=np.uint64).ravel()
    low = np.asarray(lo, dtype=np.uint64).ravel()
    if h.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.uint64), np.zeros(0, np.uint64)
    if not h.any():
        inv, uniq_lo = pd.factorize(low)
        return np.asarray(inv), np.zeros(len(uniq_lo), np.uint64), np.asarray(uniq_lo, np.uint64)
    inv, first = pair_codes(np.ascontiguousarray(h), np.ascontiguousarray(low))
    return inv, h[first], low[first]


def addr_int_to_str(hi: int, lo: int) -> str:
    """Text of one (hi, lo) address."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((int(hi) << 64) | int(lo)))


def _distinct_text(uh: np.ndarray, ul: np.ndarray) -> np.ndarray:
    """S39 text of distinct addresses (addr_text_rows)."""
    text: np.ndarray = (
        addr_text_rows(np.ascontiguousarray(uh, np.uint64), np.ascontiguousarray(ul, np.uint64))
        .view("S39")
        .ravel()
    )
    return text


def addr_to_str(hi: npt.ArrayLike, lo: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Object array of "10.0.0.1" / "2001:db8::1" for each (hi, lo) pair.

    Each distinct address is formatted once (hash factorization, no sort) by a compiled
    kernel (addr_text_rows).
    """
    shape = np.shape(hi)
    inv, uh, ul = addr_codes(hi, lo)
    if inv.size == 0:
        return np.empty(shape, dtype=object)
    text = _distinct_text(uh, ul).astype("U39").astype(object)
    out: npt.NDArray[np.object_] = text[inv].reshape(shape)
    return out


def distinct_arrow(uh: np.ndarray, ul: np.ndarray) -> pa.Array:
    """Arrow string array of distinct addresses (as addr_codes returns them), one per pair."""
    return pa.array(_distinct_text(uh, ul)).cast(pa.string())


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


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True)
def splitmix(h: np.uint64, v: np.uint64) -> np.uint64:
    """splitmix64 step: fold `v` into `h` (the hash of the compiled tables keyed by words)."""
    h = (h ^ v) + np.uint64(0x9E3779B97F4A7C15)
    h = (h ^ (h >> np.uint64(30))) * _M1
    h = (h ^ (h >> np.uint64(27))) * _M2
    return h ^ (h >> np.uint64(31))


@nb.njit(cache=True)
def pair_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, first row of each code) for the pairs (a[r], b[r]) - an address's
    (hi, lo) words -, codes in order of first appearance: an open-addressing table, exact on
    both words, no sort."""
    n = a.shape[0]
    size = 16
    while size < n + n // 4:
        size *= 2
    slot_code = np.full(size, -1, np.int32)  # load <= 0.8, small: fewer misses, fewer faults
    codes = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    k = 0
    mask = np.uint64(size - 1)
    for r in range(n):
        s = np.int64(splitmix(a[r], b[r]) & mask)
        while True:
            c = int(slot_code[s])
            if c < 0:
                slot_code[s] = k
                first[k] = r
                codes[r] = k
                k += 1
                break
            f = first[c]
            if a[f] == a[r] and b[f] == b[r]:
                codes[r] = c
                break
            s = (s + 1) & (size - 1)
    return codes, first[:k]
