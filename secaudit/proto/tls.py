"""TLS handshake fields from one direction of a reassembled stream (bounds-checked).

Handshake messages may span records and records may span segments, so the
parser first concatenates handshake-record payloads, then walks messages:
ClientHello (version, random, SNI, JA3 inputs), ServerHello (version, random,
selected version), Certificate (DER list; subject/issuer/serial formatted the
way Suricata prints them, via `cryptography`).
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TlsInfo", "parse_tls", "looks_like_tls"]

_GREASE = {(x << 8) | x for x in range(0x0A, 0x100, 0x10)}
MAX_HS = 1 << 20


@dataclass
class TlsInfo:
    record_version: int = 0
    hello_version: int = 0
    version: int = 0  # negotiated (supported_versions wins)
    random: bytes = b""
    sni: bytes | None = None
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)
    curves: list[int] = field(default_factory=list)
    point_formats: list[int] = field(default_factory=list)
    certs: list[bytes] = field(default_factory=list)
    is_client: bool = False
    saw_hello: bool = False

    @property
    def ja3_string(self) -> str:
        def j(xs: list[int]) -> str:
            return "-".join(str(x) for x in xs if x not in _GREASE)

        return ",".join(
            [
                str(self.hello_version),
                j(self.ciphers),
                j(self.extensions),
                j(self.curves),
                j(self.point_formats),
            ]
        )

    @property
    def ja3_hash(self) -> str:
        return hashlib.md5(self.ja3_string.encode(), usedforsecurity=False).hexdigest()


def _sslv2_hello(data: bytes) -> bool:
    return len(data) >= 5 and data[0] & 0x80 != 0 and data[2] == 1 and data[3] in (2, 3)


def looks_like_tls(data: bytes) -> bool:
    if _sslv2_hello(data):
        return True
    return len(data) >= 3 and data[0] in (0x16, 0x15, 0x17, 0x14) and data[1] == 3 and data[2] <= 4


def parse_tls(data: bytes) -> TlsInfo | None:
    """Parse the handshake messages at the start of a TLS stream; None when it is not TLS."""
    if not looks_like_tls(data):
        return None
    info = TlsInfo()
    if _sslv2_hello(data):
        # SSLv2-compatible ClientHello: 2-byte length, type 1, then the offered version
        info.is_client = info.saw_hello = True
        info.hello_version = info.version = struct.unpack_from("!H", data, 3)[0]
        return info
    hs = bytearray()
    pos = 0
    n = len(data)
    while pos + 5 <= n and len(hs) < MAX_HS:
        ctype, ver, ln = struct.unpack_from("!BHH", data, pos)
        if ver >> 8 != 3:
            break
        if not info.record_version:
            info.record_version = ver
        body = data[pos + 5 : pos + 5 + ln]
        if ctype == 0x16:
            hs += body
        elif (ctype == 0x17 or ctype == 0x14) and hs:
            pass
        pos += 5 + ln
    _walk(bytes(hs), info)
    return info


def _walk(hs: bytes, info: TlsInfo) -> None:
    pos = 0
    while pos + 4 <= len(hs):
        mtype = hs[pos]
        ln = int.from_bytes(hs[pos + 1 : pos + 4], "big")
        body = hs[pos + 4 : pos + 4 + ln]
        pos += 4 + ln
        try:
            if mtype == 1:
                _client_hello(body, info)
            elif mtype == 2:
                _server_hello(body, info)
            elif mtype == 11:
                _certificate(body, info)
        except (struct.error, IndexError, ValueError):
            return
        if mtype not in (1, 2, 11, 12, 13, 14, 16, 4, 15, 20, 22):
            return


def _extensions(b: bytes, p: int) -> Iterator[tuple[int, bytes]]:
    """(type, data) of each hello extension in the length-prefixed block at `p` (none if absent)."""
    if p + 2 > len(b):
        return
    end = min(len(b), p + 2 + struct.unpack_from("!H", b, p)[0])
    p += 2
    while p + 4 <= end:
        et, ln = struct.unpack_from("!HH", b, p)
        yield et, b[p + 4 : p + 4 + ln]
        p += 4 + ln


def _client_hello(b: bytes, info: TlsInfo) -> None:
    info.is_client = True
    info.saw_hello = True
    info.hello_version = struct.unpack_from("!H", b, 0)[0]
    info.version = info.hello_version
    info.random = b[2:34]
    p = 34
    sl = b[p]
    p += 1 + sl
    cl = struct.unpack_from("!H", b, p)[0]
    p += 2
    info.ciphers = [struct.unpack_from("!H", b, p + i)[0] for i in range(0, cl - 1, 2)]
    p += cl
    p += 1 + b[p]
    for et, ed in _extensions(b, p):
        info.extensions.append(et)
        if et == 0 and len(ed) >= 5:
            q = 2
            while q + 3 <= len(ed):
                nt, nl = ed[q], struct.unpack_from("!H", ed, q + 1)[0]
                if nt == 0:
                    info.sni = ed[q + 3 : q + 3 + nl]
                    break
                q += 3 + nl
        elif et == 10 and len(ed) >= 2:
            info.curves = [
                struct.unpack_from("!H", ed, 2 + i)[0]
                for i in range(0, min(len(ed) - 2, ed[0] << 8 | ed[1]) - 1, 2)
            ]
        elif et == 11 and ed:
            info.point_formats = list(ed[1 : 1 + ed[0]])


def _server_hello(b: bytes, info: TlsInfo) -> None:
    info.saw_hello = True
    info.hello_version = struct.unpack_from("!H", b, 0)[0]
    info.version = info.hello_version
    info.random = b[2:34]
    p = 34
    p += 1 + b[p]
    p += 3  # cipher + compression
    for et, ed in _extensions(b, p):
        info.extensions.append(et)
        if et == 43 and len(ed) == 2:
            info.version = struct.unpack_from("!H", ed)[0]


def _certificate(b: bytes, info: TlsInfo) -> None:
    total = int.from_bytes(b[0:3], "big")
    p = 3
    end = min(len(b), 3 + total)
    while p + 3 <= end:
        ln = int.from_bytes(b[p : p + 3], "big")
        info.certs.append(b[p + 3 : p + 3 + ln])
        p += 3 + ln


_OID_SHORT = {
    "2.5.4.6": "C",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "emailAddress",
    "2.5.4.9": "street",
    "0.9.2342.19200300.100.1.25": "DC",
    "2.5.4.12": "title",
    "2.5.4.42": "GN",
    "2.5.4.4": "SN",
}


def _tlv(b: bytes, p: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the DER element at p; raises ValueError when malformed."""
    if p + 2 > len(b):
        raise ValueError("short DER")
    tag = b[p]
    ln = b[p + 1]
    p += 2
    if ln & 0x80:
        k = ln & 0x7F
        if k == 0 or k > 4 or p + k > len(b):
            raise ValueError("bad DER length")
        ln = int.from_bytes(b[p : p + k], "big")
        p += k
    if p + ln > len(b):
        raise ValueError("DER value runs past the end")
    return tag, p, p + ln


