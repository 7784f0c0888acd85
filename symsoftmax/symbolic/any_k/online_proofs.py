"""Proofs of the online-softmax recurrences of `symbolic.online`, for symbolic length and fixed K.

Symbolic length (induction over blocks; the block is z_{n+1..n+B} after a prefix z_{1..n}):

* the **invariant** d·e^m = Σ_{j≤n} e^{z_j}: base case (m, d) = (−∞, 0) for n = 0, inductive step in
  each branch of m_new = max(m, M_b) — m ≥ M_b, M_b > m, the empty prefix, and a fully masked
  block from the empty prefix (shift 0 in place of m_new = −∞) — plus the bounds m − m_new ≤ 0 and
  z_k − m_new ≤ 0 that the max is there for (no overflow);
* **finalize**: softmax, log_softmax and logsumexp from the final (m_K, d_K);
* **merge** ⊕ of two states represents the concatenation (each branch of the max, and empty
  operands); ⊕ is commutative and associative (every weak ordering of the maxima) with identity
  (−∞, 0);
* the **attention accumulator** o·e^m = Σ_j e^{z_j} v_j, o_K/d_K = Σ_j σ_j v_j, its merge, and the
  log-domain merge of normalised partial outputs by logaddexp;
* the **attention backward**: dS = P ⊙ (dP − D) is the derivative of ⟨dO, P V⟩ (proven by SymPy
  differentiation), and D = ⟨dP, P⟩ (finite sums commute), so it is the softmax VJP;
* the **base-2 / temperature** form (e^{x/T} = 2^{x·log₂(e)/T}).

−∞ is handled as a case: e^{−∞} = 0 is a lemma (SymPy's value), and a term d·e^{…} with d = 0 is 0
whatever its exponent (the empty state contributes nothing; substituted before the exponent is
evaluated, so −∞ − (−∞) never arises). Fixed K: the recurrence is run over z_1..z_K one entry at a
time; ``exhaustive`` enumerates every branch sequence of the max (K ≤ 8), otherwise the running
maxima are free real symbols μ_k (the identities hold for any finite shifts, so for every branch).

Sources: Milakov & Gimelshein (2018), Algorithm 3 and §3.1; Dao et al., FlashAttention (2022),
Algorithm 1 and its backward (Algorithm 2, dS = P ∘ (dP − D)); FlashAttention-2 (2023), §3.1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import sympy as sp
from sympy.codegen.cfunctions import log1p

from symsoftmax.symbolic import online as on
from symsoftmax.symbolic.any_k import casework as cw
from symsoftmax.symbolic.any_k.casework import Case, CaseProof, equal, sign, timed
from symsoftmax.symbolic.expressions import indexed_forms, log_softmax, logits, logsumexp, softmax
from symsoftmax.symbolic.options import FIXED_EXHAUSTIVE_MAX_K

__all__ = [
    "FIXED_K_ONLINE",
    "ONLINE",
    "prove_online",
    "prove_online_fixed",
]

F = indexed_forms()
BRANCHES_MAX_K = 4  # exhaustive fixed-K mode enumerates the 2^(K−1) branch sequences up to here
EMPTY = "(m, d) = (−∞, 0): a term d·e^{…} with d = 0 is 0 whatever its exponent (substituted first)"
FINITE = "m and M_b finite (real) once an entry is seen; z_k ≤ M_b for k in the block"
METHOD_GENERAL = "SymPy, induction over blocks: each branch of the max evaluated, expanded to 0"

n = sp.Symbol("n", integer=True, nonnegative=True)  # prefix length before the block
u = sp.Symbol("u", nonnegative=True)  # gap M − x ≥ 0
t = sp.Symbol("t", positive=True)  # gap > 0
w = sp.IndexedBase("w", nonnegative=True)  # M_b − z_k ≥ 0 within the block
m_fin = sp.Symbol("m", real=True)  # the running maximum once finite


def _block(expr: sp.Expr) -> sp.Expr:
    """The block's sums Σ_{k=1}^{B} re-indexed as positions n+1..n+B of the row."""
    return expr.replace(
        lambda e: isinstance(e, sp.Sum) and e.limits[0][1:] == (1, on.B),
        lambda e: sp.Sum(e.function, (e.limits[0][0], n + 1, n + on.B)),
    )


def _prefix(summand: sp.Expr) -> sp.Expr:
    """Σ_{k=1}^{n} summand (the prefix the state represents)."""
    return sp.Sum(summand, (F.k, 1, n))


def _apply(update: dict[str, sp.Expr], *steps: dict[sp.Expr, sp.Expr]) -> dict[str, sp.Expr]:
    """The resolved update (`online.resolved`) with each substitution applied in turn (in order:
    d = 0 before m = −∞ is the empty-state convention)."""
    values = on.resolved(update)
    for substitution in steps:
        values = {key: value.xreplace(substitution) for key, value in values.items()}
    return values


def _as_exp(expr: sp.Expr) -> sp.Expr:
    """2^x → e^{x ln 2} and c → log₂(e)/T (`online.SCALE`): the base-2 form in exponentials."""
    expr = expr.xreplace({on.c: on.SCALE["c"]})
    return expr.replace(lambda e: isinstance(e, on.exp2), lambda e: sp.exp(e.args[0] * sp.log(2)))


# ---- the step: invariant (and the accumulator) for symbolic length -------------------------


