"""Builds input.pcap for this rule test case (run with the project venv's python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _pcaplib import EICAR, http_get, http_response, syn_probes, tcp_session, write  # noqa: E402,F401

pkts = tcp_session(
    "198.51.100.8",
    "10.1.1.20",
    40005,
    80,
    [
        ("c", http_get("/item.php?id=1%20UNION%20ALL%20SELECT%20user,pass%20FROM%20users")),
        ("s", http_response(b"x")),
    ],
)
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
