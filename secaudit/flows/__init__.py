"""Connection records with Zeek's conn.log semantics, from pcap/pcapng.

    import secaudit as sa
    conn = sa.flows("capture.pcap")                     # DataFrame, Zeek column names
    res = sa.flow_table("capture.pcap", local_nets=["10.0.0.0/8"])
    res.conn, res.gaps                                   # table + what could not be seen
    sa.write_conn_log(conn, "out/conn.log")              # Zeek TSV (json, parquet)
    sa.read_conn_log("zeek/conn.log")                    # any conn.log back as a DataFrame

`flows()` returns the table and puts the gaps in `df.attrs["gaps"]`;
`flow_table()` returns both in a `FlowResult`.  Semantics follow Zeek's
(commit a13de64 of zeek/zeek): uid ("C" + 17 base62 characters, a hash of
seed + connection key + start time, so reruns give the same uids), the 13
conn_state values, history letters with Zeek's case and repeat rules, bytes
from sequence numbers (with wraparound; partial connections as if the SYN had
been seen), missed_bytes from acked holes, ConnSize packet/IP-byte counts,
the attempt/expire/close/inactivity timers (tcp 5 min after the handshake,
udp/icmp/other 1 min), SYN-ACK-first and likely-server-port flips, ICMP
request/reply pairing (id.orig_p = type, id.resp_p = counterpart type, or
code for one-way messages), `unknown_transport` sessions, tunnel_parents.
`_engine` says where each rule comes from in Zeek's source.

Not modelled (Zeek behaviour that needs its protocol analyzers or event
handlers): `service` (left unset), analyzers that stop a connection's
analysis midway, close deferral while reassembly data is pending, the
partial-close and reset timers, and weird.log.  Out-of-order TCP data is
tracked in up to 8 holes per direction (beyond that holes are merged).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from secaudit._callable import make_package_callable
from secaudit.flows.conn_log import read_conn_log, write_conn_log
from secaudit.flows.table import CONN_COLUMNS, conn_frame
from secaudit.flows.tracker import FlowTracker
from secaudit.model import Gap

__all__ = [
    "CONN_COLUMNS",
    "FlowResult",
    "FlowTracker",
    "flow_table",
    "flows",
    "read_conn_log",
    "write_conn_log",
]

Sources = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class FlowResult:
    """The conn table and the gaps met while building it."""

    conn: pd.DataFrame
    gaps: tuple[Gap, ...] = field(default_factory=tuple)
    packets: int = 0


def flow_table(
    sources: Sources,
    *,
    ignore_checksums: bool = False,
    local_nets: Iterable[str] | None = None,
    quiet: bool = True,
    chunk_packets: int = 500_000,
    seed: int = 0,
) -> FlowResult:
    """Track every connection of the captures, streaming chunk by chunk.

    ignore_checksums: analyze packets with bad checksums (Zeek's -C); by default
    they are counted and, when most of a file's packets look bad (checksum
    offloading), reported as a Gap.  local_nets: CIDRs for local_orig/local_resp
    (None leaves them unset, like Zeek with an empty Site::local_nets).
    seed: makes uids differ between runs on purpose; equal seeds give equal uids.
    """
    from secaudit.capture import iter_chunks

    tracker = FlowTracker(ignore_checksums=ignore_checksums, seed=seed)
    gaps: list[Gap] = []
    for chunk in iter_chunks(sources, chunk_packets=chunk_packets, quiet=quiet):
        gaps.extend(chunk.gaps)
        tracker.feed(chunk)
    recs = tracker.finish()
    gaps.extend(tracker.checksum_gaps())
    nets = list(local_nets) if local_nets is not None else None
    conn = conn_frame(recs, tracker.sources, nets)
    return FlowResult(conn=conn, gaps=tuple(gaps), packets=tracker.packets_seen)


def flows(
    sources: Sources,
    *,
    ignore_checksums: bool = False,
    local_nets: Iterable[str] | None = None,
    quiet: bool = True,
) -> pd.DataFrame:
    """The conn table of the captures (gaps in `df.attrs["gaps"]`)."""
    res = flow_table(sources, ignore_checksums=ignore_checksums, local_nets=local_nets, quiet=quiet)
    res.conn.attrs["gaps"] = list(res.gaps)
    return res.conn


make_package_callable(__name__, "secaudit.flows", "flows")
