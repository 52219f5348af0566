"""Helpers every behavioural detector shares: findings, severities, windows, locality."""

from __future__ import annotations

import functools
import gc
import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from secaudit.detect._addr import is_private
from secaudit.detect.registry import DetectContext
from secaudit.i18n import t, with_title_params
from secaudit.model import Category, Finding, Severity, stable_id
from secaudit.policy.policy import ZONE_INTERNET

__all__ = [
    "CONTROLS",
    "GBT",
    "window_hits",
    "finding",
    "findings_bulk",
    "gc_paused",
    "internal_mask",
    "iso_many",
    "keyparts",
    "iso",
    "conn_addr_codes",
    "conn_addr_numbers",
    "conn_frame_coded",
    "rows_by_code",
    "conn_internal",
    "text_codes",
    "text_factorize",
    "text_has",
    "text_lookup",
    "text_in",
    "sample",
    "severity_of",
]

GBT = "GB/T 22239-2019"
P = ParamSpec("P")
R = TypeVar("R")

# Which controls each detector gives evidence for (clauses from CONTROLS-GBT22239-L3.md).
CONTROLS: dict[str, tuple[str, ...]] = {
    "port_scan": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.3.3 b", "ATT&CK T1046"),
    "ping_sweep": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.3.3 b", "ATT&CK T1018"),
    "arp_scan": (f"{GBT} 8.1.3.3 b", f"{GBT} 8.1.3.1 b", "ATT&CK T1018"),
    "arp_spoof": (f"{GBT} 8.1.3.3 b", f"{GBT} 8.1.3.1 b", "ATT&CK T1557.002"),
    "syn_flood": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.2.1 b", "ATT&CK T1498", "ATT&CK T1499.001"),
    "udp_flood": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.2.1 b", "ATT&CK T1498.001"),
    "icmp_flood": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.2.1 b", "ATT&CK T1498.001"),
    "amplification": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.2.1 b", "ATT&CK T1498.002"),
    "brute_force": (f"{GBT} 8.1.3.3 a", f"{GBT} 8.1.3.3 b", f"{GBT} 8.1.4.4 c", "ATT&CK T1110"),
    "dns_tunnel": (f"{GBT} 8.1.3.2 e", f"{GBT} 8.1.3.3 c", "ATT&CK T1071.004", "ATT&CK T1048"),
    "icmp_tunnel": (f"{GBT} 8.1.3.2 e", f"{GBT} 8.1.3.3 c", "ATT&CK T1095"),
    "long_connection": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.3.3 c"),
    "data_exfil": (f"{GBT} 8.1.3.1 c", f"{GBT} 8.1.4.8 a", "ATT&CK T1048"),
    "retransmission": (f"{GBT} 8.1.5.4 c", f"{GBT} 8.1.2.1 b"),
    "zero_window": (f"{GBT} 8.1.5.4 c",),
    "rejected": (f"{GBT} 8.1.5.4 c",),
    "unanswered": (f"{GBT} 8.1.5.4 c", f"{GBT} 8.1.2.1 e"),
    "icmp_unreachable": (f"{GBT} 8.1.5.4 c", f"{GBT} 8.1.2.1 e"),
    "dns_failure": (f"{GBT} 8.1.5.4 c",),
}


def keyparts(key: Hashable) -> tuple[Any, ...]:
    """A groupby/iterrows key as a tuple (pandas types it as Hashable)."""
    return key if isinstance(key, tuple) else (key,)


def iso(ts: float | int | None) -> str | None:
    """Seconds since the epoch -> ISO 8601 UTC (None stays None)."""
    if ts is None or (isinstance(ts, float) and not np.isfinite(ts)):
        return None
    return datetime.fromtimestamp(float(ts), UTC).isoformat().replace("+00:00", "Z")


_EPOCH_US = np.datetime64(0, "us")
_YEAR_10000 = 253402300799.0  # seconds: (about) where datetime's range ends


