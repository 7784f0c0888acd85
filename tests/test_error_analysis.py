"""`symbolic.error_analysis`: the derived per-component bounds, checked against an independent
brute force (the algorithm run in mpmath with every rounding perturbed), against real float32
arithmetic, and against the validator's own numeric bounds (`validation.componentwise`)."""

from __future__ import annotations

import random
from typing import Any

import mpmath
import numpy as np
import pytest
import sympy as sp

from symsoftmax.cli import main
from symsoftmax.formats import get_format
from symsoftmax.symbolic.error_analysis import (
    EPS,
    LOG_S,
    U_S,
    BoundDerivation,
    U,
    derive_bound,
    render_bound,
)
from symsoftmax.validation.componentwise import KernelClass, _component_factors, _rows

U32 = 2.0**-24
T_ROW = (-7.25, -0.375, 0.0)  # a sorted row of t = z − max z


@pytest.fixture(scope="module")
def two_pass() -> BoundDerivation:
    return derive_bound("softmax", "two-pass")


@pytest.fixture(scope="module")
def one_pass() -> BoundDerivation:
    return derive_bound("softmax", "one-pass", block=1)


def _t(k: int) -> sp.Symbol:
    return sp.Symbol(f"t_{k}", nonpositive=True)


def _values(t: tuple[float, ...], deltas: dict[str, float]) -> dict[Any, Any]:
    """Substitutions for a derived expression: t_k, s_k, L, and the δ's by name."""
    e = [mpmath.exp(x) for x in t]
    total = sum(e)
    subs: dict[Any, Any] = {_t(k + 1): t[k] for k in range(len(t))}
    subs.update({sp.Symbol(f"s_{k + 1}", positive=True): e[k] / total for k in range(len(t))})
    subs[LOG_S] = mpmath.log(total)
    subs.update({sp.Symbol(name, real=True): value for name, value in deltas.items()})
    return subs


def _evaluate(expr: sp.Expr, subs: dict[Any, Any]) -> mpmath.mpf:
    return mpmath.mpf(
        str(sp.N(expr.xreplace({k: sp.Float(str(v), 60) for k, v in subs.items()}), 50))
    )


def _weight(d: BoundDerivation, name: str, u: float) -> float:
    """|δ| ≤ this: u, ε = 2u (faithful), u_s = u."""
    kind = next(r.kind for r in d.roundings if r.symbol.name == name)
    return 2 * u if kind == "exp" else u


def _two_pass_mp(t: tuple[float, ...], dl: dict[str, Any]) -> tuple[list[Any], Any]:
    """Two-pass softmax in mpmath with each rounding perturbed by the δ of the same name."""
    size = len(t)
    e = []
    for k in range(size):
        if k == size - 1:
            e.append(mpmath.mpf(1))
            continue
        arg = mpmath.mpf(t[k]) * (1 + dl[f"alpha_{k + 1}"])
        e.append(mpmath.exp(arg) * (1 + dl[f"epsilon_{k + 1}"]))
    total = e[0]
    for n in range(1, size):
        total = (total + e[n]) * (1 + dl[f"sigma_S{n}"])
    out = [e[j] / total * (1 + dl[f"beta_{j + 1}"]) * (1 + dl[f"rho_{j + 1}"]) for j in range(size)]
    return out, total


def _one_pass_mp(t: tuple[float, ...], dl: dict[str, Any]) -> tuple[list[Any], Any]:
    """Online normalizer, block 1, sorted row, numerators carried and rescaled."""
    numer = [mpmath.mpf(1)]
    d = mpmath.mpf(1)
    for b in range(1, len(t)):
        arg = (mpmath.mpf(t[b - 1]) - t[b]) * (1 + dl[f"alpha_r{b + 1}"])
        r = mpmath.exp(arg) * (1 + dl[f"epsilon_r{b + 1}"])
        numer = [n * r * (1 + dl[f"mu_{k + 1}r{b + 1}"]) for k, n in enumerate(numer)]
        numer.append(mpmath.mpf(1))
        d = (d * r * (1 + dl[f"mu_dr{b + 1}"]) + 1) * (1 + dl[f"sigma_b{b + 1}_1"])
    out = [
        n / d * (1 + dl[f"beta_{j + 1}"]) * (1 + dl[f"rho_{j + 1}"]) for j, n in enumerate(numer)
    ]
    return out, d


