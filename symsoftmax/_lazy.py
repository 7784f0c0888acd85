"""Public names that a package imports on first use (PEP 562: module ``__getattr__``).

So ``import symsoftmax`` stays fast and the CLI pays for SymPy or the reference engine only when
a command needs them. A package writes its lazy names as a literal table, name → the module that
defines it, and takes its ``__getattr__`` and ``__dir__`` from here::

    _LAZY = {"load": "symsoftmax.vectors.check"}
    __getattr__, __dir__ = lazy_names(globals(), _LAZY)

The table is a literal named ``_LAZY`` because tests/test_imports.py reads it (with ``ast``) to
follow ``from package import name`` to the module the import really runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(
    namespace: dict[str, Any], table: Mapping[str, str], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the package whose ``globals()`` is ``namespace``.

    ``__getattr__(name)`` imports ``table[name]`` and returns its attribute ``name``, stored in
    the package so the next access is a plain lookup; a name in ``submodules`` returns that
    submodule; anything else is an AttributeError. ``__dir__`` lists the loaded and lazy names.
    """
    package = namespace["__name__"]
    known_submodules = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in known_submodules:
            return importlib.import_module(f"{package}.{name}")
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table) | known_submodules)

    return __getattr__, __dir__
