"""Virus checks (病毒侵入): carve files from HTTP/SMTP/POP3/IMAP/FTP, hash them, run YARA, match IOC lists.

HTTP bodies come out of the engine already de-chunked and decompressed;
SMTP attachments are MIME parts (base64 / quoted-printable) of the DATA
section, and so are those of messages a POP3/IMAP server sends a mail client;
an unidentified TCP stream that opens with a program image (a stager's second stage)
is one file; FTP data connections are found from PASV/EPSV/PORT replies on the
control connection.  Every decoder is size-capped (`MAX_FILE`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import email
import email.policy
import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secaudit.config import not_utf8
from secaudit.errors import ConfigError
from secaudit.i18n import t, with_title_params
from secaudit.model import Category, Finding, Gap, Severity
from secaudit.proto.http import HttpMessage
from secaudit.signatures.filetype import (
    disguised_executable,
    sniff_executable,
    unsigned_executable,
)

__all__ = [
    "IocSet",
    "rule_files",
    "load_iocs",
    "load_yara",
    "carve_mailbox",
    "carve_smtp",
    "ftp_data_ports",
    "http_files",
    "mailbox_files",
    "smtp_files",
    "stream_executables",
    "ftp_data_files",
    "scan_files",
    "ScanCache",
    "ioc_findings",
]

MAX_FILE = 16 << 20
_CONTROLS = ("GB/T 22239-2019 8.1.3.4",)
_IOC_TYPES = {"sha256", "sha1", "md5", "ip", "domain", "sni", "ja3"}


@dataclass
class IocSet:
    """Indicators by type: value (lower-cased) -> description."""

    by_type: dict[str, dict[str, str]] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)

    def get(self, kind: str, value: str) -> str | None:
        return self.by_type.get(kind, {}).get(value.lower().rstrip("."))


def rule_files(
    spec: str | Path | Sequence[str | Path] | None, pattern: str, what: str = "file"
) -> list[Path]:
    """The files a rule setting names: each folder's `pattern` matches (sorted), each file
    itself; ConfigError "<what> not found" for one that does not exist."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, (str, Path)) else list(spec)
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out.extend(sorted(p.glob(pattern)))
        elif p.exists():
            out.append(p)
        else:
            raise ConfigError(f"{what} not found", str(p))
    return out


