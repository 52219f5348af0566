"""backup.yaml: which repositories to audit and what "well backed up" means for them.

Format (DESIGN.md, "Backup policy format"): `defaults` + `repositories`; every
key of `defaults` may be overridden per repository, and per group inside a
repository (`groups:` select snapshots by host/paths/tags, restic-style).
Thresholds and their documented defaults live here and in rules/backup.yaml,
never in the audit functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from secaudit.backup.restic import RepoAccess, Snapshot, Timeouts
from secaudit.config import line_of, load_model, load_yaml
from secaudit.errors import ConfigError

__all__ = [
    "BackupPolicy",
    "CheckPolicy",
    "DrillPolicy",
    "EffectivePolicy",
    "GroupPolicy",
    "Keep",
    "RepositoryConfig",
    "load_policy",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)
KEEP_LEVELS = ("hourly", "daily", "weekly", "monthly", "yearly")
_SUBSET_RE = re.compile(r"^(\d+)/(\d+)$|^\d+(\.\d+)?%$|^\d+[kKmMgGtT]?$")


class Keep(BaseModel):
    """Retention the repository must *show* (restic's keep-* levels, calendar periods)."""

    model_config = _STRICT
    last: int | None = Field(None, ge=0)
    hourly: int | None = Field(None, ge=0)
    daily: int | None = Field(None, ge=0)
    weekly: int | None = Field(None, ge=0)
    monthly: int | None = Field(None, ge=0)
    yearly: int | None = Field(None, ge=0)

    def levels(self) -> dict[str, int]:
        """The keep-* options as restic spells them (only those set, non-zero)."""
        return {k: v for k in ("last", *KEEP_LEVELS) if (v := getattr(self, k))}


class CheckPolicy(BaseModel):
    """`restic check` schedule: structural every audit, data reads full or rotating."""

    model_config = _STRICT
    enabled: bool = True
    read_data: bool = False  # full `--read-data` every audit
    read_data_subset: str | None = None  # "n/t" rotates through t groups; "x%"/size random
    full_every_days: float | None = Field(None, gt=0)  # with a subset: full read when older
    coverage_window_days: float = Field(30.0, gt=0)

    @field_validator("read_data_subset")
    @classmethod
    def _subset(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = str(v).strip()
        m = _SUBSET_RE.match(v)
        if not m:
            raise ValueError("expected 'n/t', 'x%' or a size like '500M'")
        if m.group(1) and not (1 <= int(m.group(1)) <= int(m.group(2))):
            raise ValueError("'n/t' needs 1 <= n <= t")
        return v


class DrillPolicy(BaseModel):
    """Restore drill: newest snapshot of (host, path) restored into a temp dir and verified."""

    model_config = _STRICT
    host: str | None = None
    path: str | None = None
    tags: list[str] | None = None
    file: str | None = None  # a probe file that must be among the restored files
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")  # expected content of `file`
    max_files: int = Field(1000, ge=1)  # above this a deterministic sample is restored
    max_bytes: int = Field(256 * 1024 * 1024, ge=1)
    verify_with_dump: int = Field(1, ge=0)  # files re-read with `restic dump` and compared
    rto_minutes: float | None = Field(None, gt=0)  # estimated full restore must fit in it
    every_days: float | None = Field(None, gt=0)  # skip when a passing drill is this recent


class GroupPolicy(BaseModel):
    """Snapshots selected like restic's --host/--path/--tag, with their own RPO/retention."""

    model_config = _STRICT
    name: str
    host: str | None = None  # glob
    paths: list[str] | None = None  # all must be in the snapshot's paths
    tags: list[str] | None = None  # all must be present
    kind: Literal["data", "system"] = "data"
    max_age_hours: float | None = Field(None, gt=0)
    keep: Keep | None = None
    required: bool = True  # no snapshot at all -> stale_backup (never backed up)

    def matches(self, snap: Snapshot) -> bool:
        if self.host is not None and not fnmatchcase(snap.host, self.host):
            return False
        if self.paths is not None and not set(self.paths) <= set(snap.paths):
            return False
        return not (self.tags is not None and not set(self.tags) <= set(snap.tags))


class Settings(BaseModel):
    """Everything `defaults` may set and a repository may override."""

    model_config = _STRICT
    max_age_hours: float | None = Field(None, gt=0)
    keep: Keep | None = None
    offsite_max_lag_snapshots: int | None = Field(None, ge=0)
    offsite_max_lag_hours: float | None = Field(None, gt=0)
    require_offsite: bool | None = None  # no repository is `offsite_of` this one -> offsite_missing
    check: CheckPolicy | None = None
    drill: DrillPolicy | None = None
    locks_allowed: int | None = Field(None, ge=0)
    stale_lock_minutes: float | None = Field(None, gt=0)
    group_by: list[Literal["host", "paths", "tags"]] | None = None
    cadence_tags: bool | None = None
    timeouts: dict[Literal["default", "check", "restore"], float] | None = None
    severity: dict[str, Literal["info", "low", "medium", "high", "critical"]] | None = None


class RepositoryConfig(Settings):
    name: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    password_file: str | None = None
    password_command: str | None = None
    password_env: str | None = None
    offsite_of: str | None = None
    groups: list[GroupPolicy] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_password(self) -> RepositoryConfig:
        given = [
            k for k in ("password_file", "password_command", "password_env") if getattr(self, k)
        ]
        if len(given) != 1:
            raise ValueError(
                "exactly one of password_file, password_command, password_env is required"
            )
        return self


class AssetRef(BaseModel):
    model_config = _STRICT
    name: str
    role: str | None = None
    hostname: str | None = None
    backup_host: str | None = None  # the hostname restic records, when it differs


class BackupPolicy(BaseModel):
    model_config = _STRICT
    defaults: Settings = Field(default_factory=Settings)
    repositories: list[RepositoryConfig]
    assets: str | list[AssetRef] | None = None  # assets.yaml path or inline list
    system_paths: list[str] = Field(default_factory=lambda: ["/", "/etc"])
    restic: dict[Literal["binary", "workers"], str | int] = Field(default_factory=dict)


# Documented defaults (rules/backup.yaml repeats them for people).
DEFAULTS: dict[str, Any] = {
    "max_age_hours": 36.0,
    "keep": Keep(),
    "offsite_max_lag_snapshots": 1,
    "offsite_max_lag_hours": None,
    "require_offsite": False,
    "check": CheckPolicy(),
    "drill": None,
    "locks_allowed": 0,
    "stale_lock_minutes": 30.0,
    "group_by": ["host", "paths"],
    "cadence_tags": True,
    "timeouts": {},
    "severity": {},
}

SEVERITIES: dict[str, str] = {
    "repository_missing": "high",
    "repository_access_denied": "high",
    "repository_unreadable": "high",
    "stale_backup": "high",
    "retention_violation": "medium",
    "retention_not_enforced": "low",
    "offsite_copy_lagging": "medium",
    "offsite_missing": "medium",
    "integrity_check_failed": "high",
    "integrity_check_failed_read_data": "high",
    "restore_drill_failed": "high",
    "rto_exceeded": "medium",
    "lock_present": "medium",
    "repository_empty": "high",
    "missing_backup": "high",
    "system_backup_missing": "medium",
}


@dataclass(frozen=True)
class EffectivePolicy:
    """One repository's settings after defaults and overrides are merged."""

    name: str
    access: RepoAccess
    offsite_of: str | None
    max_age_hours: float
    keep: Keep
    offsite_max_lag_snapshots: int
    offsite_max_lag_hours: float | None
    require_offsite: bool
    check: CheckPolicy
    drill: DrillPolicy | None
    locks_allowed: int
    stale_lock_minutes: float
    group_by: tuple[str, ...]
    cadence_tags: bool
    timeouts: Timeouts
    severity: Mapping[str, str]
    groups: tuple[GroupPolicy, ...]

    def severity_of(self, detector: str) -> str:
        return self.severity.get(detector) or SEVERITIES.get(detector, "medium")


def _merge(defaults: Settings, repo: RepositoryConfig, key: str) -> Any:
    if key in repo.model_fields_set and getattr(repo, key) is not None:
        return getattr(repo, key)
    if key in defaults.model_fields_set and getattr(defaults, key) is not None:
        return getattr(defaults, key)
    return DEFAULTS[key]


_SCHEME_RE = re.compile(r"^[a-z0-9]+:", re.I)


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def effective(policy: BackupPolicy, base: Path) -> list[EffectivePolicy]:
    """Merge defaults into each repository; relative paths are relative to the config file."""
    out = []
    for r in policy.repositories:
        repo = r.repo
        if repo.startswith("local:"):
            repo = "local:" + (_resolve(base, repo[6:]) or "")
        elif not _SCHEME_RE.match(repo):
            repo = _resolve(base, repo) or repo
        severity = {**(policy.defaults.severity or {}), **(r.severity or {})}
        t = {**(policy.defaults.timeouts or {}), **(r.timeouts or {})}
        out.append(
            EffectivePolicy(
                name=r.name,
                access=RepoAccess(
                    name=r.name,
                    repo=repo,
                    password_file=_resolve(base, r.password_file),
                    password_command=r.password_command,
                    password_env=r.password_env,
                ),
                offsite_of=r.offsite_of,
                max_age_hours=float(_merge(policy.defaults, r, "max_age_hours")),
                keep=_merge(policy.defaults, r, "keep"),
                offsite_max_lag_snapshots=int(
                    _merge(policy.defaults, r, "offsite_max_lag_snapshots")
                ),
                offsite_max_lag_hours=_merge(policy.defaults, r, "offsite_max_lag_hours"),
                require_offsite=bool(_merge(policy.defaults, r, "require_offsite")),
                check=_merge(policy.defaults, r, "check"),
                drill=_merge(policy.defaults, r, "drill"),
                locks_allowed=int(_merge(policy.defaults, r, "locks_allowed")),
                stale_lock_minutes=float(_merge(policy.defaults, r, "stale_lock_minutes")),
                group_by=tuple(_merge(policy.defaults, r, "group_by")),
                cadence_tags=bool(_merge(policy.defaults, r, "cadence_tags")),
                timeouts=Timeouts(**{k: float(v) for k, v in t.items()}),
                severity=severity,
                groups=tuple(r.groups),
            )
        )
    return out


def load_policy(path: str | Path) -> tuple[BackupPolicy, list[EffectivePolicy]]:
    """Load and validate backup.yaml (file:line errors), then cross-check names."""
    source = str(path)
    data = load_yaml(path)
    policy = load_model(BackupPolicy, path, data)
    seen: dict[str, int] = {}
    for i, r in enumerate(policy.repositories):
        if r.name in seen:
            raise ConfigError(
                f"repositories.{i}.name: duplicate repository name {r.name!r}",
                source,
                line=line_of(data, ["repositories", i, "name"]),
            )
        seen[r.name] = i
    for i, r in enumerate(policy.repositories):
        if r.offsite_of is not None and r.offsite_of not in seen:
            raise ConfigError(
                f"repositories.{i}.offsite_of: no repository named {r.offsite_of!r}",
                source,
                line=line_of(data, ["repositories", i, "offsite_of"]),
            )
        if r.offsite_of == r.name:
            raise ConfigError(
                f"repositories.{i}.offsite_of: a repository cannot be its own off-site copy",
                source,
                line=line_of(data, ["repositories", i, "offsite_of"]),
            )
    return policy, effective(policy, Path(path).resolve().parent)
