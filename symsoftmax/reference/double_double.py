"""Vectorized double-double arithmetic in NumPy, and exp(t) for t ∈ [−2^21, 0] within 2^−86.

A double-double is an unevaluated sum hi + lo of float64 arrays with |lo| ≤ ulp(hi)/2. The
error-free transformations are TwoSum (Knuth) and TwoProd via Dekker's splitting (NumPy has no
fused multiply-add); the operators are the "accurate" ones of Joldes, Muller & Popescu, "Tight
and rigorous error bounds for basic building blocks of double-word arithmetic", ACM TOMS 44(2),
2017, with relative error bounds (u = 2^−53) 3u² (DW + DW), 7u² (DW × DW); the division is
the classical three-digit long division, ≤ 32u²
— provided no intermediate underflows or overflows, which the callers ensure by scaling.

exp(t) = 2^m · 2^(j/4096) · e^r (see :func:`dd_exp_scaled`), for t ∈ [−2^21, 0]; ln2/4096 is
split into three parts (Cody–Waite), the first with 30 bits where |t| ≤ 1400 (k times it is
exact for |k| < 2^23) and 19 bits beyond (exact for |k| < 2^34, the whole range); the table
2^(j/4096) is computed once with mpmath. The power 2^m is returned separately so tiny terms
keep their full relative precision.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import mpmath
import numpy as np
import numpy.typing as npt

__all__ = [
    "EXP_RELATIVE_ERROR",
    "dd_add",
    "dd_div",
    "dd_exp_scaled",
    "dd_mul",
    "dd_sum_last_axis",
    "scratch",
    "two_prod",
    "two_sum",
]

Array = npt.NDArray[np.float64]

_SPLITTER = 134217729.0  # 2^27 + 1


def two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """s + e = a + b exactly, s = fl(a + b) (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _fast_two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """s + e = a + b exactly when |a| ≥ |b| (Dekker)."""
    s = a + b
    return s, b - (s - a)


def _split(a: Array) -> tuple[Array, Array]:
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a: Array, b: Array) -> tuple[Array, Array]:
    """p + e = a·b exactly, p = fl(a·b) (Dekker's product; |a·b| well inside the range)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def dd_add(ah: Array, al: Array, bh: Array, bl: Array) -> tuple[Array, Array]:
    """(ah + al) + (bh + bl), relative error ≤ 3u² (accurate DWPlusDW)."""
    sh, sl = two_sum(ah, bh)
    th, tl = two_sum(al, bl)
    sl = sl + th
    sh, sl = _fast_two_sum(sh, sl)
    sl = sl + tl
    return _fast_two_sum(sh, sl)


def dd_mul(ah: Array, al: Array, bh: Array, bl: Array) -> tuple[Array, Array]:
    """(ah + al)(bh + bl), relative error ≤ 7u² (DWTimesDW)."""
    ph, pl = two_prod(ah, bh)
    pl = pl + (ah * bl + al * bh)
    return _fast_two_sum(ph, pl)


def dd_div(ah: Array, al: Array, bh: Array, bl: Array) -> tuple[Array, Array]:
    """(ah + al)/(bh + bl) by three correction steps, relative error ≤ 32u².

    Each remainder a − q·b is formed with dd_mul and dd_add (error ≤ 7u² + 3u² of |a|); the
    quotient digits q1, q2, q3 are then summed.
    """
    zero = np.zeros_like(ah)
    q1 = ah / bh
    ph, pl = dd_mul(bh, bl, q1, zero)
    rh, rl = dd_add(ah, al, -ph, -pl)
    q2 = rh / bh
    ph, pl = dd_mul(bh, bl, q2, zero)
    rh, rl = dd_add(rh, rl, -ph, -pl)
    q3 = rh / bh
    qh, ql = _fast_two_sum(q1, q2)
    return dd_add(qh, ql, q3, zero)


_SCRATCH = threading.local()
SCRATCH_ELEMENTS = 1 << 16  # the largest scratch array kept between calls (512 KiB)


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> npt.NDArray[Any]:
    """A work array of ``shape`` kept between calls on this thread (uninitialized).

    Large temporaries freed and allocated again each call made the allocator give the memory
    back and fault it in again, a page fault per 4 KiB (2 µs each here): 0.15 ms for each
    array of a 32768-entry row. The array is overwritten by the next request for ``name`` on
    this thread: only for arrays that do not outlive the fast path's evaluation of one block
    of rows, under names no function they are passed to asks for. Arrays over
    :data:`SCRATCH_ELEMENTS` are not kept.
    """
    size = math.prod(shape)
    if size > SCRATCH_ELEMENTS:
        return np.empty(shape, dtype=dtype)
    pool: dict[tuple[str, type], npt.NDArray[Any]] = _SCRATCH.__dict__.setdefault("pool", {})
    buffer = pool.get((name, dtype))
    if buffer is None or buffer.size < size:
        buffer = pool[name, dtype] = np.empty(max(size, 1 << 12), dtype=dtype)
    return buffer[:size].reshape(shape)


def dd_sum_last_axis(hi: Array, lo: Array) -> tuple[Array, Array]:
    """Pairwise double-double sum along the last axis (⌈log2 n⌉ levels of dd_add).

    For nonnegative terms the relative error is at most ⌈log2 n⌉·3u²/(1 − …) — each level
    adds a relative error ≤ 3u² of partial sums that are all below the total.

    The levels run dd_add's operations (:func:`_dd_add_into`) into :func:`scratch` arrays,
    the next level on their prefix: fresh temporaries for each operation of each level cost
    more in page faults than the arithmetic on long rows. The inputs must not be scratch
    arrays of the names ``dd_sum_*``.
    """
    width = hi.shape[-1]
    if width <= 1:
        return hi[..., 0], lo[..., 0]
    shape = (*hi.shape[:-1], (width + 1) // 2)
    buffers = [scratch(f"dd_sum_{i}", shape) for i in range(8)]
    results = (buffers[0:2], buffers[2:4])  # levels alternate: one is read, one written
    spare = buffers[4:]
    level = 0
    while width > 1:
        if width % 2:
            pad = [(0, 0)] * (hi.ndim - 1) + [(0, 1)]
            hi = np.pad(hi, pad)
            lo = np.pad(lo, pad)
            width += 1
        width //= 2
        out_h, out_l = (b[..., :width] for b in results[level % 2])
        work = [b[..., :width] for b in spare]
        _dd_add_into(hi[..., 0::2], lo[..., 0::2], hi[..., 1::2], lo[..., 1::2], out_h, out_l, work)
        hi, lo = out_h, out_l
        level += 1
    return hi[..., 0].copy(), lo[..., 0].copy()


def _dd_add_into(
    ah: Array, al: Array, bh: Array, bl: Array, out_h: Array, out_l: Array, work: list[Array]
) -> None:
    """:func:`dd_add` operation for operation (the same results), into ``out_h``/``out_l``
    with four scratch arrays ``work`` of their shape."""
    w0, w1, w2, w3 = work
    np.add(ah, bh, out=out_h)  # two_sum(ah, bh): s
    np.subtract(out_h, ah, out=w1)  # bb
    np.subtract(out_h, w1, out=w2)
    np.subtract(ah, w2, out=w2)
    np.subtract(bh, w1, out=w1)
    np.add(w2, w1, out=w0)  # its error: sl
    np.add(al, bl, out=out_l)  # two_sum(al, bl): th
    np.subtract(out_l, al, out=w1)
    np.subtract(out_l, w1, out=w2)
    np.subtract(al, w2, out=w2)
    np.subtract(bl, w1, out=w1)
    np.add(w2, w1, out=w3)  # tl
    np.add(w0, out_l, out=w0)  # sl + th
    np.add(out_h, w0, out=w1)  # fast_two_sum(sh, sl)
    np.subtract(w1, out_h, out=w2)
    np.subtract(w0, w2, out=w0)
    np.add(w0, w3, out=w0)  # + tl
    np.add(w1, w0, out=out_h)  # fast_two_sum
    np.subtract(out_h, w1, out=w2)
    np.subtract(w0, w2, out=out_l)


# ---- constants (computed once with mpmath at 200 bits) -----------------------------------


def _dd_constant(value: mpmath.mpf) -> tuple[float, float]:
    hi = float(value)  # float(mpf) is fine here: normal range, and lo takes the remainder
    lo = float(value - hi)
    return hi, lo


_TABLE_BITS = 12  # table of 2^(j/4096)
_STEPS = 1 << _TABLE_BITS


def _ln2_parts(first_bits: int) -> tuple[float, float, float]:
    """ln2/4096 = c1 + c2 + c3 (within 2^−141 with 19 bits, 2^−152 with 30): c1 = ln2/4096
    truncated to ``first_bits`` significant bits (so k·c1 is exact for |k| <
    2^(53 − first_bits)), c2 and c3 the rounded remainders."""
    with mpmath.workprec(300):
        c = mpmath.log(2) / _STEPS
        e = int(mpmath.floor(mpmath.log(c, 2)))
        grid = mpmath.mpf(2) ** (first_bits - 1 - e)
        c1 = float(mpmath.floor(c * grid) / grid)
        c2 = float(c - c1)
        c3 = float(c - c1 - c2)
    return c1, c2, c3


# Cody–Waite reduction by three constants (Cody & Waite, "Software Manual for the Elementary
# Functions", 1980; Muller, "Elementary Functions", 3rd ed., §11.1; Tang, ACM TOMS 15(2), 1989),
# two sets: for |t| ≤ 1400 (|k| < 2^23) c1 has 30 bits and c2 is split into 26-bit halves, so
# k·c1 and k·c2 are plain exact products; over the whole range [−2^21, 0] (|k| < 2^33.53) c1
# has 19 bits and k·c2 needs k split too (ten more operations, taken only by arrays that
# reach below −1400).
_C1, _C2, _C3 = _ln2_parts(30)
_C1_WIDE, _C2_WIDE, _C3_WIDE = _ln2_parts(19)
_SHORT_T = -1400.0  # |k| ≤ 1400·4096/ln 2 + 1 < 2^23
_INV_STEP = _STEPS / math.log(2)
with mpmath.workprec(300):
    _TABLE_HI, _TABLE_LO = (
        np.array(part)
        for part in zip(
            *(_dd_constant(mpmath.mpf(2) ** (mpmath.mpf(j) / _STEPS)) for j in range(_STEPS)),
            strict=True,
        )
    )

_C2_HI, _C2_LO = (float(v[0]) for v in _split(np.array([_C2])))
_C2_WIDE_HI, _C2_WIDE_LO = (float(v[0]) for v in _split(np.array([_C2_WIDE])))
_TABLE_SPLIT_HI, _TABLE_SPLIT_LO = _split(_TABLE_HI)

# Relative error bound of dd_exp_scaled's mantissa, with a 2^4 margin over the sum of: the
# truncation after r^6 (2^−107), the float64 evaluation of r³(1/6 + …) (≤ 2^−40 in size, six
# roundings: ≤ 2^−90.4), the reduction (≤ 2^−93.5, see dd_exp_scaled), the double-double
# steps (≤ 2^−100) and the table (2^−106). Measured (tests/test_double_double_exp.py): 2^−93.8.
EXP_RELATIVE_ERROR = 2.0**-86

_MIN_T = -(2.0**21)
_SHIFTER = 1.5 * 2.0**52
_SHIFTER_BITS = np.array(_SHIFTER).view(np.int64)


def dd_exp_scaled(
    th: Array, tl: Array
) -> tuple[npt.NDArray[np.int64], Array, Array, npt.NDArray[np.bool_]]:
    """e^(th + tl) = 2^m · (mh + ml) for th ∈ [−2^21, 0] and |tl| ≤ ulp(th)/2 (a normalized
    double-double, as TwoSum and DWPlusDW return; tl = 0 where th = 0); mh + ml ∈ [0.99, 2.01]
    within relative error :data:`EXP_RELATIVE_ERROR` = 2^−86 over the whole range, for every
    such tl.

    k = round(t·4096/ln 2) = 4096m + j and r = t − k·ln2/4096, |r| ≤ 2^−13.5; then
    e^r = 1 + r + r²/2 + r³(1/6 + r/24 + r²/120 + r³/720): r² by an exact TwoProd, the r³ part in
    float64 (it is below 2^−40, so its rounding errors stay below 2^−90.4). e^r ≈ 1, so an
    absolute error on r is the same relative error on the result.

    The reduction, Cody–Waite with ln2/4096 = c1 + c2 + c3 (u = 2^−53, c = ln2/4096; k is
    rint of fl(th·4096/ln 2), so for k ≠ 0, |th| ≥ (|k| − ½)·c·(1 − 2^−51)). An array with an
    entry below −1400 takes :func:`_reduce_wide` (whole range, |k| < 2^33.53), any other the
    cheaper :func:`_reduce_short` (|k| < 2^23; r within 2^−93.5, see there). The wide one, c1 of
    19 bits (c1 < c(1 − 2^−18.9)):

    * a = th − k·c1 is exact: k·c1 (≤ 19 + 34 bits, exact) is a multiple of 2^−31, hence of
      Q = ulp(th) (|th| ≤ 2^21), and th and k·c1 have one sign with |k·c1| < |k|c(1 − 2^−18.9)
      ≤ 2|th| for k ≠ 0, so a is a multiple of Q with |a| ≤ |th|: a double;
    * (a′, e₀) = Fast2Sum(a, tl) is exact: a = 0, or |a| ≥ Q > |tl| (Dekker's condition; Muller
      et al., "Handbook of Floating-Point Arithmetic", 2nd ed., Thm 4.3). So tl enters exactly,
      however large ½ulp(th) is (2^−32 at |th| = 2^21): no term for it in any caller;
    * k·c2 = p2h + p2l exactly (Dekker's TwoProd: k split at run time, c2 pre-split), and
      (rh, rl) = TwoSum(a′, −p2h) exactly (|a′ − p2h| < 2^−13);
    * left in float64: rl + e₀ − p2l − k·c3 (|rl| ≤ 2^−67, |e₀|, |p2l| ≤ 2^−51 as |a′|, |p2h|
      < 2^2.2, |k·c3| ≤ 2^−53.6: the four roundings ≤ 2^−101.7 together), c's own truncation
      (|k|·2^−141.9 ≤ 2^−108.4), and the last Fast2Sum(rh, rl): exact where |rh| ≥ |rl|, else
      (r near 0) within 4u|rl| ≤ 2^−100.8. In all, r is within 2^−100.

    Returns (m, mh, ml, valid); ``valid`` is False where th is outside the supported range
    (those entries are left as 0 and must be bounded by the caller).
    """
    valid = (th >= _MIN_T) & (th <= 0.0)
    all_valid = bool(valid.all())  # the usual case: no masking passes
    if not all_valid:
        th = np.where(valid, th, 0.0)
        tl = np.where(valid, tl, 0.0)
    # k = rint(t·4096/ln 2) by the 1.5·2^52 shifter: |t·4096/ln 2| < 2^34, so the sum rounds
    # it to an integer (ties to even, as rint) and its low bits hold k in two's complement
    shifted = th * _INV_STEP
    shifted += _SHIFTER
    ki = shifted.view(np.int64) - _SHIFTER_BITS
    k = shifted
    k -= _SHIFTER  # exact
    if th.size and th.min() < _SHORT_T:
        rh, rl = _reduce_wide(th, tl, k)
    else:
        rh, rl = _reduce_short(th, tl, k)
    # r² exactly: Dekker's product with one split of r (its partial sums are exact)
    sq_h = rh * rh
    r_hi, r_lo = _split(rh)
    sq_l = r_hi * r_hi
    sq_l -= sq_h
    cross = r_hi * r_lo
    cross += cross
    sq_l += cross
    r_lo *= r_lo
    sq_l += r_lo
    cube = sq_h * rh
    tail = rh * (1 / 720)
    tail += 1 / 120
    tail *= rh
    tail += 1 / 24
    tail *= rh
    tail += 1 / 6
    tail *= cube
    sq_l *= 0.5
    sq_l += tail
    small = rh * rl
    small += sq_l
    small += rl
    sq_h *= 0.5
    ah, al = two_sum(sq_h, small)
    one_h = rh + 1.0  # FastTwoSum(1, r): |r| < 1
    one_l = rh - (one_h - 1.0)
    uh, ul = dd_add(one_h, one_l, ah, al)
    j = ki & (_STEPS - 1)
    m = ki - j
    m >>= _TABLE_BITS
    # table × e^r: a TwoProd with the table entry's halves pre-split (as in dd_mul)
    th_ = np.take(_TABLE_HI, j)
    ph = th_ * uh
    uh_hi, uh_lo = _split(uh)
    t_hi, t_lo = np.take(_TABLE_SPLIT_HI, j), np.take(_TABLE_SPLIT_LO, j)
    pl = t_hi * uh_hi
    pl -= ph
    t_hi *= uh_lo
    pl += t_hi
    uh_hi *= t_lo
    pl += uh_hi
    t_lo *= uh_lo
    pl += t_lo
    th_ *= ul
    uh *= np.take(_TABLE_LO, j)
    th_ += uh
    pl += th_
    mh, ml = _fast_two_sum(ph, pl)
    if all_valid:
        return m, mh, ml, valid
    zero = np.zeros_like(mh)
    return m, np.where(valid, mh, zero), np.where(valid, ml, zero), valid


def _reduce_short(th: Array, tl: Array, k: Array) -> tuple[Array, Array]:
    """r = th + tl − k·ln2/4096 as rh + rl for th ∈ [−1400, 0] (|k| < 2^23), within 2^−93.5.

    th − k·c1 is exact (Sterbenz: k·c1 has ≤ 23 + 30 bits and |k·c1| < |k|c(1 − 2^−29.5) ≤
    2|th|, as in :func:`dd_exp_scaled`), k·c2 = p2h + p2l exactly (k has ≤ 23 bits, c2's
    halves 26), TwoSum exact; left in float64: tl − p2l − k·c3 + rl, three roundings ≤ 2^−96
    each (|tl| ≤ ulp(th)/2 ≤ 2^−43 as |th| < 2048, the rest ≤ 2^−66), and the last Fast2Sum,
    exact where |rh| ≥ |rl|, else (r near 0) within 2^−95 + 2^−96: ≤ 5·2^−96 in all.
    """
    a = th - k * _C1
    # k·c2 exactly: k has ≤ 23 bits and c2 is pre-split into 26-bit halves (Dekker)
    p2h = k * _C2
    p2l = k * _C2_HI
    p2l -= p2h
    p2l += k * _C2_LO
    rh, rl = two_sum(a, -p2h)
    low = tl - p2l
    low -= k * _C3
    rl += low
    return _fast_two_sum(rh, rl)


def _reduce_wide(th: Array, tl: Array, k: Array) -> tuple[Array, Array]:
    """r = th + tl − k·ln2/4096 as rh + rl for th ∈ [−2^21, 0] (|k| < 2^33.53), within 2^−100
    (the bound in :func:`dd_exp_scaled`'s docstring)."""
    a = th - k * _C1_WIDE  # exact
    a, e0 = _fast_two_sum(a, tl)  # exact
    # k·c2 exactly: Dekker's product, k split (≤ 34 bits), c2 pre-split
    p2h = k * _C2_WIDE
    k_hi, k_lo = _split(k)
    p2l = k_hi * _C2_WIDE_HI
    p2l -= p2h
    k_hi *= _C2_WIDE_LO
    p2l += k_hi
    p2l += k_lo * _C2_WIDE_HI
    k_lo *= _C2_WIDE_LO
    p2l += k_lo
    rh, rl = two_sum(a, -p2h)
    rl += e0
    rl -= p2l
    rl -= k * _C3_WIDE
    return _fast_two_sum(rh, rl)
