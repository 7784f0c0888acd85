"""Vectorized NumPy functions generated from the proven symbolic expressions (docs/numeric.md).

``forms`` holds the SymPy expressions, ``codegen`` prints them as NumPy source, ``lambdify`` is
the public API: :func:`lambdify_softmax`, :func:`lambdify_log_softmax`,
:func:`lambdify_logsumexp`, :func:`lambdify_jacobian`, :func:`lambdify_vjp`.
"""

from __future__ import annotations

from symsoftmax.numeric.lambdify import (
    GeneratedFunction,
    lambdify_jacobian,
    lambdify_log_softmax,
    lambdify_logsumexp,
    lambdify_softmax,
    lambdify_vjp,
)

__all__ = [
    "GeneratedFunction",
    "lambdify_jacobian",
    "lambdify_log_softmax",
    "lambdify_logsumexp",
    "lambdify_softmax",
    "lambdify_vjp",
]
