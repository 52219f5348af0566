"""The assessment config (samples/assessment.yaml is the example).

Paths are relative to the config file.  Loading only validates the shape
(file:line errors, exit 2); whether each input exists is checked when the
assessment runs, so a missing capture becomes a Gap and "not tested" controls
rather than a crash.
"""

from __future__ import annotations

import importlib
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from secaudit.config import load_model
from secaudit.errors import ConfigError
from secaudit.model import Severity

__all__ = ["AssessmentConfig", "Inputs", "Output", "load_assessment"]

Lang = Literal["zh", "en"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Strict):
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Period(_Strict):
    start: datetime
    end: datetime


class Inputs(_Strict):
    pcaps: tuple[Path, ...] = ()
    policy_dir: Path | None = None
    rules_dir: Path | None = None
    controls: Path | None = None  # default: the project's rules/controls.yaml
    scan_xml: Path | None = None  # nmap XML of this assessment's scan
    baseline_xml: Path | None = None  # previous scan to diff against
    # zone the scan ran from (policy zone name or "internet"): management/forbidden checks
    scan_vantage: str | None = None
    scan_profile: str | None = None  # name of a scan profile (when scanning live)
    backup_config: Path | None = None  # restic backup.yaml
    # For the bundled sample only: "module:function" that builds the backup repositories
    # (called with a folder, returns the backup.yaml path) when backup_config is absent.
    backup_builder: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    python_path: Path | None = None  # folder added to sys.path to import backup_builder


class Output(_Strict):
    languages: tuple[Lang, ...] = ()  # reports to write; default: the config language
    pdf: bool = True
    notebooks_html: bool = True
    history: Path | None = None  # default OUTDIR/history.duckdb


class AssessmentConfig(_Strict):
    organisation: Bilingual
    scope: Bilingual
    period: Period
    assessor: Bilingual | None = None
    now: datetime | None = None  # evaluation time for expiry/freshness (default period.end)
    inputs: Inputs
    language: Lang = "zh"
    fail_on: Severity | Literal["none"] = "none"
    notebooks_dir: Path | None = None  # default: the project's notebooks/
    # Dask distributed scheduler (tcp://host:8786): the links and behaviour notebooks have
    # each capture file read by its workers (secaudit.distributed); None reads them here
    scheduler: str | None = None
    output: Output = Output()
    source: Path = Path(".")  # the config file (set by load_assessment)

    @field_validator("fail_on", mode="before")
    @classmethod
    def _sev(cls, v: object) -> object:
        return str(v).lower() if v is not None else "none"

    @property
    def base(self) -> Path:
        return self.source.parent

    def path(self, p: Path | None) -> Path | None:
        """A config path resolved against the config file's folder."""
        if p is None:
            return None
        return p if p.is_absolute() else (self.base / p).resolve()

    @property
    def evaluation_time(self) -> datetime:
        return self.now or self.period.end

    def languages(self, override: str | None = None) -> tuple[str, ...]:
        first = override or self.language
        rest = [lang for lang in self.output.languages if lang != first]
        return (first, *rest)


def load_assessment(path: str | Path) -> AssessmentConfig:
    """Validate an assessment config; every error is a ConfigError naming file:line."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("assessment config not found", str(p))
    cfg = load_model(AssessmentConfig, p)
    cfg = cfg.model_copy(update={"source": p.resolve()})
    if cfg.period.end < cfg.period.start:
        raise ConfigError("period.end: must not be before period.start", str(p))
    return cfg


def run_backup_builder(cfg: AssessmentConfig, dest: Path) -> Path:
    """Call inputs.backup_builder ("module:function") to build the sample repositories."""
    spec = cfg.inputs.backup_builder
    assert spec is not None
    module_name, func_name = spec.split(":")
    extra = cfg.path(cfg.inputs.python_path)
    if extra is not None and str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"inputs.backup_builder: cannot import {spec}: {exc}", str(cfg.source)
        ) from exc
    return Path(func(dest))
