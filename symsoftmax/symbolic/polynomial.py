"""Sparse Laurent polynomials over ℚ: the arithmetic under the exact ring of `symbolic.ring`.

A `LaurentPolynomial` is a dict {monomial: coefficient}; a monomial is a sorted tuple of
(variable id, non-zero integer exponent) pairs, so negative exponents (x⁻¹) are allowed, and a
zero coefficient is never stored (the zero polynomial is the empty dict). The variables are plain
integers here: what they stand for (logits, e^{z_k}, 1/S, …) is the ring's business.

This module is the small interface between the two layers: the ring (`symbolic.ring`) builds,
differentiates and permutes polynomials through this class and its ``terms`` dict; nothing here
knows SymPy. A faster backend (e.g. python-flint) would replace this class alone; docs/symbolic.md,
"Why a hand-written ring", says why there is none yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

__all__ = [
    "Coefficient",
    "LaurentPolynomial",
    "Monomial",
    "accumulate",
    "multiply_monomials",
    "reciprocal_coefficient",
]

Coefficient = int | Fraction
Monomial = tuple[tuple[int, int], ...]  # sorted ((variable id, non-zero exponent), ...)


def multiply_monomials(a: Monomial, b: Monomial) -> Monomial:
    """a·b: exponents of equal variables added, variables whose exponent becomes 0 dropped."""
    if not a:
        return b
    if not b:
        return a
    exponents = dict(a)
    for variable, e in b:
        total = exponents.get(variable, 0) + e
        if total:
            exponents[variable] = total
        else:
            del exponents[variable]
    return tuple(sorted(exponents.items()))


def accumulate(terms: dict[Monomial, Coefficient], m: Monomial, c: Coefficient) -> None:
    """terms[m] += c, dropping the monomial when its coefficient becomes zero."""
    total = terms.get(m, 0) + c
    if total:
        terms[m] = total
    else:
        terms.pop(m, None)


def reciprocal_coefficient(c: Coefficient) -> Coefficient:
    """1/c, as an int when it is one (coefficients stay ints wherever they can)."""
    inverse = Fraction(1) / c
    return int(inverse) if inverse.denominator == 1 else inverse


class LaurentPolynomial:
    """Sparse Laurent polynomial over ℚ: {monomial: coefficient}, zero coefficients never stored."""

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[Monomial, Coefficient] | None = None) -> None:
        self.terms: dict[Monomial, Coefficient] = (
            {m: c for m, c in terms.items() if c} if terms else {}
        )

    @classmethod
    def constant(cls, value: Coefficient) -> LaurentPolynomial:
        return cls({(): value}) if value else cls()

    @classmethod
    def variable(cls, variable: int, exponent: int = 1) -> LaurentPolynomial:
        """x_variable ** exponent (any integer exponent but 0)."""
        return cls({((variable, exponent),): 1})

    @staticmethod
    def of(terms: dict[Monomial, Coefficient]) -> LaurentPolynomial:
        """A polynomial owning ``terms`` (no copy; the caller has dropped zero coefficients)."""
        result = LaurentPolynomial()
        result.terms = terms
        return result

    def is_zero(self) -> bool:
        return not self.terms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LaurentPolynomial) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        return f"LaurentPolynomial({self.terms!r})"

    def __add__(self, other: LaurentPolynomial) -> LaurentPolynomial:
        if not other.terms:
            return self
        if not self.terms:
            return other
        terms = dict(self.terms)
        for m, c in other.terms.items():
            accumulate(terms, m, c)
        return LaurentPolynomial.of(terms)

    def __neg__(self) -> LaurentPolynomial:
        return LaurentPolynomial.of({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: LaurentPolynomial) -> LaurentPolynomial:
        return self + (-other)

    def __mul__(self, other: LaurentPolynomial) -> LaurentPolynomial:
        if not self.terms or not other.terms:
            return LaurentPolynomial()
        return LaurentPolynomial.of(multiply_terms(self.terms, other.terms))

    def __pow__(self, n: int) -> LaurentPolynomial:
        """self**n for n ≥ 0 by repeated squaring (a negative power needs a reciprocal atom)."""
        if n < 0:
            raise ValueError("negative power of a polynomial: use a reciprocal atom")
        if n == 1:
            return self
        result, base = LaurentPolynomial.constant(1), self
        while n:
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    @staticmethod
    def sum(polys: Iterable[LaurentPolynomial]) -> LaurentPolynomial:
        """Σ polys, accumulated in place (no copy per addition)."""
        terms: dict[Monomial, Coefficient] = {}
        for p in polys:
            for m, c in p.terms.items():
                accumulate(terms, m, c)
        return LaurentPolynomial.of(terms)

    def variables(self) -> set[int]:
        """The variable ids that occur (with a non-zero exponent) in some term."""
        return {v for m in self.terms for v, _ in m}

    def single_variable(self) -> tuple[int, int] | None:
        """(variable, exponent) when the polynomial is exactly x**exponent, else None."""
        if len(self.terms) == 1:
            ((m, c),) = self.terms.items()
            if c == 1 and len(m) == 1:
                return m[0]
        return None

    def split_off(self, variable: int) -> list[tuple[int, LaurentPolynomial]]:
        """Each term as (exponent of ``variable``, the term without that variable)."""
        return [
            (dict(m).get(variable, 0), LaurentPolynomial({_without(m, variable): c}))
            for m, c in self.terms.items()
        ]


def _without(monomial: Monomial, variable: int) -> Monomial:
    return tuple((v, e) for v, e in monomial if v != variable)


def multiply_terms(
    a: Mapping[Monomial, Coefficient], b: Mapping[Monomial, Coefficient]
) -> dict[Monomial, Coefficient]:
    """The schoolbook product of two term dicts."""
    terms: dict[Monomial, Coefficient] = {}
    for ma, ca in a.items():
        for mb, cb in b.items():
            accumulate(terms, multiply_monomials(ma, mb), ca * cb)
    return terms
