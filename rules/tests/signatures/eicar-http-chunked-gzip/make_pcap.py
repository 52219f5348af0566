"""Builds input.pcap for this rule test case (run with the project venv's python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _pcaplib import EICAR, http_get, http_response, syn_probes, tcp_session, write  # noqa: E402,F401

pkts = tcp_session(
    "10.1.1.10",
    "203.0.113.5",
    40001,
    80,
    [("c", http_get("/dl/test.bin")), ("s", http_response(EICAR, chunked=True, gzip_body=True))],
)
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
