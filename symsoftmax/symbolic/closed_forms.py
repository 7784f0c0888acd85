"""Closed forms of the softmax derivatives, as index templates shared by every proof.

A closed form is a SymPy expression in *template symbols*: ``s[i]`` stands for σ_i, ``y[i]`` for a
target distribution, ``g[i]`` for a cotangent, ``KroneckerDelta(i, j)`` for δ_ij, ``T`` for the
temperature and ``Sum(…, (l, 1, K))`` for a sum over all components. The same template is used for a
fixed K (indices become integers, s[i] the softmax expression of `expressions.softmax`) and for
symbolic K (s[i] becomes `IndexedForms.softmax(i)`), so one formula is proven both ways and printed
in the derivations. Proof functions take the closed form as a parameter, so a wrong one can be
injected and must be rejected.

Formulas and sources: Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and softmax
functions", IMA J. Numer. Anal. 41 (2021), §2 (J = diag(σ) − σσᵀ, ∇ lse = σ); the remaining
identities follow from differentiating σ_i = e^{z_i}/Σ_k e^{z_k} (collected in docs/symbolic.md,
"The identities", and derived step by step in derivations/).
"""

from __future__ import annotations

import sympy as sp

from symsoftmax.symbolic.expressions import indexed_forms

__all__ = [
    "FORMS",
    "K",
    "T",
    "cross_entropy_gradient_closed_form",
    "ell",
    "g",
    "i",
    "j",
    "jacobian_closed_form",
    "k",
    "log_softmax_jacobian_closed_form",
    "logsumexp_gradient_closed_form",
    "logsumexp_hessian_closed_form",
    "s",
    "second_derivative_closed_form",
    "sigmoid",
    "softmax_value",
    "vjp_closed_form",
    "x",
    "y",
    "zero",
]

FORMS = indexed_forms()
i, j, k, K = FORMS.i, FORMS.j, FORMS.k, FORMS.K
ell = sp.Symbol("l", integer=True, positive=True)  # summation index of templates
s = sp.IndexedBase("s", real=True)  # σ (softmax values)
y = sp.IndexedBase("y", real=True)  # target distribution, Σ y = 1
g = sp.IndexedBase("g", real=True)  # cotangent (upstream gradient)
T = sp.Symbol("T", positive=True)  # temperature
x = sp.Symbol("x", real=True)  # argument of the logistic sigmoid
δ = sp.KroneckerDelta


def jacobian_closed_form(temperature: bool = False) -> sp.Expr:
    """∂σ_i/∂z_j = σ_i (δ_ij − σ_j), or (1/T) σ_i (δ_ij − σ_j) with σ at temperature T.

    Source: Blanchard, Higham & Higham (2021), §2: J = diag(σ) − σσᵀ.
    """
    form = s[i] * (δ(i, j) - s[j])
    return form / T if temperature else form


def log_softmax_jacobian_closed_form(temperature: bool = False) -> sp.Expr:
    """∂ log σ_i/∂z_j = δ_ij − σ_j (the matrix I − 1σᵀ), or (δ_ij − σ_j)/T at temperature T."""
    form = δ(i, j) - s[j]
    return form / T if temperature else form


def vjp_closed_form() -> sp.Expr:
    """(Jᵀ g)_j = σ_j (g_j − ⟨g, σ⟩): the vector-Jacobian product, O(K) instead of O(K²)."""
    return s[j] * (g[j] - sp.Sum(g[ell] * s[ell], (ell, 1, K)))


def logsumexp_gradient_closed_form() -> sp.Expr:
    """∂ logsumexp/∂z_j = σ_j. Source: Blanchard, Higham & Higham (2021), §2."""
    return s[j]


def logsumexp_hessian_closed_form() -> sp.Expr:
    """∂² logsumexp/∂z_j∂z_k = σ_j (δ_jk − σ_k): the Hessian of logsumexp is J."""
    return s[j] * (δ(j, k) - s[k])


def cross_entropy_gradient_closed_form() -> sp.Expr:
    """∂/∂z_j (−Σ_i y_i log σ_i) = σ_j − y_j, valid when Σ_i y_i = 1."""
    return s[j] - y[j]


def second_derivative_closed_form() -> sp.Expr:
    """∂²σ_i/∂z_j∂z_k = σ_i [(δ_ij − σ_j)(δ_ik − σ_k) − σ_j (δ_jk − σ_k)]."""
    return s[i] * ((δ(i, j) - s[j]) * (δ(i, k) - s[k]) - s[j] * (δ(j, k) - s[k]))


def softmax_value() -> sp.Expr:
    """σ_i itself: the right-hand side of shift invariance and of the max-shifted form."""
    return s[i]


def zero() -> sp.Expr:
    """0: the right-hand side of J·1 = 0 (each row of J sums to zero)."""
    return sp.S.Zero


def sigmoid(argument: sp.Expr = x) -> sp.Expr:
    """Logistic sigmoid 1/(1 + e^{−x}); σ(z₁, z₂)₁ = sigmoid(z₁ − z₂) for K = 2."""
    return 1 / (1 + sp.exp(-argument))
