#!/usr/bin/env python3
"""Collect suricata-verify tests beyond the dev corpus for checking `secaudit signatures`.

The dev corpus (../shared/corpus/suricata-verify) holds half of the suricata-verify tests
that its README's selection keeps (one pcap <= 2 MB, test.rules, no config that changes
detection, alert-count checks).  This applies the same selection to a suricata-verify
checkout and writes the tests that are not in the dev corpus into OUT in the corpus
layout (<tier>/<name>/{pcap, test.rules, test.yaml, expected.json}), so that

    python3 ../shared/tools/score_signatures.py --corpus OUT \\
        --cmd '.venv/bin/secaudit signatures -r {pcap} -S {rules} -l {outdir}'

scores them too.  A development aid (it needs a suricata-verify git directory, e.g. the
`fetch` tool's mirror; no work tree needed); nothing in the test suite uses it.  The tier
split is approximated from rule keywords and header protocols (tier3 tests are left out);
read a failure's test.yaml before treating it as a bug.

    python3 scripts/suricata_verify_tests.py SV_GIT_DIR OUT [--dev ../shared/corpus/suricata-verify]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

TARGET = (9, 0, 0)
MAX_PCAP = 2 << 20
_MATCH_KEYS = {
    "event_type", "alert.signature_id", "alert.gid", "alert.rev", "alert.signature",
    "alert.action", "alert.category", "alert.severity", "src_ip", "dest_ip", "src_port",
    "dest_port", "proto", "icmp_type", "icmp_code",
}  # fmt: skip
_TIER1_KW = {
    "content", "nocase", "depth", "offset", "distance", "within", "dsize", "flags", "flow",
    "itype", "icode", "threshold", "msg", "sid", "rev", "gid", "classtype", "priority",
    "reference", "metadata", "fast_pattern", "prefilter", "rawbytes",
}  # fmt: skip
_TIER2_KW = {
    "pcre", "byte_test", "byte_jump", "byte_extract", "byte_math", "isdataat", "flowbits",
    "xbits", "hostbits", "flowint", "file_data", "file.data", "app-layer-protocol", "urilen",
    "base64_decode", "base64_data", "detection_filter", "stream_size", "ipopts", "fragbits",
    "ttl", "ip_proto", "ack", "seq", "window", "tag", "bsize", "pkt_data", "startswith",
    "endswith", "noalert", "uricontent", "requires", "target",
}  # fmt: skip
_TIER2_PREFIX = ("http.", "http_", "dns.", "dns_", "tls.", "tls_")
_T1_PROTO = {"ip", "tcp", "udp", "icmp", "icmpv6", "ipv4", "ipv6"}
_T2_PROTO = _T1_PROTO | {"http", "http1", "dns", "tls", "tcp-pkt", "tcp-stream", "pkthdr",
                         "sctp", "igmp"}  # fmt: skip
_T1_ACTION = {"alert"}
_T2_ACTION = {"alert", "drop", "pass", "reject"}
_ARG_OK = re.compile(
    r"^(-k none|--runmode single|-v+|--set (logging|outputs|stats)\..*|"
    r"--set app-layer\.protocols\.http\.libhtp\.default-config\."
    r"response-body-decompress-layer-limit=\d+)$"
)


def _git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def _version(text: Any) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", str(text))[:3]) + (0,) * 3


def _requires_ok(req: Any) -> bool:
    if not req:
        return True
    if not isinstance(req, dict) or set(req) - {"min-version", "lt-version"}:
        return False
    if "min-version" in req and _version(req["min-version"])[:3] > TARGET:
        return False
    return not ("lt-version" in req and _version(req["lt-version"])[:3] <= TARGET)


def _args_ok(args: Any) -> bool:
    """Every option (an args item may hold several: "-k none --set x=1") is allowed."""
    items = args if isinstance(args, list) else ([args] if args else [])
    tokens = [tok for a in items for tok in str(a).split()]
    opts, i = [], 0
    while i < len(tokens):
        takes_value = tokens[i] in ("-k", "--set", "--runmode") and i + 1 < len(tokens)
        opts.append(" ".join(tokens[i : i + 2]) if takes_value else tokens[i])
        i += 2 if takes_value else 1
    return all(_ARG_OK.match(o) for o in opts)


def _checks(test: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for chk in test.get("checks") or []:
        f = chk.get("filter") if isinstance(chk, dict) else None
        if not isinstance(f, dict) or not _requires_ok(f.get("requires")):
            continue
        match = f.get("match") or {}
        count = f.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not isinstance(match, dict):
            continue
        et = match.get("event_type")
        if et is None and any(str(k).startswith("alert.") for k in match):
            match = {"event_type": "alert", **match}
        elif et != "alert":
            continue
        if set(match) - _MATCH_KEYS:
            continue
        out.append({"match": match, "count": count})
    return out


def _tier(rules: str) -> str | None:
    """tier1 / tier2 by the rules' actions, header protocols and keywords; None: tier3."""
    tier = 1
    for line in re.sub(r"\\\n", "", rules).splitlines():  # backslash-continued rules
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _, body = line.partition("(")
        words = head.split()
        if len(words) < 2:
            continue
        action, proto = words[0], words[1].lower()
        if action not in _T2_ACTION or proto not in _T2_PROTO:
            return None
        if action not in _T1_ACTION or proto not in _T1_PROTO:
            tier = 2
        for opt in re.findall(r"(?:^|;)\s*([a-zA-Z0-9_.\-]+)\s*(?=[:;])", body):
            if opt in _TIER1_KW:
                continue
            if opt in _TIER2_KW or opt.startswith(_TIER2_PREFIX) or opt.endswith(".hdr"):
                tier = 2
                continue
            return None
    return f"tier{tier}"


