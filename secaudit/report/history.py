"""Assessment history in an embedded DuckDB file: findings, verdicts and coverage per run.

The report compares each run with the previous one by stable finding id
(new / fixed / still open) and plots trends over all runs in the file.  Run times
are stored as UTC without a zone: DuckDB would turn an aware time into the
machine's local time for a TIMESTAMP column, and one file may be written on
machines in different zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from secaudit.errors import InputError
from secaudit.model import Finding
from secaudit.report.verdicts import ControlVerdict

__all__ = ["Comparison", "History"]

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS runs (
        run_id INTEGER PRIMARY KEY, started_at TIMESTAMP, organisation VARCHAR,
        config VARCHAR, n_findings INTEGER, n_gaps INTEGER, tested INTEGER, controls INTEGER)""",
    """CREATE TABLE IF NOT EXISTS findings (
        run_id INTEGER, id VARCHAR, rule_id VARCHAR, detector VARCHAR, category VARCHAR,
        severity VARCHAR, subject VARCHAR, title VARCHAR, first_seen VARCHAR, last_seen VARCHAR,
        count BIGINT)""",
    "CREATE TABLE IF NOT EXISTS verdicts (run_id INTEGER, control_id VARCHAR, verdict VARCHAR)",
    "CREATE TABLE IF NOT EXISTS coverage (run_id INTEGER, area VARCHAR, ok BOOLEAN, seconds DOUBLE)",
]


@dataclass(frozen=True)
class Comparison:
    previous_run: int | None
    previous_at: datetime | None
    new: tuple[str, ...]
    fixed: pd.DataFrame  # findings of the previous run that are gone
    still_open: tuple[str, ...]


class History:
    """One DuckDB file; open, record, compare, close."""

    def __init__(self, path: Path) -> None:
        import duckdb

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = duckdb.connect(str(path))
            for stmt in _SCHEMA:
                self.db.execute(stmt)
        except duckdb.Error as exc:
            raise InputError(f"cannot open history database: {exc}", str(path)) from exc
        self.path = path

    def close(self) -> None:
        self.db.close()

    def last_run(self) -> tuple[int, datetime] | None:
        row = self.db.execute(
            "SELECT run_id, started_at FROM runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
        return (int(row[0]), row[1]) if row else None

    def compare(self, findings: Sequence[Finding]) -> Comparison:
        """Current findings against the latest recorded run (before this one is recorded)."""
        last = self.last_run()
        current = {f.id for f in findings}
        if last is None:
            return Comparison(None, None, tuple(sorted(current)), pd.DataFrame(), ())
        prev = self.db.execute("SELECT * FROM findings WHERE run_id = ?", [last[0]]).df()
        prev_ids = set(prev["id"]) if len(prev) else set()
        fixed = prev[~prev["id"].isin(current)] if len(prev) else prev
        return Comparison(
            last[0],
            last[1],
            tuple(sorted(current - prev_ids)),
            fixed.reset_index(drop=True),
            tuple(sorted(current & prev_ids)),
        )

    def record(
        self,
        started_at: datetime,
        organisation: str,
        config: str,
        findings: Sequence[Finding],
        n_gaps: int,
        verdicts: Sequence[ControlVerdict],
        coverage: Sequence[tuple[str, bool, float]],
    ) -> int:
        last = self.last_run()
        run_id = (last[0] if last else 0) + 1
        tested = sum(v.verdict != "not_tested" for v in verdicts)
        if started_at.tzinfo is not None:
            started_at = started_at.astimezone(UTC).replace(tzinfo=None)
        self.db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                started_at,
                organisation,
                config,
                len(findings),
                n_gaps,
                tested,
                len(verdicts),
            ],
        )
        rows = pd.DataFrame(
            [
                (run_id, f.id, f.rule_id, f.detector, f.category.value, f.severity.value,
                 f.subject, f.title, f.first_seen, f.last_seen, int(f.count))
                for f in findings
            ],
            columns=["run_id", "id", "rule_id", "detector", "category", "severity", "subject",
                     "title", "first_seen", "last_seen", "count"],
        )  # fmt: skip
        if len(rows):
            self.db.register("new_findings", rows)
            self.db.execute("INSERT INTO findings SELECT * FROM new_findings")
            self.db.unregister("new_findings")
        if verdicts:
            self.db.executemany(
                "INSERT INTO verdicts VALUES (?, ?, ?)",
                [[run_id, v.control.id, v.verdict.value] for v in verdicts],
            )
        if coverage:
            self.db.executemany(
                "INSERT INTO coverage VALUES (?, ?, ?, ?)",
                [[run_id, a, ok, s] for a, ok, s in coverage],
            )
        return run_id

    def trend(self) -> pd.DataFrame:
        """One row per run: findings by severity and control verdict counts."""
        sev = self.db.execute(
            """SELECT r.run_id, r.started_at,
                      count(f.id) FILTER (WHERE f.severity = 'critical') AS critical,
                      count(f.id) FILTER (WHERE f.severity = 'high') AS high,
                      count(f.id) FILTER (WHERE f.severity = 'medium') AS medium,
                      count(f.id) FILTER (WHERE f.severity = 'low') AS low,
                      count(f.id) FILTER (WHERE f.severity = 'info') AS info
               FROM runs r LEFT JOIN findings f USING (run_id)
               GROUP BY r.run_id, r.started_at ORDER BY r.run_id"""
        ).df()
        ver = self.db.execute(
            """SELECT run_id,
                      count(*) FILTER (WHERE verdict = 'compliant') AS compliant,
                      count(*) FILTER (WHERE verdict = 'partly') AS partly,
                      count(*) FILTER (WHERE verdict = 'non_compliant') AS non_compliant,
                      count(*) FILTER (WHERE verdict = 'not_tested') AS not_tested
               FROM verdicts GROUP BY run_id ORDER BY run_id"""
        ).df()
        return sev.merge(ver, on="run_id", how="left")
