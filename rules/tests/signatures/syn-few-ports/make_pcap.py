"""Builds input.pcap for this rule test case (run with the project venv's python)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _pcaplib import EICAR, http_get, http_response, syn_probes, tcp_session, write  # noqa: E402,F401

pkts = syn_probes("198.51.100.9", "10.1.1.40", [22, 80, 443, 22, 80, 443, 8080])
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
