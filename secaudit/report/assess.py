"""`secaudit assess`: run the notebooks, collect findings and gaps, judge controls, write the report.

Stages (each timed and reported through `log`): config, inputs, notebooks,
collect, verdicts, history, exports, html, pdf.  Nothing the inputs lack
crashes the run: a missing input, a missing or failing notebook, an
unreadable result all become Gaps and "not tested" controls.
"""

from __future__ import annotations

import csv
import hashlib
import io
import platform
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from secaudit.capture.files import capture_files
from secaudit.errors import SecauditError
from secaudit.i18n import t
from secaudit.model import (
    CSV_ENCODING,
    Finding,
    Gap,
    ResultDisplay,
    Severity,
    write_findings,
    write_gaps,
)
from secaudit.report.config import AssessmentConfig, load_assessment, run_backup_builder
from secaudit.report.contract import load_results
from secaudit.report.controls import Catalogue, load_controls
from secaudit.report.history import Comparison, History
from secaudit.report.notebooks import (
    DEFAULT_DIR,
    NotebookRun,
    area_of,
    discover,
    export_html,
    run_notebooks,
)
from secaudit.report.render import (
    bar_svg,
    compact_json,
    html_to_pdf,
    lines_svg,
    read_figure,
    render_html,
    svg_uri,
)
from secaudit.report.verdicts import ControlVerdict, Coverage, Verdict, compute_verdicts

__all__ = ["AREA_NOTEBOOKS", "AssessResult", "assess"]

# the areas the report expects; a missing notebook is a Gap (its controls "not tested")
AREA_NOTEBOOKS = (
    "traffic_overview",
    "links",
    "signatures",
    "behavior_faults",
    "exposure_trust",
    "backup_dr",
)
CHAPTERS: dict[str, tuple[str, ...]] = {
    "links": ("external_link", "internal_link"),
    "faults": ("fault",),
    "malware": ("malware",),
    "attacks": ("attack",),
    "exposure_trust": ("exposure", "trust"),
    "backup": ("backup",),
}
# notebooks whose summary.json is shown in a chapter (traffic_overview has its own section)
AREA_CHAPTER = {
    "links": "links",
    "signatures": "malware",
    "behavior_faults": "attacks",
    "exposure_trust": "exposure_trust",
    "backup_dr": "backup",
}
SEVERITIES = ["critical", "high", "medium", "low", "info"]
SEV_COLORS = {
    "critical": "#7b1010",
    "high": "#c0392b",
    "medium": "#d68910",
    "low": "#2874a6",
    "info": "#7f8c8d",
}
VERDICTS = ["non_compliant", "partly", "compliant", "not_tested"]
VERDICT_COLORS = {
    "compliant": "#1e8449",
    "partly": "#b9770e",
    "non_compliant": "#c0392b",
    "not_tested": "#7f8c8d",
}

Log = Callable[[str], None]


@dataclass(repr=False)
class AssessResult(ResultDisplay):
    outdir: Path
    findings: list[Finding]
    gaps: list[Gap]
    verdicts: list[ControlVerdict]
    comparison: Comparison
    run_id: int
    exit_code: int
    timings: dict[str, float] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)


@dataclass
class InputFile:
    kind: str
    path: str
    present: bool
    size: int | None = None
    sha256: str | None = None


