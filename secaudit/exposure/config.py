"""rules/exposure.yaml as frozen pydantic models: scan allow-list and profiles, zone service policy.

Every default lives in the YAML (documented there); the models only say what
shape is expected so a mistake is reported as file:line: field: expectation.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from secaudit.config import Regex, load_model

__all__ = [
    "DefaultPages",
    "DiffPolicy",
    "ExposureConfig",
    "ForbiddenRule",
    "ManagementPolicy",
    "OutdatedRule",
    "ScanProfile",
    "ScanSettings",
    "ZoneServices",
    "load_exposure_config",
    "service_matches",
]

Sev = Literal["info", "low", "medium", "high", "critical"]
_PORT_RE = re.compile(r"^(tcp|udp|sctp)/(\d{1,5})(?:-(\d{1,5}))?$")
# options that would select targets or outputs behind the allow-list's back
_BANNED_ARGS = ("-iL", "-iR", "--resume", "-oX", "-oA", "-oN", "-oG", "-oS", "--stylesheet")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_service_spec(value: str) -> str:
    """'tcp/443', 'udp/1000-2000', a service name ('https') or '*'."""
    m = _PORT_RE.match(value)
    if m:
        lo, hi = int(m.group(2)), int(m.group(3) or m.group(2))
        if not (0 <= lo <= hi <= 65535):
            raise ValueError(f"port range out of 0-65535: {value!r}")
        return value
    if value == "*" or re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$", value):
        return value
    raise ValueError(f"expected 'tcp/PORT', 'udp/LO-HI', a service name or '*', got {value!r}")


def service_matches(spec: str, proto: str, port: int, service: str | None) -> bool:
    """Does a port (proto, number, nmap service name) fall under one allow/deny spec?"""
    if spec == "*":
        return True
    m = _PORT_RE.match(spec)
    if m:
        lo, hi = int(m.group(2)), int(m.group(3) or m.group(2))
        return m.group(1) == proto and lo <= port <= hi
    return service is not None and service.lower() == spec.lower()


class ScanProfile(_Frozen):
    description: str = ""
    args: list[str]
    timeout_s: int = Field(3600, gt=0)

    @field_validator("args")
    @classmethod
    def _no_target_options(cls, v: list[str]) -> list[str]:
        for arg in v:
            if arg.split("=", 1)[0] in _BANNED_ARGS:
                raise ValueError(
                    f"{arg!r} is not allowed in a profile (targets/outputs are set by secaudit)"
                )
        return v


class ScanSettings(_Frozen):
    allow: list[str] = Field(min_length=1)
    profiles: dict[str, ScanProfile]
    stats_every_s: int = Field(5, gt=0)

    @field_validator("allow")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        for item in v:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                if not re.match(
                    r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?(\.[A-Za-z0-9\-]+)*$", item
                ):
                    raise ValueError(
                        f"expected a CIDR, an address or a host name, got {item!r}"
                    ) from None
        return v


class ZoneServices(_Frozen):
    allow: list[str]  # specs; '*' allows everything in this zone

    @field_validator("allow")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        return [_check_service_spec(s) for s in v]


class ForbiddenRule(_Frozen):
    name: str
    services: list[str] = []
    ports: list[str] = []
    script_match: dict[str, str] = {}  # script id -> regex on its output (e.g. SMBv1 dialects)
    zones: list[str] | None = None  # host zones where it applies (None: every zone)
    vantage: list[str] | None = None  # scan vantage zones where it applies (None: any)
    severity: Sev = "high"
    reason: str = ""

    @field_validator("services", "ports")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        return [_check_service_spec(s) for s in v]


class ManagementPolicy(_Frozen):
    services: list[str] = []
    ports: list[str] = []
    allowed_zones: list[str] = []
    severity: Sev = "high"

    @field_validator("services", "ports")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        return [_check_service_spec(s) for s in v]


class OutdatedRule(_Frozen):
    name: str
    cpe: str | None = None  # prefix, e.g. cpe:/a:openbsd:openssh
    product: Regex | None = None  # regex on nmap's product
    below: str  # versions lower than this are outdated
    severity: Sev = "medium"
    reason: str = ""


class DefaultPages(_Frozen):
    scripts: list[str] = ["http-title"]
    patterns: list[Regex] = []  # regexes on those scripts' output
    severity: Sev = "low"


class DiffPolicy(_Frozen):
    """Severity of a newly opened port by the host zone's trust level (policy zones)."""

    new_open_port: dict[str, Sev] = {"default": "medium"}
    host_added: Sev = "medium"
    service_changed: Sev = "low"


class ExposureConfig(_Frozen):
    scan: ScanSettings
    zones: dict[str, ZoneServices] = {}
    forbidden: list[ForbiddenRule] = []
    management: ManagementPolicy = ManagementPolicy()
    outdated: list[OutdatedRule] = []
    default_pages: DefaultPages = DefaultPages()
    diff: DiffPolicy = DiffPolicy()
    unregistered_severity: Sev = "medium"


def load_exposure_config(path: str | Path) -> ExposureConfig:
    """rules/exposure.yaml -> ExposureConfig (ConfigError with file:line on mistakes)."""
    return load_model(ExposureConfig, path)
