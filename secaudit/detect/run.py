"""The detection runner: captures -> conn + protocol tables -> every registered detector.

One streaming pass: each packet chunk feeds the flow tracker (conn table),
this area's protocol extracts (DNS, ARP, ICMP, streaming TCP analysis, flood counters)
and the links helper's extracts, so a capture is read once.  Then every
registered detector (or the `only` ones) runs on the same DetectContext.
A detector that needs a policy when none is given is skipped with a Gap; a
detector that crashes becomes a Gap naming it (or, with strict=True as the
tests use, the exception propagates).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secaudit.detect.config import Thresholds, load_thresholds
from secaudit.detect.registry import REGISTRY, DetectContext, DetectorSpec
from secaudit.detect.tables import PacketTables, merge_parts, parts_for
from secaudit.errors import ConfigError
from secaudit.model import Finding, Gap, ResultDisplay

__all__ = ["DetectResult", "Extracts", "detect", "extract", "load_detectors", "run_detectors"]

Sources = str | Path | Sequence[str | Path]
_OWN_TABLES = {"conn", "policy", "dns", "arp", "icmp", "tcp_dirs", "tcp_flows", "flood"}


@dataclass(frozen=True, repr=False)
class DetectResult(ResultDisplay):
    """Findings (sorted, deduplicated), gaps, and the tables they were computed from."""

    findings: list[Finding]
    gaps: list[Gap]
    tables: dict[str, Any] = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        from secaudit.model import findings_frame

        return findings_frame(self.findings)


_OWN_MODULES = ("scan", "attacks", "brute", "covert", "faults", "malware")
_LOAD_ERRORS: dict[str, str] = {}


def load_detectors() -> dict[str, DetectorSpec]:
    """Import every module of secaudit.detect so each registers its detectors.

    This area's modules must import; another area's module that fails to
    import (mid-edit, missing dependency) is remembered and reported as a Gap.
    """
    import secaudit.detect as pkg

    for name in _OWN_MODULES:
        importlib.import_module(f"{pkg.__name__}.{name}")
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_") or mod.name in {"run", "registry", *_OWN_MODULES}:
            continue
        try:
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
        except Exception as exc:  # another area's module: report, keep going
            _LOAD_ERRORS[mod.name] = f"{type(exc).__name__}: {exc}"
    return REGISTRY


def load_errors() -> list[Gap]:
    """Gaps for detector modules that could not be imported."""
    return [
        Gap(
            kind="detector_error",
            source="secaudit.detect",
            message=f"detector module {name} could not be loaded: {err}",
            detail={"module": name},
        )
        for name, err in sorted(_LOAD_ERRORS.items())
    ]


def _policy(policy: Any) -> Any:
    if policy is None or not isinstance(policy, (str, Path)):
        return policy
    from secaudit.policy import load_policy

    return load_policy(policy)


def _thresholds(thresholds: Thresholds | str | Path | Mapping[str, Any] | None) -> Thresholds:
    if isinstance(thresholds, Thresholds):
        return thresholds
    if thresholds is None or isinstance(thresholds, (str, Path)):
        return load_thresholds(thresholds)
    return load_thresholds(None, overrides=thresholds)


def _select(only: Iterable[str] | str | None) -> list[DetectorSpec]:
    specs = load_detectors()
    if only is None:
        return [specs[k] for k in sorted(specs)]
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ConfigError(
            f"unknown detector(s) {', '.join(unknown)}; known: {', '.join(sorted(specs))}",
            "--only",
        )
    return [specs[n] for n in dict.fromkeys(names)]


def _needs_links(specs: Sequence[DetectorSpec], policy: Any) -> bool:
    """Build the links extracts only when a detector that can use them will run.

    Without a policy only detectors that name a links_* table beyond flow_view's
    (VIEW_TABLES) need them: beacon then runs on the default policy, where nothing is
    approved by server name and no asset has a role, so the names and markers the
    extracts provide cannot change a result.
    """
    if policy is None:
        from secaudit.detect.links_base import VIEW_TABLES

        return any(
            n.startswith("links_") and n not in VIEW_TABLES
            for s in specs
            if "policy" not in s.needs
            for n in s.needs
        )
    return any(
        s.func.__module__.startswith(("secaudit.detect.links", "secaudit.detect.beacon"))
        for s in specs
    )


@dataclass
class Extracts:
    """What a pass over captures leaves before its tables are finished; mergeable, so the
    extracts of several files (Dask workers', secaudit.distributed) merge like chunks."""

    recs: np.ndarray  # finished conn records (flows/tracker.py OUT_DTYPE)
    sources: list[str]  # capture names; recs["source"] indexes them
    own: PacketTables
    links: Any  # LinksTables, or None when no links detector runs
    gaps: list[Gap]

    def merge(self, other: Extracts) -> None:
        """Append another pass's extracts (another file's) to these."""
        recs = other.recs.copy()
        recs["source"] += len(self.sources)
        self.recs = np.concatenate([self.recs, recs])
        self.sources = [*self.sources, *other.sources]
        merge_parts(self.own, other.own)
        if self.links is not None and other.links is not None:
            merge_parts(self.links, other.links)
        self.gaps = [*self.gaps, *other.gaps]


def extract(
    pcaps: Sources,
    *,
    ignore_checksums: bool,
    quiet: bool = True,
    with_links: bool = True,
    parts: Iterable[str] | None = None,
) -> Extracts:
    """One streaming pass: flow tracker, this area's and the links extracts per chunk.

    `parts`: this area's extracts to build (tables.PART_TABLES; None: all of them)."""
    from secaudit.capture import iter_chunks
    from secaudit.flows import FlowTracker

    links: Any = None
    if with_links:
        try:
            from secaudit.detect.links_tables import LinksTables

            links = LinksTables()
        except Exception:  # links area absent or mid-edit: its detectors report their own gaps
            links = None
    tracker = FlowTracker(ignore_checksums=ignore_checksums)
    own = PacketTables() if parts is None else PacketTables(parts=frozenset(parts))
    gaps: list[Gap] = []
    for chunk in iter_chunks(pcaps, quiet=quiet):
        gaps.extend(chunk.gaps)
        tracker.feed(chunk)
        own.update(chunk.packets, chunk.data)
        if links is not None:
            links.update(chunk.packets, chunk.data)
    recs = tracker.finish()
    gaps.extend(tracker.checksum_gaps())
    return Extracts(recs, list(tracker.sources), own, links, gaps)


def _finish_tables(
    ex: Extracts, local_nets: Iterable[str] | None
) -> tuple[pd.DataFrame, dict[str, Any], list[Gap]]:
    from secaudit.detect._common import conn_frame_coded

    conn = conn_frame_coded(ex.recs, ex.sources, list(local_nets) if local_nets else None)
    tables = ex.own.finish()  # tcp_dirs, tcp_flows, tcp_buckets included
    if ex.links is not None:
        tables.update(ex.links.finish())
    return conn, tables, ex.gaps


def _build_tables(
    pcaps: Sources,
    *,
    ignore_checksums: bool,
    local_nets: Iterable[str] | None,
    quiet: bool,
    with_links: bool = True,
    parts: Iterable[str] | None = None,
    scheduler: str | None = None,
) -> tuple[pd.DataFrame, dict[str, Any], list[Gap]]:
    """Conn + protocol tables of the captures: one local pass, or one Dask task per file
    (`scheduler`) whose extracts are merged in file order."""
    if scheduler is None:
        ex = extract(
            pcaps,
            ignore_checksums=ignore_checksums,
            quiet=quiet,
            with_links=with_links,
            parts=parts,
        )
        return _finish_tables(ex, local_nets)
    from secaudit.distributed import map_files

    files = [str(pcaps)] if isinstance(pcaps, (str, Path)) else [str(p) for p in pcaps]
    per_file = map_files(  # one Dask task per file: extract(file, ...) on a worker
        extract,
        files,
        scheduler,
        ignore_checksums=ignore_checksums,
        with_links=with_links,
        parts=None if parts is None else sorted(parts),
    )
    ex = per_file[0]
    for other in per_file[1:]:
        ex.merge(other)
    return _finish_tables(ex, local_nets)


def _detector_gap(spec: DetectorSpec, source: str, kind: str, message: str) -> Gap:
    """A Gap about one detector: skipped and failed detectors are reported alike."""
    return Gap(
        kind=kind,
        source=source,
        message=message,
        area=spec.category.value,
        detail={"detector": spec.name},
    )


def run_detectors(
    ctx: DetectContext, specs: Sequence[DetectorSpec], *, strict: bool = False
) -> tuple[list[Finding], list[Gap]]:
    """Run `specs` on one context; sort and deduplicate the findings."""
    findings: dict[str, Finding] = {}
    gaps: list[Gap] = []
    source = ",".join(ctx.sources) or "detect"
    for spec in specs:
        if "policy" in spec.needs and ctx.policy is None:
            gaps.append(
                _detector_gap(
                    spec,
                    source,
                    "skipped",
                    f"detector {spec.name} needs a policy (--policy DIR); not run",
                )
            )
            continue
        try:
            result = spec.func(ctx)
        except Exception as exc:
            if strict:
                raise
            gaps.append(
                _detector_gap(
                    spec,
                    source,
                    "detector_error",
                    f"detector {spec.name} failed: {type(exc).__name__}: {exc}",
                )
            )
            continue
        for f in result:
            findings.setdefault(f.id, f)
    ordered = sorted(
        findings.values(),
        key=lambda f: (-f.severity.rank, f.first_seen or "", f.detector, f.subject),
    )
    return ordered, gaps


def detect(
    pcaps: Sources,
    policy: Any = None,
    *,
    only: Iterable[str] | str | None = None,
    thresholds: Thresholds | str | Path | Mapping[str, Any] | None = None,
    lang: str = "en",
    ignore_checksums: bool = True,
    quiet: bool = True,
    strict: bool | None = None,
    scheduler: str | None = None,
) -> DetectResult:
    """Run the detectors on captures.

    policy: a secaudit.policy.Policy or a policy folder (None: policy-bound
    detectors are skipped with a Gap).  only: detector names (list or
    "a,b").  thresholds: a YAML file, a mapping of overrides, or Thresholds
    (defaults: rules/detect.yaml).  strict: re-raise detector crashes (default
    from SECAUDIT_STRICT_DETECTORS=1).  scheduler: address of a Dask distributed scheduler;
    each file is then read by a worker and the extracts merged here (secaudit.distributed).
    """
    if strict is None:
        strict = os.environ.get("SECAUDIT_STRICT_DETECTORS", "") == "1"
    specs = _select(only)
    th = _thresholds(thresholds)
    unknown = [n for n in th.extra_names() if n not in REGISTRY]
    if unknown:
        raise ConfigError(f"settings for unknown detector(s): {', '.join(unknown)}", "thresholds")
    pol = _policy(policy)
    local_nets = None
    conn, tables, gaps = _build_tables(
        pcaps,
        ignore_checksums=ignore_checksums,
        local_nets=local_nets,
        quiet=quiet,
        with_links=_needs_links(specs, pol),
        parts=parts_for(n for s in specs for n in s.needs),
        scheduler=scheduler,
    )
    settings = th.as_mapping()
    settings["_run"] = {"lang": lang}
    srcs = (pcaps,) if isinstance(pcaps, (str, Path)) else tuple(pcaps)
    ctx = DetectContext(
        conn=conn,
        tables=tables,
        policy=pol,
        thresholds=settings,
        sources=tuple(str(s) for s in srcs),
        gaps=tuple(gaps),
    )
    findings, run_gaps = run_detectors(ctx, specs, strict=strict)
    tables = {"conn": conn, **tables}
    policy_gaps = pol.warning_gaps() if pol is not None else []  # overlaps, expired exceptions
    return DetectResult(findings, [*load_errors(), *policy_gaps, *gaps, *run_gaps], tables)
