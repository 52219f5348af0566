"""`detect --scheduler`: files read by real Dask workers (separate processes on 127.0.0.1),
extracts merged on the coordinator, the same findings as one local pass."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from secaudit import distributed
from secaudit.cli import root
from secaudit.detect.run import DetectResult, detect
from secaudit.errors import ConfigError, InputError, ToolError
from secaudit.model import read_findings

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "pcaps" / "sample.pcap"
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Two single-threaded worker processes, scheduler and workers on 127.0.0.1."""
    from distributed import LocalCluster

    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as lc:
        yield str(lc.scheduler_address)


@pytest.fixture(scope="module")
def scan_pcap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SYN scan of 300 ports of one host, every port closed (RST/ACK)."""
    pkts = []
    for k, port in enumerate(range(1, 301)):
        syn = (
            Ether()
            / IP(src="192.168.7.66", dst="192.168.7.9")
            / TCP(sport=50000, dport=port, flags="S", seq=1000)
        )
        rst = (
            Ether()
            / IP(src="192.168.7.9", dst="192.168.7.66")
            / TCP(sport=port, dport=50000, flags="RA", seq=0, ack=1001)
        )
        syn.time, rst.time = T0 + k * 0.01, T0 + k * 0.01 + 0.001
        pkts += [syn, rst]
    path = tmp_path_factory.mktemp("dist") / "scan.pcap"
    wrpcap(str(path), pkts)
    return path


def _view(res: DetectResult) -> list[tuple[str, str, str, str]]:
    return [(f.id, f.detector, f.title, str(sorted(f.evidence.items()))) for f in res.findings]


def test_sharded_detect_equals_local_pass(cluster: str, scan_pcap: Path) -> None:
    files = [str(SAMPLE), str(scan_pcap)]
    only = [
        "port_scan", "dns_tunnel", "retransmission", "rejected", "icmp_unreachable",
        "unanswered", "dns_failure", "brute_force", "arp_spoof",
    ]  # fmt: skip
    local = detect(files, only=only)
    sharded = detect(files, only=only, scheduler=cluster)
    assert _view(sharded) == _view(local)
    scanners = {f.subject for f in sharded.findings if f.detector == "port_scan"}
    assert "192.168.7.66" in scanners  # the second file's scan, found on a worker
    assert len(sharded.tables["conn"]) == len(local.tables["conn"])


def test_cli_scheduler(cluster: str, scan_pcap: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    res = CliRunner().invoke(
        root,
        ["detect", "-r", str(scan_pcap), "--only", "port_scan", "--scheduler", cluster,
         "-o", str(out), "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert [f.subject for f in read_findings(out)] == ["192.168.7.66"]


def test_worker_input_error_arrives_with_its_file(cluster: str, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-capture.pcap"
    bad.write_bytes(b"this is not a pcap file at all, just text" * 4)
    with pytest.raises(InputError) as err:
        detect([str(bad)], only=["port_scan"], scheduler=cluster)
    assert err.value.source is not None and "not-a-capture.pcap" in err.value.source


def _die(path: str) -> None:
    import os

    os._exit(3)  # a worker process that dies mid-task (out of memory, killed)


def test_dead_worker_is_a_tool_error_naming_the_file(scan_pcap: Path) -> None:
    import dask
    from distributed import LocalCluster

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as lc,
        pytest.raises(ToolError) as err,
    ):  # fmt: skip
        distributed.map_files(_die, [str(scan_pcap)], str(lc.scheduler_address))
    assert str(scan_pcap) in str(err.value) and err.value.tool == "dask"


def test_unreachable_scheduler_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, scan_pcap: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2.0)
    with pytest.raises(ConfigError) as err:
        detect([str(scan_pcap)], only=["port_scan"], scheduler=f"tcp://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in str(err.value)


def test_sharded_flows_equal_local_conn_log(cluster: str, scan_pcap: Path, tmp_path: Path) -> None:
    """`secaudit flows --scheduler`: the same connection records as a local run (files that
    share no connection), written in file order."""

    def rows(out: Path, *extra: str) -> list[str]:
        res = CliRunner().invoke(
            root, ["flows", "-r", str(SAMPLE), "-r", str(scan_pcap), "-l", str(out), "--quiet", *extra]
        )  # fmt: skip
        assert res.exit_code == 0, res.output
        lines = (out / "conn.log").read_text().splitlines()
        return [ln for ln in lines if not ln.startswith("#")]

    local = rows(tmp_path / "local")
    sharded = rows(tmp_path / "sharded", "--scheduler", cluster)
    assert sorted(sharded) == sorted(local) and len(local) > 300
    assert sharded[-1].split("\t")[2] == "192.168.7.66"  # the second file's rows come last


def test_report_audits_take_the_scheduler(cluster: str, scan_pcap: Path) -> None:
    """The links and behaviour notebooks' library calls read the files on the cluster."""
    from secaudit.detect import behavior_report as br
    from secaudit.detect import links_report as lr

    here = br.behavior_audit([str(scan_pcap)])
    there = br.behavior_audit([str(scan_pcap)], scheduler=cluster)
    assert _view(there) == _view(here) and any(f.detector == "port_scan" for f in there.findings)
    policy = Path(__file__).resolve().parent.parent / "samples" / "rules" / "policy"
    la = lr.links_audit([str(SAMPLE)], policy, scheduler=cluster)
    lb = lr.links_audit([str(SAMPLE)], policy)
    assert [f.id for f in la.findings] == [f.id for f in lb.findings] and la.findings
