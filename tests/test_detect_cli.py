"""`secaudit detect` / `secaudit detectors`: outputs, gaps file, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CORPUS, need_shared

from secaudit.cli import root

PCAPS = CORPUS / "behavior" / "pcaps"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(root, list(args))
    return res.exit_code, res.output


@pytest.mark.corpus
def test_detect_writes_findings_and_gaps(tmp_path: Path) -> None:
    need_shared()
    out = tmp_path / "f.json"
    code, _ = run("detect", "-q", "-r", str(PCAPS / "syn_syn_scan_vertical_a.pcap"), "-o", str(out))
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [f["detector"] for f in data] == ["port_scan"]
    assert data[0]["controls"] and data[0]["remediation"]
    gaps = json.loads((tmp_path / "f.gaps.json").read_text(encoding="utf-8"))
    assert isinstance(gaps, list)


@pytest.mark.corpus
def test_fail_on_and_only(tmp_path: Path) -> None:
    need_shared()
    pcap = str(PCAPS / "syn_syn_scan_vertical_a.pcap")
    out = str(tmp_path / "f.json")
    assert run("detect", "-q", "-r", pcap, "--fail-on", "medium", "-o", out)[0] == 1
    assert run("detect", "-q", "-r", pcap, "--fail-on", "critical", "-o", out)[0] == 0
    assert (
        run("detect", "-q", "-r", pcap, "--only", "dns_tunnel", "--fail-on", "low", "-o", out)[0]
        == 0
    )
    assert json.loads(Path(out).read_text(encoding="utf-8")) == []


def test_usage_and_input_errors_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture")
    out = str(tmp_path / "f.json")
    code, text = run("detect", "-r", str(bad), "-o", out)
    assert code == 2 and "bad.pcap" in text
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    code, text = run("detect", "-r", str(empty), "--only", "no_such_detector", "-o", out)
    assert code == 2 and "no_such_detector" in text
    th = tmp_path / "t.yaml"
    th.write_text("syn_flood:\n  window: 3\n", encoding="utf-8")
    code, text = run("detect", "-r", str(empty), "--thresholds", str(th), "-o", out)
    assert code == 2 and "t.yaml:2" in text


def test_detectors_lists_names_and_thresholds() -> None:
    code, text = run("detectors", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(text[text.index("[") :])}
    for name in ("port_scan", "syn_flood", "dns_tunnel", "retransmission", "dns_failure"):
        assert name in rows
    assert rows["port_scan"]["thresholds"]["window_s"] == 300


def test_detectors_describe_themselves_in_whole_sentences() -> None:
    """The description is the docstring's first paragraph, not its first line (which cut
    e.g. dual_homed's short: "... in two or more zones that assets.yaml")."""
    code, text = run("detectors", "--json")
    assert code == 0
    rows = json.loads(text[text.index("[") :])
    cut = [r["name"] for r in rows if not r["description"].rstrip(")").endswith(".")]
    assert cut == []
    assert all("\n" not in r["description"] for r in rows)
