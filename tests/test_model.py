from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from secaudit.config import load_model, load_yaml
from secaudit.errors import ConfigError
from secaudit.model import Finding, Gap, Severity, read_findings, write_findings


def _finding(subject: str = "10.0.0.1") -> Finding:
    return Finding(
        rule_id="links.external",
        detector="external_link",
        category="external_link",  # type: ignore[arg-type]
        severity="high",  # type: ignore[arg-type]
        title="x",
        subject=subject,
        evidence={"uids": ["C1", "C2"], "n": 2},
        controls=("GB/T 22239-2019 8.1.3.1 b",),
        id_keys={"dst": "1.2.3.4"},
    )


def test_finding_id_is_stable_and_depends_on_subject() -> None:
    assert _finding().id == _finding().id
    assert _finding().id != _finding("10.0.0.2").id


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv", ".parquet"])
def test_findings_round_trip(tmp_path: Path, suffix: str) -> None:
    f = _finding()
    path = write_findings([f], tmp_path / f"f{suffix}")
    back = read_findings(path)
    assert back == [f]
    assert back[0].severity is Severity.HIGH


def test_findings_csv_opens_in_excel(tmp_path: Path) -> None:
    """A UTF-8 byte-order mark first, so Excel does not read the Chinese titles as GBK."""
    f = _finding()
    path = write_findings([f], tmp_path / "f.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,")
    assert raw.count(b"\xef\xbb\xbf") == 1


def test_severity_rank_orders() -> None:
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.INFO.rank


def test_gap_round_trip() -> None:
    g = Gap(kind="truncated", source="a.pcap", message="cut", offset=100)
    assert Gap.from_dict(g.to_dict()) == g


def test_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\nb: [1, 2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_yaml(bad)
    assert str(bad) in str(err.value) and err.value.line is not None


def _alias_bomb(levels: int, leaf: str = '"10.0.0.0/8"') -> str:
    """Nested anchors, each level nine aliases of the one below: 9**levels values."""
    lines = [f"l0: &l0 [{', '.join([leaf] * 9)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """The YAML twin of XML entity expansion: 9 levels of aliases are 387 million values
    (the policy loader once spent minutes and 5 GB on 8); refused in well under a second."""
    import time

    bomb = tmp_path / "zones.yaml"
    bomb.write_text(_alias_bomb(9) + "zones: *l8\n", encoding="utf-8")
    start = time.process_time()
    with pytest.raises(ConfigError, match="aliases expand") as err:
        load_yaml(bomb)
    assert str(bomb) in str(err.value)
    assert time.process_time() - start < 5  # a bound that only a hang can break
    from secaudit.policy import load_policy

    pol = tmp_path / "policy"
    pol.mkdir()
    (pol / "zones.yaml").write_text(
        _alias_bomb(8) + "zones:\n  - name: a\n    trust: internal\n    networks: *l7\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="aliases expand"):
        load_policy(pol)


def test_yaml_saved_as_gbk_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "zones.yaml"
    bad.write_bytes("zones:\n  - name: a\n    title: {zh: 政务内网}\n".encode("gbk"))
    with pytest.raises(ConfigError, match="not UTF-8") as err:
        load_yaml(bad)
    assert err.value.line == 3


def test_a_big_document_with_a_few_anchors_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the expansion limit a document is refused only when its aliases multiply it:
    many assets written out in full, sharing one `<<: *defaults`, load (the limit is
    lowered here so the document stays small)."""
    from secaudit import config

    monkeypatch.setattr(config, "MAX_EXPANDED_NODES", 1_000)
    doc = tmp_path / "assets.yaml"
    rows = "".join(f"- {{<<: *d, n: {i}}}\n" for i in range(300))
    doc.write_text("defaults: &d {zone: a, role: server}\nassets:\n" + rows, encoding="utf-8")
    data = load_yaml(doc)
    assert len(data["assets"]) == 300 and data["assets"][299] == {
        "zone": "a",
        "role": "server",
        "n": 299,
    }
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb(5) + "zones: *l4\n", encoding="utf-8")  # 9**5 values
    with pytest.raises(ConfigError, match="aliases expand"):
        load_yaml(bomb)


def test_yaml_key_that_is_a_list_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1\n? [1, 2]\n: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="plain value") as err:
        load_yaml(bad)
    assert err.value.line == 2


