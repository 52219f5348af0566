"""Suricata semantics found by running suricata-verify tests beyond the dev corpus
(scripts/suricata_verify_tests.py): dsize's payload requirement, flow:established on the
handshake's last ACK, base64_decode/base64_data, tls.subjectaltname, Cisco HDLC frames,
SCTP ports, where offset/depth count from in a TCP stream and when a bare app-layer
rule (`alert http` without buffers) starts to match.  Each on captures built here, through both engine tiers where a rule can
take the compiled one."""

from __future__ import annotations

import datetime as dt
import ipaddress
import struct
import sys
from pathlib import Path

import pytest
from scapy.all import IP, TCP, Ether, Raw  # type: ignore[import-untyped]
from scapy.layers.sctp import SCTP, SCTPChunkData  # type: ignore[import-untyped]

import secaudit as sa
from secaudit.signatures.match import decode_base64_rfc4648, match_buffer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "rules" / "tests" / "signatures"))
from _pcaplib import http_get, tcp_session, write  # noqa: E402
from test_signatures import _items  # noqa: E402

CLIENT, SERVER = "10.0.0.5", "203.0.113.9"


def _sids(tmp_path: Path, pcap: Path, rules: str, fast: bool = False) -> dict[int, int]:
    """Alerts per sid of `rules` on `pcap`."""
    rf = tmp_path / "t.rules"
    rf.write_text(rules)
    res = sa.signatures(str(pcap), str(rf), fast=fast)
    assert not [g for g in res.gaps if g.kind == "unsupported"], res.gaps
    counts = res.alerts["sid"].value_counts()
    return {int(k): int(v) for k, v in counts.items()}


@pytest.mark.parametrize("fast", [False, True])
def test_dsize_other_than_lt_and_eq0_needs_a_payload(tmp_path: Path, fast: bool) -> None:
    """Suricata's signature mask: '!9' and '>=0' skip empty packets, '<10' does not."""
    pcap = tmp_path / "d.pcap"
    write(str(pcap), tcp_session(CLIENT, SERVER, 41000, 1028, [("c", b"0123456789")]))
    got = _sids(
        tmp_path,
        pcap,
        "alert tcp any any -> any any (dsize:!9; sid:1;)\n"
        "alert tcp any any -> any any (dsize:>=0; sid:2;)\n"
        "alert tcp any any -> any any (dsize:<10; sid:3;)\n"
        "alert tcp any any -> any any (dsize:0; sid:4;)\n",
        fast,
    )
    # 8 packets: one carries 10 bytes, the other 7 none
    assert got == {1: 1, 2: 1, 3: 7, 4: 7}


@pytest.mark.parametrize("fast", [False, True])
def test_the_handshake_ack_is_not_yet_established(tmp_path: Path, fast: bool) -> None:
    """flow:established judges the state a packet finds: the ACK that completes the
    handshake is not established, a data packet after it is."""
    pcap = tmp_path / "e.pcap"
    write(str(pcap), tcp_session(CLIENT, SERVER, 41000, 1028, [("c", b"hello")]))
    got = _sids(
        tmp_path,
        pcap,
        "alert tcp any any -> any any (flow:established,to_server; sid:1;)\n"
        "alert tcp any any -> any any (flow:not_established,to_server; sid:2;)\n",
        fast,
    )
    # to the server: SYN, handshake ACK | data, FIN, last ACK
    assert got == {1: 3, 2: 2}


def test_a_handshake_ack_with_data_is_established(tmp_path: Path) -> None:
    """The special case: data on the handshake's last ACK (its bare ACK lost)."""

    def pkt(src: str, dst: str, sp: int, dp: int, fl: str, seq: int, ack: int, t: float,
            data: bytes = b"") -> object:  # fmt: skip
        p = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=fl, seq=seq, ack=ack)
        p = p / Raw(data) if data else p
        p.time = t
        return p

    pcap = tmp_path / "a.pcap"
    write(
        str(pcap),
        [
            pkt(CLIENT, SERVER, 41000, 1028, "S", 100, 0, 1.0),
            pkt(SERVER, CLIENT, 1028, 41000, "SA", 500, 101, 1.1),
            pkt(CLIENT, SERVER, 41000, 1028, "PA", 101, 501, 1.2, b"hi there"),
        ],
    )
    rules = 'alert tcp any any -> any any (flow:established,to_server; content:"hi"; sid:1;)\n'
    assert _sids(tmp_path, pcap, rules) == {1: 1}


