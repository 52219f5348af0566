"""Port sets Zeek's core consults when it orients and times out connections.

`LIKELY_SERVER_PORTS` is Zeek's `likely_server_ports` as a default (non-bare)
`zeek` run fills it: every `register_for_ports` call of scripts/base adds the
analyzer's server ports (base/protocols/*/main.zeek, base/packet-protocols).
Zeek flips a connection whose first packet comes *from* such a port (UDP:
when the destination is not one; TCP: only for partial connections, see
`TCPAnalyzer::WantConnection`).  `LOGIN_PORTS` get the one-hour inactivity
timeout of base/protocols/conn/inactivity.zeek; `DNS_UDP_PORTS` the DNS analyzer's
session timer (DNS_Analyzer::ExpireTimer).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DNS_UDP_PORTS", "LIKELY_SERVER_PORTS", "LOGIN_PORTS", "port_tables"]

_TCP = [
    135, 20000, 53, 79, 21, 2811, 80, 81, 631, 1080, 3128, 8000, 8080, 8888, 143,
    6666, 6667, 6668, 6669, 88, 389, 3268, 502, 1883, 1434, 3306, 5432, 3389, 6379,
    139, 445, 25, 587, 22, 443, 465, 563, 585, 614, 636, 989, 990, 992, 993, 995,
    5223, 514, 5222, 5269,
]  # fmt: skip
_UDP = [
    67, 4011, 20000, 53, 137, 5353, 5355, 88, 389, 123, 3389, 1812, 5060, 161, 162,
    443, 514,
    # packet-protocols (tunnels), loaded even in bare mode
    5072, 6081, 4754, 2152, 2123, 3544, 4789,
]  # fmt: skip

LIKELY_SERVER_PORTS: dict[str, frozenset[int]] = {"tcp": frozenset(_TCP), "udp": frozenset(_UDP)}
LOGIN_PORTS = frozenset({21, 22, 23, 513})
# DNS::ports (base/protocols/dns/main.zeek), UDP: a connection whose responder port is one
# of these gets the DNS analyzer and with it the dns_session_timeout timer
DNS_UDP_PORTS = frozenset({53, 137, 5353, 5355})


def port_tables() -> tuple[np.ndarray, np.ndarray]:
    """(likely[2, 65536] for tcp/udp, interactive[2, 65536]: likely-tcp and login rows).

    likely holds bits: 1 a likely server port, 2 (UDP row) a DNS analyzer port."""
    likely = np.zeros((2, 65536), np.uint8)
    likely[0, list(LIKELY_SERVER_PORTS["tcp"])] = 1
    likely[1, list(LIKELY_SERVER_PORTS["udp"])] = 1
    likely[1, list(DNS_UDP_PORTS)] |= 2
    interactive = np.zeros((2, 65536), np.uint8)
    interactive[0] = likely[0]
    interactive[1, list(LOGIN_PORTS)] = 1
    return likely, interactive
