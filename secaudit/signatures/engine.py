"""The detection engine: flows, streams, app-layer transactions, rule evaluation, alerts.

Per packet: decode, defragment, find the flow, update TCP state and
reassembly, then run packet/stream rules (a prefilter picks the rules whose
fast pattern occurs).  Per app-layer transaction (HTTP request/response pair,
DNS message, TLS session), evaluated when the flow ends: the rules that
inspect app-layer buffers, each at most once per transaction, as Suricata does.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from secaudit.model import Gap
from secaudit.proto import http as H
from secaudit.proto import tls as T
from secaudit.proto.stream import Defragmenter, TcpStream
from secaudit.signatures.compile import (
    HTTP_BOTH,
    PACKET_BUFS,
    REQ_BUFS,
    RESP_BUFS,
    Content,
    Sig,
    range_match,
)
from secaudit.signatures.decode import Pkt, decode_frame, ip_text, l4_checksum_ok
from secaudit.signatures.dns import DnsMsg, parse_dns
from secaudit.signatures.match import PcreTimeout, match_buffer

__all__ = ["Engine", "Alert", "carries_http", "http_exchanges"]

_LOOKBACK = 65536
_HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"TRACE ",
    b"PATCH ",
    b"PROPFIND ",
)
_ACTION_ORDER = {
    "pass": 0,
    "drop": 1,
    "reject": 2,
    "rejectsrc": 2,
    "rejectdst": 2,
    "rejectboth": 2,
    "alert": 3,
}


@dataclass(slots=True)
class Alert:
    ts: float
    sig: Sig
    src: bytes
    dst: bytes
    sport: int
    dport: int
    proto: int
    flow_id: int
    pcap_cnt: int
    itype: int = -1
    icode: int = -1
    app_proto: str | None = None
    tx: dict[str, Any] = field(default_factory=dict)


class Flow:
    __slots__ = (
        "id",
        "proto",
        "client",
        "cport",
        "server",
        "sport",
        "ts_first",
        "ts_last",
        "pkts",
        "state",
        "streams",
        "established",
        "pkt_established",
        "app",
        "app_dirs",
        "flowbits",
        "flowints",
        "passed",
        "seen_dirs",
        "bytes",
        "done",
        "last_ts",
        "midstream",
        "pd_pkt",
        "flight",
        "last_data_dir",
        "detected_at",
        "app_acked",
    )

    def __init__(self, fid: int, p: Pkt) -> None:
        self.id = fid
        self.proto = p.proto
        self.client = p.src
        self.cport = p.sport
        self.server = p.dst
        self.sport = p.dport
        self.ts_first = p.ts
        self.ts_last = p.ts
        self.pkts = [0, 0]
        self.state = 0  # tcp: 0 none, 1 syn, 2 syn/ack, 3 established, 4 closed
        self.streams = [TcpStream(), TcpStream()]
        self.established = False
        self.pkt_established = False  # established as the current packet found the flow
        self.app: str | None = None
        self.app_dirs: list[str | None] = [None, None]
        self.flowbits: set[str] = set()
        self.flowints: dict[str, int] = {}
        self.passed = False
        self.seen_dirs = [False, False]
        self.bytes = [0, 0]
        self.done = False
        self.last_ts = [p.ts, p.ts]
        self.midstream = False
        self.pd_pkt = [
            0,
            0,
        ]  # pcap index of the packet that completed protocol detection, per direction
        # stream offset, per direction, where its current flight of data began (the first
        # byte it sent after the peer last sent data): where Suricata's raw inspection
        # window starts once the peer's reply has acknowledged the previous flight
        self.flight = [0, 0]
        self.last_data_dir = -1
        # TCP: stream offset, per direction, where its protocol was recognised, and the
        # protocol a packet rule sees: Suricata's app layer reads only data the peer has
        # acknowledged in the established session, so `alert http` without buffers
        # starts with the packet that acknowledges the recognised bytes
        self.detected_at: list[int | None] = [None, None]
        self.app_acked: str | None = None


def _detect_app(data: bytes, port_s: int, port_c: int, to_server: bool) -> str | None:
    if not data:
        return None
    if to_server and data.startswith(_HTTP_METHODS):
        return "http"
    if not to_server and data[:5].upper() == b"HTTP/":
        return "http"
    if T.looks_like_tls(data):
        return "tls"
    if data.startswith(b"SSH-"):
        return "ssh"
    if 53 in (port_s, port_c):
        return "dns"
    if not to_server and data[:4] in (b"220 ", b"220-"):
        if 21 in (port_s, port_c):
            return "ftp"
        return "smtp"
    if to_server and data[:5].upper() in (b"EHLO ", b"HELO "):
        return "smtp"
    if to_server and data[:5].upper() in (b"USER ",):
        return "ftp"
    return None


@dataclass
class _Thresh:
    first: float = 0.0
    count: int = 0
    uniques: set[int] = field(default_factory=set)
    alerted_until: float = -1.0


class Engine:
    """Runs compiled sigs over packets.  Feed frames with `feed()`, then call `finish()`."""

    def __init__(
        self, sigs: list[Sig], prefilter: Any | None = None, checksum: str = "auto"
    ) -> None:
        self.sigs = sorted(sigs, key=_sig_order)
        self.prefilter = prefilter
        self.checksum = checksum
        self.flows: dict[tuple[Any, ...], Flow] = {}
        self.all_flows: list[Flow] = []
        self.defrag = Defragmenter()
        self.alerts: list[Alert] = []
        self.gaps: list[Gap] = []
        self.hostbits: dict[bytes, set[str]] = {}
        self.thresholds: dict[tuple[Any, ...], _Thresh] = {}
        self.pcap_cnt = 0
        self.source = "<pcap>"
        self.carved: list[dict[str, Any]] = []
        self.conns: list[tuple[str, str, float]] = []
        self.names: list[tuple[str, str, str, float]] = []  # (domain|sni|ja3, value, client, ts)
        self.ftp_ports: set[tuple[bytes, int]] = set()
        self._fid_frame = -1
        self._fid_k = 0
        self._bad_pcre: set[int] = set()
        self.packet_sigs = [s for s in self.sigs if not _is_tx_sig(s)]
        # the packet-buffer item lists whose matches depend on the stream window's start
        self._anchored = {
            id(b.items) for s in self.packet_sigs for b in s.buffers if _anchored(b.items)
        }
        self.tx_sigs = [s for s in self.sigs if _is_tx_sig(s)]
        self._csum_checked = 0
        self._csum_bad = 0
        self.validate = checksum != "none"

    # --- packets -------------------------------------------------------------

    def feed(self, frame: bytes, linktype: int, ts: float, index: int | None = None) -> None:
        """One captured frame; `index` is its 1-based number in the capture when the caller
        skips frames (the fast tier feeds only the flows it hands over)."""
        self.pcap_cnt = self.pcap_cnt + 1 if index is None else index
        pkts = decode_frame(frame, linktype, ts)
        for p in pkts:
            # each layer of a tunnel is its own packet; a pass verdict on one layer
            # does not hide the layers inside it (Suricata's tunnel pseudo-packets)
            p.pcap_index = self.pcap_cnt
            self._packet(p)

    def _flow_id(self, frame: int) -> int:
        """frame number * 8 + how many flows that frame already opened: the same id whether
        or not the other flows' frames were fed (the fast tier computes it the same way)."""
        if frame != self._fid_frame:
            self._fid_frame, self._fid_k = frame, 0
        self._fid_k += 1
        return frame * 8 + self._fid_k - 1

    def _checksum_bad(self, p: Pkt) -> bool:
        if not self.validate or p.proto != 6 or not p.l4_ok:
            return False
        return not l4_checksum_ok(p)

    def sample_checksums(self, frames: list[tuple[bytes, int, float]]) -> None:
        """`-k auto`: if over 5 % of the sampled TCP checksums are wrong, the capture host
        offloaded them (Suricata's statistical check); stop validating for this capture."""
        if self.checksum != "auto":
            return
        checked = bad = 0
        for frame, lt, ts in frames:
            for p in decode_frame(frame, lt, ts):
                if p.proto == 6 and p.l4_ok and not p.is_fragment:
                    checked += 1
                    bad += not l4_checksum_ok(p)
        if checked and bad * 20 > checked:
            self.validate = False

    def _packet(self, p: Pkt) -> bool:
        """Process one decoded packet; True when a pass rule matched it."""
        if p.is_fragment:
            self._inspect(p, None, False, None)
            whole = self.defrag.add(
                (p.src, p.dst, p.proto, p.frag_id), p.frag_off, p.more_frags, p.payload, p.ip_hdr
            )
            if whole is None:
                return False
            q = Pkt()
            q.ts, q.ipver, q.src, q.dst, q.proto, q.ttl, q.ip_id = (
                p.ts,
                p.ipver,
                p.src,
                p.dst,
                p.proto,
                p.ttl,
                p.ip_id,
            )
            q.ip_hdr = p.ip_hdr
            q.pcap_index = p.pcap_index
            from secaudit.signatures.decode import _l4

            extra: list[Pkt] = []
            _l4(q, whole, extra)
            p = q
        key: tuple[Any, ...]
        if p.proto in (6, 17, 132):
            a, b = (p.src, p.sport), (p.dst, p.dport)
            key = (p.proto, *(a + b if a <= b else b + a))
        elif p.proto in (1, 58):
            key = (p.proto, *(sorted((p.src, p.dst))), p.icmp_id if p.icmp_id >= 0 else 0)
        else:
            key = (p.proto, *sorted((p.src, p.dst)))
        flow = self.flows.get(key)
        if flow is not None and p.proto == 6 and flow.state == 4 and p.flags & 0x12 == 0x02:
            # a new SYN on a closed 5-tuple starts a new flow
            flow = None
        if flow is None:
            flow = Flow(self._flow_id(p.pcap_index), p)
            if p.proto == 6 and p.flags & 0x12 == 0x12:
                # first seen packet is a SYN/ACK: the receiver is the client
                flow.client, flow.cport, flow.server, flow.sport = p.dst, p.dport, p.src, p.sport
            self.flows[key] = flow
            self.all_flows.append(flow)
        to_server = p.src == flow.client and p.sport == flow.cport
        if p.src == flow.client and p.src == flow.server:
            to_server = p.sport == flow.cport
        d = 0 if to_server else 1
        flow.pkts[d] += 1
        flow.ts_last = p.ts
        flow.last_ts[d] = p.ts
        flow.seen_dirs[d] = True
        new_range: tuple[int, int] | None = None
        was_established = flow.established
        if p.proto == 6 and p.l4_ok:
            new_range = self._tcp(flow, p, d)
        elif p.proto == 17:
            flow.bytes[d] += len(p.payload)
            if flow.seen_dirs[0] and flow.seen_dirs[1]:
                flow.established = True
            if flow.app is None and 53 in (p.sport, p.dport):
                flow.app = "dns"
        elif flow.seen_dirs[0] and flow.seen_dirs[1]:
            flow.established = True
        # flow:established judges the state the packet found (Suricata's flow.c, before the
        # stream engine): the ACK completing the handshake is not established unless it
        # carries data
        flow.pkt_established = was_established or (
            flow.established and (p.proto != 6 or bool(p.payload))
        )
        if flow.passed:
            return True
        passed = self._inspect(p, flow, to_server, new_range)
        if p.proto == 17 and flow.app == "dns" and not passed and p.payload:
            self.dns_udp(flow, p, to_server)
        return passed

    def _tcp(self, flow: Flow, p: Pkt, d: int) -> tuple[int, int] | None:
        syn, ack, rst, fin = p.flags & 2, p.flags & 16, p.flags & 4, p.flags & 1
        if self._checksum_bad(p):
            return None
        st = flow.streams[d]
        # states: 0 none, 1 SYN seen, 2 SYN/ACK seen, 3 established, 4 closed,
        # 7/8 split handshake (server answered the SYN with its own SYN, then SYN/ACK + ACK)
        if syn and not ack:
            if flow.state in (0, 1) and d == 0:
                st.isn = p.seq
                flow.state = 1
            elif flow.state == 1 and d == 1:
                st.isn = p.seq
                flow.state = 7
        elif syn and ack:
            if (flow.state == 1 and d == 1) or flow.state == 0:
                st.isn = p.seq
                flow.state = 2
            elif flow.state == 7 and d == 0:
                flow.state = 8
        elif (flow.state == 2 and ack and d == 0) or (flow.state == 8 and ack and d == 1):
            flow.state = 3
            flow.established = True
        if ack and flow.state == 3 and flow.app_acked is None:
            _note_acked_app(flow, p.ack, 1 - d)
        if rst:
            if flow.state >= 1:
                flow.state = 4
            return None
        if not p.payload:
            if fin:
                st.fin = True
            return None
        seq = p.seq + 1 if syn else p.seq
        if st.isn is None or flow.state == 0:
            return None
        if flow.state in (7, 8) or (flow.state == 1 and not (syn and d == 0)):
            # data before the handshake completes (not TFO): Suricata does not reassemble it
            return None
        before = len(st.data)
        rng = st.add(seq, p.payload, p.ts)
        flow.bytes[d] = len(st.data)
        if rng[1] > rng[0] and flow.last_data_dir != d:
            flow.flight[d] = rng[0]
            flow.last_data_dir = d
        if rng[1] > rng[0] and flow.app_dirs[d] is None:
            flow.app_dirs[d] = _detect_app(bytes(st.data[:64]), flow.sport, flow.cport, d == 0)
            flow.pd_pkt[d] = p.pcap_index
            if flow.app_dirs[d]:
                flow.detected_at[d] = rng[1]
                if flow.app is None:
                    flow.app = flow.app_dirs[d]
        if fin:
            st.fin = True
        del before
        return rng

    # --- detection -------------------------------------------------------------

    def _inspect(
        self, p: Pkt, flow: Flow | None, to_server: bool, new_range: tuple[int, int] | None
    ) -> bool:
        cands: Iterable[Sig] = self.packet_sigs
        if self.prefilter is not None:
            bufs = [p.payload]
            if flow is not None and new_range and new_range[1] > new_range[0]:
                st = flow.streams[0 if to_server else 1]
                bufs.append(bytes(st.data[max(0, new_range[0] - _LOOKBACK) : new_range[1]]))
            cands = self.prefilter.candidates(self.packet_sigs, bufs)
        env_base: dict[str, int] = {}
        passed = False
        for s in cands:
            if passed and s.action != "pass":
                break
            if not self._header_ok(s, p, flow, to_server):
                continue
            if s.app is not None:
                if flow is None or flow.app != s.app:
                    continue
                if not s.buffers and p.proto == 6 and flow.app_acked != s.app:
                    continue  # a bare app-layer rule: the protocol must be past the peer's ACK
            if not self._checks_ok(s, p, flow, to_server):
                continue
            env: dict[str, int] = dict(env_base)
            ok = True
            for b in s.buffers:
                if b.name == "pkt":
                    ok = self._payload_match(s, b.items, p, flow, to_server, new_range, env)
                else:
                    buf = _packet_buffer(b.name, p)
                    ok = buf is not None and self._match(s, b.items, buf, env)
                if not ok:
                    break
            if not ok:
                continue
            if not self._state_ok(s, flow, p):
                continue
            self._state_apply(s, flow, p)
            if s.action == "pass":
                passed = True
                if flow is not None:
                    flow.passed = True
                continue
            self._alert(s, p.ts, p.src, p.dst, p.sport, p.dport, p.proto, flow, p.pcap_index, p)
        return passed

    def _match(self, s: Sig, items: list[Any], buf: bytes, env: dict[str, int]) -> bool:
        if s.sid in self._bad_pcre:
            return False
        try:
            return match_buffer(items, buf, env)
        except PcreTimeout as exc:
            self._bad_pcre.add(s.sid)
            self.gaps.append(
                Gap(
                    kind="unsupported",
                    source=s.rule.source,
                    line=s.rule.line,
                    message=f"sid {s.sid}: pcre {exc.source!r} exceeded its time budget; rule disabled",
                    area="attack",
                    detail={"sid": s.sid, "keyword": "pcre"},
                )
            )
            return False

    def _payload_match(
        self,
        s: Sig,
        items: list[Any],
        p: Pkt,
        flow: Flow | None,
        to_server: bool,
        new_range: tuple[int, int] | None,
        env: dict[str, int],
    ) -> bool:
        has_stream = (
            flow is not None
            and p.proto == 6
            and flow.streams[0 if to_server else 1].isn is not None
        )
        has_stream = has_stream and flow is not None and flow.state >= 1
        if p.proto == 6 and not s.packet_only and has_stream:
            if not new_range or new_range[1] <= new_range[0]:
                if s.stream_only or p.payload or not _needs_data(items):
                    # data that did not enter the stream (e.g. RST payload) is packet-only
                    if not s.stream_only and p.payload and (p.flags & 4):
                        return self._match(s, items, p.payload, env)
                    return False if _needs_data(items) else self._match(s, items, p.payload, env)
                return False
            assert flow is not None
            d = 0 if to_server else 1
            st = flow.streams[d]
            lo = max(0, new_range[0] - _LOOKBACK)
            if id(items) in self._anchored:
                # offset/depth count from the start of Suricata's raw window: the raw
                # progress, which the peer's reply moved to where this flight began
                lo = max(lo, flow.flight[d])
            window = bytes(st.data[lo : new_range[1]])
            if not self._match(s, items, window, env):
                return False
            if new_range[0] > lo:
                # only a match that ends in the new bytes is new
                old = bytes(st.data[lo : new_range[0]])
                if _count_matches(items, old) >= _count_matches(items, window):
                    return False
            return True
        if s.stream_only:
            return False
        if not p.payload and _needs_data(items):
            return False
        return self._match(s, items, p.payload, env)

    def _header_ok(self, s: Sig, p: Pkt, flow: Flow | None, to_server: bool) -> bool:
        if s.ip_protos is not None and p.proto not in s.ip_protos:
            return False
        if s.rule.proto.lower() == "ipv4" and p.ipver != 4:
            return False
        if s.rule.proto.lower() == "ipv6" and p.ipver != 6:
            return False
        src = _addr(p.src)
        dst = _addr(p.dst)
        ports = p.proto in (6, 17, 132) and p.l4_ok
        port_rule = s.sport.pos is not None or s.sport.neg or s.dport.pos is not None or s.dport.neg
        if port_rule and not ports:
            return False
        fwd = (
            s.src.match(src)
            and s.dst.match(dst)
            and (not ports or (s.sport.match(p.sport) and s.dport.match(p.dport)))
        )
        if fwd:
            return True
        if s.bidir:
            return (
                s.src.match(dst)
                and s.dst.match(src)
                and (not ports or (s.sport.match(p.dport) and s.dport.match(p.sport)))
            )
        return False

    def _checks_ok(self, s: Sig, p: Pkt, flow: Flow | None, to_server: bool) -> bool:
        fl = s.flow
        if fl:
            if "to_server" in fl and (flow is None or not to_server):
                return False
            if "to_client" in fl and (flow is None or to_server):
                return False
            if "established" in fl and (flow is None or not flow.pkt_established):
                return False
            if "not_established" in fl and flow is not None and flow.pkt_established:
                return False
            if "only_frag" in fl and not p.is_fragment:
                return False
            if "no_frag" in fl and p.is_fragment:
                return False
        for kw, spec in s.pkt_checks:
            if not _check(kw, spec, p, flow, to_server):
                return False
        pd_only = s.app_protos and not s.buffers and flow is not None
        if pd_only and flow is not None and (p.pcap_index not in flow.pd_pkt or p.pcap_index == 0):
            # a protocol-detection-only rule matches on the packet that completed detection
            return False
        for name, neg, opts in s.app_protos:
            have = flow.app if flow is not None else None
            if "to_server" in opts and flow is not None:
                have = flow.app_dirs[0]
            elif "to_client" in opts and flow is not None:
                have = flow.app_dirs[1]
            want = {"http1": "http", "ssl": "tls", "failed": None}.get(name, name)
            if opts == "" and name == "dns" and have == "doh2":
                eq = True
            else:
                eq = have == want or (want == "http" and have in ("http", "http1"))
            if name == "unknown":
                eq = have is None
            if neg:
                if have is None:
                    return False
                if eq:
                    return False
            elif not eq:
                return False
        return True

    def _state_ok(
        self, s: Sig, flow: Flow | None, p: Pkt | None = None, src: bytes = b"", dst: bytes = b""
    ) -> bool:
        if p is not None:
            src, dst = p.src, p.dst
        bits = flow.flowbits if flow is not None else set()
        for cmd, names in s.flowbits:
            if cmd == "isset":
                if flow is None or not any(n in bits for n in names):
                    return False
            elif cmd == "isnotset" and flow is not None and any(n in bits for n in names):
                return False
        for name, op, arg in s.flowints:
            ints = flow.flowints if flow is not None else {}
            if op in ("isset", "isnotset", "notset"):
                present = name in ints
                if op == "isset" and not present:
                    return False
                if op in ("isnotset", "notset") and present:
                    return False
            elif op in ("==", "!=", "<", ">", "<=", ">="):
                if name not in ints:
                    return False
                v = arg if isinstance(arg, int) else ints.get(str(arg))
                if v is None:
                    return False
                x = ints[name]
                ok = {
                    "==": x == v,
                    "!=": x != v,
                    "<": x < v,
                    ">": x > v,
                    "<=": x <= v,
                    ">=": x >= v,
                }[op]
                if not ok:
                    return False
        for cmd, name, track in s.hostbits:
            if cmd not in ("isset", "isnotset"):
                continue
            hosts = [src] if track == "src" else [dst] if track == "dst" else [src, dst]
            present = any(name in self.hostbits.get(h, set()) for h in hosts)
            if cmd == "isset" and not present:
                return False
            if cmd == "isnotset" and present:
                return False
        return True

    def _state_apply(
        self, s: Sig, flow: Flow | None, p: Pkt | None = None, src: bytes = b"", dst: bytes = b""
    ) -> None:
        if p is not None:
            src, dst = p.src, p.dst
        if flow is not None:
            for cmd, names in s.flowbits:
                for n in names:
                    if cmd == "set":
                        flow.flowbits.add(n)
                    elif cmd == "unset":
                        flow.flowbits.discard(n)
                    elif cmd == "toggle":
                        flow.flowbits ^= {n}
            for name, op, arg in s.flowints:
                ints = flow.flowints
                v = (
                    arg
                    if isinstance(arg, int)
                    else (ints.get(str(arg)) if arg is not None else None)
                )
                if op == "=" and v is not None:
                    ints[name] = v
                elif op == "+" and v is not None:
                    ints[name] = ints.get(name, 0) + v
                elif op == "-" and v is not None:
                    ints[name] = ints.get(name, 0) - v
        for cmd, name, track in s.hostbits:
            if cmd in ("isset", "isnotset"):
                continue
            hosts = [src] if track == "src" else [dst] if track == "dst" else [src, dst]
            for h in hosts:
                hb = self.hostbits.setdefault(h, set())
                if cmd == "set":
                    hb.add(name)
                elif cmd == "unset":
                    hb.discard(name)
                elif cmd == "toggle":
                    hb ^= {name}

    def _thresh_ok(
        self, s: Sig, ts: float, src: bytes, dst: bytes, sport: int, dport: int, flow: Flow | None
    ) -> bool:
        for spec, is_df in ((s.detection_filter, True), (s.threshold, False)):
            if spec is None:
                continue
            track = spec["track"]
            tkey: Any = {
                "by_src": src,
                "by_dst": dst,
                "by_rule": None,
                "by_both": (src, dst),
                "by_flow": flow.id if flow is not None else None,
            }.get(track, src)
            k = (s.sid, s.rule.gid, is_df, tkey)
            st = self.thresholds.get(k)
            if st is None or ts - st.first > spec["seconds"]:
                st = _Thresh(first=ts)
                self.thresholds[k] = st
            uniq = spec.get("unique_on")
            if uniq:
                val = dport if uniq == "dst_port" else sport
                if val in st.uniques:
                    return False
                st.uniques.add(val)
                st.count = len(st.uniques)
            else:
                st.count += 1
            if is_df:
                if st.count <= spec["count"]:
                    return False
                continue
            typ = spec["type"]
            if typ == "limit":
                if st.count > spec["count"]:
                    return False
            elif typ == "threshold":
                if st.count % spec["count"] != 0:
                    return False
            elif typ == "both":
                if st.count != spec["count"]:
                    return False
            elif typ == "backoff":
                c = st.count
                if c & (c - 1):
                    return False
        return True

    def _alert(
        self,
        s: Sig,
        ts: float,
        src: bytes,
        dst: bytes,
        sport: int,
        dport: int,
        proto: int,
        flow: Flow | None,
        pcap_cnt: int,
        p: Pkt | None = None,
        tx: dict[str, Any] | None = None,
    ) -> None:
        if not self._thresh_ok(s, ts, src, dst, sport, dport, flow):
            return
        if s.noalert:
            return
        self.alerts.append(
            Alert(
                ts=ts,
                sig=s,
                src=src,
                dst=dst,
                sport=sport,
                dport=dport,
                proto=proto,
                flow_id=flow.id if flow is not None else 0,
                pcap_cnt=pcap_cnt,
                itype=p.itype if p is not None else -1,
                icode=p.icode if p is not None else -1,
                app_proto=flow.app if flow is not None else None,
                tx=tx or {},
            )
        )

    # --- app-layer transactions ----------------------------------------------------

    def finish(self) -> list[Alert]:
        # FTP control connections first (they announce the data ports); in the second
        # round an "ftp" one only gets its mail carved (a POP3 client's USER looks like FTP),
        # so files keep the order of their connections' first packets
        steps = [(f, self._flow_tx) for f in self.all_flows if f.app == "ftp"]
        steps += [(f, self._mail if f.app == "ftp" else self._flow_tx) for f in self.all_flows]
        for flow, tx in steps:
            if flow.passed:
                continue
            try:
                tx(flow)
            except RecursionError:
                continue
        self.alerts.sort(key=lambda a: (a.ts, a.pcap_cnt))
        return self.alerts

    def _flow_tx(self, flow: Flow) -> None:
        self.conns.append((ip_text(flow.client), ip_text(flow.server), flow.ts_first))
        if flow.proto == 6:
            st0, st1 = flow.streams
            if not st0.data and not st1.data:
                return
            d0, d1 = bytes(st0.data), bytes(st1.data)
            self._files(flow, d0, d1)
            if carries_http(flow.app, d0):
                self._http(flow, d0, d1)
            elif flow.app == "tls":
                self._tls(flow, d0, d1)
            elif flow.app == "dns":
                self._dns_tcp(flow, d0, d1)
        # UDP DNS is handled in _dns_udp via the packet path (see feed_udp_dns)

    def _files(self, flow: Flow, d0: bytes, d1: bytes) -> None:
        """SMTP/POP3/IMAP attachments and FTP data connections (HTTP bodies: _http)."""
        from secaudit.signatures import files as F

        if flow.app == "smtp":
            self.carved.extend(F.smtp_files(_file_base(flow), d0, flow.ts_last))
        elif flow.app == "ftp":
            for port in F.ftp_data_ports(d0, d1):
                self.ftp_ports.add((flow.server, port))
                self.ftp_ports.add((flow.client, port))
        elif flow.app is None and ((flow.server, flow.sport) in self.ftp_ports):
            self.carved.extend(F.ftp_data_files(_file_base(flow), d0, d1, flow.ts_last))
        elif flow.app is None:
            self.carved.extend(F.stream_executables(_file_base(flow), d0, d1, flow.ts_last))
        if flow.app is None:
            self._mail(flow, d1)

    def _mail(self, flow: Flow, d1: bytes | None = None) -> None:
        """Attachments of the messages a POP3/IMAP server sends (files.mailbox_files);
        `d1`: the server stream when the caller already has it as bytes."""
        from secaudit.signatures import files as F

        if flow.proto != 6:
            return
        server = flow.streams[1].data if d1 is None else d1
        if F.mail_protocol(server):  # the greeting decides before the stream is copied
            self.carved.extend(F.mailbox_files(_file_base(flow), bytes(server), flow.ts_last))

    def _tx_sigs(self, app: str) -> list[Sig]:
        return [s for s in self.tx_sigs if s.app == app or (app == "http" and s.app == "file")]

    def _run_tx(
        self,
        flow: Flow,
        app: str,
        sides: dict[str, dict[str, list[bytes]]],
        ts: dict[str, float],
        raw_streams: dict[str, bytes],
        txinfo: dict[str, Any] | None = None,
        checks: dict[str, Any] | None = None,
    ) -> None:
        for s in self._tx_sigs(app):
            if not self._tx_header_ok(s, flow):
                continue
            order = _tx_sides(s, app)
            for side in order:
                to_server = side == "req"
                if side == "mixed":
                    to_server = False
                if not _tx_direction_ok(s, to_server):
                    continue
                if "established" in s.flow and not flow.established:
                    continue
                p = _flow_pkt(flow, to_server)
                side_checks = dict(checks or {})
                side_checks.update(side_checks.get(side, {}))
                if not self._tx_checks(s, p, flow, to_server, side_checks):
                    continue
                env: dict[str, int] = {}
                ok = True
                for b in s.buffers:
                    if b.name == "pkt":
                        data = raw_streams.get("req" if to_server else "resp", b"")
                        ok = self._match(s, b.items, data, env)
                    else:
                        src_side = side
                        if side == "mixed":
                            src_side = "req" if b.name in REQ_BUFS else "resp"
                        vals = sides.get(src_side, {}).get(b.name)
                        if vals is None and side == "mixed":
                            vals = sides.get("req", {}).get(b.name)
                        if not vals:
                            ok = False
                        else:
                            ok = any(self._match(s, b.items, v, dict(env)) for v in vals)
                            if ok:
                                for v in vals:
                                    e2 = dict(env)
                                    if self._match(s, b.items, v, e2):
                                        env.update(e2)
                                        break
                    if not ok:
                        break
                if not ok:
                    continue
                t = ts.get(side if side != "mixed" else "resp", flow.ts_last)
                if not self._tx_fire(s, flow, to_server, t, txinfo):
                    continue
                if s.action == "pass":
                    break
                if app == "tls" and not (s.bufnames() - {"pkt"}):
                    continue  # TLS state keywords are inspected once per direction
                break

    def _tx_fire(
        self, s: Sig, flow: Flow, to_server: bool, ts: float, txinfo: dict[str, Any] | None
    ) -> bool:
        """A transaction matched: apply its flow/host state and alert (not for pass rules), as
        _run_tx and _dns_tx both do; False when the state keywords reject it."""
        src, dst = (flow.client, flow.server) if to_server else (flow.server, flow.client)
        if not self._state_ok(s, flow, None, src, dst):
            return False
        self._state_apply(s, flow, None, src, dst)
        if s.action != "pass":
            sport, dport = (flow.cport, flow.sport) if to_server else (flow.sport, flow.cport)
            self._alert(s, ts, src, dst, sport, dport, flow.proto, flow, 0, None, txinfo)
        return True

    def _tx_header_ok(self, s: Sig, flow: Flow) -> bool:
        if s.ip_protos is not None and flow.proto not in s.ip_protos:
            return False
        for to_server in (True, False):
            p = _flow_pkt(flow, to_server)
            if self._header_ok(s, p, flow, to_server):
                return True
        return False

    def _tx_checks(
        self, s: Sig, p: Pkt, flow: Flow, to_server: bool, checks: dict[str, Any]
    ) -> bool:
        for kw, spec in s.pkt_checks:
            if kw == "urilen":
                uri = checks.get("uri.raw" if spec[1] else "uri")
                if uri is None or not range_match(spec[0], len(uri)):
                    return False
            elif kw == "ssl_version":
                v = checks.get("tls.version")
                if v is None:
                    return False
                # a leading '!' negates the whole list (Suricata's ssl_version)
                hit = v in [ver for ver, _neg in spec]
                if hit == spec[0][1]:
                    return False
            elif kw == "tls.version":
                if checks.get("tls.version") != spec:
                    return False
            elif kw in ("dns.opcode",):
                neg, rng = spec
                v = checks.get("dns.opcode")
                if v is None or range_match(rng, v) == neg:
                    return False
            elif kw == "dns.rrtype":
                neg, rng, index = spec
                vals = checks.get("dns.rrtypes", [])
                if index == "all":
                    ok = bool(vals) and all(range_match(rng, v) != neg for v in vals)
                elif index is None:
                    ok = any(range_match(rng, v) != neg for v in vals)
                else:
                    ok = -len(vals) <= index < len(vals) and range_match(rng, vals[index]) != neg
                if not ok:
                    return False
            elif not _check(kw, spec, p, flow, to_server):
                return False
        for name, neg, _opts in s.app_protos:
            want = {"http1": "http", "ssl": "tls"}.get(name, name)
            eq = flow.app == want
            if eq == neg:
                return False
        return True

    def _http(self, flow: Flow, d0: bytes, d1: bytes) -> None:
        from secaudit.signatures import files as F

        st0, st1 = flow.streams
        for rq, rs, ts in http_exchanges(d0, d1, st0.ts_at, st1.ts_at, flow.ts_first, flow.ts_last):
            req: dict[str, list[bytes]] = _http_buffers(rq, True) if rq else {}
            resp: dict[str, list[bytes]] = _http_buffers(rs, False) if rs else {}
            raw = {
                "req": d0[rq.start : rq.end] if rq else b"",
                "resp": d1[rs.start : rs.end] if rs else b"",
            }
            checks: dict[str, Any] = {}
            if rq is not None:
                checks["uri"] = req.get("http.uri", [b""])[0]
                checks["uri.raw"] = rq.uri
            info = {
                "hostname": H.host_of(rq).decode("latin-1") if rq else None,
                "url": rq.uri.decode("latin-1") if rq else None,
                "http_method": rq.method.decode("latin-1") if rq else None,
                "status": int(rs.status) if rs and rs.status.isdigit() else None,
            }
            self._run_tx(flow, "http", {"req": req, "resp": resp}, ts, raw, {"http": info}, checks)
            self.carved.extend(F.http_files(_file_base(flow), rq, rs, ts))

    def _tls(self, flow: Flow, d0: bytes, d1: bytes) -> None:
        c = T.parse_tls(d0)
        sv = T.parse_tls(d1)
        req: dict[str, list[bytes]] = {}
        resp: dict[str, list[bytes]] = {}
        if c is not None:
            if c.sni is not None:
                req["tls.sni"] = [c.sni]
                self.names.append(
                    ("sni", c.sni.decode("latin-1"), ip_text(flow.client), flow.ts_first)
                )
            if c.saw_hello and c.ciphers:
                self.names.append(("ja3", c.ja3_hash, ip_text(flow.client), flow.ts_first))
            if c.random:
                req["tls.random"] = [c.random]
                req["tls.random_time"] = [c.random[:4]]
                req["tls.random_bytes"] = [c.random[4:]]
            if c.saw_hello:
                req["ja3.hash"] = [c.ja3_hash.encode()]
                req["ja3.string"] = [c.ja3_string.encode()]
        if sv is not None:
            if sv.random:
                resp["tls.random"] = [sv.random]
                resp["tls.random_time"] = [sv.random[:4]]
                resp["tls.random_bytes"] = [sv.random[4:]]
            if sv.certs:
                f = T.cert_fields(sv.certs[0])
                for k in ("subject", "issuer", "serial", "fingerprint"):
                    if k in f:
                        resp["tls.cert_" + k] = [f[k]]
                sans = T.cert_sans(sv.certs[0])
                if sans:
                    resp["tls.subjectaltname"] = sans  # one buffer per name
        if c is None and sv is None:
            return
        vers: dict[str, Any] = {
            "req": {"tls.version": c.version if c is not None and c.saw_hello else None},
            "resp": {"tls.version": sv.version if sv is not None and sv.saw_hello else None},
        }
        ts = {
            "req": flow.streams[0].ts_at(0) or flow.ts_first,
            "resp": flow.streams[1].ts_at(0) or flow.ts_last,
        }
        self._run_tx(flow, "tls", {"req": req, "resp": resp}, ts, {"req": d0, "resp": d1}, {}, vers)

    def _dns_tcp(self, flow: Flow, d0: bytes, d1: bytes) -> None:
        for data, to_server in ((d0, True), (d1, False)):
            pos = 0
            while pos + 2 <= len(data):
                ln = struct.unpack_from("!H", data, pos)[0]
                msg = data[pos + 2 : pos + 2 + ln]
                pos += 2 + ln
                m = parse_dns(msg)
                if m is not None:
                    st = flow.streams[0 if to_server else 1]
                    self._dns_tx(flow, m, to_server, st.ts_at(pos - 1) or flow.ts_last)

    def dns_udp(self, flow: Flow, p: Pkt, to_server: bool) -> None:
        m = parse_dns(p.payload)
        if m is not None:
            self._dns_tx(flow, m, to_server, p.ts)

    def _dns_tx(self, flow: Flow, m: DnsMsg, to_server: bool, ts: float) -> None:
        side = "req" if not m.response else "resp"
        if not m.response:
            for q, _t in m.queries:
                self.names.append(("domain", q.decode("latin-1"), ip_text(flow.client), ts))
        bufs: dict[str, list[bytes]] = {}
        qnames = [q for q, _t in m.queries]
        if not m.response:
            bufs["dns.query"] = qnames
        bufs["dns.queries.rrname"] = qnames
        bufs["dns.answers.rrname"] = [a for a, _t in m.answers]
        if m.response:
            bufs["dns.response.rrname"] = (
                qnames + [a for a, _t in m.answers] + [a for a, _t in m.authorities] + m.rdata_names
            )
        rrtypes = [t for _a, t in m.answers] if m.response else [t for _q, t in m.queries]
        checks = {"dns.opcode": m.opcode, "dns.rrtypes": rrtypes}
        for s in self._tx_sigs("dns"):
            if not self._tx_header_ok(s, flow):
                continue
            if not _tx_direction_ok(s, to_server):
                continue
            p = _flow_pkt(flow, to_server)
            if not self._header_ok(s, p, flow, to_server):
                continue
            if not self._tx_checks(s, p, flow, to_server, checks):
                continue
            env: dict[str, int] = {}
            ok = True
            for b in s.buffers:
                if b.name == "pkt":
                    ok = self._match(s, b.items, p.payload if p.payload else b"", env)
                    continue
                vals = bufs.get(b.name)
                ok = bool(vals) and any(self._match(s, b.items, v, dict(env)) for v in vals or [])
                if not ok:
                    break
            if not ok:
                continue
            self._tx_fire(s, flow, to_server, ts, {"dns": {"side": side}})


