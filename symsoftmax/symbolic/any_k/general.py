"""Proofs for symbolic K: z an IndexedBase, sums over k = 1..K, δ a KroneckerDelta.

Steps for each identity (kept in `GeneralProof` so the derivations can show them):

1. differentiate the `IndexedForms` expression with SymPy (d z[k]/d z[j] = δ_jk);
2. evaluate the sums: Σ_k f(k) δ_jk = f(j) — **valid because 1 ≤ j ≤ K** (an index of the vector),
   Σ_k c·g(k) = c Σ_k g(k) for c free of k, Σ_k e^{z_k} = S (the partition function), Σ_k 1 = K;
3. substitute the closed form (s[i] → σ_i = e^{z_i}/S) and subtract;
4. split on the index cases (i = j or i ≠ j, and so on for three indices), which evaluates every δ,
   and check that each residual is the zero rational function in e^{z_i}, e^{z_j}, …, S, m.

A residual that is not zero is reported with its case. Nothing is sampled: every step is symbolic.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import sympy as sp

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.any_k.casework import CaseProof
from symsoftmax.symbolic.any_k.claims import CLAIMS, prove_claim
from symsoftmax.symbolic.any_k.online_proofs import ONLINE, prove_online
from symsoftmax.symbolic.any_k.variants import VARIANTS, prove_variant
from symsoftmax.symbolic.identities import IDENTITIES, ProofResult, canonical_name, index_patterns

__all__ = [
    "GENERAL_PROOFS",
    "INDEX_ASSUMPTION",
    "GeneralProof",
    "evaluate_sums",
    "prove_general",
    "prove_general_identity",
]

F = cf.FORMS
INDEX_ASSUMPTION = "1 ≤ i, j, k ≤ K (indices of the vector), used in Σ_k f(k)δ_jk = f(j)"
PARTITION = sp.Symbol("S", positive=True)  # Σ_k e^{z_k}
_Q = sp.Symbol("q", integer=True, positive=True)  # a third free index (k is IndexedForms' dummy)
_R = sp.Symbol("r", integer=True, positive=True)  # summation index of VJP and cross-entropy


@dataclass(frozen=True, kw_only=True)
class GeneralProof:
    """The steps of one symbolic-K proof, and its outcome."""

    name: str
    statement: str
    expression: sp.Expr  # what is differentiated (or compared)
    derivative: sp.Expr  # SymPy's raw result
    reduced: sp.Expr  # after evaluating the sums
    closed_form: sp.Expr  # the template with s[i] → σ_i
    cases: tuple[tuple[str, sp.Expr], ...]  # (case, residual) after the case split
    proven: bool
    seconds: float
    assumptions: tuple[str, ...] = (INDEX_ASSUMPTION,)

    def result(self) -> ProofResult:
        failing = next(
            (f"case {case}: numerator {res}" for case, res in self.cases if res != 0), None
        )
        return ProofResult(
            name=self.name,
            statement=self.statement,
            proven=self.proven,
            method="sympy diff over IndexedBase, sums reduced, cases on the indices",
            seconds=self.seconds,
            entries_checked=len(self.cases),
            residual=failing,
            assumptions=self.assumptions,
        )


def _split_factors(term: sp.Expr, dummy: sp.Symbol) -> tuple[sp.Expr, sp.Expr]:
    """term = outside · inside, with ``outside`` free of the summation variable."""
    outside: list[sp.Expr] = []
    inside: list[sp.Expr] = []
    for factor in sp.Mul.make_args(term):
        (inside if dummy in factor.free_symbols else outside).append(factor)
    return sp.Mul(*outside), sp.Mul(*inside)


def _evaluate_sum(total: sp.Sum, indices: Sequence[sp.Symbol]) -> sp.Expr:
    """Σ_{d=1}^{K} of a sum of products, term by term; unknown shapes are left as Sums."""
    if len(total.limits) != 1:
        return total
    dummy, low, high = total.limits[0]
    if low != 1 or high != F.K:
        return total
    result = []
    for term in sp.Add.make_args(sp.expand(total.function)):
        outside, inside = _split_factors(term, dummy)
        deltas = [
            f
            for f in sp.Mul.make_args(inside)
            if isinstance(f, sp.KroneckerDelta) and dummy in f.args
        ]
        if deltas:  # Σ_d f(d) δ_ad = f(a), valid for 1 ≤ a ≤ K
            delta = deltas[0]
            (other,) = [a for a in delta.args if a != dummy] or [dummy]
            if other not in indices:
                result.append(outside * sp.Sum(inside.xreplace({dummy: cf.ell}), (cf.ell, 1, F.K)))
                continue
            result.append(outside * (inside / delta).xreplace({dummy: other}))
        elif inside == 1:
            result.append(outside * F.K)
        elif inside == sp.exp(F.z[dummy]):
            result.append(outside * PARTITION)
        else:  # kept, with a canonical summation index so equal sums compare equal
            result.append(outside * sp.Sum(inside.xreplace({dummy: cf.ell}), (cf.ell, 1, F.K)))
    return sp.Add(*result)


def evaluate_sums(expr: sp.Expr, indices: Sequence[sp.Symbol]) -> sp.Expr:
    """Evaluate every Σ_{d=1}^{K} in ``expr`` (see `_evaluate_sum`); S = Σ_k e^{z_k}."""
    expr = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: _evaluate_sum(e, indices))
    return expr


def _softmax_values(template: sp.Expr) -> sp.Expr:
    """s[a] → σ_a = e^{z_a}/Σ_k e^{z_k} in a closed-form template."""
    return template.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base == cf.s,
        lambda e: F.softmax(e.indices[0]),
    )


def _cases(indices: Sequence[sp.Symbol]) -> list[tuple[str, dict[sp.Symbol, sp.Symbol]]]:
    """Every equality pattern of the indices (`identities.index_patterns`), as substitutions."""
    patterns = []
    for labels in index_patterns(len(indices)):
        representative = {n: indices[labels.index(labels[n])] for n in range(len(indices))}
        mapping = {indices[n]: representative[n] for n in range(len(indices))}
        pairs = [
            f"{a} {'=' if labels[p] == labels[q] else '≠'} {b}"
            for (p, a), (q, b) in itertools.combinations(enumerate(indices), 2)
        ]
        patterns.append((", ".join(pairs) or "any", mapping))
    return patterns


def _apply_case(expr: sp.Expr, mapping: dict[sp.Symbol, sp.Symbol]) -> sp.Expr:
    """Identify equal indices, then every remaining δ between distinct indices is 0."""
    expr = expr.xreplace(mapping)
    return expr.replace(
        lambda e: isinstance(e, sp.KroneckerDelta),
        lambda e: sp.S.One if e.args[0] == e.args[1] else sp.S.Zero,
    )


def _is_zero(expr: sp.Expr) -> sp.Expr:
    """Residual as a reduced rational function in the exponentials, S, m and K (0 if zero)."""
    expr = sp.expand_log(evaluate_sums(expr, ()), force=False)
    numerator, _ = sp.fraction(sp.together(sp.expand(expr)))
    return sp.expand(numerator)


def _statement(name: str) -> str:
    """The symbolic-K statement of a registry identity."""
    statement = IDENTITIES[name].general_statement
    assert statement is not None, f"{name} has no symbolic-K statement in the registry"
    return statement


def _closed_form(name: str, closed: sp.Expr | None) -> sp.Expr:
    """``closed``, or the registry's default template for ``name``."""
    if closed is not None:
        return closed
    default = IDENTITIES[name].closed_form
    assert default is not None, f"{name} has no closed-form template in the registry"
    return default()


