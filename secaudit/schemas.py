"""Declared layouts of every table secaudit passes between stages.

Column names follow Zeek where Zeek has the table (conn, dns, http, ssl, x509)
so analysts' habits carry over.  `PACKET_FIELDS` is the contract between
capture/ (which fills it) and flows/, signatures/ and detect/ (which read it):
add columns, never rename or drop them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = [
    "CONN_SCHEMA",
    "DNS_SCHEMA",
    "HOSTS_SCHEMA",
    "HTTP_SCHEMA",
    "PACKET_DTYPE",
    "PACKET_FIELDS",
    "SERVICES_SCHEMA",
    "SNAPSHOTS_SCHEMA",
    "TLS_SCHEMA",
    "X509_SCHEMA",
]

# --------------------------------------------------------------------------- packets
# One row per captured frame.  Addresses are 128-bit, stored as two uint64
# (hi, lo); IPv4 is mapped into ::ffff:0:0/96 so one code path serves both.
# Offsets are into the chunk's byte buffer (PacketChunk.data), so payload
# bytes are read in place, never copied per packet.
PACKET_FIELDS: list[tuple[str, str, str]] = [
    # name, numpy dtype, meaning
    ("ts", "int64", "capture time, ns since the Unix epoch"),
    ("file_offset", "int64", "byte offset of the record header in the (decompressed) input"),
    ("data_off", "int64", "offset of the frame's first byte in PacketChunk.data"),
    ("caplen", "uint32", "bytes captured"),
    ("wirelen", "uint32", "bytes on the wire"),
    ("iface", "uint16", "pcapng interface id (0 for classic pcap)"),
    ("linktype", "uint16", "LINKTYPE_* of the interface"),
    ("src_mac", "uint64", "source MAC as 48-bit integer, 0 when the link has none"),
    ("dst_mac", "uint64", "destination MAC, 0 when the link has none"),
    ("vlan", "uint16", "outer 802.1Q VLAN id, 0 = untagged"),
    ("vlan_inner", "uint16", "inner (QinQ) VLAN id, 0 = none"),
    ("ethertype", "uint16", "ethertype after VLAN tags (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP)"),
    ("ip_version", "uint8", "0 not IP, 4, 6 (innermost IP header after tunnel decapsulation)"),
    ("ip_off", "uint32", "offset of the (innermost) IP header within the frame"),
    ("ip_len", "uint32", "IP length from the header (v4 total length, v6 40 + payload length)"),
    ("ip_id", "uint32", "IPv4 identification / IPv6 fragment id"),
    ("ttl", "uint8", "TTL / hop limit"),
    ("frag", "uint8", "bit0 fragment, bit1 more-fragments, bit2 first fragment, bit3 DF"),
    ("frag_off", "uint16", "fragment offset in bytes"),
    ("src_hi", "uint64", "source address, high 64 bits"),
    ("src_lo", "uint64", "source address, low 64 bits"),
    ("dst_hi", "uint64", "destination address, high 64 bits"),
    ("dst_lo", "uint64", "destination address, low 64 bits"),
    ("proto", "uint8", "transport protocol number (after IPv6 extension headers)"),
    ("l4_off", "uint32", "offset of the transport header within the frame, 0 = none"),
    ("sport", "uint16", "TCP/UDP source port; ICMP type"),
    ("dport", "uint16", "TCP/UDP destination port; ICMP code"),
    (
        "tcp_flags",
        "uint16",
        "TCP flags (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128 NS=256)",
    ),
    ("seq", "uint32", "TCP sequence number"),
    ("ack", "uint32", "TCP acknowledgement number"),
    ("win", "uint16", "TCP window (unscaled)"),
    ("wscale", "int8", "TCP window-scale option, -1 when absent"),
    ("payload_off", "uint32", "offset of the L4 payload within the frame"),
    ("payload_len", "uint32", "L4 payload length per the headers (may exceed what was captured)"),
    (
        "csum_bad",
        "uint8",
        "what Zeek's transport layer rejects, as bits: 1 an IP/TCP/UDP/ICMP checksum that could be"
        " verified is wrong (or a zero IPv4 length); 2 an enclosing tunnel packet's is (Zeek never"
        " decapsulates it); 4 the TCP header is unusable (data offset < 5 words or past the"
        " captured / IP payload bytes: the connection is created, nothing analyzed, even with -C)",
    ),
    ("tunnel_depth", "uint8", "how many encapsulations were removed to reach the inner IP"),
    ("tunnel_id", "int32", "row in PacketChunk.tunnels of the innermost tunnel, -1 = none"),
    ("arp_op", "uint8", "ARP opcode (1 request, 2 reply), 0 = not ARP; src/dst hold SPA/TPA"),
    ("arp_sha", "uint64", "ARP sender hardware address"),
    ("arp_tha", "uint64", "ARP target hardware address"),
    (
        "tcp_opts",
        "uint8",
        "TCP options seen: 1 MSS, 2 window scale, 4 SACK-permitted, 8 SACK blocks, 16 timestamps",
    ),
    ("tcp_mss", "uint16", "TCP MSS option value, 0 when absent"),
    ("tcp_tsval", "uint32", "TCP timestamp option TSval (valid when tcp_opts & 16)"),
    ("tcp_tsecr", "uint32", "TCP timestamp option TSecr (valid when tcp_opts & 16)"),
    (
        "reasm",
        "uint8",
        "IP reassembly: 2 = row decoded from a datagram reassembled from fragments (it follows"
        " the fragment that completed it); fragments keep frag & 1 and are not counted by Zeek",
    ),
    (
        "ip_drop",
        "uint8",
        "why Zeek's IP layer discards the packet even with -C, 0 = it does not: 1 wire shorter"
        " than the IP length, 2 cut non-first fragment, 3 ESP, 4 IPv6 mobility, 5 IPv6 no-next-header",
    ),
    (
        "head",
        "uint64",
        "the first (up to 8) captured L4 payload bytes as a little-endian word, zero-padded; 0"
        " without payload. Read while the decoder has the frame in cache, so payload markers"
        " can be tested without going back to PacketChunk.data",
    ),
]
PACKET_DTYPE = np.dtype([(n, t) for n, t, _ in PACKET_FIELDS])

# --------------------------------------------------------------------------- Zeek-named logs
CONN_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()),
        ("uid", pa.string()),
        ("id.orig_h", pa.string()),
        ("id.orig_p", pa.uint16()),
        ("id.resp_h", pa.string()),
        ("id.resp_p", pa.uint16()),
        ("proto", pa.string()),
        ("service", pa.string()),
        ("duration", pa.float64()),
        ("orig_bytes", pa.uint64()),
        ("resp_bytes", pa.uint64()),
        ("conn_state", pa.string()),
        ("local_orig", pa.bool_()),
        ("local_resp", pa.bool_()),
        ("missed_bytes", pa.uint64()),
        ("history", pa.string()),
        ("orig_pkts", pa.uint64()),
        ("orig_ip_bytes", pa.uint64()),
        ("resp_pkts", pa.uint64()),
        ("resp_ip_bytes", pa.uint64()),
        ("tunnel_parents", pa.string()),
        ("ip_proto", pa.uint8()),
        ("orig_l2_addr", pa.string()),
        ("resp_l2_addr", pa.string()),
        ("vlan", pa.uint16()),
        ("orig_zone", pa.string()),
        ("resp_zone", pa.string()),
        ("source", pa.string()),
    ]
)

DNS_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()), ("uid", pa.string()),
        ("id.orig_h", pa.string()), ("id.orig_p", pa.uint16()),
        ("id.resp_h", pa.string()), ("id.resp_p", pa.uint16()),
        ("proto", pa.string()), ("trans_id", pa.uint16()), ("rtt", pa.float64()),
        ("query", pa.string()), ("qclass", pa.uint16()), ("qtype", pa.uint16()),
        ("qtype_name", pa.string()), ("rcode", pa.uint16()), ("rcode_name", pa.string()),
        ("AA", pa.bool_()), ("TC", pa.bool_()), ("RD", pa.bool_()), ("RA", pa.bool_()),
        ("answers", pa.list_(pa.string())), ("TTLs", pa.list_(pa.float64())),
        ("rejected", pa.bool_()),
    ]
)  # fmt: skip

HTTP_SCHEMA = pa.schema(
    [
        ("ts", pa.float64()), ("uid", pa.string()),
        ("id.orig_h", pa.string()), ("id.orig_p", pa.uint16()),
        ("id.resp_h", pa.string()), ("id.resp_p", pa.uint16()),
        ("trans_depth", pa.uint32()), ("method", pa.string()), ("host", pa.string()),
        ("uri", pa.string()), ("referrer", pa.string()), ("version", pa.string()),
        ("user_agent", pa.string()), ("request_body_len", pa.uint64()),
        ("response_body_len", pa.uint64()), ("status_code", pa.uint16()),
        ("status_msg", pa.string()), ("username", pa.string()),
        ("resp_mime_types", pa.list_(pa.string())),
    ]
)  # fmt: skip

TLS_SCHEMA = pa.schema(  # Zeek ssl.log subset
    [
        ("ts", pa.float64()), ("uid", pa.string()),
        ("id.orig_h", pa.string()), ("id.orig_p", pa.uint16()),
        ("id.resp_h", pa.string()), ("id.resp_p", pa.uint16()),
        ("version", pa.string()), ("cipher", pa.string()), ("server_name", pa.string()),
        ("established", pa.bool_()), ("cert_chain_fps", pa.list_(pa.string())),
        ("ja3", pa.string()), ("ja3s", pa.string()),
    ]
)  # fmt: skip

X509_SCHEMA = pa.schema(  # Zeek x509.log subset, plus where it was seen
    [
        ("ts", pa.float64()), ("fingerprint", pa.string()), ("source", pa.string()),
        ("host", pa.string()), ("port", pa.uint16()),
        ("certificate.version", pa.uint8()), ("certificate.serial", pa.string()),
        ("certificate.subject", pa.string()), ("certificate.issuer", pa.string()),
        ("certificate.not_valid_before", pa.timestamp("s", tz="UTC")),
        ("certificate.not_valid_after", pa.timestamp("s", tz="UTC")),
        ("certificate.key_alg", pa.string()), ("certificate.sig_alg", pa.string()),
        ("certificate.key_type", pa.string()), ("certificate.key_length", pa.uint32()),
        ("san.dns", pa.list_(pa.string())), ("basic_constraints.ca", pa.bool_()),
        ("self_signed", pa.bool_()),
    ]
)  # fmt: skip

# --------------------------------------------------------------------------- nmap
HOSTS_SCHEMA = pa.schema(
    [
        ("addr", pa.string()), ("addr_type", pa.string()), ("mac", pa.string()),
        ("vendor", pa.string()), ("hostname", pa.string()), ("state", pa.string()),
        ("reason", pa.string()), ("os", pa.string()), ("scan_time", pa.timestamp("s", tz="UTC")),
        ("source", pa.string()),
    ]
)  # fmt: skip

SERVICES_SCHEMA = pa.schema(
    [
        ("addr", pa.string()), ("port", pa.uint16()), ("proto", pa.string()),
        ("state", pa.string()), ("reason", pa.string()), ("service", pa.string()),
        ("product", pa.string()), ("version", pa.string()), ("extrainfo", pa.string()),
        ("tunnel", pa.string()), ("cpe", pa.list_(pa.string())),
        ("scripts", pa.string()),  # JSON object id -> output
        ("cert_subject", pa.string()), ("cert_issuer", pa.string()),
        ("cert_not_before", pa.timestamp("s", tz="UTC")),
        ("cert_not_after", pa.timestamp("s", tz="UTC")),
        ("cert_key_type", pa.string()), ("cert_key_bits", pa.uint32()),
        ("cert_sig_alg", pa.string()), ("cert_sha256", pa.string()),
        ("scan_time", pa.timestamp("s", tz="UTC")), ("source", pa.string()),
    ]
)  # fmt: skip

# --------------------------------------------------------------------------- restic
SNAPSHOTS_SCHEMA = pa.schema(
    [
        ("repo", pa.string()), ("id", pa.string()), ("short_id", pa.string()),
        ("time", pa.timestamp("ns", tz="UTC")), ("host", pa.string()),
        ("paths", pa.list_(pa.string())), ("tags", pa.list_(pa.string())),
        ("original", pa.string()), ("parent", pa.string()), ("tree", pa.string()),
        ("size", pa.uint64()),
    ]
)  # fmt: skip
