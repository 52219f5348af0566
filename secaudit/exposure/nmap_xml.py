"""Read nmap `-oX` output into scan records and the hosts / services tables.

Hostile input is refused before any element is built: a prolog guard (expat)
accepts only nmap's bare `<!DOCTYPE nmaprun>` and rejects any internal DTD
subset, entity declaration (billion laughs, XXE, parameter entities) or
external DTD reference; defusedxml alone lets an external DTD subset through
silently.  The same expat parser then checks the rest of the document at C
speed while each complete `<host>…</host>` byte range is parsed on its own
(ElementTree), so memory stays bounded by one host and an interrupted scan
keeps every complete host and reports a Gap naming where it stopped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from secaudit.errors import InputError
from secaudit.model import Gap, ResultDisplay

__all__ = [
    "NmapHost",
    "NmapPort",
    "NmapScan",
    "iter_nmap_hosts",
    "read_nmap_xml",
]

_CHUNK = 1 << 20
_ADDR_ORDER = {"ipv4": 0, "ipv6": 1, "mac": 2}


@dataclass(slots=True)
class NmapPort:
    """One `<port>`: state, service fingerprint, scripts (id, output) in file order."""

    port: int
    proto: str
    state: str | None = None
    reason: str | None = None
    service: str | None = None
    product: str | None = None
    version: str | None = None
    extrainfo: str | None = None
    tunnel: str | None = None
    cpe: list[str] = field(default_factory=list)
    scripts: list[tuple[str, str]] = field(default_factory=list)
    cert: dict[str, Any] | None = None  # ssl-cert script fields (see _ssl_cert)
    tls: dict[str, list[str]] | None = None  # ssl-enum-ciphers: version -> cipher names

    @property
    def spec(self) -> str:
        return f"{self.port}/{self.proto}"

    def service_dict(self) -> dict[str, str]:
        """Non-empty service attributes, as expected_diffs.json shows them."""
        out = {}
        for key in ("name", "product", "version", "extrainfo", "tunnel"):
            value = self.service if key == "name" else getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(slots=True)
class NmapHost:
    """One `<host>`; `addr` is the key nmap's ndiff uses (IPv4, else IPv6, else MAC)."""

    addr: str
    addr_type: str
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (type, addr)
    mac: str | None = None
    vendor: str | None = None
    hostnames: list[str] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)  # hostnames of type "user" (scan targets)
    state: str | None = None
    reason: str | None = None
    os: list[str] = field(default_factory=list)  # osmatch names, in file order
    ports: list[NmapPort] = field(default_factory=list)
    extraports: list[tuple[str, int]] = field(default_factory=list)  # (state, count)
    scripts: list[tuple[str, str]] = field(default_factory=list)  # hostscript
    start: int | None = None
    line: int | None = None  # line of the <host> start tag

    def to_dict(self) -> dict[str, Any]:
        return {
            "addr": self.addr,
            "addr_type": self.addr_type,
            "addresses": [{"addr": a, "type": t} for t, a in self.addresses],
            "mac": self.mac,
            "vendor": self.vendor,
            "hostnames": self.hostnames,
            "state": self.state,
            "reason": self.reason,
            "os": self.os,
            "extraports": [{"state": s, "count": c} for s, c in self.extraports],
            "scripts": dict(self.scripts),
            "ports": [
                {
                    "port": p.port,
                    "proto": p.proto,
                    "state": p.state,
                    "reason": p.reason,
                    "service": p.service,
                    "product": p.product,
                    "version": p.version,
                    "extrainfo": p.extrainfo,
                    "tunnel": p.tunnel,
                    "cpe": p.cpe,
                    "scripts": dict(p.scripts),
                    "cert": p.cert,
                    "tls": p.tls,
                }
                for p in self.ports
            ],
        }


@dataclass(slots=True, repr=False)
class NmapScan(ResultDisplay):
    """A parsed scan; `complete` is False when the file ended early or nmap reported an error."""

    source: str
    scanner: str | None = None
    args: str | None = None
    version: str | None = None
    start: int | None = None
    end: int | None = None
    hosts: list[NmapHost] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    complete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "scanner": self.scanner,
            "args": self.args,
            "version": self.version,
            "start": self.start,
            "end": self.end,
            "complete": self.complete,
            "hosts": [h.to_dict() for h in self.hosts],
            "gaps": [g.to_dict() for g in self.gaps],
        }


# --------------------------------------------------------------------------- validating reader
class _Hostile(Exception):
    pass


_HOST_RE = re.compile(rb"<host[\s>]|</host>")
_FINISHED_RE = re.compile(rb"<finished\s[^>]*>")
_ATTR_RE = re.compile(rb'([A-Za-z_:][-\w:.]*)\s*=\s*"([^"]*)"')