def iso_many(ts: npt.ArrayLike) -> list[str | None]:
    """iso() of every value, formatted in one numpy pass (same text, same rounding).

    datetime.fromtimestamp splits the float with modf and rounds the microseconds
    half-to-even; rint on the same doubles gives the same microsecond.  Values
    outside years 1970-9999 go through iso() itself.
    """
    t = np.asarray(ts, dtype=np.float64)
    fine = np.isfinite(t) & (t >= 0) & (t < _YEAR_10000)
    frac, whole = np.modf(np.where(fine, t, 0.0))
    us = np.rint(frac * 1e6).astype(np.int64) + whole.astype(np.int64) * 1_000_000
    text = np.datetime_as_string(_EPOCH_US + us.astype("timedelta64[us]"), unit="us")
    out: list[str | None] = [
        s.removesuffix(".000000") + "Z" for s in text.tolist()
    ]  # isoformat leaves out a zero fraction
    for i in np.flatnonzero(~fine).tolist():
        out[i] = iso(float(t[i]))
    return out


def severity_of(value: float, ladder: Mapping[str, float], default: str = "low") -> Severity:
    """Highest level in `ladder` whose minimum `value` reaches."""
    best = Severity.parse(default)
    found = False
    for level, minimum in ladder.items():
        sev = Severity.parse(level)
        if value >= minimum and (not found or sev.rank > best.rank):
            best, found = sev, True
    return best


def sample(values: Sequence[Any] | pd.Series | npt.NDArray[Any], n: int = 10) -> list[Any]:
    """First `n` distinct values, for evidence that stays small."""
    seen: list[Any] = []
    for v in pd.unique(pd.Series(values, dtype=object).dropna())[: n * 4]:
        if v not in seen:
            seen.append(v)
        if len(seen) >= n:
            break
    return seen


def finding(
    ctx: DetectContext,
    detector: str,
    category: Category | str,
    severity: Severity,
    subject: str,
    first: float | None,
    last: float | None,
    count: int,
    evidence: Mapping[str, Any],
    *,
    mode: str | None = None,
    id_keys: Mapping[str, Any] | None = None,
    controls: tuple[str, ...] | None = None,
    **title_params: Any,
) -> Finding:
    """A Finding with title and remediation from the catalog (finding.<detector>.*)."""
    lang = str(ctx.settings("_run").get("lang", "en"))
    params = {"subject": subject, "count": count, **title_params}
    return Finding(
        rule_id=f"detect.{detector}" + (f".{mode}" if mode else ""),
        detector=detector,
        category=Category(category),
        severity=severity,
        title=t(f"finding.{detector}.title", lang, **params),
        subject=subject,
        first_seen=iso(first),
        last_seen=iso(last),
        count=int(count),
        evidence=with_title_params(evidence, title_params),
        controls=controls if controls is not None else CONTROLS.get(detector, ()),
        remediation=t(f"finding.{detector}.remediation", lang, **params),
        id_keys=id_keys,
    )


_SCALARS = (str, int, float, bool)


