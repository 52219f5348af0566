"""Which capture files an argument names: a file, or every capture file in a folder.

A testing centre's captures usually arrive as a folder of hourly files; `-r FOLDER`
(and `inputs.pcaps: [FOLDER]` in an assessment) reads them all, in name order, which
for rotated captures (tcpdump -G, dumpcap ring buffers) is time order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from secaudit.errors import InputError

__all__ = ["CAPTURE_SUFFIXES", "capture_files", "expand_captures"]

# what the reader takes: pcap and pcapng, gzip-compressed too
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz")


def capture_files(path: str | Path) -> list[Path]:
    """The capture files of `path`: itself when it is not a folder, else every file in the
    folder (recursively, hidden files skipped) with a capture suffix, in name order; an
    empty list for a folder without any."""
    p = Path(path)
    if not p.is_dir():
        return [p]
    return sorted(
        f for f in p.rglob("*")
        if f.is_file() and not f.name.startswith(".") and f.name.lower().endswith(CAPTURE_SUFFIXES)
    )  # fmt: skip


def expand_captures(paths: Iterable[str | Path]) -> list[str]:
    """Command-line `-r` arguments as capture files; a folder without any is an input error."""
    out: list[str] = []
    for path in paths:
        found = capture_files(path)
        if not found:
            raise InputError(
                f"no capture files ({', '.join(CAPTURE_SUFFIXES)}) in folder", str(path)
            )
        out.extend(str(f) for f in found)
    return out