class _Reader:
    """Stream the file once: expat validates every byte (no handlers after the root, so C speed)
    while complete `<host>…</host>` byte ranges are cut out and parsed one by one."""

    def __init__(self, fh: BinaryIO, source: str) -> None:
        self.fh = fh
        self.source = source
        self.root: str | None = None
        self.root_attrs: dict[str, str] = {}
        self.p = xml.parsers.expat.ParserCreate()
        self.p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        self.p.StartDoctypeDeclHandler = self._doctype
        self.p.EntityDeclHandler = self._entity
        self.p.UnparsedEntityDeclHandler = lambda name, *_a: self._entity(name, 0)
        self.p.ExternalEntityRefHandler = self._external
        self.p.StartElementHandler = self._start
        self.p.XmlDeclHandler = self._decl
        self.decl = b""  # re-declared on each host fragment when the file is not UTF-8

    # -- prolog policy: only nmap's bare <!DOCTYPE nmaprun> is acceptable
    def _doctype(self, name: str, sysid: str | None, pubid: str | None, internal: int) -> None:
        if sysid or pubid:
            raise _Hostile(f"DOCTYPE {name} references an external DTD ({sysid or pubid})")
        if internal:
            raise _Hostile(f"DOCTYPE {name} has an internal DTD subset (entities are not allowed)")

    def _entity(self, name: str, is_param: int, *_rest: object) -> None:
        kind = "parameter entity" if is_param else "entity"
        raise _Hostile(f"{kind} declaration {name!r} (entity expansion / XXE is refused)")

    def _external(self, *_args: object) -> int:
        raise _Hostile("external entity reference (XXE is refused)")

    def _decl(self, _version: str, encoding: str | None, _standalone: int) -> None:
        if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii"):
            self.decl = f'<?xml version="1.0" encoding="{encoding}"?>'.encode("ascii", "replace")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.root, self.root_attrs = name, dict(attrs)
        self.p.StartElementHandler = None  # from here on expat only checks well-formedness

    def _refuse(self, why: str) -> InputError:
        return InputError(
            why, self.source, line=self.p.CurrentLineNumber, column=self.p.CurrentColumnNumber
        )

    def fragments(self) -> Iterator[tuple[int, bytes]]:
        """(byte offset, bytes) of each complete host; sets self.error/self.tail at the end."""
        buf = b""
        base = 0  # absolute offset of buf[0]
        self.error: tuple[int, int, int, str] | None = None  # byte, line, col, message
        self.open_host = False
        self.error_at_eof = False
        self.finished_attrs: dict[str, str] | None = None
        first = True
        while True:
            chunk = self.fh.read(_CHUNK)
            if first and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
                raise InputError("UTF-16 XML is not nmap output (nmap writes UTF-8)", self.source)
            first = False
            try:
                self.p.Parse(chunk, not chunk)
            except _Hostile as exc:
                raise self._refuse(f"refused: {exc}") from None
            except xml.parsers.expat.ExpatError as exc:
                if self.root is None:
                    raise InputError(
                        f"not XML: {xml.parsers.expat.ErrorString(exc.code)}",
                        self.source,
                        line=exc.lineno,
                        column=exc.offset,
                    ) from None
                self.error = (
                    self.p.ErrorByteIndex,
                    exc.lineno,
                    exc.offset,
                    xml.parsers.expat.ErrorString(exc.code) or "XML error",
                )
                self.error_at_eof = not chunk
            if self.root is not None and self.root != "nmaprun":
                raise InputError(
                    f"not nmap XML output: root element is <{self.root}>, not <nmaprun>",
                    self.source,
                )
            buf += chunk
            limit = self.error[0] - base if self.error else len(buf)
            pos = 0
            start = -1
            for m in _HOST_RE.finditer(buf):
                if m.group(0).startswith(b"</"):
                    if start >= 0 and m.end() <= limit:
                        yield base + start, self.decl + buf[start : m.end()]
                        pos = m.end()
                    start = -1
                else:
                    start = m.start()
            if self.error is not None or not chunk:
                self.open_host = start >= 0
                fin = _FINISHED_RE.search(buf, pos)
                if fin and fin.end() <= limit:
                    self.finished_attrs = {
                        k.decode(): v.decode("utf-8", "replace")
                        for k, v in _ATTR_RE.findall(fin.group(0))
                    }
                return
            # between hosts only a tail is kept (a tag or <finished> cut by the chunk edge)
            keep = start if start >= 0 else max(pos, len(buf) - 4096)
            base += keep
            buf = buf[keep:]


# --------------------------------------------------------------------------- element readers
def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_MAX_TABLE_DEPTH = 16  # NSE output nests a few levels; hostile files may nest thousands


