"""The one place that runs the `restic` binary, and the parsers of what it prints.

Why one place: passwords must reach restic only through its environment
(RESTIC_PASSWORD_FILE / RESTIC_PASSWORD_COMMAND / RESTIC_PASSWORD), never argv,
logs, findings or exceptions; the repository location travels in
RESTIC_REPOSITORY so secret-bearing URLs stay off argv too; every call gets
`stdin=DEVNULL` (restic would otherwise prompt) and a timeout.

Version handling: restic 0.14 (Debian) exits 1 on every fatal error, so the
failure is classified by stderr; 0.17+ adds exit codes 10 (no repository),
11 (locked), 12 (wrong password), extra snapshot fields (`program_version`,
`summary`) and, later, `check --json`.  Classification tries the exit code
first when the version has it, then stderr, so both shapes work.

Errors (how a caller reacts):

    ResticError (ToolError)       restic failed; names the repository by its configured name
    ├── ResticNotInstalled        no binary: nothing can be audited
    ├── ResticTimeout             a call ran past its limit
    └── RepositoryError           the repository itself could not be used
        ├── RepositoryMissing     nothing at the location (exit 10 / "unable to open config file")
        ├── WrongPassword         exit 12 / "wrong password or no key found" / no password
        ├── RepositoryLocked      exit 11 / "unable to create lock in backend"
        └── RepositoryCorrupted   "repository contains errors" and read/decrypt failures
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from secaudit.errors import ToolError

__all__ = [
    "CheckResult",
    "Completed",
    "ForgetGroup",
    "Lock",
    "Node",
    "RepoAccess",
    "RepositoryCorrupted",
    "RepositoryError",
    "RepositoryLocked",
    "RepositoryMissing",
    "Restic",
    "ResticError",
    "ResticNotInstalled",
    "ResticTimeout",
    "ResticVersion",
    "Runner",
    "Snapshot",
    "WrongPassword",
    "classify_failure",
    "parse_check",
    "parse_forget",
    "parse_lock",
    "parse_ls",
    "parse_snapshots",
    "parse_time",
    "parse_version",
    "redact",
    "restic_version",
]


# --------------------------------------------------------------------------- errors
class ResticError(ToolError):
    """restic failed; `repo` is the configured repository *name*, never its URL."""

    def __init__(
        self, message: str, repo: str | None = None, *, stderr: Sequence[str] = ()
    ) -> None:
        super().__init__(message, "restic", source=repo)
        self.repo = repo
        self.stderr = tuple(stderr)  # already redacted key lines


class ResticNotInstalled(ResticError):
    pass


class ResticTimeout(ResticError):
    pass


class RepositoryError(ResticError):
    pass


class RepositoryMissing(RepositoryError):
    pass


class WrongPassword(RepositoryError):
    pass


class RepositoryLocked(RepositoryError):
    pass


class RepositoryCorrupted(RepositoryError):
    pass


# --------------------------------------------------------------------------- version
@dataclass(frozen=True, order=True)
class ResticVersion:
    major: int
    minor: int
    patch: int = 0

    @property
    def has_exit_codes(self) -> bool:
        """0.17.0 introduced exit codes 10/11/12 (restic scripting docs)."""
        return (self.major, self.minor) >= (0, 17)

    @property
    def has_check_json(self) -> bool:
        return (self.major, self.minor) >= (0, 18)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


_VERSION_RE = re.compile(r"restic\s+v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(text: str) -> ResticVersion | None:
    """`restic 0.14.0 compiled with go1.19.8 on linux/amd64` -> ResticVersion(0, 14, 0)."""
    m = _VERSION_RE.search(text)
    if not m:
        return None
    return ResticVersion(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


# --------------------------------------------------------------------------- running
@dataclass(frozen=True)
class Completed:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


# A runner executes restic: (argv, env, timeout) -> Completed.  Tests and the
# scale benchmark may pass their own; the default is subprocess.
Runner = Callable[[Sequence[str], Mapping[str, str], float], Completed]


def subprocess_runner(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
    t0 = time.monotonic()
    p = subprocess.run(  # noqa: S603 - argv list, no shell
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Completed(
        tuple(argv),
        p.returncode,
        p.stdout.decode("utf-8", "replace"),
        p.stderr.decode("utf-8", "replace"),
        time.monotonic() - t0,
    )


def _streaming_runner(
    argv: Sequence[str], env: Mapping[str, str], timeout: float, stop_on: re.Pattern[str]
) -> Completed:
    """Like subprocess_runner, but ends restic as soon as a stderr line matches `stop_on`."""
    t0 = time.monotonic()
    with subprocess.Popen(  # noqa: S603
        list(argv), env=dict(env), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    ) as p:  # fmt: skip

        def kill() -> None:  # the whole group: restic (or a wrapper script) and its children
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)

        assert p.stdout is not None and p.stderr is not None
        out: list[bytes] = []
        reader = threading.Thread(target=lambda: out.append(p.stdout.read()))  # type: ignore[union-attr]
        reader.start()
        timer = threading.Timer(timeout, kill)
        timer.start()
        err: list[str] = []
        stopped = False
        try:
            for raw in p.stderr:
                line = raw.decode("utf-8", "replace")
                err.append(line)
                if stop_on.search(line):
                    stopped = True
                    kill()
                    break
            rc = p.wait()
        finally:
            timer.cancel()
        reader.join()
        if not stopped and rc < 0 and time.monotonic() - t0 >= timeout:
            raise subprocess.TimeoutExpired(list(argv), timeout)
    if stopped:
        rc = 1
        err.append("secaudit: stopped after a read error on a local repository"
                   " (restic would only retry the same damaged file)\n")  # fmt: skip
    return Completed(
        tuple(argv), rc, b"".join(out).decode("utf-8", "replace"), "".join(err),
        time.monotonic() - t0,
    )  # fmt: skip


@functools.cache
def restic_version(binary: str = "restic") -> ResticVersion:
    """The installed restic's version (cached per binary)."""
    try:
        p = subprocess.run(  # noqa: S603
            [binary, "version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        raise ResticNotInstalled(f"{binary!r} not found on PATH (install restic)") from None
    except subprocess.TimeoutExpired:
        raise ResticTimeout("`restic version` did not answer in 30 s") from None
    v = parse_version(p.stdout.decode("utf-8", "replace"))
    if v is None:
        raise ResticNotInstalled(f"{binary!r} does not look like restic (no version line)")
    return v


@dataclass(frozen=True)
class RepoAccess:
    """How to reach one repository; `name` is what every message shows."""

    name: str
    repo: str
    password_file: str | None = None
    password_command: str | None = None
    password_env: str | None = None  # name of the env var holding the password
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self) -> tuple[dict[str, str], list[str]]:
        """Child environment (inherited minus any RESTIC_*), plus the secrets to redact."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env.update(self.extra_env)
        env["RESTIC_REPOSITORY"] = self.repo
        secrets: list[str] = []
        if self.password_file:
            env["RESTIC_PASSWORD_FILE"] = self.password_file
        elif self.password_command:
            env["RESTIC_PASSWORD_COMMAND"] = self.password_command
            secrets.append(self.password_command)
        elif self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise WrongPassword(f"password variable {self.password_env} is not set", self.name)
            env["RESTIC_PASSWORD"] = value
            secrets.append(value)
        env.setdefault("TZ", "UTC")
        return env, secrets

    @property
    def location(self) -> str:
        """The repository location with any URL credentials masked (for evidence)."""
        return _mask_userinfo(self.repo)


_USERINFO_RE = re.compile(r"(://[^/@:\s]+):[^/@\s]+@")


def _mask_userinfo(text: str) -> str:
    return _USERINFO_RE.sub(r"\1:***@", text)


def redact(text: str, access: RepoAccess | None, secrets: Iterable[str] = ()) -> str:
    """Remove passwords, password commands and the raw location from restic output."""
    out = text
    for s in secrets:
        if s:
            out = out.replace(s, "***")
    if access is not None:
        if access.repo and access.repo != access.location:
            out = out.replace(access.repo, access.location)
        if access.password_file:
            out = out.replace(access.password_file, "<password file>")
    return _mask_userinfo(out)


# --------------------------------------------------------------------------- classification
_PATTERNS: list[tuple[type[RepositoryError], re.Pattern[str]]] = [
    (
        WrongPassword,
        re.compile(
            r"wrong password or no key found|an empty password is not a password"
            r"|resolving password failed|reading password from (?:file|command) failed"
            r"|password is incorrect",
            re.I,
        ),
    ),
    (
        RepositoryMissing,
        re.compile(
            r"unable to open config file|Is there a repository at the following location"
            r"|repository does not exist|unable to open repository",
            re.I,
        ),
    ),
    (
        RepositoryLocked,
        re.compile(
            r"unable to create lock in backend|repository is already locked|locked exclusively",
            re.I,
        ),
    ),
    (
        RepositoryCorrupted,
        re.compile(
            r"repository contains errors|ciphertext verification failed|unexpected EOF"
            r"|Pack ID does not match|does not exist|unexpected file size|invalid data returned",
            re.I,
        ),
    ),
]

_EXIT_CODES: dict[int, type[RepositoryError]] = {
    10: RepositoryMissing,
    11: RepositoryLocked,
    12: WrongPassword,
}


def classify_failure(
    returncode: int, stderr: str, version: ResticVersion | None
) -> type[RepositoryError] | None:
    """Which repository error a failed call means, or None when it is none of them."""
    if version is not None and version.has_exit_codes and returncode in _EXIT_CODES:
        return _EXIT_CODES[returncode]
    for cls, pattern in _PATTERNS:
        if pattern.search(stderr):
            return cls
    return None


def _logical_lines(text: str) -> list[str]:
    """Lines with indented continuation lines folded into the line they continue."""
    out: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and out and raw.strip():
            out[-1] = f"{out[-1]} {raw.strip()}"
        elif raw.strip():
            out.append(raw.strip())
    return out


def key_lines(stderr: str, limit: int = 12) -> list[str]:
    """The informative stderr lines (progress and blank lines dropped)."""
    return [ln for ln in _logical_lines(stderr) if not ln.startswith("[")][:limit]


# --------------------------------------------------------------------------- parsed objects
def parse_time(value: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits and any offset -> aware UTC datetime."""
    s = value.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*?\.\d{6})\d+(.*)$", s)  # Python keeps microseconds only
    if m:
        s = m.group(1) + m.group(2)
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class Snapshot:
    id: str
    short_id: str
    time: datetime
    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...] = ()
    original: str | None = None
    parent: str | None = None
    tree: str | None = None
    username: str | None = None
    program_version: str | None = None  # 0.17+
    summary: Mapping[str, Any] | None = None  # 0.17+

    @property
    def lineage(self) -> str:
        """The id a copy of this snapshot carries in `original` (restic copy keeps originals)."""
        return self.original or self.id


