"""nmap scan records -> the hosts and services tables (schemas.HOSTS_SCHEMA / SERVICES_SCHEMA).

Columns are filled as whole lists per column (one pass over the ports), then
converted by Arrow with the declared schema, so the tables' types never drift.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa

from secaudit.exposure.nmap_xml import NmapScan
from secaudit.schemas import HOSTS_SCHEMA, SERVICES_SCHEMA

__all__ = ["hosts_table", "services_table"]


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _cert_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def hosts_table(scan: NmapScan) -> pd.DataFrame:
    """One row per host (schemas.HOSTS_SCHEMA)."""
    cols: dict[str, list[Any]] = {name: [] for name in HOSTS_SCHEMA.names}
    for h in scan.hosts:
        cols["addr"].append(h.addr)
        cols["addr_type"].append(h.addr_type)
        cols["mac"].append(h.mac)
        cols["vendor"].append(h.vendor)
        cols["hostname"].append(h.hostnames[0] if h.hostnames else None)
        cols["state"].append(h.state)
        cols["reason"].append(h.reason)
        cols["os"].append(h.os[0] if h.os else None)
        cols["scan_time"].append(_ts(h.start or scan.start))
        cols["source"].append(scan.source)
    df: pd.DataFrame = pa.Table.from_pydict(cols, schema=HOSTS_SCHEMA).to_pandas()
    return df


def services_table(scan: NmapScan) -> pd.DataFrame:
    """One row per listed port (schemas.SERVICES_SCHEMA), ssl-cert fields flattened."""
    rows = [(h, p) for h in scan.hosts for p in h.ports]
    ports = [p for _, p in rows]
    certs = [(i, p.cert) for i, p in enumerate(ports) if p.cert]

    def cert_col(key: str, conv: Any = None) -> list[Any]:
        col: list[Any] = [None] * len(ports)
        for i, c in certs:
            col[i] = conv(c.get(key)) if conv else c.get(key)
        return col

    when = {id(h): _ts(h.start or scan.start) for h in scan.hosts}
    cols: dict[str, list[Any]] = {
        "addr": [h.addr for h, _ in rows],
        "port": [p.port if 0 <= p.port <= 65535 else None for p in ports],
        "proto": [p.proto for p in ports],
        "state": [p.state for p in ports],
        "reason": [p.reason for p in ports],
        "service": [p.service for p in ports],
        "product": [p.product for p in ports],
        "version": [p.version for p in ports],
        "extrainfo": [p.extrainfo for p in ports],
        "tunnel": [p.tunnel for p in ports],
        "cpe": [p.cpe for p in ports],
        "scripts": [
            json.dumps(dict(p.scripts), ensure_ascii=False) if p.scripts else None for p in ports
        ],
        "cert_subject": cert_col("subject"),
        "cert_issuer": cert_col("issuer"),
        "cert_not_before": cert_col("not_before", _cert_ts),
        "cert_not_after": cert_col("not_after", _cert_ts),
        "cert_key_type": cert_col("key_type"),
        "cert_key_bits": cert_col("key_bits"),
        "cert_sig_alg": cert_col("sig_alg"),
        "cert_sha256": cert_col("sha256"),
        "scan_time": [when[id(h)] for h, _ in rows],
        "source": [scan.source] * len(ports),
    }
    df: pd.DataFrame = pa.Table.from_pydict(cols, schema=SERVICES_SCHEMA).to_pandas()
    return df
