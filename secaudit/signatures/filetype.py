"""Executables among carved files: in disguise, or unsigned.

* In disguise: the bytes are a program but the name or declared Content-Type says
  picture, document or text (a classic malware delivery trick).
* Unsigned: a program image without a code signature - a PE whose security
  directory (Authenticode) is empty, or an ELF/Mach-O (no embedded signature that
  survives the wire).  Vendors' updates over HTTP are signed; droppers rarely are.

The magic numbers are the formats' own headers; the benign-looking names and types are
what a browser or mail client would open without warning.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["disguised_executable", "pe_signed", "sniff_executable", "unsigned_executable"]

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


_PE32, _PE32_PLUS = 0x10B, 0x20B
_SECURITY_DIR = 4  # IMAGE_DIRECTORY_ENTRY_SECURITY: the Authenticode certificate table


def pe_signed(data: bytes) -> bool | None:
    """Whether a PE image carries an Authenticode certificate table (None: not a PE, or
    cut before its data directories)."""
    if sniff_executable(data) != "pe":
        return None
    pe_at = int.from_bytes(data[0x3C:0x40], "little")
    opt = pe_at + 24  # after "PE\0\0" and the 20-byte COFF header
    magic = int.from_bytes(data[opt : opt + 2], "little")
    if magic not in (_PE32, _PE32_PLUS):
        return None
    dirs = opt + (96 if magic == _PE32 else 112)
    n_dirs = int.from_bytes(data[dirs - 4 : dirs], "little")
    entry = dirs + 8 * _SECURITY_DIR
    if n_dirs <= _SECURITY_DIR or entry + 8 > len(data):
        return None if entry + 8 > len(data) else False
    offset = int.from_bytes(data[entry : entry + 4], "little")
    size = int.from_bytes(data[entry + 4 : entry + 8], "little")
    return offset != 0 and size != 0


def unsigned_executable(data: bytes) -> dict[str, str] | None:
    """Evidence when `data` is a program image without a code signature, else None.

    A PE cut before its data directories (a capture that lost the header) counts as
    unknown, not unsigned."""
    kind = sniff_executable(data)
    if kind is None:
        return None
    if kind == "pe" and pe_signed(data) is not False:
        return None
    return {"magic": kind, "signature": "none"}
