"""The slice of policy the exposure and trust audits need: zone of an address, registration, trust.

`AssetView` is a small protocol so the audits work with secaudit.policy's
Policy (via `asset_view`) and with a plain mapping in notebooks and tests;
it is not a second policy loader.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["AssetView", "SimpleAssets", "asset_view"]

INTERNET = "internet"


class AssetView(Protocol):
    def zone_of(self, addr: str) -> str:
        """Zone name of an address ('internet' when in no zone)."""

    def trust_of(self, zone: str) -> str | None:
        """Trust level of a zone (classified, internal, dmz, management, guest) or None."""

    def is_registered(self, addr: str, mac: str | None) -> bool:
        """Is a device with this address (or MAC) in assets.yaml?"""

    def names_of(self, addr: str) -> list[str]:
        """Host names registered for the address (for certificate hostname checks)."""


@dataclass
class SimpleAssets:
    """AssetView from plain data: zones {name: [cidr…]}, trust {name: level}, assets [{ips, mac, names}]."""

    zones: Mapping[str, Iterable[str]] = field(default_factory=dict)
    trust: Mapping[str, str] = field(default_factory=dict)
    assets: Iterable[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        self._nets = [
            (ipaddress.ip_network(c, strict=False), z)
            for z, cidrs in self.zones.items()
            for c in cidrs
        ]
        self._nets.sort(key=lambda nz: -nz[0].prefixlen)  # longest prefix wins
        self._ips: dict[str, list[str]] = {}
        self._macs: set[str] = set()
        for a in self.assets:
            names = [str(n) for n in a.get("names", [])] + (
                [str(a["name"])] if a.get("name") else []
            )
            for ip in a.get("ips", []):
                self._ips[str(ipaddress.ip_address(ip))] = names
            if a.get("mac"):
                self._macs.add(str(a["mac"]).lower())

    def zone_of(self, addr: str) -> str:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return INTERNET
        for net, zone in self._nets:
            if ip.version == net.version and ip in net:
                return zone
        return INTERNET

    def trust_of(self, zone: str) -> str | None:
        return self.trust.get(zone)

    def is_registered(self, addr: str, mac: str | None) -> bool:
        try:
            key = str(ipaddress.ip_address(addr))
        except ValueError:
            key = addr
        return key in self._ips or (mac is not None and mac.lower() in self._macs)

    def names_of(self, addr: str) -> list[str]:
        return list(self._ips.get(addr, []))


def asset_view(policy: Any) -> AssetView:
    """Adapt a secaudit.policy Policy (or an AssetView already) to the AssetView protocol."""
    if all(hasattr(policy, m) for m in ("zone_of", "trust_of", "is_registered", "names_of")):
        return policy  # type: ignore[no-any-return]
    zones_file = getattr(policy, "zones", None)
    assets_file = getattr(policy, "assets", None)
    zone_list = getattr(zones_file, "zones", zones_file) or []
    asset_list = getattr(assets_file, "assets", assets_file) or []
    zones = {str(z.name): [str(n) for n in z.networks] for z in zone_list}
    trust = {str(z.name): str(getattr(z.trust, "value", z.trust)) for z in zone_list}
    assets = [
        {
            "name": a.name,
            "ips": [str(i) for i in getattr(a, "ips", []) or []],
            "mac": getattr(a, "mac", None),
            "names": [n for n in [getattr(a, "hostname", "")] if n]
            + list(getattr(a, "hostnames", []) or []),
        }
        for a in asset_list
    ]
    return SimpleAssets(zones, trust, assets)
