"""Signature engine: parser errors and gaps, matching semantics, EICAR carving, hostile input."""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from secaudit.cli import root
from secaudit.signatures import load_rules, parse_rules, signatures
from secaudit.signatures.compile import Content, Vars, compile_rule
from secaudit.signatures.match import match_buffer
from secaudit.signatures.rule import parse_rule

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "rules" / "tests" / "signatures"))
from _pcaplib import EICAR, http_get, http_response, smtp_with_attachment, tcp_session, write  # noqa: E402


def _rules(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "t.rules"
    p.write_text(text)
    return p


# --- parser ---------------------------------------------------------------------


def test_parse_multiline_escapes_and_typed_fields() -> None:
    rules, errs = parse_rules(
        'alert tcp any any -> any 80 (msg:"a\\;b"; \\\n content:"x|3b|y"; sid:7; rev:3; classtype:trojan-activity;)\n'
    )
    assert not errs
    (r,) = rules
    assert (r.sid, r.rev, r.msg, r.classtype, r.line) == (7, 3, "a;b", "trojan-activity", 1)
    assert [n for n, _v in r.options] == ["msg", "content", "sid", "rev", "classtype"]


def test_unbalanced_quote_reports_line_and_column() -> None:
    _rules_, errs = parse_rules('\n\nalert tcp any any -> any any (msg:"oops; sid:1;)\n', "x.rules")
    (e,) = errs
    assert e.line == 3 and e.column is not None and "quote" in e.message
    assert str(e).startswith("x.rules:3:")


def test_bad_header_is_an_error_not_a_rule() -> None:
    _r, errs = parse_rules("alert tcp any -> any (sid:1;)\n")
    assert errs and "header" in errs[0].message


@pytest.mark.parametrize(
    ("opts", "keyword", "kind"),
    [
        ("frobnicate:1;", "frobnicate", "unsupported"),
        ('pcre:"/(unclosed/";', "pcre", "unsupported"),
        ('content:"a"; byte_test:1,?,3,0;', "byte_test", "unsupported"),
        ("byte_test:1;", "byte_test", "unsupported"),
    ],
)
def test_bad_or_unknown_keyword_becomes_gap(
    tmp_path: Path, opts: str, keyword: str, kind: str
) -> None:
    rs = load_rules(
        _rules(
            tmp_path,
            f"alert tcp any any -> any any ({opts} sid:5;)\nalert ip any any -> any any (sid:6;)\n",
        )
    )
    assert [s.sid for s in rs.sigs] == [6]
    (g,) = rs.gaps
    assert (
        g.kind == kind and g.detail["sid"] == 5 and g.detail["keyword"] == keyword and g.line == 1
    )


# --- matching semantics -------------------------------------------------------------


def _items(opts: str) -> list[object]:
    r = parse_rule(f"alert tcp any any -> any any ({opts} sid:1;)")
    assert r is not None
    return compile_rule(r, Vars()).buffers[0].items


@pytest.mark.parametrize(
    ("opts", "buf", "want"),
    [
        ('content:"abc"; content:"def"; distance:1; within:4;', b"abc.def", True),
        ('content:"abc"; content:"def"; distance:1; within:4;', b"abc...def", False),
        ('content:"abc"; depth:3;', b"xabc", False),
        ('content:"ABC"; nocase; offset:1;', b"xabc", True),
        ('content:"a"; content:"b"; within:1;', b"a.a.ab", True),  # backtracks to the last 'a'
        ('content:"end"; endswith;', b"the end", True),
        ('content:"the"; startswith;', b"xthe", False),
        ('content:!"evil";', b"good", True),
        ('content:"|41 42|"; byte_test:1,=,0x43,0,relative;', b"ABC", True),
        (
            'content:"L"; byte_extract:1,0,n,relative; content:"Z"; distance:n; within:1;',
            b"L\x02xyZ",
            True,
        ),
        ('content:"a"; pcre:"/^bc/R";', b"zabc", True),
        ('content:"a"; isdataat:!1,relative;', b"za", True),
    ],
)
def test_content_semantics(opts: str, buf: bytes, want: bool) -> None:
    assert match_buffer(_items(opts), buf, {}) is want


def test_startswith_sets_depth() -> None:
    (c,) = _items('content:"GET"; startswith;')
    assert isinstance(c, Content) and c.depth == 3 and c.offset == 0


# --- end to end on scapy-built captures ---------------------------------------------


def test_eicar_chunked_gzip_http_and_base64_smtp(tmp_path: Path) -> None:
    pcap = tmp_path / "mal.pcap"
    pkts = tcp_session(
        "10.0.0.5", "203.0.113.9", 41000, 80,
        [("c", http_get("/x.bin")), ("s", http_response(EICAR, chunked=True, gzip_body=True))],
    )  # fmt: skip
    pkts += tcp_session(
        "10.0.0.6",
        "10.0.0.25",
        41001,
        25,
        smtp_with_attachment("eicar.com", EICAR),
        t0=1_700_000_100,
    )
    write(str(pcap), pkts)
    res = signatures(
        pcap,
        ROOT / "rules" / "signatures",
        yara=ROOT / "rules" / "yara",
        iocs=ROOT / "rules" / "iocs",
    )
    assert 9000002 in set(res.alerts["sid"])
    mal = [f for f in res.findings if f.detector == "malware_transfer"]
    assert {f.evidence["proto"] for f in mal} == {"http", "smtp"}
    for f in mal:
        assert (
            f.evidence["sha256"]
            == "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        )
        assert f.evidence["yara"] == ["EICAR_test_file"] and f.category == "malware"
    sig = [f for f in res.findings if f.detector == "signature"]
    assert sig and all(
        f.controls and f.controls[0].startswith("GB/T 22239-2019 8.1.3.3") for f in sig
    )


def test_benign_download_stays_silent(tmp_path: Path) -> None:
    pcap = tmp_path / "ok.pcap"
    write(
        str(pcap),
        tcp_session(
            "10.0.0.5",
            "203.0.113.9",
            41000,
            80,
            [("c", http_get("/a")), ("s", http_response(b"hi"))],
        ),
    )
    res = signatures(
        pcap,
        ROOT / "rules" / "signatures",
        yara=ROOT / "rules" / "yara",
        iocs=ROOT / "rules" / "iocs",
    )
    assert len(res.alerts) == 0 and not res.findings
    assert list(res.carved["sha256"]) and not any(res.carved["yara"])


def test_rule_text_that_is_not_utf8_still_alerts_and_writes(tmp_path: Path) -> None:
    """A msg with bytes that are not UTF-8 (a rule file saved in GBK) crashed the EVE
    writer; the text shows U+FFFD and a content's raw bytes still match."""
    pcap = tmp_path / "x.pcap"
    write(str(pcap), tcp_session("10.0.0.5", "10.0.0.9", 41000, 9000, [("c", b"ab\xffcd")]))
    rules = tmp_path / "t.rules"
    rules.write_bytes(
        b'alert tcp any any -> any any (msg:"\xb9\xa5\xbb\xf7 gbk"; classtype:\xff; '
        b'content:"b|ff|c"; metadata:tag \xfe; sid:1;)\n'
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        root, ["signatures", "-r", str(pcap), "-S", str(rules), "-l", str(out)]
    )
    assert result.exit_code == 0, result.output
    eve = [json.loads(line) for line in (out / "eve.json").read_text().splitlines()]
    assert [e["alert"]["signature"] for e in eve] == ["\ufffd\ufffd\ufffd\ufffd gbk"]
    (out / "eve.json").read_text(encoding="utf-8").encode("utf-8")  # no lone surrogates


def test_rules_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    """Windows editors start a UTF-8 file with a BOM: the first rule still loads."""
    rules = tmp_path / "t.rules"
    rules.write_bytes(b'\xef\xbb\xbfalert tcp any any -> any any (msg:"first"; sid:7;)\n')
    loaded = load_rules(rules)
    assert [s.sid for s in loaded.sigs] == [7] and not loaded.gaps


def test_catastrophic_pcre_becomes_gap_not_hang(tmp_path: Path) -> None:
    pcap = tmp_path / "x.pcap"
    write(str(pcap), tcp_session("10.0.0.5", "10.0.0.9", 41000, 9000, [("c", b"x" * 5000)]))
    rules = _rules(tmp_path, 'alert tcp any any -> any any (pcre:"/(x+x+)+y/"; sid:1;)\n')
    res = signatures(pcap, rules)
    assert len(res.alerts) == 0
    assert any(g.kind == "unsupported" and g.detail.get("keyword") == "pcre" for g in res.gaps)


@pytest.mark.parametrize("fast", [True, False])
def test_truncated_capture_is_a_gap_and_the_rest_is_inspected(tmp_path: Path, fast: bool) -> None:
    """A capture cut inside a record is reported (the alerts before the cut still come),
    not passed as fully inspected; both engine tiers."""
    pcap = tmp_path / "cut.pcap"
    pkts = tcp_session("10.0.0.5", "10.0.0.9", 41000, 9000, [("c", b"attack-marker" * 4)])
    pkts += tcp_session("10.0.0.6", "10.0.0.9", 41001, 9000, [("c", b"y" * 900)], t0=1_700_000_100)
    write(str(pcap), pkts)
    pcap.write_bytes(pcap.read_bytes()[:-300])  # the last record loses its tail
    rules = _rules(tmp_path, 'alert tcp any any -> any any (content:"attack-marker"; sid:1;)\n')
    res = signatures(pcap, rules, fast=fast)
    assert list(res.alerts["sid"]) == [1]
    cut = [g for g in res.gaps if g.kind == "truncated"]
    assert len(cut) == 1 and cut[0].source.endswith("cut.pcap"), res.gaps


def test_hostile_http_never_crashes_and_caps_gzip_bomb(tmp_path: Path) -> None:
    from secaudit.proto import http as H

    bomb = gzip.compress(b"\0" * (64 << 20))
    resp = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip, gzip, gzip, gzip\r\nContent-Length: "
        + str(len(bomb)).encode()
        + b"\r\n\r\n"
        + bomb
    )
    (m,) = H.parse_responses(resp)
    assert all(len(b) <= H.MAX_BODY for b in m.bodies)
    rnd = random.Random(5)
    for _ in range(200):
        blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 400)))
        H.parse_requests(b"GET / HTTP/1.1\r\n" + blob)
        H.parse_responses(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + blob)
    H.parse_requests(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * (1 << 20) + b"\r\n\r\n")


