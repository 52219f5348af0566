"""The fast tier's view of a compiled rule set: which sigs it evaluates, as numba-ready arrays.

A sig is in the fast tier when every condition it has can be checked by the numba
kernel (fast.py) with the Python engine's exact semantics: a packet (not app-layer
transaction) rule, any non-pass action, header (protocols, address and port groups
with negation, bidirectional), flow direction/established, dsize/ttl/itype/icode/
flags/window/seq/ack/id, stream-only/packet-only, and no content or a single positive
content (nocase allowed, no positional modifiers).  Everything else stays with the
Python engine, which then sees only the flows where such a rule could match.
"""

from __future__ import annotations

import gc
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from secaudit.signatures.compile import Content, Sig

__all__ = ["FastTables", "build_tables", "is_fast", "paused_gc", "MAX_PATTERN", "APP_CODES"]

MAX_PATTERN = 64  # longer contents are scanned by their first 64 bytes (a tail of 63 per stream)
APP_CODES = {"http": 1, "tls": 2, "ssh": 3, "dns": 4, "ftp": 5, "smtp": 6}
APP_NAMES = {v: k for k, v in APP_CODES.items()}

_FLOW_BITS = {"to_server": 1, "to_client": 2, "established": 4, "not_established": 8}
_FAST_FLOW = set(_FLOW_BITS) | {"stateless", "only_stream", "no_stream"}
# pkt_checks the kernel evaluates: keyword -> check kind
_CHECK_KIND = {"dsize": 1, "ttl": 2, "itype": 3, "icode": 4, "flags": 5, "tcp.flags": 5,
               "window": 6, "seq": 7, "ack": 8, "id": 9}  # fmt: skip
_RANGE_OPS = {"=": 0, "!": 1, "!=": 1, "<": 2, ">": 3, "<=": 4, ">=": 5, "<>": 6}
_FLAG_MODS = {"": 0, "+": 1, "*": 2, "!": 3}


@contextmanager
def paused_gc() -> Iterator[None]:
    """Build or unpickle many small objects without the cyclic GC rescanning them all the time
    (10,000 cached rules: 1.2 s -> 0.2 s to unpickle)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _single_content(s: Sig) -> Content | None | bool:
    """The rule's one plain content; None when it has no buffers; False when not plain."""
    if not s.buffers:
        return None
    if len(s.buffers) != 1 or s.buffers[0].name != "pkt" or len(s.buffers[0].items) != 1:
        return False
    c = s.buffers[0].items[0]
    if not isinstance(c, Content) or c.negated or not c.pattern:
        return False
    if c.offset is not None or c.depth is not None or c.relative or c.startswith or c.endswith:
        return False
    if len(c.pattern) > MAX_PATTERN:
        return False
    return c


def is_fast(s: Sig, tx: bool) -> bool:
    """Can the numba kernel decide this sig exactly as the Python engine would?"""
    if tx or s.app is not None or s.app_protos or s.action == "pass":
        return False
    if s.flowbits or s.flowints or s.hostbits or s.threshold or s.detection_filter:
        return False
    if s.noalert or s.tx_checks or not set(s.flow) <= _FAST_FLOW:
        return False
    for kw, spec in s.pkt_checks:
        if kw not in _CHECK_KIND:
            return False
        if kw in ("flags", "tcp.flags"):
            if spec[0] not in _FLAG_MODS:
                return False
        elif not (isinstance(spec, tuple) and len(spec) == 3 and spec[0] in _RANGE_OPS):
            return False
    return _single_content(s) is not False


def _prefix_pattern(s: Sig) -> tuple[bytes, bool] | None:
    """A literal every match of the sig's payload/stream part must contain (its fast pattern,
    cut to MAX_PATTERN bytes), or None when the sig has none."""
    if s.fast is None:
        return None
    pat = s.fast[:MAX_PATTERN]
    return (pat.lower() if s.fast_nocase else pat, s.fast_nocase)


