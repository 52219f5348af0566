"""Restore drill: restore files of a group's newest snapshot and prove they came back.

Evidence for 8.1.4.9 a (restore works) and 8.1.10.13 (drills, RTO): the files
under the probe path are restored into a temporary directory (a deterministic
sample when there are more than `max_files`/`max_bytes`), each restored file's
size is compared with `restic ls`, a few are re-read with `restic dump` and
their sha256 compared, and the wall time gives the RTO estimate.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secaudit.backup.policy import DrillPolicy
from secaudit.backup.restic import Node, Restic, ResticError, Snapshot, key_lines

__all__ = ["DrillResult", "pick_sample", "run_drill", "select_snapshot"]


@dataclass(frozen=True)
class DrillResult:
    ok: bool
    snapshot: str
    host: str
    path: str | None
    files: int
    bytes: int
    seconds: float
    total_bytes: int  # all files under the probe path in the snapshot
    estimated_full_seconds: float | None
    problems: tuple[str, ...] = ()
    verified_with_dump: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


def _under(path: str, root: str | None) -> bool:
    if not root:
        return True
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def select_snapshot(snapshots: list[Snapshot], drill: DrillPolicy) -> Snapshot | None:
    """Newest snapshot of the probe's host that backed up the probe path (or a parent of it)."""
    cands = [
        s
        for s in snapshots
        if (drill.host is None or s.host == drill.host)
        and (
            drill.path is None
            or any(_under(drill.path, p) or _under(p, drill.path) for p in s.paths)
        )
        and (drill.tags is None or set(drill.tags) <= set(s.tags))
    ]
    return max(cands, key=lambda s: s.time) if cands else None


def pick_sample(files: list[Node], max_files: int, max_bytes: int) -> list[Node]:
    """All files when they fit; else an even stride over the path-sorted list within budget."""
    files = sorted(files, key=lambda n: n.path)
    if len(files) <= max_files and sum(f.size for f in files) <= max_bytes:
        return files
    stride = max(1, len(files) // max_files)
    out: list[Node] = []
    budget = max_bytes
    for f in files[::stride]:
        if len(out) >= max_files:
            break
        if f.size <= budget:
            out.append(f)
            budget -= f.size
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_drill(restic: Restic, snap: Snapshot, drill: DrillPolicy) -> DrillResult:
    """Restore the sample, verify sizes and dump checksums; never raises for restic failures."""
    problems: list[str] = []
    nodes = restic.ls(snap.id)
    files = [n for n in nodes if n.type == "file" and _under(n.path, drill.path)]
    total_bytes = sum(f.size for f in files)
    base: dict[str, Any] = {"snapshot": snap.short_id, "host": snap.host, "path": drill.path}
    if not files:
        return DrillResult(False, **base, files=0, bytes=0, seconds=0.0, total_bytes=0,
                           estimated_full_seconds=None,
                           problems=("the probe path holds no files in the snapshot",))  # fmt: skip
    sample = pick_sample(files, drill.max_files, drill.max_bytes)
    if drill.file is not None:
        probe = next((f for f in files if f.path == drill.file), None)
        if probe is None:
            problems.append(f"probe file not in the snapshot: {drill.file}")
        else:  # the probe file is restored and re-read with dump first
            sample = [probe, *(f for f in sample if f.path != drill.file)]
    restored_bytes = 0
    verified = 0
    with tempfile.TemporaryDirectory(prefix="secaudit-drill-") as tmp:
        target = Path(tmp)
        whole = len(sample) == len(files)
        includes = [drill.path] if whole and drill.path else [f.path for f in sample]
        done = restic.restore(snap.id, target, [] if whole and not drill.path else includes)
        seconds = done.seconds
        if done.returncode != 0:
            problems += key_lines(done.stderr, 6) or [f"restore exit status {done.returncode}"]
        for f in sample:
            got = target / f.path.lstrip("/")
            if not got.is_file():
                problems.append(f"not restored: {f.path}")
                continue
            size = got.stat().st_size
            restored_bytes += size
            if size != f.size:
                problems.append(f"size differs for {f.path}: {size} restored, {f.size} in snapshot")
        probe_copy = target / drill.file.lstrip("/") if drill.file else None
        if (
            drill.sha256
            and probe_copy is not None
            and probe_copy.is_file()
            and _sha256(probe_copy) != drill.sha256.lower()
        ):
            problems.append(f"sha256 of {drill.file} differs from the expected value")
        if not problems:
            for f in sample[: drill.verify_with_dump]:
                try:
                    want, _ = restic.dump_sha256(snap.id, f.path)
                except ResticError as exc:
                    problems.append(f"dump failed for {f.path}: {exc.message}")
                    continue
                if _sha256(target / f.path.lstrip("/")) != want:
                    problems.append(f"sha256 differs for {f.path}")
                verified += 1
    estimate = None
    if restored_bytes and not problems:
        estimate = seconds * (total_bytes / restored_bytes)
    elif not problems:
        estimate = seconds
    return DrillResult(
        ok=not problems,
        **base,
        files=len(sample),
        bytes=restored_bytes,
        seconds=round(seconds, 3),
        total_bytes=total_bytes,
        estimated_full_seconds=None if estimate is None else round(estimate, 3),
        problems=tuple(problems[:20]),
        verified_with_dump=verified,
        detail={"files_in_snapshot": len(files), "sampled": len(sample) < len(files)},
    )