def test_cli_writes_eve(tmp_path: Path) -> None:
    pcap = tmp_path / "m.pcap"
    write(
        str(pcap),
        tcp_session(
            "10.0.0.5",
            "203.0.113.9",
            41000,
            80,
            [("c", http_get("/x")), ("s", http_response(EICAR))],
        ),
    )
    out = tmp_path / "out"
    r = CliRunner().invoke(
        root,
        ["signatures", "-r", str(pcap), "-S", str(ROOT / "rules" / "signatures"), "-l", str(out)],
    )
    assert r.exit_code == 0, r.output
    evs = [json.loads(x) for x in (out / "eve.json").read_text().splitlines()]
    (ev,) = [e for e in evs if e["alert"]["signature_id"] == 9000002]
    assert ev["src_ip"] == "203.0.113.9" and ev["dest_port"] == 41000 and ev["proto"] == "TCP"
    assert (
        ev["alert"]["category"] == "A Network Trojan was detected" and ev["alert"]["severity"] == 1
    )
    assert ev["timestamp"].endswith("+0000")


def test_cli_missing_rules_is_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        root,
        ["signatures", "-r", "x.pcap", "-S", str(tmp_path / "nope.rules"), "-l", str(tmp_path)],
    )
    assert r.exit_code == 2


def test_env_cache_dir_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from secaudit.signatures.prefilter import Prefilter

    monkeypatch.setenv("SECAUDIT_CACHE", str(tmp_path / "c"))
    text = "".join(
        f'alert tcp any any -> any any (content:"pattern{i:04d}|00|"; sid:{i + 1};)\n'
        for i in range(100)
    )
    rs = load_rules(_rules(tmp_path, text))
    pf = Prefilter.build(rs.sigs)
    assert pf.db is not None and list((tmp_path / "c").glob("hs-*.db"))
    got = pf.candidates(rs.sigs, [b"xxpattern0042\0yy"])
    assert [s.sid for s in got] == [43]
    assert os.environ["SECAUDIT_CACHE"]