def _snapshot(d: Mapping[str, Any]) -> Snapshot:
    sid = str(d["id"])
    return Snapshot(
        id=sid,
        short_id=str(d.get("short_id") or sid[:8]),
        time=parse_time(str(d["time"])),
        host=str(d.get("hostname") or ""),
        paths=tuple(sorted(str(p) for p in d.get("paths") or ())),
        tags=tuple(str(t) for t in d.get("tags") or ()),
        original=d.get("original") or None,
        parent=d.get("parent") or None,
        tree=d.get("tree") or None,
        username=d.get("username") or None,
        program_version=d.get("program_version") or None,
        summary=d.get("summary") or None,
    )


def parse_snapshots(text: str) -> list[Snapshot]:
    """`snapshots --json` of any version: a list, or the `--group-by` list of groups."""
    data = json.loads(text or "[]")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError("snapshots --json did not print a JSON array")
    out: list[Snapshot] = []
    for item in data:
        if isinstance(item, dict) and "snapshots" in item and "id" not in item:
            out.extend(_snapshot(s) for s in item.get("snapshots") or ())
        else:
            out.append(_snapshot(item))
    return out


@dataclass(frozen=True)
class Node:
    path: str
    type: str
    size: int
    mtime: str | None = None


def parse_ls(text: str) -> tuple[Snapshot | None, list[Node]]:
    """`ls --json`: one snapshot line then one node per line."""
    snap: Snapshot | None = None
    nodes: list[Node] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        if d.get("struct_type") == "snapshot" or ("tree" in d and "id" in d):
            snap = _snapshot(d)
        elif d.get("struct_type", "node") == "node" and "path" in d:
            nodes.append(
                Node(
                    str(d["path"]), str(d.get("type", "")), int(d.get("size") or 0), d.get("mtime")
                )
            )
    return snap, nodes


