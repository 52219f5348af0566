"""pcap / pcapng (optionally gzip) -> packets table, in bounded-memory chunks.

    for chunk in iter_chunks("big.pcap"):        # streaming, memory-mapped
        chunk.packets["src_lo"], chunk.gaps ...
    df = read_pcap("small.pcap")                 # analysts: one DataFrame

The compiled scanners in `_kernels` do all per-packet work; this module only
opens inputs, hands windows to them and turns their damage codes into Gaps.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from secaudit.capture import _kernels as rec
from secaudit.capture._kernels import ROWS_PER_FRAME
from secaudit.capture._layout import GAP_DTYPE, LINKTYPES, TUNNEL_DTYPE
from secaudit.capture._source import WINDOW, ByteSource, open_source
from secaudit.capture.addr import addr_to_str, mac_to_str
from secaudit.errors import InputError
from secaudit.i18n import t
from secaudit.model import Gap
from secaudit.progress import progress
from secaudit.schemas import PACKET_DTYPE

__all__ = ["PacketChunk", "iter_chunks", "read_packets", "read_pcap"]

Source = str | Path | bytes | bytearray | memoryview
Sources = Source | Sequence[str | Path]

_MAX_GAPS = 256  # damage records kept per chunk; more are summarised
LINKTYPE_RAW = 101  # reassembled datagrams are raw IP

# gap code -> (Gap.kind, catalog key)
_GAP_TEXT: dict[int, tuple[str, str]] = {
    rec.G_TRUNCATED_RECORD: ("truncated", "capture.gap.truncated_record"),
    rec.G_CAPLEN_TOO_BIG: ("corrupt", "capture.gap.caplen_too_big"),
    rec.G_BAD_BLOCK_LENGTH: ("corrupt", "capture.gap.bad_block_length"),
    rec.G_TRAILER_MISMATCH: ("corrupt", "capture.gap.trailer_mismatch"),
    rec.G_GARBAGE: ("corrupt", "capture.gap.garbage"),
    rec.G_BAD_INTERFACE: ("corrupt", "capture.gap.bad_interface"),
    rec.G_TOO_MANY_INTERFACES: ("unsupported", "capture.gap.too_many_interfaces"),
    rec.G_BAD_SHB: ("corrupt", "capture.gap.bad_shb"),
    rec.G_TRUNCATED_FRAME: ("corrupt", "capture.gap.truncated_frame"),
    rec.G_BAD_TSRESOL: ("unsupported", "capture.gap.bad_tsresol"),
    rec.G_STOPPED: ("corrupt", "capture.gap.stopped"),
    rec.G_AMSDU_LIMIT: ("unsupported", "capture.gap.amsdu_limit"),
}

_SUPPORTED = np.zeros(65536, dtype=bool)
_SUPPORTED[list(LINKTYPES)] = True

_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, False),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (True, False),  # big-endian, microseconds
    b"\x4d\x3c\xb2\xa1": (False, True),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (True, True),  # big-endian, nanoseconds
}


@dataclass(frozen=True)
class PacketChunk:
    """A run of packets from one input, with the bytes they point into."""

    packets: np.ndarray  # schemas.PACKET_DTYPE rows in file order
    data: np.ndarray  # uint8; frame = data[data_off : data_off + caplen]
    tunnels: np.ndarray  # _layout.TUNNEL_DTYPE rows; packets["tunnel_id"] indexes here
    source: str
    gaps: tuple[Gap, ...]


class _Format:
    """What the file header said, and the scanner state that outlives a window."""

    def __init__(self, src: ByteSource) -> None:
        self.name = src.name
        head = src.head(24)
        if not head:
            raise InputError(t("capture.error.empty"), src.name, offset=0)
        magic = head[:4]
        self.state = np.zeros(rec.STATE_SIZE, dtype=np.int64)
        if magic in _PCAP_MAGICS:
            if len(head) < 24:
                raise InputError(
                    t("capture.error.header", got=len(head), need=24), src.name, offset=0
                )
            self.ng = False
            self.swapped, self.nano = _PCAP_MAGICS[magic]
            endian = ">" if self.swapped else "<"
            _, _, _, _, self.snaplen, network = struct.unpack(endian + "HHiIII", head[4:24])
            self.linktype = network & 0xFFFF  # upper bits: FCS length flags
            self.start = 24
            self.state[0] = -1
        elif magic == b"\x0a\x0d\x0d\x0a":
            if len(head) < 12 or head[8:12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                raise InputError(t("capture.error.shb"), src.name, offset=0)
            self.ng = True
            self.start = 0
            self.if_link = np.zeros(rec.MAX_IFACES, np.int64)
            self.if_snap = np.zeros(rec.MAX_IFACES, np.int64)
            self.if_tsexp = np.full(rec.MAX_IFACES, 6, np.int64)
            self.if_pow2 = np.zeros(rec.MAX_IFACES, np.int64)
            self.if_tsoff = np.zeros(rec.MAX_IFACES, np.int64)
        else:
            raise InputError(t("capture.error.magic", magic=magic.hex()), src.name, offset=0)

    def maybe_unsupported(self) -> bool:
        """Could this input hold frames of a link type the decoder does not know?"""
        if self.ng:
            return bool(self.state[rec.S_UNSUPPORTED] > 0)
        return not _SUPPORTED[self.linktype]

    def scan(
        self,
        buf: np.ndarray,
        pos: int,
        at_eof: bool,
        base: int,
        out: np.ndarray,
        tun: np.ndarray,
        gaps: np.ndarray,
    ) -> tuple[int, int, int, int, int]:
        outb = out.view(np.uint8).reshape(out.shape[0], PACKET_DTYPE.itemsize)
        if self.ng:
            return rec.scan_pcapng(
                buf, pos, at_eof, base, out, outb, 0, tun, 0, gaps, 0, self.state,
                self.if_link, self.if_snap, self.if_tsexp, self.if_pow2, self.if_tsoff,
            )  # fmt: skip
        return rec.scan_pcap(
            buf, pos, at_eof, base, self.swapped, self.nano, self.linktype,
            out, outb, 0, tun, 0, gaps, 0, self.state,
        )  # fmt: skip


def _gaps_from(
    codes: np.ndarray, count: int, name: str, note: str, packets: np.ndarray, check_links: bool
) -> list[Gap]:
    gaps: list[Gap] = []
    for g in codes[: min(count, len(codes))]:
        code, offset, value = int(g["code"]), int(g["offset"]), int(g["value"])
        kind, key = _GAP_TEXT.get(code, ("corrupt", "capture.gap.garbage"))
        msg = t(key, value=value, limit=rec.MAX_CAPLEN, subframes=rec.MAX_SUBFRAMES + 1, note=note)
        gaps.append(Gap(kind, name, msg, offset=offset, area="capture", detail={"code": code}))
    if count > len(codes):
        gaps.append(
            Gap(
                "corrupt",
                name,
                t("capture.gap.more", count=count - len(codes)),
                offset=int(codes[-1]["offset"]),
                area="capture",
            )
        )
    if len(packets) and check_links:
        counts = np.bincount(packets["linktype"], minlength=65536)
        for lt in np.flatnonzero((counts > 0) & ~_SUPPORTED):
            first = int(packets["file_offset"][np.argmax(packets["linktype"] == lt)])
            gaps.append(
                Gap(
                    "unsupported",
                    name,
                    t(
                        "capture.gap.unsupported_linktype",
                        count=int(counts[lt]),
                        linktype=int(lt),
                        name=f"LINKTYPE {int(lt)}",
                    ),
                    offset=first,
                    area="capture",
                    detail={"linktype": int(lt), "frames": int(counts[lt])},
                )
            )
    return gaps


def _ro(a: np.ndarray) -> np.ndarray:
    """A read-only view: every buffer reaches the kernels with the same numba type,
    so each kernel is compiled (and cached) once."""
    v = a.view()
    v.flags.writeable = False
    return v


def _reassemble(
    buf: np.ndarray, packets: np.ndarray, tunnels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add rows for IP datagrams reassembled from this chunk's fragments (Zeek does this
    before any transport or tunnel analysis).  Chunks without fragments pass untouched."""
    frag = (packets["frag"] & 1).astype(bool) & (packets["tunnel_depth"] == 0)
    if not frag.any():
        return packets, buf, tunnels
    rows = np.flatnonzero(frag)
    f = packets[rows]
    order = np.lexsort(
        (
            rows,
            f["ip_id"],
            f["proto"],
            f["dst_lo"],
            f["dst_hi"],
            f["src_lo"],
            f["src_hi"],
            f["ip_version"],
        )
    )
    rows = rows[order]
    f = f[order]
    key = ["ip_version", "src_hi", "src_lo", "dst_hi", "dst_lo", "proto", "ip_id"]
    new_group = np.ones(len(rows), dtype=bool)
    new_group[1:] = np.any([f[k][1:] != f[k][:-1] for k in key], axis=0)
    starts = np.append(np.flatnonzero(new_group), len(rows)).astype(np.int64)
    ext = np.zeros(int(f["ip_len"].astype(np.int64).sum()) + 76 * len(rows), np.uint8)
    d_row, d_pos, d_len = (np.zeros(len(rows), np.int64) for _ in range(3))
    d_bad = np.zeros(len(rows), np.uint8)
    nd, used = rec.reassemble(_ro(buf), packets, rows, starts, ext, d_row, d_pos, d_len, d_bad)
    if nd == 0:
        return packets, buf, tunnels
    cap = nd * ROWS_PER_FRAME + ROWS_PER_FRAME
    out2 = np.zeros(cap, PACKET_DTYPE)
    tun2 = np.zeros(cap, TUNNEL_DTYPE)
    out2b = out2.view(np.uint8).reshape(cap, PACKET_DTYPE.itemsize)
    codes = np.zeros(_MAX_GAPS, GAP_DTYPE)
    state = np.zeros(rec.STATE_SIZE, np.int64)
    state[0] = -1
    _, _, m, nt, _ = rec.scan_pcap(
        _ro(ext[:used]),
        0,
        True,
        0,
        False,
        True,
        LINKTYPE_RAW,
        out2,
        out2b,
        0,
        tun2,
        0,
        codes,
        0,
        state,
    )
    new, new_tun = out2[:m], tun2[:nt]
    # each new row takes time, offsets and link fields from the fragment that completed it
    k = np.searchsorted(d_pos[:nd] - 16, new["file_offset"])
    after = d_row[k]
    src = packets[after]
    for col in (
        "ts",
        "file_offset",
        "iface",
        "src_mac",
        "dst_mac",
        "vlan",
        "vlan_inner",
        "ethertype",
    ):
        new[col] = src[col]
    new["reasm"] = 2
    new["csum_bad"] |= d_bad[k]
    new["data_off"] += len(buf)
    new["tunnel_id"] = np.where(new["tunnel_id"] >= 0, new["tunnel_id"] + len(tunnels), -1)
    new_tun["parent_tunnel"] = np.where(
        new_tun["parent_tunnel"] >= 0, new_tun["parent_tunnel"] + len(tunnels), -1
    )
    # new rows go right after the fragment that completed them
    sort_key = np.concatenate([np.arange(len(packets), dtype=np.float64), after + 0.5])
    perm = np.argsort(sort_key, kind="stable")
    new_index = np.empty(len(perm), np.int64)
    new_index[perm] = np.arange(len(perm))
    merged_tun = np.concatenate([tunnels, new_tun])
    outer = merged_tun["outer_row"]
    shift = np.concatenate([np.zeros(len(tunnels), np.int64), np.full(nt, len(packets))])
    merged_tun["outer_row"] = np.where(outer >= 0, new_index[np.maximum(outer + shift, 0)], -1)
    merged = np.concatenate([packets, new])[perm]
    return merged, np.concatenate([buf, ext[:used]]), merged_tun