class _Stages:
    def __init__(self, log: Log, lang: str) -> None:
        self.log, self.lang = log, lang
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0
        self.log(t("report.stage", self.lang, stage=name, seconds=self.timings[name]))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_inputs(
    cfg: AssessmentConfig, outdir: Path, lang: str
) -> tuple[dict[str, Any], list[InputFile], list[Gap], set[str]]:
    """Resolve input paths; record presence + hashes; a missing one is a Gap."""
    inp = cfg.inputs
    files: list[InputFile] = []
    gaps: list[Gap] = []
    kinds: set[str] = set()

    def gap(kind: str, path: Path, area: str) -> None:
        msg = t("report.gap.missing_input", lang, input=kind, path=str(path))
        gaps.append(Gap("missing_input", str(path), msg, area=area, detail={"input": kind}))

    def file_entry(kind: str, path: Path, area: str) -> bool:
        if path.is_file():
            files.append(InputFile(kind, str(path), True, path.stat().st_size, _sha256(path)))
            return True
        files.append(InputFile(kind, str(path), False))
        gap(kind, path, area)
        return False

    pcaps = [p for p in (cfg.path(x) for x in inp.pcaps) if p is not None]
    # a folder is its capture files; one without any stays as it is: a missing input
    present = [
        f for p in pcaps for f in (capture_files(p) or [p]) if file_entry("pcap", f, "traffic")
    ]
    if present:
        kinds.add("pcap")
    elif not pcaps:
        gaps.append(
            Gap(
                "missing_input",
                str(cfg.source),
                "no pcaps configured",
                area="traffic",
                detail={"input": "pcap"},
            )
        )

    def dir_entry(kind: str, path: Path | None, area: str) -> str | None:
        if path is None:
            return None
        if path.is_dir():
            names = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            digest = hashlib.sha256()
            for p in names:
                digest.update(str(p.relative_to(path)).encode() + b"\0" + _sha256(p).encode())
            files.append(
                InputFile(
                    kind, str(path), True, sum(p.stat().st_size for p in names), digest.hexdigest()
                )
            )
            kinds.add(kind)
            return str(path)
        files.append(InputFile(kind, str(path), False))
        gap(kind, path, area)
        return None

    policy_dir = dir_entry("policy", cfg.path(inp.policy_dir), "links")
    rules_dir = dir_entry("rules", cfg.path(inp.rules_dir), "signatures")
    scan = cfg.path(inp.scan_xml)
    scan_xml = str(scan) if scan is not None and file_entry("scan", scan, "exposure") else None
    if scan_xml:
        kinds.add("scan")
    base = cfg.path(inp.baseline_xml)
    baseline_xml = (
        str(base) if base is not None and file_entry("scan_baseline", base, "exposure") else None
    )

    backup = cfg.path(inp.backup_config)
    built = outdir / "inputs" / "backup" / "backup.yaml"
    if (backup is None or not backup.is_file()) and inp.backup_builder and built.is_file():
        backup = built  # built by an earlier run into this output folder: same repositories
    elif (backup is None or not backup.is_file()) and inp.backup_builder:
        try:
            backup = run_backup_builder(cfg, built.parent)
        except (SecauditError, OSError) as exc:
            gaps.append(
                Gap(
                    "input_build_failed",
                    inp.backup_builder,
                    str(exc),
                    area="backup",
                    detail={"input": "backup"},
                )
            )
    backup_config = (
        str(backup) if backup is not None and file_entry("backup", backup, "backup") else None
    )
    if backup_config:
        kinds.add("backup")

    params = {
        "pcaps": [str(p) for p in present],
        "policy_dir": policy_dir,
        "rules_dir": rules_dir,
        "scan_xml": scan_xml,
        "baseline_xml": baseline_xml,
        "scan_vantage": inp.scan_vantage or "",
        "history_db": str(cfg.path(cfg.output.history) or (outdir / "history.duckdb")),
        "backup_config": backup_config,
        "now": cfg.evaluation_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    return params, files, gaps, kinds


def _tool_versions() -> list[tuple[str, str]]:
    out = [("python", platform.python_version()), ("platform", platform.platform())]
    for pkg in (
        "secaudit",
        "numpy",
        "numba",
        "pandas",
        "pyarrow",
        "scapy",
        "papermill",
        "duckdb",
        "jinja2",
        "hyperscan",
        "yara-python",
    ):
        try:
            out.append((pkg, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            out.append((pkg, "-"))
    for tool, args in (
        ("restic", ["version"]),
        ("nmap", ["--version"]),
        ("chromium", ["--version"]),
    ):
        exe = shutil.which(tool)
        if not exe:
            out.append((tool, "-"))
            continue
        try:
            proc = subprocess.run(
                [exe, *args], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
            )
            out.append((tool, (proc.stdout.strip().splitlines() or ["?"])[0]))
        except (OSError, subprocess.TimeoutExpired):
            out.append((tool, "?"))
    return out


def _rule_versions(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        if not path.exists():
            continue
        files = (
            [path]
            if path.is_file()
            else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        )
        digest = hashlib.sha256()
        for p in files:
            digest.update(_sha256(p).encode())
        version = "-"
        try:
            where = path if path.is_dir() else path.parent
            proc = subprocess.run(
                ["git", "-C", str(where), "log", "-1", "--format=%h %cI", "--", str(path)],
                capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if proc.returncode == 0 and proc.stdout.strip():
                version = "git " + proc.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
        rows.append(
            {
                "path": str(path),
                "files": len(files),
                "version": version,
                "sha256": digest.hexdigest()[:16],
            }
        )
    return rows


def _title(f: Finding, lang: str) -> str:
    """The finding's title in `lang` from the catalog (by detector), else the detector's text."""
    key = f"finding.{f.detector}.title"
    template = t(key, lang)
    if template == key:
        return f.title
    params = {
        **{k: v for k, v in f.evidence.items() if isinstance(v, (str, int, float))},
        **(f.evidence.get("title_params") or {}),
        "subject": f.subject,
        "count": f.count,
    }
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return f.title


def _finding_row(f: Finding, lang: str, status: str) -> dict[str, Any]:
    return {
        "id": f.id,
        "severity": f.severity.value,
        "title": _title(f, lang),
        "subject": f.subject,
        "first_seen": f.first_seen,
        "count": f.count,
        "detector": f.detector,
        "rule_id": f.rule_id,
        "controls": [c.replace("GB/T 22239-2019 ", "") for c in f.controls],
        "status": status,
        # title_params only re-title the finding (above); the reader needs the rest
        "evidence": compact_json({k: v for k, v in f.evidence.items() if k != "title_params"})
        if f.evidence
        else "",
    }


def _verdict_row(v: ControlVerdict, lang: str) -> dict[str, Any]:
    c = v.control
    sort = ".".join(f"{int(x):03d}" for x in c.clause.split("."))
    return {
        "id": c.id,
        "sort": sort,
        "area": c.area.get(lang),
        "text": c.text.get(lang),
        "unit": c.unit,
        "confidence": c.confidence,
        "verdict": v.verdict.value,
        "reason": t(v.reason, lang, **v.reason_params),
        "findings": list(v.findings[:8]) + (["…"] if len(v.findings) > 8 else []),
        "chapter": c.chapter,
    }


def _gap_row(g: Gap) -> dict[str, Any]:
    loc = ""
    if g.offset is not None:
        loc = f"@{g.offset}"
    elif g.line is not None:
        loc = f":{g.line}"
    return {
        "kind": g.kind,
        "source": g.source,
        "location": loc,
        "area": g.area,
        "message": g.message,
    }


def _overview(summary: dict[str, Any], area_dir: Path, lang: str) -> dict[str, Any] | None:
    """The traffic notebook's summary.json -> metrics, tables, figures for the report."""
    if not summary:
        return None
    metrics = [
        {
            "label": t(f"report.metric.{k}", lang)
            if t(f"report.metric.{k}", lang) != f"report.metric.{k}"
            else k,
            "value": v,
        }
        for k, v in (summary.get("metrics") or {}).items()
    ]
    tables = []
    for name, tbl in (summary.get("tables") or {}).items():
        if not isinstance(tbl, dict):
            continue
        key = f"report.table.{name}"
        title = t(key, lang)
        tables.append(
            {
                "title": name if title == key else title,
                "columns": [str(c) for c in tbl.get("columns", [])],
                "rows": tbl.get("rows", [])[:50],
            }
        )
    figures = []
    for fig in summary.get("figures") or []:
        file, title = _figure_in(fig, lang, area_dir)
        if not file or "/" in file or "\\" in file:
            continue
        uri = read_figure(area_dir / file)
        if uri:
            figures.append({"title": title, "uri": uri})
    return {"metrics": metrics, "tables": tables, "figures": figures}


def _figure_in(fig: Any, lang: str, area_dir: Path) -> tuple[str, str]:
    """(file, title) of a summary.json figure for a report in `lang`: its `by_lang` file and
    `title_key` text where the notebook left them, else its one file and title."""
    if not isinstance(fig, dict):
        return str(fig), str(fig)
    file = str(fig.get("file") or "")
    by_lang = fig.get("by_lang")
    if isinstance(by_lang, dict) and (area_dir / str(by_lang.get(lang) or "")).is_file():
        file = str(by_lang[lang])
    key = fig.get("title_key")
    if isinstance(key, str) and t(key, lang) != key:
        return file, t(key, lang)
    return file, str(fig.get("title", file))


def _chapter_summaries(
    chapter: str, summaries: dict[str, dict[str, Any]], out: Path, lang: str
) -> list[dict[str, Any]]:
    """Metrics/tables/figures an area notebook left in summary.json, for its chapter."""
    blocks = []
    for area, ch in AREA_CHAPTER.items():
        ov = _overview(summaries.get(area, {}), out / area, lang) if ch == chapter else None
        if ov and (ov["metrics"] or ov["tables"] or ov["figures"]):
            blocks.append(ov)
    return blocks


def _write_controls_csv(verdicts: list[ControlVerdict], gaps: list[Gap], path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "control",
            "clause",
            "unit",
            "confidence",
            "chapter",
            "verdict",
            "verdict_zh",
            "reason",
            "worst_severity",
            "findings",
            "gaps",
        ]
    )
    for v in verdicts:
        w.writerow([
            v.control.id, v.control.clause, v.control.unit, v.control.confidence, v.control.chapter,
            v.verdict.value, t(f"report.verdict.{v.verdict.value}", "zh"), t(v.reason, "en", **v.reason_params),
            v.worst.value if v.worst else "", ";".join(v.findings), ";".join(gaps[i].kind + ":" + gaps[i].source for i in v.gaps),
        ])  # fmt: skip
    path.write_text(buf.getvalue(), encoding=CSV_ENCODING)


def assess(
    config: str | Path,
    outdir: str | Path,
    *,
    lang: str | None = None,
    fail_on: str | None = None,
    notebooks_dir: str | Path | None = None,
    workers: int = 2,
    pdf: bool | None = None,
    log: Log | None = None,
    scheduler: str | None = None,
) -> AssessResult:
    """Run the whole assessment; returns what was written and the exit code for --fail-on.

    `scheduler` (or the config's): a Dask scheduler whose workers read the capture files."""
    log = log or (lambda _msg: None)
    started = datetime.now(UTC)
    t_start = time.perf_counter()
    out = Path(outdir).resolve()  # notebooks run in their own folder: give them absolute paths
    stages = _Stages(log, lang or "en")
    with stages.stage("config"):
        cfg = load_assessment(config)
        lang = lang or cfg.language
        stages.lang = lang
        catalogue: Catalogue = load_controls(cfg.path(cfg.inputs.controls))
        out.mkdir(parents=True, exist_ok=True)
    with stages.stage("inputs"):
        params, input_files, gaps, kinds = _check_inputs(cfg, out, lang)
        params["lang"] = lang
        params["scheduler"] = scheduler or cfg.scheduler or ""
    with stages.stage("notebooks"):
        nb_dir = (
            Path(notebooks_dir) if notebooks_dir else (cfg.path(cfg.notebooks_dir) or DEFAULT_DIR)
        )
        found = discover(nb_dir) if nb_dir.is_dir() else []
        found_areas = {area_of(p) for p in found}
        runs: list[NotebookRun] = run_notebooks(found, out, params, workers=workers)
        for area in AREA_NOTEBOOKS:
            if area not in found_areas:
                gaps.append(
                    Gap(
                        "notebook_missing",
                        str(nb_dir),
                        t("report.gap.notebook_missing", lang, area=area),
                        area=area,
                    )
                )
        gaps.extend(r.gap for r in runs if r.gap is not None)
        if cfg.output.notebooks_html:
            for r in runs:
                export_html(r.executed)
    with stages.stage("collect"):
        findings: dict[str, Finding] = {}
        detectors: dict[str, tuple[str, ...] | None] = {}
        summaries: dict[str, dict[str, Any]] = {}
        areas_ok: set[str] = set()
        for r in runs:
            if not r.ok:
                continue
            if not (out / r.area / "findings.json").is_file():
                msg = t("report.gap.results_missing", lang, area=r.area)
                gaps.append(Gap("results_missing", str(out / r.area), msg, area=r.area))
                continue
            try:
                res = load_results(out / r.area, r.area)
            except SecauditError as exc:
                gaps.append(Gap("results_unreadable", str(out / r.area), str(exc), area=r.area))
                continue
            areas_ok.add(r.area)
            detectors[r.area] = res.detectors
            summaries[r.area] = res.summary
            for f in res.findings:
                findings.setdefault(f.id, f)
            gaps.extend(res.gaps)
        all_findings = sorted(
            findings.values(), key=lambda f: (-f.severity.rank, -f.count, f.rule_id, f.subject)
        )
    with stages.stage("verdicts"):
        coverage = Coverage(frozenset(kinds), frozenset(areas_ok), detectors)
        verdicts = compute_verdicts(catalogue, all_findings, gaps, coverage)
    with stages.stage("history"):
        hist_path = cfg.path(cfg.output.history) or (out / "history.duckdb")
        history = History(hist_path)
        try:
            comparison = history.compare(all_findings)
            run_id = history.record(
                started, cfg.organisation.en, str(cfg.source), all_findings, len(gaps), verdicts,
                [(r.area, r.ok, r.seconds) for r in runs],
            )  # fmt: skip
            trend = history.trend()
        finally:
            history.close()
    with stages.stage("exports"):
        for suffix in ("json", "csv", "parquet"):
            write_findings(all_findings, out / f"findings.{suffix}")
        write_gaps(gaps, out / "gaps.json")
        _write_controls_csv(verdicts, gaps, out / "controls.csv")
    langs = cfg.languages(lang)
    reports: dict[str, Path] = {}
    new_ids = set(comparison.new)
    with stages.stage("html"):
        tools = _tool_versions()
        rule_paths = [
            p
            for p in (
                cfg.path(cfg.inputs.rules_dir),
                cfg.path(cfg.inputs.policy_dir),
                cfg.path(cfg.inputs.controls),
            )
            if p is not None
        ]
        if cfg.inputs.controls is None:
            from secaudit.report.controls import DEFAULT_CONTROLS

            rule_paths.append(DEFAULT_CONTROLS)
        rules = _rule_versions(rule_paths)
        for i, lg in enumerate(langs):
            ctx = _context(
                cfg,
                lg,
                catalogue,
                all_findings,
                gaps,
                verdicts,
                comparison,
                trend,
                runs,
                found_areas,
                input_files,
                rules,
                tools,
                summaries,
                out,
                run_id,
                started,
                new_ids,
                hist_path,
            )
            html = render_html(ctx, lg)
            path = out / f"report.{lg}.html"
            path.write_text(html, encoding="utf-8")
            reports[f"html.{lg}"] = path
            if i == 0:
                (out / "report.html").write_text(html, encoding="utf-8")
                reports["html"] = out / "report.html"
    with stages.stage("pdf"):
        if cfg.output.pdf if pdf is None else pdf:
            for i, lg in enumerate(langs):
                target = out / f"report.{lg}.pdf"
                html_to_pdf(reports[f"html.{lg}"], target)
                reports[f"pdf.{lg}"] = target
                if i == 0:
                    shutil.copyfile(target, out / "report.pdf")
                    reports["pdf"] = out / "report.pdf"
    threshold = fail_on or str(cfg.fail_on)
    exit_code = 0
    if threshold != "none":
        sev = Severity.parse(threshold)
        hits = [f for f in all_findings if f.severity.rank >= sev.rank]
        if hits:
            exit_code = 1
            log(t("report.fail_on", lang, count=len(hits), severity=sev.value))
    log(
        t(
            "report.done",
            lang,
            path=str(reports.get("html", out)),
            findings=len(all_findings),
            gaps=len(gaps),
            seconds=time.perf_counter() - t_start,
        )
    )
    return AssessResult(
        out, all_findings, gaps, verdicts, comparison, run_id, exit_code, stages.timings, reports
    )


def _context(
    cfg: AssessmentConfig, lang: str, catalogue: Catalogue, findings: list[Finding], gaps: list[Gap],
    verdicts: list[ControlVerdict], comparison: Comparison, trend: Any, runs: list[NotebookRun],
    found_areas: set[str], input_files: list[InputFile], rules: list[dict[str, Any]],
    tools: list[tuple[str, str]], summaries: dict[str, dict[str, Any]], out: Path, run_id: int,
    started: datetime, new_ids: set[str], hist_path: Path,
) -> dict[str, Any]:  # fmt: skip
    rows = {f.id: _finding_row(f, lang, "new" if f.id in new_ids else "open") for f in findings}
    sev_counts = {s: sum(f.severity.value == s for f in findings) for s in SEVERITIES}
    verdict_rows = [_verdict_row(v, lang) for v in verdicts]
    verdict_counts = {v: sum(r["verdict"] == v for r in verdict_rows) for v in VERDICTS}
    chapters = []
    for key, cats in CHAPTERS.items():
        ch_findings = [rows[f.id] for f in findings if f.category.value in cats]
        areas = {a for v in verdicts if v.control.chapter == key for a in v.control.areas} | set(
            cats
        )
        chapters.append({
            "key": key,
            "title": t(f"report.chapter.{key}", lang),
            "intro": t(f"report.chapter.intro.{key}", lang),
            "findings": ch_findings,
            "verdicts": [r for r in verdict_rows if r["chapter"] == key],
            "gaps": [_gap_row(g) for g in gaps if g.area in areas],
            "summaries": _chapter_summaries(key, summaries, out, lang),
        })  # fmt: skip
    cat_counts = [len(c["findings"]) for c in chapters]
    summary_figs = [
        {"title": t("report.plot.severity", lang), "uri": svg_uri(bar_svg([t(f"severity.{s}", lang) for s in SEVERITIES], [sev_counts[s] for s in SEVERITIES], t("report.plot.severity", lang), [SEV_COLORS[s] for s in SEVERITIES]))},
        {"title": t("report.plot.category", lang), "uri": svg_uri(bar_svg([str(c["title"]) for c in chapters], cat_counts, t("report.plot.category", lang)))},
    ]  # fmt: skip
    trend_figs = []
    if len(trend) >= 2:
        x = [f"#{int(r)}" for r in trend["run_id"]]
        trend_figs = [
            {"title": t("report.plot.trend_findings", lang), "uri": svg_uri(lines_svg(x, {t(f"severity.{s}", lang): [int(v) for v in trend[s]] for s in SEVERITIES}, {t(f"severity.{s}", lang): SEV_COLORS[s] for s in SEVERITIES}, t("report.plot.trend_findings", lang)))},
            {"title": t("report.plot.trend_controls", lang), "uri": svg_uri(lines_svg(x, {t(f"report.verdict.{v}", lang): [int(n) for n in trend[v].fillna(0)] for v in VERDICTS}, {t(f"report.verdict.{v}", lang): VERDICT_COLORS[v] for v in VERDICTS}, t("report.plot.trend_controls", lang)))},
        ]  # fmt: skip
    fixed = []
    for rec in comparison.fixed.to_dict("records") if len(comparison.fixed) else []:
        f = Finding(
            rule_id=rec["rule_id"],
            detector=rec["detector"],
            category=rec["category"],
            severity=rec["severity"],
            title=rec["title"],
            subject=rec["subject"],
            id=rec["id"],
        )
        fixed.append(_finding_row(f, lang, "fixed"))
    nb_rows = [
        {
            "name": r.notebook.name,
            "area": r.area,
            "ok": r.ok,
            "skipped": False,
            "seconds": r.seconds,
            "path": str(r.executed.relative_to(out))
            if r.executed.is_relative_to(out)
            else str(r.executed),
        }
        for r in runs
    ]
    nb_rows += [
        {"name": "-", "area": a, "ok": False, "skipped": True, "seconds": 0.0, "path": ""}
        for a in AREA_NOTEBOOKS
        if a not in found_areas
    ]
    traffic = summaries.get("traffic_overview", {})
    period = f"{cfg.period.start.astimezone(UTC):%Y-%m-%d %H:%M} – {cfg.period.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return {
        "org": cfg.organisation.get(lang),
        "scope": cfg.scope.get(lang),
        "assessor": cfg.assessor.get(lang) if cfg.assessor else "",
        "period": period,
        "generated": f"{started:%Y-%m-%d %H:%M} UTC",
        "run_id": run_id,
        "n_findings": len(findings),
        "n_high": sev_counts["critical"] + sev_counts["high"],
        "n_tested": sum(v.verdict != Verdict.NOT_TESTED for v in verdicts),
        "severities": SEVERITIES,
        "sev_counts": sev_counts,
        "sev_rank": {s: Severity(s).rank for s in SEVERITIES},
        "verdict_order": VERDICTS,
        "verdict_counts": verdict_counts,
        "verdict_rank": {v: i for i, v in enumerate(VERDICTS)},
        "summary_figs": summary_figs,
        "trend_figs": trend_figs,
        "comparison": comparison,
        "fixed": fixed,
        "history_name": hist_path.name,
        "top": [rows[f.id] for f in findings[:10]],
        "verdicts": verdict_rows,
        "overview": _overview(traffic, out / "traffic_overview", lang),
        "chapters": chapters,
        "gaps": [_gap_row(g) for g in gaps],
        "inputs": input_files,
        "rule_versions": rules,
        "tool_versions": tools,
        "notebooks": nb_rows,
        "low_confidence": [r for r in verdict_rows if r["confidence"] != "A"],
    }
