"""Baseline diff with ndiff's semantics: corpus pairs, targeted edits, CLI exit codes, findings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CORPUS, DATA, ROOT, need_shared

from secaudit.cli import root
from secaudit.exposure import diff_scans, read_nmap_xml
from secaudit.exposure.assets import SimpleAssets
from secaudit.exposure.audit import diff_findings
from secaudit.exposure.config import load_exposure_config

HERE = DATA / "exposure"
BEFORE, AFTER = HERE / "local_v4_before.xml", HERE / "local_v4_after.xml"


def _norm(items: list[dict[str, object]]) -> list[str]:
    return sorted(json.dumps(i, sort_keys=True) for i in items)


@pytest.mark.corpus
def test_corpus_pairs_match_expected_in_every_list() -> None:
    need_shared()
    pairs = json.loads((CORPUS / "nmap" / "expected_diffs.json").read_text())["pairs"]
    for pair in pairs:
        a = read_nmap_xml(CORPUS / "nmap" / pair["a"])
        b = read_nmap_xml(CORPUS / "nmap" / pair["b"])
        got = diff_scans(a, b).to_dict()
        exp = pair["expected"]
        assert got["any_difference"] == exp["any_difference"] == (pair["ndiff"]["exit_code"] == 1)
        for key in ("hosts_added", "hosts_removed"):
            assert sorted(got[key]) == sorted(exp[key]), (pair["id"], key)
        for key in (
            "host_state_changes", "mac_changes", "ports_opened", "ports_closed",
            "port_state_changes", "service_changes", "script_changes",
        ):  # fmt: skip
            assert _norm(got[key]) == _norm(exp[key]), (pair["id"], key)
        # OS lists: ndiff compares every osmatch; the fixture keeps the first three
        assert {c["host"] for c in got["os_changes"]} == {c["host"] for c in exp["os_changes"]}
        for g, e in zip(
            sorted(got["os_changes"], key=lambda c: c["host"]),
            sorted(exp["os_changes"], key=lambda c: c["host"]),
            strict=True,
        ):
            assert g["from"][:3] == e["from"] and g["to"][:3] == e["to"]


def _edit(tmp_path: Path, name: str, old: str, new: str, src: Path = AFTER) -> Path:
    text = src.read_text()
    assert old in text, old
    p = tmp_path / name
    p.write_text(text.replace(old, new, 1))
    return p


def test_identical_and_command_line_only_are_same(tmp_path: Path) -> None:
    assert not diff_scans(read_nmap_xml(AFTER), read_nmap_xml(AFTER)).any_difference
    other = _edit(tmp_path, "args.xml", 'args="nmap -sV', 'args="nmap -sT -T5 -sV')
    other = _edit(tmp_path, "args2.xml", 'start="1795768323"', 'start="1795769999"', other)
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(other))
    assert not d.any_difference


def test_script_output_only_change_is_a_difference(tmp_path: Path) -> None:
    other = _edit(
        tmp_path, "s.xml", 'output="SimpleHTTP/0.6 Python/3.12.1"', 'output="SimpleHTTP/0.6 X"'
    )
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(other))
    assert d.any_difference
    assert d.script_changes == [
        {"host": "127.0.0.1", "port": "8081/tcp", "scripts": ["http-server-header"]}
    ]
    assert not d.ports_opened and not d.ports_closed and not d.service_changes


def test_tunnel_change_is_listed_but_not_a_difference(tmp_path: Path) -> None:
    other = _edit(
        tmp_path, "t.xml", 'extrainfo="Python 3.12.1" method="probed"',
        'extrainfo="Python 3.12.1" tunnel="ssl" method="probed"',
    )  # fmt: skip
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(other))
    assert [(c["host"], c["port"]) for c in d.service_changes] == [("127.0.0.1", "8081/tcp")]
    assert not d.any_difference  # ndiff's Service equality ignores the tunnel: exit 0


def test_hostname_and_mac_changes(tmp_path: Path) -> None:
    other = _edit(tmp_path, "h.xml", '<hostname name="localhost" type="PTR"/>', "")
    other = _edit(
        tmp_path, "m.xml", '<address addr="127.0.0.1" addrtype="ipv4"/>',
        '<address addr="127.0.0.1" addrtype="ipv4"/><address addr="02:00:00:00:00:01" '
        'addrtype="mac" vendor="Test"/>', other,
    )  # fmt: skip
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(other))
    assert d.mac_changes == [{"host": "127.0.0.1", "from": None, "to": "02:00:00:00:00:01"}]
    assert d.hostname_changes[0]["from"] == ["localhost"]
    assert not d.hosts_added and not d.hosts_removed  # keyed by address, like the fixtures


def test_extraports_summary_change_counts_like_ndiff(tmp_path: Path) -> None:
    other = _edit(
        tmp_path, "x.xml", "<ports>", '<ports><extraports state="closed" count="5"></extraports>'
    )
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(other))
    assert d.any_difference
    # 8080 is listed as closed and "closed" is now an extraports state: not a port change
    assert not d.port_state_changes


def test_host_gone_lists_its_open_ports_as_closed(tmp_path: Path) -> None:
    text = AFTER.read_text()
    start, end = text.index("<host "), text.index("</host>") + len("</host>")
    empty = tmp_path / "empty.xml"
    empty.write_text(text[:start] + text[end:])
    d = diff_scans(read_nmap_xml(AFTER), read_nmap_xml(empty))
    assert d.hosts_removed == ["127.0.0.1"]
    assert {c["port"] for c in d.ports_closed} == {"8081/tcp", "8082/tcp", "8443/tcp", "9443/tcp"}
    assert all(c["note"] is None for c in d.ports_closed)
    back = diff_scans(read_nmap_xml(empty), read_nmap_xml(AFTER))
    assert back.hosts_added == ["127.0.0.1"] and len(back.ports_opened) == 4


def test_cli_exit_codes_and_text() -> None:
    runner = CliRunner()
    same = runner.invoke(root, ["exposure", "diff", str(AFTER), str(AFTER)])
    assert same.exit_code == 0 and "No differences" in same.output
    diff = runner.invoke(root, ["exposure", "diff", str(BEFORE), str(AFTER)])
    assert diff.exit_code == 1
    assert "+ 127.0.0.1 8082/tcp open" in diff.output
    assert "- 127.0.0.1 8083/tcp open -> closed" in diff.output
    js = runner.invoke(root, ["exposure", "diff", str(BEFORE), str(AFTER), "--json"])
    assert js.exit_code == 1 and json.loads(js.stdout)["any_difference"] is True


def test_cli_diff_rejects_hostile_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<!DOCTYPE nmaprun [<!ENTITY x SYSTEM "file:///etc/passwd">]><nmaprun>&x;</nmaprun>'
    )
    result = CliRunner().invoke(root, ["exposure", "diff", str(AFTER), str(bad), "--json"])
    assert result.exit_code == 2


def test_diff_findings_severity_follows_zone_trust() -> None:
    cfg = load_exposure_config(ROOT / "rules" / "exposure.yaml")
    before, after = read_nmap_xml(BEFORE), read_nmap_xml(AFTER)
    d = diff_scans(before, after)
    classified = SimpleAssets({"secret": ["127.0.0.0/8"]}, {"secret": "classified"})
    guest = SimpleAssets({"wifi": ["127.0.0.0/8"]}, {"wifi": "guest"})
    hot = [f for f in diff_findings(d, after, cfg, classified) if f.detector == "new_open_port"]
    cold = [f for f in diff_findings(d, after, cfg, guest) if f.detector == "new_open_port"]
    assert {f.subject for f in hot} == {"127.0.0.1:8082/tcp", "127.0.0.1:9443/tcp"}
    assert {f.severity.value for f in hot} == {"high"}
    assert {f.severity.value for f in cold} == {"low"}
    assert {f.subject for f in diff_findings(d, after, cfg) if f.detector == "service_changed"} == {
        "127.0.0.1:8081/tcp",
        "127.0.0.1:8443/tcp",
    }
    # no change, no finding
    assert diff_findings(diff_scans(after, after), after, cfg, classified) == []
