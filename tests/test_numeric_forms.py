"""The expressions the NumPy code is printed from equal the proven forms: exact zeros in SymPy.

* for symbolic K, each printed expression, with y_k = (z_k − m)/T put back and the side condition
  Σ_k d_k = 1 used, simplifies to exactly 0 against the IndexedForms max-shifted expression or the
  closed form it was written from;
* the closed forms of the Jacobian and the VJP equal the derivatives of the fixed-K definition
  (K = 2, and K = 3 under -m slow; with and without temperature): sympy.diff, then simplify to
  exactly 0.
"""

from __future__ import annotations

import pytest
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from symsoftmax.numeric.codegen import VectorizedNumPyPrinter, generate_source
from symsoftmax.numeric.forms import AtColumn, AtRow, VectorForms, vector_forms
from symsoftmax.symbolic.expressions import logits, softmax


def _sum_of_exponentials(forms: VectorForms) -> sp.Expr:
    b = forms.base
    return sp.Sum(sp.exp(forms.y[b.k]), (b.k, 1, b.K))


def test_partition_below_max_is_partition_minus_one() -> None:
    """s = Σ_k (e^{y_k} − d_k) = Σ_k e^{y_k} − Σ_k d_k: linearity, then Σ_k d_k = 1."""
    forms = vector_forms()
    b = forms.base
    split = sp.simplify(sp.expand(forms.partition_below_max()))
    d_sum = sp.Sum(forms.d[b.k], (b.k, 1, b.K))
    assert sp.simplify(split - (_sum_of_exponentials(forms) - d_sum)) == 0


def _unname(forms: VectorForms, expr: sp.Expr) -> sp.Expr:
    """Use s = Σ e^{y_k} − 1, put y_n = (z_n − m)/T back, undo AtRow/AtColumn, expand
    log1p/expm1."""
    b = forms.base
    expr = expr.xreplace({forms.partition_below_max(): _sum_of_exponentials(forms) - 1})
    assert not expr.has(forms.d)
    # subs renames the free k only; a sum over k keeps its bound k
    expr = expr.replace(AtRow, lambda v: v.subs(b.k, b.i))
    expr = expr.replace(AtColumn, lambda v: v.subs(b.k, b.j))
    for n in (b.i, b.j, b.k):
        expr = expr.xreplace({forms.y[n]: forms.shifted_logit(n)})
    return expr.replace(log1p, lambda x: sp.log(1 + x)).replace(expm1, lambda x: sp.exp(x) - 1)


def _is_zero(expr: sp.Expr) -> bool:
    return sp.simplify(expr) == 0


@pytest.fixture(params=[False, True], ids=["T=1", "T"])
def forms(request: pytest.FixtureRequest) -> VectorForms:
    return vector_forms(request.param)


def _scaled_shifted(forms: VectorForms, expr: sp.Expr) -> sp.Expr:
    """The proven form written at temperature T: z → z/T, shift m → m/T."""
    return forms.scaled(expr)


def test_softmax_is_the_proven_shifted_form(forms: VectorForms) -> None:
    b = forms.base
    proven = _scaled_shifted(forms, b.softmax(b.k, b.m))
    assert _is_zero(_unname(forms, forms.softmax()) - proven)


def test_log_softmax_is_the_proven_shifted_form(forms: VectorForms) -> None:
    b = forms.base
    proven = _scaled_shifted(forms, b.log_softmax(b.k, b.m))
    assert forms.log_softmax().has(log1p)  # the log1p form, not the plain log
    printed = _unname(forms, forms.log_softmax())
    assert _is_zero(printed - proven)


def test_logsumexp_is_the_proven_shifted_form(forms: VectorForms) -> None:
    b = forms.base
    proven = _scaled_shifted(forms, b.logsumexp(b.m))
    if forms.temperature is not None:  # T·logsumexp(z/T), the operation table's definition
        proven = forms.temperature * proven
    assert _is_zero(_unname(forms, forms.logsumexp()) - proven)


def test_jacobian_cases_are_the_closed_form(forms: VectorForms) -> None:
    b = forms.base
    closed = forms.jacobian_closed_form()
    (diagonal, _), (off_diagonal, _) = forms.jacobian().args
    on = closed.xreplace({b.j: b.i})  # δ_ii = 1
    assert _is_zero(_unname(forms, diagonal) - on)
    off = closed.subs(sp.KroneckerDelta(b.i, b.j), 0)
    assert _is_zero(_unname(forms, off_diagonal) - off)