def _tx_direction_ok(s: Sig, to_server: bool) -> bool:
    """The rule's flow:to_server/to_client against a transaction side (one test for all apps)."""
    if "to_server" in s.flow and not to_server:
        return False
    return not ("to_client" in s.flow and to_server)


def _flow_pkt(flow: Flow, to_server: bool) -> Pkt:
    p = Pkt()
    p.proto = flow.proto
    p.l4_ok = True
    if to_server:
        p.src, p.dst, p.sport, p.dport = flow.client, flow.server, flow.cport, flow.sport
    else:
        p.src, p.dst, p.sport, p.dport = flow.server, flow.client, flow.sport, flow.cport
    p.ipver = 4 if len(flow.client) == 4 else 6
    return p


def carries_http(app: str | None, d0: bytes) -> bool:
    """Engine._flow_tx parses HTTP when detection said so or the client starts with a method."""
    return app == "http" or d0.startswith(_HTTP_METHODS)


HttpExchange = tuple[H.HttpMessage | None, H.HttpMessage | None, dict[str, float]]


def http_exchanges(
    d0: bytes,
    d1: bytes,
    ts_at0: Callable[[int], float | None],
    ts_at1: Callable[[int], float | None],
    ts_first: float,
    ts_last: float,
    all_bodies: bool = True,
) -> list[HttpExchange]:
    """Request/response pairs of a connection's two streams, with the capture time of the
    segment that completed each (`ts_at*`: TcpStream.ts_at of each side).  `all_bodies`
    False: each message's bodies[0] only (enough to carve files; see proto.http._bodies)."""
    reqs = H.parse_requests(d0, all_bodies)
    resps = H.parse_responses(d1, reqs, all_bodies) if d1 else []
    out: list[HttpExchange] = []
    for i in range(max(len(reqs), len(resps))):
        rq = reqs[i] if i < len(reqs) else None
        rs = resps[i] if i < len(resps) else None
        ts = {
            "req": (ts_at0(rq.end - 1) if rq else None) or ts_first,
            "resp": (ts_at1(rs.end - 1) if rs else None) or ts_last,
        }
        out.append((rq, rs, ts))
    return out


