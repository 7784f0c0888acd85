"""Softmax, log_softmax and logsumexp as SymPy expressions, for a given K and for symbolic K.

Definitions (Blanchard, Higham & Higham 2021, eqs. (1.1)–(1.2)), with an optional temperature T > 0:

    σ(z)_j = e^{z_j/T} / Σ_k e^{z_k/T}
    log_softmax(z)_j = z_j/T − logsumexp(z)
    logsumexp(z) = log Σ_k e^{z_k/T}

The max-shifted forms subtract a shift c (in practice c = max_k z_k) inside every exponential:
σ(z)_j = e^{z_j − c} / Σ_k e^{z_k − c}; they equal the plain forms for every c (shift invariance).

These objects are the single source for the proofs (symbolic.fixed_k.proofs,
symbolic.any_k.general) and for code generation (numeric): what is proven is what is generated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

__all__ = [
    "IndexedForms",
    "indexed_forms",
    "log_softmax",
    "logits",
    "logsumexp",
    "softmax",
    "softmax_shifted",
]


def logits(k: int, name: str = "z") -> tuple[sp.Symbol, ...]:
    """Real symbols z1, …, zK."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"K must be a positive integer, got {k!r}")
    return tuple(sp.Symbol(f"{name}{i}", real=True) for i in range(1, k + 1))


def _scaled(z: Sequence[sp.Expr], temperature: sp.Expr | None) -> list[sp.Expr]:
    return list(z) if temperature is None else [zi / temperature for zi in z]


def softmax(z: Sequence[sp.Expr], temperature: sp.Expr | None = None) -> list[sp.Expr]:
    """σ(z)_j = e^{z_j/T} / Σ_k e^{z_k/T} (T = 1 when ``temperature`` is None)."""
    scaled = _scaled(z, temperature)
    denominator = sp.Add(*[sp.exp(x) for x in scaled])
    return [sp.exp(x) / denominator for x in scaled]


def softmax_shifted(
    z: Sequence[sp.Expr], shift: sp.Expr, temperature: sp.Expr | None = None
) -> list[sp.Expr]:
    """Max-shifted form e^{(z_j − c)/T} / Σ_k e^{(z_k − c)/T}, for any shift c."""
    return softmax([zi - shift for zi in z], temperature)


def logsumexp(z: Sequence[sp.Expr], temperature: sp.Expr | None = None) -> sp.Expr:
    """log Σ_k e^{z_k/T}."""
    return sp.log(sp.Add(*[sp.exp(x) for x in _scaled(z, temperature)]))


def log_softmax(z: Sequence[sp.Expr], temperature: sp.Expr | None = None) -> list[sp.Expr]:
    """log σ(z)_j = z_j/T − logsumexp(z)."""
    lse = logsumexp(z, temperature)
    return [x - lse for x in _scaled(z, temperature)]


@dataclass(frozen=True)
class IndexedForms:
    """The same functions for symbolic K, with z an IndexedBase and sums over k = 1..K.

    ``z[i]`` is a component, ``m`` a symbolic shift (the row maximum in generated code).
    """

    z: sp.IndexedBase = field(default_factory=lambda: sp.IndexedBase("z", real=True))
    i: sp.Symbol = field(default_factory=lambda: sp.Symbol("i", integer=True, positive=True))
    j: sp.Symbol = field(default_factory=lambda: sp.Symbol("j", integer=True, positive=True))
    k: sp.Symbol = field(default_factory=lambda: sp.Symbol("k", integer=True, positive=True))
    K: sp.Symbol = field(default_factory=lambda: sp.Symbol("K", integer=True, positive=True))
    m: sp.Symbol = field(default_factory=lambda: sp.Symbol("m", real=True))

    def partition(self, shift: sp.Expr = sp.S.Zero) -> sp.Expr:
        """Σ_{k=1}^{K} e^{z_k − c}."""
        return sp.Sum(sp.exp(self.z[self.k] - shift), (self.k, 1, self.K))

    def softmax(self, index: sp.Expr, shift: sp.Expr = sp.S.Zero) -> sp.Expr:
        """σ_index = e^{z_index − c} / Σ_k e^{z_k − c}."""
        return sp.exp(self.z[index] - shift) / self.partition(shift)

    def logsumexp(self, shift: sp.Expr = sp.S.Zero) -> sp.Expr:
        """c + log Σ_k e^{z_k − c}."""
        return shift + sp.log(self.partition(shift))

    def log_softmax(self, index: sp.Expr, shift: sp.Expr = sp.S.Zero) -> sp.Expr:
        """z_index − logsumexp(z), written as (z_index − c) − log Σ_k e^{z_k − c}."""
        return (self.z[index] - shift) - sp.log(self.partition(shift))


def indexed_forms() -> IndexedForms:
    """The symbols and expressions for symbolic K (fresh dataclass; symbols compare by name)."""
    return IndexedForms()
