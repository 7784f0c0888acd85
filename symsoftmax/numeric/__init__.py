"""Vectorized NumPy functions generated from the proven symbolic expressions (docs/numeric.md).

``forms`` holds the SymPy expressions, ``codegen`` prints them as NumPy source, ``lambdify`` is
the public API: :func:`lambdify_softmax`, :func:`lambdify_log_softmax`,
:func:`lambdify_logsumexp`, :func:`lambdify_jacobian`, :func:`lambdify_vjp`. ``online`` prints
the online (blockwise) recurrences of :mod:`symsoftmax.symbolic.online`: :func:`online_softmax`,
:func:`online_log_softmax`, :func:`online_logsumexp`, :func:`online_state`,
:func:`merge_states`.
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
from symsoftmax.numeric.online import (
    merge_states,
    online_log_softmax,
    online_logsumexp,
    online_softmax,
    online_state,
)

__all__ = [
    "GeneratedFunction",
    "lambdify_jacobian",
    "lambdify_log_softmax",
    "lambdify_logsumexp",
    "lambdify_softmax",
    "lambdify_vjp",
    "merge_states",
    "online_log_softmax",
    "online_logsumexp",
    "online_softmax",
    "online_state",
]
