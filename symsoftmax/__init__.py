"""symsoftmax: symbolic math and verification toolkit for softmax, log_softmax and logsumexp.

σ(z)_j = e^{z_j} / Σ_k e^{z_k}. The data flows symbolic → numeric → reference → vectors →
validation, one subpackage each; the CLI (``symsoftmax``) is a thin layer on top.

Public names are imported lazily, so ``import symsoftmax`` stays fast and the CLI does not pay
for SymPy unless a command needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "lambdify_softmax": "symsoftmax.numeric",
    "lambdify_log_softmax": "symsoftmax.numeric",
    "lambdify_logsumexp": "symsoftmax.numeric",
    "lambdify_jacobian": "symsoftmax.numeric",
    "lambdify_vjp": "symsoftmax.numeric",
    "validate": "symsoftmax.validation",
}

__all__ = ["__version__", *_LAZY]


_SUBMODULES = {"symbolic", "numeric", "reference", "vectors", "validation", "testing"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"symsoftmax.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'symsoftmax' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
