"""The online-normalizer recurrences of softmax as SymPy expressions: one source for the proofs
(`symbolic.any_k.online_proofs`), the printed formulas (`symsoftmax derive online_step|merge|
attention_step`, derivations/online_softmax.md) and the generated NumPy code (`symsoftmax.numeric`).

A prefix z_1..z_n of a row is summarised by the state (m, d): m = max_{j≤n} z_j and
d = Σ_{j≤n} e^{z_j − m}, starting from the empty state (m, d) = (−∞, 0). A block z_1..z_B with
maximum M_b updates it by `ONLINE_STEP`; two states of disjoint parts combine by `MERGE`; the
softmax, log_softmax and logsumexp of the row follow from the final state by `FINALIZE`. Attention
also carries the unnormalised output o = Σ_j e^{z_j − m} v_j (`ATTENTION_STEP`, `ATTENTION_MERGE`,
`ATTENTION_FINALIZE`); split-KV kernels that keep normalised partial outputs with their logsumexp
merge them by `LOG_MERGE`. Kernels that scale by 1/T and evaluate 2^x instead of e^x use the
``*_EXP2`` forms, where c = log₂(e)/T is folded into the exponent.

log_softmax and logsumexp carry r = d − 1 instead of d (`ONLINE_STEP_LOG1P`, `FINALIZE_LOG1P`):
the sum without one maximal term, so that they finalize with log1p(r) and keep the digits of a
tiny log d = log(1 + r) that 1 + r would round away (Blanchard, Higham & Higham, "Accurately
computing the log-sum-exp and softmax functions", IMA J. Numer. Anal. 41 (2021): the shifted
algorithm with log1p).

In every update the new maximum appears as the symbol ``m_new`` (``lse_new`` in `LOG_MERGE`),
standing for that dict's "m" ("lse") entry, so printed code names it once and reuses it;
`resolved` substitutes it when a closed expression is wanted.

Sources: M. Milakov and N. Gimelshein, "Online normalizer calculation for softmax",
arXiv:1805.02867 (2018), Algorithm 3 (the (m, d) recurrence) and §3.1 (its merge ⊕);
T. Dao et al., "FlashAttention" (NeurIPS 2022), Algorithm 1 (the output accumulator, rescaled by
e^{m_old − m_new}); T. Dao, "FlashAttention-2" (2023), §3.1 (o kept unnormalised until the end,
logsumexp saved for the backward pass, exp2 with log₂e folded into the scale); J. Shah et al.,
"FlashAttention-3" (2024), §3 (the same updates, split across warp groups). The proofs of these
updates are in derivations/online_softmax.md and docs/symbolic.md.
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import exp2, log1p

from symsoftmax.symbolic.expressions import indexed_forms

__all__ = [
    "ATTENTION_FINALIZE",
    "ATTENTION_MERGE",
    "ATTENTION_STEP",
    "ATTENTION_STEP_EXP2",
    "FINALIZE",
    "FINALIZE_EXP2",
    "FINALIZE_LOG1P",
    "LOG_MERGE",
    "MERGE",
    "NEW",
    "ONLINE_STEP",
    "ONLINE_STEP_EXP2",
    "ONLINE_STEP_LOG1P",
    "SINK_FINALIZE",
    "SINK_MERGE",
    "SINK_START",
    "B",
    "M_b",
    "T",
    "c",
    "d",
    "d_a",
    "d_b",
    "d_new",
    "exp2",
    "k",
    "kappa",
    "lse_a",
    "lse_b",
    "lse_new",
    "m",
    "m_a",
    "m_b",
    "m_new",
    "o",
    "o_a",
    "o_b",
    "o_new",
    "p_new",
    "r",
    "r_new",
    "resolved",
    "s",
    "v",
    "z",
]

_FORMS = indexed_forms()  # the same z, k as the definitions (expressions.IndexedForms)

z: sp.IndexedBase = _FORMS.z  # the logits of the block, z[k] for k = 1..B
k: sp.Symbol = _FORMS.k  # index within the block
B = sp.Symbol("B", integer=True, positive=True)  # block length (the last block may be shorter)
v = sp.IndexedBase("v", real=True)  # one component of the value rows, v[k]

m = sp.Symbol("m", extended_real=True)  # running maximum; −∞ for the empty state
d = sp.Symbol("d", positive=True)  # running denominator Σ e^{z_j − m}; 0 only for the empty state
o = sp.Symbol("o", real=True)  # running unnormalised output Σ e^{z_j − m} v_j (one component)
M_b = sp.Symbol("M_b", real=True)  # the block's maximum, max_{k=1..B} z[k] (finite)
m_new = sp.Symbol("m_new", real=True)  # the updated maximum (finite once one entry is seen)
d_new = sp.Symbol("d_new", positive=True)
o_new = sp.Symbol("o_new", real=True)

m_a, m_b = sp.symbols("m_a m_b", extended_real=True)  # states of two disjoint parts a, b
d_a, d_b = sp.symbols("d_a d_b", positive=True)
o_a, o_b = sp.symbols("o_a o_b", real=True)
lse_a, lse_b = sp.symbols("lse_a lse_b", extended_real=True)  # logsumexp of parts a, b
lse_new = sp.Symbol("lse_new", real=True)

r = sp.Symbol("r", nonnegative=True)  # r = d − 1: Σ e^{z_j − m} without one maximal term
r_new = sp.Symbol("r_new", nonnegative=True)
p_new = sp.Symbol("p_new", nonnegative=True)  # 1 if the block holds the new maximum, else 0
kappa = sp.Symbol("kappa", integer=True, positive=True)  # the block's first maximum: z_κ = M_b

T = sp.Symbol("T", positive=True)  # temperature: softmax(z/T)
c = sp.Symbol("c", positive=True)  # c = log₂(e)/T, folded into the exponent of 2 (`SCALE`)

s = sp.Symbol("s", extended_real=True)  # the sink's logit; −∞: no sink (plain softmax)

NEW = {"m": m_new, "d": d_new, "o": o_new, "lse": lse_new, "r": r_new, "p": p_new}
"""The symbol that names each updated quantity inside the other updates."""

SCALE: dict[str, sp.Expr] = {"c": 1 / (T * sp.log(2))}
"""c = log₂(e)/T = 1/(T ln 2): e^{x/T} = 2^{x·c}. Source: FlashAttention-2, §3.1."""

ONLINE_STEP: dict[str, sp.Expr] = {
    "m": sp.Max(m, M_b),
    "d": d * sp.exp(m - m_new) + sp.Sum(sp.exp(z[k] - m_new), (k, 1, B)),
}
"""One block z_1..z_B with maximum M_b:
m_new = max(m, M_b),  d_new = d·e^{m − m_new} + Σ_{k=1}^{B} e^{z_k − m_new}.
Milakov & Gimelshein (2018), Algorithm 3 (there B = 1); FlashAttention-2, Algorithm 1."""

MERGE: dict[str, sp.Expr] = {
    "m": sp.Max(m_a, m_b),
    "d": d_a * sp.exp(m_a - m_new) + d_b * sp.exp(m_b - m_new),
}
"""(m_a, d_a) ⊕ (m_b, d_b) = (m_new, d_a·e^{m_a − m_new} + d_b·e^{m_b − m_new}),
m_new = max(m_a, m_b). Milakov & Gimelshein (2018), §3.1, eq. (4)."""

ATTENTION_STEP: dict[str, sp.Expr] = {
    **ONLINE_STEP,
    "o": o * sp.exp(m - m_new) + sp.Sum(sp.exp(z[k] - m_new) * v[k], (k, 1, B)),
}
"""The online step plus the output accumulator
o_new = o·e^{m − m_new} + Σ_{k=1}^{B} e^{z_k − m_new}·v_k  (one component of the output).
Dao et al., FlashAttention (2022), Algorithm 1; FlashAttention-2 (2023), Algorithm 1."""

ATTENTION_MERGE: dict[str, sp.Expr] = {
    **MERGE,
    "o": o_a * sp.exp(m_a - m_new) + o_b * sp.exp(m_b - m_new),
}
"""Two unnormalised partial outputs: o_new = o_a·e^{m_a − m_new} + o_b·e^{m_b − m_new}."""

ATTENTION_FINALIZE: dict[str, sp.Expr] = {"o": o / d}
"""The attention output from the final state: O = o/d = Σ_j σ_j v_j."""

LOG_MERGE: dict[str, sp.Expr] = {
    "m": sp.Max(lse_a, lse_b),
    "lse": m_new + sp.log(sp.exp(lse_a - m_new) + sp.exp(lse_b - m_new)),
    "o": o_a * sp.exp(lse_a - lse_new) + o_b * sp.exp(lse_b - lse_new),
}
"""Split-KV merge of normalised partial outputs o_a, o_b with their logsumexps:
lse_new = logaddexp(lse_a, lse_b) = m + log(e^{lse_a − m} + e^{lse_b − m}), m = max(lse_a, lse_b);
o_new = o_a·e^{lse_a − lse_new} + o_b·e^{lse_b − lse_new}. FlashAttention-2, §3.1 (the saved
logsumexp); the split-KV ("Flash-Decoding") reduction combines partial results this way."""

FINALIZE: dict[str, sp.Expr] = {
    "softmax": sp.exp(z[k] - m) / d,
    "log_softmax": z[k] - m - sp.log(d),
    "logsumexp": m + sp.log(d),
}
"""From the final state (m, d) of a whole row: σ_k = e^{z_k − m}/d, log σ_k = z_k − m − log d,
logsumexp = m + log d. Milakov & Gimelshein (2018), Algorithm 3, last line."""

ONLINE_STEP_LOG1P: dict[str, sp.Expr] = {
    "m": sp.Max(m, M_b),
    "p": sp.Piecewise((1, M_b > m), (0, True)),
    "r": (r + p_new) * sp.exp(m - m_new)
    + sp.Sum(sp.exp(z[k] - m_new) - p_new * sp.KroneckerDelta(k, kappa), (k, 1, B)),
}
"""`ONLINE_STEP` for r = d − 1, the sum without one maximal term (empty state (−∞, 0)):
p_new = [M_b > m],
r_new = (r + p_new)·e^{m − m_new} + Σ_{k=1}^{B} (e^{z_k − m_new} − p_new·δ_{kκ}),
κ the block's first maximum. The term left out is the old maximum's 1 while it stays the
maximum (p_new = 0), else the block's first maximum, whose term e^{M_b − m_new} is
e^0 = 1 exactly: the code subtracts p_new there before summing, so no 1 is ever added to r and
subtracted again. Equal to d_new − 1; Blanchard, Higham & Higham (2021),
the shifted algorithm with log1p, made online."""

FINALIZE_LOG1P: dict[str, sp.Expr] = {
    "log_softmax": z[k] - m - log1p(r),
    "logsumexp": m + log1p(r),
}
"""From the final state (m, r), r = d − 1: log σ_k = z_k − m − log1p(r), logsumexp = m + log1p(r)
(Blanchard, Higham & Higham 2021: logsumexp = max + log1p(Σ over the other terms))."""

ONLINE_STEP_EXP2: dict[str, sp.Expr] = {
    "m": sp.Max(m, M_b),
    "d": d * exp2((m - m_new) * c) + sp.Sum(exp2((z[k] - m_new) * c), (k, 1, B)),
}
"""`ONLINE_STEP` at temperature T in base 2: d_new = d·2^{(m − m_new)c} + Σ_k 2^{(z_k − m_new)c},
c = log₂(e)/T (`SCALE`); m stays in units of z (the maximum of z/T is m/T because T > 0).
FlashAttention-2, §3.1 (exp2 with the softmax scale times log₂e)."""

ATTENTION_STEP_EXP2: dict[str, sp.Expr] = {
    **ONLINE_STEP_EXP2,
    "o": o * exp2((m - m_new) * c) + sp.Sum(exp2((z[k] - m_new) * c) * v[k], (k, 1, B)),
}
"""`ATTENTION_STEP` at temperature T in base 2 (c = log₂(e)/T)."""

FINALIZE_EXP2: dict[str, sp.Expr] = {
    "softmax": exp2((z[k] - m) * c) / d,
    "log_softmax": (z[k] - m) / T - sp.log(d),
    "logsumexp": m / T + sp.log(d),
}
"""`FINALIZE` for the base-2 state: softmax(z/T)_k = 2^{(z_k − m)c}/d,
log_softmax(z/T)_k = (z_k − m)/T − log d, logsumexp(z/T) = m/T + log d."""


SINK_START: dict[str, sp.Expr] = {"m": s, "d": sp.S.One}
"""With a sink s the row starts from the state (m, d) = (s, 1) instead of (−∞, 0): the sink is
one more term e^{s} of the denominator, counted once, before any block (then `ONLINE_STEP` as
it is). For s = −∞ this is the empty sum again (1·e^{−∞} = 0)."""

SINK_FINALIZE: dict[str, sp.Expr] = {**FINALIZE, "p_sink": sp.exp(s - m) / d}
"""`FINALIZE` from a state started at `SINK_START`, plus the sink's own share
p_sink = e^{s − m}/d (the outputs sum to 1 − p_sink)."""

SINK_MERGE: dict[str, sp.Expr] = {
    "m": sp.Max(s, m_a, m_b),
    "d": sp.exp(s - m_new) + d_a * sp.exp(m_a - m_new) + d_b * sp.exp(m_b - m_new),
}
"""Split-KV with a sink: the partial states of the ranges, each from (−∞, 0), and the sink's
(s, 1) merged once: (s, 1) ⊕ (m_a, d_a) ⊕ (m_b, d_b), m_new = max(s, m_a, m_b)."""


def resolved(update: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
    """``update`` with every ``NEW`` symbol replaced by its own entry (m_new → the max, …):
    each value becomes a closed expression in the old state and the block."""
    names = {NEW[key]: value for key, value in update.items() if key in NEW}
    result = dict(update)
    for _ in range(len(names)):  # an entry may name another that names a third (LOG_MERGE)
        result = {key: value.xreplace(names) for key, value in result.items()}
        names = {NEW[key]: value for key, value in result.items() if key in NEW}
    return result
