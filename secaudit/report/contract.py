"""What each notebook leaves behind for the report: the findings contract.

`secaudit assess` injects `out_dir` = OUTDIR/<area> into every notebook.  A
notebook ends with one library call:

    sa.save_results(out_dir, findings, gaps, detectors=[...], summary={...})

which writes into `out_dir`:

* findings.json  - JSON array of Finding dicts (model.write_findings)
* gaps.json      - JSON array of Gap dicts
* coverage.json  - {"area", "detectors": names that ran, "inputs": what they read}
* summary.json   - optional small tables/metrics for the report chapter

Only findings.json is required; a notebook that wrote plain
`sa.write_findings(findings, out_dir/"findings.json")` works too.  The report
treats an area as *run* only when its notebook finished; detectors missing
from coverage.json count as not run (their controls become "not tested").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secaudit.errors import InputError
from secaudit.model import Finding, Gap, _jsonable, read_findings, write_findings, write_gaps

__all__ = ["AreaResults", "load_results", "save_results"]


def save_results(
    out_dir: str | Path,
    findings: Iterable[Finding] = (),
    gaps: Iterable[Gap] = (),
    *,
    detectors: Iterable[str] = (),
    inputs: Iterable[str] = (),
    summary: Mapping[str, Any] | None = None,
) -> Path:
    """Write a notebook's findings, gaps, coverage and summary into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_findings(list(findings), out / "findings.json")
    write_gaps(list(gaps), out / "gaps.json")
    coverage = {"area": out.name, "detectors": sorted(set(detectors)), "inputs": list(inputs)}
    (out / "coverage.json").write_text(json.dumps(coverage, indent=1), encoding="utf-8")
    if summary is not None:
        (out / "summary.json").write_text(
            json.dumps(_jsonable(dict(summary)), ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return out


@dataclass
class AreaResults:
    area: str
    findings: list[Finding] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    detectors: tuple[str, ...] | None = None  # None: the notebook did not say
    summary: dict[str, Any] = field(default_factory=dict)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"unreadable notebook result: {exc}", str(path)) from exc


def load_results(area_dir: str | Path, area: str) -> AreaResults:
    """Read what a notebook wrote; a malformed file raises InputError (the caller makes a Gap)."""
    d = Path(area_dir)
    res = AreaResults(area)
    if (d / "findings.json").exists():
        try:
            res.findings = read_findings(d / "findings.json")
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"malformed findings: {exc}", str(d / "findings.json")) from exc
        data = _json(d / "findings.json")
        if isinstance(data, dict):  # one-file form {"findings": [...], "gaps": [...]}
            res.gaps.extend(Gap.from_dict(g) for g in data.get("gaps", []))
    if (d / "gaps.json").exists():
        res.gaps.extend(Gap.from_dict(g) for g in _seq(_json(d / "gaps.json")))
    if (d / "coverage.json").exists():
        cov = _json(d / "coverage.json")
        res.detectors = tuple(cov.get("detectors", ())) if isinstance(cov, dict) else None
    if (d / "summary.json").exists():
        summary = _json(d / "summary.json")
        res.summary = summary if isinstance(summary, dict) else {}
    return res


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []
