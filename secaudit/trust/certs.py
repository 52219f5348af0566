"""Certificate and TLS checks over the x509 table (from nmap ssl-cert output or pcap handshakes).

Detectors (category "trust"): cert_expired, cert_not_yet_valid, cert_expiring,
cert_self_signed, cert_untrusted_issuer, cert_weak_key, cert_weak_signature,
cert_hostname_mismatch, tls_weak_version, tls_weak_cipher.  Each certificate
is judged once per (host, port, fingerprint); repeats in a pcap raise `count`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from secaudit.exposure.nmap_xml import NmapScan
from secaudit.i18n import t, with_title_params
from secaudit.model import Category, Finding
from secaudit.proto.x509 import cert_row, der_from_pem, hostname_matches, subject_cn, x509_frame
from secaudit.trust.config import TrustConfig

__all__ = [
    "CONTROLS",
    "check_certificates",
    "scan_names",
    "tls_offer_findings",
    "x509_from_scan",
]

G = "GB/T 22239-2019 "
CONTROLS: dict[str, tuple[str, ...]] = {
    "cert_expired": (G + "8.1.2.2 b", G + "8.1.4.1 c"),
    "cert_not_yet_valid": (G + "8.1.2.2 b",),
    "cert_expiring": (G + "8.1.2.2 b",),
    "cert_self_signed": (G + "8.1.2.2 b", G + "8.1.4.1 c"),
    "cert_untrusted_issuer": (G + "8.1.2.2 b", G + "8.1.4.1 c"),
    "cert_weak_key": (G + "8.1.2.2 b",),
    "cert_weak_signature": (G + "8.1.2.2 a", G + "8.1.2.2 b"),
    "cert_hostname_mismatch": (G + "8.1.2.2 b",),
    "tls_weak_version": (G + "8.1.2.2 b",),
    "tls_weak_cipher": (G + "8.1.2.2 b",),
    "cleartext_login": (G + "8.1.4.1 c", G + "8.1.2.2 b", G + "8.1.5.4 b"),
    "audit_coverage": (G + "8.1.5.4 d", G + "8.1.3.5 a"),
}
_DEFAULT_SEV = {
    "cert_expired": "high",
    "cert_not_yet_valid": "medium",
    "cert_expiring": "medium",
    "cert_self_signed": "medium",
    "cert_untrusted_issuer": "medium",
    "cert_weak_key": "high",
    "cert_weak_signature": "medium",
    "cert_hostname_mismatch": "medium",
    "tls_weak_version": "medium",
    "tls_weak_cipher": "medium",
}


def _iso(value: Any) -> str | None:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(float(value), UTC)
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return str(ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"))


def _trust_finding(
    detector: str,
    severity: str,
    subject: str,
    lang: str,
    evidence: Mapping[str, Any],
    *,
    first: str | None,
    last: str | None,
    count: int = 1,
    key: str = "",
    **params: Any,
) -> Finding:
    return Finding(
        rule_id=f"trust.{detector}",
        detector=detector,
        category=Category.TRUST,
        severity=severity,  # type: ignore[arg-type]
        title=t(f"finding.{detector}.title", lang, subject=subject, **params),
        subject=subject,
        first_seen=first,
        last_seen=last,
        count=count,
        evidence=with_title_params(evidence, params),
        controls=CONTROLS[detector],
        remediation=t(f"finding.{detector}.remediation", lang, **params),
        id_keys={"key": key},
    )


# --------------------------------------------------------------------------- x509 from nmap
def _nmap_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def x509_from_scan(scan: NmapScan) -> pd.DataFrame:
    """x509 rows for every ssl-cert script result (full parse when nmap included the PEM)."""
    rows: list[dict[str, Any]] = []
    for h in scan.hosts:
        ts = float(h.start or scan.start or 0) or None
        for p in h.ports:
            c = p.cert
            if not c:
                continue
            ders = der_from_pem(c["pem"]) if c.get("pem") else []
            row = (
                cert_row(ders[0], ts=ts, source=scan.source, host=h.addr, port=p.port)
                if ders
                else None
            )
            if row is None:  # nmap's own fields (old nmap, or a PEM cryptography rejects)
                subj, iss = c.get("subject"), c.get("issuer")
                row = {
                    "ts": ts,
                    "fingerprint": c.get("sha256") or c.get("sha1"),
                    "source": scan.source,
                    "host": h.addr,
                    "port": p.port,
                    "certificate.subject": subj,
                    "certificate.issuer": iss,
                    "certificate.not_valid_before": _nmap_ts(c.get("not_before")),
                    "certificate.not_valid_after": _nmap_ts(c.get("not_after")),
                    "certificate.key_type": (c.get("key_type") or "").lower() or None,
                    "certificate.key_length": c.get("key_bits"),
                    "certificate.sig_alg": c.get("sig_alg"),
                    "san.dns": [],
                    "self_signed": bool(subj) and subj == iss,
                }
            rows.append(row)
    return x509_frame(rows)


def scan_names(scan: NmapScan) -> dict[tuple[str, int], list[str]]:
    """(host, port) -> names the service should answer to: the scan's target names (type user)."""
    out: dict[tuple[str, int], list[str]] = {}
    for h in scan.hosts:
        if h.target_names:
            for p in h.ports:
                if p.cert:
                    out[(h.addr, p.port)] = list(h.target_names)
    return out