def _file_base(flow: Flow) -> dict[str, Any]:
    return {"flow_id": flow.id, "client": ip_text(flow.client), "server": ip_text(flow.server)}


# buffers that are one header's value: in both directions, in requests, in responses
_HEADER_BUFS: tuple[tuple[str, bytes], ...] = (
    ("http.connection", b"connection"),
    ("http.content_type", b"content-type"),
    ("http.content_len", b"content-length"),
)
_REQ_HEADER_BUFS: tuple[tuple[str, bytes], ...] = (
    ("http.cookie", b"cookie"),
    ("http.user_agent", b"user-agent"),
    ("http.accept", b"accept"),
    ("http.accept_enc", b"accept-encoding"),
    ("http.accept_lang", b"accept-language"),
    ("http.referer", b"referer"),
    ("http.host.raw", b"host"),
)
_RESP_HEADER_BUFS: tuple[tuple[str, bytes], ...] = (
    ("http.cookie", b"set-cookie"),
    ("http.location", b"location"),
    ("http.server", b"server"),
)


def _put_headers(
    b: dict[str, list[bytes]], m: H.HttpMessage, names: tuple[tuple[str, bytes], ...]
) -> None:
    """Buffer `name` holds header `hname`'s value where m has it (one loop for all three sets)."""
    for name, hname in names:
        v = m.header(hname)
        if v is not None:
            b[name] = [v]


