"""违规外联 detectors on scapy-crafted captures: a firing and a silent look-alike each."""

from __future__ import annotations

from pathlib import Path

from test_links_craft import (
    CW1,
    DNS1,
    GW_DMZ,
    GW_EXT,
    GW_INT,
    PROXY,
    T0,
    WS1,
    WS2,
    WS3,
    background,
    client_hello,
    detect_on,
    dns_answer,
    http_get,
    ping,
    tcp_session,
    udp_exchange,
)  # fmt: skip

EXT = "external_link,proxy_bypass,resolver_bypass,forbidden_zone_external,remote_access_out"


def by(findings: list, detector: str) -> dict[str, object]:
    return {f.subject: f for f in findings if f.detector == detector}


def test_background_is_silent(tmp_path: Path) -> None:
    assert detect_on(tmp_path, *background(), only=EXT) == []


def test_direct_web_is_external_link_and_proxy_bypass(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path, *background(),
        tcp_session(WS1[0], WS1[1], GW_EXT, "198.51.100.77", 443, T0 + 20, request=client_hello("share.example-files.net")),
        only=EXT,
    )  # fmt: skip
    ext = by(out, "external_link")
    assert set(ext) == {WS1[1]}
    dest = ext[WS1[1]].evidence["destinations"][0]
    assert dest["dst"] == "198.51.100.77" and dest["domain"] == "share.example-files.net"
    assert set(by(out, "proxy_bypass")) == {WS1[1]}
    assert "GB/T 22239-2019 8.1.3.1 c" in ext[WS1[1]].controls


def test_blocked_attempts_count(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(WS2[0], WS2[1], GW_EXT, "198.51.100.76", 5222, T0, state="S0"),
        tcp_session(
            WS2[0], WS2[1], GW_EXT, "198.51.100.76", 5222, T0 + 3, state="REJ", sport=40001
        ),
        only="external_link",
    )
    f = by(out, "external_link")[WS2[1]]
    assert f.evidence["attempts"] == 2 and f.evidence["destinations"][0]["attempts_only"]
    assert f.severity.value == "low"


def test_approved_by_cidr_and_by_domain_are_silent(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(
            WS1[0],
            WS1[1],
            GW_EXT,
            "203.0.113.10",
            443,
            T0,
            request=client_hello("platform.example"),
        ),
        tcp_session(
            WS2[0],
            WS2[1],
            GW_EXT,
            "198.51.100.60",
            443,
            T0 + 1,
            request=client_hello("www.example.gov.cn"),
        ),
        dns_answer(WS3[0], WS3[1], GW_EXT, DNS1[1], "oa.example.gov.cn", "198.51.100.61", T0 + 2),
        tcp_session(WS3[0], WS3[1], GW_EXT, "198.51.100.61", 443, T0 + 3, request=b"\x00" * 20),
        only=EXT,
    )
    assert out == []


def test_unapproved_domain_by_dns_answer_fires(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        dns_answer(WS3[0], WS3[1], GW_EXT, DNS1[1], "files.example.net", "198.51.100.29", T0),
        tcp_session(WS3[0], WS3[1], GW_EXT, "198.51.100.29", 8080, T0 + 1, request=b"\x00" * 20),
        only="external_link",
    )
    f = by(out, "external_link")[WS3[1]]
    assert f.evidence["destinations"][0]["domain"] == "files.example.net"


def test_exception_valid_is_silent_expired_fires(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(WS2[0], WS2[1], GW_EXT, "198.51.100.12", 1433, T0),  # valid until 2099
        tcp_session(WS1[0], WS1[1], GW_EXT, "198.51.100.83", 1433, T0 + 1),  # expired 2020
        only="external_link",
    )
    ext = by(out, "external_link")
    assert set(ext) == {WS1[1]}
    assert ext[WS1[1]].evidence["expired_exceptions"][0]["expires"] == "2020-01-31"


def test_proxy_own_egress_is_silent_but_proxy_other_port_fires(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(PROXY[0], PROXY[1], GW_DMZ, "198.51.100.20", 443, T0),
        tcp_session(PROXY[0], PROXY[1], GW_DMZ, "198.51.100.21", 6667, T0 + 1),
        only="external_link,proxy_bypass",
    )
    assert [(f.detector, f.subject) for f in out] == [("external_link", PROXY[1])]
    assert out[0].evidence["destinations"][0]["dst"] == "198.51.100.21"


