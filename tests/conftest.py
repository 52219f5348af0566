"""Shared fixtures: where ../shared is, and a skip when it is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
TOOLS = SHARED / "tools"
DATA = Path(__file__).resolve().parent / "data"


def need_shared() -> None:
    """Skip a test that needs ../shared (CI has it; a user's fresh clone may not)."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent (it sits beside the clone in CI)")


@pytest.fixture
def shared_corpus() -> Path:
    need_shared()
    return CORPUS


@pytest.fixture(autouse=True)
def _keep_cwd(request: pytest.FixtureRequest) -> object:
    """Fail the test that leaves the process in another working directory (it breaks later ones)."""
    import os

    before = os.getcwd()
    yield
    after = os.getcwd()
    if after != before:
        os.chdir(before)
        pytest.fail(f"{request.node.nodeid} changed the working directory to {after}")
