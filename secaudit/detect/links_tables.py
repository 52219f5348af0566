"""Tables the links detectors read, extracted chunk by chunk from the packets table.

`LinksTables.update(packets, data)` keeps, without a Python loop per packet:

* hosts  - one row per (source MAC, source address, VLAN, TTL, ARP?) with
  packet count and first/last time: who sits behind which MAC (unregistered
  devices, IP/MAC conflicts, dual-homed hosts, TTL baselines for hidden NAT);
* arp    - ARP packets (gratuitous claims of gateway addresses);
* dhcp   - DHCP server replies (rogue DHCP): type, server id, yiaddr, router;
* ra     - IPv6 router advertisements (rogue gateways);
* syn    - TCP SYN fingerprints per source (window, scale, option layout, TTL);
* names  - TLS SNI / HTTP Host per TCP 4-tuple, and remote-access payload markers.

`finish()` returns them as DataFrames with (hi, lo) addresses plus text
columns where detectors join them with the conn table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect.ipid import IpIdCounters
from secaudit.detect.links_kernels import (
    chunk_scan,
    dhcp_fields,
    join_spans,
    merge_counts,
    name_spans,
    row_codes,
    syn_layouts,
)
from secaudit.policy.lookup import addr_text_column

__all__ = ["LinksTables", "first_rows", "fold_codes", "links_tables", "mix64"]

_HOST_KEYS = ["src_mac", "src_hi", "src_lo", "vlan", "ttl", "arp", "uni"]
Cols = dict[str, np.ndarray]  # one chunk's part of a table: column name -> values


@dataclass
class LinksTables:
    """Accumulates the links extracts of successive packet chunks."""

    # per-chunk parts as plain columns (DataFrames are built once, in finish)
    hosts: list[Cols] = field(default_factory=list)
    arp: list[np.ndarray] = field(default_factory=list)
    dhcp: list[pd.DataFrame] = field(default_factory=list)
    ra: list[np.ndarray] = field(default_factory=list)
    syn: list[Cols] = field(default_factory=list)
    names: list[Cols] = field(default_factory=list)
    marks: list[Cols] = field(default_factory=list)
    ipid: IpIdCounters = field(default_factory=IpIdCounters)  # IP-ID sequences per sender
    first_ns: int | None = None
    last_ns: int | None = None

    def update(self, p: np.ndarray, data: np.ndarray) -> None:
        """Extract what the links detectors need from one chunk (schemas.PACKET_DTYPE rows)."""
        if len(p) == 0:
            return
        cands, hosts, (id_entry, id_val, id_dst) = chunk_scan(p)
        arp, dhcp, ra, syn, names, marks, mark, t0, t1 = cands
        self.first_ns = int(t0) if self.first_ns is None else min(self.first_ns, int(t0))
        self.last_ns = int(t1) if self.last_ns is None else max(self.last_ns, int(t1))
        mac, hi, lo, vlan, ttl, arp_host, uni, cnt, tmin, tmax = hosts
        self.hosts.append(
            {
                "src_mac": mac, "src_hi": hi, "src_lo": lo, "vlan": vlan, "ttl": ttl,
                "arp": arp_host, "uni": uni, "pkts": cnt, "first_ns": tmin, "last_ns": tmax,
            }
        )  # fmt: skip
        self.ipid.feed(id_entry, id_val, id_dst, mac, lo)
        if arp.size:
            self.arp.append(
                _take(
                    p,
                    arp,
                    ["ts", "arp_op", "src_lo", "dst_lo", "arp_sha", "arp_tha", "src_mac", "vlan"],
                )  # fmt: skip
            )
        if dhcp.size:
            self._dhcp(p, data, dhcp)
        if ra.size:
            self.ra.append(_take(p, ra, ["ts", "src_hi", "src_lo", "src_mac", "vlan", "ttl"]))
        if syn.size:
            self._syn(p, data, syn)
        if names.size:
            self._names(p, data, names)
        if marks.size:
            self._marks(p, marks, mark)

    def _dhcp(self, p: np.ndarray, data: np.ndarray, idx: np.ndarray) -> None:
        mtype, server, yiaddr, chaddr, router = dhcp_fields(
            idx, p["data_off"], p["caplen"], p["payload_off"], data
        )
        s = _Rows(p, idx)
        ok = mtype > 0
        self.dhcp.append(
            pd.DataFrame(
                {
                    "ts_ns": s["ts"][ok],
                    "src_hi": s["src_hi"][ok],
                    "src_lo": s["src_lo"][ok],
                    "src_mac": s["src_mac"][ok],
                    "vlan": s["vlan"][ok],
                    "mtype": mtype[ok],
                    "server_id": server[ok],
                    "yiaddr": yiaddr[ok],
                    "chaddr": chaddr[ok],
                    "router": router[ok],
                }
            )
        )

    def _syn(self, p: np.ndarray, data: np.ndarray, idx: np.ndarray) -> None:
        """One row per SYN; finish() merges equal fingerprints over all chunks at once."""
        layout, (src_hi, src_lo, src_mac, ttl, win, wscale, ts) = syn_layouts(p, idx, data)
        self.syn.append(
            {
                "src_hi": src_hi, "src_lo": src_lo, "src_mac": src_mac, "ttl": ttl, "win": win,
                "wscale": wscale, "layout": layout, "syns": np.ones(len(idx), dtype=np.int64),
                "first_ns": ts, "last_ns": ts,
            }
        )  # fmt: skip

    def _names(self, p: np.ndarray, data: np.ndarray, cand: np.ndarray) -> None:
        kind, start, length, cols = name_spans(p, cand, data)
        hit = kind > 0
        if not hit.any():
            return
        names = _texts(data, start[hit], length[hit])  # one per connection's first request
        src_hi, src_lo, dst_hi, dst_lo, sport, dport = (c[hit] for c in cols)
        self.names.append(
            {
                "src_hi": src_hi, "src_lo": src_lo, "dst_hi": dst_hi, "dst_lo": dst_lo,
                "sport": sport, "dport": dport,
                "kind": np.where(kind[hit] == 1, "sni", "host"), "name": np.array(names, dtype=object),
            }
        )  # fmt: skip

    def _marks(self, p: np.ndarray, rows: np.ndarray, mark: np.ndarray) -> None:
        s = _Rows(p, rows)
        m = {
            "src_hi": s["src_hi"], "src_lo": s["src_lo"], "dst_hi": s["dst_hi"], "dst_lo": s["dst_lo"],
            "sport": s["sport"], "dport": s["dport"], "proto": s["proto"], "mark": mark,
        }  # fmt: skip
        keep = first_rows(fold_codes(list(m.values())))  # distinct rows (drop_duplicates)
        self.marks.append({c: v[keep] for c, v in m.items()})

    # ------------------------------------------------------------------ results
    def finish(self) -> dict[str, Any]:
        """DataFrames by name: links_hosts, links_arp, links_dhcp, links_ra, links_syn, links_names,
        links_marks; and links_ipid, the IpIdCounters themselves."""
        out: dict[str, Any] = {}
        if self.hosts:
            h = _merge_counts(_concat(self.hosts), _HOST_KEYS, "pkts")
        else:
            h = pd.DataFrame(
                {
                    k: pd.Series(dtype=np.uint64)
                    for k in [*_HOST_KEYS, "pkts", "first_ns", "last_ns"]
                }
            )
        out["links_hosts"] = h
        out["links_ipid"] = self.ipid  # hidden_nat reads counters with its thresholds
        a = (
            np.concatenate(self.arp)
            if self.arp
            else np.zeros(
                0,
                [
                    ("ts", "i8"),
                    ("arp_op", "u1"),
                    ("src_lo", "u8"),
                    ("dst_lo", "u8"),
                    ("arp_sha", "u8"),
                    ("arp_tha", "u8"),
                    ("src_mac", "u8"),
                    ("vlan", "u2"),
                ],
            )
        )
        arp = pd.DataFrame({n: a[n] for n in a.dtype.names or ()})
        out["links_arp"] = arp
        d = (
            pd.concat(self.dhcp, ignore_index=True)
            if self.dhcp
            else pd.DataFrame(
                {
                    c: pd.Series(dtype=np.uint64)
                    for c in [
                        "ts_ns",
                        "src_hi",
                        "src_lo",
                        "src_mac",
                        "vlan",
                        "mtype",
                        "server_id",
                        "yiaddr",
                        "chaddr",
                        "router",
                    ]
                }
            )
        )
        out["links_dhcp"] = d
        r = (
            np.concatenate(self.ra)
            if self.ra
            else np.zeros(
                0,
                [
                    ("ts", "i8"),
                    ("src_hi", "u8"),
                    ("src_lo", "u8"),
                    ("src_mac", "u8"),
                    ("vlan", "u2"),
                    ("ttl", "u1"),
                ],
            )
        )
        ra = pd.DataFrame({n: r[n] for n in r.dtype.names or ()})
        out["links_ra"] = ra
        if self.syn:
            keys = ["src_hi", "src_lo", "src_mac", "ttl", "win", "wscale", "layout"]
            s = _merge_counts(_concat(self.syn), keys, "syns")
        else:
            s = pd.DataFrame(
                {
                    c: pd.Series(dtype=np.uint64)
                    for c in [
                        "src_hi",
                        "src_lo",
                        "src_mac",
                        "ttl",
                        "win",
                        "wscale",
                        "layout",
                        "syns",
                        "first_ns",
                        "last_ns",
                    ]
                }
            )
        out["links_syn"] = s
        names = _distinct(self.names, ["kind", "name"])
        marks = _distinct(self.marks, ["proto", "mark"])
        out["links_names"] = names
        out["links_marks"] = marks
        _add_text(
            [
                (h, "src_hi", "src_lo", "ip"), (arp, None, "src_lo", "spa"),
                (arp, None, "dst_lo", "tpa"), (d, "src_hi", "src_lo", "src"),
                (ra, "src_hi", "src_lo", "src"), (names, "src_hi", "src_lo", "src"),
                (names, "dst_hi", "dst_lo", "dst"), (marks, "src_hi", "src_lo", "src"),
                (marks, "dst_hi", "dst_lo", "dst"),
            ]
        )  # fmt: skip
        return out


class _Rows:
    """Columns of some packet rows, gathered field by field on access: copying whole
    packet records (p[idx]) costs several times more than the few fields read."""

    def __init__(self, p: np.ndarray, idx: np.ndarray) -> None:
        self.p, self.idx = p, idx

    def __getitem__(self, name: str) -> np.ndarray:
        out: np.ndarray = self.p[name][self.idx]
        return out


def _take(p: np.ndarray, idx: np.ndarray, fields: list[str]) -> np.ndarray:
    """A packed structured array of `fields` for rows `idx` (no whole-record copy)."""
    out = np.empty(len(idx), dtype=[(f, p.dtype[f]) for f in fields])
    for f in fields:
        out[f] = p[f][idx]
    return out


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over a uint64 column (wrapping arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    out: np.ndarray = h ^ (h >> np.uint64(31))
    return out


def _texts(data: np.ndarray, start: np.ndarray, length: np.ndarray) -> list[str]:
    """Byte spans of `data` as lowercase latin-1 text without a trailing dot: one copy
    and one decode for all spans, then a slice each."""
    n = np.asarray(length, dtype=np.int64)
    joined = join_spans(data, np.asarray(start, dtype=np.int64), n)
    text = joined.tobytes().decode("latin-1").lower()
    bounds = np.r_[0, np.cumsum(n)].tolist()
    return [text[a:b].rstrip(".") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _concat(parts: list[Cols]) -> Cols:
    """The chunks' columns end to end."""
    return {c: np.concatenate([part[c] for part in parts]) for c in parts[0]}


