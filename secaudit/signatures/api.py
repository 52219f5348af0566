"""Library entry points: load rule sets, run them over captures, write EVE JSON, make Findings."""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import json
import os
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secaudit.config import load_yaml
from secaudit.errors import ConfigError, InputError
from secaudit.model import Category, Finding, Gap, ResultDisplay, Severity
from secaudit.signatures import hs
from secaudit.signatures.compile import DEFAULT_ADDR_VARS, Sig, Unsupported, Vars, compile_rule
from secaudit.signatures.decode import PROTO_NAMES, ip_text
from secaudit.signatures.engine import Alert, Engine, frames_of
from secaudit.signatures.fast import FastRun
from secaudit.signatures.fasttables import paused_gc
from secaudit.signatures.files import rule_files
from secaudit.signatures.prefilter import Prefilter, cache_dir
from secaudit.signatures.rule import Rule, parse_file

__all__ = [
    "RuleSet",
    "SignatureResult",
    "load_rules",
    "load_vars",
    "signatures",
    "write_eve",
    "load_classification",
    "CONTROLS",
]

CONTROLS = ("GB/T 22239-2019 8.1.3.3",)
_MALWARE_CLASSTYPES = {
    "trojan-activity",
    "malware-cnc",
    "command-and-control",
    "exploit-kit",
    "targeted-activity",
}


@dataclass
class RuleSet:
    """Compiled signatures plus the rules that could not be used (as Gaps)."""

    sigs: list[Sig]
    rules: list[Rule]
    gaps: list[Gap] = field(default_factory=list)
    classification: dict[str, tuple[str, int]] = field(default_factory=dict)
    digest: str = ""


@dataclass(repr=False)
class SignatureResult(ResultDisplay):
    alerts: pd.DataFrame
    findings: list[Finding]
    gaps: list[Gap]
    carved: pd.DataFrame
    eve_lines: list[str]  # EVE JSON, one alert per line (as written to eve.json)

    @property
    def eve(self) -> list[dict[str, Any]]:
        """The EVE records as dicts (parsed on demand: a hit-heavy run has millions)."""
        return [json.loads(line) for line in self.eve_lines]


def load_classification(path: str | Path | None = None) -> dict[str, tuple[str, int]]:
    """classtype -> (description, priority) from Suricata's classification.config or our YAML."""
    out: dict[str, tuple[str, int]] = {}
    if path is None:
        data = load_yaml(Path(__file__).with_name("data") / "classification.yaml")
        for k, v in (data.get("classtypes") or {}).items():
            out[str(k)] = (str(v["description"]), int(v["priority"]))
        return out
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"cannot read classification file: {exc.strerror}", str(p)) from None
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s.startswith("config classification:"):
            continue
        parts = [x.strip() for x in s.split(":", 1)[1].split(",")]
        if len(parts) != 3 or not parts[2].isdigit():
            raise ConfigError(
                "expected 'config classification: name,description,priority'", str(p), line=no
            )
        out[parts[0]] = (parts[1], int(parts[2]))
    return out


def load_vars(path: str | Path | None) -> Vars:
    """Address/port variables: a Suricata-style vars YAML (`vars: {address-groups, port-groups}`)
    or rules/policy/zones.yaml (`home_net` list); default = Suricata's default suricata.yaml."""
    v = Vars()
    if path is None:
        return v
    data = load_yaml(Path(path))
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping with 'vars' or 'home_net'", str(path), line=1)
    groups = data.get("vars", data)
    addr = groups.get("address-groups") or {}
    ports = groups.get("port-groups") or {}
    for k, val in addr.items():
        v.addr[str(k)] = str(val)
    for k, val in ports.items():
        v.port[str(k)] = str(val)
    home = data.get("home_net")
    if home:
        v.addr["HOME_NET"] = "[" + ",".join(str(x) for x in home) + "]"
    return v


def _find_classification(files: list[Path]) -> Path | None:
    """A classification.config beside the rules or up to two folders above (suricata-verify layout)."""
    for f in files:
        d = f.resolve().parent
        for _ in range(3):
            c = d / "classification.config"
            if c.exists():
                return c
            d = d.parent
    return None


