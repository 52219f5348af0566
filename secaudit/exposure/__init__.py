"""Exposure: run nmap within an allow-list, import its XML, diff against a baseline, audit vs policy."""

from __future__ import annotations

from typing import Any

from secaudit.exposure.diff import ScanDiff, diff_scans
from secaudit.exposure.nmap_xml import NmapHost, NmapPort, NmapScan, read_nmap_xml
from secaudit.exposure.tables import hosts_table, services_table


def exposure_audit(*args: Any, **kwargs: Any) -> Any:
    """secaudit.exposure.pipeline.audit_files (imported lazily: it pulls in secaudit.trust)."""
    from secaudit.exposure.pipeline import audit_files

    return audit_files(*args, **kwargs)


__all__ = [
    "NmapHost",
    "NmapPort",
    "NmapScan",
    "ScanDiff",
    "diff_scans",
    "exposure_audit",
    "hosts_table",
    "read_nmap_xml",
    "services_table",
]
