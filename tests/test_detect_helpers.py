"""Shared detector helpers: text tests on distinct values, one address code space, row groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from secaudit.capture import iter_chunks
from secaudit.detect import attacks, covert
from secaudit.detect._common import (
    _ADDR,
    Groups,
    conn_addr_codes,
    conn_addr_numbers,
    conn_frame_coded,
    first_of_codes,
    group_codes,
    internal_mask,
    rows_by_code,
    text_has,
    text_in,
)
from secaudit.detect.config import Thresholds
from secaudit.detect.registry import DetectContext
from secaudit.flows import FlowTracker
from secaudit.flows.table import conn_frame
from secaudit.policy.addr import hilo_of_distinct
from secaudit.policy.load import default_policy

CAPTURES = Path(__file__).parent / "data" / "capture"


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


@pytest.mark.parametrize("name", ["ipv6.pcap", "teredo_bubble_with_payload.pcap", "vxlan.pcap"])
def test_conn_frame_coded_gives_the_codes_the_text_gives(name: str) -> None:
    """The codes conn_frame_coded hands over equal those hashed from the address text."""
    tracker = FlowTracker()
    for chunk in iter_chunks(CAPTURES / name):
        tracker.feed(chunk)
    recs = tracker.finish()
    plain = conn_frame(recs, tracker.sources)
    _ADDR.clear()
    from_text = conn_addr_codes(plain)
    coded = conn_frame_coded(recs, tracker.sources)
    pd.testing.assert_frame_equal(coded, plain)
    assert _ADDR[0][0] is coded  # handed over with the frame, not hashed from its text
    given = conn_addr_codes(coded)
    for a, b in zip(from_text, given, strict=True):
        assert a.tolist() == b.tolist()
    assert len(given[2]) > 1
    # the tracker's numbers of each value are what parsing its text gives (flow_view uses them)
    numbers = conn_addr_numbers(coded)
    assert numbers is not None and conn_addr_numbers(plain) is None
    hi, lo, ok = hilo_of_distinct(given[2].tolist())
    assert ok.all()
    assert numbers[0].tolist() == hi.tolist() and numbers[1].tolist() == lo.tolist()


def test_internal_mask_agrees_with_and_without_a_policy() -> None:
    """Link-local and loopback sources are on the site either way (not the internet)."""
    addrs = pd.Series(["10.1.2.3", "169.254.7.7", "fe80::1", "127.0.0.1", "8.8.8.8", "2001:db8::1"])
    bare = _ctx(pd.DataFrame())
    with_policy = DetectContext(
        conn=pd.DataFrame(), thresholds=bare.thresholds, policy=default_policy()
    )
    want = [True, True, True, True, False, False]
    assert internal_mask(bare, addrs).tolist() == want
    assert internal_mask(with_policy, addrs).tolist() == want


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


def _frame(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    val = rng.normal(size=n)
    val[rng.random(n) < 0.1] = np.nan  # missing values are skipped by mean/min, kept by size
    val[:3] = np.nan  # ... and a group may have nothing else (first keys, small frames)
    return pd.DataFrame(
        {
            "host": rng.choice([f"10.0.0.{i}" for i in range(40)], n).astype(object),
            "port": rng.integers(0, 6, n),
            "big": rng.integers(0, 2**62, n, dtype=np.int64) // 7 * 7,  # wide: no small-code path
            "val": val,
            "cnt": rng.integers(0, 100, n),
            "name": rng.choice(np.array(["a", "b", "c", None], dtype=object), n),
        }
    )


def test_groups_match_pandas_groupby_in_first_appearance_order() -> None:
    for seed in range(5):
        df = _frame(seed)
        keys = df[["host", "port"]]
        grp = Groups(keys)
        ref = df.groupby(["host", "port"], sort=False)
        assert grp.n == ref.ngroups
        # group i is the i-th key to appear, as groupby(sort=False) orders them
        want_keys = ref.size().index.to_list()
        at = grp.first
        got_keys = list(zip(df["host"].to_numpy()[at], df["port"].to_numpy()[at], strict=True))
        assert got_keys == want_keys
        assert grp.size().tolist() == ref.size().tolist()
        assert grp.sum(df["cnt"]).tolist() == ref["cnt"].sum().tolist()
        np.testing.assert_allclose(grp.mean(df["val"]), ref["val"].mean().to_numpy(), rtol=1e-12)
        np.testing.assert_array_equal(grp.min(df["val"]), ref["val"].min().to_numpy())
        np.testing.assert_array_equal(grp.max(df["cnt"]), ref["cnt"].max().to_numpy())
        assert grp.nunique(df["name"]).tolist() == ref["name"].nunique().tolist()
        assert grp.index(keys).to_list() == want_keys


def test_group_codes_on_wide_integer_keys_stay_exact() -> None:
    """Keys whose cardinalities multiply past 2**62 are renumbered before combining."""
    df = _frame(7, n=5000)
    keys = df[["big", "host", "big", "port"]].set_axis(["a", "b", "c", "d"], axis=1)
    codes = group_codes(keys)
    ref = df.groupby(["big", "host", "port"], sort=False).ngroup().to_numpy()
    np.testing.assert_array_equal(codes, ref)
    np.testing.assert_array_equal(first_of_codes(codes), np.unique(ref, return_index=True)[1])
    assert group_codes(keys.iloc[:0]).tolist() == []


def test_flow_view_is_the_same_from_codes_and_from_text() -> None:
    """flow_view on a table from conn_frame_coded (one code space, the tracker's numbers) and
    on the same table read back as text (factorized and parsed per end) agree row by row."""
    from secaudit.detect.links_base import flow_view
    from secaudit.policy import load_policy

    samples = Path(__file__).parent.parent / "samples"
    pcap, folder = samples / "pcaps" / "sample.pcap", samples / "rules" / "policy"
    if not pcap.exists() or not folder.exists():
        pytest.skip("samples/pcaps/sample.pcap or samples/rules/policy not generated")
    tracker = FlowTracker()
    for chunk in iter_chunks(pcap):
        tracker.feed(chunk)
    policy = load_policy(folder)
    coded = conn_frame_coded(tracker.finish(), tracker.sources)
    views = []
    for conn in (coded, coded.copy()):
        ctx = DetectContext(conn=conn, policy=policy, thresholds={"_run": {"lang": "en"}})
        views.append(flow_view(ctx))
    a, b = views
    assert a.o_text is a.r_text and b.o_text is not b.r_text  # the two paths were taken
    assert (a.oz >= 0).any() and (a.rz == -1).any()  # zones and the internet both seen
    for name in ("oz", "rz", "oa", "ra", "approved", "excepted", "role_ok", "mark", "oz_link",
                 "rz_link", "r_hi", "r_lo", "managed", "answered"):  # fmt: skip
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert a.o_text[a.o_code].tolist() == b.o_text[b.o_code].tolist()
    assert a.r_text[a.r_code].tolist() == b.r_text[b.r_code].tolist()
    assert [str(x) for x in a.name] == [str(x) for x in b.name]


def test_distinct_objects_keeps_what_exploding_every_row_gives() -> None:
    """Dropping rows whose cells are the very same objects as an earlier row's leaves the
    answer -> first query mapping unchanged (equal but separate lists are both kept)."""
    from secaudit.detect.links_base import _distinct_objects

    a, b = ["192.0.2.1", "192.0.2.2"], ["192.0.2.2", "198.51.100.7"]
    q1, q2 = "www.example.org.", "cdn.example.net"
    df = pd.DataFrame(
        {"query": [q1, q2, q1, q2, q1, q2], "answers": [a, b, a, list(b), [], b]}, dtype=object
    )
    kept = _distinct_objects(df)
    assert kept.index.tolist() == [0, 1, 3, 4]  # row 2 repeats row 0's objects, 5 row 1's
    full = df.explode("answers").dropna().drop_duplicates("answers")
    short = kept.explode("answers").dropna().drop_duplicates("answers")
    assert full.to_dict("list") == short.to_dict("list")
