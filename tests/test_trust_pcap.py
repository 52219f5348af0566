"""Trust evidence from pcaps: certificates in TLS handshakes (reassembled), cleartext logins."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from conftest import ROOT
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap
from test_trust_certs import CA_KEY, CA_NAME, NOW, make_cert

from secaudit.trust.audit import audit_pcaps
from secaudit.trust.cleartext import cleartext_logins, find_logins
from secaudit.trust.config import load_trust_config
from secaudit.trust.pcap_certs import tls_from_pcaps

CFG = load_trust_config(ROOT / "rules" / "trust.yaml")
CLIENT, SERVER = "10.20.3.7", "172.16.10.40"


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _record(body: bytes, ctype: int = 22) -> bytes:
    return bytes([ctype, 3, 3]) + len(body).to_bytes(2, "big") + body


def _hs(mtype: int, body: bytes) -> bytes:
    return bytes([mtype]) + _u24(len(body)) + body


def server_flight(chain: list[bytes], version: int = 0x0303, cipher: int = 0xC02F) -> bytes:
    hello = version.to_bytes(2, "big") + bytes(32) + b"\x00" + cipher.to_bytes(2, "big") + b"\x00"
    certs = b"".join(_u24(len(c)) + c for c in chain)
    msgs = _hs(2, hello) + _hs(11, _u24(len(certs)) + certs) + _hs(14, b"")
    # handshake messages split over two records, as servers do with big chains
    half = len(msgs) // 2
    return _record(msgs[:half]) + _record(msgs[half:])


def client_hello(sni: str) -> bytes:
    name = sni.encode()
    sni_ext = (len(name) + 3).to_bytes(2, "big") + b"\x00" + len(name).to_bytes(2, "big") + name
    ext = b"\x00\x00" + len(sni_ext).to_bytes(2, "big") + sni_ext
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\xc0\x2f" + b"\x01\x00"
    body += len(ext).to_bytes(2, "big") + ext
    return _record(_hs(1, body))


def conversation(
    client_msgs: list[bytes],
    server_msgs: list[bytes],
    *,
    sport: int = 50000,
    dport: int = 443,
    mss: int = 700,
    shuffle: bool = False,
    drop: int | None = None,
    dup: bool = False,
    t0: float = 1_795_000_000.0,
) -> list[Ether]:
    """A TCP connection: handshake, then client bytes and server bytes in MSS segments."""
    c_isn, s_isn = 1000, 900_000
    pk: list[Ether] = []

    def seg(
        src: str, dst: str, sp: int, dp: int, flags: str, seq: int, ack: int, data: bytes = b""
    ) -> Ether:
        p = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack)
        return p / Raw(data) if data else p

    pk.append(seg(CLIENT, SERVER, sport, dport, "S", c_isn, 0))
    pk.append(seg(SERVER, CLIENT, dport, sport, "SA", s_isn, c_isn + 1))
    cseq, sseq = c_isn + 1, s_isn + 1
    for cm, sm in zip(
        client_msgs + [b""] * len(server_msgs), server_msgs + [b""] * len(client_msgs), strict=False
    ):
        if cm:
            pk.append(seg(CLIENT, SERVER, sport, dport, "PA", cseq, sseq, cm))
            cseq += len(cm)
        if sm:
            segs = [
                seg(SERVER, CLIENT, dport, sport, "PA", sseq + i, cseq, sm[i : i + mss])
                for i in range(0, len(sm), mss)
            ]
            if drop is not None:
                del segs[drop]
            if dup:
                segs.insert(2, segs[0])
            if shuffle:
                random.Random(7).shuffle(segs)
            pk.extend(segs)
            sseq += len(sm)
    for i, p in enumerate(pk):
        p.time = t0 + i * 0.001
    return pk


def _pcap(tmp_path: Path, packets: list[Ether], name: str = "t.pcap") -> Path:
    p = tmp_path / name
    wrpcap(str(p), packets)
    return p


def test_certificate_found_despite_reordering_and_retransmission(tmp_path: Path) -> None:
    leaf = make_cert(
        cn="app.example.gov.cn", san=["app.example.gov.cn"], days=(-400, -3), issuer=None
    )
    pk = conversation([client_hello("app.example.gov.cn")], [server_flight([leaf])],
                      dport=8443, shuffle=True, dup=True)  # fmt: skip
    tls = tls_from_pcaps([_pcap(tmp_path, pk)], CFG)
    assert tls.x509["host"].tolist() == [SERVER] and tls.x509["port"].tolist() == [8443]
    assert tls.x509["certificate.subject"].iloc[0] == "O=Test,CN=app.example.gov.cn"
    (s,) = tls.sessions.to_dict("records")
    assert (s["version"], s["cipher"], s["server_name"]) == (
        "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "app.example.gov.cn"
    )  # fmt: skip
    findings, gaps, _ = audit_pcaps([tmp_path / "t.pcap"], CFG, now=NOW)
    got = {(f.detector, f.subject) for f in findings}
    assert got == {("cert_expired", f"{SERVER}:8443"), ("cert_self_signed", f"{SERVER}:8443")}
    assert gaps == []


def test_trusted_chain_is_silent_and_sni_mismatch_fires(tmp_path: Path) -> None:
    ca = make_cert(subject=CA_NAME, issuer=None, key=CA_KEY, ca=True)
    leaf = make_cert(cn="oa.example.gov.cn", san=["oa.example.gov.cn"])
    ok = conversation([client_hello("oa.example.gov.cn")], [server_flight([leaf, ca])])
    bad = conversation(
        [client_hello("intranet.example.gov.cn")], [server_flight([leaf, ca])], sport=50001
    )
    f_ok, _, _ = audit_pcaps([_pcap(tmp_path, ok, "ok.pcap")], CFG, now=NOW)
    assert f_ok == []
    f_bad, _, _ = audit_pcaps([_pcap(tmp_path, bad, "bad.pcap")], CFG, now=NOW)
    assert {f.detector for f in f_bad} == {"cert_hostname_mismatch"}


def test_weak_tls_parameters_from_server_hello(tmp_path: Path) -> None:
    ca = make_cert(subject=CA_NAME, issuer=None, key=CA_KEY, ca=True)
    leaf = make_cert(cn="old.example.gov.cn", san=["old.example.gov.cn"])
    pk = conversation([client_hello("old.example.gov.cn")],
                      [server_flight([leaf, ca], version=0x0301, cipher=0x0005)])  # fmt: skip
    findings, _, _ = audit_pcaps([_pcap(tmp_path, pk)], CFG, now=NOW)
    assert {f.detector for f in findings} == {"tls_weak_version", "tls_weak_cipher"}


def test_missing_segment_gives_no_certificate_and_a_gap(tmp_path: Path) -> None:
    leaf = make_cert(cn="x.example.gov.cn", days=(-400, -3), issuer=None)
    pk = conversation([client_hello("x.example.gov.cn")], [server_flight([leaf])], drop=1)
    findings, gaps, tls = audit_pcaps([_pcap(tmp_path, pk)], CFG, now=NOW)
    assert tls.x509.empty and findings == []
    assert [g.kind for g in gaps] == ["partial"]


def test_tls_on_odd_port_and_plain_http_on_443(tmp_path: Path) -> None:
    leaf = make_cert(cn="odd.example.gov.cn", issuer=None)
    odd = conversation([client_hello("odd.example.gov.cn")], [server_flight([leaf])], dport=9999)
    plain = conversation(
        [b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"], [b"HTTP/1.1 200 OK\r\n\r\n"], sport=50002
    )
    tls = tls_from_pcaps([_pcap(tmp_path, odd + plain)], CFG)
    assert tls.x509["port"].tolist() == [9999]


LOGINS = {
    "ftp": (
        [b"USER alice\r\n", b"PASS s3cret\r\n"],
        [b"220 ftp ready\r\n", b"331 pw\r\n", b"230 ok\r\n"],
        21,
    ),
    "pop3": (
        [b"USER bob\r\n", b"PASS pw\r\n"],
        [b"+OK POP3 ready\r\n", b"+OK\r\n", b"+OK\r\n"],
        110,
    ),
    "imap": ([b'a1 LOGIN "carol" pw\r\n'], [b"* OK IMAP4rev1 ready\r\n", b"a1 OK\r\n"], 143),
    "http-basic": (
        [b"GET /admin HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZGF2ZTpodW50ZXIy\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\n\r\n"],
        8080,
    ),
    "telnet": (
        [b"\xff\xfd\x01eve\r\n", b"pw\r\n"],
        [b"\xff\xfb\x01\xff\xfb\x03\r\nlogin: ", b"Password: ", b"$ "],
        23,
    ),
}
USERS = {"ftp": "alice", "pop3": "bob", "imap": "carol", "http-basic": "dave", "telnet": "eve"}


@pytest.mark.parametrize("proto", sorted(LOGINS))
def test_cleartext_login_fires(tmp_path: Path, proto: str) -> None:
    cm, sm, port = LOGINS[proto]
    # servers speak first in these protocols: interleave banner, then replies
    pk = conversation(cm, sm, dport=port + 10000)  # unusual port: detection is by content
    (f,) = cleartext_logins([_pcap(tmp_path, pk)], CFG)
    assert (f.detector, f.evidence["protocol"], f.evidence["user"]) == (
        "cleartext_login",
        proto,
        USERS[proto],
    )
    assert f.subject == f"{SERVER}:{port + 10000}" and f.evidence["clients"] == [CLIENT]
    assert "s3cret" not in str(f.to_dict()) and "hunter2" not in str(f.to_dict())


@pytest.mark.parametrize(
    ("client", "server"),
    [
        (b"AUTH TLS\r\nUSER alice\r\nPASS x\r\n", b"220 ftp ready\r\n"),  # FTPS
        (b"a1 STARTTLS\r\na2 LOGIN carol pw\r\n", b"* OK IMAP4rev1 ready\r\n"),
        (b"STLS\r\nUSER bob\r\nPASS pw\r\n", b"+OK POP3 ready\r\n"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),  # no credentials
        (b"USER alice\r\n", b"220 ftp ready\r\n"),  # no password sent
        (b"EHLO x\r\nAUTH LOGIN\r\n", b"220 smtp ready\r\n"),  # SMTP is not FTP
    ],
)
def test_cleartext_login_silent(client: bytes, server: bytes) -> None:
    assert find_logins(client, server) == []


def test_sample_dmz_certificate_from_the_pcap_alone() -> None:
    """samples/INCIDENTS.md (g): app02's expired self-signed certificate, seen by five clients."""
    pcap = ROOT / "samples" / "pcaps" / "sample.pcap"
    if not pcap.exists():
        pytest.skip("sample pcap not generated")
    now = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    findings, gaps, tls = audit_pcaps([pcap], CFG, now=now)
    certs = {(f.detector, f.subject): f for f in findings if f.detector.startswith("cert_")}
    assert set(certs) == {
        ("cert_expired", "172.16.10.31:443"),
        ("cert_self_signed", "172.16.10.31:443"),
    }
    assert certs[("cert_expired", "172.16.10.31:443")].count == 5
    assert (
        "app02.dmz.example.gov.cn"
        in certs[("cert_expired", "172.16.10.31:443")].evidence["subject"]
    )
    assert not gaps


