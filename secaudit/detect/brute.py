"""Credential attacks: brute force and password spraying.

Two kinds of evidence, both per attacker within a sliding window:
* explicit failed logins seen in cleartext replies (FTP 530, SMTP 535, POP3
  -ERR, IMAP NO, telnet "Login incorrect", SMB STATUS_LOGON_FAILURE, HTTP 401);
* for encrypted/binary logins (SSH, RDP, VNC, telnet, SMB) many short,
  small, completed sessions to the service - a failed guess closes the
  session quickly (Zeek's SSH password-guessing heuristic works the same way);
* many submissions of a login form (POST to a target naming login/logon/
  signin/session): a web form often answers a wrong password with 200 and
  the form again, so the attempts themselves are the evidence.
SSH is recognised by its banner on any port, RDP by its X.224 connection
request.  Rejected or unanswered attempts never count (that is a fault or a
scan, not a guess).  Many targets from one attacker = password spraying.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from secaudit.detect._common import (
    conn_addr_codes,
    finding,
    group_codes,
    keyparts,
    sample,
    severity_of,
    text_in,
    text_lookup,
    window_hits,
)
from secaudit.detect.config import BruteForce
from secaudit.detect.registry import DetectContext, register
from secaudit.model import Category, Finding

__all__ = ["brute_force"]

_SESSION_SERVICES = {"ssh", "telnet", "rdp", "vnc", "smb"}


def _flows_with(
    dirs: pd.DataFrame,
    col: str,
    values: npt.NDArray[np.object_],
    conn_keys: tuple[npt.NDArray[Any], ...],
) -> npt.NDArray[np.bool_]:
    """Per conn row (`conn_keys`: orig code, orig port, resp code, resp port, codes into
    `values`): was it a TCP flow where a direction carried marker `col`?  Either side may
    have sent it, so both orientations of each direction are looked up."""
    d = dirs[dirs[col] > 0]
    if d.empty:
        return np.zeros(len(conn_keys[0]), dtype=bool)
    src, dst = text_lookup(d["src"], values), text_lookup(d["dst"], values)
    sp, dp = d["sport"].to_numpy(np.int64), d["dport"].to_numpy(np.int64)
    ok = (src >= 0) & (dst >= 0)  # an address the conn table lacks matches no row
    marked = [np.concatenate(x) for x in ((src, dst), (sp, dp), (dst, src), (dp, sp))]
    keep = np.concatenate([ok, ok])
    n = len(conn_keys[0])
    keys = pd.DataFrame(
        {i: np.concatenate([np.asarray(conn_keys[i], np.int64), marked[i][keep]]) for i in range(4)}
    )
    codes = group_codes(keys)
    return np.isin(codes[:n], codes[n:])


def _attempts(d: pd.DataFrame, n: Any, service: Any, *, server_side: bool) -> pd.DataFrame:
    """Attempt rows from TCP directions `d`: seen in a server's replies (server_side: the
    attacker is the direction's destination) or in a client's requests (its source)."""
    actor, peer, port = ("dst", "src", "sport") if server_side else ("src", "dst", "dport")
    return pd.DataFrame(
        {
            "attacker": d[actor].to_numpy(),
            "target": d[peer].to_numpy(),
            "port": d[port].to_numpy(np.int64),
            "ts": d["first_ns"].to_numpy(np.float64) / 1e9,
            "last": d["last_ns"].to_numpy(np.float64) / 1e9,
            "n": np.asarray(n, np.int64),
            "service": service,
            "uid": None,
        }
    )


def _failures(dirs: pd.DataFrame) -> pd.DataFrame:
    d = dirs[(dirs["login_fail"] > 0) | (dirs["http_auth_fail"] > 0)]
    n = d["login_fail"] + d["http_auth_fail"]
    service = np.where(d["http_auth_fail"] > 0, "http", "login")
    return _attempts(d, n, service, server_side=True)


def _login_posts(dirs: pd.DataFrame) -> pd.DataFrame:
    """Login-form submissions (POST to a login-like target), one row per client direction."""
    d = dirs[dirs["login_post"] > 0]
    return _attempts(d, d["login_post"], "http", server_side=False)


def _sessions(ctx: DetectContext, cfg: BruteForce, dirs: pd.DataFrame | None) -> pd.DataFrame:
    conn = ctx.conn
    cols = ["attacker", "target", "port", "ts", "last", "n", "service", "uid"]
    if conn.empty:
        return pd.DataFrame(columns=cols)
    tcp = text_in(conn, "proto", ("tcp",))
    port = conn["id.resp_p"].to_numpy(np.int64, na_value=-1)
    service = np.full(len(conn), None, dtype=object)  # by port (a few configured ones) ...
    session = np.zeros(len(conn), dtype=bool)  # ... a service whose failures close the session
    for number, name in cfg.auth_ports.items():
        on = port == number
        service[on] = name
        session[on] = name in _SESSION_SERVICES
    if dirs is not None and len(dirs):
        oc, rc, values = conn_addr_codes(conn)
        oport = conn["id.orig_p"].to_numpy(np.int64, na_value=-1)
        rows = np.flatnonzero(tcp)
        for col, name in (("ssh_banner", "ssh"), ("rdp_cr", "rdp")):
            hit = _flows_with(dirs, col, values, (oc[rows], oport[rows], rc[rows], port[rows]))
            service[rows[hit]] = name  # ... or by the protocol's own marker
            session[rows[hit]] = True
    ob = conn["orig_bytes"].to_numpy(np.float64, na_value=0)
    rb = conn["resp_bytes"].to_numpy(np.float64, na_value=0)
    duration = conn["duration"].to_numpy(np.float64, na_value=0)
    sel = (
        tcp
        & session
        & (ob > 0)
        & (rb > 0)
        & (duration <= cfg.max_session_s)
        & (ob + rb <= cfg.max_session_bytes)
    )
    rows = np.flatnonzero(sel)
    s = conn[["id.orig_h", "id.resp_h", "ts", "uid"]].iloc[rows]  # columns first, then rows
    ts = s["ts"].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "attacker": s["id.orig_h"].astype(object).to_numpy(),
            "target": s["id.resp_h"].astype(object).to_numpy(),
            "port": port[rows],
            "ts": ts,
            "last": ts + duration[rows],
            "n": 1,
            "service": service[rows],
            "uid": s["uid"].astype(object).to_numpy(),
        }
    )


@register("brute_force", Category.ATTACK, needs=("conn", "tcp_dirs"))
def brute_force(ctx: DetectContext) -> list[Finding]:
    """Many failed logins / short auth sessions from one source to one or many targets."""
    cfg = BruteForce.model_validate(ctx.settings("brute_force"))
    dirs = ctx.tables.get("tcp_dirs")
    out: list[Finding] = []
    flagged: set[tuple[str, str]] = set()
    for kind, ev, need in (
        (
            "failed_logins",
            _failures(dirs) if dirs is not None and len(dirs) else None,
            cfg.min_failures,
        ),
        ("short_sessions", _sessions(ctx, cfg, dirs), cfg.min_attempts),
        (
            "login_form_posts",
            _login_posts(dirs) if dirs is not None and "login_post" in dirs else None,
            cfg.min_attempts,
        ),
    ):
        if ev is None or ev.empty:
            continue
        hit = window_hits(ev[["attacker", "service"]], ev["ts"], need, cfg.window_s, ev["n"])
        for key, mine in ev[hit].groupby(["attacker", "service"], sort=True):
            attacker, service = (str(x) for x in keyparts(key))
            if (attacker, service) in flagged:
                continue
            flagged.add((attacker, service))
            targets = mine["target"].nunique()
            mode = "spray" if targets >= cfg.spray_min_targets else "single"
            n = int(mine["n"].sum())
            svc = service if service != "login" else _service_of(mine["port"], cfg)
            out.append(
                finding(
                    ctx,
                    "brute_force",
                    Category.ATTACK,
                    severity_of(n, cfg.severity, "medium"),
                    attacker,
                    float(mine["ts"].min()),
                    float(mine["last"].max()),
                    n,
                    {
                        "service": svc,
                        "evidence_kind": kind,
                        "mode": mode,
                        "attempts": n,
                        "sessions": len(mine),
                        "distinct_targets": int(targets),
                        "targets": sample(mine["target"], 20),
                        "ports": sorted(int(p) for p in sample(mine["port"], 10)),
                        "sample_uids": sample(mine["uid"], 5),
                    },
                    mode=mode,
                    id_keys={"service": svc},
                    service=svc,
                    targets=int(targets),
                )
            )
    return out


def _service_of(ports: pd.Series, cfg: BruteForce) -> str:
    top = int(ports.mode().iloc[0]) if len(ports) else 0
    return cfg.auth_ports.get(top, f"tcp/{top}")
