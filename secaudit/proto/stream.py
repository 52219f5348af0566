"""TCP stream reassembly (one direction) and IP defragmentation, with bounded memory.

Overlaps keep the data that arrived first (what Suricata's default policy does
for data it has already reassembled), out-of-order segments wait until the gap
fills, and each stream keeps at most `depth` bytes in order plus `ooo_limit`
bytes waiting; anything beyond is dropped and counted, never buffered.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["TcpStream", "Defragmenter", "DEFAULT_DEPTH"]

DEFAULT_DEPTH = 1 << 20  # Suricata stream.reassembly.depth default: 1 MiB
_OOO_LIMIT = 1 << 20
_MOD = 1 << 32


@dataclass
class TcpStream:
    """Bytes one side sent, in sequence order from its ISN + 1."""

    isn: int | None = None
    data: bytearray = field(default_factory=bytearray)
    ooo: dict[int, bytes] = field(default_factory=dict)
    ooo_bytes: int = 0
    times: list[tuple[int, float]] = field(
        default_factory=list
    )  # (stream offset, ts) of each append
    depth: int = DEFAULT_DEPTH
    dropped: int = 0
    fin: bool = False

    def rel(self, seq: int) -> int:
        assert self.isn is not None
        r = (seq - self.isn - 1) % _MOD
        return r - _MOD if r > _MOD // 2 else r

    def add(self, seq: int, payload: bytes, ts: float) -> tuple[int, int]:
        """Add a segment; returns (start, end) of the newly in-order bytes (start == end if none)."""
        if self.isn is None or not payload:
            return (len(self.data), len(self.data))
        off = self.rel(seq)
        if off < 0:
            payload = payload[-off:]
            off = 0
            if not payload:
                return (len(self.data), len(self.data))
        before = len(self.data)
        if off > before:
            if off - before > self.depth or self.ooo_bytes + len(payload) > _OOO_LIMIT:
                self.dropped += len(payload)
                return (before, before)
            old = self.ooo.get(off)
            if old is None or len(old) < len(payload):
                self.ooo_bytes += len(payload) - (len(old) if old else 0)
                self.ooo[off] = payload if old is None else old + payload[len(old) :]
            return (before, before)
        self._append(off, payload)
        while self.ooo:
            cur = len(self.data)
            ready = [k for k in self.ooo if k <= cur]
            if not ready:
                break
            for k in sorted(ready):
                seg = self.ooo.pop(k)
                self.ooo_bytes -= len(seg)
                self._append(k, seg)
        after = len(self.data)
        if after > before:
            self.times.append((before, ts))
        return (before, after)

    def _append(self, off: int, payload: bytes) -> None:
        cur = len(self.data)
        if off + len(payload) <= cur:
            return
        new = payload[cur - off :]
        room = self.depth - cur
        if room <= 0:
            self.dropped += len(new)
            return
        if len(new) > room:
            self.dropped += len(new) - room
            new = new[:room]
        self.data += new

    def ts_at(self, offset: int) -> float | None:
        """Capture time of the segment that delivered stream byte `offset`."""
        best = None
        for off, ts in self.times:
            if off <= offset:
                best = ts
            else:
                break
        return best


class Defragmenter:
    """IPv4/IPv6 fragment reassembly keyed by (src, dst, proto, id); first data wins."""

    def __init__(self, max_bytes: int = 65535, max_pending: int = 4096) -> None:
        self.max_bytes = max_bytes
        self.max_pending = max_pending
        self.pending: dict[tuple[bytes, bytes, int, int], _Frags] = {}

    def add(
        self, key: tuple[bytes, bytes, int, int], off: int, more: bool, data: bytes, header: bytes
    ) -> bytes | None:
        """Add one fragment's payload; returns the whole payload when complete."""
        st = self.pending.get(key)
        if st is None:
            if len(self.pending) >= self.max_pending:
                self.pending.pop(next(iter(self.pending)))
            st = _Frags()
            self.pending[key] = st
        if off + len(data) > self.max_bytes:
            self.pending.pop(key, None)
            return None
        st.frags.setdefault(off, data)
        if off == 0:
            st.header = header
        if not more:
            st.total = off + len(data)
        total = st.total
        if total is None or st.header is None:
            return None
        buf = bytearray(total)
        covered = 0
        # first data wins: lay fragments from the last-arrived to the first so earlier ones overwrite
        for o, d in reversed(list(st.frags.items())):
            buf[o : o + len(d)] = d[: max(0, total - o)]
        for o in sorted(st.frags):
            if o > covered:
                return None
            covered = max(covered, o + len(st.frags[o]))
        if covered < total:
            return None
        self.pending.pop(key, None)
        return bytes(buf[:total])


@dataclass
class _Frags:
    frags: dict[int, bytes] = field(default_factory=dict)
    total: int | None = None
    header: bytes | None = None
