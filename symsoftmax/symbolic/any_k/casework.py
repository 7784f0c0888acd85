"""Proofs by cases in SymPy: each case an equality or a sign claim, and lemmas checked the same way.

A `Case` holds one checked claim about an expression:

* ``=`` — the difference of the two sides, with exponentials expanded (e^{a+b} = e^a e^b),
  sums made linear (Σ_k c·f(k) = c Σ_k f(k) for c free of k) and put over one denominator, has
  the numerator 0;
* ``>``, ``≥``, ``<``, ``≤`` — SymPy's assumptions system decides the sign of the expression
  (positive symbols stand for the exponentials e^{z_k} and for sums of them). A sign SymPy cannot
  decide is *not* proven: there is no sampling anywhere.

A `CaseProof` is the list of cases (the branches of a max, base case and inductive step, …), the
lemmas it relies on (checked too, and printed), the assumptions (printed), and the steps shown in
derivations/. Its `result()` is the `ProofResult` that `symsoftmax verify` prints.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec

import sympy as sp
from sympy.simplify.simplify import sum_combine

from symsoftmax.symbolic.identities import IDENTITIES, ProofResult

__all__ = [
    "Case",
    "CaseProof",
    "equal",
    "exp_increasing",
    "exp_nonnegative_gap",
    "exp_of_minus_infinity",
    "linear_sums",
    "log_increasing",
    "proof",
    "reduce_deltas",
    "residual",
    "sign",
    "statement",
    "sum_positive",
    "sum_split",
    "timed",
]

RELATIONS = {
    ">": "is_positive",
    "≥": "is_nonnegative",
    "<": "is_negative",
    "≤": "is_nonpositive",
}


@dataclass(frozen=True, kw_only=True)
class Case:
    """One checked claim: ``expression`` = 0 (relation "=") or ``expression`` REL 0 decided by
    SymPy's assumptions. ``remainder`` is what is left when it does not hold (0 when it does)."""

    label: str
    relation: str
    expression: sp.Expr
    remainder: sp.Expr
    holds: bool
    sides: tuple[sp.Expr, sp.Expr] | None = None  # (left, right) of an equality, as stated

    def describe(self) -> str:
        """ "label: expression REL 0", the residual named when the case fails."""
        if self.holds:
            return f"{self.label}: {sp.sstr(self.expression)} {self.relation} 0"
        if self.relation == "=":
            return f"{self.label}: residual {sp.sstr(self.remainder)} ≠ 0"
        return f"{self.label}: SymPy cannot decide {sp.sstr(self.expression)} {self.relation} 0"


def _linear_sum(total: sp.Sum) -> sp.Expr:
    """Σ of a sum of products, term by term, factors free of the summation index pulled out."""
    if len(total.limits) != 1:
        return total
    dummy = total.limits[0][0]
    out = []
    for term in sp.Add.make_args(sp.expand(total.function, power_exp=True)):
        outside = [f for f in sp.Mul.make_args(term) if dummy not in f.free_symbols]
        inside = [f for f in sp.Mul.make_args(term) if dummy in f.free_symbols]
        body = sp.Mul(*inside)
        summed = sp.Sum(body, *total.limits)
        out.append(sp.Mul(*outside) * (summed.doit() if body == 1 else summed))  # Σ 1 = count
    return sp.Add(*out)


def linear_sums(expr: sp.Expr) -> sp.Expr:
    """Every Sum in ``expr`` made linear (`_linear_sum`), innermost first."""
    return expr.replace(lambda e: isinstance(e, sp.Sum), _linear_sum)


def _sum_delta(total: sp.Sum) -> sp.Expr:
    """Σ_d f(d)·δ_ad = f(a): valid because the free index a is an index of the vector."""
    dummy = total.limits[0][0]
    deltas = [
        f
        for f in sp.Mul.make_args(total.function)
        if isinstance(f, sp.KroneckerDelta) and dummy in f.args
    ]
    if not deltas:
        return total
    (other,) = [a for a in deltas[0].args if a != dummy]
    return (total.function / deltas[0]).xreplace({dummy: other})


