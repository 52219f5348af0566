"""beacon: RITA-style periodicity scoring, a firing beacon and silent look-alikes."""

from __future__ import annotations

import random
from pathlib import Path

from test_links_craft import (
    GW_EXT,
    PROXY,
    T0,
    WS1,
    WS2,
    WS3,
    client_hello,
    detect_on,
    tcp_session,
    udp_exchange,
)


def _periodic(
    mac_ip: tuple[str, str], dst: str, period: float, n: int, jitter: float, port: int = 443
) -> list:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        t = T0 + i * period + rnd.uniform(-jitter, jitter)
        out += tcp_session(
            mac_ip[0],
            mac_ip[1],
            GW_EXT,
            dst,
            port,
            t,
            sport=30000 + i,
            request=b"B" * 256,
            reply=b"r" * 64,
        )
    return out


def test_regular_beacon_fires(tmp_path: Path) -> None:
    out = detect_on(tmp_path, _periodic(WS1, "198.51.100.140", 60, 40, 1.0), only="beacon")
    f = [x for x in out if x.detector == "beacon"]
    assert [x.subject for x in f] == [WS1[1]]
    ev = f[0].evidence
    assert ev["dst"] == "198.51.100.140" and 59 <= ev["median_gap_s"] <= 61 and ev["score"] >= 0.8
    assert "ATT&CK T1071" in f[0].controls


def test_irregular_browsing_is_silent(tmp_path: Path) -> None:
    rnd = random.Random(3)
    t, pkts = T0, []
    for i in range(40):
        t += rnd.expovariate(1 / 60)
        pkts += tcp_session(WS2[0], WS2[1], GW_EXT, "198.51.100.141", 443, t, sport=31000 + i,
                            request=b"G" * rnd.randint(200, 2000), reply=b"r" * 64)  # fmt: skip
    assert detect_on(tmp_path, pkts, only="beacon") == []


def test_periodic_to_approved_or_via_proxy_is_silent(tmp_path: Path) -> None:
    ntp = []
    for i in range(40):
        ntp += udp_exchange(
            WS3[0],
            WS3[1],
            GW_EXT,
            "203.0.113.123",
            123,
            T0 + 64 * i,
            sport=123,
            request=b"n" * 48,
            reply=b"m" * 48,
        )
    proxy = []
    for i in range(40):
        proxy += tcp_session(PROXY[0], PROXY[1], "52:54:00:00:00:03", "198.51.100.150", 443, T0 + 60 * i,
                             sport=32000 + i, request=client_hello("updates.example.net"))  # fmt: skip
    assert detect_on(tmp_path, ntp, proxy, only="beacon") == []


def test_too_few_connections_is_silent(tmp_path: Path) -> None:
    assert detect_on(tmp_path, _periodic(WS1, "198.51.100.142", 60, 3, 0.0), only="beacon") == []


def test_beacon_without_policy_treats_private_space_as_internal(tmp_path: Path) -> None:
    """No --policy: private addresses are internal, so a beacon to a public address still fires."""
    from test_links_craft import write

    from secaudit.detect.run import detect

    pcap = write(tmp_path / "t.pcap", _periodic(WS1, "198.51.100.140", 60, 40, 1.0))
    found = detect(pcap, None, only="beacon", strict=True).findings
    assert [f.subject for f in found] == [WS1[1]]
    internal = write(tmp_path / "i.pcap", _periodic(WS1, "10.20.9.9", 60, 40, 1.0))
    assert detect(internal, None, only="beacon", strict=True).findings == []


def test_beacon_without_policy_on_a_public_address_network(tmp_path: Path) -> None:
    """No --policy and a network numbered in public space (a university, a provider): the
    originator of periodic connections to the internet is the audited host; irregular
    connections from it stay silent."""
    from test_links_craft import write

    from secaudit.detect.run import detect

    host = ("02:00:00:00:00:99", "192.0.2.37")
    pcap = write(tmp_path / "p.pcap", _periodic(host, "198.51.100.21", 2.2, 60, 0.2))
    found = detect(pcap, None, only="beacon", strict=True).findings
    assert [(f.subject, f.evidence["dst"]) for f in found] == [("192.0.2.37", "198.51.100.21")]
    rnd = random.Random(3)
    irregular: list = []
    t = T0
    for i in range(60):
        t += rnd.expovariate(1 / 20.0)
        irregular += tcp_session(host[0], host[1], GW_EXT, "198.51.100.22", 443, t,
                                 sport=40000 + i, request=b"G" * rnd.randint(80, 900),
                                 reply=b"r" * rnd.randint(100, 5000))  # fmt: skip
    quiet = write(tmp_path / "q.pcap", irregular)
    assert detect(quiet, None, only="beacon", strict=True).findings == []


def test_group_mad_equals_the_per_group_median_of_deviations() -> None:
    """The vectorized MAD gives, bit for bit, what np.median per group gives (odd and even
    group sizes, ties, one-member groups), in order of first appearance."""
    import numpy as np
    import pandas as pd

    from secaudit.detect.beacon import group_mad

    rng = np.random.default_rng(7)
    key = pd.Series(rng.integers(0, 300, 5000))
    values = pd.Series(np.round(rng.exponential(30.0, 5000), rng.integers(0, 3)))
    got = group_mad(values, key)
    want = values.groupby(key, sort=False).apply(
        lambda s: float(np.median(np.abs(s - np.median(s))))
    )
    assert list(got.index) == list(want.index)
    assert np.array_equal(got.to_numpy(), want.to_numpy())
