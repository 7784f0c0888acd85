"""Error bounds that a correct implementation meets, per op, output and format.

Every bound is an upper bound on the normwise absolute error ‖x̂ − x‖∞ of one output array, written
``factor·u·scale`` with u = 2^−p the unit roundoff of the format. It is first order in u, for the
recommended *shifted* algorithms run in the format's own precision with recursive summation
(Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and softmax functions",
IMA J. Numer. Anal. 41(4), 2021 — "BHH" below), plus u for the final rounding to the format.

Notation for a row z of n entries (finite entries only for max/min), temperature T (1 if none):
t_j = (z_j − max z)/T, Δ = (max z − min z)/T, L = log Σ e^{t_j} (so y = lse = max z + T·L),
s = softmax, l = log_softmax; c = 1 without a temperature and 2 with one (the division by T rounds
once more, doubling the error of each t_j).

* softmax (BHH Thm. for the shifted algorithm): ‖ŝ − s‖∞ ≤ [N + 2 + A + 1]·u·‖s‖∞, with the
  published exp-argument term A = 2Δ, replaced by c·(1/e + min(Δ, ln n)) when smaller: the error
  c·u|t_j| of an argument perturbs s_j by s_j·c·u|t_j| and s_j|t_j| ≤ ‖s‖∞/e, and in the
  denominator the perturbations average to c·u·Σ s_j|t_j| ≤ c·u·min(Δ, H(s)) ≤ c·u·min(Δ, ln n).
  (Without it, a tiny temperature makes Δ infinite and the bound vacuous.)
* log_softmax (derived the same way for l_j = t_j − log Σ e^{t_k}): the sum has relative error
  (N + c·min(Δ, ln n))u, its log adds u·L, the argument c·u|t_j| ≤ c·u‖l‖∞, the subtraction and
  the final rounding 2u‖l‖∞: ‖l̂ − l‖∞ ≤ [N + L + c·min(Δ, ln n) + (c + 2)‖l‖∞]·u.
* logsumexp: the larger of BHH's |ŷ − y| ≤ (|y| + (y − min z) + n)u (the form that held in their
  float16 simulation), plus u|y| for the final rounding, and the derived
  [2|y| + T(N + c·min(Δ, ln n) + 2L)]u.
* The derivative outputs use τ̄ = N + 2 + c(1 + 2 min(Δ, ln n)), which bounds the
  s-weighted relative error of ŝ (Σ_j s_j τ_j ≤ τ̄ and s_j τ_j ≤ ‖s‖∞ τ̄):
  softmax_vjp dz = s ⊙ (g − ⟨g, s⟩): ‖·‖∞ ≤ (N + 3τ̄ + 6)·u·‖s‖∞‖g‖∞ (dot product (N + τ̄)u‖g‖∞,
  subtraction and product, final rounding; scaled by ‖s‖∞‖g‖∞ because dz itself may cancel to 0);
  log_softmax_vjp dz = g − s·Σg, with s possibly taken as exp of the rounded log_softmax output
  (as PyTorch's backward does, relative error τ_l = τ̄ + 2‖l‖∞): ≤ [(N + τ_l + 2)‖s‖∞‖g‖₁ + 2‖g‖∞]u;
  jacobian J = diag(s) − ssᵀ: ≤ (3τ̄ + 3)·u·‖s‖∞;
  cross_entropy loss −Σ y_j l_j: ≤ [‖y‖₁·β_l + (N + 2)Σ|y_j l_j|]u with β_l the log_softmax factor
  above; its gradient Σy·s − y: ≤ [τ̄‖s‖∞‖y‖₁ + 2‖Σy·s − y‖∞]u.

Worst case versus probabilistic: the n terms come from recursive summation, whose worst case
γ_n ≈ nu is pessimistic and vacuous once nu nears 1 (n ≈ 2048 in float16, 256 in bfloat16),
exactly where a low-precision accumulator stalls (a float16 sum of ones stops at 2048). There
we use N = λ√n instead of N = n, Higham & Mary's probabilistic bound ("A new approach to
probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019: γ̃_n(λ) ≈ λ√n·u), with
λ = 1, their rule of thumb; whenever nu ≥ 1/2. The report says which form each test used.

Every bound also allows one subnormal quantum (2^(emin−p+1)) absolutely: results in the
subnormal range carry an absolute, not relative, rounding error; with the flush-to-zero
allowance the floor is 2^emin instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.ops import OPERATIONS

__all__ = [
    "LAMBDA",
    "PROBABILISTIC_FROM",
    "Bound",
    "RowFacts",
    "output_bounds",
    "sum_to_one_bound",
    "summation_terms",
]

LAMBDA = 1.0  # λ of the probabilistic bound
PROBABILISTIC_FROM = 0.5  # switch to λ√n once n·u reaches this

FloatArray = npt.NDArray[np.float64]
WORST_CASE = "worst-case"
PROBABILISTIC = "probabilistic"


@dataclass(frozen=True)
class Bound:
    """An error bound ``factor·u·scale`` (+ ``floor``) on ‖x̂ − x‖∞ of one output array."""

    key: str
    form: str  # "worst-case" (N = n) or "probabilistic" (N = λ√n)
    factor: float
    scale: float
    u: float
    floor: float
    formula: str

    @property
    def absolute(self) -> float:
        """The bound on the normwise absolute error."""
        if self.factor == 0 or self.scale == 0:
            return self.floor
        return self.factor * self.u * self.scale + self.floor

    def relative_to(self, norm: float) -> float:
        """The bound divided by ‖x‖∞ (inf when the exact output is zero)."""
        return self.absolute / norm if norm > 0 else math.inf

    def in_units_of_u(self, norm: float) -> float:
        """The relative bound in units of u, as the report prints it."""
        return self.relative_to(norm) / self.u


def summation_terms(n: int, fmt: Format) -> tuple[float, str]:
    """(N, form): N = n while n·u < 1/2, else λ√n (probabilistic)."""
    if n * fmt.unit_roundoff < PROBABILISTIC_FROM:
        return float(n), WORST_CASE
    return LAMBDA * math.sqrt(n), PROBABILISTIC


@dataclass(frozen=True)
class RowFacts:
    """The quantities the bounds depend on, computed in float64 from one input row."""

    n: int
    spread: float  # Δ = (max − min)/T over the finite entries
    lse_shifted: float  # L = log Σ e^{t_j} ≥ 0
    lse: float  # y = max + T·L
    z_min: float
    s: FloatArray  # softmax, float64
    t: FloatArray  # shifted, scaled inputs (z − max)/T; −inf where z is not finite
    temperature: float
    scaled: bool  # a temperature was given

    @classmethod
    def of(cls, z: FloatArray, temperature: float | None = None) -> RowFacts:
        """Facts of row ``z``; a row with +inf entries is taken as its limit (0 at the +inf
        entries, −inf elsewhere), whose outputs the reference gives it (docs/reference.md)."""
        if (z == np.inf).any():
            z = np.where(z == np.inf, 0.0, -np.inf)
        t_value = 1.0 if temperature is None else float(temperature)
        finite = np.isfinite(z)
        n = int(z.size)
        if not finite.any():
            zeros, ninf = np.zeros(n), np.full(n, -np.inf)
            return cls(
                n, 0.0, 0.0, -math.inf, -math.inf, zeros, ninf, t_value, temperature is not None
            )
        zf = z[finite]
        top, bottom = float(zf.max()), float(zf.min())
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            spread = (top - bottom) / t_value
            t = np.where(finite, (z - top) / t_value, -np.inf)
            if t_value > 1 and math.isinf(spread):
                # z − top overflows (e.g. [max, −max]) where (z − top)/T is finite: divide first
                spread = top / t_value - bottom / t_value
                t = np.where(finite & np.isneginf(t), z / t_value - top / t_value, t)
            e = np.exp(t)
            total = float(e.sum())
            s = e / total
        big_l = math.log(total)
        return cls(
            n,
            float(spread),
            big_l,
            top + t_value * big_l,
            bottom,
            np.nan_to_num(s, nan=0.0),
            t,
            t_value,
            temperature is not None,
        )


def _arg_terms(facts: RowFacts) -> tuple[float, float]:
    """(c, min(Δ, ln n)): the exp-argument error multiplier and its averaged size."""
    c = 2.0 if facts.scaled else 1.0
    return c, min(facts.spread, math.log(max(facts.n, 1)))


def output_bounds(
    op: str,
    inputs: Mapping[str, FloatArray],
    exact: Mapping[str, FloatArray],
    fmt: Format,
    *,
    ftz: bool = False,
) -> dict[str, Bound]:
    """The bound of every output of ``op`` for one test (``exact``: float64 exact values).

    The formula is the op's bound family in the operation table (:mod:`symsoftmax.ops`).
    """
    entry = OPERATIONS.get(op)
    family = entry.bound if entry is not None else None
    z = np.asarray(inputs["z"], dtype=np.float64)
    temperature = inputs.get("temperature")
    facts = RowFacts.of(z, None if temperature is None else float(np.asarray(temperature)))
    big_n, form = summation_terms(facts.n, fmt)
    c, avg = _arg_terms(facts)
    u = fmt.unit_roundoff
    floor = fmt.tiny if ftz else fmt.smallest_subnormal
    s_norm = float(np.max(np.abs(facts.s))) if facts.s.size else 0.0
    tau = big_n + 2 + c * (1 + 2 * avg)
    l_norm = _log_norm(facts)
    beta_l = big_n + facts.lse_shifted + c * avg + (c + 2) * l_norm

    def make(key: str, factor: float, scale: float, formula: str) -> Bound:
        return Bound(key, form, factor, scale, u, floor, formula)

    if family == "softmax":
        arg = c * min(2 * facts.spread, 1 / math.e + avg)
        return {"output": make("output", big_n + 3 + arg, s_norm, "(N + 3 + A)·u·‖s‖∞")}
    if family == "log_softmax":
        return {"output": make("output", beta_l, 1.0, "(N + L + c·min(Δ, ln n) + (c+2)‖l‖∞)·u")}
    if family == "logsumexp":
        y = abs(facts.lse) if math.isfinite(facts.lse) else 0.0
        published = y + (facts.lse - facts.z_min if math.isfinite(facts.lse) else 0.0) + big_n + y
        derived = 2 * y + facts.temperature * (big_n + c * avg + 2 * facts.lse_shifted)
        return {"output": make("output", max(published, derived), 1.0, "max(BHH + |y|, derived)·u")}
    if family == "jacobian":
        return {"output": make("output", 3 * tau + 3, s_norm, "(3τ̄ + 3)·u·‖s‖∞")}
    if family == "softmax_vjp":
        g = np.abs(np.asarray(inputs["g"], dtype=np.float64))
        g_inf = float(np.max(g)) if g.size else 0.0
        return {"dz": make("dz", big_n + 3 * tau + 6, s_norm * g_inf, "(N + 3τ̄ + 6)·u·‖s‖∞‖g‖∞")}
    if family == "log_softmax_vjp":
        g = np.abs(np.asarray(inputs["g"], dtype=np.float64))
        g_one, g_inf = float(g.sum()), float(np.max(g)) if g.size else 0.0
        tau_l = tau + 2 * l_norm
        absolute = (big_n + tau_l + 2) * s_norm * g_one + 2 * g_inf
        return {"dz": make("dz", absolute, 1.0, "((N + τ_l + 2)‖s‖∞‖g‖₁ + 2‖g‖∞)·u")}
    if family == "cross_entropy":
        y_in = np.asarray(inputs["y"], dtype=np.float64)
        y_one = float(np.abs(y_in).sum())
        logs = _log_softmax(facts)
        with np.errstate(invalid="ignore"):
            weighted = float(np.nansum(np.abs(y_in * logs)))
        loss = beta_l * y_one + (big_n + 2) * weighted
        grad_exact = np.asarray(exact.get("grad", np.zeros(1)), dtype=np.float64)
        finite = grad_exact[np.isfinite(grad_exact)]
        grad_norm = float(np.max(np.abs(finite))) if finite.size else 0.0
        grad = tau * s_norm * y_one + 2 * grad_norm
        return {
            "loss": make("loss", loss, 1.0, "(‖y‖₁β_l + (N + 2)Σ|y_j l_j|)·u"),
            "grad": make("grad", grad, 1.0, "(τ̄‖s‖∞‖y‖₁ + 2‖Σy·s − y‖∞)·u"),
        }
    raise ValueError(f"no bound for op {op!r} (bound family {family!r})")


def _log_softmax(facts: RowFacts) -> FloatArray:
    """l = t − L (−inf where z is −inf; float64, no underflow through s)."""
    return facts.t - facts.lse_shifted


def _log_norm(facts: RowFacts) -> float:
    """‖l‖∞ over the finite log_softmax values (= Δ + L when the row has two or more entries)."""
    logs = _log_softmax(facts)
    finite = logs[np.isfinite(logs)]
    return float(np.max(np.abs(finite))) if finite.size else 0.0


def gamma(k: npt.ArrayLike, u: float) -> npt.NDArray[np.float64]:
    """γ_k = k·u/(1 − k·u) (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1), the
    bound on the relative error of k roundings; inf where k·u ≥ 1 (the bound is then vacuous)."""
    ku = np.asarray(k, dtype=np.float64) * u
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ku < 1, ku / (1 - ku), np.inf)


def sum_to_one_bound(n: int, fmt: Format, state: Format | None = None) -> tuple[float, str]:
    """Bound on |Σ ŝ_j − 1| and its form.

    (u_a + γ_{n−1})/(1 − γ_{n−1}) (BHH, independent of exp's accuracy: the exponentials' errors
    are shared by numerator and denominator), with the sum and the division in the ``state``
    format (u_a; default ``fmt``), + u for an implementation that multiplies by a reciprocal
    rounded to ``fmt``, + u for the final rounding to ``fmt``; γ_k = k u_a/(1 − k u_a), with
    k → λ√k where n·u_a ≥ 1/2 (λ = 1: correct float16/bfloat16-accumulating kernels measured
    at most 0.9√n), plus n/2 subnormal quanta for outputs in the subnormal range. Summing in a
    float32 state, the bound stays far below 1 for every n the suites hold.
    """
    u = fmt.unit_roundoff
    state = state or fmt
    u_a = state.unit_roundoff
    k, form = summation_terms(max(n - 1, 0), state)
    g = float(gamma(k, u_a))  # inf from k = 1/u (8 in float8_e5m2)
    if g >= 1:
        return math.inf, form
    return (u_a + g) / (1 - g) + 2 * u + n * fmt.smallest_subnormal / 2, form