def reduce_deltas(expr: sp.Expr) -> sp.Expr:
    """Every Σ_d f(d)·δ_ad in ``expr`` (sums made linear first) evaluated to f(a)."""
    return linear_sums(expr).replace(lambda e: isinstance(e, sp.Sum), _sum_delta)


def residual(difference: sp.Expr) -> sp.Expr:
    """The numerator of ``difference`` over one denominator, exponentials and sums expanded:
    0 exactly when the difference is the zero rational function of its atoms."""
    expr = sp.expand(linear_sums(sp.expand(difference, power_exp=True)), power_exp=True)
    # log(a·b) = log a + log b, for positive factors only: the argument factored first
    expr = expr.replace(lambda e: isinstance(e, sp.log), lambda e: sp.log(sp.factor(e.args[0])))
    expr = sp.expand(sp.expand_log(expr, force=False), power_exp=True)
    numerator, _ = sp.fraction(sp.together(expr))
    return sp.expand(numerator, power_exp=True)


def equal(label: str, left: sp.Expr, right: sp.Expr) -> Case:
    """The case ``left = right`` (see `residual`); an infinite side is compared as it is."""
    if right.is_infinite or left.is_infinite:
        same = left == right
        remainder = sp.S.Zero if same else left - right
        return Case(
            label=label,
            relation="=",
            expression=left - right if not same else sp.S.Zero,
            remainder=remainder,
            holds=same,
        )
    remainder = residual(left - right)
    return Case(
        label=label,
        relation="=",
        expression=left - right,
        remainder=remainder,
        holds=remainder == 0,
        sides=(left, right),
    )


def sign(label: str, expression: sp.Expr, relation: str) -> Case:
    """The case ``expression REL 0``, REL one of > ≥ < ≤, decided by SymPy's assumptions."""
    decided = getattr(expression, RELATIONS[relation])
    return Case(
        label=label,
        relation=relation,
        expression=expression,
        remainder=sp.S.Zero if decided is True else expression,
        holds=decided is True,
    )


@dataclass(frozen=True, kw_only=True)
class CaseProof:
    """The cases and lemmas of one proof, its printed steps, assumptions and time."""

    name: str
    statement: str
    method: str
    cases: tuple[Case, ...]
    lemmas: tuple[Case, ...] = ()
    assumptions: tuple[str, ...] = ()
    steps: tuple[tuple[str, sp.Basic | str], ...] = ()
    seconds: float = 0.0

    @property
    def proven(self) -> bool:
        return all(case.holds for case in (*self.lemmas, *self.cases))

    def result(self) -> ProofResult:
        failing = next((c for c in (*self.lemmas, *self.cases) if not c.holds), None)
        return ProofResult(
            name=self.name,
            statement=self.statement,
            proven=self.proven,
            method=self.method,
            seconds=self.seconds,
            entries_checked=len(self.cases) + len(self.lemmas),
            residual=None if failing is None else failing.describe(),
            assumptions=(*self.assumptions, *(f"lemma: {lemma.label}" for lemma in self.lemmas)),
        )


P = ParamSpec("P")


def timed(build: Callable[P, CaseProof]) -> Callable[P, CaseProof]:
    """``build`` with its wall time stored in the returned proof's ``seconds``."""

    @wraps(build)
    def run(*args: P.args, **kwargs: P.kwargs) -> CaseProof:
        start = time.perf_counter()
        proof = build(*args, **kwargs)
        return _with_seconds(proof, time.perf_counter() - start)

    return run


def _with_seconds(proof: CaseProof, seconds: float) -> CaseProof:
    fields = {name: getattr(proof, name) for name in proof.__dataclass_fields__}
    fields["seconds"] = seconds
    return CaseProof(**fields)


def proof(name: str, general: bool, **fields: Any) -> CaseProof:
    """A CaseProof of registry identity ``name``, with its statement from the registry (symbolic
    K when ``general``, else fixed K)."""
    return CaseProof(name=name, statement=statement(name, general), **fields)


