"""notebooks/30_behavior_faults.ipynb runs headless with its default parameters."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT


def test_notebook_runs_with_defaults(tmp_path: Path) -> None:
    import papermill as pm

    out_dir = tmp_path / "behavior_faults"
    pm.execute_notebook(
        str(ROOT / "notebooks" / "30_behavior_faults.ipynb"),
        str(tmp_path / "nb.ipynb"),
        parameters={"out_dir": str(out_dir)},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    findings = json.loads((out_dir / "findings.json").read_text(encoding="utf-8"))
    found = {(f["detector"], f["subject"]) for f in findings}
    # the sample's planted scan, DNS tunnel and retransmission storm (samples/INCIDENTS.md)
    assert {
        ("port_scan", "10.20.3.117"),
        ("dns_tunnel", "10.20.3.105"),
        ("retransmission", "10.20.1.10"),
    } <= found
    # its normal traffic gives nothing above low
    planted = {"10.20.3.117", "10.20.3.105", "172.16.10.10", "10.20.1.10"}
    assert not [
        f for f in findings if f["subject"] not in planted and f["severity"] not in ("info", "low")
    ]