def _prove(
    name: str,
    expression: sp.Expr,
    variables: Sequence[sp.Symbol],
    closed_form: sp.Expr,
    indices: Sequence[sp.Symbol],
    relations: dict[sp.Expr, sp.Expr] | None = None,
    assumptions: tuple[str, ...] = (),
) -> GeneralProof:
    """Differentiate ``expression`` by ``variables``, reduce the sums, subtract the closed form
    and check every index case (steps 1–4 of the module docstring)."""
    start = time.perf_counter()
    derivative = expression
    for variable in variables:
        derivative = sp.diff(derivative, F.z[variable])
    reduced = evaluate_sums(derivative, indices).xreplace(relations or {})
    closed = evaluate_sums(_softmax_values(closed_form), indices).xreplace(relations or {})
    cases = tuple(
        (case, _is_zero(_apply_case(reduced - closed, mapping)))
        for case, mapping in _cases(indices)
    )
    return _outcome(name, expression, derivative, reduced, closed, cases, start, assumptions)


def _outcome(
    name: str,
    expression: sp.Expr,
    derivative: sp.Expr,
    reduced: sp.Expr,
    closed: sp.Expr,
    cases: tuple[tuple[str, sp.Expr], ...],
    start: float,
    assumptions: tuple[str, ...] = (),
) -> GeneralProof:
    """The proof record: proven when every case's residual is 0; timed from ``start``."""
    return GeneralProof(
        name=name,
        statement=_statement(name),
        expression=expression,
        derivative=derivative,
        reduced=reduced,
        closed_form=closed,
        cases=cases,
        proven=all(residual == 0 for _, residual in cases),
        seconds=time.perf_counter() - start,
        assumptions=(INDEX_ASSUMPTION, *assumptions),
    )