def test_audit_coverage_reports_silent_assets(tmp_path: Path) -> None:
    from scapy.layers.inet import UDP

    from secaudit.trust.coverage import CoverageCollector, coverage_findings

    cfg = CFG.model_copy(
        update={
            "audit_coverage": CFG.audit_coverage.model_copy(update={"collectors": ["10.99.0.20"]})
        }
    )
    syslog = (
        Ether() / IP(src="10.10.0.1", dst="10.99.0.20") / UDP(sport=514, dport=514) / Raw(b"<14>x")
    )
    trap = Ether() / IP(src="10.20.0.1", dst="10.99.0.20") / UDP(sport=1025, dport=162) / Raw(b"0")
    elsewhere = (
        Ether() / IP(src="172.16.10.1", dst="10.99.0.21") / UDP(sport=514, dport=514) / Raw(b"x")
    )
    for i, p in enumerate((syslog, trap, elsewhere)):
        p.time = 1_795_000_000 + i
    pcap = _pcap(tmp_path, [syslog, trap, elsewhere])
    from secaudit.capture import iter_chunks

    col = CoverageCollector(cfg)
    for chunk in iter_chunks([str(pcap)]):
        col(chunk)
    assets = [
        ("gw-internal", ["10.10.0.1"], "gateway"),  # sends syslog: covered
        ("gw-external", ["10.20.0.1"], "gateway"),  # sends traps: covered (require: any)
        ("gw-dmz", ["172.16.10.1"], "gateway"),  # sends to the wrong host: not covered
        ("ws-001", ["10.20.3.101"], "workstation"),  # role not required
    ]
    got = coverage_findings(col, assets)
    assert [(f.detector, f.subject) for f in got] == [("audit_coverage", "gw-dmz")]
    strict = cfg.model_copy(
        update={"audit_coverage": cfg.audit_coverage.model_copy(update={"require": "all"})}
    )
    col2 = CoverageCollector(strict)
    for chunk in iter_chunks([str(pcap)]):
        col2(chunk)
    subjects = sorted((f.subject, f.evidence["kind"]) for f in coverage_findings(col2, assets))
    assert subjects == [
        ("gw-dmz", "snmp-trap"), ("gw-dmz", "syslog"), ("gw-external", "syslog"),
        ("gw-internal", "snmp-trap"),
    ]  # fmt: skip
    # no collectors configured: the check does not run
    assert coverage_findings(CoverageCollector(CFG), assets) == []