def gc_paused(func: Callable[P, R]) -> Callable[P, R]:
    """`func` with automatic garbage collection off: for detectors that build thousands of
    findings.  Evidence dicts and findings are acyclic and all kept, so the young-generation
    passes their allocations trigger free nothing; they only promote objects until a full
    pass over the whole heap runs (~0.1 s with a conn table loaded), once per detector run."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        was = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was:
                gc.enable()

    return run


def findings_bulk(
    ctx: DetectContext,
    detector: str,
    category: Category | str,
    severity: Sequence[Severity],
    subject: Sequence[str],
    first: npt.ArrayLike,
    last: npt.ArrayLike,
    count: Sequence[int],
    evidence: Sequence[dict[str, Any]],
    *,
    id_keys: Sequence[Mapping[str, Any] | None] | None = None,
    controls: tuple[str, ...] | None = None,
    title_params: Mapping[str, Sequence[Any]] | None = None,
) -> list[Finding]:
    """finding() for many findings of one detector, the same Findings at a fraction of the
    cost: catalog templates looked up once, times formatted in one pass (iso_many), and
    Finding.normalized instead of re-walking the evidence.

    Columns are aligned lists.  The caller hands its evidence dicts over (title_params is
    added in place) and builds them JSON-plain, from .tolist() values: builtin str keys,
    str/int/bool/None/finite float values, lists and dicts of those.  title_params values
    are builtin scalars or None, as finding()'s keyword parameters.
    """
    lang = str(ctx.settings("_run").get("lang", "en"))
    rule_id = f"detect.{detector}"
    cat = Category(category)
    ctl = tuple(controls if controls is not None else CONTROLS.get(detector, ()))
    names = list(title_params or {})
    cols = [list((title_params or {})[k]) for k in names]
    rows = (
        [dict(zip(names, row, strict=True)) for row in zip(*cols, strict=True)]
        if cols
        else [{} for _ in subject]
    )
    params = [
        {"subject": subj, "count": cnt, **tp}
        for subj, cnt, tp in zip(subject, count, rows, strict=True)
    ]
    titles = _fill_all(t(f"finding.{detector}.title", lang), params)  # no parameters: the template
    remediations = _fill_all(t(f"finding.{detector}.remediation", lang), params)
    ids = _stable_ids(rule_id, subject, id_keys)
    plain = all(type(v) in _SCALARS or v is None for c in cols for v in c)
    out = []
    for sev, subj, cnt, ev, tp, title, rem, id_, first_s, last_s in zip(
        severity, subject, count, evidence, rows, titles, remediations, ids,
        iso_many(first), iso_many(last), strict=True,
    ):  # fmt: skip
        extra = (
            {k: v for k, v in tp.items() if type(v) in _SCALARS}
            if plain
            else with_title_params({}, tp).get("title_params", {})
        )
        if extra:
            ev["title_params"] = extra
        out.append(
            Finding.normalized(
                rule_id=rule_id,
                detector=detector,
                category=cat,
                severity=sev,
                title=title,
                subject=subj,
                first_seen=first_s,
                last_seen=last_s,
                count=int(cnt),
                evidence=ev,
                controls=ctl,
                remediation=rem,
                id=id_,
            )
        )
    return out


def _stable_ids(
    rule_id: str, subjects: Sequence[str], keys: Sequence[Mapping[str, Any] | None] | None
) -> list[str]:
    """_stable_id of every finding (the rule's JSON encoded once)."""
    rule_json = encode_basestring_ascii(rule_id)
    if keys is None:
        return [_stable_id(rule_id, rule_json, subj, None) for subj in subjects]
    return [_stable_id(rule_id, rule_json, s, k) for s, k in zip(subjects, keys, strict=True)]


def _stable_id(rule_id: str, rule_json: str, subject: str, keys: Mapping[str, Any] | None) -> str:
    """model.stable_id: the JSON of [rule_id, subject, keys] (sort_keys, ASCII) written
    directly when subject and key values are text, the usual case; else stable_id itself."""
    if type(subject) is not str or (keys is not None and type(keys) is not dict):
        return stable_id(rule_id, subject, keys)
    parts = []
    for k, v in sorted(keys.items()) if keys else ():
        if type(k) is not str or type(v) is not str:
            return stable_id(rule_id, subject, keys)
        parts.append(f"{encode_basestring_ascii(k)}: {encode_basestring_ascii(v)}")
    blob = f"[{rule_json}, {encode_basestring_ascii(subject)}, {{{', '.join(parts)}}}]"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fill_all(text: str, params: Sequence[Mapping[str, Any]]) -> list[str]:
    """_fill of one template with each finding's parameters; a template without
    placeholders is the text itself (str.format leaves brace-free text as it is)."""
    if "{" not in text and "}" not in text:
        return [text] * len(params)
    return [_fill(text, p) for p in params]


def _fill(text: str, params: Mapping[str, Any]) -> str:
    """t()'s formatting of a looked-up template."""
    try:
        return text.format_map(params)
    except (KeyError, IndexError, ValueError):
        return text


def internal_mask(ctx: DetectContext, addrs: pd.Series) -> npt.NDArray[np.bool_]:
    """Inside the audited network: not the internet by the policy when one is loaded (a
    zone, or link-local/loopback/multicast space, which never leaves the site), else
    private space by is_private (RFC 1918, CGNAT, link-local, loopback, ULA)."""
    if len(addrs) == 0:
        return np.zeros(0, dtype=bool)
    pol = ctx.policy
    if pol is not None and hasattr(pol, "zone_of_strings"):
        try:
            return np.asarray(pol.zone_of_strings(addrs.astype(object)) != ZONE_INTERNET)
        except (TypeError, ValueError):
            pass
    return is_private(addrs)


def window_hits(
    keys: pd.Series | pd.DataFrame,
    times: pd.Series | npt.NDArray[np.float64],
    need: float | npt.NDArray[Any],
    window: float,
    weights: pd.Series | npt.NDArray[Any] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per input row: does its group have `need` events (or weight) within `window` s?

    With one row per *distinct* item at its first-seen time this is Zeek's "N
    distinct in a window" test, sliding instead of epoch-aligned.  Groups are
    hashed to integer codes once; the rest is sorting and a searchsorted.  `need` may be
    one threshold per row (the same for every row of a group: internal and external
    scanners in one call).
    """
    n = len(keys)
    if n == 0 or (np.isscalar(need) and float(need) <= 0):  # type: ignore[arg-type]
        return np.full(n, n > 0, dtype=bool)
    codes = group_codes(keys)
    t = np.nan_to_num(np.asarray(times, np.float64), nan=0.0)
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    order = np.lexsort((t, codes))
    c, ts, ws = codes[order], t[order] - t.min(), w[order]
    span = float(ts.max()) + float(window) + 1.0
    key = c.astype(np.float64) * span + ts
    cs = np.concatenate([[0.0], np.cumsum(ws)])
    j = np.searchsorted(key, key + window, side="right")
    hit_sorted = (cs[j] - cs[:-1]) >= (need if np.isscalar(need) else np.asarray(need)[order])
    group_hit = np.zeros(int(codes.max()) + 1, dtype=bool)
    group_hit[c[hit_sorted]] = True
    return group_hit[codes]


def group_codes(keys: pd.Series | pd.DataFrame) -> npt.NDArray[np.int64]:
    """Per row, the code of its key (one column or several), numbered in order of first
    appearance: per-column factorizations combined pairwise, no multi-key groupby."""
    if not isinstance(keys, pd.DataFrame):
        text = _arrow_codes(keys)
        one = text[0] if text is not None else pd.factorize(keys, use_na_sentinel=False)[0]
        return np.asarray(one, np.int64)
    codes = np.zeros(len(keys), dtype=np.int64)
    bound = 1  # codes < bound
    for col in keys.columns:
        c, size = _small_codes(keys[col])
        if bound * size >= 1 << 62:  # renumber densely before the product overflows
            codes = pd.factorize(codes)[0].astype(np.int64)
            bound = int(codes.max()) + 1 if len(codes) else 1
        codes = codes * size + c
        bound *= size
    return np.asarray(pd.factorize(codes)[0], np.int64)


def _small_codes(col: pd.Series) -> tuple[npt.NDArray[np.int64], int]:
    """(codes, bound) of one key column: small non-negative integers (codes already) as they
    are, Arrow text dictionary-encoded by Arrow, anything else factorized (missing values
    get a code of their own)."""
    v = col.to_numpy() if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iub" else None
    if v is not None and len(v):
        lo, hi = int(v.min()), int(v.max())
        if lo >= 0 and hi < 4 * len(v) + 1024:
            return v.astype(np.int64), hi + 1
    text = _arrow_codes(col)
    if text is not None:
        return text[0].astype(np.int64), len(text[1]) + 1
    c, u = pd.factorize(col, use_na_sentinel=False)
    return np.asarray(c, np.int64), len(u) + 1


def first_of_codes(codes: npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.intp]:
    """Row of each code's first appearance for codes numbered in order of first appearance
    (pd.factorize, group_codes): a new code is a new running maximum, so no sort."""
    c = np.asarray(codes)
    if not len(c):
        return np.zeros(0, np.intp)
    return np.flatnonzero(np.r_[True, c[1:] > np.maximum.accumulate(c)[:-1]])


class Groups:
    """Rows grouped by key columns, groups numbered in order of first appearance (the order
    of `groupby(sort=False)`); aggregates by bincount/ufunc.at on integer codes, which is
    several times cheaper than a pandas groupby on text keys."""

    def __init__(self, keys: pd.Series | pd.DataFrame) -> None:
        self.codes = group_codes(keys)
        self.first = first_of_codes(self.codes)  # defining row of each group
        self.n = len(self.first)

    def size(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.codes, minlength=self.n).astype(np.int64)

    def sum(self, values: npt.ArrayLike) -> npt.NDArray[Any]:
        v = np.asarray(values)
        out = np.bincount(self.codes, weights=v.astype(np.float64), minlength=self.n)
        return out.astype(np.int64) if v.dtype.kind in "iub" else out

    def mean(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Mean of the non-NaN values of each group (NaN where there are none)."""
        v = np.asarray(values, np.float64)
        ok = ~np.isnan(v)
        total = np.bincount(self.codes[ok], weights=v[ok], minlength=self.n)
        count = np.bincount(self.codes[ok], minlength=self.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def min(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Least non-NaN value of each group (NaN where there is none), as pandas."""
        out = np.full(self.n, np.nan)
        np.fmin.at(out, self.codes, np.asarray(values, np.float64))
        return out

    def max(self, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Greatest non-NaN value of each group (NaN where there is none), as pandas."""
        out = np.full(self.n, np.nan)
        np.fmax.at(out, self.codes, np.asarray(values, np.float64))
        return out

    def nunique(self, values: pd.Series) -> npt.NDArray[np.int64]:
        """Distinct non-missing values per group."""
        vc, _ = pd.factorize(values, use_na_sentinel=True)
        ok = vc >= 0
        pair = group_codes(pd.DataFrame({"g": self.codes[ok], "v": vc[ok]}))
        return np.bincount(self.codes[ok][first_of_codes(pair)], minlength=self.n).astype(np.int64)

    def index(self, keys: pd.DataFrame) -> pd.MultiIndex:
        """The groups' key values (one level per column of `keys`), in group order."""
        return pd.MultiIndex.from_arrays([keys[c].to_numpy()[self.first] for c in keys.columns])


class EchoPairs(NamedTuple):
    """An ICMP table's echo requests and replies on integer codes (echo_pairs)."""

    req: npt.NDArray[np.intp]  # rows of echo requests (ICMPv4 8, ICMPv6 128)
    rep: npt.NDArray[np.intp]  # rows of echo replies (ICMPv4 0, ICMPv6 129)
    src: npt.NDArray[np.intp]  # per row, source address code into `vocab`
    dst: npt.NDArray[np.intp]  # per row, destination address code
    vocab: npt.NDArray[np.object_]  # address texts
    pair: npt.NDArray[np.int64]  # per request then per reply: code of its (pinger, target)


_ECHO: list[tuple[pd.DataFrame, EchoPairs]] = []


def echo_pairs(icmp: pd.DataFrame) -> EchoPairs:
    """Echo requests and replies with one address code space; a request's (src, dst) and a
    reply's (dst, src) share a pair code, so a reply meets the requests it answers.  Once per
    table (ping_sweep and icmp_tunnel read the same one; callers do not write to it)."""
    if _ECHO and _ECHO[0][0] is icmp:
        return _ECHO[0][1]
    out = _echo_pairs(icmp)
    _ECHO[:] = [(icmp, out)]
    return out


def _echo_pairs(icmp: pd.DataFrame) -> EchoPairs:
    kind, v6 = icmp["type"].to_numpy(), icmp["v6"].to_numpy(bool)
    req = np.flatnonzero(((kind == 8) & ~v6) | ((kind == 128) & v6))
    rep = np.flatnonzero(((kind == 0) & ~v6) | ((kind == 129) & v6))
    both, texts = text_factorize(pd.concat([icmp["src"], icmp["dst"]], ignore_index=True))
    src, dst = both[: len(icmp)], both[len(icmp) :]
    pair = group_codes(
        pd.DataFrame(
            {"a": np.concatenate([src[req], dst[rep]]), "b": np.concatenate([dst[req], src[rep]])}
        )
    )
    return EchoPairs(req, rep, src, dst, np.array(texts, dtype=object), pair)


_CODES: dict[
    tuple[int, str], tuple[pd.DataFrame, npt.NDArray[np.intp], npt.NDArray[np.object_]]
] = {}


def text_codes(df: pd.DataFrame, name: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.object_]]:
    """(codes, distinct values) of text column `name` of `df`, computed once per table.

    Conn columns such as proto, conn_state and history have few distinct values:
    string tests run on those, then map back through the codes (no per-row str op),
    and every detector reading the same table shares the factorization.
    Missing values get their own code whose value is "".
    """
    key = (id(df), name)
    hit = _CODES.get(key)
    if hit is not None and hit[0] is df:
        return hit[1], hit[2]
    codes, raw = text_factorize(df[name])
    values = np.array(["" if u is None else str(u) for u in raw], dtype=object)
    if len(_CODES) > 64:
        _CODES.clear()
    _CODES[key] = (df, np.asarray(codes), values)
    return np.asarray(codes), values


def text_factorize(col: pd.Series) -> tuple[npt.NDArray[np.intp], list[Any]]:
    """pd.factorize(col, use_na_sentinel=False) with the distinct values as Python objects
    (None for missing).

    An Arrow-backed text column is dictionary-encoded by Arrow itself: the same codes in
    the same first-appearance order, several times faster than pandas on 10^5 rows."""
    hit = _arrow_codes(col)
    if hit is not None:
        return hit[0], hit[1].to_pylist()
    fcodes, uniq = pd.factorize(col, use_na_sentinel=False)
    raw = np.asarray(uniq, dtype=object)  # one conversion, not per-element Arrow scalars
    missing = pd.isna(raw).tolist()
    return np.asarray(fcodes), [
        None if na else u for u, na in zip(raw.tolist(), missing, strict=True)
    ]


def _arrow_codes(col: pd.Series) -> tuple[npt.NDArray[np.intp], pa.Array] | None:
    """(codes, distinct values) of a text column pandas keeps in Arrow, by Arrow's own
    dictionary encoding (first-appearance order, a missing value a value of its own, as
    pd.factorize(use_na_sentinel=False)); None for any other column."""
    arr = _arrow_text(col)
    if arr is None:
        return None
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.intp), enc.dictionary


def _arrow_text(col: pd.Series) -> pa.Array | None:
    """The column as one Arrow string array when pandas keeps it in Arrow, else None."""
    dt = col.dtype
    if not (
        (isinstance(dt, pd.StringDtype) and dt.storage == "pyarrow")
        or isinstance(dt, pd.ArrowDtype)
    ):
        return None
    arr = pa.array(col.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    return arr


def text_lookup(col: pd.Series, vocab: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
    """Per row of text column `col`, the position of its text in `vocab` (first one), -1
    when absent or missing: a text join key as an integer, matched by Arrow in one pass."""
    arr = _arrow_text(col)
    if arr is None:
        texts = [x if isinstance(x, str) else None for x in col.astype(object).tolist()]
        arr = pa.array(texts, type=pa.large_string())  # a non-text value matches no text
    pos = pc.index_in(arr, value_set=pa.array(vocab.tolist(), type=arr.type))
    return np.asarray(pos.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)


def text_has(df: pd.DataFrame, name: str, letters: str) -> npt.NDArray[np.bool_]:
    """Per row of `df`: does text column `name` contain `letters` (e.g. a history flag)?"""
    codes, values = text_codes(df, name)
    flags = np.array([letters in v for v in values], dtype=bool)
    return flags[codes] if len(values) else np.zeros(len(df), dtype=bool)


def text_in(df: pd.DataFrame, name: str, choices: Iterable[str]) -> npt.NDArray[np.bool_]:
    """Per row of `df`: is text column `name` one of `choices`?"""
    codes, values = text_codes(df, name)
    want = set(choices)
    flags = np.array([v in want for v in values], dtype=bool)
    return flags[codes] if len(values) else np.zeros(len(df), dtype=bool)


_Codes = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.object_]]
_Numbers = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]
_ADDR: list[tuple[pd.DataFrame, _Codes, _Numbers | None]] = []


def conn_addr_codes(
    conn: pd.DataFrame,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.object_]]:
    """(orig code, resp code, address text) of a conn table in one code space, once per
    table: detectors group and join on integers and turn only reported codes into text."""
    if _ADDR and _ADDR[0][0] is conn:
        return _ADDR[0][1]
    oc, ov = text_codes(conn, "id.orig_h")
    rc, rv = text_codes(conn, "id.resp_h")
    where = pd.Index(ov).get_indexer(pd.Index(rv))
    new = where < 0
    where[new] = len(ov) + np.arange(int(new.sum()))
    values = np.concatenate([ov, rv[new]])
    out = (oc, np.asarray(where)[rc] if len(rc) else rc, values)
    _ADDR[:] = [(conn, out, None)]
    return out


