"""Protocol tables the detectors read, built chunk by chunk from the packets table.

`PacketTables.update(chunk)` extracts, per chunk and without a Python loop
per packet: DNS messages (secaudit.proto.dns), ARP rows, ICMP rows (echo
fields, payload hash/entropy, the quoted header of error messages), the
streaming TCP analysis (secaudit.detect.tcpstats: retransmissions, duplicate
ACKs, zero windows, handshake RTTs, app-layer markers per flow and direction)
and per-(host, second) UDP/ICMP packet counts (secaudit.detect.flood: a table
carried across chunks).  Per chunk only numpy arrays are kept (a DataFrame per
chunk and a concat cost more than one frame); `finish()` makes one DataFrame per
table, with text addresses.

Memory: TCP state is per flow (~0.5 kB) plus a row per flow and second of its
packets; everything else is per DNS/ARP/ICMP packet or aggregated per
host and second.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from secaudit.detect._addr import addr_column
from secaudit.detect._kernels import classify, icmp_fields
from secaudit.detect.flood import FloodCounters
from secaudit.detect.tcpstats import TcpStream, tcp_tables
from secaudit.proto.dns import DNS_PORTS, DnsStream, dns_log, messages_frame, query_codes

__all__ = ["FLOOD_BUCKET_S", "PART_TABLES", "PacketTables", "merge_parts", "parts_for"]

_DNS_PORTS = np.array(DNS_PORTS, np.uint16)
FLOOD_BUCKET_S = 1  # UDP/ICMP per-destination counters are kept per second

# the extracts PacketTables can build, and the tables each one makes
PART_TABLES: dict[str, tuple[str, ...]] = {
    "dns": ("dns",),
    "arp": ("arp",),
    "icmp": ("icmp",),
    "tcp": ("tcp_dirs", "tcp_flows", "tcp_buckets"),
    "flood": ("flood",),
}
ALL_PARTS = frozenset(PART_TABLES)


def parts_for(tables: Iterable[str]) -> frozenset[str]:
    """The extracts that make any of `tables` (a selection of detectors' needs)."""
    wanted = set(tables)
    return frozenset(p for p, made in PART_TABLES.items() if wanted.intersection(made))


def merge_parts(into: Any, other: Any) -> None:
    """Append `other`'s per-chunk parts to `into` (two extract dataclasses of one kind):
    list fields are extended, first_ns/last_ns widened, n_packets added.  Parts of
    another file (a Dask worker's, secaudit.distributed) merge like further chunks."""
    for f in fields(into):
        mine, theirs = getattr(into, f.name), getattr(other, f.name)
        if isinstance(mine, list):
            mine.extend(theirs)
        elif theirs is None:
            continue
        elif f.name == "first_ns":
            setattr(into, f.name, theirs if mine is None else min(mine, theirs))
        elif f.name == "last_ns":
            setattr(into, f.name, theirs if mine is None else max(mine, theirs))
        elif f.name == "n_packets":
            setattr(into, f.name, mine + theirs)
        elif f.name == "parts":
            if mine != theirs:
                raise ValueError(f"extracts of other parts: {sorted(mine)} and {sorted(theirs)}")
        elif hasattr(mine, "merge"):  # streaming state of its own (ipid.IpIdCounters)
            mine.merge(theirs)
        else:
            raise TypeError(f"no merge rule for {type(into).__name__}.{f.name}")


@dataclass
class PacketTables:
    """Accumulates the per-protocol extracts of successive packet chunks."""

    # per chunk: plain arrays (pandas once, at finish)
    dns: list[DnsStream] = field(default_factory=list)  # one per pass (file, when merged)
    arp_parts: list[np.ndarray] = field(default_factory=list)
    icmp_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    tcp: list[TcpStream] = field(default_factory=list)  # one per pass (file, when merged)
    flood: FloodCounters = field(
        default_factory=lambda: FloodCounters(bucket_ns=FLOOD_BUCKET_S * 1_000_000_000)
    )
    n_packets: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    # which extracts to build (PART_TABLES); finish() makes only their tables, so a run of
    # some detectors skips the packet work of the others
    parts: frozenset[str] = ALL_PARTS

    def update(self, packets: np.ndarray, data: np.ndarray) -> None:
        """Extract what detectors need from one chunk (packets: schemas.PACKET_DTYPE)."""
        n = len(packets)
        if n == 0:
            return
        self.n_packets += n
        tcp_idx, dns_idx, icmp_idx, arp, flood_idx, lo, hi, ordered = classify(packets, _DNS_PORTS)
        self.first_ns = int(lo) if self.first_ns is None else min(self.first_ns, int(lo))
        self.last_ns = int(hi) if self.last_ns is None else max(self.last_ns, int(hi))
        want = self.parts
        if dns_idx.size and "dns" in want:
            if not self.dns:
                self.dns.append(DnsStream())
            self.dns[-1].feed(packets, data, dns_idx)
        if arp.size and "arp" in want:
            fields = [
                "ts",
                "arp_op",
                "src_lo",
                "dst_lo",
                "arp_sha",
                "arp_tha",
                "src_mac",
                "dst_mac",
            ]
            part = np.empty(len(arp), dtype=[(f, packets.dtype[f]) for f in fields])
            for f in fields:  # field by field: cheaper than copying whole packet records
                part[f] = packets[f][arp]
            self.arp_parts.append(part)
        if icmp_idx.size and "icmp" in want:
            self.icmp_parts.append(self._icmp(packets, data, icmp_idx))
        if tcp_idx.size and "tcp" in want:
            if not self.tcp:
                self.tcp.append(TcpStream())
            self.tcp[-1].feed(packets, data, tcp_idx, in_order=bool(ordered))
        if "flood" in want:
            self.flood.update(packets, flood_idx)

    def _icmp(self, p: np.ndarray, data: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
        (ts, addr, icmp_type, icmp_code, ttl, v6, size,
         ident, seq, dlen, dhash, thash, ent, q_hi, q_lo, q_proto, q_dport) = icmp_fields(
            p, idx, data
        )  # fmt: skip
        return {
            "ts_ns": ts,
            "src_hi": addr[0],
            "src_lo": addr[1],
            "dst_hi": addr[2],
            "dst_lo": addr[3],
            "v6": v6,
            "type": icmp_type,
            "code": icmp_code,
            "id": ident,
            "seq": seq,
            "size": size,
            "captured": dlen,
            "hash": dhash,
            "tail_hash": thash,
            "entropy": ent,
            "q_hi": q_hi,
            "q_lo": q_lo,
            "q_proto": q_proto,
            "q_dport": q_dport,
            "ttl": ttl,
        }

    # ------------------------------------------------------------------ results
    def finish(self) -> dict[str, Any]:
        """DataFrames by name: dns, arp, icmp, tcp_dirs, tcp_flows, tcp_buckets, flood (those
        of the parts built; see PART_TABLES)."""
        out: dict[str, Any] = {}
        if "dns" in self.parts:
            out["dns"] = self._dns_frame()
        if "arp" in self.parts:
            out["arp"] = self._arp_frame()
        if "icmp" in self.parts:
            out["icmp"] = self._icmp_frame()
        if "tcp" in self.parts:
            tcp = tcp_tables(self.tcp)
            out.update(tcp_dirs=tcp.directions, tcp_flows=tcp.flows, tcp_buckets=tcp.buckets)
        if "flood" in self.parts:
            out["flood"] = self.flood.frame()
        return out

    def _dns_frame(self) -> pd.DataFrame:
        codes = query_codes([s.query_names() for s in self.dns], [s.name_codes() for s in self.dns])
        dns = dns_log(messages_frame([s.columns() for s in self.dns]), codes)
        if len(dns):
            dns.insert(1, "id.orig_h", addr_column(dns["orig_hi"], dns["orig_lo"], dns.index))
            dns.insert(4, "id.resp_h", addr_column(dns["resp_hi"], dns["resp_lo"], dns.index))
        else:
            dns["id.orig_h"] = pd.Series(dtype=object)
            dns["id.resp_h"] = pd.Series(dtype=object)
        return dns

    def _arp_frame(self) -> pd.DataFrame:
        cols = ["ts", "op", "spa", "tpa", "sha", "tha", "src_mac", "dst_mac"]
        if not self.arp_parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        a = np.concatenate(self.arp_parts)
        zero = np.zeros(len(a), np.uint64)
        spa_set = (a["src_lo"] & np.uint64(0xFFFFFFFF)) != 0
        tpa_set = (a["dst_lo"] & np.uint64(0xFFFFFFFF)) != 0
        return pd.DataFrame(
            {
                "ts": a["ts"] / 1e9,
                "op": a["arp_op"],
                "spa": addr_column(zero, a["src_lo"], keep=spa_set, other="0.0.0.0"),
                "tpa": addr_column(zero, a["dst_lo"], keep=tpa_set, other="0.0.0.0"),
                "sha": a["arp_sha"],
                "tha": a["arp_tha"],
                "src_mac": a["src_mac"],
                "dst_mac": a["dst_mac"],
            }
        )

    def _icmp_frame(self) -> pd.DataFrame:
        if not self.icmp_parts:
            cols = ["ts", "src", "dst", "type", "code", "id", "seq", "size", "captured", "hash",
                    "tail_hash", "entropy", "quoted_dst", "q_proto", "q_dport", "v6", "ttl"]  # fmt: skip
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        c = {k: np.concatenate([x[k] for x in self.icmp_parts]) for k in self.icmp_parts[0]}
        has_q = (c["q_lo"] != 0) | (c["q_hi"] != 0)
        quoted: Any = np.full(len(has_q), None, dtype=object)  # all None: an object column
        if has_q.any():
            quoted = addr_column(c["q_hi"], c["q_lo"], keep=has_q)
        out: dict[str, Any] = {
            "ts": c["ts_ns"] / 1e9,
            "src": addr_column(c["src_hi"], c["src_lo"]),
            "dst": addr_column(c["dst_hi"], c["dst_lo"]),
        }
        out |= {k: c[k] for k in ("v6", "type", "code", "id", "seq", "size", "captured", "hash",
                                  "tail_hash", "entropy", "q_proto", "q_dport", "ttl")}  # fmt: skip
        out["quoted_dst"] = quoted
        return pd.DataFrame(out)
