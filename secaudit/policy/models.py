"""The three policy files as frozen pydantic models (DESIGN.md "Policy format").

`zones.yaml` names networks, `assets.yaml` registers devices, `links.yaml`
says what may talk to what.  Field-level checks (CIDR syntax, port syntax,
MAC syntax) live here so every error carries file:line; cross-file checks
(unknown zone names, duplicates, overlaps) live in `load.py`.
"""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from secaudit.policy.addr import format_mac, parse_mac

__all__ = [
    "AllowRule",
    "ApprovedDest",
    "Asset",
    "AssetsFile",
    "ExceptionRule",
    "External",
    "LinksFile",
    "PortSpec",
    "Role",
    "Trust",
    "Zone",
    "ZonesFile",
    "parse_port",
]

INTERNET = "internet"
# names are ids in links.yaml and findings: letters (any script, so 政务内网 works), digits,
# "_", "." and "-", starting with a letter or digit; no spaces, "*", "/", ":" or ","
_NAME_RE = re.compile(r"[^\W_][\w.\-]*")
_PROTOS = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}
_PROTOS |= {"gre": 47, "esp": 50, "ah": 51}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trust(enum.StrEnum):
    CLASSIFIED = "classified"
    INTERNAL = "internal"
    DMZ = "dmz"
    MANAGEMENT = "management"
    GUEST = "guest"


class Role(enum.StrEnum):
    PROXY = "proxy"
    RESOLVER = "resolver"
    MAIL = "mail"
    GATEWAY = "gateway"
    DHCP = "dhcp"
    NTP = "ntp"
    BACKUP = "backup"
    SERVER = "server"
    WORKSTATION = "workstation"
    PRINTER = "printer"
    NETWORK = "network"


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
        raise ValueError(
            f"bad name {value!r}: expected letters (any script), digits, '_', '.' or '-', "
            "starting with a letter or digit (e.g. gov-internal, 政务内网)"
        )
    return value


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR string like 10.0.0.0/8, got {value!r}")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"bad CIDR {value!r}: {exc}") from None


