"""The authority: one row of any op, correctly rounded by Ziv's strategy on mpmath balls.

For a row x (values of the format) and temperature T, every op is a function of the exact shifted
inputs t_j = (x_j − max)/T (rational; x_j − max is exact, the division by T is never done before
the shift). On the finite entries F, with a = the first maximal entry (t_a = 0):

    e_j = exp(t_j),  S′ = Σ_{j∈F, j≠a} e_j,  S = 1 + S′,  L = log S = log1p(S′)
    softmax s_j = e_j / S                 1 − s_j = S_{−j} / S  (S_{−j} = Σ_{k≠j} e_k)
    log_softmax l_j = t_j − L             logsumexp = max + T·L
    jacobian J_ij = s_i(δ_ij − s_j)       (diagonal as s_i·S_{−i}/S, no cancellation)
    softmax_vjp  s_i·(g_i − ḡ), ḡ = Σ g_j s_j
    log_softmax_vjp  g_i − Γ s_i, Γ = Σ g_j   (as (g_i − Γ) + Γ·S_{−i}/S when s_i > 1/2)
    cross_entropy  −Σ y_j l_j = Γ_y·L − Σ y_j t_j        cross_entropy_grad = Γ_y s − y

Each formula is evaluated on balls (:mod:`~symsoftmax.reference.balls`) at working precision
w, which bounds its whole error rigorously. A value is accepted when both ends of its ball round
to the same target value (Ziv 1991); otherwise w doubles, up to :data:`MAX_PRECISION`.

Ziv's loop only ends for values that are not rounding breakpoints, so exact values are found
first, with exact rational arithmetic:

* rows whose finite entries are all equal: s = 1/k exactly (also the single finite entry);
* +inf entries: the limit, uniform over the +inf entries (a row of ties at 0, rest −inf);
* −inf entries: s = 0, l = −inf; zero coefficients in the VJPs;
* an empty row: no outputs, except logsumexp = log 0 = −inf and cross_entropy = 0 (the empty
  sum);
* softmax_vjp: dz_i = 0 iff Σ_{j: t_j = τ} (g_i − g_j) = 0 for every distinct τ — e^τ for
  distinct rationals τ are linearly independent over the rationals (Lindemann–Weierstrass),
  so no other zero exists; the same theorem shows s_j is irrational unless all t are equal,
  logsumexp ≠ 0 and l_j ≠ 0 unless one finite entry remains, log_softmax_vjp = 0 only when
  Γ = g_i = 0, and cross_entropy is rational (−Σ y_j t_j) exactly when Σ y = 0.

A value B + P with B exact and P much smaller than B's spacing (e.g. l_j = t_j − L with a
tiny L, where t_j may itself be a rounding midpoint) is decided from B and the sign of P: every
rounding breakpoint other than B is farther than |B|·2^−SNAP from B (their difference is a
nonzero rational with a bounded denominator), so P can be replaced by ±|B|·2^−SNAP.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt
from mpmath import libmp

from symsoftmax.errors import PrecisionLimitError
from symsoftmax.ops import OPERATIONS, REFERENCE_OPS
from symsoftmax.reference.balls import Ball, exact_sum, rounded
from symsoftmax.reference.rounders import Rounder
from symsoftmax.rounding import raw_floor_log2, raw_to_fraction

__all__ = ["MAX_PRECISION", "OPS", "evaluate_row", "output_size"]

OPS = REFERENCE_OPS  # each has a plan in _PLANS below

MAX_PRECISION = 1 << 15  # bits; beyond this Ziv's loop gives up with PrecisionLimitError
_GUARD_BITS = 64  # extra bits kept in exact sums beyond w

_HALF = libmp.mpf_shift(libmp.fone, -1)
_ONE_BALL = Ball.of_int(1)


@dataclass(frozen=True, slots=True)
class Approx:
    """A value known as base + ball (base exact, or None), with its sign when known (±1, 0)."""

    ball: Ball
    base: Fraction | None = None
    sign: int = 0


Cell = Any  # a final rounded key, or an Approx-producing marker while pending


def output_size(op: str, n: int) -> int:
    """Number of outputs one row of length n produces (1, n or n², from the operation table)."""
    return OPERATIONS[op].size(n)


def _raw(value: float) -> Any:
    return libmp.from_float(float(value))


def _raw_fraction(value: Fraction, w: int) -> Ball:
    """A ball holding a rational (exact when dyadic)."""
    num, den = value.numerator, value.denominator
    if den & (den - 1) == 0:
        return Ball.exact(libmp.from_man_exp(num, -(den.bit_length() - 1)))
    mid = libmp.from_rational(num, den, w, "n")
    return Ball(mid, libmp.mpf_shift(libmp.mpf_abs(mid), -w + 1))


# --------------------------------------------------------------------------------------------
# deciding a rounding from an approximation
# --------------------------------------------------------------------------------------------


def _snap_bits(rounder: Rounder) -> int:
    # Breakpoints and B have denominators below 2^(3300 + 4·bits) for every input of the
    # supported formats (exponents ≥ −1074, T ≥ 2^−1074), so no breakpoint other than B lies
    # within |B|·2^−SNAP of B.
    return 8192 + 4 * rounder.bits


def _decide(approx: Approx, rounder: Rounder) -> Any | None:
    """The rounded value if the whole interval rounds to one target value, else None."""
    ball = approx.ball
    # an unbounded or undefined enclosure (0·∞ of an infinite radius gives NaN) decides nothing:
    # Ziv's loop goes on to a precision where the radius is finite
    if ball.rad in (libmp.finf, libmp.fnan) or ball.mid == libmp.fnan:
        return None
    base = approx.base
    if base is not None and ball.mid == libmp.fzero and ball.rad == libmp.fzero:
        return rounder.round(base) if base else rounder.zero(False)
    if not base:
        # rounded outward, not exactly: a widened interval decides the same or defers, and a
        # midpoint e^(−10^307) beside a normal radius has no exact difference that fits memory
        if ball.rad == libmp.fzero:
            lo: Any = ball.mid
            hi: Any = ball.mid
        else:  # 64 bits beyond the midpoint's own: far below the radius
            prec = max(rounder.bits, ball.mid[3], ball.rad[3]) + 64
            lo = libmp.mpf_sub(ball.mid, ball.rad, prec, "f")
            hi = libmp.mpf_add(ball.mid, ball.rad, prec, "c")
        lo_sign = libmp.mpf_sign(lo)
        hi_sign = libmp.mpf_sign(hi)
    else:
        p_mag = raw_floor_log2(ball.abs_upper())
        b_mag = raw_floor_log2(_raw_fraction(abs(base), 64).mid)
        assert b_mag is not None
        if p_mag is None or p_mag < b_mag - _snap_bits(rounder):
            delta = Fraction(2) ** (b_mag - _snap_bits(rounder))
            if ball.is_positive():
                lo = hi = base + delta
            elif ball.is_negative():
                lo = hi = base - delta
            else:
                lo, hi = base - delta, base + delta
        else:
            lo = base + raw_to_fraction(ball.lower())
            hi = base + raw_to_fraction(ball.upper())
        lo_sign = (lo > 0) - (lo < 0)
        hi_sign = (hi > 0) - (hi < 0)
    if approx.sign > 0 and lo_sign <= 0:
        if hi_sign <= 0:
            return None
        key_lo = rounder.zero(False)
    elif approx.sign < 0 and hi_sign >= 0:
        if lo_sign >= 0:
            return None
        key_hi = rounder.zero(True)
        key_lo = rounder.round(lo)
        return key_lo if rounder.same(key_lo, key_hi) else None
    else:
        key_lo = rounder.round(lo)
    key_hi = rounder.round(hi)
    return key_hi if rounder.same(key_lo, key_hi) else None


# --------------------------------------------------------------------------------------------
# one row
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tanh:
    """The soft-capped value c·tanh(a) of a logit (a = u/c rational, nonzero, finite): a
    transcendental number (Lindemann), so it ties with no rational value and with no other a."""

    a: Fraction


_Value = Fraction | _Tanh  # an entry's exact value in the units of the scaled scores


def _greater(a: _Value, b: _Value, softcap: Fraction | None) -> bool:
    """a > b for two entries' exact values (never equal unless the same value)."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a > b
    if isinstance(a, _Tanh) and isinstance(b, _Tanh):
        return a.a > b.a  # tanh is increasing
    assert softcap is not None
    r, v, flip = (a, b, False) if isinstance(a, Fraction) else (b, a, True)
    assert isinstance(r, Fraction) and isinstance(v, _Tanh)
    if abs(r) >= softcap:  # |c·tanh| < c
        return (r > 0) != flip
    w = 64
    while w <= MAX_PRECISION:  # r ≠ c·tanh(a): a transcendental number is no rational
        a_ball = _raw_fraction(v.a, w + 8).tanh(w).mul(_raw_fraction(softcap, w), w)
        diff = _raw_fraction(r, w).sub(a_ball, w)
        if diff.is_positive() or diff.is_negative():
            return diff.is_positive() != flip
        w *= 2
    raise PrecisionLimitError(f"soft-cap: could not order {r} and c·tanh({v.a}) in {w} bits")


