"""links_tables: the numba host aggregation agrees with a plain pandas groupby on real packets."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import CORPUS, need_shared

from secaudit.capture import read_packets
from secaudit.detect.links_tables import links_tables
from secaudit.policy.addr import is_special


def test_hosts_table_matches_groupby() -> None:
    need_shared()
    chunk = read_packets(CORPUS / "links" / "scenarios" / "hidden_nat_ics" / "capture.pcap")
    p = chunk.packets
    got = links_tables(p, chunk.data)["links_hosts"]
    arp = p["arp_op"] > 0
    sel = (p["src_mac"] != 0) & ((p["ip_version"] > 0) | arp)
    s = p[sel]
    a = arp[sel]
    ref = pd.DataFrame(
        {
            "src_mac": s["src_mac"], "src_hi": s["src_hi"], "src_lo": s["src_lo"], "vlan": s["vlan"],
            "ttl": np.where(a, 0, s["ttl"]).astype(np.uint8), "arp": a,
            "uni": ((s["proto"] == 6) | (s["proto"] == 17)) & ~a & ~is_special(s["dst_hi"], s["dst_lo"]),
            "ts": s["ts"],
        }
    )  # fmt: skip
    keys = ["src_mac", "src_hi", "src_lo", "vlan", "ttl", "arp", "uni"]
    ref = (
        ref.groupby(keys)
        .agg(pkts=("ts", "size"), first_ns=("ts", "min"), last_ns=("ts", "max"))
        .reset_index()
    )
    cols = [*keys, "pkts", "first_ns", "last_ns"]
    a_ = got[cols].sort_values(keys).reset_index(drop=True).astype("int64")
    b_ = ref[cols].sort_values(keys).reset_index(drop=True).astype("int64")
    pd.testing.assert_frame_equal(a_, b_)
    assert len(got) > 10


def test_sni_and_host_names_are_extracted() -> None:
    need_shared()
    chunk = read_packets(CORPUS / "links" / "scenarios" / "proxy_bypass_http_tls" / "capture.pcap")
    names = links_tables(chunk.packets, chunk.data)["links_names"]
    direct = names[names["src"] == "10.20.22.57"]
    assert {"files.example.net", "cloud.example.org"} <= set(direct["name"])
    assert set(direct["kind"]) == {"sni", "host"}
