"""违规外联: internal hosts reaching the internet against the policy.

external_link          internal host -> unapproved external address (attempts included)
proxy_bypass           web straight to the internet while links.yaml names a proxy
resolver_bypass        DNS / DoT / DoH straight to the internet while it names resolvers
forbidden_zone_external  a forbidden (classified) zone reaching any external address
remote_access_out      tunnels and remote-access tools leaving the network

A flow is compliant when its destination is approved (CIDR, or a domain seen
in its TLS SNI / HTTP Host / a DNS answer), when the origin is a proxy/
resolver/relay doing its own service, or when a valid exception covers it;
an expired exception excuses nothing and is named in the evidence.
"""

from __future__ import annotations

import fnmatch
import re

import numpy as np
import numpy.typing as npt
import pandas as pd

import secaudit.detect.beacon as _beacon  # noqa: F401  (registers "beacon")
import secaudit.detect.links_internal as _internal  # noqa: F401  (registers the 违规内联 detectors)
from secaudit.detect.links_base import (
    VIEW_TABLES,
    FlowView,
    flow_view,
    is_role,
    links_rules,
    per_origin,
)
from secaudit.detect.links_kernels import MARK_OPENVPN, MARK_SSH, MARK_WIREGUARD
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding, Severity
from secaudit.policy import Policy, Role, ports_match
from secaudit.policy.addr import hilo_of_strings

__all__ = [
    "external_link",
    "forbidden_zone_external",
    "proxy_bypass",
    "remote_access_out",
    "resolver_bypass",
]

BoolArr = npt.NDArray[np.bool_]
_MARK_NAMES = {MARK_SSH: "ssh", MARK_WIREGUARD: "wireguard", MARK_OPENVPN: "openvpn"}


def _excused(v: FlowView) -> BoolArr:
    """Compliant egress: approved destination, a role's own service, a valid exception, or
    a zone of unmanaged devices (guest: direct internet access is what it is for)."""
    return v.approved | v.role_ok | (v.excepted >= 0) | ~v.managed


@register("external_link", Category.EXTERNAL_LINK, needs=("conn", "policy", *VIEW_TABLES))
def external_link(ctx: DetectContext) -> list[Finding]:
    """Internal host <-> unapproved external address, blocked attempts included."""
    if ctx.policy is None:
        return []
    v = flow_view(ctx)
    rows = v.outbound & ~_excused(v)
    return per_origin(
        ctx,
        v,
        rows,
        Category.EXTERNAL_LINK,
        "external_link",
        severity=(Severity.MEDIUM, Severity.LOW),
    )


@register("proxy_bypass", Category.EXTERNAL_LINK, needs=("conn", "policy", *VIEW_TABLES))
def proxy_bypass(ctx: DetectContext) -> list[Finding]:
    """Web traffic straight to the internet while the policy names a web proxy."""
    pol: Policy | None = ctx.policy
    if pol is None or not pol.via_assets("web"):
        return []
    v = flow_view(ctx)
    rules = links_rules(ctx)
    web = ports_match(rules.web_ports, v.proto, v.port)
    proxies = is_role(pol, v.oa, Role.PROXY) | np.isin(v.oa, pol.via_assets("web"))
    rows = v.outbound & web & ~proxies & ~_excused(v)
    return per_origin(
        ctx, v, rows, Category.EXTERNAL_LINK, "proxy_bypass", severity=Severity.MEDIUM
    )


@register("resolver_bypass", Category.EXTERNAL_LINK, needs=("conn", "policy", *VIEW_TABLES))
def resolver_bypass(ctx: DetectContext) -> list[Finding]:
    """DNS, DNS over TLS or DNS over HTTPS to the internet while the policy names resolvers."""
    pol: Policy | None = ctx.policy
    if pol is None or not pol.via_assets("dns"):
        return []
    v = flow_view(ctx)
    rules = links_rules(ctx)
    dns = ports_match(rules.dns_ports, v.proto, v.port)
    doh = _doh(v, rules.doh_ips, rules.doh_domains)
    resolvers = is_role(pol, v.oa, Role.RESOLVER) | np.isin(v.oa, pol.via_assets("dns"))
    rows = v.outbound & (dns | doh) & ~resolvers & ~_excused(v)
    what = np.full(len(rows), None, dtype=object)  # only the reported rows need a kind
    sel = np.flatnonzero(rows)
    what[sel] = np.where(doh[sel], "doh", np.where(v.port[sel] == 853, "dot", "dns")).tolist()
    return per_origin(
        ctx, v, rows, Category.EXTERNAL_LINK, "resolver_bypass", severity=Severity.MEDIUM, what=what
    )


