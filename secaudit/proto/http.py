"""HTTP/1.x messages from one direction of a reassembled stream, parsed the lenient way.

Servers and clients disagree on framing (the HTTP-evader cases: odd chunk
lines, folded or duplicated Content-Length, stacked Content-Encodings, junk
before the status line).  An IDS must see what *some* real client would see,
so a response body is kept as a small set of candidate decodings (the strict
libhtp-like one first, then the lenient alternatives); detection matches if
any candidate does.  Every decoder is bounded: `MAX_BODY` decoded bytes per
candidate, `MAX_LAYERS` nested encodings, `MAX_HEADERS` header lines.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

__all__ = ["HttpMessage", "parse_requests", "parse_responses", "normalize_uri", "MAX_BODY"]

MAX_BODY = 8 << 20
MAX_LAYERS = 3
MAX_HEADERS = 1024
MAX_CANDIDATES = 12

_HDR_RE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]*:")
_METHOD_RE = re.compile(rb"^[A-Za-z][A-Za-z0-9_\-]{0,31}$")
_CLEN_RE = re.compile(rb"\s*(\d+)")
_STATUS_RE = re.compile(rb"(?i)http/?\d")
_PROTO_RE = re.compile(rb"(?i)(http/?[\d.]*)(.*)")
# what data[pos:].lstrip() starts with, tested in place (bytes.lstrip strips exactly \s)
_HTTP_AT = re.compile(rb"\s*(?i:http)")
_ALNUM_AT = re.compile(rb"\s*[0-9A-Za-z]")


@dataclass
class HttpMessage:
    """One request or response; header names keep their case, lookups are case-insensitive."""

    start_line: bytes = b""
    method: bytes = b""
    uri: bytes = b""
    protocol: bytes = b""
    status: bytes = b""
    reason: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw_headers: bytes = b""
    body_raw: bytes = b""
    bodies: list[bytes] = field(default_factory=list)
    start: int = 0
    end: int = 0
    header_end: int = 0
    complete: bool = False

    def header(self, name: bytes) -> bytes | None:
        """Values of `name`, case-insensitive and ignoring NUL bytes in the message's names
        (libhtp's lookups do both), joined by ", "."""
        low = name.lower()
        k = len(low)  # lower() keeps lengths: other names are not lowered at all
        vals = [
            v
            for n, v in self.headers
            if (len(n) == k and n.lower() == low) or (b"\0" in n and _low(n) == low)
        ]
        if not vals:
            return None
        return b", ".join(vals)

    @property
    def body(self) -> bytes:
        return self.bodies[0] if self.bodies else b""


def _low(name: bytes) -> bytes:
    """A header name as libhtp compares it: lower case, NUL bytes left out."""
    return name.replace(b"\0", b"").lower() if b"\0" in name else name.lower()


def _line(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """Next line (without CR/LF) and the position after it; None when no LF yet."""
    i = data.find(b"\n", pos)
    if i < 0:
        return None
    line = data[pos:i]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line, i + 1


_WS = b" \t\r\x0b\x0c"


def _plain_headers(
    data: bytes, pos: int, need_colon: bool = False
) -> tuple[list[tuple[bytes, bytes]], int] | None:
    """The common case in one split: a CRLF-terminated block of `name: value` lines without
    folding, whitespace-only lines or bare LFs (else None, and the line parser decides;
    `need_colon`: also for a line without a colon)."""
    end = data.find(b"\r\n\r\n", pos)
    if end <= pos:
        return None
    block = data[pos:end]
    lines = block.split(b"\r\n")
    if len(lines) >= MAX_HEADERS or block.count(b"\n") != len(lines) - 1:
        return None
    headers = []
    for line in lines:
        if line[:1] in (b" ", b"\t", b"\0") or not line.strip(_WS):
            return None
        n, colon, v = line.partition(b":")
        if need_colon and not colon:
            return None
        headers.append((n.strip(), v.strip(_WS)) if colon else (line.strip(), b""))
    return headers, end + 4


def _parse_headers(data: bytes, pos: int) -> tuple[list[tuple[bytes, bytes]], int, bool]:
    """Header lines until an empty line; folding joins continuation lines (a line that
    starts with a space, a tab or a NUL, libhtp's folding whitespace)."""
    plain = _plain_headers(data, pos)
    if plain is not None:
        return plain[0], plain[1], True
    headers: list[tuple[bytes, bytes]] = []
    while len(headers) < MAX_HEADERS:
        r = _line(data, pos)
        if r is None:
            return headers, len(data), False
        line, nxt = r
        if not line:
            return headers, nxt, True
        if not line.strip(_WS):
            # a whitespace-only line is folding when more header text follows it,
            # else it ends the headers (what browsers do with both)
            nl = _line(data, nxt)
            if (
                headers
                and nl is not None
                and (not nl[0] or nl[0][:1] in (b" ", b"\t") or _HDR_RE.match(nl[0]))
            ):
                pos = nxt
                continue
            return headers, nxt, True
        if line[:1] in (b" ", b"\t", b"\0") and headers:
            n, v = headers[-1]
            part = line[1:] if line[:1] == b"\0" else line  # the fold byte is not value
            headers[-1] = (n, (v + b" " + part.strip()).strip())
            pos = nxt
            continue
        if b":" in line:
            n, v = line.split(b":", 1)
            headers.append((n.strip(), v.strip(_WS)))
        elif line.strip():
            headers.append((line.strip(), b""))
        pos = nxt
    return headers, pos, True


# --- libhtp-rs response header grammar (rust/htp/src/headers.rs, Side::Response) ----------
#
# A port of its line ends, folding and name/value split, used for response headers: a
# bare CR ends a line, "\n\r" is one line end, "deformed" line ends ("\r\n\r" + CR/space/
# tab run + optional LF, or "\n\r\r\n" before another line end) are one line end, a NUL
# is folding whitespace, and a header ends the block when a line end follows it.

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


_CR_OR_LF = re.compile(rb"[\r\n]")
_NAME_STOP = re.compile(rb"[:\r\n]")


def _eol_regular(d: bytes, i: int) -> int:
    """Length of a response line end at i ("\\r\\n", "\\n\\r", "\\n", "\\r"), 0 for none."""
    if d.startswith(b"\r\n", i) or d.startswith(b"\n\r", i):
        return 2
    return 1 if i < len(d) and d[i] in (10, 13) else 0


def _eol_deformed(d: bytes, i: int) -> int:
    if d.startswith(b"\n\r\r\n", i) and (
        d.startswith(b"\n", i + 4) or d.startswith(b"\r\n", i + 4)
    ):
        return 4
    if d.startswith(b"\r\n\r", i):
        k = i + 3
        while k < len(d) and d[k] in (13, 32, 9):
            k += 1
        if k > i + 3:
            if k < len(d) and d[k] == 10:
                k += 1
            if not (d.startswith(b"\n", k) or d.startswith(b"\r\n", k)):
                return k - i
    return 0


def _eol(d: bytes, i: int) -> int:
    return _eol_deformed(d, i) or _eol_regular(d, i)


def _value_bytes(d: bytes, i: int) -> tuple[int, bytes, int, int] | None:
    """(position after, value bytes, line-end length, fold byte or -1); None: no line end."""
    n = len(d)
    m = _CR_OR_LF.search(d, i)
    j = m.start() if m is not None else n
    value = d[i:j]
    e = _eol_regular(d, j)
    if e and j + e < n and d[j + e] in (32, 9, 0):  # folding: a regular line end + lws
        return j + e + 1, value, e, d[j + e]
    e = _eol(d, j)
    if not e:
        return None
    return j + e, value, e, -1


def _token_colon(d: bytes, i: int) -> bool:
    """libhtp's peek for a new header: spaces, a token, spaces, ':'."""
    n = len(d)
    while i < n and d[i] in (32, 9):
        i += 1
    k = i
    while k < n and d[k] in _TOKEN:
        k += 1
    if k == i:
        return False
    while k < n and d[k] in (32, 9):
        k += 1
    return k < n and d[k] == 58


def _value(d: bytes, i: int) -> tuple[int, bytes] | None:
    first = _value_bytes(d, i)
    if first is None:
        return None
    rest, val, _e, fold = first
    value = bytearray(val)
    if fold < 0:
        return rest, bytes(value)
    j, ofold = rest, fold
    for _ in range(128):
        if _token_colon(d, j):
            return j, bytes(value)
        nxt = _value_bytes(d, j)
        if nxt is None:
            return None
        rest2, val2, e2, fold2 = nxt
        j = rest2
        if value:
            value.append(ofold)
        if val2 or e2 > 1:
            rest = rest2
            value += val2
        elif e2 == 1 and rest2 < len(d) and d[rest2] == 10:
            rest = rest2
        if fold2 < 0:
            return rest, bytes(value)
        ofold = fold2
    return rest, bytes(value)


def _name(d: bytes, i: int) -> int:
    """End of the header name starting at i (libhtp's name(): up to ':' across line ends
    followed by a space; 0 length when it finds no ':')."""
    terminated = 0
    n = len(d)
    k = i
    while k < n:
        if terminated == 0:  # jump to the next ':', CR or LF (the scan's only stops)
            m = _NAME_STOP.search(d, k)
            if m is None:
                break
            k = m.start()
        c = d[k]
        if terminated == 0:
            if c == 58:
                return k
            if c in (10, 13):
                terminated = c
        elif c == 32:
            terminated = 0
        elif c == 10 and terminated == 13:
            terminated = c
        else:
            return k - 1
        k += 1
    return i


def _response_headers_htp(d: bytes, pos: int) -> tuple[list[tuple[bytes, bytes]], int, bool]:
    """Response headers from pos: (name, value) list, end position, whether the block ended."""
    out: list[tuple[bytes, bytes]] = []
    i = pos
    while len(out) < 1024:
        got: tuple[int, bytes, bytes] | None = None
        k = _name(d, i)
        if k < len(d) and d[k] == 58:
            j = k + 1
            while j < len(d) and d[j] in (32, 9):
                j += 1
            v = _value(d, j)
            if v is not None:
                got = (v[0], d[i:k], v[1])
        if got is None and not d.startswith(b"\r\n", i):
            v = _value(d, i)
            if v is not None:
                got = (v[0], b"", v[1])
        if got is None:
            if not out:
                e = _eol(d, i)
                if e:
                    return out, i + e, True
            return out, len(d), False
        i, name, value = got
        out.append((name.strip(), value.strip(_WS)))
        e = _eol_regular(d, i)
        if e:
            return out, i + e, True
    return out, i, True


def _response_headers(data: bytes, pos: int) -> tuple[list[tuple[bytes, bytes]], int, bool]:
    """A response's headers: the plain CRLF block in one split when it has no bare CR,
    else libhtp-rs's grammar."""
    plain = _plain_headers(data, pos, need_colon=True)
    if plain is not None:
        end = plain[1]
        if data.count(b"\r", pos, end) == len(plain[0]) + 1:  # one CR per CRLF
            return plain[0], end, True
    return _response_headers_htp(data, pos)


def _status_line(data: bytes, pos: int) -> tuple[bytes, int] | None:
    """The response line and the position after it: libhtp ends it at CRLF, CR or LF."""
    m = _EOL_AT.search(data, pos)
    if m is None:
        return None
    return data[pos : m.start()], m.end()


_EOL_AT = re.compile(rb"\r\n|\r|\n")


def _gzip_payload(data: bytes) -> bytes | None:
    """Deflate data after a gzip header, parsed leniently (reserved flag bits ignored)."""
    if len(data) < 10 or data[:2] != b"\x1f\x8b":
        return None
    flg = data[3]
    p = 10
    try:
        if flg & 4:
            p += 2 + int.from_bytes(data[p : p + 2], "little")
        if flg & 8:
            p = data.index(b"\0", p) + 1
        if flg & 16:
            p = data.index(b"\0", p) + 1
        if flg & 2:
            p += 2
    except ValueError:
        return data[10:]
    return data[p:] if p <= len(data) else data[10:]


def _inflate(data: bytes, kind: str) -> bytes | None:
    """gzip / zlib / raw deflate, capped at MAX_BODY output; None when not that format."""
    if kind == "gzip":
        raw = _gzip_payload(data)
        if raw is not None:
            r = _inflate(raw, "raw")
            if r:
                return r
            r = _inflate(data[10:], "raw")
            if r:
                return r
        wbits = 16 + 15
    elif kind == "zlib":
        wbits = 15
    else:
        wbits = -15
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, MAX_BODY)
    except zlib.error:
        # keep what decoded before the damage, like a browser would
        try:
            d2 = zlib.decompressobj(wbits)
            out = b""
            step = 256
            for i in range(0, len(data), step):
                out += d2.decompress(data[i : i + step], MAX_BODY - len(out))
        except zlib.error:
            pass
        return out or None
    return out


def _decode_layer(data: bytes, enc: str) -> list[bytes]:
    out: list[bytes] = []
    if enc in ("gzip", "x-gzip"):
        order = ["gzip", "zlib", "raw"]
    elif enc == "deflate":
        order = ["zlib", "raw", "gzip"]
    else:
        order = ["gzip", "zlib", "raw"]
    for k in order:
        r = _inflate(data, k)
        if r:
            out.append(r)
            break
    return out


def _named(msg: HttpMessage, part: bytes) -> bool:
    """Whether a header name could contain `part` (lowercase): the parsers cut every name
    from raw_headers, so one search there spares lowering each name of most messages."""
    low = msg.raw_headers.lower()
    return part in low or (b"\0" in low and part in low.replace(b"\0", b""))


def _encodings(msg: HttpMessage) -> list[str]:
    encs: list[str] = []
    if not _named(msg, b"content-encoding"):
        return encs
    for n, v in msg.headers:
        if b"content-encoding" in _low(n):
            for part in re.split(rb"[,\s;]+", v.lower()):
                p = part.strip().decode("latin-1", "replace")
                if p and p not in ("identity", "none"):
                    encs.append(p)
    return encs


def _bodies(raw_variants: list[bytes], msg: HttpMessage, all_bodies: bool = True) -> list[bytes]:
    """Candidate decoded bodies: declared encodings applied in order, then sniffed layers.

    `all_bodies` False: only the first candidate (the first variant's declared decoding,
    which is all files.http_files carves), without the others' decompression."""
    encs = _encodings(msg)
    out: list[bytes] = []

    def add(b: bytes) -> None:
        if b not in out and len(out) < MAX_CANDIDATES:
            out.append(b[:MAX_BODY])

    for i, raw in enumerate(raw_variants):
        if len(raw) <= MAX_BODY and raw in raw_variants[:i]:
            continue  # it would add the same candidates again (a longer one: truncated twins)
        cur = [raw]
        if encs:
            for enc in encs[:MAX_LAYERS]:
                nxt: list[bytes] = []
                for c in cur:
                    nxt.extend(_decode_layer(c, enc) or [c])
                cur = nxt
        for c in cur:
            add(c)
        if not all_bodies:
            break
        # sniffed compression layers (servers that compress without saying so, or say it badly)
        c = raw
        for _ in range(MAX_LAYERS):
            if c[:2] == b"\x1f\x8b":
                d = _inflate(c, "gzip")
            elif len(c) >= 2 and c[0] & 0x0F == 8 and (c[0] << 8 | c[1]) % 31 == 0:
                d = _inflate(c, "zlib")
            elif encs:
                d = _inflate(c, "raw")
            else:
                d = None
            if not d or d == c:
                break
            add(d)
            c = d
        add(raw)
    return out


def _dechunk(data: bytes, pos: int, lenient: bool) -> tuple[bytes, int, bool]:
    """Decode chunked framing from pos; returns (body, end position, saw last chunk)."""
    out = bytearray()
    while len(out) < MAX_BODY:
        r = _line(data, pos)
        if r is None:
            return bytes(out), len(data), False
        line, nxt = r
        s = line.strip(_WS)
        if not s and lenient:
            pos = nxt
            continue
        m = re.match(rb"([0-9A-Fa-f]+)", s)
        if not m:
            if lenient:
                return bytes(out), pos, False
            return bytes(out), pos, False
        size = int(m.group(1)[:16], 16)
        if size == 0:
            # trailers until empty line
            end = nxt
            while True:
                r2 = _line(data, end)
                if r2 is None:
                    end = len(data)
                    break
                tl, end2 = r2
                end = end2
                if not tl.strip():
                    break
            return bytes(out), end, True
        chunk = data[nxt : nxt + size]
        out += chunk
        pos = nxt + size
        if pos >= len(data):
            return bytes(out), len(data), False
        # CRLF after chunk data
        if data[pos : pos + 2] == b"\r\n":
            pos += 2
        elif data[pos : pos + 1] == b"\n":
            pos += 1
    return bytes(out), pos, False


def _clen(msg: HttpMessage) -> int | None:
    """The first Content-Length value that starts with digits."""
    if not _named(msg, b"content-length"):
        return None
    for n, v in msg.headers:
        if len(n) >= 14 and _low(n).strip() == b"content-length":  # strip only shortens
            m = _CLEN_RE.match(v)
            if m:
                return int(m.group(1)[:12])
    return None


def _is_chunked(msg: HttpMessage) -> bool:
    if not _named(msg, b"transfer-encoding"):
        return False
    for n, v in msg.headers:
        if _low(n).strip() == b"transfer-encoding" and b"chunked" in v.lower():
            return True
    return False


def _te_mentions_chunk(msg: HttpMessage) -> bool:
    """A Transfer-Encoding-ish header mentions chunking (true whenever _is_chunked is)."""
    return _named(msg, b"transfer-encoding") and any(
        b"transfer-encoding" in _low(n) and b"chunk" in v.lower() for n, v in msg.headers
    )


def parse_requests(data: bytes, all_bodies: bool = True) -> list[HttpMessage]:
    """Requests in a client->server stream (pipelined requests included); `all_bodies`
    False keeps only each body's first candidate (see _bodies)."""
    msgs: list[HttpMessage] = []
    pos = 0
    n = len(data)
    while pos < n and len(msgs) < 10000:
        while pos < n and data[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1
        if pos >= n:
            break
        start = pos
        r = _line(data, pos)
        if r is None:
            line, nxt = data[pos:], n
        else:
            line, nxt = r
        parts = line.split()
        if not parts or not _METHOD_RE.match(parts[0]):
            break
        msg = HttpMessage(start=start, start_line=line)
        msg.method = parts[0]
        if len(parts) >= 3:
            msg.uri = b" ".join(parts[1:-1])
            msg.protocol = parts[-1]
        elif len(parts) == 2:
            msg.uri = parts[1]
        pos = nxt
        nl = _line(data, pos)
        if msg.protocol or (nl is not None and b":" in nl[0]):
            # headers after a request line without protocol are still parsed (as libhtp does)
            hstart = pos
            msg.headers, pos, ok = _parse_headers(data, pos)
            msg.raw_headers = data[hstart:pos]
            if not ok:
                msg.header_end = pos
                msg.end = pos
                msgs.append(msg)
                break
        msg.header_end = pos
        if _is_chunked(msg):
            body, pos, done = _dechunk(data, pos, True)
            msg.body_raw = body
            msg.complete = done
        else:
            cl = _clen(msg)
            if cl:
                msg.body_raw = data[pos : pos + cl]
                msg.complete = pos + cl <= n
                pos = min(n, pos + cl)
            else:
                msg.complete = True
        msg.bodies = _bodies([msg.body_raw], msg, all_bodies) if msg.body_raw else []
        msg.end = pos
        msgs.append(msg)
    return msgs


def _find_status(data: bytes, pos: int) -> int | None:
    m = _STATUS_RE.search(data, pos, min(len(data), pos + 4096))
    return m.start() if m else None


def parse_responses(
    data: bytes, requests: list[HttpMessage] | None = None, all_bodies: bool = True
) -> list[HttpMessage]:
    """Responses in a server->client stream; `requests` decides HEAD/1xx/body-less cases.
    `all_bodies` False: only bodies[0] is wanted, the lenient alternatives that can only
    follow a non-empty first variant are not decoded (bodies may hold fewer)."""
    msgs: list[HttpMessage] = []
    pos = 0
    n = len(data)
    reqs = requests or []
    while pos < n and len(msgs) < 10000:
        while pos < n and data[pos : pos + 1] in (b"\r", b"\n", b" ", b"\t"):
            pos += 1
        if pos >= n:
            break
        start = pos
        r = _status_line(data, pos)
        line, nxt = r if r is not None else (data[pos:], n)
        if not line.lstrip().lower().startswith(b"http"):
            # HTTP/0.9-style response: no status line. Browsers also skip junk before one.
            alt = _find_status(data, pos)
            msg = HttpMessage(start=start)
            variants: list[bytes] = [data[pos:]]
            if alt is not None:
                sub = parse_responses(data[alt:], reqs[len(msgs) :], all_bodies)
                for s in sub[:1]:
                    variants = s.bodies + variants
                    msg = s
                    msg.start = start
            msg.bodies = []
            for v in variants:
                if v not in msg.bodies:
                    msg.bodies.append(v)
            msg.end = n
            msg.complete = True
            msgs.append(msg)
            break
        msg = HttpMessage(start=start, start_line=line)
        parts = line.split(None, 2)
        msg.protocol = parts[0] if parts else b""
        proto_m = _PROTO_RE.match(msg.protocol)
        if proto_m and proto_m.group(2):
            msg.protocol = proto_m.group(1)
        msg.status = parts[1] if len(parts) > 1 else b""
        msg.reason = parts[2] if len(parts) > 2 else b""
        pos = nxt
        hstart = pos
        msg.headers, pos, ok = _response_headers(data, pos)
        msg.raw_headers = data[hstart:pos]
        msg.header_end = pos
        req = reqs[len(msgs)] if len(msgs) < len(reqs) else None
        code = int(msg.status[:3]) if msg.status[:3].isdigit() else 0
        if not ok:
            msg.end = n
            msgs.append(msg)
            break
        if 100 <= code < 200 and code != 101:
            msg.end = pos
            msg.complete = True
            msgs.append(msg)
            # a 1xx is not the final response; keep the same request for the next one
            reqs = (
                reqs[: len(msgs) - 1] + [reqs[len(msgs) - 1]] + reqs[len(msgs) - 1 :]
                if req
                else reqs
            )
            continue
        cl = _clen(msg)
        chunked = _te_mentions_chunk(msg)  # _is_chunked implies it
        framed = cl is not None or chunked
        no_body = (req is not None and req.method.upper() == b"HEAD") or code in (204, 304)
        if no_body and (not framed or _HTTP_AT.match(data, pos)):
            msg.end = pos
            msg.complete = True
            msgs.append(msg)
            continue
        variants = []
        if chunked:
            body, end, done = _dechunk(data, pos, True)
            variants.append(body)
            if not done and cl is None:
                end = n
            variants.append(data[pos:end] if cl is None else data[pos : pos + cl])
            msg.complete = done
        elif cl is not None:
            end = min(n, pos + cl)
            variants.append(data[pos:end])
            msg.complete = pos + cl <= n
            if all_bodies or not variants[0]:
                # lenient: the body may really run to the close (bad or folded length),
                # unless a next response follows right where the length says
                if not _HTTP_AT.match(data, pos + cl):
                    variants.append(variants[0] if end == n else data[pos:])
                if _ALNUM_AT.match(data, pos):
                    body, _e, done = _dechunk(data, pos, True)
                    if done:
                        variants.append(body)
        else:
            end = n
            variants.append(data[pos:])
            if all_bodies or not variants[0]:
                body, _e, done = _dechunk(data, pos, True)
                if done or len(body) > 0 and chunked:
                    variants.append(body)
            msg.complete = True
        msg.body_raw = variants[0] if variants else b""
        msg.bodies = _bodies([v for v in variants if v], msg, all_bodies)
        msg.end = max(end, pos)
        msgs.append(msg)
        if msg.end <= start or (msg.end == pos and not msg.complete):
            break
        pos = msg.end
    return msgs


_PCT_RE = re.compile(rb"%([0-9A-Fa-f]{2})|%[uU]([0-9A-Fa-f]{4})")


def _pct_decode(b: bytes) -> bytes:
    def rep(m: re.Match[bytes]) -> bytes:
        if m.group(1):
            return bytes([int(m.group(1), 16)])
        cp = int(m.group(2), 16)
        return bytes([cp]) if cp < 0x100 else b"?"

    return _PCT_RE.sub(rep, b)


def normalize_uri(raw: bytes) -> bytes:
    """libhtp-style normalized path+query: %-decoding, `\\` as `/`, `//` compressed, dot segments removed."""
    uri = raw
    m = re.match(rb"(?i)^[a-z][a-z0-9+.\-]*://[^/?#]*", uri)
    if m:
        uri = uri[m.end() :] or b"/"
    path, sep, query = uri.partition(b"?")
    path = _pct_decode(path).replace(b"\\", b"/")
    path = re.sub(rb"/{2,}", b"/", path)
    segs: list[bytes] = []
    parts = path.split(b"/")
    for i, s in enumerate(parts):
        if s == b".":
            if i == len(parts) - 1:
                segs.append(b"")
            continue
        if s == b"..":
            if len(segs) > 1:
                segs.pop()
            if i == len(parts) - 1:
                segs.append(b"")
            continue
        segs.append(s)
    path = b"/".join(segs)
    if raw.startswith(b"/") and not path.startswith(b"/"):
        path = b"/" + path
    if sep:
        return path + b"?" + _pct_decode(query)
    return path


def host_of(msg: HttpMessage) -> bytes:
    """Normalized host: from an absolute URI, else the Host header; lowercase, no port."""
    m = re.match(rb"(?i)^[a-z][a-z0-9+.\-]*://([^/?#]*)", msg.uri)
    h = m.group(1) if m else (msg.header(b"host") or b"")
    h = h.split(b"@")[-1]
    if h.startswith(b"["):
        h = h.split(b"]")[0] + b"]"
    elif h.count(b":") == 1:
        h = h.split(b":")[0]
    return h.strip().rstrip(b".").lower()


def unquote_bytes(b: bytes) -> bytes:
    return unquote_to_bytes(b)
