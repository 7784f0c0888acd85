"""Ball arithmetic on mpmath's raw numbers: a real known to lie in [mid − rad, mid + rad].

The reference engine evaluates every formula on balls, so each result carries a rigorous bound
on its total error (rounding of every operation plus the error inherited from its operands).
Midpoints are mpmath ``libmp`` tuples computed at a working precision w with round to nearest;
radii are computed at :data:`RADIUS_BITS` bits rounded *upward* (``'c'``, ceiling), so a radius
never understates an error.

Error model (per operation, u = 2^−w):

* ``+ − × ÷`` of mpmath are correctly rounded: |computed − exact| ≤ u·|computed|.
* ``exp`` and ``log`` are not guaranteed correctly rounded by mpmath; we assume an error of at
  most :data:`FUNCTION_ERROR_ULPS` units of 2^−w relative (mpmath evaluates them with guard bits and
  is far more accurate than that in practice; the margin costs at most a few bits of w).

Propagation (first principles, no first-order approximations):

* sum:      rad = ra + rb + u|m|
* product:  rad = |ma|·rb + |mb|·ra + ra·rb + u|m|
* quotient: rad = (|ma|·rb + |mb|·ra) / (|mb|·(|mb| − rb)) + u|m|, requires |mb| > rb
* exp:      |e^a − e^ma| ≤ e^ma·(e^ra − 1) ≤ e^ma·2ra for ra ≤ 1/2
* log:      |log a − log ma| ≤ ra / (ma − ra), requires ma > ra
* log1p:    |log1p a − log1p ma| ≤ ra / (1 + ma − ra)
* tanh, sech²: from E = e^−2|m| on balls (tanh = ±(1 − E)/(1 + E), sech² = 4E/(1 + E)²), plus
  ra (|tanh′| ≤ 1, |(sech²)′| ≤ 1); 1 − E is formed at w + max(0, −log2|m|) + 8 bits, so a tiny
  m loses nothing to the cancellation. Both serve the soft-cap c·tanh(z/c) (docs/reference.md).

This is the model of ball (midpoint–radius) arithmetic as in Arb (F. Johansson, "Arb: efficient
arbitrary-precision midpoint-radius interval arithmetic", IEEE Trans. Computers 66(8), 2017).

From :data:`ARB_FROM_BITS` bits on, when python-flint is installed, the midpoints of exp and log
come from Arb itself: its enclosure [m ± r] at w + 16 bits, m rounded to w bits, used only where
r is proven below 16 units of 2^−w (the model above; else mpmath computes it). The ball
arithmetic and every decision stay in mpmath; Arb only replaces the costly function evaluation
(mpmath's pure-Python exp and log take 2.2 ms at 2720 bits, Arb's 45 µs; below 512 bits they
cost about the same once converted, docs/performance.md, "Hard float64 rows").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mpmath import libmp

from symsoftmax.rounding import raw_floor_log2
from symsoftmax.signals import signals_held

_flint: Any
try:  # optional: Arb's exp and log at high precision (python-flint)
    with signals_held():  # (its older builds swallow an exception raised in their import)
        import flint as _flint
except ImportError:  # pragma: no cover - python-flint is optional
    _flint = None

__all__ = [
    "FUNCTION_ERROR_ULPS",
    "RADIUS_BITS",
    "Ball",
    "MpfTuple",
    "exact_sum",
    "rounded",
]

MpfTuple = Any  # mpmath.libmp raw number: (sign, mantissa, exponent, bitcount)

RADIUS_BITS = 32
FUNCTION_ERROR_ULPS = 16
ARB_FROM_BITS = 512  # below this, Arb's exp/log plus the conversions cost what mpmath's do

_ZERO = libmp.fzero
_ONE = libmp.fone
_INF = libmp.finf


def _up(value: MpfTuple) -> MpfTuple:
    return libmp.mpf_pos(value, RADIUS_BITS, "c")


def _add_up(a: MpfTuple, b: MpfTuple) -> MpfTuple:
    return libmp.mpf_add(a, b, RADIUS_BITS, "c")


def _mul_up(a: MpfTuple, b: MpfTuple) -> MpfTuple:
    return libmp.mpf_mul(a, b, RADIUS_BITS, "c")


def _div_up(a: MpfTuple, b: MpfTuple) -> MpfTuple:
    return libmp.mpf_div(a, b, RADIUS_BITS, "c")


def _rounding_error(mid: MpfTuple, prec: int, ulps: int = 1) -> MpfTuple:
    """ulps · 2^−prec · |mid|, rounded up."""
    if mid == _ZERO:
        return _ZERO
    return _up(
        libmp.mpf_shift(libmp.mpf_mul_int(libmp.mpf_abs(mid), ulps, RADIUS_BITS, "c"), -prec)
    )


def _arb_function(name: str, x: MpfTuple, w: int) -> MpfTuple | None:
    """exp or log of the exact x, rounded to w bits, within FUNCTION_ERROR_ULPS + 1 units of
    2^−w relative (the error model above), from an Arb enclosure; None where Arb is not
    installed, w is below :data:`ARB_FROM_BITS`, or the enclosure does not prove that bound.

    |mid − f(x)| ≤ |mid − m| + r ≤ 2^−w·|mid| + r, so r ≤ 16·2^−w·|mid| suffices.
    """
    if _flint is None or w < ARB_FROM_BITS:
        return None
    sign, man, exp, _bc = x
    saved = _flint.ctx.prec
    _flint.ctx.prec = w + 16
    try:
        ball = _flint.arb(_flint.arf((-man if sign else man, exp)))
        value = ball.exp() if name == "exp" else ball.log()
        if not value.is_finite():
            return None
        m, m_exp = value.mid().man_exp()
        r, r_exp = value.rad().mid().man_exp()
    finally:
        _flint.ctx.prec = saved
    mid = libmp.from_man_exp(int(m), int(m_exp), w, "n")
    rad = libmp.from_man_exp(int(r), int(r_exp))
    allowed = libmp.mpf_shift(
        libmp.mpf_mul_int(libmp.mpf_abs(mid), FUNCTION_ERROR_ULPS, RADIUS_BITS, "f"), -w
    )
    return mid if mid != _ZERO and libmp.mpf_le(rad, allowed) else None


def _exp_mid(x: MpfTuple, w: int) -> MpfTuple:
    """e^x rounded to w bits within the error model (Arb at high precision, else mpmath)."""
    mid = _arb_function("exp", x, w)
    return mid if mid is not None else libmp.mpf_exp(x, w, "n")


def _log_mid(x: MpfTuple, w: int) -> MpfTuple:
    """log x (x > 0) rounded to w bits within the error model (Arb at high precision, else
    mpmath)."""
    mid = _arb_function("log", x, w)
    return mid if mid is not None else libmp.mpf_log(x, w, "n")


@dataclass(frozen=True, slots=True)
class Ball:
    """The real numbers within ``rad`` of ``mid`` (both raw mpmath numbers; rad ≥ 0)."""

    mid: MpfTuple
    rad: MpfTuple = _ZERO

    # ---- constructors -----------------------------------------------------------------------

    @staticmethod
    def exact(value: MpfTuple) -> Ball:
        return Ball(value, _ZERO)

    @staticmethod
    def of_int(value: int) -> Ball:
        return Ball(libmp.from_int(value), _ZERO)

    # ---- queries ----------------------------------------------------------------------------

    @property
    def is_exact(self) -> bool:
        return bool(self.rad == _ZERO)

    def lower(self) -> MpfTuple:
        """mid − rad, exactly."""
        return libmp.mpf_sub(self.mid, self.rad, 0)

    def upper(self) -> MpfTuple:
        """mid + rad, exactly."""
        return libmp.mpf_add(self.mid, self.rad, 0)

    def abs_upper(self) -> MpfTuple:
        """An upper bound of |x| over the ball (rounded up)."""
        return _add_up(libmp.mpf_abs(self.mid), self.rad)

    def is_positive(self) -> bool:
        return bool(libmp.mpf_gt(self.mid, self.rad))

    def is_negative(self) -> bool:
        return bool(libmp.mpf_lt(self.mid, libmp.mpf_neg(self.rad)))

    # ---- arithmetic at working precision w -----------------------------------------------

    def neg(self) -> Ball:
        return Ball(libmp.mpf_neg(self.mid), self.rad)

    def add(self, other: Ball, w: int) -> Ball:
        mid = libmp.mpf_add(self.mid, other.mid, w, "n")
        rad = _add_up(_add_up(self.rad, other.rad), _rounding_error(mid, w))
        return Ball(mid, rad)

    def sub(self, other: Ball, w: int) -> Ball:
        return self.add(other.neg(), w)

    def mul(self, other: Ball, w: int) -> Ball:
        mid = libmp.mpf_mul(self.mid, other.mid, w, "n")
        rad = _add_up(
            _add_up(
                _mul_up(libmp.mpf_abs(self.mid), other.rad),
                _mul_up(libmp.mpf_abs(other.mid), self.rad),
            ),
            _add_up(_mul_up(self.rad, other.rad), _rounding_error(mid, w)),
        )
        return Ball(mid, rad)

    def div(self, other: Ball, w: int) -> Ball:
        """self / other; an unbounded ball (rad = inf) if other may be zero."""
        den_abs = libmp.mpf_abs(other.mid)
        gap = libmp.mpf_sub(den_abs, other.rad, RADIUS_BITS, "f")
        if not libmp.mpf_gt(gap, _ZERO):
            return Ball(_ZERO, _INF)
        mid = libmp.mpf_div(self.mid, other.mid, w, "n")
        if self.rad == _ZERO and other.rad == _ZERO:
            return Ball(mid, _rounding_error(mid, w))
        num = _add_up(_mul_up(libmp.mpf_abs(self.mid), other.rad), _mul_up(den_abs, self.rad))
        den = libmp.mpf_mul(den_abs, gap, RADIUS_BITS, "f")
        return Ball(mid, _add_up(_div_up(num, den), _rounding_error(mid, w)))

    def exp(self, w: int) -> Ball:
        """e^x; exact 1 at an exact 0."""
        if self.mid == _ZERO and self.rad == _ZERO:
            return Ball(_ONE, _ZERO)
        mid = _exp_mid(self.mid, w)
        err = _rounding_error(mid, w, FUNCTION_ERROR_ULPS + 1)
        if self.rad == _ZERO:
            return Ball(mid, err)
        if libmp.mpf_gt(self.rad, libmp.mpf_shift(_ONE, -1)):
            return Ball(mid, _INF)
        # e^ma·(e^ra − 1) ≤ e^ma·2ra (ra ≤ 1/2); e^ma ≤ |mid|·(1 + 17u) < 2|mid|.
        spread = _mul_up(libmp.mpf_shift(libmp.mpf_abs(mid), 2), self.rad)
        return Ball(mid, _add_up(spread, err))

    def log(self, w: int) -> Ball:
        """Natural logarithm of a positive ball; unbounded if the ball reaches 0."""
        gap = libmp.mpf_sub(self.mid, self.rad, RADIUS_BITS, "f")
        if not libmp.mpf_gt(gap, _ZERO):
            return Ball(_ZERO, _INF)
        if self.mid == _ONE and self.rad == _ZERO:
            return Ball(_ZERO, _ZERO)
        mid = _log_mid(self.mid, w)
        rad = _add_up(_div_up(self.rad, gap), _rounding_error(mid, w, FUNCTION_ERROR_ULPS + 1))
        return Ball(mid, rad)

    def tanh(self, w: int) -> Ball:
        """tanh x, accurate relative to the result (exact 0 at an exact 0)."""
        if self.mid == _ZERO:
            return Ball(_ZERO, self.rad)
        negative, y = _split_sign(self.mid)
        e, extra = _exp_minus_twice(y, w)
        if e is None:  # 1 − tanh y < 2e^−2y < 2^−(w+64): tanh y = 1 within that
            value = Ball(_ONE, libmp.mpf_shift(_ONE, -(w + 64)))
        else:
            value = _ONE_BALL.sub(e, w + extra).div(_ONE_BALL.add(e, w), w)
        value = value.neg() if negative else value
        return Ball(value.mid, _add_up(value.rad, self.rad))

    def sech2(self, w: int) -> Ball:
        """sech² x = 1 − tanh² x (the soft-cap's derivative), accurate relative to the result."""
        if self.mid == _ZERO and self.rad == _ZERO:
            return Ball(_ONE, _ZERO)
        _negative, y = _split_sign(self.mid)
        e, _extra = _exp_minus_twice(y, w, saturate=False)
        assert e is not None
        one_plus = _ONE_BALL.add(e, w)
        value = e.mul(Ball.of_int(4), w).div(one_plus.mul(one_plus, w), w)
        return Ball(value.mid, _add_up(value.rad, self.rad))

    def log1p(self, w: int) -> Ball:
        """log(1 + x) of a ball with x > −1, accurate relative to the result for small x.

        For tiny x (below 2^−(w+8)) log1p(x) ∈ [x − x²/2, x] is used directly; otherwise
        1 + x is formed exactly and passed to log (relative error model of log applies).
        """
        if self.mid == _ZERO and self.rad == _ZERO:
            return Ball(_ZERO, _ZERO)
        one_plus_gap = libmp.mpf_add(
            _ONE, libmp.mpf_sub(self.mid, self.rad, RADIUS_BITS, "f"), RADIUS_BITS, "f"
        )
        if not libmp.mpf_gt(one_plus_gap, _ZERO):
            return Ball(_ZERO, _INF)
        spread = _div_up(self.rad, one_plus_gap)
        mag = raw_floor_log2(self.mid)
        if mag is not None and mag < -(w + 8):
            mid = libmp.mpf_pos(self.mid, w, "n")
            square = _mul_up(libmp.mpf_abs(self.mid), libmp.mpf_abs(self.mid))
            rad = _add_up(_add_up(spread, square), _rounding_error(mid, w))
            return Ball(mid, rad)
        one_plus = libmp.mpf_add(_ONE, self.mid, 0)  # exact
        mid = _log_mid(one_plus, w)
        return Ball(mid, _add_up(spread, _rounding_error(mid, w, FUNCTION_ERROR_ULPS + 1)))


_ONE_BALL = Ball(_ONE, _ZERO)


def _split_sign(mid: MpfTuple) -> tuple[bool, MpfTuple]:
    """(mid < 0, |mid|)."""
    return bool(libmp.mpf_sign(mid) < 0), libmp.mpf_abs(mid)


def _exp_minus_twice(y: MpfTuple, w: int, saturate: bool = True) -> tuple[Ball | None, int]:
    """(e^−2y for y > 0 as a ball, the extra bits 1 − e^−2y needs); None (when ``saturate``)
    for 2y ≥ w + 66, where e^−2y < 2^−(w+65) (e > 2) and tanh y is 1 within 2^−(w+64)."""
    mag = raw_floor_log2(y)
    assert mag is not None
    if saturate and mag >= 0 and libmp.mpf_ge(y, libmp.from_int((w + 66) // 2 + 1)):
        return None, 0
    extra = max(0, -mag) + 8
    return Ball.exact(libmp.mpf_shift(libmp.mpf_neg(y), 1)).exp(w + extra), extra


def exact_sum(balls: list[Ball], *, keep_bits: int) -> tuple[MpfTuple, MpfTuple, list[bool]]:
    """Σ balls as (exact sum of the kept midpoints, radius, kept flags).

    Midpoints are added exactly. Terms below 2^(top − keep_bits) (top = magnitude of the largest
    midpoint) are left out of the exact sum — adding them exactly could need astronomically
    many bits — and their whole value |mid| + rad goes into the radius instead.
    """
    mags = [raw_floor_log2(b.mid) for b in balls]
    known = [m for m in mags if m is not None]
    floor = (max(known) if known else 0) - keep_bits
    total = _ZERO
    rad = _ZERO
    kept: list[bool] = []
    for ball, mag in zip(balls, mags, strict=True):
        if mag is not None and mag < floor:
            rad = _add_up(rad, ball.abs_upper())
            kept.append(False)
            continue
        total = libmp.mpf_add(total, ball.mid, 0)
        rad = _add_up(rad, ball.rad)
        kept.append(True)
    return total, rad, kept


def rounded(total: MpfTuple, rad: MpfTuple, w: int) -> Ball:
    """The ball around the exact ``total`` rounded to w bits, plus an inherited radius ``rad``."""
    mid = libmp.mpf_pos(total, w, "n")
    return Ball(mid, _add_up(rad, _rounding_error(mid, w)))
