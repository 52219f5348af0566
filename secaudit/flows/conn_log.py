"""conn.log in and out: Zeek TSV (the default), JSON lines, Parquet.

The TSV writer produces what `zeek` writes (`#separator \\x09`, `#set_separator`,
`#empty_field`, `#unset_field`, `#path conn`, `#open`, `#fields`, `#types`,
`-` for unset, `(empty)` for empty, `#close`), so zeek-cut, zat and the
scorers read it.  JSON lines use Zeek's flat `id.orig_h` keys (unset fields
left out, sets as lists).  The reader accepts all three plus zeek-cut output
and returns zat-style dtypes: counts UInt64, ports UInt16, bools `boolean`,
times as float seconds with a `ts_dt` datetime column; unset stays NA.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from secaudit.errors import InputError
from secaudit.schemas import CONN_SCHEMA

__all__ = ["ZEEK_TYPES", "read_conn_log", "write_conn_log"]

ZEEK_TYPES: dict[str, str] = {
    "ts": "time", "uid": "string", "id.orig_h": "addr", "id.orig_p": "port",
    "id.resp_h": "addr", "id.resp_p": "port", "proto": "enum", "service": "string",
    "duration": "interval", "orig_bytes": "count", "resp_bytes": "count",
    "conn_state": "string", "local_orig": "bool", "local_resp": "bool",
    "missed_bytes": "count", "history": "string", "orig_pkts": "count",
    "orig_ip_bytes": "count", "resp_pkts": "count", "resp_ip_bytes": "count",
    "tunnel_parents": "set[string]", "ip_proto": "count", "orig_l2_addr": "string",
    "resp_l2_addr": "string", "vlan": "int", "orig_zone": "string", "resp_zone": "string",
    "source": "string",
}  # fmt: skip
_SET_TYPES = ("set[", "vector[")

Format = Literal["zeek", "json", "parquet"]


def _stamp(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(t))


def _text_column(s: pd.Series, ztype: str) -> np.ndarray:
    """One column as Zeek ASCII text: '-' unset, '(empty)' empty strings/sets."""
    na = s.isna().to_numpy()
    if ztype in ("time", "interval"):
        vals = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        text = np.char.mod("%.6f", np.nan_to_num(vals)).astype(object)
    elif ztype == "bool":
        flags = s.astype("boolean").fillna(False).to_numpy(dtype=bool)
        text = np.where(flags, "T", "F").astype(object)
    elif ztype in ("count", "int", "port"):
        ints = pd.to_numeric(s, errors="coerce").astype("Int64").fillna(0).to_numpy(dtype=np.int64)
        text = ints.astype(str).astype(object)
    else:
        text = s.astype(object).to_numpy(copy=True)
        text[text == ""] = "(empty)"
    text[na] = "-"
    return text


def write_conn_log(df: pd.DataFrame, path: str | Path, format: Format = "zeek") -> Path:
    """Write the conn table as Zeek TSV, JSON lines or Parquet; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = [c for c in df.columns if c != "ts_dt"]
    if format == "parquet":
        fields = [
            CONN_SCHEMA.field(c) if c in CONN_SCHEMA.names else pa.field(c, pa.string())
            for c in cols
        ]
        table = pa.Table.from_pandas(df[cols], schema=pa.schema(fields), preserve_index=False)
        pq.write_table(table, path)
        return path
    if format == "json":
        with path.open("w", encoding="utf-8") as fh:
            for rec in df[cols].to_dict(orient="records"):
                fh.write(json.dumps(_json_record(rec), separators=(",", ":")) + "\n")
        return path
    if format != "zeek":
        raise ValueError(f"unknown conn log format {format!r} (zeek, json, parquet)")
    types = [ZEEK_TYPES.get(c, "string") for c in cols]
    body = pd.DataFrame({c: _text_column(df[c], t) for c, t in zip(cols, types, strict=True)})
    buf = io.StringIO()
    body.to_csv(buf, sep="\t", header=False, index=False, quoting=csv.QUOTE_NONE, escapechar="\\")
    with path.open("w", encoding="utf-8") as fh:
        fh.write("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n")
        fh.write(f"#path\tconn\n#open\t{_stamp()}\n")
        fh.write("#fields\t" + "\t".join(cols) + "\n")
        fh.write("#types\t" + "\t".join(types) + "\n")
        fh.write(buf.getvalue())
        fh.write(f"#close\t{_stamp()}\n")
    return path