def _http_buffers(m: H.HttpMessage, is_req: bool) -> dict[str, list[bytes]]:
    b: dict[str, list[bytes]] = {}
    hdr_lines = [n + b": " + v for n, v in m.headers]
    norm_hdrs = [n + b": " + v for n, v in m.headers if n.lower() not in (b"cookie", b"set-cookie")]
    b["http.header"] = [b"".join(h + b"\r\n" for h in norm_hdrs)] if m.headers else []
    b["http.header.raw"] = [m.raw_headers] if m.raw_headers else []
    b["http.header_names"] = (
        [b"\r\n" + b"".join(n + b"\r\n" for n, _v in m.headers) + b"\r\n"] if m.headers else []
    )
    b["http.protocol"] = [m.protocol] if m.protocol else []
    b["http.start"] = [m.start_line + b"\r\n" + m.raw_headers] if m.start_line else []
    _put_headers(b, m, _HEADER_BUFS)
    if m.bodies:
        b["file.data"] = list(m.bodies)
    if is_req:
        b["http.request_header"] = hdr_lines
        if m.method:
            b["http.method"] = [m.method]
        if m.uri:
            b["http.uri.raw"] = [m.uri]
            b["http.uri"] = [H.normalize_uri(m.uri)]
        if m.start_line:
            b["http.request_line"] = [m.start_line]
        _put_headers(b, m, _REQ_HEADER_BUFS)
        host = H.host_of(m)
        if host or m.header(b"host") is not None:
            b["http.host"] = [host]
        if m.bodies:
            b["http.request_body"] = list(m.bodies)
    else:
        b["http.response_header"] = hdr_lines
        if m.status:
            b["http.stat_code"] = [m.status]
        if m.reason:
            b["http.stat_msg"] = [m.reason]
        if m.start_line:
            b["http.response_line"] = [m.start_line]
        _put_headers(b, m, _RESP_HEADER_BUFS)
        if m.bodies:
            b["http.response_body"] = list(m.bodies)
    return {k: v for k, v in b.items() if v}


