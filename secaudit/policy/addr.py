"""128-bit addresses as (hi, lo) uint64 pairs, the representation of the packets table.

IPv4 is mapped into ::ffff:0:0/96 so one code path serves both families.
String columns (conn, dns) are converted per *unique* value, never per row.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence

import numba as nb
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "V4_HI",
    "V4_LO_PREFIX",
    "AddrArray",
    "format_mac",
    "format_macs",
    "hilo_of",
    "hilo_of_distinct",
    "hilo_of_strings",
    "is_special",
    "network_hilo",
    "parse_ip",
    "parse_mac",
    "parse_macs",
    "str_of",
]

U64 = npt.NDArray[np.uint64]
AddrArray = tuple[U64, U64]
V4_HI = np.uint64(0)
V4_LO_PREFIX = np.uint64(0xFFFF_0000_0000)
_MASK64 = (1 << 64) - 1


def hilo_of(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int, int]:
    """(hi, lo) of one address; IPv4 mapped into ::ffff:0:0/96."""
    n = int(addr) | 0xFFFF_0000_0000 if addr.version == 4 else int(addr)
    return n >> 64, n & _MASK64


def network_hilo(
    net: ipaddress.IPv4Network | ipaddress.IPv6Network,
) -> tuple[int, int, int]:
    """(hi, lo, prefix length in the 128-bit space) of a network."""
    hi, lo = hilo_of(net.network_address)
    return hi, lo, net.prefixlen + (96 if net.version == 4 else 0)


def str_of(hi: int, lo: int) -> str:
    """Text form of one (hi, lo) address (IPv4-mapped -> dotted quad)."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFF_FFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def parse_ip(text: str) -> tuple[int, int] | None:
    """(hi, lo) of an address in text form (zone suffix "%eth0" ignored), None when invalid."""
    t = text.strip().split("%", 1)[0]
    try:
        if ":" in t:
            n = int.from_bytes(socket.inet_pton(socket.AF_INET6, t), "big")
            return n >> 64, n & _MASK64
        return 0, int.from_bytes(socket.inet_pton(socket.AF_INET, t), "big") | 0xFFFF_0000_0000
    except OSError:
        return None


def hilo_of_strings(
    values: pd.Series | Iterable[str | None],
) -> tuple[U64, U64, npt.NDArray[np.bool_]]:
    """Vectorized text -> (hi, lo, valid) conversion; parses each distinct value once."""
    ser = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    codes, uniques = pd.factorize(ser, use_na_sentinel=True)
    texts = [str(t) for t in np.asarray(uniques, dtype=object).tolist()]  # not arrow scalars
    u_hi, u_lo, u_ok = hilo_of_distinct(texts)
    # a missing value (code -1) reads the extra last slot: (0, 0), not valid
    u_hi = np.concatenate([u_hi, np.zeros(1, np.uint64)])
    u_lo = np.concatenate([u_lo, np.zeros(1, np.uint64)])
    u_ok = np.concatenate([u_ok, np.zeros(1, bool)])
    idx = np.where(codes < 0, len(uniques), codes)
    return u_hi[idx], u_lo[idx], u_ok[idx]


