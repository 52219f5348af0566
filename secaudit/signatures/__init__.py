"""Suricata-syntax signatures, YARA on carved files, indicator lists.

res = signatures("capture.pcap", "rules/signatures/")
res.alerts          # one row per alert
res.findings        # Findings (attack / malware), GB/T 22239 8.1.3.3
"""

from __future__ import annotations

from secaudit._callable import make_package_callable
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


make_package_callable(__name__, "secaudit.signatures.api", "signatures")
