"""Package names imported on first use (PEP 562), shared by the rooms' ``__init__`` modules.

A package lists ``name -> module`` and gets its ``__getattr__`` and ``__dir__`` from
:func:`lazy_exports`, so that importing the package (``agririsk --help``, a monitoring
run) does not import what only some commands use (scikit-learn, scipy.stats, xarray).
A name equal to one of the package's submodules must be imported eagerly instead: once
the submodule is imported, the package attribute is the module and ``__getattr__`` is
no longer asked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps a name to its module."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(importlib.import_module(package).__all__)

    return __getattr__, __dir__
