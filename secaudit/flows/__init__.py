"""Connection records with Zeek's conn.log semantics, from pcap/pcapng.

    import secaudit as sa
    conn = sa.flows("capture.pcap")                     # DataFrame, Zeek column names
    res = sa.flow_table("capture.pcap", local_nets=["10.0.0.0/8"])
    res.conn, res.gaps                                   # table + what could not be seen
    sa.write_conn_log(conn, "out/conn.log")              # Zeek TSV (json, parquet)
    sa.read_conn_log("zeek/conn.log")                    # any conn.log back as a DataFrame
    write_flows("big.pcap", "out/conn.log")              # streaming: flat memory, any size

`flows()` returns the table and puts the gaps in `df.attrs["gaps"]`;
`flow_table()` returns both in a `FlowResult`.  `iter_flow_tables()` yields the
table in Arrow batches of finished connections and `write_flows()` streams them
into a conn.log, so memory stays flat however large the capture.  Semantics follow Zeek's
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

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from secaudit._callable import make_package_callable
from secaudit.flows.conn_log import ConnLogWriter, Format, read_conn_log, write_conn_log
from secaudit.flows.table import CONN_COLUMNS, conn_arrow
from secaudit.flows.tracker import FlowTracker, concat_records
from secaudit.model import Gap

__all__ = [
    "CONN_COLUMNS",
    "ConnLogWriter",
    "FlowResult",
    "FlowStream",
    "FlowTracker",
    "flow_table",
    "flows",
    "iter_flow_tables",
    "read_conn_log",
    "write_conn_log",
    "write_flows",
]

Sources = str | Path | Sequence[str | Path]


@dataclass(frozen=True)
class FlowResult:
    """The conn table and the gaps met while building it."""

    conn: pd.DataFrame
    gaps: tuple[Gap, ...] = field(default_factory=tuple)
    packets: int = 0


@dataclass
class FlowStream:
    """Iterate for the conn table in Arrow batches (CONN_SCHEMA), finished
    connections only; `gaps` and `packets` are complete once it is exhausted.

    Each batch holds the connections finished since the previous one (at least
    `batch_rows` of them, except the last), ordered by start time within the
    batch; across batches the order is by when Zeek would log them.
    """

    sources: Sources
    ignore_checksums: bool = False
    local_nets: list[str] | None = None
    quiet: bool = True
    chunk_packets: int = 500_000
    seed: int = 0
    batch_rows: int = 100_000
    gaps: list[Gap] = field(default_factory=list)
    packets: int = 0
    conns: int = 0

    def __iter__(self) -> Iterator[pa.Table]:
        from secaudit.capture import iter_chunks

        tracker = FlowTracker(ignore_checksums=self.ignore_checksums, seed=self.seed)
        pending: list[np.ndarray] = []
        npending = 0

        def batch() -> pa.Table:
            nonlocal pending, npending
            recs = concat_records(pending)
            pending, npending = [], 0
            self.conns += recs.shape[0]
            return conn_arrow(recs, tracker.sources, self.local_nets, tracker.parent_uids)

        chunks = iter_chunks(self.sources, chunk_packets=self.chunk_packets, quiet=self.quiet)
        for chunk in chunks:
            self.gaps.extend(chunk.gaps)
            tracker.feed(chunk)
            self.packets = tracker.packets_seen
            del chunk  # its packets and mapped window are not needed while a batch is written
            done = tracker.drain()
            if done.shape[0]:
                pending.append(done)
                npending += done.shape[0]
            if npending >= self.batch_rows:
                yield batch()
        rest = tracker.finish()
        if rest.shape[0]:
            pending.append(rest)
        self.gaps.extend(tracker.checksum_gaps())
        if pending:
            yield batch()


def iter_flow_tables(
    sources: Sources,
    *,
    ignore_checksums: bool = False,
    local_nets: Iterable[str] | None = None,
    quiet: bool = True,
    chunk_packets: int = 500_000,
    seed: int = 0,
    batch_rows: int = 100_000,
) -> FlowStream:
    """The conn table of the captures as a stream of Arrow batches (see FlowStream)."""
    nets = list(local_nets) if local_nets is not None else None
    return FlowStream(sources, ignore_checksums, nets, quiet, chunk_packets, seed, batch_rows)


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
    The whole table is held in memory: for captures of any size use `write_flows`.
    """
    from secaudit.capture import iter_chunks
    from secaudit.flows.table import conn_frame

    tracker = FlowTracker(ignore_checksums=ignore_checksums, seed=seed)
    gaps: list[Gap] = []
    for chunk in iter_chunks(sources, chunk_packets=chunk_packets, quiet=quiet):
        gaps.extend(chunk.gaps)
        tracker.feed(chunk)
    recs = tracker.finish()
    gaps.extend(tracker.checksum_gaps())
    nets = list(local_nets) if local_nets is not None else None
    conn = conn_frame(recs, tracker.sources, nets, tracker.parent_uids)
    return FlowResult(conn=conn, gaps=tuple(gaps), packets=tracker.packets_seen)


