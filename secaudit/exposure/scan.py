"""Run nmap against targets inside the engagement's allow-list; the -oX file is always kept.

Every target is checked *before* nmap starts: an address or CIDR must lie
inside an allowed network, a host name must be listed and resolve only to
allowed addresses; nmap range syntax and anything that looks like an option
are refused.  nmap runs as a subprocess writing `-oX` straight to the output
file (python-nmap buffers the XML in memory and loses it if the scan is
interrupted, which defeats "the XML is always kept as evidence").
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from secaudit.errors import ConfigError, InputError, ToolError
from secaudit.exposure.config import ExposureConfig
from secaudit.exposure.nmap_xml import NmapScan, read_nmap_xml
from secaudit.model import Gap

__all__ = ["ScanResult", "check_targets", "nmap_command", "run_scan"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_PCT_RE = re.compile(r"About ([0-9.]+)% done")
_PHASE_RE = re.compile(r"^(.+?) Timing: About")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?(\.[A-Za-z0-9\-]+)*\.?$")


@dataclass(frozen=True)
class ScanResult:
    xml: Path
    command: list[str]
    returncode: int
    scan: NmapScan
    duration_s: float


def _allowed(allow: Sequence[str]) -> tuple[list[Network], list[str]]:
    nets: list[Network] = []
    names: list[str] = []
    for item in allow:
        try:
            nets.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            names.append(item.lower().rstrip("."))
    return nets, names


def _net_inside(net: Network, nets: Sequence[Network]) -> bool:
    return any(
        net.version == n.version and net.subnet_of(n)  # type: ignore[arg-type]
        for n in nets
    )


def _name_listed(name: str, names: Sequence[str]) -> bool:
    return any(
        name == n or (n.startswith("*.") and name.endswith(n[1:]) and name != n[2:]) for n in names
    )


def _resolve(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def check_targets(
    targets: Sequence[str],
    allow: Sequence[str],
    *,
    resolve: Callable[[str], list[str]] = _resolve,
) -> list[str]:
    """Return the targets if every one is inside the allow-list, else raise InputError (exit 2)."""
    if not targets:
        raise InputError("no scan targets given", "scan")
    nets, names = _allowed(allow)
    for target in targets:
        if not target or target.startswith("-"):
            raise InputError(f"refused target {target!r}: looks like an nmap option", "scan")
        try:
            net = ipaddress.ip_network(target, strict=False)
        except ValueError:
            net = None
        if net is not None:
            if not _net_inside(net, nets):
                raise InputError(
                    f"refused target {target}: outside the scan allow-list ({', '.join(allow)})",
                    "scan",
                )
            continue
        name = target.lower().rstrip(".")
        if not _NAME_RE.match(target) or re.fullmatch(r"[0-9.\-*,/]+", target):
            raise InputError(
                f"refused target {target!r}: give addresses, CIDRs or host names "
                "(nmap range syntax is not accepted)",
                "scan",
            )
        if not _name_listed(name, names):
            raise InputError(
                f"refused target {target}: host name not in the scan allow-list", "scan"
            )
        addrs = resolve(target)
        if not addrs:
            raise InputError(f"refused target {target}: host name does not resolve", "scan")
        outside = [a for a in addrs if not _net_inside(ipaddress.ip_network(a), nets)]
        if outside:
            raise InputError(
                f"refused target {target}: resolves to {', '.join(outside)} outside the allow-list",
                "scan",
            )
    return list(targets)


def nmap_command(
    nmap: str,
    profile_args: Sequence[str],
    targets: Sequence[str],
    xml: Path,
    *,
    ports: str | None = None,
    no_ping: bool = False,
    stats_every_s: int = 5,
) -> list[str]:
    """The argv secaudit runs (profile args, then overrides, then -oX and the targets)."""
    args = list(profile_args)
    if ports:
        if not re.match(r"^[TUS:0-9,\-]+$", ports):
            raise InputError(f"bad port list {ports!r}", "scan")
        # the override replaces a -p in the profile
        cleaned: list[str] = []
        skip = False
        for a in args:
            if skip:
                skip = False
                continue
            if a == "-p":
                skip = True
                continue
            if a.startswith("-p") and a[2:3].isdigit():
                continue
            cleaned.append(a)
        args = [*cleaned, "-p", ports]
    if no_ping and "-Pn" not in args:
        args.append("-Pn")
    ipv6 = any(":" in t for t in targets)
    if ipv6 and "-6" not in args:
        args.append("-6")
    return [nmap, *args, "--stats-every", f"{stats_every_s}s", "-oX", str(xml), *targets]


def run_scan(
    targets: Sequence[str],
    profile: str,
    xml: str | Path,
    config: ExposureConfig,
    *,
    ports: str | None = None,
    no_ping: bool = False,
    quiet: bool = False,
    nmap: str | None = None,
) -> ScanResult:
    """Check targets, run nmap, keep `xml`, import it (an interrupted scan yields Gaps)."""
    prof = config.scan.profiles.get(profile)
    if prof is None:
        raise ConfigError(
            f"unknown scan profile {profile!r} (have: {', '.join(sorted(config.scan.profiles))})",
            "exposure.yaml",
        )
    check_targets(targets, config.scan.allow)
    exe = nmap or shutil.which("nmap")
    if exe is None:
        raise ToolError("nmap is not installed (apt-get install nmap)", "nmap")
    out = Path(xml)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = nmap_command(
        exe,
        prof.args,
        targets,
        out,
        ports=ports,
        no_ping=no_ping,
        stats_every_s=config.scan.stats_every_s,
    )
    if not quiet:
        print(f"scan: {' '.join(cmd)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    timed_out = False
    with subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            m = _PCT_RE.search(line)
            if m and not quiet:
                phase = _PHASE_RE.match(line)
                what = phase.group(1) if phase else "scan"
                print(f"scan: {float(m.group(1)):5.1f}% {what}", file=sys.stderr, flush=True)
            if time.monotonic() - started > prof.timeout_s:
                timed_out = True
                proc.terminate()
                break
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    duration = time.monotonic() - started
    if not out.exists() or out.stat().st_size == 0:
        raise ToolError(f"nmap exited {rc} without writing {out}: {' / '.join(tail[-3:])}", "nmap")
    scan = read_nmap_xml(out)
    if timed_out:
        scan.gaps.append(
            Gap(
                "timeout",
                str(out),
                f"scan stopped after the profile's {prof.timeout_s} s limit",
                area="exposure",
            )
        )
    elif rc != 0:
        scan.gaps.append(
            Gap(
                "tool_error",
                str(out),
                f"nmap exited {rc}: {' / '.join(tail[-3:])}",
                area="exposure",
            )
        )
    if not quiet:
        up = sum(1 for h in scan.hosts if h.state == "up")
        print(
            f"scan: done in {duration:.1f} s, {up} host(s) up, XML kept in {out}", file=sys.stderr
        )
    return ScanResult(out, cmd, rc, scan, duration)
