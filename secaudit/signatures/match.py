"""Inspect one buffer with a rule's ordered matchers (Suricata content-inspection semantics).

Contents chain through the detect offset: `distance`/`within` are counted
from the end of the previous match, `/R` pcres and `relative` byte keywords
from it too.  When a later relative matcher fails, an earlier content is
retried at its next occurrence (Suricata's recursion), bounded by a step budget
so a hostile buffer cannot make inspection quadratic without end.
"""

from __future__ import annotations

from typing import Any

from secaudit.signatures.compile import (
    Base64Decode,
    Bsize,
    ByteOp,
    Content,
    IsDataAt,
    Pcre,
    range_match,
)

__all__ = ["match_buffer", "PcreTimeout", "PCRE_TIMEOUT_S"]

PCRE_TIMEOUT_S = 0.5
_MAX_STEPS = 20000


class PcreTimeout(Exception):
    """A pcre ran past its time budget on this buffer."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


def _val(v: int | str | None, env: dict[str, int]) -> int | None:
    if v is None or isinstance(v, int):
        return v
    return env.get(v)


def _find_all(buf: bytes, low: bytes | None, pat: bytes, start: int, end: int) -> list[int]:
    hay = low if low is not None else buf
    out: list[int] = []
    i = hay.find(pat, start, end)
    while i >= 0 and len(out) < 4096:
        out.append(i)
        i = hay.find(pat, i + 1, end)
    return out


def _read_num(buf: bytes, pos: int, op: ByteOp, nbytes: int) -> int | None:
    if nbytes == 0 and 0 <= pos <= len(buf):
        return 0  # byte_jump:0,... only moves the detect offset
    if pos < 0 or nbytes <= 0 or pos + nbytes > len(buf):
        return None
    raw = buf[pos : pos + nbytes]
    if op.string:
        base = {"hex": 16, "dec": 10, "oct": 8}[op.string]
        txt = raw.decode("latin-1")
        # Suricata parses the leading digits (strtoull semantics) and fails on none
        digits = ""
        for ch in txt.strip() if base != 10 else txt:
            if (
                (base == 16 and ch in "0123456789abcdefABCDEF")
                or (base == 10 and ch.isdigit())
                or (base == 8 and ch in "01234567")
            ):
                digits += ch
            else:
                break
        if not digits:
            return None
        return int(digits, base)
    return int.from_bytes(raw, "big" if op.big else "little")


class _Ctx:
    __slots__ = ("env", "steps", "low")

    def __init__(self, env: dict[str, int]) -> None:
        self.env = env
        self.steps = 0
        self.low: bytes | None = None


def match_buffer(items: list[Any], buf: bytes, env: dict[str, int] | None = None) -> bool:
    """True when all matchers succeed on `buf` (byte_extract results land in `env`)."""
    ctx = _Ctx(env if env is not None else {})
    return _run(items, 0, buf, 0, ctx)


def _run(items: list[Any], i: int, buf: bytes, prev: int, ctx: _Ctx) -> bool:
    ctx.steps += 1
    if ctx.steps > _MAX_STEPS:
        return False
    if i >= len(items):
        return True
    it = items[i]
    n = len(buf)
    env = ctx.env
    if isinstance(it, Content):
        pat = it.pattern
        plen = len(pat)
        hay_low: bytes | None = None
        if it.nocase:
            if ctx.low is None:
                ctx.low = buf.lower()
            hay_low = ctx.low
            pat = pat.lower()
        distance = _val(it.distance, env)
        within = _val(it.within, env)
        offset = _val(it.offset, env)
        depth = _val(it.depth, env)
        if it.relative:
            start = prev
            if distance is not None:
                start = max(0, prev + distance)
            end = n
            if within is not None:
                end = min(n, prev + (distance or 0) + within)
            if offset is not None:
                start = max(start, offset)
            if depth is not None:
                end = min(end, (offset or 0) + depth)
        else:
            start = offset or 0
            end = n if depth is None else min(n, start + depth)
        if it.endswith:
            start = max(start, n - plen)
        if it.negated:
            found = (
                start <= n
                and (hay_low if hay_low is not None else buf).find(pat, start, max(start, end)) >= 0
            )
            if found and it.endswith:
                found = (hay_low if hay_low is not None else buf)[n - plen :] == pat
            if found:
                return False
            return _run(items, i + 1, buf, prev, ctx)
        if start > n or end - start < plen:
            return False
        hits = _find_all(buf, hay_low, pat, start, end)
        if it.endswith:
            hits = [h for h in hits if h + plen == n]
        rest_relative = _next_is_relative(items, i + 1)
        for h in hits:
            if _run(items, i + 1, buf, h + plen, ctx):
                return True
            if not rest_relative:
                return False
        return False
    if isinstance(it, Pcre):
        # a relative pcre sees the buffer from the detect offset on (so ^ anchors there)
        base = min(prev, n) if it.relative else 0
        sub = buf[base:] if base else buf
        try:
            m = it.regex.search(sub, timeout=PCRE_TIMEOUT_S)
        except TimeoutError:
            raise PcreTimeout(it.source) from None
        if it.negated:
            if m is not None:
                return False
            return _run(items, i + 1, buf, prev, ctx)
        if m is None:
            return False
        if _run(items, i + 1, buf, base + m.end(), ctx):
            return True
        if not _next_is_relative(items, i + 1):
            return False
        # retry the pcre after the previous match start (Suricata does the same)
        pos = m.start() + 1
        tries = 0
        while pos <= len(sub) and tries < 64:
            tries += 1
            try:
                m = it.regex.search(sub, pos, timeout=PCRE_TIMEOUT_S)
            except TimeoutError:
                raise PcreTimeout(it.source) from None
            if m is None:
                return False
            if _run(items, i + 1, buf, base + m.end(), ctx):
                return True
            pos = m.start() + 1
        return False
    if isinstance(it, ByteOp):
        return _byte(it, items, i, buf, prev, ctx)
    if isinstance(it, IsDataAt):
        k = _val(it.n, env)
        if k is None:
            return False
        pos = (prev if it.relative else 0) + k
        ok = pos < n
        if it.negated:
            ok = not ok
        return ok and _run(items, i + 1, buf, prev, ctx)
    if isinstance(it, Base64Decode):
        return _base64(it, buf, prev, ctx)
    if isinstance(it, Bsize):
        if not range_match((it.op, it.a, it.b), n):
            return False
        return _run(items, i + 1, buf, prev, ctx)
    return False


def _next_is_relative(items: list[Any], j: int) -> bool:
    for it in items[j:]:
        if isinstance(it, (Content, Pcre)):
            if it.relative:
                return True
        elif isinstance(it, (ByteOp, IsDataAt)) and it.relative:
            return True
    return False


def _byte(op: ByteOp, items: list[Any], i: int, buf: bytes, prev: int, ctx: _Ctx) -> bool:
    env = ctx.env
    nbytes = _val(op.nbytes, env)
    off = _val(op.offset, env)
    if nbytes is None or off is None:
        return False
    base = prev if op.relative else 0
    pos = base + off
    if op.kind == "math":
        v = _read_num(buf, pos, op, nbytes)
        rv = _val(op.rvalue, env)
        if v is None or rv is None:
            return False
        if op.bitmask:
            v &= op.bitmask
            sh = (op.bitmask & -op.bitmask).bit_length() - 1
            v >>= sh
        if op.op == "+":
            r = v + rv
        elif op.op == "-":
            r = v - rv
        elif op.op == "*":
            r = v * rv
        elif op.op == "/":
            if rv == 0:
                return False
            r = v // rv
        elif op.op == "<<":
            r = v << rv
        else:
            r = v >> rv
        env[op.name] = r & 0xFFFFFFFF
        return _run(items, i + 1, buf, prev, ctx)
    v = _read_num(buf, pos, op, nbytes)
    if v is None:
        return False
    if op.bitmask:
        v &= op.bitmask
        sh = (op.bitmask & -op.bitmask).bit_length() - 1
        if sh > 0:
            v >>= sh
    if op.kind == "test":
        want = _val(op.value, env)
        if want is None:
            return False
        if op.op == "=":
            ok = v == want
        elif op.op == "<":
            ok = v < want
        elif op.op == ">":
            ok = v > want
        elif op.op == "<=":
            ok = v <= want
        elif op.op == ">=":
            ok = v >= want
        elif op.op == "&":
            ok = (v & want) != 0
        else:  # ^
            ok = (v ^ want) != 0
        if op.negate:
            ok = not ok
        return ok and _run(items, i + 1, buf, prev, ctx)
    if op.kind == "extract":
        v = v * op.multiplier
        if op.align and v % 4:
            v += 4 - v % 4
        env[op.name] = v
        return _run(items, i + 1, buf, pos + nbytes, ctx)
    # jump
    v = v * op.multiplier
    if op.align and v % 4:
        v += 4 - v % 4
    if op.from_beginning:
        new = v + op.post_offset
    elif op.from_end:
        new = len(buf) + v + op.post_offset
    else:
        new = pos + nbytes + v + op.post_offset
    if new < 0:
        new = 0
    if new > len(buf):
        return False
    return _run(items, i + 1, buf, new, ctx)


_B64_VALUE = bytes(
    [*range(ord("A"), ord("Z") + 1), *range(ord("a"), ord("z") + 1), *range(ord("0"), ord("9") + 1)]
    + [ord("+"), ord("/")]
)
_B64_INDEX = {c: i for i, c in enumerate(_B64_VALUE)}


def decode_base64_rfc4648(data: bytes) -> bytes:
    """Suricata's RFC 4648 mode: take characters of the alphabet and '=' in groups of four;
    the first other character ends the input (a partial group is padded with '='); a group
    decodes to 1-3 bytes by where its '=' stands, and a group whose first two characters
    are not of the alphabet ends decoding."""
    out = bytearray()
    quad: list[int] = []
    stop = False
    i = 0
    while not stop:
        if i < len(data) and (data[i] in _B64_INDEX or data[i] == 0x3D):
            quad.append(data[i])
            i += 1
            if len(quad) < 4:
                continue
        else:
            if not quad:
                break
            quad += [0x3D] * (4 - len(quad))
            stop = True
        a, b = _B64_INDEX.get(quad[0]), _B64_INDEX.get(quad[1])
        if a is None or b is None:
            break
        out.append(((a << 2) | (b >> 4)) & 0xFF)
        if quad[2] != 0x3D:
            c = _B64_INDEX.get(quad[2])
            if c is None:
                break
            out.append(((b << 4) | (c >> 2)) & 0xFF)
            if quad[3] != 0x3D:
                d = _B64_INDEX.get(quad[3])
                if d is None:
                    break
                out.append(((c << 6) | d) & 0xFF)
        quad = []
    return bytes(out)


def _base64(it: Base64Decode, buf: bytes, prev: int, ctx: _Ctx) -> bool:
    """base64_decode then its base64_data items on the decoded bytes (a terminal step)."""
    data = buf[min(prev, len(buf)) :] if it.relative else buf
    if it.offset:
        if it.offset >= len(data):
            return False
        data = data[it.offset :]
    decoded = decode_base64_rfc4648(data[: it.nbytes])
    if not decoded or not it.data:
        return False
    inner = _Ctx(ctx.env)  # its own lowered-buffer cache: another buffer
    inner.steps = ctx.steps
    ok = _run(it.data, 0, decoded, 0, inner)
    ctx.steps = inner.steps  # one step budget for the whole rule, backtracking included
    return ok
