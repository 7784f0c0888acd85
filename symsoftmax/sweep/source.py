"""The digest of a candidate's source file: part of a run's identity.

A report and a checkpoint name the candidate by its TARGET string, which stays the same when
the file behind it is edited; rows judged before an edit must not count after it (``--resume``),
and shards of two versions of the code must not merge (``--merge``). So the identity also holds
``sha256:<hex>`` of the file that defines the candidate: ``file.py`` for ``file.py:function``, the
module's file for ``package.module:function`` (found without importing it: finding a submodule
through :func:`importlib.util.find_spec` would run its package's ``__init__``), the file of a
callable's code for the Python API. Only that file is digested, not the modules it imports.

None where there is no such file here (a built-in module, a callable made at run time, a module
installed only on the workers of a Dask cluster).
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["source_digest"]


def source_digest(candidate: Callable[..., Any] | str) -> str | None:
    """``sha256:<hex>`` of the file defining ``candidate``, or None (see the module docstring)."""
    path = _source_file(candidate)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _source_file(candidate: Callable[..., Any] | str) -> Path | None:
    """The file that defines a TARGET string or a callable, if there is one here."""
    if not isinstance(candidate, str):
        return _callable_file(candidate)
    where, sep, _name = candidate.rpartition(":")
    if not sep or not where:
        return None
    if where.endswith(".py"):
        return _existing(where)
    return _module_file(where)


def _callable_file(fn: Callable[..., Any]) -> Path | None:
    """The file of a function's code, or of the module of another callable (an instance)."""
    try:
        return _existing(inspect.getfile(fn))
    except TypeError:  # not a function, class or module: a callable object, a ufunc
        module = sys.modules.get(getattr(type(fn), "__module__", "") or "")
        return _existing(getattr(module, "__file__", None))


def _module_file(name: str) -> Path | None:
    """The file of module ``name`` (``a.b.c``), found without running any of its packages."""
    module = sys.modules.get(name)
    if module is not None:
        return _existing(getattr(module, "__file__", None))
    parts = name.split(".")
    spec = None
    search: list[str] | None = None
    for depth in range(1, len(parts) + 1):
        full = ".".join(parts[:depth])
        try:
            if depth == 1:  # a top-level module is found, not run
                spec = importlib.util.find_spec(full)
            else:
                spec = importlib.machinery.PathFinder.find_spec(full, search)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        locations = spec.submodule_search_locations
        search = list(locations) if locations is not None else None
        if depth < len(parts) and search is None:
            return None
    if spec is None or not spec.has_location:
        return None
    return _existing(spec.origin)


def _existing(path: object) -> Path | None:
    """``path`` as a Path if it names a file here, else None."""
    if not isinstance(path, str) or not path:
        return None
    found = Path(path)
    return found if found.is_file() else None
