"""Fixed-K proofs: the exact ring against SymPy and mpmath, every identity, wrong forms rejected."""

from __future__ import annotations

import itertools
import random

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.exact.ring import RingConversionError, SymbolicRing
from symsoftmax.symbolic.expressions import log_softmax, logits, logsumexp, softmax
from symsoftmax.symbolic.fixed_k.proofs import (
    EXACT_RING_NAMES,
    FIXED_K_PROOFS,
    FixedKContext,
    prove_all,
    prove_identity,
    representative_entries,
)

δ = sp.KroneckerDelta
s, y, g, i, j, k, K, T = cf.s, cf.y, cf.g, cf.i, cf.j, cf.k, cf.K, cf.T


# --- the ring agrees with SymPy's own differentiation and with numbers -----------------------


def _zero(ring: SymbolicRing, poly: LaurentPolynomial) -> bool:
    return ring.is_identically_zero(poly)[0]


@pytest.mark.parametrize("temperature", [None, cf.T])
def test_ring_derivative_equals_sympy_diff(temperature: sp.Expr | None) -> None:
    z = logits(3)
    ring = SymbolicRing(z)
    functions = [*softmax(z, temperature), *log_softmax(z, temperature)]
    functions.append(logsumexp(z, temperature))
    for f, (n, zn) in itertools.product(functions, enumerate(z)):
        ours = ring.derivative(ring.convert(f), n)
        theirs = ring.convert(sp.diff(f, zn))
        assert _zero(ring, ours - theirs), (f, zn)


def test_ring_round_trip_evaluates_like_the_expression() -> None:
    z = logits(3)
    ring = SymbolicRing(z)
    expressions = [*softmax(z), *log_softmax(z), logsumexp(z)]
    expressions += [sp.diff(e, z[1], z[2]) for e in softmax(z)]
    rng = random.Random(7)
    mpmath.mp.dps = 50
    for expr in expressions:
        back = ring.to_sympy(ring.convert(expr))
        for _ in range(3):
            point = {zi: sp.Rational(rng.randint(-40, 40), 7) for zi in z}
            a, b = sp.N(expr.subs(point), 40), sp.N(back.subs(point), 40)
            assert abs(a - b) <= sp.Float("1e-35") * (1 + abs(a))


def test_laurent_exponentials_cancel_and_nonzero_stays_nonzero() -> None:
    z1, z2 = logits(2)
    ring = SymbolicRing((z1, z2))
    one = ring.convert(sp.exp(z1 - z2) * sp.exp(z2 - z1))
    assert one == LaurentPolynomial.constant(1)
    # e^{z1}/(e^{z1} + e^{z2}) − 1/(1 + e^{z2 − z1}) is zero only after clearing denominators
    residual = ring.convert(softmax((z1, z2))[0]) - ring.convert(1 / (1 + sp.exp(z2 - z1)))
    assert not residual.is_zero() and _zero(ring, residual)
    wrong = ring.convert(softmax((z1, z2))[0]) - ring.convert(1 / (1 + sp.exp(z1 - z2)))
    assert not _zero(ring, wrong)


def test_ring_rejects_what_it_cannot_represent() -> None:
    z = logits(2)
    with pytest.raises(RingConversionError):
        SymbolicRing(z).convert(sp.sqrt(z[0]))
    with pytest.raises(RingConversionError):
        SymbolicRing(z).convert(sp.sin(z[0]))


def test_equivariance_check_detects_an_asymmetric_vector() -> None:
    z = logits(3)
    ring = SymbolicRing(z)
    sigma = [ring.convert(e) for e in softmax(z)]
    assert ring.is_equivariant(sigma)
    e = [sp.exp(zi) for zi in z]
    skewed = [ring.convert(e[n] / (e[0] + 2 * e[1] + e[2])) for n in range(3)]
    assert not ring.is_equivariant(skewed)
    assert ring.is_invariant(ring.convert(logsumexp(z)))
    assert not ring.is_invariant(ring.convert(z[0] + sp.exp(z[1])))


def test_representatives_cover_every_orbit() -> None:
    for arity, size in [(1, 3), (2, 1), (2, 4), (3, 2), (3, 4)]:
        reps = set(representative_entries(arity, size))
        for entry in itertools.product(range(size), repeat=arity):
            relabel: dict[int, int] = {}
            canonical = tuple(relabel.setdefault(n, len(relabel)) for n in entry)
            assert canonical in reps
        assert len(reps) == len({tuple(r) for r in reps})
    assert representative_entries(2, 5) == [(0, 0), (0, 1)]
    assert len(representative_entries(3, 5)) == 5


