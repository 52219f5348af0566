"""zh/en message catalog: every user-facing string goes through `t()`.

Catalogs are YAML files in `secaudit/catalog/<lang>/*.yaml` (one file per
area, flat `key: text` maps, `{name}` placeholders).  A key missing in the
requested language falls back to English, then to the key itself, so a
missing translation is visible but never crashes a report.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["LANGS", "t", "with_title_params"]

LANGS = ("zh", "en")
_CATALOG_DIR = Path(__file__).parent / "catalog"
# libyaml's safe loader where PyYAML has it: the catalogs load in a seventh of the time
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _catalog(lang: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    folder = _CATALOG_DIR / lang
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}  # noqa: S506
        for key, text in data.items():
            merged[str(key)] = str(text)
    return merged


def t(key: str, lang: str = "en", **params: Any) -> str:
    """Translate `key` into `lang` and fill `{placeholders}` from params."""
    text = _catalog(lang).get(key) or _catalog("en").get(key) or key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


def with_title_params(evidence: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """`evidence` plus `title_params`: the scalar parameters of the finding's title.

    Findings are made in one language, but the report re-titles each one from the catalog in
    every report language (secaudit.report.assess); it can only do that when the parameters
    of the title template travel with the finding.  They sit under their own key because a
    title's `{service}` (a name) and the evidence's `service` (a record) may differ.
    """
    extra: dict[str, Any] = {}
    for k, v in params.items():
        if k == "subject":
            continue
        if isinstance(v, numbers.Number) and hasattr(v, "item"):
            v = v.item()  # numpy scalars from vectorized detectors
        if isinstance(v, (str, int, float)):
            extra[k] = v
    return {**evidence, "title_params": extra} if extra else dict(evidence)
