"""`secaudit scan` and `secaudit exposure import|diff|audit`: thin wrappers over secaudit.exposure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from secaudit.i18n import t

__all__ = ["commands"]


def _lang() -> str:
    from secaudit.cli import _lang as root_lang

    return root_lang()


def _echo_json(obj: object) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=1, default=str))


@click.group("exposure")
def exposure() -> None:
    """Import nmap XML, diff scans against a baseline, audit exposure and certificates."""


@exposure.command("import")
@click.argument("xml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print hosts and gaps as JSON.")
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), help="Write hosts/services .parquet here."
)
def import_cmd(xml: Path, as_json: bool, out: Path | None) -> None:
    """Read an nmap -oX file (hostile XML refused; interrupted scans keep complete hosts)."""
    from secaudit.exposure import hosts_table, read_nmap_xml, services_table

    scan = read_nmap_xml(xml)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        hosts_table(scan).to_parquet(out / "hosts.parquet", index=False)
        services_table(scan).to_parquet(out / "services.parquet", index=False)
    if as_json:
        d = scan.to_dict()
        _echo_json({"hosts": d["hosts"], "gaps": d["gaps"], "scan": {
            k: d[k] for k in ("source", "scanner", "args", "version", "start", "end", "complete")
        }})  # fmt: skip
    else:
        up = sum(1 for h in scan.hosts if h.state == "up")
        ports = sum(1 for h in scan.hosts for p in h.ports if p.state == "open")
        click.echo(t("exposure.import.summary", _lang(), hosts=len(scan.hosts), up=up, open=ports))
    for gap in scan.gaps:
        click.echo(f"{t('exposure.gap', _lang())}: {gap.message}", err=True)


@exposure.command("diff")
@click.argument("old", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """Compare two scans like ndiff: exit 0 same, 1 different."""
    from secaudit.exposure import diff_scans, read_nmap_xml

    a, b = read_nmap_xml(old), read_nmap_xml(new)
    d = diff_scans(a, b)
    if as_json:
        out = d.to_dict()
        out["gaps"] = [g.to_dict() for g in a.gaps + b.gaps]
        _echo_json(out)
    else:
        from secaudit.exposure.report import diff_text

        click.echo(diff_text(d, _lang()))
    for gap in a.gaps + b.gaps:
        click.echo(f"{t('exposure.gap', _lang())}: {gap.message}", err=True)
    sys.exit(1 if d.any_difference else 0)


_SEVERITIES = ["info", "low", "medium", "high", "critical", "none"]


@click.command("scan")
@click.argument("targets", nargs=-1, required=True)
@click.option("--profile", default="services", show_default=True, help="Profile in the config.")
@click.option(
    "-o", "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Where nmap writes its XML (always kept).",
)  # fmt: skip
@click.option(
    "--config", "config", default="rules/exposure.yaml", show_default=True,
    type=click.Path(dir_okay=False, path_type=Path), help="Allow-list and profiles.",
)  # fmt: skip
@click.option("-p", "--ports", help="Port list overriding the profile's (nmap -p syntax).")
@click.option("--no-ping", "-Pn", "no_ping", is_flag=True, help="Skip host discovery (nmap -Pn).")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def scan_cmd(
    targets: tuple[str, ...],
    profile: str,
    out: Path,
    config: Path,
    ports: str | None,
    no_ping: bool,
    quiet: bool,
) -> None:
    """Run nmap on TARGETS (only inside the config's allow-list; else exit 2 before nmap starts)."""
    from secaudit.exposure.config import load_exposure_config
    from secaudit.exposure.scan import run_scan

    cfg = load_exposure_config(config)
    result = run_scan(list(targets), profile, out, cfg, ports=ports, no_ping=no_ping, quiet=quiet)
    for gap in result.scan.gaps:
        click.echo(f"{t('exposure.gap', _lang())}: {gap.message}", err=True)
    if result.returncode != 0:
        sys.exit(2)


@exposure.command("audit")
@click.argument("xml", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option(
    "-r",
    "--pcap",
    "pcaps",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Capture(s): certificates and TLS from handshakes, cleartext logins.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Earlier scan: adds new_open_port / host_added / service_changed findings.",
)
@click.option(
    "--config",
    default="rules/exposure.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--trust",
    "trust_cfg",
    default="rules/trust.yaml",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--policy",
    type=click.Path(file_okay=False, path_type=Path),
    help="Policy folder (zones.yaml, assets.yaml) for zones and registration.",
)
@click.option("--vantage", help="Zone the scan was run from (e.g. internet, gov-internal).")
@click.option("--now", help="Reference time for certificate validity (ISO 8601; default: now).")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Findings file (.json/.jsonl/.csv/.parquet); default: JSON on stdout.",
)
@click.option("--gaps", "gaps_out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fail-on", type=click.Choice(_SEVERITIES), default="high", show_default=True)
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
def audit_cmd(
    xml: Path | None,
    pcaps: tuple[Path, ...],
    baseline: Path | None,
    config: Path,
    trust_cfg: Path,
    policy: Path | None,
    vantage: str | None,
    now: str | None,
    out: Path | None,
    gaps_out: Path | None,
    fail_on: str,
    lang: str | None,
) -> None:
    """Exposure and trust findings for a scan and/or pcaps (exit 1 at or above --fail-on)."""
    from secaudit.exposure.pipeline import audit_files
    from secaudit.model import Severity, write_findings, write_gaps

    lang = lang or _lang()
    if xml is None and not pcaps:
        raise click.UsageError("give a scan XML and/or -r PCAP")
    findings, gaps = audit_files(
        xml, pcaps=list(pcaps), config=config, trust=trust_cfg, policy=policy, baseline=baseline,
        vantage=vantage, now=now, lang=lang,
    )  # fmt: skip
    if out is not None:
        write_findings(findings, out)
    else:
        _echo_json([f.to_dict() for f in findings])
    if gaps_out is not None:
        write_gaps(gaps, gaps_out)
    for gap in gaps:
        click.echo(f"{t('exposure.gap', _lang())}: {gap.message}", err=True)
    click.echo(t("exposure.audit.summary", lang, findings=len(findings), gaps=len(gaps)), err=True)
    if fail_on != "none":
        limit = Severity(fail_on).rank
        if any(f.severity.rank >= limit for f in findings):
            sys.exit(1)


commands: list[click.Command] = [exposure, scan_cmd]