def _distinct(parts: list[Cols], extra: list[str]) -> pd.DataFrame:
    """The parts' distinct rows (drop_duplicates(): the first of each, its index)."""
    cols = ["src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", *extra]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    whole = _concat(parts)
    keep = _distinct_rows(list(whole.values()))
    return pd.DataFrame(whole).iloc[keep]


def _add_text(columns: list[tuple[pd.DataFrame, str | None, str, str]]) -> None:
    """Address text columns (see addr_text_column): (frame, hi column or None for IPv4 in
    the low one, lo column, new column) each.  One text column for all of them, then sliced:
    every distinct address is formatted once, not once per column it appears in."""
    his, los = [], []
    for df, hi, lo, _ in columns:
        low = np.asarray(df[lo], dtype=np.uint64)
        los.append(low)
        his.append(np.zeros(len(low), np.uint64) if hi is None else np.asarray(df[hi], np.uint64))
    text = addr_text_column(np.concatenate(his), np.concatenate(los)).array
    start = 0
    for (df, _, _, name), low in zip(columns, los, strict=True):
        end = start + len(low)
        # an empty column stays an object column, as addr_text_column makes it
        df[name] = (
            pd.Series(text[start:end], index=df.index) if end > start else np.zeros(0, object)
        )
        start = end


