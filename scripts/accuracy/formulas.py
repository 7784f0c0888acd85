"""The derived ops written the textbook way on top of a softmax and a log_softmax (NumPy arrays).

With s = softmax(z) and l = log_softmax(z), as docs/validation.md states the ops (proved in
docs/symbolic.md):

* softmax VJP: dz = s ⊙ (g − ⟨g, s⟩);
* log_softmax VJP: dz = g − s · Σg;
* Jacobian: J = diag(s) − s sᵀ;
* cross-entropy with probability targets y: loss = −Σ y ⊙ l, gradient s · Σy − y.

Every step is done in the input's format, as a user's code on that library would do it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Function = Callable[..., Any]


def derived_ops(softmax: Function, log_softmax: Function) -> dict[str, Function]:
    """softmax_vjp, log_softmax_vjp, jacobian and cross_entropy from ``softmax``/``log_softmax``."""

    def softmax_vjp(z: Any, g: Any) -> Any:
        s = softmax(z)
        return s * (g - (g * s).sum())

    def log_softmax_vjp(z: Any, g: Any) -> Any:
        return g - softmax(z) * g.sum()

    def jacobian(z: Any) -> Any:
        s = softmax(z)
        return np.diag(s) - np.outer(s, s)

    def cross_entropy(z: Any, y: Any) -> tuple[Any, Any]:
        return -(y * log_softmax(z)).sum(), softmax(z) * y.sum() - y

    return {
        "softmax_vjp": softmax_vjp,
        "log_softmax_vjp": log_softmax_vjp,
        "jacobian": jacobian,
        "cross_entropy": cross_entropy,
    }
