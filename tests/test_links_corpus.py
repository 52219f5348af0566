"""The links corpus through the real scorer, and the sample network's planted link incidents."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS, ROOT, TOOLS, need_shared

from secaudit.detect.links_base import CONTROLS

LINKS_DETECTORS = sorted(CONTROLS)


@pytest.mark.slow
@pytest.mark.corpus
def test_score_detections_links_corpus(tmp_path: Path) -> None:
    """Every dev scenario passes score_detections.py through the `secaudit detect` CLI."""
    need_shared()
    exe = Path(sys.executable).with_name("secaudit")
    cmd = f"{exe} detect -q -r {{pcap}} --policy {{policy}} -o {{out}}"
    r = subprocess.run(
        [sys.executable, str(TOOLS / "score_detections.py"), "--manifest", str(CORPUS / "links" / "manifest.json"),
         "--cmd", cmd, "--jobs", "4", "--timeout", "600"],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith(" failed") and last.split()[-2] == "0", r.stdout[-3000:]


SAMPLE = ROOT / "samples" / "pcaps" / "sample.pcap"
SAMPLE_POLICY = ROOT / "samples" / "rules"


@pytest.mark.slow
def test_sample_network_planted_link_incidents() -> None:
    """The sample's direct-internet workstation and unregistered device, and nothing else."""
    if not SAMPLE.exists() or not (SAMPLE_POLICY / "policy" / "zones.yaml").exists():
        pytest.skip("samples/pcaps/sample.pcap or samples/rules/policy not generated")
    from secaudit.detect.run import detect

    found = {
        (f.detector, f.subject)
        for f in detect(SAMPLE, SAMPLE_POLICY, only=LINKS_DETECTORS, strict=True).findings
    }
    assert found == {
        ("external_link", "10.20.3.114"),
        ("proxy_bypass", "10.20.3.114"),
        ("unregistered_device", "10.10.2.250"),
    }
