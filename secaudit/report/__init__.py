"""The assessment: notebooks -> findings + gaps -> control verdicts -> HTML/PDF report + history."""

from __future__ import annotations

from secaudit.report.assess import AssessResult, assess
from secaudit.report.config import AssessmentConfig, load_assessment
from secaudit.report.contract import AreaResults, load_results, save_results
from secaudit.report.controls import Catalogue, Control, load_controls
from secaudit.report.verdicts import ControlVerdict, Coverage, Verdict, compute_verdicts

__all__ = [
    "AreaResults",
    "AssessResult",
    "AssessmentConfig",
    "Catalogue",
    "Control",
    "ControlVerdict",
    "Coverage",
    "Verdict",
    "assess",
    "compute_verdicts",
    "load_assessment",
    "load_controls",
    "load_results",
    "save_results",
]