def _shift_key(v: _Value, top: _Value) -> Any:
    """t = v − top exactly when rational, else a key unique to v."""
    if v == top:
        return Fraction(0)
    if isinstance(v, Fraction) and isinstance(top, Fraction):
        return v - top
    return ("shift", v)


class _Row:
    """Exact facts about one row: finite entries, shifts t_j, groups; and balls at precision w.

    The row is the logits x, plus (``sink`` given) the sink as one more entry, last: every op
    of a row with a sink is the op of that extended row, the sink's own output dropped
    (docs/reference.md). Entries are compared in the units of the scaled scores: u_j = x_j/T,
    soft-capped to c·tanh(u_j/c) when ``softcap`` is c; the sink is already in those units and
    is not capped. A shift t_j = v_j − v_max is a Fraction when both values are rational and
    else the key ("shift", v_j) (distinct values give distinct keys; equal values t = 0).
    """

    def __init__(
        self,
        x: npt.NDArray[np.float64],
        temperature: float | None,
        sink: float | None = None,
        softcap: float | None = None,
    ) -> None:
        n = len(x) + (sink is not None)
        self.n = n
        self.temperature = temperature
        self.has_sink = sink is not None
        self.softcap = None if softcap is None else Fraction(softcap)
        entries = [float(v) for v in x] + ([] if sink is None else [float(sink)])
        capped = [self.softcap is not None] * len(x) + [False] * (sink is not None)
        # +inf entries: +inf logits (uncapped: a capped +inf is c) and a +inf sink
        posinf = [j for j in range(n) if entries[j] == np.inf and not capped[j]]
        self.infinite_limit = bool(posinf)
        self.top: _Value | None = Fraction(0)
        self.values: dict[int, _Value] = {}  # set by _general
        if posinf:  # the limit: the +inf entries tie at the maximum, the rest vanish
            self.finite = posinf
            self.max: Fraction | None = Fraction(0)
            self.t: dict[int, Any] = {j: Fraction(0) for j in posinf}
            self.t_raw = {j: libmp.fzero for j in posinf}
        else:
            self.finite = [j for j in range(n) if entries[j] != -np.inf]
            if not self.finite:
                self.max = Fraction(0)
                self.t, self.t_raw = {}, {}
                return
            if sink is None and softcap is None:
                self._plain(x, temperature)
            else:
                self._general(entries, capped, temperature)
        self.argmax = next(j for j in self.finite if self.t[j] == 0)
        self.in_finite = set(self.finite)
        self.all_equal = all(self.t[j] == 0 for j in self.finite)
        # entries with equal shifts τ, as τ → member indices (e^τ is shared)
        self.groups: dict[Any, list[int]] = {}
        for j in self.finite:
            self.groups.setdefault(self.t[j], []).append(j)
        self._cache_w: int | None = None

    def _plain(self, x: npt.NDArray[np.float64], temperature: float | None) -> None:
        """Shifts of a row of logits only: rationals, exact raw differences without T."""
        top = max(float(x[j]) for j in self.finite)
        self.max = Fraction(top)
        top_raw = _raw(top)
        self.d_raw = {j: libmp.mpf_sub(_raw(x[j]), top_raw, 0) for j in self.finite}
        t_scale = Fraction(1) if temperature is None else 1 / Fraction(temperature)
        self.t = {j: (Fraction(float(x[j])) - self.max) * t_scale for j in self.finite}
        self.t_raw = self.d_raw if temperature is None else {}
        self.top = self.max * t_scale

    def _general(self, entries: list[float], capped: list[bool], temperature: float | None) -> None:
        """Shifts of a row with a sink or a soft-cap, from the entries' exact values."""
        scale = Fraction(1) if temperature is None else 1 / Fraction(temperature)
        values: dict[int, _Value] = {}
        for j in self.finite:
            if not capped[j]:  # the sink is in the units of the scaled scores already
                values[j] = Fraction(entries[j]) * (
                    1 if j == self.n - 1 and self.has_sink else scale
                )
            else:
                u = None if entries[j] == np.inf else Fraction(entries[j]) * scale
                values[j] = self._capped_value(u)
        self.values = values
        top = values[self.finite[0]]
        for j in self.finite[1:]:
            if _greater(values[j], top, self.softcap):
                top = values[j]
        self.top = top
        t_unit = Fraction(1) if temperature is None else Fraction(temperature)
        self.max = top * t_unit if isinstance(top, Fraction) else None
        self.t = {j: _shift_key(values[j], top) for j in self.finite}
        self.t_raw = {}

    def _capped_value(self, u: Fraction | None) -> _Value:
        """c·tanh(u/c) of a scaled logit u (None: +inf, capped to c)."""
        assert self.softcap is not None
        if u is None:
            return self.softcap
        return Fraction(0) if u == 0 else _Tanh(u / self.softcap)

    def value_ball(self, v: _Value, w: int) -> Ball:
        """An entry's value as a ball, relative error about 2^−w."""
        if isinstance(v, Fraction):
            return _raw_fraction(v, w)
        assert self.softcap is not None
        a = _raw_fraction(v.a, w + 8)
        return a.tanh(w + 4).mul(_raw_fraction(self.softcap, w + 4), w + 4)

    def top_ball(self, w: int) -> Ball:
        """T·v_max as a ball (the logsumexp base when v_max is not rational)."""
        assert self.top is not None
        return self.value_ball(self.top, w + 4).mul(self.t_ball_scaled(w), w)

    # ---- exact softmax in the rational cases --------------------------------------------------

    def exact_s(self, j: int) -> Fraction:
        """s_j when all finite t are equal (1/k on F, 0 elsewhere)."""
        return Fraction(1, len(self.finite)) if j in self.in_finite else Fraction(0)

    # ---- balls at precision w -------------------------------------------------------------------

    def at(self, w: int) -> _Row:
        if self._cache_w == w:
            return self
        self._cache_w = w
        self.e: dict[int, Ball] = {}
        for j in self.finite:
            self.e[j] = self._t_ball(j, w).exp(w)
        others = [j for j in self.finite if j != self.argmax]
        keep_bits = w + _GUARD_BITS + self.n.bit_length()
        total, rad, kept = exact_sum([self.e[j] for j in others], keep_bits=keep_bits)
        self._s1_total, self._s1_rad = total, rad
        self._kept = dict(zip(others, kept, strict=True))
        self.s1 = rounded(total, rad, w)
        self.S = _ONE_BALL.add(self.s1, w)
        self.L = self.s1.log1p(w)
        self._w = w
        return self

    def _t_ball(self, j: int, w: int) -> Ball:
        if j in self.t_raw:
            return Ball.exact(self.t_raw[j])
        t = self.t[j]
        if t == 0:
            return Ball.exact(libmp.fzero)
        if not isinstance(t, Fraction):
            return self._shift_ball(j, w)
        # Relative precision w + log2|t| makes the absolute error of t (hence the relative
        # error of e^t) at most 2^−w.
        extra = max(0, t.numerator.bit_length() - t.denominator.bit_length() + 2)
        return _raw_fraction(t, w + extra + 4)

    def _shift_ball(self, j: int, w: int) -> Ball:
        """v_j − v_max within about 2^−w absolutely (relative precision w plus the magnitude
        bits of the larger value; Ziv's loop raises w where the two nearly cancel)."""
        assert self.top is not None and self.softcap is not None
        big = max(
            abs(v) if isinstance(v, Fraction) else self.softcap for v in (self.values[j], self.top)
        )
        extra = max(0, big.numerator.bit_length() - big.denominator.bit_length() + 2) + 8
        vj = self.value_ball(self.values[j], w + extra)
        return vj.sub(self.value_ball(self.top, w + extra), w + extra)

    def s(self, j: int) -> Ball:
        return self.e[j].div(self.S, self._w)

    def s_minus(self, j: int) -> Ball:
        """S_{−j} = Σ_{k≠j} e_k, without cancellation."""
        if j == self.argmax:
            return self.s1
        total = self._s1_total
        if self._kept[j]:
            total = libmp.mpf_sub(total, self.e[j].mid, 0)
        return _ONE_BALL.add(rounded(total, self._s1_rad, self._w), self._w)

    def one_minus_s(self, j: int) -> Ball:
        return self.s_minus(j).div(self.S, self._w)

    def grouped_sum(self, coefficients: dict[Fraction, Fraction], w: int) -> Ball:
        """(Σ_τ coef_τ·e^τ)/S over the groups of equal shift, with exact coefficients.

        Terms with a zero coefficient vanish exactly, so the only cancellation left is between
        different exponentials — never an exact zero (Lindemann–Weierstrass).
        """
        return self.grouped_numerator(coefficients, w).div(self.S, w)

    def grouped_numerator(self, coefficients: dict[Fraction, Fraction], w: int) -> Ball:
        """Σ_τ coef_τ·e^τ with exact coefficients (exact sum of the products' midpoints)."""
        terms = [
            self.e[self.groups[tau][0]].mul(_raw_fraction(coef, w), w)
            for tau, coef in coefficients.items()
            if coef
        ]
        total, rad, _ = exact_sum(terms, keep_bits=w + _GUARD_BITS + self.n.bit_length())
        return rounded(total, rad, w)

    def grouped_ratio(self, coefficients: dict[Fraction, Fraction], w: int) -> Approx:
        """(Σ_τ coef_τ·e^τ)/S as B + P with B = coef_0/c_0 rational (c_0 = size of the τ = 0 group).

        P = Σ_{τ≠0} (coef_τ − B·c_τ)·e^τ / S, again with exact coefficients: a value that is a
        rounding breakpoint B up to an astronomically small P (e.g. (g_0 − g_1 − g_2)/2 · (1 −
        e^−10^308)) is decided from B and the sign of P. P = 0 exactly iff all its coefficients
        vanish (Lindemann–Weierstrass); then the value is B.
        """
        base = coefficients.get(Fraction(0), Fraction(0)) / len(self.groups[Fraction(0)])
        rest = {
            tau: coef - base * len(self.groups[tau])
            for tau, coef in coefficients.items()
            if tau != 0
        }
        if not any(rest.values()):
            return Approx(Ball.exact(libmp.fzero), base=base)
        return Approx(self.grouped_sum(rest, w), base=base)

    def t_ball_scaled(self, w: int) -> Ball:
        """T as an exact ball (1 without temperature)."""
        return Ball.exact(_raw(self.temperature)) if self.temperature is not None else _ONE_BALL


