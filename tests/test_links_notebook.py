"""notebooks/10_links.ipynb runs headless with its default parameters and saves its results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT

NB = ROOT / "notebooks" / "10_links.ipynb"


@pytest.mark.slow
def test_links_notebook_runs_and_saves(tmp_path: Path) -> None:
    if not (ROOT / "samples" / "pcaps" / "sample.pcap").exists():
        pytest.skip("samples/pcaps/sample.pcap not generated")
    import papermill as pm

    out = tmp_path / "links"
    pm.execute_notebook(
        str(NB), str(tmp_path / "out.ipynb"), parameters={"out_dir": str(out), "lang": "zh"},
        cwd=str(NB.parent), kernel_name="python3", progress_bar=False,
    )  # fmt: skip
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert {(f["detector"], f["subject"]) for f in findings} == {
        ("external_link", "10.20.3.114"), ("proxy_bypass", "10.20.3.114"), ("unregistered_device", "10.10.2.250"),
    }  # fmt: skip
    titles = {f["detector"]: f["title"] for f in findings}  # lang=zh: titles from the zh catalog
    assert "未登记设备" in titles["unregistered_device"] and "绕过代理" in titles["proxy_bypass"]
    cov = json.loads((out / "coverage.json").read_text(encoding="utf-8"))
    assert set(cov["detectors"]) >= {"beacon", "external_link", "rogue_dhcp"}
