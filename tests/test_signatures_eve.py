"""EVE lines are encoded without building a dict per alert (EveEncoder); they must be exactly
what `json.dumps(eve_record(alert))` gives, for every shape of alert."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest

from secaudit.signatures.api import EveEncoder, _ts_text, eve_record, load_rules, ts_texts
from secaudit.signatures.engine import Alert

RULES = """\
alert tcp any any -> any 80 (msg:"web \\"quoted\\" probe"; content:"GET"; classtype:web-application-attack; sid:1; rev:2; metadata:created_at 2026_01_01, tag a;)
alert icmp any any -> any any (msg:"ICMP ping"; itype:8; priority:1; sid:2;)
alert udp any any -> any 53 (msg:"unicode é 名"; content:"x"; sid:3;)
alert ip any any -> any any (msg:"any proto"; sid:4;)
"""


@pytest.fixture(scope="module")
def sigs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, object]:
    path = Path(tmp_path_factory.mktemp("eve")) / "r.rules"
    path.write_text(RULES, encoding="utf-8")
    rs = load_rules(path)
    assert not rs.gaps
    return {s.rule.sid: s for s in rs.sigs}


def _alerts(sigs: dict[int, object]) -> list[Alert]:
    v4a, v4b = socket.inet_aton("10.0.0.1"), socket.inet_aton("192.0.2.7")
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    return [
        Alert(1700000000.123456, sigs[1], v4a, v4b, 40000, 80, 6, 8, 3),  # type: ignore[arg-type]
        Alert(1700000000.0, sigs[1], v4a, v4b, 40000, 80, 6, 16, 0, app_proto="http"),  # type: ignore[arg-type]
        Alert(1700000001.999999, sigs[2], v6, v6, 0, 0, 58, 24, 5, itype=128, icode=0),  # type: ignore[arg-type]
        Alert(1700000002.5, sigs[2], v4a, v4b, 0, 0, 1, 32, 6),  # type: ignore[arg-type]
        Alert(1700000003.25, sigs[3], v4b, v4a, 5353, 53, 17, 40, 7),  # type: ignore[arg-type]
        Alert(1700000004.0, sigs[4], v4a, v4b, 0, 0, 47, 48, 8),  # type: ignore[arg-type]
        Alert(  # app-layer metadata: the general path
            1700000005.0,
            sigs[1],
            v4a,
            v4b,
            1,
            80,
            6,
            56,
            9,  # type: ignore[arg-type]
            app_proto="http",
            tx={"http": {"hostname": "a.example", "url": "/", "x": None}},
        ),  # fmt: skip
    ]


def test_lines_equal_the_record_encoding(sigs: dict[int, object]) -> None:
    enc = EveEncoder({"web-application-attack": ("Web Application Attack", 1)})
    for a in _alerts(sigs):
        want = json.dumps(eve_record(a, enc.cls), separators=(",", ":"))
        assert enc.line(a) == want
        assert enc.line(a) == want  # second time from the per-signature/address caches


def test_bulk_lines_and_timestamps_match_the_per_alert_path(sigs: dict[int, object]) -> None:
    enc = EveEncoder({})
    alerts = _alerts(sigs)
    assert enc.lines(alerts) == [enc.line(a) for a in alerts]
    rng = np.random.default_rng(5)
    ts = np.concatenate([
        1.7e9 + rng.random(20_000) * 1e6,  # arbitrary floats
        np.round(1.7e9 + rng.random(5_000) * 1e6, 6),  # microsecond captures
        1.7e9 + rng.integers(0, 10**15, 5_000) / 1e9,  # nanosecond captures
        np.array([1700000000.9999995, 1700000000.0000005, 0.0, 1.5, 1700000000.999999]),
    ])  # fmt: skip
    assert ts_texts(ts).tolist() == [_ts_text(float(x)) for x in ts]
