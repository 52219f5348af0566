"""Trust system: certificates (nmap ssl-cert, TLS handshakes in pcaps), TLS offers, authentication evidence."""

from __future__ import annotations

from secaudit.trust.certs import (
    check_certificates,
    scan_names,
    scan_tls_offers,
    tls_offer_findings,
    x509_from_scan,
)
from secaudit.trust.config import TrustConfig, load_trust_config

__all__ = [
    "TrustConfig",
    "check_certificates",
    "load_trust_config",
    "scan_names",
    "scan_tls_offers",
    "tls_offer_findings",
    "x509_from_scan",
]
