"""rules/trust.yaml as frozen pydantic models (defaults are documented in the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from secaudit.config import Regex, load_model

__all__ = [
    "AuditCoverage",
    "AuthPolicy",
    "CertPolicy",
    "PcapLimits",
    "TlsPolicy",
    "TrustConfig",
    "TrustedIssuer",
    "load_trust_config",
]

Sev = Literal["info", "low", "medium", "high", "critical"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrustedIssuer(_Frozen):
    name: str
    issuer_regex: Regex | None = None
    sha256: str | None = None  # fingerprint of the CA certificate


class CertPolicy(_Frozen):
    expiring_days: int = Field(30, ge=0)
    min_rsa_bits: int = 2048
    min_ec_bits: int = 224
    weak_signature_patterns: list[str] = ["md2", "md4", "md5", "sha1"]
    allow_self_signed: bool = False
    trusted_issuers: list[TrustedIssuer] = []
    severities: dict[str, Sev] = {}


class TlsPolicy(_Frozen):
    weak_versions: list[str] = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"]
    weak_cipher_patterns: list[Regex] = []
    severities: dict[str, Sev] = {}


class PcapLimits(_Frozen):
    max_server_bytes: int = Field(65536, gt=0)
    max_client_bytes: int = Field(4096, gt=0)


class AuthPolicy(_Frozen):
    severity: Sev = "high"
    protocols: list[Literal["ftp", "telnet", "http-basic", "pop3", "imap"]] = [
        "ftp",
        "telnet",
        "http-basic",
        "pop3",
        "imap",
    ]


class AuditCoverage(_Frozen):
    require: Literal["any", "all"] = "any"  # any: one kind seen covers the asset
    collectors: list[str] = []
    roles: list[str] = []
    kinds: dict[str, list[str]] = {}
    severity: Sev = "low"


class TrustConfig(_Frozen):
    certificates: CertPolicy = CertPolicy()
    tls: TlsPolicy = TlsPolicy()
    pcap: PcapLimits = PcapLimits()
    authentication: AuthPolicy = AuthPolicy()
    audit_coverage: AuditCoverage = AuditCoverage()


def load_trust_config(path: str | Path | None = None) -> TrustConfig:
    """rules/trust.yaml -> TrustConfig; None gives the built-in defaults."""
    return TrustConfig() if path is None else load_model(TrustConfig, path)
