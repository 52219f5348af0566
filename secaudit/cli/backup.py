"""`secaudit backup …`: audit restic repositories against backup.yaml (thin over secaudit.backup)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from secaudit.i18n import t
from secaudit.model import Severity, write_findings, write_gaps

__all__ = ["commands"]


def _lang() -> str:
    return "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"


def _check_now(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from secaudit.backup.restic import parse_time

    if value is None:
        return None
    try:
        parse_time(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    return value


@click.group("backup")
def backup() -> None:
    """Backup / disaster-recovery audit of restic repositories."""


@backup.command("audit")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--now", callback=_check_now, help="Audit reference time (ISO 8601, default: the clock)."
)
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Findings file (.json, .jsonl, .csv, .parquet).")  # fmt: skip
@click.option("--state", type=click.Path(dir_okay=False),
              help="Coverage ledger kept across audits: a DuckDB history store, or FILE.json "
                   "(default: history.duckdb beside -o).")  # fmt: skip
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default=None,
              help="Exit 1 when a finding has this severity or higher.")  # fmt: skip
@click.option("--repo", "only", multiple=True, help="Audit only these repositories (by name).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def audit_cmd(
    config: str,
    now: str | None,
    out: str,
    state: str | None,
    fail_on: str | None,
    only: tuple[str, ...],
    quiet: bool,
) -> None:
    """Audit every repository in CONFIG; writes findings, gaps, scorecard and the ledger."""
    from secaudit.backup import backup_audit

    out_path = Path(out)
    folder = out_path.parent
    state_path = Path(state) if state else folder / "history.duckdb"
    result = backup_audit(config, now=now, state=state_path, only=only or None)
    write_findings(result.findings, out_path)
    write_gaps(result.gaps, folder / "backup_gaps.json")
    result.scorecard.to_csv(folder / "backup_scorecard.csv", index=False)
    lang = _lang()
    if not quiet:
        for row in result.scorecard.itertuples(index=False):
            status = t(f"backup.status.{row.status}", lang)
            group = row.label if isinstance(row.label, str) else "-"  # host:paths
            click.echo(f"{status:6} {row.repo!s:24} {group}  {row.why}")
        click.echo(t("backup.cli.scorecard", lang, **result.summary()))
        click.echo(t("backup.cli.written", lang, findings=len(result.findings),
                     gaps=len(result.gaps), out=out_path))  # fmt: skip
    if fail_on is not None:
        bar = Severity.parse(fail_on).rank
        if any(f.severity.rank >= bar for f in result.findings):
            sys.exit(1)


@backup.command("snapshots")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--repo", "only", multiple=True, help="Only these repositories (by name).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
def snapshots_cmd(config: str, only: tuple[str, ...], as_json: bool) -> None:
    """List the snapshots of the configured repositories (the `snapshots` table)."""
    from secaudit.backup.audit import RepoResult, snapshots_frame
    from secaudit.backup.policy import load_policy
    from secaudit.backup.restic import Restic

    _, pols = load_policy(config)
    results = {}
    for pol in pols:
        if only and pol.name not in only:
            continue
        res = RepoResult(pol)
        res.snapshots = Restic(pol.access, timeouts=pol.timeouts).snapshots()
        results[pol.name] = res
    df = snapshots_frame(results)
    if as_json:
        for rec in df.to_dict("records"):
            rec = {k: None if isinstance(v, float) and v != v else v for k, v in rec.items()}
            rec["time"] = rec["time"].isoformat()
            rec["paths"] = list(rec["paths"])
            rec["tags"] = list(rec["tags"]) if rec["tags"] is not None else []
            click.echo(json.dumps(rec, ensure_ascii=False, default=str))
    else:
        cols = ["repo", "short_id", "time", "host", "paths", "tags"]
        click.echo(df[cols].to_string(index=False) if len(df) else "(no snapshots)")


commands: list[click.Command] = [backup]
