"""The controls catalogue: loads, ids unique, every control any detector names resolves;
and the verdict rules (never compliant by default)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import secaudit
from secaudit.errors import ConfigError
from secaudit.model import Finding, Gap
from secaudit.report.controls import GBT_PREFIX, load_controls
from secaudit.report.verdicts import Coverage, Verdict, compute_verdicts

CAT = load_controls()


def _control_constants() -> Iterator[tuple[str, str, str]]:
    """(module, detector, control reference) from every CONTROLS constant in the package."""
    for mod in pkgutil.walk_packages(secaudit.__path__, "secaudit."):
        if mod.name.startswith("secaudit.cli"):
            continue
        module = importlib.import_module(mod.name)
        value = getattr(module, "CONTROLS", None)
        if isinstance(value, dict):
            for detector, refs in value.items():
                for ref in refs:
                    yield mod.name, str(detector), str(ref)
        elif isinstance(value, (tuple, list)):
            for ref in value:
                yield mod.name, "*", str(ref)


def test_catalogue_ids_are_unique_and_complete() -> None:
    ids = [c.id for c in CAT.controls]
    assert len(ids) == len(set(ids)) >= 40
    for c in CAT.controls:
        assert c.text.zh and c.text.en and c.area.zh and c.area.en
        assert not c.evidence or c.areas, c.id  # evidence needs a notebook that runs it


def test_every_control_reference_in_the_code_resolves() -> None:
    refs = list(_control_constants())
    assert len(refs) > 50  # links, detect, trust, exposure, backup, signatures all declare some
    unresolved = [(m, d, r) for m, d, r in refs if r.startswith(GBT_PREFIX) and not CAT.resolve(r)]
    assert unresolved == []


def test_every_registered_detector_evidences_some_control() -> None:
    from secaudit.detect.registry import REGISTRY

    importlib.import_module("secaudit.detect")
    names = set(REGISTRY) | {d for _m, d, _r in _control_constants() if d != "*"}
    evidenced = {e for c in CAT.controls for e in c.evidence}
    assert names and names - evidenced == set()


def test_resolution_rules() -> None:
    assert [c.id for c in CAT.resolve(f"{GBT_PREFIX} 8.1.3.1 c")] == ["8.1.3.1 c"]
    assert [c.id for c in CAT.resolve(f"{GBT_PREFIX} 8.1.4.7")] == ["8.1.4.7 a"]  # alias
    assert {c.id for c in CAT.resolve(f"{GBT_PREFIX} 8.1.3.3")} == {"8.1.3.3 a", "8.1.3.3 b"}
    assert CAT.resolve("ATT&CK T1046") == [] and CAT.resolve(f"{GBT_PREFIX} 9.9.9") == []


def test_malformed_catalogue_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "controls.yaml"
    text = (
        Path(secaudit.__file__)
        .parent.parent.joinpath("rules", "controls.yaml")
        .read_text(encoding="utf-8")
    )
    bad.write_text(text.replace("confidence: B", "confidence: Z", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_controls(bad)
    line = text.splitlines().index(next(s for s in text.splitlines() if "confidence: B" in s)) + 1
    assert exc.value.line == line and "confidence" in str(exc.value)


def _finding(detector: str, severity: str) -> Finding:
    return Finding(
        rule_id=detector,
        detector=detector,
        category="external_link",
        severity=severity,
        title="t",
        subject="10.0.0.1",
    )


ALL = Coverage(
    frozenset({"pcap", "policy", "rules", "scan", "backup"}),
    frozenset({"links", "behavior_faults", "signatures", "exposure_trust", "backup_dr"}),
    {},
)


def _verdict(findings: list[Finding], coverage: Coverage = ALL, cid: str = "8.1.3.1 c") -> Verdict:
    return next(
        v.verdict for v in compute_verdicts(CAT, findings, [], coverage) if v.control.id == cid
    )


def test_verdicts_from_findings() -> None:
    assert _verdict([_finding("proxy_bypass", "high")]) == Verdict.NON_COMPLIANT
    assert _verdict([_finding("proxy_bypass", "medium")]) == Verdict.PARTLY
    assert _verdict([_finding("proxy_bypass", "info")]) == Verdict.COMPLIANT  # info is not a defect
    assert _verdict([]) == Verdict.COMPLIANT


def test_not_tested_whenever_coverage_is_missing() -> None:
    no_policy = Coverage(frozenset({"pcap"}), ALL.areas_ok, {})
    assert _verdict([], no_policy) == Verdict.NOT_TESTED
    not_run = Coverage(ALL.inputs, frozenset({"signatures"}), {})
    assert _verdict([], not_run) == Verdict.NOT_TESTED
    half = Coverage(ALL.inputs, frozenset({"links"}), {})  # 8.1.3.1 c also needs behavior_faults
    assert _verdict([], half) == Verdict.NOT_TESTED
    assert _verdict([_finding("proxy_bypass", "high")], half) == Verdict.NON_COMPLIANT
    silent = Coverage(
        ALL.inputs, frozenset({"links", "behavior_faults"}), {"links": (), "behavior_faults": ()}
    )
    assert _verdict([], silent) == Verdict.NOT_TESTED  # the notebooks ran no evidencing detector
    assert _verdict([], ALL, cid="8.1.3.3 d") == Verdict.NOT_TESTED  # manual-only item
    nothing = Coverage(frozenset(), frozenset(), {})
    assert {v.verdict for v in compute_verdicts(CAT, [], [Gap("x", "y", "z")], nothing)} == {
        Verdict.NOT_TESTED
    }
