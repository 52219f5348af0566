"""Declared layouts and enums of the capture reader (tables, not code).

`TUNNEL_DTYPE` is the row layout of `PacketChunk.tunnels`; `TunnelKind` numbers
its `kind` column.  `LINKTYPES` names every link type the decoder understands;
anything else becomes a Gap of kind "unsupported".
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "GAP_DTYPE",
    "LINKTYPES",
    "TUNNEL_DTYPE",
    "TUNNEL_FIELDS",
    "GapCode",
    "TunnelKind",
]


class TunnelKind(IntEnum):
    """`tunnels["kind"]`: which encapsulation was removed (Zeek's Tunnel::Type names)."""

    IP = 1  # IP-in-IP: IPv4/IPv6 carried in IPv4/IPv6 (protocol 4 / 41)
    GRE = 2  # GRE v0 (IP, Transparent Ethernet Bridging), ERSPAN II/III, PPTP enhanced GRE (v1)
    VXLAN = 3  # udp/4789
    GENEVE = 4  # udp/6081
    GTPV1 = 5  # GTP-U, udp/2152 (and GTP-C port 2123 carrying T-PDUs)
    TEREDO = 6  # udp/3544 or any UDP payload that validates as Teredo
    AYIYA = 7  # udp/5072
    GRE_UDP = 8  # GRE in UDP (RFC 8086), udp/4754


UDP_TUNNEL_KINDS = frozenset(
    {TunnelKind.VXLAN, TunnelKind.GENEVE, TunnelKind.GTPV1, TunnelKind.TEREDO, TunnelKind.AYIYA}
    | {TunnelKind.GRE_UDP}
)

TUNNEL_FIELDS: list[tuple[str, str, str]] = [
    ("kind", "uint8", "TunnelKind of this encapsulation"),
    ("ip_version", "uint8", "4 or 6: version of the outer IP header"),
    ("proto", "uint8", "outer transport protocol (4/41 IP-in-IP, 47 GRE, 17 UDP)"),
    ("src_hi", "uint64", "outer source address, high 64 bits (IPv4 mapped into ::ffff:0:0/96)"),
    ("src_lo", "uint64", "outer source address, low 64 bits"),
    ("dst_hi", "uint64", "outer destination address, high 64 bits"),
    ("dst_lo", "uint64", "outer destination address, low 64 bits"),
    ("sport", "uint16", "outer UDP source port, 0 for IP-in-IP/GRE"),
    ("dport", "uint16", "outer UDP destination port, 0 for IP-in-IP/GRE"),
    ("vni", "uint32", "VXLAN/Geneve VNI, GTP TEID, GRE key or PPTP call id; 0 = none"),
    ("parent_tunnel", "int32", "row of the enclosing tunnel in the same table, -1 = outermost"),
    ("outer_row", "int64", "row in PacketChunk.packets of the outer UDP packet, -1 = none"),
]
TUNNEL_DTYPE = np.dtype([(n, t) for n, t, _ in TUNNEL_FIELDS])


class GapCode(IntEnum):
    """Damage codes the compiled scanners report; reader.py turns them into Gap messages."""

    TRUNCATED_RECORD = 1  # record header or data runs past the end of the input
    CAPLEN_TOO_BIG = 2  # caplen above the sanity limit / snaplen
    BAD_BLOCK_LENGTH = 3  # pcapng block length impossible (not multiple of 4, < 12, past end)
    TRAILER_MISMATCH = 4  # pcapng trailing block length differs from the leading one
    GARBAGE = 5  # bytes skipped while resynchronising on the next valid block
    BAD_INTERFACE = 6  # pcapng packet block names an interface no IDB declared
    TOO_MANY_INTERFACES = 7  # more IDBs than the reader keeps (limit in _kernels.MAX_IFACES)
    BAD_SHB = 8  # a Section Header Block with an unknown byte-order magic or version
    TRUNCATED_FRAME = 9  # packet block shorter than the caplen it declares
    BAD_TSRESOL = 10  # if_tsresol that cannot be represented
    STOPPED = 11  # no valid record after the damage: the rest was not read


# (code, offset, value) triples written by the scanners
GAP_DTYPE = np.dtype([("code", "int32"), ("offset", "int64"), ("value", "int64")])

# keep in sync with _kernels._KNOWN_LINKTYPES
LINKTYPES: dict[int, str] = {
    0: "NULL (BSD loopback)",
    1: "ETHERNET",
    9: "PPP",
    12: "RAW (DLT_RAW, OpenBSD)",
    14: "RAW (DLT_RAW, BSD/OS)",
    50: "PPP_HDLC",
    51: "PPP_ETHER (PPPoE)",
    101: "RAW",
    104: "C_HDLC (Cisco HDLC)",
    105: "IEEE802_11",
    108: "LOOP (OpenBSD loopback)",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    228: "IPV4",
    229: "IPV6",
    239: "NFLOG",
    276: "LINUX_SLL2",
}
