"""`secaudit assess` end to end with small real pcaps and real papermill runs (no PDF here)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_report_helpers import config, probe_notebooks, web_pcap

from secaudit.cli import root
from secaudit.report.assess import assess


def _controls(out: Path) -> dict[str, dict[str, str]]:
    with (out / "controls.csv").open(encoding="utf-8-sig") as fh:
        return {r["control"]: r for r in csv.DictReader(fh)}


def test_history_shows_new_and_fixed_findings(tmp_path: Path) -> None:
    nbs = probe_notebooks(tmp_path / "nb")
    a = web_pcap(tmp_path / "a.pcap", [("alpha.example.net", "/"), ("beta.example.net", "/x")])
    b = web_pcap(tmp_path / "b.pcap", [("beta.example.net", "/x"), ("gamma.example.net", "/y")])
    cfg = config(tmp_path / "assess.yaml", ["a.pcap"])
    out = tmp_path / "out"
    r1 = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert {f.subject for f in r1.findings} == {"alpha.example.net", "beta.example.net"}
    assert r1.comparison.previous_run is None
    r2 = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert r2.run_id == 2 and r2.comparison.new == () and len(r2.comparison.still_open) == 2
    config(cfg, ["b.pcap"])  # the input changes
    r3 = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert r3.run_id == 3
    new = {f.subject for f in r3.findings if f.id in r3.comparison.new}
    assert new == {"gamma.example.net"}
    assert list(r3.comparison.fixed["subject"]) == ["alpha.example.net"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Compared with run #2" in html and "1 new, 1 fixed, 1 still open" in html
    fixed_section = html.split("Fixed since the previous assessment")[1].split("</table>")[0]
    assert "alpha.example.net" in fixed_section and "gamma" not in fixed_section
    assert html.count("data:image/svg+xml") >= 4  # summary plots + two trend plots
    assert b.exists() and a.exists()


def test_traffic_strings_are_escaped(tmp_path: Path) -> None:
    nbs = probe_notebooks(tmp_path / "nb")
    host = "<script>alert(1)</script>.evil.example"
    uri = '/"><img/src=x/onerror=alert(2)>'
    qname = "<b onmouseover=alert(3)>bold</b>.example"
    web_pcap(tmp_path / "x.pcap", [(host, uri)], [qname])
    cfg = config(tmp_path / "assess.yaml", ["x.pcap"])
    res = assess(cfg, tmp_path / "out", notebooks_dir=nbs, pdf=False)
    assert {f.subject for f in res.findings} == {host, qname}, res.gaps
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.evil.example" in html
    assert "&lt;img/src=x/onerror=alert(2)&gt;" in html
    assert "&lt;b onmouseover=alert(3)&gt;bold&lt;/b&gt;" in html
    assert "<script>alert" not in html and "<img/src" not in html and "<b onmouseover" not in html
    # the only script is the table sorter, allowed by hash in the CSP
    assert len(re.findall(r"<script\b", html)) == 1
    assert "script-src 'sha256-" in html


def test_missing_input_is_a_gap_and_not_tested(tmp_path: Path) -> None:
    nbs = probe_notebooks(tmp_path / "nb")
    cfg = config(tmp_path / "assess.yaml", ["missing.pcap"], policy="no-such-policy")
    out = tmp_path / "out"
    res = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert res.exit_code == 0 and res.findings == []
    gaps = json.loads((out / "gaps.json").read_text(encoding="utf-8"))
    missing = {(g["kind"], Path(g["source"]).name) for g in gaps}
    assert ("missing_input", "missing.pcap") in missing
    assert ("missing_input", "no-such-policy") in missing
    ctl = _controls(out)
    assert ctl["8.1.3.1 c"]["verdict"] == "not_tested"
    assert "Input missing" in ctl["8.1.3.1 c"]["reason"]
    assert ctl["8.1.4.9 a"]["verdict"] == "not_tested"  # no backup config
    assert not any(r["verdict"] == "compliant" for r in ctl.values())
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "missing.pcap" in html


def test_a_folder_of_captures_reads_every_capture_in_it(tmp_path: Path) -> None:
    """`pcaps: [captures/]` (hourly files in a folder) is every capture file in it, in name
    order; it was reported as a missing input.  An empty folder is still a Gap."""
    nbs = probe_notebooks(tmp_path / "nb")
    folder = tmp_path / "captures"
    (folder / "sub").mkdir(parents=True)
    web_pcap(folder / "h01.pcap", [("alpha.example.net", "/")])
    web_pcap(folder / "sub" / "h02.pcap", [("beta.example.net", "/")])
    (folder / "notes.txt").write_text("not a capture", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    cfg = config(tmp_path / "assess.yaml", ["captures", "empty"])
    out = tmp_path / "out"
    res = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert sorted(f.subject for f in res.findings) == ["alpha.example.net", "beta.example.net"]
    missing = [Path(g.source).name for g in res.gaps if g.kind == "missing_input"]
    assert missing == ["empty"]


def test_failing_notebook_is_a_gap_and_the_rest_goes_on(tmp_path: Path) -> None:
    nbs = probe_notebooks(tmp_path / "nb", fail=True)
    web_pcap(tmp_path / "a.pcap", [("alpha.example.net", "/")])
    cfg = config(tmp_path / "assess.yaml", ["a.pcap"])
    out = tmp_path / "out"
    res = assess(cfg, out, notebooks_dir=nbs, pdf=False)
    assert [f.subject for f in res.findings] == ["alpha.example.net"]
    failed = [g for g in res.gaps if g.kind == "notebook_failed"]
    assert len(failed) == 1 and failed[0].area == "signatures"
    assert "rule engine exploded" in failed[0].message
    assert (out / "notebooks" / "20_signatures.ipynb").exists()  # kept as evidence
    assert (out / "notebooks" / "10_links.ipynb").exists()
    ctl = _controls(out)
    silent = [g for g in res.gaps if g.kind == "results_missing"]
    assert [g.area for g in silent] == ["behavior_faults"]  # ran, but wrote no findings.json
    assert ctl["8.1.2.1 b"]["verdict"] == "not_tested"  # only behavior_faults evidences it
    assert ctl["8.1.3.4 a"]["verdict"] == "not_tested"  # signatures evidence it; it failed
    assert ctl["8.1.3.1 c"]["verdict"] == "non_compliant"  # the links probe found a high finding
    for name in (
        "findings.json",
        "findings.csv",
        "findings.parquet",
        "gaps.json",
        "history.duckdb",
    ):
        assert (out / name).stat().st_size > 0


@pytest.mark.parametrize(("fail_on", "code"), [("high", 1), ("critical", 0)])
def test_cli_exit_code_follows_fail_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_on: str, code: int
) -> None:
    nbs = probe_notebooks(tmp_path / "nb")
    monkeypatch.chdir(tmp_path)  # a relative -o must work although notebooks run in their folder
    web_pcap(tmp_path / "a.pcap", [("alpha.example.net", "/")])
    cfg = config(tmp_path / "assess.yaml", ["a.pcap"])
    result = CliRunner().invoke(
        root,
        [
            "assess",
            str(cfg),
            "-o",
            "out",
            "--notebooks",
            str(nbs),
            "--no-pdf",
            "--fail-on",
            fail_on,
        ],
    )
    assert result.exit_code == code, result.output
    assert "notebooks" in result.output  # time per stage is printed
    assert json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))


def test_kernels_talk_over_private_sockets(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Notebook kernels use Unix sockets in the Jupyter runtime folder: no plain-TCP kernel
    (ipykernel warns about eavesdropping on each) and no socket files left beside the
    notebooks (the kernel's working folder)."""
    nbs = probe_notebooks(tmp_path / "nb")
    web_pcap(tmp_path / "a.pcap", [("alpha.example.net", "/")])
    cfg = config(tmp_path / "assess.yaml", ["a.pcap"])
    res = assess(cfg, tmp_path / "out", notebooks_dir=nbs, pdf=False)
    assert not [g for g in res.gaps if g.kind == "notebook_failed"]
    err = capfd.readouterr().err
    assert "without encryption" not in err, err[-2000:]
    assert sorted(p.suffix for p in nbs.iterdir()) == [".ipynb"] * len(list(nbs.iterdir()))


