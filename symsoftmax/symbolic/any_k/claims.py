"""The claims of the softmax definition itself, proven for symbolic K and for a fixed K.

For finite z ∈ ℝ^K, σ_j = e^{z_j}/Σ_k e^{z_k} (Blanchard, Higham & Higham 2021, eq. (1.2)):

* ``softmax_sums_to_one`` — Σ_j σ_j = 1;
* ``softmax_in_unit_interval`` — 0 < σ_j < 1 for K ≥ 2, σ_1 = 1 for K = 1;
* ``softmax_order_preserving`` — σ_i/σ_j = e^{z_i − z_j}, so z_i > z_j ⇔ σ_i > σ_j (exp is
  strictly increasing: lemma);
* ``softmax_diagonal_derivative_positive`` — ∂σ_i/∂z_i = σ_i(1 − σ_i) > 0 (K ≥ 2; 0 for K = 1);
* ``log_softmax_nonpositive`` — log σ_j = −log(1 + R/e^{z_j}) ≤ 0, R = Σ_{k≠j} e^{z_k}, with
  equality exactly when K = 1 (R = 0);
* ``logsumexp_bounds`` — max z ≤ logsumexp(z) ≤ max z + log K.

Signs are decided by SymPy's assumptions: e^{z_j} is a positive symbol E, the other terms of the
partition function a positive symbol R (a sum of K − 1 ≥ 1 positive terms: lemma) or an explicit sum
of positive symbols for a fixed K. Every lemma used is a checked `casework.Case`. In floating point
these hold only up to rounding (docs/symbolic.md, "The definition's claims").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sympy as sp

from symsoftmax.symbolic.any_k import casework as cw
from symsoftmax.symbolic.any_k.casework import Case, CaseProof, equal, sign, timed
from symsoftmax.symbolic.expressions import indexed_forms, logits, logsumexp, softmax
from symsoftmax.symbolic.options import FIXED_EXHAUSTIVE_MAX_K

__all__ = ["CLAIMS", "FIXED_K_CLAIMS", "prove_claim", "prove_claim_fixed"]

F = indexed_forms()
E = sp.Symbol("E", positive=True)  # e^{z_j}
R = sp.Symbol("R", positive=True)  # Σ_{k≠j} e^{z_k} (K ≥ 2)
S = sp.Symbol("S", positive=True)  # Σ_k e^{z_k}
_REST = sp.Symbol("n", integer=True, positive=True)  # K − 1 when K ≥ 2
SPLIT = "S = e^{z_j} + R with R = Σ_{k≠j} e^{z_k} (relabel j as K: Σ_1^{K−1} + Σ_K^K = Σ_1^K)"
METHOD_GENERAL = "SymPy over IndexedBase: equalities expanded to 0, signs by assumptions"
METHOD_FIXED = "SymPy, every component: equalities expanded to 0, signs by assumptions"


def _split_lemmas() -> tuple[Case, ...]:
    """The partition function split off one term, and the rest positive when K ≥ 2."""
    term = sp.exp(F.z[F.k])
    return (
        cw.sum_split(term, F.k, F.K - 1, F.K),
        cw.sum_positive(term, F.k, _REST, "R = Σ_{k=1}^{n} e^{z_k} > 0 for n = K − 1 ≥ 1 (K ≥ 2)"),
    )


def _partition(expr: sp.Expr) -> sp.Expr:
    """Every Σ_k e^{z_k} → S (after making sums linear)."""
    return cw.linear_sums(expr).xreplace({F.partition(): S})


# ---- symbolic K ---------------------------------------------------------------------------


@timed
def _sums_to_one() -> CaseProof:
    total = sp.Sum(F.softmax(F.j), (F.j, 1, F.K))
    reduced = _partition(total).xreplace({sp.Sum(sp.exp(F.z[F.j]), (F.j, 1, F.K)): S})
    return cw.proof(
        "softmax_sums_to_one",
        True,
        method=METHOD_GENERAL,
        steps=(("Σ_j σ_j", total), ("1/S pulled out of the sum, Σ_j e^{z_j} = S", reduced)),
        cases=(equal("any K ≥ 1", reduced, sp.S.One),),
    )


@timed
def _unit_interval() -> CaseProof:
    sigma = E / (E + R)
    return cw.proof(
        "softmax_in_unit_interval",
        True,
        method=METHOD_GENERAL,
        steps=(("σ_j, with " + SPLIT, sigma), ("1 − σ_j", sp.together(1 - sigma))),
        cases=(
            sign("K ≥ 2: σ_j = E/(E + R) > 0", sigma, ">"),
            sign("K ≥ 2: 1 − σ_j = R/(E + R) > 0", sp.together(1 - sigma), ">"),
            equal("K = 1: R = 0 (empty sum), σ_1 = 1", sigma.xreplace({R: 0}), sp.S.One),
        ),
        lemmas=_split_lemmas(),
        assumptions=("z finite (E = e^{z_j} > 0)",),
    )


@timed
def _order_preserving() -> CaseProof:
    ratio = F.softmax(F.i) / F.softmax(F.j)
    sigma_j = sp.Symbol("σ_j", positive=True)
    gap = sp.Symbol("q", positive=True)  # e^t − 1 > 0 by the lemma
    difference = F.softmax(F.i) - F.softmax(F.j)
    return cw.proof(
        "softmax_order_preserving",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("σ_i/σ_j", ratio),
            (
                "σ_i − σ_j = σ_j(e^{z_i − z_j} − 1)",
                sp.Symbol("σ_j") * (sp.exp(F.z[F.i] - F.z[F.j]) - 1),
            ),
        ),
        cases=(
            equal("σ_i/σ_j = e^{z_i − z_j}", ratio, sp.exp(F.z[F.i] - F.z[F.j])),
            equal(
                "σ_i − σ_j = σ_j(e^{z_i − z_j} − 1)",
                difference,
                F.softmax(F.j) * (sp.exp(F.z[F.i] - F.z[F.j]) - 1),
            ),
            sign("z_i = z_j + t, t > 0: σ_i − σ_j = σ_j(e^t − 1) > 0", sigma_j * gap, ">"),
            equal(
                "z_i = z_j: σ_i − σ_j = 0",
                (sigma_j * (sp.exp(F.z[F.i] - F.z[F.j]) - 1)).xreplace({F.z[F.i]: F.z[F.j]}),
                sp.S.Zero,
            ),
            sign("z_i = z_j − t, t > 0: σ_i − σ_j = −σ_i(e^t − 1) < 0", -sigma_j * gap, "<"),
        ),
        lemmas=cw.exp_increasing(),
        assumptions=(
            "σ_j > 0 (softmax_in_unit_interval), e^t − 1 = q > 0 for t > 0 (lemma)",
            "trichotomy: the three cases z_i > z_j, z_i = z_j, z_i < z_j give ⇔",
        ),
    )


@timed
def _diagonal_derivative() -> CaseProof:
    derivative = sp.diff(F.softmax(F.i), F.z[F.i])
    reduced = _delta_sum(derivative)
    closed = F.softmax(F.i) * (1 - F.softmax(F.i))
    positive = (E / (E + R)) * (1 - E / (E + R))
    return cw.proof(
        "softmax_diagonal_derivative_positive",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("∂σ_i/∂z_i (SymPy)", derivative),
            ("Σ_k e^{z_k}δ_ik = e^{z_i}", reduced),
            ("with " + SPLIT.replace("j", "i"), sp.factor(positive)),
        ),
        cases=(
            equal("∂σ_i/∂z_i = σ_i(1 − σ_i)", reduced, _partition(closed)),
            sign("K ≥ 2: σ_i(1 − σ_i) = E·R/(E + R)² > 0", sp.factor(positive), ">"),
            equal("K = 1: R = 0, ∂σ_1/∂z_1 = 0", positive.xreplace({R: 0}), sp.S.Zero),
        ),
        lemmas=_split_lemmas(),
        assumptions=("1 ≤ i ≤ K, used in Σ_k e^{z_k}δ_ik = e^{z_i}",),
    )


def _delta_sum(expr: sp.Expr) -> sp.Expr:
    """Σ_k f(k)δ_ik = f(i) (1 ≤ i ≤ K), then Σ_k e^{z_k} → S."""
    return _partition(cw.reduce_deltas(expr))


@timed
def _log_nonpositive() -> CaseProof:
    log_sigma = F.log_softmax(F.j)
    split = sp.log(E) - sp.log(E + R)  # z_j − log S with e^{z_j} = E, S = E + R
    rewritten = -sp.log(1 + R / E)
    return cw.proof(
        "log_softmax_nonpositive",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("log σ_j", log_sigma),
            ("with z_j = log E, " + SPLIT, split),
            ("= −log(1 + R/E)", rewritten),
        ),
        cases=(
            equal("log E − log(E + R) = −log(1 + R/E)", split, rewritten),
            sign("K ≥ 2: log σ_j = −log(1 + R/E) < 0", rewritten, "<"),
            equal("K = 1: R = 0, log σ_1 = 0", rewritten.xreplace({R: 0}), sp.S.Zero),
        ),
        lemmas=_split_lemmas(),
        assumptions=("z finite (E = e^{z_j} > 0); equality only when K = 1",),
    )


@timed
def _logsumexp_bounds() -> CaseProof:
    # z_k = M − t_k with t_k ≥ 0 and t_p = 0 at an index p where the maximum M is attained.
    M = sp.Symbol("M", real=True)
    t = sp.IndexedBase("t", nonnegative=True)
    gap = sp.IndexedBase("g", nonnegative=True)  # 1 − e^{−t_k} ≥ 0 (lemma)
    rest = sp.Symbol("R_t", positive=True)  # Σ_{k≠p} e^{−t_k} > 0 when K ≥ 2
    shifted = sp.Sum(sp.exp(M - t[F.k]), (F.k, 1, F.K))
    lower = sp.log(1 + rest)
    upper_sum = sp.Sum(1 - sp.exp(-t[F.k]), (F.k, 1, F.K))
    return cw.proof(
        "logsumexp_bounds",
        True,
        method=METHOD_GENERAL,
        steps=(
            ("logsumexp with z_k = M − t_k, t_k ≥ 0, t_p = 0", sp.log(shifted)),
            ("− M", sp.log(sp.Sum(sp.exp(-t[F.k]), (F.k, 1, F.K)))),
            ("= log(1 + R_t), R_t = Σ_{k≠p} e^{−t_k}", lower),
            ("K − Σ_k e^{−t_k}", upper_sum),
        ),
        cases=(
            equal(
                "Σ_k e^{M − t_k} = e^M Σ_k e^{−t_k}",
                shifted,
                sp.exp(M) * sp.Sum(sp.exp(-t[F.k]), (F.k, 1, F.K)),
            ),
            sign("K ≥ 2: logsumexp − M = log(1 + R_t) > 0", lower, ">"),
            equal("K = 1: logsumexp − M = log 1 = 0", lower.xreplace({rest: 0}), sp.S.Zero),
            equal(
                "K − Σ_k e^{−t_k} = Σ_k (1 − e^{−t_k})",
                F.K - sp.Sum(sp.exp(-t[F.k]), (F.k, 1, F.K)),
                upper_sum,
            ),
            sign(
                "Σ_k (1 − e^{−t_k}) ≥ 0, each term ≥ 0 (lemma): Σ_k e^{−t_k} ≤ K, so "
                "logsumexp − M = log Σ_k e^{−t_k} ≤ log K (log increasing)",
                sp.Sum(gap[F.k], (F.k, 1, F.K)),
                "≥",
            ),
        ),
        lemmas=(*cw.exp_nonnegative_gap(), *cw.log_increasing()),
        assumptions=(
            "M = max_k z_k is attained at some index p (K finite); t_k = M − z_k ≥ 0",
            "R_t = Σ_{k≠p} e^{−t_k} > 0 for K ≥ 2 (a sum of positive terms)",
        ),
    )


CLAIMS: dict[str, Callable[[], CaseProof]] = {
    "softmax_sums_to_one": _sums_to_one,
    "softmax_in_unit_interval": _unit_interval,
    "softmax_order_preserving": _order_preserving,
    "softmax_diagonal_derivative_positive": _diagonal_derivative,
    "log_softmax_nonpositive": _log_nonpositive,
    "logsumexp_bounds": _logsumexp_bounds,
}
"""Symbolic-K proofs of the definition's claims, in the order printed."""


