"""Print :mod:`symsoftmax.numeric.forms` expressions as vectorized NumPy source, and compile it.

The printer reads a vector expression (free index k) as an array over the last axis:

* ``y[k]``, ``d[k]``, ``g[k]`` → the arrays ``y``, ``d``, ``g`` of shape (..., K);
* ``Sum(f, (k, 1, K))`` → ``numpy.sum(f, axis=-1, keepdims=True)``, shape (..., 1);
* ``AtRow(v)`` / ``AtColumn(v)`` → ``v[..., :, None]`` / ``v[..., None, :]`` (Jacobian axes i, j);
* ``Piecewise((A, Eq(i, j)), (B, True))`` → ``numpy.where(numpy.eye(K, dtype=bool), A, B)``.

Common subexpressions are shared by ``sympy.cse`` before printing. Where the outermost operation
of a statement is elementwise on one of our own (..., K) temporaries that no later statement reads,
the result is written into it (``numpy.exp(y, out=y)``): the values are the same, and skipping the
allocation of a fresh (..., K) array halves the time on large batches. The shift m and the names y
(shifted logits) and d (one-hot of the first maximum) are defined by a fixed preamble:

    m = max_k z_k, replaced by 0 where it is −inf (an all −inf row) or NaN, so that the row's
    result follows IEEE arithmetic on the unshifted values (NaN for softmax and log_softmax, −inf
    for logsumexp). A +inf maximum is kept in the vector functions, where it makes the whole row
    NaN as an IEEE max-shift does (docs/reference.md, special values); logsumexp replaces it by 0
    too, since log Σ e^{z_k} = +inf is then its limit.

The source is compiled with ``compile()`` in a namespace holding only ``numpy``: it is code we
generated from our own expressions, never text from a user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.precedence import PRECEDENCE

from symsoftmax.numeric.forms import AtColumn, AtRow, VectorForms

__all__ = [
    "ReusingNumPyPrinter",
    "VectorizedNumPyPrinter",
    "compile_kernel",
    "generate_source",
    "print_statements",
]


# elementwise functions that may write into their argument (``out=``)
_UNARY_UFUNCS: dict[Any, str] = {
    sp.exp: "numpy.exp",
    expm1: "numpy.expm1",
    log1p: "numpy.log1p",
    sp.log: "numpy.log",
}


class ReusingNumPyPrinter(NumPyPrinter):
    """NumPyPrinter that prints ``x**-1`` as ``1/x`` and can write a statement's result into a
    dead (..., K) temporary of the generated code (:meth:`print_reusing`)."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": False})

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        if expr.exp == -1:  # 1/x rather than NumPyPrinter's x**(-1.0)
            return f"1/{self.parenthesize(expr.base, PRECEDENCE['Pow'])}"
        return str(super()._print_Pow(expr, rational=rational))

    # -- statements that reuse a dead temporary as ``out=`` ------------------------------------

    def is_vector(self, expr: sp.Basic, vector_temps: set[sp.Symbol]) -> bool:
        """Does ``expr`` have the shape (..., K) (an array indexed by k outside any sum)?"""
        if isinstance(expr, sp.Indexed):
            return True
        if isinstance(expr, sp.Sum):
            return False
        if isinstance(expr, sp.Symbol):
            return expr in vector_temps
        return any(self.is_vector(arg, vector_temps) for arg in expr.args)

    def print_reusing(self, expr: sp.Expr, reusable: set[sp.Basic]) -> str:
        """Print ``expr``; if its outermost operation is elementwise on a ``reusable`` operand
        (a (..., K) temporary of ours that no later statement reads), write into that operand
        with ``out=`` instead of allocating a new array. Same values, one allocation less."""
        if not expr.has(AtRow, AtColumn, sp.Piecewise):
            if expr.func in _UNARY_UFUNCS and expr.args[0] in reusable:
                target = self._print(expr.args[0])
                return f"{_UNARY_UFUNCS[expr.func]}({target}, out={target})"
            if (expr.is_Mul or expr.is_Add) and len(expr.args) == 2:
                for first, second in (expr.args, expr.args[::-1]):
                    if first in reusable:
                        return self._print_binary_into(expr, first, second)
        return str(self.doprint(expr))

    def _print_binary_into(self, expr: sp.Expr, target: sp.Basic, other: sp.Expr) -> str:
        out = self._print(target)
        if expr.is_Mul and other.is_Pow and other.exp == -1:
            return f"numpy.divide({out}, {self._print(other.base)}, out={out})"
        if expr.is_Mul:
            return f"numpy.multiply({out}, {self._print(other)}, out={out})"
        if other.is_Mul and other.args[0] == -1:
            return f"numpy.subtract({out}, {self._print(-other)}, out={out})"
        return f"numpy.add({out}, {self._print(other)}, out={out})"