def _joined_utf8(texts: list[str]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """The texts' UTF-8 bytes ("replace" errors) end to end, and where each ends.  Encoded
    once as a whole: when that gives a byte per character, every text's byte length is its
    length (addresses are ASCII); otherwise text by text."""
    joined = "".join(texts).encode("utf-8", "replace")
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if len(joined) != int(lens.sum()):
        enc = [t.encode("utf-8", "replace") for t in texts]
        joined = b"".join(enc)
        lens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
    return joined, np.cumsum(lens)


def hilo_of_distinct(texts: list[str]) -> tuple[U64, U64, npt.NDArray[np.bool_]]:
    """hilo_of_strings of texts already distinct (each parsed once, no factorization)."""
    n = len(texts)
    u_hi = np.zeros(n, dtype=np.uint64)
    u_lo = np.zeros(n, dtype=np.uint64)
    u_ok = np.zeros(n, dtype=bool)
    if texts:
        # canonical dotted quads in one compiled pass over the joined text; the rest
        # (IPv6, zone suffixes, spaces, anything odd) through inet_pton one by one
        joined, ends = _joined_utf8(texts)
        v4, ok4 = _dotted_quads(np.frombuffer(joined, dtype=np.uint8), ends)
        u_lo[:] = np.where(ok4, v4 | np.uint64(0xFFFF_0000_0000), 0)
        u_ok[:] = ok4
        for i in np.flatnonzero(~ok4).tolist():  # one parse per distinct address, not per row
            hl = parse_ip(texts[i])
            if hl is not None:
                u_hi[i], u_lo[i], u_ok[i] = hl[0], hl[1], True
    return u_hi, u_lo, u_ok


@nb.njit(cache=True)
def _dotted_quads(blob: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated texts (text k ends at ends[k]) -> (IPv4 value, ok) for exact a.b.c.d
    forms: 1-3 digits, no leading zero, <= 255 (what inet_pton accepts); else not ok."""
    n = ends.shape[0]
    val = np.zeros(n, np.uint64)
    ok = np.zeros(n, np.bool_)
    for k in range(n):
        start = ends[k - 1] if k > 0 else 0
        end = ends[k]
        v = np.uint64(0)
        octets = 0
        digits = 0
        cur = 0
        lead0 = False
        good = True
        for j in range(start, end + 1):
            c = blob[j] if j < end else 46  # a final '.' closes the last octet
            if 48 <= c <= 57:
                if digits == 0:
                    lead0 = c == 48
                elif lead0:
                    good = False
                    break
                cur = cur * 10 + (c - 48)
                digits += 1
                if digits > 3 or cur > 255:
                    good = False
                    break
            elif c == 46 and digits > 0 and octets < 4:
                v = (v << np.uint64(8)) | np.uint64(cur)
                octets += 1
                digits = 0
                cur = 0
            else:
                good = False
                break
        if good and octets == 4:
            val[k] = v
            ok[k] = True
    return val, ok


def is_special(hi: U64, lo: U64) -> npt.NDArray[np.bool_]:
    """Addresses that never leave the link: unspecified, loopback, link-local, multicast, broadcast.

    They belong to no zone and are never "the internet" either.
    """
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    a4 = (lo & np.uint64(0xFFFF_FFFF)).astype(np.uint64)
    first = a4 >> np.uint64(24)
    v4_special = (
        (first == 0)
        | (first == 127)
        | ((a4 >> np.uint64(16)) == np.uint64(0xA9FE))  # 169.254/16
        | (first >= 224)  # multicast, reserved, 255.255.255.255
    )
    top16 = hi >> np.uint64(48)
    v6_special = (
        ((hi == 0) & (lo <= 1))  # :: and ::1
        | ((top16 & np.uint64(0xFFC0)) == np.uint64(0xFE80))  # fe80::/10
        | ((top16 >> np.uint64(8)) == np.uint64(0xFF))  # ff00::/8
    )
    return np.asarray(np.where(v4, v4_special, v6_special), dtype=np.bool_)


_HEX12 = re.compile(r"[0-9a-f]{12}").fullmatch


def parse_mac(value: object) -> int | None:
    """MAC text (":", "-", "." or no separators) -> 48-bit int; None when invalid.

    YAML 1.1 reads an unquoted MAC of decimal pairs (52:54:00:00:28:10) as a
    base-60 integer; that integer is turned back into its six pairs.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        parts = []
        n = value
        for _ in range(5):
            n, r = divmod(n, 60)
            parts.append(r)
        parts.append(n)
        text = ":".join(f"{p:02d}" for p in reversed(parts))
        return parse_mac(text) if parts[-1] < 100 else None
    if not isinstance(value, str):
        return None
    digits = value.strip().lower().replace(":", "").replace("-", "").replace(".", "")
    if _HEX12(digits) is None:  # exactly 12 of 0-9a-f (one C call: policies list thousands)
        return None
    return int(digits, 16)


def parse_macs(values: Sequence[object]) -> list[int | None]:
    """parse_mac of every value.  When all are text of the canonical form aa:bb:cc:dd:ee:ff
    (as assets.yaml's validator writes them) they are decoded together; else one by one."""
    texts = [v for v in values if type(v) is str and len(v) == 17]
    if texts and len(texts) == len(values):
        raw = np.frombuffer("".join(texts).encode("ascii", "replace"), dtype=np.uint8)
        if len(raw) == 17 * len(texts):
            rows = raw.reshape(-1, 17)
            digits = rows[:, [k for k in range(17) if k % 3 != 2]]
            lower = digits | np.uint8(0x20)  # A-F read as a-f, as parse_mac lowers them
            num = (digits >= ord("0")) & (digits <= ord("9"))
            alpha = (lower >= ord("a")) & (lower <= ord("f"))
            if (rows[:, 2::3] == ord(":")).all() and (num | alpha).all():
                nibble = np.where(num, digits - ord("0"), lower - ord("a") + 10).astype(np.uint64)
                shifts = np.arange(44, -1, -4, dtype=np.uint64)
                out: list[int | None] = (nibble << shifts).sum(axis=1).tolist()
                return out
    return [parse_mac(v) for v in values]


def format_mac(mac: int) -> str:
    """48-bit int -> aa:bb:cc:dd:ee:ff."""
    m = int(mac)
    if 0 <= m < 1 << 48:
        return m.to_bytes(6, "big").hex(":")  # one C call: detectors format thousands
    h = f"{m:012x}"
    return ":".join(h[i : i + 2] for i in range(0, 12, 2))


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def format_macs(macs: npt.ArrayLike) -> list[str]:
    """format_mac of every value of a column, the text built for all at once (findings
    name thousands of MACs); values past 48 bits go through format_mac itself."""
    m = np.asarray(macs, dtype=np.uint64)
    if (m >> np.uint64(48)).any():
        return [format_mac(v) for v in m.tolist()]
    octets = m.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 2:]
    text = np.full((len(m), 17), ord(":"), dtype=np.uint8)
    text[:, 0::3] = _HEX_DIGITS[octets >> 4]
    text[:, 1::3] = _HEX_DIGITS[octets & 15]
    out: list[str] = text.view("S17").ravel().astype("U17").tolist()
    return out