# --- every identity holds --------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_every_identity_proven_entry_by_entry(size: int) -> None:
    # the exact-ring proofs; the case proofs (claims, online) at these K: test_symbolic_online.py
    results = prove_all(size, mode="exhaustive", names=EXACT_RING_NAMES)
    assert [r.name for r in results] == list(EXACT_RING_NAMES)
    for r in results:
        assert r.proven, r.failure_message()
        assert r.entries_checked >= 1


def test_entry_counts_in_exhaustive_mode() -> None:
    results = prove_all(4, mode="exhaustive", names=EXACT_RING_NAMES)
    counts = {r.name: r.entries_checked for r in results}
    assert counts["jacobian"] == 16
    assert counts["second_derivative"] == 64
    assert counts["vjp"] == 4


@pytest.mark.parametrize("size", [2, 3, 7, 40])
def test_every_identity_proven_by_permutation_symmetry(size: int) -> None:
    for r in prove_all(size, mode="permutation", names=EXACT_RING_NAMES):
        assert r.proven, r.failure_message()
        if r.name != "sigmoid_k2":
            assert r.method.startswith("permutation symmetry"), r.method


def test_auto_mode_switches_above_16() -> None:
    assert prove_identity("jacobian", 16).entries_checked == 256
    big = prove_identity("jacobian", 17)
    assert big.entries_checked == 2 and "(1,1), (1,2)" in big.method


# --- wrong closed forms are rejected, naming identity, entry and residual --------------------

WRONG = [
    ("jacobian", s[i] * (s[j] - δ(i, j)), "sign flipped"),
    ("jacobian", s[i] * (1 - s[j]), "δ dropped"),
    ("jacobian", s[i] * (δ(i, j) - s[i]), "σ_j replaced by σ_i"),
    ("jacobian", s[i] * δ(i, j) - s[i] ** 2 * s[j], "extra factor"),
    ("jacobian_rows_sum_to_zero", s[i], "non-zero row sum"),
    ("jacobian_symmetric", s[i] - s[j], "antisymmetric part claimed"),
    ("vjp", s[j] * (g[j] + sp.Sum(g[cf.ell] * s[cf.ell], (cf.ell, 1, K))), "sign of ⟨g,σ⟩"),
    ("vjp", g[j] - sp.Sum(g[cf.ell] * s[cf.ell], (cf.ell, 1, K)), "missing σ_j"),
    ("log_softmax_jacobian", δ(i, j) - s[i], "transposed (I − σ1ᵀ)"),
    ("log_softmax_jacobian", 1 - s[j], "δ dropped"),
    ("logsumexp_gradient", s[j] ** 2, "squared"),
    ("logsumexp_hessian", s[j] * (1 - s[k]), "δ dropped"),
    ("cross_entropy_gradient", s[j] + y[j], "sign of y"),
    ("cross_entropy_gradient", y[j] - s[j], "negated"),
    (
        "second_derivative",
        s[i] * ((δ(i, j) - s[j]) * (δ(i, k) - s[k]) + s[j] * (δ(j, k) - s[k])),
        "sign of the second term",
    ),
    (
        "second_derivative",
        s[i] * ((δ(i, j) - s[j]) * (δ(i, k) - s[k]) - s[j] * (δ(i, k) - s[k])),
        "δ_jk replaced by δ_ik",
    ),
    (
        "second_derivative",
        s[i] * ((δ(i, j) - s[j]) * (δ(i, k) - s[k]) - s[j] * (1 - s[k])),
        "δ_jk dropped",
    ),
    ("shift_invariance", s[i] ** 2, "not σ"),
    ("max_shifted_softmax", 1 - s[i], "not σ"),
    ("jacobian_temperature", cf.jacobian_closed_form(), "missing 1/T"),
    ("jacobian_temperature", s[i] * (δ(i, j) - s[j]) * T, "T instead of 1/T"),
    ("log_softmax_jacobian_temperature", δ(i, j) - s[j], "missing 1/T"),
    ("sigmoid_k2", 1 / (1 + sp.exp(cf.x)), "sigmoid of −x"),
]