def _fraction_list(values: npt.NDArray[np.float64]) -> list[Fraction]:
    return [Fraction(float(v)) for v in values]


def evaluate_row(
    op: str,
    x: npt.NDArray[np.float64],
    other: npt.NDArray[np.float64] | None,
    temperature: float | None,
    rounder: Rounder,
    indices: list[int] | None = None,
    *,
    sink: float | None = None,
    softcap: float | None = None,
) -> list[Any]:
    """Correctly rounded outputs of ``op`` for one row (flat; n, 1 or n·n values).

    ``indices`` restricts the work to those output positions (the others are None). With a
    ``sink`` the row is x extended by the sink (n = len(x) + 1, and ``other`` by g_sink = 0):
    position len(x) of a VJP is ∂L/∂s. ``softcap`` c caps every logit to c·tanh(x_j/(T·c)),
    and a VJP's logit outputs take the chain factor sech²(x_j/c) (docs/reference.md).
    """
    n = len(x) + (sink is not None)
    size = output_size(op, n)
    wanted = list(range(size)) if indices is None else list(indices)
    out: list[Any] = [None] * size
    if sink is not None or softcap is not None:
        return _evaluate_general(op, x, other, temperature, rounder, wanted, out, sink, softcap)
    if n == 0:  # the empty sum Σ e^{x_j} is 0: logsumexp = log 0; cross_entropy = −Σ∅ = 0
        empty = {"logsumexp": rounder.special(-np.inf), "cross_entropy": rounder.zero(False)}
        return [empty[op] for _ in out]  # the other ops have no outputs
    nan = rounder.special(float("nan"))
    if np.isnan(x).any() or (other is not None and not np.isfinite(other).all()):
        for c in wanted:
            out[c] = nan
        return out
    if op == "softmax" and not (x == np.inf).any():
        finite = np.isfinite(x)
        values = x[finite]
        if values.size and (values == values[0]).all():  # 1/k exactly; no per-entry work
            share, zero = rounder.round(Fraction(1, int(values.size))), rounder.zero(False)
            for c in wanted:
                out[c] = share if finite[c] else zero
            return out
    return _ziv(op, _Row(x, temperature), other, rounder, wanted, out, x)


