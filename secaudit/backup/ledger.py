"""The coverage ledger: which pack data was read, and which drills ran, when.

`check --read-data-subset n/t` reads one t-th of the packs per run, so one
audit alone cannot say whether the data is readable; the ledger remembers
every read (and every restore drill) across audits so the report can say
"x % of pack data was read in the last 30 days" and the rotation continues
where it stopped.  Kept in the assessment history store (a DuckDB file,
tables `backup_reads` and `backup_drills`, beside the `runs`/`findings` tables
of secaudit.report.history) or, for a `--state` path ending in `.json`, in one
small JSON file.  Times are the audit's `now`, so a replayed audit with the
same `--now` is deterministic.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from secaudit.backup.restic import CheckResult, parse_time
from secaudit.errors import InputError

__all__ = ["Coverage", "Ledger"]

_VERSION = 1
_DUCKDB_SUFFIXES = (".duckdb", ".db")
_READ_COLS = ("time", "mode", "subset", "group", "groups_total", "packs_read", "packs_total",
              "fraction", "ok")  # fmt: skip
_DRILL_COLS = ("time", "group", "ok", "seconds")
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS backup_reads (repo VARCHAR, time VARCHAR, mode VARCHAR,
        subset VARCHAR, "group" INTEGER, groups_total INTEGER, packs_read BIGINT,
        packs_total BIGINT, fraction DOUBLE, ok BOOLEAN)""",
    """CREATE TABLE IF NOT EXISTS backup_drills (repo VARCHAR, time VARCHAR, "group" VARCHAR,
        ok BOOLEAN, seconds DOUBLE)""",
)


@dataclass(frozen=True)
class Coverage:
    """Share of pack data read within the window (0..1) and how it was computed."""

    fraction: float
    reads: int
    last_full: str | None
    groups_read: tuple[int, ...] = ()
    groups_total: int | None = None


@dataclass
class Ledger:
    path: Path | None
    data: dict[str, Any] = field(default_factory=lambda: {"version": _VERSION, "repositories": {}})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path | None) -> Ledger:
        if path is None:
            return cls(None)
        p = Path(path)
        if not p.exists():
            return cls(p)
        if p.suffix in _DUCKDB_SUFFIXES:
            return cls(p, _read_duckdb(p))
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"unreadable backup state ledger: {exc}", str(p)) from None
        if not isinstance(data, dict) or not isinstance(data.get("repositories"), dict):
            raise InputError("not a secaudit backup state ledger", str(p))
        return cls(p, data)

    def _repo(self, name: str) -> dict[str, Any]:
        repos: dict[str, Any] = self.data["repositories"]
        return repos.setdefault(name, {"reads": [], "drills": []})  # type: ignore[no-any-return]

    # --- data reads
    def record_read(self, repo: str, now: datetime, result: CheckResult) -> None:
        entry = {
            "time": now.isoformat(),
            "mode": result.mode,
            "subset": result.subset,
            "group": result.group,
            "groups_total": result.groups_total,
            "packs_read": result.packs_read,
            "packs_total": result.packs_total,
            "fraction": result.fraction_read,
            "ok": result.ok,
        }
        with self._lock:
            reads = self._repo(repo)["reads"]
            reads[:] = [
                r for r in reads if r["time"] != entry["time"] or r["subset"] != entry["subset"]
            ]
            reads.append(entry)

    def next_subset(self, repo: str, configured: str) -> str:
        """Rotate `n/t`: the group after the last one read (first run: the configured n)."""
        if "/" not in configured:
            return configured
        n, t = (int(x) for x in configured.split("/"))
        last = [
            r
            for r in self._repo(repo)["reads"]
            if r["mode"] == "subset" and r.get("groups_total") == t and r.get("group")
        ]
        if not last:
            return configured
        prev = int(max(last, key=lambda r: r["time"])["group"])
        return f"{prev % t + 1}/{t}"

    def last_full(self, repo: str) -> datetime | None:
        fulls = [r["time"] for r in self._repo(repo)["reads"] if r["mode"] == "full"]
        return parse_time(max(fulls)) if fulls else None

    def coverage(self, repo: str, now: datetime, window_days: float) -> Coverage:
        since = now - timedelta(days=window_days)
        reads = [r for r in self._repo(repo)["reads"] if since < parse_time(r["time"]) <= now]
        fulls = [r["time"] for r in reads if r["mode"] == "full"]
        last_full = max(fulls) if fulls else None
        if fulls:
            return Coverage(1.0, len(reads), last_full)
        by_total: dict[int, set[int]] = {}
        random_share = 0.0
        for r in reads:
            if r["mode"] != "subset":
                continue
            if r.get("groups_total") and r.get("group"):
                by_total.setdefault(int(r["groups_total"]), set()).add(int(r["group"]))
            else:
                random_share += float(r.get("fraction") or 0.0)
        best = 0.0
        groups: tuple[int, ...] = ()
        total: int | None = None
        for t, gs in by_total.items():
            if len(gs) / t > best:
                best, groups, total = len(gs) / t, tuple(sorted(gs)), t
        return Coverage(min(1.0, best + random_share), len(reads), last_full, groups, total)

    # --- drills
    def record_drill(self, repo: str, now: datetime, group: str, ok: bool, seconds: float) -> None:
        with self._lock:
            drills = self._repo(repo)["drills"]
            drills[:] = [d for d in drills if d["time"] != now.isoformat() or d["group"] != group]
            drills.append({"time": now.isoformat(), "group": group, "ok": ok, "seconds": seconds})

    def last_good_drill(self, repo: str, group: str, now: datetime) -> dict[str, Any] | None:
        good = [
            d
            for d in self._repo(repo)["drills"]
            if d["group"] == group and d["ok"] and parse_time(d["time"]) <= now
        ]
        return max(good, key=lambda d: d["time"]) if good else None

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix in _DUCKDB_SUFFIXES:
            _write_duckdb(self.path, self.data)
            return
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


