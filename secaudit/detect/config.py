"""Thresholds of the behavioural detectors: typed, with the defaults in one place.

`rules/detect.yaml` documents every key and may override any of them; a user
file given with `--thresholds` overrides on top (only the keys it names).
Every model forbids unknown keys, so a typo is a ConfigError with file:line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from secaudit.config import config_errors, load_yaml
from secaudit.errors import ConfigError

__all__ = ["DEFAULT_RULES", "Thresholds", "load_thresholds"]

DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules" / "detect.yaml"

# Severity ladders: {level: minimum value}; the highest level reached wins.
Ladder = dict[str, float]


def _ladder(levels: dict[str, float]) -> Any:
    """A severity ladder default (a fresh dict per model instance)."""
    return Field(default_factory=lambda: dict(levels))


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScanLimits(_M):
    ports: int = 15  # distinct failed ports on one victim (vertical)
    hosts: int = 25  # distinct victims with failed attempts (horizontal)


class Knock(_M):
    ports: list[int] = Field(
        default_factory=lambda: [21, 22, 23, 135, 139, 445, 1433, 3306, 3389, 5432, 5900, 6379]
    )
    min_targets: int = 6  # distinct failed (host, port) pairs, all on these ports


class Block(_M):
    hosts: int = 10  # distinct failed victims per port within the window ...
    ports: int = 4  # ... on at least this many ports: a (hosts x ports) block


class PortScan(_M):
    window_s: float = 300.0
    internal: ScanLimits = ScanLimits()
    external: ScanLimits = ScanLimits(ports=10, hosts=15)
    knock: Knock = Knock()
    block: Block = Block()
    flood_sources: int = 50  # distinct failing sources on one victim in a window: a flood
    severity: Ladder = _ladder({"medium": 0, "high": 500})


class PingSweep(_M):
    window_s: float = 300.0
    min_targets: int = 10
    monitor_min_replies: int = 4  # a target answering this often is monitored, not swept
    severity: Ladder = _ladder({"low": 0, "medium": 50, "high": 250})


class ArpScan(_M):
    window_s: float = 60.0
    min_targets: int = 20
    severity: Ladder = _ladder({"medium": 0, "high": 200})


class ArpSpoof(_M):
    min_claims: int = 3  # replies/announcements by the second MAC
    window_s: float = 5.0  # a reply without a matching request this recently is unsolicited
    min_unsolicited: int = 10  # unsolicited replies for one IP from a MAC that claims other IPs too
    severity: Ladder = _ladder({"high": 0})


class SynFlood(_M):
    window_s: float = 10.0
    min_half_open: int = 200  # half-open attempts to one (host, port) within the window
    severity: Ladder = _ladder({"high": 0, "critical": 10000})


class Flood(_M):
    window_s: float = 10.0
    min_packets: int = 10000  # toward one host within one window
    max_reply_ratio: float = 0.2  # UDP: packets the target sends back / packets it receives
    severity: Ladder = _ladder({"high": 0, "critical": 50000})


class Amplification(_M):
    ports: list[int] = Field(default_factory=lambda: [19, 53, 123, 161, 389, 1900, 11211])
    min_ratio: float = 10.0  # response bytes / request bytes
    min_resp_bytes: int = 1_000_000  # toward one victim
    min_peers: int = 5  # distinct reflectors
    severity: Ladder = _ladder({"high": 0, "critical": 100_000_000})


class BruteForce(_M):
    window_s: float = 900.0
    min_failures: int = 10  # explicit failed logins (FTP 530, HTTP 401/403, SMB, mail)
    min_attempts: int = 8  # short auth-service sessions (SSH, RDP, …) or login-form POSTs
    max_session_s: float = 60.0
    max_session_bytes: int = 65536
    spray_min_targets: int = 5
    auth_ports: dict[int, str] = Field(
        default_factory=lambda: {
            21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 110: "pop3", 139: "smb",
            143: "imap", 445: "smb", 465: "smtp", 587: "smtp", 993: "imap", 995: "pop3",
            1433: "mssql", 3306: "mysql", 3389: "rdp", 5432: "postgres", 5900: "vnc",
        }
    )  # fmt: skip
    severity: Ladder = _ladder({"medium": 0, "high": 50})


class DnsTunnel(_M):
    min_queries: int = 20
    min_unique: int = 20  # distinct names under one registered domain
    min_unique_ratio: float = 0.5
    long_subdomain: float = 24.0  # mean characters left of the registered domain
    high_entropy: float = 3.8  # mean bits/char of those characters (with min length 12)
    txt_null_ratio: float = 0.5
    hex_ratio: float = 0.5  # share of names whose left part is mostly hex labels (min_hex_len)
    min_hex_len: int = 12
    pooled_entropy: float = 4.6  # bits/char over all distinct left parts together (encoded data)
    pooled_min_unique: int = 50  # ... judged only with this many distinct names
    ignore_suffixes: list[str] = Field(
        default_factory=lambda: ["in-addr.arpa", "ip6.arpa", "local", "_tcp.local"]
    )
    severity: Ladder = _ladder({"high": 0})


class IcmpTunnel(_M):
    min_packets: int = 10
    min_varying_ratio: float = 0.5  # requests whose data bytes 16-47 differ from the pair's usual
    min_varying_size: int = 24  # ... counted only for echo data of at least this size
    max_normal_size: int = 128  # echo data above this (varying in size and content) is not ping
    min_entropy: float = 6.0  # bits/byte of captured echo data
    min_mismatch_ratio: float = 0.5  # replies whose data differ from their request
    severity: Ladder = _ladder({"high": 0})


class LongConnection(_M):
    min_duration_s: float = 3600.0
    protocols: list[str] = Field(default_factory=lambda: ["tcp", "udp"])
    severity: Ladder = _ladder({"low": 0, "medium": 14400})


class DataExfil(_M):
    min_bytes: int = 100_000_000  # sent by one internal host to one external peer
    min_ratio: float = 5.0  # sent / received
    severity: Ladder = _ladder({"medium": 0, "high": 1_000_000_000})


class Retransmission(_M):
    min_data_pkts: int = 50
    min_retrans: int = 10
    min_ratio: float = 0.03
    severity: Ladder = _ladder({"low": 0, "medium": 0.05, "high": 0.15})


class ZeroWindow(_M):
    min_events: int = 5
    min_stall_s: float = 2.0
    severity: Ladder = _ladder({"low": 0, "medium": 10, "high": 60})


class Rejected(_M):
    min_rejected: int = 10
    min_ratio: float = 0.5
    severity: Ladder = _ladder({"low": 0, "medium": 50, "high": 500})


class Unanswered(_M):
    min_attempts: int = 5
    min_ratio: float = 0.8
    internal_only: bool = True
    severity: Ladder = _ladder({"low": 0, "medium": 20, "high": 200})


class IcmpUnreachable(_M):
    min_messages: int = 5
    severity: Ladder = _ladder({"low": 0, "medium": 50, "high": 500})


class DnsFailure(_M):
    min_failures: int = 10  # SERVFAIL/REFUSED from one resolver, or unanswered to it
    min_ratio: float = 0.3
    nxdomain_min: int = 50  # NXDOMAIN storm of one client
    nxdomain_ratio: float = 0.5
    severity: Ladder = _ladder({"low": 0, "medium": 50, "high": 500})


class MalwareTransfer(_M):
    rules: str = "signatures"  # folders relative to rules/ (or absolute)
    yara: str = "yara"
    iocs: str = "iocs"


class Health(_M):
    bin_s: float = 60.0


class Thresholds(BaseModel):
    """All detectors' settings; extra top-level keys belong to other areas' detectors."""

    model_config = ConfigDict(extra="allow", frozen=True)

    port_scan: PortScan = PortScan()
    ping_sweep: PingSweep = PingSweep()
    arp_scan: ArpScan = ArpScan()
    arp_spoof: ArpSpoof = ArpSpoof()
    syn_flood: SynFlood = SynFlood()
    udp_flood: Flood = Flood()
    icmp_flood: Flood = Flood(min_packets=5000)
    amplification: Amplification = Amplification()
    brute_force: BruteForce = BruteForce()
    dns_tunnel: DnsTunnel = DnsTunnel()
    icmp_tunnel: IcmpTunnel = IcmpTunnel()
    long_connection: LongConnection = LongConnection()
    data_exfil: DataExfil = DataExfil()
    retransmission: Retransmission = Retransmission()
    zero_window: ZeroWindow = ZeroWindow()
    rejected: Rejected = Rejected()
    unanswered: Unanswered = Unanswered()
    icmp_unreachable: IcmpUnreachable = IcmpUnreachable()
    dns_failure: DnsFailure = DnsFailure()
    malware_transfer: MalwareTransfer = MalwareTransfer()
    service_health: Health = Health()

    def as_mapping(self) -> dict[str, dict[str, Any]]:
        return {
            str(k): dict(v) if isinstance(v, Mapping) else v for k, v in self.model_dump().items()
        }

    def extra_names(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def load_thresholds(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Thresholds:
    """rules/detect.yaml, then `path` (a user file), then `overrides`, validated."""
    merged: dict[str, Any] = {}
    for p in [DEFAULT_RULES, path]:
        if p is None:
            continue
        data = load_yaml(p, missing_ok=(p == DEFAULT_RULES))
        if data is None:
            continue
        if not isinstance(data, Mapping):
            raise ConfigError("expected a mapping of detector name -> settings", str(p), line=1)
        try:
            Thresholds.model_validate(data)  # locate errors in this file
        except ValidationError as exc:
            errors = config_errors(exc, data, str(p))
            errors[0].all_errors = errors  # type: ignore[attr-defined]
            raise errors[0] from None
        merged = _merge(merged, data)
    if overrides:
        merged = _merge(merged, overrides)
    try:
        return Thresholds.model_validate(merged)
    except ValidationError as exc:
        raise config_errors(exc, merged, "thresholds")[0] from None