def _tx_sides(s: Sig, app: str) -> list[str]:
    names = s.bufnames() - {"pkt"}
    if app != "http":
        if "to_server" in s.flow:
            return ["req"]
        if "to_client" in s.flow:
            return ["resp"]
        cli = {"tls.sni", "ja3.hash", "ja3.string"}
        srv = {
            "tls.cert_subject",
            "tls.cert_issuer",
            "tls.cert_serial",
            "tls.cert_fingerprint",
            "tls.subjectaltname",
            "ja3s.hash",
        }
        if names & srv and not names & cli:
            return ["resp"]
        if names & cli and not names & srv:
            return ["req"]
        if names & cli and names & srv:
            return ["mixed"]
        return ["req", "resp"]
    req = names & REQ_BUFS
    resp = names & RESP_BUFS
    if "to_server" in s.flow:
        return ["req"]
    if "to_client" in s.flow:
        return ["resp"]
    if req and resp:
        return ["mixed"]
    if resp:
        return ["resp"]
    if req:
        return ["req"]
    if names & HTTP_BOTH:
        return ["req", "resp"]
    return ["req"]


def _is_tx_sig(s: Sig) -> bool:
    if s.app is None:
        return False
    names = s.bufnames()
    if names - {"pkt"} - PACKET_BUFS:
        return True
    if any(
        kw in ("urilen", "ssl_version", "tls.version", "dns.opcode", "dns.rrtype")
        for kw, _ in s.pkt_checks
    ):
        return True
    # no buffers at all (`alert http ... (flow:to_server; ...)`): Suricata inspects it per
    # packet once the flow's protocol is known (see Flow.app_acked)
    return "pkt" not in names and bool(s.buffers or s.tx_checks)


