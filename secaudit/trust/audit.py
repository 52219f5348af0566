"""Trust findings from pcaps in one pass: certificates, negotiated TLS parameters, cleartext logins."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from secaudit.model import Finding, Gap
from secaudit.trust.certs import check_certificates, tls_offer_findings
from secaudit.trust.cleartext import _textual, logins_from_streams
from secaudit.trust.config import TrustConfig
from secaudit.trust.coverage import CoverageCollector, coverage_findings, policy_assets
from secaudit.trust.pcap_certs import TlsCapture, tls_from_streams
from secaudit.trust.streams import Stream, collect_streams

__all__ = ["audit_pcaps", "session_names"]


def session_names(tls: TlsCapture) -> dict[tuple[str, int], list[str]]:
    """(server, port) -> SNI names clients asked for (for cert_hostname_mismatch)."""
    out: dict[tuple[str, int], set[str]] = {}
    s = tls.sessions.dropna(subset=["server_name"])
    for server, port, name in zip(s["server"], s["port"], s["server_name"], strict=True):
        out.setdefault((str(server), int(port)), set()).add(str(name))
    return {k: sorted(v) for k, v in out.items()}


def _keep(cfg: TrustConfig) -> Any:
    def keep(st: Stream) -> int:
        d = st.data
        if len(d) >= 6 and d[0] == 22 and d[1] == 3 and d[5] in (1, 2):
            return cfg.pcap.max_server_bytes if d[5] == 2 else cfg.pcap.max_client_bytes
        return max(cfg.pcap.max_client_bytes, 1024) if _textual(d) else 0

    return keep


def audit_pcaps(
    pcaps: Iterable[str | Path],
    cfg: TrustConfig | None = None,
    *,
    now: datetime | None = None,
    lang: str = "en",
    policy: Any = None,
) -> tuple[list[Finding], list[Gap], TlsCapture]:
    """Certificate, TLS, cleartext-login (and, with a policy, audit-coverage) findings for the
    captures, their Gaps, and the TLS tables."""
    cfg = cfg or TrustConfig()
    gaps: list[Gap] = []
    coverage = CoverageCollector(cfg)
    streams = collect_streams(
        pcaps,
        _keep(cfg),
        initial_limit=cfg.pcap.max_server_bytes,
        gaps=gaps,
        on_chunk=coverage if coverage.enabled and policy is not None else None,
    )
    tls = tls_from_streams(streams, gaps)
    findings = check_certificates(tls.x509, cfg, now=now, names=session_names(tls), lang=lang)
    s = tls.sessions.dropna(subset=["version"])
    offers = [
        (str(h), int(p), str(v), [str(c)] if isinstance(c, str) else [], None)
        for h, p, v, c in zip(s["server"], s["port"], s["version"], s["cipher"], strict=True)
    ]
    findings += tls_offer_findings(offers, cfg, lang=lang)
    findings += logins_from_streams(streams, cfg, lang=lang)
    if policy is not None:
        findings += coverage_findings(coverage, policy_assets(policy), lang=lang)
    return findings, gaps, tls
