"""违规内联 detectors on scapy-crafted captures: a firing and a silent look-alike each."""

from __future__ import annotations

from pathlib import Path

from test_links_craft import (
    CW1,
    DHCP1,
    FS1,
    GW_EXT,
    GW_INT,
    JUMP,
    PRN,
    PROXY,
    T0,
    WS1,
    WS2,
    WS3,
    arp,
    background,
    detect_on,
    dhcp_discover,
    dhcp_reply,
    router_adv,
    tcp_session,
)  # fmt: skip

ROGUE_MAC = "50:c7:bf:45:31:5f"
LAPTOP = "52:54:00:00:2b:41"


def subjects(findings: list, detector: str) -> set[str]:
    return {f.subject for f in findings if f.detector == detector}


# ----------------------------------------------------------------- unregistered_device
def test_unregistered_mac_fires_with_dhcp_address(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path, *background(),
        dhcp_discover(LAPTOP, T0 + 10),
        dhcp_reply(DHCP1[0], DHCP1[1], LAPTOP, "10.20.26.210", T0 + 10.1, mtype="ack"),
        arp(1, LAPTOP, "10.20.26.210", "10.20.0.1", T0 + 11),
        tcp_session(LAPTOP, "10.20.26.210", GW_EXT, PROXY[1], 3128, T0 + 12),
        only="unregistered_device",
    )  # fmt: skip
    f = [x for x in out if x.detector == "unregistered_device"]
    assert [x.subject for x in f] == ["10.20.26.210"]
    assert f[0].evidence["mac"] == LAPTOP and f[0].evidence["zones"] == ["gov-extranet"]
    assert "GB/T 22239-2019 8.1.3.1 b" in f[0].controls


def test_registered_devices_and_dhcp_renewal_are_silent(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path, *background(),
        dhcp_reply(DHCP1[0], DHCP1[1], WS2[0], WS2[1], T0 + 10, mtype="ack"),
        arp(1, WS2[0], WS2[1], "10.20.0.1", T0 + 11),
        only="unregistered_device,ip_mac_conflict,dual_homed,hidden_nat",
    )  # fmt: skip
    assert out == []


def test_unregistered_static_address_on_registered_mac(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path, arp(1, WS3[0], "10.20.1.33", "10.20.0.1", T0), only="unregistered_device"
    )
    assert subjects(out, "unregistered_device") == {"10.20.1.33"}


# ----------------------------------------------------------------- ip_mac_conflict
def test_printer_address_claimed_by_another_mac(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        arp(1, PRN[0], PRN[1], "10.20.0.1", T0),
        arp(1, WS1[0], PRN[1], "10.20.0.1", T0 + 5),
        arp(2, WS1[0], PRN[1], WS2[1], T0 + 6, WS2[0]),
        only="ip_mac_conflict",
    )
    f = [x for x in out if x.detector == "ip_mac_conflict"]
    assert [x.subject for x in f] == [PRN[1]]
    assert {m["asset"] for m in f[0].evidence["macs"]} == {"prn-01", "ws-001"}


def test_gateway_routing_many_addresses_is_no_conflict(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(WS1[0], WS1[1], GW_EXT, PROXY[1], 3128, T0),  # proxy's answers carry GW_EXT
        tcp_session(WS2[0], WS2[1], GW_EXT, "192.0.2.10", 53, T0 + 1),
        only="ip_mac_conflict,unregistered_device,dual_homed",
    )
    assert out == []


# ----------------------------------------------------------------- dual_homed
def test_one_mac_in_two_zones(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        arp(1, WS3[0], WS3[1], "10.20.0.1", T0),
        arp(1, WS3[0], "10.10.26.247", "10.10.0.1", T0 + 5),
        tcp_session(WS3[0], "10.10.26.247", "52:54:00:00:02:10", FS1[1], 445, T0 + 6),
        only="dual_homed",
    )
    f = [x for x in out if x.detector == "dual_homed"]
    assert [x.subject for x in f] == [WS3[1]]
    assert set(f[0].evidence["ips_by_zone"]) == {"gov-extranet", "gov-internal"}


# ----------------------------------------------------------------- zone links
def test_forbidden_zone_pair_and_port(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(WS1[0], WS1[1], GW_EXT, JUMP[1], 22, T0),  # extranet -> management
        tcp_session(
            CW1[0], CW1[1], GW_INT, "192.0.2.30", 3306, T0 + 1
        ),  # internal -> dmz, wrong port
        tcp_session(CW1[0], CW1[1], GW_INT, "192.0.2.30", 443, T0 + 2),  # allowed
        tcp_session(JUMP[0], JUMP[1], "52:54:00:00:00:04", CW1[1], 3389, T0 + 3),  # management -> *
        only="forbidden_zone_link",
    )
    assert subjects(out, "forbidden_zone_link") == {WS1[1], CW1[1]}
    cw = next(f for f in out if f.subject == CW1[1])
    assert [d["service"] for d in cw.evidence["destinations"]] == ["tcp/3306"]


