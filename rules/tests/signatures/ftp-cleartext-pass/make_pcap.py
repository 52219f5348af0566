"""Builds input.pcap for this rule test case (run with the project venv's python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _pcaplib import EICAR, http_get, http_response, syn_probes, tcp_session, write  # noqa: E402,F401

pkts = tcp_session(
    "10.1.1.30",
    "10.1.2.2",
    40007,
    21,
    [
        ("s", b"220 ftp ready\r\n"),
        ("c", b"USER alice\r\n"),
        ("s", b"331 password please\r\n"),
        ("c", b"PASS s3cret\r\n"),
        ("s", b"230 ok\r\n"),
    ],
)
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
