"""Byte sources for the scanners: a file mapped window by window, bytes, gzip.

A source hands out *windows*: a uint8 array covering input offsets
[start, start + len).  Files are memory-mapped one window at a time, so a
10 GB capture never has more than one window (plus the chunk a caller still
holds) mapped.  Gzip input is decompressed block by block into a window
buffer; offsets then count bytes of the decompressed stream.
"""

from __future__ import annotations

import mmap
import os
import zlib
from pathlib import Path

import numpy as np

from secaudit.errors import InputError

__all__ = ["ByteSource", "open_source"]

WINDOW = 128 * 1024 * 1024  # bytes mapped / decompressed per window (bounds RSS: ~2 windows live)
GZIP_MAGIC = b"\x1f\x8b"


class ByteSource:
    """Windows over an input; subclasses say how bytes are obtained."""

    name: str
    compressed: bool = False
    gap_note: str = ""  # appended to Gap messages (gzip: offsets are decompressed)

    def head(self, n: int) -> bytes:
        raise NotImplementedError

    def window(self, start: int, size: int) -> tuple[np.ndarray, bool]:
        """Bytes [start, start+size) (fewer at the end) and whether they reach the end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release OS resources (windows already handed out stay valid)."""

    def trailing_gap(self) -> tuple[int, str] | None:
        """(offset, message) when the input itself ended badly (gzip stream cut short)."""
        return None


class BytesSource(ByteSource):
    def __init__(self, data: bytes | bytearray | memoryview, name: str) -> None:
        self.name = name
        self._arr = np.frombuffer(data, dtype=np.uint8)

    def head(self, n: int) -> bytes:
        return self._arr[:n].tobytes()

    def window(self, start: int, size: int) -> tuple[np.ndarray, bool]:
        # one buffer for everything: no copy, windows are views
        return self._arr[start:], True


class FileSource(ByteSource):
    def __init__(self, path: Path) -> None:
        self.name = str(path)
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise InputError(f"cannot open capture: {exc.strerror}", str(path)) from exc
        self.size = os.fstat(self._fd).st_size

    def head(self, n: int) -> bytes:
        return os.pread(self._fd, n, 0)

    def window(self, start: int, size: int) -> tuple[np.ndarray, bool]:
        if start >= self.size:
            return np.zeros(0, np.uint8), True
        length = min(size, self.size - start)
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        # MAP_POPULATE maps the whole window in one go: far fewer page faults
        # than touching it page by page (the scanner reads every byte anyway)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        mm = mmap.mmap(
            self._fd, length + start - aligned, flags=flags, prot=mmap.PROT_READ, offset=aligned
        )
        arr = np.frombuffer(mm, dtype=np.uint8)[start - aligned :]
        return arr, start + length >= self.size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class GzipSource(ByteSource):
    """Stream-decompresses; keeps only the bytes from the current window start on."""

    compressed = True
    gap_note = " (offset in the decompressed stream)"

    def __init__(self, raw: ByteSource) -> None:
        self.name = raw.name
        self._raw = raw
        self._raw_pos = 0
        self._pending = b""  # compressed bytes read but not yet decompressed
        self._z = zlib.decompressobj(wbits=31)
        self._fed = False  # the current gzip member has started
        self._buf = np.zeros(0, np.uint8)
        self._buf_start = 0  # decompressed offset of _buf[0]
        self._eof = False
        self._error: tuple[int, str] | None = None

    def _fill(self, want_end: int) -> None:
        parts = [self._buf]
        have = self._buf_start + len(self._buf)
        while have < want_end and not self._eof:
            if not self._pending:
                raw, _ = self._raw.window(self._raw_pos, 4 * 1024 * 1024)
                self._pending = raw.tobytes()
                self._raw_pos += len(self._pending)
                if not self._pending:
                    self._eof = True
                    if self._fed:
                        self._error = (have, "gzip stream ends early (compressed input truncated)")
                    break
            try:
                out = self._z.decompress(self._pending, 4 * 1024 * 1024)
            except zlib.error as exc:
                self._eof = True
                self._error = (have, f"gzip data corrupt ({exc}); reading stopped")
                break
            self._fed = True
            self._pending = self._z.unconsumed_tail
            if self._z.eof:
                # concatenated members: go on with a fresh decompressor
                self._pending = self._z.unused_data + self._pending
                self._z = zlib.decompressobj(wbits=31)
                self._fed = False
            if out:
                parts.append(np.frombuffer(out, dtype=np.uint8))
                have += len(out)
        self._buf = np.concatenate(parts) if len(parts) > 1 else parts[0]

    def head(self, n: int) -> bytes:
        self._fill(n)
        return self._buf[:n].tobytes()

    def window(self, start: int, size: int) -> tuple[np.ndarray, bool]:
        # drop what lies before start, then decompress up to start + size
        if start > self._buf_start:
            self._buf = self._buf[start - self._buf_start :].copy()
            self._buf_start = start
        self._fill(start + size)
        arr = self._buf[start - self._buf_start :]
        return arr, self._eof and start + len(arr) >= self._buf_start + len(self._buf)

    def trailing_gap(self) -> tuple[int, str] | None:
        return self._error

    def close(self) -> None:
        self._raw.close()


def open_source(
    source: str | Path | bytes | bytearray | memoryview, name: str | None = None
) -> ByteSource:
    """A ByteSource for a path or in-memory capture, gzip detected by magic."""
    src: ByteSource
    if isinstance(source, (bytes, bytearray, memoryview)):
        src = BytesSource(source, name or "<bytes>")
    else:
        path = Path(source)
        if path.is_dir():
            raise InputError("is a directory, not a capture file", str(path))
        src = FileSource(path)
    if src.head(2) == GZIP_MAGIC:
        return GzipSource(src)
    return src
