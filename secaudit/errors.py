"""The error tree of secaudit.

    SecauditError
    ├── InputError    bad or unreadable input (pcap, XML, repo): carries source + offset/line
    ├── ConfigError   bad rules/ or config file: carries source + line/column
    └── ToolError     an external tool (nmap, restic, chromium) failed or is missing

The CLI maps every one of these to exit code 2 and one clear line naming the
input and location; library callers can catch by how they want to react.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ConfigError", "InputError", "SecauditError", "ToolError"]


class SecauditError(Exception):
    """Root of every error secaudit raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Located(SecauditError):
    """An error tied to a place in an input: file plus byte offset or line:column."""

    def __init__(
        self,
        message: str,
        source: str | None = None,
        *,
        offset: int | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.offset = offset
        self.line = line
        self.column = column

    @property
    def location(self) -> str:
        """`path:line:col` or `path@offset`, as much as is known."""
        where = self.source or "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        elif self.offset is not None:
            where += f" at byte {self.offset}"
        return where

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled intact (a Dask worker's error reaches the coordinator with its location)
        return (type(self), (self.message, self.source), self.__dict__)


class InputError(_Located):
    """Input that cannot be read at all (for damage mid-file, record a Gap instead)."""


class ConfigError(_Located):
    """A rules/ or configuration file that does not validate."""


class ToolError(SecauditError):
    """An external program failed, timed out or is not installed."""

    def __init__(self, message: str, tool: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.source = source

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.tool), self.__dict__)

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.tool}: {self.message}"
