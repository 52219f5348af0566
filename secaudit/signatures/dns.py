"""Minimal DNS message reader for `dns.*` keywords (until the shared dissector exists).

Bounds-checked; compression pointers must point strictly backwards, so a
crafted message cannot loop.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["DnsMsg", "parse_dns"]


@dataclass
class DnsMsg:
    id: int = 0
    response: bool = False
    opcode: int = 0
    rcode: int = 0
    queries: list[tuple[bytes, int]] = field(default_factory=list)
    answers: list[tuple[bytes, int]] = field(default_factory=list)
    authorities: list[tuple[bytes, int]] = field(default_factory=list)
    rdata_names: list[bytes] = field(
        default_factory=list
    )  # names inside CNAME/PTR/NS/MX/SOA/SRV data


# rtype -> offset of a domain name inside its rdata
_RDATA_NAME_AT = {2: 0, 5: 0, 12: 0, 6: 0, 15: 2, 33: 6, 39: 0}


def _name(msg: bytes, pos: int) -> tuple[bytes, int]:
    labels: list[bytes] = []
    end = -1
    limit = pos
    jumps = 0
    while True:
        if pos >= len(msg):
            raise ValueError("name runs past message")
        ln = msg[pos]
        if ln == 0:
            pos += 1
            break
        if ln & 0xC0 == 0xC0:
            if pos + 1 >= len(msg):
                raise ValueError("truncated pointer")
            ptr = ((ln & 0x3F) << 8) | msg[pos + 1]
            if end < 0:
                end = pos + 2
            if ptr >= limit or jumps > 64:
                raise ValueError("bad compression pointer")
            limit = ptr
            pos = ptr
            jumps += 1
            continue
        labels.append(msg[pos + 1 : pos + 1 + ln])
        pos += 1 + ln
        if sum(len(x) + 1 for x in labels) > 1024:
            raise ValueError("name too long")
    return b".".join(labels), (end if end >= 0 else pos)


def parse_dns(msg: bytes) -> DnsMsg | None:
    if len(msg) < 12:
        return None
    try:
        mid, flags, qd, an, ns, _ar = struct.unpack_from("!HHHHHH", msg)
        d = DnsMsg(
            id=mid, response=bool(flags & 0x8000), opcode=(flags >> 11) & 0xF, rcode=flags & 0xF
        )
        pos = 12
        for _ in range(min(qd, 256)):
            name, pos = _name(msg, pos)
            qtype = struct.unpack_from("!H", msg, pos)[0]
            pos += 4
            d.queries.append((name, qtype))
        for target, count in ((d.answers, an), (d.authorities, ns)):
            for _ in range(min(count, 256)):
                name, pos = _name(msg, pos)
                rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", msg, pos)
                rd = pos + 10
                pos = rd + rdlen
                if pos > len(msg):
                    raise ValueError("rdata runs past message")
                target.append((name, rtype))
                skip = _RDATA_NAME_AT.get(rtype)
                if skip is not None and rdlen > skip:
                    try:
                        rn, nxt = _name(msg, rd + skip)
                        d.rdata_names.append(rn)
                        if rtype == 6:
                            d.rdata_names.append(_name(msg, nxt)[0])
                    except ValueError:
                        pass
    except (ValueError, struct.error, IndexError):
        return d if "d" in locals() and (d.queries or d.answers) else None
    return d
