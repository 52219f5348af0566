"""Suricata rule text -> frozen `Rule` objects.

Scope (the py-idstools shape): split a rule into its header parts and its
ordered `(name, value)` options, keep `raw` so the rule can be rebuilt, and
give the well-known options typed fields (sid, gid, rev, msg, classtype,
priority, flowbits, metadata).  Whether the options make sense for detection
is decided later by `secaudit.signatures.compile`; this module only reports
syntax errors, each with file:line:column and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from secaudit.errors import ConfigError

__all__ = ["ACTIONS", "Rule", "parse_rule", "parse_rules", "parse_file", "RuleSyntaxError"]

ACTIONS = frozenset(
    {"alert", "drop", "pass", "reject", "rejectsrc", "rejectdst", "rejectboth", "config"}
)
_DIRECTIONS = frozenset({"->", "<>", "=>", "<-"})


class RuleSyntaxError(ConfigError):
    """A rule line that cannot be split into header and options."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule; `options` keeps the rule's order, values unquoted only where noted."""

    raw: str
    action: str
    proto: str
    src: str
    sport: str
    direction: str
    dst: str
    dport: str
    options: tuple[tuple[str, str | None], ...]
    sid: int = 0
    gid: int = 1
    rev: int = 0
    msg: str = ""
    classtype: str | None = None
    priority: int | None = None
    flowbits: tuple[str, ...] = ()
    metadata: tuple[str, ...] = ()
    enabled: bool = True
    source: str = "<rules>"
    line: int = 0
    noalert: bool = field(default=False)

    def rebuild_options(self) -> str:
        """Options back to rule text (round-trips `options`)."""
        parts = []
        for name, value in self.options:
            parts.append(name if value is None else f"{name}:{value}")
        return "".join(f"{p}; " for p in parts).rstrip()

    @property
    def header(self) -> str:
        return " ".join(
            (self.action, self.proto, self.src, self.sport, self.direction, self.dst, self.dport)
        )


def _unquote_msg(value: str) -> str:
    v = value.strip()
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        v = v[1:-1]
    return _shown(re.sub(r"\\(.)", r"\1", v))