def _json_record(rec: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in rec.items():
        k = str(key)
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            continue
        if k == "tunnel_parents":
            out[k] = [x for x in str(v).split(",") if x]
        elif isinstance(v, np.generic):
            out[k] = v.item()
        else:
            out[k] = v
    return out


# ----------------------------------------------------------------- reading
def _typed(df: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    for c in df.columns:
        zt = types.get(c) or ZEEK_TYPES.get(c, "string")
        s = df[c]
        if zt in ("count", "int"):
            df[c] = pd.to_numeric(s, errors="coerce").astype("UInt64" if zt == "count" else "Int64")
        elif zt == "port":
            df[c] = pd.to_numeric(s, errors="coerce").astype("UInt16")
        elif zt in ("time", "interval", "double"):
            df[c] = pd.to_numeric(s, errors="coerce").astype("Float64")
        elif zt == "bool":
            df[c] = s.map({"T": True, "F": False, True: True, False: False}).astype("boolean")
        elif zt.startswith(_SET_TYPES):
            df[c] = s.map(lambda v: ",".join(v) if isinstance(v, list) else v)
    if "ts" in df.columns:
        df["ts"] = df["ts"].astype("float64")
        df["ts_dt"] = pd.to_datetime(df["ts"], unit="s", utc=True)
    return df


def read_conn_log(path: str | Path) -> pd.DataFrame:
    """Read a conn log (Zeek TSV, zeek-cut output, JSON lines or Parquet) into a DataFrame."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read conn log: {exc.strerror}", str(path)) from exc
    if raw[:4] == b"PAR1":
        df = pq.read_table(path).to_pandas()
        return _typed(df, {})
    text = raw.decode("utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("###")]
    if not lines:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in ZEEK_TYPES})
    if lines[0].lstrip().startswith("{"):
        rows = []
        for no, ln in enumerate(lines, 1):
            try:
                rows.append(json.loads(ln))
            except json.JSONDecodeError as exc:
                raise InputError(f"bad JSON: {exc.msg}", str(path), line=no) from exc
        return _typed(pd.DataFrame(rows), {})
    sep, unset, empty, set_sep = "\t", "-", "(empty)", ","
    fields: list[str] | None = None
    types: dict[str, str] = {}
    data: list[list[str | None]] = []
    for no, ln in enumerate(lines, 1):
        if ln.startswith("#"):
            key, _, val = ln.partition(sep if not ln.startswith("#separator") else " ")
            if key == "#separator":
                sep = val.encode().decode("unicode_escape") if val.startswith("\\x") else val
            elif key == "#unset_field":
                unset = val
            elif key == "#empty_field":
                empty = val
            elif key == "#set_separator":
                set_sep = val
            elif key == "#fields":
                fields = val.split(sep)
            elif key == "#types" and fields is not None:
                types = dict(zip(fields, val.split(sep), strict=False))
            continue
        if fields is None:  # zeek-cut -m/-c style header line
            fields = ln.split("\t")
            continue
        vals = ln.split(sep)
        if len(vals) != len(fields):
            raise InputError(
                f"{len(vals)} fields where #fields declares {len(fields)}", str(path), line=no
            )
        data.append([None if v == unset else ("" if v == empty else v) for v in vals])
    df = pd.DataFrame(data, columns=fields or [])
    for c, zt in types.items():
        if zt.startswith(_SET_TYPES) and set_sep != "," and c in df.columns:
            df[c] = df[c].map(lambda v: v.replace(set_sep, ",") if isinstance(v, str) else v)
    return _typed(df, types)
