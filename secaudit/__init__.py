"""secaudit: audits of e-government networks from traffic, scans and backups.

    import secaudit as sa
    packets = sa.read_pcap("capture.pcap")
    conn = sa.flows("capture.pcap")
    findings = sa.detect("capture.pcap", policy="rules/")

The public API is this flat namespace.  Names are imported lazily so that
`import secaudit` stays fast and one area's heavy dependencies (numba,
hyperscan, duckdb) load only when used.
"""

from __future__ import annotations

from typing import Any

from secaudit._lazy import lazy_attr
from secaudit.errors import ConfigError, InputError, SecauditError, ToolError
from secaudit.model import Category, Finding, Gap, Severity, read_findings, write_findings

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # signatures (Suricata rules, YARA, IOCs)
    "signatures": "secaudit.signatures",
    "load_rules": "secaudit.signatures",
    "SignatureResult": "secaudit.signatures",
    "run_rule_tests": "secaudit.signatures.ruletest",
    "register_runner": "secaudit.signatures.ruletest",
    # capture
    "read_pcap": "secaudit.capture",
    "iter_chunks": "secaudit.capture",
    "read_packets": "secaudit.capture",
    "PacketChunk": "secaudit.capture",
    # flows
    "flows": "secaudit.flows",
    "read_conn_log": "secaudit.flows",
    "write_conn_log": "secaudit.flows",
    "flow_table": "secaudit.flows",
    "FlowResult": "secaudit.flows",
    # detect (behavioural attacks, faults; runs the links detectors too)
    "detect": "secaudit.detect.run",
    "DetectResult": "secaudit.detect.run",
    "service_health": "secaudit.detect.health",
    "parse_dns": "secaudit.proto.dns",
    "dns_log": "secaudit.proto.dns",
    # backup
    "backup_audit": "secaudit.backup",
    "BackupAudit": "secaudit.backup",
    # report (the assessment; notebooks end with sa.save_results)
    "assess": "secaudit.report",
    "save_results": "secaudit.report",
    "load_controls": "secaudit.report",
    "load_assessment": "secaudit.report",
    # policy (zones, assets, links) and the links detectors' tables
    "load_policy": "secaudit.policy",
    "Policy": "secaudit.policy",
    "links_tables": "secaudit.detect.links_tables",
    "beacon_scores": "secaudit.detect.beacon",
    # exposure (nmap) and trust (certificates, TLS, cleartext logins)
    "read_nmap_xml": "secaudit.exposure",
    "diff_scans": "secaudit.exposure",
    "hosts_table": "secaudit.exposure",
    "services_table": "secaudit.exposure",
    "exposure_audit": "secaudit.exposure",
    "trust_audit": "secaudit.trust",
    "x509_from_scan": "secaudit.trust",
    "check_certificates": "secaudit.trust",
}

__all__ = [
    "Category",
    "ConfigError",
    "Finding",
    "Gap",
    "InputError",
    "SecauditError",
    "Severity",
    "ToolError",
    "read_findings",
    "write_findings",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    return lazy_attr(__name__, _LAZY, name)


def __dir__() -> list[str]:
    return sorted(__all__)