@pytest.mark.parametrize(
    ("opts", "buf", "want"),
    [
        # the suricata-verify base64 test's shapes on a payload
        ('content:"arg"; base64_decode:bytes 17, offset 1, relative; base64_data; '
         'content:"thisisatest";', b"/?arg=dGhpc2lzYXRlc3QK HTTP", True),
        ('content:"arg"; base64_decode:bytes 10, offset 1, relative; base64_data; '
         'content:"test";', b"/?arg=dGhpc2lzYXRlc3QK HTTP", False),  # 10 chars: "thisisa"
        ('content:"arg"; base64_decode:bytes 10, offset 1, relative; base64_data; '
         'content:"thisisa"; depth:7;', b"/?arg=dGhpc2lzYXRlc3QK", True),
        # without relative it decodes from the buffer's start, which is not base64 here
        ('content:"arg"; base64_decode; base64_data; content:"this";', b"/?arg=dGhpcw==", False),
        ('base64_decode; base64_data; content:"this";', b"dGhpcw==", True),
        # a rule whose decode yields nothing does not match, even with a negated content
        ('base64_decode; base64_data; content:!"x";', b"!!!!", False),
        # the decoded buffer starts the detect position over: offset/depth count from it
        ('base64_decode; base64_data; content:"is"; offset:2; depth:2;', b"dGhpcw==", True),
    ],
)  # fmt: skip
def test_base64_decode_and_data(opts: str, buf: bytes, want: bool) -> None:
    assert match_buffer(_items(opts), buf, {}) is want


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        (b"dGhpcw==", b"this"),
        (b"dGhpcw", b"this"),  # a short last group is padded
        (b"dGhpc2lzYX", b"thisisa"),
        (b"dGhp cw==", b"thi"),  # the first character outside the alphabet ends the input
        (b"dA=AdGhp", b"t" + b"thi"),  # '=' mid-data ends a group, decoding goes on
        (b"d", b""),  # one character is no byte
        (b"=abc", b""),
    ],
)
def test_base64_rfc4648_mode(text: bytes, decoded: bytes) -> None:
    assert decode_base64_rfc4648(text) == decoded


def _certificate() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test.example")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("www.bing.com"),
                    x509.DNSName("server15.xn--j1ahhq.xn--p1ai"),
                    x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _record(body: bytes, version: bytes = b"\x03\x03") -> bytes:
    return b"\x16" + version + len(body).to_bytes(2, "big") + body


def _tls_session(tmp_path: Path, der: bytes) -> Path:
    """A TLS handshake (ClientHello; ServerHello, Certificate with `der`, ServerHelloDone)."""
    hello = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x00\x2f" + b"\x01\x00" + b"\x00\x00"
    server_hello = b"\x03\x03" + bytes(range(32)) + b"\x00" + b"\x00\x2f" + b"\x00"
    chain = len(der).to_bytes(3, "big") + der
    server = _record(
        _handshake(2, server_hello)
        + _handshake(11, len(chain).to_bytes(3, "big") + chain)
        + _handshake(14, b"")
    )
    pcap = tmp_path / "tls.pcap"
    write(
        str(pcap),
        tcp_session(CLIENT, SERVER, 41000, 443,
                    [("c", _record(_handshake(1, hello), b"\x03\x01")), ("s", server)]),
    )  # fmt: skip
    return pcap


def test_tls_fingerprint_keyword_and_lowercased_buffer(tmp_path: Path) -> None:
    """tls.fingerprint:"X" is a content on tls.cert_fingerprint, whose contents Suricata
    lowercases (so upper-case hex matches); one wrong digit does not."""
    import hashlib

    der = _certificate()
    fp = hashlib.sha1(der).hexdigest()
    colon = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))
    wrong = colon[:-1] + ("0" if colon[-1] != "0" else "1")
    pcap = _tls_session(tmp_path, der)
    got = _sids(
        tmp_path,
        pcap,
        f'alert tls any any -> any any (tls.fingerprint:"{colon}"; sid:1;)\n'
        f'alert tls any any -> any any (tls.fingerprint:"{colon.upper()}"; sid:2;)\n'
        f'alert tls any any -> any any (tls.cert_fingerprint; content:"{colon.upper()}"; sid:3;)\n'
        f'alert tls any any -> any any (tls.fingerprint:"{wrong}"; sid:4;)\n',
    )
    assert got == {1: 1, 2: 1, 3: 1}