def conn_addr_numbers(conn: pd.DataFrame) -> _Numbers | None:
    """(hi, lo) of each conn_addr_codes value when the table came from conn_frame_coded
    (the tracker's own numbers), else None: the caller parses the text instead."""
    if _ADDR and _ADDR[0][0] is conn:
        return _ADDR[0][2]
    return None


def conn_frame_coded(
    recs: npt.NDArray[np.void], sources: Sequence[str], local_nets: Sequence[str] | None = None
) -> pd.DataFrame:
    """The conn table of tracker records, with conn_addr_codes already known: the codes the
    table's address columns were built from, so no detector hashes their text again."""
    from secaudit.flows.table import conn_frame_codes

    conn, codes = conn_frame_codes(recs, sources, local_nets)
    _ADDR[:] = [(conn, (codes.orig, codes.resp, codes.values), (codes.hi, codes.lo))]
    return conn


def conn_internal(ctx: DetectContext) -> npt.NDArray[np.bool_]:
    """internal_mask of every distinct conn address (index by conn_addr_codes codes)."""
    _, _, values = conn_addr_codes(ctx.conn)
    out = np.zeros(len(values), dtype=bool)
    known = np.flatnonzero(values != "")
    if len(known):
        out[known] = internal_mask(ctx, pd.Series(values[known], dtype=object))
    return out


def rows_by_code(
    codes: npt.NDArray[np.integer[Any]], wanted: npt.NDArray[np.integer[Any]]
) -> dict[int, npt.NDArray[np.intp]]:
    """Positions of each wanted code in `codes` (in order): one stable sort for all groups
    instead of a full scan per reported group."""
    sel = np.flatnonzero(np.isin(codes, wanted))
    if not len(sel):
        return {}
    order = sel[np.argsort(codes[sel], kind="stable")]
    keys, starts = np.unique(codes[order], return_index=True)
    parts = np.split(order, starts[1:])
    return {int(k): part for k, part in zip(keys.tolist(), parts, strict=True)}
