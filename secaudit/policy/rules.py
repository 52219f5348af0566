"""Thresholds and endpoint lists of the links detectors (rules/links.yaml).

The defaults here are the documented defaults; rules/links.yaml repeats them
with comments (a test keeps both equal).  A policy folder's sibling
`links.yaml` (rules/links.yaml beside rules/policy/) overrides them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from secaudit.config import load_model
from secaudit.policy.models import Port, PortSpec, Trust, parse_port

__all__ = ["LinksRules", "load_links_rules"]


def _ports(*texts: str) -> tuple[PortSpec, ...]:
    return tuple(parse_port(t) for t in texts)


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteAccessEndpoint(_M):
    """A remote-access tool or tunnel recognised by port and/or server name."""

    name: str
    ports: tuple[Port, ...] = ()
    domains: tuple[str, ...] = ()


class BeaconRules(_M):
    min_connections: Annotated[int, Field(ge=4)] = 4
    score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.8
    min_interval_s: Annotated[float, Field(ge=0)] = (
        1.0  # faster than this is a session, not a beacon
    )
    count_full: Annotated[int, Field(ge=1)] = 20  # connections for a full count score
    size_mad_bytes: Annotated[float, Field(gt=0)] = 32.0
    weights: tuple[float, float, float, float] = (
        0.4,
        0.2,
        0.2,
        0.2,
    )  # timing, size, count, coverage
    include_compliant: bool = False  # also score proxy/resolver egress and approved destinations
    # one DNS/NTP exchange is not a session: their periodicity is judged by dns_tunnel/resolver_bypass
    exclude_ports: tuple[Port, ...] = _ports("udp/53", "tcp/53", "udp/123", "udp/137", "udp/5353")


class HiddenNatRules(_M):
    min_packets: Annotated[int, Field(ge=1)] = 5  # per TTL class / fingerprint
    min_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    flag_routed_ttl: bool = True  # all of a host's packets one hop short of a standard initial TTL
    initial_ttls: tuple[int, ...] = (32, 64, 128, 255)
    # IP-ID counters (detect/ipid.py): a sequence with this many packets that moved between
    # this many+1 destinations is one host's global counter; two behind an address are two hosts
    ipid_min_packets: Annotated[int, Field(ge=2)] = 10
    ipid_min_dst_changes: Annotated[int, Field(ge=1)] = 3
    ipid_min_apart: Annotated[int, Field(ge=0, le=32768)] = 4096  # closer counters count once


class LinksRules(_M):
    web_ports: tuple[Port, ...] = _ports("tcp/80", "tcp/443")
    dns_ports: tuple[Port, ...] = _ports("udp/53", "tcp/53", "tcp/853", "udp/853")
    # what an asset of each role may send to the internet itself
    role_egress: dict[str, tuple[Port, ...]] = Field(
        default_factory=lambda: {
            "proxy": _ports("tcp/80", "tcp/443", "tcp/21"),
            "resolver": _ports("udp/53", "tcp/53", "tcp/853"),
            "mail": _ports("tcp/25", "tcp/465", "tcp/587"),
            "ntp": _ports("udp/123"),
        }
    )
    doh_ips: tuple[str, ...] = (
        "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112",
        "208.67.222.222", "208.67.220.220", "94.140.14.14", "94.140.15.15",
        "223.5.5.5", "223.6.6.6", "119.29.29.29", "180.76.76.76", "114.114.114.114",
        "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111",
        "2606:4700:4700::1001", "2620:fe::fe",
    )  # fmt: skip
    doh_domains: tuple[str, ...] = (
        "dns.google", "dns.google.com", "cloudflare-dns.com", "*.cloudflare-dns.com",
        "one.one.one.one", "dns.quad9.net", "doh.opendns.com", "dns.adguard.com",
        "dns.alidns.com", "doh.pub", "doh.360.cn", "mozilla.cloudflare-dns.com",
        "doh.*", "dns.*", "*.doh.*",
    )  # fmt: skip
    remote_access: tuple[RemoteAccessEndpoint, ...] = (
        RemoteAccessEndpoint(name="ssh", ports=_ports("tcp/22")),
        RemoteAccessEndpoint(name="telnet", ports=_ports("tcp/23")),
        RemoteAccessEndpoint(name="rdp", ports=_ports("tcp/3389", "udp/3389")),
        RemoteAccessEndpoint(name="vnc", ports=_ports("tcp/5900-5903")),
        RemoteAccessEndpoint(name="openvpn", ports=_ports("udp/1194", "tcp/1194")),
        RemoteAccessEndpoint(name="wireguard", ports=_ports("udp/51820")),
        RemoteAccessEndpoint(name="ipsec", ports=_ports("udp/500", "udp/4500", "esp", "ah")),
        RemoteAccessEndpoint(name="pptp", ports=_ports("tcp/1723", "gre")),
        RemoteAccessEndpoint(name="l2tp", ports=_ports("udp/1701")),
        RemoteAccessEndpoint(name="socks", ports=_ports("tcp/1080")),
        RemoteAccessEndpoint(name="tor", ports=_ports("tcp/9001", "tcp/9030", "tcp/9050")),
        RemoteAccessEndpoint(
            name="teamviewer", ports=_ports("tcp/5938", "udp/5938"), domains=("*.teamviewer.com",)
        ),
        RemoteAccessEndpoint(
            name="anydesk",
            ports=_ports("tcp/7070", "tcp/6568"),
            domains=("*.anydesk.com", "*.net.anydesk.com"),
        ),
        RemoteAccessEndpoint(
            name="sunlogin", domains=("*.oray.com", "*.oray.net", "*.sunlogin.net")
        ),
        RemoteAccessEndpoint(name="todesk", domains=("*.todesk.com", "*.todesk.cn")),
        RemoteAccessEndpoint(name="splashtop", domains=("*.splashtop.com",)),
        RemoteAccessEndpoint(name="logmein", domains=("*.logmein.com", "*.logme.in")),
        RemoteAccessEndpoint(
            name="ngrok", domains=("*.ngrok.io", "*.ngrok-free.app", "*.ngrok.app")
        ),
        RemoteAccessEndpoint(name="zerotier", ports=_ports("udp/9993")),
    )
    hotspot_ouis: tuple[str, ...] = (
        "00:15:ff", "18:ee:86", "28:80:a2", "e0:86:14",  # Novatel Wireless / Inseego MiFi
        "00:a0:d5", "28:a3:31", "64:ce:6e", "84:db:2f", "cc:93:4a",  # Sierra Wireless
    )  # fmt: skip
    icmp_error_types: tuple[int, ...] = (3, 4, 5, 11, 12)  # ICMPv4 answers, never initiators
    icmp6_error_types: tuple[int, ...] = (1, 2, 3, 4)
    # zones of these trust levels hold unmanaged devices (visitors' phones and laptops): their
    # devices need no registration and their direct internet access is not 违规外联
    # (zone pairs, forbidden_zones and beacons still apply)
    unmanaged_trust: tuple[Trust, ...] = (Trust.GUEST,)
    max_evidence: Annotated[int, Field(ge=1)] = 20  # destinations / uids listed per finding
    many_ips_per_mac: Annotated[int, Field(ge=2)] = 3  # one unregistered MAC with this many IPs
    beacon: BeaconRules = BeaconRules()
    hidden_nat: HiddenNatRules = HiddenNatRules()


def load_links_rules(path: str | Path | None = None) -> LinksRules:
    """rules/links.yaml -> LinksRules (defaults when `path` is None)."""
    if path is None:
        return LinksRules()
    return load_model(LinksRules, path)
