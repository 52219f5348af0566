"""Parsed `Rule` -> `Sig`: typed matchers grouped by inspection buffer.

Suricata semantics kept here: sticky buffers (`http.uri; content:...`) and
legacy content modifiers (`content:...; http_uri;`) both move a match into a
named buffer; relative keywords (distance/within, `/R`, `relative`) chain
inside one buffer.  A keyword the engine does not implement raises
`Unsupported` and the caller turns it into a Gap naming sid and keyword.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from secaudit.signatures.rule import Rule

__all__ = [
    "Sig",
    "Content",
    "Pcre",
    "ByteOp",
    "IsDataAt",
    "Bsize",
    "Unsupported",
    "compile_rule",
    "Vars",
    "BufRef",
]


class Unsupported(Exception):
    """Rule uses something the engine cannot evaluate; carries the keyword."""

    def __init__(self, keyword: str, message: str) -> None:
        super().__init__(message)
        self.keyword = keyword
        self.message = message


class RuleError(Unsupported):
    """Rule is malformed (bad argument)."""


# --- buffers ---------------------------------------------------------------

# sticky buffer name -> canonical buffer
STICKY = {
    "pkt_data": "pkt",
    "file_data": "file.data",
    "file.data": "file.data",
    "http.uri": "http.uri",
    "http.uri.raw": "http.uri.raw",
    "http.method": "http.method",
    "http.header": "http.header",
    "http.header.raw": "http.header.raw",
    "http.cookie": "http.cookie",
    "http.user_agent": "http.user_agent",
    "http.host": "http.host",
    "http.host.raw": "http.host.raw",
    "http.stat_code": "http.stat_code",
    "http.stat_msg": "http.stat_msg",
    "http.request_line": "http.request_line",
    "http.response_line": "http.response_line",
    "http.protocol": "http.protocol",
    "http.request_body": "http.request_body",
    "http.response_body": "http.response_body",
    "http.header_names": "http.header_names",
    "http.connection": "http.connection",
    "http.accept": "http.accept",
    "http.accept_enc": "http.accept_enc",
    "http.accept_lang": "http.accept_lang",
    "http.content_type": "http.content_type",
    "http.content_len": "http.content_len",
    "http.referer": "http.referer",
    "http.location": "http.location",
    "http.server": "http.server",
    "http.start": "http.start",
    "http.request_header": "http.request_header",
    "http.response_header": "http.response_header",
    "http_request_line": "http.request_line",
    "http_response_line": "http.response_line",
    "http_header_names": "http.header_names",
    # legacy names that Suricata registers as sticky buffers, not content modifiers
    "http_protocol": "http.protocol",
    "http_accept": "http.accept",
    "http_accept_enc": "http.accept_enc",
    "http_accept_lang": "http.accept_lang",
    "http_content_type": "http.content_type",
    "http_content_len": "http.content_len",
    "http_referer": "http.referer",
    "http_connection": "http.connection",
    "http_start": "http.start",
    "http_location": "http.location",
    "http_server": "http.server",
    "dns.query": "dns.query",
    "dns_query": "dns.query",
    "dns.queries.rrname": "dns.queries.rrname",
    "dns.answers.rrname": "dns.answers.rrname",
    "dns.response.rrname": "dns.response.rrname",
    "tls.sni": "tls.sni",
    "tls_sni": "tls.sni",
    "tls.cert_subject": "tls.cert_subject",
    "tls.cert_issuer": "tls.cert_issuer",
    "tls.cert_serial": "tls.cert_serial",
    "tls_cert_subject": "tls.cert_subject",
    "tls_cert_issuer": "tls.cert_issuer",
    "tls_cert_serial": "tls.cert_serial",
    "tls.cert_fingerprint": "tls.cert_fingerprint",
    "tls.subjectaltname": "tls.subjectaltname",
    "tls.random": "tls.random",
    "tls.random_time": "tls.random_time",
    "tls.random_bytes": "tls.random_bytes",
    "ja3.hash": "ja3.hash",
    "ja3_hash": "ja3.hash",
    "ja3.string": "ja3.string",
    "ja3s.hash": "ja3s.hash",
    "ipv4.hdr": "ipv4.hdr",
    "ipv6.hdr": "ipv6.hdr",
    "tcp.hdr": "tcp.hdr",
    "udp.hdr": "udp.hdr",
    "icmpv4.hdr": "icmpv4.hdr",
    "icmpv6.hdr": "icmpv6.hdr",
}

# legacy content modifier -> canonical buffer
MODIFIERS = {
    "http_uri": "http.uri",
    "http_raw_uri": "http.uri.raw",
    "http_method": "http.method",
    "http_header": "http.header",
    "http_raw_header": "http.header.raw",
    "http_cookie": "http.cookie",
    "http_user_agent": "http.user_agent",
    "http_host": "http.host",
    "http_raw_host": "http.host.raw",
    "http_stat_code": "http.stat_code",
    "http_stat_msg": "http.stat_msg",
    "http_client_body": "http.request_body",
    "http_server_body": "http.response_body",
}

REQ_BUFS = {
    "http.uri",
    "http.uri.raw",
    "http.method",
    "http.cookie",
    "http.user_agent",
    "http.host",
    "http.host.raw",
    "http.request_line",
    "http.request_body",
    "http.request_header",
    "http.accept",
    "http.accept_enc",
    "http.accept_lang",
    "http.referer",
}
RESP_BUFS = {
    "http.stat_code",
    "http.stat_msg",
    "http.response_line",
    "http.response_body",
    "http.response_header",
    "http.location",
    "http.server",
}
HTTP_BOTH = {
    "http.header",
    "http.header.raw",
    "http.protocol",
    "http.header_names",
    "http.connection",
    "http.content_type",
    "http.content_len",
    "http.start",
    "file.data",
}
_LOWERED_BUFS = frozenset({"tls.cert_fingerprint", "ja3.hash", "ja3s.hash"})
# packet/transaction check keywords (Sig.pkt_checks); _parse_check reads the first group as a
# plain numeric range, the rest each in its own way
_RANGE_CHECK_KWS = frozenset(
    {
        "dsize",
        "ttl",
        "itype",
        "icode",
        "icmp_id",
        "icmp_seq",
        "id",
        "window",
        "seq",
        "ack",
        "tcp.mss",
    }
)
_PKT_CHECK_KWS = _RANGE_CHECK_KWS | {
    "urilen",
    "ip_proto",
    "flags",
    "tcp.flags",
    "fragbits",
    "fragoffset",
    "ipopts",
    "stream_size",
    "ssl_version",
    "tls.version",
    "dns.opcode",
    "dns.rrtype",
    "sameip",
}
_B64_DATA = "base64_data"  # the pseudo buffer of base64_data's items (see Base64Decode)
PACKET_BUFS = {"pkt", "ipv4.hdr", "ipv6.hdr", "tcp.hdr", "udp.hdr", "icmpv4.hdr", "icmpv6.hdr"}

APP_OF_BUF = {
    **{b: "http" for b in REQ_BUFS | RESP_BUFS | HTTP_BOTH},
    "dns.query": "dns",
    "dns.queries.rrname": "dns",
    "dns.answers.rrname": "dns",
    "dns.response.rrname": "dns",
    **{
        b: "tls"
        for b in (
            "tls.sni",
            "tls.cert_subject",
            "tls.cert_issuer",
            "tls.cert_serial",
            "tls.cert_fingerprint",
            "tls.subjectaltname",
            "tls.random",
            "tls.random_time",
            "tls.random_bytes",
            "ja3.hash",
            "ja3.string",
            "ja3s.hash",
        )
    },
}
APP_OF_BUF["file.data"] = "file"


# --- matchers ---------------------------------------------------------------


@dataclass
class Content:
    pattern: bytes
    negated: bool = False
    nocase: bool = False
    offset: int | str | None = None
    depth: int | str | None = None
    distance: int | str | None = None
    within: int | str | None = None
    startswith: bool = False
    endswith: bool = False
    fast_pattern: bool = False
    fp_only: bool = False
    rawbytes: bool = False

    @property
    def relative(self) -> bool:
        return self.distance is not None or self.within is not None


@dataclass
class Pcre:
    regex: Any
    negated: bool
    relative: bool
    source: str


@dataclass
class ByteOp:
    kind: str  # test | jump | extract | math
    nbytes: int | str = 1
    offset: int | str = 0
    relative: bool = False
    big: bool = True
    string: str | None = None  # hex | dec | oct
    op: str = "="
    value: int | str = 0
    negate: bool = False
    bitmask: int | None = None
    multiplier: int = 1
    post_offset: int = 0
    from_beginning: bool = False
    from_end: bool = False
    align: bool = False
    name: str = ""
    rvalue: int | str = 0
    endian_dce: bool = False


@dataclass
class IsDataAt:
    n: int | str
    relative: bool
    negated: bool


@dataclass
class Bsize:
    op: str
    a: int
    b: int = 0


@dataclass
class Base64Decode:
    """base64_decode (Suricata detect-base64-decode.c): decode up to `nbytes` base64
    characters from the buffer's detect position (`relative`) plus `offset`; the
    base64_data items that follow it in the rule (`data`) are matched on the decoded bytes
    from their start, and that result is the rule's (a terminal step: a rule whose decode
    yields nothing, or that has no base64_data, does not match)."""

    nbytes: int = 65535
    offset: int = 0
    relative: bool = False
    data: list[Any] = field(default_factory=list)


_B64_OPTS = re.compile(r"^\s*(?:bytes\s+(\d+)\s*,?)?\s*(?:offset\s+(\d+)\s*,?)?\s*(\w+)?\s*$")


def _parse_base64_decode(val: str) -> Base64Decode:
    m = _B64_OPTS.match(val)
    if m is None or (m.group(3) is not None and m.group(3) != "relative"):
        raise RuleError(
            "base64_decode", f"base64_decode: expected 'bytes N, offset N, relative', got {val!r}"
        )
    nbytes = int(m.group(1)) if m.group(1) else 0
    offset = int(m.group(2)) if m.group(2) else 0
    if nbytes > 65535 or offset > 0xFFFFFFFF:
        raise RuleError("base64_decode", f"base64_decode: value out of range in {val!r}")
    return Base64Decode(nbytes or 65535, offset, m.group(3) == "relative")


@dataclass
class BufRef:
    name: str
    items: list[Any] = field(default_factory=list)


@dataclass
class Sig:
    rule: Rule
    action: str
    proto: str
    ip_protos: frozenset[int] | None
    app: str | None
    src: Any
    dst: Any
    sport: Any
    dport: Any
    bidir: bool
    pkt_checks: list[tuple[str, Any]] = field(default_factory=list)
    flow: frozenset[str] = frozenset()
    buffers: list[BufRef] = field(default_factory=list)
    flowbits: list[tuple[str, list[str]]] = field(default_factory=list)
    flowints: list[tuple[str, str, int | str | None]] = field(default_factory=list)
    hostbits: list[tuple[str, str, str]] = field(default_factory=list)
    threshold: dict[str, Any] | None = None
    detection_filter: dict[str, Any] | None = None
    app_protos: list[tuple[str, bool, str]] = field(default_factory=list)
    noalert: bool = False
    stream_only: bool = False
    packet_only: bool = False
    tx_checks: list[tuple[str, Any]] = field(default_factory=list)
    fast: bytes | None = None
    fast_nocase: bool = False
    order: int = 0

    @property
    def sid(self) -> int:
        return self.rule.sid

    def bufnames(self) -> set[str]:
        return {b.name for b in self.buffers}


# --- variables, addresses, ports ---------------------------------------------

DEFAULT_ADDR_VARS = {
    "HOME_NET": "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]",
    "EXTERNAL_NET": "!$HOME_NET",
    "HTTP_SERVERS": "$HOME_NET",
    "SMTP_SERVERS": "$HOME_NET",
    "SQL_SERVERS": "$HOME_NET",
    "DNS_SERVERS": "$HOME_NET",
    "TELNET_SERVERS": "$HOME_NET",
    "AIM_SERVERS": "$EXTERNAL_NET",
    "DC_SERVERS": "$HOME_NET",
    "DNP3_SERVER": "$HOME_NET",
    "DNP3_CLIENT": "$HOME_NET",
    "MODBUS_CLIENT": "$HOME_NET",
    "MODBUS_SERVER": "$HOME_NET",
    "ENIP_CLIENT": "$HOME_NET",
    "ENIP_SERVER": "$HOME_NET",
}
DEFAULT_PORT_VARS = {
    "HTTP_PORTS": "80",
    "SHELLCODE_PORTS": "!80",
    "ORACLE_PORTS": "1521",
    "SSH_PORTS": "22",
    "DNP3_PORTS": "20000",
    "MODBUS_PORTS": "502",
    "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
    "FTP_PORTS": "21",
    "GENEVE_PORTS": "6081",
    "VXLAN_PORTS": "4789",
    "TEREDO_PORTS": "3544",
}


@dataclass
class Vars:
    addr: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ADDR_VARS))
    port: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PORT_VARS))


Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_list(s: str) -> list[str]:
    s = s.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1]
    out: list[str] = []
    depth = 0
    cur = ""
    for c in s:
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        if c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


class AddrSet:
    """Positive and negative networks; `any` is None-positive."""

    def __init__(self, pos: list[Net] | None, neg: list[Net]) -> None:
        self.pos = pos
        self.neg = neg

    def match(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if self.pos is not None and not any(ip.version == n.version and ip in n for n in self.pos):
            return False
        return not any(ip.version == n.version and ip in n for n in self.neg)


_T = TypeVar("_T")


def _parse_set(
    text: str,
    variables: Mapping[str, str],
    leaf: Callable[[str], list[_T]],
    what: str,
    depth: int = 0,
) -> tuple[list[_T] | None, list[_T]]:
    """Suricata's address/port list grammar: `[a, !b, $VAR, [..]]` -> (positives|None=any, negatives).

    Negating a group swaps its positives and negatives; `!any` matches nothing (an error).
    """
    if depth > 10:
        raise RuleError(what, f"{what} variable recursion in {text!r}")
    pos: list[_T] = []
    neg: list[_T] = []
    any_pos = False
    has_pos = False
    items = _split_list(text) if text.strip().startswith("[") else [text.strip()]
    for item in items:
        negate = False
        while item.startswith("!"):
            negate = not negate
            item = item[1:].strip()
        sub_pos: list[_T] | None
        if item.startswith("$"):
            name = item[1:]
            if name not in variables:
                raise RuleError(what, f"undefined {what} variable ${name}")
            sub_pos, sub_neg = _parse_set(variables[name], variables, leaf, what, depth + 1)
        elif item.startswith("["):
            sub_pos, sub_neg = _parse_set(item, variables, leaf, what, depth + 1)
        elif item == "any":
            sub_pos, sub_neg = None, []
        else:
            sub_pos, sub_neg = leaf(item), []
        if negate:
            if sub_pos is None:
                raise RuleError(what, "'!any' matches nothing")
            neg.extend(sub_pos)
            pos.extend(sub_neg)
            if sub_neg:
                has_pos = True
        else:
            has_pos = True
            if sub_pos is None:
                any_pos = True
            else:
                pos.extend(sub_pos)
            neg.extend(sub_neg)
    return (None if (any_pos or not has_pos) else pos), neg


def _network(item: str) -> list[Net]:
    try:
        return [ipaddress.ip_network(item, strict=False)]
    except ValueError:
        raise RuleError(
            "address", f"bad address {item!r}: expected IP, CIDR, $VAR or any"
        ) from None


def parse_addr(text: str, vars_: Vars, depth: int = 0) -> AddrSet:
    return AddrSet(*_parse_set(text, vars_.addr, _network, "address", depth))


class PortSet:
    def __init__(self, pos: list[tuple[int, int]] | None, neg: list[tuple[int, int]]) -> None:
        self.pos = pos
        self.neg = neg

    def match(self, port: int) -> bool:
        if self.pos is not None and not any(a <= port <= b for a, b in self.pos):
            return False
        return not any(a <= port <= b for a, b in self.neg)


def _port_range(item: str) -> list[tuple[int, int]]:
    m = re.fullmatch(r"(\d*)\s*(:?)\s*(\d*)", item)
    if not m or (not m.group(1) and not m.group(3)):
        raise RuleError("port", f"bad port {item!r}: expected N, N:M, $VAR or any")
    a = int(m.group(1)) if m.group(1) else 0
    b = int(m.group(3)) if m.group(3) else (65535 if m.group(2) else a)
    if a > 65535 or b > 65535:
        raise RuleError("port", f"port out of range in {item!r}")
    return [(a, b)]


def parse_ports(text: str, vars_: Vars, depth: int = 0) -> PortSet:
    return PortSet(*_parse_set(text, vars_.port, _port_range, "port", depth))


# --- option value helpers -----------------------------------------------------


def unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        return v[1:-1]
    return v


def parse_content_bytes(text: str, kw: str = "content") -> bytes:
    """Suricata content string: `|hex|` blocks and backslash escapes of `" ; \\ :`."""
    out = bytearray()
    i = 0
    n = len(text)
    in_hex = False
    hexbuf = ""
    while i < n:
        c = text[i]
        if in_hex:
            if c == "|":
                h = hexbuf.replace(" ", "")
                if len(h) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", h):
                    raise RuleError(kw, f"bad hex block |{hexbuf}| in {kw}")
                out += bytes.fromhex(h)
                hexbuf = ""
                in_hex = False
            else:
                hexbuf += c
            i += 1
            continue
        if c == "|":
            in_hex = True
            i += 1
            continue
        if c == "\\" and i + 1 < n:
            out += text[i + 1].encode("utf-8", "surrogateescape")
            i += 2
            continue
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    if in_hex:
        raise RuleError(kw, f"unterminated hex block in {kw}")
    return bytes(out)


def _num_or_var(v: str, kw: str) -> int | str:
    v = v.strip()
    try:
        return int(v, 0)
    except ValueError:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            return v
        raise RuleError(
            kw, f"{kw}: expected a number or byte_extract variable, got {v!r}"
        ) from None


def _int(v: str, kw: str) -> int:
    try:
        return int(v.strip(), 0)
    except ValueError:
        raise RuleError(kw, f"{kw}: expected an integer, got {v!r}") from None


_RANGE_RE = re.compile(r"^\s*(!=|<=|>=|<|>|=|!)?\s*(-?\w+)\s*(?:(<>|-)\s*(-?\w+))?\s*$")


def parse_range(v: str, kw: str) -> tuple[str, int, int]:
    """Suricata numeric match: N, <N, >N, <=N, >=N, !N, A<>B, A-B."""
    m = _RANGE_RE.match(v)
    if not m:
        raise RuleError(kw, f"{kw}: bad value {v!r}")
    op, a, rng, b = m.groups()
    ai = _int(a, kw)
    if rng:
        return ("<>", ai, _int(b, kw))
    return (op or "=", ai, 0)


def range_match(spec: tuple[str, int, int], x: int) -> bool:
    op, a, b = spec
    if op == "=":
        return x == a
    if op in ("!", "!="):
        return x != a
    if op == "<":
        return x < a
    if op == ">":
        return x > a
    if op == "<=":
        return x <= a
    if op == ">=":
        return x >= a
    return a < x < b


_PCRE_FLAGS_TO_BUF = {
    "U": "http.uri",
    "I": "http.uri.raw",
    "P": "http.request_body",
    "Q": "file.data",
    "H": "http.header",
    "D": "http.header.raw",
    "M": "http.method",
    "C": "http.cookie",
    "S": "http.stat_code",
    "Y": "http.stat_msg",
    "V": "http.user_agent",
    "W": "http.host",
    "Z": "http.host.raw",
}


def _compile_pcre(value: str) -> tuple[Pcre, str | None]:
    v = unquote(value)
    negated = False
    if v.startswith("!"):
        negated = True
        v = unquote(v[1:])
    if not v.startswith("/"):
        raise RuleError("pcre", f"pcre: expected /regex/flags, got {value!r}")
    end = v.rfind("/")
    if end <= 0:
        raise RuleError("pcre", "pcre: missing closing '/'")
    pat = v[1:end]
    flags = v[end + 1 :]
    import regex

    rflags = regex.DOTALL * 0
    relative = False
    buf: str | None = None
    for f in flags:
        if f == "i":
            rflags |= regex.IGNORECASE
        elif f == "s":
            rflags |= regex.DOTALL
        elif f == "m":
            rflags |= regex.MULTILINE
        elif f == "x":
            rflags |= regex.VERBOSE
        elif f == "R":
            relative = True
        elif f == "G":
            rflags |= regex.UNGREEDY if hasattr(regex, "UNGREEDY") else 0
        elif f in ("A",):
            pat = r"\G(?:" + pat + ")" if False else "(?:" + pat + ")"
            if not pat.startswith("^"):
                pat = "^" + pat
        elif f == "E":
            pat = pat + r"\Z" if not pat.endswith("$") else pat
        elif f == "O" or f == "B":
            pass
        elif f in _PCRE_FLAGS_TO_BUF:
            buf = _PCRE_FLAGS_TO_BUF[f]
        else:
            raise RuleError("pcre", f"pcre: unknown flag {f!r}")
    # PCRE's $ without /m matches at the very end or before a final newline (same as Python)
    try:
        rx = regex.compile(pat.encode("latin-1", "replace"), rflags)
    except (regex.error, ValueError) as exc:
        raise RuleError("pcre", f"pcre: bad regex: {exc}") from None
    return Pcre(rx, negated, relative, v), buf


def _byte_common(parts: list[str], op: ByteOp, kw: str, start: int) -> None:
    for p in parts[start:]:
        p = p.strip()
        low = p.lower()
        if low == "relative":
            op.relative = True
        elif low == "big":
            op.big = True
        elif low == "little":
            op.big = False
        elif low == "string":
            op.string = op.string or "dec"
        elif low in ("hex", "dec", "oct"):
            op.string = low
        elif low == "align":
            op.align = True
        elif low == "from_beginning":
            op.from_beginning = True
        elif low == "from_end":
            op.from_end = True
        elif low == "dce":
            op.endian_dce = True
            op.big = False
        elif low.startswith("multiplier"):
            op.multiplier = _int(p.split(None, 1)[1] if " " in p else "", kw)
        elif low.startswith("post_offset"):
            op.post_offset = _int(p.split(None, 1)[1] if " " in p else "", kw)
        elif low.startswith("bitmask"):
            op.bitmask = _int(p.split(None, 1)[1] if " " in p else "", kw)
        elif low == "":
            continue
        else:
            raise RuleError(kw, f"{kw}: unknown option {p!r}")


def _parse_byte(kw: str, value: str) -> ByteOp:
    parts = [p.strip() for p in value.split(",")]
    if kw == "byte_test":
        if len(parts) < 4:
            raise RuleError(kw, "byte_test: expected 'bytes, [!]op, value, offset[, options]'")
        op = ByteOp("test", nbytes=_num_or_var(parts[0], kw))
        o = parts[1].replace(" ", "")
        if o.startswith("!"):
            op.negate = True
            o = o[1:]
        if o not in ("<", ">", "=", "<=", ">=", "&", "^", "!="):
            raise RuleError(kw, f"byte_test: bad operator {parts[1]!r}")
        if o == "!=":
            op.negate = not op.negate
            o = "="
        op.op = o
        op.value = _num_or_var(parts[2], kw)
        op.offset = _num_or_var(parts[3], kw)
        _byte_common(parts, op, kw, 4)
    elif kw == "byte_jump":
        if len(parts) < 2:
            raise RuleError(kw, "byte_jump: expected 'bytes, offset[, options]'")
        op = ByteOp("jump", nbytes=_num_or_var(parts[0], kw), offset=_num_or_var(parts[1], kw))
        _byte_common(parts, op, kw, 2)
    elif kw == "byte_extract":
        if len(parts) < 3:
            raise RuleError(kw, "byte_extract: expected 'bytes, offset, name[, options]'")
        op = ByteOp("extract", nbytes=_int(parts[0], kw), offset=_int(parts[1], kw), name=parts[2])
        _byte_common(parts, op, kw, 3)
    else:  # byte_math
        op = ByteOp("math")
        have = set()
        rest: list[str] = []
        for p in parts:
            k, _, v = p.strip().partition(" ")
            v = v.strip()
            if k == "bytes":
                op.nbytes = _num_or_var(v, kw)
            elif k == "offset":
                op.offset = _int(v, kw)
            elif k == "oper":
                if v not in ("+", "-", "*", "/", "<<", ">>"):
                    raise RuleError(kw, f"byte_math: bad oper {v!r}")
                op.op = v
            elif k == "rvalue":
                op.rvalue = _num_or_var(v, kw)
            elif k == "result":
                op.name = v
            elif k == "endian":
                op.big = v != "little"
            elif k == "string":
                op.string = v or "dec"
            elif k == "bitmask":
                op.bitmask = _int(v, kw)
            else:
                rest.append(p)
                continue
            have.add(k)
        if not {"bytes", "offset", "oper", "rvalue", "result"} <= have:
            raise RuleError(kw, "byte_math: needs bytes, offset, oper, rvalue and result")
        _byte_common(rest, op, kw, 0)
    if isinstance(op.nbytes, int) and not (op.string or 0 <= op.nbytes <= 10):
        raise RuleError(kw, f"{kw}: bytes must be 1..10 (or up to 23 with string)")
    if isinstance(op.nbytes, int) and op.nbytes > 23:
        raise RuleError(kw, f"{kw}: bytes must be at most 23")
    return op


# --- the compiler -------------------------------------------------------------

IGNORED = {
    "msg",
    "sid",
    "rev",
    "gid",
    "classtype",
    "priority",
    "reference",
    "metadata",
    "target",
    "prefilter",
    "tag",
    "noalert",
    "requires",
    "config",
}

PROTO_IP = {
    "tcp": {6},
    "udp": {17},
    "icmp": {1, 58},
    "icmpv4": {1},
    "icmpv6": {58},
    "sctp": {132},
    "igmp": {2},
}
APP_PROTOS = {
    "http",
    "http1",
    "dns",
    "tls",
    "ssl",
    "smtp",
    "ftp",
    "ssh",
    "ftp-data",
    "dcerpc",
    "smb",
    "krb5",
}


def compile_rule(rule: Rule, vars_: Vars, order: int = 0) -> Sig:
    proto = rule.proto.lower()
    app: str | None = None
    ip_protos: frozenset[int] | None = None
    stream_only = packet_only = False
    if proto in ("ip", "ipv4", "ipv6", "pkthdr"):
        ip_protos = None
    elif proto in PROTO_IP:
        ip_protos = frozenset(PROTO_IP[proto])
    elif proto == "tcp-pkt":
        ip_protos, packet_only = frozenset({6}), True
        proto = "tcp"
    elif proto == "tcp-stream":
        ip_protos, stream_only = frozenset({6}), True
        proto = "tcp"
    elif proto in APP_PROTOS:
        app = {"http1": "http", "ssl": "tls"}.get(proto, proto)
        ip_protos = frozenset({6}) if app not in ("dns",) else frozenset({6, 17})
    else:
        raise Unsupported("protocol", f"protocol {rule.proto!r} is not supported")
    sig = Sig(
        rule=rule,
        action=rule.action,
        proto=proto,
        ip_protos=ip_protos,
        app=app,
        src=parse_addr(rule.src, vars_),
        dst=parse_addr(rule.dst, vars_),
        sport=parse_ports(rule.sport, vars_),
        dport=parse_ports(rule.dport, vars_),
        bidir=rule.direction == "<>",
        stream_only=stream_only,
        packet_only=packet_only,
        noalert=rule.noalert,
        order=order,
    )
    cur: BufRef | None = None  # current sticky buffer
    last_b64: Base64Decode | None = None  # the base64_decode a base64_data refers to
    last: Any = None  # last content/pcre for modifiers
    last_buf: BufRef | None = None
    flow: set[str] = set()

    def buf(name: str) -> BufRef:
        for b in sig.buffers:
            if b.name == name:
                return b
        b = BufRef(name)
        sig.buffers.append(b)
        return b

    def add_item(item: Any, into: BufRef | None = None) -> BufRef:
        """Append to `into`, else the current sticky buffer, else the payload."""
        b = into if into is not None else (cur if cur is not None else buf("pkt"))
        if b not in sig.buffers and b.name != _B64_DATA:
            sig.buffers.append(b)  # base64_data's items live in their Base64Decode
        b.items.append(item)
        return b

    def need_content(kw: str) -> Content:
        if not isinstance(last, Content):
            raise RuleError(kw, f"{kw} needs a preceding content")
        return last

    for name, value in rule.options:
        kw = name.lower()
        val = value or ""
        if kw in IGNORED:
            if kw == "tag":
                pass
            continue
        if kw == "content":
            v = val.strip()
            neg = False
            if v.startswith("!"):
                neg = True
                v = v[1:].strip()
            if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
                raise RuleError("content", f"content: expected a quoted string, got {val!r}")
            pat = parse_content_bytes(v[1:-1])
            if not pat:
                raise RuleError("content", "content: empty pattern")
            last = Content(pat, negated=neg)
            last_buf = add_item(last)
        elif kw in ("nocase", "rawbytes"):
            c = need_content(kw)
            if kw == "nocase":
                c.nocase = True
        elif kw in ("depth", "offset", "distance", "within"):
            c = need_content(kw)
            setattr(c, kw, _num_or_var(val, kw))
        elif kw == "startswith":
            need_content(kw).startswith = True
        elif kw == "endswith":
            need_content(kw).endswith = True
        elif kw == "fast_pattern":
            c = need_content(kw)
            c.fast_pattern = True
            if val.strip() == "only":
                c.fp_only = True
        elif kw in MODIFIERS:
            if last is None or last_buf is None:
                raise RuleError(kw, f"{kw} needs a preceding content or pcre")
            target = buf(MODIFIERS[kw]) if last_buf.name != MODIFIERS[kw] else last_buf
            if target is not last_buf:
                last_buf.items.remove(last)
                target.items.append(last)
                if not last_buf.items and last_buf is not cur:
                    sig.buffers.remove(last_buf)
                last_buf = target
        elif kw in STICKY:
            cur = buf(STICKY[kw])
            last = None
        elif kw == "tls.fingerprint":
            # the legacy keyword: a content on the certificate fingerprint (detect-tls.c)
            v = val.strip()
            pat = parse_content_bytes(v[1:-1] if len(v) >= 2 and v[0] == v[-1] == '"' else v)
            if not pat:
                raise RuleError(kw, "tls.fingerprint: empty fingerprint")
            last = Content(pat)
            last_buf = add_item(last, buf("tls.cert_fingerprint"))
        elif kw == "base64_decode":
            last_b64 = _parse_base64_decode(val)
            # into the current sticky buffer, else the last content's, else the payload
            add_item(last_b64, cur if cur is not None else last_buf)
        elif kw == "base64_data":
            if last_b64 is None:
                raise RuleError(kw, "base64_data needs a preceding base64_decode")
            cur = BufRef(_B64_DATA, last_b64.data)
            last = None
        elif kw == "pcre":
            pc, pbuf = _compile_pcre(val)
            if pbuf:
                b = buf(pbuf)
                b.items.append(pc)
                last_buf = b
            else:
                last_buf = add_item(pc)
            last = pc
        elif kw in ("byte_test", "byte_jump", "byte_extract", "byte_math"):
            last = None
            last_buf = add_item(_parse_byte(kw, val))
        elif kw == "isdataat":
            parts = [p.strip() for p in val.split(",")]
            neg = parts[0].startswith("!")
            n = _num_or_var(parts[0].lstrip("!"), kw)
            rel = any(p == "relative" for p in parts[1:])
            for p in parts[1:]:
                if p not in ("relative", "rawbytes"):
                    raise RuleError(kw, f"isdataat: unknown option {p!r}")
            add_item(IsDataAt(n, rel, neg))
        elif kw == "bsize":
            rng = parse_range(val, kw)
            add_item(Bsize(*rng))
        elif kw == "flow":
            for part in val.split(","):
                fo = part.strip().lower()
                if fo not in (
                    "established",
                    "not_established",
                    "stateless",
                    "to_server",
                    "to_client",
                    "from_server",
                    "from_client",
                    "only_stream",
                    "no_stream",
                    "only_frag",
                    "no_frag",
                ):
                    raise RuleError("flow", f"flow: unknown option {fo!r}")
                flow.add({"from_server": "to_client", "from_client": "to_server"}.get(fo, fo))
        elif kw == "flowbits":
            v = val.strip()
            if v == "noalert":
                sig.noalert = True
                continue
            parts = [p.strip() for p in v.split(",", 1)]
            cmd = parts[0]
            if cmd not in ("set", "unset", "toggle", "isset", "isnotset"):
                raise RuleError("flowbits", f"flowbits: unknown command {cmd!r}")
            if len(parts) < 2:
                raise RuleError("flowbits", f"flowbits:{cmd} needs a name")
            sep = "|" if cmd in ("isset", "isnotset") else "&"
            names = [n.strip() for n in parts[1].split(sep)]
            if cmd in ("set", "unset", "toggle") and "|" in parts[1]:
                raise RuleError("flowbits", "flowbits: '|' only with isset/isnotset")
            sig.flowbits.append((cmd, names))
        elif kw == "flowint":
            parts = [p.strip() for p in val.split(",")]
            if len(parts) < 2:
                raise RuleError("flowint", "flowint: expected 'name, op[, value]'")
            arg: int | str | None = None
            if len(parts) > 2:
                arg = _num_or_var(parts[2], kw)
            sig.flowints.append((parts[0], parts[1], arg))
        elif kw in ("hostbits", "xbits"):
            parts = [p.strip() for p in val.split(",")]
            if parts[0] == "noalert":
                sig.noalert = True
                continue
            if len(parts) < 2:
                raise RuleError(kw, f"{kw}: expected 'cmd, name[, track]'")
            track = parts[2] if len(parts) > 2 else "src"
            track = track.replace("track ", "").replace("ip_", "").strip()
            if parts[0] not in ("set", "unset", "toggle", "isset", "isnotset"):
                raise RuleError(kw, f"{kw}: unknown command {parts[0]!r}")
            sig.hostbits.append(
                (parts[0], parts[1], track if track in ("src", "dst", "both", "pair") else "src")
            )
        elif kw in ("threshold", "detection_filter"):
            d: dict[str, Any] = {}
            for part in val.split(","):
                k, _, v2 = part.strip().partition(" ")
                d[k.strip()] = v2.strip()
            try:
                tspec = {
                    "type": d.get("type", "threshold"),
                    "track": d.get("track", "by_src"),
                    "count": int(d["count"]),
                    "seconds": int(d["seconds"]),
                    "unique_on": d.get("unique_on"),
                }
            except (KeyError, ValueError):
                raise RuleError(
                    kw, f"{kw}: expected 'type T, track by_src|by_dst, count N, seconds S'"
                ) from None
            if kw == "threshold":
                sig.threshold = tspec
            else:
                sig.detection_filter = tspec
        elif kw == "app-layer-protocol":
            parts = [p.strip() for p in val.split(",")]
            neg = parts[0].startswith("!")
            sig.app_protos.append((parts[0].lstrip("!").strip(), neg, ",".join(parts[1:])))
        elif kw in _PKT_CHECK_KWS:
            sig.pkt_checks.append((kw, _parse_check(kw, val)))
        else:
            raise Unsupported(kw, f"keyword {kw!r} is not supported")
    sig.flow = frozenset(flow)
    for b in sig.buffers:
        if b.name in _LOWERED_BUFS:  # Suricata lowercases their contents (DetectLowerSetupCallback)
            for it in b.items:
                if isinstance(it, Content):
                    it.pattern = it.pattern.lower()
    if "only_stream" in flow:
        sig.stream_only = True
    if "no_stream" in flow:
        sig.packet_only = True
    # app protocol implied by buffers
    for b in sig.buffers:
        a = APP_OF_BUF.get(b.name)
        if a and a != "file" and sig.app is None:
            sig.app = a
        if b.name == "file.data" and sig.app is None:
            sig.app = "http"
    for kw, _spec in sig.pkt_checks:
        if kw in ("ssl_version", "tls.version") and sig.app is None:
            sig.app = "tls"
        if kw == "urilen" and sig.app is None:
            sig.app = "http"
        if kw in ("dns.opcode", "dns.rrtype") and sig.app is None:
            sig.app = "dns"
    for b in sig.buffers:
        for it in b.items:
            if not (isinstance(it, Content) and it.startswith):
                continue
            it.depth = len(it.pattern) if it.offset is None and not it.relative else it.depth
            if it.relative:
                it.within = len(it.pattern) + (it.distance if isinstance(it.distance, int) else 0)
                if it.distance is None:
                    it.distance = 0
            elif it.offset is None:
                it.offset = 0
    # fast pattern: explicit, else the longest positive content of the first matched buffer
    best: Content | None = None
    for b in sig.buffers:
        if b.name != "pkt":
            continue  # the prefilter scans payload/stream only; other buffers are checked directly
        for it in b.items:
            if isinstance(it, Content) and not it.negated:
                if it.fast_pattern:
                    best = it
                    break
                if best is None or len(it.pattern) > len(best.pattern):
                    best = it
        if best is not None and best.fast_pattern:
            break
    if best is not None:
        sig.fast = best.pattern
        sig.fast_nocase = best.nocase
    return sig


def _parse_check(kw: str, val: str) -> Any:
    v = val.strip()
    if kw in _RANGE_CHECK_KWS:
        neg = False
        if kw == "window" and v.startswith("!"):
            neg, v = True, v[1:]
        spec = parse_range(v, kw)
        if neg:
            spec = ("!=", spec[1], 0)
        return spec
    if kw == "urilen":
        parts = [p.strip() for p in v.split(",")]
        return (parse_range(parts[0], kw), "raw" in parts[1:])
    if kw == "ip_proto":
        names = {
            "tcp": 6,
            "udp": 17,
            "icmp": 1,
            "gre": 47,
            "ipv6-icmp": 58,
            "icmpv6": 58,
            "sctp": 132,
            "esp": 50,
        }
        neg = v.startswith("!")
        v2 = v.lstrip("!<> =").strip()
        try:
            num = int(v2)
        except ValueError:
            if v2.lower() not in names:
                raise RuleError(kw, f"ip_proto: unknown protocol {v2!r}") from None
            num = names[v2.lower()]
        op = "!" if neg else (v[0] if v[0] in "<>" else "=")
        return (op, num, 0)
    if kw in ("flags", "tcp.flags"):
        main, _, mask = v.partition(",")
        mod = ""
        chars = main.strip()
        if chars and chars[0] in "!*+":
            mod, chars = chars[0], chars[1:]
        elif chars and chars[-1] in "!*+":
            mod, chars = chars[-1], chars[:-1]
        bits = {
            "F": 1,
            "S": 2,
            "R": 4,
            "P": 8,
            "A": 16,
            "U": 32,
            "C": 128,
            "E": 64,
            "1": 128,
            "2": 64,
            "0": 0,
        }
        fl = 0
        for ch in chars.upper():
            if ch not in bits:
                raise RuleError(kw, f"flags: unknown flag {ch!r}")
            fl |= bits[ch]
        ignore = 0
        for ch in mask.strip().upper():
            if ch not in bits:
                raise RuleError(kw, f"flags: unknown mask flag {ch!r}")
            ignore |= bits[ch]
        return (mod, fl, ignore)
    if kw == "fragbits":
        mod = ""
        chars = v
        if chars and chars[0] in "!*+":
            mod, chars = chars[0], chars[1:]
        bits = {"M": 1, "D": 2, "R": 4}
        fl = 0
        for ch in chars.upper():
            if ch not in bits:
                raise RuleError(kw, f"fragbits: unknown bit {ch!r}")
            fl |= bits[ch]
        return (mod, fl)
    if kw == "fragoffset":
        neg = v.startswith("!")
        return (neg, parse_range(v.lstrip("!"), kw))
    if kw == "ipopts":
        names = {
            "rr": 7,
            "eol": 0,
            "nop": 1,
            "ts": 68,
            "sec": 130,
            "esec": 133,
            "lsrr": 131,
            "ssrr": 137,
            "satid": 136,
        }
        if v.lower() == "any":
            return -1
        if v.lower() not in names:
            raise RuleError(kw, f"ipopts: unknown option {v!r}")
        return names[v.lower()]
    if kw == "stream_size":
        parts = [p.strip() for p in v.split(",")]
        if len(parts) != 3 or parts[0] not in ("server", "client", "both", "either"):
            raise RuleError(kw, "stream_size: expected 'server|client|both|either, op, value'")
        return (parts[0], parts[1], _int(parts[2], kw))
    if kw in ("ssl_version",):
        out = []
        for p in v.split(","):
            p = p.strip()
            neg = p.startswith("!")
            name = p.lstrip("!").strip().lower()
            vers = {
                "sslv2": 0x0200,
                "sslv3": 0x0300,
                "tls1.0": 0x0301,
                "tls1.1": 0x0302,
                "tls1.2": 0x0303,
                "tls1.3": 0x0304,
            }
            if name not in vers:
                raise RuleError(kw, f"ssl_version: unknown version {name!r}")
            out.append((vers[name], neg))
        return out
    if kw == "tls.version":
        vv = unquote(v)
        vers2 = {"1.0": 0x0301, "1.1": 0x0302, "1.2": 0x0303, "1.3": 0x0304}
        if vv in vers2:
            return vers2[vv]
        try:
            return int(vv, 0)
        except ValueError:
            raise RuleError(kw, f"tls.version: bad version {vv!r}") from None
    if kw == "dns.opcode":
        neg = v.startswith("!")
        return (neg, parse_range(v.lstrip("!"), kw))
    if kw == "dns.rrtype":
        val, _, idx = v.partition(",")
        neg = val.strip().startswith("!")
        index: int | str | None = None
        if idx.strip():
            index = "all" if idx.strip() == "all" else _int(idx, kw)
        return (neg, parse_range(val.strip().lstrip("!"), kw), index)
    if kw == "sameip":
        return True
    raise Unsupported(kw, f"keyword {kw!r} is not supported")
