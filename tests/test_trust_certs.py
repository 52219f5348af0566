"""Certificate and TLS-offer checks: one firing and one silent case per detector."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import DATA, ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from secaudit.exposure import read_nmap_xml
from secaudit.proto.x509 import cert_row, der_from_pem, hostname_matches, x509_frame
from secaudit.trust import (
    check_certificates,
    load_trust_config,
    scan_tls_offers,
    tls_offer_findings,
    x509_from_scan,
)
from secaudit.trust.config import TrustConfig

NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
CFG = load_trust_config(ROOT / "rules" / "trust.yaml")
_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def _rsa(bits: int) -> rsa.RSAPrivateKey:
    if bits not in _KEYS:
        _KEYS[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _KEYS[bits]


def _name(cn: str, org: str = "Test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


CA_KEY = _rsa(2048)
CA_NAME = _name("Example Provincial Government CA", "Example Provincial Government")


def make_cert(
    *,
    cn: str = "www.example.gov.cn",
    san: list[str] | None = None,
    days: tuple[int, int] = (-30, 300),
    key: Any = None,
    issuer: tuple[x509.Name, Any] | None = (CA_NAME, CA_KEY),
    hash_alg: Any = None,
    ca: bool = False,
    subject: x509.Name | None = None,
) -> bytes:
    key = key or _rsa(2048)
    subject = subject or _name(cn)
    iname, ikey = issuer if issuer is not None else (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(iname)
        .public_key(key.public_key())
        .serial_number(1234)
        .not_valid_before(NOW + dt.timedelta(days=days[0]))
        .not_valid_after(NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False
        )
    cert = b.sign(ikey, hash_alg or hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


def _check(der: bytes, cfg: TrustConfig = CFG, names: list[str] | None = None) -> set[str]:
    row = cert_row(der, ts=NOW.timestamp(), source="t", host="10.0.0.1", port=443)
    assert row is not None
    df = x509_frame([row])
    got = check_certificates(df, cfg, now=NOW, names={("10.0.0.1", 443): names or []})
    return {f.detector for f in got}


def test_cert_row_fields() -> None:
    der = make_cert(san=["www.example.gov.cn", "*.svc.example.gov.cn"])
    row = cert_row(der, host="10.0.0.1", port=443)
    assert row is not None
    assert row["certificate.subject"] == "O=Test,CN=www.example.gov.cn"
    assert row["certificate.issuer"].endswith("CN=Example Provincial Government CA")
    assert (row["certificate.key_type"], row["certificate.key_length"]) == ("rsa", 2048)
    assert row["certificate.sig_alg"] == "sha256WithRSAEncryption"
    assert row["san.dns"] == ["www.example.gov.cn", "*.svc.example.gov.cn"]
    assert row["self_signed"] is False and row["basic_constraints.ca"] is False
    assert len(row["fingerprint"]) == 64
    assert cert_row(b"\x30\x03garbage") is None


def test_good_certificate_is_silent() -> None:
    assert _check(make_cert(san=["www.example.gov.cn"]), names=["www.example.gov.cn"]) == set()


@pytest.mark.parametrize(
    ("kwargs", "detector"),
    [
        ({"days": (-400, -10)}, "cert_expired"),
        ({"days": (5, 400)}, "cert_not_yet_valid"),
        ({"days": (-300, 12)}, "cert_expiring"),
        ({"issuer": None}, "cert_self_signed"),
        ({"issuer": (_name("Rogue CA"), CA_KEY)}, "cert_untrusted_issuer"),
        ({"key": _rsa(1024)}, "cert_weak_key"),
    ],
)
def test_each_check_fires(kwargs: dict[str, Any], detector: str) -> None:
    got = _check(make_cert(san=["www.example.gov.cn"], **kwargs), names=["www.example.gov.cn"])
    assert detector in got
    assert got <= {detector, "cert_untrusted_issuer"} or detector == "cert_untrusted_issuer"


@pytest.mark.parametrize(
    ("alg", "weak"),
    [
        ("sha1WithRSAEncryption", True),
        ("md5WithRSAEncryption", True),
        ("sha256WithRSAEncryption", False),
        ("ecdsa-with-SHA384", False),
    ],
)
def test_weak_signature(alg: str, weak: bool) -> None:
    # this OpenSSL refuses to *sign* with SHA-1/MD5, so the algorithm name is set on a real row
    row = cert_row(make_cert(), ts=NOW.timestamp(), host="10.0.0.1", port=443)
    assert row is not None
    row["certificate.sig_alg"] = alg
    got = {f.detector for f in check_certificates(x509_frame([row]), CFG, now=NOW)}
    assert ("cert_weak_signature" in got) is weak


def test_ec_key_size_limit() -> None:
    assert "cert_weak_key" not in _check(make_cert(key=ec.generate_private_key(ec.SECP256R1())))
    assert "cert_weak_key" in _check(make_cert(key=ec.generate_private_key(ec.SECP192R1())))


def test_expiring_window_is_configurable() -> None:
    der = make_cert(days=(-300, 40))
    assert "cert_expiring" not in _check(der)
    wide = CFG.model_copy(
        update={"certificates": CFG.certificates.model_copy(update={"expiring_days": 60})}
    )
    assert "cert_expiring" in _check(der, wide)


def test_self_signed_can_be_allowed_and_issuers_list_can_be_empty() -> None:
    der = make_cert(issuer=None)
    relaxed = CFG.model_copy(
        update={"certificates": CFG.certificates.model_copy(update={"allow_self_signed": True})}
    )
    assert "cert_self_signed" not in _check(der, relaxed)
    rogue = make_cert(issuer=(_name("Rogue CA"), CA_KEY))
    no_list = CFG.model_copy(
        update={"certificates": CFG.certificates.model_copy(update={"trusted_issuers": []})}
    )
    assert "cert_untrusted_issuer" not in _check(rogue, no_list)


def test_hostname_mismatch() -> None:
    der = make_cert(san=["www.example.gov.cn", "*.svc.example.gov.cn"])
    assert "cert_hostname_mismatch" in _check(der, names=["mail.example.gov.cn"])
    assert "cert_hostname_mismatch" not in _check(der, names=["a.svc.example.gov.cn"])
    assert "cert_hostname_mismatch" not in _check(der, names=["10.0.0.1"])  # an IP target


@pytest.mark.parametrize(
    ("name", "san", "subject", "ok"),
    [
        ("www.a.cn", ["www.a.cn"], None, True),
        ("WWW.A.CN.", ["www.a.cn"], None, True),
        ("x.a.cn", ["*.a.cn"], None, True),
        ("y.x.a.cn", ["*.a.cn"], None, False),  # wildcard covers one label only
        ("a.cn", ["*.a.cn"], None, False),
        ("www.a.cn", [], "CN=www.a.cn,O=x", True),  # CN only without SAN
        ("www.a.cn", ["other.a.cn"], "CN=www.a.cn", False),  # SAN present: CN ignored
    ],
)
def test_hostname_matching(name: str, san: list[str], subject: str | None, ok: bool) -> None:
    assert hostname_matches(name, san, subject) is ok


def test_chain_ca_certificates_are_not_judged_as_services() -> None:
    ca_der = make_cert(subject=CA_NAME, issuer=None, key=CA_KEY, ca=True)
    leaf = make_cert(san=["www.example.gov.cn"])
    rows = [cert_row(d, ts=NOW.timestamp(), host="10.0.0.1", port=443) for d in (leaf, ca_der)]
    got = check_certificates(x509_frame([r for r in rows if r]), CFG, now=NOW)
    assert got == []


def test_repeats_are_one_finding_with_count() -> None:
    der = make_cert(days=(-400, -1))
    rows = [cert_row(der, ts=NOW.timestamp() + i * 60, host="10.0.0.1", port=443) for i in range(3)]
    (f,) = [
        x
        for x in check_certificates(x509_frame(rows), CFG, now=NOW)
        if x.detector == "cert_expired"
    ]
    assert f.count == 3 and f.first_seen != f.last_seen and f.category.value == "trust"


def test_nmap_ssl_cert_rows() -> None:
    scan = read_nmap_xml(DATA / "exposure" / "local_v4_after.xml")
    df = x509_from_scan(scan)
    assert sorted(df["port"].tolist()) == [8443, 9443]
    assert df["self_signed"].tolist() == [True, True]
    assert der_from_pem(scan.hosts[0].ports[6].cert["pem"])  # type: ignore[index]
    got = check_certificates(df, CFG, now=dt.datetime(2026, 11, 28, tzinfo=dt.UTC))
    assert {(f.detector, f.subject) for f in got} == {
        ("cert_self_signed", "127.0.0.1:8443"),
        ("cert_self_signed", "127.0.0.1:9443"),
    }


def test_tls_offers() -> None:
    offers = [
        (
            "10.0.0.1",
            443,
            "TLSv1.0",
            ["TLS_RSA_WITH_RC4_128_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"],
            None,
        ),
        ("10.0.0.1", 443, "TLSv1.2", ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"], None),
        ("10.0.0.2", 443, "TLSv1.2", ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"], None),
        ("10.0.0.2", 443, "TLSv1.3", ["TLS_AES_128_GCM_SHA256"], None),
    ]
    got = {
        (f.detector, f.subject, tuple(sorted(f.evidence.get("ciphers", []))))
        for f in tls_offer_findings(offers, CFG)
    }
    assert got == {
        ("tls_weak_version", "10.0.0.1:443", ()),
        ("tls_weak_cipher", "10.0.0.1:443", ("TLS_RSA_WITH_RC4_128_SHA",)),
    }


def test_ssl_enum_ciphers_from_nmap_xml(tmp_path: Any) -> None:
    text = (DATA / "exposure" / "local_v4_after.xml").read_text()
    enum = (
        '<script id="ssl-enum-ciphers" output="TLSv1.0: ..."><table key="TLSv1.0"><table key="ciphers">'
        '<table><elem key="name">TLS_RSA_WITH_3DES_EDE_CBC_SHA</elem><elem key="strength">C</elem></table>'
        '</table></table><table key="TLSv1.2"><table key="ciphers"><table><elem key="name">'
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256</elem></table></table></table>"
        '<elem key="least strength">C</elem></script>'
    )
    p = tmp_path / "enum.xml"
    p.write_text(
        text.replace('<script id="http-trane-info"', enum + '<script id="http-trane-info"', 1)
    )
    scan = read_nmap_xml(p)
    offers = scan_tls_offers(scan)
    assert ("127.0.0.1", 8443, "TLSv1.0", ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]) in [
        o[:4] for o in offers
    ]
    kinds = {f.detector for f in tls_offer_findings(offers, CFG)}
    assert kinds == {"tls_weak_version", "tls_weak_cipher"}
