"""Builds input.pcap: ws-001 (10.20.1.1) fetches a page straight from the internet, skipping proxy01."""

import os
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "signatures")
)
from _pcaplib import http_get, http_response, tcp_session, write  # noqa: E402

pkts = tcp_session(
    "10.20.1.1", "198.51.100.20", 40100, 80,
    [("c", http_get("/", host="news.example.com")), ("s", http_response(b"<html>hi</html>"))],
)  # fmt: skip
# the registered MACs of rules/policy/assets.yaml (client, and the gateway it routes through)
for p in pkts:
    to_server = p["IP"].src == pkts[0]["IP"].src
    p.src, p.dst = (
        ("52:54:00:00:01:01", "52:54:00:00:00:02")
        if to_server
        else ("52:54:00:00:00:02", "52:54:00:00:01:01")
    )
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
