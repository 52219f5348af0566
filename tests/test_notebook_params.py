"""Every notebook's parameters cell is one papermill can read: `papermill --help-notebook`
and `secaudit assess` inject parameters by name, and a line papermill cannot parse (e.g. a
second '=' in a comment) is skipped with a warning in every run's output."""

from __future__ import annotations

import logging
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_parameters_cell_parses(nb: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="papermill"):
        params = pm.inspect_notebook(str(nb))
    assert params, f"{nb.name}: no parameters cell"
    warned = [r.getMessage() for r in caplog.records if "Unable to parse" in r.getMessage()]
    assert not warned, f"{nb.name}: {warned}"
