"""Certificates and TLS parameters from handshakes in pcaps (TLS <= 1.2 sends certificates in clear).

TLS is recognised by content, not port: a stream whose first bytes are a
handshake record holding a ServerHello is a server side (its first
`max_server_bytes` are kept), a ClientHello a client side (SNI only).
Records are read with bounds checks; anything malformed ends that stream's
parse quietly (a damaged handshake is counted in the result, never raised).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from secaudit.model import Gap
from secaudit.proto.x509 import cert_row, x509_frame
from secaudit.trust.config import TrustConfig
from secaudit.trust.streams import Stream, StreamKey, collect_streams

__all__ = ["TlsCapture", "parse_handshakes", "tls_from_pcaps"]

_VERSIONS = {
    0x0300: "SSLv3",
    0x0301: "TLSv1.0",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}
# IANA names of suites worth naming (weak ones and the common modern ones); others print as hex
CIPHERS = {
    0x0000: "TLS_NULL_WITH_NULL_NULL", 0x0001: "TLS_RSA_WITH_NULL_MD5",
    0x0002: "TLS_RSA_WITH_NULL_SHA", 0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5", 0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5", 0x0007: "TLS_RSA_WITH_IDEA_CBC_SHA",
    0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA", 0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", 0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0018: "TLS_DH_anon_WITH_RC4_128_MD5", 0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", 0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", 0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
}  # fmt: skip


class _Short(Exception):
    """Ran out of bytes inside a length-prefixed structure."""


class _Reader:
    """Bounds-checked reads over one buffer (dnspython's Parser habit)."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.b, self.i, self.end = data, start, len(data) if end is None else end

    def take(self, n: int) -> bytes:
        if n < 0 or self.i + n > self.end:
            raise _Short
        out = self.b[self.i : self.i + n]
        self.i += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def sub(self, n: int) -> _Reader:
        if n < 0 or self.i + n > self.end:
            raise _Short
        r = _Reader(self.b, self.i, self.i + n)
        self.i += n
        return r

    @property
    def left(self) -> int:
        return self.end - self.i


def _handshake_bytes(data: bytes) -> tuple[bytes, int | None]:
    """Concatenated handshake-record payloads up to the first other record; record version."""
    r = _Reader(data)
    out = bytearray()
    version = None
    try:
        while r.left >= 5:
            ctype, ver, length = r.u8(), r.u16(), r.u16()
            if ctype != 22:
                break
            version = version or ver
            out += r.take(min(length, r.left)) if length > r.left else r.take(length)
    except _Short:
        pass
    return bytes(out), version


def _messages(hs: bytes) -> list[tuple[int, bytes]]:
    r = _Reader(hs)
    out = []
    try:
        while r.left >= 4:
            mtype, length = r.u8(), r.u24()
            out.append((mtype, r.take(length)))
    except _Short:
        pass
    return out


def _client_hello_sni(body: bytes) -> str | None:
    try:
        r = _Reader(body)
        r.take(2 + 32)
        r.take(r.u8())  # session id
        r.take(r.u16())  # cipher suites
        r.take(r.u8())  # compression
        if r.left < 2:
            return None
        ext = r.sub(r.u16())
        while ext.left >= 4:
            etype, elen = ext.u16(), ext.u16()
            e = ext.sub(elen)
            if etype == 0:
                names = e.sub(e.u16())
                while names.left >= 3:
                    ntype, name = names.u8(), names.take(names.u16())
                    if ntype == 0:
                        return name.decode("ascii", "replace")
    except _Short:
        return None
    return None


def _server_hello(body: bytes) -> tuple[int | None, int | None]:
    """(negotiated version, cipher suite) honouring supported_versions (TLS 1.3)."""
    try:
        r = _Reader(body)
        version = r.u16()
        r.take(32)
        r.take(r.u8())
        cipher = r.u16()
        r.u8()
        if r.left >= 2:
            ext = r.sub(r.u16())
            while ext.left >= 4:
                etype, elen = ext.u16(), ext.u16()
                e = ext.sub(elen)
                if etype == 43 and elen == 2:
                    version = e.u16()
        return version, cipher
    except _Short:
        return None, None


def _certificates(body: bytes) -> list[bytes]:
    out = []
    try:
        r = _Reader(body)
        chain = r.sub(r.u24())
        while chain.left >= 3:
            out.append(chain.take(chain.u24()))
    except _Short:
        pass
    return out


@dataclass
class TlsCapture:
    """What the handshakes showed: x509 rows, one row per server hello, the SNI seen."""

    x509: pd.DataFrame
    sessions: pd.DataFrame  # ts, client, server, port, version, cipher, server_name, certs
    gaps: list[Gap] = field(default_factory=list)
    damaged: int = 0  # server streams whose handshake could not be read to the certificate


def parse_handshakes(server: bytes) -> dict[str, Any]:
    """Server-side first bytes -> {version, cipher, certs: [DER…], ok}."""
    hs, _ = _handshake_bytes(server)
    out: dict[str, Any] = {"version": None, "cipher": None, "certs": [], "ok": False}
    for mtype, body in _messages(hs):
        if mtype == 2:
            out["version"], out["cipher"] = _server_hello(body)
            out["ok"] = out["version"] is not None
        elif mtype == 11:
            out["certs"] = _certificates(body)
    return out


def _addr(hi: int, lo: int) -> str:
    from secaudit.capture import addr_to_str

    return str(addr_to_str([hi], [lo])[0])


def _keep(cfg: TrustConfig) -> Any:
    def keep(st: Stream) -> int:
        d = st.data
        if len(d) >= 6 and d[0] == 22 and d[1] == 3 and d[5] in (1, 2):
            return cfg.pcap.max_server_bytes if d[5] == 2 else cfg.pcap.max_client_bytes
        return 0

    return keep


def tls_from_pcaps(pcaps: Iterable[str | Path], cfg: TrustConfig | None = None) -> TlsCapture:
    """Certificates (x509 table) and TLS sessions from every TCP stream that speaks TLS."""
    cfg = cfg or TrustConfig()
    gaps: list[Gap] = []
    streams = collect_streams(pcaps, _keep(cfg), initial_limit=cfg.pcap.max_server_bytes, gaps=gaps)
    return tls_from_streams(streams, gaps)


def tls_from_streams(streams: dict[StreamKey, Stream], gaps: list[Gap]) -> TlsCapture:
    rows: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    damaged = 0
    for key, st in streams.items():
        d = st.data
        if len(d) < 6 or d[5] != 2:
            continue
        info = parse_handshakes(bytes(d))
        server, port = _addr(key[0], key[1]), key[2]
        client = _addr(key[3], key[4])
        peer = streams.get((key[3], key[4], key[5], key[0], key[1], key[2]))
        sni = None
        if peer is not None and len(peer.data) >= 6 and peer.data[5] == 1:
            msgs = _messages(_handshake_bytes(bytes(peer.data))[0])
            sni = next((_client_hello_sni(b) for t, b in msgs if t == 1), None)
        ts = st.first_ts / 1e9
        version, cipher = info["version"], info["cipher"]
        if not info["ok"] or (version is not None and version < 0x0304 and not info["certs"]):
            damaged += 1
        for i, der in enumerate(info["certs"]):
            row = cert_row(der, ts=ts, source=st.source, host=server, port=port)
            if row is not None:
                row["chain_index"] = i
                rows.append(row)
        sessions.append(
            {
                "ts": ts,
                "client": client,
                "server": server,
                "port": port,
                "version": _VERSIONS.get(version or -1, f"0x{version:04x}" if version else None),
                "cipher": CIPHERS.get(
                    cipher or -1, f"0x{cipher:04x}" if cipher is not None else None
                ),
                "server_name": sni,
                "certs": len(info["certs"]),
                "source": st.source,
            }
        )
    if damaged:
        gaps.append(
            Gap(
                "partial",
                "pcap",
                f"{damaged} TLS server handshake(s) could not be read up to the "
                "certificate (capture started mid-connection, packets missing or snaplen)",
                area="trust",
                detail={"streams": damaged},
            )  # fmt: skip
        )
    cols = ["ts", "client", "server", "port", "version", "cipher", "server_name", "certs", "source"]
    return TlsCapture(x509_frame(rows), pd.DataFrame(sessions, columns=cols), gaps, damaged)
