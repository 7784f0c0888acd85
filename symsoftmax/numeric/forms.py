"""The SymPy expressions that the NumPy code is printed from.

Each one starts from the proven max-shifted form in :class:`symsoftmax.symbolic.expressions.
IndexedForms` (symbolic K, shift m) or from a closed form of a derivative, and is rewritten by
identities that are exact for every K (tested as exact zeros in tests/test_numeric_forms.py):

* naming the shifted, scaled logits  y_k = (z_k − m)/T  (T = 1 when no temperature is given), so
  every exponential reads e^{y_k} and the printer can subtract the row maximum once;
* ``log Σ_k e^{y_k} = log1p(Σ_k (e^{y_k} − d_k))`` for a one-hot d (Σ_k d_k = 1) at the first
  maximum, where e^{y_k} = e^0 = 1 exactly: the sum then holds only the terms below the maximum, so
  log_softmax and logsumexp keep full relative accuracy when one entry dominates (log(1 + s) with
  s < u would round to 0). Blanchard, Higham & Higham (2021), Algorithm "shifted" with log1p;
* Jacobian  ∂σ_i/∂z_j = σ_i(δ_ij − σ_j)/T  (Blanchard–Higham–Higham; numerics.md, "Derivatives"),
  printed as −σ_iσ_j/T off the diagonal and, on it, σ_i(1 − σ_i)/T with
  1 − σ_i = (s − expm1(y_i))/(1 + s), s = Σ_k (e^{y_k} − d_k): no cancellation when σ_i → 1;
* vector–Jacobian product  (gᵀJ)_i = σ_i(g_i − Σ_k g_k σ_k)/T.

Vector expressions carry the single free index k (the summation index of the proven forms; the
component index i is renamed to it), so e^{y_i} and the e^{y_k} inside the sum are the same SymPy
expression and ``sympy.cse`` computes it once. The Jacobian marks which axis a vector runs along
with :data:`AtRow` (index i, axis −2) and :data:`AtColumn` (index j, axis −1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symsoftmax.symbolic.expressions import IndexedForms, indexed_forms

__all__ = ["AtColumn", "AtRow", "VectorForms", "vector_forms"]

#: ``AtRow(v)`` is the vector v (free index k) evaluated at row index i of a K×K result.
AtRow = sp.Function("AtRow")
#: ``AtColumn(v)`` is the vector v evaluated at column index j of a K×K result.
AtColumn = sp.Function("AtColumn")


@dataclass(frozen=True)
class VectorForms:
    """softmax, log_softmax, logsumexp, Jacobian and VJP as expressions ready for printing.

    ``temperature`` None means T = 1 (no division is printed); otherwise the symbol T.
    """

    base: IndexedForms = field(default_factory=indexed_forms)
    temperature: sp.Symbol | None = None
    y: sp.IndexedBase = field(default_factory=lambda: sp.IndexedBase("y", real=True))
    d: sp.IndexedBase = field(default_factory=lambda: sp.IndexedBase("d", nonnegative=True))
    g: sp.IndexedBase = field(default_factory=lambda: sp.IndexedBase("g", real=True))

    # -- building blocks -----------------------------------------------------------------------

    @property
    def _indices(self) -> tuple[sp.Symbol, ...]:
        return (self.base.i, self.base.j, self.base.k)

    def scaled(self, expr: sp.Expr) -> sp.Expr:
        """The proven form at the scaled logits z/T and scaled shift m/T (identity when T = 1)."""
        T = self.temperature
        if T is None:
            return expr
        z, m = self.base.z, self.base.m
        return expr.xreplace({**{z[n]: z[n] / T for n in self._indices}, m: m / T})

    def shifted_logit(self, index: sp.Symbol) -> sp.Expr:
        """(z_index − m)/T: the expression that the name y_index stands for."""
        z, m, T = self.base.z, self.base.m, self.temperature
        return z[index] - m if T is None else (z[index] - m) / T

    def name_shifted_logits(self, expr: sp.Expr) -> sp.Expr:
        """Replace every z_n/T − m/T by y_n (exact matches inside sums, then flattened sums)."""
        z, m, T = self.base.z, self.base.m, self.temperature
        scale = sp.S.One if T is None else 1 / T
        for n in self._indices:
            expr = expr.xreplace({z[n] * scale - m * scale: self.y[n]})
        for n in self._indices[:2]:  # free indices only: subs never enters a sum over n = k
            expr = expr.subs(z[n] * scale - m * scale, self.y[n])
        return expr

    def to_vector(self, expr: sp.Expr, index: sp.Symbol) -> sp.Expr:
        """Rename the free component index to k, the index every vector expression carries."""
        return expr.xreplace({index: self.base.k})

    def partition(self) -> sp.Expr:
        """Σ_k e^{y_k}: the proven partition function at the shifted logits."""
        return self.name_shifted_logits(self.scaled(self.base.partition(self.base.m)))

    def partition_below_max(self) -> sp.Expr:
        """s = Σ_k (e^{y_k} − d_k) = Σ_k e^{y_k} − 1, since Σ_k d_k = 1."""
        k, K = self.base.k, self.base.K
        return sp.Sum(sp.exp(self.y[k]) - self.d[k], (k, 1, K))

    def stable_log_partition(self, expr: sp.Expr) -> sp.Expr:
        """Rewrite log Σ_k e^{y_k} as log1p(s) in ``expr``."""
        return expr.xreplace({sp.log(self.partition()): log1p(self.partition_below_max())})

    def _over_T(self, expr: sp.Expr) -> sp.Expr:
        return expr if self.temperature is None else expr / self.temperature

    # -- the five functions --------------------------------------------------------------------

    def softmax(self) -> sp.Expr:
        """σ_k = e^{y_k} / Σ_k e^{y_k} (the proven max-shifted form)."""
        i = self.base.i
        expr = self.name_shifted_logits(self.scaled(self.base.softmax(i, self.base.m)))
        return self.to_vector(expr, i)

    def log_softmax(self) -> sp.Expr:
        """y_k − log1p(Σ_k (e^{y_k} − d_k)) (proven form (z_i − m) − log Σ_k e^{z_k − m})."""
        i = self.base.i
        expr = self.name_shifted_logits(self.scaled(self.base.log_softmax(i, self.base.m)))
        return self.to_vector(self.stable_log_partition(expr), i)

    def logsumexp(self) -> sp.Expr:
        """m + T·log1p(Σ_k (e^{y_k} − d_k)) (proven form m + log Σ_k e^{z_k − m}); a row scalar.

        With a temperature this is T·logsumexp(z/T), the definition of the operation table
        (symsoftmax/ops.py) and of the reference engine: T·(m/T + L) expanded to m + T·L, so m is
        not divided and multiplied back.
        """
        expr = self.name_shifted_logits(self.scaled(self.base.logsumexp(self.base.m)))
        expr = self.stable_log_partition(expr)
        if self.temperature is None:
            return expr
        return sp.expand(self.temperature * expr, deep=False)

    def softmax_from_s(self) -> sp.Expr:
        """σ_k = e^{y_k}/(1 + s): the same softmax with the partition written as 1 + s."""
        return sp.exp(self.y[self.base.k]) / (1 + self.partition_below_max())

    def jacobian_closed_form(self) -> sp.Expr:
        """∂σ_i/∂z_j = σ_i(δ_ij − σ_j)/T, in the indices i and j."""
        b = self.base
        sigma_i = self.base.softmax(b.i, b.m)
        sigma_j = self.base.softmax(b.j, b.m)
        expr = self.scaled(sigma_i * (sp.KroneckerDelta(b.i, b.j) - sigma_j))
        return self._over_T(expr)

    def jacobian(self) -> sp.Expr:
        """Piecewise: σ_i(s − expm1(y_i))/((1 + s)T) on the diagonal, −(σ_i/T)σ_j off it."""
        b = self.base
        sigma = self.softmax_from_s()
        one_minus_sigma = (self.partition_below_max() - expm1(self.y[b.k])) / (
            1 + self.partition_below_max()
        )
        diagonal = self._over_T(sigma * one_minus_sigma)
        off_diagonal = -AtRow(self._over_T(sigma)) * AtColumn(sigma)
        return sp.Piecewise((AtRow(diagonal), sp.Eq(b.i, b.j)), (off_diagonal, True))

    def vjp_closed_form(self) -> sp.Expr:
        """(gᵀJ)_i = σ_i(g_i − Σ_k g_k σ_k)/T, in the index i."""
        b = self.base
        sigma_i = self.base.softmax(b.i, b.m)
        sigma_k = self.base.softmax(b.k, b.m)
        inner = sp.Sum(self.g[b.k] * sigma_k, (b.k, 1, b.K))
        return self._over_T(self.scaled(sigma_i * (self.g[b.i] - inner)))

    def vjp(self) -> sp.Expr:
        """The VJP closed form at the shifted logits, as a vector in k."""
        b = self.base
        sigma = self.softmax()
        # Σ_k g_k σ_k with the same σ expression, so cse shares it with the leading σ_k
        inner = sp.Sum(self.g[b.k] * sigma, (b.k, 1, b.K))
        return self._over_T(sigma * (self.g[b.k] - inner))


def vector_forms(temperature: bool = False) -> VectorForms:
    """The forms with T = 1, or with a positive temperature symbol T."""
    return VectorForms(temperature=sp.Symbol("T", positive=True) if temperature else None)
