"""Detector registry: every detector is a pure function registered by name.

A detector takes a `DetectContext` (tables + policy + thresholds, no I/O) and
returns Findings.  `secaudit detect --only NAME,…` and `secaudit detectors`
work from this one dict; rules, reports and score_detections.py match on the
registered names, so they are part of the contract (see DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from secaudit.model import Category, Finding, Gap

__all__ = ["REGISTRY", "DetectContext", "DetectorSpec", "register"]


@dataclass(frozen=True)
class DetectContext:
    """Everything a detector may read.  Tables use Zeek column names.

    `tables` holds optional extra tables by name ("packets" as a DataFrame of
    schemas.PACKET_FIELDS with string addresses, "dns", "http", "tls", "x509",
    "arp", "dhcp" …); a detector whose input is absent returns no findings and
    the runner records a Gap.  `policy` is a secaudit.policy.Policy or None.
    `thresholds` maps detector name -> its settings (defaults in rules/detect.yaml).
    """

    conn: pd.DataFrame
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    policy: Any = None
    thresholds: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    gaps: tuple[Gap, ...] = ()

    def settings(self, name: str) -> Mapping[str, Any]:
        return self.thresholds.get(name, {})


DetectorFunc = Callable[[DetectContext], list[Finding]]


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    category: Category
    func: DetectorFunc
    needs: tuple[str, ...] = ("conn",)  # tables it reads ("policy" when it needs one)
    description: str = ""


REGISTRY: dict[str, DetectorSpec] = {}


def register(
    name: str,
    category: Category | str,
    *,
    needs: tuple[str, ...] = ("conn",),
    description: str = "",
) -> Callable[[DetectorFunc], DetectorFunc]:
    """Decorator: add a detector under `name` (names are unique)."""

    def wrap(func: DetectorFunc) -> DetectorFunc:
        if name in REGISTRY and REGISTRY[name].func is not func:
            raise ValueError(f"detector {name!r} registered twice")
        REGISTRY[name] = DetectorSpec(
            name,
            Category(category),
            func,
            needs,
            description or _summary(func.__doc__),
        )
        return func

    return wrap


def _summary(doc: str | None) -> str:
    """A docstring's first paragraph on one line (`secaudit detectors` shows it; a first
    line alone cut some sentences short)."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(first.split())
