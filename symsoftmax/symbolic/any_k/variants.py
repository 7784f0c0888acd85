"""Case proofs of the softmax variants for symbolic K: an attention sink and a soft-cap.

Sink s: σ_j = e^{z_j}/(e^s + Σ_k e^{z_k}), lse = log(e^s + Σ_k e^{z_k}), log σ_j = z_j − lse,
p_sink = e^s/(e^s + Σ_k e^{z_k}). s = −∞ is plain softmax, s = 0 is "softmax₁"; an empty range
(K = 0, or every z_j = −∞) with a finite sink gives σ = 0, log σ = −∞ and lse = s.
Soft-cap c > 0: each logit becomes c·tanh(z_j/c) (after the temperature) before the op.

Proven here, with the case machinery of `online_proofs` (equalities expanded to an exact 0,
signs by SymPy's assumptions, lemmas checked):

* ``sink_claims``: Σσ + p_sink = 1, 0 < σ_j < 1, 0 < p_sink < 1, log σ_j < 0 and
  max(s, max z) ≤ lse ≤ max(s, max z) + log(K + 1), the empty range, s = −∞ and s = 0;
* ``sink_online``: the online step started from (m, d) = (s, 1) keeps d·e^m = e^s + Σ_{j≤n} e^{z_j}
  (induction over blocks) and finalizes to the definition (p_sink included);
* ``sink_split_merge``: the split-KV merge counts the sink once in every ordering of s and the
  partial maxima, with empty partial ranges and a partial range that is all masked;
* ``sink_gradient``: ∂L/∂z_j = σ_j(g_j − ⟨g, σ⟩) and ∂L/∂s = −p_sink·⟨g, σ⟩ for L = ⟨g, σ⟩;
* ``softcap_chain_rule``: ∂σ_i(y)/∂z_j through y = c·tanh(z/(cT)) is J·diag((1 − tanh²)/T), as a
  VJP, and +∞ is capped to c.

Sources: E. Miller, "Attention is off by one" (2023, softmax₁); G. Xiao et al., "Efficient
streaming language models with attention sinks" (ICLR 2024); Gemma 2 technical report (2024,
logit soft-capping); the online recurrences of `symbolic.online`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import sympy as sp

from symsoftmax.symbolic import online as on
from symsoftmax.symbolic.any_k import casework as cw
from symsoftmax.symbolic.any_k.casework import Case, CaseProof, equal, sign, timed
from symsoftmax.symbolic.any_k.online_proofs import (
    EMPTY,
    FINITE,
    METHOD_GENERAL,
    _apply,
    _block,
    _bounds,
    _prefix,
    m_fin,
    n,
    t,
    u,
)
from symsoftmax.symbolic.expressions import indexed_forms

__all__ = ["VARIANTS", "prove_variant"]

F = indexed_forms()
W = sp.Symbol("W", positive=True)  # e^s for a finite sink
S = sp.Symbol("S", positive=True)  # Σ_k e^{z_k} (K ≥ 1, z finite)
SINK = "s finite (W = e^s > 0); s = −∞ is plain softmax (its own case)"


def _sink_softmax(index: sp.Expr, sink: sp.Expr = on.s) -> sp.Expr:
    """σ_index = e^{z_index}/(e^s + Σ_k e^{z_k})."""
    return sp.exp(F.z[index]) / (sp.exp(sink) + F.partition())


# ---- the definition's claims with a sink ---------------------------------------------------


def _sink_lse_bounds() -> list[Case]:
    """max(s, M) ≤ lse ≤ max(s, M) + log(K + 1): the largest of the K + 1 terms factored out."""
    M = sp.Symbol("M", real=True)  # the largest of s, z_1..z_K
    tk = sp.IndexedBase("t", nonnegative=True)  # z_k = M − t_k (or the sink's gap)
    ts = sp.Symbol("t_s", nonnegative=True)
    rest = sp.Symbol("R_t", nonnegative=True)  # Σ of the other e^{−t} (≥ 0: K = 1 allowed)
    gap = sp.IndexedBase("g", nonnegative=True)  # 1 − e^{−t_k} ≥ 0 (lemma)
    gs = sp.Symbol("g_s", nonnegative=True)
    others = sp.Sum(sp.exp(-tk[F.k]), (F.k, 1, F.K))
    cases = []
    for label, sink in (
        ("s is the maximum (s = M, z_k = M − t_k)", M),
        ("a logit is the maximum (z_p = M, s = M − t_s)", M - ts),
    ):
        total = sp.exp(sink) + sp.Sum(sp.exp(M - tk[F.k]), (F.k, 1, F.K))
        factored = sp.exp(M) * (sp.exp(sink - M) + others)
        cases.append(
            equal(
                f"{label}: e^s + Σ_k e^{{z_k}} = e^M(e^{{s−M}} + Σ_k e^{{−t_k}})", total, factored
            )
        )
        # one of the K + 1 terms is e^0 = 1 (the maximum), the others sum to R ≥ 0
        cases.append(sign(f"{label}: lse − M = log(1 + R) ≥ 0, R ≥ 0", sp.log(1 + rest), "≥"))
    cases.append(
        equal(
            "s = M: (K + 1) − (1 + Σ_k e^{−t_k}) = Σ_k (1 − e^{−t_k})",
            F.K + 1 - (1 + others),
            sp.Sum(1 - sp.exp(-tk[F.k]), (F.k, 1, F.K)),
        )
    )
    cases.append(
        equal(
            "z_p = M: (K + 1) − (e^{−t_s} + Σ_k e^{−t_k}) = (1 − e^{−t_s}) + Σ_k (1 − e^{−t_k})",
            F.K + 1 - (sp.exp(-ts) + others),
            (1 - sp.exp(-ts)) + sp.Sum(1 - sp.exp(-tk[F.k]), (F.k, 1, F.K)),
        )
    )
    cases.append(
        sign(
            "each 1 − e^{−t} ≥ 0 (lemma): the K + 1 terms e^{−t} sum to ≤ K + 1, so "
            "lse − M ≤ log(K + 1) (log increasing)",
            gs + sp.Sum(gap[F.k], (F.k, 1, F.K)),
            "≥",
        )
    )
    return cases


@timed
def _sink_claims(update: object = None) -> CaseProof:
    _no_replacement("sink_claims", update)
    E = sp.Symbol("E", positive=True)  # e^{z_j}
    R = sp.Symbol("R", nonnegative=True)  # Σ_{k≠j} e^{z_k} (0 when K = 1)
    total = sp.Sum(_sink_softmax(F.j), (F.j, 1, F.K))
    reduced = cw.linear_sums(total).xreplace({F.partition(): S, sp.exp(on.s): W})
    reduced = reduced.xreplace({sp.Sum(sp.exp(F.z[F.j]), (F.j, 1, F.K)): S})
    p_sink = W / (W + S)
    sigma = E / (W + E + R)
    masked = _sink_softmax(F.j).xreplace({F.z[F.j]: -sp.oo, F.z[F.k]: -sp.oo}).doit()
    lse = sp.log(sp.exp(on.s) + F.partition())
    cases = (
        equal("Σ_j σ_j + p_sink = 1 (any K ≥ 1)", reduced + p_sink, sp.S.One),
        sign("σ_j = E/(W + E + R) > 0", sigma, ">"),
        sign("1 − σ_j = (W + R)/(W + E + R) > 0 (also K = 1)", sp.together(1 - sigma), ">"),
        sign("p_sink = W/(W + S) > 0", p_sink, ">"),
        sign("1 − p_sink = S/(W + S) > 0", sp.together(1 - p_sink), ">"),
        sign("log σ_j = −log(1 + (W + R)/E) < 0", -sp.log(1 + (W + R) / E), "<"),
        *_sink_lse_bounds(),
        equal("K = 0 (empty range): lse = log e^s = s", lse.xreplace({F.K: 0}).doit(), on.s),
        equal("K = 0: p_sink = e^s/e^s = 1", (sp.exp(on.s) / sp.exp(on.s)), sp.S.One),
        equal("every z_k = −∞: σ_j = 0/(e^s + 0) = 0", masked, sp.S.Zero),
        equal(
            "every z_k = −∞: lse = s",
            sp.log(sp.exp(on.s) + F.partition().xreplace({F.z[F.k]: -sp.oo}).doit()),
            on.s,
        ),
        equal(
            "every z_k = −∞: log σ_j = z_j − lse = −∞",
            (-sp.oo - on.s).xreplace({on.s: sp.Symbol("s", real=True)}),
            -sp.oo,
        ),
        equal("s = −∞: σ_j is plain softmax", _sink_softmax(F.j, -sp.oo), F.softmax(F.j)),
        equal(
            "s = 0: σ_j = e^{z_j}/(1 + Σ_k e^{z_k}) (softmax₁)",
            _sink_softmax(F.j, sp.S.Zero),
            sp.exp(F.z[F.j]) / (1 + F.partition()),
        ),
    )
    return cw.proof(
        "sink_claims",
        True,
        method="SymPy over IndexedBase: equalities expanded to 0, signs by assumptions",
        steps=(("σ_j with a sink", _sink_softmax(F.j)), ("Σ_j σ_j", reduced), ("lse", lse)),
        cases=cases,
        lemmas=(*cw.exp_of_minus_infinity(), *cw.exp_nonnegative_gap(), *cw.log_increasing()),
        assumptions=(
            SINK,
            "z finite unless a case says −∞; E = e^{z_j} > 0, R = Σ_{k≠j} e^{z_k} ≥ 0",
            "M = max(s, z_1..z_K) is attained (by s or by some z_p); every gap t ≥ 0",
        ),
    )


# ---- the online step from the sink's start -------------------------------------------------


def _started(update: dict[str, sp.Expr]) -> tuple[dict[str, sp.Expr], sp.Expr, sp.Expr]:
    """The step (keys m, d) and the start (m_0, d_0) of a sink update (`online.SINK_START`)."""
    step = {key: update[key] for key in ("m", "d")}
    return step, update.get("m0", on.SINK_START["m"]), update.get("d0", on.SINK_START["d"])


@timed
def _sink_online(update: dict[str, sp.Expr] | None = None) -> CaseProof:
    given = {"m0": on.SINK_START["m"], "d0": on.SINK_START["d"], **on.ONLINE_STEP}
    step, m0, d0 = _started(given if update is None else update)
    sink = sp.Symbol("s", real=True)  # a finite sink
    finite = {on.s: sink}
    summand = sp.exp(F.z[F.k])
    held = sp.exp(sink) + _prefix(summand)  # e^s + Σ_{j≤n} e^{z_j}
    cases: list[Case] = [
        equal(
            "base case n = 0 (start (m_0, d_0)): d_0·e^{m_0} = e^s",
            (d0 * sp.exp(m0)).xreplace(finite),
            sp.exp(sink),
        ),
        equal(
            "s = −∞ (no sink): d_0·e^{m_0} = 0, the empty sum of the plain start",
            d0.xreplace({on.s: -sp.oo}) * sp.exp(m0.xreplace({on.s: -sp.oo})),
            sp.S.Zero,
        ),
    ]
    assumed = {on.d: held * sp.exp(-on.m)}
    for label, substitutions, expected in (
        ("m ≥ M_b (m_new = m)", [{on.m: m_fin}, {on.M_b: m_fin - u}], m_fin),
        ("M_b > m (m_new = M_b)", [{on.m: on.M_b - t}], on.M_b),
    ):
        values = _apply({k: _block(v) for k, v in step.items()}, assumed, *substitutions)
        cases.append(equal(f"{label}: max evaluated", values["m"], expected))
        cases.append(
            equal(
                f"{label}: d_new·e^{{m_new}} = e^s + Σ_{{j≤n}} + Σ_{{j=n+1}}^{{n+B}}",
                values["d"] * sp.exp(values["m"]),
                held + sp.Sum(summand, (F.k, n + 1, n + on.B)),
            )
        )
    masked = _apply(step, {on.m: m_fin}, {on.M_b: -sp.oo})
    masked_d = masked["d"].xreplace({F.z[F.k]: -sp.oo}).doit()
    cases.append(equal("fully masked block (M_b = −∞): m_new = m", masked["m"], m_fin))
    cases.append(equal("fully masked block: d_new = d (the sink's state stays)", masked_d, on.d))
    final = {on.d: (sp.exp(sink) + S) * sp.exp(-m_fin), on.m: m_fin}
    plain = {
        "softmax": sp.exp(F.z[F.k]) / (sp.exp(sink) + S),
        "log_softmax": F.z[F.k] - sp.log(sp.exp(sink) + S),
        "logsumexp": sp.log(sp.exp(sink) + S),
        "p_sink": sp.exp(sink) / (sp.exp(sink) + S),
    }
    forms = {key: value.xreplace(finite) for key, value in on.SINK_FINALIZE.items()}
    for key, expected in plain.items():
        cases.append(equal(f"{key} from (m_K, d_K)", forms[key].xreplace(final), expected))
    start = {on.m: m0.xreplace(finite), on.d: d0.xreplace(finite)}
    cases.append(
        equal("K = 0 (the start is final): logsumexp = s", forms["logsumexp"].xreplace(start), sink)
    )
    cases.append(equal("K = 0: p_sink = 1", forms["p_sink"].xreplace(start), sp.S.One))
    all_masked = {**start, F.z[F.k]: -sp.oo}
    cases.append(
        equal("every z_k = −∞: softmax = 0", forms["softmax"].xreplace(all_masked), sp.S.Zero)
    )
    cases.append(
        equal(
            "every z_k = −∞: log_softmax = −∞",
            forms["log_softmax"].xreplace(all_masked),
            -sp.oo,
        )
    )
    return cw.proof(
        "sink_online",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("start (online.SINK_START)", sp.Tuple(m0, d0)),
            ("update (online.ONLINE_STEP)", sp.Tuple(*step.values())),
            ("finalize (online.SINK_FINALIZE)", sp.Tuple(*on.SINK_FINALIZE.values())),
        ),
        cases=(*cases, *_bounds(step)),
        lemmas=(*cw.exp_of_minus_infinity(), cw.sum_split(summand, F.k, n, n + on.B)),
        assumptions=(SINK, FINITE, "hypothesis: d·e^m = e^s + Σ_{j≤n} e^{z_j}, m finite"),
    )


# ---- split-KV: the sink merged once --------------------------------------------------------


def _merged(merge: dict[str, sp.Expr], states: dict[sp.Expr, sp.Expr]) -> tuple[sp.Expr, sp.Expr]:
    """(m, d) of ``merge`` with the partial states substituted (zero weights first: EMPTY)."""
    values = on.resolved(merge)
    weights = {key: value for key, value in states.items() if key in (on.d_a, on.d_b)}
    rest = {key: value for key, value in states.items() if key not in weights}
    return values["m"].xreplace(weights).xreplace(rest), values["d"].xreplace(weights).xreplace(
        rest
    )


def _masked_partial() -> tuple[sp.Expr, sp.Expr]:
    """The partial state of an all-masked range: `ONLINE_STEP` from (−∞, 0), M_b = z_k = −∞,
    with the shift 0 in place of m_new = −∞ (the generated code's guard)."""
    values = on.resolved(on.ONLINE_STEP)
    m_value = values["m"].xreplace({on.m: -sp.oo, on.M_b: -sp.oo})
    d_value = on.ONLINE_STEP["d"].xreplace({on.d: 0}).xreplace({on.m_new: 0})
    return m_value, d_value.xreplace({F.z[F.k]: -sp.oo}).doit()


@timed
def _sink_split_merge(update: dict[str, sp.Expr] | None = None) -> CaseProof:
    merge = on.SINK_MERGE if update is None else update
    A, Bs = sp.symbols("A B", positive=True)  # Σ e^{z_j} over the two ranges
    M = sp.Symbol("M", real=True)
    gaps = sp.symbols("t1 t2", positive=True)
    cases: list[Case] = []
    names = ("s", "m_a", "m_b")
    for levels in itertools.product(range(3), repeat=3):
        if sorted(set(levels)) != list(range(len(set(levels)))):
            continue
        text = " > ".join(
            " = ".join(names[p] for p in range(3) if levels[p] == level)
            for level in sorted(set(levels))
        )
        sink, ma, mb = (M - sum(gaps[:level], sp.S.Zero) for level in levels)
        m_value, d_value = _merged(
            merge,
            {on.s: sink, on.m_a: ma, on.m_b: mb, on.d_a: A * sp.exp(-ma), on.d_b: Bs * sp.exp(-mb)},
        )
        cases.append(equal(f"{text}: m = M", m_value, M))
        cases.append(
            equal(f"{text}: d·e^m = e^s + A + B", d_value * sp.exp(m_value), sp.exp(sink) + A + Bs)
        )
    sink = sp.Symbol("s", real=True)
    mfin = sp.Symbol("m_b", real=True)
    masked = _masked_partial()
    cases.append(equal("all-masked range: its partial m = −∞", masked[0], -sp.oo))
    cases.append(equal("all-masked range: its partial d = 0", masked[1], sp.S.Zero))
    for label, a_state in (
        ("range a empty", (-sp.oo, sp.S.Zero)),
        ("range a all masked", masked),
    ):
        for order, (s_value, mb_value) in (
            ("s ≥ m_b", (mfin + u, mfin)),
            ("m_b > s", (sink, sink + t)),
        ):
            m_value, d_value = _merged(
                merge,
                {
                    on.s: s_value,
                    on.m_a: a_state[0],
                    on.d_a: a_state[1],
                    on.m_b: mb_value,
                    on.d_b: Bs * sp.exp(-mb_value),
                },
            )
            cases.append(
                equal(
                    f"{label}, {order}: d·e^m = e^s + B",
                    d_value * sp.exp(m_value),
                    sp.exp(s_value) + Bs,
                )
            )
    m_value, d_value = _merged(
        merge, {on.s: sink, on.m_a: -sp.oo, on.d_a: 0, on.m_b: -sp.oo, on.d_b: 0}
    )
    cases.append(equal("both ranges empty: m = s", m_value, sink))
    cases.append(equal("both ranges empty: d = 1 (the sink alone)", d_value, sp.S.One))
    return cw.proof(
        "sink_split_merge",
        True,
        method="SymPy: each ordering of s, m_a, m_b, each empty or masked range: expanded to 0",
        steps=(("split-KV merge with a sink (online.SINK_MERGE)", sp.Tuple(*merge.values())),),
        cases=tuple(cases),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(
            "d_a·e^{m_a} = A, d_b·e^{m_b} = B: the partial states of the ranges, from (−∞, 0)",
            EMPTY,
            "more ranges: merge them by ⊕ first (online_merge_algebra: any order, any tree)",
        ),
    )


# ---- derivatives ---------------------------------------------------------------------------


def _reduce(expr: sp.Expr, partition: sp.Expr) -> sp.Expr:
    """Linear sums, Kronecker deltas summed out, ``partition`` → S."""
    reduced = cw.reduce_deltas(cw.linear_sums(expr))
    return reduced.xreplace({partition: S}).xreplace({partition.xreplace({F.k: F.j}): S})


@timed
def _sink_gradient(update: object = None) -> CaseProof:
    _no_replacement("sink_gradient", update)
    g = sp.IndexedBase("g", real=True)
    r = sp.Symbol("r", integer=True, positive=True)
    sink = sp.Symbol("s", real=True)
    sigma = _sink_softmax(r, sink)
    loss = sp.Sum(g[r] * sigma, (r, 1, F.K))
    inner = _reduce(loss, F.partition())
    p_sink = sp.exp(sink) / (sp.exp(sink) + S)
    dz = _reduce(sp.diff(loss, F.z[F.j]), F.partition())
    ds = _reduce(sp.diff(loss, sink), F.partition())
    closed_z = (
        _reduce(_sink_softmax(F.j, sink) * g[F.j], F.partition())
        - _reduce(_sink_softmax(F.j, sink), F.partition()) * inner
    )
    return cw.proof(
        "sink_gradient",
        True,
        method="SymPy diff over IndexedBase, sums reduced, expanded to 0",
        steps=(("L = ⟨g, σ⟩ with a sink", loss), ("∂L/∂z_j", dz), ("∂L/∂s", ds)),
        cases=(
            equal("∂L/∂z_j = σ_j(g_j − ⟨g, σ⟩)", dz, closed_z),
            equal("∂L/∂s = −p_sink·⟨g, σ⟩", ds, -p_sink * inner),
        ),
        assumptions=(
            "1 ≤ j ≤ K, used in Σ_r f(r)δ_jr = f(j); s finite",
            "in attention g = dP, and ⟨dP, P⟩ = rowsum(dO ⊙ O) (attention_backward): "
            "∂L/∂s = −p_sink·rowsum(dO ⊙ O)",
        ),
    )


@timed
def _softcap_chain_rule(update: object = None) -> CaseProof:
    _no_replacement("softcap_chain_rule", update)
    c = sp.Symbol("c", positive=True)
    g = sp.IndexedBase("g", real=True)
    r = sp.Symbol("r", integer=True, positive=True)
    x = sp.Symbol("x", real=True)

    def capped(index: sp.Expr) -> sp.Expr:
        return c * sp.tanh(F.z[index] / (on.T * c))

    partition = sp.Sum(sp.exp(capped(F.k)), (F.k, 1, F.K))
    sigma = {index: sp.exp(capped(index)) / partition for index in (r, F.j)}
    loss = sp.Sum(g[r] * sigma[r], (r, 1, F.K))
    derivative = _reduce(sp.diff(loss, F.z[F.j]), partition)
    slope = (1 - sp.tanh(F.z[F.j] / (on.T * c)) ** 2) / on.T
    inner = _reduce(loss, partition)
    closed = _reduce(sigma[F.j], partition) * (g[F.j] - inner) * slope
    return cw.proof(
        "softcap_chain_rule",
        True,
        method="SymPy diff over IndexedBase, sums reduced, expanded to 0",
        steps=(("L = ⟨g, σ(y)⟩, y_k = c·tanh(z_k/(cT))", loss), ("∂L/∂z_j", derivative)),
        cases=(
            equal(
                "d/dz c·tanh(z/(cT)) = (1 − tanh²(z/(cT)))/T",
                sp.diff(c * sp.tanh(x / (on.T * c)), x),
                (1 - sp.tanh(x / (on.T * c)) ** 2) / on.T,
            ),
            equal("∂L/∂z_j = σ_j(g_j − ⟨g, σ⟩)·(1 − tanh²(z_j/(cT)))/T", derivative, closed),
            equal(
                "z = +∞ is capped to c (limit of c·tanh(x/c))",
                sp.limit(c * sp.tanh(x / c), x, sp.oo),
                c,
            ),
        ),
        assumptions=(
            "1 ≤ j ≤ K, used in Σ_r f(r)δ_jr = f(j); c > 0, T > 0",
            "a −∞ logit is a mask and stays −∞ (not capped to −c): it is no term of the sums",
        ),
    )


def _no_replacement(name: str, update: object) -> None:
    """A claim about the definition or its derivative: there is no recurrence to replace."""
    if update is not None:
        raise ValueError(f"{name} is a claim about the definition: nothing to replace")


VARIANTS: dict[str, Callable[..., CaseProof]] = {
    "sink_claims": _sink_claims,
    "sink_online": _sink_online,
    "sink_split_merge": _sink_split_merge,
    "sink_gradient": _sink_gradient,
    "softcap_chain_rule": _softcap_chain_rule,
}
"""Symbolic-K proofs of the sink and soft-cap variants, in the order printed; the argument
replaces the recurrence proven (sink_online: the start m0, d0 and the step; sink_split_merge:
the merge)."""


def prove_variant(name: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    """The symbolic-K proof of ``name`` (one of VARIANTS); ``update`` replaces its recurrence."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant identity {name!r}; known: {', '.join(VARIANTS)}")
    if update is not None and not (
        isinstance(update, dict) and all(isinstance(v, sp.Basic) for v in update.values())
    ):
        raise TypeError(f"{name}: a replacement is a dict of SymPy expressions")
    return VARIANTS[name](update)
