"""Finished connection records -> the conn table (CONN_SCHEMA, Zeek column names)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import numba as nb
import numpy as np
import pandas as pd
import pyarrow as pa

from secaudit.capture.addr import addr_to_str
from secaudit.flows._engine import K_ICMP, K_TCP, K_UDP, STATE_NAMES
from secaudit.schemas import CONN_SCHEMA

__all__ = ["CONN_COLUMNS", "conn_frame", "empty_conn_frame", "uid_bytes_of", "uid_strings"]

CONN_COLUMNS = [f.name for f in CONN_SCHEMA]
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_UID_LEN = 18  # "C" + 17 base62 digits of 96 bits, like Zeek's uids


@nb.njit(cache=True)
def _b62(u1, u2, alphabet, out):  # type: ignore[no-untyped-def]
    """'C' + 17 base62 digits: 10 from the low end of u1, 7 from u2 (like Zeek's 96 bits)."""
    for i in range(u1.shape[0]):
        out[i, 0] = 67  # 'C'
        v = u1[i]
        for d in range(1, 11):
            out[i, d] = alphabet[v % np.uint64(62)]
            v //= np.uint64(62)
        v = u2[i]
        for d in range(11, _UID_LEN):
            out[i, d] = alphabet[v % np.uint64(62)]
            v //= np.uint64(62)


def uid_bytes_of(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Zeek-style uids as a fixed-width bytes array (S18)."""
    out = np.zeros((u1.shape[0], _UID_LEN), np.uint8)
    _b62(u1.astype(np.uint64), u2.astype(np.uint64), _B62, out)
    return out.view(f"S{_UID_LEN}").ravel()


def uid_strings(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Zeek-style uids ("C" + 17 base62 digits) as a numpy unicode array."""
    return uid_bytes_of(u1, u2).astype(str)


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


def _mac_strings(mac: np.ndarray) -> pa.Array:
    buf = np.zeros((mac.shape[0], 17), np.uint8)
    _mac_text(mac.astype(np.uint64), buf)
    return pa.array(buf.view("S17").ravel(), mask=mac == 0).cast(pa.string())


def _local(addrs: np.ndarray, nets: Sequence[str] | None) -> pa.Array:
    """Site::is_local_addr per address; all unset when no local networks are configured."""
    if nets is None:
        return pa.nulls(addrs.shape[0], pa.bool_())
    parsed = [ipaddress.ip_network(n, strict=False) for n in nets]
    codes, uniq = pd.factorize(addrs)
    flags = []
    for a in uniq.tolist():
        ip = ipaddress.ip_address(a)
        flags.append(any(ip.version == n.version and ip in n for n in parsed))
    return pa.array(np.asarray(flags, bool)[codes])


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


_PANDAS_TYPES = {
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def _text(values: np.ndarray) -> pa.Array:
    """Arrow strings from a fixed-width bytes array, without Python objects."""
    return pa.array(np.ascontiguousarray(values)).cast(pa.string())


def conn_frame(
    recs: np.ndarray, sources: Sequence[str], local_nets: Sequence[str] | None = None
) -> pd.DataFrame:
    """Build the conn table from tracker records, ordered by start time like conn.log."""
    if recs.shape[0] == 0:
        return empty_conn_frame()
    recs = recs[np.lexsort((recs["uid1"], recs["start"]))]
    n = recs.shape[0]
    uid_bytes = uid_bytes_of(recs["uid1"], recs["uid2"])
    parents: list[str | None] = [None] * n
    with_par = np.flatnonzero(recs["npar"] > 0)
    if with_par.shape[0]:
        by_h1 = dict(zip(recs["uid1"].tolist(), uid_bytes.astype(str).tolist(), strict=True))
        for i in with_par.tolist():
            names = []
            for h in recs["par"][i][: recs["npar"][i]].tolist():
                name = by_h1.get(h)
                if name is None:  # an IP-in-IP/GRE tunnel: no conn of its own, a stable uid
                    name = str(
                        uid_strings(np.array([h], np.uint64), np.array([h >> 7], np.uint64))[0]
                    )
                names.append(name)
            parents[i] = ",".join(sorted(set(names)))
    kind = recs["kind"]
    proto = np.full(n, "unknown_transport", dtype="U17")
    proto[kind == K_TCP] = "tcp"
    proto[kind == K_UDP] = "udp"
    proto[kind == K_ICMP] = "icmp"
    has = recs["has_bytes"]
    dur = (recs["last"] - recs["start"]).astype(np.float64) / 1e9
    orig_h = addr_to_str(recs["orig_hi"], recs["orig_lo"])
    resp_h = addr_to_str(recs["resp_hi"], recs["resp_lo"])
    hist = np.ascontiguousarray(recs["history"]).view(f"S{recs['history'].shape[1]}").ravel()
    nulls = pa.nulls(n, pa.string())
    src_names = np.asarray(list(sources) or ["-"], dtype=str)
    cols: dict[str, pa.Array] = {
        "ts": pa.array(recs["start"].astype(np.float64) / 1e9),
        "uid": _text(uid_bytes),
        "id.orig_h": pa.array(orig_h, type=pa.string()),
        "id.orig_p": pa.array(recs["orig_p"]),
        "id.resp_h": pa.array(resp_h, type=pa.string()),
        "id.resp_p": pa.array(recs["resp_p"]),
        "proto": pa.array(proto),
        "service": nulls,
        "duration": pa.array(dur, mask=~has),
        "orig_bytes": pa.array(recs["orig_bytes"], mask=~has),
        "resp_bytes": pa.array(recs["resp_bytes"], mask=~has),
        "conn_state": pa.array(np.asarray(STATE_NAMES)[recs["state"]]),
        "local_orig": _local(orig_h, local_nets),
        "local_resp": _local(resp_h, local_nets),
        "missed_bytes": pa.array(recs["missed"]),
        "history": pa.array(hist, mask=hist == b"").cast(pa.string()),
        "orig_pkts": pa.array(recs["orig_pkts"]),
        "orig_ip_bytes": pa.array(recs["orig_ip_bytes"]),
        "resp_pkts": pa.array(recs["resp_pkts"]),
        "resp_ip_bytes": pa.array(recs["resp_ip_bytes"]),
        "tunnel_parents": pa.array(parents, type=pa.string()),
        "ip_proto": pa.array(recs["ip_proto"]),
        "orig_l2_addr": _mac_strings(recs["orig_l2"]),
        "resp_l2_addr": _mac_strings(recs["resp_l2"]),
        "vlan": pa.array(recs["vlan"], mask=recs["vlan"] == 0),
        "orig_zone": nulls,
        "resp_zone": nulls,
        "source": pa.array(src_names[np.minimum(recs["source"], src_names.shape[0] - 1)]),
    }
    df: pd.DataFrame = pa.table(cols).to_pandas(types_mapper=_PANDAS_TYPES.get)
    df["duration"] = df["duration"].astype("Float64")
    return df
