"""`secaudit rules test`: run every rule test case under rules/tests/<kind>/<case>/.

Pluggable: a runner per kind (`signatures`, `yara`, `detect` for the policy and
behaviour detectors; other areas may call `register_runner(kind, fn)`).  A runner gets the rules
root and one case folder and returns a list of failure messages (empty = pass).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from secaudit.config import load_yaml
from secaudit.errors import ConfigError

__all__ = ["CaseResult", "register_runner", "run_rule_tests", "write_junit", "RUNNERS"]

Runner = Callable[[Path, Path], list[str]]
RUNNERS: dict[str, Runner] = {}


def register_runner(kind: str, fn: Runner) -> None:
    """Make `secaudit rules test` run the cases in rules/tests/<kind>/ with `fn(rules_root, case_dir)`."""
    RUNNERS[kind] = fn


@dataclass(frozen=True)
class CaseResult:
    kind: str
    name: str
    failures: tuple[str, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


def _sid_list(data: dict[str, object], key: str, src: Path) -> list[int]:
    v = data.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, int) for x in v):
        raise ConfigError(f"{key}: expected a list of sids", str(src))
    return [int(x) for x in v]


def _signature_case(root: Path, case: Path) -> list[str]:
    from secaudit.signatures.api import signatures

    exp_path = case / "expect.yaml"
    data = load_yaml(exp_path)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with 'fire' and 'silent'", str(exp_path), line=1)
    fire = _sid_list(data, "fire", exp_path)
    silent = _sid_list(data, "silent", exp_path)
    pcaps = sorted(p for p in case.iterdir() if p.suffix in (".pcap", ".pcapng"))
    if not pcaps:
        return [f"{case}: no input pcap (run make_pcap.py)"]
    res = signatures(pcaps, root / "signatures")
    got = set(int(x) for x in res.alerts["sid"]) if len(res.alerts) else set()
    fails = [f"sid {sid} did not fire" for sid in fire if sid not in got]
    fails += [f"sid {sid} fired but must stay silent" for sid in silent if sid in got]
    fails += [f"rule problem: {g.message}" for g in res.gaps if g.source.startswith(str(root))]
    return fails


def _yara_case(root: Path, case: Path) -> list[str]:
    from secaudit.signatures.files import load_yara

    exp_path = case / "expect.yaml"
    data = load_yaml(exp_path)
    samples = data.get("samples") if isinstance(data, dict) else None
    if not isinstance(samples, list):
        raise ConfigError("expected 'samples: [{name, text|file, match}]'", str(exp_path), line=1)
    rules = load_yara(sorted((root / "yara").glob("*.yar")))
    fails: list[str] = []
    for s in samples:
        if "text" in s:
            blob = str(s["text"]).encode("latin-1")
        else:
            blob = (case / str(s["file"])).read_bytes()
        got = sorted({m.rule for m in rules.match(data=blob)}) if rules is not None else []
        want = sorted(str(x) for x in s.get("match") or [])
        if got != want:
            fails.append(f"{s.get('name')}: expected {want}, got {got}")
    return fails


def _detect_case(root: Path, case: Path) -> list[str]:
    """expect.yaml: `fire: [{detector, subject}]`, `silent: [detector]`, `policy: true|false`.

    The detectors run with the policy in rules/policy/ (unless `policy: false`) and the
    thresholds in rules/detect.yaml, exactly as `secaudit detect` would.
    """
    from secaudit.detect.run import detect

    exp_path = case / "expect.yaml"
    data = load_yaml(exp_path)
    fire = data.get("fire") if isinstance(data, dict) else None
    silent = data.get("silent", []) if isinstance(data, dict) else None
    if not isinstance(fire, list) or not isinstance(silent, list):
        raise ConfigError(
            "expected 'fire: [{detector, subject}]' and 'silent: [detector]'", str(exp_path), line=1
        )
    pcaps = sorted(p for p in case.iterdir() if p.suffix in (".pcap", ".pcapng"))
    if not pcaps:
        return [f"{case}: no input pcap (run make_pcap.py)"]
    policy = root / "policy" if data.get("policy", True) else None
    got = {(f.detector, f.subject) for f in detect(pcaps, policy, strict=True).findings}
    fails = [
        f"{e.get('detector')} on {e.get('subject')} did not fire"
        for e in fire
        if (e.get("detector"), str(e.get("subject"))) not in got
    ]
    fails += [f"{d} fired but must stay silent" for d in silent if any(g[0] == d for g in got)]
    return fails


register_runner("signatures", _signature_case)
register_runner("detect", _detect_case)
register_runner("yara", _yara_case)


def _loaders() -> dict[str, Callable[[Path], object]]:
    """Each rules file secaudit reads, with the loader that validates it (file:line errors)."""
    from secaudit.backup.policy import load_policy as load_backup
    from secaudit.detect.config import load_thresholds
    from secaudit.exposure.config import load_exposure_config
    from secaudit.policy import load_policy
    from secaudit.policy.rules import load_links_rules
    from secaudit.report.controls import load_controls
    from secaudit.signatures.api import load_rules
    from secaudit.trust.config import load_trust_config

    return {
        "policy": load_policy,
        "detect.yaml": load_thresholds,
        "links.yaml": load_links_rules,
        "exposure.yaml": load_exposure_config,
        "trust.yaml": load_trust_config,
        "backup.yaml": load_backup,
        "controls.yaml": load_controls,
        "signatures": load_rules,
    }


def load_checks(root: Path) -> list[CaseResult]:
    """Every rules file present under `root` must load: a config error fails with file:line."""
    out: list[CaseResult] = []
    for name, loader in _loaders().items():
        path = root / name
        if not path.exists():
            continue
        t0 = time.monotonic()
        fails: list[str] = []
        try:
            loaded = loader(path)
        except ConfigError as exc:
            fails = [str(exc)]
        else:  # a rule set reports broken rules as gaps instead of raising
            fails = [f"{g.source}: {g.message}" for g in getattr(loaded, "gaps", ())]
        out.append(CaseResult("load", name, tuple(fails), time.monotonic() - t0))
    return out


def run_rule_tests(root: str | Path) -> list[CaseResult]:
    """Load every rules file, then run all cases of all registered kinds (folders with expect.yaml)."""
    base = Path(root)
    tests = base / "tests"
    if not tests.is_dir():
        raise ConfigError("no tests/ folder in the rules directory", str(base))
    out: list[CaseResult] = load_checks(base)
    for kind in sorted(RUNNERS):
        kdir = tests / kind
        if not kdir.is_dir():
            continue
        for case in sorted(p for p in kdir.iterdir() if (p / "expect.yaml").exists()):
            t0 = time.monotonic()
            try:
                fails = RUNNERS[kind](base, case)
            except ConfigError as exc:
                fails = [str(exc)]
            out.append(CaseResult(kind, case.name, tuple(fails), time.monotonic() - t0))
    return out


def write_junit(results: list[CaseResult], path: str | Path) -> None:
    suites = ET.Element("testsuites")
    for kind in sorted({r.kind for r in results}):
        rs = [r for r in results if r.kind == kind]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"rules.{kind}",
            tests=str(len(rs)),
            failures=str(sum(not r.passed for r in rs)),
            time=f"{sum(r.seconds for r in rs):.3f}",
        )
        for r in rs:
            tc = ET.SubElement(
                suite, "testcase", classname=f"rules.{kind}", name=r.name, time=f"{r.seconds:.3f}"
            )
            for f in r.failures:
                ET.SubElement(tc, "failure", message=f).text = f
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(p, encoding="utf-8", xml_declaration=True)