def load_rules(
    rules: str | Path | Sequence[str | Path],
    vars_file: str | Path | None = None,
    classification: str | Path | None = None,
) -> RuleSet:
    """Parse and compile rule files; bad or unsupported rules become Gaps (never silently dropped).

    Large rule sets (>= 1,000 lines) are cached compiled under `$SECAUDIT_CACHE` (default
    ~/.cache/secaudit), keyed by the hash of the rule, vars and classification files.
    """
    files = rule_files(rules, "*.rules", "rules file")
    key = hashlib.sha256(b"secaudit-rules-v1")
    big = False
    for f in [*files, *(Path(x) for x in (vars_file, classification) if x)]:
        blob = f.read_bytes()
        key.update(str(f.resolve()).encode() + b"\0" + blob)
        big = big or blob.count(b"\n") >= 1000
    cache = cache_dir() / f"rules-{key.hexdigest()[:32]}.pkl"
    if big and cache.exists():
        try:
            with open(cache, "rb") as fh, paused_gc():
                cached = pickle.load(fh)  # noqa: S301 - our own cache file under the user's cache dir
            if isinstance(cached, RuleSet):
                return cached
        except Exception:  # noqa: BLE001 - a stale or damaged cache entry is rebuilt
            pass
    with paused_gc():
        rs = _load_rules(files, vars_file, classification)
    if big:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(rs, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(cache)
        except (OSError, pickle.PicklingError, TypeError):
            pass
    return rs


def _load_rules(
    files: list[Path], vars_file: str | Path | None, classification: str | Path | None
) -> RuleSet:
    vars_ = load_vars(vars_file)
    gaps: list[Gap] = []
    parsed: list[Rule] = []
    h = hashlib.sha256()
    for f in files:
        rs, errs = parse_file(f)
        h.update(f.read_bytes())
        parsed.extend(rs)
        for e in errs:
            gaps.append(
                Gap(
                    kind="corrupt",
                    source=str(f),
                    line=e.line,
                    message=f"{e.location}: {e.message}",
                    area="attack",
                    detail={"column": e.column},
                )
            )
    sigs: list[Sig] = []
    seen: set[tuple[int, int]] = set()
    for i, r in enumerate(parsed):
        if not r.enabled:
            continue
        if r.action == "config":
            continue
        if (r.gid, r.sid) in seen:
            msg = f"duplicate sid {r.sid} (gid {r.gid}); later rule skipped"
            gaps.append(_rule_gap(r, "corrupt", msg, {"sid": r.sid}))
            continue
        if r.sid == 0:
            gaps.append(_rule_gap(r, "corrupt", "rule has no sid; skipped"))
            continue
        try:
            sigs.append(compile_rule(r, vars_, i))
        except Unsupported as exc:
            detail = {"sid": r.sid, "keyword": exc.keyword}
            gaps.append(_rule_gap(r, "unsupported", f"sid {r.sid}: {exc.message}", detail))
        seen.add((r.gid, r.sid))
    cls_path = classification or _find_classification(files)
    cls = load_classification(cls_path)
    return RuleSet(sigs=sigs, rules=parsed, gaps=gaps, classification=cls, digest=h.hexdigest())


def _rule_gap(r: Rule, kind: str, message: str, detail: dict[str, Any] | None = None) -> Gap:
    """The Gap of one rule that load skipped (a rule set's gaps all blind the attack area)."""
    return Gap(
        kind=kind, source=r.source, line=r.line, message=message, area="attack", detail=detail or {}
    )


def _ts_text(ts: float) -> str:
    d = _dt.datetime.fromtimestamp(ts, tz=_dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000"


def ts_texts(ts: np.ndarray) -> np.ndarray:
    """`_ts_text` over an array: whole seconds plus the fraction rounded half-even to
    microseconds, exactly as `datetime.fromtimestamp` rounds."""
    sec = np.floor(ts)
    us = np.round((ts - sec) * 1e6).astype(np.int64) + sec.astype(np.int64) * 1_000_000
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return np.char.add(text.astype(str), "+0000")


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).isoformat().replace("+00:00", "Z")


def alert_object(r: Rule, cls: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """The EVE `alert` object of a rule: ids, message, category and severity (classtype
    priority unless the rule sets `priority`)."""
    category = ""
    severity = 3
    if r.classtype:
        category, severity = cls.get(r.classtype, (r.classtype, 3))
    if r.priority is not None:
        severity = r.priority
    alert: dict[str, Any] = {
        "action": "allowed",
        "gid": r.gid,
        "signature_id": r.sid,
        "rev": r.rev,
        "signature": r.msg,
        "category": category,
        "severity": severity,
    }
    if r.metadata:
        md: dict[str, list[str]] = {}
        for m in r.metadata:
            k, _, v = m.partition(" ")
            md.setdefault(k, []).append(v.strip())
        alert["metadata"] = md
    return alert


def eve_record(a: Alert, cls: dict[str, tuple[str, int]]) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "timestamp": _ts_text(a.ts),
        "flow_id": a.flow_id,
        "event_type": "alert",
        "src_ip": ip_text(a.src),
        "dest_ip": ip_text(a.dst),
        "proto": PROTO_NAMES.get(a.proto, str(a.proto)),
    }
    if a.pcap_cnt:
        ev["pcap_cnt"] = a.pcap_cnt
    if a.proto in (6, 17, 132):
        ev["src_port"] = a.sport
        ev["dest_port"] = a.dport
    elif a.proto in (1, 58) and a.itype >= 0:
        ev["icmp_type"] = a.itype
        ev["icmp_code"] = a.icode
    ev["alert"] = alert_object(a.sig.rule, cls)
    if a.app_proto:
        ev["app_proto"] = a.app_proto
    for k, v in a.tx.items():
        if isinstance(v, dict):
            ev[k] = {kk: vv for kk, vv in v.items() if vv is not None}
    return ev


def write_eve(records: Iterable[dict[str, Any] | str], path: str | Path) -> None:
    """EVE JSON lines: records as dicts, or lines already encoded (`SignatureResult.eve_lines`)."""
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r, separators=(",", ":"))) + "\n")