def prove_claim(name: str) -> CaseProof:
    """The symbolic-K proof of one claim of CLAIMS."""
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {', '.join(CLAIMS)}")
    return CLAIMS[name]()


# ---- fixed K ------------------------------------------------------------------------------


def _positive_exponentials(size: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    """z1..zK and E1..EK, E_k a positive symbol standing for e^{z_k}."""
    return logits(size), tuple(sp.Symbol(f"E{n}", positive=True) for n in range(1, size + 1))


def _in_exponentials(expr: sp.Expr, z: Sequence[sp.Symbol], e: Sequence[sp.Symbol]) -> sp.Expr:
    """``expr`` with z_k = log E_k (so e^{a·z_k} = E_k^a): a rational function of positive E_k."""
    return expr.xreplace({zk: sp.log(ek) for zk, ek in zip(z, e, strict=True)})


def _components(size: int, mode: str) -> Sequence[int]:
    """Every component (exhaustive), or component 1 (permutation: σ is S_K-equivariant)."""
    return range(size) if _every(size, mode) else range(min(size, 1))


def _every(size: int, mode: str) -> bool:
    """Whether every component is checked: exhaustive mode, up to FIXED_EXHAUSTIVE_MAX_K."""
    return mode == "exhaustive" and size <= FIXED_EXHAUSTIVE_MAX_K


def _fixed_sums_to_one(size: int, mode: str) -> CaseProof:
    z, _ = _positive_exponentials(size)
    total = sp.Add(*softmax(z))
    return cw.proof(
        "softmax_sums_to_one",
        False,
        method=f"SymPy, K = {size}: Σ_j σ_j over one denominator",
        cases=(equal(f"K = {size}", total, sp.S.One),),
    )


def _fixed_unit_interval(size: int, mode: str) -> CaseProof:
    z, e = _positive_exponentials(size)
    sigma = [_in_exponentials(s, z, e) for s in softmax(z)]
    cases: list[Case] = _symmetry(size, mode)
    for n in _components(size, mode):
        if size == 1:
            cases.append(equal("K = 1: σ_1 = 1", sigma[0], sp.S.One))
            continue
        cases.append(sign(f"σ_{n + 1} > 0", sigma[n], ">"))
        cases.append(sign(f"1 − σ_{n + 1} > 0", sp.together(1 - sigma[n]), ">"))
    return cw.proof(
        "softmax_in_unit_interval",
        False,
        method=_fixed_method(size, mode),
        cases=tuple(cases),
        assumptions=("E_k = e^{z_k} > 0 (z finite)",),
    )


def _fixed_method(
    size: int,
    mode: str,
    every: str = "every component",
    one: str = "component 1",
    why: str = "σ is S_K-equivariant: σ_j is σ_1 with z_1 ↔ z_j, checked",
) -> str:
    """How a fixed-K claim was checked: ``every`` item, or the ``one`` representative (why)."""
    if _every(size, mode):
        return f"SymPy, K = {size}, {every}: expanded to 0, signs by assumptions"
    capped = f"; {every} up to K = {FIXED_EXHAUSTIVE_MAX_K}" if mode == "exhaustive" else ""
    return f"SymPy, K = {size}, {one} ({why}){capped}"


def _symmetry(size: int, mode: str, scalar: bool = False) -> list[Case]:
    """When only component 1 is checked: σ_j is σ_1 with z_1 and z_j exchanged (or logsumexp is
    unchanged by the exchange, ``scalar``), for every j: the transpositions (1 j) generate S_K."""
    if _every(size, mode):
        return []
    z = logits(size)
    sigma, lse = softmax(z), logsumexp(z)
    cases = []
    for j in range(1, size):
        swap = {z[0]: z[j], z[j]: z[0]}
        if scalar:
            label = f"symmetry: logsumexp unchanged by z_1 ↔ z_{j + 1}"
            cases.append(equal(label, lse.xreplace(swap), lse))
        else:
            label = f"equivariance: σ_{j + 1} = σ_1 with z_1 ↔ z_{j + 1}"
            cases.append(equal(label, sigma[0].xreplace(swap), sigma[j]))
    return cases


def _fixed_order(size: int, mode: str) -> CaseProof:
    z = logits(size)
    sigma = softmax(z)
    pairs = [
        (a, b)
        for a in range(size)
        for b in range(size)
        if a != b and (_every(size, mode) or (a, b) == (0, 1))
    ]
    cases = _symmetry(size, mode) + [
        equal(
            f"σ_{a + 1}/σ_{b + 1} = e^{{z_{a + 1} − z_{b + 1}}}",
            sigma[a] / sigma[b],
            sp.exp(z[a] - z[b]),
        )
        for a, b in pairs
    ]
    return cw.proof(
        "softmax_order_preserving",
        False,
        method=_fixed_method(size, mode, "every pair of components", "the pair (1, 2)")
        if size > 1
        else f"K = {size}: no pair of components",
        cases=tuple(cases),
        lemmas=cw.exp_increasing(),
        assumptions=(
            "σ_i/σ_j = e^{z_i − z_j} and exp strictly increasing give z_i > z_j ⇔ σ_i > σ_j",
        ),
    )


def _fixed_diagonal(size: int, mode: str) -> CaseProof:
    z, e = _positive_exponentials(size)
    sigma = softmax(z)
    cases: list[Case] = _symmetry(size, mode)
    for n in _components(size, mode):
        derivative = sp.diff(sigma[n], z[n])
        cases.append(
            equal(
                f"∂σ_{n + 1}/∂z_{n + 1} = σ_{n + 1}(1 − σ_{n + 1})",
                derivative,
                sigma[n] * (1 - sigma[n]),
            )
        )
        value = sp.factor(sp.together(_in_exponentials(derivative, z, e)))
        if size == 1:
            cases.append(equal("K = 1: ∂σ_1/∂z_1 = 0", value, sp.S.Zero))
        else:
            cases.append(sign(f"∂σ_{n + 1}/∂z_{n + 1} > 0", value, ">"))
    return cw.proof(
        "softmax_diagonal_derivative_positive",
        False,
        method=_fixed_method(size, mode),
        cases=tuple(cases),
        assumptions=("E_k = e^{z_k} > 0 (z finite)",),
    )


def _fixed_log(size: int, mode: str) -> CaseProof:
    _, e = _positive_exponentials(size)
    cases: list[Case] = _symmetry(size, mode)
    total = sp.Add(*e)
    for n in _components(size, mode):
        rest = total - e[n]
        rewritten = -sp.log(1 + rest / e[n])
        cases.append(
            equal(
                f"log σ_{n + 1} = −log(1 + Σ_{{k≠{n + 1}}} E_k/E_{n + 1})",
                sp.log(e[n]) - sp.log(total),
                rewritten,
            )
        )
        if size == 1:
            cases.append(equal("K = 1: log σ_1 = 0", rewritten, sp.S.Zero))
        else:
            cases.append(sign(f"log σ_{n + 1} < 0", rewritten, "<"))
    return cw.proof(
        "log_softmax_nonpositive",
        False,
        method=_fixed_method(size, mode),
        cases=tuple(cases),
        assumptions=("E_k = e^{z_k} > 0 (z finite); log σ_j = log E_j − log Σ_k E_k",),
    )


def _fixed_bounds(size: int, mode: str) -> CaseProof:
    M = sp.Symbol("M", real=True)
    t = [sp.Symbol(f"t{n}", nonnegative=True) for n in range(1, size + 1)]
    g = [sp.Symbol(f"g{n}", nonnegative=True) for n in range(1, size + 1)]  # 1 − e^{−t_k}
    cases: list[Case] = _symmetry(size, mode, scalar=True)
    for p in _components(size, mode):  # the maximum attained at z_{p+1}
        gaps = [sp.S.Zero if n == p else t[n] for n in range(size)]
        z = [M - gap for gap in gaps]
        inner = sp.Add(*[sp.exp(-gap) for gap in gaps])
        where = f"max at z_{p + 1}"
        cases.append(
            equal(
                f"{where}: e^{{logsumexp − M}} = Σ_k e^{{−t_k}} (exp is injective: lemma)",
                sp.exp(logsumexp(z) - M),
                inner,
            )
        )
        rest = inner - 1
        if size == 1:
            cases.append(equal(f"{where}, K = 1: logsumexp − M = 0", sp.log(inner), sp.S.Zero))
        else:
            cases.append(
                sign(
                    f"{where}: log Σ_k e^{{−t_k}} = log(1 + Σ_{{k≠p}} e^{{−t_k}}) > 0",
                    sp.log(1 + rest),
                    ">",
                )
            )
        cases.append(
            equal(
                f"{where}: K − Σ_k e^{{−t_k}} = Σ_k (1 − e^{{−t_k}})",
                size - inner,
                sp.Add(*[1 - sp.exp(-gap) for gap in gaps]),
            )
        )
        kept = [g[n] for n in range(size) if n != p]
        cases.append(
            sign(f"{where}: Σ_k (1 − e^{{−t_k}}) ≥ 0 (each term ≥ 0, lemma)", sp.Add(*kept), "≥")
            if kept
            else equal(f"{where}: K = 1, no other term", sp.S.Zero, sp.S.Zero)
        )
    return cw.proof(
        "logsumexp_bounds",
        False,
        method=_fixed_method(
            size,
            mode,
            "every position of the maximum",
            "the maximum at z_1",
            "logsumexp is S_K-invariant under z_1 ↔ z_j, checked",
        ),
        cases=tuple(cases),
        lemmas=(*cw.exp_increasing(), *cw.exp_nonnegative_gap(), *cw.log_increasing()),
        assumptions=("z_k = M − t_k, t_k ≥ 0, M = max_k z_k attained at z_p (t_p = 0)",),
    )


FIXED_K_CLAIMS: dict[str, Callable[[int, str], CaseProof]] = {
    "softmax_sums_to_one": _fixed_sums_to_one,
    "softmax_in_unit_interval": _fixed_unit_interval,
    "softmax_order_preserving": _fixed_order,
    "softmax_diagonal_derivative_positive": _fixed_diagonal,
    "log_softmax_nonpositive": _fixed_log,
    "logsumexp_bounds": _fixed_bounds,
}
"""Fixed-K proofs of the definition's claims: (K, mode) → proof; mode exhaustive or permutation."""


def prove_claim_fixed(name: str, size: int, mode: str) -> CaseProof:
    """The fixed-K proof of one claim, timed."""
    if name not in FIXED_K_CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {', '.join(FIXED_K_CLAIMS)}")
    return timed(FIXED_K_CLAIMS[name])(size, mode)