def _connect(path: Path) -> Any:
    import duckdb

    try:
        db = duckdb.connect(str(path))
        for stmt in _SCHEMA:
            db.execute(stmt)
    except duckdb.Error as exc:
        raise InputError(
            f"cannot open the history store for the backup ledger: {exc}", str(path)
        ) from None
    return db


def _read_duckdb(path: Path) -> dict[str, Any]:
    """The ledger document from the history store's backup tables."""
    db = _connect(path)
    try:
        repos: dict[str, Any] = {}
        cols = ", ".join(f'"{c}"' for c in _READ_COLS)
        for row in db.execute(f"SELECT repo, {cols} FROM backup_reads ORDER BY time").fetchall():
            entry = dict(zip(_READ_COLS, row[1:], strict=True))
            if entry["group"] is not None:
                entry["group"] = int(entry["group"])
            repos.setdefault(row[0], {"reads": [], "drills": []})["reads"].append(entry)
        cols = ", ".join(f'"{c}"' for c in _DRILL_COLS)
        for row in db.execute(f"SELECT repo, {cols} FROM backup_drills ORDER BY time").fetchall():
            entry = dict(zip(_DRILL_COLS, row[1:], strict=True))
            repos.setdefault(row[0], {"reads": [], "drills": []})["drills"].append(entry)
    finally:
        db.close()
    return {"version": _VERSION, "repositories": repos}


def _write_duckdb(path: Path, data: dict[str, Any]) -> None:
    """Replace the backup tables' rows with the ledger (one transaction)."""
    reads = [
        (repo, *(r.get(c) for c in _READ_COLS))
        for repo, body in data["repositories"].items()
        for r in body["reads"]
    ]
    drills = [
        (repo, *(d.get(c) for c in _DRILL_COLS))
        for repo, body in data["repositories"].items()
        for d in body["drills"]
    ]
    db = _connect(path)
    try:
        db.execute("BEGIN TRANSACTION")
        db.execute("DELETE FROM backup_reads")
        db.execute("DELETE FROM backup_drills")
        if reads:
            db.executemany(f"INSERT INTO backup_reads VALUES ({', '.join(['?'] * 10)})", reads)
        if drills:
            db.executemany("INSERT INTO backup_drills VALUES (?, ?, ?, ?, ?)", drills)
        db.execute("COMMIT")
    finally:
        db.close()