class EveEncoder:
    """`json.dumps(eve_record(a))` without building the record: per alert only the time,
    flow id, addresses and ports vary, so each signature's `alert` object is encoded once and
    each address once.  Alerts with app-layer metadata take the general path."""

    def __init__(self, cls: dict[str, tuple[str, int]]) -> None:
        self.cls = cls
        self._sig: dict[int, tuple[int, str, str]] = {}
        self._ip: dict[bytes, str] = {}

    def ip(self, addr: bytes) -> str:
        text = self._ip.get(addr)
        if text is None:
            text = self._ip[addr] = ip_text(addr)
        return text

    def sig(self, a: Alert) -> tuple[int, str, str]:
        """(severity, category, encoded `alert` object) of the alert's signature."""
        got = self._sig.get(id(a.sig))
        if got is None:
            al = alert_object(a.sig.rule, self.cls)
            got = (int(al["severity"]), str(al["category"]), json.dumps(al, separators=(",", ":")))
            self._sig[id(a.sig)] = got
        return got

    def lines(self, alerts: Sequence[Alert]) -> list[str]:
        """EVE lines of many alerts; their timestamps are formatted in one array pass."""
        stamps = ts_texts(np.fromiter((a.ts for a in alerts), np.float64, len(alerts)))
        return [self.line(a, t) for a, t in zip(alerts, stamps.tolist(), strict=True)]

    def line(self, a: Alert, stamp: str | None = None) -> str:
        if a.tx or a.proto not in PROTO_NAMES:
            return json.dumps(eve_record(a, self.cls), separators=(",", ":"))
        alert = self.sig(a)[2]
        if stamp is None:
            stamp = _ts_text(a.ts)
        parts = [
            f'{{"timestamp":"{stamp}","flow_id":{a.flow_id},"event_type":"alert",'
            f'"src_ip":"{self.ip(a.src)}","dest_ip":"{self.ip(a.dst)}",'
            f'"proto":"{PROTO_NAMES[a.proto]}"'
        ]
        if a.pcap_cnt:
            parts.append(f',"pcap_cnt":{a.pcap_cnt}')
        if a.proto in (6, 17, 132):
            parts.append(f',"src_port":{a.sport},"dest_port":{a.dport}')
        elif a.proto in (1, 58) and a.itype >= 0:
            parts.append(f',"icmp_type":{a.itype},"icmp_code":{a.icode}')
        parts.append(f',"alert":{alert}')
        if a.app_proto:
            parts.append(f',"app_proto":{json.dumps(a.app_proto)}')
        parts.append("}")
        return "".join(parts)