def fold_codes(cols: list[Any]) -> npt.NDArray[np.int64]:
    """One code per distinct row of the columns, numbered in order of first appearance
    (values compared as groupby and drop_duplicates compare them): integer columns as
    uint64, text columns by their codes, rows compared exactly (row_codes)."""
    ints = [
        np.asarray(c, dtype=np.uint64)
        if np.asarray(c).dtype.kind in "iub"
        else pd.factorize(c, use_na_sentinel=False)[0].astype(np.uint64)
        for c in cols
    ]
    codes: npt.NDArray[np.int64] = row_codes(np.column_stack(ints))
    return codes


def _distinct_rows(cols: list[np.ndarray]) -> npt.NDArray[np.int64]:
    """Rows that hold the first of each distinct row of the columns (drop_duplicates).

    The integer columns are folded first; text columns are factorized only among the rows
    whose integers repeat (a server name per connection seldom does), since hashing every
    Python string costs more than all the integer columns together."""
    ints = [c for c in cols if c.dtype.kind in "iub"]
    texts = [c for c in cols if c.dtype.kind not in "iub"]
    g = fold_codes(ints) if ints else np.zeros(len(cols[0]), np.int64)
    if texts and len(g):
        dup = np.bincount(g)[g] > 1
        if dup.any():
            text_codes = []
            for c in texts:
                codes = np.zeros(len(g), np.int64)  # rows with unique integers: any code
                codes[dup] = pd.factorize(c[dup], use_na_sentinel=False)[0]
                text_codes.append(codes)
            g = fold_codes([g, *text_codes])
    return first_rows(g)


def first_rows(codes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Rows where a code appears first (codes numbered in order of first appearance)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, codes[1:] > np.maximum.accumulate(codes)[:-1]])


def _merge_counts(df: Cols, keys: list[str], count: str) -> pd.DataFrame:
    """Per-chunk aggregates merged: one row per distinct key (first-appearance order, as
    groupby(sort=False)), `count` summed, first_ns min, last_ns max."""
    g = fold_codes([df[k] for k in keys])
    first = first_rows(g)
    k = len(first)
    out = pd.DataFrame({c: df[c][first] for c in keys})
    total, lo, hi = merge_counts(g, k, df[count], df["first_ns"], df["last_ns"])
    out[count] = total
    out["first_ns"] = lo
    out["last_ns"] = hi
    return out


def links_tables(packets: np.ndarray, data: np.ndarray) -> dict[str, pd.DataFrame]:
    """One-shot form of LinksTables for a single chunk (tests, notebooks)."""
    t = LinksTables()
    t.update(packets, data)
    return t.finish()
