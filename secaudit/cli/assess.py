"""`secaudit assess CONFIG -o OUTDIR`: the main job (notebooks -> report)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["commands"]

_SEVERITIES = ["info", "low", "medium", "high", "critical", "none"]


@click.command("assess")
@click.argument("config", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "outdir",
    required=True,
    type=click.Path(path_type=Path),
    help="Output folder.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Report language (default: the config's).",
)
@click.option(
    "--fail-on",
    type=click.Choice(_SEVERITIES),
    default=None,
    help="Exit 1 if a finding is at or above this severity (default: the config's fail_on).",
)
@click.option(
    "--notebooks",
    "notebooks_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Notebook folder (default: the config's or the project's notebooks/).",
)
@click.option("--no-pdf", is_flag=True, help="Skip the PDF export.")
@click.option(
    "-j",
    "--workers",
    type=click.IntRange(1, 16),
    default=2,
    show_default=True,
    help="Notebooks run at once.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Dask distributed scheduler whose workers read the capture files (default: the "
    "config's scheduler, else here).",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not print the stage timings.")
def assess_cmd(
    config: Path, outdir: Path, lang: str | None, fail_on: str | None, notebooks_dir: Path | None,
    no_pdf: bool, workers: int, scheduler: str | None, quiet: bool,
) -> None:  # fmt: skip
    """Run the assessment described by CONFIG and write the report into OUTDIR."""
    from secaudit.report.assess import assess

    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    result = assess(
        config, outdir, lang=lang, fail_on=fail_on, notebooks_dir=notebooks_dir,
        workers=workers, pdf=False if no_pdf else None, log=log, scheduler=scheduler,
    )  # fmt: skip
    sys.exit(result.exit_code)


commands: list[click.Command] = [assess_cmd]
