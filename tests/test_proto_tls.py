"""TLS handshake parsing (secaudit.proto.tls) on hellos built by the sample's TLS writer."""

from __future__ import annotations

import random
import sys

from conftest import ROOT

from secaudit.proto.tls import parse_tls

sys.path.insert(0, str(ROOT))  # samples/ is a folder of the checkout, not an installed package
from samples import _tls as tls  # noqa: E402


def test_client_hello_sni_extensions_and_ja3_fields() -> None:
    info = parse_tls(tls.client_hello(random.Random(1), "portal.example.gov.cn", tls13=True))
    assert info is not None and info.is_client and info.saw_hello
    assert info.sni == b"portal.example.gov.cn"
    assert info.extensions[:3] == [0x0000, 0x0017, 0xFF01] and 0x002B in info.extensions
    assert info.curves == [0x001D, 0x0017, 0x0018] and info.point_formats == [0]
    assert info.hello_version == 0x0303 and len(info.ciphers) > 5


def test_server_flight_version_and_certificates() -> None:
    chain = [b"\x30\x03\x02\x01\x01", b"\x30\x03\x02\x01\x02"]
    info = parse_tls(tls.server_flight_12(random.Random(2), chain))
    assert info is not None and not info.is_client
    assert info.version == 0x0303 and info.extensions == [0xFF01, 0x0017, 0x000B]
    assert info.certs == chain


def test_truncated_hello_keeps_what_was_parsed() -> None:
    data = tls.client_hello(random.Random(3), "a.example", tls13=False)
    for cut in range(5, len(data), 7):
        info = parse_tls(data[:cut])  # must never raise
        assert info is not None
    assert parse_tls(b"GET / HTTP/1.1\r\n") is None
