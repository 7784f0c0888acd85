"""Per-component rounding-error bounds of softmax, log_softmax and logsumexp, derived with SymPy.

`symsoftmax derive bound --op OP --algorithm CLASS`. The computation graph of a kernel class is
built for a concrete row of K entries with one symbol per rounding (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed., §2.2, the standard model fl(a op b) = (a op b)(1 + δ),
|δ| ≤ u; exp and log with relative error ε: ε = u correctly rounded, ε = 2u faithful):

    t̂_j = (z_j − m)(1 + α_j),  ê_j = e^{t̂_j}(1 + ε_j),  Ŝ = recursive sum, one σ_i per addition,
    ŝ_j = ê_j/Ŝ · (1 + β_j) · (1 + ρ_j)   (ρ_j: the final rounding to a narrower storage format).

The relative error ŝ_j/s_j − 1 is linearized in every δ (first-order Taylor: ∂/∂δ at δ = 0, the
coefficients collected exactly as rational functions of e^{t_k}, then written in s_k) and split
into a **per-component** part, the linearization of the chain that produces ê_j and ŝ_j from Ŝ,
and a **common** part, −(Ŝ/S − 1) linearized, the same expression for every j. The bound on each
is Σ |coefficient|·(u or ε); higher orders are absorbed in γ_n = nu/(1 − nu) (Higham, Lemma 3.1).
log_softmax ŷ_j = fl(t̂_j − L̂) and logsumexp ℓ̂ = fl(m + L̂), L̂ = log(Ŝ)(1 + λ), get the same split
of the absolute error: per-component minus the common D = L̂ − L.

Classes: ``two-pass``; ``one-pass`` (online normalizer, blocks of B, each block raising the
maximum: the running sum and the carried numerators are rescaled by fl(e^{fl(m_old − m_new)}), as
FlashAttention rescales its outputs; Milakov & Gimelshein 2018); ``split`` (S partial states, one
rescale each at the merge); ``exp2`` (2^{fl(fl(z_k·κ̂) − fl(m·κ̂))}, κ̂ = fl(log₂e)). The row is
taken sorted ascending (t_1 ≤ … ≤ t_K = 0), the worst case for the rescaling classes: every block
raises the maximum; the j-th component of any other row is the same formula by symmetry.

The symbolic side derives, the validator (`symsoftmax.validation.componentwise`) has its own
numeric implementation of the resulting bounds; tests/test_error_analysis.py compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from symsoftmax.symbolic.options import BOUND_ALGORITHMS, BOUND_OPS, MAX_BOUND_K

__all__ = [
    "BOUND_CASES",
    "BoundDerivation",
    "Rounding",
    "derive_bound",
    "render_bound",
]

BOUND_STYLES = ("latex", "text", "markdown")
U = sp.Symbol("u", positive=True)  # unit roundoff of the state format
U_S = sp.Symbol("u_s", positive=True)  # unit roundoff of the storage format
EPS = sp.Symbol("varepsilon", positive=True)  # relative error of exp and log
LOG_S = sp.Symbol("L", nonnegative=True)  # L = log S ≥ 0 (S ≥ 1: the maximum's term is 1)
# the derivations/componentwise_bounds.md cases: every op for every class (K = 3)
BOUND_CASES: tuple[tuple[str, str, int], ...] = tuple(
    (op, algorithm, 1) for op in BOUND_OPS for algorithm in BOUND_ALGORITHMS
)  # (op, algorithm, block), split with its default 2 splits
KINDS = ("argument", "exp", "operation", "storage")  # what a rounding is: u, ε, u, u_s


@dataclass(frozen=True)
class Rounding:
    """One rounding: its symbol, its kind (KINDS: weighted u, ε, u, u_s) and what it rounds."""

    symbol: sp.Symbol
    kind: str
    what: str

    @property
    def weight(self) -> sp.Expr:
        """|δ| ≤ weight: u (argument, operation), ε (exp, log) or u_s (storage)."""
        return {"exp": EPS, "storage": U_S}.get(self.kind, U)


Node = tuple[sp.Expr, sp.Expr]  # (value in E_k and gaps, as shown: in named intermediates)


class _Graph:
    """The rounded computation of one row: symbols t_k ≤ 0 (t_K = 0) written through gaps
    g_i = t_{i+1} − t_i ≥ 0 so that SymPy decides every sign, and E_k = e^{t_k} > 0. Every
    node is a pair (value, shown); ``define`` names an intermediate and records its step."""

    def __init__(self, size: int, exp2: bool) -> None:
        self.size = size
        self.exp2 = exp2
        self.gaps = [sp.Symbol(f"g_{i}", nonnegative=True) for i in range(1, size)]
        self.t = [-sp.Add(*self.gaps[k:]) for k in range(size)]
        self.t_names = [sp.Symbol(f"t_{k + 1}", nonpositive=True) for k in range(size)]
        self.E = [sp.Symbol(f"E_{k + 1}", positive=True) for k in range(size)]
        self.m = sp.Symbol("m", real=True)
        self.roundings: list[Rounding] = []
        self.steps: list[tuple[str, sp.Expr]] = []
        self._products: dict[int, sp.Symbol] = {}  # exp2: fl(z_k·κ̂)'s δ, shared by its uses
        self._kappa: sp.Symbol | None = None

    def new(self, name: str, kind: str, what: str) -> sp.Symbol:
        """A fresh δ of ``kind``; returned for use in the graph."""
        symbol = sp.Symbol(name, real=True)
        self.roundings.append(Rounding(symbol, kind, what))
        return symbol

    def define(self, name: str, node: Node) -> Node:
        """Record ``name = shown`` as a step; later nodes show the name."""
        self.steps.append((name, node[1]))
        return node[0], sp.Symbol(name)

    def _product(self, k: int) -> sp.Symbol:
        """exp2: the δ of fl(z_k·κ̂), one per entry (m·κ̂ is the maximum entry's product)."""
        if k not in self._products:
            self._products[k] = self.new(f"pi_{k + 1}", "operation", f"fl(z_{k + 1}·κ̂)")
        return self._products[k]

    def exp_of(self, a: int, b: int, name: str) -> Node:
        """fl(e^{fl(t_a − t_b)}) (t_b ≥ t_a, the maximum of a's group): 1 exactly when a = b;
        otherwise (E_a/E_b)·e^{(argument error)}·(1 + ε). exp2: 2^{fl(fl(z_a κ̂) − fl(z_b κ̂))}."""
        if a == b:
            return sp.Integer(1), sp.Integer(1)
        label = name.replace("ê_", "").replace("_", "")
        exact = self.t[a] - self.t[b]
        alpha = self.new(f"alpha_{label}", "argument", f"argument of {name}")
        eps = self.new(f"epsilon_{label}", "exp", f"exp of {name}")
        if self.exp2:  # (fl(z_a κ̂) − fl(z_b κ̂))·log 2 with κ̂ = log₂e (1 + κ): natural units
            if self._kappa is None:
                self._kappa = self.new("kappa", "operation", "κ̂ = fl(log₂e)")
            za, zb = self.m + self.t[a], self.m + self.t[b]
            kappa = 1 + self._kappa
            computed = za * kappa * (1 + self._product(a)) - zb * kappa * (1 + self._product(b))
            computed = computed * (1 + alpha)
            khat = sp.Symbol("kappa_hat")
            zs = [sp.Symbol(f"z_{k + 1}") for k in (a, b)]
            shown_arg = (
                zs[0] * khat * (1 + self._product(a)) - zs[1] * khat * (1 + self._product(b))
            ) * (1 + alpha)
            shown = sp.Pow(2, shown_arg, evaluate=False) * (1 + eps)
        else:
            computed = exact * (1 + alpha)
            shown = sp.exp((self.t_names[a] - self.t_names[b]) * (1 + alpha)) * (1 + eps)
        value = self.E[a] / self.E[b] * sp.exp(computed - exact) * (1 + eps)
        return self.define(name, (value, shown))

    def add_all(self, terms: Sequence[Node], label: str) -> Node:
        """Recursive summation, ((x_1 + x_2)(1 + σ) + x_3)(1 + σ′)…: one δ per addition."""
        value, shown = terms[0]
        for n, (term, term_shown) in enumerate(terms[1:], start=1):
            sigma = self.new(f"sigma_{label}{n}", "operation", f"addition {n} of {label}")
            value, shown = (value + term) * (1 + sigma), (shown + term_shown) * (1 + sigma)
        return value, shown

    def times(self, x: Node, factor: Node, label: str) -> Node:
        """fl(x·factor), or x when the factor is exactly 1."""
        if factor[0] == 1:
            return x
        mu = self.new(f"mu_{label}", "operation", f"product {label}")
        return x[0] * factor[0] * (1 + mu), x[1] * factor[1] * (1 + mu)


def _groups(size: int, width: int) -> list[list[int]]:
    """Consecutive groups of ``width`` indices (the last may be shorter)."""
    return [list(range(start, min(start + width, size))) for start in range(0, size, width)]


def _numerators(graph: _Graph, algorithm: str, block: int, splits: int) -> tuple[list[Node], Node]:
    """The computed ê_j (as carried to the division: rescaled, for one-pass and split) and Ŝ."""
    size = graph.size
    numer: list[Node]
    if algorithm in ("two-pass", "exp2"):
        numer = [graph.exp_of(k, size - 1, f"ê_{k + 1}") for k in range(size)]
        return numer, graph.define("Ŝ", graph.add_all(numer, "S"))
    if algorithm == "one-pass":
        blocks = _groups(size, block)
        numer = []
        total: Node = (sp.Integer(0), sp.Integer(0))
        for b, members in enumerate(blocks):
            own = [graph.exp_of(k, members[-1], f"ê_{k + 1}") for k in members]
            if b == 0:
                total = graph.define("d_1", graph.add_all(own, "b1_"))
                numer += own
                continue
            rescale = graph.exp_of(blocks[b - 1][-1], members[-1], f"r_{b + 1}")
            numer = [graph.times(n, rescale, f"{k + 1}r{b + 1}") for k, n in enumerate(numer)]
            numer += own
            scaled = graph.times(total, rescale, f"dr{b + 1}")
            total = graph.define(f"d_{b + 1}", graph.add_all([scaled, *own], f"b{b + 1}_"))
        return numer, total
    parts = _groups(size, -(-size // max(1, min(splits, size))))
    numer, partial = [], []
    for p, members in enumerate(parts):
        local = [graph.exp_of(k, members[-1], f"ê_{k + 1}") for k in members]
        d_p = graph.define(f"d_{p + 1}", graph.add_all(local, f"d{p + 1}_"))
        rescale = graph.exp_of(members[-1], size - 1, f"c_{p + 1}")
        numer += [
            graph.times(n, rescale, f"{k + 1}c{p + 1}") for k, n in zip(members, local, strict=True)
        ]
        partial.append(graph.times(d_p, rescale, f"d{p + 1}"))
    return numer, graph.define("Ŝ", graph.add_all(partial, "merge"))


@dataclass
class BoundDerivation:
    """The derivation of ``op`` for ``algorithm``: graph, linearization, split and bounds.

    ``per[j]`` and ``common`` are linear in the δ's with exact coefficients; the total first-order
    error of component j is per[j] + common (relative for softmax, absolute for the log ops).
    ``per_bound[j]``: Σ |coefficient|·weight over per[j]; ``common_bound``: the same over common,
    and ``common_stated`` with every partial-sum coefficient (≤ 1) bounded by 1.
    """

    op: str
    algorithm: str
    size: int
    block: int
    splits: int
    storage: bool
    roundings: list[Rounding]
    steps: list[tuple[str, sp.Expr]]
    total: dict[int, sp.Expr]
    per: dict[int, sp.Expr]
    common: sp.Expr
    per_bound: dict[int, sp.Expr]
    common_bound: sp.Expr
    common_stated: sp.Expr
    telescoped: dict[int, sp.Expr]
    facts: list[str] = field(default_factory=list)


def _linear(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> sp.Expr:
    """First-order Taylor part of ``expr`` at δ = 0: Σ_δ (∂expr/∂δ)(0)·δ."""
    zero = {s: 0 for s in symbols}
    return sp.Add(*(sp.factor(sp.diff(expr, s).subs(zero)) * s for s in symbols if expr.has(s)))


def _same(a: sp.Expr, b: sp.Expr, symbols: Sequence[sp.Symbol]) -> bool:
    """Two linear forms in ``symbols`` are equal: every coefficient's difference cancels to 0."""
    return all(sp.cancel(a.coeff(s) - b.coeff(s)) == 0 for s in symbols)


def _in_s(graph: _Graph, expr: sp.Expr) -> sp.Expr:
    """Write a coefficient, rational in E_k = e^{t_k} and homogeneous of degree 0, in
    s_k = E_k/S (S = Σ E_k), and t_k for the gaps."""
    s = [sp.Symbol(f"s_{k + 1}", positive=True) for k in range(graph.size)]
    big = sp.Symbol("S", positive=True)
    total = sp.Add(*graph.E)
    out = sp.together(expr).xreplace({total: big})
    out = sp.cancel(out.xreplace({e: sk * big for e, sk in zip(graph.E, s, strict=True)}))
    out = out.xreplace({sp.Add(*(sk * big for sk in s)): big, sp.Add(*s): 1})
    out = sp.cancel(out).replace(lambda e: isinstance(e, sp.log), lambda e: LOG_S)
    if out.has(*graph.E):  # pragma: no cover - every coefficient is homogeneous of degree 0
        raise RuntimeError(f"coefficient not in s_k: {expr}")
    return out


def _in_t(graph: _Graph, expr: sp.Expr) -> sp.Expr:
    """Gaps back to t: g_i = t_{i+1} − t_i, t_K = 0."""
    t = [*graph.t_names[:-1], sp.Integer(0)]
    back = {g: t[i + 1] - t[i] for i, g in enumerate(graph.gaps)}
    return sp.expand(expr.xreplace(back))


def _abs_bound(part: sp.Expr, roundings: Sequence[Rounding]) -> sp.Expr:
    """Σ_δ |coefficient of δ|·weight(δ); signs decided by SymPy (gaps ≥ 0, s_k > 0, L ≥ 0)."""
    terms = []
    for r in roundings:
        c = part.coeff(r.symbol)
        if c != 0:
            terms.append(sp.Abs(sp.factor(c)) * r.weight)
    return sp.Add(*terms)


def derive_bound(
    op: str,
    algorithm: str,
    *,
    size: int = 3,
    block: int = 1,
    splits: int = 2,
    storage: bool = True,
) -> BoundDerivation:
    """Derive the per-component bound of ``op`` (BOUND_OPS) for ``algorithm`` (BOUND_ALGORITHMS)
    on a sorted row of ``size`` entries; ``storage``: the output is rounded once more to a
    narrower storage format (u_s)."""
    if op not in BOUND_OPS:
        raise ValueError(f"unknown op {op!r}; choose one of {', '.join(BOUND_OPS)}")
    if algorithm not in BOUND_ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {algorithm!r}; choose one of {', '.join(BOUND_ALGORITHMS)}"
        )
    for name, value, top in (
        ("K", size, MAX_BOUND_K),
        ("block", block, 10**9),
        ("splits", splits, 10**9),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise ValueError(f"{name} must be an integer in 1..{top}, got {value!r}")
    graph = _Graph(size, algorithm == "exp2")
    numer, big_s = _numerators(graph, algorithm, block, splits)
    if op == "softmax":
        per, total, common = _softmax(graph, numer, big_s, storage)
    else:
        per, total, common = _log_op(graph, op, big_s, storage)
    for j in per:  # the split adds up: total = per-component + common, for every j
        if not _same(total[j], per[j] + common, [r.symbol for r in graph.roundings]):
            raise RuntimeError(f"the split of component {j} does not add up")  # pragma: no cover
    per = {j: _in_s_form(graph, e) for j, e in per.items()}
    common = _in_s_form(graph, common)
    per_bound = {j: sp.expand(_abs_bound(per[j], graph.roundings)) for j in per}
    common_bound = sp.expand(_abs_bound(common, graph.roundings))
    result = BoundDerivation(
        op=op,
        algorithm=algorithm,
        size=size,
        block=block,
        splits=splits,
        storage=storage,
        roundings=graph.roundings,
        steps=list(graph.steps),
        total={j: _present(graph, _in_s_form(graph, e)) for j, e in total.items()},
        per={j: _present(graph, e) for j, e in per.items()},
        common=_present(graph, common),
        per_bound={j: _present(graph, b) for j, b in per_bound.items()},
        common_bound=_present(graph, common_bound),
        common_stated=_present(graph, _stated(common, common_bound, graph.roundings, size)),
        telescoped={j: _in_t(graph, _argument_sum(graph, per[j])) for j in per},
    )
    result.facts = _facts(result)
    return result


def _stated(common: sp.Expr, bound: sp.Expr, roundings: Sequence[Rounding], size: int) -> sp.Expr:
    """The common bound with each addition's coefficient (a partial sum over the whole sum, in
    [0, 1]: checked) bounded by 1, so that the additions cost (n − 1)u ≤ γ_{n−1}."""
    stated = bound
    for r in roundings:
        c = common.coeff(r.symbol)
        if c == 0 or not r.symbol.name.startswith("sigma_"):
            continue
        magnitude = sp.Abs(sp.factor(c))
        if magnitude != 1 and not _at_most_one(
            magnitude, size
        ):  # pragma: no cover - a partial sum over the whole
            raise RuntimeError(f"coefficient {magnitude} of {r.symbol} is not in [0, 1]")
        stated = stated - magnitude * r.weight + r.weight
    return sp.expand(stated)


def _at_most_one(c: sp.Expr, size: int) -> bool:
    """c ≤ 1 for a partial sum of the s_k (Σ_k s_k = 1, s_k > 0): SymPy decides 1 − c ≥ 0
    written as Σ_k s_k − c."""
    whole = sp.Add(*(sp.Symbol(f"s_{k + 1}", positive=True) for k in range(size)))
    return bool(sp.expand(whole - c).is_nonnegative)


def _argument_sum(graph: _Graph, part: sp.Expr) -> sp.Expr:
    """Σ |coefficient| over the argument roundings of a per-component part (the telescoping sum
    of the rescales' argument errors: each coefficient is a non-positive gap sum)."""
    return sp.expand(
        sp.Add(
            *(
                sp.Abs(sp.factor(part.coeff(r.symbol)))
                for r in graph.roundings
                if r.kind == "argument"
            )
        )
    )


def _in_s_form(graph: _Graph, expr: sp.Expr) -> sp.Expr:
    """A linear form in the δ's, each coefficient written in s_k, L and the gaps."""
    symbols = [r.symbol for r in graph.roundings if expr.has(r.symbol)]
    rest = expr.subs({s: 0 for s in symbols})
    out = _in_s(graph, rest) if rest.has(*graph.E) else rest
    for symbol in symbols:
        out += _in_s(graph, expr.coeff(symbol)) * symbol
    return out


def _present(graph: _Graph, expr: sp.Expr) -> sp.Expr:
    """For printing: gaps written as t_k, z_k = m + t_k, ℓ = m + L; bounds collected in u, ε."""
    out = _in_t(graph, expr)
    z = {graph.m + t: sp.Symbol(f"z_{k + 1}") for k, t in enumerate(graph.t_names[:-1])}
    out = out.xreplace({**z, graph.m + LOG_S: sp.Symbol("ell")})
    return sp.collect(out, [U, EPS, U_S]) if out.has(U, EPS, U_S) else out


_Parts = tuple[dict[int, sp.Expr], dict[int, sp.Expr], sp.Expr]


def _softmax(graph: _Graph, numer: list[Node], big_s: Node, storage: bool) -> _Parts:
    """ŝ_j = ê_j/Ŝ·(1 + β_j)(1 + ρ_j); the relative error ŝ_j/s_j − 1 linearized (through
    log ŝ_j/s_j: the same first-order terms). Per-component: the chain of ê_j and of the division;
    common: −(Ŝ/S − 1)."""
    exact_sum = sp.Add(*graph.E)
    outputs, chains = [], []
    for j in range(graph.size):
        chain = 1 + graph.new(f"beta_{j + 1}", "operation", f"division of component {j + 1}")
        if storage:
            chain *= 1 + graph.new(f"rho_{j + 1}", "storage", f"storage of component {j + 1}")
        chains.append(chain)
        node = (numer[j][0] / big_s[0] * chain, numer[j][1] / big_s[1] * chain)
        outputs.append(graph.define(f"ŝ_{j + 1}", node)[0])
    symbols = [r.symbol for r in graph.roundings]
    total = {
        j + 1: (_linear(sp.log(outputs[j] * exact_sum / graph.E[j]), symbols))
        for j in range(graph.size)
    }
    per = {
        j + 1: (_linear(sp.log(numer[j][0] / graph.E[j] * chains[j]), symbols))
        for j in range(graph.size)
    }
    common = -_linear(sp.log(big_s[0] / exact_sum), symbols)
    return per, total, common


def _log_op(graph: _Graph, op: str, big_s: Node, storage: bool) -> _Parts:
    """log_softmax ŷ_j = fl(fl(z_j − m) − L̂), logsumexp ℓ̂ = fl(m + L̂), L̂ = log(Ŝ)(1 + λ): the
    absolute error linearized. Common: −D with D = L̂ − L (L = log S); per-component: the rest."""
    exact_l = sp.log(sp.Add(*graph.E))
    lam = 1 + graph.new("lambda", "exp", "log of Ŝ")
    l_hat, l_shown = graph.define("L̂", (sp.log(big_s[0]) * lam, sp.log(big_s[1]) * lam))
    outputs, exact = [], []
    if op == "logsumexp":
        chain = 1 + graph.new("phi", "operation", "addition m + L̂")
        if storage:
            chain *= 1 + graph.new("rho", "storage", "storage of ℓ")
        node = ((graph.m + l_hat) * chain, (graph.m + l_shown) * chain)
        outputs.append(graph.define("ℓ̂", node)[0])
        exact.append(graph.m + exact_l)
    else:
        for j in range(graph.size):
            argument = sp.Integer(1)
            if j != graph.size - 1:  # fl(z_j − m); exact for the maximum
                alpha = graph.new(f"alpha_out{j + 1}", "argument", f"fl(z_{j + 1} − m), output")
                argument += alpha
            chain = 1 + graph.new(f"phi_{j + 1}", "operation", f"subtraction of {j + 1}")
            if storage:
                chain *= 1 + graph.new(f"rho_{j + 1}", "storage", f"storage of {j + 1}")
            value = (graph.t[j] * argument - l_hat) * chain
            shown = (graph.t_names[j] * argument - l_shown) * chain
            outputs.append(graph.define(f"ŷ_{j + 1}", (value, shown))[0])
            exact.append(graph.t[j] - exact_l)
    symbols = [r.symbol for r in graph.roundings]
    total = {j + 1: (_linear(outputs[j] - exact[j], symbols)) for j in range(len(outputs))}
    sign = 1 if op == "logsumexp" else -1  # ℓ̂ − ℓ = D + …, ŷ_j − y_j = −D + …
    common = _linear(sign * (l_hat - exact_l), symbols)
    per = {j: _linear(value - common, symbols) for j, value in total.items()}
    return per, total, common


def _facts(d: BoundDerivation) -> list[str]:
    """Exactness and telescoping facts, each read off (and so checked on) the derived parts."""
    facts = []
    top = d.size
    kinds = {r.symbol: r.kind for r in d.roundings}
    if d.op != "logsumexp":
        moving = [s for s in d.per[top].free_symbols if kinds.get(s) in ("argument", "exp")]
        if not moving:
            facts.append(
                f"t_{top} = 0 (the maximum): the per-component part of component {top} has no "
                "argument or exp term (fl(m − m) = 0 and e⁰ = 1 exactly)."
            )
    if d.op != "logsumexp" and d.algorithm != "exp2":
        for j, value in d.telescoped.items():
            if j < top and sp.expand(value + sp.Symbol(f"t_{j}", nonpositive=True)) == 0:
                facts.append(
                    f"Component {j}: its argument roundings' |coefficients| add up to |t_{j}| "
                    f"(Σ |c| = {sp.sstr(value)})"
                    + (
                        ", the rescales' argument errors telescope"
                        if d.algorithm in ("one-pass", "split") and d.op == "softmax"
                        else ""
                    )
                    + "."
                )
    return facts


_TITLES = {
    "softmax": "relative error ŝ_j/s_j − 1 of softmax",
    "log_softmax": "absolute error ŷ_j − y_j of log_softmax",
    "logsumexp": "absolute error ℓ̂ − ℓ of logsumexp",
}


def _title(d: BoundDerivation) -> str:
    name = d.algorithm
    if d.algorithm == "one-pass":
        name += f" (block {d.block})"
    if d.algorithm == "split":
        name += f" ({d.splits} splits)"
    store = "storage rounding u_s" if d.storage else "output in the state format"
    return f"Per-component bound: {_TITLES[d.op]}, {name}, K = {d.size}, {store}"


def _accuracy(expr: sp.Expr) -> list[tuple[str, sp.Expr]]:
    """The bound with ε = 2u (faithful exp/log) and ε = u (correctly rounded)."""
    return [
        ("faithful, ε = 2u", sp.expand(expr.subs(EPS, 2 * U))),
        ("correctly rounded, ε = u", sp.expand(expr.subs(EPS, U))),
    ]


def _sections(d: BoundDerivation) -> list[tuple[str, str, list[tuple[str, sp.Expr]]]]:
    """(heading, prose, [(label, expression)]) of the derivation, in order; every renderer
    prints these."""
    graph_prose = (
        "Every rounding is (1 + δ), |δ| ≤ u (state format), exp and log (1 + ε); the row is "
        "sorted, t_1 ≤ … ≤ t_K = 0, t_k = z_k − m, E_k = e^{t_k}, S = Σ E_k, s_k = E_k/S. "
        "Roundings: "
        + "; ".join(f"{r.symbol.name}: {r.what} ({sp.sstr(r.weight)})" for r in d.roundings)
        + "."
    )
    relative = "relative" if d.op == "softmax" else "absolute"
    sections = [
        ("Computation graph", graph_prose, list(d.steps)),
        (
            "Linearized",
            f"First-order Taylor expansion of the {relative} error in every δ "
            "(∂/∂δ at δ = 0, coefficients exact):",
            [(f"error_{j}", e) for j, e in d.total.items()],
        ),
        (
            "Split",
            "Per-component part (the chain of component j alone) and common part (the sum's, "
            "the same for every j); error_j = per_j + common exactly.",
            [*((f"per_{j}", e) for j, e in d.per.items()), ("common", d.common)],
        ),
        (
            "Bound",
            "Σ |coefficient|·(u, ε or u_s); higher orders are absorbed by γ_n = nu/(1 − nu). "
            "In the common part each addition's coefficient is a partial sum over the whole, "
            "in [0, 1], so the n − 1 additions cost at most (n − 1)u ≤ γ_{n−1}.",
            [
                *((f"|per_{j}| ≤", e) for j, e in d.per_bound.items()),
                ("|common| ≤", d.common_bound),
                ("|common| ≤ (partial sums ≤ 1)", d.common_stated),
            ],
        ),
    ]
    top = max(d.per_bound)
    first = min(d.per_bound)
    accuracy = [(f"|per_{first}| ≤ ({label})", e) for label, e in _accuracy(d.per_bound[first])]
    if top != first:
        accuracy += [
            (f"|per_{top}| ≤ ({label})", e) for label, e in _accuracy(d.per_bound[top])[:1]
        ]
    sections.append(("At the assumed exp accuracy", "", accuracy))
    if d.facts:
        sections.append(("Exactness and telescoping", "\n".join(f"- {f}" for f in d.facts), []))
    return sections


def _text(d: BoundDerivation) -> str:
    lines = [f"# {_title(d)}"]
    for heading, prose, items in _sections(d):
        lines += ["", f"## {heading}"]
        if prose:
            lines.append(prose)
        lines += [
            f"{label} = {sp.sstr(e)}"
            if not label.endswith("≤") and "≤ (" not in label
            else f"{label} {sp.sstr(e)}"
            for label, e in items
        ]
    return "\n".join(lines) + "\n"


def _latex_label(label: str) -> str:
    """A label as LaTeX text: ŝ_2 → \\hat{s}_{2}, |per_1| ≤ → |\\mathrm{per}_{1}| \\leq."""
    out = label
    for hat, plain in (("ŝ", "s"), ("ê", "e"), ("Ŝ", "S"), ("ŷ", "y"), ("ℓ̂", r"\ell"), ("L̂", "L")):
        out = out.replace(hat, rf"\hat{{{plain}}}")
    for name in ("per", "error", "common"):
        out = out.replace(name, rf"\mathrm{{{name}}}")
    out = out.replace("≤", r"\leq")
    for word in ("faithful", "correctly rounded", "partial sums"):
        out = out.replace(word, rf"\text{{{word}}}")
    return out.replace("ε", r"\varepsilon ").replace("_", "_").replace("=", "=")


def _latex_line(label: str, e: sp.Expr) -> str:
    relation = "" if "≤" in label else " ="
    return f"{_latex_label(label)}{relation} {sp.latex(e)}"


def _latex(d: BoundDerivation) -> str:
    lines = [f"% {_title(d)}"]
    for heading, _, items in _sections(d):
        lines.append(f"% {heading}")
        lines += [_latex_line(label, e) for label, e in items]
    return "\n".join(lines) + "\n"


def markdown_bound(d: BoundDerivation, level: int = 2) -> str:
    """The derivation as Markdown with headings at ``level`` (the document uses 2 and 3)."""
    parts = [f"{'#' * level} {_title(d)}", ""]
    for heading, prose, items in _sections(d):
        parts += [f"{'#' * (level + 1)} {heading}", ""]
        if prose:
            parts += [prose, ""]
        for label, e in items:
            parts += ["$$", _latex_line(label, e), "$$", ""]
    return "\n".join(parts)


_RENDER = {"text": _text, "latex": _latex, "markdown": markdown_bound}


def render_bound(d: BoundDerivation, style: str) -> str:
    """The derivation printed as ``style`` (BOUND_STYLES); ends with a newline."""
    if style not in BOUND_STYLES:
        raise ValueError(
            f"unknown style {style!r} for a bound; choose one of {', '.join(BOUND_STYLES)}"
        )
    return _RENDER[style](d)