@dataclass
class FastTables:
    """Numba-ready arrays; sig indices are positions in the engine's sorted sig list."""

    patterns: list[tuple[bytes, bool]]
    pat_len: np.ndarray  # int64 [P]
    fast_own_ptr: np.ndarray  # CSR pattern -> fast sigs
    fast_own: np.ndarray
    py_own_ptr: np.ndarray  # CSR pattern -> Python-tier sigs
    py_own: np.ndarray
    sig_fast: np.ndarray  # bool [S]
    sig_pid: np.ndarray  # int64 [S] pattern of a fast sig's content, -1 none
    sig_flow: np.ndarray  # int64 [S] bits of _FLOW_BITS
    sig_stream_only: np.ndarray  # bool [S]
    sig_packet_only: np.ndarray  # bool [S]
    nocontent_fast: np.ndarray  # fast sigs with no content (checked on every packet)
    py_always: np.ndarray  # Python-tier packet sigs with no pattern (header decides routing)
    tx_apps: int  # bitmask of APP_CODES whose transactions Python must parse
    tx_any_app: bool  # a transaction sig for an app the kernel cannot recognise
    proto_mask: np.ndarray  # bool [S, 256]
    ipver: np.ndarray  # int64 [S] 0 any, 4, 6
    addr_ptr: np.ndarray  # int64 [S, 4, 2]: (src pos, src neg, dst pos, dst neg) CSR bounds
    addr_any: np.ndarray  # bool [S, 2] src/dst positive part is "any"
    ranges: np.ndarray  # uint64 [R, 5]: version, lo_hi, lo_lo, hi_hi, hi_lo
    port_ptr: np.ndarray  # int64 [S, 4, 2]
    port_any: np.ndarray  # bool [S, 2]
    port_ranges: np.ndarray  # int64 [Q, 2]
    port_rule: np.ndarray  # bool [S]
    bidir: np.ndarray  # bool [S]
    chk_ptr: np.ndarray  # int64 [S + 1] CSR into chk
    chk: np.ndarray  # int64 [C, 4]: kind, op, a, b
    max_pat: int


