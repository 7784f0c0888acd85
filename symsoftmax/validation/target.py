"""Loading a candidate named by a string: ``module:function`` or ``path/to/file.py:function``.

The user's own code is imported (that is what they ask for); nothing is evaluated from a string.
A dotted name after the colon reaches an attribute (``module:Class.method``).

It belongs to the library, not to ``cli/``: :func:`~symsoftmax.validation.core.validate` takes
such strings (``validate("mymod:softmax", ...)``) and checks them before any vectors are made,
and the worker process (:mod:`~symsoftmax.validation.worker`) loads the candidate by this name
in its own interpreter; the CLI's TARGET argument is only passed through to ``validate``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from symsoftmax.errors import InputError
from symsoftmax.validation.native import is_native_reference, load_native, locate_native
from symsoftmax.validation.runner import one_line

__all__ = ["load_target", "locate_target"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def locate_target(target: str) -> tuple[str, str]:
    """(where, name) of a TARGET whose file or module exists, without importing it.

    Done before any vectors are generated, so a typo costs nothing; InputError otherwise. A
    shared library's kernel (``c-abi:OP:LIB:SYMBOL``, :mod:`~symsoftmax.validation.native`)
    gives (LIB, SYMBOL).
    """
    if is_native_reference(target):
        return locate_native(target)[1:]
    where, sep, name = target.rpartition(":")
    if not sep or not where or not _NAME.fullmatch(name):
        raise InputError(f"target {target!r}: expected module:function or path/to/file.py:function")
    if where.endswith(".py"):
        if not Path(where).is_file():
            raise InputError(f"target file {where!r} not found")
    elif not _NAME.fullmatch(where):
        raise InputError(f"target module {where!r} is not a valid module name")
    else:
        top = where.split(".")[0]  # find_spec of a submodule would import (run) its package
        try:
            found = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise InputError(f"cannot import module {where!r}: no module named {top!r}")
    return where, name


def load_target(target: str) -> Callable[..., Any]:
    """Import the module or file and return the named callable (InputError otherwise); a
    shared library's kernel is loaded with ctypes."""
    if is_native_reference(target):
        return load_native(target)
    where, name = locate_target(target)
    module = _import_file(where) if where.endswith(".py") else _import_module(where)
    value: Any = module
    for part in name.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise InputError(f"target {target!r}: {where} has no attribute {name!r}") from None
    if not callable(value):
        raise InputError(f"target {target!r}: {name} is a {type(value).__name__}, not callable")
    return value


def _import_module(name: str) -> Any:
    """Import a module :func:`locate_target` has checked."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise InputError(f"cannot import module {name!r}: {exc}") from None
    except BaseException as exc:  # SystemExit or worse at import is reported
        raise InputError(f"importing {name!r} {one_line(exc)}") from None


def _import_file(path_text: str) -> Any:
    """Import a file :func:`locate_target` has checked, under a name of its own."""
    resolved = Path(path_text).resolve()  # before the import, which may os.chdir
    folder = str(resolved.parent)
    module_name = f"symsoftmax_target_{abs(hash(str(resolved)))}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load {path_text!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit or worse at import is reported
        sys.modules.pop(module_name, None)
        raise InputError(f"{path_text}: import {one_line(exc)}") from None
    finally:
        with contextlib.suppress(ValueError):  # the import may have changed sys.path too
            sys.path.remove(folder)
    return module