def _sig_order(s: Sig) -> tuple[int, int, int]:
    sets = any(c in ("set", "unset", "toggle") for c, _ in s.flowbits) or any(
        op in ("=", "+", "-") for _n, op, _a in s.flowints
    )
    checks = any(c in ("isset", "isnotset") for c, _ in s.flowbits) or any(
        op not in ("=", "+", "-") for _n, op, _a in s.flowints
    )
    fb = 0 if sets and not checks else 1 if sets and checks else 2 if checks else 1
    return (_ACTION_ORDER.get(s.action, 3), fb, s.order)


def _note_acked_app(flow: Flow, ack: int, side: int) -> None:
    """`ack` from the peer of `side`: once it covers the bytes `side`'s protocol was
    recognised in, packet rules see that protocol (Flow.app_acked)."""
    at = flow.detected_at[side]
    st = flow.streams[side]
    if at is not None and st.isn is not None and st.rel(ack) >= at:
        flow.app_acked = flow.app_dirs[side]


def _anchored(items: list[Any]) -> bool:
    """Does a match depend on where the stream window starts: a content placed by
    offset/depth/startswith (not relative to an earlier match)?"""
    return any(
        isinstance(it, Content)
        and not it.relative
        and (it.offset is not None or it.depth is not None or it.startswith)
        for it in items
    )