def _finding(
    a: Alert, enc: EveEncoder, src: str, dst: str, count: int, first: float, last: float
) -> Finding:
    """One Finding per (signature, source, destination): its alerts are `count` and the window."""
    r = a.sig.rule
    malware = (
        (r.classtype or "") in _MALWARE_CLASSTYPES
        or "malware" in r.msg.lower()
        or "eicar" in r.msg.lower()
    )
    sev_num, category, _ = enc.sig(a)
    sev = Severity.parse("high" if sev_num <= 1 else "medium" if sev_num == 2 else "low")
    return Finding(
        rule_id=f"signature.{r.gid}.{r.sid}",
        detector="signature",
        category=Category.MALWARE if malware else Category.ATTACK,
        severity=sev,
        title=r.msg or f"sid {r.sid}",
        subject=src,
        first_seen=_iso(first),
        last_seen=_iso(last),
        count=count,
        evidence={
            "sid": r.sid,
            "gid": r.gid,
            "rev": r.rev,
            "signature": r.msg or f"sid {r.sid}",  # the report's title names the rule
            "src_ip": src,
            "dest_ip": dst,
            "dest_port": a.dport if a.proto in (6, 17, 132) else None,
            "proto": PROTO_NAMES.get(a.proto, str(a.proto)),
            "category": category,
            "attack_type": r.classtype or "",
        },
        controls=CONTROLS,
        id_keys={"sid": r.sid, "src": src, "dst": dst},
    )


