"""Build the sample's two nmap scans with real nmap against real services (root only).

    sudo .venv/bin/python -m samples.scans.build      # rewrites samples/scans/*.xml

The sample network's addresses (172.16.10.0/24 DMZ, 10.10.0.0/16 internal) exist
only inside a network namespace this script creates and deletes: services from
samples/scans/services.py listen there and nmap scans them there, with the
"services" profile of rules/exposure.yaml.  Two states are scanned:

* baseline.xml - the previous assessment's scan (what the network looked like);
* current.xml  - this assessment's scan, with the planted exposure incidents
  documented in samples/INCIDENTS.md (telnet on app02, a default Apache page on
  portal01:8080, an unregistered web server 172.16.10.77).

nmap stamps the XML with the time it really ran; the certificates are the
sample's seeded ones (samples.generate.sample_certs), so the scan shows the
same expired self-signed certificate on app02 as the pcap.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import load_der_x509_certificate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PORTS = "22,23,25,80,443,8080"

_SSH = {"kind": "ssh", "banner": "SSH-2.0-OpenSSH_7.4\r\n"}
_SMTP = {"kind": "smtp", "banner": "220 mail01.dmz.example.gov.cn ESMTP Postfix (Debian/GNU)\r\n"}
_TELNET = {"kind": "telnet", "banner": "\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18\r\napp02 login: "}
_PORTAL = {"kind": "http", "server": "nginx/1.24.0", "title": "Government service portal"}
_DEFAULT = {
    "kind": "http",
    "server": "Apache/2.4.52 (Debian)",
    "title": "Apache2 Debian Default Page: It works",
}
_ROGUE = {"kind": "http", "server": "lighttpd/1.4.59", "title": "Router admin"}


def states(certdir: Path) -> dict[str, list[dict[str, Any]]]:
    """Services per scan: the baseline, and the current state with the planted changes."""
    portal_tls = {**_PORTAL, "tls": True, **_pem(certdir, "portal01")}
    app02_tls = {**_PORTAL, "title": "app02", "tls": True, **_pem(certdir, "app02")}
    baseline = [
        {"ip": "10.10.1.10", "port": 22, **_SSH},
        {"ip": "172.16.10.25", "port": 25, **_SMTP},
        {"ip": "172.16.10.30", "port": 80, **_PORTAL},
        {"ip": "172.16.10.30", "port": 443, **portal_tls},
        {"ip": "172.16.10.31", "port": 443, **app02_tls},
    ]
    current = baseline + [
        {"ip": "172.16.10.31", "port": 23, **_TELNET},
        {"ip": "172.16.10.30", "port": 8080, **_DEFAULT},
        {"ip": "172.16.10.77", "port": 80, **_ROGUE},
    ]
    return {"baseline": baseline, "current": current}


def _pem(certdir: Path, name: str) -> dict[str, str]:
    return {"certfile": str(certdir / f"{name}.crt"), "keyfile": str(certdir / f"{name}.key")}


def write_certs(certdir: Path) -> None:
    """PEM chain and key files of the sample's portal01 and app02 certificates."""
    sys.path.insert(0, str(ROOT))
    from samples.generate import sample_certs

    servers = sample_certs().servers
    for name in ("portal01", "app02"):
        chain, key = servers[name]
        pem = b"".join(
            load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM) for der in chain
        )
        (certdir / f"{name}.crt").write_bytes(pem)
        (certdir / f"{name}.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def nmap_args() -> list[str]:
    """The "services" profile of rules/exposure.yaml, narrowed to the sample's ports."""
    cfg = yaml.safe_load((ROOT / "rules" / "exposure.yaml").read_text(encoding="utf-8"))
    return [*cfg["scan"]["profiles"]["services"]["args"], "-Pn", "-n", "-p", PORTS]


def scan_state(specs: list[dict[str, Any]], out: Path, workdir: Path) -> None:
    """Start the services in a fresh network namespace, scan them with nmap, clean up."""
    ns = f"secaudit-sample-{os.getpid()}"
    ips = sorted({s["ip"] for s in specs})
    spec_file = workdir / f"{out.stem}.json"
    spec_file.write_text(json.dumps(specs), encoding="utf-8")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        inns = ["ip", "netns", "exec", ns]
        subprocess.run([*inns, "ip", "link", "set", "lo", "up"], check=True)
        for ip in ips:
            subprocess.run([*inns, "ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [*inns, sys.executable, "-m", "samples.scans.services", str(spec_file)]
        with subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        ) as svc:
            assert svc.stdout is not None and svc.stdin is not None
            if svc.stdout.readline().strip() != "ready":
                raise RuntimeError("sample services did not start")
            try:
                subprocess.run([*inns, "nmap", *nmap_args(), "-oX", str(out), *ips], check=True,
                               stdout=subprocess.DEVNULL, timeout=600)  # fmt: skip
            finally:
                svc.stdin.close()
                svc.wait(timeout=30)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Build the sample's nmap scans (root only).")
    ap.add_argument("-o", "--outdir", type=Path, default=HERE)
    args = ap.parse_args(argv)
    missing = [t for t in ("ip", "nmap") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        why = f"missing {', '.join(missing)}" if missing else "needs root (network namespaces)"
        print(f"samples.scans.build: {why}", file=sys.stderr)
        return 2
    args.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="secaudit-scan-") as tmp:
        work = Path(tmp)
        write_certs(work)
        for name, specs in states(work).items():
            scan_state(specs, args.outdir / f"{name}.xml", work)
            print(f"{args.outdir / f'{name}.xml'}: {len(specs)} services scanned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