def _needs_data(items: list[Any]) -> bool:
    return any(isinstance(it, Content) and not it.negated for it in items) or bool(items)


def _count_matches(items: list[Any], buf: bytes) -> int:
    """How many places the first positive content matches with the whole chain (for stream dedupe)."""
    first = next((it for it in items if isinstance(it, Content) and not it.negated), None)
    if first is None:
        return 1 if match_buffer(items, buf, {}) else 0
    pat = first.pattern.lower() if first.nocase else first.pattern
    hay = buf.lower() if first.nocase else buf
    count = 0
    i = hay.find(pat)
    while i >= 0 and count < 1000:
        count += 1
        i = hay.find(pat, i + 1)
    return count if match_buffer(items, buf, {}) else 0


_ADDR_CACHE: dict[bytes, Any] = {}


def _addr(b: bytes) -> Any:
    a = _ADDR_CACHE.get(b)
    if a is None:
        a = ipaddress.ip_address(b) if len(b) in (4, 16) else ipaddress.ip_address(0)
        if len(_ADDR_CACHE) < 100000:
            _ADDR_CACHE[b] = a
    return a


def _packet_buffer(name: str, p: Pkt) -> bytes | None:
    if name == "ipv4.hdr":
        return p.ip_hdr if p.ipver == 4 else None
    if name == "ipv6.hdr":
        return p.ip_hdr if p.ipver == 6 else None
    if name == "tcp.hdr":
        return p.l4_hdr if p.proto == 6 and p.l4_ok else None
    if name == "udp.hdr":
        return p.l4_hdr if p.proto == 17 and p.l4_ok else None
    if name == "icmpv4.hdr":
        return p.l4_hdr if p.proto == 1 else None
    if name == "icmpv6.hdr":
        return p.l4_hdr if p.proto == 58 else None
    return p.payload


