"""Property tests: damaged nmap XML and TLS bytes never crash the parsers (typed error or a Gap)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secaudit.errors import InputError
from secaudit.exposure import read_nmap_xml
from secaudit.trust.cleartext import find_logins
from secaudit.trust.pcap_certs import parse_handshakes

SCAN = (DATA / "exposure" / "local_v4_after.xml").read_bytes()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(SCAN)),
    pos=st.integers(min_value=0, max_value=len(SCAN) - 1),
    junk=st.binary(min_size=0, max_size=8),
)
def test_damaged_scan_is_error_or_gap(cut: int, pos: int, junk: bytes) -> None:
    data = (SCAN[:pos] + junk + SCAN[pos + len(junk) :])[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.xml"
        p.write_bytes(data)
        try:
            scan = read_nmap_xml(p)
        except InputError:
            return
    assert len(scan.hosts) <= 1
    if data != SCAN:
        # anything short of the intact file is either still complete or says why not
        assert scan.complete or scan.gaps


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_tls_parser_never_raises(data: bytes) -> None:
    info = parse_handshakes(b"\x16\x03\x03" + data)
    assert isinstance(info["certs"], list)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200))
def test_login_finder_never_raises(client: bytes, server: bytes) -> None:
    assert isinstance(find_logins(client, server), list)