def _evaluate_general(
    op: str,
    x: npt.NDArray[np.float64],
    other: npt.NDArray[np.float64] | None,
    temperature: float | None,
    rounder: Rounder,
    wanted: list[int],
    out: list[Any],
    sink: float | None,
    softcap: float | None,
) -> list[Any]:
    """evaluate_row of a row with a sink or a soft-cap: the same plans on the extended row."""
    nan = rounder.special(float("nan"))
    sink_nan = sink is not None and np.isnan(sink)
    if sink_nan or np.isnan(x).any() or (other is not None and not np.isfinite(other).all()):
        for c in wanted:
            out[c] = nan
        return out
    if other is not None and sink is not None:
        other = np.append(other, 0.0)  # the sink carries no cotangent
    row = _Row(x, temperature, sink, softcap)
    return _ziv(op, row, other, rounder, wanted, out, x, chain=softcap is not None)


def _ziv(
    op: str,
    row: _Row,
    other: npt.NDArray[np.float64] | None,
    rounder: Rounder,
    wanted: list[int],
    out: list[Any],
    x: npt.NDArray[np.float64],
    chain: bool = False,
) -> list[Any]:
    """Exact outputs first, then Ziv's loop over the rest (the plan of ``op`` on ``row``)."""
    n = len(x)
    nan = rounder.special(float("nan"))
    if not row.finite:  # every entry −inf
        value = rounder.special(-np.inf) if op == "logsumexp" else nan
        for c in wanted:
            out[c] = value
        return out
    plan = _PLANS[op](row, other, rounder)
    if chain and other is not None:
        plan = _CapChain(plan, len(x))
    pending: dict[int, Any] = {}
    for c in wanted:
        result = plan.exact(c)
        if result is _PENDING:
            pending[c] = None
        else:
            out[c] = result
    w = rounder.bits + 32
    first = True
    while pending:
        if w > MAX_PRECISION:
            raise PrecisionLimitError(
                f"{op}: Ziv's loop did not settle {len(pending)} output(s) of the row "
                f"{[float(v).hex() for v in x[:8]]}{'...' if n > 8 else ''} "
                f"within {MAX_PRECISION} bits"
            )
        row.at(w)
        for c in list(pending):
            value = _decide(plan.approx(c, w), rounder)
            if value is None and not first:
                fallback = plan.fallback(c, w)
                if fallback is not None:
                    value = _decide(fallback, rounder)
            if value is not None:
                out[c] = value
                del pending[c]
        w *= 2
        first = False
    return out


