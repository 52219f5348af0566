"""Exposure detectors against rules/exposure.yaml: a firing and a silent case for each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA, ROOT

from secaudit.cli import root
from secaudit.errors import ConfigError
from secaudit.exposure.assets import SimpleAssets
from secaudit.exposure.audit import audit_scan, version_below
from secaudit.exposure.config import load_exposure_config
from secaudit.exposure.nmap_xml import NmapHost, NmapPort, NmapScan

CFG = load_exposure_config(ROOT / "rules" / "exposure.yaml")
ASSETS = SimpleAssets(
    zones={
        "dmz": ["172.16.10.0/24"],
        "management": ["10.99.0.0/24"],
        "gov-internal": ["10.10.0.0/16"],
    },
    trust={"dmz": "dmz", "management": "management", "gov-internal": "classified"},
    assets=[
        {"name": "portal01", "ips": ["172.16.10.30"]},
        {"name": "jump01", "ips": ["10.99.0.10"]},
    ],
)


def _scan(addr: str, *ports: NmapPort, mac: str | None = None) -> NmapScan:
    host = NmapHost(addr=addr, addr_type="ipv4", addresses=[("ipv4", addr)], state="up", mac=mac)
    host.ports = list(ports)
    return NmapScan(source="test.xml", hosts=[host], start=1_795_000_000, complete=True)


def _p(port: int, service: str, **kw: object) -> NmapPort:
    return NmapPort(port=port, proto=kw.pop("proto", "tcp"), state="open", service=service, **kw)  # type: ignore[arg-type]


def _detectors(scan: NmapScan, vantage: str | None = "gov-internal") -> set[tuple[str, str]]:
    return {(f.detector, f.subject) for f in audit_scan(scan, CFG, ASSETS, vantage=vantage)}


def test_allowed_web_server_in_dmz_is_silent() -> None:
    scan = _scan("172.16.10.30", _p(443, "https", product="nginx", version="1.24.0",
                                     cpe=["cpe:/a:igor_sysoev:nginx:1.24.0"]))  # fmt: skip
    assert _detectors(scan) == set()


def test_unregistered_host() -> None:
    assert ("unregistered_host", "172.16.10.99") in _detectors(_scan("172.16.10.99"))
    assert _detectors(_scan("172.16.10.30")) == set()


def test_service_not_allowed_in_zone() -> None:
    got = _detectors(_scan("172.16.10.30", _p(3306, "mysql")))
    assert ("service_not_allowed", "172.16.10.30:3306/tcp") in got
    # management zone allows everything
    assert not any(
        d == "service_not_allowed" for d, _ in _detectors(_scan("10.99.0.10", _p(3306, "mysql")))
    )


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (_p(23, "telnet"), "telnet"),
        (_p(2121, "ftp"), "ftp"),  # by service name on an odd port
        (_p(21, "unknown"), "ftp"),  # by port when the service was not identified
        (
            _p(
                445,
                "microsoft-ds",
                scripts=[("smb-protocols", "dialects: \n  NT LM 0.12 (SMBv1) [dangerous]")],
            ),
            "smbv1",
        ),
    ],
)
def test_forbidden_services(port: NmapPort, expected: str) -> None:
    found = [
        f
        for f in audit_scan(_scan("10.10.1.11", port), CFG, ASSETS)
        if f.detector == "forbidden_service"
    ]
    assert [f.evidence["rule"] for f in found] == [expected]
    assert found[0].severity.value == "high"


def test_smb_without_v1_is_not_forbidden() -> None:
    port = _p(445, "microsoft-ds", scripts=[("smb-protocols", "dialects: \n  2:0:2\n  3:1:1")])
    assert not [
        f
        for f in audit_scan(_scan("10.10.1.11", port), CFG, ASSETS)
        if f.detector == "forbidden_service"
    ]


def test_rdp_forbidden_only_from_the_internet() -> None:
    scan = _scan("172.16.10.31", _p(3389, "ms-wbt-server"))
    rules = lambda v: {f.evidence.get("rule") for f in audit_scan(scan, CFG, ASSETS, vantage=v)}  # noqa: E731
    assert "rdp-from-internet" in rules("internet")
    assert "rdp-from-internet" not in rules("gov-internal")


def test_management_exposed_depends_on_vantage() -> None:
    scan = _scan("10.10.1.12", _p(22, "ssh", product="OpenSSH", version="9.2p1"))
    assert ("management_exposed", "10.10.1.12:22/tcp") in _detectors(scan, "gov-internal")
    assert not any(d == "management_exposed" for d, _ in _detectors(scan, "management"))


def test_outdated_version_by_cpe() -> None:
    old = _p(22, "ssh", product="OpenSSH", version="7.4", cpe=["cpe:/a:openbsd:openssh:7.4"])
    new = _p(22, "ssh", product="OpenSSH", version="9.2p1", cpe=["cpe:/a:openbsd:openssh:9.2p1"])
    got = [
        f
        for f in audit_scan(_scan("10.99.0.10", old), CFG, ASSETS)
        if f.detector == "outdated_version"
    ]
    assert [f.evidence["rule"] for f in got] == ["openssh"] and got[0].evidence["below"] == "8.8"
    assert not [
        f
        for f in audit_scan(_scan("10.99.0.10", new), CFG, ASSETS)
        if f.detector == "outdated_version"
    ]
    # version only in the CPE
    cpe_only = _p(80, "http", product="Apache httpd", cpe=["cpe:/a:apache:http_server:2.4.49"])
    assert any(
        f.detector == "outdated_version"
        for f in audit_scan(_scan("10.99.0.10", cpe_only), CFG, ASSETS)
    )


@pytest.mark.parametrize(
    ("a", "b", "below"),
    [("7.4p1", "8.8", True), ("8.8p1", "8.8", False), ("2.4.7", "2.4.58", True),
     ("2.4.58", "2.4.58", False), ("1.0.2k", "1.1.1", True), ("unknown", "1.0", False)],
)  # fmt: skip
def test_version_order(a: str, b: str, below: bool) -> None:
    assert version_below(a, b) is below


def test_default_page() -> None:
    page = _p(80, "http", scripts=[("http-title", "Apache2 Debian Default Page: It works")])
    real = _p(80, "http", scripts=[("http-title", "Provincial portal - login")])
    assert ("default_page", "172.16.10.30:80/tcp") in _detectors(_scan("172.16.10.30", page))
    assert _detectors(_scan("172.16.10.30", real)) == set()


def test_down_hosts_and_closed_ports_are_ignored() -> None:
    scan = _scan("172.16.10.99", NmapPort(23, "tcp", state="closed", service="telnet"))
    scan.hosts[0].state = "down"
    assert audit_scan(scan, CFG, ASSETS) == []


def test_config_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "exposure.yaml"
    bad.write_text(
        "scan:\n  allow: [127.0.0.1/32]\n  profiles: {}\nzones:\n  dmz: {allow: [tcp/99999]}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_exposure_config(bad)
    assert err.value.line == 5 and "99999" in str(err.value)
    r = CliRunner().invoke(root, ["exposure", "audit", str(DATA / "exposure" / "local_v4_after.xml"),
                                  "--config", str(bad)])  # fmt: skip
    assert r.exit_code == 2 and f"{bad}:5" in r.stderr


def test_cli_audit_json_and_fail_on() -> None:
    xml = str(DATA / "exposure" / "local_v4_after.xml")
    r = CliRunner().invoke(root, ["exposure", "audit", xml, "--now", "2026-11-28T00:00:00Z"])
    assert r.exit_code == 0, r.stderr  # two medium self-signed findings < --fail-on high
    assert {f["detector"] for f in json.loads(r.stdout)} == {"cert_self_signed"}
    r = CliRunner().invoke(
        root, ["exposure", "audit", xml, "--now", "2026-11-28", "--fail-on", "medium"]
    )
    assert r.exit_code == 1
    r = CliRunner().invoke(root, ["exposure", "audit", xml, "--now", "yesterday"])
    assert r.exit_code == 2 and "--now" in r.stderr
    r = CliRunner().invoke(root, ["exposure", "audit"])
    assert r.exit_code == 2
