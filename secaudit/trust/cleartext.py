"""cleartext_login: credentials sent without TLS (FTP, Telnet, HTTP Basic, POP3, IMAP) in pcaps.

Recognised by content, not port: the first bytes of each text-looking TCP
stream (secaudit.trust.streams) are matched against each protocol's login
exchange; a STARTTLS/STLS/AUTH TLS before the login means the credentials
went encrypted and nothing is reported.  Evidence names the user, never the
password.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from secaudit.i18n import t
from secaudit.model import Category, Finding, Gap, Severity
from secaudit.trust.certs import CONTROLS
from secaudit.trust.config import TrustConfig
from secaudit.trust.streams import Stream, StreamKey, collect_streams

__all__ = ["cleartext_logins", "find_logins"]

_SERVER_BYTES = 1024
_IAC = 0xFF
_FTP_USER = re.compile(rb"(?m)^USER +([^\r\n]+)\r?\n")
_PASS = re.compile(rb"(?m)^PASS +[^\r\n]*\r?\n")
_FTP_TLS = re.compile(rb"(?im)^AUTH +(TLS|SSL)")
_POP_TLS = re.compile(rb"(?im)^(STLS|AUTH +(TLS|SSL))\b")
_POP_PLAIN = re.compile(rb"(?im)^AUTH +PLAIN +([A-Za-z0-9+/=]+)")
_IMAP_LOGIN = re.compile(rb'(?im)^\S+ +LOGIN +("(?:[^"\\]|\\.)*"|\S+) +\S')
_IMAP_TLS = re.compile(rb"(?im)^\S+ +STARTTLS\b")
_IMAP_PLAIN = re.compile(rb"(?im)^\S+ +AUTHENTICATE +PLAIN +([A-Za-z0-9+/=]+)")
_BASIC = re.compile(rb"(?im)^Authorization: *Basic +([A-Za-z0-9+/=]+)")
_HTTP_REQ = re.compile(rb"^[A-Z]{3,10} \S+ HTTP/1\.[01]\r?\n")
_TELNET_PROMPT = re.compile(rb"(?i)(login|username)\s*:")


def _textual(d: bytes | bytearray) -> bool:
    head = bytes(d[:8])
    if head and head[0] == _IAC:
        return True
    return all(32 <= c < 127 or c in (9, 10, 13) for c in head)


def _keep(cfg: TrustConfig) -> Any:
    def keep(st: Stream) -> int:
        return max(cfg.pcap.max_client_bytes, _SERVER_BYTES) if _textual(st.data) else 0

    return keep


def _plain_user(b64: bytes) -> str | None:
    """SASL PLAIN: authzid NUL authcid NUL password -> authcid."""
    try:
        parts = base64.b64decode(b64, validate=True).split(b"\x00")
    except (binascii.Error, ValueError):
        return None
    return parts[1].decode("utf-8", "replace") if len(parts) == 3 else None


def _strip_telnet(data: bytes) -> bytes:
    """Remove IAC command/option sequences (and subnegotiations) from a telnet stream."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c != _IAC:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            break
        cmd = data[i + 1]
        if cmd == _IAC:
            out.append(_IAC)
            i += 2
        elif cmd == 250:  # SB … IAC SE
            end = data.find(b"\xff\xf0", i + 2)
            i = n if end < 0 else end + 2
        elif cmd in (251, 252, 253, 254):
            i += 3
        else:
            i += 2
    return bytes(out)