def signatures(
    pcaps: str | Path | Sequence[str | Path],
    rules: str | Path | Sequence[str | Path] | RuleSet,
    *,
    vars_file: str | Path | None = None,
    checksum: str = "auto",
    eve_path: str | Path | None = None,
    yara: str | Path | Sequence[str | Path] | None = None,
    iocs: str | Path | Sequence[str | Path] | None = None,
    files_only: bool = False,
    fast: bool | None = None,
) -> SignatureResult:
    """Run Suricata-syntax rules over captures: alerts table, Findings, Gaps, carved files.

    `yara` / `iocs`: folders or files of YARA rules (*.yar) and indicator lists (*.csv);
    carved files are hashed and scanned, conn/DNS/TLS names matched against the lists.
    `files_only`: feed the engine only TCP connections that carry payload (enough for file
    carving and its malware checks; packet-level alerts on other traffic are then not produced).
    `fast`: use the numba + libhyperscan tier (signatures/fast.py) for the rules and flows it
    decides exactly, the Python engine for the rest; default on unless SECAUDIT_SIG_FAST=0,
    libhs is missing, or yara/iocs ask for every flow's files and names.  With the fast tier
    files are not carved (`carved` is empty): carving and its checks run with yara/iocs.
    """
    from secaudit.signatures import files as F

    rs = rules if isinstance(rules, RuleSet) else load_rules(rules, vars_file)
    yara_rules = F.load_yara(F.rule_files(yara, "*.yar"))
    ioc_set = F.load_iocs(F.rule_files(iocs, "*.csv"))
    conns: list[tuple[str, str, float]] = []
    names: list[tuple[str, str, str, float]] = []
    files = [pcaps] if isinstance(pcaps, (str, Path)) else list(pcaps)
    gaps = list(rs.gaps)
    lines: list[str] = []
    enc = EveEncoder(rs.classification)
    alerts: list[Alert] = []
    carved: list[dict[str, Any]] = []
    if fast is None:
        fast = os.environ.get("SECAUDIT_SIG_FAST", "1") != "0"
    fast = fast and hs.available() and not files_only and yara is None and iocs is None
    fr: FastRun | None = None
    if fast:
        try:
            with paused_gc():
                fr = FastRun(rs.sigs)
        except OSError:  # libhs refused the database or scratch: the Python engine runs alone
            fr = None
    pf = None if fr is not None else Prefilter.build(rs.sigs)
    for pcap in files:
        if not os.path.exists(pcap):
            raise InputError("capture not found", str(pcap))
        if fr is not None:
            got, eng = fr.run(str(pcap), checksum)
        else:
            eng = Engine(rs.sigs, pf, checksum=checksum)
            eng.source = str(pcap)
            it = frames_of(str(pcap), payload_conns_only=files_only, gaps=eng.gaps)
            head = list(itertools.islice(it, 1000))
            eng.sample_checksums(head)
            for frame, lt, ts in itertools.chain(head, it):
                eng.feed(frame, lt, ts)
            got = eng.finish()
        gaps.extend(eng.gaps)
        alerts.extend(got)
        with paused_gc():  # one line per alert: many objects, no cycles
            lines.extend(enc.lines(got))
        for c in eng.carved if fr is None else []:  # fast tier: carving only with yara/iocs
            c = dict(c)
            c["pcap"] = str(pcap)
            carved.append(c)
        conns.extend(eng.conns)
        names.extend(eng.names)
    if eve_path is not None:
        write_eve(lines, eve_path)
    with paused_gc():
        # column-wise: one list per column instead of one dict per alert
        cols: dict[str, list[Any]] = {k: [] for k in (
            "sid", "gid", "rev", "signature", "category", "severity",
            "src_ip", "src_port", "dest_ip", "dest_port", "proto", "flow_id",
        )}  # fmt: skip
        for a in alerts:
            r = a.sig.rule
            sc = enc.sig(a)
            ported = a.proto in (6, 17, 132)
            cols["sid"].append(r.sid)
            cols["gid"].append(r.gid)
            cols["rev"].append(r.rev)
            cols["signature"].append(r.msg)
            cols["category"].append(sc[1])
            cols["severity"].append(sc[0])
            cols["src_ip"].append(enc.ip(a.src))
            cols["src_port"].append(a.sport if ported else None)
            cols["dest_ip"].append(enc.ip(a.dst))
            cols["dest_port"].append(a.dport if ported else None)
            cols["proto"].append(PROTO_NAMES.get(a.proto, str(a.proto)))
            cols["flow_id"].append(a.flow_id)
        colnames = ["ts", *cols]
        if alerts:
            stamps = pd.to_datetime(np.array([a.ts for a in alerts]), unit="s", utc=True)
            df = pd.DataFrame({"ts": stamps, **cols}, columns=colnames)
        else:
            df = pd.DataFrame([], columns=colnames)
        groups: dict[tuple[int, int, str, str], list[Alert]] = {}
        for a in alerts:
            key = (a.sig.rule.gid, a.sig.sid, enc.ip(a.src), enc.ip(a.dst))
            groups.setdefault(key, []).append(a)
        findings = [
            _finding(items[0], enc, key[2], key[3], len(items), items[0].ts, items[-1].ts)
            for key, items in groups.items()
        ]
    file_rows, file_findings = F.scan_files(carved, yara_rules, ioc_set)
    findings.extend(file_findings)
    findings.extend(F.ioc_findings(conns, names, ioc_set))
    carved_df = pd.DataFrame(file_rows, columns=[
        "pcap", "flow_id", "proto", "direction", "client", "server", "ts", "name",
        "size", "md5", "sha1", "sha256", "yara", "ioc",
    ])  # fmt: skip
    return SignatureResult(
        alerts=df, findings=findings, gaps=gaps, carved=carved_df, eve_lines=lines
    )


def _unused() -> dict[str, str]:
    return dict(DEFAULT_ADDR_VARS)
