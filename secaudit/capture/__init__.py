"""Fast pcap/pcapng reader: captures -> the packets table (schemas.PACKET_DTYPE).

Public API: `iter_chunks` (streaming), `read_packets` (one chunk),
`read_pcap` (DataFrame for analysts), `PacketChunk`, and the address helpers
`addr_to_str` / `str_to_addr`.  See `_layout` for the tunnels table.
"""

from __future__ import annotations

from secaudit.capture._layout import LINKTYPES, TUNNEL_DTYPE, TUNNEL_FIELDS, TunnelKind
from secaudit.capture.addr import addr_to_str, mac_to_str, str_to_addr
from secaudit.capture.reader import (
    PacketChunk,
    iter_chunks,
    packets_frame,
    read_packets,
    read_pcap,
)

__all__ = [
    "LINKTYPES",
    "TUNNEL_DTYPE",
    "TUNNEL_FIELDS",
    "PacketChunk",
    "TunnelKind",
    "addr_to_str",
    "iter_chunks",
    "mac_to_str",
    "packets_frame",
    "read_packets",
    "read_pcap",
    "str_to_addr",
]
