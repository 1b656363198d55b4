"""A package's public names imported on first use (PEP 562).

A package whose `__init__` imports its stage eagerly makes every import of one of its small
modules pay for the whole stage: `migrate.reconcile.trace` (the phase plan's checks) brought
pandas, numpy and deepdiff along with `reconcile.compare`. Such a package lists where each
public name lives and lets this find it when it is first asked for:

    _HOMES = {"reconcile": "core", "ReconcileSpec": "spec"}
    __getattr__ = lazy_exports(__name__, _HOMES)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `name` from the submodule `homes[name]`, kept in
    the package once found."""

    def __getattr__(name: str) -> Any:
        if name not in homes:  # `package.submodule`, which an eager `__init__` made an attribute
            try:
                return import_module(f"{package}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{package}.{name}":  # the submodule exists but needs what is missing
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(f"{package}.{homes[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
