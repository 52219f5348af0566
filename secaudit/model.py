"""Finding and Gap: the two things every detector and audit produces.

A Finding is a problem seen; a Gap is something the audit could *not* see or
check.  Both are frozen and serialize to JSON lines, CSV and Parquet with the
same field names, so reports, history and outside tools agree on them.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "CSV_ENCODING",
    "ResultDisplay",
    "Category",
    "Finding",
    "Gap",
    "Severity",
    "findings_frame",
    "gaps_frame",
    "read_findings",
    "write_findings",
    "write_gaps",
]


class Severity(enum.StrEnum):
    """Ordered severities; compare with `.rank`."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        return value if isinstance(value, Severity) else cls(str(value).lower())


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class Category(enum.StrEnum):
    EXTERNAL_LINK = "external_link"
    INTERNAL_LINK = "internal_link"
    FAULT = "fault"
    MALWARE = "malware"
    ATTACK = "attack"
    EXPOSURE = "exposure"
    TRUST = "trust"
    BACKUP = "backup"


_PLAIN = frozenset({str, int, bool, type(None)})


def _jsonable(value: Any) -> Any:
    """Make evidence values JSON-safe (numpy scalars, sets, timestamps).

    Exact builtin types take a fast path (no ABC isinstance checks): detectors
    build thousands of findings whose evidence is mostly plain dicts/lists/str.
    """
    tp = type(value)
    if tp in _PLAIN:
        return value
    if tp is float:
        return None if value != value else value
    if tp is dict:
        return {
            (k if type(k) is str else str(k)): (v if type(v) in _PLAIN else _jsonable(v))
            for k, v in value.items()
        }
    if tp is list or tp is tuple:
        return [v if type(v) in _PLAIN else _jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value


_ID_JSON = json.JSONEncoder(sort_keys=True)  # what json.dumps(..., sort_keys=True) builds per call


def stable_id(rule_id: str, subject: str, keys: Mapping[str, Any] | None = None) -> str:
    """Same problem in two runs -> same id: hash of rule, subject and identifying keys."""
    blob = _ID_JSON.encode([rule_id, subject, _jsonable(dict(keys or {}))])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """One problem the audit found, with enough evidence to check it by hand."""

    rule_id: str
    detector: str
    category: Category
    severity: Severity
    title: str
    subject: str
    first_seen: str | None = None  # ISO 8601 UTC
    last_seen: str | None = None
    count: int = 1
    evidence: Mapping[str, Any] = field(default_factory=dict)
    controls: tuple[str, ...] = ()
    remediation: str = ""
    id: str = ""
    id_keys: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # normalize in place through __dict__ (frozen: no setattr), cheap when types are right
        d = self.__dict__
        if type(self.category) is not Category:
            d["category"] = Category(self.category)
        if type(self.severity) is not Severity:
            d["severity"] = Severity.parse(self.severity)
        if type(self.controls) is not tuple:
            d["controls"] = tuple(self.controls)
        ev = self.evidence
        d["evidence"] = _jsonable(ev) if type(ev) is dict else _jsonable(dict(ev))
        if not self.id:
            d["id"] = stable_id(self.rule_id, self.subject, self.id_keys)
        d["id_keys"] = None

    @classmethod
    def normalized(
        cls,
        *,
        rule_id: str,
        detector: str,
        category: Category,
        severity: Severity,
        title: str,
        subject: str,
        first_seen: str | None,
        last_seen: str | None,
        count: int,
        evidence: dict[str, Any],
        controls: tuple[str, ...],
        remediation: str,
        id: str,
    ) -> Finding:
        """A Finding from fields already in the form __post_init__ gives them: exact enums,
        a tuple of controls, the id, and evidence that is JSON-plain (builtin dict with str
        keys, list, str, int, float but no NaN, bool, None; no tuples or numpy scalars).

        Bulk builders (detect._common.findings_bulk) make thousands of findings whose
        evidence they built from .tolist() values; re-walking it costs more than the rest.
        The evidence dict is kept, not copied: the caller hands it over.
        """
        f = object.__new__(cls)
        f.__dict__.update(
            rule_id=rule_id, detector=detector, category=category, severity=severity,
            title=title, subject=subject, first_seen=first_seen, last_seen=last_seen,
            count=count, evidence=evidence, controls=controls, remediation=remediation,
            id=id, id_keys=None,
        )  # fmt: skip
        return f

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "detector": self.detector,
            "category": self.category.value,
            "severity": self.severity.value,
            "title": self.title,
            "subject": self.subject,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "count": int(self.count),
            "evidence": dict(self.evidence),
            "controls": list(self.controls),
            "remediation": self.remediation,
        }

    @classmethod
    def from_dict(cls, d: Mapping[Any, Any]) -> Finding:
        names = {f.name for f in dataclasses.fields(cls)} - {"id_keys"}
        kwargs = {str(k): v for k, v in d.items() if k in names}
        for key in ("first_seen", "last_seen"):
            if kwargs.get(key) in ("", None) or kwargs.get(key) != kwargs.get(key):
                kwargs[key] = None
        if isinstance(kwargs.get("evidence"), str):
            kwargs["evidence"] = json.loads(kwargs["evidence"] or "{}")
        if isinstance(kwargs.get("controls"), str):
            kwargs["controls"] = tuple(c for c in kwargs["controls"].split(";") if c)
        return cls(**kwargs)