def _table(elem: ET.Element, depth: int = 0) -> Any:
    """NSE structured output (<elem>/<table>) as dict (keyed) or list (unkeyed)."""
    if depth > _MAX_TABLE_DEPTH:
        return {}
    keyed: dict[str, Any] = {}
    items: list[Any] = []
    for child in elem:
        if child.tag == "elem":
            value: Any = child.text or ""
        elif child.tag == "table":
            value = _table(child, depth + 1)
        else:
            continue
        key = child.get("key")
        if key is None:
            items.append(value)
        else:
            keyed[key] = value
    if keyed and items:
        keyed["_items"] = items
    return keyed if keyed or not items else items


def _dn(value: Any) -> str | None:
    """NSE subject/issuer table -> 'CN=…,O=…' (nmap lists attributes by their long names)."""
    if not isinstance(value, dict):
        return None
    short = {
        "commonName": "CN",
        "organizationName": "O",
        "organizationalUnitName": "OU",
        "countryName": "C",
        "stateOrProvinceName": "ST",
        "localityName": "L",
        "emailAddress": "emailAddress",
    }
    parts = [f"{short.get(k, k)}={v}" for k, v in value.items() if isinstance(v, str)]
    return ",".join(parts) or None


def _text_field(output: str, label: str) -> str | None:
    for line in output.splitlines():
        if line.strip().startswith(label + ":"):
            return line.split(":", 1)[1].strip()
    return None


def _ssl_cert(script: ET.Element, output: str) -> dict[str, Any]:
    """ssl-cert fields; structured tables (nmap >= 6) first, the text output as fallback."""
    data = _table(script)
    cert: dict[str, Any] = {}
    if isinstance(data, dict) and data:
        cert["subject"] = _dn(data.get("subject"))
        cert["issuer"] = _dn(data.get("issuer"))
        pub = data.get("pubkey")
        pub = pub if isinstance(pub, dict) else {}
        cert["key_type"] = pub.get("type")
        cert["key_bits"] = _int(pub.get("bits"))
        cert["sig_alg"] = data.get("sig_algo")
        validity = data.get("validity")
        validity = validity if isinstance(validity, dict) else {}
        cert["not_before"] = validity.get("notBefore")
        cert["not_after"] = validity.get("notAfter")
        cert["sha1"] = data.get("sha1")
        cert["sha256"] = data.get("sha256")
        cert["pem"] = data.get("pem")
    else:
        cert["subject"] = _text_field(output, "Subject")
        cert["issuer"] = _text_field(output, "Issuer")
        cert["key_type"] = _text_field(output, "Public Key type")
        cert["key_bits"] = _int(_text_field(output, "Public Key bits"))
        cert["sig_alg"] = _text_field(output, "Signature Algorithm")
        cert["not_before"] = _text_field(output, "Not valid before")
        cert["not_after"] = _text_field(output, "Not valid after")
        sha1 = _text_field(output, "SHA-1")
        cert["sha1"] = sha1.replace(" ", "") if sha1 else None
        cert["sha256"] = None
        cert["pem"] = None
    if cert.get("pem"):
        from secaudit.proto.x509 import pem_sha256

        cert["sha256"] = pem_sha256(cert["pem"]) or cert.get("sha256")
    return cert


def _ssl_enum_ciphers(script: ET.Element) -> dict[str, list[str]]:
    """ssl-enum-ciphers: {"TLSv1.0": [cipher names…], …} for each protocol version offered."""
    data = _table(script)
    out: dict[str, list[str]] = {}
    if not isinstance(data, dict):
        return out
    for version, info in data.items():
        if not (version.startswith("TLSv") or version.startswith("SSLv")):
            continue
        names: list[str] = []
        ciphers = info.get("ciphers") if isinstance(info, dict) else None
        for c in ciphers if isinstance(ciphers, list) else []:
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                names.append(c["name"])
        out[version] = names
    return out


def _scripts(elem: ET.Element) -> list[tuple[str, str]]:
    out = []
    for s in elem.iter("script"):
        sid, output = s.get("id"), s.get("output")
        if sid is not None and output is not None:
            out.append((sid, output))
    return out


def _port(elem: ET.Element) -> NmapPort | None:
    portid, proto = _int(elem.get("portid")), elem.get("protocol")
    if portid is None or proto is None:
        return None
    p = NmapPort(portid, proto)
    for child in elem:
        tag = child.tag
        if tag == "state":
            p.state = child.get("state")
            p.reason = child.get("reason")
        elif tag == "service":
            p.service = child.get("name")
            p.product = child.get("product")
            p.version = child.get("version")
            p.extrainfo = child.get("extrainfo")
            p.tunnel = child.get("tunnel")
            p.cpe = [c.text for c in child.iter("cpe") if c.text]
        elif tag == "script":
            sid, output = child.get("id"), child.get("output")
            if sid is None or output is None:
                continue
            p.scripts.append((sid, output))
            if sid == "ssl-cert":
                p.cert = _ssl_cert(child, output)
            elif sid == "ssl-enum-ciphers":
                p.tls = _ssl_enum_ciphers(child)
    return p


