"""Build the sample assessment's restic repositories at run time (real restic, backdated).

    from samples.backup.build import build_sample_repos
    config = build_sample_repos("/tmp/demo")      # -> /tmp/demo/backup.yaml

Four repositories, so the demo shows every kind of verdict:

* files-local   fileserv01 daily data backups for 5 days up to >= 10 h before `now`
                (fresh, keep-daily 5 met), plus a weekly system backup of its /etc;
                restore drill configured (passes);
* files-offsite `restic copy` of files-local made 2 days before the newest backup
                (lagging off-site copy, itself stale);
* db-local      db01 backups that stopped 10 days before `now` (stale, retention gap);
* archive       arch01 backups whose newest packs have 20 flipped bytes, so `check`,
                `check --read-data` and the restore drill fail (fresh otherwise).

Snapshots are backdated with `restic backup --time` (TZ=UTC); file contents and
times depend only on `now`, so verdicts are deterministic (ids are random, as
restic makes them).  About 15 restic calls: a few seconds on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["SAMPLE_NOW", "backup_at", "build_sample_repos", "restic_cmd"]

SAMPLE_NOW = "2026-11-20T09:30:00Z"  # samples/assessment.yaml `now`
_PASSWORD = "sample-repository-password"  # demo repositories only


def _now(now: str | datetime | None) -> datetime:
    if now is None:
        now = SAMPLE_NOW
    if isinstance(now, str):
        now = datetime.fromisoformat(now.replace("Z", "+00:00"))
    return now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)


def restic_cmd(repo: Path, pwfile: Path, args: Sequence[str], *, from_repo: Path | None = None,
               stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    """Run restic on `repo` with the password in a file (never on argv); raise on failure."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
    env.update({"RESTIC_REPOSITORY": str(repo), "RESTIC_PASSWORD_FILE": str(pwfile), "TZ": "UTC"})
    if from_repo is not None:
        env["RESTIC_FROM_PASSWORD_FILE"] = str(pwfile)
        args = [*args, "--from-repo", str(from_repo)]
    p = subprocess.run(  # noqa: S603
        ["restic", "--no-cache", *args],
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if p.returncode != 0:
        raise RuntimeError(f"restic {args[0]} failed: {p.stderr.decode(errors='replace')[-400:]}")
    return p


def backup_at(repo: Path, pwfile: Path, src: Path, host: str, when: datetime,
              tags: Sequence[str] = ("daily",), note: str = "") -> None:  # fmt: skip
    """Write `src/daily.txt` for `when` and back `src` up as if taken at `when` (UTC)."""
    src.mkdir(parents=True, exist_ok=True)
    (src / "daily.txt").write_text(f"{host} {src.name} state as of {when:%Y-%m-%d}{note}\n")
    (src / "README.txt").write_text(f"{host} {src.name} sample data\n")
    sub = src / "sub"
    sub.mkdir(exist_ok=True)
    (sub / "static.cfg").write_text("setting = 1\n" * 20)
    args = ["backup", "--host", host, "--time", when.strftime("%Y-%m-%d %H:%M:%S")]
    for tag in tags:
        args += ["--tag", tag]
    restic_cmd(repo, pwfile, [*args, str(src)])


def _flip(pack: Path, start: int = 40, length: int = 20) -> None:
    data = bytearray(pack.read_bytes())
    for i in range(start, min(start + length, len(data))):
        data[i] ^= 0xFF
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))


def build_sample_repos(dest_dir: str | Path, now: str | datetime | None = None) -> Path:
    """Create the sample repositories under `dest_dir` and return its backup.yaml."""
    at = _now(now)
    dest = Path(dest_dir).resolve()
    repos = dest / "repos"
    src = dest / "src"
    for old in (repos, src):  # rebuilt from scratch: verdicts depend only on `now`
        if old.exists():
            shutil.rmtree(old)
    repos.mkdir(parents=True, exist_ok=True)
    pw = dest / "restic.pw"
    pw.write_text(_PASSWORD + "\n")
    pw.chmod(0o600)
    day0 = at.replace(hour=2, minute=0, second=0, microsecond=0)
    if day0 > at - timedelta(hours=10):
        day0 -= timedelta(days=1)

    files, offsite, db, archive = (
        repos / n for n in ("files-local", "files-offsite", "db-local", "archive")
    )
    for r in (files, db, archive):
        restic_cmd(r, pw, ["init"])
    # fresh group + weekly system backup; the copy is made after the 3rd day
    for i in range(4, -1, -1):
        backup_at(files, pw, src / "fileserv01" / "share", "fileserv01", day0 - timedelta(days=i))
        if i == 2:
            restic_cmd(offsite, pw, ["init", "--copy-chunker-params"], from_repo=files)
            restic_cmd(offsite, pw, ["copy"], from_repo=files)
    for i in (0,):
        backup_at(files, pw, src / "fileserv01" / "etc", "fileserv01",
                  day0 - timedelta(days=i, hours=-1), tags=("weekly", "system"))  # fmt: skip
    # stale database dumps: stopped 10 days ago
    for i in range(11, 9, -1):
        backup_at(db, pw, src / "db01" / "pgdump", "db01", day0 - timedelta(days=i))
    # archive: fresh, but the newest data pack gets 20 flipped bytes
    for i in range(1, 0, -1):
        backup_at(archive, pw, src / "arch01" / "records", "arch01", day0 - timedelta(days=i))
    before = set((archive / "data").rglob("*"))
    backup_at(archive, pw, src / "arch01" / "records", "arch01", day0,
              note=" — newest records " + "x" * 200)  # fmt: skip
    for pack in sorted(set((archive / "data").rglob("*")) - before):
        if pack.is_file():
            _flip(pack)

    share = src / "fileserv01" / "share"
    config = dest / "backup.yaml"
    config.write_text(
        "# Sample backup policy (generated by samples/backup/build.py)\n"
        "defaults:\n"
        "  max_age_hours: 36\n"
        "  keep: {daily: 5}\n"
        "  offsite_max_lag_snapshots: 1\n"
        "  check: {read_data: true}\n"
        "repositories:\n"
        f"  - name: files-local\n    repo: repos/files-local\n    password_file: restic.pw\n"
        f'    drill: {{host: fileserv01, path: "{share}"}}\n'
        f"  - name: files-offsite\n    repo: repos/files-offsite\n    password_file: restic.pw\n"
        f"    offsite_of: files-local\n"
        f"  - name: db-local\n    repo: repos/db-local\n    password_file: restic.pw\n"
        f"  - name: archive\n    repo: repos/archive\n    password_file: restic.pw\n"
        f"    keep: {{daily: 2}}\n"
        f'    drill: {{host: arch01, path: "{src / "arch01" / "records"}"}}\n',
        encoding="utf-8",
    )
    return config


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("dest")
    ap.add_argument("--now", default=SAMPLE_NOW)
    args = ap.parse_args(argv)
    print(build_sample_repos(args.dest, args.now))
    return 0


if __name__ == "__main__":
    sys.exit(main())
