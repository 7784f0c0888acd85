"""The term vocabulary shared by the polynomial backends (`symbolic.exact.polynomial`,
`symbolic.exact.flint_polynomial`): a monomial is a sorted tuple of (variable id, non-zero integer
exponent) pairs, so negative exponents (x⁻¹) are allowed; a coefficient is an exact rational."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["Coefficient", "Monomial"]

Coefficient = int | Fraction
Monomial = tuple[tuple[int, int], ...]  # sorted ((variable id, non-zero exponent), ...)
