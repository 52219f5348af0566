"""Exposure: run nmap within an allow-list, import its XML, diff against a baseline, audit vs policy."""

from __future__ import annotations

from secaudit.exposure.diff import ScanDiff, diff_scans
from secaudit.exposure.nmap_xml import NmapHost, NmapPort, NmapScan, read_nmap_xml
from secaudit.exposure.tables import hosts_table, services_table

__all__ = [
    "NmapHost",
    "NmapPort",
    "NmapScan",
    "ScanDiff",
    "diff_scans",
    "hosts_table",
    "read_nmap_xml",
    "services_table",
]
