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


def test_function_twins_work_when_called_first() -> None:
    """README's first lines, each in a fresh interpreter: `sa.detect(...)` as the first use of
    secaudit.detect (it once bound the function over the package, and the detector loader,
    which imports secaudit.detect's submodules, then failed), then the package still imports."""
    pcap = importlib.resources.files("secaudit").joinpath("..", "samples", "pcaps", "sample.pcap")
    calls = {  # name: (call, the least the sample gives: its planted scan, its traffic, alerts)
        "detect": ("len(sa.detect(p, only='port_scan').findings)", 1),
        "flows": ("len(sa.flows(p))", 100),
        "signatures": ("len(sa.signatures(p, str(rules)).alerts)", 1),
    }
    for name, (call, least) in calls.items():
        code = (
            "import sys, importlib.resources, secaudit as sa\n"
            "p = sys.argv[1]\n"
            "rules = importlib.resources.files('secaudit').joinpath('..', 'rules', 'signatures')\n"
            f"print({call})\n"
            f"import secaudit.{name} as pkg\n"
            "assert pkg.__name__ == 'secaudit." + name + "' and callable(pkg), pkg\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(pcap)], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, f"sa.{name}: {out.stderr[-2000:]}"
        assert int(out.stdout.strip()) >= least, name


def test_function_twins_show_the_function_in_help() -> None:
    """`sa.detect?` in Jupyter shows inspect.signature and __doc__: the function's parameters
    and docstring, not `(*args, **kwargs)` and the package's description."""
    import inspect

    import secaudit.detect.run
    import secaudit.flows
    import secaudit.signatures.api

    twins = {
        "detect": secaudit.detect.run.detect,
        "flows": sys.modules["secaudit.flows"].__dict__["flows"],
        "signatures": secaudit.signatures.api.signatures,
    }
    for name, function in twins.items():
        public = getattr(sa, name)
        assert inspect.signature(public) == inspect.signature(function), name
        assert public.__doc__ == function.__doc__ and public.__doc__, name
    assert "policy" in inspect.signature(sa.detect).parameters