def _net_range(n: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[int]:
    if n.version == 4:
        base = 0xFFFF << 32
        lo = base | int(n.network_address)
        hi = base | int(n.broadcast_address)
    else:
        lo = int(n.network_address)
        hi = int(n.broadcast_address)
    m = (1 << 64) - 1
    return [n.version, lo >> 64, lo & m, hi >> 64, hi & m]


def build_tables(sigs: list[Sig], tx_flags: list[bool]) -> FastTables:
    n = len(sigs)
    pats: list[tuple[bytes, bool]] = []
    index: dict[tuple[bytes, bool], int] = {}
    fast_own: list[list[int]] = []
    py_own: list[list[int]] = []
    # plain lists while walking the sigs (numpy item assignment is slow), arrays at the end
    sig_fast: list[bool] = []
    sig_pid = [-1] * n
    sig_flow: list[int] = []
    s_only: list[bool] = []
    p_only: list[bool] = []
    nocontent: list[int] = []
    py_always: list[int] = []
    tx_apps = 0
    tx_any = False
    proto_all: list[bool] = []
    proto_pairs: list[tuple[int, int]] = []
    ipver: list[int] = []
    addr_ptr: list[int] = []
    addr_any: list[bool] = []
    ranges: list[list[int]] = []
    port_ptr: list[int] = []
    port_any: list[bool] = []
    pranges: list[list[int]] = []
    port_rule: list[bool] = []
    bidir: list[bool] = []
    chk_ptr = [0]
    chk: list[list[int]] = []

    def pid_of(key: tuple[bytes, bool]) -> int:
        j = index.get(key)
        if j is None:
            j = len(pats)
            index[key] = j
            pats.append(key)
            fast_own.append([])
            py_own.append([])
        return j

    for i, s in enumerate(sigs):
        tx = tx_flags[i]
        fast = is_fast(s, tx)
        sig_fast.append(fast)
        sig_flow.append(sum(bit for name, bit in _FLOW_BITS.items() if name in s.flow))
        s_only.append(s.stream_only)
        p_only.append(s.packet_only)
        proto_all.append(s.ip_protos is None)
        if s.ip_protos is not None:
            proto_pairs.extend((i, pr) for pr in s.ip_protos if 0 <= pr < 256)
        ipver.append({"ipv4": 4, "ipv6": 6}.get(s.rule.proto.lower(), 0))
        for aset in (s.src, s.dst):
            addr_any.append(aset.pos is None)
            for nets in (aset.pos or [], aset.neg):
                addr_ptr.append(len(ranges))
                ranges.extend(_net_range(nt) for nt in nets)
                addr_ptr.append(len(ranges))
        for pset in (s.sport, s.dport):
            port_any.append(pset.pos is None)
            for rs in (pset.pos or [], pset.neg):
                port_ptr.append(len(pranges))
                pranges.extend([a, b] for a, b in rs)
                port_ptr.append(len(pranges))
        port_rule.append(
            s.sport.pos is not None or bool(s.sport.neg) or s.dport.pos is not None
            or bool(s.dport.neg)
        )  # fmt: skip
        bidir.append(s.bidir)
        if fast:
            for kw, spec in s.pkt_checks:
                kind = _CHECK_KIND[kw]
                if kind == 5:
                    mod, fl, ignore = spec
                    chk.append([kind, _FLAG_MODS[mod], int(fl), int(ignore)])
                else:
                    op, a, b = spec
                    chk.append([kind, _RANGE_OPS[op], int(a), int(b)])
            c = _single_content(s)
            if isinstance(c, Content):
                key = (c.pattern.lower() if c.nocase else c.pattern, c.nocase)
                j = pid_of(key)
                fast_own[j].append(i)
                sig_pid[i] = j
            else:
                nocontent.append(i)
        else:
            pp = _prefix_pattern(s)
            if pp is not None:
                py_own[pid_of(pp)].append(i)
            elif tx:
                code = APP_CODES.get("http" if s.app == "file" else (s.app or ""), 0)
                if code:
                    tx_apps |= 1 << code
                else:
                    tx_any = True
            else:
                py_always.append(i)
        chk_ptr.append(len(chk))

    def csr(lists: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        ptr = np.zeros(len(lists) + 1, np.int64)
        ptr[1:] = np.cumsum([len(x) for x in lists]) if lists else []
        flat = np.array([v for x in lists for v in x], dtype=np.int64)
        return ptr, flat

    fptr, fown = csr(fast_own)
    pptr, pown = csr(py_own)
    proto_mask = np.zeros((n, 256), bool)
    proto_mask[np.array(proto_all, dtype=bool)] = True
    if proto_pairs:
        pp_arr = np.array(proto_pairs, dtype=np.int64)
        proto_mask[pp_arr[:, 0], pp_arr[:, 1]] = True
    return FastTables(
        patterns=pats,
        pat_len=np.array([len(p) for p, _n in pats], dtype=np.int64),
        fast_own_ptr=fptr,
        fast_own=fown,
        py_own_ptr=pptr,
        py_own=pown,
        sig_fast=np.array(sig_fast, dtype=bool),
        sig_pid=np.array(sig_pid, dtype=np.int64),
        sig_flow=np.array(sig_flow, dtype=np.int64),
        sig_stream_only=np.array(s_only, dtype=bool),
        sig_packet_only=np.array(p_only, dtype=bool),
        nocontent_fast=np.array(nocontent, dtype=np.int64),
        py_always=np.array(py_always, dtype=np.int64),
        tx_apps=tx_apps,
        tx_any_app=tx_any,
        proto_mask=proto_mask,
        ipver=np.array(ipver, dtype=np.int64),
        addr_ptr=np.array(addr_ptr, dtype=np.int64).reshape(n, 4, 2),
        addr_any=np.array(addr_any, dtype=bool).reshape(n, 2),
        ranges=np.array(ranges, dtype=np.uint64).reshape(-1, 5),
        port_ptr=np.array(port_ptr, dtype=np.int64).reshape(n, 4, 2),
        port_any=np.array(port_any, dtype=bool).reshape(n, 2),
        port_ranges=np.array(pranges, dtype=np.int64).reshape(-1, 2),
        port_rule=np.array(port_rule, dtype=bool),
        bidir=np.array(bidir, dtype=bool),
        chk_ptr=np.array(chk_ptr, dtype=np.int64),
        chk=np.array(chk, dtype=np.int64).reshape(-1, 4),
        max_pat=max((len(p) for p, _n in pats), default=1),
    )
