"""One identity registry: every proof (fixed K, symbolic K) and every derive formula is keyed by
it, renamed identities are still accepted, and the polynomial layer's arithmetic is a ring."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.any_k.general import GENERAL_PROOFS, prove_general, prove_general_identity
from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.fixed_k.proofs import (
    CASE_PROOF_NAMES,
    FIXED_K_NAMES,
    FIXED_K_PROOFS,
    SIGMOID,
    prove_all,
    prove_identity,
    resolve_mode,
)
from symsoftmax.symbolic.identities import IDENTITIES, RENAMED, ProofResult, index_patterns
from symsoftmax.symbolic.options import PROOF_MODES, WHATS
from symsoftmax.symbolic.printing.derive import derive


def test_every_proof_is_keyed_by_the_registry() -> None:
    with_fixed = {name for name, identity in IDENTITIES.items() if identity.statement}
    with_general = {name for name, identity in IDENTITIES.items() if identity.general_statement}
    assert set(FIXED_K_NAMES) == with_fixed
    assert set(FIXED_K_PROOFS) == with_fixed - {SIGMOID} - set(CASE_PROOF_NAMES)
    assert set(GENERAL_PROOFS) == with_general
    for name in FIXED_K_PROOFS:  # a fixed-K proof needs a template to compare with
        assert IDENTITIES[name].closed_form is not None, name


def test_statements_printed_come_from_the_registry() -> None:
    for result in prove_all(2):
        assert result.statement == IDENTITIES[result.name].statement
    for result in prove_general():
        assert result.statement == IDENTITIES[result.name].general_statement


def test_derive_formulas_are_backed_by_registry_identities() -> None:
    backed = {identity.derive: name for name, identity in IDENTITIES.items() if identity.derive}
    assert set(backed) <= set(WHATS)
    assert set(backed) == {"jacobian", "vjp", "hessian", "cross_entropy_grad"}
    for what, name in backed.items():
        derived = derive(what, 2)
        assert derived.proof.startswith(f"{name}: proven for K = 2")


def test_renamed_identity_is_still_accepted() -> None:
    assert RENAMED == {"max_shifted_form": "max_shifted_softmax"}
    old = prove_identity("max_shifted_form", 4)
    assert old.name == "max_shifted_softmax" and old.proven
    assert prove_general_identity("max_shifted_form").proven
    wrong = {"max_shifted_form": 1 - cf.s[cf.i]}
    results = {r.name: r for r in prove_all(3, closed_forms=wrong)}
    assert not results["max_shifted_softmax"].proven  # the override reached the renamed identity
    with pytest.raises(ValueError, match="unknown identity"):
        prove_identity("no_such_identity", 3)


def test_index_patterns_are_the_set_partitions() -> None:
    assert [len(index_patterns(n)) for n in range(1, 6)] == [1, 2, 5, 15, 52]  # Bell numbers
    assert index_patterns(2) == [(0, 0), (0, 1)]
    assert index_patterns(3) == [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (0, 1, 2)]


def test_proof_modes_are_checked() -> None:
    assert [resolve_mode(3, mode) for mode in PROOF_MODES] == [
        "exhaustive",
        "exhaustive",
        "permutation",
    ]
    with pytest.raises(ValueError, match="mode must be one of auto, exhaustive, permutation"):
        resolve_mode(3, "fast")


def test_cli_choices_need_no_sympy() -> None:
    code = (
        "import sys, symsoftmax.cli.derive, symsoftmax.cli.verify; "
        "sys.exit(1 if 'sympy' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


_monomials = st.lists(
    st.tuples(st.integers(0, 4), st.integers(-2, 2).filter(bool)),
    max_size=3,
    unique_by=lambda pair: pair[0],
).map(lambda pairs: tuple(sorted(pairs)))
_coefficients = st.fractions(min_value=-3, max_value=3, max_denominator=4).filter(bool)
_polynomials = st.dictionaries(_monomials, _coefficients, max_size=5).map(LaurentPolynomial)


@settings(max_examples=60, deadline=None)
@given(a=_polynomials, b=_polynomials, c=_polynomials)
def test_laurent_polynomials_form_a_commutative_ring(
    a: LaurentPolynomial, b: LaurentPolynomial, c: LaurentPolynomial
) -> None:
    one, zero = LaurentPolynomial.constant(1), LaurentPolynomial()
    assert a * b == b * a and (a * b) * c == a * (b * c)
    assert a * (b + c) == a * b + a * c
    assert a * one == a and (a - a).is_zero() and (a * zero).is_zero()
    assert a**3 == a * a * a and a**0 == one
    assert LaurentPolynomial.sum([a, b, c]) == a + b + c
    x = LaurentPolynomial.variable(0)
    assert x * LaurentPolynomial.variable(0, -1) == one  # Laurent: x·x⁻¹ = 1
    rebuilt = LaurentPolynomial.sum(
        rest * (LaurentPolynomial.variable(0, e) if e else one) for e, rest in a.split_off(0)
    )
    assert rebuilt == a  # split_off separates one variable's exponent from the rest


def test_proof_results_are_built_with_keywords() -> None:
    with pytest.raises(TypeError):
        ProofResult("jacobian", "statement", True, "method", 0.0)  # type: ignore[misc]
    result = ProofResult(name="n", statement="s", proven=False, method="m", seconds=0.0)
    assert result.failure_message() == "n (s) NOT proven: residual None ≠ 0"