def test_inbound_to_classified_attempts_and_session(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(WS2[0], WS2[1], GW_EXT, "10.10.31.11", 22, T0, state="REJ"),
        tcp_session(WS2[0], WS2[1], GW_EXT, FS1[1], 445, T0 + 1, sport=40001),
        tcp_session("52:54:00:00:00:03", "192.0.2.30", GW_INT, FS1[1], 445, T0 + 2),
        only="inbound_to_classified,forbidden_zone_link",
    )
    assert subjects(out, "inbound_to_classified") == {WS2[1], "192.0.2.30"}
    assert subjects(out, "forbidden_zone_link") == {WS2[1], "192.0.2.30"}


def test_management_into_classified_is_allowed(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        tcp_session(JUMP[0], JUMP[1], "52:54:00:00:00:04", CW1[1], 3389, T0),
        tcp_session(CW1[0], CW1[1], GW_INT, "192.0.2.30", 443, T0 + 1),
        only="inbound_to_classified,forbidden_zone_link",
    )
    assert out == []


# ----------------------------------------------------------------- rogue services
def test_rogue_dhcp_offer_and_ack(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        dhcp_discover(WS1[0], T0),
        dhcp_reply(
            ROGUE_MAC, "10.20.20.250", WS1[0], "10.20.20.100", T0 + 0.1, router="10.20.20.250"
        ),
        dhcp_reply(
            ROGUE_MAC,
            "10.20.20.250",
            WS1[0],
            "10.20.20.100",
            T0 + 0.2,
            mtype="ack",
            router="10.20.20.250",
        ),
        only="rogue_dhcp",
    )
    f = [x for x in out if x.detector == "rogue_dhcp"]
    assert [x.subject for x in f] == ["10.20.20.250"]
    assert f[0].evidence["messages"] == {"offer": 1, "ack": 1}
    assert f[0].evidence["router_not_registered"] == ["10.20.20.250"]


def test_dhcp_from_registered_server_is_silent(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        dhcp_discover(WS1[0], T0),
        dhcp_reply(DHCP1[0], DHCP1[1], WS1[0], WS1[1], T0 + 0.1),
        dhcp_reply(DHCP1[0], DHCP1[1], WS1[0], WS1[1], T0 + 0.2, mtype="ack"),
        only="rogue_dhcp",
    )
    assert out == []


def test_rogue_router_advertisement(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        router_adv(GW_EXT, "fe80::1", T0),
        router_adv(WS1[0], "fe80::5054:ff:fe00:101", T0 + 1),
        only="rogue_gateway",
    )
    assert subjects(out, "rogue_gateway") == {"fe80::5054:ff:fe00:101"}


def test_gratuitous_arp_for_gateway(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        arp(2, GW_EXT, "10.20.0.1", "10.20.0.1", T0),  # the real gateway's own GARP
        arp(2, "52:54:00:00:17:51", "10.20.0.1", "10.20.0.1", T0 + 1),
        arp(2, "52:54:00:00:17:51", "10.20.0.1", WS1[1], T0 + 2, WS1[0]),
        only="rogue_gateway",
    )
    f = [x for x in out if x.detector == "rogue_gateway"]
    assert [x.subject for x in f] == ["10.20.0.1"]
    assert f[0].evidence["claimed_by"] == "52:54:00:00:17:51" and f[0].severity.value == "critical"


# ----------------------------------------------------------------- hidden_nat
def _proxy_sessions(ttl: int, win: int, opts: list, start: float, n: int) -> list:
    out = []
    for i in range(n):
        out += tcp_session(
            WS1[0],
            WS1[1],
            GW_EXT,
            PROXY[1],
            3128,
            start + 10 * i,
            sport=42000 + i + ttl,
            ttl=ttl,
            win=win,
            options=opts,
        )
    return out


WIN_OPTS = [
    ("MSS", 1460),
    ("NOP", None),
    ("WScale", 8),
    ("NOP", None),
    ("NOP", None),
    ("SAckOK", b""),
]
LNX_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 9)]


def test_hidden_nat_two_ttl_baselines(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        _proxy_sessions(128, 64240, WIN_OPTS, T0, 4),
        _proxy_sessions(63, 65535, LNX_OPTS, T0 + 5, 4),
        only="hidden_nat",
    )
    f = [x for x in out if x.detector == "hidden_nat"]
    assert [x.subject for x in f] == [WS1[1]]
    assert "several TTL baselines" in f[0].evidence["reasons"]
    assert len(f[0].evidence["syn_fingerprints"]) == 2


def test_one_os_behind_an_address_is_silent(tmp_path: Path) -> None:
    out = detect_on(tmp_path, _proxy_sessions(128, 64240, WIN_OPTS, T0, 8), only="hidden_nat")
    assert out == []


def test_hidden_nat_same_os_one_hop_behind(tmp_path: Path) -> None:
    out = detect_on(
        tmp_path,
        _proxy_sessions(128, 64240, WIN_OPTS, T0, 4),
        _proxy_sessions(127, 64240, WIN_OPTS, T0 + 5, 4),  # a second Windows box behind ICS
        only="hidden_nat",
    )
    assert [x.subject for x in out if x.detector == "hidden_nat"] == [WS1[1]]