def _tiny_pe() -> bytes:
    """A minimal PE layout: MZ stub whose e_lfanew points at a 'PE\\0\\0' signature."""
    stub = bytearray(b"MZ" + b"\0" * 0x3E)
    stub[0x3C:0x40] = (0x80).to_bytes(4, "little")
    return bytes(stub) + b"\0" * (0x80 - len(stub)) + b"PE\0\0" + b"\x4c\x01" + b"\0" * 200


@pytest.mark.parametrize(
    ("path", "ctype", "fires"),
    [
        ("/tablone.png", "image/png", True),  # executable served as a picture
        ("/report.pdf", "application/octet-stream", True),  # named as a document
        ("/setup.exe", "application/octet-stream", False),  # an honest download
    ],
)
def test_disguised_executable_is_malware_transfer(
    tmp_path: Path, path: str, ctype: str, fires: bool
) -> None:
    pcap = tmp_path / "pe.pcap"
    pkts = tcp_session(
        "10.0.0.5", "203.0.113.9", 41000, 80,
        [("c", http_get(path)), ("s", http_response(_tiny_pe(), ctype=ctype))],
    )  # fmt: skip
    write(str(pcap), pkts)
    res = signatures(pcap, ROOT / "rules" / "signatures", yara=ROOT / "rules" / "yara")
    mal = [f for f in res.findings if f.detector == "malware_transfer"]
    assert bool(mal) is fires
    if fires:
        assert mal[0].subject == "10.0.0.5" and mal[0].evidence["disguised"]["magic"] == "pe"