def _shown(text: str) -> str:
    """Text a person reads (msg, classtype, metadata): bytes the file had that are not
    UTF-8 (kept as surrogates by the reader, for content matching) become U+FFFD, so
    EVE JSON, findings and reports can be written."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _split_options(body: str, source: str, line: int, col0: int) -> list[tuple[str, str | None]]:
    """Split `name:value; name;` respecting quotes and `\\;` escapes."""
    opts: list[tuple[str, str | None]] = []
    i = 0
    n = len(body)
    while i < n:
        while i < n and body[i] in " \t\r\n":
            i += 1
        if i >= n:
            break
        start = i
        in_quote = False
        while i < n:
            c = body[i]
            if c == "\\" and i + 1 < n:
                i += 2
                continue
            if c == '"':
                in_quote = not in_quote
            elif c == ";" and not in_quote:
                break
            i += 1
        if in_quote:
            raise RuleSyntaxError(
                "unbalanced quotes: expected a closing '\"'",
                source,
                line=line,
                column=col0 + start + 1,
            )
        if i >= n:
            text = body[start:].strip()
            if text:
                raise RuleSyntaxError(
                    f"option {text.split(':', 1)[0]!r} not terminated: expected ';'",
                    source,
                    line=line,
                    column=col0 + start + 1,
                )
            break
        text = body[start:i].strip()
        i += 1
        if not text:
            continue
        if ":" in text:
            name, value = text.split(":", 1)
            name = name.strip()
            opts.append((name, value.strip()))
        else:
            name = text
            opts.append((name, None))
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise RuleSyntaxError(
                f"bad option name {name!r}: expected a keyword",
                source,
                line=line,
                column=col0 + start + 1,
            )
    return opts


def _int_opt(value: str | None, name: str, source: str, line: int) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        raise RuleSyntaxError(
            f"{name}: expected an integer, got {value!r}", source, line=line
        ) from None


def parse_rule(text: str, source: str = "<rules>", line: int = 1) -> Rule | None:
    """Parse one rule; returns None for blank/comment lines that are not rules.

    A commented-out rule (`# alert ...`) is parsed with `enabled=False`.
    """
    stripped = text.strip()
    enabled = True
    if not stripped:
        return None
    col_shift = len(text) - len(text.lstrip())
    if stripped.startswith("#"):
        inner = stripped.lstrip("#").strip()
        if inner.split(" ", 1)[0] not in ACTIONS or "(" not in inner:
            return None
        try:
            rule = parse_rule(inner, source, line)
        except RuleSyntaxError:
            return None
        if rule is None:
            return None
        return Rule(**{**rule.__dict__, "enabled": False})
    paren = stripped.find("(")
    if paren < 0:
        raise RuleSyntaxError(
            "expected '(' starting the rule options", source, line=line, column=col_shift + 1
        )
    if not stripped.endswith(")"):
        raise RuleSyntaxError(
            "expected ')' closing the rule options",
            source,
            line=line,
            column=col_shift + len(stripped),
        )
    head = stripped[:paren].split()
    if len(head) != 7:
        raise RuleSyntaxError(
            f"rule header has {len(head)} fields: expected 'action proto src sport -> dst dport'",
            source,
            line=line,
            column=col_shift + 1,
        )
    action, proto, src, sport, direction, dst, dport = head
    if action not in ACTIONS:
        raise RuleSyntaxError(
            f"unknown action {action!r}: expected one of {', '.join(sorted(ACTIONS))}",
            source,
            line=line,
            column=col_shift + 1,
        )
    if direction not in _DIRECTIONS:
        raise RuleSyntaxError(
            f"bad direction {direction!r}: expected '->' or '<>'",
            source,
            line=line,
            column=col_shift + 1,
        )
    body = stripped[paren + 1 : -1]
    opts = _split_options(body, source, line, col_shift + paren + 1)
    sid = 0
    gid = 1
    rev = 0
    msg = ""
    classtype = None
    priority = None
    flowbits: list[str] = []
    metadata: list[str] = []
    noalert = False
    for name, value in opts:
        if name == "sid":
            sid = _int_opt(value, name, source, line)
        elif name == "gid":
            gid = _int_opt(value, name, source, line)
        elif name == "rev":
            rev = _int_opt(value, name, source, line)
        elif name == "msg":
            msg = _unquote_msg(value or "")
        elif name == "classtype":
            classtype = _shown((value or "").strip())
        elif name == "priority":
            priority = _int_opt(value, name, source, line)
        elif name == "flowbits":
            flowbits.append((value or "").strip())
            if (value or "").strip() == "noalert":
                noalert = True
        elif name == "metadata":
            metadata.extend(_shown(p.strip()) for p in (value or "").split(",") if p.strip())
        elif name == "noalert":
            noalert = True
    return Rule(
        raw=stripped,
        action=action,
        proto=proto,
        src=src,
        sport=sport,
        direction=direction,
        dst=dst,
        dport=dport,
        options=tuple(opts),
        sid=sid,
        gid=gid,
        rev=rev,
        msg=msg,
        classtype=classtype,
        priority=priority,
        flowbits=tuple(flowbits),
        metadata=tuple(metadata),
        enabled=enabled,
        source=source,
        line=line,
        noalert=noalert,
    )


def _logical_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Join lines ending in a backslash; yield (first line number, text)."""
    buf: list[str] = []
    first = 0
    for no, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not buf:
            first = no
        if line.rstrip().endswith("\\"):
            buf.append(line.rstrip()[:-1])
            continue
        buf.append(line)
        yield first, "".join(buf)
        buf = []
    if buf:
        yield first, "".join(buf)


def parse_rules(text: str, source: str = "<rules>") -> tuple[list[Rule], list[RuleSyntaxError]]:
    """Parse rule text; syntax errors are collected (one bad rule does not hide the others)."""
    rules: list[Rule] = []
    errors: list[RuleSyntaxError] = []
    for no, line in _logical_lines(text.splitlines()):
        try:
            rule = parse_rule(line, source, no)
        except RuleSyntaxError as exc:
            errors.append(exc)
            continue
        if rule is not None:
            rules.append(rule)
    return rules, errors


def parse_file(path: str | Path) -> tuple[list[Rule], list[RuleSyntaxError]]:
    """Parse a rules file (UTF-8, undecodable bytes kept via surrogateescape; a leading
    byte-order mark, as Windows editors write, is not part of the first rule)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"cannot read rules: {exc.strerror}", str(p)) from None
    return parse_rules(text, str(p))
