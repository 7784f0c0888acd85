"""Sparse Laurent polynomials over ℚ: the arithmetic under the exact ring of `symbolic.exact.ring`.

A `PythonLaurentPolynomial` is a dict {monomial: coefficient}; a monomial is a sorted tuple of
(variable id, non-zero integer exponent) pairs, so negative exponents (x⁻¹) are allowed, and a
zero coefficient is never stored (the zero polynomial is the empty dict). The variables are plain
integers here: what they stand for (logits, e^{z_k}, 1/S, …) is the ring's business.

This module is the small interface between the two layers: the ring (`symbolic.exact.ring`) builds,
differentiates (``derivation``) and permutes (``rename``) polynomials through the methods of
`LaurentPolynomial`; nothing here knows SymPy. `LaurentPolynomial` is the backend chosen once, at
import, by the environment variable SYMSOFTMAX_RING: ``python`` (`PythonLaurentPolynomial`, this
module) or ``flint`` (`symbolic.exact.flint_polynomial.FlintLaurentPolynomial`, python-flint's
``fmpq_mpoly``: the ``flint`` extra). Unset, it is ``python``: docs/symbolic.md, "Why a
hand-written ring", gives the measurements behind that default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING

from symsoftmax.symbolic.exact.terms import Coefficient, Monomial

__all__ = [
    "RING_BACKENDS",
    "Coefficient",
    "LaurentPolynomial",
    "Monomial",
    "PythonLaurentPolynomial",
    "accumulate",
    "multiply_monomials",
    "reciprocal_coefficient",
    "ring_backend",
]


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


class PythonLaurentPolynomial:
    """Sparse Laurent polynomial over ℚ: {monomial: coefficient}, zero coefficients never stored."""

    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[Monomial, Coefficient] | None = None) -> None:
        self.terms: dict[Monomial, Coefficient] = (
            {m: c for m, c in terms.items() if c} if terms else {}
        )

    @classmethod
    def constant(cls, value: Coefficient) -> PythonLaurentPolynomial:
        return cls({(): value}) if value else cls()

    @classmethod
    def variable(cls, variable: int, exponent: int = 1) -> PythonLaurentPolynomial:
        """x_variable ** exponent (any integer exponent but 0)."""
        return cls({((variable, exponent),): 1})

    @staticmethod
    def of(terms: dict[Monomial, Coefficient]) -> PythonLaurentPolynomial:
        """A polynomial owning ``terms`` (no copy; the caller has dropped zero coefficients)."""
        result = PythonLaurentPolynomial()
        result.terms = terms
        return result

    @classmethod
    def from_term(cls, monomial: Monomial, c: Coefficient) -> PythonLaurentPolynomial:
        """The single term c·monomial."""
        return cls({monomial: c})

    def is_zero(self) -> bool:
        return not self.terms

    def __len__(self) -> int:
        """The number of terms."""
        return len(self.terms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PythonLaurentPolynomial) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        return f"PythonLaurentPolynomial({self.terms!r})"

    def __add__(self, other: PythonLaurentPolynomial) -> PythonLaurentPolynomial:
        if not other.terms:
            return self
        if not self.terms:
            return other
        terms = dict(self.terms)
        for m, c in other.terms.items():
            accumulate(terms, m, c)
        return PythonLaurentPolynomial.of(terms)

    def __neg__(self) -> PythonLaurentPolynomial:
        return PythonLaurentPolynomial.of({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: PythonLaurentPolynomial) -> PythonLaurentPolynomial:
        return self + (-other)

    def __mul__(self, other: PythonLaurentPolynomial) -> PythonLaurentPolynomial:
        if not self.terms or not other.terms:
            return PythonLaurentPolynomial()
        return PythonLaurentPolynomial.of(multiply_terms(self.terms, other.terms))

    def __pow__(self, n: int) -> PythonLaurentPolynomial:
        """self**n for n ≥ 0 by repeated squaring (a negative power needs a reciprocal atom)."""
        if n < 0:
            raise ValueError("negative power of a polynomial: use a reciprocal atom")
        if n == 1:
            return self
        result, base = PythonLaurentPolynomial.constant(1), self
        while n:
            if n & 1:
                result = result * base
            n >>= 1
            if n:
                base = base * base
        return result

    @staticmethod
    def sum(polys: Iterable[PythonLaurentPolynomial]) -> PythonLaurentPolynomial:
        """Σ polys, accumulated in place (no copy per addition)."""
        terms: dict[Monomial, Coefficient] = {}
        for p in polys:
            for m, c in p.terms.items():
                accumulate(terms, m, c)
        return PythonLaurentPolynomial.of(terms)

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

    def split_off(self, variable: int) -> list[tuple[int, PythonLaurentPolynomial]]:
        """Each term as (exponent of ``variable``, the term without that variable)."""
        return [
            (dict(m).get(variable, 0), PythonLaurentPolynomial({_without(m, variable): c}))
            for m, c in self.terms.items()
        ]

    def derivation(
        self,
        derivative_of: Callable[[int], PythonLaurentPolynomial],
        candidates: Callable[[], Iterable[int]],
    ) -> PythonLaurentPolynomial:
        """Σ_v ∂self/∂x_v · derivative_of(v): the derivation extending v ↦ derivative_of(v) by
        the product rule. ``candidates`` (the variables whose derivative may be non-zero) is for
        backends that cannot list a polynomial's variables cheaply; the terms are walked here."""
        total: dict[Monomial, Coefficient] = {}
        for monomial, c in self.terms.items():
            for index, (variable, e) in enumerate(monomial):
                d_variable = derivative_of(variable)
                if d_variable.is_zero():
                    continue
                if e == 1:
                    rest = monomial[:index] + monomial[index + 1 :]
                else:
                    rest = (*monomial[:index], (variable, e - 1), *monomial[index + 1 :])
                for m, dc in d_variable.terms.items():
                    accumulate(total, multiply_monomials(rest, m), c * e * dc)
        return PythonLaurentPolynomial.of(total)

    def rename(self, image_of: Callable[[int], int | None]) -> PythonLaurentPolynomial | None:
        """The polynomial with every variable v replaced by image_of(v) (an injective renaming
        on the variables present), or None when some present variable has no image."""
        terms: dict[Monomial, Coefficient] = {}
        for monomial, c in self.terms.items():
            image: list[tuple[int, int]] = []
            for variable, e in monomial:
                mapped = image_of(variable)
                if mapped is None:
                    return None
                image.append((mapped, e))
            terms[tuple(sorted(image))] = c
        return PythonLaurentPolynomial.of(terms)


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


RING_BACKENDS = ("python", "flint")


def ring_backend() -> str:
    """The backend named by SYMSOFTMAX_RING (``python`` when unset); a clear error otherwise."""
    name = os.environ.get("SYMSOFTMAX_RING", "python") or "python"
    if name not in RING_BACKENDS:
        raise ValueError(f"SYMSOFTMAX_RING must be one of {', '.join(RING_BACKENDS)}, got {name!r}")
    return name


if TYPE_CHECKING or ring_backend() == "python":
    LaurentPolynomial = PythonLaurentPolynomial
else:  # python-flint's fmpq_mpoly (the "flint" extra); an ImportError names the missing package
    from symsoftmax.symbolic.exact.flint_polynomial import (
        FlintLaurentPolynomial as LaurentPolynomial,
    )