def _doh(v: FlowView, ips: tuple[str, ...], domains: tuple[str, ...]) -> BoolArr:
    """Outbound tcp/443 to a public DoH resolver, by address or server name."""
    https = v.outbound & (v.proto == 6) & (v.port == 443)
    if not https.any():
        return np.asarray(https, dtype=np.bool_)
    rows = np.flatnonzero(https)
    l_hi, l_lo, _ = hilo_of_strings(list(ips))
    r_hi, r_lo = v.r_hi[rows], v.r_lo[rows]
    by_ip = np.zeros(len(rows), dtype=bool)
    for h, lo in set(zip(l_hi.tolist(), l_lo.tolist(), strict=True)):  # a handful of resolvers
        by_ip |= (r_hi == np.uint64(h)) & (r_lo == np.uint64(lo))
    out = np.zeros(len(https), dtype=bool)
    out[rows] = by_ip | _glob_match(v.name[rows], domains)
    return out


def _glob_match(names: npt.NDArray[np.object_], globs: tuple[str, ...]) -> BoolArr:
    """Rows whose name matches a glob ("*.x" also covers "x"); one test per distinct name."""
    return _glob_hits(_names(names), globs)


def _names(names: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.intp], list[str]]:
    """(code per row, distinct names lower-cased); missing names get the code -1."""
    codes, uniques = pd.factorize(pd.Series(names, dtype=object))
    return np.asarray(codes), [str(d).lower() for d in uniques]


def _glob_hits(names: tuple[npt.NDArray[np.intp], list[str]], globs: tuple[str, ...]) -> BoolArr:
    """_glob_match over names already factorized by _names (several glob sets, one pass)."""
    codes, uniques = names
    hits = np.zeros(len(uniques) + 1, dtype=bool)
    if globs:
        # all globs as one compiled alternation (fnmatchcase semantics per glob)
        alts = [fnmatch.translate(g) for g in globs]
        alts += [re.escape(g[2:]) + r"\Z" for g in globs if g.startswith("*.")]
        match = re.compile("|".join(f"(?:{a})" for a in alts)).match
        for i, d in enumerate(uniques):
            hits[i] = match(d) is not None
    return hits[np.where(codes < 0, len(uniques), codes)]


@register("forbidden_zone_external", Category.EXTERNAL_LINK, needs=("conn", "policy", *VIEW_TABLES))
def forbidden_zone_external(ctx: DetectContext) -> list[Finding]:
    """A zone listed in forbidden_zones (default: classified zones) reaching the internet at all."""
    pol: Policy | None = ctx.policy
    if pol is None or not pol.forbidden_zone_ids:
        return []
    v = flow_view(ctx)
    forbidden = np.isin(v.oz, np.array(sorted(pol.forbidden_zone_ids), dtype=np.int32))
    rows = forbidden & (v.rz == -1) & (v.excepted < 0)
    return per_origin(
        ctx,
        v,
        rows,
        Category.EXTERNAL_LINK,
        "forbidden_zone_external",
        severity=(Severity.CRITICAL, Severity.HIGH),
    )


@register("remote_access_out", Category.EXTERNAL_LINK, needs=("conn", "policy", *VIEW_TABLES))
def remote_access_out(ctx: DetectContext) -> list[Finding]:
    """VPN tunnels, SSH/RDP and remote-desktop tools from inside to the internet."""
    if ctx.policy is None:
        return []
    v = flow_view(ctx)
    rules = links_rules(ctx)
    what = np.full(len(v.conn), None, dtype=object)
    cand = np.flatnonzero(v.outbound & ~_excused(v))  # only unexcused outbound flows can matter
    if not len(cand):
        return []
    tool = np.full(len(cand), None, dtype=object)
    proto, port, mark = v.proto[cand], v.port[cand], v.mark[cand]
    names = _names(v.name[cand])
    for ep in rules.remote_access:
        if ep.ports:
            tool[pd.isna(tool) & ports_match(ep.ports, proto, port)] = ep.name
        if ep.domains:
            tool[pd.isna(tool) & _glob_hits(names, ep.domains)] = ep.name
    for mk, label in _MARK_NAMES.items():
        tool[pd.isna(tool) & (mark == mk)] = label
    what[cand] = tool
    rows = pd.notna(what)
    return per_origin(
        ctx, v, rows, Category.EXTERNAL_LINK, "remote_access_out", severity=Severity.HIGH, what=what
    )
