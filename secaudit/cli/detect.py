"""`secaudit detect` and `secaudit detectors`: thin wrappers over secaudit.detect."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from secaudit.cli._options import read_captures
from secaudit.i18n import t
from secaudit.model import Severity, write_findings, write_gaps

__all__ = ["commands"]

_SEVERITIES = [s.value for s in Severity]


def _lang() -> str:
    return "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"


def gaps_path(findings_path: Path) -> Path:
    """Where the gaps go: FINDINGS.gaps.json beside the findings file."""
    return findings_path.with_name(findings_path.stem + ".gaps.json")


@click.command("detect")
@read_captures
@click.option(
    "--policy",
    "policy_dir",
    type=click.Path(file_okay=False),
    help="Policy folder (zones/assets/links.yaml); without it, policy detectors are skipped.",
)
@click.option("--only", help="Comma-separated detector names to run (see `secaudit detectors`).")
@click.option(
    "--thresholds",
    type=click.Path(dir_okay=False),
    help="YAML overriding rules/detect.yaml settings.",
)
@click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES),
    default=None,
    help="Exit 1 when a finding has this severity or higher.",
)
@click.option(
    "--verify-checksums",
    is_flag=True,
    help="Skip packets with bad checksums like Zeek (default: analyze them, since "
    "endpoint captures show offloaded checksums).",
)
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Language of titles.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Findings file (.json array, .jsonl, .csv, .parquet); gaps go to NAME.gaps.json.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask distributed scheduler (tcp://host:8786): each capture file is read by a "
    "worker, the detectors run here on the merged tables. Files must be readable at the "
    "same path on the workers.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def detect_cmd(
    pcaps: list[str],  # capture files (read_captures expands folders)
    policy_dir: str | None,
    only: str | None,
    thresholds: str | None,
    fail_on: str | None,
    verify_checksums: bool,
    lang: str | None,
    output: str,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Run the behavioural (and, with --policy, the links) detectors on captures."""
    from secaudit.detect.run import detect

    lang = lang or _lang()
    res = detect(
        pcaps,
        policy_dir,
        only=only,
        thresholds=thresholds,
        lang=lang,
        ignore_checksums=not verify_checksums,
        quiet=quiet,
        scheduler=scheduler,
    )
    out = Path(output)
    write_findings(res.findings, out)
    gpath = write_gaps(res.gaps, gaps_path(out))
    click.echo(
        t("detect.cli.summary", lang, findings=len(res.findings), gaps=len(res.gaps),
          out=str(out), gaps_out=str(gpath)),
        err=True,
    )  # fmt: skip
    if fail_on is not None:
        limit = Severity.parse(fail_on).rank
        if any(f.severity.rank >= limit for f in res.findings):
            sys.exit(1)


@click.command("detectors")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--thresholds", type=click.Path(dir_okay=False), help="Show settings with this file applied."
)
def detectors_cmd(as_json: bool, thresholds: str | None) -> None:
    """List the registered detectors with their category, inputs and thresholds."""
    from secaudit.detect.config import load_thresholds
    from secaudit.detect.run import load_detectors, load_errors

    specs = load_detectors()
    settings = load_thresholds(thresholds).as_mapping()
    rows = [
        {
            "name": s.name,
            "category": s.category.value,
            "needs": list(s.needs),
            "description": s.description,
            "thresholds": settings.get(s.name, {}),
        }
        for s in (specs[k] for k in sorted(specs))
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        for r in rows:
            click.echo(f"{r['name']:<24} {r['category']:<14} {r['description']}")
            click.echo(f"{'':<24} {t('detect.cli.reads', _lang())}: {', '.join(r['needs'])}")
            if r["thresholds"]:
                click.echo(f"{'':<24} {json.dumps(r['thresholds'], ensure_ascii=False)}")
    for g in load_errors():
        click.echo(f"{t('detect.cli.load_error', _lang())}: {g.message}", err=True)


commands: list[click.Command] = [detect_cmd, detectors_cmd]
