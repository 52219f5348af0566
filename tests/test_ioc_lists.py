"""Indicator inputs (rules/iocs/*.csv, rules/yara/*.yar): what loads, and how a bad file is reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from secaudit.errors import ConfigError
from secaudit.signatures.files import load_iocs


def _write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "list.csv"
    p.write_bytes(data)
    return p


def test_comments_blank_lines_and_a_spreadsheet_bom(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "\ufeff# from the CERT feed\n\ntype,value,description\n"
        "sha256,ABCDEF,sample\nip,10.0.0.1,c2\n# end\n".encode(),
    )
    iocs = load_iocs([p])
    assert iocs.get("sha256", "abcdef") == "sample" and iocs.get("ip", "10.0.0.1") == "c2"


def test_a_bad_row_is_reported_at_its_line_in_the_file(tmp_path: Path) -> None:
    """Comment lines count: the error names the line an editor shows, not the row index."""
    p = _write(tmp_path, b"# a\n# b\ntype,value,description\nmd5,aa,x\nip,not-an-ip,y\n")
    with pytest.raises(ConfigError, match="bad IP address") as err:
        load_iocs([p])
    assert err.value.line == 5
    p = _write(tmp_path, b"# a\n\ntype,value\nbogus,1\n")
    with pytest.raises(ConfigError, match="expected type") as err:
        load_iocs([p])
    assert err.value.line == 4


def test_missing_header_names_the_first_line(tmp_path: Path) -> None:
    p = _write(tmp_path, b"# list\nsha256,abc\n")
    with pytest.raises(ConfigError, match="header row") as err:
        load_iocs([p])
    assert err.value.line == 2


def test_not_utf8_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    p = _write(tmp_path, b"type,value,description\nsha256,abc,\xff\xfe garbage\n")
    with pytest.raises(ConfigError, match="not UTF-8") as err:
        load_iocs([p])
    assert err.value.line == 2


def test_cli_exit_2_not_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path / "iocs"
    folder.mkdir()
    (folder / "bad.csv").write_bytes(b'sha256,abc,"unterminated\n\x00\xff\xfe\n')
    exe = Path(sys.executable).with_name("secaudit")
    proc = subprocess.run(
        [str(exe), "signatures", "-r", str(ROOT / "samples" / "pcaps" / "sample.pcap"),
         "-S", str(ROOT / "rules" / "signatures"), "-l", str(tmp_path / "out"),
         "--iocs", str(folder)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "bad.csv:2" in proc.stderr


def test_yara_file_with_a_byte_order_mark_says_so(tmp_path: Path) -> None:
    from secaudit.signatures.files import load_yara

    y = tmp_path / "a.yar"
    y.write_bytes(b'\xef\xbb\xbfrule t { strings: $a = "x" condition: $a }\n')
    with pytest.raises(ConfigError, match="byte-order mark") as err:
        load_yara([y])
    assert err.value.line == 1 and str(y) in str(err.value)