_RUNS = {"two-pass": _two_pass_mp, "one-pass": _one_pass_mp}


def _brute(d: BoundDerivation, deltas: dict[str, float]) -> tuple[list[Any], Any]:
    """(ŝ_j/(s_j c) − 1 for every j, c − 1) with c = S/Ŝ, computed exactly in mpmath."""
    with mpmath.workdps(60):
        dl = {k: mpmath.mpf(v) for k, v in deltas.items()}
        out, s_hat = _RUNS[d.algorithm](T_ROW, dl)
        e = [mpmath.exp(x) for x in T_ROW]
        s = [x / sum(e) for x in e]
        c = sum(e) / s_hat
        return [out[j] / (s[j] * c) - 1 for j in range(len(T_ROW))], c - 1


@pytest.mark.parametrize("algorithm", ["two-pass", "one-pass"])
def test_brute_force_splits_as_derived(
    algorithm: str, two_pass: BoundDerivation, one_pass: BoundDerivation
) -> None:
    """Random δ of size ≤ u: each component's deviation from the row's common factor is its
    derived per-component part to first order and within its derived bound; the common part is
    the derived one. Extremal δ (signs of the coefficients) reach the bound: it is sharp."""
    d = two_pass if algorithm == "two-pass" else one_pass
    u = U32
    names = [r.symbol.name for r in d.roundings]
    rng = random.Random(17)
    for trial in range(6):
        deltas = {n: rng.uniform(-1, 1) * _weight(d, n, u) for n in names}
        per_actual, common_actual = _brute(d, deltas)
        subs = _values(T_ROW, deltas)
        bound_subs = {**subs, U: u, EPS: 2 * u, U_S: u}
        for j in range(1, len(T_ROW) + 1):
            linear = _evaluate(d.per[j], subs)
            assert abs(per_actual[j - 1] - linear) < 200 * u * u, (trial, j)
            assert abs(per_actual[j - 1]) <= _evaluate(d.per_bound[j], bound_subs) * (1 + 1e-6)
        assert abs(common_actual - _evaluate(d.common, subs)) < 200 * u * u
        assert abs(common_actual) <= _evaluate(d.common_bound, bound_subs) * (1 + 1e-6)
    for j in range(1, len(T_ROW) + 1):  # sharp: every δ at its worst sign
        signs = {}
        for n in names:
            c = _evaluate(d.per[j].coeff(sp.Symbol(n, real=True)), _values(T_ROW, {}))
            signs[n] = _weight(d, n, u) * (1 if c >= 0 else -1)
        per_actual, _ = _brute(d, signs)
        bound = _evaluate(d.per_bound[j], {**_values(T_ROW, {}), U: u, EPS: 2 * u, U_S: u})
        assert per_actual[j - 1] >= bound * (1 - 1e-4), j


def test_two_pass_coefficients_and_exactness(two_pass: BoundDerivation) -> None:
    d = two_pass
    delta = {r.symbol.name: r.symbol for r in d.roundings}
    assert d.per[1].coeff(delta["alpha_1"]) == _t(1)
    for name in ("epsilon_1", "beta_1", "rho_1"):
        assert d.per[1].coeff(delta[name]) == 1
    assert d.per_bound[1].equals(-_t(1) * U + U + EPS + U_S)
    assert d.per_bound[3].equals(U + U_S)  # t_3 = 0: no argument or exp term
    s = [sp.Symbol(f"s_{k}", positive=True) for k in (1, 2, 3)]
    for j in d.per:  # the common part is the same for every component (Σ_k s_k = 1)
        rest = (d.total[j] - d.per[j] - d.common).xreplace({s[2]: 1 - s[0] - s[1]})
        assert sp.expand(rest) == 0
    assert "t_3 = 0" in d.facts[0]