_PENDING = object()


class _Plan:
    """Per-op rules: exact values first (rational arithmetic), else an approximation at w."""

    def __init__(self, row: _Row, other: npt.NDArray[np.float64] | None, rounder: Rounder):
        self.row = row
        self.rounder = rounder
        self.other = _fraction_list(other) if other is not None else []
        self.other_raw = [_raw(v) for v in other] if other is not None else []

    def key(self, value: Fraction) -> Any:
        return self.rounder.round(value) if value else self.rounder.zero(False)

    def exact(self, c: int) -> Any:
        raise NotImplementedError

    def approx(self, c: int, w: int) -> Approx:
        raise NotImplementedError

    def fallback(self, c: int, w: int) -> Approx | None:
        """A costlier approximation, tried from the second precision level on when ``approx``
        did not decide (None: there is none)."""
        return None


class _Softmax(_Plan):
    def exact(self, c: int) -> Any:
        row = self.row
        if row.all_equal or c not in row.in_finite:
            return self.key(row.exact_s(c))
        return _PENDING

    def approx(self, c: int, w: int) -> Approx:
        return Approx(self.row.s(c), sign=1)


class _LogSoftmax(_Plan):
    def exact(self, c: int) -> Any:
        row = self.row
        if c not in row.in_finite:
            return self.rounder.special(-np.inf)
        if len(row.finite) == 1:
            return self.rounder.zero(False)
        return _PENDING

    def approx(self, c: int, w: int) -> Approx:
        row = self.row
        t = row.t[c]
        if not isinstance(t, Fraction):  # a soft-capped shift: no rational base
            return Approx(row._t_ball(c, w).sub(row.L, w), sign=-1)
        return Approx(row.L.neg(), base=t, sign=-1)


