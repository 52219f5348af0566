"""Shared detector helpers: text tests on distinct values, one address code space, row groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

from secaudit.detect import attacks, covert
from secaudit.detect._common import conn_addr_codes, rows_by_code, text_has, text_in
from secaudit.detect.config import Thresholds
from secaudit.detect.registry import DetectContext


def _ctx(conn: pd.DataFrame) -> DetectContext:
    th = Thresholds().as_mapping()
    th["_run"] = {"lang": "en"}
    return DetectContext(conn=conn, thresholds=th)


def test_text_tests_match_per_row_string_ops() -> None:
    df = pd.DataFrame(
        {
            "history": ["ShADad", "S", None, "Sr", "ShADad"],
            "proto": ["tcp", "udp", "tcp", None, "tcp"],
        }
    )
    assert text_has(df, "history", "A").tolist() == [True, False, False, False, True]
    assert text_has(df, "history", "S").tolist() == [True, True, False, True, True]
    assert text_in(df, "proto", ("tcp",)).tolist() == [True, False, True, False, True]
    empty = df.iloc[:0]
    assert text_has(empty, "history", "S").tolist() == []


def test_conn_addr_codes_share_one_space() -> None:
    conn = pd.DataFrame(
        {
            "id.orig_h": ["10.0.0.1", "10.0.0.2", "10.0.0.1"],
            "id.resp_h": ["10.0.0.2", "8.8.8.8", "10.0.0.1"],
        }
    )
    oc, rc, values = conn_addr_codes(conn)
    assert values[oc].tolist() == conn["id.orig_h"].tolist()
    assert values[rc].tolist() == conn["id.resp_h"].tolist()
    assert oc[1] == rc[0] and oc[0] == rc[2]


def test_rows_by_code_groups_in_order_and_handles_nothing_wanted() -> None:
    codes = np.array([3, 1, 3, 2, 1])
    got = rows_by_code(codes, np.array([1, 3]))
    assert {k: v.tolist() for k, v in got.items()} == {1: [1, 4], 3: [0, 2]}
    assert rows_by_code(codes, np.array([], dtype=np.int64)) == {}
    assert rows_by_code(codes[:0], np.array([1])) == {}


def test_amplification_and_exfil_quiet_on_plain_traffic() -> None:
    """No hot victim / uploader: the aggregations must return nothing, not fail."""
    conn = pd.DataFrame(
        {
            "ts": [1.0, 2.0], "uid": ["C1", "C2"], "id.orig_h": ["10.0.0.8", "10.0.0.8"],
            "id.orig_p": [5000, 5001], "id.resp_h": ["10.0.0.53", "93.184.216.34"],
            "id.resp_p": [53, 443], "proto": ["udp", "tcp"], "orig_bytes": [40, 500],
            "resp_bytes": [200, 90_000], "orig_ip_bytes": [68, 600], "resp_ip_bytes": [228, 91_000],
        }
    )  # fmt: skip
    assert attacks.amplification(_ctx(conn)) == []
    assert covert.data_exfil(_ctx(conn)) == []