def write_flows(
    sources: Sources,
    path: str | Path,
    format: Format = "zeek",
    *,
    ignore_checksums: bool = False,
    local_nets: Iterable[str] | None = None,
    quiet: bool = True,
    chunk_packets: int = 500_000,
    seed: int = 0,
    batch_rows: int = 100_000,
    scheduler: str | None = None,
) -> FlowStream:
    """Stream the captures' connections into a conn log (Zeek TSV, JSON lines,
    Parquet) batch by batch: memory stays flat whatever the capture size.
    Returns the exhausted stream (its gaps, packets and conns).

    `scheduler`: a Dask distributed scheduler address; each file is then tracked by a
    worker (secaudit.distributed) and its batches written here in file order.
    """
    if scheduler is not None:
        return _write_sharded(
            sources, path, format, scheduler,
            ignore_checksums=ignore_checksums, local_nets=local_nets, seed=seed,
        )  # fmt: skip
    stream = iter_flow_tables(
        sources,
        ignore_checksums=ignore_checksums,
        local_nets=local_nets,
        quiet=quiet,
        chunk_packets=chunk_packets,
        seed=seed,
        batch_rows=batch_rows,
    )
    with ConnLogWriter(path, format, columns=list(CONN_COLUMNS)) as writer:
        for table in stream:
            writer.write(table)
    return stream


def _flows_of_file(
    path: str, ignore_checksums: bool, local_nets: list[str] | None, seed: int
) -> tuple[list[pa.Table], list[Gap], int]:
    """A Dask task: one file's conn table batches, gaps and packet count."""
    stream = iter_flow_tables(
        path, ignore_checksums=ignore_checksums, local_nets=local_nets, seed=seed
    )
    tables = list(stream)
    return tables, stream.gaps, stream.packets


def _write_sharded(
    sources: Sources,
    path: str | Path,
    format: Format,
    scheduler: str,
    *,
    ignore_checksums: bool,
    local_nets: Iterable[str] | None,
    seed: int,
) -> FlowStream:
    """write_flows with one Dask task per file: a connection that continues from one file
    into the next is tracked per file (as two Zeek runs would log it)."""
    from secaudit.distributed import map_files

    files = [str(sources)] if isinstance(sources, (str, Path)) else [str(p) for p in sources]
    nets = list(local_nets) if local_nets is not None else None
    parts = map_files(
        _flows_of_file, files, scheduler,
        ignore_checksums=ignore_checksums, local_nets=nets, seed=seed,
    )  # fmt: skip
    done = FlowStream(files, ignore_checksums, nets)
    with ConnLogWriter(path, format, columns=list(CONN_COLUMNS)) as writer:
        for tables, gaps, packets in parts:
            for table in tables:
                writer.write(table)
                done.conns += table.num_rows
            done.gaps.extend(gaps)
            done.packets += packets
    return done


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
