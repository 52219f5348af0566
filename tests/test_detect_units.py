"""Each detector fires on a hand-built table of its behaviour and stays silent on a look-alike."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from secaudit.detect import attacks, brute, covert, faults, scan
from secaudit.detect._common import window_hits
from secaudit.detect.config import Thresholds, load_thresholds
from secaudit.detect.registry import REGISTRY, DetectContext, register
from secaudit.detect.run import run_detectors
from secaudit.errors import ConfigError

T0 = 1_700_000_000.0


def conn_rows(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {
        "ts": T0, "uid": "C", "id.orig_h": "10.0.0.1", "id.orig_p": 40000,
        "id.resp_h": "10.0.0.2", "id.resp_p": 80, "proto": "tcp", "service": None,
        "duration": 1.0, "orig_bytes": 100, "resp_bytes": 1000, "conn_state": "SF",
        "history": "ShADadFf", "orig_pkts": 5, "resp_pkts": 5, "orig_ip_bytes": 300,
        "resp_ip_bytes": 1300,
    }  # fmt: skip
    out = [{**base, "uid": f"C{k}", **r} for k, r in enumerate(rows)]
    return pd.DataFrame(out)


def ctx(conn: pd.DataFrame | None = None, **tables: pd.DataFrame) -> DetectContext:
    th = Thresholds().as_mapping()
    th["_run"] = {"lang": "en"}
    return DetectContext(
        conn=conn if conn is not None else conn_rows([])[:0], tables=tables, thresholds=th
    )


def subjects(findings: list[Any]) -> set[str]:
    return {f.subject for f in findings}


# ----------------------------------------------------------------- helpers
def test_window_hits_counts_within_window_only() -> None:
    keys = pd.Series(["a"] * 5 + ["b"] * 5)
    times = np.array([0, 1, 2, 3, 4, 0, 100, 200, 300, 400], float)
    hit = window_hits(keys, times, 5, 10.0)
    assert hit.tolist() == [True] * 5 + [False] * 5
    assert window_hits(keys, times, 2, 100.0)[5:].all()


def test_window_hits_takes_a_threshold_per_group() -> None:
    """One call with per-row thresholds equals one call per threshold (internal/external)."""
    rng = np.random.default_rng(3)
    keys = pd.Series(rng.integers(0, 40, 2_000))
    times = rng.uniform(0, 600, 2_000)
    need = np.where(keys.to_numpy() % 2 == 0, 30.0, 45.0)
    both = window_hits(keys, times, need, 300.0)
    for thr in (30.0, 45.0):
        part = need == thr
        alone = window_hits(keys[part], times[part], thr, 300.0)
        assert (both[part] == alone).all()
    assert both.any() and not both.all()


# ----------------------------------------------------------------- scans
def test_port_scan_vertical_fires_and_normal_clients_do_not() -> None:
    scan_rows = [
        {"id.orig_h": "10.0.0.5", "id.resp_h": "10.0.0.9", "id.resp_p": p, "ts": T0 + p / 100,
         "conn_state": "REJ", "history": "Sr", "orig_bytes": 0, "resp_bytes": 0}
        for p in range(1, 101)
    ]  # fmt: skip
    normal = [{"id.orig_h": "10.0.0.7", "id.resp_p": 443, "ts": T0 + k} for k in range(200)]
    f = scan.port_scan(ctx(conn_rows(scan_rows + normal)))
    assert subjects(f) == {"10.0.0.5"}
    assert f[0].evidence["distinct_ports"] == 100
    assert "vertical" in f[0].evidence["modes"]


def test_port_scan_repeated_failures_to_one_port_are_not_a_scan() -> None:
    rows = [
        {"id.orig_h": "10.0.0.5", "id.resp_p": 5432, "ts": T0 + k, "conn_state": "REJ",
         "history": "Sr", "orig_bytes": 0, "resp_bytes": 0}
        for k in range(100)
    ]  # fmt: skip
    assert scan.port_scan(ctx(conn_rows(rows))) == []


def test_port_scan_horizontal_and_slow_scan_outside_window() -> None:
    fast = [
        {"id.orig_h": "203.0.113.7", "id.resp_h": f"10.1.1.{k}", "id.resp_p": 445, "ts": T0 + k / 10,
         "conn_state": "S0", "history": "S", "orig_bytes": 0, "resp_bytes": 0, "resp_pkts": 0}
        for k in range(1, 40)
    ]  # fmt: skip
    slow = [
        dict(r, **{"id.orig_h": "203.0.113.8", "ts": T0 + 3600 * k}) for k, r in enumerate(fast)
    ]
    f = scan.port_scan(ctx(conn_rows(fast + slow)))
    assert subjects(f) == {"203.0.113.7"}
    assert "horizontal" in f[0].evidence["modes"]


def test_ping_sweep() -> None:
    icmp = pd.DataFrame(
        {
            "ts": T0 + np.arange(30) / 10, "src": "10.0.0.4",
            "dst": [f"10.0.1.{k}" for k in range(30)], "type": 8, "code": 0, "v6": False,
        }
    )  # fmt: skip
    monitor = pd.DataFrame(
        {"ts": T0 + np.arange(60) * 30, "src": "10.0.0.5", "dst": [f"10.0.0.{k % 5}" for k in range(60)],
         "type": 8, "code": 0, "v6": False}
    )  # fmt: skip
    f = scan.ping_sweep(ctx(icmp=pd.concat([icmp, monitor], ignore_index=True)))
    assert subjects(f) == {"10.0.0.4"}


def arp_frame(rows: list[tuple[float, int, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "op", "spa", "tpa", "sha"]).assign(
        tha=0, src_mac=0, dst_mac=0
    )


def test_arp_scan_and_normal_resolution() -> None:
    rows = [(T0 + k / 100, 1, "192.168.1.10", f"192.168.1.{k}", 0xAA) for k in range(1, 200)]
    rows += [(T0 + k * 60, 1, "192.168.1.20", f"192.168.1.{k % 8 + 30}", 0xBB) for k in range(50)]
    f = scan.arp_scan(ctx(arp=arp_frame(rows)))
    assert subjects(f) == {"192.168.1.10"}


def test_arp_spoof_overlapping_claims_but_not_a_mac_change() -> None:
    rows = [(T0 + 2 * k, 2, "192.168.1.1", "192.168.1.20", 0x666) for k in range(30)]
    rows += [(T0 + 2 * k + 1, 2, "192.168.1.1", "192.168.1.21", 0x111) for k in range(30)]
    # a NIC swap: .50 moves from one MAC to another, never interleaved
    rows += [(T0 + k, 2, "192.168.1.50", "192.168.1.21", 0x501) for k in range(10)]
    rows += [(T0 + 1000 + k, 2, "192.168.1.50", "192.168.1.21", 0x502) for k in range(10)]
    f = attacks.arp_spoof(ctx(arp=arp_frame(rows)))
    assert subjects(f) == {"192.168.1.1"}


# ----------------------------------------------------------------- floods
def test_syn_flood_targets_one_port_but_vertical_scan_does_not() -> None:
    flood = [
        {"id.orig_h": f"198.51.100.{k % 250}", "id.orig_p": 1000 + k, "id.resp_h": "10.50.0.80",
         "ts": T0 + k / 1000, "conn_state": "S0", "history": "S", "orig_bytes": 0, "resp_bytes": 0}
        for k in range(1000)
    ]  # fmt: skip
    vscan = [
        {"id.orig_h": "10.0.0.5", "id.resp_h": "10.0.0.9", "id.resp_p": p, "ts": T0 + p / 1000,
         "conn_state": "S0", "history": "S", "orig_bytes": 0, "resp_bytes": 0}
        for p in range(1, 1001)
    ]  # fmt: skip
    f = attacks.syn_flood(ctx(conn_rows(flood + vscan)))
    assert subjects(f) == {"10.50.0.80"}
    assert f[0].evidence["distinct_sources"] == 250


def test_udp_flood_one_way_only() -> None:
    fl = pd.DataFrame(
        {"host": ["10.0.0.9"] * 10 + ["10.0.0.8"] * 10, "proto": 17, "bucket": list(range(10)) * 2,
         "in_pkts": 3000, "in_bytes": 3000 * 500, "srcs": 40,
         "out_pkts": [0] * 10 + [2900] * 10}
    )  # fmt: skip
    assert subjects(attacks.udp_flood(ctx(flood=fl))) == {"10.0.0.9"}


def test_amplification_needs_many_reflectors() -> None:
    rows = [
        {"id.orig_h": f"192.0.2.{k}", "id.orig_p": 53, "id.resp_h": "10.0.0.7", "id.resp_p": 5555 + k,
         "proto": "udp", "orig_ip_bytes": 400_000, "resp_ip_bytes": 0, "ts": T0 + k}
        for k in range(20)
    ]  # fmt: skip
    normal = [
        {"id.orig_h": "10.0.0.8", "id.resp_h": "10.0.0.53", "id.resp_p": 53, "proto": "udp",
         "orig_ip_bytes": 70, "resp_ip_bytes": 300}
        for _ in range(50)
    ]  # fmt: skip
    assert subjects(attacks.amplification(ctx(conn_rows(rows + normal)))) == {"10.0.0.7"}


# ----------------------------------------------------------------- brute force
def test_brute_force_short_ssh_sessions_vs_a_few_logins() -> None:
    guesses = [
        {"id.orig_h": "203.0.113.45", "id.resp_h": "10.0.0.22", "id.resp_p": 22, "ts": T0 + 2 * k,
         "duration": 1.5, "orig_bytes": 1500, "resp_bytes": 2000}
        for k in range(30)
    ]  # fmt: skip
    typo = [
        {"id.orig_h": "10.0.0.60", "id.resp_h": "10.0.0.22", "id.resp_p": 22, "ts": T0 + 25 * k,
         "duration": 2.0, "orig_bytes": 1500, "resp_bytes": 2000}
        for k in range(3)
    ]  # fmt: skip
    refused = [
        {"id.orig_h": "10.0.0.61", "id.resp_p": 22, "ts": T0 + k, "conn_state": "REJ",
         "orig_bytes": 0, "resp_bytes": 0}
        for k in range(50)
    ]  # fmt: skip
    f = brute.brute_force(ctx(conn_rows(guesses + typo + refused)))
    assert subjects(f) == {"203.0.113.45"}
    assert f[0].evidence["service"] == "ssh"


def test_brute_force_explicit_failures_and_spraying() -> None:
    dirs = pd.DataFrame(
        {
            "flow": np.arange(12, dtype=np.uint64), "dir": 1,
            "src": [f"10.0.0.{k}" for k in range(12)], "dst": "198.51.100.23",
            "sport": 21, "dport": 50000 + np.arange(12), "first_ns": (T0 + np.arange(12)) * 1e9,
            "last_ns": (T0 + np.arange(12) + 1) * 1e9, "login_fail": 3, "http_auth_fail": 0,
            "ssh_banner": 0, "rdp_cr": 0,
        }
    )  # fmt: skip
    f = brute.brute_force(ctx(tcp_dirs=dirs))
    assert subjects(f) == {"198.51.100.23"}
    assert f[0].evidence["mode"] == "spray"
    assert brute.brute_force(ctx(tcp_dirs=dirs.assign(login_fail=0))) == []


# ----------------------------------------------------------------- covert channels
def dns_rows(client: str, names: list[str], qtype: int = 1, rcode: int = 0) -> pd.DataFrame:
    sub = [n.rsplit(".", 2)[0] if n.count(".") >= 2 else "" for n in names]
    return pd.DataFrame(
        {
            "ts": T0 + np.arange(len(names)), "id.orig_h": client, "id.resp_h": "10.0.0.53",
            "query": names, "reg_domain": [".".join(n.split(".")[-2:]) for n in names],
            "qtype": qtype, "qtype_name": "A", "rcode": rcode, "rcode_name": "NOERROR",
            "answered": True, "n_queries": 1, "sub_len": [len(s) for s in sub],
            "sub_entropy": 3.0,
        }
    )  # fmt: skip


def test_dns_tunnel_long_unique_names_vs_ordinary_lookups() -> None:
    rng = np.random.default_rng(1)
    enc = ["".join(rng.choice(list("abcdef0123456789"), 60)) + ".t.example.net" for _ in range(100)]
    ordinary = [f"host{k % 20}.example.com" for k in range(400)]
    ptr = [f"{k}.1.168.192.in-addr.arpa" for k in range(100)]
    dns = pd.concat(
        [dns_rows("10.70.0.15", enc, qtype=16), dns_rows("10.99.0.100", ordinary),
         dns_rows("10.99.0.101", ptr, qtype=12)],
        ignore_index=True,
    )  # fmt: skip
    dns.loc[dns["query"].str.endswith("in-addr.arpa"), "reg_domain"] = "in-addr.arpa"
    f = covert.dns_tunnel(ctx(dns=dns))
    assert subjects(f) == {"10.70.0.15"}


def icmp_echo(src: str, dst: str, n: int, sizes: np.ndarray, same: bool) -> pd.DataFrame:
    req = pd.DataFrame(
        {"ts": T0 + np.arange(n), "src": src, "dst": dst, "type": 8, "code": 0, "v6": False,
         "id": 1, "seq": np.arange(n), "size": sizes, "captured": sizes,
         "hash": np.arange(n, dtype=np.uint64), "tail_hash": np.uint64(1), "entropy": 7.5}
    )  # fmt: skip
    rep = req.assign(
        src=dst, dst=src, type=0, ts=req["ts"] + 0.01,
        hash=req["hash"] if same else req["hash"] + np.uint64(1000),
    )  # fmt: skip
    return pd.concat([req, rep], ignore_index=True)


def test_icmp_tunnel_mismatched_replies_vs_ping() -> None:
    tunnel = icmp_echo("10.80.0.5", "198.51.100.200", 50, np.full(50, 64), same=False)
    ping = icmp_echo("10.99.0.5", "10.99.0.1", 50, np.full(50, 56), same=True)
    f = covert.icmp_tunnel(ctx(icmp=pd.concat([tunnel, ping], ignore_index=True)))
    assert subjects(f) == {"10.80.0.5"}


def test_long_connection_categories() -> None:
    rows = [
        {
            "id.orig_h": "10.91.0.8",
            "id.resp_h": "203.0.113.88",
            "id.resp_p": 4444,
            "duration": 10800.0,
        },
        {"id.orig_h": "10.91.0.9", "id.resp_h": "10.91.0.10", "id.resp_p": 22, "duration": 7200.0},
        {"id.orig_h": "10.91.0.7", "id.resp_h": "203.0.113.88", "duration": 600.0},
    ]
    f = covert.long_connection(ctx(conn_rows(rows)))
    cats = {x.subject: x.category.value for x in f}
    assert cats == {"10.91.0.8": "external_link", "10.91.0.9": "internal_link"}


def test_data_exfil_internal_to_external_only() -> None:
    rows = [
        {"id.orig_h": "10.0.0.30", "id.resp_h": "203.0.113.9", "orig_bytes": 300_000_000, "resp_bytes": 10_000},
        {"id.orig_h": "10.0.0.31", "id.resp_h": "10.0.0.32", "orig_bytes": 900_000_000, "resp_bytes": 10_000},
        {"id.orig_h": "10.0.0.33", "id.resp_h": "203.0.113.9", "orig_bytes": 10_000, "resp_bytes": 900_000_000},
    ]  # fmt: skip
    assert subjects(covert.data_exfil(ctx(conn_rows(rows)))) == {"10.0.0.30"}


# ----------------------------------------------------------------- faults
def tcp_dirs(
    src: str, data: int, retrans: int, zero: int = 0, stall_s: float = 0.0
) -> dict[str, Any]:
    return {
        "flow": np.uint64(hash(src) & 0xFFFF), "dir": 0, "src": src, "dst": "10.0.0.250",
        "sport": 8080, "dport": 45000, "pkts": data, "data_pkts": data, "retrans": retrans,
        "dupacks": 0, "zero_win": zero, "zw_stall_ns": int(stall_s * 1e9), "first_ns": T0 * 1e9,
        "last_ns": (T0 + 60) * 1e9,
    }  # fmt: skip


def test_retransmission_and_zero_window() -> None:
    dirs = pd.DataFrame(
        [tcp_dirs("10.93.0.20", 500, 100), tcp_dirs("10.93.0.21", 20000, 3),
         tcp_dirs("10.94.0.40", 10, 0, zero=20, stall_s=70), tcp_dirs("10.94.0.41", 10, 0, zero=1, stall_s=0.1)]
    )  # fmt: skip
    assert subjects(faults.retransmission(ctx(tcp_dirs=dirs))) == {"10.93.0.20"}
    assert subjects(faults.zero_window(ctx(tcp_dirs=dirs))) == {"10.94.0.40"}


def test_rejected_and_unanswered_services() -> None:
    rej = [{"id.resp_h": "10.95.0.12", "id.resp_p": 5432, "ts": T0 + 3 * k, "conn_state": "REJ",
            "history": "Sr", "orig_bytes": 0, "resp_bytes": 0} for k in range(100)]  # fmt: skip
    s0 = [{"id.resp_h": "10.96.0.99", "id.resp_p": 443, "ts": T0 + 30 * k, "conn_state": "S0",
           "history": "S", "orig_bytes": 0, "resp_bytes": 0} for k in range(20)]  # fmt: skip
    ext = [dict(r, **{"id.resp_h": "198.51.100.7"}) for r in s0]
    ok = [{"id.resp_h": "10.0.0.80", "ts": T0 + k} for k in range(100)]
    c = conn_rows(rej + s0 + ext + ok)
    assert subjects(faults.rejected(ctx(c))) == {"10.95.0.12"}
    assert subjects(faults.unanswered(ctx(c))) == {"10.96.0.99"}


def test_icmp_unreachable_groups_by_quoted_destination() -> None:
    icmp = pd.DataFrame(
        {"ts": T0 + np.arange(12) * 5, "src": "10.97.0.1", "dst": "10.97.0.5", "type": 3, "code": 1,
         "v6": False, "quoted_dst": ["198.51.100.53"] * 10 + ["198.51.100.54"] * 2, "q_proto": 17,
         "q_dport": 514}
    )  # fmt: skip
    f = faults.icmp_unreachable(ctx(icmp=icmp))
    assert subjects(f) == {"198.51.100.53"}
    assert f[0].evidence["reasons"] == {"host_unreachable": 10}


def test_dns_failure_servfail_resolver_vs_occasional_nxdomain() -> None:
    bad = dns_rows("10.98.0.7", [f"www{k}.example.com" for k in range(120)], rcode=2)
    bad["id.resp_h"] = "10.98.0.53"
    good = dns_rows("10.99.0.100", [f"host{k}.example.com" for k in range(400)])
    good.loc[:1, "rcode"] = 3
    f = faults.dns_failure(ctx(dns=pd.concat([bad, good], ignore_index=True)))
    assert subjects(f) == {"10.98.0.53"}


# ----------------------------------------------------------------- runner, config
def test_crashing_detector_becomes_a_gap_unless_strict() -> None:
    @register("_test_crash", "fault")
    def crash(_: Any) -> list[Any]:
        raise RuntimeError("boom")

    try:
        spec = REGISTRY["_test_crash"]
        findings, gaps = run_detectors(ctx(), [spec])
        assert findings == [] and gaps[0].kind == "detector_error"
        assert "_test_crash" in gaps[0].message
        with pytest.raises(RuntimeError):
            run_detectors(ctx(), [spec], strict=True)
    finally:
        REGISTRY.pop("_test_crash", None)


def test_rules_file_documents_the_defaults() -> None:
    assert load_thresholds() == Thresholds()


def test_bad_thresholds_file_names_file_and_line(tmp_path: Any) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("port_scan:\n  window_s: 300\n  internal:\n    portz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_thresholds(p)
    assert e.value.line == 4 and "portz" in str(e.value)


def test_threshold_override_changes_outcome() -> None:
    rows = [
        {"id.orig_h": "10.0.0.5", "id.resp_h": "10.0.0.9", "id.resp_p": p, "ts": T0 + p,
         "conn_state": "REJ", "history": "Sr", "orig_bytes": 0, "resp_bytes": 0}
        for p in range(1000, 1012)
    ]  # fmt: skip
    c = ctx(conn_rows(rows))
    assert scan.port_scan(c) == []
    th = load_thresholds(None, {"port_scan": {"internal": {"ports": 10}}}).as_mapping()
    th["_run"] = {"lang": "zh"}
    f = scan.port_scan(DetectContext(conn=c.conn, thresholds=th))
    assert subjects(f) == {"10.0.0.5"} and "端口扫描" in f[0].title


def test_arp_spoof_unsolicited_replies_while_the_owner_is_silent() -> None:
    rows = [(T0 + 2 * k, 2, "192.168.1.1", "192.168.1.20", 0x666) for k in range(30)]
    rows += [(T0 + 0.5, 2, "192.168.1.66", "192.168.1.20", 0x666)]  # the attacker's own address
    # normal resolution: each reply answers a request
    for k in range(30):
        rows += [(T0 + 3 * k, 1, "192.168.1.30", "192.168.1.31", 0x30)]
        rows += [(T0 + 3 * k + 0.001, 2, "192.168.1.31", "192.168.1.30", 0x31)]
    f = attacks.arp_spoof(ctx(arp=arp_frame(rows)))
    assert subjects(f) == {"192.168.1.1"}
    assert f[0].evidence["reasons"] == ["unsolicited_replies"]


def test_icmp_tunnel_varying_payloads_without_replies() -> None:
    n = 40
    req = icmp_echo("10.80.0.6", "198.51.100.201", n, np.full(n, 100), same=False)
    req = req[req["type"] == 8].assign(tail_hash=np.arange(n, dtype=np.uint64))
    ping = icmp_echo("10.99.0.5", "10.99.0.1", n, np.full(n, 100), same=True).assign(
        tail_hash=np.uint64(7)
    )
    f = covert.icmp_tunnel(ctx(icmp=pd.concat([req, ping], ignore_index=True)))
    assert subjects(f) == {"10.80.0.6"}
    assert "payload_varies" in f[0].evidence["reasons"]