def print_statements(
    printer: ReusingNumPyPrinter,
    exprs: Sequence[sp.Expr],
    own: Sequence[sp.Expr],
    keep: Sequence[sp.Symbol] = (),
) -> tuple[list[str], list[str]]:
    """Print ``exprs`` with their common subexpressions shared (``sympy.cse``).

    Returns the lines ``x0 = ...`` of the shared subexpressions and the printed ``exprs``, in
    order. ``own``: the (..., K) arrays of the generated code that it may overwrite once no later
    statement reads them (never an input). A computed vector temporary joins them. ``keep``:
    symbols that no shared subexpression may contain (a bare ``x0 = -s`` reads worse than
    ``m - s`` twice).
    """
    replacements, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols("x"), ignore=keep)
    statements: list[tuple[sp.Symbol | None, sp.Expr]] = [
        *replacements,
        *((None, r) for r in reduced),
    ]
    vector_temps: set[sp.Symbol] = set()
    lines: list[str] = []
    printed: list[str] = []
    for n, (symbol, value) in enumerate(statements):
        later = [v for _, v in statements[n + 1 :]]
        candidates = [*own, *vector_temps]
        reusable = {c for c in candidates if value.has(c) and not any(v.has(c) for v in later)}
        code = printer.print_reusing(value, reusable)
        if symbol is None:
            printed.append(code)
            continue
        lines.append(f"{symbol} = {code}")
        # a computed vector is a fresh array of ours; a bare name (Symbol or Indexed, both
        # Atoms in SymPy) would alias an input or another array
        if printer.is_vector(value, vector_temps) and not value.is_Atom:
            vector_temps.add(symbol)
    return lines, printed


class VectorizedNumPyPrinter(ReusingNumPyPrinter):
    """NumPyPrinter for expressions over the last axis (see the module docstring)."""

    def __init__(self, forms: VectorForms, K: int) -> None:
        super().__init__()
        self.forms = forms
        self.K = K
        self.arrays = {forms.y: "y", forms.d: "d", forms.g: "g"}

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = self.arrays.get(expr.base)
        if name is None or expr.indices != (self.forms.base.k,):
            raise ValueError(f"cannot print {expr} as a last-axis array")
        return name

    def _print_Sum(self, expr: sp.Sum) -> str:
        b = self.forms.base
        if tuple(expr.limits) != ((b.k, 1, b.K),):
            raise ValueError(f"only sums over k = 1..K are printed, got {expr.limits}")
        return f"numpy.sum({self._print(expr.function)}, axis=-1, keepdims=True)"

    def _print_Function(self, expr: sp.Function) -> str:
        if expr.func in (AtRow, AtColumn):
            (arg,) = expr.args
            axes = ":, None" if expr.func == AtRow else "None, :"
            return f"{self.parenthesize(arg, PRECEDENCE['Atom'], strict=True)}[..., {axes}]"
        return str(super()._print_Function(expr))

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        b = self.forms.base
        (diagonal, on_diagonal), (off_diagonal, otherwise) = expr.args
        if on_diagonal != sp.Eq(b.i, b.j) or otherwise is not sp.true:
            raise ValueError(f"only the diagonal/off-diagonal Piecewise is printed, got {expr}")
        return (
            f"numpy.where(numpy.eye({self.K}, dtype=bool), "
            f"{self._print(diagonal)}, {self._print(off_diagonal)})"
        )


def _preamble(
    forms: VectorForms, K: int, temperature: float | None, uses_d: bool, row_scalar: bool
) -> list[str]:
    """Lines defining T, m, y and (if used) d from the input ``z``."""
    lines = [] if temperature is None else [f"T = {float(temperature)!r}"]
    if uses_d:
        lines += [
            "a = numpy.argmax(z, axis=-1, keepdims=True)",
            "m = numpy.take_along_axis(z, a, axis=-1)",
        ]
    else:
        lines.append("m = numpy.max(z, axis=-1, keepdims=True)")
    if row_scalar:
        # logsumexp: log Σ e^z of the unshifted row is the answer for ±inf and NaN maxima too
        lines.append("m = numpy.where(numpy.isfinite(m), m, 0)")
    else:
        # a +inf maximum stays: z − m is NaN at the +inf entries and −inf elsewhere, so the whole
        # row is NaN (the IEEE max-shift answer); with m = 0 it was NaN there and 0 elsewhere
        lines.append("m = numpy.where(numpy.isneginf(m) | numpy.isnan(m), 0, m)")
    lines.append("y = z - m")
    if temperature is not None:
        lines.append("y /= T")
    if uses_d:
        lines.append(f"d = numpy.arange({K}) == a")
    return lines


def generate_source(
    name: str,
    expr: sp.Expr,
    forms: VectorForms,
    K: int,
    arguments: Sequence[str] = ("z",),
    temperature: float | None = None,
    row_scalar: bool = False,
) -> str:
    """Python source of ``def name(arguments): ...`` computing ``expr`` with NumPy.

    ``expr`` comes from :class:`VectorForms`; its only free symbols may be y, d, g (as arrays
    indexed by k), the shift m, the temperature T and the size K. ``row_scalar``: ``expr`` has
    one value per row (logsumexp); the kept last axis of length 1 is dropped.
    """
    printer = VectorizedNumPyPrinter(forms, K)
    body = _preamble(forms, K, temperature, expr.has(forms.d), row_scalar)
    # our own (..., K) array y (never the inputs z, g, nor the bool d) may be overwritten
    assignments, (result,) = print_statements(printer, [expr], [forms.y[forms.base.k]])
    body += assignments
    body.append(f"return ({result})[..., 0]" if row_scalar else f"return {result}")
    lines = [f"def {name}({', '.join(arguments)}):", *(f"    {line}" for line in body)]
    return "\n".join(lines) + "\n"


def compile_kernel(source: str, name: str) -> Callable[..., Any]:
    """Compile generated ``source`` (our own code, see module docstring) and return ``name``."""
    namespace: dict[str, Any] = {"numpy": numpy}
    exec(compile(source, f"<symsoftmax generated {name}>", "exec"), namespace)
    kernel: Callable[..., Any] = namespace[name]
    return kernel
