"""Build small test captures with scapy: full TCP sessions (handshake, data both ways, FIN)."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence

from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap  # type: ignore[import-untyped]

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
T0 = 1_700_000_000.0


def tcp_session(
    client: str,
    server: str,
    sport: int,
    dport: int,
    exchange: Sequence[tuple[str, bytes]],
    t0: float = T0,
) -> list[object]:
    """exchange: ("c", bytes) client->server or ("s", bytes) server->client, each acked."""
    pkts: list[object] = []
    t = t0
    cseq, sseq = 1000, 5000

    def mk(
        src: str, dst: str, sp: int, dp: int, flags: str, seq: int, ack: int, data: bytes = b""
    ) -> object:
        nonlocal t
        t += 0.001
        p = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack)
        if data:
            p = p / Raw(data)
        p.time = t
        return p

    pkts.append(mk(client, server, sport, dport, "S", cseq, 0))
    pkts.append(mk(server, client, dport, sport, "SA", sseq, cseq + 1))
    cseq += 1
    sseq += 1
    pkts.append(mk(client, server, sport, dport, "A", cseq, sseq))
    for who, data in exchange:
        for i in range(0, len(data), 1400):
            seg = data[i : i + 1400]
            if who == "c":
                pkts.append(mk(client, server, sport, dport, "PA", cseq, sseq, seg))
                cseq += len(seg)
                pkts.append(mk(server, client, dport, sport, "A", sseq, cseq))
            else:
                pkts.append(mk(server, client, dport, sport, "PA", sseq, cseq, seg))
                sseq += len(seg)
                pkts.append(mk(client, server, sport, dport, "A", cseq, sseq))
    pkts.append(mk(client, server, sport, dport, "FA", cseq, sseq))
    pkts.append(mk(server, client, dport, sport, "FA", sseq, cseq + 1))
    pkts.append(mk(client, server, sport, dport, "A", cseq + 1, sseq + 1))
    return pkts


def http_get(uri: str, host: str = "www.example.test", extra: str = "") -> bytes:
    return (
        f"GET {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: secaudit-test\r\n{extra}\r\n".encode()
    )


def http_response(
    body: bytes, *, chunked: bool = False, gzip_body: bool = False, ctype: str = "text/plain"
) -> bytes:
    headers = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\n"
    if gzip_body:
        body = gzip.compress(body, mtime=0)
        headers += "Content-Encoding: gzip\r\n"
    if chunked:
        out = b""
        for i in range(0, len(body), 7):
            part = body[i : i + 7]
            out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        out += b"0\r\n\r\n"
        return (headers + "Transfer-Encoding: chunked\r\n\r\n").encode() + out
    return (headers + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def smtp_with_attachment(name: str, data: bytes) -> list[tuple[str, bytes]]:
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    msg = (
        b"From: a@example.test\r\nTo: b@example.test\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="BOUND"\r\n\r\n--BOUND\r\nContent-Type: text/plain\r\n\r\n'
        b"see attachment\r\n--BOUND\r\nContent-Type: application/octet-stream\r\n"
        b'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="'
        + name.encode()
        + b'"\r\n\r\n'
        + b64
        + b"--BOUND--\r\n.\r\n"
    )
    return [
        ("s", b"220 mail.example.test ESMTP\r\n"),
        ("c", b"EHLO client.example.test\r\n"),
        ("s", b"250 mail.example.test\r\n"),
        ("c", b"MAIL FROM:<a@example.test>\r\n"),
        ("s", b"250 OK\r\n"),
        ("c", b"RCPT TO:<b@example.test>\r\n"),
        ("s", b"250 OK\r\n"),
        ("c", b"DATA\r\n"),
        ("s", b"354 go ahead\r\n"),
        ("c", msg),
        ("s", b"250 queued\r\n"),
        ("c", b"QUIT\r\n"),
        ("s", b"221 bye\r\n"),
    ]


def syn_probes(src: str, dst: str, ports: Sequence[int], t0: float = T0) -> list[object]:
    pkts = []
    for i, port in enumerate(ports):
        p = Ether() / IP(src=src, dst=dst) / TCP(sport=40000 + i, dport=port, flags="S", seq=77)
        p.time = t0 + i * 0.01
        pkts.append(p)
    return pkts


def write(path: str, pkts: Sequence[object]) -> None:
    wrpcap(path, list(pkts))


__all__ = [
    "EICAR",
    "UDP",
    "http_get",
    "http_response",
    "smtp_with_attachment",
    "syn_probes",
    "tcp_session",
    "write",
]