def _host(elem: ET.Element, line: int | None) -> NmapHost:
    h = NmapHost(addr="", addr_type="", start=_int(elem.get("starttime")), line=line)
    for child in elem:
        tag = child.tag
        if tag == "status":
            h.state = child.get("state")
            h.reason = child.get("reason")
        elif tag == "address":
            addr = child.get("addr")
            if addr is None:
                continue
            kind = child.get("addrtype", "ipv4")
            if (kind, addr) not in h.addresses:
                h.addresses.append((kind, addr))
            if kind == "mac":
                h.mac = addr
                h.vendor = child.get("vendor")
        elif tag == "hostnames":
            for hn in child.iter("hostname"):
                name = hn.get("name")
                if name is not None and name not in h.hostnames:
                    h.hostnames.append(name)
                if name is not None and hn.get("type") == "user":
                    h.target_names.append(name)
        elif tag == "ports":
            for pe in child:
                if pe.tag == "port":
                    port = _port(pe)
                    if port is not None:
                        h.ports.append(port)
                elif pe.tag == "extraports":
                    h.extraports.append((pe.get("state") or "", _int(pe.get("count")) or 0))
        elif tag == "os":
            h.os = [m.get("name") or "" for m in child.iter("osmatch") if m.get("name")]
        elif tag == "hostscript":
            h.scripts = _scripts(child)
    if h.addresses:
        kind, addr = min(h.addresses, key=lambda ta: (_ADDR_ORDER.get(ta[0], 3), ta[1]))
        h.addr, h.addr_type = addr, kind
    elif h.hostnames:
        h.addr, h.addr_type = h.hostnames[0], "hostname"
    return h


# --------------------------------------------------------------------------- reader
def read_nmap_xml(path: str | Path, *, source: str | None = None) -> NmapScan:
    """Parse an nmap XML file; InputError for hostile/non-nmap input, Gaps for early ends."""
    src = source or str(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", src) from None
    with fh:
        scan = NmapScan(source=src)
        scan.hosts = list(iter_nmap_hosts(fh, scan))
    return scan


def iter_nmap_hosts(fh: BinaryIO, scan: NmapScan) -> Iterator[NmapHost]:
    """Yield complete hosts in file order; fills the scan's run attributes and gaps."""
    reader = _Reader(fh, scan.source)
    count = 0
    last_addr: str | None = None
    for offset, frag in reader.fragments():
        if count == 0:
            a = reader.root_attrs
            scan.scanner, scan.args, scan.version = (
                a.get("scanner"),
                a.get("args"),
                a.get("version"),
            )
            scan.start = _int(a.get("start"))
        try:
            elem = ET.fromstring(frag)
        except ET.ParseError as exc:  # e.g. "<host" hidden in a comment: skip that range
            scan.gaps.append(
                Gap(
                    "corrupt",
                    scan.source,
                    f"unreadable <host> element: {exc}",
                    offset=offset,
                    area="exposure",
                )  # fmt: skip
            )
            continue
        host = _host(elem, None)
        count += 1
        last_addr = host.addr or last_addr
        yield host
    if reader.root is None:
        raise InputError("empty or not XML: no root element", scan.source, line=1)
    if count == 0:
        a = reader.root_attrs
        scan.scanner, scan.args, scan.version = a.get("scanner"), a.get("args"), a.get("version")
        scan.start = _int(a.get("start"))
    fin = reader.finished_attrs
    if fin is not None:
        scan.end = _int(fin.get("time"))
        if fin.get("exit") == "error":
            scan.gaps.append(
                Gap(
                    "scan_error",
                    scan.source,
                    f"nmap reported an error: {fin.get('errormsg') or 'unknown'}",
                    area="exposure",
                )
            )
    if reader.error is not None:
        byte, line, col, what = reader.error
        where = "inside a <host> element" if reader.open_host else "between elements"
        after = f" after host #{count} ({last_addr})" if count else " before any complete host"
        # an error met only where the input ends means the file was cut short
        kind = "truncated" if reader.error_at_eof else "corrupt"
        scan.gaps.append(
            Gap(
                kind,
                scan.source,
                f"nmap XML stops at line {line}, column {col} {where}{after}: {what}; "
                f"the {count} complete host(s) were kept (interrupted scan?)",
                offset=byte,
                line=line,
                area="exposure",
                detail={"column": col, "complete_hosts": count, "last_host": last_addr},
            )
        )
    elif fin is None:
        scan.gaps.append(
            Gap(
                "incomplete",
                scan.source,
                "nmap XML has no <runstats>/<finished>: the scan did not finish",
                area="exposure",
                detail={"complete_hosts": count},
            )
        )
    scan.complete = reader.error is None and fin is not None and not scan.gaps
