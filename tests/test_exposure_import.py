"""nmap XML import: real scans, hostile XML, interrupted scans, the tables, and the corpus scorer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import CORPUS, DATA, ROOT, TOOLS, need_shared

from secaudit.cli import root
from secaudit.errors import InputError
from secaudit.exposure import hosts_table, read_nmap_xml, services_table

HERE = DATA / "exposure"
SECAUDIT = str(Path(sys.executable).parent / "secaudit")


def test_real_scan_fields() -> None:
    scan = read_nmap_xml(HERE / "local_v4_after.xml")
    assert scan.complete and not scan.gaps
    assert scan.version == "7.93" and "ssl-cert" in (scan.args or "")
    (host,) = scan.hosts
    assert (host.addr, host.state, host.hostnames) == ("127.0.0.1", "up", ["localhost"])
    ports = {p.port: p for p in host.ports}
    assert ports[8081].service == "http" and ports[8081].extrainfo == "Python 3.12.1"
    assert ports[8081].cpe == ["cpe:/a:python:simplehttpserver:0.6"]
    assert ports[8080].state == "closed" and ports[8080].reason == "reset"
    cert = ports[8443].cert
    assert cert is not None
    assert cert["subject"] == "CN=secaudit-b.localhost,O=secaudit-fixture"
    assert (cert["key_type"], cert["key_bits"]) == ("rsa", 2048)
    assert cert["sig_alg"] == "sha256WithRSAEncryption"
    assert cert["not_after"] == "2036-11-24T08:31:19"
    assert cert["sha256"] and len(cert["sha256"]) == 64  # computed from nmap's PEM


def test_tables_follow_schemas() -> None:
    from secaudit.schemas import HOSTS_SCHEMA, SERVICES_SCHEMA

    scan = read_nmap_xml(HERE / "local_v4_after.xml")
    hosts, services = hosts_table(scan), services_table(scan)
    assert list(hosts.columns) == HOSTS_SCHEMA.names
    assert list(services.columns) == SERVICES_SCHEMA.names
    assert len(services) == 8
    tls = services[services["port"] == 9443].iloc[0]
    assert tls["tunnel"] == "ssl" and tls["cert_key_bits"] == 2048
    assert str(tls["cert_not_after"]) == "2036-11-24 08:31:19+00:00"
    assert json.loads(tls["scripts"])["ssl-cert"].startswith("Subject: commonName=secaudit-c")


HOSTILE = {
    "billion_laughs": '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n<!ENTITY a "aaaa">\n'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n<nmaprun>&b;</nmaprun>\n',
    "xxe_file": '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n'
    '<!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n<nmaprun>&x;</nmaprun>\n',
    "parameter_entity_dtd": '<?xml version="1.0"?>\n<!DOCTYPE nmaprun [\n'
    '<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd">\n%remote;\n]>\n<nmaprun/>\n',
    "external_dtd": '<?xml version="1.0"?>\n<!DOCTYPE nmaprun SYSTEM "http://127.0.0.1:9/x.dtd">\n'
    "<nmaprun/>\n",
    "public_dtd": '<?xml version="1.0"?>\n<!DOCTYPE nmaprun PUBLIC "-//x//EN" "x.dtd">\n<nmaprun/>\n',
    "not_nmap": '<?xml version="1.0"?>\n<root><host/></root>\n',
    "empty": "",
    "json": '{"nmaprun": {}}',
    "binary": "\x00\x01\x02garbage",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_and_foreign_xml_rejected(tmp_path: Path, name: str) -> None:
    p = tmp_path / f"{name}.xml"
    p.write_text(HOSTILE[name], encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_nmap_xml(p)
    assert str(p) in str(err.value)
    result = CliRunner().invoke(root, ["exposure", "import", str(p), "--json"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_plain_doctype_of_real_nmap_accepted(tmp_path: Path) -> None:
    text = (HERE / "local_v4_before.xml").read_text()
    assert "<!DOCTYPE nmaprun>" in text
    assert len(read_nmap_xml(HERE / "local_v4_before.xml").hosts) == 1


def _two_host_scan() -> str:
    one = (HERE / "local_v4_after.xml").read_text()
    head, rest = one.split("<host ", 1)
    host_body, tail = rest.split("</host>", 1)
    host2 = ("<host " + host_body + "</host>").replace("127.0.0.1", "127.0.0.2")
    return head + "<host " + host_body + "</host>\n" + host2 + tail


@pytest.mark.parametrize("cut", ["inside_second_host", "after_first_host", "inside_first_host"])
def test_truncated_scan_keeps_complete_hosts(tmp_path: Path, cut: str) -> None:
    text = _two_host_scan()
    second = text.index("<host ", text.index("</host>"))
    at = {
        "inside_second_host": second + 300,
        "after_first_host": text.index("</host>") + len("</host>"),
        "inside_first_host": text.index("<ports>") + 50,
    }[cut]
    p = tmp_path / "cut.xml"
    p.write_text(text[:at], encoding="utf-8")
    scan = read_nmap_xml(p)
    want = [] if cut == "inside_first_host" else ["127.0.0.1"]
    assert [h.addr for h in scan.hosts] == want
    assert not scan.complete
    (gap,) = scan.gaps
    assert gap.kind == "truncated" and gap.line and gap.line > 1
    assert ("inside a <host>" in gap.message) == (cut != "after_first_host")
    result = CliRunner().invoke(root, ["exposure", "import", str(p), "--json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert [h["addr"] for h in out["hosts"]] == want and out["gaps"]


def test_corrupt_middle_keeps_hosts_before(tmp_path: Path) -> None:
    text = _two_host_scan()
    second = text.index("<host ", text.index("</host>"))
    p = tmp_path / "corrupt.xml"
    p.write_text(text[: second + 20] + "<<<&&&" + text[second + 20 :], encoding="utf-8")
    scan = read_nmap_xml(p)
    assert [h.addr for h in scan.hosts] == ["127.0.0.1"]
    assert scan.gaps[0].kind == "corrupt"


def test_finished_without_runstats_is_a_gap(tmp_path: Path) -> None:
    text = (HERE / "local_v4_after.xml").read_text()
    start = text.index("<runstats>")
    end = text.index("</runstats>") + len("</runstats>")
    p = tmp_path / "norunstats.xml"
    p.write_text(text[:start] + text[end:], encoding="utf-8")
    scan = read_nmap_xml(p)
    assert len(scan.hosts) == 1 and [g.kind for g in scan.gaps] == ["incomplete"]


def test_nmap_reported_error_is_a_gap(tmp_path: Path) -> None:
    text = (HERE / "local_v4_after.xml").read_text()
    text = text.replace('exit="success"', 'exit="error" errormsg="interrupted by user"')
    p = tmp_path / "err.xml"
    p.write_text(text, encoding="utf-8")
    scan = read_nmap_xml(p)
    assert any(g.kind == "scan_error" and "interrupted" in g.message for g in scan.gaps)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_nmap_xml(tmp_path / "nope.xml")


@pytest.mark.corpus
def test_every_corpus_scan_imports() -> None:
    need_shared()
    for p in sorted((CORPUS / "nmap" / "xml").glob("*.xml")):
        if p.name.startswith("bad_"):
            continue
        scan = read_nmap_xml(p)
        assert scan.hosts, p.name
        assert scan.complete, (p.name, scan.gaps)
        services_table(scan)
        hosts_table(scan)


@pytest.mark.corpus
def test_score_nmap_all_pass() -> None:
    """The shared scorer over the whole nmap corpus (imports and ndiff-compatible diffs)."""
    need_shared()
    cmd = [
        sys.executable,
        str(TOOLS / "score_nmap.py"),
        "--diff-cmd",
        f"{SECAUDIT} exposure diff {{a}} {{b}} --json",
        "--import-cmd",
        f"{SECAUDIT} exposure import {{xml}} --json",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    last = p.stdout.strip().splitlines()[-1]
    assert p.returncode == 0, p.stdout
    assert last.startswith("nmap: ") and last.endswith(" 0 failed")


def test_deeply_nested_script_tables_do_not_crash(tmp_path: Path) -> None:
    text = (HERE / "local_v4_after.xml").read_text()
    deep = '<table key="subject">' + "<table>" * 5000 + "</table>" * 5000 + "</table>"
    text = text.replace('<table key="subject">', deep + '<table key="x">', 1)
    p = tmp_path / "deep.xml"
    p.write_text(text)
    scan = read_nmap_xml(p)
    assert scan.complete and scan.hosts[0].ports[6].cert is not None


def test_huge_host_count_streams(tmp_path: Path) -> None:
    """Hosts are cut out of the stream one by one (file bigger than the 1 MiB read size)."""
    text = (HERE / "local_v4_after.xml").read_text()
    head, rest = text.split("<host ", 1)
    body, tail = rest.split("</host>", 1)
    hosts = "".join(
        ("<host " + body + "</host>\n").replace("127.0.0.1", f"10.0.{i // 250}.{i % 250}")
        for i in range(300)
    )
    p = tmp_path / "many.xml"
    p.write_text(head + hosts + tail)
    assert p.stat().st_size > (1 << 21)
    scan = read_nmap_xml(p)
    assert len(scan.hosts) == 300 and scan.complete
    assert scan.hosts[-1].addr == "10.0.1.49"


def test_latin1_declared_scan_keeps_its_hosts(tmp_path: Path) -> None:
    text = (HERE / "local_v4_after.xml").read_text()
    text = text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace(
        'name="localhost"', 'name="caf\u00e9.local"'
    )
    p = tmp_path / "latin1.xml"
    p.write_bytes(text.encode("latin-1"))
    scan = read_nmap_xml(p)
    assert scan.complete and scan.hosts[0].hostnames == ["caf\u00e9.local"]


def test_utf16_is_refused_not_silently_empty(tmp_path: Path) -> None:
    p = tmp_path / "u16.xml"
    p.write_text((HERE / "local_v4_after.xml").read_text().replace("UTF-8", "UTF-16"), "utf-16")
    with pytest.raises(InputError):
        read_nmap_xml(p)
