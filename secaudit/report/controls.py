"""The controls catalogue (rules/controls.yaml): GB/T 22239-2019 L3 items and their evidence.

Findings name controls as "GB/T 22239-2019 8.1.3.1 c" (or a clause without its
item letter); `Catalogue.resolve` turns any such reference into catalogue
entries, so reports and the resolution test agree on one rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from secaudit.config import load_model
from secaudit.model import Severity

__all__ = ["GBT_PREFIX", "Catalogue", "Control", "Text", "load_controls"]

GBT_PREFIX = "GB/T 22239-2019"
InputKind = Literal["pcap", "policy", "rules", "scan", "backup"]
Chapter = Literal["links", "faults", "malware", "attacks", "exposure_trust", "backup"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Frozen):
    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


class Control(_Frozen):
    id: str = Field(pattern=r"^8\.1\.\d+\.\d+( [a-z](-[a-z]|(,[a-z])*)?)?$")
    aliases: tuple[str, ...] = ()
    area: Text
    text: Text
    unit: str
    confidence: Literal["A", "B", "C"]
    evidence: tuple[str, ...]
    areas: tuple[str, ...]
    inputs: tuple[InputKind, ...]
    chapter: Chapter

    @property
    def clause(self) -> str:
        return self.id.split(" ")[0]


class VerdictRule(_Frozen):
    non_compliant_from: Severity = Severity.HIGH
    partly_from: Severity = Severity.LOW


class Standard(_Frozen):
    id: str
    level: int
    zh: str
    en: str


class Catalogue(_Frozen):
    version: int
    standard: Standard
    verdict: VerdictRule = VerdictRule()
    controls: tuple[Control, ...]

    def by_id(self) -> dict[str, Control]:
        return {c.id: c for c in self.controls}

    def resolve(self, ref: str) -> list[Control]:
        """Entries a finding's control reference points at ([] for ATT&CK and unknown ids).

        Exact id first, then an entry's alias, then every item of a bare clause.
        """
        ref = ref.strip()
        if not ref.startswith(GBT_PREFIX):
            return []
        key = ref[len(GBT_PREFIX) :].strip()
        exact = [c for c in self.controls if c.id == key]
        if exact:
            return exact
        alias = [c for c in self.controls if key in c.aliases]
        if alias:
            return alias
        return [c for c in self.controls if c.clause == key]

    def for_evidence(self, detector: str, rule_id: str = "") -> list[Control]:
        return [c for c in self.controls if detector in c.evidence or rule_id in c.evidence]


DEFAULT_CONTROLS = Path(__file__).resolve().parents[2] / "rules" / "controls.yaml"


def load_controls(path: str | Path | None = None) -> Catalogue:
    """Load and validate a controls catalogue (file:line errors as ConfigError)."""
    return load_model(Catalogue, path or DEFAULT_CONTROLS)