def _address_or_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A single address (as a /32 or /128) or a CIDR."""
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address or CIDR, got {value!r}")
    text = value.strip()
    if "/" in text:
        return _network(text)
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        raise ValueError(f"bad IP address {value!r}") from None


def _ip(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an IP address string, got {value!r}")
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"bad IP address {value!r}") from None


def _mac(value: Any) -> str | None:
    if value is None:
        return None
    mac = parse_mac(value)
    if mac is None:
        raise ValueError(f"bad MAC address {value!r} (expected aa:bb:cc:dd:ee:ff)")
    return format_mac(mac)


Cidr = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_network)]
HostOrCidr = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(_address_or_network)
]
IpText = Annotated[str, BeforeValidator(_ip)]
Name = Annotated[str, BeforeValidator(_name)]


def _endpoint(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | str:
    """An address or CIDR (as a network), else an asset or zone name (checked by the loader)."""
    if isinstance(value, str) and _NAME_RE.fullmatch(value.strip()) and not _looks_like_ip(value):
        return value.strip()
    if isinstance(value, str) and not _looks_like_ip(value):
        raise ValueError(f"expected an IP address, CIDR, asset or zone name, got {value!r}")
    return _address_or_network(value)


def _looks_like_ip(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+(/\d+)?|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(/\d+)?", text.strip()))


# an exception's end: an address, a CIDR, or the name of an asset (its addresses) or a zone
Endpoint = Annotated[
    ipaddress.IPv4Network | ipaddress.IPv6Network | str, BeforeValidator(_endpoint)
]
MacText = Annotated[str | None, BeforeValidator(_mac)]


class PortSpec(_Frozen):
    """One entry of a `ports` list: proto (None = any) and an inclusive port range."""

    proto: int | None = None
    lo: int = 0
    hi: int = 65535
    text: str = "*"

    def matches_any(self) -> bool:
        return self.proto is None and self.lo == 0 and self.hi == 65535


def parse_port(value: Any) -> PortSpec:
    """'*', 'tcp', 'tcp/443', 'tcp/8000-8080', 'tcp/*', 'icmp' -> PortSpec."""
    if isinstance(value, PortSpec):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if not text:
        raise ValueError(f"expected a port like tcp/443, udp/53, icmp or '*', got {value!r}")
    if text in ("*", "any"):
        return PortSpec(text="*")
    proto_text, _, port_text = text.partition("/")
    if proto_text.isdigit():
        proto = int(proto_text)
    elif proto_text in _PROTOS:
        proto = _PROTOS[proto_text]
    else:
        raise ValueError(f"bad port {value!r}: unknown protocol {proto_text!r} (tcp, udp, icmp…)")
    if port_text in ("", "*"):
        return PortSpec(proto=proto, text=text)
    m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", port_text)
    if not m:
        raise ValueError(f"bad port {value!r}: expected tcp/443 or tcp/8000-8080")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (0 <= lo <= hi <= 65535):
        raise ValueError(f"bad port range {value!r}: ports are 0-65535, low <= high")
    return PortSpec(proto=proto, lo=lo, hi=hi, text=text)


Port = Annotated[PortSpec, BeforeValidator(parse_port)]


class Title(_Frozen):
    zh: str = ""
    en: str = ""


class Zone(_Frozen):
    name: Name
    title: Title = Title()
    trust: Trust
    networks: tuple[Cidr, ...] = Field(min_length=1)
    vlans: tuple[Annotated[int, Field(ge=0, le=4095)], ...] = ()
    description: str = ""

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, v: str) -> str:
        if v in (INTERNET, "*"):
            raise ValueError(f"zone name {v!r} is reserved (everything unlisted is {INTERNET!r})")
        return v


class ZonesFile(_Frozen):
    zones: tuple[Zone, ...] = Field(min_length=1)


class Asset(_Frozen):
    name: Name
    mac: MacText = None
    ips: tuple[IpText, ...] = ()
    zone: str
    role: Role = Role.SERVER
    owner: str = ""
    hostname: str = ""
    description: str = ""


class AssetsFile(_Frozen):
    assets: tuple[Asset, ...] = ()


class AllowRule(_Frozen):
    from_: str = Field(alias="from")
    to: str
    ports: tuple[Port, ...] = (PortSpec(),)
    reason: str = ""


class ApprovedDest(_Frozen):
    """An external destination internal zones may reach directly: a CIDR or a domain glob."""

    cidr: HostOrCidr | None = None
    domain: str | None = None
    ports: tuple[Port, ...] = (PortSpec(),)
    reason: str = ""

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is None:
            return None
        d = v.strip().lower().rstrip(".")
        if not re.fullmatch(r"(\*\.)?[a-z0-9_]([a-z0-9_\-]*\.)*[a-z0-9_\-]+|\*", d):
            raise ValueError(f"bad domain {v!r}: expected example.gov.cn or *.gov.cn")
        return d

    @model_validator(mode="after")
    def _one_of(self) -> ApprovedDest:
        if (self.cidr is None) == (self.domain is None):
            raise ValueError("give exactly one of cidr or domain")
        return self


class Via(_Frozen):
    """Asset names through which everyone else must go out, per service."""

    web: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    mail: tuple[str, ...] = ()
    ntp: tuple[str, ...] = ()


class External(_Frozen):
    approved: tuple[ApprovedDest, ...] = ()
    via: Via = Via()
    forbidden_zones: tuple[str, ...] | None = None


class ExceptionRule(_Frozen):
    """A time-limited waiver for one source -> destination (ports), with its reason.

    Valid from the start of `starts` (optional) to the end of `expires`, both UTC days.
    """

    from_: Endpoint = Field(alias="from")
    to: Endpoint
    ports: tuple[Port, ...] = (PortSpec(),)
    starts: dt.date | None = None
    expires: dt.date
    reason: str = Field(min_length=1)

    @field_validator("expires", "starts", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        if isinstance(v, dt.datetime):
            return v.date()
        return v

    @model_validator(mode="after")
    def _order(self) -> ExceptionRule:
        if self.starts is not None and self.starts > self.expires:
            raise ValueError(
                f"starts {self.starts.isoformat()} is after expires {self.expires.isoformat()}"
            )
        return self


class LinksFile(_Frozen):
    allow: tuple[AllowRule, ...] = ()
    external: External = External()
    exceptions: tuple[ExceptionRule, ...] = ()