def statement(name: str, general: bool) -> str:
    """The registry's statement of ``name`` (symbolic K or fixed K)."""
    identity = IDENTITIES[name]
    text = identity.general_statement if general else identity.statement
    assert text is not None, f"{name} has no {'symbolic' if general else 'fixed'}-K statement"
    return text


# ---- lemmas, each checked by SymPy when a proof uses it ------------------------------------

_t = sp.Symbol("t", positive=True)
_u = sp.Symbol("u", nonnegative=True)
_n = sp.Symbol("n", integer=True, positive=True)


@functools.cache  # the same checked lemma for every proof that cites it
def exp_increasing() -> tuple[Case, ...]:
    """e^t − 1 = Σ_{n≥1} tⁿ/n! (SymPy sums the series) and each term is > 0 for t > 0: so
    e^t > 1, and a > b ⇔ e^a − e^b = e^b(e^{a−b} − 1) > 0 (exp strictly increasing)."""
    series = sp.Sum(_t**_n / sp.factorial(_n), (_n, 1, sp.oo))
    return (
        equal("e^t − 1 = Σ_{n≥1} tⁿ/n! (exponential series)", sp.exp(_t) - 1, series.doit()),
        sign(
            "tⁿ/n! > 0 for t > 0, n ≥ 1, so e^t > 1: exp is strictly increasing",
            _t**_n / sp.factorial(_n),
            ">",
        ),
    )


@functools.cache  # the same checked lemma for every proof that cites it
def exp_nonnegative_gap() -> tuple[Case, ...]:
    """1 − e^{−u} = e^{−u}(e^u − 1) ≥ 0 for u ≥ 0, with e^u − 1 = Σ_{n≥1} uⁿ/n! ≥ 0."""
    series = sp.Sum(_u**_n / sp.factorial(_n), (_n, 1, sp.oo))
    return (
        equal("e^u − 1 = Σ_{n≥1} uⁿ/n! (exponential series)", sp.exp(_u) - 1, series.doit()),
        sign("uⁿ/n! ≥ 0 for u ≥ 0, so e^{−u} ≤ 1 for u ≥ 0", _u**_n / sp.factorial(_n), "≥"),
    )


@functools.cache  # the same checked lemma for every proof that cites it
def exp_of_minus_infinity() -> tuple[Case, ...]:
    """e^{−∞} = 0 (SymPy's value: the limit of e^x as x → −∞); with it, the empty state's
    term d·e^{m − m_new} = 0·e^{−∞} is 0."""
    return (equal("e^{−∞} = 0 (limit of e^x as x → −∞)", sp.exp(-sp.oo), sp.S.Zero),)


@functools.cache  # the same checked lemma for every proof that cites it
def log_increasing() -> tuple[Case, ...]:
    """log x − log y = log(1 + w) with w = (x − y)/y ≥ 0 when x ≥ y > 0, and log(1 + w) ≥ 0."""
    w = sp.Symbol("w", nonnegative=True)
    return (sign("log(1 + w) ≥ 0 for w ≥ 0: log is increasing on (0, ∞)", sp.log(1 + w), "≥"),)


def sum_positive(term: sp.Expr, dummy: sp.Symbol, count: sp.Expr, label: str) -> Case:
    """Σ_{dummy=1}^{count} term > 0 for count ≥ 1 and positive terms (SymPy's assumptions)."""
    return sign(label, sp.Sum(term, (dummy, 1, count)), ">")


def sum_split(term: sp.Expr, dummy: sp.Symbol, first: sp.Expr, last: sp.Expr) -> Case:
    """Σ_{1}^{first} + Σ_{first+1}^{last} = Σ_{1}^{last} (SymPy's sum_combine)."""
    parts: Sequence[sp.Expr] = [
        sp.Sum(term, (dummy, 1, first)),
        sp.Sum(term, (dummy, first + 1, last)),
    ]
    combined = sum_combine(list(parts))
    return equal(
        f"Σ_{{1}}^{{{first}}} + Σ_{{{first}+1}}^{{{last}}} = Σ_{{1}}^{{{last}}} "
        "(sums over adjacent ranges)",
        combined,
        sp.Sum(term, (dummy, 1, last)),
    )