def test_vjp_is_the_closed_form(forms: VectorForms) -> None:
    b = forms.base
    closed = forms.vjp_closed_form().xreplace({b.i: b.k})
    assert _is_zero(_unname(forms, forms.vjp()) - closed)


@pytest.mark.parametrize("K", [2, pytest.param(3, marks=pytest.mark.slow)])
@pytest.mark.parametrize("temperature", [False, True], ids=["T=1", "T"])
def test_closed_forms_are_the_derivatives(K: int, temperature: bool) -> None:
    forms = vector_forms(temperature)
    b, T = forms.base, forms.temperature
    z = logits(K)
    sigma = softmax(z, T)
    g = sp.symbols(f"g1:{K + 1}", real=True)

    def at_k(expr: sp.Expr, i: int, j: int | None = None) -> sp.Expr:
        fixed = {b.K: K, b.i: i} | ({} if j is None else {b.j: j})
        expr = expr.xreplace(fixed).doit()
        expr = expr.xreplace({b.z[n]: z[n - 1] for n in range(1, K + 1)})
        return expr.xreplace({forms.g[n]: g[n - 1] for n in range(1, K + 1)})

    for i in range(1, K + 1):
        for j in range(1, K + 1):
            derivative = sp.diff(sigma[i - 1], z[j - 1])
            closed = at_k(forms.jacobian_closed_form(), i, j)
            assert sp.simplify(derivative - closed) == 0
        vjp = sum(g[n] * sp.diff(sigma[n], z[i - 1]) for n in range(K))
        assert sp.simplify(vjp - at_k(forms.vjp_closed_form(), i)) == 0


def test_printer_refuses_what_it_cannot_vectorize() -> None:
    forms = vector_forms()
    b = forms.base
    printer = VectorizedNumPyPrinter(forms, 4)
    with pytest.raises(ValueError, match="last-axis"):
        printer.doprint(forms.y[b.i])
    with pytest.raises(ValueError, match="sums over k"):
        printer.doprint(sp.Sum(forms.y[b.k], (b.k, 2, b.K)))
    with pytest.raises(ValueError, match="Piecewise"):
        printer.doprint(sp.Piecewise((forms.y[b.k], sp.Eq(b.i, 1)), (0, True)))


def test_cse_shares_the_exponential() -> None:
    """e^{y_i} and the e^{y_k} inside the sum are one expression: one exp in the source."""
    forms = vector_forms()
    source = generate_source("softmax", forms.softmax(), forms, 8)
    assert source.count("numpy.exp(") == 1
    assert "numpy.sum(x0, axis=-1, keepdims=True)" in source


@pytest.mark.parametrize("temperature", [False, True], ids=["T=1", "T"])
def test_closed_forms_match_the_symbolic_package(temperature: bool) -> None:
    """Our restated closed forms are the templates that symsoftmax.symbolic proves (with s[n]
    put back as the max-shifted softmax of IndexedForms)."""
    import symsoftmax.symbolic.closed_forms as templates

    forms = vector_forms(temperature)
    b = forms.base

    def instantiate(template: sp.Expr) -> sp.Expr:
        """s[n] → σ_n of IndexedForms, the template's g and T → ours, its sum index → k."""
        dummies = {v: b.k for e in template.atoms(sp.Sum) for v in e.variables}
        replaced = template.replace(
            lambda e: isinstance(e, sp.Indexed) and e.base == templates.s,
            lambda e: forms.scaled(b.softmax(e.indices[0], b.m)),
        )
        replaced = replaced.xreplace({templates.g: forms.g})
        if forms.temperature is not None:
            replaced = replaced.xreplace({templates.T: forms.temperature})
        return replaced.xreplace(dummies)

    jacobian = instantiate(templates.jacobian_closed_form(temperature))
    assert _is_zero(jacobian - forms.jacobian_closed_form())
    if not temperature:  # the VJP template has no temperature variant
        vjp = instantiate(templates.vjp_closed_form()).xreplace({b.j: b.i})
        assert _is_zero(vjp - forms.vjp_closed_form())