def test_telescoping_and_exp2_and_log_ops(one_pass: BoundDerivation) -> None:
    assert one_pass.telescoped[1] == -_t(1) and one_pass.telescoped[2] == -_t(2)
    exp2 = derive_bound("softmax", "exp2")
    z1, m = sp.Symbol("z_1"), sp.Symbol("m", real=True)
    assert exp2.per_bound[1].equals(U * (-2 * _t(1) + sp.Abs(z1) + sp.Abs(m) + 1) + EPS + U_S)
    logs = derive_bound("log_softmax", "two-pass")  # |t_j|u + |y_j|(u + u_s), y_j = t_j − L
    assert logs.per_bound[1].equals(U * (LOG_S - 2 * _t(1)) + U_S * (LOG_S - _t(1)))
    lse = derive_bound("logsumexp", "two-pass")
    assert lse.common.coeff(sp.Symbol("lambda", real=True)) == LOG_S  # D carries L·λ


def test_float32_two_pass_within_the_derived_bound() -> None:
    """Real float32 two-pass softmax (numpy's float32 exp) on sorted rows: every component's
    ratio to its exact value, over the row's common factor S/Ŝ, is within the derived bound."""
    d = derive_bound("softmax", "two-pass", storage=False)
    rng = np.random.default_rng(3)
    for _ in range(200):
        z = np.sort(rng.normal(0, 6, 3)).astype(np.float32)
        t = z - z.max()
        e = np.exp(t)
        total = np.float32(0)
        for x in e:
            total = np.float32(total + x)
        got = e / total
        with mpmath.workdps(40):
            te = [mpmath.mpf(float(x)) - mpmath.mpf(float(z.max())) for x in z]
            exact_e = [mpmath.exp(x) for x in te]
            c = sum(exact_e) / mpmath.mpf(float(total))
            subs = {**_values(tuple(float(x) for x in te), {}), U: U32, EPS: 2 * U32}
            for j in range(3):
                off = mpmath.mpf(float(got[j])) / (exact_e[j] / sum(exact_e) * c) - 1
                assert abs(off) <= _evaluate(d.per_bound[j + 1], subs) * (1 + 1e-6), (z, j)


@pytest.mark.parametrize("t", [-0.5, -3.0, -20.0])
def test_the_validator_uses_the_derived_coefficients(t: float) -> None:
    """`validation.componentwise` bounds ê_j by e^{u|t_j|}(1 + ε)·[(1 + ε)(1 + u)]^R: to first
    order the derived exp chain (two-pass: |t_j|u + ε) exactly, and at least the derived chain of
    the one-pass (block 1) and exp2 classes."""
    fmt = get_format("float32")
    u = fmt.unit_roundoff
    z = np.array([[t, t / 2, 0.0]])
    for algorithm, kind in (
        ("two-pass", KernelClass()),
        ("one-pass", KernelClass("one-pass", block=1)),
        ("exp2", KernelClass("exp2")),
    ):
        d = derive_bound("softmax", algorithm)
        up, _ = _component_factors(_rows(z, np.ones(1), kind), fmt, 2 * u)
        for j in (1, 2):
            chain = d.per_bound[j] - U - U_S  # less the division and the storage rounding
            subs = {_t(1): t, _t(2): t / 2, sp.Symbol("z_1"): t, sp.Symbol("z_2"): t / 2}
            subs |= {sp.Symbol("m", real=True): 0.0, U: u, EPS: 2 * u}
            derived = float(chain.xreplace(subs))
            if algorithm == "two-pass":
                assert up[0, j - 1] == pytest.approx(derived, rel=1e-5)
            else:
                assert up[0, j - 1] >= derived * (1 - 1e-6), (algorithm, j)


def test_cli_prints_the_bound(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["derive", "bound", "--op", "log_softmax", "--algorithm", "split", "--splits", "2"]
    assert main([*args, "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert r"\mathrm{per}" in out and r"\varepsilon" in out
    assert main(["derive", "bound", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert text == render_bound(derive_bound("softmax", "two-pass"), "text")
    assert "per_1 = alpha_1*t_1 + beta_1 + epsilon_1 + rho_1" in text


@pytest.mark.parametrize(
    "args",
    [
        ("derive", "bound", "--format", "python"),
        ("derive", "bound", "--block", "4"),
        ("derive", "bound", "--algorithm", "one-pass", "--splits", "2"),
        ("derive", "bound", "--k", "1"),
        ("derive", "jacobian", "--k", "2", "--op", "softmax"),
    ],
)
def test_cli_bad_bound_input(capsys: pytest.CaptureFixture[str], args: tuple[str, ...]) -> None:
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "error" in err
