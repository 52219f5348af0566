"""End to end with real nmap against services this test starts on 127.0.0.1 only.

Services: an HTTP server (directory listing = default page), a TLS server with
an expired self-signed certificate made here with `cryptography`, and a plain
text FTP-like login service.  Scan -> audit findings; then one service stops
and another starts -> rescan -> diff.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import shutil
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from secaudit.cli import root

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed"),
]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class _Ftp(socketserver.StreamRequestHandler):
    """Just enough FTP to be recognised and to take a cleartext USER/PASS login."""

    def handle(self) -> None:
        self.wfile.write(b"220 secaudit-test FTP server (Version 1.0) ready.\r\n")
        for line in self.rfile:
            cmd = line.strip().split(b" ")[0].upper()
            if cmd == b"USER":
                self.wfile.write(b"331 Password required.\r\n")
            elif cmd == b"PASS":
                self.wfile.write(b"230 User logged in.\r\n")
            elif cmd == b"QUIT":
                self.wfile.write(b"221 Goodbye.\r\n")
                return
            else:
                self.wfile.write(b"502 Command not implemented.\r\n")


class _Tcp(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _expired_self_signed(tmp: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.secaudit.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=10))
        .sign(key, hashes.SHA256())
    )
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return c, k


def _serve(server: socketserver.BaseServer) -> socketserver.BaseServer:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def services(tmp_path: Path) -> Iterator[dict[str, object]]:
    cert, key = _expired_self_signed(tmp_path)
    http_srv = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet))
    tls_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls_srv.socket = ctx.wrap_socket(tls_srv.socket, server_side=True)
    _serve(tls_srv)
    ftp_srv = _serve(_Tcp(("127.0.0.1", 0), _Ftp))
    running = [http_srv, tls_srv, ftp_srv]
    state: dict[str, object] = {
        "http": http_srv.server_address[1],  # type: ignore[attr-defined]
        "tls": tls_srv.server_address[1],
        "ftp": ftp_srv.server_address[1],  # type: ignore[attr-defined]
        "later": _free_port(),
        "ftp_server": ftp_srv,
        "running": running,
    }
    yield state
    for srv in running:
        srv.shutdown()
        srv.server_close()


def _config(tmp_path: Path) -> Path:
    data = yaml.safe_load((ROOT / "rules" / "exposure.yaml").read_text())
    data["scan"] = {
        "allow": ["127.0.0.1/32"],
        "stats_every_s": 2,
        "profiles": {
            "e2e": {
                "args": [
                    "-sT",
                    "-sV",
                    "--version-light",
                    "-T4",
                    "-n",
                    "--script",
                    "ssl-cert,http-title",
                ],  # fmt: skip
                "timeout_s": 120,
            }
        },
    }
    p = tmp_path / "exposure.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@dataclass
class _Done:
    returncode: int
    stdout: str
    stderr: str


def _run(*args: str) -> _Done:
    """The real CLI, in-process (saves interpreter start-ups; nmap still runs as a process)."""
    r = CliRunner().invoke(root, list(args))
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return _Done(r.exit_code, r.stdout, r.stderr)


def test_scan_audit_then_diff(services: dict[str, object], tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    ports = ",".join(str(services[k]) for k in ("http", "tls", "ftp", "later"))
    scan1, scan2 = tmp_path / "scan1.xml", tmp_path / "scan2.xml"
    p = _run("scan", "127.0.0.1", "--profile", "e2e", "-p", ports, "-Pn",
             "--config", str(cfg), "-o", str(scan1))  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "XML kept" in p.stderr and scan1.exists()

    findings_path = tmp_path / "findings.json"
    a = _run("exposure", "audit", str(scan1), "--config", str(cfg),
             "--trust", str(ROOT / "rules" / "trust.yaml"), "--vantage", "gov-internal",
             "-o", str(findings_path))  # fmt: skip
    assert a.returncode == 1, a.stderr  # high findings (ftp, expired certificate) -> exit 1
    findings = json.loads(findings_path.read_text())
    got = {(f["detector"], f["subject"]) for f in findings}
    http_s, tls_s, ftp_s = (f"127.0.0.1:{services[k]}/tcp" for k in ("http", "tls", "ftp"))
    tls_host = f"127.0.0.1:{services['tls']}"
    assert ("forbidden_service", ftp_s) in got
    assert ("cert_expired", tls_host) in got
    assert ("cert_self_signed", tls_host) in got
    assert ("default_page", http_s) in got  # "Directory listing for /"
    # silent where nothing is wrong
    assert not {d for d, s in got if s == http_s} - {"default_page"}
    assert not any(d.startswith("cert_") and s != tls_host for d, s in got)
    assert not any(d == "forbidden_service" and s != ftp_s for d, s in got)
    expired = next(f for f in findings if f["detector"] == "cert_expired")
    assert expired["severity"] == "high" and expired["category"] == "trust"
    assert "expired.secaudit.test" in expired["evidence"]["subject"]

    # change the services: FTP goes away, a new web server appears on the reserved port
    ftp = services["ftp_server"]
    assert isinstance(ftp, socketserver.BaseServer)
    ftp.shutdown()
    ftp.server_close()
    running = services["running"]
    assert isinstance(running, list)
    running.remove(ftp)
    new_http = _serve(
        http.server.ThreadingHTTPServer(("127.0.0.1", int(str(services["later"]))), _Quiet)
    )
    running.append(new_http)

    p = _run("scan", "127.0.0.1", "--profile", "e2e", "-p", ports, "-Pn", "-q",
             "--config", str(cfg), "-o", str(scan2))  # fmt: skip
    assert p.returncode == 0, p.stderr
    d = _run("exposure", "diff", str(scan1), str(scan2), "--json")
    assert d.returncode == 1, d.stderr
    diff = json.loads(d.stdout)
    later = f"{services['later']}/tcp"
    assert [(c["host"], c["port"]) for c in diff["ports_opened"]] == [("127.0.0.1", later)]
    assert diff["ports_opened"][0]["service"]["name"] == "http"
    assert [(c["host"], c["port"]) for c in diff["ports_closed"]] == [
        ("127.0.0.1", f"{services['ftp']}/tcp")
    ]
    assert diff["ports_closed"][0]["to_state"] == "closed"
    assert not diff["hosts_added"] and not diff["hosts_removed"] and not diff["service_changes"]

    # and the baseline-aware audit reports the new port
    b = _run("exposure", "audit", str(scan2), "--baseline", str(scan1), "--config", str(cfg),
             "--vantage", "gov-internal", "--fail-on", "none")  # fmt: skip
    assert b.returncode == 0, b.stderr
    new_ports = [f["subject"] for f in json.loads(b.stdout) if f["detector"] == "new_open_port"]
    assert new_ports == [f"127.0.0.1:{later}"]
