"""Exposure findings from a scan vs policy and rules/exposure.yaml; findings from a baseline diff.

Detectors (category "exposure"; names are part of the contract):

* unregistered_host   host up in the scan but not in policy/assets.yaml
* service_not_allowed open port not in the allow list of the host's zone
* forbidden_service   telnet/ftp/SMBv1/RDP-from-internet … (rules `forbidden`)
* management_exposed  SSH/RDP/VNC/SNMP … reachable from a vantage outside `management.allowed_zones`
* outdated_version    product/CPE version below the rule's `below`
* default_page        web server showing a default/placeholder page (http-title)
* new_open_port, host_added, service_changed   from `diff_findings` (baseline vs new scan)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from secaudit.exposure.assets import INTERNET, AssetView
from secaudit.exposure.config import ExposureConfig, service_matches
from secaudit.exposure.diff import ScanDiff
from secaudit.exposure.nmap_xml import NmapHost, NmapPort, NmapScan
from secaudit.i18n import t, with_title_params
from secaudit.model import Category, Finding

__all__ = ["DETECTORS", "audit_scan", "diff_findings", "version_below"]

G = "GB/T 22239-2019 "
CONTROLS: dict[str, tuple[str, ...]] = {
    "unregistered_host": (G + "8.1.3.1 b", G + "8.1.10.2 a"),
    "service_not_allowed": (G + "8.1.4.4 b", G + "8.1.3.2 c"),
    "forbidden_service": (G + "8.1.4.4 b", G + "8.1.2.2 b"),
    "management_exposed": (G + "8.1.4.4 c", G + "8.1.5.4 a"),
    "outdated_version": (G + "8.1.4.4 e", G + "8.1.10.5 a"),
    "default_page": (G + "8.1.4.4 b",),
    "new_open_port": (G + "8.1.4.4 b", G + "8.1.10.5 b"),
    "host_added": (G + "8.1.10.2 a", G + "8.1.3.1 b"),
    "service_changed": (G + "8.1.10.5 b",),
}
DETECTORS = tuple(CONTROLS)


def version_below(version: str, bound: str) -> bool:
    """'7.4p1' < '8.8'?  Numeric runs compare as numbers, letter runs as text; no digits -> False."""

    def key(v: str) -> list[tuple[int, int | str]]:
        return [
            (0, int(tok)) if tok.isdigit() else (1, tok)
            for tok in re.findall(r"\d+|[a-z]+", v.lower())
        ]

    ka, kb = key(version), key(bound)
    if not ka or ka[0][0] != 0:
        return False
    return ka < kb


def _when(scan: NmapScan, host: NmapHost) -> str | None:
    ts = host.start or scan.start
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def _finding(
    detector: str,
    severity: str,
    subject: str,
    scan: NmapScan,
    host: NmapHost,
    lang: str,
    evidence: dict[str, object],
    *,
    key: str = "",
    **params: object,
) -> Finding:
    when = _when(scan, host)
    return Finding(
        rule_id=f"exposure.{detector}" + (f".{key}" if key else ""),
        detector=detector,
        category=Category.EXPOSURE,
        severity=severity,  # type: ignore[arg-type]
        title=t(f"finding.{detector}.title", lang, subject=subject, **params),
        subject=subject,
        first_seen=when,
        last_seen=when,
        evidence=with_title_params({"source": scan.source, **evidence}, params),
        controls=CONTROLS[detector],
        remediation=t(f"finding.{detector}.remediation", lang, **params),
        id_keys={"detector": detector, "key": key},
    )


def _port_evidence(host: NmapHost, p: NmapPort, zone: str) -> dict[str, object]:
    return {
        "addr": host.addr,
        "port": p.port,
        "proto": p.proto,
        "service": p.service,
        "product": p.product,
        "version": p.version,
        "cpe": p.cpe,
        "zone": zone,
    }


def _script(p: NmapPort, sid: str) -> str | None:
    for s_id, out in p.scripts:
        if s_id == sid:
            return out
    return None


def _port_findings(
    scan: NmapScan,
    host: NmapHost,
    p: NmapPort,
    zone: str,
    vantage: str | None,
    cfg: ExposureConfig,
    lang: str,
) -> Iterable[Finding]:
    subject = f"{host.addr}:{p.spec}"
    ev = _port_evidence(host, p, zone)
    svc = p.service or "unknown"
    zone_rule = cfg.zones.get(zone)
    if zone_rule is not None and not any(
        service_matches(s, p.proto, p.port, p.service) for s in zone_rule.allow
    ):
        yield _finding(
            "service_not_allowed", "medium", subject, scan, host, lang, ev, service=svc, zone=zone
        )
    for rule in cfg.forbidden:
        if rule.zones is not None and zone not in rule.zones:
            continue
        if rule.vantage is not None and (vantage or INTERNET) not in rule.vantage:
            continue
        hit = any(service_matches(s, p.proto, p.port, p.service) for s in rule.services) or any(
            service_matches(s, p.proto, p.port, None) for s in rule.ports
        )
        for sid, pattern in rule.script_match.items():
            out = _script(p, sid)
            if out is not None and re.search(pattern, out):
                hit = True
        if hit:
            yield _finding(
                "forbidden_service",
                rule.severity,
                subject,
                scan,
                host,
                lang,
                {**ev, "rule": rule.name, "reason": rule.reason},
                key=rule.name,
                service=svc,
                rule=rule.name,
                reason=rule.reason,
            )
    mg = cfg.management
    if (vantage or "unknown") not in mg.allowed_zones and (
        any(service_matches(s, p.proto, p.port, p.service) for s in mg.services)
        or any(service_matches(s, p.proto, p.port, None) for s in mg.ports)
    ):
        yield _finding(
            "management_exposed",
            mg.severity,
            subject,
            scan,
            host,
            lang,
            {**ev, "vantage": vantage},
            service=svc,
            vantage=vantage or t("exposure.vantage_unknown", lang),
        )
    for o in cfg.outdated:
        version = p.version
        matched = False
        for cpe in p.cpe:
            if o.cpe and cpe.lower().startswith(o.cpe.lower()):
                matched = True
                rest = cpe[len(o.cpe) :].lstrip(":").split(":", 1)[0]
                version = version or rest or None
        if o.product and p.product and re.search(o.product, p.product):
            matched = True
        if matched and version and version_below(version, o.below):
            yield _finding(
                "outdated_version",
                o.severity,
                subject,
                scan,
                host,
                lang,
                {**ev, "rule": o.name, "below": o.below, "reason": o.reason},
                key=o.name,
                product=p.product or o.name,
                version=version,
                below=o.below,
            )
    dp = cfg.default_pages
    for sid in dp.scripts:
        out = _script(p, sid)
        if out is None:
            continue
        for pattern in dp.patterns:
            if re.search(pattern, out, re.I | re.M):
                yield _finding(
                    "default_page",
                    dp.severity,
                    subject,
                    scan,
                    host,
                    lang,
                    {**ev, "script": sid, "output": out[:200], "pattern": pattern},
                    page=out.strip().splitlines()[0][:80] if out.strip() else "",
                )
                break


def audit_scan(
    scan: NmapScan,
    cfg: ExposureConfig,
    assets: AssetView | None = None,
    *,
    vantage: str | None = None,
    lang: str = "en",
) -> list[Finding]:
    """All exposure findings for one scan; `vantage` is the zone the scan was run from."""
    out: list[Finding] = []
    for host in scan.hosts:
        if host.state not in (None, "up"):
            continue
        zone = assets.zone_of(host.addr) if assets is not None else INTERNET
        if assets is not None and not assets.is_registered(host.addr, host.mac):
            out.append(
                _finding(
                    "unregistered_host",
                    cfg.unregistered_severity,
                    host.addr,
                    scan,
                    host,
                    lang,
                    {
                        "addr": host.addr,
                        "mac": host.mac,
                        "vendor": host.vendor,
                        "hostnames": host.hostnames,
                        "zone": zone,
                    },  # fmt: skip
                    zone=zone,
                )
            )
        for p in host.ports:
            if p.state == "open":
                out.extend(_port_findings(scan, host, p, zone, vantage, cfg, lang))
    return out


def diff_findings(
    diff: ScanDiff,
    new: NmapScan,
    cfg: ExposureConfig,
    assets: AssetView | None = None,
    *,
    lang: str = "en",
) -> list[Finding]:
    """Findings from a baseline diff: new open ports (severity by zone trust), new hosts, changed services."""
    hosts = {h.addr: h for h in new.hosts}
    out: list[Finding] = []

    def zone_and_sev(addr: str) -> tuple[str, str]:
        zone = assets.zone_of(addr) if assets is not None else INTERNET
        trust = (assets.trust_of(zone) if assets is not None else None) or "default"
        sevs = cfg.diff.new_open_port
        return zone, sevs.get(trust, sevs.get("default", "medium"))

    for addr in diff.hosts_added:
        host = hosts.get(addr)
        if host is None or host.state != "up":
            continue
        zone, _ = zone_and_sev(addr)
        out.append(
            _finding(
                "host_added",
                cfg.diff.host_added,
                addr,
                new,
                host,
                lang,
                {"addr": addr, "zone": zone, "mac": host.mac},
                zone=zone,
            )  # fmt: skip
        )
    for item in diff.ports_opened:
        host = hosts.get(item["host"])
        if host is None:
            continue
        zone, sev = zone_and_sev(item["host"])
        subject = f"{item['host']}:{item['port']}"
        out.append(
            _finding(
                "new_open_port",
                sev,
                subject,
                new,
                host,
                lang,
                {
                    "addr": item["host"],
                    "port": item["port"],
                    "service": item["service"],
                    "zone": zone,
                },
                key=item["port"],
                zone=zone,
                service=item["service"].get("name", "unknown"),
            )  # fmt: skip
        )
    for item in diff.service_changes:
        host = hosts.get(item["host"])
        if host is None:
            continue
        subject = f"{item['host']}:{item['port']}"
        before = " ".join(str(v) for v in item["from"].values())
        after = " ".join(str(v) for v in item["to"].values())
        out.append(
            _finding(
                "service_changed",
                cfg.diff.service_changed,
                subject,
                new,
                host,
                lang,
                {
                    "addr": item["host"],
                    "port": item["port"],
                    "from": item["from"],
                    "to": item["to"],
                },
                key=item["port"],
                before=before,
                after=after,
            )  # fmt: skip
        )
    return out
