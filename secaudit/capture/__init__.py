"""Fast pcap/pcapng reader: captures -> the packets table (schemas.PACKET_DTYPE).

Public API: `iter_chunks` (streaming), `read_packets` (one chunk),
`read_pcap` (DataFrame for analysts), `PacketChunk`, and the address helpers
`addr_to_str` / `str_to_addr` / `mac_to_str`.

Inputs: classic pcap (us/ns, either byte order), pcapng (several sections and
interfaces, if_tsresol incl. powers of 2, if_tsoffset, EPB/SPB/obsolete PB,
unknown blocks skipped), either of them gzip-compressed.  Files are mapped
128 MiB at a time, so memory is bounded by about two windows plus the rows of
the chunk a caller holds; chunks end at `chunk_packets` rows or at a window.
Mapping a window costs what the page cache makes it cost: a file read from disk
sits in large folios (mapped almost for free), a file just written by small
writes in 4 KiB pages (about 0.1 s per GB here); bench/ reads every input the
first way (bench/_report.cache_as_read).

What the rows mean beyond schemas.PACKET_FIELDS:

* Tunnels (IP-in-IP, GRE incl. ERSPAN II/III, TEB, PPTP and Aruba's 802.11
  frames, GRE-in-UDP, VXLAN, Geneve, GTP-U, Teredo, AYIYA) are removed the way
  Zeek's packet analyzers do.  An 802.11 A-MSDU gives one row per subframe,
  as Zeek hands each on as a packet (at most 1 + MAX_SUBFRAMES per frame; the
  bytes of any further subframes are reported as an 'unsupported' Gap).  The inner packet's row has tunnel_depth >= 1 and tunnel_id
  into `PacketChunk.tunnels` (TUNNEL_DTYPE; `kind` is a TunnelKind).  UDP
  encapsulations also get a row for the outer UDP packet (tunnel_depth 0, the
  same file_offset) right before the inner row, and tunnels["outer_row"]
  points at it; IP-in-IP and GRE have no outer row (Zeek logs no outer
  connection for them).  Zeek forwards by the connection's responder port;
  the reader accepts either port, so flows may re-check with tunnels.sport/
  dport.  Teredo and AYIYA are also recognised on other ports by Zeek's
  detection rules; Zeek's per-connection state (analyzer violations, Teredo
  confirmation) is left to flows.
* IP fragments keep their rows (frag & 1).  When a chunk holds all fragments
  of a datagram it is reassembled and decoded (tunnels included) into extra
  rows with reasm = 2 placed right after the completing fragment; their bytes
  are appended to `PacketChunk.data` and their linktype is 101 (raw IP).
  Fragments split across chunks are not reassembled.
* csum_bad bit 1: a verifiable IPv4 header, TCP, UDP (not 0 over IPv4, nor a
  VXLAN zero checksum), ICMP or ICMPv6 checksum is wrong, or an IPv4 total
  length is 0 (offloading) - packets Zeek drops unless run with -C.  Bit 2: an
  inner row whose outer packet has bit 1 or 2 (Zeek drops the outer packet, so
  never sees the inner one, unless -C).  Bit 4: the TCP header is unusable (data
  offset under 5 words, or longer than the captured or IP payload bytes): Zeek
  creates the connection and analyzes nothing ("truncated_header"), even with -C.  ip_drop != 0: Zeek's IP layer drops
  the packet even with -C (see schemas).
* head: the first (up to 8) captured payload bytes as a little-endian word, kept
  while the decoder has the frame in cache, so extracts that test payload
  markers (detect's TCP markers, the links candidates) need not go back to
  `PacketChunk.data`, whose bytes have left the caches by then.
* Damage is a Gap (truncated / corrupt / unsupported) with the byte offset;
  classic pcap resynchronises on two consecutive plausible record headers
  within 1 MiB or stops, pcapng on the next block whose lengths agree.  An
  input that is not a capture at all raises InputError.
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
