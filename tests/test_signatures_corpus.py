"""suricata-verify tiers, scored in-process with the scorer's own matching (bars from issue 5)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from conftest import CORPUS, TOOLS, need_shared

from secaudit.signatures import load_rules, signatures

BARS = {"tier1": 0.95, "tier2": 0.90, "tier2-evader": 0.90}


def _scorer() -> object:
    spec = importlib.util.spec_from_file_location("score_signatures", TOOLS / "score_signatures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("tier", sorted(BARS))
def test_tier_pass_rate(tier: str) -> None:
    need_shared()
    sc = _scorer()
    base = CORPUS / "suricata-verify" / tier
    passed = total = 0
    failed: list[str] = []
    for d in sorted(p for p in base.iterdir() if (p / "expected.json").exists()):
        pcap = next(p for p in d.iterdir() if p.suffix in (".pcap", ".pcapng"))
        res = signatures(pcap, load_rules(d / "test.rules"))
        alerts = [e for e in res.eve if e.get("event_type") == "alert"]
        ok = True
        for chk in json.loads((d / "expected.json").read_text()):
            match = dict(chk.get("match") or {})
            match.setdefault("event_type", "alert")
            got = sum(1 for e in alerts if sc.event_matches(e, match))  # type: ignore[attr-defined]
            ok = ok and got == chk["count"]
        total += 1
        passed += ok
        if not ok:
            failed.append(d.name)
    assert total and passed / total >= BARS[tier], f"{tier}: {passed}/{total}; failed: {failed}"


def test_corpus_path_layout() -> None:
    need_shared()
    assert Path(CORPUS / "suricata-verify" / "index.json").exists()
