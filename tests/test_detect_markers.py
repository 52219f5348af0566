"""App-layer markers the TCP analysis counts (_kernels.tcp_marks, the tcp_feed code path):
each login-failure/banner marker fires on its protocol's bytes and stays silent on
look-alikes (short, other version, bad tag)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from secaudit.capture import iter_chunks
from secaudit.detect import _kernels as K

SMB2_LOGON_FAIL = (
    b"\x00\x00\x00\x40" + b"\xfeSMB" + b"\x40\x00\x00\x00" + b"\x6d\x00\x00\xc0" + b"\x00" * 52
)

CASES: list[tuple[bytes, int, int]] = [
    (b"HTTP/1.1 401 Unauthorized\r\n\r\n", K.MARK_HTTP_RESP, 401),
    (b"HTTP/1.0 200 OK\r\n", K.MARK_HTTP_RESP, 200),
    (b"HTTP/1.1 2x0 odd\r\n", K.MARK_HTTP_RESP, 0),
    (b"POST /login HTTP/1.1\r\n", K.MARK_HTTP_POST, 1),  # status 1: a login form's target
    (b"POST /wp-login.php?x=1 HTTP/1.1\r\n", K.MARK_HTTP_POST, 1),
    (b"POST /api/v1/metrics HTTP/1.1\r\n", K.MARK_HTTP_POST, 0),
    (b"POST /search?q=login HTTP/1.1\r\n", K.MARK_HTTP_POST, 0),  # the query is not the path
    (b"\r\nLogin incorrect\r\nlogin: ", K.MARK_TELNET_FAIL, 0),  # on a new line
    (b"SSH-2.0-OpenSSH_9.6\r\n", K.MARK_SSH_BANNER, 0),
    (b"530 Login incorrect.\r\n", K.MARK_FTP_FAIL, 0),
    (b"535 5.7.8 Authentication failed\r\n", K.MARK_SMTP_AUTH_FAIL, 0),
    (b"-ERR authentication failed\r\n", K.MARK_POP_ERR, 0),
    (b"a001 NO [AUTHENTICATIONFAILED] Invalid\r\n", K.MARK_IMAP_NO, 0),
    (b"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00", K.MARK_RDP_CR, 0),
    (SMB2_LOGON_FAIL, K.MARK_SMB_LOGON_FAIL, 0),
    (b"Login incorrect\r\n", K.MARK_TELNET_FAIL, 0),
    # IMAP tags ending inside and past the first 8 payload bytes (the record's head word)
    (b"a1 NO ", K.MARK_IMAP_NO, 0),
    (b"abcdefg NO x", K.MARK_IMAP_NO, 0),
    (b"abcdefgh NO x", K.MARK_IMAP_NO, 0),
    (b"abcdefghijklmnop NO x", K.MARK_IMAP_NO, 0),
    # look-alikes
    (b"a1 NO", 0, 0),  # "NO" without its space: the payload ends
    (b"abcdefg\x01NO ", 0, 0),
    (b"HTTP/2 200\r\n", 0, 0),
    (b"POST", 0, 0),
    (b"530x more", 0, 0),
    (b"5300 Login", 0, 0),
    (b"SSH_2.0", 0, 0),
    (b"ABCDEFGHIJKLMNOPQRSTUVWXxNO more", 0, 0),  # no space within a tag's 24 bytes
    (b"\x01\x02 NO ", 0, 0),  # a tag is printable ASCII
    (b"a001 OK LOGIN completed\r\n", 0, 0),
    (b"Login incorrec", 0, 0),
    (b"Login: admin\r\n", 0, 0),
    (b"GET / HTTP/1.1\r\n", 0, 0),
    (bytes(range(256)) * 2, 0, 0),
]


@pytest.fixture(scope="module")
def marks(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    path: Path = tmp_path_factory.mktemp("markers") / "m.pcap"
    pkts = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000 + k, dport=80, flags="PA")
        / payload
        for k, (payload, _m, _s) in enumerate(CASES)
    ]  # fmt: skip
    wrpcap(str(path), pkts)
    chunk = next(iter_chunks(path))
    idx = np.flatnonzero(chunk.packets["proto"] == 6)
    return K.tcp_marks(chunk.packets, idx, chunk.data)


@pytest.mark.parametrize("k", range(len(CASES)), ids=[repr(c[0][:16]) for c in CASES])
def test_marker(marks: tuple[np.ndarray, np.ndarray], k: int) -> None:
    _payload, mark, status = CASES[k]
    assert (int(marks[0][k]), int(marks[1][k])) == (mark, status)