def test_resolver_bypass_udp_dot_doh(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        udp_exchange(WS1[0], WS1[1], GW_EXT, "198.51.100.53", 53, T0),
        tcp_session(WS2[0], WS2[1], GW_EXT, "198.51.100.54", 853, T0 + 1),
        tcp_session(
            WS3[0], WS3[1], GW_EXT, "198.51.100.55", 443, T0 + 2, request=client_hello("dns.google")
        ),
        udp_exchange(DNS1[0], DNS1[1], GW_DMZ, "198.51.100.53", 53, T0 + 3),  # the resolver itself
        only="resolver_bypass",
    )
    rb = by(out, "resolver_bypass")
    assert set(rb) == {WS1[1], WS2[1], WS3[1]}
    assert rb[WS3[1]].evidence["destinations"][0]["tool"] == "doh"
    assert rb[WS2[1]].evidence["destinations"][0]["tool"] == "dot"


def test_forbidden_zone_ping_and_approved_http(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        ping(CW1[0], CW1[1], GW_INT, "198.51.100.201", T0),
        tcp_session(
            "52:54:00:00:02:10",
            "10.10.1.10",
            GW_INT,
            "203.0.113.50",
            80,
            T0 + 10,
            request=http_get("203.0.113.50"),
        ),
        only="forbidden_zone_external,external_link",
    )
    fz = by(out, "forbidden_zone_external")
    assert set(fz) == {CW1[1], "10.10.1.10"}
    assert fz[CW1[1]].evidence["destinations"][0]["service"] == "icmp"
    assert set(by(out, "external_link")) == {
        CW1[1]
    }  # the approved platform is not an external_link


def test_forbidden_zone_internal_traffic_is_silent(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path, tcp_session(CW1[0], CW1[1], "52:54:00:00:02:10", "10.10.1.10", 445, T0),
        only="forbidden_zone_external",
    )  # fmt: skip
    assert out == []


def test_remote_access_ports_and_payloads(tmp_path: Path) -> None:
    wg = b"\x01\x00\x00\x00" + b"\x22" * 144
    out = detect_on(
        tmp_path,
        tcp_session(
            WS1[0], WS1[1], GW_EXT, "198.51.100.58", 22, T0, request=b"SSH-2.0-OpenSSH_9.6\r\n"
        ),
        udp_exchange(
            WS2[0],
            WS2[1],
            GW_EXT,
            "198.51.100.88",
            40000,
            T0 + 1,
            request=wg,
            reply=b"\x02" + b"\x00" * 91,
        ),
        tcp_session(
            WS3[0],
            WS3[1],
            GW_EXT,
            "198.51.100.90",
            443,
            T0 + 2,
            request=client_hello("router1.teamviewer.com"),
        ),
        only="remote_access_out",
    )
    ra = by(out, "remote_access_out")
    assert {s: f.evidence["destinations"][0]["tool"] for s, f in ra.items()} == {
        WS1[1]: "ssh", WS2[1]: "wireguard", WS3[1]: "teamviewer",
    }  # fmt: skip
    assert "ATT&CK T1572" in ra[WS1[1]].controls


def test_internal_ssh_is_not_remote_access(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(
            WS1[0], WS1[1], "52:54:00:00:01:50", "10.20.1.50", 22, T0, request=b"SSH-2.0-x\r\n"
        ),
        tcp_session(WS2[0], WS2[1], GW_EXT, "203.0.113.9", 22, T0 + 1),  # approved platform
        only="remote_access_out",
    )
    assert out == []


def test_expired_exception_is_reported_as_policy_gap(tmp_path: Path) -> None:
    """The runner reports policy warnings (an expired exception) beside the findings."""
    from test_links_craft import write

    from secaudit.detect.run import detect

    pcap = write(
        tmp_path / "t.pcap", tcp_session(WS2[0], WS2[1], GW_EXT, "198.51.100.12", 1433, T0)
    )
    pol = Path(__file__).parent / "data" / "links" / "policy"
    gaps = detect(pcap, pol, only="external_link", strict=True).gaps
    warned = [g for g in gaps if g.kind == "policy_warning"]
    assert any("2020-01-31" in g.message or "expired" in g.message for g in warned)
