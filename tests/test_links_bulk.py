"""The links detectors' bulk paths give what their per-row forms gave: findings_bulk and
finding(), iso_many and iso(), the Arrow text factorization and pandas', the integer join
and a pandas merge, the hash merges of the links tables and a groupby."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from secaudit.detect._common import (
    finding,
    findings_bulk,
    iso,
    iso_many,
    text_codes,
    text_factorize,
    text_lookup,
)
from secaudit.detect.links_base import CONTROLS, _join
from secaudit.detect.links_tables import _merge_counts, fold_codes
from secaudit.detect.registry import DetectContext
from secaudit.model import Category, Severity


def _ctx(lang: str) -> DetectContext:
    return DetectContext(conn=pd.DataFrame(), tables={}, thresholds={"_run": {"lang": lang}})


def test_iso_many_matches_iso() -> None:
    rng = np.random.default_rng(7)
    ts = np.concatenate(
        [
            rng.uniform(0, 4e9, 20_000),
            np.round(rng.uniform(1.6e9, 1.8e9, 20_000) * 2e6) / 2e6,  # half microseconds
            rng.integers(1_600_000_000 * 10**9, 1_800_000_000 * 10**9, 5_000) / 1e9,
            [0.0, 5e-7, 1.5e-6, 2.5e-6, 0.9999995, 1e-7, 1700000000.0, 1700000000.0000005],
            [np.nan, np.inf, -np.inf, -1.5, -1e-7],
        ]
    )
    assert iso_many(ts) == [iso(float(x)) for x in ts]
    assert iso_many([]) == []


_ROWS = [
    ("10.0.0.1", 1700000000.25, 1700000100.0, 3, Severity.MEDIUM, "zone-a", "1.2.3.4", 2),
    ("10.0.0.2", 1700000000.0, np.nan, 1, Severity.LOW, "zone-b", "::1", 1),
]


def _evidence(k: int) -> dict[str, object]:
    return {"src": _ROWS[k][0], "destinations": [{"dst": _ROWS[k][6], "n": k}], "x": None}


def test_findings_bulk_matches_finding() -> None:
    rows, evidence = _ROWS, _evidence
    for lang in ("en", "zh"):
        ctx = _ctx(lang)

        one = [
            finding(
                ctx,
                "external_link",
                Category.EXTERNAL_LINK,
                r[4],
                r[0],
                r[1],
                r[2],
                r[3],
                evidence(k),
                id_keys={"zone": r[5]},
                controls=CONTROLS["external_link"],
                dst=r[6],
                destinations=r[7],
            )  # fmt: skip
            for k, r in enumerate(rows)
        ]
        bulk = findings_bulk(
            ctx, "external_link", Category.EXTERNAL_LINK, [r[4] for r in rows],
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
            [r[3] for r in rows], [evidence(k) for k in range(len(rows))],
            id_keys=[{"zone": r[5]} for r in rows], controls=CONTROLS["external_link"],
            title_params={"dst": [r[6] for r in rows], "destinations": [r[7] for r in rows]},
        )  # fmt: skip
        assert bulk == one
        for a, b in zip(bulk, one, strict=True):
            assert json.dumps(a.to_dict(), sort_keys=True) == json.dumps(
                b.to_dict(), sort_keys=True
            )
            assert type(a.severity) is Severity and type(a.category) is Category


def test_text_factorize_and_lookup() -> None:
    for dtype in ("str", object):
        s = pd.Series(["b", None, "a", "b", None, "c", ""], dtype=dtype)
        codes, raw = text_factorize(s)
        ref_codes, ref_uniq = pd.factorize(s, use_na_sentinel=False)
        assert codes.tolist() == ref_codes.tolist()
        assert raw == [None if pd.isna(u) else u for u in ref_uniq]
        df = pd.DataFrame({"h": s})
        c, v = text_codes(df, "h")
        assert v.tolist() == ["b", "", "a", "c", ""] and c.tolist() == codes.tolist()
        vocab = np.array(["a", "x", "b"], dtype=object)
        assert text_lookup(s, vocab).tolist() == [2, -1, 0, 2, -1, -1, -1]


def test_join_matches_merge() -> None:
    rng = np.random.default_rng(3)
    for wide in (False, True):
        hi = 2**40 if wide else 50
        left = tuple(rng.integers(-1, 6, 400) * hi for k in range(4))
        right = tuple(rng.integers(-1, 6, 300) * hi for k in range(4))
        got = _join(left, right)
        lf = pd.DataFrame({f"c{k}": c for k, c in enumerate(left)}).assign(_l=np.arange(400))
        rf = pd.DataFrame({f"c{k}": c for k, c in enumerate(right)}).assign(_r=np.arange(300))
        rf = rf.drop_duplicates([f"c{k}" for k in range(4)])
        m = lf.merge(rf, on=[f"c{k}" for k in range(4)])
        want = np.full(400, -1)
        want[m["_l"].to_numpy()] = m["_r"].to_numpy()
        assert got.tolist() == want.tolist()


def test_merge_counts_matches_groupby() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 4, n).astype(np.uint64),
            "b": rng.integers(-1, 3, n).astype(np.int8),
            "c": rng.random(n) < 0.5,
            "pkts": rng.integers(1, 9, n),
            "first_ns": rng.integers(0, 10**12, n),
            "last_ns": rng.integers(10**12, 2 * 10**12, n),
        }
    )
    got = _merge_counts({c: df[c].to_numpy() for c in df.columns}, ["a", "b", "c"], "pkts")
    want = (
        df.groupby(["a", "b", "c"], sort=False)
        .agg(pkts=("pkts", "sum"), first_ns=("first_ns", "min"), last_ns=("last_ns", "max"))
        .reset_index()
    )
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    text = pd.DataFrame({"k": ["x", "y", "x", "z", "y"], "v": [1, 2, 1, 1, 2]})
    first = np.flatnonzero(
        np.r_[True, np.diff(np.maximum.accumulate(fold_codes([text["k"], text["v"]]))) > 0]
    )
    pd.testing.assert_frame_equal(text.iloc[first], text.drop_duplicates())


def test_stable_id_written_directly_matches_model() -> None:
    from json.encoder import encode_basestring_ascii

    from secaudit.detect._common import _stable_id
    from secaudit.model import stable_id

    cases = [
        ("detect.x", "10.0.0.1", {"zone": "a"}),
        ("detect.x", 'ü"\\x', {"b": "é", "a": "\n"}),
        ("détect", "s", {"z": "ß", "y": "中"}),
        ("detect.x", "s", None),
        ("detect.x", "s", {}),
        ("detect.x", "s", {"mac": 1}),
    ]
    for rule, subject, keys in cases:
        got = _stable_id(rule, encode_basestring_ascii(rule), subject, keys)
        assert got == stable_id(rule, subject, keys)


def test_fold_codes_number_exact_rows_by_first_appearance() -> None:
    """Rows compared exactly (int8 -1 as uint64, bools as 0/1), codes in order of first
    appearance, the table growing past its first size: as groupby(sort=False).ngroup()."""
    cols = [np.array([3, 1, 3, 2, 1], dtype=np.uint64), np.array([0, 0, 0, 1, 0], dtype=np.int8)]
    assert fold_codes(cols).tolist() == [0, 1, 0, 2, 1]
    rng = np.random.default_rng(6)
    n = 20000
    df = pd.DataFrame(
        {
            "a": rng.integers(0, 2**63, 50, dtype=np.uint64)[rng.integers(0, 50, n)],
            "b": rng.integers(-1, 3, n).astype(np.int8),
            "c": rng.random(n) < 0.5,
            "d": rng.integers(0, 40, n).astype(np.uint16),
        }
    )
    want = df.groupby(list(df.columns), sort=False).ngroup().to_numpy()
    assert fold_codes([df[c].to_numpy() for c in df.columns]).tolist() == want.tolist()
