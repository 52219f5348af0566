"""Builds input.pcap for this rule test case (run with the project venv's python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _pcaplib import EICAR, http_get, http_response, syn_probes, tcp_session, write  # noqa: E402,F401

pkts = tcp_session(
    "198.51.100.7",
    "10.1.1.20",
    40003,
    80,
    [("c", http_get("/static/..%2f..%2f..%2fetc/passwd")), ("s", http_response(b"no"))],
)
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
