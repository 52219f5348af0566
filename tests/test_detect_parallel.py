"""Capture-only detectors (malware_transfer) in a worker process beside the table pass:
same results as one process, errors come back, a dead worker loses nothing."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from secaudit.detect._parallel import WORTH_BYTES, Beside, split
from secaudit.detect.config import Thresholds
from secaudit.detect.registry import DetectContext
from secaudit.detect.run import DetectResult, detect, load_detectors, order_findings, run_specs
from secaudit.errors import ConfigError, InputError

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "pcaps" / "sample.pcap"
POLICY = ROOT / "samples" / "rules"


def _dump(res: DetectResult) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return [f.to_dict() for f in res.findings], [g.to_dict() for g in res.gaps]


def test_worker_gives_the_same_findings_and_gaps() -> None:
    serial = detect(str(SAMPLE), str(POLICY), parallel=False, strict=True)
    beside = detect(str(SAMPLE), str(POLICY), parallel=True, strict=True)
    assert "malware_transfer" in {f.detector for f in serial.findings}  # the worker's share
    assert _dump(beside) == _dump(serial)
    assert not multiprocessing.active_children()


def test_worker_exception_is_raised_when_strict_and_a_gap_otherwise() -> None:
    bad = {"malware_transfer": {"yara": "/nonexistent/yara"}}
    with pytest.raises(ConfigError, match="rule folder"):
        detect(str(SAMPLE), only="port_scan,malware_transfer", thresholds=bad,
               parallel=True, strict=True)  # fmt: skip
    res = detect(str(SAMPLE), only="port_scan,malware_transfer", thresholds=bad,
                 parallel=True, strict=False)  # fmt: skip
    assert [g.detail["detector"] for g in res.gaps if g.kind == "detector_error"] == [
        "malware_transfer"
    ]
    assert {f.detector for f in res.findings} == {"port_scan"}  # the rest still ran


def test_failed_pass_ends_the_worker(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(b"\x00" * 64)  # no pcap magic: the table pass fails
    with pytest.raises(InputError):
        detect(str(broken), only="port_scan,malware_transfer", parallel=True, strict=True)
    assert not multiprocessing.active_children()


def test_a_killed_worker_loses_nothing() -> None:
    """The worker is killed before it answers: its detectors run in this process."""
    th = Thresholds().as_mapping()
    th["_run"] = {"lang": "en"}
    ctx = DetectContext(conn=None, thresholds=th, sources=(str(SAMPLE),))  # type: ignore[arg-type]
    spec = load_detectors()["malware_transfer"]
    worker = Beside.start(ctx, [spec], strict=True)
    assert worker.process.pid is not None
    os.kill(worker.process.pid, signal.SIGKILL)
    found, gaps = worker.result()
    want, want_gaps = run_specs(ctx, [spec], strict=True)
    assert found and order_findings(found) == order_findings(want)
    assert gaps == want_gaps
    worker.stop()


def test_split_keeps_small_or_lone_work_here() -> None:
    specs = load_detectors()
    mal, scan = specs["malware_transfer"], specs["port_scan"]
    assert split([scan, mal], [str(SAMPLE)], True) == ([scan], [mal])
    assert split([scan, mal], [str(SAMPLE)], False) == ([scan, mal], [])
    assert split([mal], [str(SAMPLE)], True) == ([mal], [])  # nothing to overlap with
    assert os.path.getsize(SAMPLE) < WORTH_BYTES  # so the default keeps it here
    assert split([scan, mal], [str(SAMPLE)], None) == ([scan, mal], [])
