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