def test_tls_subjectaltname_is_one_buffer_per_name(tmp_path: Path) -> None:
    pcap = _tls_session(tmp_path, _certificate())
    got = _sids(
        tmp_path,
        pcap,
        "alert tls any any -> any any (flow:to_client; tls.subjectaltname; "
        'content:"www.bing.com"; sid:1;)\n'
        'alert tls any any -> any any (tls.subjectaltname; content:"xn--p1ai"; endswith; sid:2;)\n'
        'alert tls any any -> any any (tls.subjectaltname; content:"[10, 0, 0, 1]"; sid:3;)\n'
        # one name per buffer: two names never join into one match
        'alert tls any any -> any any (tls.subjectaltname; content:"comserver15"; sid:4;)\n'
        "alert tls any any -> any any (tls.subjectaltname; bsize:12; sid:5;)\n",
    )
    assert got == {1: 1, 2: 1, 3: 1, 5: 1}


def _pcap_bytes(linktype: int, frames: list[tuple[float, bytes]]) -> bytes:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
    for ts, frame in frames:
        sec = int(ts)
        out += struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame
    return out


def test_cisco_hdlc_frames_are_decoded(tmp_path: Path) -> None:
    """Link type 104: address, control and an EtherType before the IP packet."""
    session = tcp_session(CLIENT, SERVER, 41000, 80, [("c", http_get("/index.html"))])
    frames = [(float(p.time), b"\x0f\x00\x08\x00" + bytes(p[IP])) for p in session]
    pcap = tmp_path / "chdlc.pcap"
    pcap.write_bytes(_pcap_bytes(104, frames))
    conn = sa.flows(str(pcap))
    assert len(conn) == 1 and int(conn["id.resp_p"].iloc[0]) == 80
    assert conn["conn_state"].iloc[0] == "SF"
    rules = 'alert http any any -> any any (http.method; content:"GET"; sid:1;)\n'
    assert _sids(tmp_path, pcap, rules) == {1: 1}


def test_sctp_ports_match_and_are_reported(tmp_path: Path) -> None:
    pkts = []
    for i, (sp, dp) in enumerate([(7, 7), (7, 9)]):
        p = Ether() / IP(src=CLIENT, dst=SERVER) / SCTP(sport=sp, dport=dp)
        p = p / SCTPChunkData(data=b"payload")
        p.time = 1.0 + i
        pkts.append(p)
    pcap = tmp_path / "sctp.pcap"
    write(str(pcap), pkts)
    rf = tmp_path / "t.rules"
    rf.write_text("alert sctp any 7 -> any 7 (sid:1;)\n")
    res = sa.signatures(str(pcap), str(rf))
    assert len(res.alerts) == 1
    row = res.alerts.iloc[0]
    assert (row["proto"], int(row["src_port"]), int(row["dest_port"])) == ("SCTP", 7, 7)


_BODY = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _response(headers: bytes) -> bytes:
    import zlib

    body = zlib.compress(_BODY)
    return b"HTTP/1.1 200 ok\r\n" + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


@pytest.mark.parametrize(
    "headers",
    [
        # a bare CR ends a response header line (libhtp-rs's response line ends)
        b'Content-Disposition: attachment; filename="a.txt"\rContent-Encoding: deflate\r\n',
        # "deformed" line ends are one line end, not the end of the headers
        b"Connection: close\r\n\r\r\r\nContent-Encoding: deflate\r\n",
        b"Connection: close\r\n\r\rContent-Encoding: deflate\r\n",
        b"Connection: close\n\rContent-Encoding: deflate\n\r",
        # NUL bytes in a name are ignored by every header lookup (get_nocase_nozero)
        b"Content\x00-Encoding: deflate\r\n",
        # NUL is folding whitespace: the value continues on the next line
        b"Content-Encoding:\n\x00deflate\r\n",
    ],
)
def test_libhtp_response_header_lines(headers: bytes) -> None:
    from secaudit.proto.http import parse_responses

    (msg,) = parse_responses(_response(headers))
    assert msg.header(b"content-encoding") == b"deflate"
    assert msg.bodies[0] == _BODY


