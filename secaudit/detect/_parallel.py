"""Capture-only detectors in a worker process beside the table-building pass.

A detector whose only input is the capture itself (needs == ("pcap",): malware_transfer,
which carves files with its own read) does not wait for the conn and protocol tables.
On a machine with two or more usable CPUs `detect()` starts such detectors in one
worker process before its pass over the capture, so the user waits for the longer of
the two jobs instead of their sum.  The worker is a fresh interpreter ("spawn": nothing
of this process's threads or open files is inherited); it runs the same
`run_detectors` on a context without tables and sends back its findings and gaps, or
the exception it raised.  If the worker dies without an answer (killed, out of
memory), the detectors run here instead, so no result is lost.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

from secaudit.detect.registry import DetectContext, DetectorSpec
from secaudit.model import Finding, Gap

__all__ = ["WORTH_BYTES", "Beside", "capture_only", "split", "usable_cpus"]


def capture_only(spec: DetectorSpec) -> bool:
    """True for a detector that reads the capture files and no table."""
    return tuple(spec.needs) == ("pcap",)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _work(out: Connection, ctx: DetectContext, named: list[tuple[str, str]], strict: bool) -> None:
    """Worker: run the (module, name) detectors; send ("ok", (findings, gaps)) or
    ("error", exc).  Only their modules are imported, not every detector's."""
    try:
        from secaudit.detect.registry import REGISTRY
        from secaudit.detect.run import run_specs

        for module, _name in named:
            importlib.import_module(module)
        specs = [REGISTRY[name] for _module, name in named]
        out.send(("ok", run_specs(ctx, specs, strict=strict)))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
        try:
            out.send(("error", exc))
        except Exception:  # an exception that does not pickle: its text
            out.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        out.close()


@dataclass
class Beside:
    """Detectors running in a worker process; `result()` waits for them."""

    ctx: DetectContext
    specs: list[DetectorSpec]
    strict: bool
    process: BaseProcess
    answer: Connection

    @classmethod
    def start(cls, ctx: DetectContext, specs: Sequence[DetectorSpec], strict: bool) -> Beside:
        mp = multiprocessing.get_context("spawn")
        here, there = mp.Pipe(duplex=False)
        proc = mp.Process(
            target=_work,
            args=(there, ctx, [(s.func.__module__, s.name) for s in specs], strict),
            name="secaudit-detect-capture",
            daemon=True,  # never outlives this process
        )
        proc.start()
        there.close()
        return cls(ctx, list(specs), strict, proc, here)

    def result(self) -> tuple[list[Finding], list[Gap]]:
        """The worker's (findings, gaps); its exception re-raised; if it died without an
        answer, the detectors run in this process."""
        try:
            status, value = self.answer.recv()
        except (EOFError, OSError):  # the worker ended without answering
            status, value = "lost", None
        finally:
            self.answer.close()
            self.process.join()
        if status == "error":
            raise value
        if status == "lost":
            from secaudit.detect.run import run_specs

            return run_specs(self.ctx, self.specs, strict=self.strict)
        result: tuple[list[Finding], list[Gap]] = value
        return result

    def stop(self) -> None:
        """End the worker (the main pass failed: its answer is not wanted)."""
        self.answer.close()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()


WORTH_BYTES = 32 << 20
"""Captures smaller than this (in all) are not worth a worker: starting its interpreter
and importing the carver costs about a second of CPU, more than the overlap saves."""


def split(
    specs: Sequence[DetectorSpec], sources: Sequence[str], parallel: bool | None
) -> tuple[list[DetectorSpec], list[DetectorSpec]]:
    """(specs to run here, capture-only specs for the worker).  parallel None: a worker
    when this process may use two or more CPUs and the captures hold WORTH_BYTES or more;
    never when nothing else runs here to overlap with."""
    if parallel is None:
        parallel = usable_cpus() > 1 and _size(sources) >= WORTH_BYTES
    beside = [s for s in specs if capture_only(s)] if parallel else []
    here = [s for s in specs if s not in beside]
    if not here:
        return list(specs), []
    return here, beside


def _size(sources: Sequence[str]) -> int:
    """Bytes of the capture files (a missing one counts 0: the pass reports it)."""
    total = 0
    for src in sources:
        with contextlib.suppress(OSError):
            total += os.path.getsize(src)
    return total
