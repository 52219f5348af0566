"""Executables in disguise: a carved file whose bytes are a program but whose name or
declared Content-Type says picture, document or text (a classic malware delivery trick).

The magic numbers are the formats' own headers; the benign-looking names and types are
what a browser or mail client would open without warning.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["disguised_executable", "sniff_executable"]

# (format, offset, magic); PE needs its "PE\0\0" signature found through e_lfanew.
_MAGICS: tuple[tuple[str, int, bytes], ...] = (
    ("elf", 0, b"\x7fELF"),
    ("mach-o", 0, b"\xcf\xfa\xed\xfe"),
    ("mach-o", 0, b"\xce\xfa\xed\xfe"),
    ("mach-o", 0, b"\xfe\xed\xfa\xcf"),
    ("mach-o", 0, b"\xfe\xed\xfa\xce"),
)
_HARMLESS_TYPES = (
    "image/",
    "text/",
    "audio/",
    "video/",
    "font/",
    "application/pdf",
    "application/json",
)
_HARMLESS_EXT = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".ico",
        ".webp",
        ".svg",
        ".tif",
        ".tiff",
        ".txt",
        ".csv",
        ".log",
        ".htm",
        ".html",
        ".css",
        ".js",
        ".json",
        ".xml",
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".mp3",
        ".mp4",
        ".avi",
        ".wav",
        ".zip",
        ".rar",
        ".7z",
        ".gz",
    ]
)


def sniff_executable(data: bytes) -> str | None:
    """The executable format of `data` by its header ("pe", "elf", "mach-o"), else None."""
    if data[:2] == b"MZ" and len(data) >= 0x40:
        pe_at = int.from_bytes(data[0x3C:0x40], "little")
        if pe_at < 0x40:
            return None
        if pe_at + 4 > len(data):  # carved file cut before the PE header: MZ stub is enough
            return "pe"
        return "pe" if data[pe_at : pe_at + 4] == b"PE\0\0" else None
    for kind, off, magic in _MAGICS:
        if data[off : off + len(magic)] == magic:
            return kind
    return None


def disguised_executable(
    data: bytes, name: str | None, content_type: str | None
) -> dict[str, str] | None:
    """Evidence when an executable is named or typed as something harmless, else None."""
    kind = sniff_executable(data)
    if kind is None:
        return None
    ctype = (content_type or "").split(";")[0].strip().lower()
    ext = PurePosixPath((name or "").lower()).suffix
    by_type = bool(ctype) and ctype.startswith(_HARMLESS_TYPES)
    by_name = ext in _HARMLESS_EXT
    if not (by_type or by_name):
        return None
    return {"magic": kind, "declared_type": ctype, "name": name or ""}