class _LogSumExp(_Plan):
    def exact(self, c: int) -> Any:
        row = self.row
        if row.infinite_limit:
            return self.rounder.special(np.inf)
        if len(row.finite) == 1 and row.max is not None:
            return self.key(row.max)
        return _PENDING

    def approx(self, c: int, w: int) -> Approx:
        row = self.row
        if row.max is None:  # a soft-capped maximum: T·(v_max + L), no rational base
            return Approx(row.top_ball(w).add(row.L.mul(row.t_ball_scaled(w), w), w))
        return Approx(row.L.mul(row.t_ball_scaled(w), w), base=row.max)


class _Jacobian(_Plan):
    def exact(self, c: int) -> Any:
        row = self.row
        i, j = divmod(c, row.n)
        if row.all_equal or i not in row.in_finite or j not in row.in_finite:
            si, sj = row.exact_s(i), row.exact_s(j)
            return self.key(si * ((i == j) - sj))
        return _PENDING

    def approx(self, c: int, w: int) -> Approx:
        row = self.row
        i, j = divmod(c, row.n)
        if i == j:
            return Approx(row.s(i).mul(row.one_minus_s(i), w), sign=1)
        return Approx(row.s(i).mul(row.s(j), w).neg(), sign=-1)


class _SoftmaxVJP(_Plan):
    """dz_i = s_i (g_i − ḡ), ḡ = Σ g_j s_j.

    Work per row is O(K) plus O(1) per output: ḡ is one ball per precision level shared by
    every output, and the exact zeros come from the group means (below). Only outputs that
    ḡ cannot decide at a raised precision (g_i − ḡ or a rational base far below 2^−w) take
    the exact-coefficient form, O(number of groups), computed once per distinct g_i.
    """

    def __init__(self, row: _Row, other: Any, rounder: Rounder) -> None:
        super().__init__(row, other, rounder)
        g = self.other
        self.group_sums = {
            tau: sum((g[j] for j in members), Fraction(0)) for tau, members in row.groups.items()
        }
        # dz_i = 0 iff every coefficient c_τ g_i − G_τ vanishes, i.e. g_i equals the mean of g
        # over every group: possible only when all group means are one value, the zero point.
        means = {self.group_sums[tau] / len(m) for tau, m in row.groups.items()}
        self.zero_at = means.pop() if len(means) == 1 else None
        # ḡ when all finite t are equal (s = 1/k on F)
        self.uniform_gbar = sum((g[j] for j in row.finite), Fraction(0)) / len(row.finite)
        self._gbar_w: int | None = None
        self._fallback_w: int | None = None
        self._fallback_cache: dict[tuple[Fraction, bool], Approx] = {}

    def coefficients(self, gi: Fraction) -> dict[Fraction, Fraction]:
        """c_τ g_i − G_τ for every group: (g_i − ḡ)·S = Σ_τ coef_τ e^τ."""
        return {
            tau: len(members) * gi - self.group_sums[tau]
            for tau, members in self.row.groups.items()
        }

    def exact(self, c: int) -> Any:
        row = self.row
        if c not in row.in_finite:  # s_c = 0
            return self.rounder.zero(False)
        if row.all_equal:
            return self.key(row.exact_s(c) * (self.other[c] - self.uniform_gbar))
        if self.other[c] == self.zero_at:
            return self.rounder.zero(False)
        return _PENDING

    def _gbar(self, w: int) -> Ball:
        if self._gbar_w != w:
            row = self.row
            terms = [row.e[j].mul(Ball.exact(self.other_raw[j]), w) for j in row.finite]
            total, rad, _ = exact_sum(terms, keep_bits=w + _GUARD_BITS + row.n.bit_length())
            self._gbar_value = rounded(total, rad, w).div(row.S, w)
            self._gbar_w = w
        return self._gbar_value

    def approx(self, c: int, w: int) -> Approx:
        diff = Ball.exact(self.other_raw[c]).sub(self._gbar(w), w)
        return Approx(self.row.s(c).mul(diff, w))

    def fallback(self, c: int, w: int) -> Approx:
        row = self.row
        if self._fallback_w != w:
            self._fallback_w = w
            self._fallback_cache = {}
        top = row.t[c] == 0
        key = (self.other[c], top)
        if key not in self._fallback_cache:
            self._fallback_cache[key] = self._grouped(self.other[c], top, w)
        cached = self._fallback_cache[key]
        if top:  # the same value for every member of the top group
            return cached
        # dz_i = e^τi · N / S² = s_i · (N/S), N/S cached per g_i
        return Approx(row.s(c).mul(cached.ball, w))

    def _grouped(self, gi: Fraction, top: bool, w: int) -> Approx:
        """N/S (outside the top group) or dz_i itself (in it), N = Σ_τ coef_τ e^τ with exact
        coefficients, which depend on i only through g_i."""
        row = self.row
        coefficients = self.coefficients(gi)
        if not top:
            return Approx(row.grouped_sum(coefficients, w))
        # In the top group dz_i = N/S² = B + P, B = n0/c0² rational, with S = c0 + R,
        # N = n0 + Σ_{τ<0} coef_τ e^τ:
        # P = (Σ_{τ<0} (c0² coef_τ − 2 n0 c0 c_τ) e^τ − n0 R²)/(c0² S²)
        # — so a breakpoint B perturbed by an astronomically small P is still decided.
        zero = Fraction(0)
        c0 = len(row.groups[zero])
        n0 = coefficients[zero]
        first_order = {
            tau: c0 * c0 * coef - 2 * n0 * c0 * len(row.groups[tau])
            for tau, coef in coefficients.items()
            if tau != zero
        }
        r = row.grouped_numerator(
            {tau: Fraction(len(m)) for tau, m in row.groups.items() if tau != zero}, w
        )
        numerator = row.grouped_numerator(first_order, w).sub(
            r.mul(r, w).mul(_raw_fraction(n0, w), w), w
        )
        denominator = row.S.mul(row.S, w).mul(Ball.of_int(c0 * c0), w)
        return Approx(numerator.div(denominator, w), base=n0 / (c0 * c0))