# --------------------------------------------------------------------------- checks
def _issuer_trusted(issuer: str | None, issuer_fps: set[str], cfg: TrustConfig) -> bool:
    for ti in cfg.certificates.trusted_issuers:
        if ti.issuer_regex and issuer and re.search(ti.issuer_regex, issuer, re.I):
            return True
        if ti.sha256 and ti.sha256.lower().replace(":", "") in issuer_fps:
            return True
    return False


def check_certificates(
    x509: pd.DataFrame,
    cfg: TrustConfig,
    *,
    now: datetime | None = None,
    names: Mapping[tuple[str, int], Iterable[str]] | None = None,
    lang: str = "en",
) -> list[Finding]:
    """Findings for each distinct (host, port, certificate); `names` feeds hostname checks."""
    if x509.empty:
        return []
    now = now or datetime.now(UTC)
    cp = cfg.certificates
    sev = {**_DEFAULT_SEV, **cp.severities}
    df = x509.copy()
    df["host"] = df["host"].fillna("")
    df["port"] = df["port"].fillna(0).astype("int64")
    df["fingerprint"] = df["fingerprint"].fillna("")
    # one judgement per (host, port, certificate); repeats only widen first/last seen and count
    groups: dict[tuple[str, int, str], dict[str, Any]] = {}
    stats: dict[tuple[str, int, str], list[Any]] = {}
    for rec in df.to_dict("records"):
        k = (str(rec["host"]), int(rec["port"]), str(rec["fingerprint"]))
        ts = rec["ts"] if pd.notna(rec["ts"]) else None
        if k not in groups:
            groups[k] = {str(c): v for c, v in rec.items()}
            stats[k] = [ts, ts, 0]
        st = stats[k]
        if ts is not None:
            st[0] = ts if st[0] is None else min(st[0], ts)
            st[1] = ts if st[1] is None else max(st[1], ts)
        st[2] += 1
    # CA certificates seen anywhere (chains in pcaps) let an issuer be trusted by fingerprint
    ca_subjects: dict[str, set[str]] = {}
    for subj, fp in zip(df["certificate.subject"], df["fingerprint"], strict=False):
        if subj:
            ca_subjects.setdefault(str(subj), set()).add(str(fp).lower())
    # a chain's CA certificates are judged as issuers, not as the service's certificate
    issuers_seen = set(df["certificate.issuer"].dropna().astype(str))
    out: list[Finding] = []
    for key in sorted(groups):
        row = groups[key]
        host, port, fp = key
        subject_dn = row["certificate.subject"]
        issuer_dn = row["certificate.issuer"]
        is_ca = row.get("basic_constraints.ca")
        if is_ca is True and subject_dn in issuers_seen and subject_dn != issuer_dn:
            continue  # intermediate CA from a chain
        if (
            is_ca is True
            and row["self_signed"] is True
            and (df["certificate.issuer"] == subject_dn).sum() > (df["fingerprint"] == fp).sum()
        ):
            continue  # root CA sent along with a chain it issued
        subj = f"{host}:{port}" if host else (subject_cn(subject_dn) or fp[:16])
        ev = {
            "host": host or None,
            "port": int(port) or None,
            "fingerprint": fp,
            "subject": subject_dn,
            "issuer": issuer_dn,
            "not_after": _iso(row["certificate.not_valid_after"]),
            "not_before": _iso(row["certificate.not_valid_before"]),
            "source": row.get("source"),
        }
        kw: dict[str, Any] = {
            "first": _iso(stats[key][0]),
            "last": _iso(stats[key][1]),
            "count": int(stats[key][2]),
            "key": fp,
        }
        na, nb = row["certificate.not_valid_after"], row["certificate.not_valid_before"]
        if pd.notna(na):
            na_dt = pd.Timestamp(na).to_pydatetime()
            if na_dt < now:
                out.append(_trust_finding("cert_expired", sev["cert_expired"], subj, lang, ev,
                                          date=na_dt.date().isoformat(), **kw))  # fmt: skip
            elif (na_dt - now).days <= cp.expiring_days:
                out.append(_trust_finding("cert_expiring", sev["cert_expiring"], subj, lang, ev,
                                          date=na_dt.date().isoformat(),
                                          days=(na_dt - now).days, **kw))  # fmt: skip
        if pd.notna(nb) and pd.Timestamp(nb).to_pydatetime() > now:
            out.append(_trust_finding("cert_not_yet_valid", sev["cert_not_yet_valid"], subj, lang,
                                      ev, date=pd.Timestamp(nb).date().isoformat(), **kw))  # fmt: skip
        self_signed = bool(row["self_signed"]) if pd.notna(row["self_signed"]) else False
        if self_signed and not cp.allow_self_signed:
            out.append(
                _trust_finding("cert_self_signed", sev["cert_self_signed"], subj, lang, ev, **kw)
            )
        if (
            cp.trusted_issuers
            and not self_signed
            and not _issuer_trusted(issuer_dn, ca_subjects.get(str(issuer_dn), set()), cfg)
        ):
            out.append(_trust_finding("cert_untrusted_issuer", sev["cert_untrusted_issuer"], subj,
                                      lang, ev, issuer=issuer_dn or "?", **kw))  # fmt: skip
        ktype = str(row["certificate.key_type"] or "").lower()
        bits = row["certificate.key_length"]
        if pd.notna(bits) and ktype:
            limit = cp.min_ec_bits if ktype in ("ecdsa", "ec") else cp.min_rsa_bits
            if ktype in ("rsa", "dsa", "dh", "ecdsa", "ec") and int(bits) < limit:
                out.append(_trust_finding("cert_weak_key", sev["cert_weak_key"], subj, lang,
                                          {**ev, "key_type": ktype, "bits": int(bits)},
                                          key_type=ktype, bits=int(bits), **kw))  # fmt: skip
        alg = str(row["certificate.sig_alg"] or "")
        if alg and any(p.lower() in alg.lower() for p in cp.weak_signature_patterns):
            out.append(_trust_finding("cert_weak_signature", sev["cert_weak_signature"], subj, lang,
                                      {**ev, "sig_alg": alg}, alg=alg, **kw))  # fmt: skip
        wanted = list((names or {}).get((host, int(port)), []))
        san = row["san.dns"]
        san_list = (
            [str(s) for s in san]
            if isinstance(san, (list, tuple)) or hasattr(san, "tolist")
            else []
        )
        for name in wanted:
            if name and not _is_ip(name) and not hostname_matches(name, san_list, subject_dn):
                out.append(_trust_finding("cert_hostname_mismatch", sev["cert_hostname_mismatch"],
                                          subj, lang, {**ev, "name": name, "san": san_list},
                                          name=name, **kw))  # fmt: skip
                break
    return out