def test_png_named_png_is_not_an_executable() -> None:
    from secaudit.signatures.filetype import disguised_executable, sniff_executable

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    assert sniff_executable(png) is None
    assert disguised_executable(png, "a.png", "image/png") is None
    assert sniff_executable(b"MZ" + b"\0" * 10) is None  # too short to be a PE
    assert sniff_executable(b"\x7fELF\x02\x01") == "elf"


def test_cli_long_option_names(tmp_path: Path) -> None:
    """--read/--rules/--logdir/--checksum as `secaudit flows` and `detect` spell them."""
    pcap = tmp_path / "x.pcap"
    write(str(pcap), tcp_session("10.0.0.5", "10.0.0.9", 41000, 9000, [("c", b"marker")]))
    rules = _rules(tmp_path, 'alert tcp any any -> any any (content:"marker"; sid:1;)\n')
    out = tmp_path / "out"
    args = ["signatures", "--read", str(pcap), "--rules", str(rules), "--logdir", str(out),
            "--checksum", "none"]  # fmt: skip
    result = CliRunner().invoke(root, args)
    assert result.exit_code == 0, result.output
    assert len((out / "eve.json").read_text().splitlines()) >= 1
    flows = CliRunner().invoke(root, ["flows", "-r", str(pcap), "-l", str(tmp_path / "f"), "-q"])
    assert flows.exit_code == 0, flows.output


def test_alert_timeline_speaks_the_notebook_language(tmp_path: Path) -> None:
    from secaudit.signatures import report

    pcap = tmp_path / "x.pcap"
    write(str(pcap), tcp_session("10.0.0.5", "10.0.0.9", 41000, 9000, [("c", b"marker")]))
    rules = _rules(tmp_path, 'alert tcp any any -> any any (content:"marker"; sid:1;)\n')
    res = signatures(pcap, rules)
    ax = report.timeline_figure(res, lang="zh").axes[0]
    assert ax.get_title() == "告警时间分布"
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["严重级别 3"]
    assert report.timeline_figure(res).axes[0].get_title() == "Alerts over time"