class _LogSoftmaxVJP(_Plan):
    """dz_i = g_i − Γ s_i, Γ = Σ g (over all entries); ``negate`` gives cross_entropy_grad.

    O(1) per output at every precision level; the exact-coefficient form (O(number of
    groups)) only for outputs that level cannot decide.
    """

    negate = False

    def __init__(self, row: _Row, other: Any, rounder: Rounder) -> None:
        super().__init__(row, other, rounder)
        self.gamma = sum(self.other, Fraction(0))
        self.sign = -1 if self.negate else 1

    def exact(self, c: int) -> Any:
        row = self.row
        g = self.other
        if row.all_equal or c not in row.in_finite or self.gamma == 0:
            value = g[c] - self.gamma * row.exact_s(c)
            return self.key(self.sign * value)
        return _PENDING

    def fallback(self, c: int, w: int) -> Approx:
        # (g_i − Γ s_i)·S = Σ_τ (c_τ g_i − [τ = t_i]·Γ) e^τ: exact coefficients, so
        # g_i ≈ Γ s_i with s_i near a rational (e.g. 1/2 − e^−10^5) costs no precision
        row = self.row
        gi, t_i = self.other[c], row.t[c]
        coefficients = {
            tau: self.sign * (len(members) * gi - (self.gamma if tau == t_i else 0))
            for tau, members in row.groups.items()
        }
        return row.grouped_ratio(coefficients, w)

    def approx(self, c: int, w: int) -> Approx:
        row = self.row
        gamma = _raw_fraction(self.gamma * self.sign, w)
        s = row.s(c)
        if libmp.mpf_lt(s.mid, _HALF):
            return Approx(s.mul(gamma, w).neg(), base=self.sign * self.other[c])
        # g_i − Γ s_i = (g_i − Γ) + Γ·(1 − s_i), with 1 − s_i = S_{−i}/S computed directly.
        return Approx(
            row.one_minus_s(c).mul(gamma, w),
            base=self.sign * (self.other[c] - self.gamma),
        )


