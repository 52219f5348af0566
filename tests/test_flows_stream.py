"""Streaming conn.log output (write_flows / ConnLogWriter) equals the DataFrame path.

The CLI writes connections batch by batch so memory stays flat; these tests
force tiny chunks and batches so every record crosses batch boundaries, and
check the text formatting against Python's own (printf-style %.6f, JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from secaudit.flows import flow_table, read_conn_log, write_conn_log, write_flows
from secaudit.flows.conn_log import ConnLogWriter, _fixed6

DATA = Path(__file__).parent / "data" / "capture"
TRACES = ["vxlan.pcap", "gtp1_gn_normal_incl_fragmentation.pcap", "teredo_bubble_with_payload.pcap",
          "ipv6.pcap", "gre-sample.pcap"]  # fmt: skip


def _rows(path: Path) -> list[str]:
    return sorted(ln for ln in path.read_text().splitlines() if not ln.startswith("#"))


@pytest.mark.parametrize("name", TRACES)
@pytest.mark.parametrize("fmt", ["zeek", "json"])
def test_streamed_log_equals_table(tmp_path: Path, name: str, fmt: str) -> None:
    pcap = DATA / name
    whole = flow_table(pcap, chunk_packets=7).conn
    ref = write_conn_log(whole, tmp_path / "ref.log", format=fmt)  # type: ignore[arg-type]
    res = write_flows(pcap, tmp_path / "stream.log", fmt, chunk_packets=7, batch_rows=1)  # type: ignore[arg-type]
    assert res.conns == len(whole) > 0
    assert _rows(tmp_path / "stream.log") == _rows(ref)


@pytest.mark.parametrize("name", ["vxlan.pcap", "geneve.pcap", "teredo_bubble_with_payload.pcap"])
def test_tunnel_parents_resolved_across_batches(name: str) -> None:
    from secaudit.capture import iter_chunks
    from secaudit.flows import FlowTracker
    from secaudit.flows.table import conn_arrow

    tr = FlowTracker()
    for chunk in iter_chunks(DATA / name):
        tr.feed(chunk)
    recs = tr.finish()
    whole = conn_arrow(recs, tr.sources).to_pandas()
    assert whole["tunnel_parents"].notna().any()
    # the tunnel connections alone in a first batch, the rest in a second one
    outer = recs["npar"] == 0
    parts = [
        conn_arrow(recs[m], tr.sources, None, tr.parent_uids).to_pandas() for m in (outer, ~outer)
    ]
    split = pd.concat(parts).set_index("uid")["tunnel_parents"]
    assert split.sort_index().equals(whole.set_index("uid")["tunnel_parents"].sort_index())
    assert set(split.dropna().str.split(",").explode()) <= set(split.index)


def test_parquet_stream_round_trip(tmp_path: Path) -> None:
    pcap = DATA / "vxlan.pcap"
    write_flows(pcap, tmp_path / "conn.parquet", "parquet", chunk_packets=3, batch_rows=1)
    back = pd.read_parquet(tmp_path / "conn.parquet")
    whole = flow_table(pcap, chunk_packets=3).conn
    assert back["orig_bytes"].dtype == "UInt64"
    key = ["uid"]
    a = back.sort_values(key).reset_index(drop=True)
    b = whole.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_fixed6_matches_printf() -> None:
    rng = np.random.default_rng(3)
    ns = rng.integers(1_600_000_000 * 10**9, 1_800_000_000 * 10**9, 20_000)
    vals = np.concatenate(
        [
            ns / 1e9,
            (ns // 1000 * 1000 + 500) / 1e9,  # near microsecond ties
            rng.random(5_000) * 100,
            [0.0, 0.0078125, 2.0**-7 * 3, 0.9999995, 1.0000005, 999999.9999995, 1e-7, 5e-7],
            [-1.5, 2.0**60, 123.4567895],
        ]
    )
    got = _fixed6(pa.array(vals)).to_pylist()
    want = [f"{v:.6f}" for v in vals.tolist()]
    assert got == want


def test_writer_escapes_strange_text(tmp_path: Path) -> None:
    df = flow_table(DATA / "ipv4.pcap").conn.head(3).copy()
    df["source"] = ['a"b\\c', "tab\there", ""]
    df.loc[0, "tunnel_parents"] = "Cx,Cy"
    js = write_conn_log(df, tmp_path / "c.json", format="json")
    recs = [json.loads(ln) for ln in js.read_text().splitlines()]
    assert [r["source"] for r in recs] == ['a"b\\c', "tab\there", ""]
    assert recs[0]["tunnel_parents"] == ["Cx", "Cy"]
    tsv = write_conn_log(df, tmp_path / "c.log")
    back = read_conn_log(tsv)
    assert back["source"].tolist() == ['a"b\\c', "tab\\x09here", ""]
    assert back["tunnel_parents"].iloc[0] == "Cx,Cy"


def test_empty_writer_has_header(tmp_path: Path) -> None:
    with ConnLogWriter(tmp_path / "conn.log") as w:
        pass
    text = (tmp_path / "conn.log").read_text()
    assert text.startswith("#separator") and "#fields\tts\tuid" in text and "#close" in text
    assert w.rows == 0


def test_writer_takes_extra_and_off_type_columns(tmp_path: Path) -> None:
    df = flow_table(DATA / "ipv4.pcap").conn
    df["extra_int"] = np.arange(len(df))
    df["orig_bytes"] = df["orig_bytes"].astype("float64")  # NaN where unset
    for fmt in ("zeek", "json", "parquet"):
        back = read_conn_log(write_conn_log(df, tmp_path / f"c.{fmt}", format=fmt))  # type: ignore[arg-type]
        assert [int(v) for v in back["extra_int"]] == list(range(len(df)))
        assert back["orig_bytes"].isna().tolist() == df["orig_bytes"].isna().tolist()