def _oid(b: bytes) -> str:
    if not b:
        return ""
    parts = [b[0] // 40, b[0] % 40]
    v = 0
    for c in b[1:]:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            parts.append(v)
            v = 0
    return ".".join(str(x) for x in parts)


def _der_name(b: bytes, s: int, e: int) -> bytes:
    parts: list[bytes] = []
    p = s
    while p < e:
        _t, ss, se = _tlv(b, p)  # SET
        p = se
        q = ss
        while q < se:
            _t2, as_, ae = _tlv(b, q)  # SEQUENCE {oid, value}
            q = ae
            _t3, os_, oe = _tlv(b, as_)
            _t4, vs, ve = _tlv(b, oe)
            key = _OID_SHORT.get(_oid(b[os_:oe]), _oid(b[os_:oe]))
            parts.append(key.encode() + b"=" + b[vs:ve])
    return b", ".join(parts)


def _der_fields(der: bytes) -> dict[str, bytes]:
    """Subject/issuer/serial straight from DER, for certificates `cryptography` refuses
    (e.g. a NUL inside a PrintableString, which Suricata still prints)."""
    out: dict[str, bytes] = {}
    try:
        _t, cs, _ce = _tlv(der, 0)
        _t, ts, te = _tlv(der, cs)  # tbsCertificate
        p = ts
        tag, vs, ve = _tlv(der, p)
        if tag == 0xA0:
            p = ve
            tag, vs, ve = _tlv(der, p)
        h = der[vs:ve].lstrip(b"\0").hex().upper() or "00"
        out["serial"] = ":".join(h[i : i + 2] for i in range(0, len(h), 2)).encode()
        p = ve
        _t, _s, p = _tlv(der, p)  # signature algorithm
        _t, ns, ne = _tlv(der, p)
        out["issuer"] = _der_name(der, ns, ne)
        _t, _s, p = _tlv(der, ne)  # validity
        _t, ns, ne = _tlv(der, p)
        out["subject"] = _der_name(der, ns, ne)
    except ValueError:
        pass
    return out


@functools.lru_cache(maxsize=16)
def _x509(der: bytes) -> Any:
    """The parsed certificate, or None when it does not parse; cached, so cert_fields and
    cert_sans on one certificate parse it once."""
    try:
        from cryptography import x509

        return x509.load_der_x509_certificate(der)
    except Exception:  # noqa: BLE001 - any parse failure
        return None


def cert_fields(der: bytes) -> dict[str, bytes]:
    """subject, issuer, serial (colon hex, upper case), fingerprint (sha1, colon hex)."""
    out: dict[str, bytes] = {}
    fp = hashlib.sha1(der, usedforsecurity=False).hexdigest()
    fingerprint = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2)).encode()
    cert = _x509(der)
    if cert is None:  # fall back to the DER walk
        out = _der_fields(der)
        out["fingerprint"] = fingerprint
        return out

    def fmt(name: object) -> bytes:
        parts = []
        for rdn in name.rdns:  # type: ignore[attr-defined]
            for attr in rdn:
                key = _OID_SHORT.get(attr.oid.dotted_string, attr.oid.dotted_string)
                val = attr.value if isinstance(attr.value, str) else attr.value.decode("latin-1")
                parts.append(f"{key}={val}")
        return ", ".join(parts).encode("utf-8", "surrogateescape")

    try:
        out["subject"] = fmt(cert.subject)
        out["issuer"] = fmt(cert.issuer)
    except Exception:  # noqa: BLE001
        pass
    try:
        sn = cert.serial_number
        h = format(sn, "X")
        if len(h) % 2:
            h = "0" + h
        out["serial"] = ":".join(h[i : i + 2] for i in range(0, len(h), 2)).encode()
    except Exception:  # noqa: BLE001
        pass
    out["fingerprint"] = fingerprint
    return out


def cert_sans(der: bytes) -> list[bytes]:
    """The certificate's subject alternative names as tls.subjectaltname sees them (Suricata's
    x509 module: a DNS name or URI as its text, an IP address as the list of its bytes,
    "[10, 0, 0, 1]"); other kinds of name and an unparsable certificate give nothing."""
    from cryptography import x509

    cert = _x509(der)
    if cert is None:
        return []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except Exception:  # noqa: BLE001 - no SAN extension, or one that does not parse
        return []
    out: list[bytes] = []
    for name in ext.value:
        if isinstance(name, (x509.DNSName, x509.UniformResourceIdentifier)):
            out.append(name.value.encode("utf-8", "surrogateescape"))
        elif isinstance(name, x509.IPAddress):
            packed = name.value.packed if hasattr(name.value, "packed") else b""
            out.append(("[" + ", ".join(str(b) for b in packed) + "]").encode())
    return out
