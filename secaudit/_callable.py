"""Packages that double as the flat-API function of the same name.

`sa.flows`, `sa.detect` and `sa.signatures` are public functions (DESIGN.md) and also
subpackages.  Importing any `secaudit.<name>.*` submodule makes Python bind the package
to the attribute `secaudit.<name>`, replacing the function; the package is therefore made
callable and forwards to the function, so `sa.flows(...)` works whatever was imported first.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from typing import Any

__all__ = ["make_package_callable"]


class _CallablePackage(types.ModuleType):
    """A package that is also a function: calls, the signature and the docstring are the
    function's (what `sa.detect?` shows in Jupyter), all looked up on first use."""

    _target: tuple[str, str]

    def _function(self) -> Any:
        module, name = self._target
        return getattr(importlib.import_module(module), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._function())

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]  # the function's docstring
        doc: str | None = self._function().__doc__
        return doc


def make_package_callable(package: str, module: str, function: str) -> None:
    """Calling the package `package` calls `module.function` (imported on first call)."""
    mod = sys.modules[package]
    mod.__class__ = _CallablePackage
    mod._target = (module, function)  # type: ignore[attr-defined]
