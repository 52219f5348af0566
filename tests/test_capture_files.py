"""`-r FOLDER`: a folder of captures is every capture file in it, in name order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner
from conftest import ROOT

from secaudit.capture.files import capture_files, expand_captures
from secaudit.cli import root
from secaudit.errors import InputError

SAMPLE = ROOT / "samples" / "pcaps" / "sample.pcap"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "hourly"
    (folder / "later").mkdir(parents=True)
    shutil.copy(SAMPLE, folder / "h02.pcap")
    shutil.copy(SAMPLE, folder / "later" / "h03.PCAP")
    shutil.copy(SAMPLE, folder / "h01.cap")
    (folder / "README.txt").write_text("rotation: hourly", encoding="utf-8")
    (folder / ".h00.pcap").write_bytes(b"")  # an editor's or a copy's hidden file
    return folder


def test_a_folder_is_its_capture_files_in_name_order(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    assert [p.relative_to(folder).as_posix() for p in capture_files(folder)] == [
        "h01.cap", "h02.pcap", "later/h03.PCAP",
    ]  # fmt: skip
    assert capture_files(SAMPLE) == [SAMPLE]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert capture_files(empty) == []
    try:
        expand_captures([empty])
    except InputError as exc:
        assert "no capture files" in str(exc) and str(empty) in str(exc)
    else:
        raise AssertionError("an empty folder must be an input error")


def test_cli_reads_a_folder(tmp_path: Path) -> None:
    """Before, detect and flows refused a folder ('is a directory') and signatures failed on
    it; three copies of the sample give more than twice its connections (the copies'
    times overlap, so a connection of one copy can continue in the next: one stream)."""
    folder = _folder(tmp_path)
    one = CliRunner().invoke(root, ["flows", "-r", str(SAMPLE), "-l", str(tmp_path / "a"), "-q"])
    three = CliRunner().invoke(root, ["flows", "-r", str(folder), "-l", str(tmp_path / "b"), "-q"])
    assert one.exit_code == 0 and three.exit_code == 0, three.output

    def rows(p: Path) -> int:
        return sum(1 for x in p.read_text().splitlines() if not x.startswith("#"))

    assert rows(tmp_path / "b" / "conn.log") > 2 * rows(tmp_path / "a" / "conn.log")
    out = tmp_path / "f.json"
    det = CliRunner().invoke(root, ["detect", "-r", str(folder), "-o", str(out), "-q",
                                    "--only", "port_scan"])  # fmt: skip
    assert det.exit_code == 0, det.output
    assert {f["subject"] for f in json.loads(out.read_text())} == {"10.20.3.117"}
    whole = CliRunner().invoke(root, ["detect", "-r", str(tmp_path), "-o", str(out), "-q"])
    assert whole.exit_code == 0  # tmp_path holds the folder's captures, recursively
    empty = tmp_path / "empty"
    empty.mkdir()
    gone = CliRunner().invoke(root, ["detect", "-r", str(empty), "-o", str(out)])
    assert gone.exit_code == 2 and "no capture files" in gone.output
