"""Every detector declares the tables it reads (DetectorSpec.needs).

`secaudit detectors` lists them, and the runner builds only the extracts the selected
detectors need, so an undeclared read would leave a detector without its table (and
silently without its findings).  Each detector runs on real captures with a table dict
that records what is read: every read must be declared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPUS, DATA, ROOT

from secaudit.detect.config import Thresholds
from secaudit.detect.registry import DetectContext
from secaudit.detect.run import _build_tables, load_detectors
from secaudit.policy import load_policy


class _Recording(dict[str, Any]):
    """A table dict that remembers which names were asked for."""

    def __init__(self, tables: dict[str, Any]) -> None:
        super().__init__(tables)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def _inputs() -> list[tuple[Path, Path | None]]:
    """Vendored captures (and the links and behaviour corpora when ../shared is there)."""
    jobs: list[tuple[Path, Path | None]] = [
        (p, None) for p in sorted((DATA / "behavior").glob("*.pcap"))
    ]
    sample = ROOT / "samples" / "pcaps" / "sample.pcap"
    if sample.exists():
        jobs.append((sample, ROOT / "samples" / "rules" / "policy"))
    if CORPUS.is_dir():
        manifest = json.loads((CORPUS / "links" / "manifest.json").read_text())
        for e in manifest["entries"][::3]:
            base = CORPUS / "links"
            jobs.append((base / e["file"], base / e["policy"]))
        jobs += [(p, None) for p in sorted((CORPUS / "behavior").rglob("*.pcap"))[::4]]
    return jobs


@pytest.mark.parametrize("pcap,policy", _inputs(), ids=lambda x: getattr(x, "name", "none"))
def test_detectors_read_only_the_tables_they_declare(pcap: Path, policy: Path | None) -> None:
    conn, tables, _ = _build_tables([pcap], ignore_checksums=True, local_nets=None, quiet=True)
    pol = load_policy(policy) if policy is not None else None
    th = Thresholds().as_mapping()
    th["_run"] = {"lang": "en"}
    ran = 0
    for name, spec in load_detectors().items():
        if name == "malware_transfer" or ("policy" in spec.needs and pol is None):
            continue
        rec = _Recording(tables)
        ctx = DetectContext(conn=conn, tables=rec, policy=pol, thresholds=th, sources=(str(pcap),))
        spec.func(ctx)
        ran += 1
        assert rec.read <= set(spec.needs), f"{name} reads {sorted(rec.read - set(spec.needs))}"
    assert ran >= 20


def test_a_selection_builds_only_its_extracts_and_finds_the_same() -> None:
    """detect(only=X) builds the extracts X's detectors declare and finds what X finds in a
    full run; a result without the TCP tables cannot make a health table by mistake."""
    from secaudit.detect.health import service_health
    from secaudit.detect.run import detect

    sample = ROOT / "samples" / "pcaps" / "sample.pcap"
    folder = ROOT / "samples" / "rules" / "policy"
    if not sample.exists() or not folder.exists():
        pytest.skip("samples/pcaps/sample.pcap or samples/rules/policy not generated")
    policy = load_policy(folder)
    names = [n for n in load_detectors() if n != "malware_transfer"]
    full = detect([sample], policy, only=names, strict=True)
    assert {"dns", "arp", "icmp", "tcp_dirs", "flood", "links_hosts"} <= set(full.tables)
    found = {f.detector for f in full.findings}
    assert {"port_scan", "dns_tunnel", "retransmission"} <= found  # the planted incidents
    for name in names:
        one = detect([sample], policy, only=[name], strict=True)
        assert [f.id for f in one.findings] == [f.id for f in full.findings if f.detector == name]
    dns_only = detect([sample], policy, only=["dns_tunnel"], strict=True)
    assert set(dns_only.tables) == {"conn", "dns"}
    with pytest.raises(ValueError, match="without the TCP tables"):
        service_health(dns_only)
    assert len(service_health(full))
