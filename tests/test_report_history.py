"""The assessment history's run times are UTC whatever the machine's zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from secaudit.report.history import History
from secaudit.report.render import utc_minute


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local zone is UTC+8 (the centre's), for this test only."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_run_time_is_stored_and_shown_in_utc(tmp_path: Path, shanghai: None) -> None:
    started = datetime(2026, 11, 28, 13, 7, 30, tzinfo=UTC)
    hist = History(tmp_path / "history.duckdb")
    try:
        hist.record(started, "org", "a.yaml", [], 0, [], [])
        last = hist.last_run()
        assert last is not None
        assert last[1] == datetime(2026, 11, 28, 13, 7, 30)  # not 21:07, the local time
        assert utc_minute(hist.compare([]).previous_at) == "2026-11-28 13:07 UTC"
    finally:
        hist.close()


def test_utc_minute_of_aware_and_missing_times() -> None:
    from datetime import timedelta, timezone

    east8 = timezone(timedelta(hours=8))
    assert utc_minute(datetime(2026, 11, 28, 21, 7, 59, tzinfo=east8)) == "2026-11-28 13:07 UTC"
    assert utc_minute(None) == ""
