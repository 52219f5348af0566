"""Beyond one machine: captures processed file by file on a Dask distributed cluster.

DESIGN.md (Scale): the functions that process a capture locally run once per
file on the cluster's workers, and the coordinator merges what they return
with the code that merges chunks locally (secaudit.detect.run merges the
per-file extracts as it merges per-chunk ones).  No cluster code of our own:
`distributed.Client` schedules, ships and gathers.

What differs from one local pass over several files: each file is tracked on
its own, so a connection that continues from one file into the next gives a
record per file (as two Zeek runs would).  The files must be readable under
the same path on every worker (shared storage), and the coordinator's
Python environment must match the workers'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from secaudit.errors import ConfigError, ToolError

__all__ = ["CONNECT_TIMEOUT_S", "map_files"]

CONNECT_TIMEOUT_S = 10.0  # how long to wait for the scheduler before exit 2

R = TypeVar("R")


def _client(address: str) -> Any:
    """A client of the scheduler at `address`; ConfigError (exit 2) naming it when absent."""
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - a dependency of secaudit
        raise ConfigError(f"--scheduler needs the 'distributed' package ({exc})", address) from exc
    try:
        return Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler: {exc}", address) from exc


def map_files(func: Callable[..., R], files: Sequence[str], address: str, **kwargs: Any) -> list[R]:
    """`func(file, **kwargs)` for every file on the cluster at `address`, results in file order.

    A worker's exception (an InputError naming its file, say) is raised here as it was
    raised there: secaudit's errors are about the input, which another worker would read
    the same way.  A worker that dies or drops off is a ToolError naming the file.
    """
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    with _client(address) as client:
        futures = [
            client.submit(func, f, pure=False, retries=0, key=f"secaudit-{k}-{f}", **kwargs)
            for k, f in enumerate(files)
        ]
        results: list[R] = []
        for f, fut in zip(files, futures, strict=True):
            try:
                results.append(fut.result())
            except (KilledWorker, CommClosedError) as exc:  # the cluster failed, not the input
                raise ToolError(
                    f"the worker processing {f} died or went away ({type(exc).__name__}: {exc})",
                    "dask",
                    source=address,
                ) from exc
    return results
