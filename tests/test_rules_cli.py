"""`secaudit rules test`: the starter ruleset passes, a broken expectation fails with JUnit output."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from secaudit.cli import root
from secaudit.signatures.ruletest import register_runner, run_rule_tests

ROOT = Path(__file__).resolve().parent.parent


def test_starter_rules_pass_with_junit(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    r = CliRunner().invoke(root, ["rules", "test", str(ROOT / "rules"), "--junit", str(junit)])
    assert r.exit_code == 0, r.output
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) >= 10 and not ET.parse(junit).getroot().findall(".//failure")


def test_wrong_expectation_fails(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "signatures", rules / "signatures")
    case = rules / "tests" / "signatures" / "c1"
    case.mkdir(parents=True)
    shutil.copy(
        ROOT / "rules" / "tests" / "signatures" / "sqli-benign" / "input.pcap", case / "input.pcap"
    )
    (case / "expect.yaml").write_text("fire: [9000004]\nsilent: []\n")
    junit = tmp_path / "j.xml"
    r = CliRunner().invoke(root, ["rules", "test", str(rules), "--junit", str(junit)])
    assert r.exit_code == 1 and "9000004 did not fire" in r.output
    assert ET.parse(junit).getroot().findall(".//failure")


def test_runner_registry_is_pluggable(tmp_path: Path) -> None:
    (tmp_path / "tests" / "policy" / "p1").mkdir(parents=True)
    (tmp_path / "tests" / "policy" / "p1" / "expect.yaml").write_text("x: 1\n")
    register_runner("policy", lambda _root, case: [] if case.name == "p1" else ["?"])
    (res,) = run_rule_tests(tmp_path)
    assert res.kind == "policy" and res.passed


def test_detect_cases_run_with_the_policy_and_can_fail(tmp_path: Path) -> None:
    """The `detect` kind: the bundled cases pass; a wrong expectation on the same input fails."""
    import shutil

    from secaudit.signatures.ruletest import run_rule_tests

    rules = Path(__file__).resolve().parent.parent / "rules"
    shutil.copytree(rules / "policy", tmp_path / "policy")
    case = tmp_path / "tests" / "detect" / "wrong"
    case.mkdir(parents=True)
    shutil.copy(rules / "tests" / "detect" / "proxy-use-benign" / "input.pcap", case)
    (case / "expect.yaml").write_text("fire: [{detector: proxy_bypass, subject: 10.20.1.2}]\n")
    results = run_rule_tests(tmp_path)
    assert [(r.kind, r.name, r.passed) for r in results if r.kind == "load"] == [
        ("load", "policy", True)
    ]
    (result,) = [r for r in results if r.kind == "detect"]
    assert not result.passed and "proxy_bypass on 10.20.1.2 did not fire" in result.failures[0]
    bundled = [r for r in run_rule_tests(rules) if r.kind == "detect"]
    assert len(bundled) >= 2 and all(r.passed for r in bundled)


def test_every_rules_file_must_load(tmp_path: Path) -> None:
    """A broken rules file fails `rules test` with file:line, before any case runs."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "exposure.yaml").write_text("scan:\n  allow: [not-a-cidr\n", encoding="utf-8")
    results = run_rule_tests(tmp_path)
    (bad,) = [r for r in results if r.name == "exposure.yaml"]
    assert not bad.passed and f"{tmp_path / 'exposure.yaml'}:" in bad.failures[0]
