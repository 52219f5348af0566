"""Control verdicts: 符合 / 部分符合 / 不符合 / 未测 from findings, gaps and coverage.

"Not tested" whenever the inputs could not cover a control: an input it needs
is missing, one of the notebooks that evidence it did not finish, or none of
its evidencing detectors ran.  A control is never compliant by default;
findings count as evidence even when coverage is partial.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from secaudit.model import Finding, Gap, Severity
from secaudit.report.controls import Catalogue, Control

__all__ = ["ControlVerdict", "Coverage", "Verdict", "compute_verdicts", "finding_controls"]


class Verdict(enum.StrEnum):
    COMPLIANT = "compliant"
    PARTLY = "partly"
    NON_COMPLIANT = "non_compliant"
    NOT_TESTED = "not_tested"


@dataclass(frozen=True)
class Coverage:
    """What the assessment could look at."""

    inputs: frozenset[str]  # input kinds present: pcap, policy, rules, scan, backup
    areas_ok: frozenset[str]  # notebooks that finished
    detectors: Mapping[str, tuple[str, ...] | None]  # area -> detectors run (None: not declared)

    def detector_ran(self, name: str, areas: Iterable[str]) -> bool:
        for area in areas:
            if area not in self.areas_ok:
                continue
            ran = self.detectors.get(area)
            if ran is None or name in ran:
                return True
        return False


@dataclass(frozen=True)
class ControlVerdict:
    control: Control
    verdict: Verdict
    reason: str  # catalog key (report.reason.*)
    reason_params: Mapping[str, str] = field(default_factory=dict)
    findings: tuple[str, ...] = ()  # finding ids
    gaps: tuple[int, ...] = ()  # indexes into the assessment's gap list
    worst: Severity | None = None


def finding_controls(f: Finding, catalogue: Catalogue) -> set[str]:
    """Catalogue ids a finding is evidence for: its own references plus the catalogue's map."""
    ids = {c.id for ref in f.controls for c in catalogue.resolve(ref)}
    ids |= {c.id for c in catalogue.for_evidence(f.detector, f.rule_id)}
    return ids


def compute_verdicts(
    catalogue: Catalogue,
    findings: Iterable[Finding],
    gaps: Iterable[Gap],
    coverage: Coverage,
) -> list[ControlVerdict]:
    findings = list(findings)
    gaps = list(gaps)
    by_control: dict[str, list[Finding]] = {}
    for f in findings:
        for cid in finding_controls(f, catalogue):
            by_control.setdefault(cid, []).append(f)
    rule = catalogue.verdict
    out = []
    for c in catalogue.controls:
        related_gaps = tuple(
            i
            for i, g in enumerate(gaps)
            if g.area in c.areas or g.area == c.chapter or g.detail.get("input") in c.inputs
        )
        fs = [f for f in by_control.get(c.id, []) if f.severity.rank >= rule.partly_from.rank]
        worst = max((f.severity for f in fs), key=lambda s: s.rank, default=None)
        ids = tuple(f.id for f in fs)
        missing = [i for i in c.inputs if i not in coverage.inputs]
        not_run = [a for a in c.areas if a not in coverage.areas_ok]
        ran = [d for d in c.evidence if coverage.detector_ran(d, c.areas)]
        if fs and worst is not None and worst.rank >= rule.non_compliant_from.rank:
            v, reason = Verdict.NON_COMPLIANT, "report.reason.findings_high"
        elif fs:
            v, reason = Verdict.PARTLY, "report.reason.findings_low"
        elif not c.evidence:
            v, reason = Verdict.NOT_TESTED, "report.reason.manual"
        elif missing:
            v, reason = Verdict.NOT_TESTED, "report.reason.missing_input"
        elif not_run:
            # compliant needs every notebook that evidences the control, not just one of them
            v, reason = Verdict.NOT_TESTED, "report.reason.area_not_run"
        elif not ran:
            v, reason = Verdict.NOT_TESTED, "report.reason.no_detector"
        else:
            v, reason = Verdict.COMPLIANT, "report.reason.clean"
        params = {
            "inputs": ", ".join(missing),
            "areas": ", ".join(not_run),
            "detectors": ", ".join(ran),
            "count": str(len(fs)),
        }
        out.append(ControlVerdict(c, v, reason, params, ids, related_gaps, worst))
    return out
