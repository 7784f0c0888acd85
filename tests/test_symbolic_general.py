"""Symbolic-K proofs: every identity proven, wrong closed forms rejected, the sum reduction."""

from __future__ import annotations

import pytest
import sympy as sp

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.any_k.claims import CLAIMS
from symsoftmax.symbolic.any_k.general import (
    GENERAL_PROOFS,
    INDEX_ASSUMPTION,
    PARTITION,
    evaluate_sums,
    prove_general,
    prove_general_identity,
)
from symsoftmax.symbolic.any_k.online_proofs import ONLINE
from symsoftmax.symbolic.any_k.variants import VARIANTS

δ = sp.KroneckerDelta
F = cf.FORMS
s, i, j = cf.s, cf.i, cf.j


def test_every_general_identity_is_proven_with_its_assumption() -> None:
    results = prove_general()
    assert [r.name for r in results] == list(GENERAL_PROOFS)
    # sums over the index are not reduced there (case proofs)
    case_proofs = set(CLAIMS) | set(ONLINE) | set(VARIANTS)
    for r in results:
        assert r.proven, r.failure_message()
        assert (INDEX_ASSUMPTION in r.assumptions) != (r.name in case_proofs), r.name
    names = {r.name for r in results}
    assert {"jacobian", "log_softmax_jacobian", "logsumexp_gradient"} <= names
    by_name = {r.name: r for r in results}
    assert any("Σ_r y_r = 1" in a for a in by_name["cross_entropy_gradient"].assumptions)


def test_jacobian_steps_are_the_real_derivation() -> None:
    proof = prove_general_identity("jacobian")
    # SymPy's raw derivative still holds the Kronecker sum ...
    assert proof.derivative.has(sp.Sum) and proof.derivative.has(sp.KroneckerDelta)
    # ... which the reduction turns into e^{z_j}/S.
    expected = sp.exp(F.z[i]) * δ(i, j) / PARTITION - sp.exp(F.z[i]) * sp.exp(F.z[j]) / PARTITION**2
    assert sp.expand(proof.reduced - expected) == 0
    assert [case for case, _ in proof.cases] == ["i = j", "i ≠ j"]


def test_kronecker_sum_reduction() -> None:
    kk, K = F.k, F.K
    assert evaluate_sums(sp.Sum(sp.exp(F.z[kk]) * δ(j, kk), (kk, 1, K)), (j,)) == sp.exp(F.z[j])
    assert evaluate_sums(sp.Sum(sp.exp(F.z[kk]), (kk, 1, K)), ()) == PARTITION
    assert evaluate_sums(sp.Sum(3 * sp.exp(F.z[i]), (kk, 1, K)), ()) == 3 * K * sp.exp(F.z[i])
    # an index not known to lie in 1..K is not reduced (no unjustified step)
    other = sp.Symbol("q", integer=True)
    kept = evaluate_sums(sp.Sum(sp.exp(F.z[kk]) * δ(other, kk), (kk, 1, K)), (j,))
    assert kept.has(sp.Sum)
    # a shape it does not know stays a Sum, so a proof depending on it fails
    assert evaluate_sums(sp.Sum(F.z[kk] ** 2, (kk, 1, K)), ()).has(sp.Sum)


WRONG = [
    ("jacobian", s[i] * (s[j] - δ(i, j))),
    ("jacobian", s[i] * (1 - s[j])),
    ("jacobian", s[i] * (δ(i, j) - s[i])),
    ("log_softmax_jacobian", δ(i, j) - s[i]),
    ("log_softmax_jacobian", 1 - s[j]),
    ("logsumexp_gradient", s[j] ** 2),
    ("logsumexp_hessian", s[j] * (1 - s[cf.k])),
    ("jacobian_rows_sum_to_zero", s[i]),
    ("vjp", s[j] * (cf.g[j] + sp.Sum(cf.g[cf.ell] * s[cf.ell], (cf.ell, 1, F.K)))),
    ("vjp", cf.g[j] * s[j]),
    ("cross_entropy_gradient", s[j] + cf.y[j]),
    ("cross_entropy_gradient", s[j]),
    (
        "second_derivative",
        s[i] * ((δ(i, j) - s[j]) * (δ(i, cf.k) - s[cf.k]) + s[j] * (δ(j, cf.k) - s[cf.k])),
    ),
    ("second_derivative", s[i] * (δ(i, j) - s[j]) * (δ(i, cf.k) - s[cf.k])),
    ("max_shifted_softmax", s[i] ** 2),
    ("max_shifted_log_softmax", F.z[i]),
    ("max_shifted_logsumexp", sp.log(F.partition()) + F.m),
]


@pytest.mark.parametrize(("name", "form"), WRONG)
def test_wrong_general_closed_form_is_rejected(name: str, form: sp.Expr) -> None:
    result = prove_general_identity(name, form).result()
    assert not result.proven
    assert result.residual and "case" in result.residual
    assert name in result.failure_message()


def test_unknown_general_identity() -> None:
    with pytest.raises(ValueError, match="unknown identity"):
        prove_general_identity("nope")
    with pytest.raises(ValueError, match="unknown identities"):
        prove_general({"nope": s[i]})