def collect(repo: Path, dev: Path, out: Path) -> int:
    sizes: dict[str, int] = {}  # path -> blob size ("<mode> <type> <id> <size>\t<path>")
    for line in _git(repo, "ls-tree", "-r", "-l", "HEAD", "tests").decode().splitlines():
        meta, _, path = line.partition("\t")
        size = meta.split()[-1]
        sizes[path] = int(size) if size.isdigit() else 0
    names = list(sizes)
    by_dir: dict[str, list[str]] = {}
    for n in names:
        by_dir.setdefault(str(PurePosixPath(n).parent), []).append(n)
    dev_names = {p.name for p in dev.glob("*/*") if p.is_dir()}
    leaves = [d for d in by_dir if f"{d}/test.yaml" in by_dir[d]]
    leaf_count: dict[str, int] = {}
    for d in leaves:
        leaf_count[PurePosixPath(d).name] = leaf_count.get(PurePosixPath(d).name, 0) + 1
    kept = 0
    for d in sorted(leaves):
        name = PurePosixPath(d).name
        if leaf_count[name] > 1:
            name = "__".join(PurePosixPath(d).parts[1:])
        if name in dev_names or "ips" in name:
            continue
        try:
            test = yaml.safe_load(_git(repo, "show", f"HEAD:{d}/test.yaml")) or {}
        except yaml.YAMLError:
            continue
        if not isinstance(test, dict):
            continue
        if set(test) & {"command", "env", "setup", "skip", "pre-check"} or test.get("exit-code"):
            continue
        if not _requires_ok(test.get("requires")) or not _args_ok(test.get("args")):
            continue
        here = by_dir[d]
        rules = [f for f in here if f.endswith(".rules")]
        if rules != [f"{d}/test.rules"]:
            continue
        if f"{d}/suricata.yaml" in here:
            conf = yaml.safe_load(
                re.sub(rb"^%YAML.*\n", b"", _git(repo, "show", f"HEAD:{d}/suricata.yaml"))
            )
            if not isinstance(conf, dict) or set(conf) - {"outputs", "logging", "stats",
                                                          "default-log-dir"}:  # fmt: skip
                continue
        pcap_key = test.get("pcap")
        if pcap_key is False:
            continue
        if isinstance(pcap_key, str):
            pcap = str(PurePosixPath(d, pcap_key))
            pcap = str(PurePosixPath(*_norm(PurePosixPath(pcap).parts)))
        else:
            caps = [f for f in here if f.endswith((".pcap", ".pcapng"))]
            if len(caps) != 1:
                continue
            pcap = caps[0]
        if pcap not in sizes or sizes[pcap] > MAX_PCAP:
            continue
        checks = _checks(test)
        if not checks:
            continue
        rules_text = _git(repo, "show", f"HEAD:{d}/test.rules").decode("utf-8", "replace")
        tier = _tier(rules_text)
        if tier is None:
            continue
        if tier == "tier2" and name.startswith("http-evader-"):
            tier = "tier2-evader"
        try:
            blob = _git(repo, "show", f"HEAD:{pcap}")
        except subprocess.CalledProcessError:  # listed but absent from a partial mirror
            print(f"skipped {name}: {pcap} not in the checkout", file=sys.stderr)
            continue
        dst = out / tier / name
        dst.mkdir(parents=True, exist_ok=True)
        (dst / PurePosixPath(pcap).name).write_bytes(blob)
        (dst / "test.rules").write_text(rules_text, encoding="utf-8")
        (dst / "test.yaml").write_bytes(_git(repo, "show", f"HEAD:{d}/test.yaml"))
        (dst / "expected.json").write_text(json.dumps(checks, indent=1), encoding="utf-8")
        kept += 1
    return kept


def _norm(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if p == "..":
            out.pop()
        elif p != ".":
            out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dev", type=Path, default=Path("../shared/corpus/suricata-verify"))
    a = ap.parse_args()
    print(f"{collect(a.repo, a.dev, a.out)} tests written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