@dataclass(frozen=True)
class Gap:
    """Something the audit could not see or check; reported beside findings."""

    kind: str  # truncated | corrupt | unsupported | empty | checksum_offload | unreadable | missing_input …
    source: str  # the input: file, repository, scan target
    message: str
    offset: int | None = None  # byte offset where known
    line: int | None = None  # line where known
    area: str | None = None  # which audit area it blinds (a Category value) where known
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", _jsonable(dict(self.detail)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "message": self.message,
            "offset": self.offset,
            "line": self.line,
            "area": self.area,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, d: Mapping[Any, Any]) -> Gap:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


FINDING_COLUMNS = [
    "id", "rule_id", "detector", "category", "severity", "title", "subject",
    "first_seen", "last_seen", "count", "evidence", "controls", "remediation",
]  # fmt: skip


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """Findings as a flat table (evidence as JSON text, controls joined by ';')."""
    rows = []
    for f in findings:
        d = f.to_dict()
        d["evidence"] = json.dumps(d["evidence"], ensure_ascii=False, sort_keys=True)
        d["controls"] = ";".join(d["controls"])
        rows.append(d)
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def gaps_frame(gaps: Iterable[Gap]) -> pd.DataFrame:
    rows = []
    for g in gaps:
        d = g.to_dict()
        d["detail"] = json.dumps(d["detail"], ensure_ascii=False, sort_keys=True)
        rows.append(d)
    return pd.DataFrame(
        rows, columns=["kind", "source", "message", "offset", "line", "area", "detail"]
    )


def _brief(value: Any) -> str:
    """A value as a result's repr shows it: sizes for collections and tables."""
    if isinstance(value, pd.DataFrame):
        return f"<{len(value)} rows x {len(value.columns)} columns>"
    if isinstance(value, (list, tuple, set, frozenset)):
        kind = type(next(iter(value))).__name__ if value else ""
        return f"[{len(value)} {kind}]".replace(" ]", "]")
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ResultDisplay:
    """A short repr and a Jupyter view for result objects (DetectResult, SignatureResult,
    BackupAudit, NmapScan, ...): each field's size, then the most severe findings and the
    gaps as tables.  The generated dataclass repr printed every record: hundreds of
    thousands of characters for one signature run.  Dataclasses using it pass repr=False."""

    __slots__ = ()
    _SHOWN = 20  # findings and gaps rows in the notebook view

    def __repr__(self) -> str:
        parts = [f"{f.name}={_brief(getattr(self, f.name))}" for f in dataclasses.fields(self)]  # type: ignore[arg-type]
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_html_(self) -> str:
        import html

        findings = list(getattr(self, "findings", None) or [])
        gaps = list(getattr(self, "gaps", None) or [])
        out = [f"<p><code>{html.escape(repr(self))}</code></p>"]
        if findings:
            top = sorted(findings, key=lambda f: (-f.severity.rank, f.id))[: self._SHOWN]
            cols = ["severity", "detector", "subject", "title", "first_seen", "count"]
            out.append(findings_frame(top)[cols].to_html(index=False))
            if len(findings) > len(top):
                out.append(f"<p>... {len(findings) - len(top)} more (.findings)</p>")
        if gaps:
            cols = ["kind", "source", "message"]
            out.append(gaps_frame(gaps[: self._SHOWN])[cols].to_html(index=False))
            if len(gaps) > self._SHOWN:
                out.append(f"<p>... {len(gaps) - self._SHOWN} more (.gaps)</p>")
        return "\n".join(out)


# CSV exports start with a UTF-8 byte-order mark: Excel (and WPS in some set-ups) read a
# CSV without one in the system code page (GBK on Chinese Windows) and garble every title;
# pandas, DuckDB and Python's "utf-8-sig" read it as plain UTF-8.
CSV_ENCODING = "utf-8-sig"


def write_findings(findings: Sequence[Finding], path: str | Path) -> Path:
    """Write by suffix: .json (array), .jsonl, .csv, .parquet."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        p.write_text(
            "".join(json.dumps(f.to_dict(), ensure_ascii=False) + "\n" for f in findings),
            encoding="utf-8",
        )
    elif suffix == ".csv":
        buf = io.StringIO()
        findings_frame(findings).to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
        p.write_text(buf.getvalue(), encoding=CSV_ENCODING)
    elif suffix == ".parquet":
        findings_frame(findings).to_parquet(p, index=False)
    else:
        p.write_text(
            json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
    return p


def read_findings(path: str | Path) -> list[Finding]:
    """Read what write_findings wrote (any of its formats)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return [
            Finding.from_dict(r)
            for r in pd.read_csv(p, keep_default_na=False, encoding="utf-8-sig").to_dict("records")
        ]
    if suffix == ".parquet":
        return [Finding.from_dict(r) for r in pd.read_parquet(p).to_dict("records")]
    text = p.read_text(encoding="utf-8")
    if suffix == ".jsonl":
        return [Finding.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("findings", [])
    return [Finding.from_dict(d) for d in data]


def write_gaps(gaps: Sequence[Gap], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(
        json.dumps([g.to_dict() for g in gaps], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return p
