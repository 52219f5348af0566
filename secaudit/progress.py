"""A progress bar on stderr for long inputs; silent when not a TTY or when quiet."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["Progress", "progress"]


class Progress(Protocol):
    def advance(self, amount: float) -> None: ...


class _Silent:
    def advance(self, amount: float) -> None:
        return None


class _Rich:
    def __init__(self, bar: object, task: object) -> None:
        self._bar = bar
        self._task = task

    def advance(self, amount: float) -> None:
        self._bar.advance(self._task, amount)  # type: ignore[attr-defined]


@contextmanager
def progress(label: str, total: float | None, quiet: bool = False) -> Iterator[Progress]:
    """Yield an object with `.advance(n)`; draws only on an interactive stderr."""
    if quiet or not sys.stderr.isatty():
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as RichProgress,
    )

    with RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield _Rich(bar, bar.add_task(label, total=total))