def test_yaml_anchors_of_ordinary_size_still_load(tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    ok.write_text(_alias_bomb(3) + "defaults: &d {port: 22}\nhost: {<<: *d, name: a}\n")
    data = load_yaml(ok)
    assert len(data["l2"]) == 9 and data["host"] == {"port": 22, "name": "a"}


def test_pydantic_errors_point_at_line(tmp_path: Path) -> None:
    from pydantic import BaseModel, ConfigDict

    class Item(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str
        port: int

    class Doc(BaseModel):
        items: list[Item]

    path = tmp_path / "doc.yaml"
    path.write_text(
        "items:\n  - name: a\n    port: 1\n  - name: b\n    port: nope\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError) as err:
        load_model(Doc, path)
    assert err.value.line == 5
    assert "items.1.port" in str(err.value)


def test_bad_regex_in_config_is_a_config_error_with_line(tmp_path: Path) -> None:
    """re.error is not a ValueError: the shared Regex type turns it into file:line."""
    from pydantic import BaseModel

    from secaudit.config import Regex

    class Doc(BaseModel):
        patterns: list[Regex]

    path = tmp_path / "doc.yaml"
    path.write_text("patterns:\n  - ok.*\n  - '([a-'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_model(Doc, path)
    assert err.value.line == 3 and "regular expression" in str(err.value)


def test_normalized_finding_equals_the_checked_one() -> None:
    f = _finding()
    g = Finding.normalized(
        rule_id=f.rule_id, detector=f.detector, category=f.category, severity=f.severity,
        title=f.title, subject=f.subject, first_seen=None, last_seen=None, count=1,
        evidence={"uids": ["C1", "C2"], "n": 2}, controls=f.controls, remediation="", id=f.id,
    )  # fmt: skip
    assert g == f and g.to_dict() == f.to_dict()
    assert g.id_keys is None and Finding.from_dict(g.to_dict()) == g


def test_results_show_sizes_not_every_record() -> None:
    """A result at the end of a notebook cell shows each field's size and the most severe
    findings, not every record (a signature run's generated repr was ~380,000 characters)."""
    from dataclasses import dataclass as dc

    import pandas as pd

    from secaudit.model import ResultDisplay

    @dc(repr=False)
    class Result(ResultDisplay):
        findings: list[Finding]
        gaps: list[Gap]
        table: pd.DataFrame
        eve_lines: list[str]

    many = [_finding(f"10.0.0.{i}") for i in range(30)]
    low = dataclasses.replace(_finding("10.9.9.9"), severity=Severity.LOW)
    res = Result([low, *many], [Gap(kind="truncated", source="a.pcap", message="cut")],
                 pd.DataFrame({"a": range(1000)}), ["{}"] * 100_000)  # fmt: skip
    text = repr(res)
    assert text == (
        "Result(findings=[31 Finding], gaps=[1 Gap], table=<1000 rows x 1 columns>, "
        "eve_lines=[100000 str])"
    )
    page = res._repr_html_()
    assert len(page) < 20_000 and "11 more (.findings)" in page
    assert "10.9.9.9" not in page  # the low finding is not among the 20 most severe
    assert "truncated" in page


def test_public_results_use_the_short_display() -> None:
    from secaudit.backup.result import BackupAudit
    from secaudit.detect.run import DetectResult
    from secaudit.exposure.nmap_xml import NmapScan
    from secaudit.model import ResultDisplay
    from secaudit.signatures.api import SignatureResult

    for cls in (DetectResult, SignatureResult, BackupAudit, NmapScan):
        assert issubclass(cls, ResultDisplay) and cls.__repr__ is ResultDisplay.__repr__, cls
    assert repr(DetectResult([], [])) == "DetectResult(findings=[0], gaps=[0], tables={0 keys})"
