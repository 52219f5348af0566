"""Finished connection records -> the conn table (CONN_SCHEMA, Zeek column names)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numba as nb
import numpy as np
import pandas as pd

from secaudit.flows._engine import K_ICMP, K_TCP, K_UDP, STATE_NAMES
from secaudit.schemas import CONN_SCHEMA

__all__ = ["CONN_COLUMNS", "conn_frame", "empty_conn_frame", "uid_strings"]

CONN_COLUMNS = [f.name for f in CONN_SCHEMA]
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_UID_LEN = 18  # "C" + 17 base62 digits of 96 bits, like Zeek's uids


@nb.njit(cache=True)
def _b62(u1, u2, alphabet, out):  # type: ignore[no-untyped-def]
    for i in range(u1.shape[0]):
        limbs = np.empty(3, np.uint64)
        limbs[0] = u2[i] & np.uint64(0xFFFFFFFF)
        limbs[1] = u1[i] >> np.uint64(32)
        limbs[2] = u1[i] & np.uint64(0xFFFFFFFF)
        out[i, 0] = 67  # 'C'
        for d in range(_UID_LEN - 1, 0, -1):
            r = np.uint64(0)
            for k in range(3):
                cur = (r << np.uint64(32)) | limbs[k]
                limbs[k] = cur // np.uint64(62)
                r = cur % np.uint64(62)
            out[i, d] = alphabet[r]


def uid_strings(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Zeek-style uids ("C" + base62 of 96 bits) as a numpy unicode array."""
    out = np.zeros((u1.shape[0], _UID_LEN), np.uint8)
    _b62(u1.astype(np.uint64), u2.astype(np.uint64), _B62, out)
    return out.view(f"S{_UID_LEN}").ravel().astype(str)


