"""conn.log in and out: Zeek TSV (the default), JSON lines, Parquet.

The TSV writer produces what `zeek` writes (`#separator \\x09`, `#set_separator`,
`#empty_field`, `#unset_field`, `#path conn`, `#open`, `#fields`, `#types`,
`-` for unset, `(empty)` for empty, `#close`), so zeek-cut, zat and the
scorers read it.  JSON lines use Zeek's flat `id.orig_h` keys (unset fields
left out, sets as lists).  `ConnLogWriter` appends batches (Arrow tables or
DataFrames), formatting each column with Arrow compute - no Python per row -
so `secaudit flows` streams a capture of any size into conn.log in flat
memory; `write_conn_log` writes one table.  The reader accepts all three plus zeek-cut output
and returns zat-style dtypes: counts UInt64, ports UInt16, bools `boolean`,
times as float seconds with a `ts_dt` datetime column; unset stays NA.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from secaudit.errors import InputError
from secaudit.schemas import CONN_SCHEMA

__all__ = ["ZEEK_TYPES", "ConnLogWriter", "read_conn_log", "write_conn_log"]

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


# ----------------------------------------------------------------- column text (vectorized)
def _fixed6(arr: pa.Array) -> pa.Array:
    """'%.6f' of float seconds, exactly as printf rounds them, without Python per row.

    Integer and fractional parts are split exactly (x - floor(x) is exact), the
    fraction scaled to microseconds; the rare values within 1e-6 µs of a rounding
    tie (and negative or huge ones) are formatted by Python instead.
    """
    x = pc.cast(arr, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & (x >= 0) & (x < 2.0**52)
        xs = np.where(ok, x, 0.0)
        ip = np.floor(xs)
        m = (xs - ip) * 1e6
        k = np.floor(m + 0.5)
        ok &= np.abs(m - np.floor(m) - 0.5) > 1e-6
    carry = k >= 1e6
    ip = ip.astype(np.int64) + carry
    k = (k - 1e6 * carry).astype(np.int64)
    text = pc.binary_join_element_wise(
        pc.cast(pa.array(ip), pa.string()),
        pc.utf8_lpad(pc.cast(pa.array(k), pa.string()), width=6, padding="0"),
        ".",
    )
    bad = np.flatnonzero(~ok)
    if bad.shape[0]:
        fix = pa.array([f"{v:.6f}" for v in x[bad].tolist()], pa.string())
        mask = np.zeros(x.shape[0], bool)
        mask[bad] = True
        text = pc.replace_with_mask(text, pa.array(mask), fix)
    return text


def _int_text(arr: pa.Array) -> pa.Array:
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return arr
    if pa.types.is_floating(arr.type):
        arr = pc.cast(arr, pa.int64(), safe=False)
    return pc.cast(arr, pa.string())


def _str_text(arr: pa.Array) -> pa.Array:
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    return arr


def _string_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a string array's values, as numpy views (no copy)."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    bufs = text.buffers()
    offsets = np.frombuffer(bufs[1], np.int32)[text.offset : text.offset + len(text) + 1]
    if bufs[2] is None or len(offsets) == 0:
        return offsets, np.zeros(0, np.uint8)
    data = np.frombuffer(bufs[2], np.uint8)[offsets[0] : offsets[-1]]
    return offsets, data


def _zeek_field(arr: pa.Array, ztype: str) -> pa.Array:
    """One column as Zeek ASCII text: '-' unset, '(empty)' empty strings/sets.

    Each rewrite pass runs only when a cheap check says it can change something
    (most columns have no nulls, no empty strings, no tabs)."""
    n = len(arr)
    if arr.null_count == n:
        return pa.nulls(n, pa.string()).fill_null("-")
    if ztype in ("time", "interval"):
        text = _fixed6(arr)
    elif ztype == "bool":
        flags = pc.cast(arr, pa.bool_()) if not pa.types.is_boolean(arr.type) else arr
        text = pc.if_else(flags.fill_null(False), "T", "F")
    elif ztype in ("count", "int", "port"):
        text = _int_text(arr)
    else:
        text = _str_text(arr)
        offsets, data = _string_buffers(text)
        if (np.diff(offsets) == 0).any():
            text = pc.if_else(pc.equal(text, ""), "(empty)", text)
        # Zeek escapes the separator and line breaks inside values
        if ((data == 9) | (data == 10)).any():
            text = pc.replace_substring(text, "\t", "\\x09")
            text = pc.replace_substring(text, "\n", "\\x0a")
    if arr.null_count:
        return pc.if_else(arr.is_valid(), text, "-")
    return text


_JSON_UNSAFE = r'["\\\x00-\x1f]'  # a character JSON must escape (RE2 syntax)


def _json_string(text: pa.Array) -> pa.Array:
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    _, data = _string_buffers(text)
    if not ((data < 32) | (data == 34) | (data == 92)).any():
        return quoted  # nothing to escape (the usual case): skip the regex pass
    unsafe = pc.fill_null(pc.match_substring_regex(text, _JSON_UNSAFE), False)
    if pc.any(unsafe).as_py():
        idx = np.flatnonzero(unsafe.to_numpy(zero_copy_only=False))
        fix = pa.array([json.dumps(v) for v in pc.take(text, pa.array(idx)).to_pylist()])
        quoted = pc.replace_with_mask(quoted, unsafe, fix)
    return quoted


def _json_field(arr: pa.Array, name: str, ztype: str) -> pa.Array:
    """'"name":value' per row, null where the field is unset (left out of the record)."""
    if ztype in ("time", "interval"):
        text = _fixed6(arr)
    elif ztype == "bool":
        flags = pc.cast(arr, pa.bool_()) if not pa.types.is_boolean(arr.type) else arr
        text = pc.if_else(flags.fill_null(False), "true", "false")
    elif ztype in ("count", "int", "port") and not pa.types.is_string(arr.type):
        text = _int_text(arr)
    elif ztype.startswith(_SET_TYPES):
        items = _json_string(_str_text(arr))  # "a,b" -> ["a","b"]; commas never need escaping
        text = pc.binary_join_element_wise("[", pc.replace_substring(items, ",", '","'), "]", "")
        text = pc.if_else(pc.equal(_str_text(arr), ""), "[]", text)
    else:
        text = _json_string(_str_text(arr))
    key = json.dumps(name) + ":"
    return pc.if_else(
        pc.is_null(arr), pa.scalar(None, pa.string()), pc.binary_join_element_wise(key, text, "")
    )


def _lines_buffer(lines: pa.Array) -> pa.Buffer:
    """The bytes of a string array without nulls, each element followed by a newline."""
    lines = pc.binary_join_element_wise(lines, "", "\n")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = lines.buffers()[2]
    return data.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _with_pandas_meta(schema: pa.Schema) -> pa.Schema:
    """Pandas metadata for Arrow-built conn tables, so pd.read_parquet restores the
    nullable column types (UInt64, boolean) as for a table written from a DataFrame."""
    if (schema.metadata and b"pandas" in schema.metadata) or schema.names != CONN_SCHEMA.names:
        return schema
    from secaudit.flows.table import empty_conn_frame

    empty = pa.Table.from_pandas(empty_conn_frame(), schema=CONN_SCHEMA, preserve_index=False)
    return schema.with_metadata(empty.schema.metadata)


def _names(data: pa.Table | pd.DataFrame) -> list[str]:
    if isinstance(data, pa.Table):
        return list(data.column_names)
    return [str(c) for c in data.columns]


def _to_arrow(data: pa.Table | pd.DataFrame, cols: list[str]) -> pa.Table:
    """The columns as Arrow: conn.log columns with their CONN_SCHEMA type, anything
    else (or a column that does not fit its declared type) with the inferred one."""
    if isinstance(data, pa.Table):
        return data.select(cols)
    arrays = []
    for c in cols:
        s = data[c]
        declared = CONN_SCHEMA.field(c).type if c in CONN_SCHEMA.names else None
        try:
            arrays.append(pa.Array.from_pandas(s, type=declared))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.Array.from_pandas(s.astype(object).where(s.notna(), None)))
    return pa.Table.from_arrays(arrays, names=cols)


_SLICE_ROWS = 32_768  # rows formatted at a time (bounds the writer's transient memory)


class ConnLogWriter:
    """conn.log written batch by batch (Zeek TSV, JSON lines or Parquet).

    Every batch is formatted column by column (Arrow compute, no Python per
    row) and appended, so writing a file of any size holds one batch at a time.

        with ConnLogWriter(out / "conn.log") as w:
            for table in batches:          # Arrow tables or DataFrames, CONN_SCHEMA columns
                w.write(table)
    """

    def __init__(
        self, path: str | Path, format: Format = "zeek", columns: list[str] | None = None
    ) -> None:
        if format not in ("zeek", "json", "parquet"):
            raise ValueError(f"unknown conn log format {format!r} (zeek, json, parquet)")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.format = format
        self.columns = columns
        self.rows = 0
        self._fh: Any = None
        self._pq: pq.ParquetWriter | None = None

    def _open(self, cols: list[str], schema: pa.Schema | None) -> None:
        self.columns = cols
        if self.format == "parquet":
            self._pq = pq.ParquetWriter(self.path, _with_pandas_meta(schema or CONN_SCHEMA))
            return
        self._fh = self.path.open("wb")
        if self.format == "zeek":
            types = [ZEEK_TYPES.get(c, "string") for c in cols]
            head = (
                "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
                f"#path\tconn\n#open\t{_stamp()}\n"
                "#fields\t" + "\t".join(cols) + "\n#types\t" + "\t".join(types) + "\n"
            )
            self._fh.write(head.encode())

    def write(self, data: pa.Table | pd.DataFrame) -> None:
        """Append a batch (its columns other than `ts_dt`)."""
        cols = self.columns or [c for c in _names(data) if c != "ts_dt"]
        table = _to_arrow(data, cols)
        if self._fh is None and self._pq is None:
            self._open(cols, table.schema)
        self.rows += table.num_rows
        if self._pq is not None:
            self._pq.write_table(table.replace_schema_metadata(self._pq.schema.metadata))
            return
        # format in slices: the text of a slice is a few times its size in memory
        for at in range(0, table.num_rows, _SLICE_ROWS):
            self._write_text(table.slice(at, _SLICE_ROWS), cols)

    def _write_text(self, table: pa.Table, cols: list[str]) -> None:
        arrays = [table.column(c).combine_chunks() for c in cols]
        types = [ZEEK_TYPES.get(c, "string") for c in cols]
        if self.format == "zeek":
            parts = [_zeek_field(a, t) for a, t in zip(arrays, types, strict=True)]
            line = pc.binary_join_element_wise(*parts, "\t")
        else:
            parts = [_json_field(a, c, t) for a, c, t in zip(arrays, cols, types, strict=True)]
            body = pc.binary_join_element_wise(*parts, ",", null_handling="skip")
            line = pc.binary_join_element_wise("{", body, "}", "")
        self._fh.write(_lines_buffer(line))

    def close(self) -> None:
        """Finish the file (Zeek's #close line; Parquet footer); idempotent."""
        if self._fh is None and self._pq is None:
            self._open(self.columns or list(CONN_COLUMNS_DEFAULT), None)
        if self._pq is not None:
            self._pq.close()
            self._pq = None
            self._fh = False
            return
        if self._fh:
            if self.format == "zeek":
                self._fh.write(f"#close\t{_stamp()}\n".encode())
            self._fh.close()
            self._fh = False

    def __enter__(self) -> ConnLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


CONN_COLUMNS_DEFAULT = tuple(CONN_SCHEMA.names)


def write_conn_log(df: pd.DataFrame | pa.Table, path: str | Path, format: Format = "zeek") -> Path:
    """Write the conn table as Zeek TSV, JSON lines or Parquet; returns the path."""
    cols = [c for c in _names(df) if c != "ts_dt"]
    with ConnLogWriter(path, format, columns=cols) as w:
        w.write(df)
    return w.path


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
