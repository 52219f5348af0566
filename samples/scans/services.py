"""Small TCP services for the sample scan; run inside the scan builder's network namespace.

    python -m samples.scans.services SPEC.json

SPEC.json is a list of {"ip", "port", "kind", ...} objects (kinds below).  Each service
answers with the banner or page a real server of that kind sends, so that nmap's
version detection and scripts report it as they would in the field.  Prints "ready"
once every socket listens and serves until stdin closes.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import sys
import threading
from pathlib import Path
from typing import Any


def _http_response(server: str, title: str) -> bytes:
    body = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1></body></html>"
    ).encode()
    head = (
        f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


class _Handler(socketserver.BaseRequestHandler):
    spec: dict[str, Any] = {}

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        kind = self.spec["kind"]
        try:
            if kind in ("smtp", "ssh", "telnet"):
                sock.sendall(self.spec["banner"].encode("latin-1"))
                sock.recv(4096)
            elif kind == "http":
                sock.recv(65536)
                sock.sendall(_http_response(self.spec["server"], self.spec["title"]))
        except OSError:
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _tls_context(spec: dict[str, Any]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(spec["certfile"], spec["keyfile"])
    return ctx


class _TlsServer(_Server):
    ctx: ssl.SSLContext

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


class _TlsHandler(_Handler):
    def handle(self) -> None:
        sock: ssl.SSLSocket = self.request
        sock.settimeout(5)
        try:
            sock.do_handshake()
        except OSError:  # scanners hang up mid-handshake all the time
            return
        super().handle()


def serve(specs: list[dict[str, Any]]) -> list[_Server]:
    servers: list[_Server] = []
    for spec in specs:
        tls = bool(spec.get("tls"))
        handler = type("H", (_TlsHandler if tls else _Handler,), {"spec": spec})
        cls = _TlsServer if tls else _Server
        srv = cls((spec["ip"], int(spec["port"])), handler)
        if isinstance(srv, _TlsServer):
            srv.ctx = _tls_context(spec)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    return servers


def main(argv: list[str]) -> int:
    specs = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    servers = serve(specs)
    print("ready", flush=True)
    sys.stdin.read()  # the builder closes our stdin when the scan is done
    for srv in servers:
        srv.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
