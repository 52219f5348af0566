"""Suricata-syntax signatures, YARA on carved files, indicator lists.

res = signatures("capture.pcap", "rules/signatures/")
res.alerts          # one row per alert
res.findings        # Findings (attack / malware), GB/T 22239 8.1.3.3
"""

from __future__ import annotations

import sys as _sys
import types as _types
from typing import Any as _Any

from secaudit.signatures.api import (
    RuleSet,
    SignatureResult,
    load_classification,
    load_rules,
    load_vars,
    signatures,
    write_eve,
)
from secaudit.signatures.rule import Rule, parse_file, parse_rule, parse_rules

__all__ = [
    "Rule",
    "RuleSet",
    "SignatureResult",
    "load_classification",
    "load_rules",
    "load_vars",
    "parse_file",
    "parse_rule",
    "parse_rules",
    "signatures",
    "write_eve",
]


class _CallableModule(_types.ModuleType):
    """`secaudit.signatures` is both this package and the flat-API function `sa.signatures(...)`:
    importing the package rebinds the parent's attribute to the module, so the module forwards calls."""

    def __call__(self, *args: _Any, **kwargs: _Any) -> SignatureResult:
        return signatures(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
