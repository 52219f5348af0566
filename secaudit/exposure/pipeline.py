"""One call from files to findings: what `secaudit exposure audit` and the notebook run.

Loads the scan (and optional baseline), the exposure and trust rules and the
policy, then runs the exposure detectors, the baseline-diff findings and the
certificate / TLS checks.  Kept apart from the detectors so they stay pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from secaudit.errors import InputError
from secaudit.exposure.assets import AssetView, asset_view
from secaudit.exposure.audit import audit_scan, diff_findings
from secaudit.exposure.config import load_exposure_config
from secaudit.exposure.diff import diff_scans
from secaudit.exposure.nmap_xml import read_nmap_xml
from secaudit.model import Finding, Gap
from secaudit.trust.certs import (
    check_certificates,
    scan_names,
    scan_tls_offers,
    tls_offer_findings,
    x509_from_scan,
)
from secaudit.trust.config import load_trust_config

__all__ = ["audit_files", "load_assets", "parse_now"]


def parse_now(now: str | datetime | None) -> datetime:
    """--now value -> aware UTC datetime (default: the current time)."""
    if now is None or now == "":
        return datetime.now(UTC)
    if isinstance(now, datetime):
        return now if now.tzinfo else now.replace(tzinfo=UTC)
    try:
        dt = datetime.fromisoformat(now.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now: expected an ISO 8601 time, got {now!r}", "--now") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def load_assets(policy: str | Path | None) -> AssetView | None:
    """Zones/assets from a policy folder through secaudit.policy (None when no folder is given)."""
    if policy is None:
        return None
    from secaudit.policy import load_policy

    return asset_view(load_policy(policy))


def audit_files(
    xml: str | Path | None,
    *,
    pcaps: Sequence[str | Path] = (),
    config: str | Path = "rules/exposure.yaml",
    trust: str | Path | None = "rules/trust.yaml",
    policy: str | Path | None = None,
    baseline: str | Path | None = None,
    vantage: str | None = None,
    now: str | datetime | None = None,
    lang: str = "en",
) -> tuple[list[Finding], list[Gap]]:
    """Exposure + trust findings for a scan file and/or pcaps, and every Gap met on the way."""
    tcfg = load_trust_config(trust)
    when = parse_now(now)
    findings: list[Finding] = []
    gaps: list[Gap] = []
    if xml is not None:
        scan = read_nmap_xml(xml)
        cfg = load_exposure_config(config)
        assets = load_assets(policy)
        gaps += scan.gaps
        findings += audit_scan(scan, cfg, assets, vantage=vantage, lang=lang)
        if baseline is not None:
            base = read_nmap_xml(baseline)
            gaps += base.gaps
            findings += diff_findings(diff_scans(base, scan), scan, cfg, assets, lang=lang)
        findings += check_certificates(
            x509_from_scan(scan), tcfg, now=when, names=scan_names(scan), lang=lang
        )
        findings += tls_offer_findings(scan_tls_offers(scan), tcfg, lang=lang)
    if pcaps:
        from secaudit.policy import load_policy
        from secaudit.trust.audit import audit_pcaps

        raw_policy = load_policy(policy) if policy is not None else None
        pf, pg, _ = audit_pcaps(pcaps, tcfg, now=when, lang=lang, policy=raw_policy)
        findings += pf
        gaps += pg
    return findings, gaps
