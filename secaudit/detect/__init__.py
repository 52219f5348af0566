"""Detectors: pure functions over tables (+ policy) -> Findings, registered by name.

`secaudit.detect` is both this package and the public function `sa.detect(...)`
(DESIGN.md): once any submodule is imported, Python binds the package to the
name `secaudit.detect`, so the package itself is made callable and forwards
to `secaudit.detect.run.detect`.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from secaudit.detect.run import detect

        return detect(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
