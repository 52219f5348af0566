"""Traffic overview for notebook 00: hosts, top talkers, protocols, zone matrix, timeline, states.

Everything is vectorized pandas over the conn and packets tables; the notebook
only calls these functions, so a test reaches all of its logic.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secaudit.flows.table import empty_conn_frame
from secaudit.i18n import LANGS, t
from secaudit.model import Gap
from secaudit.plotfonts import cjk, svg_bytes
from secaudit.report.contract import save_results

__all__ = ["Overview", "save", "timeline_figure", "traffic_overview"]

# well-known service names by transport/port when the conn table has no `service`
_PORT_NAMES = {
    ("udp", 53): "dns", ("tcp", 53): "dns", ("udp", 123): "ntp", ("tcp", 80): "http",
    ("tcp", 443): "ssl", ("tcp", 3128): "http-proxy", ("tcp", 25): "smtp", ("tcp", 22): "ssh",
    ("tcp", 445): "smb", ("tcp", 9100): "jetdirect", ("tcp", 8000): "http-alt",
    ("udp", 161): "snmp", ("tcp", 3389): "rdp", ("udp", 67): "dhcp",
}  # fmt: skip


@dataclass
class Overview:
    metrics: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    gaps: list[Gap]
    conn: pd.DataFrame
    timeline: pd.DataFrame = field(default_factory=pd.DataFrame)


def _zones(
    conn: pd.DataFrame, policy_dir: str | None
) -> tuple[pd.Series, pd.Series, pd.Series, list[Gap]]:
    """Zone of each side, and the registered asset name of the originator (policy optional)."""
    n = len(conn)
    unknown = pd.Series(["-"] * n, index=conn.index, dtype=object)
    if not policy_dir:
        return unknown, unknown.copy(), unknown.copy(), []
    from secaudit.errors import SecauditError
    from secaudit.policy import load_policy

    try:
        pol = load_policy(policy_dir)
    except SecauditError as exc:
        gap = Gap("unreadable", str(policy_dir), str(exc), area="traffic_overview")
        return unknown, unknown.copy(), unknown.copy(), [gap]
    oz = pd.Series(pol.zone_name(pol.zone_of_strings(conn["id.orig_h"])), index=conn.index)
    rz = pd.Series(pol.zone_name(pol.zone_of_strings(conn["id.resp_h"])), index=conn.index)
    names = np.array([a.name for a in pol.assets] + ["-"], dtype=object)
    idx = np.asarray(pol.asset_of_ip_strings(conn["id.orig_h"]), dtype=np.int64)
    asset = pd.Series(names[np.where(idx >= 0, idx, len(names) - 1)], index=conn.index)
    return oz, rz, asset, []


def traffic_overview(
    pcaps: Sequence[str], policy_dir: str | None = None, lang: str = "en", top: int = 15
) -> Overview:
    """Read the captures once and summarise them (conn table with Zeek semantics)."""
    import secaudit as sa

    gaps: list[Gap] = []
    frames = []
    for path in pcaps:
        try:
            c = sa.flows(path)
        except sa.SecauditError as exc:
            gaps.append(Gap("unreadable", str(path), str(exc), area="traffic_overview"))
            continue
        gaps.extend(g for g in c.attrs.get("gaps", []) if isinstance(g, Gap))
        frames.append(c)
    if not pcaps:
        msg = t("report.gap.no_capture", lang)
        gaps.append(Gap("missing_input", "pcaps", msg, area="traffic_overview"))
    # no readable capture: the conn table's own empty frame (every column the summary reads)
    conn = pd.concat(frames, ignore_index=True) if frames else empty_conn_frame()
    oz, rz, asset, pgaps = _zones(conn, policy_dir)
    gaps.extend(pgaps)
    conn = conn.assign(orig_zone=oz.values, resp_zone=rz.values, orig_asset=asset.values)
    total_bytes = conn["orig_ip_bytes"].fillna(0).astype("int64") + conn["resp_ip_bytes"].fillna(
        0
    ).astype("int64")
    conn = conn.assign(total_bytes=total_bytes)

    # hosts: every originator or responder, with zone, MAC (originators) and registration
    orig = conn.groupby("id.orig_h").agg(
        zone=("orig_zone", "first"),
        asset=("orig_asset", "first"),
        mac=("orig_l2_addr", "first"),
        conns_out=("uid", "size"),
        bytes_out=("orig_ip_bytes", "sum"),
    )
    resp = conn.groupby("id.resp_h").agg(
        rzone=("resp_zone", "first"), conns_in=("uid", "size"), bytes_in=("resp_ip_bytes", "sum")
    )
    hosts = orig.join(resp, how="outer")
    hosts["zone"] = hosts["zone"].fillna(hosts["rzone"])
    hosts = hosts.drop(columns="rzone").fillna(
        {"conns_out": 0, "conns_in": 0, "bytes_out": 0, "bytes_in": 0, "asset": "-", "mac": "-"}
    )
    hosts = hosts.astype(
        {"conns_out": "int64", "conns_in": "int64", "bytes_out": "int64", "bytes_in": "int64"}
    )
    hosts.index.name = "host"
    hosts = hosts.reset_index().sort_values(["conns_out", "conns_in"], ascending=False)

    talkers = (
        conn.groupby(["id.orig_h", "id.resp_h"]).agg(conns=("uid", "size"), bytes=("total_bytes", "sum"))
        .sort_values("bytes", ascending=False).head(top).reset_index()
    )  # fmt: skip
    port = conn["id.resp_p"].fillna(0).astype("int64")
    named = pd.Series(
        [_PORT_NAMES.get((p, int(n)), "") for p, n in zip(conn["proto"], port, strict=True)],
        index=conn.index,
        dtype=object,
    )
    svc = conn["service"].where(conn["service"].notna() & (conn["service"] != ""), named)
    label = svc.where(svc != "", conn["proto"].astype(str) + "/" + port.astype(str))
    protocols = (
        conn.assign(protocol=label)
        .groupby("protocol")
        .agg(conns=("uid", "size"), bytes=("total_bytes", "sum"))
        .sort_values(["conns", "bytes"], ascending=False)
        .reset_index()
    )
    if len(protocols) > top:  # a scan makes one label per probed port: fold the long tail
        rest = protocols.iloc[top:]
        other = pd.DataFrame(
            [
                {
                    "protocol": f"other ({len(rest)})",
                    "conns": rest["conns"].sum(),
                    "bytes": rest["bytes"].sum(),
                }
            ]
        )
        protocols = pd.concat([protocols.iloc[:top], other], ignore_index=True)
    matrix = pd.crosstab(conn["orig_zone"], conn["resp_zone"]).rename_axis(
        index="from \\ to", columns=None
    )
    states = conn["conn_state"].value_counts().rename_axis("conn_state").reset_index(name="conns")
    ts = pd.to_datetime(conn["ts"], unit="s", utc=True)
    timeline = (
        conn.assign(minute=ts.dt.floor("min"))
        .groupby(["minute", "proto"])
        .size()
        .unstack(fill_value=0)
        if len(conn)
        else pd.DataFrame()
    )
    metrics = {
        "captures": len(pcaps),
        "connections": int(len(conn)),
        "hosts": int(len(hosts)),
        "bytes": int(total_bytes.sum()),
        "start": ts.min().strftime("%Y-%m-%d %H:%M:%S") if len(conn) else "-",
        "end": ts.max().strftime("%Y-%m-%d %H:%M:%S") if len(conn) else "-",
        "gaps": len(gaps),
    }
    tables = {
        "hosts": hosts,
        "top_talkers": talkers,
        "protocols": protocols,
        "zone_matrix": matrix.reset_index(),
        "conn_state": states,
    }
    return Overview(metrics, tables, gaps, conn, timeline)


@cjk
def timeline_figure(ov: Overview, lang: str = "en") -> Any:
    """Connections per minute by transport (a matplotlib Figure; pyplot's, so a notebook
    shows it)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    if len(ov.timeline):
        ov.timeline.plot(ax=ax, kind="area", stacked=True, linewidth=0)
    ax.set_title(t("report.plot.timeline", lang), fontsize=10)
    ax.set_xlabel("")
    ax.tick_params(labelsize=8)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return fig


