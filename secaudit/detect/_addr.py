"""Address helpers for detectors: (hi, lo) -> text per distinct value, locality, /24 keys."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from secaudit.capture.addr import addr_to_str, distinct_arrow, pair_codes

__all__ = ["addr_column", "addr_strings", "is_private", "subnet_key"]

addr_strings = addr_to_str  # the capture reader's vectorized formatter, under the detectors' name


def addr_column(
    hi: npt.ArrayLike,
    lo: npt.ArrayLike,
    index: pd.Index | None = None,
    keep: npt.NDArray[np.bool_] | None = None,
    other: str | None = None,
) -> pd.Series:
    """Address text as a pandas text column built straight from Arrow: the same values and
    dtype as a column of addr_strings, without a Python str per row (empty: object column).
    Each distinct address is formatted once, then spread by an Arrow take.

    keep: only these rows are addresses, the others are `other` (missing when None): what
    a column of texts and None would convert to, without its per-row conversion."""
    h = np.ascontiguousarray(hi, np.uint64).ravel()
    low = np.ascontiguousarray(lo, np.uint64).ravel()
    if h.size == 0:
        return pd.Series(addr_strings(h, low), index=index, dtype=object)
    if keep is None:
        codes, first = pair_codes(h, low)
        return pd.Series(
            distinct_arrow(h[first], low[first]).take(pa.array(codes)), dtype="str", index=index
        )
    kh, kl = h[keep], low[keep]
    sub, first = pair_codes(kh, kl)
    text = distinct_arrow(kh[first], kl[first])
    codes = np.full(h.size, len(text), np.int64)  # the rows not kept: `other`, after the texts
    codes[keep] = sub
    if other is None:
        taken = text.take(pa.array(codes, mask=~keep))
    else:
        taken = pa.concat_arrays([text, pa.array([other], pa.string())]).take(pa.array(codes))
    return pd.Series(taken, dtype="str", index=index)


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
