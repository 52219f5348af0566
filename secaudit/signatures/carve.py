"""Files carried over HTTP/SMTP/POP3/IMAP/FTP, carved in one compiled pass instead of the packet engine.

`carve_pcap(pcap)` returns the same records as `Engine.carved` after feeding the
capture's payload connections (name, data, direction, client, server, ts, proto,
content_type; `flow_id` is 8 x the 1-based packet-table row of the connection's first
packet).  The per-packet work is carvekern.feed; per connection, the engine's own
parsers run on the reassembled streams (http_exchanges, files.http_files /
smtp_files / mailbox_files / ftp_data_files).

Stream bytes stay bounded by the live connections: a connection's files are carved once
it closed and stayed quiet for `GRACE_S` (or idled `IDLE_S`), then its bytes are dropped
(its ~250-byte table row stays, so a late packet is recognised).
Whatever the kernel cannot follow exactly goes to the Python engine in a second read of
the capture, restricted to those connections: tunnels, fragments, odd link layers, bad
or unverifiable checksums (when the capture's checksums are validated), a connection that
sees packets after it was carved, and FTP data connections announced only after they
were carved.  On ordinary traffic there is no second read.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secaudit.capture import iter_chunks
from secaudit.model import Finding
from secaudit.signatures import carvekern as K
from secaudit.signatures import files as F
from secaudit.signatures.decode import ip_text
from secaudit.signatures.engine import (
    Engine,
    _tcp_conn_hash,
    carries_http,
    http_exchanges,
)
from secaudit.signatures.fast import _ip_bytes
from secaudit.signatures.fasttables import APP_CODES, APP_NAMES

__all__ = ["CarveStats", "carve_files", "carve_pcap", "scan_pcaps"]

GRACE_S = 60  # a closed connection is carved after this much quiet capture time
IDLE_S = 600  # any connection is carved after this much quiet capture time
_BATCH = 1 << 16  # rows per kernel call between carving steps
_FTP = APP_CODES["ftp"]

Port = tuple[bytes, int]  # (server address bytes, port): Engine.ftp_ports


@dataclass
class CarveStats:
    """What one capture cost: connections, those carved before the end, connection keys the
    Python engine decided and the frames it read for them."""

    conns: int = 0
    early: int = 0
    engine_keys: int = 0
    engine_frames: int = 0


@dataclass
class _Pass:
    """Carving state of one capture."""

    validate: bool
    route_all: bool = False
    each: Callable[[dict[str, Any]], Any] = lambda row: row
    t: dict[str, np.ndarray] = field(default_factory=K.new_tables)
    rows: list[tuple[int, int, int, Any]] = field(default_factory=list)
    announced: set[Port] = field(default_factory=set)  # FTP data ports seen so far
    ports: set[Port] = field(default_factory=set)  # from finished FTP control connections
    pending: list[tuple[Port, int, int, int, Any]] = field(default_factory=list)
    # program images opening an unidentified stream: kept unless it was FTP data after all
    raw: list[tuple[Port, int, int, int, Any]] = field(default_factory=list)
    late: list[tuple[Port, int]] = field(default_factory=list)
    stats: CarveStats = field(default_factory=CarveStats)
    texts: dict[bytes, str] = field(default_factory=dict)  # ip_text of each address seen

    # --- kernel -----------------------------------------------------------------

    def feed(
        self, rows: np.ndarray, pk: np.ndarray, hsh: np.ndarray, data: np.ndarray, row_base: int
    ) -> None:
        """TCP rows `rows` of a chunk, in file order (hsh: the engine's connection hashes)."""
        self._reserve(len(rows), int(pk["caplen"][rows].sum()))
        i = 0
        while i < len(rows):
            t = self.t
            i = K.feed(i, rows, pk, hsh, data, row_base, self.validate, self.route_all,
                       t["C"], t["A"], t["HT"], t["PC"], t["EV"], t["OO"],
                       t["arena"], t["cnt"])  # fmt: skip
            if i < len(rows):  # a queue merge or many queued segments: rare
                self._reserve(1, int(pk["caplen"][rows[i]]))

    def _reserve(self, rows: int, nbytes: int) -> None:
        """Room for `rows` more packets carrying `nbytes`: tables grow, and the stored bytes
        are compacted (dropping those of carved connections) when the arena is full."""
        t = self.t
        nc, npc, nev, noo, nar = (int(x) for x in t["cnt"][:5])
        if nc + rows > len(t["C"]):
            for k in ("C", "A"):
                t[k] = _grown(t[k], max(2 * len(t[k]), nc + rows))
        if 2 * (nc + rows) > len(t["HT"]):
            t["HT"] = np.full(1 << (4 * (nc + rows)).bit_length(), -1, np.int64)
            K.rehash(t["A"], t["C"], nc, t["HT"])
        if (
            nar + nbytes > len(t["arena"]) or npc + 1 + noo + rows > len(t["PC"])
            or nev + rows > len(t["EV"]) or noo + rows > len(t["OO"])
        ):  # fmt: skip
            old = t["arena"]
            t["PC"], t["EV"], t["OO"], t["arena"] = K.compact(
                t["C"], t["PC"], t["EV"], t["OO"], old, t["cnt"], 2 * nbytes, 2 * rows,
                t["spare"],
            )  # fmt: skip
            t["spare"] = old  # the next compaction's target: its pages are already mapped

    # --- per connection ---------------------------------------------------------------

    def step(self, now_ns: int, final: bool = False) -> None:
        """Carve the connections that are done (all of them when `final`), drop their bytes."""
        t = self.t
        nc = int(t["cnt"][0])
        C = t["C"][:nc]
        fl = C[:, K.FLAGS]
        keep = (fl & K.KEEP) != 0
        ftp = keep & (C[:, K.APP] == _FTP)
        if final:
            self._carve(np.flatnonzero(ftp), final=True)
            ready = keep & ~ftp
        else:
            if ftp.any():
                self._announce(np.flatnonzero(ftp))
            closed = (C[:, K.ST] == 4) | ((fl & (K.FIN0 | K.FIN1)) == (K.FIN0 | K.FIN1))
            quiet = C[:, K.TSL]
            ready = (
                keep
                & ~ftp
                & (
                    ((fl & K.DETACHED) != 0)
                    | (closed & (quiet <= now_ns - GRACE_S * 10**9))
                    | (quiet <= now_ns - IDLE_S * 10**9)
                )
            )
            self.stats.early += int(ready.sum())
        # no bytes, no files: marked carved without a trip through Python
        empty = ready & (C[:, K.LEN0] + C[:, K.LEN1] == 0)
        C[empty, K.FLAGS] = (fl[empty] | K.CARVED) & ~K.KEEP
        self._carve(np.flatnonzero(ready & ~empty), final)

    def _streams(self, ids: np.ndarray) -> list[tuple[bytes, bytes, np.ndarray, np.ndarray]]:
        """Both streams and append events of each connection in `ids`."""
        t = self.t
        arena = t["arena"]
        buf, b, evs, eb = K.gather(t["C"], t["PC"], t["EV"], arena, ids, t["gbuf"])
        t["gbuf"] = buf  # reused: a fresh buffer per step costs its page faults again
        src = (buf, arena)  # by gather's in-arena flag
        out = []
        for (s0, n0, a0, s1, n1, a1), (e, k0, k1) in zip(b.tolist(), eb.tolist(), strict=True):
            out.append((src[a0][s0 : s0 + n0].tobytes(), src[a1][s1 : s1 + n1].tobytes(),
                        evs[e : e + k0], evs[e + k0 : e + k0 + k1]))  # fmt: skip
        return out

    def _announce(self, ids: np.ndarray) -> None:
        """FTP data ports announced so far on live control connections."""
        for c, (d0, d1, _e0, _e1) in zip(ids.tolist(), self._streams(ids), strict=True):
            self.announced |= self._ftp_ports(c, d0, d1)

    def _ftp_ports(self, c: int, d0: bytes, d1: bytes) -> set[Port]:
        client, server = self._addrs(c)
        out: set[Port] = set()
        for port in F.ftp_data_ports(d0, d1):
            out.add((server, port))
            out.add((client, port))
        return out

    def _text(self, addr: bytes) -> str:
        text = self.texts.get(addr)
        if text is None:
            text = self.texts[addr] = ip_text(addr)
        return text

    def _addrs(self, c: int) -> tuple[bytes, bytes]:
        a = self.t["A"][c]
        ver = int(self.t["C"][c, K.VER])
        return _ip_bytes(ver, int(a[0]), int(a[1])), _ip_bytes(ver, int(a[2]), int(a[3]))

    def _carve(self, ids: np.ndarray, final: bool) -> None:
        """Engine._flow_tx's file part for each connection; marks them carved."""
        if not len(ids):
            return
        t = self.t
        C = t["C"]
        sub = C[ids]
        C[ids, K.FLAGS] = (sub[:, K.FLAGS] | K.CARVED) & ~K.KEEP
        meta = zip(ids.tolist(), sub[:, K.APP].tolist(), t["A"][ids, 4].tolist(),
                   sub[:, K.FID].tolist(), sub[:, K.TSF].tolist(), sub[:, K.TSL].tolist(),
                   sub[:, K.SPORT].tolist(), sub[:, K.VER].tolist(), t["A"][ids, :4].tolist(),
                   self._streams(ids), strict=True)  # fmt: skip
        for c, app_code, key, fid, tsf, tsl, sport, ver, a, (d0, d1, e0, e1) in meta:
            if not d0 and not d1:
                continue
            app = APP_NAMES.get(app_code)
            client, server = _ip_bytes(ver, a[0], a[1]), _ip_bytes(ver, a[2], a[3])  # _addrs(c)
            base = {"flow_id": fid, "client": self._text(client), "server": self._text(server)}
            ts_first, ts_last = tsf / 1e9, tsl / 1e9
            got: list[dict[str, Any]] = []
            n_ftp = 0
            try:
                if app == "smtp":
                    got.extend(F.smtp_files(base, d0, ts_last))
                elif app == "ftp":
                    self.ports |= self._ftp_ports(c, d0, d1)
                elif app is None:
                    port = (server, sport)
                    if final or port in self.announced:
                        # kept until the capture's FTP control connections are all parsed
                        for row in F.ftp_data_files(base, d0, d1, ts_last):
                            self.pending.append((port, key, fid, len(got), self.each(row)))
                            got.append(row)
                            n_ftp += 1
                    else:
                        self.late.append((port, key))
                    for row in F.stream_executables(base, d0, d1, ts_last):
                        self.raw.append((port, key, fid, len(got), self.each(row)))
                        got.append(row)
                        n_ftp += 1  # routed like FTP data: decided once ports are known
                if app in (None, "ftp") and F.mail_protocol(d1):
                    # POP3/IMAP (a POP3 client's USER looks like FTP): mail being read
                    got.extend(F.mailbox_files(base, d1, ts_last))
                if carries_http(app, d0):
                    ts_at0, ts_at1 = _ts_at(e0), _ts_at(e1)
                    # files.http_files carves each message's first candidate body only
                    for rq, rs, ts in http_exchanges(
                        d0, d1, ts_at0, ts_at1, ts_first, ts_last, all_bodies=False
                    ):
                        got.extend(F.http_files(base, rq, rs, ts))
            except RecursionError:  # Engine.finish drops the rest of such a flow too
                pass
            for k, row in enumerate(got):
                if k >= n_ftp:
                    self.rows.append((key, fid, k, self.each(row)))


def _ts_at(ev: np.ndarray) -> Callable[[int], float | None]:
    """TcpStream.ts_at over a side's append events (stream offset, ts ns), offsets rising
    (bisect on lists: a message or two per side, numpy's per-call cost would dominate)."""
    offs = ev[:, 0].tolist()
    tss = ev[:, 1].tolist()

    def ts_at(offset: int) -> float | None:
        i = bisect.bisect_right(offs, offset) - 1
        return tss[i] / 1e9 if i >= 0 else None

    return ts_at


def _grown(a: np.ndarray, rows: int) -> np.ndarray:
    b = np.empty((rows,) + a.shape[1:], a.dtype)
    b[: len(a)] = a
    return b


def _frames(
    pk: np.ndarray, data: np.ndarray, rows: np.ndarray
) -> Iterator[tuple[bytes, int, float, int]]:
    """(bytes, linktype, ts s, row) of the frames of `rows`, each frame once (an outer and an
    inner row share their frame), as frames_of hands them to the engine."""
    seen = -1
    for i in rows.tolist():
        off = int(pk["data_off"][i])
        if off != seen:
            seen = off
            cap = int(pk["caplen"][i])
            yield data[off : off + cap].tobytes(), int(pk["linktype"][i]), int(pk["ts"][i]) / 1e9, i


def _validate(pk: np.ndarray, data: np.ndarray, h: np.ndarray) -> bool:
    """Engine.sample_checksums on the first 1,000 frames of the first chunk's payload
    connections (the engine samples the whole capture's payload connections); `h`: the
    chunk's _tcp_conn_hash."""
    tcp = pk["proto"] == 6
    rows = np.flatnonzero(tcp & np.isin(h, h[tcp & (pk["payload_len"] > 0)]))
    frames = [f[:3] for f in itertools.islice(_frames(pk, data, rows), 1000)]
    eng = Engine([], None, checksum="auto")
    eng.sample_checksums(frames)
    return eng.validate


def _engine_pass(
    path: str, chunk_packets: int, keys: np.ndarray, validate: bool, ports: set[Port],
    stats: CarveStats,
) -> tuple[list[dict[str, Any]], set[Port]]:  # fmt: skip
    """The Python engine on the connections `keys` (and every TCP fragment)."""
    eng = Engine([], None, checksum="all" if validate else "none")
    eng.source = path
    eng.ftp_ports = set(ports)
    row_base = 0
    for chunk in iter_chunks(path, chunk_packets=chunk_packets):
        pk = chunk.packets
        want = (pk["proto"] == 6) & (np.isin(_tcp_conn_hash(pk), keys) | ((pk["frag"] & 1) != 0))
        for frame, lt, ts, i in _frames(pk, np.asarray(chunk.data), np.flatnonzero(want)):
            eng.feed(frame, lt, ts, index=row_base + i + 1)
            stats.engine_frames += 1
        row_base += len(pk)
    eng.finish()
    return eng.carved, eng.ftp_ports


def carve_pcap(
    path: str | Path,
    stats: CarveStats | None = None,
    chunk_packets: int = 500_000,
    engine_only: bool = False,
    each: Callable[[dict[str, Any]], Any] | None = None,
) -> list[Any]:
    """Engine.carved of one capture (see the module docstring), in the engine's order.

    `engine_only`: hand every connection to the Python engine (a reference run).
    `each`: applied to every record as soon as it is carved; the list holds its results
    (scanning there keeps the files' bytes out of memory)."""
    path = str(path)
    st = stats if stats is not None else CarveStats()
    run: _Pass | None = None
    row_base = 0
    last_ts = 0
    for chunk in iter_chunks(path, chunk_packets=chunk_packets):
        pk = chunk.packets
        data = np.asarray(chunk.data)
        hsh = _tcp_conn_hash(pk)
        if run is None:
            run = _Pass(validate=_validate(pk, data, hsh), route_all=engine_only)
            run.stats = st
            if each is not None:
                run.each = each
        rows = np.flatnonzero((pk["proto"] == 6) & (pk["l4_off"] != 0))
        for lo in range(0, len(rows), _BATCH):
            part = rows[lo : lo + _BATCH]
            run.feed(part, pk, hsh, data, row_base)
            last_ts = max(last_ts, int(pk["ts"][part].max()))
            run.step(last_ts)
        row_base += len(pk)
    if run is None:
        return []
    run.step(last_ts, final=True)
    C = run.t["C"][: int(run.t["cnt"][0])]
    st.conns = len(C)
    # connections without payload have no files, whatever the engine would make of them
    redo = ((C[:, K.FLAGS] & (K.ROUTE | K.REDO)) != 0) & ((C[:, K.FLAGS] & K.DATA) != 0)
    keys = set(run.t["A"][: len(C), 4][redo].tolist())
    eng_rows: list[dict[str, Any]] = []
    ports = set(run.ports)
    while True:
        eng_ports: set[Port] = set()
        if keys:
            arr = np.array(sorted(keys), np.uint64)
            eng_rows, eng_ports = _engine_pass(
                path, chunk_packets, arr, run.validate, run.ports, st
            )
        ports = run.ports | eng_ports
        more = {k for port, k in run.late if port in ports} - keys
        if not more:
            break
        keys |= more
    st.engine_keys = len(keys)
    out = [(fid, k, row) for key, fid, k, row in run.rows if key not in keys]
    out += [(fid, k, row) for port, key, fid, k, row in run.pending
            if key not in keys and port in ports]  # fmt: skip
    out += [(fid, k, row) for port, key, fid, k, row in run.raw
            if key not in keys and port not in ports]  # fmt: skip
    out += [(int(r["flow_id"]), k, run.each(r)) for k, r in enumerate(eng_rows)]
    out.sort(key=lambda x: (x[0], x[1]))
    return [r for _f, _k, r in out]


def _with_pcap(rec: dict[str, Any], pcap: str) -> dict[str, Any]:
    return {**rec, "pcap": pcap}


def carve_files(pcaps: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Carved files of several captures, each record with its `pcap` (as signatures() has)."""
    out: list[dict[str, Any]] = []
    for pcap in pcaps:
        out.extend(carve_pcap(pcap, each=functools.partial(_with_pcap, pcap=str(pcap))))
    return out


def scan_pcaps(
    pcaps: Sequence[str | Path], yara_rules: Any, iocs: F.IocSet, *, table: bool = True
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """files.scan_files(carve_files(pcaps), ...) with each file scanned when it is carved, so
    no file's bytes stay in memory; `table=False` keeps only the findings (no table rows)."""
    cache = F.ScanCache()
    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []

    def scan(rec: dict[str, Any], pcap: str) -> tuple[list[dict[str, Any]], list[Finding]] | None:
        # a record's pcap only goes to its table row
        got_rows, got = F.scan_files(
            [_with_pcap(rec, pcap) if table else rec], yara_rules, iocs, cache, table=table
        )
        # None for a file that adds nothing: the run then holds no containers per file,
        # whose pile made the garbage collector walk the whole heap (~0.2 s on bench2m)
        return (got_rows, got) if got_rows or got else None

    for pcap in pcaps:
        for res in carve_pcap(pcap, each=functools.partial(scan, pcap=str(pcap))):
            if res is not None:
                rows.extend(res[0])
                findings.extend(res[1])
    return rows, findings