def _jacobian(closed: sp.Expr | None) -> GeneralProof:
    form = _closed_form("jacobian", closed)
    return _prove("jacobian", F.softmax(F.i), (F.j,), form, (F.i, F.j))


def _log_softmax_jacobian(closed: sp.Expr | None) -> GeneralProof:
    form = _closed_form("log_softmax_jacobian", closed)
    return _prove("log_softmax_jacobian", F.log_softmax(F.i), (F.j,), form, (F.i, F.j))


def _logsumexp_gradient(closed: sp.Expr | None) -> GeneralProof:
    form = _closed_form("logsumexp_gradient", closed)
    return _prove("logsumexp_gradient", F.logsumexp(), (F.j,), form, (F.j,))


def _logsumexp_hessian(closed: sp.Expr | None) -> GeneralProof:
    # The template's second index is k, the summation index of IndexedForms: rename it to i.
    form = _closed_form("logsumexp_hessian", closed)
    return _prove(
        "logsumexp_hessian", F.logsumexp(), (F.j, F.i), form.xreplace({F.k: F.i}), (F.i, F.j)
    )


def _second_derivative(closed: sp.Expr | None) -> GeneralProof:
    # The template's third index is k, the summation index of IndexedForms: rename it to q.
    form = _closed_form("second_derivative", closed)
    return _prove(
        "second_derivative",
        F.softmax(F.i),
        (F.j, _Q),
        form.xreplace({F.k: _Q}),
        (F.i, F.j, _Q),
    )


def _vjp(closed: sp.Expr | None) -> GeneralProof:
    gradient = sp.Sum(cf.g[_R] * F.softmax(_R), (_R, 1, F.K))
    return _prove("vjp", gradient, (F.j,), _closed_form("vjp", closed), (F.j,))


def _cross_entropy_gradient(closed: sp.Expr | None) -> GeneralProof:
    loss = -sp.Sum(cf.y[_R] * F.log_softmax(_R), (_R, 1, F.K))
    return _prove(
        "cross_entropy_gradient",
        loss,
        (F.j,),
        _closed_form("cross_entropy_gradient", closed),
        (F.j,),
        relations={sp.Sum(cf.y[cf.ell], (cf.ell, 1, F.K)): sp.S.One},
        assumptions=("Σ_r y_r = 1 (y a probability vector)",),
    )


def _compared(
    name: str, case: str, expression: sp.Expr, derivative: sp.Expr, left: sp.Expr, right: sp.Expr
) -> GeneralProof:
    """A proof with one case: the reduced sides ``left`` and ``right`` must be equal."""
    start = time.perf_counter()
    cases = ((case, _is_zero(left - right)),)
    return _outcome(name, expression, derivative, left, right, cases, start)


def _rows_sum_to_zero(closed: sp.Expr | None) -> GeneralProof:
    """Σ_j ∂σ_i/∂z_j = 0: the derivative is summed over j = 1..K before reduction."""
    form = _closed_form("jacobian_rows_sum_to_zero", closed)
    derivative = sp.diff(F.softmax(F.i), F.z[F.j])
    row = sp.Sum(evaluate_sums(derivative, (F.i, F.j)), (F.j, 1, F.K))
    reduced = evaluate_sums(row, (F.i,))
    closed_value = evaluate_sums(_softmax_values(form), (F.i,))
    return _compared(
        "jacobian_rows_sum_to_zero", "any i", F.softmax(F.i), row, reduced, closed_value
    )


