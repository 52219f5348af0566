"""The sample's nmap scans (samples/scans/): the committed files hold the planted exposure
incidents of samples/INCIDENTS.md (h-l), and rebuilding them with real nmap in a network
namespace gives the same findings."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from secaudit.exposure.summary import AreaResult, run_area

SCANS = ROOT / "samples" / "scans"
NOW = "2026-11-20T09:30:00Z"

PLANTED = {
    ("forbidden_service", "172.16.10.31:23/tcp"),
    ("management_exposed", "172.16.10.31:23/tcp"),
    ("service_not_allowed", "172.16.10.31:23/tcp"),
    ("new_open_port", "172.16.10.31:23/tcp"),
    ("default_page", "172.16.10.30:8080/tcp"),
    ("outdated_version", "172.16.10.30:8080/tcp"),
    ("new_open_port", "172.16.10.30:8080/tcp"),
    ("unregistered_host", "172.16.10.77"),
    ("host_added", "172.16.10.77"),
    ("new_open_port", "172.16.10.77:80/tcp"),
    ("outdated_version", "10.10.1.10:22/tcp"),
    ("management_exposed", "10.10.1.10:22/tcp"),
    ("cert_expired", "172.16.10.31:443"),
    ("cert_self_signed", "172.16.10.31:443"),
}
COMPLIANT_HOSTS = ("172.16.10.25", "172.16.10.30:80/", "172.16.10.30:443")


def _audit(folder: Path) -> AreaResult:
    return run_area(
        folder / "current.xml",
        folder / "baseline.xml",
        policy_dir=ROOT / "samples" / "rules" / "policy",
        rules_dir=ROOT / "rules",
        now=NOW,
        vantage="gov-external",
    )


def _pairs(res: AreaResult) -> set[tuple[str, str]]:
    return {(f.detector, f.subject) for f in res.findings}


def test_committed_scans_hold_the_planted_incidents() -> None:
    res = _audit(SCANS)
    assert not res.gaps
    assert _pairs(res) == PLANTED
    assert not [f for f in res.findings if f.subject.startswith(COMPLIANT_HOSTS)]


def test_vantage_changes_the_management_check() -> None:
    """From the management zone SSH/telnet are allowed management access; unstated is unknown."""
    res = run_area(SCANS / "current.xml", policy_dir=ROOT / "samples" / "rules" / "policy",
                   rules_dir=ROOT / "rules", now=NOW, vantage="management")  # fmt: skip
    assert "management_exposed" not in {f.detector for f in res.findings}
    res = run_area(SCANS / "current.xml", rules_dir=ROOT / "rules", now=NOW)
    titles = [f.title for f in res.findings if f.detector == "management_exposed"]
    assert titles and all("unknown" in t and "?" not in t for t in titles)


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nmap") or not shutil.which("ip"),
    reason="rebuilding the scans needs root (network namespace), nmap and iproute2",
)
def test_rebuilding_the_scans_with_real_nmap_gives_the_same_findings(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))  # samples/ is a folder of the checkout, not a package
    from samples.scans.build import main

    assert main(["-o", str(tmp_path)]) == 0
    assert _pairs(_audit(tmp_path)) == PLANTED
