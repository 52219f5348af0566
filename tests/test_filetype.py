"""Executable sniffing of carved files: PE code signatures (Authenticode table) and
unsigned program images, on hand-built headers of both PE flavours."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from secaudit.signatures.filetype import pe_signed, sniff_executable, unsigned_executable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "rules" / "tests" / "signatures"))
PE_AT = 0x80


def pe(*, plus: bool = False, cert: tuple[int, int] = (0, 0), n_dirs: int = 16) -> bytes:
    """A PE header: DOS stub, "PE\\0\\0", COFF header, optional header with data directories."""
    dos = b"MZ" + b"\0" * 0x3A + struct.pack("<I", PE_AT)
    dos = dos.ljust(PE_AT, b"\0")
    coff = struct.pack("<HHIIIHH", 0x14C, 1, 0, 0, 0, 240 if plus else 224, 0x102)
    opt_fixed = 112 if plus else 96
    opt = struct.pack("<H", 0x20B if plus else 0x10B).ljust(opt_fixed - 4, b"\0")
    opt += struct.pack("<I", n_dirs)
    dirs = [(0, 0)] * n_dirs
    if n_dirs > 4:
        dirs[4] = cert
    opt += b"".join(struct.pack("<II", *d) for d in dirs)
    return dos + b"PE\0\0" + coff + opt + b"\0" * 64


@pytest.mark.parametrize("plus", [False, True])
def test_signed_and_unsigned_pe(plus: bool) -> None:
    signed = pe(plus=plus, cert=(0x5000, 0x1A00))
    unsigned = pe(plus=plus)
    assert sniff_executable(signed) == sniff_executable(unsigned) == "pe"
    assert pe_signed(signed) is True and unsigned_executable(signed) is None
    assert pe_signed(unsigned) is False
    assert unsigned_executable(unsigned) == {"magic": "pe", "signature": "none"}


def test_pe_without_security_directory_slot_is_unsigned() -> None:
    assert pe_signed(pe(n_dirs=3)) is False


def test_pe_cut_before_its_directories_is_unknown() -> None:
    cut = pe()[: PE_AT + 24 + 40]
    assert sniff_executable(cut) == "pe"
    assert pe_signed(cut) is None and unsigned_executable(cut) is None


def test_other_images_and_non_executables() -> None:
    assert unsigned_executable(b"\x7fELF\x02\x01\x01" + b"\0" * 60) == {
        "magic": "elf",
        "signature": "none",
    }
    assert unsigned_executable(b"\xcf\xfa\xed\xfe" + b"\0" * 60)["magic"] == "mach-o"  # type: ignore[index]
    assert unsigned_executable(b"%PDF-1.7\n" + b"\0" * 60) is None
    assert pe_signed(b"\x7fELF\x02\x01\x01" + b"\0" * 60) is None


@pytest.mark.parametrize(
    ("server", "cert", "severity"),
    [
        ("203.0.113.9", (0, 0), "medium"),  # unsigned program from the internet, in cleartext
        ("203.0.113.9", (0x5000, 0x1A00), None),  # a signed vendor download
        ("10.0.0.9", (0, 0), None),  # the internal software share
    ],
)
def test_unsigned_executable_download_is_malware_transfer(
    tmp_path: Path, server: str, cert: tuple[int, int], severity: str | None
) -> None:
    from _pcaplib import http_get, http_response, tcp_session, write  # rules/tests/signatures

    from secaudit.detect.run import detect

    pcap = tmp_path / "dl.pcap"
    body = pe(cert=cert)
    pkts = tcp_session(
        "10.0.0.5", server, 41000, 80,
        [("c", http_get("/solar.php")),
         ("s", http_response(body, ctype="application/octet-stream"))],
    )  # fmt: skip
    write(str(pcap), pkts)
    found = detect(pcap, only=["malware_transfer"], strict=True).findings
    assert [f.severity.value for f in found] == ([severity] if severity else [])
    if severity:
        assert found[0].subject == "10.0.0.5"
        assert found[0].evidence["unsigned"] == {"magic": "pe", "signature": "none"}
