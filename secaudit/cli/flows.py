"""`secaudit flows`: captures -> OUTDIR/conn.log (+ gaps.json), like `zeek -r`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from secaudit.cli._options import read_captures
from secaudit.i18n import t

__all__ = ["commands"]


def _lang() -> str:
    return "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"


@click.command("flows")
@read_captures
@click.option(
    "-l", "--logdir", required=True, type=click.Path(file_okay=False), help="output directory"
)
@click.option(
    "--format", "fmt", type=click.Choice(["zeek", "json", "parquet"]), default="zeek",
    show_default=True,
    help="conn.log as Zeek TSV or JSON lines (both named conn.log), or conn.parquet",
)  # fmt: skip
@click.option(
    "-C", "--ignore-checksums", is_flag=True, help="analyze packets with bad checksums (zeek -C)"
)
@click.option(
    "-b", "bare", is_flag=True, hidden=True, help="accepted for zeek compatibility; no effect"
)
@click.option(
    "--local-nets",
    default=None,
    help="comma-separated CIDRs that are local (local_orig/local_resp)",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask distributed scheduler (tcp://host:8786): each capture file is tracked by a "
    "worker and written here in file order (files must be readable at the same path there)",
)
@click.option("-q", "--quiet", is_flag=True, help="no progress bar")
def flows_cmd(
    pcaps: list[str],  # capture files (read_captures expands folders)
    logdir: str,
    fmt: str,
    ignore_checksums: bool,
    bare: bool,
    local_nets: str | None,
    scheduler: str | None,
    quiet: bool,
) -> None:
    """Build Zeek-compatible connection records from captures."""
    from secaudit.flows import write_flows
    from secaudit.model import write_gaps

    lang = _lang()
    nets = [n.strip() for n in local_nets.split(",") if n.strip()] if local_nets else None
    if nets:
        import ipaddress

        for n in nets:
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--local-nets") from exc
    out = Path(logdir)
    out.mkdir(parents=True, exist_ok=True)
    name = "conn.parquet" if fmt == "parquet" else "conn.log"
    # streamed batch by batch: memory stays flat whatever the capture size
    res = write_flows(
        pcaps,
        out / name,
        fmt,  # type: ignore[arg-type]
        ignore_checksums=ignore_checksums,
        local_nets=nets,
        quiet=quiet,
        scheduler=scheduler,
    )
    write_gaps(res.gaps, out / "gaps.json")
    for g in res.gaps:
        click.echo(
            t("flows.gap_line", lang, kind=g.kind, source=g.source, message=g.message), err=True
        )
    if not quiet:
        click.echo(
            t(
                "flows.summary",
                lang,
                conns=res.conns,
                packets=res.packets,
                path=str(out / name),
            ),
            err=True,
        )


commands = [flows_cmd]