def _is_ip(name: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _weak_ciphers(ciphers: Iterable[str], patterns: Iterable[str]) -> list[str]:
    pats = [re.compile(p, re.I) for p in patterns]
    return [c for c in ciphers if any(p.search(c) for p in pats)]


def tls_offer_findings(
    offers: Iterable[tuple[str, int, str, list[str], str | None]],
    cfg: TrustConfig,
    *,
    lang: str = "en",
) -> list[Finding]:
    """(host, port, version, ciphers, seen_at) offers -> tls_weak_version / tls_weak_cipher."""
    sev = {**_DEFAULT_SEV, **cfg.tls.severities}
    out: list[Finding] = []
    weak_by_port: dict[tuple[str, int], tuple[list[str], str | None]] = {}
    versions_by_port: dict[tuple[str, int], tuple[list[str], str | None]] = {}
    for host, port, version, ciphers, seen in offers:
        if version in cfg.tls.weak_versions:
            versions_by_port.setdefault((host, port), ([], seen))[0].append(version)
        weak = _weak_ciphers(ciphers, cfg.tls.weak_cipher_patterns)
        if weak:
            weak_by_port.setdefault((host, port), ([], seen))[0].extend(weak)
    for (host, port), (versions, seen) in sorted(versions_by_port.items()):
        subj = f"{host}:{port}"
        for v in sorted(set(versions)):
            out.append(_trust_finding("tls_weak_version", sev["tls_weak_version"], subj, lang,
                                      {"host": host, "port": port, "version": v}, first=seen,
                                      last=seen, key=v, version=v))  # fmt: skip
    for (host, port), (ciphers, seen) in sorted(weak_by_port.items()):
        uniq = sorted(set(ciphers))
        subj = f"{host}:{port}"
        out.append(_trust_finding("tls_weak_cipher", sev["tls_weak_cipher"], subj, lang,
                                  {"host": host, "port": port, "ciphers": uniq}, first=seen,
                                  last=seen, count=len(uniq), key="ciphers", n=len(uniq),
                                  examples=", ".join(uniq[:3])))  # fmt: skip
    return out


def scan_tls_offers(scan: NmapScan) -> list[tuple[str, int, str, list[str], str | None]]:
    """ssl-enum-ciphers results of a scan as offers for tls_offer_findings."""
    when = _iso(scan.start) if scan.start else None
    return [
        (h.addr, p.port, version, ciphers, when)
        for h in scan.hosts
        for p in h.ports
        if p.tls
        for version, ciphers in p.tls.items()
    ]