def _check(kw: str, spec: Any, p: Pkt, flow: Flow | None, to_server: bool) -> bool:
    return bool(_check_raw(kw, spec, p, flow, to_server))


def _check_raw(kw: str, spec: Any, p: Pkt, flow: Flow | None, to_server: bool) -> Any:
    if kw == "dsize":
        if p.proto in (6, 17, 1, 58) and not p.l4_ok:
            return False
        if not p.payload and spec[0] in ("!", "!=", ">="):
            # Suricata's signature mask: dsize other than "<", "<=" and "=0" requires a
            # payload (detect-engine-build.c), so "!9" and ">=0" skip an empty packet
            return False
        return bool(range_match(spec, len(p.payload)))
    if kw == "ttl":
        return range_match(spec, p.ttl)
    if kw == "itype":
        return bool(p.itype >= 0 and p.proto in (1, 58) and range_match(spec, p.itype))
    if kw == "icode":
        return p.icode >= 0 and p.proto in (1, 58) and range_match(spec, p.icode)
    if kw == "icmp_id":
        return bool(p.icmp_id >= 0 and range_match(spec, p.icmp_id))
    if kw == "icmp_seq":
        return p.icmp_seq >= 0 and range_match(spec, p.icmp_seq)
    if kw == "id":
        return bool(p.ipver == 4 and range_match(spec, p.ip_id))
    if kw == "window":
        return p.proto == 6 and p.l4_ok and range_match(spec, p.window)
    if kw == "seq":
        return bool(p.proto == 6 and p.l4_ok and range_match(spec, p.seq))
    if kw == "ack":
        return p.proto == 6 and p.l4_ok and range_match(spec, p.ack)
    if kw == "tcp.mss":
        mss = p.tcp_opts.get(2)
        return bool(
            mss is not None and len(mss) == 2 and range_match(spec, int.from_bytes(mss, "big"))
        )
    if kw == "ip_proto":
        op, num, _ = spec
        if op == "!":
            return p.proto != num
        if op == "<":
            return p.proto < num
        if op == ">":
            return p.proto > num
        return p.proto == num
    if kw in ("flags", "tcp.flags"):
        if p.proto != 6 or not p.l4_ok:
            return False
        mod, fl, ignore = spec
        f = p.flags & 0xFF & ~ignore
        if mod == "":
            return f == fl
        if mod == "+":
            return f & fl == fl
        if mod == "*":
            return bool(f & fl) if fl else f == 0
        return f & fl == 0  # '!': none of them set
    if kw == "fragbits":
        mod, fl = spec
        f = p.frag_bits if p.ipver == 4 else (1 if p.more_frags else 0)
        # ip flags: bit0 of frag_bits field is MF (0x1), DF 0x2, reserved 0x4
        f = ((f & 1) << 0) | (f & 2) | (f & 4)
        if mod == "":
            return f == fl
        if mod == "+":
            return f & fl == fl
        if mod == "*":
            return bool(f & fl)
        return f & fl == 0
    if kw == "fragoffset":
        neg, rng = spec
        return range_match(rng, p.frag_off) != neg
    if kw == "ipopts":
        return bool(p.ipopts) if spec == -1 else spec in p.ipopts
    if kw == "stream_size":
        if flow is None or p.proto != 6:
            return False
        which, op, val = spec
        cli, srv = flow.bytes[0] + 1, flow.bytes[1] + 1
        ops = {
            ">": lambda x: x > val,
            "<": lambda x: x < val,
            "=": lambda x: x == val,
            "==": lambda x: x == val,
            "!=": lambda x: x != val,
            ">=": lambda x: x >= val,
            "<=": lambda x: x <= val,
        }
        f = ops.get(op)
        if f is None:
            return False
        if which == "server":
            return f(srv)
        if which == "client":
            return f(cli)
        if which == "both":
            return f(cli) and f(srv)
        return f(cli) or f(srv)
    if kw == "sameip":
        return p.src == p.dst
    return False


def _tcp_conn_hash(pk: np.ndarray) -> np.ndarray:
    """A direction-free hash of each row's TCP 4-tuple (collisions only keep extra rows)."""
    return conn_hash(
        pk["src_hi"], pk["src_lo"], pk["dst_hi"], pk["dst_lo"], pk["sport"], pk["dport"]
    )


def conn_hash(
    src_hi: np.ndarray,
    src_lo: np.ndarray,
    dst_hi: np.ndarray,
    dst_lo: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
) -> np.ndarray:
    """_tcp_conn_hash over separate columns."""
    a = src_lo ^ (src_hi * np.uint64(0x9E3779B97F4A7C15))
    b = dst_lo ^ (dst_hi * np.uint64(0x9E3779B97F4A7C15))
    pa = sport.astype(np.uint64)
    pb = dport.astype(np.uint64)
    with np.errstate(over="ignore"):
        ea = a * np.uint64(0xBF58476D1CE4E5B9) + pa
        eb = b * np.uint64(0xBF58476D1CE4E5B9) + pb
        mixed = (np.minimum(ea, eb) * np.uint64(0x94D049BB133111EB)) ^ np.maximum(ea, eb)
    return np.asarray(mixed, dtype=np.uint64)


def _payload_conns(path: str) -> np.ndarray:
    """Hashes of the TCP connections that carry any payload (a cheap vectorized first pass)."""
    from secaudit.capture import iter_chunks

    keys = [np.empty(0, np.uint64)]
    for chunk in iter_chunks(path):
        pk = chunk.packets
        sel = (pk["proto"] == 6) & (pk["payload_len"] > 0)
        if sel.any():
            keys.append(np.unique(_tcp_conn_hash(pk[sel])))
    return np.unique(np.concatenate(keys))


def frames_of(
    path: str, *, payload_conns_only: bool = False, gaps: list[Gap] | None = None
) -> Iterator[tuple[bytes, int, float]]:
    """(frame bytes, linktype, ts seconds) for each record of a pcap/pcapng.

    payload_conns_only: yield only the frames of TCP connections that carry payload
    (what file carving needs); a capture of bare SYNs then costs one vectorized pass.
    gaps: where the reader's Gaps (a truncated or damaged capture) are appended.
    """
    from secaudit.capture import iter_chunks

    wanted = _payload_conns(path) if payload_conns_only else None
    if wanted is not None and not len(wanted):
        return
    for chunk in iter_chunks(path):
        if gaps is not None:
            gaps.extend(chunk.gaps)
        pk = chunk.packets
        rows = np.arange(len(pk))
        if wanted is not None:
            rows = rows[(pk["proto"] == 6) & np.isin(_tcp_conn_hash(pk), wanted)]
        data = chunk.data
        seen = -1
        offs = pk["data_off"]
        for i in rows:
            off = int(offs[i])
            if off == seen:
                continue
            seen = off
            cap = int(pk["caplen"][i])
            yield bytes(data[off : off + cap]), int(pk["linktype"][i]), int(pk["ts"][i]) / 1e9


def crc(b: bytes) -> int:
    return zlib.crc32(b)
