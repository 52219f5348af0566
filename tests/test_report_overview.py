"""Notebook 00's library: the traffic overview of the sample, with and without policy, and damage."""

from __future__ import annotations

import json
from pathlib import Path

from secaudit.report.assess import _overview
from secaudit.report.overview import save, traffic_overview
from secaudit.report.render import read_figure

ROOT = Path(__file__).resolve().parent.parent
PCAP = ROOT / "samples" / "pcaps" / "sample.pcap"
POLICY = ROOT / "samples" / "rules" / "policy"


def test_overview_of_the_sample(tmp_path: Path) -> None:
    ov = traffic_overview([str(PCAP)], policy_dir=str(POLICY), lang="zh")
    assert ov.metrics["connections"] > 2000 and ov.gaps == []
    hosts = ov.tables["hosts"].set_index("host")
    assert hosts.loc["10.10.2.250", "asset"] == "-"  # the unregistered laptop
    assert hosts.loc["10.10.2.250", "mac"] == "f0:de:f1:7a:33:c9"
    assert hosts.loc["172.16.10.5", "zone"] == "dmz"
    matrix = ov.tables["zone_matrix"].set_index("from \\ to")
    assert matrix.loc["gov-external", "dmz"] > 0 and matrix.loc["gov-external", "internet"] > 0
    assert matrix.loc["gov-internal", "internet"] == 0  # forbidden zone never goes out
    states = dict(
        zip(ov.tables["conn_state"]["conn_state"], ov.tables["conn_state"]["conns"], strict=True)
    )
    assert states["REJ"] >= 1000  # the port scan
    protos = set(ov.tables["protocols"]["protocol"])
    assert {"dns", "ntp", "http-proxy", "smb"} <= protos
    other = ov.tables["protocols"].iloc[-1]  # the scan's 1000 probed ports are folded
    assert len(ov.tables["protocols"]) == 16 and other["protocol"].startswith("other (")
    assert ov.tables["protocols"]["conns"].sum() == ov.metrics["connections"]
    out = save(ov, tmp_path / "traffic_overview", lang="zh")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert (
        summary["figures"][0]["file"] == "timeline.svg"
        and (out / "timeline.svg").stat().st_size > 1000
    )
    assert json.loads((out / "findings.json").read_text(encoding="utf-8")) == []
    # one chart per report language, its text in that language (a bilingual assessment
    # embeds the matching one in each report)
    fig = summary["figures"][0]
    assert fig["by_lang"] == {"zh": "timeline.zh.svg", "en": "timeline.en.svg"}
    assert "每分钟连接数" in (out / "timeline.zh.svg").read_text(encoding="utf-8")
    assert "Connections per minute" in (out / "timeline.en.svg").read_text(encoding="utf-8")
    assert "每分钟连接数" in (out / "timeline.svg").read_text(encoding="utf-8")  # lang="zh"
    for lang, text in (("en", "Connections per minute"), ("zh", "每分钟连接数")):
        [shown] = _overview(summary, out, lang)["figures"]  # type: ignore[index]
        assert shown["title"] == text
        assert shown["uri"] == read_figure(out / f"timeline.{lang}.svg")
    (out / "timeline.en.svg").unlink()  # an older notebook's output: its one chart is used
    [shown] = _overview(summary, out, "en")["figures"]  # type: ignore[index]
    assert shown["uri"] == read_figure(out / "timeline.svg")


def test_overview_without_policy_and_with_damage(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(PCAP.read_bytes()[:200_003])  # ends inside a record
    ov = traffic_overview([str(cut)], policy_dir=None)
    assert ov.metrics["connections"] > 0
    assert set(ov.tables["hosts"]["zone"]) == {"-"}
    assert ov.gaps and all(g.source.endswith("cut.pcap") for g in ov.gaps)
    bad_policy = traffic_overview([str(cut)], policy_dir=str(tmp_path / "nope"))
    assert any(g.kind == "unreadable" and "nope" in g.source for g in bad_policy.gaps)


def test_overview_without_any_capture(tmp_path: Path) -> None:
    """No capture configured (or none readable): an empty overview and a Gap; the notebook
    used to fail on a conn table without 'uid'."""
    ov = traffic_overview([], policy_dir=None, lang="zh")
    assert ov.metrics["connections"] == 0
    assert [g.kind for g in ov.gaps] == ["missing_input"] and "抓包" in ov.gaps[0].message
    assert all(len(df) == 0 for df in ov.tables.values())
    save(ov, tmp_path / "out", lang="zh")
    assert (tmp_path / "out" / "findings.json").is_file()