def load_iocs(paths: Iterable[str | Path]) -> IocSet:
    """CSV files with header `type,value,description` (type: sha256|sha1|md5|ip|domain|sni|ja3)."""
    out = IocSet()
    for path in paths:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")  # a spreadsheet's export may have a BOM
        except OSError as exc:
            raise ConfigError(f"cannot read IOC list: {exc.strerror}", str(p)) from None
        except UnicodeDecodeError as exc:
            raise not_utf8(exc, str(p), "the IOC list") from None
        # one CSV row per line (an IOC list has no multi-line fields), numbered as in the file
        rows = [
            (no, next(csv.reader([line]), []))
            for no, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if not rows or [c.strip().lower() for c in rows[0][1][:2]] != ["type", "value"]:
            line = rows[0][0] if rows else 1
            raise ConfigError("expected a header row 'type,value,description'", str(p), line=line)
        for no, row in rows[1:]:
            if not row or not "".join(row).strip():
                continue
            kind = row[0].strip().lower()
            value = row[1].strip().lower() if len(row) > 1 else ""
            if kind not in _IOC_TYPES or not value:
                raise ConfigError(
                    f"expected type in {sorted(_IOC_TYPES)} and a value, got {row!r}",
                    str(p),
                    line=no,
                )
            if kind == "ip":
                try:
                    value = str(ipaddress.ip_address(value))
                except ValueError:
                    raise ConfigError(f"bad IP address {value!r}", str(p), line=no) from None
            out.by_type.setdefault(kind, {})[value.rstrip(".")] = (
                row[2].strip() if len(row) > 2 else ""
            )
    return out


def load_yara(paths: Sequence[str | Path]) -> Any:
    """Compile YARA rule files into one ruleset (None when there are none)."""
    files = [Path(p) for p in paths]
    if not files:
        return None
    import yara

    for f in files:  # YARA reads it as a "non-ascii character" at 1:1; say what it is
        try:
            with f.open("rb") as fh:
                bom = fh.read(3) == b"\xef\xbb\xbf"
        except OSError as exc:
            raise ConfigError(f"cannot read YARA rules: {exc.strerror}", str(f)) from None
        if bom:
            raise ConfigError(
                "starts with a UTF-8 byte-order mark, which YARA refuses; save it without one",
                str(f),
                line=1,
            )
    try:
        return yara.compile(filepaths={f"r{i}": str(f) for i, f in enumerate(files)})
    except yara.SyntaxError as exc:
        raise ConfigError(f"YARA syntax error: {exc}", ", ".join(str(f) for f in files)) from None


def _mime_parts(body: bytes) -> list[tuple[str, bytes]]:
    """Attachments (and non-text parts) of one RFC 822 message, decoded."""
    out: list[tuple[str, bytes]] = []
    try:
        msg = email.message_from_bytes(body, policy=email.policy.compat32)
    except Exception:  # noqa: BLE001 - a broken message yields no parts
        return out
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        ctype = part.get_content_type()
        if not name and ctype.startswith("text/"):
            continue
        try:
            payload = part.get_payload(decode=True)
        except (binascii.Error, ValueError):
            payload = None
        if isinstance(payload, bytes) and payload:
            out.append((name or "attachment", payload[:MAX_FILE]))
    return out


_DOT_END = re.compile(rb"\r?\n\.\r?\n")
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")  # RFC 5322 field name, then a colon


def carve_smtp(data: bytes) -> list[tuple[str, bytes]]:
    """Attachments (and non-text parts) in the DATA sections of a client->server SMTP stream."""
    out: list[tuple[str, bytes]] = []
    for m in re.finditer(rb"(?im)^DATA\r?\n", data):
        start = data.find(b"\n", m.start()) + 1
        # a 354 reply is on the other side; the message runs to the lone dot
        end_m = _DOT_END.search(data, start)
        body = data[start : end_m.start() if end_m else len(data)][:MAX_FILE]
        out.extend(_mime_parts(re.sub(rb"(?m)^\.\.", b".", body)))
    return out


def mail_protocol(server: bytes | bytearray) -> str | None:
    """ "pop3" or "imap" when a server stream opens with that protocol's greeting."""
    if server.startswith(b"+OK"):
        return "pop3"
    if server.startswith((b"* OK", b"* PREAUTH")):
        return "imap"
    return None


def carve_mailbox(server: bytes) -> list[tuple[str, bytes]]:
    """Attachments of the messages a POP3 or IMAP server sends (mail being read).

    POP3 RETR/TOP answers are dot-terminated blocks after a +OK line; IMAP FETCH sends
    messages as {N} literals.  Only blocks that start with a header line are messages
    (LIST/UIDL/CAPA blocks and partial body literals are not)."""
    proto = mail_protocol(server)
    bodies: list[bytes] = []
    if proto == "pop3":
        for m in re.finditer(rb"(?m)^\+OK[^\n]*\n", server):
            if not _HEADER_LINE.match(server, m.end()):
                continue
            end_m = _DOT_END.search(server, m.end())
            body = server[m.end() : end_m.start() if end_m else len(server)][:MAX_FILE]
            bodies.append(re.sub(rb"(?m)^\.\.", b".", body))
    elif proto == "imap":
        for m in re.finditer(rb"\{(\d{1,9})\}\r?\n", server):
            if _HEADER_LINE.match(server, m.end()):
                bodies.append(server[m.end() : m.end() + min(int(m.group(1)), MAX_FILE)])
    return [part for body in bodies for part in _mime_parts(body)]


def ftp_data_ports(ctrl_client: bytes, ctrl_server: bytes) -> set[int]:
    """Data-connection ports announced on an FTP control connection (PASV/EPSV replies, PORT/EPRT)."""
    ports: set[int] = set()
    for m in re.finditer(rb"227 [^(\r\n]*\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", ctrl_server):
        ports.add(int(m.group(5)) * 256 + int(m.group(6)))
    for m in re.finditer(rb"229 [^(\r\n]*\(\|\|\|(\d+)\|\)", ctrl_server):
        ports.add(int(m.group(1)))
    for m in re.finditer(rb"(?i)PORT (\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", ctrl_client):
        ports.add(int(m.group(5)) * 256 + int(m.group(6)))
    for m in re.finditer(rb"(?i)EPRT \|\d\|[^|]+\|(\d+)\|", ctrl_client):
        ports.add(int(m.group(1)))
    return {p for p in ports if 0 < p < 65536}


def smtp_files(base: dict[str, Any], d0: bytes, ts: float) -> list[dict[str, Any]]:
    """Carved-file records of an SMTP connection (client stream d0); `base`: flow_id, client, server."""
    return [{**base, "proto": "smtp", "direction": "to_server", "ts": ts, "name": name, "data": data}
            for name, data in carve_smtp(d0)]  # fmt: skip


def mailbox_files(base: dict[str, Any], d1: bytes, ts: float) -> list[dict[str, Any]]:
    """Carved-file records of a POP3/IMAP connection (server stream d1): mail being read."""
    proto = mail_protocol(d1) or "mail"
    return [{**base, "proto": proto, "direction": "to_client", "ts": ts, "name": name,
             "data": data} for name, data in carve_mailbox(d1)]  # fmt: skip


_EXEC_STARTS = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


def stream_executables(
    base: dict[str, Any], d0: bytes, d1: bytes, ts: float
) -> list[dict[str, Any]]:
    """A program image that opens one side of an unidentified TCP stream, directly or after
    a 4-byte length (how Metasploit-style stagers send their second stage): one record per
    side, the stream from the image on (`proto` "tcp")."""
    out: list[dict[str, Any]] = []
    for side, data in (("to_server", d0), ("to_client", d1)):
        for skip in (0, 4):
            if data[skip : skip + 4].startswith(_EXEC_STARTS) and sniff_executable(
                data[skip : skip + 4096]
            ):
                out.append({**base, "proto": "tcp", "direction": side, "ts": ts,
                            "name": "tcp-stream", "data": data[skip : skip + MAX_FILE]})  # fmt: skip
                break
    return out


def ftp_data_files(base: dict[str, Any], d0: bytes, d1: bytes, ts: float) -> list[dict[str, Any]]:
    """The file on an FTP data connection: the longer side (a download when equal)."""
    data, direction = (d1, "to_client") if len(d1) >= len(d0) else (d0, "to_server")
    if not data:
        return []
    return [{**base, "proto": "ftp-data", "direction": direction, "ts": ts, "name": "ftp-data",
             "data": data}]  # fmt: skip


def http_files(
    base: dict[str, Any], rq: HttpMessage | None, rs: HttpMessage | None, ts: dict[str, float]
) -> list[dict[str, Any]]:
    """Bodies of one HTTP request/response pair (`ts`: "req"/"resp" capture times)."""
    out: list[dict[str, Any]] = []
    for side, msg in (("to_server", rq), ("to_client", rs)):
        if msg is not None and msg.bodies and msg.body:
            out.append({**base, "proto": "http", "direction": side,
                        "ts": ts["req" if side == "to_server" else "resp"],
                        "name": _filename(msg, rq),
                        "content_type": (msg.header(b"content-type") or b"").decode("latin-1"),
                        "data": msg.body})  # fmt: skip
    return out


def _filename(msg: HttpMessage, req: HttpMessage | None) -> str:
    cd = msg.header(b"content-disposition")
    if cd:
        m = re.search(rb'filename\*?=\s*"?([^";]+)"?', cd)
        if m:
            return m.group(1).decode("latin-1").strip()
    if req is not None:
        path = req.uri.split(b"?")[0]
        return path.rsplit(b"/", 1)[-1].decode("latin-1") or "index"
    return "unknown"


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


Digest = tuple[str, str, str, list[str]]  # md5, sha1, sha256, YARA rules that match


class ScanCache:
    """Digests and YARA hits of recently scanned contents: a capture repeats its files, each
    content is hashed and scanned once.  Holds at most `max_bytes` of contents."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        # keyed by length and both ends (hashing whole files costs as much as digesting
        # them), then compared in full
        self.done: dict[tuple[int, bytes, bytes], list[tuple[bytes, Digest]]] = {}

    def digest(self, data: bytes, yara_rules: Any) -> Digest:
        key = (len(data), data[:32], data[-32:])
        same = self.done.get(key)
        for old, known in same or ():
            if old == data:
                return known
        known = _digest(data, yara_rules)
        if self.size + len(data) > self.max_bytes:
            self.done.clear()
            self.size = 0
        if len(data) <= self.max_bytes:
            self.done.setdefault(key, []).append((data, known))
            self.size += len(data)
        return known


def scan_files(
    carved: Iterable[dict[str, Any]],
    yara_rules: Any,
    iocs: IocSet,
    cache: ScanCache | None = None,
    *,
    table: bool = True,
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Hash each carved file, run YARA and hash IOCs; rows for the carved-files table + Findings
    (`table=False`: Findings only, no rows are built)."""
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    cache = cache if cache is not None else ScanCache()
    for c in carved:
        data: bytes = c["data"]
        md5, sha1, sha256, hits = cache.digest(data, yara_rules)
        ioc = iocs.get("sha256", sha256) or iocs.get("sha1", sha1) or iocs.get("md5", md5)
        row: dict[str, Any] = {}  # filled in only for the table
        if table:
            row = {k: v for k, v in c.items() if k != "data"}
            row.update(size=len(data), md5=md5, sha1=sha1, sha256=sha256, yara=",".join(hits),
                       ioc=ioc or "")  # fmt: skip
            rows.append(row)
        disguise = disguised_executable(data, c.get("name"), c.get("content_type"))
        if disguise is not None:
            row["disguised"] = (
                f"{disguise['magic']} as {disguise['declared_type'] or disguise['name']}"
            )
        unsigned = unsigned_executable(data) if _from_outside(c) else None
        if unsigned is not None:
            row["unsigned"] = unsigned["magic"]
        if hits or ioc is not None or disguise is not None or unsigned is not None:
            what = _verdict(hits, ioc, disguise, unsigned)
            proto, name = str(c.get("proto") or "?"), str(c.get("name") or "")
            strong = bool(hits) or ioc is not None or disguise is not None
            findings.append(
                Finding(
                    rule_id="malware_transfer",
                    detector="malware_transfer",
                    category=Category.MALWARE,
                    severity=Severity.HIGH if strong else Severity.MEDIUM,
                    title=t(
                        "finding.malware_transfer.title", "en", proto=proto, name=name, verdict=what
                    ),
                    subject=str(c.get("client", "")),
                    first_seen=_iso(float(c.get("ts") or 0)),
                    last_seen=_iso(float(c.get("ts") or 0)),
                    evidence=with_title_params(
                        {
                            "sha256": sha256,
                            "md5": md5,
                            "sha1": sha1,
                            "name": c.get("name"),
                            "direction": c.get("direction"),
                            "client": c.get("client"),
                            "server": c.get("server"),
                            "proto": c.get("proto"),
                            "yara": list(hits),
                            "ioc": ioc,
                            "disguised": disguise,
                            "unsigned": unsigned,
                        },
                        {"proto": proto, "name": name, "verdict": what},
                    ),
                    controls=_CONTROLS,
                    id_keys={
                        "sha256": sha256,
                        "client": c.get("client"),
                        "server": c.get("server"),
                    },
                )
            )
    return rows, findings


def _digest(data: bytes, yara_rules: Any) -> Digest:
    """md5, sha1, sha256 and the YARA rules that match (none when YARA fails on it)."""
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    sha1 = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    sha256 = hashlib.sha256(data).hexdigest()
    hits: list[str] = []
    if yara_rules is not None:
        try:
            hits = sorted({m.rule for m in yara_rules.match(data=data, timeout=10)})
        except Exception:  # noqa: BLE001 - a YARA timeout/error on one file must not stop the scan
            hits = []
    return md5, sha1, sha256, hits


def ioc_findings(
    conns: Iterable[tuple[str, str, float]],
    names: Iterable[tuple[str, str, str, float]],
    iocs: IocSet,
) -> list[Finding]:
    """IP hits over (client, server, ts) and name hits over (kind domain|sni|ja3, value, client, ts)."""
    out: dict[tuple[str, str, str], Finding] = {}

    def add(kind: str, value: str, desc: str, subject: str, ts: float) -> None:
        key = (kind, value, subject)
        f = out.get(key)
        if f is not None:
            import dataclasses

            out[key] = dataclasses.replace(f, count=f.count + 1, last_seen=_iso(ts))
            return
        note = f" — {desc}" if desc else ""
        out[key] = Finding(
            rule_id=f"ioc_match.{kind}",
            detector="ioc_match",
            category=Category.MALWARE,
            severity=Severity.HIGH,
            title=t("finding.ioc_match.title", "en", type=kind, value=value, note=note),
            subject=subject,
            first_seen=_iso(ts),
            last_seen=_iso(ts),
            evidence=with_title_params(
                {"type": kind, "value": value, "description": desc}, {"note": note}
            ),
            controls=_CONTROLS,
            id_keys={"type": kind, "value": value, "subject": subject},
        )

    for client, server, ts in conns:
        for ip in (server, client):
            d = iocs.get("ip", ip)
            if d is not None:
                add("ip", ip, d, client if ip == server else server, ts)
    for kind, value, client, ts in names:
        d = iocs.get(kind, value)
        if d is None and kind in ("domain", "sni"):
            # a listed domain also covers its subdomains
            parts = value.lower().rstrip(".").split(".")
            for i in range(1, len(parts) - 1):
                d = iocs.get("domain", ".".join(parts[i:]))
                if d is not None:
                    break
        if d is None and kind == "sni":
            d = iocs.get("domain", value)
        if d is not None:
            add(kind, value, d, client, ts)
    return list(out.values())


def _verdict(
    hits: list[str],
    ioc: str | None,
    disguise: dict[str, str] | None,
    unsigned: dict[str, str] | None = None,
) -> str:
    """What made a carved file malware: YARA rules, a hash IOC, a disguised executable, or an
    unsigned program sent in cleartext from outside the network."""
    if hits:
        return ", ".join(hits)
    if ioc:
        return f"IOC: {ioc}"
    if disguise is not None:
        return f"{disguise['magic']} executable disguised as {disguise['declared_type'] or disguise['name']}"
    assert unsigned is not None
    return f"unsigned {unsigned['magic']} executable from outside the network, in cleartext"


@functools.cache
def _private_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    from secaudit.policy.load import PRIVATE_NETWORKS

    return tuple(ipaddress.ip_network(n) for n in PRIVATE_NETWORKS)


def _from_outside(c: dict[str, Any]) -> bool:
    """The file's sender (the server of a download, the client of an upload or a mail) is
    outside the default policy's private space (policy PRIVATE_NETWORKS) and not loopback,
    link-local or multicast: without a policy that is where droppers come from."""
    sender = c.get("server") if c.get("direction") == "to_client" else c.get("client")
    return _outside(str(sender))


@functools.lru_cache(maxsize=1 << 16)
def _outside(sender: str) -> bool:
    """_from_outside for one address text, decided once per sender (a capture's files come
    from a few thousand servers)."""
    try:
        addr = ipaddress.ip_address(sender)
    except ValueError:
        return False
    if addr.is_multicast or addr.is_loopback or addr.is_link_local:
        return False
    return not any(addr in net for net in _private_networks())


def _b64(data: bytes) -> bytes:
    return base64.b64decode(data, validate=False)
