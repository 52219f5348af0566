"""Parsers of what restic prints: pure functions over text, no process is run here.

Each accepts the 0.14 shape (Debian) and the newer one (0.17+: `program_version`
and `summary` in snapshots, `check --json` messages); unknown fields are ignored
and missing optional ones stay unset, so a newer restic degrades gracefully.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CheckResult",
    "ForgetGroup",
    "Lock",
    "Node",
    "ResticVersion",
    "Snapshot",
    "key_lines",
    "parse_check",
    "parse_forget",
    "parse_lock",
    "parse_ls",
    "parse_snapshots",
    "parse_time",
    "parse_version",
]


@dataclass(frozen=True, order=True)
class ResticVersion:
    major: int
    minor: int
    patch: int = 0

    @property
    def has_exit_codes(self) -> bool:
        """0.17.0 introduced exit codes 10/11/12 (restic scripting docs)."""
        return (self.major, self.minor) >= (0, 17)

    @property
    def has_check_json(self) -> bool:
        return (self.major, self.minor) >= (0, 18)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


_VERSION_RE = re.compile(r"restic\s+v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> ResticVersion | None:
    """`restic 0.14.0 compiled with go1.19.8 on linux/amd64` -> ResticVersion(0, 14, 0)."""
    m = _VERSION_RE.search(text)
    if not m:
        return None
    return ResticVersion(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _logical_lines(text: str) -> list[str]:
    """Lines with indented continuation lines folded into the line they continue."""
    out: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and out and raw.strip():
            out[-1] = f"{out[-1]} {raw.strip()}"
        elif raw.strip():
            out.append(raw.strip())
    return out


def key_lines(stderr: str, limit: int = 12) -> list[str]:
    """The informative stderr lines (progress and blank lines dropped)."""
    return [ln for ln in _logical_lines(stderr) if not ln.startswith("[")][:limit]


# --------------------------------------------------------------------------- parsed objects
def parse_time(value: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits and any offset -> aware UTC datetime."""
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*?\.\d{6})\d+(.*)$", s)  # Python keeps microseconds only
    if m:
        s = m.group(1) + m.group(2)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...] = ()
    original: str | None = None
    parent: str | None = None
    tree: str | None = None
    username: str | None = None
    program_version: str | None = None  # 0.17+
    summary: Mapping[str, Any] | None = None  # 0.17+

    @property
    def lineage(self) -> str:
        """The id a copy of this snapshot carries in `original` (restic copy keeps originals)."""
        return self.original or self.id


def _snapshot(d: Mapping[str, Any]) -> Snapshot:
    sid = str(d["id"])
    return Snapshot(
        id=sid,
        short_id=str(d.get("short_id") or sid[:8]),
        time=parse_time(str(d["time"])),
        host=str(d.get("hostname") or ""),
        paths=tuple(sorted(str(p) for p in d.get("paths") or ())),
        tags=tuple(str(t) for t in d.get("tags") or ()),
        original=d.get("original") or None,
        parent=d.get("parent") or None,
        tree=d.get("tree") or None,
        username=d.get("username") or None,
        program_version=d.get("program_version") or None,
        summary=d.get("summary") or None,
    )


def parse_snapshots(text: str) -> list[Snapshot]:
    """`snapshots --json` of any version: a list, or the `--group-by` list of groups."""
    data = json.loads(text or "[]")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("snapshots --json did not print a JSON array")
    out: list[Snapshot] = []
    for item in data:
        if isinstance(item, dict) and "snapshots" in item and "id" not in item:
            out.extend(_snapshot(s) for s in item.get("snapshots") or ())
        else:
            out.append(_snapshot(item))
    return out


@dataclass(frozen=True)
class Node:
    path: str
    type: str
    size: int
    mtime: str | None = None


def parse_ls(text: str) -> tuple[Snapshot | None, list[Node]]:
    """`ls --json`: one snapshot line then one node per line."""
    snap: Snapshot | None = None
    nodes: list[Node] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("struct_type") == "snapshot" or ("tree" in d and "id" in d):
            snap = _snapshot(d)
        elif d.get("struct_type", "node") == "node" and "path" in d:
            nodes.append(
                Node(
                    str(d["path"]), str(d.get("type", "")), int(d.get("size") or 0), d.get("mtime")
                )
            )
    return snap, nodes