def _max_shifted(name: str, shifted: sp.Expr, plain: sp.Expr) -> GeneralProof:
    """The form with a shift m (as in the generated code) equals the unshifted ``plain``."""
    reduced = evaluate_sums(sp.expand(shifted), (F.i,))
    plain_reduced = evaluate_sums(plain, (F.i,))
    return _compared(name, "any i, any real m", shifted, shifted, reduced, plain_reduced)


def _max_shifted_softmax(closed: sp.Expr | None) -> GeneralProof:
    plain = _softmax_values(_closed_form("max_shifted_softmax", closed))
    return _max_shifted("max_shifted_softmax", F.softmax(F.i, F.m), plain)


def _max_shifted_log_softmax(closed: sp.Expr | None) -> GeneralProof:
    # No template: the right side is log σ_i itself (a template in s would print as log(e^{z_i}/S)).
    plain = F.log_softmax(F.i) if closed is None else _softmax_values(closed)
    return _max_shifted("max_shifted_log_softmax", F.log_softmax(F.i, F.m), plain)


def _max_shifted_logsumexp(closed: sp.Expr | None) -> GeneralProof:
    plain = F.logsumexp() if closed is None else closed
    return _max_shifted("max_shifted_logsumexp", F.logsumexp(F.m), plain)


def _claim(name: str, replacement: None = None) -> CaseProof:
    """A claim of the definition (no closed form to replace)."""
    if replacement is not None:
        raise ValueError(f"{name} is a claim about the definition: nothing to replace")
    return prove_claim(name)


GENERAL_PROOFS: dict[str, Callable[[Any], GeneralProof | CaseProof]] = {
    "jacobian": _jacobian,
    "jacobian_rows_sum_to_zero": _rows_sum_to_zero,
    "log_softmax_jacobian": _log_softmax_jacobian,
    "logsumexp_gradient": _logsumexp_gradient,
    "logsumexp_hessian": _logsumexp_hessian,
    "vjp": _vjp,
    "cross_entropy_gradient": _cross_entropy_gradient,
    "second_derivative": _second_derivative,
    "max_shifted_softmax": _max_shifted_softmax,
    "max_shifted_log_softmax": _max_shifted_log_softmax,
    "max_shifted_logsumexp": _max_shifted_logsumexp,
    **{name: partial(_claim, name) for name in CLAIMS},
    **{name: partial(prove_online, name) for name in ONLINE},
    **{name: partial(prove_variant, name) for name in VARIANTS},
}
"""How each registry identity with a symbolic-K statement is proven, in the order printed: the
derivative identities here (GeneralProof), then the definition's claims
(`symbolic.any_k.claims`), the online recurrences (`symbolic.any_k.online_proofs`) and the sink
and soft-cap variants (`symbolic.any_k.variants`), all CaseProof. The argument replaces the
closed form (derivative identities) or the recurrence (online identities) that is proven."""


def prove_general_identity(name: str, closed_form: Any = None) -> GeneralProof | CaseProof:
    """One symbolic-K proof with its steps; ``closed_form`` replaces the default template (a
    dict of updates for an online identity, see `online_proofs.prove_online`)."""
    builder = GENERAL_PROOFS.get(canonical_name(name))
    if builder is None:
        raise ValueError(f"unknown identity {name!r}; known: {', '.join(GENERAL_PROOFS)}")
    return builder(closed_form)


def prove_general(closed_forms: dict[str, sp.Expr] | None = None) -> list[ProofResult]:
    """Every symbolic-K identity (GENERAL_PROOFS), assuming 1 ≤ i, j ≤ K."""
    overrides = {canonical_name(name): form for name, form in (closed_forms or {}).items()}
    unknown = set(overrides) - set(GENERAL_PROOFS)
    if unknown:
        raise ValueError(f"unknown identities in closed_forms: {', '.join(sorted(unknown))}")
    return [prove_general_identity(n, overrides.get(n)).result() for n in GENERAL_PROOFS]
