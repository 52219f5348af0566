"""Names a package exports but imports only on first use (PEP 562 module __getattr__).

`import secaudit` and `import secaudit.signatures` stay cheap: one area's heavy modules
(numba kernels, hyperscan, the rule engine) load when a name from them is first read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_attr"]


def lazy_attr(package: str, names: Mapping[str, str], name: str) -> Any:
    """`name` of `package`, imported from the module `names[name]` names and kept on the
    package (later reads do not come here); AttributeError for a name it does not export."""
    module = names.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    twin = sys.modules.get(f"{package}.{name}")
    if callable(twin):
        # a subpackage that doubles as this function (secaudit._callable): importing it
        # bound the package to this name; replacing it by the function would break
        # `import package.name...` and the package's own lookups of its submodules
        value = twin
    setattr(sys.modules[package], name, value)
    return value
