"""The zh/en message catalog: both languages carry the same keys and placeholders, and
findings keep what the report needs to re-title them."""

from __future__ import annotations

import string

from secaudit.i18n import _catalog, t, with_title_params


def _fields(text: str) -> set[str]:
    return {f[1] for f in string.Formatter().parse(text) if f[1]}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    en, zh = _catalog("en"), _catalog("zh")
    assert set(en) == set(zh)
    assert [k for k in en if _fields(en[k]) != _fields(zh[k])] == []


def test_missing_key_and_missing_parameter_fall_back_without_raising() -> None:
    assert t("no.such.key", "zh") == "no.such.key"
    assert "{repo}" in t("finding.stale_backup.title", "en")  # unfilled template, not a crash


def test_title_parameters_travel_in_the_evidence() -> None:
    import numpy as np

    ev = with_title_params(
        {"service": {"name": "http"}}, {"service": "http", "n": np.int64(3), "x": [1]}
    )
    assert ev == {"service": {"name": "http"}, "title_params": {"service": "http", "n": 3}}
    assert type(ev["title_params"]["n"]) is int  # JSON-able, not a numpy scalar
    assert with_title_params({"a": 1}, {"subject": "s"}) == {"a": 1}


def test_every_finding_title_names_what_was_found() -> None:
    """The report re-titles each finding from these templates: one without a placeholder
    would replace a finding's own title (a rule's msg, a file name) with a bare label."""
    for lang in ("en", "zh"):
        cat = _catalog(lang)
        bare = [k for k, v in cat.items() if k.startswith("finding.") and k.endswith(".title")
                and not _fields(v)]  # fmt: skip
        assert bare == [], lang
