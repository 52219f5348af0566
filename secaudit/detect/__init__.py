"""Detectors: pure functions over tables (+ policy) -> Findings, registered by name.

`secaudit.detect` is both this package and the public function `sa.detect(...)`
(DESIGN.md): once any submodule is imported, Python binds the package to the
name `secaudit.detect`, so the package itself is made callable and forwards
to `secaudit.detect.run.detect`.
"""

from __future__ import annotations

from secaudit._callable import make_package_callable

make_package_callable(__name__, "secaudit.detect.run", "detect")
