"""Deterministic keys, certificates and TLS/SSH byte strings for the sample generator.

RSA keys come from primes drawn with a seeded RNG (cryptography's own key
generation reads the OS entropy pool), and PKCS#1 v1.5 signatures are
deterministic, so the certificates - and therefore the pcap - are the same
bytes on every run.
"""

from __future__ import annotations

import random
import struct
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p**0.5) + 1))]


def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if any(n % p == 0 for p in _SMALL_PRIMES):
        return n in _SMALL_PRIMES
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(24):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if _is_probable_prime(n, rng):
            return n


def rsa_key(rng: random.Random, bits: int = 2048) -> rsa.RSAPrivateKey:
    """An RSA key whose primes come from `rng` (reproducible)."""
    e = 65537
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(e, p * q),
    )
    return numbers.private_key()


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def certificate(
    *,
    subject_cn: str,
    org: str,
    key: rsa.RSAPrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    issuer_cn: str | None = None,
    issuer_key: rsa.RSAPrivateKey | None = None,
    ca: bool = False,
    sans: tuple[str, ...] = (),
) -> bytes:
    """DER bytes of a certificate; self-signed when no issuer is given."""
    issuer = _name(issuer_cn or subject_cn, org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn, org))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False
        )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------- TLS records


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + _u24(len(body)) + body


def _ext(ext_type: int, body: bytes) -> bytes:
    return _u16(ext_type) + _u16(len(body)) + body


_CIPHERS_12 = [0xC02F, 0xC030, 0xC02B, 0xC02C, 0x009E, 0x009F, 0xC013, 0xC014, 0x002F, 0x0035]
_CIPHERS_13 = [0x1301, 0x1302, 0x1303]


def client_hello(rng: random.Random, sni: str, *, tls13: bool) -> bytes:
    """A TLS ClientHello record offering 1.2 (and 1.3 when `tls13`) with SNI."""
    host = sni.encode()
    exts = _ext(0x0000, _u16(len(host) + 3) + b"\x00" + _u16(len(host)) + host)
    exts += _ext(0x0017, b"")  # extended_master_secret
    exts += _ext(0xFF01, b"\x00")  # renegotiation_info
    exts += _ext(0x000A, _u16(6) + _u16(0x001D) + _u16(0x0017) + _u16(0x0018))
    exts += _ext(0x000B, b"\x01\x00")
    sigalgs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    exts += _ext(0x000D, _u16(2 * len(sigalgs)) + b"".join(_u16(s) for s in sigalgs))
    alpn = b"\x08http/1.1"
    exts += _ext(0x0010, _u16(len(alpn)) + alpn)
    ciphers = (_CIPHERS_13 if tls13 else []) + _CIPHERS_12
    if tls13:
        exts += _ext(0x002B, b"\x04\x03\x04\x03\x03")  # supported_versions 1.3, 1.2
        share = rng.randbytes(32)
        exts += _ext(0x0033, _u16(36) + _u16(0x001D) + _u16(32) + share)
        exts += _ext(0x002D, b"\x01\x01")  # psk_key_exchange_modes
    body = (
        _u16(0x0303)
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _u16(2 * len(ciphers))
        + b"".join(_u16(c) for c in ciphers)
        + b"\x01\x00"
        + _u16(len(exts))
        + exts
    )
    return record(0x16, _handshake(1, body), version=0x0301)


def server_flight_12(rng: random.Random, chain: list[bytes]) -> bytes:
    """TLS 1.2 ServerHello, Certificate, ServerKeyExchange, ServerHelloDone (one flight)."""
    exts = _ext(0xFF01, b"\x00") + _ext(0x0017, b"") + _ext(0x000B, b"\x01\x00")
    hello = (
        _u16(0x0303)
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _u16(0xC02F)
        + b"\x00"
        + _u16(len(exts))
        + exts
    )
    certs = b"".join(_u24(len(c)) + c for c in chain)
    ske = b"\x03" + _u16(0x0017) + b"\x41\x04" + rng.randbytes(64) + _u16(0x0401)
    ske += _u16(256) + rng.randbytes(256)
    msgs = (
        _handshake(2, hello)
        + _handshake(11, _u24(len(certs)) + certs)
        + _handshake(12, ske)
        + _handshake(14, b"")
    )
    return record(0x16, msgs)


def client_finish_12(rng: random.Random) -> bytes:
    cke = _handshake(16, b"\x41\x04" + rng.randbytes(64))
    return record(0x16, cke) + record(0x14, b"\x01") + record(0x16, rng.randbytes(40))


def server_finish_12(rng: random.Random) -> bytes:
    return record(0x14, b"\x01") + record(0x16, rng.randbytes(40))


def server_flight_13(rng: random.Random) -> bytes:
    """TLS 1.3 ServerHello + CCS + encrypted rest: no certificate is visible."""
    exts = _ext(0x002B, _u16(0x0304)) + _ext(0x0033, _u16(0x001D) + _u16(32) + rng.randbytes(32))
    hello = (
        _u16(0x0303)
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + _u16(0x1301)
        + b"\x00"
        + _u16(len(exts))
        + exts
    )
    return (
        record(0x16, _handshake(2, hello))
        + record(0x14, b"\x01")
        + record(0x17, rng.randbytes(rng.randrange(1200, 2600)))
    )


def client_finish_13(rng: random.Random) -> bytes:
    return record(0x14, b"\x01") + record(0x17, rng.randbytes(74))


def app_data(rng: random.Random, size: int) -> bytes:
    """Encrypted application data records totalling about `size` bytes."""
    out = b""
    while size > 0:
        n = min(size, 16384)
        out += record(0x17, rng.randbytes(n + 24))
        size -= n
    return out


def close_notify(rng: random.Random) -> bytes:
    return record(0x15, rng.randbytes(26))