@pytest.mark.parametrize("mode", ["exhaustive", "permutation"])
@pytest.mark.parametrize(("name", "form", "why"), WRONG, ids=[f"{n}-{w}" for n, _, w in WRONG])
def test_wrong_closed_form_is_rejected(name: str, form: sp.Expr, why: str, mode: str) -> None:
    result = prove_identity(name, 4, closed_form=form, mode=mode)
    assert not result.proven, why
    assert result.entry is not None
    assert all(1 <= n <= 4 for n in result.entry)
    assert result.residual and result.residual != "0"
    message = result.failure_message()
    assert name in message and str(result.entry) in message and result.residual in message
    data = result.to_dict()
    assert data["proven"] is False and data["residual"] == result.residual


def test_residual_shows_the_difference() -> None:
    result = prove_identity("jacobian", 3, closed_form=s[i] * (s[j] - δ(i, j)))
    assert result.entry == (1, 1)
    assert "2*exp(z1)/S" in (result.residual or "")


def test_non_generic_closed_form_falls_back_to_every_entry() -> None:
    # σ_i(δ_ij − σ_1) agrees with the truth on column 1 only: a representative-entry check at
    # (1,1), (1,2) would miss it; the template is not index-generic, so every entry is checked.
    form = s[i] * (δ(i, j) - s[1])
    result = prove_identity("jacobian", 6, closed_form=form, mode="permutation")
    assert not result.proven
    assert "not index-generic" in result.method
    assert result.entry is not None and result.entry[1] != 1


def test_prove_all_takes_overrides_and_rejects_unknown_names() -> None:
    results = prove_all(3, closed_forms={"vjp": s[j] * g[j]})
    by_name = {r.name: r for r in results}
    assert not by_name["vjp"].proven
    assert sum(not r.proven for r in results) == 1
    with pytest.raises(ValueError, match="unknown identities"):
        prove_all(3, closed_forms={"nope": s[i]})
    with pytest.raises(ValueError, match="unknown identity"):
        prove_identity("nope", 3)


@pytest.mark.parametrize("size", [0, -1, 100_001, 2.0, True])
def test_bad_sizes_raise(size: object) -> None:
    with pytest.raises(ValueError, match="K must be an integer"):
        prove_all(size)  # type: ignore[arg-type]


def test_closed_form_must_be_an_expression() -> None:
    with pytest.raises(TypeError):
        prove_identity("jacobian", 3, closed_form="s[i]")  # type: ignore[arg-type]


def test_cross_entropy_needs_the_sum_to_one_assumption() -> None:
    ctx = FixedKContext(3)
    gradient = ctx.ring.derivative(ctx.cross_entropy, 0)
    closed = ctx.sigma[0] - ctx.y_vector[0]
    assert not ctx.ring.is_identically_zero(gradient - closed)[0]  # false without Σy = 1
    assert ctx.ring.is_identically_zero(ctx.sum_to_one(gradient - closed))[0]
    assert FIXED_K_PROOFS["cross_entropy_gradient"].assumptions


@settings(max_examples=20, deadline=None)
@given(
    size=st.integers(1, 5),
    data=st.data(),
)
def test_derived_jacobian_matches_numbers(size: int, data: st.DataObject) -> None:
    """The ring's derivative, evaluated at 40 digits, equals diag(σ) − σσᵀ computed by mpmath."""
    ctx = FixedKContext(size)
    point = data.draw(st.lists(st.integers(-30, 30), min_size=size, max_size=size))
    values = {zi: sp.Rational(v, 4) for zi, v in zip(ctx.z, point, strict=True)}
    mpmath.mp.dps = 40
    e = [mpmath.exp(mpmath.mpf(v) / 4) for v in point]
    sigma = [x / mpmath.fsum(e) for x in e]
    a, b = data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, size - 1))
    derived = ctx.ring.to_sympy(ctx.jacobian(a, b)).subs(values)
    expected = sigma[a] * ((1 if a == b else 0) - sigma[b])
    assert abs(mpmath.mpf(str(sp.N(derived, 40))) - expected) < mpmath.mpf(10) ** -35


@pytest.mark.slow
def test_large_k_entry_by_entry_and_by_symmetry() -> None:
    assert prove_identity("jacobian", 256, mode="exhaustive").proven
    assert all(r.proven for r in prove_all(2048, mode="permutation"))