@dataclass(frozen=True)
class Lock:
    id: str
    time: datetime | None
    exclusive: bool
    hostname: str
    username: str
    pid: int | None


def parse_lock(lock_id: str, text: str) -> Lock:
    d = json.loads(text)
    t = d.get("time")
    return Lock(
        id=lock_id,
        time=parse_time(t) if t else None,
        exclusive=bool(d.get("exclusive")),
        hostname=str(d.get("hostname") or ""),
        username=str(d.get("username") or ""),
        pid=int(d["pid"]) if d.get("pid") is not None else None,
    )


@dataclass(frozen=True)
class ForgetGroup:
    host: str | None
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    keep: tuple[str, ...]
    remove: tuple[str, ...]


def parse_forget(text: str) -> list[ForgetGroup]:
    """`forget --dry-run --json`: one entry per restic group, keep/remove snapshot lists."""
    out = []
    for g in json.loads(text or "[]") or []:
        out.append(
            ForgetGroup(
                host=g.get("host") or None,
                paths=tuple(sorted(g.get("paths") or ())),
                tags=tuple(g.get("tags") or ()),
                keep=tuple(str(s["id"]) for s in g.get("keep") or ()),
                remove=tuple(str(s["id"]) for s in g.get("remove") or ()),
            )
        )
    return out


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one `restic check` run (structural, full read or one subset)."""

    ok: bool
    mode: str  # structural | full | subset
    subset: str | None = None
    errors: tuple[str, ...] = ()
    packs_read: int | None = None
    packs_total: int | None = None
    group: int | None = None
    groups_total: int | None = None
    seconds: float = 0.0

    @property
    def fraction_read(self) -> float:
        if self.mode == "full":
            return 1.0
        if self.mode == "subset" and self.groups_total:
            return 1.0 / self.groups_total
        if self.mode == "subset" and self.packs_total:
            return (self.packs_read or 0) / self.packs_total
        return 0.0


_SUBSET_RE = re.compile(
    r"read group #(\d+) of (\d+) data packs \(out of total (\d+) packs in (\d+) groups\)"
)
_SUBSET_RANDOM_RE = re.compile(r"read (\d+) of (\d+) data packs")
_PACKS_RE = re.compile(r"(\d+)\s*/\s*(\d+)\s+packs")
_NOISE_RE = re.compile(
    r"^(create exclusive lock|load indexes|check all packs|check snapshots|read all data"
    r"|no errors were found|using temporary cache|\[)"
)


def parse_check(
    returncode: int, stdout: str, stderr: str, *, mode: str, subset: str | None = None
) -> CheckResult:
    """`check` text (0.14) or JSON lines (`check --json`, newer releases)."""
    errors: list[str] = []
    packs_read = packs_total = group = groups_total = None
    json_errors = None
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith("{"):
            try:
                d = json.loads(s)
            except ValueError:
                continue
            kind = d.get("message_type")
            if kind == "error":
                errors.append(str(d.get("message") or d.get("error") or "error"))
            elif kind == "summary":
                json_errors = int(d.get("num_errors") or 0)
                errors.extend(f"broken pack {p}" for p in d.get("broken_packs") or ())
            continue
        m = _SUBSET_RE.search(s)
        if m:
            group, packs_read, packs_total, groups_total = (int(x) for x in m.groups())
            continue
        m = _SUBSET_RANDOM_RE.search(s)
        if m:
            packs_read, packs_total = int(m.group(1)), int(m.group(2))
            continue
        m = _PACKS_RE.search(s)
        if m and mode == "full":
            packs_read, packs_total = int(m.group(1)), int(m.group(2))
    for s in _logical_lines(stderr):
        if not _NOISE_RE.match(s) and not s.startswith("Fatal: repository contains errors"):
            errors.append(s)
    ok = returncode == 0 and not json_errors
    if not ok and not errors:
        errors.append("Fatal: repository contains errors")
    if mode == "full" and packs_total is None:
        packs_read = packs_total = None
    return CheckResult(
        ok=ok,
        mode=mode,
        subset=subset,
        errors=tuple(errors[:20]),
        packs_read=packs_read,
        packs_total=packs_total,
        group=group,
        groups_total=groups_total,
    )
