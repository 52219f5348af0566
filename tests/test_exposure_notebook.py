"""notebooks/40_exposure_trust.ipynb headless (papermill) and the summary helpers it calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from secaudit.exposure import summary

BEFORE = DATA / "exposure" / "local_v4_before.xml"
AFTER = DATA / "exposure" / "local_v4_after.xml"
SAMPLE = ROOT / "samples" / "pcaps" / "sample.pcap"
POLICY = ROOT / "samples" / "rules" / "policy"


def test_summary_tables_from_a_scan_and_baseline() -> None:
    res = summary.run_area(AFTER, BEFORE, [], None, ROOT / "rules", "2026-11-28T00:00:00Z")
    zt = summary.zone_table(res)
    assert set(zt["port"]) == {"8081/tcp", "8082/tcp", "8443/tcp", "9443/tcp"}
    assert set(zt["zone"]) == {"internet"}
    dt = summary.diff_table(res)
    assert sorted(dt["change"]) == [
        "port_closed", "port_opened", "port_opened", "service_changed", "service_changed",
    ]  # fmt: skip
    inv = summary.cert_inventory(res)
    assert sorted(inv["port"]) == [8443, 9443] and (inv["days_left"] > 3000).all()
    assert "unregistered_host" not in res.detectors  # no policy given: not run, not claimed
    assert {"new_open_port", "forbidden_service", "cert_expired"} <= res.detectors


def test_summary_without_inputs_reports_gaps() -> None:
    res = summary.run_area(None, None, [], None, None, "2026-11-28T00:00:00Z")
    assert [g.kind for g in res.gaps] == ["missing_input"]
    assert summary.cert_inventory(res).empty and summary.diff_table(res).empty
    assert res.detectors == set()


@pytest.mark.slow
def test_notebook_runs_headless(tmp_path: Path) -> None:
    import papermill

    if not SAMPLE.exists():
        pytest.skip("sample pcap not generated")
    out = tmp_path / "exposure_trust"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "40_exposure_trust.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "scan_xml": str(AFTER),
            "baseline_xml": str(BEFORE),
            "pcaps": [str(SAMPLE)],
            "policy_dir": str(POLICY),
            "rules_dir": str(ROOT / "rules"),
            "now": "2026-11-28T00:00:00Z",
            "lang": "zh",
            "out_dir": str(out),
        },
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    findings = json.loads((out / "findings.json").read_text())
    got = {(f["detector"], f["subject"]) for f in findings}
    assert ("cert_expired", "172.16.10.31:443") in got  # the sample's DMZ certificate
    assert ("new_open_port", "127.0.0.1:8082/tcp") in got
    assert ("unregistered_host", "127.0.0.1") in got  # policy given: 127.0.0.1 is no asset
    assert any("证书" in f["title"] for f in findings)  # zh titles from the catalog
    coverage = json.loads((out / "coverage.json").read_text())
    assert "cleartext_login" in coverage["detectors"]
