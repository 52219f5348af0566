"""Policy loading: valid folders, every mistake as file:line, vectorized lookups."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import CORPUS, ROOT, need_shared
from hypothesis import given, settings
from hypothesis import strategies as st

from secaudit.errors import ConfigError
from secaudit.policy import load_policy
from secaudit.policy.addr import format_mac, format_macs, hilo_of_strings, parse_mac, parse_macs
from secaudit.policy.rules import LinksRules, load_links_rules

GOOD = Path(__file__).parent / "data" / "links" / "policy"


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "policy"
    shutil.copytree(GOOD, d)
    return d


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, needle: str) -> int:
    return next(
        i
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if needle in line
    )


def test_example_policy_loads_and_warns_about_the_expired_exception() -> None:
    pol = load_policy(ROOT / "rules")  # a rules/ folder holding policy/
    assert pol.zone_names == ("gov-internal", "gov-extranet", "dmz", "management")
    assert len(pol.assets) == 15 and pol.via_assets("web") == [pol.asset_id["proxy01"]]
    [w] = pol.warnings
    assert "expired on 2020-01-31" in w.message and w.line == _line_of(
        GOOD / "links.yaml", "2020-01-31"
    )
    assert [g.kind for g in pol.warning_gaps()] == ["policy_warning"]


def test_corpus_policies_load() -> None:
    need_shared()
    for d in sorted((CORPUS / "links" / "scenarios").glob("*/policy")):
        pol = load_policy(d)
        assert pol.assets and pol.zones


@pytest.mark.parametrize(
    ("file", "old", "new", "needle", "expect"),
    [
        ("zones.yaml", "192.0.2.0/26", "192.0.2.0/33", "192.0.2.0/33", "bad CIDR"),
        (
            "zones.yaml",
            "networks: [10.99.0.0/24]",
            "networks: [10.99.0.1/24]",
            "10.99.0.1/24",
            "bad CIDR",
        ),
        (
            "assets.yaml",
            "zone: management, role: server}",
            "zone: mgmt, role: server}",
            "zone: mgmt",
            "unknown zone 'mgmt'",
        ),
        (
            "assets.yaml",
            "{name: ws-002,",
            "{name: ws-001,",
            "ips: [10.20.1.2]",
            "duplicate asset 'ws-001'",
        ),
        (
            "assets.yaml",
            'mac: "52:54:00:00:01:02"',
            'mac: "52:54:00:00:01:01"',
            "ips: [10.20.1.2]",
            "duplicate MAC",
        ),
        (
            "assets.yaml",
            "ips: [10.20.1.2]",
            "ips: [10.20.1.1]",
            "name: ws-002",
            "duplicate IP 10.20.1.1",
        ),
        (
            "assets.yaml",
            'mac: "52:54:00:00:01:50"',
            'mac: "52:54:00:00:01"',
            "name: prn-01",
            "bad MAC",
        ),
        ("assets.yaml", "role: printer", "role: toaster", "role: toaster", "role"),
        (
            "links.yaml",
            "{from: gov-internal, to: dmz",
            "{from: gov-intern, to: dmz",
            "gov-intern,",
            "unknown zone 'gov-intern'",
        ),
        ("links.yaml", "web: [proxy01]", "web: [proxy99]", "proxy99", "unknown asset 'proxy99'"),
        ("links.yaml", "udp/123]}", "udp/x]}", "udp/x", "bad port"),
        (
            "links.yaml",
            "forbidden_zones: [gov-internal]",
            "forbidden_zone: [gov-internal]",
            "forbidden_zone:",
            "unknown key",
        ),
        ("links.yaml", "expires: 2099-12-31", "expires: someday", "someday", "date"),
        (
            "zones.yaml",
            "  - name: dmz\n",
            "  - name: dmz\n   bad: [\n",
            "bad: [",
            "YAML syntax error",
        ),
    ],
)
def test_mistakes_name_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, needle: str, expect: str
) -> None:
    d = _copy(tmp_path)
    _edit(d / file, old, new)
    with pytest.raises(ConfigError) as info:
        load_policy(d)
    err = info.value
    assert err.source == str(d / file) and expect in err.message
    assert err.line == _line_of(d / file, needle) or (
        expect == "YAML syntax error" and err.line is not None
    )


def test_all_errors_are_collected(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "zones.yaml", "192.0.2.0/26", "192.0.2.0/33")
    _edit(d / "links.yaml", "web: [proxy01]", "web: [proxy99]")
    with pytest.raises(ConfigError) as info:
        load_policy(d)
    msgs = [str(e) for e in info.value.all_errors]  # type: ignore[attr-defined]
    assert any("bad CIDR" in m for m in msgs) and any("proxy99" in m for m in msgs)


def test_overlapping_zones_are_reported_and_longest_prefix_wins(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    _edit(d / "zones.yaml", "networks: [10.99.0.0/24]", "networks: [10.99.0.0/24, 10.20.99.0/24]")
    pol = load_policy(d)
    assert any("overlaps 10.20.0.0/16" in w.message for w in pol.warnings)
    hi, lo, _ = hilo_of_strings(pd.Series(["10.20.99.7", "10.20.98.7"]))
    assert list(pol.zone_name(pol.zone_of(hi, lo))) == ["management", "gov-extranet"]


def test_missing_folder_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_policy(tmp_path / "nope")
    d = _copy(tmp_path)
    (d / "zones.yaml").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty file"):
        load_policy(d)


def test_zone_and_asset_lookup_columns() -> None:
    pol = load_policy(GOOD)
    addrs = pd.Series(["10.10.1.10", "10.20.1.2", "192.0.2.5", "8.8.8.8", "fe80::1", "255.255.255.255",
                       "2001:db8:20::103", "224.0.0.251", None, "junk", "::ffff:10.20.1.1"])  # fmt: skip
    z = pol.zone_name(pol.zone_of_strings(addrs))
    assert list(z) == ["gov-internal", "gov-extranet", "dmz", "internet", "local", "local",
                       "gov-extranet", "local", "local", "local", "gov-extranet"]  # fmt: skip
    a = pol.asset_of_ip_strings(addrs)
    names = [pol.assets[i].name if i >= 0 else None for i in a]
    assert names[:3] == ["fs01", "ws-002", "proxy01"] and names[3] is None and names[6] == "ws-003"
    macs = np.array(
        [parse_mac("52:54:00:00:01:01"), parse_mac("aa:bb:cc:dd:ee:ff")], dtype=np.uint64
    )
    assert [pol.assets[i].name if i >= 0 else None for i in pol.asset_of_mac(macs)] == [
        "ws-001",
        None,
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.ip_addresses(), min_size=1, max_size=300))
def test_vectorized_lookup_matches_ipaddress(addrs: list) -> None:
    import ipaddress

    pol = load_policy(GOOD)
    got = pol.zone_name(pol.zone_of_strings(pd.Series([str(a) for a in addrs])))
    nets = [(ipaddress.ip_network(str(n)), z.name) for z in pol.zones for n in z.networks]
    for a, g in zip(addrs, got, strict=True):
        if a.version == 6 and a.ipv4_mapped is not None:
            a = a.ipv4_mapped  # ::ffff:a.b.c.d is the IPv4 address (one code path for both)
        inside = [name for net, name in nets if a.version == net.version and a in net]
        if inside:
            assert g == inside[0]
        else:
            assert g in ("internet", "local")
            assert (g == "local") == (a.is_multicast or a.is_link_local or a.is_unspecified or a.is_loopback
                                      or (a.version == 4 and ((int(a) >> 24) >= 224 or (int(a) >> 24) == 0)))  # fmt: skip


def test_large_column_lookup_uses_distinct_values() -> None:
    pol = load_policy(GOOD)
    rng = np.random.default_rng(1)
    ips = pd.Series([f"10.20.{rng.integers(0, 4)}.{rng.integers(1, 250)}" for _ in range(20_000)])
    z = pol.zone_of_strings(ips)
    assert (pol.zone_name(z) == "gov-extranet").all()


def test_yaml_base60_mac_is_recovered() -> None:
    assert parse_mac(52 * 60**5 + 54 * 60**4 + 0 + 0 + 28 * 60 + 10) == parse_mac(
        "52:54:00:00:28:10"
    )
    assert parse_mac("5254.0000.2810") == parse_mac("52-54-00-00-28-10")
    assert parse_mac("52:54:00:00:28") is None and parse_mac(True) is None


def test_rules_links_yaml_matches_the_defaults() -> None:
    assert load_links_rules(ROOT / "rules" / "links.yaml") == LinksRules()


def test_rules_links_yaml_rejects_unknown_keys(tmp_path: Path) -> None:
    bad = tmp_path / "links.yaml"
    bad.write_text("beacon:\n  min_conections: 4\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_links_rules(bad)
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("file", "old", "new", "expect"),
    [
        ("zones.yaml", "192.0.2.0/26", "192.0.2.0/33", "bad CIDR"),
        (
            "assets.yaml",
            "zone: management, role: server}",
            "zone: mgmt, role: server}",
            "unknown zone",
        ),
        ("assets.yaml", "{name: ws-002,", "{name: ws-001,", "duplicate asset"),
        ("zones.yaml", "  - name: dmz\n", "  - name: dmz\n   bad: [\n", "YAML syntax error"),
    ],
)
def test_cli_bad_policy_exits_2_with_one_line(
    tmp_path: Path, file: str, old: str, new: str, expect: str
) -> None:
    d = _copy(tmp_path)
    _edit(d / file, old, new)
    pcap = tmp_path / "empty.pcap"
    pcap.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    exe = Path(sys.executable).with_name("secaudit")
    r = subprocess.run([str(exe), "detect", "-r", str(pcap), "--policy", str(d), "-o", str(tmp_path / "f.json")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and f"{d / file}:" in lines[0] and expect in lines[0]


def test_hilo_of_strings_fast_dotted_quads_agree_with_inet_pton() -> None:
    """The compiled dotted-quad pass accepts exactly what inet_pton accepts; the rest
    (IPv6, zones, spaces, leading zeros, junk, embedded newlines) goes through parse_ip."""
    import pandas as pd

    from secaudit.policy.addr import hilo_of_strings, parse_ip

    cases = [
        "a\nb", "1.2.3.4", "5.6.7.8", "255.255.255.255", "0.0.0.0", "256.1.1.1", "01.2.3.4",
        "1.2.3", "1.2.3.4.5", "1..2.3", " 1.2.3.4", "1.2.3.4 ", "::1", "fe80::1%eth0",
        "2001:db8::1", "", "abc", "1.2.3.4%x", "1.2.3.", ".1.2.3", "1234.1.1.1", "é.1.1.1",
        None, "::ffff:1.2.3.4",
    ]  # fmt: skip
    hi, lo, ok = hilo_of_strings(pd.Series(cases, dtype=object))
    for text, h, low, good in zip(cases, hi, lo, ok, strict=True):
        ref = parse_ip(text) if text is not None else None
        assert bool(good) == (ref is not None), text
        if ref is not None:
            assert (int(h), int(low)) == ref, text


def test_unique_pairs_and_addr_text_match_the_plain_forms() -> None:
    import socket

    from secaudit.policy.lookup import addr_text, addr_text_column, unique_pairs

    k = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    # (5, x) and (6, y) mix to the same 64-bit value: the column-wise fallback must split them
    y = 0x1234 ^ ((5 * k) & mask) ^ ((6 * k) & mask)
    hi = np.array([0, 5, 0, 6, 5, 0, 0], dtype=np.uint64)
    lo = np.array([0xFFFF0A000001, 0x1234, 0xFFFF0A000001, y, 0x1234, 1, 0x01020304], np.uint64)
    inv, uh, ul = unique_pairs(hi, lo)
    assert inv.tolist() == [0, 1, 0, 2, 1, 3, 4]
    assert list(zip(uh.tolist(), ul.tolist(), strict=True)) == [
        (0, 0xFFFF0A000001), (5, 0x1234), (6, y), (0, 1), (0, 0x01020304)
    ]  # fmt: skip

    def ntop(h: int, low: int) -> str:
        if h == 0 and (low >> 32) == 0xFFFF:
            return socket.inet_ntop(socket.AF_INET, (low & 0xFFFFFFFF).to_bytes(4, "big"))
        return socket.inet_ntop(socket.AF_INET6, ((h << 64) | low).to_bytes(16, "big"))

    want = [ntop(h, low) for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]
    assert addr_text(hi, lo).tolist() == want
    assert addr_text_column(hi, lo).tolist() == want
    assert addr_text_column(hi[:0], lo[:0]).dtype == object


def test_format_macs_matches_format_mac() -> None:
    rng = np.random.default_rng(7)
    macs = np.r_[rng.integers(0, 1 << 48, 500, dtype=np.uint64), [0, (1 << 48) - 1]].astype(
        np.uint64
    )
    assert format_macs(macs) == [format_mac(int(m)) for m in macs]
    wide = np.array([1, 1 << 48, (1 << 64) - 1], dtype=np.uint64)  # past 48 bits: format_mac itself
    assert format_macs(wide) == [format_mac(int(m)) for m in wide]
    assert format_macs(np.zeros(0, np.uint64)) == []


def test_parse_macs_matches_parse_mac() -> None:
    rng = np.random.default_rng(8)
    canon = [format_mac(int(m)) for m in rng.integers(0, 1 << 48, 300, dtype=np.uint64)]
    odd: list[object] = [
        "AA:BB:CC:DD:EE:0F", "aa:bb:cc:dd:ee:f", "faa:bb:cc:dd:ee:ff", "aa-bb-cc-dd-ee-ff",
        " aa:bb:cc:dd:ee:f", "gg:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ée:ff", "aa:bb:cc:dd:ee:@f",
        "aabb.ccdd.eeff", 52540000281, True, None,
    ]  # fmt: skip
    for values in (canon, [c.upper() for c in canon], odd, odd[1:3], [*canon[:3], *odd], []):
        assert parse_macs(values) == [parse_mac(v) for v in values], values
