"""Run the area notebooks with papermill: inject parameters, keep the executed copies.

A notebook is `notebooks/NN_<area>.ipynb`; its area is the name without the
number.  Only the parameters its `parameters` cell declares are injected.  A
notebook that fails (or times out) becomes a Gap and its area counts as not
run; the others go on.
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secaudit.model import Gap

__all__ = ["NotebookRun", "area_of", "discover", "run_notebooks"]

_NAME = re.compile(r"^(\d+)_([a-z0-9_]+)\.ipynb$")
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class NotebookRun:
    notebook: Path
    area: str
    executed: Path
    ok: bool
    seconds: float
    parameters: Mapping[str, Any]
    gap: Gap | None = None


def area_of(path: Path) -> str:
    m = _NAME.match(path.name)
    return m.group(2) if m else path.stem


def discover(folder: Path) -> list[Path]:
    """Numbered notebooks in run order (NN_area.ipynb); others are ignored."""
    return sorted(p for p in folder.glob("*.ipynb") if _NAME.match(p.name))


def declared_parameters(path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(path)).keys())


@functools.cache
def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernels talk over Unix sockets in a private (0700) folder:
    unlike the default plain TCP on localhost, no other local user can reach the kernel,
    and the kernel prints no eavesdropping warning into every `secaudit assess` run."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IpcKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self) -> str:
            return "ipc"

        @default("ip")
        def _ip_default(self) -> str:
            # an absolute socket prefix (the kernel runs in the notebook's folder, the client
            # here), short: a socket path has at most 107 bytes, a home folder can be long
            return str(_socket_dir() / f"k{uuid.uuid4().hex[:12]}")

    return IpcKernelManager


@functools.cache
def _socket_dir() -> Path:
    """This process's folder for kernel sockets (under the temp folder, mode 0700, removed
    at exit)."""
    path = Path(tempfile.mkdtemp(prefix="secaudit-kernels-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def _run_one(
    nb: Path, outdir: Path, params: Mapping[str, Any], timeout_s: int, kernel: str | None
) -> NotebookRun:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    area = area_of(nb)
    area_dir = outdir / area
    area_dir.mkdir(parents=True, exist_ok=True)
    executed = outdir / "notebooks" / nb.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        wanted = declared_parameters(nb)
        given = {k: v for k, v in {**params, "out_dir": str(area_dir)}.items() if k in wanted}
        papermill.execute_notebook(
            str(nb),
            str(executed),
            parameters=given,
            # the kernel's working folder, set without papermill's `cwd=` (a process-wide
            # chdir that two notebooks running in threads would leave behind)
            resources={"metadata": {"path": str(nb.parent)}},
            kernel_name=kernel,
            execution_timeout=timeout_s,
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_ipc_kernel_manager(),
            # the kernel's own log: jupyter_client interrupts every kernel it shuts down, and
            # ipykernel then logs "ERROR | KeyboardInterrupt caught in kernel." now and then;
            # a cell's error is in the executed notebook and becomes a Gap either way
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as exc:
        gap = Gap(
            "notebook_failed",
            str(nb.name),
            f"{exc.ename}: {exc.evalue}".strip()[:500],
            area=area,
            detail={"cell": exc.cell_index, "executed": str(executed)},
        )
        return NotebookRun(nb, area, executed, False, time.perf_counter() - t0, params, gap)
    except Exception as exc:  # noqa: BLE001 - kernel death, timeout, bad JSON: all become a Gap
        gap = Gap(
            "notebook_failed",
            str(nb.name),
            f"{type(exc).__name__}: {exc}".strip()[:500],
            area=area,
            detail={"executed": str(executed)},
        )
        return NotebookRun(nb, area, executed, False, time.perf_counter() - t0, params, gap)
    return NotebookRun(nb, area, executed, True, time.perf_counter() - t0, given)


def run_notebooks(
    notebooks: list[Path],
    outdir: Path,
    params: Mapping[str, Any],
    *,
    workers: int = 2,
    timeout_s: int = 600,
    kernel: str | None = None,
) -> list[NotebookRun]:
    """Execute each notebook (in parallel, `workers` kernels at once) into OUTDIR/notebooks."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(_run_one, nb, outdir, params, timeout_s, kernel) for nb in notebooks]
        return [f.result() for f in futures]


def export_html(executed: Path) -> Path | None:
    """The executed notebook as HTML beside it (evidence people can open without Jupyter)."""
    import nbformat
    from nbconvert import HTMLExporter

    try:
        nb = nbformat.read(str(executed), as_version=4)  # type: ignore[no-untyped-call]
        body, _ = HTMLExporter().from_notebook_node(nb)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - an export failure must not stop the report
        return None
    out = executed.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out