@dataclass(frozen=True)
class Lock:
    id: str
    time: datetime | None
    exclusive: bool
    hostname: str
    username: str
    pid: int | None


def parse_lock(lock_id: str, text: str) -> Lock:
    d = json.loads(text)
    t = d.get("time")
    return Lock(
        id=lock_id,
        time=parse_time(t) if t else None,
        exclusive=bool(d.get("exclusive")),
        hostname=str(d.get("hostname") or ""),
        username=str(d.get("username") or ""),
        pid=int(d["pid"]) if d.get("pid") is not None else None,
    )


@dataclass(frozen=True)
class ForgetGroup:
    host: str | None
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    keep: tuple[str, ...]
    remove: tuple[str, ...]


def parse_forget(text: str) -> list[ForgetGroup]:
    """`forget --dry-run --json`: one entry per restic group, keep/remove snapshot lists."""
    out = []
    for g in json.loads(text or "[]") or []:
        out.append(
            ForgetGroup(
                host=g.get("host") or None,
                paths=tuple(sorted(g.get("paths") or ())),
                tags=tuple(g.get("tags") or ()),
                keep=tuple(str(s["id"]) for s in g.get("keep") or ()),
                remove=tuple(str(s["id"]) for s in g.get("remove") or ()),
            )
        )
    return out


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one `restic check` run (structural, full read or one subset)."""

    ok: bool
    mode: str  # structural | full | subset
    subset: str | None = None
    errors: tuple[str, ...] = ()
    packs_read: int | None = None
    packs_total: int | None = None
    group: int | None = None
    groups_total: int | None = None
    seconds: float = 0.0

    @property
    def fraction_read(self) -> float:
        if self.mode == "full":
            return 1.0
        if self.mode == "subset" and self.groups_total:
            return 1.0 / self.groups_total
        if self.mode == "subset" and self.packs_total:
            return (self.packs_read or 0) / self.packs_total
        return 0.0


_SUBSET_RE = re.compile(
    r"read group #(\d+) of (\d+) data packs \(out of total (\d+) packs in (\d+) groups\)"
)
_SUBSET_RANDOM_RE = re.compile(r"read (\d+) of (\d+) data packs")
_PACKS_RE = re.compile(r"(\d+)\s*/\s*(\d+)\s+packs")
_NOISE_RE = re.compile(
    r"^(Load\(|create exclusive lock|load indexes|check all packs|check snapshots|read all data"
    r"|no errors were found|using temporary cache|\[)"
)


def parse_check(
    returncode: int, stdout: str, stderr: str, *, mode: str, subset: str | None = None
) -> CheckResult:
    """`check` text (0.14) or JSON lines (`check --json`, newer releases)."""
    errors: list[str] = []
    packs_read = packs_total = group = groups_total = None
    json_errors = None
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith("{"):
            try:
                d = json.loads(s)
            except ValueError:
                continue
            kind = d.get("message_type")
            if kind == "error":
                errors.append(str(d.get("message") or d.get("error") or "error"))
            elif kind == "summary":
                json_errors = int(d.get("num_errors") or 0)
                errors.extend(f"broken pack {p}" for p in d.get("broken_packs") or ())
            continue
        m = _SUBSET_RE.search(s)
        if m:
            group, packs_read, packs_total, groups_total = (int(x) for x in m.groups())
            continue
        m = _SUBSET_RANDOM_RE.search(s)
        if m:
            packs_read, packs_total = int(m.group(1)), int(m.group(2))
            continue
        m = _PACKS_RE.search(s)
        if m and mode == "full":
            packs_read, packs_total = int(m.group(1)), int(m.group(2))
    for s in _logical_lines(stderr):
        if not _NOISE_RE.match(s) and not s.startswith("Fatal: repository contains errors"):
            errors.append(s)
    ok = returncode == 0 and not json_errors
    if not ok and not errors:
        errors.append("Fatal: repository contains errors")
    if mode == "full" and packs_total is None:
        packs_read = packs_total = None
    return CheckResult(
        ok=ok,
        mode=mode,
        subset=subset,
        errors=tuple(errors[:20]),
        packs_read=packs_read,
        packs_total=packs_total,
        group=group,
        groups_total=groups_total,
    )


# --------------------------------------------------------------------------- the wrapper
@dataclass(frozen=True)
class Timeouts:
    default: float = 120.0
    check: float = 1800.0
    restore: float = 1800.0


class Restic:
    """restic bound to one repository; every method runs one restic command."""

    def __init__(
        self,
        access: RepoAccess,
        *,
        binary: str = "restic",
        timeouts: Timeouts | None = None,
        runner: Runner | None = None,
        version: ResticVersion | None = None,
        no_cache: bool = True,
    ) -> None:
        self.access = access
        self.binary = binary
        self.timeouts = timeouts or Timeouts()
        self._runner = runner or subprocess_runner
        self.version = version or restic_version(binary)
        self._no_cache = no_cache

    @property
    def name(self) -> str:
        return self.access.name

    @property
    def is_local(self) -> bool:
        """A plain path or local: location: a read error there is not transient."""
        repo = self.access.repo
        return repo.startswith("local:") or not re.match(r"^[A-Za-z0-9]+:", repo)

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float | None = None,
        stop_on: re.Pattern[str] | None = None,
    ) -> Completed:
        """Run `restic ARGS`; never raises on a non-zero exit (see `run_ok`)."""
        env, secrets = self.access.env()
        argv = [self.binary, *(["--no-cache"] if self._no_cache else []), *args]
        limit = timeout or self.timeouts.default
        try:
            if stop_on is not None and self._runner is subprocess_runner:
                done = _streaming_runner(argv, env, limit, stop_on)
            else:
                done = self._runner(argv, env, limit)
        except FileNotFoundError:
            raise ResticNotInstalled(f"{self.binary!r} not found on PATH", self.name) from None
        except subprocess.TimeoutExpired:
            raise ResticTimeout(
                f"`restic {args[0] if args else ''}` ran past {limit:.0f} s", self.name
            ) from None
        return Completed(
            done.args,
            done.returncode,
            redact(done.stdout, self.access, secrets),
            redact(done.stderr, self.access, secrets),
            done.seconds,
        )

    def run_ok(self, args: Sequence[str], *, timeout: float | None = None) -> Completed:
        """Run and raise the typed error for any failure."""
        done = self.run(args, timeout=timeout)
        if done.returncode != 0:
            self.raise_for(done)
        return done

    def raise_for(self, done: Completed) -> None:
        cls = classify_failure(done.returncode, done.stderr, self.version) or ResticError
        lines = key_lines(done.stderr)
        what = lines[0] if lines else f"exit status {done.returncode}"
        sub = next((a for a in done.args[1:] if not a.startswith("-")), "")
        raise cls(f"`restic {sub}` failed: {what}", self.name, stderr=lines)

    # --- read-only queries (all --no-lock: they must not block or be blocked)
    def snapshots(self) -> list[Snapshot]:
        done = self.run_ok(["snapshots", "--json", "--no-lock"])
        try:
            return parse_snapshots(done.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            raise ResticError(f"unreadable `snapshots --json` output: {exc}", self.name) from None

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.run_ok(["cat", "config", "--no-lock"]).stdout)
        return out

    def stats(self, mode: str = "raw-data") -> dict[str, Any]:
        out: dict[str, Any] = json.loads(
            self.run_ok(["stats", "--json", "--no-lock", "--mode", mode]).stdout
        )
        return out

    def locks(self) -> list[Lock]:
        ids = [s.strip() for s in self.run_ok(["list", "locks", "--no-lock"]).stdout.split()]
        out = []
        for lock_id in ids:
            if not re.fullmatch(r"[0-9a-f]{8,64}", lock_id):
                continue
            done = self.run(["cat", "lock", lock_id, "--no-lock"])
            if done.returncode == 0:
                try:
                    out.append(parse_lock(lock_id, done.stdout))
                    continue
                except (ValueError, KeyError, TypeError):
                    pass
            # the lock vanished or is unreadable between list and cat: still a lock seen
            out.append(Lock(lock_id, None, False, "", "", None))
        return out

    def forget_dry_run(self, keep: Mapping[str, int], group_by: Sequence[str]) -> list[ForgetGroup]:
        args = ["forget", "--dry-run", "--json", "--no-lock", "--group-by", ",".join(group_by)]
        for level, n in keep.items():
            args += [f"--keep-{level}", str(n)]
        return parse_forget(self.run_ok(args).stdout)

    def ls(self, snapshot_id: str, path: str | None = None) -> list[Node]:
        args = ["ls", "--json", "--no-lock", snapshot_id]
        if path:
            args.append(path)
        return parse_ls(self.run_ok(args).stdout)[1]

    def dump_sha256(self, snapshot_id: str, path: str) -> tuple[str, int]:
        """sha256 and size of one file as `restic dump` streams it (independent read path)."""
        env, secrets = self.access.env()
        argv = [self.binary, *(["--no-cache"] if self._no_cache else []),
                "dump", "--no-lock", snapshot_id, path]  # fmt: skip
        h = hashlib.sha256()
        size = 0
        try:
            with subprocess.Popen(  # noqa: S603
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ) as p:  # fmt: skip
                assert p.stdout is not None and p.stderr is not None
                deadline = time.monotonic() + self.timeouts.restore
                for chunk in iter(lambda: p.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
                    h.update(chunk)
                    size += len(chunk)
                    if time.monotonic() > deadline:
                        p.kill()
                        raise ResticTimeout("`restic dump` ran too long", self.name)
                err = p.stderr.read().decode("utf-8", "replace")
                rc = p.wait()
        except FileNotFoundError:
            raise ResticNotInstalled(f"{self.binary!r} not found on PATH", self.name) from None
        if rc != 0:
            self.raise_for(Completed(tuple(argv), rc, "", redact(err, self.access, secrets), 0))
        return h.hexdigest(), size

    # --- operations that read data
    def check(self, read_data: bool = False, subset: str | None = None) -> CheckResult:
        """Run check; lock/password/missing failures raise, integrity failures are returned."""
        args = ["check"]
        mode = "structural"
        if subset:
            args += ["--read-data-subset", subset]
            mode = "subset"
        elif read_data:
            args.append("--read-data")
            mode = "full"
        if self.version.has_check_json:
            args.append("--json")
        done = self.run(args, timeout=self.timeouts.check)
        if done.returncode != 0:
            cls = classify_failure(done.returncode, done.stderr, self.version)
            if cls in (WrongPassword, RepositoryMissing, RepositoryLocked):
                self.raise_for(done)
        result = parse_check(done.returncode, done.stdout, done.stderr, mode=mode, subset=subset)
        return CheckResult(**{**result.__dict__, "seconds": done.seconds})

    def restore(self, snapshot_id: str, target: Path, includes: Sequence[str] = ()) -> Completed:
        args = ["restore", snapshot_id, "--no-lock", "--target", str(target)]
        for inc in includes:
            args += ["--include", _glob_escape(inc)]
        # restic retries a failed read with back-off for ~45 s; on a local repository the
        # file is damaged, not unreachable, so the first retry already decides the drill
        stop = _RETRY_RE if self.is_local else None
        return self.run(args, timeout=self.timeouts.restore, stop_on=stop)


_RETRY_RE = re.compile(r"returned error, retrying after")


def _glob_escape(path: str) -> str:
    """restic include patterns are globs: escape the metacharacters of a literal path."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)
