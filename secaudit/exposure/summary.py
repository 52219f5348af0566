"""What notebooks/40_exposure_trust.ipynb shows, as library calls (so tests reach all of it).

`run_area` gathers everything from the assessment's inputs (scan, baseline,
pcaps, policy, rules); the table/figure helpers only reshape its result and
`save` writes the findings contract for `secaudit assess`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from secaudit.exposure.assets import INTERNET, AssetView
from secaudit.exposure.audit import DETECTORS as EXPOSURE_DETECTORS
from secaudit.exposure.audit import audit_scan, diff_findings
from secaudit.exposure.config import load_exposure_config
from secaudit.exposure.diff import ScanDiff, diff_scans
from secaudit.exposure.nmap_xml import NmapScan, read_nmap_xml
from secaudit.exposure.pipeline import parse_now
from secaudit.exposure.tables import services_table
from secaudit.i18n import t
from secaudit.model import Finding, Gap, ResultDisplay
from secaudit.plotfonts import cjk
from secaudit.trust.certs import (
    check_certificates,
    scan_names,
    scan_tls_offers,
    tls_offer_findings,
    x509_from_scan,
)
from secaudit.trust.config import load_trust_config

__all__ = [
    "AreaResult",
    "cert_inventory",
    "diff_table",
    "expiry_figure",
    "run_area",
    "save",
    "zone_table",
]

CERT_DETECTORS = (
    "cert_expired", "cert_not_yet_valid", "cert_expiring", "cert_self_signed",
    "cert_untrusted_issuer", "cert_weak_key", "cert_weak_signature", "cert_hostname_mismatch",
)  # fmt: skip
TLS_DETECTORS = ("tls_weak_version", "tls_weak_cipher")


@dataclass(repr=False)
class AreaResult(ResultDisplay):
    """Everything the exposure/trust chapter needs."""

    now: datetime
    scan: NmapScan | None = None
    diff: ScanDiff | None = None
    services: pd.DataFrame | None = None
    x509: pd.DataFrame | None = None
    sessions: pd.DataFrame | None = None
    assets: AssetView | None = None
    findings: list[Finding] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    detectors: set[str] = field(default_factory=set)
    inputs: list[str] = field(default_factory=list)


def _rules_file(rules_dir: str | Path | None, name: str) -> Path:
    if rules_dir:
        p = Path(rules_dir) / name
        if p.is_file():
            return p
    return Path(__file__).resolve().parents[2] / "rules" / name


def run_area(
    scan_xml: str | Path | None = None,
    baseline_xml: str | Path | None = None,
    pcaps: Sequence[str | Path] = (),
    policy_dir: str | Path | None = None,
    rules_dir: str | Path | None = None,
    now: str | datetime | None = None,
    lang: str = "en",
    vantage: str | None = None,
) -> AreaResult:
    """Run the exposure and trust audits on whatever inputs are given (missing ones become Gaps)."""
    res = AreaResult(now=parse_now(now))
    tcfg = load_trust_config(_rules_file(rules_dir, "trust.yaml"))
    policy = None
    if policy_dir:
        from secaudit.exposure.assets import asset_view
        from secaudit.policy import load_policy

        policy = load_policy(policy_dir)
        res.assets = asset_view(policy)
    x509_frames: list[pd.DataFrame] = []
    if scan_xml:
        cfg = load_exposure_config(_rules_file(rules_dir, "exposure.yaml"))
        res.scan = read_nmap_xml(scan_xml)
        res.inputs.append(str(scan_xml))
        res.gaps += res.scan.gaps
        res.services = services_table(res.scan)
        res.findings += audit_scan(res.scan, cfg, res.assets, vantage=vantage, lang=lang)
        res.detectors |= set(EXPOSURE_DETECTORS[:6]) - (
            set() if res.assets else {"unregistered_host"}
        )
        if baseline_xml:
            base = read_nmap_xml(baseline_xml)
            res.inputs.append(str(baseline_xml))
            res.gaps += base.gaps
            res.diff = diff_scans(base, res.scan)
            res.findings += diff_findings(res.diff, res.scan, cfg, res.assets, lang=lang)
            res.detectors |= {"new_open_port", "host_added", "service_changed"}
        x = x509_from_scan(res.scan)
        x509_frames.append(x)
        res.findings += check_certificates(
            x, tcfg, now=res.now, names=scan_names(res.scan), lang=lang
        )
        res.findings += tls_offer_findings(scan_tls_offers(res.scan), tcfg, lang=lang)
        res.detectors |= set(CERT_DETECTORS) | set(TLS_DETECTORS)
    else:
        res.gaps.append(
            Gap(
                "missing_input",
                "scan_xml",
                "no nmap scan given: exposure not assessed",
                area="exposure",
            )  # fmt: skip
        )
    if pcaps:
        from secaudit.trust.audit import audit_pcaps

        pf, pg, tls = audit_pcaps(pcaps, tcfg, now=res.now, lang=lang, policy=policy)
        res.findings += pf
        res.gaps += pg
        res.inputs += [str(p) for p in pcaps]
        x509_frames.append(tls.x509)
        res.sessions = tls.sessions
        res.detectors |= set(CERT_DETECTORS) | set(TLS_DETECTORS) | {"cleartext_login"}
        if policy is not None and tcfg.audit_coverage.collectors:
            res.detectors.add("audit_coverage")
    frames = [f for f in x509_frames if not f.empty]
    res.x509 = pd.concat(frames, ignore_index=True) if frames else None
    return res


def zone_table(res: AreaResult, lang: str = "en") -> pd.DataFrame:
    """Open ports per zone and service (rows) with host counts."""
    if res.services is None or res.services.empty:
        return pd.DataFrame({t("nb.exposure.none", lang): []})
    s = res.services[res.services["state"] == "open"].copy()
    zone_of = res.assets.zone_of if res.assets is not None else (lambda _a: INTERNET)
    s["zone"] = [zone_of(a) for a in s["addr"]]
    s["service"] = s["service"].fillna("unknown")
    s["port"] = s["port"].astype("Int64").astype(str) + "/" + s["proto"]
    out = s.groupby(["zone", "service", "port"]).agg(hosts=("addr", "nunique")).reset_index()
    return out.sort_values(["zone", "hosts"], ascending=[True, False]).reset_index(drop=True)


def diff_table(res: AreaResult) -> pd.DataFrame:
    """One row per change since the baseline (kind, host, port, before, after)."""
    rows: list[dict[str, Any]] = []
    d = res.diff
    if d is None:
        return pd.DataFrame(columns=["change", "host", "port", "before", "after"])
    rows += [{"change": "host_added", "host": h} for h in d.hosts_added]
    rows += [{"change": "host_removed", "host": h} for h in d.hosts_removed]
    for c in d.host_state_changes:
        rows.append(
            {"change": "host_state", "host": c["host"], "before": c["from"], "after": c["to"]}
        )
    for c in d.ports_opened:
        rows.append({"change": "port_opened", "host": c["host"], "port": c["port"],
                     "after": " ".join(c["service"].values())})  # fmt: skip
    for c in d.ports_closed:
        rows.append({"change": "port_closed", "host": c["host"], "port": c["port"],
                     "before": "open", "after": c["to_state"]})  # fmt: skip
    for c in d.service_changes:
        rows.append({"change": "service_changed", "host": c["host"], "port": c["port"],
                     "before": " ".join(c["from"].values()), "after": " ".join(c["to"].values())})  # fmt: skip
    for c in d.os_changes:
        rows.append({"change": "os_changed", "host": c["host"], "before": "; ".join(c["from"]),
                     "after": "; ".join(c["to"])})  # fmt: skip
    return pd.DataFrame(rows, columns=["change", "host", "port", "before", "after"])


def cert_inventory(res: AreaResult) -> pd.DataFrame:
    """Distinct certificates per (host, port): subject, issuer, validity, days left, key, sightings."""
    cols = ["host", "port", "subject", "issuer", "not_before", "not_after", "days_left", "key", "sig_alg",
            "self_signed", "seen"]  # fmt: skip
    if res.x509 is None or res.x509.empty:
        return pd.DataFrame(columns=cols)
    x = res.x509
    # CA certificates sent along in chains are issuers, not services: leave them out
    issued = x[x["certificate.issuer"] != x["certificate.subject"]]["certificate.issuer"]
    x = x[~((x["basic_constraints.ca"] == True) & x["certificate.subject"].isin(set(issued)))]  # noqa: E712
    g = x.groupby(["host", "port", "fingerprint"], dropna=False)
    first = g.first().reset_index()
    first["seen"] = g.size().to_numpy()
    now = pd.Timestamp(res.now)
    out = pd.DataFrame(
        {
            "host": first["host"],
            "port": first["port"],
            "subject": first["certificate.subject"],
            "issuer": first["certificate.issuer"],
            "not_before": first["certificate.not_valid_before"],
            "not_after": first["certificate.not_valid_after"],
            "days_left": (first["certificate.not_valid_after"] - now).dt.days,
            "key": first["certificate.key_type"].fillna("?")
            + "/"
            + first["certificate.key_length"].astype("Int64").astype(str),
            "sig_alg": first["certificate.sig_alg"],
            "self_signed": first["self_signed"],
            "seen": first["seen"],
        }
    )
    return out.sort_values("days_left").reset_index(drop=True)


@cjk
def expiry_figure(res: AreaResult, lang: str = "en") -> Any:
    """Horizontal validity bars per certificate with 'now' marked (red: expired)."""
    import matplotlib.pyplot as plt

    inv = cert_inventory(res)
    fig, ax = plt.subplots(figsize=(9, 0.45 * max(len(inv), 1) + 1.2))
    ax.set_title(t("nb.exposure.timeline", lang))
    if inv.empty:
        ax.text(0.5, 0.5, t("nb.exposure.none", lang), ha="center", va="center")
        ax.set_axis_off()
        return fig
    for i, row in enumerate(inv.to_dict("records")):
        start = row["not_before"] if pd.notna(row["not_before"]) else row["not_after"]
        color = "tab:red" if row["days_left"] < 0 else "tab:green"
        ax.barh(i, row["not_after"] - start, left=start, color=color)
    ax.set_yticks(
        range(len(inv)), [f"{h}:{p}" for h, p in zip(inv["host"], inv["port"], strict=True)]
    )
    now: Any = pd.Timestamp(res.now)
    ax.axvline(now, color="black", linestyle="--")
    fig.tight_layout()
    return fig


def save(res: AreaResult, out_dir: str | Path) -> Path:
    """Write the findings contract (findings, gaps, coverage, summary) for `secaudit assess`."""
    from secaudit.report.contract import save_results

    by_det: dict[str, int] = {}
    for f in res.findings:
        by_det[f.detector] = by_det.get(f.detector, 0) + 1
    summary = {
        "hosts": len(res.scan.hosts) if res.scan else 0,
        "open_ports": int((res.services["state"] == "open").sum())
        if res.services is not None
        else 0,
        "certificates": int(len(cert_inventory(res))),
        "changes_since_baseline": int(len(diff_table(res))),
        "findings_by_detector": by_det,
    }
    return save_results(out_dir, res.findings, res.gaps, detectors=sorted(res.detectors),
                        inputs=res.inputs, summary=summary)  # fmt: skip
