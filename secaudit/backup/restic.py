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
from pathlib import Path
from typing import Any, TypeVar

from secaudit.backup.parse import (
    CheckResult,
    ForgetGroup,
    Lock,
    Node,
    ResticVersion,
    Snapshot,
    key_lines,
    parse_check,
    parse_forget,
    parse_lock,
    parse_ls,
    parse_snapshots,
    parse_time,
    parse_version,
)
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
    "Timeouts",
    "classify_failure",
    "key_lines",
    "parse_check",
    "parse_forget",
    "parse_lock",
    "parse_ls",
    "parse_snapshots",
    "parse_time",
    "parse_version",
    "redact",
    "restic_version",
    "subprocess_runner",
]


T = TypeVar("T")


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
        return self._decode("snapshots --json", parse_snapshots, done.stdout)

    def _decode(self, what: str, parse: Callable[[str], T], text: str) -> T:
        """Parse restic's output; output we cannot read is a ResticError naming the command."""
        try:
            return parse(text)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ResticError(f"unreadable `restic {what}` output: {exc}", self.name) from None

    def config(self) -> dict[str, Any]:
        done = self.run_ok(["cat", "config", "--no-lock"])
        return self._decode("cat config", _json_object, done.stdout)

    def stats(self, mode: str = "raw-data") -> dict[str, Any]:
        done = self.run_ok(["stats", "--json", "--no-lock", "--mode", mode])
        return self._decode("stats", _json_object, done.stdout)

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
        return self._decode("forget", parse_forget, self.run_ok(args).stdout)

    def ls(self, snapshot_id: str, path: str | None = None) -> list[Node]:
        args = ["ls", "--json", "--no-lock", snapshot_id]
        if path:
            args.append(path)
        return self._decode("ls", parse_ls, self.run_ok(args).stdout)[1]

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
    def check(
        self, read_data: bool = False, subset: str | None = None, *, no_lock: bool = False
    ) -> CheckResult:
        """Run check; lock/password/missing failures raise, integrity failures are returned."""
        args = ["check", *(["--no-lock"] if no_lock else [])]
        mode = "structural"
        if subset:
            args += ["--read-data-subset", subset]
            mode = "subset"
        elif read_data:
            args.append("--read-data")
            mode = "full"
        if self.version.has_check_json:
            args.append("--json")
        # never cut short (unlike restore): killing check would leave its exclusive lock behind
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


def _json_object(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


_RETRY_RE = re.compile(r"returned error, retrying after")


def _glob_escape(path: str) -> str:
    """restic include patterns are globs: escape the metacharacters of a literal path."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", path)
