"""Network policy: zones (CIDR/VLAN -> zone), registered assets, allowed links.

policy = load_policy("rules/policy")
zone = policy.zone_of(hi, lo)          # whole columns at once
"""

from __future__ import annotations

from secaudit.policy.load import default_policy, find_policy_dir, load_policy
from secaudit.policy.models import (
    AllowRule,
    ApprovedDest,
    Asset,
    ExceptionRule,
    LinksFile,
    PortSpec,
    Role,
    Trust,
    Zone,
    parse_port,
)
from secaudit.policy.policy import INTERNET, LOCAL, Policy, ports_match

__all__ = [
    "default_policy",
    "INTERNET",
    "LOCAL",
    "AllowRule",
    "ApprovedDest",
    "Asset",
    "ExceptionRule",
    "LinksFile",
    "Policy",
    "PortSpec",
    "Role",
    "Trust",
    "Zone",
    "find_policy_dir",
    "load_policy",
    "parse_port",
    "ports_match",
]
