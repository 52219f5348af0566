"""FloodCounters: per (host, proto, second) counts against a plain pandas reference;
chunking and merging files give what one pass gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from secaudit.capture.addr import str_to_addr
from secaudit.detect._addr import addr_strings
from secaudit.detect.flood import FloodCounters
from secaudit.schemas import PACKET_DTYPE

SEC = 1_000_000_000


def _packets(rows: list[tuple[float, str, str, int, int]]) -> np.ndarray:
    """(time s, src, dst, proto, wire length) rows as packet records."""
    p = np.zeros(len(rows), PACKET_DTYPE)
    p["ts"] = [int(t * SEC) for t, *_ in rows]
    p["src_hi"], p["src_lo"] = str_to_addr([r[1] for r in rows])
    p["dst_hi"], p["dst_lo"] = str_to_addr([r[2] for r in rows])
    p["proto"] = [r[3] for r in rows]
    p["wirelen"] = [r[4] for r in rows]
    p["ip_version"] = 4
    return p


def _random_packets(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hosts = [f"10.0.0.{i}" for i in range(1, 9)]
    return _packets(
        [
            (t, hosts[s], hosts[d], int(pr), int(w))
            for t, s, d, pr, w in zip(
                np.sort(rng.uniform(0, 5, n)),
                rng.integers(0, 8, n),
                rng.integers(0, 8, n),
                rng.choice([1, 17, 58], n),
                rng.integers(60, 1500, n),
                strict=True,
            )
        ]
    )


def _counted(p: np.ndarray, chunks: list[slice]) -> pd.DataFrame:
    fc = FloodCounters()
    for c in chunks:
        fc.update(p, np.arange(len(p))[c])
    return fc.frame()


def test_counts_match_a_groupby() -> None:
    p = _random_packets(500, 1)
    got = _counted(p, [slice(None)]).set_index(["host", "proto", "bucket"]).sort_index()
    df = pd.DataFrame(
        {
            "src": addr_strings(p["src_hi"], p["src_lo"]),
            "dst": addr_strings(p["dst_hi"], p["dst_lo"]),
            "proto": np.where(p["proto"] == 17, 17, 1).astype(np.uint8),
            "bucket": p["ts"] // SEC,
            "w": p["wirelen"].astype(np.int64),
        }
    )
    into = df.groupby(["dst", "proto", "bucket"]).agg(
        in_pkts=("w", "size"), in_bytes=("w", "sum"), srcs=("src", "nunique")
    )
    out = df.groupby(["src", "proto", "bucket"]).size().rename("out_pkts")
    into.index.names = out.index.names = ["host", "proto", "bucket"]
    want = into.join(out, how="outer").fillna(0).astype(np.int64).sort_index()
    assert list(got.columns) == ["in_pkts", "in_bytes", "srcs", "out_pkts"]
    assert (got.to_numpy() == want.to_numpy()).all()
    assert got.index.to_list() == want.index.to_list()


def test_rows_in_order_of_first_appearance_destinations_first() -> None:
    p = _packets([(0.1, "10.0.0.1", "10.0.0.2", 17, 100), (0.2, "10.0.0.3", "10.0.0.4", 1, 80)])
    f = _counted(p, [slice(None)])
    assert list(f["host"]) == ["10.0.0.2", "10.0.0.4", "10.0.0.1", "10.0.0.3"]
    assert list(f["proto"]) == [17, 1, 17, 1]
    assert list(f["in_pkts"]) == [1, 1, 0, 0] and list(f["out_pkts"]) == [0, 0, 1, 1]


def test_chunks_and_merged_files_add_up() -> None:
    p = _random_packets(400, 2)
    halves = [slice(0, 150), slice(150, None)]
    chunked = _counted(p, halves)
    a, b = FloodCounters(), FloodCounters()
    a.update(p, np.arange(150))
    b.update(p, np.arange(150, 400))
    a.merge(b)
    pd.testing.assert_frame_equal(a.frame(), chunked)
    # srcs: distinct sources per chunk, added up (an upper bound across chunks)
    whole = _counted(p, [slice(None)])
    assert chunked["in_pkts"].sum() == whole["in_pkts"].sum() == len(p)
    assert chunked["srcs"].sum() >= whole["srcs"].sum()


def test_empty() -> None:
    f = FloodCounters().frame()
    assert len(f) == 0 and list(f.columns)[:3] == ["host", "proto", "bucket"]
