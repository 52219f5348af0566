"""Address helpers for detectors: (hi, lo) -> text per distinct value, locality, /24 keys."""

from __future__ import annotations

import ipaddress

import numba as nb
import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["addr_strings", "is_private", "subnet_key"]

_V4_TAG = np.uint64(0xFFFF)


@nb.njit(cache=True)
def _v4_text(ips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dotted quads as fixed 15-byte rows (plus lengths), written without Python."""
    out = np.zeros((ips.shape[0], 15), np.uint8)
    lens = np.zeros(ips.shape[0], np.int64)
    for i in range(ips.shape[0]):
        v = ips[i]
        k = 0
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
        lens[i] = k
    return out, lens


def addr_strings(hi: npt.ArrayLike, lo: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Text form of every (hi, lo) pair; each distinct address is formatted once."""
    h = np.asarray(hi, np.uint64)
    low = np.asarray(lo, np.uint64)
    if h.size == 0:
        return np.zeros(0, dtype=object)
    if not h.any():  # IPv4 only (mapped): hash the low word alone
        codes, uniq_lo = pd.factorize(low)
        uh = np.zeros(len(uniq_lo), np.uint64)
        ul = np.asarray(uniq_lo, np.uint64)
        inv = codes
    else:  # hash each word, then the pair of word codes (no sort)
        ch, uh_all = pd.factorize(h)
        cl, ul_all = pd.factorize(low)
        inv, comb = pd.factorize(ch.astype(np.int64) * len(ul_all) + cl)
        uh = np.asarray(uh_all, np.uint64)[comb // len(ul_all)]
        ul = np.asarray(ul_all, np.uint64)[comb % len(ul_all)]
    v4 = (uh == 0) & ((ul >> np.uint64(32)) == _V4_TAG)
    text = np.empty(uh.size, dtype=object)
    if v4.any():
        rows, lens = _v4_text((ul[v4] & np.uint64(0xFFFFFFFF)).astype(np.int64))
        raw = rows.view("S15").ravel()
        text[v4] = raw.astype("U15").astype(object)
    for k in np.flatnonzero(~v4):  # IPv6: few distinct values in practice
        text[k] = str(ipaddress.IPv6Address((int(uh[k]) << 64) | int(ul[k])))
    out: npt.NDArray[np.object_] = text[np.asarray(inv).ravel()]
    return out


_PRIVATE_RX = (
    r"^(?:10\.|192\.168\.|169\.254\.|127\.|172\.(?:1[6-9]|2\d|3[01])\."
    r"|100\.(?:6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.|f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]:|::1$)"
)


def is_private(addrs: pd.Series | npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """RFC 1918 / CGNAT / link-local / loopback / ULA, decided once per distinct text value."""
    ser = addrs if isinstance(addrs, pd.Series) else pd.Series(np.asarray(addrs, dtype=object))
    codes, uniques = pd.factorize(ser.astype(object), use_na_sentinel=True)
    flags = np.zeros(len(uniques) + 1, dtype=bool)
    if len(uniques):
        u = pd.Series(np.asarray(uniques, dtype=object)).astype(str).str.lower()
        flags[:-1] = u.str.contains(_PRIVATE_RX, regex=True).to_numpy(bool)
    return flags[np.where(codes < 0, len(uniques), codes)]


def subnet_key(addrs: pd.Series) -> pd.Series:
    """IPv4 /24 (a.b.c.0/24) or IPv6 /64 text of each address, as a cheap 'link' key."""
    s = addrs.astype(object).fillna("")
    v4 = s.str.contains(".", regex=False)
    out = s.str.rsplit(".", n=1).str[0] + ".0/24"
    v6 = s.str.split(":").str[:4].str.join(":") + "::/64"
    return out.where(v4, v6)
