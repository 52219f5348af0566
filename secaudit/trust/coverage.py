"""audit_coverage: assets that should send logs/traps to the collector but were not seen doing so.

Per chunk of packets, the (source, kind) pairs of packets addressed to a
collector on a kind's ports (syslog udp/514, SNMP traps udp/162 …) are
collected with numpy; at the end every asset whose role is listed in
rules/trust.yaml `audit_coverage.roles` and that sent nothing of some kind is
reported.  Absence in a short capture is a hint, hence the low default severity.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from secaudit.i18n import t
from secaudit.model import Category, Finding, Severity
from secaudit.trust.certs import CONTROLS
from secaudit.trust.config import TrustConfig

__all__ = ["CoverageCollector", "coverage_findings", "policy_assets"]

_PROTO = {"udp": 17, "tcp": 6}


def _hilo(addr: str) -> tuple[int, int]:
    a = ipaddress.ip_address(addr)
    n = int(a) | 0xFFFF_0000_0000 if a.version == 4 else int(a)
    return n >> 64, n & ((1 << 64) - 1)


@dataclass
class CoverageCollector:
    """Fed chunk by chunk (secaudit.trust.streams on_chunk); remembers who sent what kind."""

    cfg: TrustConfig
    seen: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    first_ts: int | None = None
    last_ts: int | None = None

    def __post_init__(self) -> None:
        cols = [_hilo(c) for c in self.cfg.audit_coverage.collectors]
        self._chi = np.array([h for h, _ in cols], dtype=np.uint64)
        self._clo = np.array([lo for _, lo in cols], dtype=np.uint64)
        self._kinds: list[tuple[str, int, int]] = []
        for kind, specs in self.cfg.audit_coverage.kinds.items():
            for spec in specs:
                proto, _, port = spec.partition("/")
                self._kinds.append((kind, _PROTO.get(proto, -1), int(port)))

    @property
    def enabled(self) -> bool:
        return len(self._chi) > 0 and bool(self._kinds)

    def __call__(self, chunk: Any) -> None:
        if not self.enabled:
            return
        p = chunk.packets
        if len(p):
            ts = p["ts"]
            self.first_ts = (
                int(ts.min()) if self.first_ts is None else min(self.first_ts, int(ts.min()))
            )
            self.last_ts = (
                int(ts.max()) if self.last_ts is None else max(self.last_ts, int(ts.max()))
            )
        to_collector = np.zeros(len(p), dtype=bool)
        for hi, lo in zip(self._chi, self._clo, strict=True):
            to_collector |= (p["dst_hi"] == hi) & (p["dst_lo"] == lo)
        if not to_collector.any():
            return
        q = p[to_collector]
        for kind, proto, port in self._kinds:
            m = (q["proto"] == proto) & (q["dport"] == port)
            if m.any():
                pairs = np.unique(np.stack([q["src_hi"][m], q["src_lo"][m]], axis=1), axis=0)
                self.seen.setdefault(kind, set()).update((int(a), int(b)) for a, b in pairs)


def policy_assets(policy: Any) -> list[tuple[str, list[str], str]]:
    """(name, ips, role) of every asset of a secaudit.policy Policy."""
    out = []
    for a in getattr(policy, "assets", ()) or ():
        role = getattr(a, "role", "")
        out.append((str(a.name), [str(i) for i in a.ips], str(getattr(role, "value", role))))
    return out


def coverage_findings(
    collector: CoverageCollector,
    assets: Iterable[tuple[str, list[str], str]],
    *,
    lang: str = "en",
) -> list[Finding]:
    """One finding per (asset, kind) never seen reaching a collector."""
    if not collector.enabled:
        return []
    cfg = collector.cfg.audit_coverage
    when = [
        None if v is None else np.datetime_as_string(np.datetime64(v, "ns"), unit="s") + "Z"
        for v in (collector.first_ts, collector.last_ts)
    ]
    out = []
    for name, ips, role in assets:
        if role not in cfg.roles or not ips:
            continue
        mine = {_hilo(ip) for ip in ips}
        missing = [k for k in cfg.kinds if not mine & collector.seen.get(k, set())]
        if cfg.require == "any":
            missing = ["/".join(cfg.kinds)] if len(missing) == len(cfg.kinds) else []
        for kind in missing:
            out.append(
                Finding(
                    rule_id=f"trust.audit_coverage.{kind}",
                    detector="audit_coverage",
                    category=Category.TRUST,
                    severity=Severity(cfg.severity),
                    title=t("finding.audit_coverage.title", lang, subject=name, kind=kind),
                    subject=name,
                    first_seen=when[0],
                    last_seen=when[1],
                    evidence={
                        "asset": name,
                        "ips": ips,
                        "role": role,
                        "kind": kind,
                        "collectors": cfg.collectors,
                        "ports": [p for k in kind.split("/") for p in cfg.kinds.get(k, [])],
                    },  # fmt: skip
                    controls=CONTROLS["audit_coverage"],
                    remediation=t("finding.audit_coverage.remediation", lang),
                    id_keys={"kind": kind},
                )
            )
    return out
