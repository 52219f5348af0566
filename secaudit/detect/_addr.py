"""Address helpers for detectors: (hi, lo) -> text per distinct value, locality, /24 keys."""

from __future__ import annotations

import ipaddress

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["addr_strings", "is_private", "subnet_key"]

_V4_TAG = np.uint64(0xFFFF)


def addr_strings(hi: npt.ArrayLike, lo: npt.ArrayLike) -> npt.NDArray[np.object_]:
    """Text form of every (hi, lo) pair; each distinct address is formatted once."""
    h = np.asarray(hi, np.uint64)
    low = np.asarray(lo, np.uint64)
    if h.size == 0:
        return np.zeros(0, dtype=object)
    pair = np.empty(h.size, dtype=[("h", np.uint64), ("l", np.uint64)])
    pair["h"], pair["l"] = h, low
    uniq, inv = np.unique(pair, return_inverse=True)
    uh, ul = uniq["h"], uniq["l"]
    v4 = (uh == 0) & ((ul >> np.uint64(32)) == _V4_TAG)
    text = np.empty(uniq.size, dtype=object)
    if v4.any():
        ip = (ul[v4] & np.uint64(0xFFFFFFFF)).astype(np.int64)
        octets = [((ip >> s) & 0xFF).astype(str) for s in (24, 16, 8, 0)]
        dotted = octets[0]
        for o in octets[1:]:
            dotted = np.char.add(np.char.add(dotted, "."), o)
        text[v4] = dotted.astype(object)
    for k in np.flatnonzero(~v4):  # IPv6: few distinct values in practice
        text[k] = str(ipaddress.IPv6Address((int(uh[k]) << 64) | int(ul[k])))
    return text[inv.ravel()]


_PRIVATE_V4 = [
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")
]
_PRIVATE_V6 = [ipaddress.ip_network(n) for n in ("fc00::/7", "fe80::/10", "::1/128")]


def is_private(addrs: pd.Series | npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """RFC 1918 / ULA / link-local per address text (decided once per distinct value)."""
    ser = addrs if isinstance(addrs, pd.Series) else pd.Series(np.asarray(addrs, dtype=object))
    codes, uniques = pd.factorize(ser.astype(object), use_na_sentinel=True)
    flags = np.zeros(len(uniques) + 1, dtype=bool)
    for k, text in enumerate(uniques):
        try:
            a = ipaddress.ip_address(str(text))
        except ValueError:
            continue
        nets = _PRIVATE_V4 if a.version == 4 else _PRIVATE_V6
        flags[k] = any(a in n for n in nets) or a.is_loopback
    return flags[np.where(codes < 0, len(uniques), codes)]


def subnet_key(addrs: pd.Series) -> pd.Series:
    """IPv4 /24 (a.b.c.0/24) or IPv6 /64 text of each address, as a cheap 'link' key."""
    s = addrs.astype(object).fillna("")
    v4 = s.str.contains(".", regex=False)
    out = s.str.rsplit(".", n=1).str[0] + ".0/24"
    v6 = s.str.split(":").str[:4].str.join(":") + "::/64"
    return out.where(v4, v6)