class _CrossEntropyGrad(_LogSoftmaxVJP):
    """∂/∂z of −Σ y_j log_softmax(z)_j = s·Σy − y: the negated log_softmax VJP of y."""

    negate = True


class _CrossEntropy(_Plan):
    """−Σ y_j l_j = Γ_y·L − Σ y_j t_j; entries with l_j = −inf contribute ±inf unless y_j = 0."""

    def __init__(self, row: _Row, other: Any, rounder: Rounder) -> None:
        super().__init__(row, other, rounder)
        y = self.other
        outside = [y[j] for j in range(row.n) if j not in row.in_finite and y[j] != 0]
        self.infinite: float | None = None
        if outside:
            signs = {v > 0 for v in outside}
            self.infinite = (
                float("nan") if len(signs) == 2 else (np.inf if True in signs else -np.inf)
            )
        self.gamma = sum((y[j] for j in row.finite), Fraction(0))
        self.base = -sum((y[j] * row.t[j] for j in row.finite), Fraction(0))

    def exact(self, c: int) -> Any:
        if self.infinite is not None:
            return self.rounder.special(self.infinite)
        if self.gamma == 0 or len(self.row.finite) == 1:
            return self.key(self.base)
        return _PENDING

    def approx(self, c: int, w: int) -> Approx:
        return Approx(self.row.L.mul(_raw_fraction(self.gamma, w), w), base=self.base)


class _CapChain(_Plan):
    """A VJP through the soft-cap: the inner VJP's output at the capped logits times
    dv_j/dz_j = sech²(z_j/c) (1 at z_j = 0, 0 at z_j = ±inf; the sink is not capped)."""

    def __init__(self, inner: _Plan, k: int) -> None:
        self.inner = inner
        self.row = inner.row
        self.rounder = inner.rounder
        self.k = k  # logits are positions 0..k−1

    def _a(self, c: int) -> Any:
        """z_c/c of a capped logit (None: its factor is exactly 1; inf: exactly 0)."""
        row = self.row
        if c >= self.k or row.values.get(c) == 0:
            return None
        value = row.values.get(c)
        return value.a if isinstance(value, _Tanh) else np.inf

    def exact(self, c: int) -> Any:
        value = self.inner.exact(c)
        a = self._a(c)
        if a is None:
            return value
        if a is np.inf:  # a capped ±inf logit (or a masked one): sech² = 0
            return self.rounder.zero(False)
        zero = self.rounder.zero(False)
        if value is not _PENDING and (
            self.rounder.same(value, zero) or self.rounder.same(value, self.rounder.zero(True))
        ):
            return value  # |value·sech²| ≤ |value| rounds to the same zero
        return _PENDING

    def _times(self, approx: Approx | None, c: int, w: int) -> Approx | None:
        if approx is None:
            return None
        a = self._a(c)
        if a is None:
            return approx
        ball = approx.ball
        if approx.base:
            ball = ball.add(_raw_fraction(approx.base, w + 8), w + 8)
        factor = _raw_fraction(a, w + 8).sech2(w + 4)
        return Approx(ball.mul(factor, w), sign=approx.sign)

    def approx(self, c: int, w: int) -> Approx:
        result = self._times(self.inner.approx(c, w), c, w)
        assert result is not None
        return result

    def fallback(self, c: int, w: int) -> Approx | None:
        return self._times(self.inner.fallback(c, w), c, w)


_PLANS: dict[str, type[_Plan]] = {
    "softmax": _Softmax,
    "log_softmax": _LogSoftmax,
    "logsumexp": _LogSumExp,
    "jacobian": _Jacobian,
    "softmax_vjp": _SoftmaxVJP,
    "log_softmax_vjp": _LogSoftmaxVJP,
    "cross_entropy": _CrossEntropy,
    "cross_entropy_grad": _CrossEntropyGrad,
}