def _table(df: pd.DataFrame, rows: int = 30) -> dict[str, Any]:
    head = df.head(rows)
    values = [
        [v.item() if hasattr(v, "item") else ("" if v is None else v) for v in rec]
        for rec in head.itertuples(index=False)
    ]
    return {"columns": [str(c) for c in head.columns], "rows": values}


def save(ov: Overview, out_dir: str | Path, lang: str = "en") -> Path:
    """Write the overview for the report: summary.json + timeline.svg (no findings, no detectors)."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # one chart per report language (a bilingual assessment embeds the one whose text
    # matches each report), and timeline.svg: the notebook language's, drawn once
    by_lang = {lg: f"timeline.{lg}.svg" for lg in LANGS}
    for lg, name in {**by_lang, lang: by_lang.get(lang, "timeline.svg")}.items():
        fig = timeline_figure(ov, lg)
        (out / name).write_bytes(svg_bytes(fig))
        plt.close(fig)
    if lang in by_lang:
        shutil.copyfile(out / by_lang[lang], out / "timeline.svg")
    summary = {
        "metrics": ov.metrics,
        "tables": {name: _table(df) for name, df in ov.tables.items()},
        "figures": [
            {
                "file": "timeline.svg",
                "title": t("report.plot.timeline", lang),
                "title_key": "report.plot.timeline",
                "by_lang": by_lang,
            }
        ],
    }
    return save_results(out, [], ov.gaps, detectors=[], inputs=["pcap", "policy"], summary=summary)
