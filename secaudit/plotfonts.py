"""The fonts every secaudit figure is drawn with.

Labels and titles come from the zh/en catalog, so a figure drawn in matplotlib's
default font (DejaVu Sans, no CJK glyphs) shows empty boxes for every Chinese
word.  Noto Sans CJK SC (the fonts-noto-cjk package `make setup` installs) has
both scripts; DejaVu Sans stays as the fallback where it is missing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

__all__ = ["CJK_FONTS", "cjk", "svg_bytes"]

CJK_FONTS = ["Noto Sans CJK SC", "DejaVu Sans"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def cjk(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Build the figure `fn` returns under the CJK font list.

    Text objects take their font when they are created, so the figure keeps these fonts
    when it is drawn later (in a notebook, or saved by the caller); the user's font
    setting is restored when `fn` returns.  Only that one setting: `rc_context` would
    also undo `interactive`, which Jupyter's inline backend turns on when pyplot first
    starts inside `fn`, and later figures of the notebook would then not be shown.
    """

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        import matplotlib

        before = matplotlib.rcParams["font.family"]
        matplotlib.rcParams["font.family"] = CJK_FONTS
        try:
            return fn(*args, **kwargs)
        finally:
            matplotlib.rcParams["font.family"] = before

    return wrapper


def svg_bytes(fig: Any) -> bytes:
    """The figure as SVG with its text kept as text (svg.fonttype 'none'): the browser
    draws it with the report's fonts, CJK included, and it stays searchable."""
    import io

    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()