def _branches(
    step: dict[str, sp.Expr], key: str, hypothesis: sp.Expr, summand: sp.Expr, scale: sp.Expr
) -> list[Case]:
    """The inductive step for ``key`` ("d" or "o") in each branch of the max.

    Hypothesis: key·e^{m·scale} = Σ_{j≤n} summand_j; claim: key_new·e^{m_new·scale} =
    Σ_{j≤n+B} summand_j, split as the prefix plus the block (lemma `casework.sum_split`)."""
    prefix = _prefix(summand)
    block = sp.Sum(summand, (F.k, n + 1, n + on.B))
    state = {"d": on.d, "o": on.o}[key]
    assumed = {state: hypothesis * sp.exp(-on.m * scale)}
    cases: list[Case] = []
    branches: list[tuple[str, list[dict[sp.Expr, sp.Expr]], sp.Expr]] = [
        ("m ≥ M_b (m_new = m)", [{on.m: m_fin}, {on.M_b: m_fin - u}], m_fin),
        ("M_b > m (m_new = M_b)", [{on.m: on.M_b - t}], on.M_b),
    ]
    for label, substitutions, expected in branches:
        values = _apply({k: _block(v) for k, v in step.items()}, assumed, *substitutions)
        cases.append(equal(f"{label}: max evaluated", values["m"], expected))
        lhs = values[key] * sp.exp(values["m"] * scale)
        claim = f"{label}: {key}_new·e^{{m_new}} = Σ_{{j≤n}} + Σ_{{j=n+1}}^{{n+B}}"
        cases.append(equal(claim, lhs, prefix + block))
    empty = _apply(step, {state: 0, on.d: 0}, {on.m: -sp.oo})
    cases.append(equal("empty prefix (n = 0, m = −∞): max evaluated", empty["m"], on.M_b))
    cases.append(
        equal(
            f"empty prefix: {key}_new·e^{{M_b}} = Σ_{{k=1}}^{{B}} (the block alone)",
            empty[key] * sp.exp(empty["m"] * scale),
            sp.Sum(summand, (F.k, 1, on.B)),
        )
    )
    masked = {
        k: v.xreplace({state: 0, on.d: 0}).xreplace({on.m_new: 0}).xreplace({F.z[F.k]: -sp.oo})
        for k, v in step.items()
        if k != "m"
    }
    cases.append(
        equal(
            f"fully masked block from the empty state (M_b = −∞, shift 0): {key}_new = 0",
            masked[key].doit(),
            sp.S.Zero,
        )
    )
    return cases


def _bounds(step: dict[str, sp.Expr]) -> list[Case]:
    """m − m_new ≤ 0 and z_k − m_new ≤ 0 in both branches (z_k = M_b − w_k): no overflow."""
    cases = []
    for label, substitutions in (
        ("m ≥ M_b", [{on.m: m_fin}, {on.M_b: m_fin - u}]),
        ("M_b > m", [{on.m: on.M_b - t}]),
    ):
        values = _apply(step, *substitutions)
        new = values["m"]
        old = on.m
        block_max = on.M_b
        for substitution in substitutions:
            old = old.xreplace(substitution)
            block_max = block_max.xreplace(substitution)
        cases.append(sign(f"{label}: m − m_new ≤ 0", old - new, "≤"))
        cases.append(
            sign(f"{label}: z_k − m_new = M_b − w_k − m_new ≤ 0", block_max - w[F.k] - new, "≤")
        )
    return cases


@timed
def _invariant(step: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.ONLINE_STEP if step is None else step
    base = on.d * sp.exp(on.m)
    return cw.proof(
        "online_invariant",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("update (symbolic.online.ONLINE_STEP)", sp.Tuple(*update.values())),
            ("base case: d_0·e^{m_0} with (m_0, d_0) = (−∞, 0)", base.xreplace({on.d: 0})),
            (
                "inductive step: d_new·e^{m_new}, hypothesis d = Σ_{j≤n} e^{z_j}·e^{−m}",
                on.resolved(update)["d"],
            ),
        ),
        cases=(
            equal(
                "base case n = 0: 0·e^{−∞} = Σ_{j=1}^{0} e^{z_j}",
                base.xreplace({on.d: 0, on.m: -sp.oo}),
                _prefix(sp.exp(F.z[F.k])).xreplace({n: 0}).doit(),
            ),
            *_branches(update, "d", _prefix(sp.exp(F.z[F.k])), sp.exp(F.z[F.k]), sp.S.One),
            *_bounds(update),
        ),
        lemmas=(*cw.exp_of_minus_infinity(), cw.sum_split(sp.exp(F.z[F.k]), F.k, n, n + on.B)),
        assumptions=(EMPTY, FINITE),
    )


@timed
def _finalize(finalize: dict[str, sp.Expr] | None = None) -> CaseProof:
    forms = on.FINALIZE if finalize is None else finalize
    S = sp.Symbol("S", positive=True)  # Σ_k e^{z_k}
    invariant = {on.d: S * sp.exp(-m_fin), on.m: m_fin}  # d_K·e^{m_K} = S, m_K finite (K ≥ 1)
    plain = {
        "softmax": F.softmax(F.k),
        "log_softmax": F.log_softmax(F.k),
        "logsumexp": F.logsumexp(),
    }
    cases = tuple(
        equal(
            f"{key} from (m_K, d_K)",
            forms[key].xreplace(invariant),
            plain[key].xreplace({F.partition(): S}),
        )
        for key in plain
    )
    return cw.proof(
        "online_finalize",
        True,
        method="SymPy: the invariant d = S·e^{−m} substituted, expanded to 0",
        steps=tuple((f"{key}(m, d)", forms[key]) for key in plain),
        cases=cases,
        assumptions=(
            "online_invariant: d_K·e^{m_K} = S = Σ_k e^{z_k}",
            "K ≥ 1 and z finite, so m_K = max_k z_k is finite (real) and S > 0",
        ),
    )


def _merge_cases(
    merge: dict[str, sp.Expr], keys: Sequence[str], parts: dict[str, tuple[sp.Expr, sp.Expr]]
) -> list[Case]:
    """(m_a, ·) ⊕ (m_b, ·) in each branch: key·e^m = A + B given key_a·e^{m_a} = A, …;
    ``parts`` maps each key to the symbols (A, B) its two operands represent."""
    ma, mb = sp.symbols("m_a m_b", real=True)
    finite = {on.m_a: ma, on.m_b: mb}
    hypotheses = {
        state: total * sp.exp(-m)
        for key in keys
        for state, total, m in (
            (_state(key, "a"), parts[key][0], ma),
            (_state(key, "b"), parts[key][1], mb),
        )
    }
    cases: list[Case] = []
    for label, substitution, expected in (
        ("m_a ≥ m_b (m = m_a)", {mb: ma - u}, ma),
        ("m_b > m_a (m = m_b)", {ma: mb - t}, mb),
    ):
        values = _apply(merge, finite, hypotheses, substitution)
        cases.append(equal(f"{label}: max evaluated", values["m"], expected.xreplace(substitution)))
        for key in keys:
            total = parts[key][0] + parts[key][1]
            cases.append(
                equal(
                    f"{label}: {key}·e^m = {key}_a e^{{m_a}} + {key}_b e^{{m_b}}",
                    values[key] * sp.exp(values["m"]),
                    total,
                )
            )
            cases.append(
                sign(f"{label}: m_a − m ≤ 0", (ma - values["m"]).xreplace(substitution), "≤")
            )
            cases.append(
                sign(f"{label}: m_b − m ≤ 0", (mb - values["m"]).xreplace(substitution), "≤")
            )
    for empty, other in (("a", "b"), ("b", "a")):
        zero = {_state(key, empty): 0 for key in keys}
        m_empty, m_other = (on.m_a, mb) if empty == "a" else (on.m_b, ma)
        kept = {on.m_a: ma, on.m_b: mb}
        kept.pop(m_empty)
        values = _apply(merge, zero, kept, hypotheses, {m_empty: -sp.oo})
        cases.append(equal(f"{empty} empty: m = m_{other}", values["m"], m_other))
        for key in keys:
            index = 1 if empty == "a" else 0
            cases.append(
                equal(
                    f"{empty} empty: {key}·e^m = {key}_{other} e^{{m_{other}}}",
                    values[key] * sp.exp(values["m"]),
                    parts[key][index],
                )
            )
    both = _apply(
        merge,
        {_state(key, part): 0 for key in keys for part in "ab"},
        {on.m_a: -sp.oo, on.m_b: -sp.oo},
    )
    cases.append(equal("both empty: m = −∞", both["m"], -sp.oo))
    for key in keys:
        cases.append(equal(f"both empty: {key} = 0 (the empty state)", both[key], sp.S.Zero))
    return cases


