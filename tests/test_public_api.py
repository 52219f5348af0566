"""The flat public API: every advertised name resolves, and package/function twins stay callable."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys

import secaudit as sa


def test_every_public_name_resolves() -> None:
    for name in sa.__all__:
        assert getattr(sa, name) is not None, name


def test_function_twins_of_subpackages_stay_callable_after_submodule_imports() -> None:
    """`import secaudit.flows.tracker` rebinds `sa.flows` to the package; it must still work."""
    code = (
        "import secaudit as sa, secaudit.flows.tracker, secaudit.detect.run, secaudit.signatures.api\n"
        "import sys\n"
        "assert callable(sa.flows) and callable(sa.detect) and callable(sa.signatures)\n"
        "conn = sa.flows(sys.argv[1])\n"
        "print(len(conn))\n"
    )
    pcap = importlib.resources.files("secaudit").joinpath("..", "samples", "pcaps", "sample.pcap")
    out = subprocess.run(
        [sys.executable, "-c", code, str(pcap)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 100
