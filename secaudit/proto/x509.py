"""X.509 certificates (DER/PEM) -> rows of the x509 table (schemas.X509_SCHEMA, Zeek x509.log names).

Certificates come from untrusted sources (pcaps, scan output), so parsing
never raises: a certificate `cryptography` cannot load yields None and the
caller records a Gap.  Fields that fail individually (an unknown key type, a
malformed extension) are left empty instead of losing the whole row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa

from secaudit.schemas import X509_SCHEMA

__all__ = [
    "cert_row",
    "der_from_pem",
    "hostname_matches",
    "pem_sha256",
    "x509_frame",
]

_PEM_RE = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


def der_from_pem(pem: str | bytes) -> list[bytes]:
    """Every certificate in a PEM blob, as DER (base64 errors skip that block)."""
    data = pem.encode() if isinstance(pem, str) else pem
    out = []
    for m in _PEM_RE.finditer(data):
        try:
            out.append(base64.b64decode(b"".join(m.group(1).split()), validate=True))
        except (binascii.Error, ValueError):
            continue
    return out


def pem_sha256(pem: str | bytes) -> str | None:
    """SHA-256 fingerprint (hex) of the first certificate in a PEM blob."""
    ders = der_from_pem(pem)
    return hashlib.sha256(ders[0]).hexdigest() if ders else None


def _name(name: x509.Name) -> str | None:
    try:
        return name.rfc4514_string() or None
    except ValueError:
        return None


def _key(cert: x509.Certificate) -> tuple[str | None, str | None, int | None]:
    """(key_alg, key_type, key_length) named like Zeek: rsaEncryption/rsa, id-ecPublicKey/ecdsa."""
    try:
        key = cert.public_key()
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
        return None, None, None
    except Exception:  # unsupported algorithm in this cryptography build
        return None, None, None
    if isinstance(key, rsa.RSAPublicKey):
        return "rsaEncryption", "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "id-ecPublicKey", "ecdsa", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "dsaEncryption", "dsa", key.key_size
    if isinstance(key, dh.DHPublicKey):
        return "dhpublicnumber", "dh", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", "ed448", 456
    return None, type(key).__name__, None


def _sig_alg(cert: x509.Certificate) -> str | None:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", None)
    return str(name) if name and name != "Unknown OID" else oid.dotted_string


def _san_dns(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]


def _is_ca(cert: x509.Certificate) -> bool | None:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return None


def _self_signed(cert: x509.Certificate) -> bool:
    """Issuer equals subject and the signature verifies with the certificate's own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # wrong signature, unsupported algorithm: names alone decide
        return True
    return True


def cert_row(
    der: bytes,
    *,
    ts: float | None = None,
    source: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> dict[str, Any] | None:
    """One x509-table row for a DER certificate, or None when it cannot be parsed."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, TypeError):
        return None
    key_alg, key_type, key_len = _key(cert)
    try:
        serial = format(cert.serial_number, "X")
    except ValueError:
        serial = None
    return {
        "ts": ts,
        "fingerprint": hashlib.sha256(der).hexdigest(),
        "source": source,
        "host": host,
        "port": port,
        "certificate.version": cert.version.value + 1,
        "certificate.serial": serial,
        "certificate.subject": _name(cert.subject),
        "certificate.issuer": _name(cert.issuer),
        "certificate.not_valid_before": cert.not_valid_before_utc.replace(microsecond=0),
        "certificate.not_valid_after": cert.not_valid_after_utc.replace(microsecond=0),
        "certificate.key_alg": key_alg,
        "certificate.sig_alg": _sig_alg(cert),
        "certificate.key_type": key_type,
        "certificate.key_length": key_len,
        "san.dns": _san_dns(cert),
        "basic_constraints.ca": _is_ca(cert),
        "self_signed": _self_signed(cert),
    }


def subject_cn(subject: str | None) -> str | None:
    """CN value from an RFC 4514 / nmap 'CN=x,O=y' subject string."""
    for part in re.split(r"(?<!\\),", subject or ""):
        key, _, value = part.partition("=")
        if key.strip().upper() in ("CN", "COMMONNAME"):
            return value.strip().replace("\\,", ",")
    return None


def hostname_matches(name: str, san_dns: Iterable[str], subject: str | None) -> bool:
    """RFC 6125 matching: SAN dNSNames (CN only when there is no SAN), one left-most wildcard."""
    name = name.rstrip(".").lower()
    patterns = [s.lower() for s in san_dns] or [c.lower() for c in [subject_cn(subject)] if c]
    for pat in patterns:
        pat = pat.rstrip(".")
        if pat == name:
            return True
        if pat.startswith("*.") and "." in name:
            head, _, rest = name.partition(".")
            if head and rest == pat[2:] and rest.count(".") >= 1:
                return True
    return False


def x509_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows -> DataFrame typed per schemas.X509_SCHEMA (an empty frame keeps the columns)."""
    cols: dict[str, list[Any]] = {name: [] for name in X509_SCHEMA.names}
    for row in rows:
        for name in X509_SCHEMA.names:
            value = row.get(name)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            cols[name].append(value)
    df: pd.DataFrame = pa.Table.from_pydict(cols, schema=X509_SCHEMA).to_pandas()
    return df