def find_logins(client: bytes, server: bytes) -> list[tuple[str, str]]:
    """(protocol, user) for every cleartext login in one connection's first bytes."""
    found: list[tuple[str, str]] = []
    if server.startswith(b"220") and not _FTP_TLS.search(client):
        m = _FTP_USER.search(client)
        if m and _PASS.search(client, m.end()):
            found.append(("ftp", m.group(1).decode("utf-8", "replace").strip()))
    if server.startswith(b"+OK") and not _POP_TLS.search(client):
        m = _FTP_USER.search(client)
        if m and _PASS.search(client, m.end()):
            found.append(("pop3", m.group(1).decode("utf-8", "replace").strip()))
        p = _POP_PLAIN.search(client)
        if p and (user := _plain_user(p.group(1))):
            found.append(("pop3", user))
    if server.startswith(b"* OK") and not _IMAP_TLS.search(client):
        m = _IMAP_LOGIN.search(client)
        if m:
            found.append(("imap", m.group(1).decode("utf-8", "replace").strip('"')))
        p = _IMAP_PLAIN.search(client)
        if p and (user := _plain_user(p.group(1))):
            found.append(("imap", user))
    if _HTTP_REQ.match(client):
        for b in _BASIC.finditer(client):
            try:
                cred = base64.b64decode(b.group(1), validate=True)
            except (binascii.Error, ValueError):
                continue
            if b":" in cred:
                found.append(("http-basic", cred.split(b":", 1)[0].decode("utf-8", "replace")))
    if server[:1] == bytes([_IAC]) and _TELNET_PROMPT.search(_strip_telnet(server)):
        typed = _strip_telnet(client)
        line = re.split(rb"[\r\n\x00]", typed.lstrip(b"\r\n\x00"), maxsplit=1)[0]
        if line:
            found.append(("telnet", line.decode("utf-8", "replace")))
    return found


def _addr(hi: int, lo: int) -> str:
    from secaudit.capture import addr_to_str

    return str(addr_to_str([hi], [lo])[0])


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def logins_from_streams(
    streams: dict[StreamKey, Stream], cfg: TrustConfig, *, lang: str = "en"
) -> list[Finding]:
    """One finding per (server, port, protocol, user); repeats add to count and widen times."""
    allowed = set(cfg.authentication.protocols)
    groups: dict[tuple[str, int, str, str], dict[str, Any]] = {}
    for key, st in streams.items():
        peer = streams.get((key[3], key[4], key[5], key[0], key[1], key[2]))
        if peer is None:
            continue
        for proto, user in find_logins(bytes(st.data), bytes(peer.data)):
            if proto not in allowed:
                continue
            server, port = _addr(key[3], key[4]), key[5]
            g = groups.setdefault(
                (server, port, proto, user),
                {
                    "clients": set(),
                    "first": st.first_ts,
                    "last": st.last_ts,
                    "n": 0,
                    "src": st.source,
                },
            )
            g["clients"].add(_addr(key[0], key[1]))
            g["first"] = min(g["first"], st.first_ts)
            g["last"] = max(g["last"], st.last_ts or st.first_ts)
            g["n"] += 1
    out = []
    for (server, port, proto, user), g in sorted(groups.items()):
        subject = f"{server}:{port}"
        out.append(
            Finding(
                rule_id=f"trust.cleartext_login.{proto}",
                detector="cleartext_login",
                category=Category.TRUST,
                severity=Severity(cfg.authentication.severity),
                title=t(
                    "finding.cleartext_login.title",
                    lang,
                    subject=subject,
                    protocol=proto,
                    user=user,
                ),  # fmt: skip
                subject=subject,
                first_seen=_iso(g["first"]),
                last_seen=_iso(g["last"]),
                count=g["n"],
                evidence={
                    "server": server,
                    "port": port,
                    "protocol": proto,
                    "user": user,
                    "clients": sorted(g["clients"]),
                    "source": g["src"],
                },  # fmt: skip
                controls=CONTROLS["cleartext_login"],
                remediation=t("finding.cleartext_login.remediation", lang),
                id_keys={"protocol": proto, "user": user},
            )
        )
    return out


def cleartext_logins(
    pcaps: Iterable[str | Path],
    cfg: TrustConfig | None = None,
    *,
    lang: str = "en",
    gaps: list[Gap] | None = None,
) -> list[Finding]:
    """cleartext_login findings for the captures."""
    cfg = cfg or TrustConfig()
    limit = max(cfg.pcap.max_client_bytes, _SERVER_BYTES)
    streams = collect_streams(pcaps, _keep(cfg), initial_limit=limit, gaps=gaps)
    return logins_from_streams(streams, cfg, lang=lang)
