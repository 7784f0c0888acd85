"""Evaluate a closed-form index template (see `closed_forms`) entry by entry in the exact ring.

The template is compiled once into nested closures, so evaluating entry (i, j) costs a few
polynomial operations and no SymPy work: that is what makes the K = 256 entry-by-entry proof cheap.

`CompiledTemplate.index_generic` is True when the template depends on its indices only through
``s[i]``, ``y[i]``, ``g[i]``, ``KroneckerDelta(i, j)`` and sums over all components — then it is
permutation-equivariant (its value at (π(i), π(j)) for permuted inputs equals its value at (i, j)),
which the permutation-symmetry proof mode relies on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sympy as sp

from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.exact.ring import RingConversionError, SymbolicRing

__all__ = ["CompiledTemplate", "compile_template"]

Env = dict[sp.Symbol, int]
Evaluator = Callable[[Env], LaurentPolynomial]


@dataclass
class CompiledTemplate:
    """A compiled template: ``evaluate(entry)`` gives the ring value at 1-based indices."""

    template: sp.Expr
    indices: tuple[sp.Symbol, ...]
    index_generic: bool
    _evaluator: Evaluator

    def evaluate(self, entry: Sequence[int]) -> LaurentPolynomial:
        return self._evaluator(dict(zip(self.indices, entry, strict=True)))


class _Compiler:
    def __init__(
        self,
        ring: SymbolicRing,
        vectors: Mapping[str, Sequence[LaurentPolynomial]],
        size: int,
        size_symbol: sp.Symbol,
    ) -> None:
        self.ring, self.vectors = ring, vectors
        self.size, self.size_symbol = size, size_symbol
        self.generic = True

    def compile(self, expr: sp.Basic, bound: frozenset[sp.Symbol]) -> Evaluator:
        if isinstance(expr, sp.Rational):
            value = self.ring.convert(expr)
            return lambda env: value
        if isinstance(expr, sp.Add | sp.Mul):
            parts = [self.compile(a, bound) for a in expr.args]
            combine = _add if isinstance(expr, sp.Add) else _mul
            return lambda env: combine([p(env) for p in parts])
        if isinstance(expr, sp.Pow):
            base, exponent = expr.args
            if not isinstance(exponent, sp.Integer) or exponent < 0:
                # 1/T and friends: hand the whole power to the ring (no indices inside).
                return self._constant(expr, bound)
            inner, n = self.compile(base, bound), int(exponent)
            return lambda env: inner(env) ** n
        if isinstance(expr, sp.Indexed):
            return self._indexed(expr, bound)
        if isinstance(expr, sp.KroneckerDelta):
            left, right = (self._index(a, bound) for a in expr.args)
            one, nothing = LaurentPolynomial.constant(1), LaurentPolynomial()
            return lambda env: one if left(env) == right(env) else nothing
        if isinstance(expr, sp.Sum):
            return self._sum(expr, bound)
        if expr == self.size_symbol:
            value = LaurentPolynomial.constant(self.size)
            return lambda env: value
        if expr in bound:  # an index used as a number: not permutation-equivariant
            self.generic = False
            return lambda env: LaurentPolynomial.constant(env[expr])
        return self._constant(expr, bound)

    def _constant(self, expr: sp.Basic, bound: frozenset[sp.Symbol]) -> Evaluator:
        """A term without indices (T, 1/T, numbers): converted once by the ring."""
        if expr.free_symbols & bound:
            raise RingConversionError(f"unsupported use of an index in {expr}")
        value = self.ring.convert(expr)
        return lambda env: value

    def _index(self, expr: sp.Basic, bound: frozenset[sp.Symbol]) -> Callable[[Env], int]:
        if expr in bound:
            return lambda env: env[expr]
        self.generic = False
        if isinstance(expr, sp.Integer):
            value = int(expr)
            return lambda env: value
        if expr.free_symbols <= bound | {self.size_symbol}:
            symbols = sorted(expr.free_symbols, key=str)

            def index(env: Env) -> int:
                values = {s: self.size if s == self.size_symbol else env[s] for s in symbols}
                return int(expr.xreplace(values))

            return index
        raise RingConversionError(f"unsupported index {expr}")

    def _indexed(self, expr: sp.Indexed, bound: frozenset[sp.Symbol]) -> Evaluator:
        name = str(expr.base)
        if name not in self.vectors:
            raise RingConversionError(f"unknown vector {name!r} in closed form")
        if len(expr.indices) != 1:
            raise RingConversionError(f"{expr}: one index expected")
        vector, size = self.vectors[name], self.size
        position = self._index(expr.indices[0], bound)

        def component(env: Env) -> LaurentPolynomial:
            p = position(env)
            if not 1 <= p <= size:
                raise RingConversionError(f"{expr} at index {p} is outside 1..{size}")
            return vector[p - 1]

        return component

    def _sum(self, expr: sp.Sum, bound: frozenset[sp.Symbol]) -> Evaluator:
        if len(expr.limits) != 1:
            raise RingConversionError(f"{expr}: one summation index expected")
        variable, low, high = expr.limits[0]
        if low != 1 or high != self.size_symbol:
            self.generic = False
        body = self.compile(expr.function, bound | {variable})
        low_i = self._index(low, bound) if low != 1 else (lambda env: 1)
        high_i = (lambda env: self.size) if high == self.size_symbol else self._index(high, bound)

        def total(env: Env) -> LaurentPolynomial:
            inner = dict(env)
            parts = []
            for value in range(low_i(env), high_i(env) + 1):
                inner[variable] = value
                parts.append(body(inner))
            return LaurentPolynomial.sum(parts)

        return total


def _add(parts: list[LaurentPolynomial]) -> LaurentPolynomial:
    return LaurentPolynomial.sum(parts)


def _mul(parts: list[LaurentPolynomial]) -> LaurentPolynomial:
    product = parts[0]
    for p in parts[1:]:
        product = product * p
    return product


def compile_template(
    template: sp.Expr,
    indices: Sequence[sp.Symbol],
    ring: SymbolicRing,
    vectors: Mapping[str, Sequence[LaurentPolynomial]],
    size: int,
    size_symbol: sp.Symbol,
) -> CompiledTemplate:
    """Compile ``template`` with free ``indices`` for vectors (e.g. {"s": σ polys}) of length K.

    Raises RingConversionError for a construct the exact ring cannot evaluate.
    """
    if not isinstance(template, sp.Basic):
        raise TypeError(f"closed form must be a SymPy expression, got {type(template).__name__}")
    compiler = _Compiler(ring, vectors, size, size_symbol)
    evaluator = compiler.compile(template, frozenset(indices))
    return CompiledTemplate(template, tuple(indices), compiler.generic, evaluator)
