"""restic output parsing and version handling: 0.14 (recorded) vs current (documented shapes)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import DATA
from hypothesis import given
from hypothesis import strategies as st

from secaudit.backup.restic import (
    Completed,
    RepoAccess,
    RepositoryCorrupted,
    RepositoryLocked,
    RepositoryMissing,
    Restic,
    ResticError,
    ResticTimeout,
    ResticVersion,
    Timeouts,
    WrongPassword,
    classify_failure,
    parse_check,
    parse_forget,
    parse_lock,
    parse_ls,
    parse_snapshots,
    parse_time,
    parse_version,
    redact,
)

J = DATA / "backup" / "json"
V014 = ResticVersion(0, 14, 0)
V018 = ResticVersion(0, 18, 0)


def read(name: str) -> str:
    return (J / name).read_text(encoding="utf-8")


def test_version_lines() -> None:
    assert parse_version(read("version_0.14.txt")) == V014
    assert parse_version(read("version_0.18.txt")) == V018
    assert not V014.has_exit_codes and V018.has_exit_codes
    assert parse_version("not restic") is None


def test_snapshots_014_copy_has_original_and_no_parent() -> None:
    snaps = parse_snapshots(read("snapshots_0.14_offsite.json"))
    assert len(snaps) == 7
    assert all(s.original and s.parent is None for s in snaps)
    assert all(s.program_version is None and s.summary is None for s in snaps)
    assert snaps[0].time.tzinfo is not None


def test_snapshots_018_extra_fields_and_offset_times() -> None:
    snaps = parse_snapshots(read("snapshots_0.18.json"))
    assert [s.program_version for s in snaps] == ["restic 0.18.0"] * 2
    assert snaps[0].summary is not None and snaps[0].summary["total_bytes_processed"] == 7340032
    # 03:00:01.123456789+01:00 is 02:00:01.123456 UTC (nanoseconds cut to micro)
    assert snaps[0].time == datetime(2026, 1, 14, 2, 0, 1, 123456, tzinfo=UTC)
    assert snaps[1].original and snaps[1].lineage == snaps[1].original


def test_snapshots_group_by_shape_flattens() -> None:
    snaps = parse_snapshots(read("snapshots_0.14_group_by.json"))
    assert len(snaps) == 17
    assert {s.host for s in snaps} == {"web02", "db02"}


def test_ls_lock_forget_stats_014() -> None:
    snap, nodes = parse_ls(read("ls_0.14.jsonl"))
    assert snap is not None and snap.host == "web01"
    files = [n for n in nodes if n.type == "file"]
    assert files and all(n.size >= 0 for n in files)
    lock = parse_lock("ae570ec2", read("lock_0.14.json"))
    assert lock.pid == 32195 and lock.hostname == "vm" and not lock.exclusive
    groups = parse_forget(read("forget_0.14.json"))
    assert len(groups) == 1 and len(groups[0].keep) == 3 and len(groups[0].remove) == 4


def test_check_text_014() -> None:
    bad = parse_check(
        1,
        "load indexes\ncheck all packs\n",
        "pack c1798968: unexpected file size: got 1619, expected 3238\n"
        "Fatal: repository contains errors\n",
        mode="structural",
    )
    assert not bad.ok and bad.errors == (
        "pack c1798968: unexpected file size: got 1619, expected 3238",
    )
    sub = parse_check(
        0,
        "read group #2 of 5 data packs (out of total 40 packs in 8 groups)\nno errors were found\n",
        "",
        mode="subset",
        subset="2/8",
    )
    assert sub.ok and sub.group == 2 and sub.groups_total == 8 and sub.fraction_read == 1 / 8


def test_check_json_018() -> None:
    bad = parse_check(1, read("check_0.18_errors.jsonl"), "", mode="structural")
    assert not bad.ok
    assert any("does not exist" in e for e in bad.errors)
    assert any(e.startswith("broken pack") for e in bad.errors)
    assert parse_check(0, read("check_0.18_ok.jsonl"), "", mode="full").ok


@pytest.mark.parametrize(
    ("rc", "stderr", "version", "expected"),
    [
        (1, "Fatal: wrong password or no key found\n", V014, WrongPassword),
        (1, "Fatal: unable to open config file: stat /x/config: no such file or directory\n"
            "Is there a repository at the following location?\n", V014, RepositoryMissing),
        (1, "unable to create lock in backend: repository is already locked by PID 1\n", V014,
         RepositoryLocked),
        (1, "Fatal: repository contains errors\n", V014, RepositoryCorrupted),
        (1, "Fatal: an empty password is not a password\n", V014, WrongPassword),
        (12, "Fatal: wrong password or no key found\n", V018, WrongPassword),
        (10, "Fatal: repository does not exist: unable to open config file\n", V018,
         RepositoryMissing),
        (11, "", V018, RepositoryLocked),
        (12, "", V018, WrongPassword),
        (10, "", V014, None),  # 0.14 has no exit code 10: unknown, not guessed
        (1, "some other failure\n", V018, None),
    ],
)  # fmt: skip
def test_classify_by_version(
    rc: int, stderr: str, version: ResticVersion, expected: type | None
) -> None:
    assert classify_failure(rc, stderr, version) is expected


class FakeRunner:
    """Stands in for the restic process to test exit-code mapping of newer releases only."""

    def __init__(self, rc: int, stdout: str = "", stderr: str = "") -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.calls: list[tuple[Sequence[str], Mapping[str, str]]] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        self.calls.append((argv, env))
        return Completed(tuple(argv), self.rc, self.stdout, self.stderr, 0.0)


def test_exit_code_12_is_wrong_password_and_secret_stays_off_argv(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret-value\n")
    access = RepoAccess(
        "web", "rest:https://user:hunter2@backup.example/web", password_file=str(pw)
    )
    runner = FakeRunner(12, stderr="Fatal: wrong password or no key found\n")
    r = Restic(access, runner=runner, version=V018)
    with pytest.raises(WrongPassword) as info:
        r.snapshots()
    assert info.value.repo == "web" and "hunter2" not in str(info.value)
    argv, env = runner.calls[0]
    assert "hunter2" not in " ".join(argv) and "s3cret" not in " ".join(argv)
    assert env["RESTIC_PASSWORD_FILE"] == str(pw) and env["RESTIC_REPOSITORY"] == access.repo


def test_password_env_is_passed_by_env_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_PW", "pa55-word")
    access = RepoAccess("db", "/srv/db", password_env="MY_PW")
    runner = FakeRunner(1, stderr="Fatal: something echoed pa55-word back\n")
    r = Restic(access, runner=runner, version=V014)
    with pytest.raises(ResticError) as info:
        r.snapshots()
    assert "pa55-word" not in str(info.value) and "pa55-word" not in " ".join(info.value.stderr)
    assert runner.calls[0][1]["RESTIC_PASSWORD"] == "pa55-word"


def test_password_env_unset_is_access_denied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_PW", raising=False)
    r = Restic(
        RepoAccess("db", "/srv/db", password_env="NOPE_PW"), runner=FakeRunner(0), version=V014
    )
    with pytest.raises(WrongPassword):
        r.snapshots()


def test_redact_masks_url_credentials() -> None:
    access = RepoAccess("x", "rest:https://u:topsecret@h/r", password_file="/etc/pw")
    out = redact("open rest:https://u:topsecret@h/r failed; /etc/pw", access)
    assert "topsecret" not in out and "/etc/pw" not in out
    assert "<password file>" in out


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(min_value=-14 * 60, max_value=14 * 60), st.integers(0, 999))  # fmt: skip
def test_parse_time_roundtrip(dt: datetime, offset_min: int, nanos: int) -> None:
    from datetime import timedelta, timezone

    tz = timezone(timedelta(minutes=offset_min))
    local = dt.replace(tzinfo=tz)
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{local.microsecond:06d}{nanos:03d}"
    text += local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    assert parse_time(text) == local.astimezone(UTC)


def test_restore_on_local_repo_stops_at_first_read_retry(tmp_path: Path) -> None:
    """restic's ~45 s retry back-off on a damaged local pack is cut at the first retry line."""
    fake = tmp_path / "fake-restic"
    fake.write_text(
        "#!/bin/sh\n"
        'echo "Load(<data/c1798968>, 3120, 0) returned error, retrying after 552ms: '
        'ReadFull: unexpected EOF" >&2\n'
        "sleep 30\n"
    )
    fake.chmod(0o755)
    r = Restic(RepoAccess("r", str(tmp_path / "repo"), password_file="pw"), binary=str(fake),
               version=V014)  # fmt: skip
    done = r.restore("latest", tmp_path / "target")
    assert done.returncode == 1 and done.seconds < 20
    assert "returned error, retrying" in done.stderr and "stopped" in done.stderr
    remote = Restic(RepoAccess("r", "sftp:u@h:/r", password_file="pw"), binary=str(fake),
                    version=V014, timeouts=Timeouts(restore=1))  # fmt: skip
    with pytest.raises(ResticTimeout):  # remote: retries may succeed, so restic is not cut
        remote.restore("latest", tmp_path / "target")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


@given(st.one_of(_json.map(json.dumps), st.text(max_size=200)))
def test_hostile_restic_output_becomes_a_typed_error(text: str) -> None:
    """Whatever restic prints, the wrapper returns parsed objects or raises ResticError."""
    r = Restic(RepoAccess("h", "/x", password_file="pw"), runner=FakeRunner(0, stdout=text),
               version=V014)  # fmt: skip
    for call in (r.snapshots, r.config, lambda: r.stats(), lambda: r.ls("latest"),
                 lambda: r.forget_dry_run({"daily": 7}, ["host", "paths"])):  # fmt: skip
        with contextlib.suppress(ResticError):
            call()
