"""`secaudit signatures -r PCAP -S RULES -l OUTDIR`: Suricata-style run, EVE JSON out."""

from __future__ import annotations

import os

import click

from secaudit.cli._options import read_captures

__all__ = ["commands"]


@click.command("signatures")
@read_captures
@click.option(
    "-S",
    "--rules",
    "rules",
    multiple=True,
    required=True,
    type=click.Path(),
    help="rules file or folder (repeatable)",
)
@click.option(
    "-l", "--logdir", "outdir", required=True, type=click.Path(), help="output folder for eve.json"
)
@click.option(
    "--vars", "vars_file", type=click.Path(), default=None, help="address/port variables YAML"
)
@click.option(
    "-k",
    "--checksum",
    "checksum",
    type=click.Choice(["auto", "all", "none"]),
    default="auto",
    help="checksum validation (like Suricata's -k)",
)
@click.option(
    "--yara",
    "yara",
    multiple=True,
    type=click.Path(),
    help="YARA rules file or folder: carve files (HTTP, SMTP, FTP) into OUTDIR/files.csv and scan "
    "them; carving runs the Python engine on every flow (slower than rules alone)",
)
@click.option(
    "--iocs",
    "iocs",
    multiple=True,
    type=click.Path(),
    help="indicator CSV file or folder (file hashes need carving, as with --yara)",
)
@click.option(
    "--findings", "findings_out", type=click.Path(), default=None, help="also write Findings (json)"
)
def signatures_cmd(
    pcaps: list[str],  # capture files (read_captures expands folders)
    rules: tuple[str, ...],
    outdir: str,
    vars_file: str | None,
    checksum: str,
    yara: tuple[str, ...],
    iocs: tuple[str, ...],
    findings_out: str | None,
) -> None:
    """Run Suricata-syntax rules over captures; writes OUTDIR/eve.json (exit 0 when it ran).

    Rules the compiled tier can decide run there (numba + libhyperscan); every other rule runs
    in the Python engine on the flows where it could match.  Files are carved only with
    --yara/--iocs.
    """
    from secaudit.i18n import t
    from secaudit.model import write_findings, write_gaps
    from secaudit.signatures.api import signatures

    os.makedirs(outdir, exist_ok=True)
    lang = "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"
    res = signatures(
        pcaps,
        list(rules),
        vars_file=vars_file,
        checksum=checksum,
        eve_path=os.path.join(outdir, "eve.json"),
        yara=list(yara) or None,
        iocs=list(iocs) or None,
    )
    if len(res.carved):
        res.carved.to_csv(os.path.join(outdir, "files.csv"), index=False)
    if res.gaps:
        write_gaps(res.gaps, os.path.join(outdir, "gaps.json"))
    if findings_out:
        write_findings(res.findings, findings_out)
    click.echo(t("signatures.cli.done", lang, alerts=len(res.alerts), gaps=len(res.gaps)), err=True)


commands = [signatures_cmd]
