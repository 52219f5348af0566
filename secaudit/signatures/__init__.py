"""Suricata-syntax signatures, YARA on carved files, indicator lists.

res = signatures("capture.pcap", "rules/signatures/")
res.alerts          # one row per alert
res.findings        # Findings (attack / malware), GB/T 22239 8.1.3.3

The names below load on first use: `secaudit detect` imports only the file carver and
scanner (signatures.carve, signatures.files), not the rule engine and hyperscan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from secaudit._callable import make_package_callable
from secaudit._lazy import lazy_attr

if TYPE_CHECKING:
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

_LAZY = {
    "RuleSet": "secaudit.signatures.api",
    "SignatureResult": "secaudit.signatures.api",
    "load_classification": "secaudit.signatures.api",
    "load_rules": "secaudit.signatures.api",
    "load_vars": "secaudit.signatures.api",
    "signatures": "secaudit.signatures.api",
    "write_eve": "secaudit.signatures.api",
    "Rule": "secaudit.signatures.rule",
    "parse_file": "secaudit.signatures.rule",
    "parse_rule": "secaudit.signatures.rule",
    "parse_rules": "secaudit.signatures.rule",
}

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


def __getattr__(name: str) -> Any:
    return lazy_attr(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


make_package_callable(__name__, "secaudit.signatures.api", "signatures")