def test_libhtp_status_line_ends_at_lf_before_a_cr() -> None:
    """'200 ok\\n\\r': the line ends at the LF; the CR then opens an empty junk header."""
    import zlib

    from secaudit.proto.http import parse_responses

    body = zlib.compress(_BODY)
    data = (
        b"HTTP/1.1 200 ok\n\rContent-Encoding: deflate\n\rContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    (msg,) = parse_responses(data)
    assert msg.status == b"200" and msg.bodies[0] == _BODY


def test_a_bare_cr_does_not_end_a_request_header_line() -> None:
    """Only the response side takes a bare CR as a line end (libhtp-rs Side::Request)."""
    from secaudit.proto.http import parse_requests

    (req,) = parse_requests(b"GET / HTTP/1.1\r\nX-A: 1\rHost: h\r\n\r\n")
    assert req.header(b"host") is None and req.header(b"x-a") == b"1\rHost: h"


def test_response_header_grammar_survives_random_and_huge_input() -> None:
    """Hostile servers: random CR/LF/NUL/colon soup never raises, and a 1 MiB header line
    without a line end is read in one pass (the scans are regex searches, not byte loops)."""
    import random

    from secaudit.proto.http import parse_responses

    rng = random.Random(5)
    alphabet = b"ab:\r\n \t\x00Content-Encoding"
    for _ in range(2000):
        junk = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        for msg in parse_responses(b"HTTP/1.1 200 OK\r\n" + junk):
            assert msg.end <= 17 + len(junk)
    (msg,) = parse_responses(b"HTTP/1.1 200 OK\r\n" + b"X" * (1 << 20))
    assert not msg.complete


@pytest.mark.parametrize("fast", [False, True])
def test_stream_depth_counts_from_the_start_of_each_flight(tmp_path: Path, fast: bool) -> None:
    """Suricata inspects a stream from its raw progress, which the peer's reply moves to the
    end of the data it acknowledged: offset/depth then count from where each of a
    direction's flights of data begins, not only from the stream's first byte
    (suricata-verify bug-5162: one SMB request per flight)."""
    head = b"\x00\x00\x00\x40\xfeSMB"
    pcap = tmp_path / "smb.pcap"
    exchange = [
        ("c", head + b"NEGOTIATE" + b"." * 40),
        ("s", head + b"ok"),
        ("c", head + b"CREATE" + b"." * 40),
        ("s", head + b"ok"),
        ("c", head + b"." * 2000),  # one flight, two segments: the header counts once
        ("s", head + b"ok"),
    ]
    write(str(pcap), tcp_session(CLIENT, SERVER, 41000, 445, exchange))
    got = _sids(
        tmp_path,
        pcap,
        'alert tcp any any -> any 445 (content:"|fe|SMB"; depth:8; content:"CREATE"; '
        "distance:0; sid:1;)\n"
        'alert tcp any any -> any 445 (content:"|fe|SMB"; depth:8; sid:2;)\n'
        'alert tcp any any -> any 445 (content:"CREATE"; sid:3;)\n'
        'alert tcp any any -> any 445 (content:"NEGOTIATE"; offset:4; depth:20; sid:4;)\n',
        fast,
    )
    assert got == {1: 1, 2: 3, 3: 1, 4: 1}


@pytest.mark.parametrize("fast", [False, True])
def test_bare_app_rule_matches_packets_once_the_peer_acked_the_protocol(
    tmp_path: Path, fast: bool
) -> None:
    """`alert http ... (flow:to_server;)` is a packet rule gated on the flow's protocol,
    which Suricata's app layer learns only from data the peer has acknowledged: every
    packet from the one carrying that ACK on matches, the request packet itself does not,
    and a request nobody acknowledged never makes the flow HTTP (suricata-verify
    detect-engine-proto)."""
    from scapy.all import wrpcap

    answered = tcp_session(
        CLIENT, SERVER, 41000, 80, [("c", http_get("/")), ("s", b"HTTP/1.1 200 OK\r\n\r\n")]
    )
    t = 1_700_000_100.0
    silent = []  # handshake, a GET the server never acknowledges, the client's FIN
    for flags, seq, ack, data, up in (
        ("S", 100, 0, b"", True), ("SA", 900, 101, b"", False), ("A", 101, 901, b"", True),
        ("PA", 101, 901, http_get("/x"), True), ("FA", 101 + len(http_get("/x")), 901, b"", True),
    ):  # fmt: skip
        src, dst, sp, dp = (CLIENT, SERVER, 41001, 80) if up else (SERVER, CLIENT, 80, 41001)
        pkt = (
            Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack)
        )
        pkt = pkt / Raw(data) if data else pkt
        t += 0.001
        pkt.time = t
        silent.append(pkt)
    pcap = tmp_path / "h.pcap"
    wrpcap(str(pcap), answered + silent)
    got = _sids(
        tmp_path,
        pcap,
        "alert http any any -> any any (flow:to_server; sid:4;)\n"
        "alert http any any -> any any (flow:to_client; sid:5;)\n"
        "alert tcp any any -> any any (flow:to_server; sid:3;)\n",
        fast,
    )
    # answered flow: client ACK of the response, FIN, last ACK; server ACK of the GET,
    # response, FIN.  The unanswered flow's packets are TCP (sid 3) but never HTTP.
    assert got.get(4) == 3 and got.get(5) == 3
    assert got.get(3) == 6 + 4  # every to_server packet of both flows, SYNs included