class _RowPool:
    """Output row buffers recycled from window to window.

    A fresh array per window costs a page fault (and kernel zeroing) for every
    page the scanner writes - more than the scan itself on the bench capture.
    A buffer is reused only when nothing outside the pool references it (no
    chunk, view or field of it is alive), so chunks a caller keeps stay intact;
    the scanners clear each row before writing it.
    """

    _SLOTS = 3

    def __init__(self) -> None:
        self._bufs: list[tuple[np.ndarray, np.ndarray]] = []

    def take(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        for i in range(len(self._bufs)):
            # references: the pool's tuple and getrefcount's argument, nothing else
            if (
                self._bufs[i][0].shape[0] >= rows
                and sys.getrefcount(self._bufs[i][0]) <= 2
                and sys.getrefcount(self._bufs[i][1]) <= 2
            ):
                out, tun = self._bufs[i]
                return out[:rows], tun[:rows]
        pair = (np.zeros(rows, PACKET_DTYPE), np.zeros(rows, TUNNEL_DTYPE))
        if len(self._bufs) < self._SLOTS:
            self._bufs.append(pair)
        else:  # every slot busy or too small: replace the smallest
            smallest = min(range(len(self._bufs)), key=lambda k: self._bufs[k][0].shape[0])
            self._bufs[smallest] = pair
        return pair


def _iter_source(source: Source, chunk_packets: int, quiet: bool) -> Iterator[PacketChunk]:
    src = open_source(source)
    try:
        fmt = _Format(src)
        total = getattr(src, "size", None)
        cur = fmt.start
        nfrag = 0
        window = WINDOW
        pool = _RowPool()
        label = t("capture.progress", name=Path(src.name).name)
        yielded = False  # any packets or gaps of this source so far
        with progress(label, total, quiet) as bar:
            while True:
                buf, at_eof = src.window(cur, window)
                rows_cap = min(chunk_packets, len(buf) // 12 + 1) + ROWS_PER_FRAME
                out, tun = pool.take(rows_cap)
                gap_codes = np.zeros(_MAX_GAPS, GAP_DTYPE)
                buf = _ro(buf)
                status, pos, nrows, ntun, ngaps = fmt.scan(buf, 0, at_eof, cur, out, tun, gap_codes)
                if status == rec.STOPPED:
                    gap_codes_n = min(ngaps, _MAX_GAPS)
                    if gap_codes_n < _MAX_GAPS:
                        g = gap_codes[gap_codes_n]
                        g["code"], g["offset"] = rec.G_STOPPED, cur + pos
                        g["value"] = (total or cur + len(buf)) - (cur + pos)  # bytes not read
                        ngaps += 1
                if status == rec.NEED_MORE and pos == 0:
                    window *= 2  # no whole record (or resync point) fits: widen, retry
                    continue
                packets, data, tunnels = out[:nrows], buf, tun[:ntun]
                if fmt.state[rec.S_NFRAG] > nfrag:
                    nfrag = int(fmt.state[rec.S_NFRAG])
                    packets, data, tunnels = _reassemble(buf, packets, tunnels)
                gaps = _gaps_from(
                    gap_codes, ngaps, src.name, src.gap_note, packets, fmt.maybe_unsupported()
                )
                if status in (rec.END, rec.STOPPED):
                    trailing = src.trailing_gap()
                    if trailing is not None:
                        gaps.append(
                            Gap(
                                "truncated",
                                src.name,
                                t("capture.gap.gzip", message=trailing[1]) + src.gap_note,
                                offset=trailing[0],
                                area="capture",
                            )
                        )
                    if not (yielded or nrows or gaps):
                        # a valid header and nothing after it: no traffic was checked
                        gaps.append(
                            Gap("empty", src.name, t("capture.gap.empty"), offset=cur + pos,
                                area="capture")
                        )  # fmt: skip
                if nrows or gaps:
                    yielded = True
                    yield PacketChunk(packets, data, tunnels, src.name, tuple(gaps))
                # drop this window before mapping the next one: a consumer that let go
                # of the chunk then holds one window, not two
                del buf, data, packets, tunnels, out, tun
                bar.advance(pos)
                cur += pos
                if status in (rec.END, rec.STOPPED):
                    break
    finally:
        src.close()


def _as_list(sources: Sources) -> list[Source]:
    if isinstance(sources, (str, Path, bytes, bytearray, memoryview)):
        return [sources]
    return list(sources)


def iter_chunks(
    sources: Sources, *, chunk_packets: int = 500_000, quiet: bool = True
) -> Iterator[PacketChunk]:
    """Yield PacketChunks of at most ~chunk_packets rows, input after input.

    Raises InputError for an input that is not a capture at all; damage inside
    a capture becomes Gaps on the chunk where it was found.
    """
    for source in _as_list(sources):
        yield from _iter_source(source, max(int(chunk_packets), 1), quiet)


def _concat(chunks: list[PacketChunk], name: str) -> PacketChunk:
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return PacketChunk(
            np.zeros(0, PACKET_DTYPE), np.zeros(0, np.uint8), np.zeros(0, TUNNEL_DTYPE), name, ()
        )
    packets, datas, tunnels = [], [], []
    data_base = row_base = tun_base = 0
    for c in chunks:
        p = c.packets.copy()
        p["data_off"] += data_base
        p["tunnel_id"] = np.where(p["tunnel_id"] >= 0, p["tunnel_id"] + tun_base, -1)
        tn = c.tunnels.copy()
        tn["parent_tunnel"] = np.where(tn["parent_tunnel"] >= 0, tn["parent_tunnel"] + tun_base, -1)
        tn["outer_row"] = np.where(tn["outer_row"] >= 0, tn["outer_row"] + row_base, -1)
        # keep only the bytes the packets use: the window may extend past them
        used = int((c.packets["data_off"] + c.packets["caplen"]).max()) if len(p) else 0
        datas.append(np.asarray(c.data[:used]))
        packets.append(p)
        tunnels.append(tn)
        data_base += used
        row_base += len(p)
        tun_base += len(tn)
    gaps = tuple(g for c in chunks for g in c.gaps)
    return PacketChunk(
        np.concatenate(packets), np.concatenate(datas), np.concatenate(tunnels), name, gaps
    )


def read_packets(source: Source, *, quiet: bool = True) -> PacketChunk:
    """The whole of one capture as a single chunk (tests, small files)."""
    name = source if isinstance(source, (str, Path)) else "<bytes>"
    return _concat(list(iter_chunks(source, quiet=quiet)), str(name))


def packets_frame(chunk: PacketChunk) -> pd.DataFrame:
    """A chunk's packets as a DataFrame with readable addresses and times."""
    p = chunk.packets
    df = pd.DataFrame({name: p[name] for name in p.dtype.names or ()})
    has_addr = (p["ip_version"] != 0) | (p["arp_op"] != 0)
    src = addr_to_str(p["src_hi"], p["src_lo"])
    dst = addr_to_str(p["dst_hi"], p["dst_lo"])
    src[~has_addr] = None
    dst[~has_addr] = None
    df = df.drop(columns=["src_hi", "src_lo", "dst_hi", "dst_lo", "ts"])
    df.insert(0, "ts", pd.to_datetime(p["ts"], unit="ns", utc=True))
    df.insert(1, "ts_ns", p["ts"])
    at = list(df.columns).index("proto")
    df.insert(at, "src", src)
    df.insert(at + 1, "dst", dst)
    for col in ("src_mac", "dst_mac", "arp_sha", "arp_tha"):
        df[col] = mac_to_str(p[col])
    df["source"] = chunk.source
    return df


def read_pcap(sources: Sources, *, quiet: bool = True) -> pd.DataFrame:
    """Packets of one or more captures as a DataFrame (one row per packets row).

    Addresses are strings ("10.0.0.1", "2001:db8::1"), MACs "aa:bb:cc:dd:ee:ff",
    `ts` is datetime64[ns, UTC] and `ts_ns` the integer nanoseconds.  Gaps are
    in `df.attrs["gaps"]`.
    """
    frames = []
    gaps: list[Gap] = []
    for chunk in iter_chunks(sources, quiet=quiet):
        frames.append(packets_frame(chunk))
        gaps.extend(chunk.gaps)
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:
        empty = PacketChunk(
            np.zeros(0, PACKET_DTYPE), np.zeros(0, np.uint8), np.zeros(0, TUNNEL_DTYPE), "", ()
        )
        df = packets_frame(empty)
    df.attrs["gaps"] = gaps
    return df