def _state(key: str, part: str) -> sp.Symbol:
    """d_a, d_b, o_a, o_b."""
    return {("d", "a"): on.d_a, ("d", "b"): on.d_b, ("o", "a"): on.o_a, ("o", "b"): on.o_b}[
        (key, part)
    ]


A, Bsum = sp.symbols("A B", positive=True)  # Σ e^{z_j} over parts a and b
Va, Vb = sp.symbols("V_a V_b", real=True)  # Σ e^{z_j} v_j over parts a and b


@timed
def _merge(merge: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.MERGE if merge is None else merge
    return cw.proof(
        "online_merge",
        True,
        method="SymPy: each branch of the max and each empty operand, expanded to 0",
        steps=(("⊕ (symbolic.online.MERGE)", sp.Tuple(*update.values())),),
        cases=tuple(_merge_cases(update, ("d",), {"d": (A, Bsum)})),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(
            "d_a·e^{m_a} = A, d_b·e^{m_b} = B: the sums Σ e^{z_j} over the two parts",
            EMPTY,
        ),
    )


@timed
def _attention_merge(merge: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.ATTENTION_MERGE if merge is None else merge
    return cw.proof(
        "attention_merge",
        True,
        method="SymPy: each branch of the max and each empty operand, expanded to 0",
        steps=(("⊕ with outputs (symbolic.online.ATTENTION_MERGE)", sp.Tuple(*update.values())),),
        cases=tuple(_merge_cases(update, ("d", "o"), {"d": (A, Bsum), "o": (Va, Vb)})),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(
            "o_a·e^{m_a} = V_a, o_b·e^{m_b} = V_b: the sums Σ e^{z_j}v_j over the two parts",
            EMPTY,
        ),
    )


def _weak_orderings(names: Sequence[str]) -> Iterator[tuple[str, list[int]]]:
    """Every weak ordering of ``names`` as (description, level per name), level 0 the largest."""
    size = len(names)
    for levels in itertools.product(range(size), repeat=size):
        used = sorted(set(levels))
        if used != list(range(len(used))):
            continue
        groups = [[names[p] for p in range(size) if levels[p] == level] for level in used]
        text = " > ".join(" = ".join(group) for group in groups)
        yield text, list(levels)


def _merged(
    a: tuple[sp.Expr, sp.Expr], b: tuple[sp.Expr, sp.Expr], merge: dict[str, sp.Expr]
) -> tuple[sp.Expr, sp.Expr]:
    """(m, d) of a ⊕ b by ``merge`` (resolved)."""
    values = on.resolved(merge)
    weights = {on.d_a: a[1], on.d_b: b[1]}  # first: a zero weight removes its term (EMPTY)
    maxima = {on.m_a: a[0], on.m_b: b[0]}
    return values["m"].xreplace(maxima), values["d"].xreplace(weights).xreplace(maxima)


@timed
def _merge_algebra(merge: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.MERGE if merge is None else merge
    M = sp.Symbol("M", real=True)
    gaps = sp.symbols("t1 t2", positive=True)
    d = sp.symbols("d_a d_b d_c", positive=True)
    cases: list[Case] = []

    def level_values(levels: Sequence[int]) -> list[sp.Expr]:
        return [M - sum(gaps[:level], sp.S.Zero) for level in levels]

    for text, levels in _weak_orderings(("m_a", "m_b")):
        ma, mb = level_values(levels)
        left, right = (
            _merged((ma, d[0]), (mb, d[1]), update),
            _merged((mb, d[1]), (ma, d[0]), update),
        )
        cases.append(equal(f"commutative, {text}: m", left[0], right[0]))
        cases.append(equal(f"commutative, {text}: d", left[1], right[1]))
    for text, levels in _weak_orderings(("m_a", "m_b", "m_c")):
        ma, mb, mc = level_values(levels)
        a, b, c = (ma, d[0]), (mb, d[1]), (mc, d[2])
        left = _merged(_merged(a, b, update), c, update)
        right = _merged(a, _merged(b, c, update), update)
        cases.append(equal(f"associative, {text}: m", left[0], right[0]))
        cases.append(equal(f"associative, {text}: d", left[1], right[1]))
    empty = (-sp.oo, sp.S.Zero)
    for label, (m_value, d_value) in (
        ("identity, a finite: a ⊕ (−∞, 0) = a", _merged((M, d[0]), empty, update)),
        ("identity, a finite: (−∞, 0) ⊕ a = a", _merged(empty, (M, d[0]), update)),
    ):
        cases.append(equal(f"{label}: m", m_value, M))
        cases.append(equal(f"{label}: d", d_value, d[0]))
    m_value, d_value = _merged(empty, empty, update)
    cases.append(equal("identity: (−∞, 0) ⊕ (−∞, 0): m = −∞", m_value, -sp.oo))
    cases.append(equal("identity: (−∞, 0) ⊕ (−∞, 0): d = 0", d_value, sp.S.Zero))
    return cw.proof(
        "online_merge_algebra",
        True,
        method="SymPy: every weak ordering of the maxima (M, M − t1, M − t1 − t2), expanded to 0",
        steps=(("⊕ (symbolic.online.MERGE)", sp.Tuple(*update.values())),),
        cases=tuple(cases),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(
            EMPTY,
            "an empty operand inside a product of three reduces by the identity law",
        ),
    )


@timed
def _attention_accumulator(step: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.ATTENTION_STEP if step is None else step
    summand = sp.exp(F.z[F.k]) * on.v[F.k]
    S = sp.Symbol("S", positive=True)
    V = sp.Sum(summand, (F.k, 1, F.K))
    weighted = sp.Sum(F.softmax(F.k) * on.v[F.k], (F.k, 1, F.K))
    finalized = on.ATTENTION_FINALIZE["o"].xreplace(
        {on.o: V * sp.exp(-m_fin), on.d: S * sp.exp(-m_fin)}
    )
    return cw.proof(
        "attention_accumulator",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("update (symbolic.online.ATTENTION_STEP)", on.resolved(update)["o"]),
            ("o_K/d_K with o_K·e^m = Σ_k e^{z_k}v_k, d_K·e^m = S", finalized),
            ("Σ_k σ_k v_k", weighted),
        ),
        cases=(
            equal(
                "base case: o_0 = 0 represents the empty sum",
                sp.S.Zero,
                _prefix(summand).xreplace({n: 0}).doit(),
            ),
            *_branches(update, "o", _prefix(summand), summand, sp.S.One),
            equal(
                "o_K/d_K = Σ_k σ_k v_k",
                finalized,
                cw.linear_sums(weighted).xreplace({F.partition(): S}),
            ),
        ),
        lemmas=(*cw.exp_of_minus_infinity(), cw.sum_split(summand, F.k, n, n + on.B)),
        assumptions=(EMPTY, FINITE, "online_invariant: d_K·e^{m_K} = S = Σ_k e^{z_k}"),
    )


@timed
def _log_merge(merge: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.LOG_MERGE if merge is None else merge
    L = sp.Symbol("L", real=True)
    cases: list[Case] = []
    for label, (la, lb) in (("lse_a ≥ lse_b", (L, L - u)), ("lse_b > lse_a", (L - t, L))):
        part_a, part_b = sp.exp(la), sp.exp(lb)  # A = e^{lse_a}, B = e^{lse_b}
        values = _apply(
            update, {on.o_a: Va / part_a, on.o_b: Vb / part_b}, {on.lse_a: la, on.lse_b: lb}
        )
        cases.append(equal(f"{label}: max evaluated", values["m"], L))
        cases.append(equal(f"{label}: e^lse = A + B", sp.exp(values["lse"]), part_a + part_b))
        cases.append(
            equal(f"{label}: O = (V_a + V_b)/(A + B)", values["o"], (Va + Vb) / (part_a + part_b))
        )
    return cw.proof(
        "attention_log_merge",
        True,
        method="SymPy: each branch of the max, expanded to 0",
        steps=(("log-domain merge (symbolic.online.LOG_MERGE)", sp.Tuple(*update.values())),),
        cases=tuple(cases),
        assumptions=(
            "lse_a = log A, lse_b = log B finite (each part has an entry)",
            "O_a = V_a/A, O_b = V_b/B (normalised partial outputs)",
        ),
    )


def _no_replacement(name: str, update: object) -> None:
    """The attention backward is an identity about the forward, not a recurrence to replace."""
    if update is not None:
        raise ValueError(f"{name} proves the softmax backward: there is no update to replace")


@timed
def _attention_backward(update: object = None) -> CaseProof:
    _no_replacement("attention_backward", update)
    c, Dv = (
        sp.Symbol("c", integer=True, positive=True),
        sp.Symbol("D_v", integer=True, positive=True),
    )
    r = sp.Symbol("r", integer=True, positive=True)
    dO = sp.IndexedBase("dO", real=True)
    V = sp.IndexedBase("V", real=True)
    S = sp.Symbol("S", positive=True)
    output = sp.Sum(F.softmax(r) * V[r, c], (r, 1, F.K))  # O_c = Σ_r P_r V_rc
    loss = sp.Sum(dO[c] * output, (c, 1, Dv))  # ⟨dO, O⟩: its gradient in s is dS
    derivative = sp.diff(loss, F.z[F.j])
    reduced = _reduce(derivative, S)
    dP = sp.Sum(dO[c] * V[F.j, c], (c, 1, Dv))
    D = sp.Sum(dO[c] * output, (c, 1, Dv))
    closed = _reduce(F.softmax(F.j) * (dP - D), S)
    swapped = sp.Sum(sp.Sum(dO[c] * V[r, c], (c, 1, Dv)) * F.softmax(r), (r, 1, F.K))  # ⟨dP, P⟩
    fubini_left = sp.Sum(dO[c] * F.softmax(r) * V[r, c], (r, 1, F.K), (c, 1, Dv))
    fubini_right = sp.Sum(dO[c] * F.softmax(r) * V[r, c], (c, 1, Dv), (r, 1, F.K))
    return cw.proof(
        "attention_backward",
        True,
        method="SymPy diff over IndexedBase (s = z), sums reduced, expanded to 0",
        steps=(
            ("⟨dO, O⟩ with O_c = Σ_r P_r V_rc", loss),
            ("∂/∂s_j (SymPy)", derivative),
            ("sums reduced (Σ_r f(r)δ_rj = f(j)), S = Σ_k e^{s_k}", reduced),
            ("P_j(dP_j − D), reduced", closed),
            ("⟨dP, P⟩", swapped),
        ),
        cases=(
            equal("∂⟨dO, O⟩/∂s_j = P_j(dP_j − D)", reduced, closed),
            equal(
                "D = Σ_c dO_c Σ_r P_r V_rc = Σ_r P_r Σ_c dO_c V_rc = ⟨dP, P⟩ (finite sums commute)",
                fubini_left,
                fubini_right.reorder((0, 1)),
            ),
        ),
        assumptions=(
            "1 ≤ j ≤ K, used in Σ_r f(r)δ_jr = f(j)",
            "dS_j = P_j(dP_j − ⟨dP, P⟩) is then the softmax VJP (identity vjp) with g = dP",
        ),
    )


def _reduce(expr: sp.Expr, S: sp.Symbol) -> sp.Expr:
    """Linear sums, Kronecker deltas summed out, Σ_k e^{z_k} → S."""
    return cw.reduce_deltas(cw.linear_sums(expr)).xreplace({F.partition(): S})


@timed
def _exp2_temperature(step: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.ONLINE_STEP_EXP2 if step is None else step
    x = sp.Symbol("x", real=True)
    in_exp = {key: _as_exp(value) for key, value in update.items()}
    summand = sp.exp(F.z[F.k] / on.T)
    S = sp.Symbol("S_T", positive=True)  # Σ_k e^{z_k/T}
    invariant = {on.d: S * sp.exp(-m_fin / on.T), on.m: m_fin}
    plain = {
        "softmax": sp.exp(F.z[F.k] / on.T) / S,
        "log_softmax": F.z[F.k] / on.T - sp.log(S),
        "logsumexp": sp.log(S),
    }
    finals = [
        equal(
            f"{key}(z/T) from (m_K, d_K)",
            _as_exp(on.FINALIZE_EXP2[key]).xreplace(invariant),
            plain[key],
        )
        for key in plain
    ]
    M_T = sp.Symbol("M", real=True)
    scaled_max = [
        equal(
            "T > 0, m ≥ M_b: max(m/T, M_b/T) = max(m, M_b)/T",
            sp.Max(M_T / on.T, (M_T - u) / on.T),
            sp.Max(M_T, M_T - u) / on.T,
        ),
        equal(
            "T > 0, M_b > m: max(m/T, M_b/T) = max(m, M_b)/T",
            sp.Max((M_T - t) / on.T, M_T / on.T),
            sp.Max(M_T - t, M_T) / on.T,
        ),
    ]
    return cw.proof(
        "online_exp2_temperature",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("update (symbolic.online.ONLINE_STEP_EXP2)", sp.Tuple(*update.values())),
            ("2^x = e^{x ln 2}, c = log₂(e)/T", sp.Tuple(*in_exp.values())),
        ),
        cases=(
            equal("2^{x·c} = e^{x/T}", _as_exp(on.exp2(x * on.c)), sp.exp(x / on.T)),
            *scaled_max,
            *_branches(in_exp, "d", _prefix(summand), summand, 1 / on.T),
            *finals,
        ),
        lemmas=(*cw.exp_of_minus_infinity(), cw.sum_split(summand, F.k, n, n + on.B)),
        assumptions=(EMPTY, FINITE, "T > 0; m kept in units of z (the maximum of z/T is m/T)"),
    )


# ---- the log1p form: r = d − 1, the sum without one maximal term ----------------------------

LOG1P_EMPTY = "(m, r) = (−∞, 0): (1 + r)·e^m = e^{−∞} = 0 represents the empty sum"
LOG1P_BRANCHES: tuple[tuple[str, list[dict[sp.Expr, sp.Expr]], sp.Expr, int], ...] = (
    ("m ≥ M_b (m_new = m)", [{on.m: m_fin}, {on.M_b: m_fin - u}], m_fin, 0),
    ("M_b > m (m_new = M_b)", [{on.m: on.M_b - t}], on.M_b, 1),
)
"""Each branch of the max: its substitutions, m_new, and p_new = [M_b > m]."""


def one_hot_lemma() -> Case:
    """Σ_{k=1}^{B} δ_{kκ} = 1 for 1 ≤ κ ≤ B (SymPy sums it with B = κ + w, w ≥ 0)."""
    gap = sp.Symbol("w", integer=True, nonnegative=True)
    return equal(
        "Σ_{k=1}^{B} δ_{kκ} = 1 for 1 ≤ κ ≤ B (B = κ + w, w ≥ 0)",
        sp.Sum(sp.KroneckerDelta(F.k, on.kappa), (F.k, 1, on.kappa + gap)).doit(),
        sp.S.One,
    )


def _one_hot_summed(expr: sp.Expr) -> sp.Expr:
    """Σ_k (f_k − c·δ_{kκ}) as Σ_k f_k − c (`one_hot_lemma`), before the block is re-indexed."""
    one_hot = sp.Sum(sp.KroneckerDelta(F.k, on.kappa), (F.k, 1, on.B))
    return cw.linear_sums(expr).xreplace({one_hot: sp.S.One})


def _as_log(expr: sp.Expr) -> sp.Expr:
    """log1p(x) → log(1 + x), the function it computes."""
    return expr.replace(lambda e: isinstance(e, log1p), lambda e: sp.log(1 + e.args[0]))


def _log1p_terms(update: dict[str, sp.Expr]) -> list[Case]:
    """r_new ≥ 0 from r ≥ 0, term by term in each branch: the old state's part is ≥ 0, every
    summand of the block but κ's is e^{z_k − m_new} > 0, and κ's (z_κ = M_b) is e^{M_b − m_new} −
    p_new: > 0 while the old maximum stays, and e^0 − 1 = 0 when the block takes it over — the
    1 left out is subtracted where it is exactly 1 (e^0 in IEEE arithmetic), never after it has
    been added to the small terms."""
    cases = []
    for label, substitutions, _, _ in LOG1P_BRANCHES:
        values = _apply(update, *substitutions)
        (block_sum,) = values["r"].atoms(sp.Sum)
        summand = block_sum.function
        block_max = on.M_b.xreplace(substitutions[-1])
        at_kappa = summand.xreplace({F.k: on.kappa}).xreplace({F.z[on.kappa]: block_max})
        cases.append(
            sign(
                f"{label}: the state's part (r + p_new)·e^{{m − m_new}} ≥ 0",
                values["r"] - block_sum,
                "≥",
            )
        )
        cases.append(
            sign(
                f"{label}: a term of the block with k ≠ κ, e^{{z_k − m_new}} > 0",
                summand.xreplace({sp.KroneckerDelta(F.k, on.kappa): 0}),
                ">",
            )
        )
        if values["p"] == 0:
            cases.append(sign(f"{label}: the term of κ, e^{{M_b − m}} > 0", at_kappa, ">"))
        else:
            cases.append(
                equal(f"{label}: the term of κ, e^{{M_b − M_b}} − 1 = 0", at_kappa, sp.S.Zero)
            )
    return cases


def _log1p_masked(update: dict[str, sp.Expr]) -> tuple[sp.Expr, sp.Expr]:
    """(p_new, r_new) for a fully masked block from the empty state: M_b = −∞, z_k = −∞, the
    shift 0 in place of m_new = −∞ (the guard)."""
    p_value = update["p"].xreplace({on.m: -sp.oo, on.M_b: -sp.oo})
    r_value = update["r"].xreplace({on.r: 0, on.p_new: p_value, on.m_new: 0})
    return p_value, r_value.xreplace({F.z[F.k]: -sp.oo}).xreplace({on.m: -sp.oo}).doit()


@timed
def _log1p_invariant(step: dict[str, sp.Expr] | None = None) -> CaseProof:
    update = on.ONLINE_STEP_LOG1P if step is None else step
    summed = {key: _one_hot_summed(value) for key, value in update.items()}
    prefix = _prefix(sp.exp(F.z[F.k]))
    block = sp.Sum(sp.exp(F.z[F.k]), (F.k, n + 1, n + on.B))
    hypothesis = {on.r: prefix * sp.exp(-on.m) - 1}  # (1 + r)·e^m = Σ_{j≤n} e^{z_j}
    cases = [
        equal(
            "base case n = 0: (1 + 0)·e^{−∞} = Σ_{j=1}^{0} e^{z_j}",
            (1 + sp.S.Zero) * sp.exp(-sp.oo),
            prefix.xreplace({n: 0}).doit(),
        )
    ]
    for label, substitutions, expected, taken in LOG1P_BRANCHES:
        values = _apply({k: _block(v) for k, v in summed.items()}, hypothesis, *substitutions)
        cases += [
            equal(f"{label}: max evaluated", values["m"], expected),
            equal(f"{label}: p_new = [M_b > m] evaluated", values["p"], sp.Integer(taken)),
            equal(
                f"{label}: (1 + r_new)·e^{{m_new}} = Σ_{{j≤n}} + Σ_{{j=n+1}}^{{n+B}}",
                (1 + values["r"]) * sp.exp(values["m"]),
                prefix + block,
            ),
        ]
    cases += _log1p_terms(update)
    empty = _apply(summed, {on.r: 0}, {on.m: -sp.oo})
    masked_p, masked_r = _log1p_masked(update)
    cases += [
        equal("empty prefix (n = 0, (m, r) = (−∞, 0)): max evaluated", empty["m"], on.M_b),
        equal("empty prefix: p_new = [M_b > −∞] = 1", empty["p"], sp.S.One),
        equal(
            "empty prefix: (1 + r_new)·e^{M_b} = Σ_{k=1}^{B} e^{z_k} (the block alone)",
            (1 + empty["r"]) * sp.exp(empty["m"]),
            sp.Sum(sp.exp(F.z[F.k]), (F.k, 1, on.B)),
        ),
        equal(
            "fully masked block from the empty state: p_new = [−∞ > −∞] = 0", masked_p, sp.S.Zero
        ),
        equal("fully masked block from the empty state (shift 0): r_new = 0", masked_r, sp.S.Zero),
    ]
    return cw.proof(
        "online_log1p_invariant",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("update (symbolic.online.ONLINE_STEP_LOG1P)", sp.Tuple(*update.values())),
            ("Σ_k δ_{kκ} = 1 applied", sp.Tuple(*summed.values())),
        ),
        cases=tuple(cases),
        lemmas=(
            one_hot_lemma(),
            *cw.exp_of_minus_infinity(),
            cw.sum_split(sp.exp(F.z[F.k]), F.k, n, n + on.B),
        ),
        assumptions=(
            LOG1P_EMPTY,
            FINITE,
            "κ is the block's first maximum: 1 ≤ κ ≤ B and z_κ = M_b",
            "r ≥ 0 (the empty state's 0, then by the step's terms)",
        ),
    )


@timed
def _log1p_finalize(finalize: dict[str, sp.Expr] | None = None) -> CaseProof:
    forms = on.FINALIZE_LOG1P if finalize is None else finalize
    S = sp.Symbol("S", positive=True)  # Σ_k e^{z_k}
    invariant = {on.r: S * sp.exp(-m_fin) - 1, on.m: m_fin}  # (1 + r_K)·e^{m_K} = S
    plain = {"log_softmax": F.log_softmax(F.k), "logsumexp": F.logsumexp()}
    cases = tuple(
        equal(
            f"{key} from (m_K, r_K)",
            _as_log(forms[key]).xreplace(invariant),
            plain[key].xreplace({F.partition(): S}),
        )
        for key in plain
    )
    return cw.proof(
        "online_log1p_finalize",
        True,
        method="SymPy: log1p(x) = log(1 + x), the invariant r = S·e^{−m} − 1 substituted, "
        "expanded to 0",
        steps=tuple((f"{key}(m, r)", forms[key]) for key in plain),
        cases=cases,
        assumptions=(
            "online_log1p_invariant: (1 + r_K)·e^{m_K} = S = Σ_k e^{z_k}",
            "K ≥ 1 and z finite, so m_K = max_k z_k is finite (real) and S > 0",
        ),
    )


ONLINE: dict[str, Callable[..., CaseProof]] = {
    "online_invariant": _invariant,
    "online_finalize": _finalize,
    "online_merge": _merge,
    "online_merge_algebra": _merge_algebra,
    "attention_accumulator": _attention_accumulator,
    "attention_merge": _attention_merge,
    "attention_log_merge": _log_merge,
    "attention_backward": _attention_backward,
    "online_exp2_temperature": _exp2_temperature,
    "online_log1p_invariant": _log1p_invariant,
    "online_log1p_finalize": _log1p_finalize,
}
"""Symbolic-length proofs; each takes an optional replacement of its update (to test that a wrong
recurrence is rejected)."""


def prove_online(name: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    """The symbolic-length proof of ``name``; ``update`` replaces the recurrence of
    `symbolic.online` it proves (None: the shipped one)."""
    if name not in ONLINE:
        raise ValueError(f"unknown online identity {name!r}; known: {', '.join(ONLINE)}")
    _check_update(name, update)
    return ONLINE[name](update)


def _check_update(name: str, update: object) -> None:
    """A replacement update is a dict of SymPy expressions (never a string: nothing is parsed)."""
    if update is None:
        return
    if not isinstance(update, dict) or not all(
        isinstance(key, str) and isinstance(value, sp.Expr) for key, value in update.items()
    ):
        raise ValueError(
            f"{name}: a replacement update is a dict of name → SymPy expression, "
            f"got {type(update).__name__}"
        )


# ---- fixed K: the recurrence run over z_1..z_K ---------------------------------------------


def _element(update: dict[str, sp.Expr], zk: sp.Expr, vk: sp.Expr) -> dict[str, sp.Expr]:
    """``update`` for a block of one entry (B = 1, M_b = z_k), m_new kept as the symbol."""
    one = {key: value.xreplace({on.B: 1}).doit() for key, value in update.items()}
    return {
        key: value.xreplace({on.z[1]: zk, on.v[1]: vk, on.M_b: zk}) for key, value in one.items()
    }


class _Run:
    """The per-entry recurrence over z_1..z_K with state (m, d[, o]); ``maxima`` gives m_k
    (a z symbol in one branch sequence, or a free real μ_k standing for any branch)."""

    def __init__(self, update: dict[str, sp.Expr], keys: Sequence[str]) -> None:
        self.update = update
        self.keys = keys

    def states(
        self, z: Sequence[sp.Expr], v: Sequence[sp.Expr], maxima: Sequence[sp.Expr]
    ) -> list[dict[str, sp.Expr]]:
        """The state after each entry (expanded), starting from the empty state."""
        state: dict[str, sp.Expr] = {"m": -sp.oo, **{key: sp.S.Zero for key in self.keys}}
        out = []
        for zk, vk, mk in zip(z, v, maxima, strict=True):
            step = _element(self.update, zk, vk)
            weights = {_STATE[key]: state[key] for key in self.keys}
            new = {
                key: sp.expand(
                    step[key].xreplace(weights).xreplace({on.m: state["m"], on.m_new: mk}),
                    power_exp=True,
                )
                for key in self.keys
            }
            state = {"m": mk, **new}
            out.append(state)
        return out


_STATE = {"d": on.d, "o": on.o}


def _branch_sequences(z: Sequence[sp.Expr]) -> Iterator[tuple[str, list[sp.Expr]]]:
    """Every sequence of the max's branches: m_1 = z_1, then m_k = z_k (new maximum) or m_{k−1}."""
    for choice in itertools.product((False, True), repeat=len(z) - 1):
        maxima = [z[0]]
        for k, new in enumerate(choice, start=1):
            maxima.append(z[k] if new else maxima[-1])
        label = ", ".join(f"m_{k + 1} {'new' if c else 'kept'}" for k, c in enumerate(choice, 1))
        yield label or "K = 1", maxima


def _fixed_runs(
    size: int, mode: str
) -> tuple[tuple[sp.Symbol, ...], list[tuple[str, list[sp.Expr]]], str]:
    """z, the maxima sequences to run, and the method text."""
    z = logits(size)
    if mode == "exhaustive" and size <= BRANCHES_MAX_K:
        method = f"SymPy, K = {size}: every branch sequence of the max (2^{size - 1}), every prefix"
        return z, list(_branch_sequences(z)), method
    mu = [sp.Symbol(f"μ{k}", real=True) for k in range(1, size + 1)]
    method = (
        f"SymPy, K = {size}, every prefix: the maxima as free reals μ_k (any finite shifts, so "
        "every branch of the max)"
    )
    if mode == "exhaustive":
        method += f"; branch sequences enumerated up to K = {BRANCHES_MAX_K}"
    return z, [("any branch", mu)], method


def _run_proof(name: str, method: str, cases: Sequence[Case]) -> CaseProof:
    """A fixed-K proof of a run of the recurrence from the empty state."""
    return cw.proof(
        name,
        False,
        method=method,
        cases=tuple(cases),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(EMPTY,),
    )


def _values(size: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"v{k}", real=True) for k in range(1, size + 1))


def _fixed_invariant(size: int, mode: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    step = on.ONLINE_STEP if update is None else update
    z, runs, method = _fixed_runs(size, mode)
    cases = []
    for label, maxima in runs:
        for k, state in enumerate(_Run(step, ("d",)).states(z, _values(size), maxima), start=1):
            total = sp.Add(*[sp.exp(x) for x in z[:k]])
            cases.append(
                equal(
                    f"{label}, k = {k}: d_k·e^{{m_k}} = Σ_{{j≤k}} e^{{z_j}}",
                    state["d"] * sp.exp(state["m"]),
                    total,
                )
            )
    return _run_proof("online_invariant", method, cases)


def _fixed_finalize(size: int, mode: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    forms = on.FINALIZE if update is None else update
    z, runs, method = _fixed_runs(size, mode)
    cases = []
    plain = {"softmax": softmax(z), "log_softmax": log_softmax(z)}
    for label, maxima in runs:
        final = _Run(on.ONLINE_STEP, ("d",)).states(z, _values(size), maxima)[-1]
        state = {on.m: final["m"], on.d: final["d"]}
        lse = forms["logsumexp"].xreplace(state)
        # exp is injective (casework.exp_increasing): compare e^{lse}, a sum of exponentials
        cases.append(equal(f"{label}: e^{{logsumexp}}", sp.exp(lse), sp.exp(logsumexp(z))))
        for j in range(size):
            got = {key: forms[key].xreplace({F.z[F.k]: z[j]}).xreplace(state) for key in plain}
            cases.append(equal(f"{label}: softmax_{j + 1}", got["softmax"], plain["softmax"][j]))
            cases.append(
                equal(
                    f"{label}: log_softmax_{j + 1} = z_{j + 1} − logsumexp",
                    got["log_softmax"],
                    z[j] - lse,
                )
            )
    return cw.proof(
        "online_finalize",
        False,
        method=method,
        cases=tuple(cases),
        lemmas=cw.exp_increasing(),
        assumptions=("K ≥ 1: m_K finite",),
    )


def _fixed_merge(
    size: int, mode: str, update: dict[str, sp.Expr] | None = None, keys: Sequence[str] = ("d",)
) -> CaseProof:
    merge = (on.MERGE if keys == ("d",) else on.ATTENTION_MERGE) if update is None else update
    step = on.ONLINE_STEP if keys == ("d",) else on.ATTENTION_STEP
    z, v = logits(size), _values(size)
    mu = [sp.Symbol(f"μ{k}", real=True) for k in range(1, size + 1)]
    nu = [sp.Symbol(f"ν{k}", real=True) for k in range(1, size + 1)]
    merged_max = sp.Symbol("μ", real=True)
    run = _Run(step, keys)
    cases = []
    for p in range(size + 1):
        a = (
            run.states(z[:p], v[:p], mu[:p])[-1]
            if p
            else {"m": -sp.oo, **{k: sp.S.Zero for k in keys}}
        )
        b = (
            run.states(z[p:], v[p:], nu[p:])[-1]
            if p < size
            else {"m": -sp.oo, **{k: sp.S.Zero for k in keys}}
        )
        weights = {
            _state(key, part): state[key] for key in keys for part, state in (("a", a), ("b", b))
        }
        maxima = {on.m_a: a["m"], on.m_b: b["m"], on.m_new: merged_max}
        for key in keys:
            got = merge[key].xreplace(weights).xreplace(maxima)
            summand = [sp.exp(x) * (1 if key == "d" else vj) for x, vj in zip(z, v, strict=True)]
            cases.append(
                equal(
                    f"split p = {p}: {key}·e^m = Σ_{{j≤K}}",
                    got * sp.exp(merged_max),
                    sp.Add(*summand),
                )
            )
    name = "online_merge" if keys == ("d",) else "attention_merge"
    return _run_proof(
        name,
        f"SymPy, K = {size}, every split p = 0..K; the maxima as free reals (every branch)",
        cases,
    )


def _fixed_accumulator(size: int, mode: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    step = on.ATTENTION_STEP if update is None else update
    z, runs, method = _fixed_runs(size, mode)
    v = _values(size)
    cases = []
    for label, maxima in runs:
        final = _Run(step, ("d", "o")).states(z, v, maxima)[-1]
        weighted = sp.Add(*[s * vj for s, vj in zip(softmax(z), v, strict=True)])
        output = on.ATTENTION_FINALIZE["o"].xreplace({on.o: final["o"], on.d: final["d"]})
        cases.append(equal(f"{label}: o_K/d_K = Σ_j σ_j v_j", output, weighted))
    return _run_proof("attention_accumulator", method, cases)


BACKWARD_COLUMNS = 2  # value dimension of the fixed-K attention backward proof


def _fixed_backward(size: int, mode: str, update: object = None) -> CaseProof:
    _no_replacement("attention_backward", update)
    s = logits(size, "s")
    dO = [sp.Symbol(f"dO{c}", real=True) for c in range(1, BACKWARD_COLUMNS + 1)]
    V = [
        [sp.Symbol(f"V{r}_{c}", real=True) for c in range(1, BACKWARD_COLUMNS + 1)]
        for r in range(1, size + 1)
    ]
    P = softmax(s)
    output = [sp.Add(*[P[r] * V[r][c] for r in range(size)]) for c in range(BACKWARD_COLUMNS)]
    loss = sp.Add(*[dO[c] * output[c] for c in range(BACKWARD_COLUMNS)])
    D = loss  # D = Σ_c dO_c O_c is the same scalar as ⟨dO, O⟩
    dP = [sp.Add(*[dO[c] * V[j][c] for c in range(BACKWARD_COLUMNS)]) for j in range(size)]
    every = _every(size, mode)
    cases = [
        equal(f"dS_{j + 1} = P_{j + 1}(dP_{j + 1} − D)", sp.diff(loss, s[j]), P[j] * (dP[j] - D))
        for j in (range(size) if every else range(1))
    ]
    for j in range(1, 1 if every else size):  # component 1 stands for all: the swap (1 j)
        swap = {s[0]: s[j], s[j]: s[0]}
        swap.update({V[0][c]: V[j][c] for c in range(BACKWARD_COLUMNS)})
        swap.update({V[j][c]: V[0][c] for c in range(BACKWARD_COLUMNS)})
        label = f"s_1 ↔ s_{j + 1}, V_1 ↔ V_{j + 1}"
        cases.append(equal(f"{label}: ⟨dO, PV⟩ unchanged", loss.xreplace(swap), loss))
        cases.append(
            equal(
                f"{label}: P_1(dP_1 − D) ↦ P_{j + 1}(dP_{j + 1} − D)",
                (P[0] * (dP[0] - D)).xreplace(swap),
                P[j] * (dP[j] - D),
            )
        )
    cases.append(equal("D = ⟨dP, P⟩", D, sp.Add(*[dP[j] * P[j] for j in range(size)])))
    return cw.proof(
        "attention_backward",
        False,
        method=_fixed_method(size, mode, f"value dimension {BACKWARD_COLUMNS}"),
        cases=tuple(cases),
    )


def _every(size: int, mode: str) -> bool:
    return mode == "exhaustive" and size <= FIXED_EXHAUSTIVE_MAX_K


def _fixed_method(size: int, mode: str, extra: str) -> str:
    if _every(size, mode):
        return f"SymPy, K = {size}, {extra}, every component: expanded to 0"
    capped = f"; every component up to K = {FIXED_EXHAUSTIVE_MAX_K}" if mode == "exhaustive" else ""
    return (
        f"SymPy, K = {size}, {extra}, component 1 (the loss is invariant under each swap of "
        f"component 1 with j, checked){capped}"
    )


def _fixed_exp2(size: int, mode: str, update: dict[str, sp.Expr] | None = None) -> CaseProof:
    step = on.ONLINE_STEP_EXP2 if update is None else update
    z, runs, method = _fixed_runs(size, mode)
    cases = []
    sigma = softmax(z, on.T)
    for label, maxima in runs:
        states = _Run({k: _as_exp(v) for k, v in step.items()}, ("d",)).states(
            z, _values(size), maxima
        )
        for k, state in enumerate(states, start=1):
            total = sp.Add(*[sp.exp(x / on.T) for x in z[:k]])
            cases.append(
                equal(
                    f"{label}, k = {k}: d_k·2^{{m_k c}} = Σ_{{j≤k}} e^{{z_j/T}}",
                    state["d"] * _as_exp(on.exp2(state["m"] * on.c)),
                    total,
                )
            )
        final = {on.m: states[-1]["m"], on.d: states[-1]["d"]}
        for j in range(size):
            got = _as_exp(on.FINALIZE_EXP2["softmax"]).xreplace({F.z[F.k]: z[j]}).xreplace(final)
            cases.append(equal(f"{label}: softmax(z/T)_{j + 1}", got, sigma[j]))
    return cw.proof(
        "online_exp2_temperature",
        False,
        method=method,
        cases=tuple(cases),
        lemmas=cw.exp_of_minus_infinity(),
        assumptions=(EMPTY, "T > 0, c = log₂(e)/T"),
    )


FIXED_K_ONLINE: dict[str, Callable[..., CaseProof]] = {
    "online_invariant": _fixed_invariant,
    "online_finalize": _fixed_finalize,
    "online_merge": _fixed_merge,
    "attention_accumulator": _fixed_accumulator,
    "attention_merge": lambda size, mode, update=None: _fixed_merge(size, mode, update, ("d", "o")),
    "attention_backward": _fixed_backward,
    "online_exp2_temperature": _fixed_exp2,
}
"""Fixed-K proofs: (K, mode[, update]) → proof."""


def prove_online_fixed(
    name: str, size: int, mode: str, update: dict[str, sp.Expr] | None = None
) -> CaseProof:
    """The fixed-K proof of ``name``, timed; ``update`` replaces the recurrence it proves."""
    if name not in FIXED_K_ONLINE:
        raise ValueError(f"unknown online identity {name!r}; known: {', '.join(FIXED_K_ONLINE)}")
    _check_update(name, update)
    return timed(FIXED_K_ONLINE[name])(size, mode, update)
