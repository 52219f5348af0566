"""Trust system: certificates (nmap ssl-cert, TLS handshakes in pcaps), TLS offers, authentication evidence."""

from __future__ import annotations

from typing import Any

from secaudit.trust.certs import (
    check_certificates,
    scan_names,
    scan_tls_offers,
    tls_offer_findings,
    x509_from_scan,
)
from secaudit.trust.config import TrustConfig, load_trust_config


def trust_audit(*args: Any, **kwargs: Any) -> Any:
    """secaudit.trust.audit.audit_pcaps (imported lazily: it pulls in the capture reader)."""
    from secaudit.trust.audit import audit_pcaps

    return audit_pcaps(*args, **kwargs)


__all__ = [
    "TrustConfig",
    "check_certificates",
    "load_trust_config",
    "scan_names",
    "scan_tls_offers",
    "tls_offer_findings",
    "trust_audit",
    "x509_from_scan",
]
