"""Builds input.pcap: ws-002 (10.20.1.2) browses through proxy01 (192.0.2.5:3128) as policy says."""

import os
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "signatures")
)
from _pcaplib import http_get, http_response, tcp_session, write  # noqa: E402

pkts = tcp_session(
    "10.20.1.2", "192.0.2.5", 40200, 3128,
    [("c", http_get("http://news.example.com/", host="news.example.com")),
     ("s", http_response(b"<html>hi</html>"))],
)  # fmt: skip
# the registered MACs of rules/policy/assets.yaml (client, and the gateway it routes through)
for p in pkts:
    to_server = p["IP"].src == pkts[0]["IP"].src
    p.src, p.dst = (
        ("52:54:00:00:01:02", "52:54:00:00:00:02")
        if to_server
        else ("52:54:00:00:00:02", "52:54:00:00:01:02")
    )
write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "input.pcap"), pkts)