@nb.njit(cache=True)
def _ip4_text(lo, out):  # type: ignore[no-untyped-def]
    for i in range(lo.shape[0]):
        v = lo[i] & np.uint64(0xFFFFFFFF)
        k = 0
        for sh in (24, 16, 8, 0):
            octet = (v >> np.uint64(sh)) & np.uint64(0xFF)
            if octet >= 100:
                out[i, k] = 48 + octet // 100
                k += 1
            if octet >= 10:
                out[i, k] = 48 + (octet // 10) % 10
                k += 1
            out[i, k] = 48 + octet % 10
            k += 1
            if sh:
                out[i, k] = 46
                k += 1


@nb.njit(cache=True)
def _mac_text(mac, out):  # type: ignore[no-untyped-def]
    hexd = "0123456789abcdef"
    for i in range(mac.shape[0]):
        m = mac[i]
        for j in range(6):
            byte = (m >> np.uint64(40 - 8 * j)) & np.uint64(0xFF)
            out[i, 3 * j] = ord(hexd[byte >> np.uint64(4)])
            out[i, 3 * j + 1] = ord(hexd[byte & np.uint64(0xF)])
            if j < 5:
                out[i, 3 * j + 2] = 58


def _addr_strings(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Address text for (hi, lo) pairs: IPv4-mapped compiled, IPv6 through ipaddress."""
    res = np.empty(hi.shape[0], dtype=object)
    v4 = (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))
    if v4.any():
        buf = np.zeros((int(v4.sum()), 15), np.uint8)
        _ip4_text(lo[v4], buf)
        res[v4] = buf.view("S15").ravel().astype(str).astype(object)
    v6 = ~v4
    if v6.any():
        codes, uniq = pd.factorize(pd.MultiIndex.from_arrays([hi[v6], lo[v6]]))
        texts = [str(ipaddress.IPv6Address((int(h) << 64) | int(low))) for h, low in uniq]
        res[v6] = np.asarray(texts, dtype=object)[codes]
    return res


def _mac_strings(mac: np.ndarray) -> np.ndarray:
    buf = np.zeros((mac.shape[0], 17), np.uint8)
    _mac_text(mac.astype(np.uint64), buf)
    res = buf.view("S17").ravel().astype(str).astype(object)
    res[mac == 0] = None
    return res


def _local(addrs: np.ndarray, nets: Sequence[str] | None) -> pd.Series:
    if nets is None:
        return pd.Series(pd.array([pd.NA] * addrs.shape[0], dtype="boolean"))
    parsed = [ipaddress.ip_network(n, strict=False) for n in nets]
    uniq, inv = np.unique(addrs.astype(str), return_inverse=True)
    flags = []
    for a in uniq.tolist():
        ip = ipaddress.ip_address(a)
        flags.append(any(ip.version == n.version and ip in n for n in parsed))
    return pd.Series(pd.array(np.asarray(flags, bool)[inv.ravel()], dtype="boolean"))


def empty_conn_frame() -> pd.DataFrame:
    """A conn table with no rows and the declared column types."""
    return pd.DataFrame({c: pd.Series([], dtype=_DTYPES.get(c, object)) for c in CONN_COLUMNS})


_DTYPES = {
    "ts": "float64", "id.orig_p": "UInt16", "id.resp_p": "UInt16", "duration": "Float64",
    "orig_bytes": "UInt64", "resp_bytes": "UInt64", "local_orig": "boolean",
    "local_resp": "boolean", "missed_bytes": "UInt64", "orig_pkts": "UInt64",
    "orig_ip_bytes": "UInt64", "resp_pkts": "UInt64", "resp_ip_bytes": "UInt64",
    "ip_proto": "UInt8", "vlan": "UInt16",
}  # fmt: skip


def conn_frame(
    recs: np.ndarray, sources: Sequence[str], local_nets: Sequence[str] | None = None
) -> pd.DataFrame:
    """Build the conn table from tracker records, ordered by start time like conn.log."""
    if recs.shape[0] == 0:
        return empty_conn_frame()
    recs = recs[np.lexsort((recs["uid1"], recs["start"]))]
    n = recs.shape[0]
    uids = uid_strings(recs["uid1"], recs["uid2"])
    by_h1 = dict(zip(recs["uid1"].tolist(), uids.tolist(), strict=True))
    parents: list[str | None] = [None] * n
    for i in np.flatnonzero(recs["npar"] > 0).tolist():
        hs = recs["par"][i][: recs["npar"][i]].tolist()
        names = []
        for h in hs:
            name = by_h1.get(h)
            if name is None:  # an IP-in-IP/GRE tunnel: no conn of its own, a stable uid
                name = str(uid_strings(np.array([h], np.uint64), np.array([h >> 7], np.uint64))[0])
            names.append(name)
        parents[i] = ",".join(sorted(set(names)))
    kind = recs["kind"]
    proto = np.full(n, "unknown_transport", dtype=object)
    proto[kind == K_TCP] = "tcp"
    proto[kind == K_UDP] = "udp"
    proto[kind == K_ICMP] = "icmp"
    has = recs["has_bytes"]
    dur = (recs["last"] - recs["start"]).astype(np.float64) / 1e9
    orig_h = _addr_strings(recs["orig_hi"], recs["orig_lo"])
    resp_h = _addr_strings(recs["resp_hi"], recs["resp_lo"])
    hist = np.ascontiguousarray(recs["history"]).view(f"S{recs['history'].shape[1]}").ravel()
    hist = hist.astype(str).astype(object)
    hist[hist == ""] = None
    vlan = pd.array(recs["vlan"], dtype="UInt16")
    vlan[recs["vlan"] == 0] = pd.NA
    src_names = np.asarray(list(sources) or ["-"], dtype=object)
    df = pd.DataFrame(
        {
            "ts": recs["start"].astype(np.float64) / 1e9,
            "uid": uids.astype(object),
            "id.orig_h": orig_h,
            "id.orig_p": pd.array(recs["orig_p"], dtype="UInt16"),
            "id.resp_h": resp_h,
            "id.resp_p": pd.array(recs["resp_p"], dtype="UInt16"),
            "proto": proto,
            "service": np.full(n, None, dtype=object),
            "duration": pd.array(np.where(has, dur, np.nan), dtype="Float64"),
            "orig_bytes": _masked_u64(recs["orig_bytes"], has),
            "resp_bytes": _masked_u64(recs["resp_bytes"], has),
            "conn_state": np.asarray(STATE_NAMES, dtype=object)[recs["state"]],
            "local_orig": _local(orig_h, local_nets).array,
            "local_resp": _local(resp_h, local_nets).array,
            "missed_bytes": pd.array(recs["missed"], dtype="UInt64"),
            "history": hist,
            "orig_pkts": pd.array(recs["orig_pkts"], dtype="UInt64"),
            "orig_ip_bytes": pd.array(recs["orig_ip_bytes"], dtype="UInt64"),
            "resp_pkts": pd.array(recs["resp_pkts"], dtype="UInt64"),
            "resp_ip_bytes": pd.array(recs["resp_ip_bytes"], dtype="UInt64"),
            "tunnel_parents": np.asarray(parents, dtype=object),
            "ip_proto": pd.array(recs["ip_proto"], dtype="UInt8"),
            "orig_l2_addr": _mac_strings(recs["orig_l2"]),
            "resp_l2_addr": _mac_strings(recs["resp_l2"]),
            "vlan": vlan,
            "orig_zone": np.full(n, None, dtype=object),
            "resp_zone": np.full(n, None, dtype=object),
            "source": src_names[np.minimum(recs["source"], src_names.shape[0] - 1)],
        }
    )
    return df


def _masked_u64(values: np.ndarray, present: np.ndarray) -> pd.arrays.IntegerArray:
    arr = pd.array(values, dtype="UInt64")
    arr[~present] = pd.NA
    return arr
