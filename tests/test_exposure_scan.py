"""The scan allow-list: out-of-scope targets are refused before nmap is ever started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT

from secaudit.errors import ConfigError, InputError
from secaudit.exposure.config import load_exposure_config
from secaudit.exposure.scan import check_targets, nmap_command

SECAUDIT = str(Path(sys.executable).parent / "secaudit")
ALLOW = ["127.0.0.0/8", "::1/128", "localhost", "*.lab.test"]


def _fake_resolve(name: str) -> list[str]:
    return {
        "localhost": ["127.0.0.1", "::1"],
        "web.lab.test": ["127.0.0.5"],
        "evil.lab.test": ["127.0.0.6", "198.51.100.7"],
    }.get(name, [])


@pytest.mark.parametrize(
    "target",
    ["127.0.0.1", "127.0.0.0/24", "::1", "localhost", "web.lab.test", "127.1.2.3/32"],
)
def test_targets_inside_allow_list(target: str) -> None:
    assert check_targets([target], ALLOW, resolve=_fake_resolve) == [target]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("10.0.0.1", "outside"),
        ("127.0.0.0/7", "outside"),  # wider than the allowed /8
        ("0.0.0.0/0", "outside"),
        ("2001:db8::1", "outside"),
        ("example.org", "not in the scan allow-list"),
        ("lab.test", "not in the scan allow-list"),  # "*.lab.test" covers names below it only
        ("evil.lab.test", "198.51.100.7"),  # listed name resolving outside
        ("nx.lab.test", "does not resolve"),
        ("127.0.0.1-255", "range syntax"),
        ("-iL", "option"),
        ("--script=evil", "option"),
        ("", "option"),
    ],
)
def test_targets_refused(target: str, why: str) -> None:
    with pytest.raises(InputError) as err:
        check_targets([target], ALLOW, resolve=_fake_resolve)
    assert why in str(err.value)


def test_one_bad_target_refuses_the_whole_scan() -> None:
    with pytest.raises(InputError):
        check_targets(["127.0.0.1", "10.9.9.9"], ALLOW, resolve=_fake_resolve)


def test_profiles_cannot_smuggle_targets(tmp_path: Path) -> None:
    cfg = tmp_path / "exposure.yaml"
    cfg.write_text(
        "scan:\n  allow: [127.0.0.1/32]\n  profiles:\n"
        "    sneaky: {args: ['-sT', '-iL', 'targets.txt']}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_exposure_config(cfg)
    assert err.value.line == 4 and "-iL" in str(err.value)


def test_command_line_shape() -> None:
    cmd = nmap_command(
        "nmap", ["-sT", "-p", "443"], ["127.0.0.1"], Path("o.xml"), ports="80,8443", no_ping=True
    )
    assert cmd[:1] == ["nmap"] and cmd[-1] == "127.0.0.1"
    assert cmd[cmd.index("-oX") + 1] == "o.xml"
    assert cmd.count("-p") == 1 and cmd[cmd.index("-p") + 1] == "80,8443" and "-Pn" in cmd
    assert "-6" in nmap_command("nmap", [], ["::1"], Path("o.xml"))
    with pytest.raises(InputError):
        nmap_command("nmap", [], ["127.0.0.1"], Path("o.xml"), ports="80;rm -rf /")


SENTINEL = textwrap.dedent(
    """\
    #!/bin/sh
    # Records that it was started; writes an empty-but-valid scan to the -oX path.
    echo "$@" >> "$SENTINEL_LOG"
    out=""
    prev=""
    for a in "$@"; do [ "$prev" = "-oX" ] && out="$a"; prev="$a"; done
    printf '<?xml version="1.0"?>\\n<nmaprun scanner="nmap" args="sentinel">'\\
    '<runstats><finished time="1" exit="success"/></runstats></nmaprun>\\n' > "$out"
    """
)


@pytest.fixture
def sentinel(tmp_path: Path) -> tuple[dict[str, str], Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "nmap"
    exe.write_text(SENTINEL)
    exe.chmod(0o755)
    log = tmp_path / "nmap-started.log"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SENTINEL_LOG": str(log)}
    return env, log


def _scan(env: dict[str, str], target: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SECAUDIT, "scan", target, "--profile", "discovery", "-o", str(out),
         "--config", str(ROOT / "rules" / "exposure.yaml")],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize("target", ["192.0.2.10", "10.0.0.0/8", "scanme.nmap.org"])
def test_out_of_scope_scan_never_starts_nmap(
    sentinel: tuple[dict[str, str], Path], tmp_path: Path, target: str
) -> None:
    env, log = sentinel
    out = tmp_path / "scan.xml"
    p = _scan(env, target, out)
    assert p.returncode == 2, p.stderr
    assert "refused target" in p.stderr and "Traceback" not in p.stderr
    assert not log.exists(), "nmap was started for an out-of-scope target"
    assert not out.exists()


def test_sentinel_does_record_an_allowed_scan(
    sentinel: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    """Control: the same sentinel is started (and records) when the target is allowed."""
    env, log = sentinel
    out = tmp_path / "scan.xml"
    p = _scan(env, "127.0.0.1", out)
    assert p.returncode == 0, p.stderr
    assert log.read_text().strip().endswith("127.0.0.1")
    assert out.exists()
