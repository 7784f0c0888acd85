"""Public NumPy functions generated from the proven symbolic expressions.

``lambdify_softmax(K)`` and friends return a :class:`GeneratedFunction`: a callable on arrays of
shape (..., K) whose body was printed by :mod:`symsoftmax.numeric.codegen` from the expressions
of :mod:`symsoftmax.numeric.forms` (its ``.source`` shows the code, ``.expression`` the SymPy
expression it came from). Functions are cached per (kind, K, temperature).

Input: anything ``numpy.asarray`` turns into a bool, integer or floating array whose last axis has
length K. Floating inputs are computed in their own dtype (float16, float32, float64, longdouble);
bool and integer inputs in float64. Anything else raises :class:`symsoftmax.errors.InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import sympy as sp

from symsoftmax.errors import InputError
from symsoftmax.numeric.codegen import compile_kernel, generate_source
from symsoftmax.numeric.forms import vector_forms

__all__ = [
    "GeneratedFunction",
    "as_logits",
    "check_temperature",
    "lambdify_jacobian",
    "lambdify_log_softmax",
    "lambdify_logsumexp",
    "lambdify_softmax",
    "lambdify_vjp",
]

KINDS = ("softmax", "log_softmax", "logsumexp", "jacobian", "vjp")


def as_logits(value: npt.ArrayLike, K: int, name: str = "z") -> npt.NDArray[np.floating[Any]]:
    """``value`` as a floating array of shape (..., K), or InputError naming what is wrong."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a rectangular numeric array ({exc})") from None
    if array.dtype.kind in "biu":
        array = array.astype(np.float64)
    elif array.dtype.kind != "f":
        raise InputError(
            f"{name}: expected real numbers (bool, integer or float), got dtype {array.dtype}"
        )
    if array.ndim == 0 or array.shape[-1] != K:
        raise InputError(f"{name}: expected shape (..., {K}), got {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class GeneratedFunction:
    """A vectorized NumPy function printed from a SymPy expression.

    Call it with arrays of shape (..., K) (``arguments`` names them). ``source`` is the generated
    Python code, ``expression`` the SymPy expression it was printed from (after common
    subexpression elimination), ``temperature`` the T it was generated for (None: T = 1).
    """

    name: str
    K: int
    temperature: float | None
    arguments: tuple[str, ...]
    expression: sp.Expr = field(repr=False)
    source: str = field(repr=False)
    kernel: Callable[..., Any] = field(repr=False)

    def __call__(self, *arrays: npt.ArrayLike) -> npt.NDArray[np.floating[Any]]:
        if len(arrays) != len(self.arguments):
            raise TypeError(
                f"{self.name}() takes {len(self.arguments)} array argument(s) "
                f"({', '.join(self.arguments)}), got {len(arrays)}"
            )
        values = [as_logits(a, self.K, n) for a, n in zip(arrays, self.arguments, strict=True)]
        if len(values) > 1:
            if values[1].shape != values[0].shape:
                raise InputError(
                    f"{self.arguments[1]}: expected the shape of {self.arguments[0]}, "
                    f"{values[0].shape}, got {values[1].shape}"
                )
            dtype = np.result_type(*values)
            values = [v.astype(dtype, copy=False) for v in values]
        # Only special values (±inf, NaN, all −inf rows) raise these; their results are the IEEE
        # ones documented in docs/numeric.md.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            result: npt.NDArray[np.floating[Any]] = self.kernel(*values)
        return result


def _check_K(K: int) -> int:
    if not isinstance(K, int | np.integer) or isinstance(K, bool) or K < 1:
        raise InputError(f"K must be a positive integer, got {K!r}")
    return int(K)


def check_temperature(temperature: float | None) -> float | None:
    """``temperature`` as a float, None for none, or InputError unless a positive finite number."""
    if temperature is None:
        return None
    if isinstance(temperature, bool) or not isinstance(temperature, int | float | np.floating):
        raise InputError(f"temperature must be a positive number, got {temperature!r}")
    value = float(temperature)
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"temperature must be a positive finite number, got {temperature!r}")
    return value


@lru_cache(maxsize=128)
def _generate(kind: str, K: int, temperature: float | None) -> GeneratedFunction:
    forms = vector_forms(temperature is not None)
    expression: sp.Expr = getattr(forms, kind)()
    arguments = ("z", "g") if kind == "vjp" else ("z",)
    source = generate_source(
        kind, expression, forms, K, arguments, temperature, row_scalar=kind == "logsumexp"
    )
    return GeneratedFunction(
        name=kind,
        K=K,
        temperature=temperature,
        arguments=arguments,
        expression=expression,
        source=source,
        kernel=compile_kernel(source, kind),
    )


def _lambdify(kind: str, K: int, temperature: float | None) -> GeneratedFunction:
    return _generate(kind, _check_K(K), check_temperature(temperature))


def lambdify_softmax(K: int, temperature: float | None = None) -> GeneratedFunction:
    """σ(z)_j = e^{(z_j − m)/T} / Σ_k e^{(z_k − m)/T}, m = max_k z_k: (..., K) → (..., K)."""
    return _lambdify("softmax", K, temperature)


def lambdify_log_softmax(K: int, temperature: float | None = None) -> GeneratedFunction:
    """log σ(z)_j = (z_j − m)/T − log1p(Σ_{k ≠ argmax} e^{(z_k − m)/T}): (..., K) → (..., K)."""
    return _lambdify("log_softmax", K, temperature)


def lambdify_logsumexp(K: int, temperature: float | None = None) -> GeneratedFunction:
    """log Σ_k e^{z_k/T} = m/T + log1p(Σ_{k ≠ argmax} e^{(z_k − m)/T}): (..., K) → (...,)."""
    return _lambdify("logsumexp", K, temperature)


def lambdify_jacobian(K: int, temperature: float | None = None) -> GeneratedFunction:
    """∂σ_i/∂z_j = σ_i(δ_ij − σ_j)/T: (..., K) → (..., K, K), row i, column j."""
    return _lambdify("jacobian", K, temperature)


def lambdify_vjp(K: int, temperature: float | None = None) -> GeneratedFunction:
    """(gᵀ ∂σ/∂z)_i = σ_i(g_i − Σ_k g_k σ_k)/T: called as f(z, g), both (..., K) → (..., K)."""
    return _lambdify("vjp", K, temperature)
