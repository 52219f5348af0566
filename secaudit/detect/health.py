"""Service health over time, per server host or per link (zone/subnet pair).

One row per (key, time bin): connections, unanswered (S0) and rejected (REJ)
attempts from the conn table; data segments, retransmissions (and their %),
duplicate ACKs from the TCP analysis; handshake RTT p50/p95 in ms.  The key
is the server (the side that received the SYN) or, with by="link", the pair
"client zone -> server zone" (policy zones when a policy is given, else /24
or /64 subnets).  Notebooks plot it; detectors do not depend on it.

The TCP segment counts come per flow and whole second (tcp_buckets), so they
are exact for bins of whole seconds; with other widths a second's segments
fall in the bin where that second starts.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from secaudit.detect._addr import subnet_key

__all__ = ["service_health"]

_COLS = [
    "bin", "key", "conns", "s0", "rej", "data_pkts", "retrans", "retrans_pct", "dupacks",
    "rtt_p50_ms", "rtt_p95_ms",
]  # fmt: skip


def _zone(addrs: pd.Series, policy: Any) -> pd.Series:
    if policy is not None and hasattr(policy, "zone_of_strings"):
        idx = policy.zone_of_strings(addrs.astype(object))
        names = pd.Series(policy.zone_name(idx), index=addrs.index).astype(object)
        return names.where(pd.Series(idx, index=addrs.index) >= 0, "internet").astype(str)
    return subnet_key(addrs)


def _key(client: pd.Series, server: pd.Series, by: str, policy: Any) -> pd.Series:
    if by == "host":
        return server.astype(str)
    return _zone(client, policy) + " -> " + _zone(server, policy)


def _flow_roles(dirs: pd.DataFrame, flows: pd.DataFrame) -> pd.DataFrame:
    """flow -> client, server (client = the SYN sender, else the higher source port)."""
    d0 = dirs.sort_values(["flow", "dir"]).drop_duplicates("flow")
    roles = d0[["flow", "dir", "src", "dst", "sport", "dport"]].merge(
        flows[["flow", "client_dir"]], on="flow", how="left"
    )
    syn_known = roles["client_dir"].notna()
    src_is_client = np.where(
        syn_known, roles["client_dir"] == roles["dir"], roles["sport"] >= roles["dport"]
    )
    return pd.DataFrame(
        {
            "flow": roles["flow"],
            "client": np.where(src_is_client, roles["src"], roles["dst"]),
            "server": np.where(src_is_client, roles["dst"], roles["src"]),
        }
    )


_TCP_TABLES = ("tcp_dirs", "tcp_flows", "tcp_buckets")


def service_health(
    result: Any = None,
    *,
    conn: pd.DataFrame | None = None,
    tables: dict[str, Any] | None = None,
    by: Literal["host", "link"] = "host",
    bin_s: float = 60.0,
    policy: Any = None,
) -> pd.DataFrame:
    """Health table from a DetectResult (or conn + the tcp_* tables).

    A DetectResult of detectors that read no TCP table (detect(only=...) builds only the
    extracts its detectors need) has no TCP tables: that is an error here, not a table
    without retransmission and RTT columns."""
    if result is not None:
        tables = dict(result.tables)
        conn = tables.get("conn")
        missing = [k for k in _TCP_TABLES if k not in tables]
        if missing:
            raise ValueError(
                "this detect result was computed without the TCP tables "
                f"({', '.join(missing)}); run detect with a TCP detector (retransmission, "
                "zero_window) or without `only`"
            )
    tables = tables or {}
    parts = []
    ns = int(bin_s * 1e9)
    if conn is not None and len(conn):
        c = conn
        key = _key(c["id.orig_h"], c["id.resp_h"], by, policy)
        parts.append(
            pd.DataFrame(
                {
                    "key": key.to_numpy(),
                    "bin": (c["ts"].to_numpy(np.float64) * 1e9 // ns).astype(np.int64),
                    "conns": 1,
                    "s0": (c["conn_state"] == "S0").to_numpy(np.int64),
                    "rej": (c["conn_state"] == "REJ").to_numpy(np.int64),
                }
            )
            .groupby(["key", "bin"])
            .sum()
        )
    dirs, flows, bk = (tables.get(k) for k in ("tcp_dirs", "tcp_flows", "tcp_buckets"))
    if dirs is not None and flows is not None and bk is not None and len(bk):
        roles = _flow_roles(dirs, flows)
        roles["key"] = _key(roles["client"], roles["server"], by, policy)
        fkey = pd.Series(roles["key"].to_numpy(), index=roles["flow"].to_numpy())
        p = pd.DataFrame(
            {
                "key": fkey.reindex(bk["flow"].to_numpy()).to_numpy(),
                "bin": bk["sec"].to_numpy(np.int64) * 1_000_000_000 // ns,
                "data_pkts": bk["data"].to_numpy(np.int64),
                "retrans": bk["retrans"].to_numpy(np.int64),
                "dupacks": bk["dupack"].to_numpy(np.int64),
            }
        )
        parts.append(p.groupby(["key", "bin"]).sum())
        r = flows.dropna(subset=["rtt_ns"]).merge(roles[["flow", "key"]], on="flow")
        if len(r):
            r = r.assign(bin=(r["syn_ns"].astype(np.int64) // ns), ms=r["rtt_ns"] / 1e6)
            q = r.groupby(["key", "bin"])["ms"]
            parts.append(
                pd.DataFrame({"rtt_p50_ms": q.quantile(0.5), "rtt_p95_ms": q.quantile(0.95)})
            )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLS})
    out = pd.concat(parts, axis=1).reset_index()
    for col in ("conns", "s0", "rej", "data_pkts", "retrans", "dupacks"):
        out[col] = out[col].fillna(0).astype(np.int64) if col in out else 0
    for col in ("rtt_p50_ms", "rtt_p95_ms"):
        if col not in out:
            out[col] = np.nan
    out["retrans_pct"] = np.where(
        out["data_pkts"] > 0, 100.0 * out["retrans"] / out["data_pkts"].clip(lower=1), np.nan
    )
    out["bin"] = pd.to_datetime(out["bin"] * ns, unit="ns", utc=True)
    return out[_COLS].sort_values(["key", "bin"]).reset_index(drop=True)