def test_kernel_sockets_are_private_and_short() -> None:
    """The socket prefix lives in a 0700 folder of its own and leaves room under the
    107-byte limit of a Unix socket path (a long home folder would not)."""
    import os
    import stat

    from secaudit.report.notebooks import _ipc_kernel_manager

    km = _ipc_kernel_manager()()
    assert km.transport == "ipc"
    assert os.path.isabs(km.ip) and len(f"{km.ip}-65535".encode()) < 107
    assert stat.S_IMODE(os.stat(os.path.dirname(km.ip)).st_mode) == 0o700


def test_kernels_start_quiet(tmp_path: Path) -> None:
    """Kernels run with their own log at CRITICAL: jupyter_client interrupts each kernel it
    shuts down, and ipykernel would print 'ERROR | KeyboardInterrupt caught in kernel.'
    into some runs of `secaudit assess`."""
    import nbformat

    from secaudit.report.notebooks import _run_one

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("out_dir = ''", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("import sys\nprint(sys.argv)"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "nb" / "90_probe.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    run = _run_one(path, tmp_path / "out", {}, 120, None)
    assert run.ok, run.gap
    done = nbformat.read(str(run.executed), as_version=4)
    assert "--IPKernelApp.log_level=CRITICAL" in done.cells[-1].outputs[0]["text"]
