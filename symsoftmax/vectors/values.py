"""Exact, platform-independent construction of input values in a format.

Generation decisions never go through libm (``np.exp``, ``np.log`` differ across platforms in the
last bit): random values are built from integers drawn from ``numpy.random.Generator(PCG64)``
(whose integer streams are stable across platforms and NumPy versions) and scaled by powers of
two, which is exact; the result is rounded to the format by :func:`symsoftmax.rounding.round_array`.
Values that involve a logarithm (e.g. ln of the underflow threshold) are computed with mpmath at
256 bits and rounded once with :func:`symsoftmax.rounding.round_exact`; the exp overflow threshold
is the format's own (:attr:`symsoftmax.formats.Format.exp_overflow_threshold`).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.rounding import round_array, round_exact

__all__ = [
    "ln_rounded",
    "next_down",
    "next_up",
    "random_logspaced",
    "random_normal",
    "random_uniform",
    "step",
]

Floats = npt.NDArray[np.float64]
_WORKING_BITS = 256


def next_up(x: float, fmt: Format) -> float:
    """The next value of ``fmt`` above ``x`` (IEEE nextUp; exact, no libm)."""
    return _next_after(x, fmt, math.inf)


def next_down(x: float, fmt: Format) -> float:
    """The next value of ``fmt`` below ``x`` (IEEE nextDown)."""
    return _next_after(x, fmt, -math.inf)


def _next_after(x: float, fmt: Format, direction: float) -> float:
    """nextafter in ``fmt`` towards ±inf. A finite-only format has no inf to aim at (±inf
    converts to NaN there): it aims at ±max, and beyond ±max is its overflow value, NaN."""
    target = direction
    if not fmt.infinities and math.isfinite(x):
        target = math.copysign(fmt.max, direction)
        if x == target:
            return math.nan
    typed = np.asarray(x, dtype=fmt.numpy_dtype)
    return float(np.nextafter(typed, np.asarray(target, dtype=fmt.numpy_dtype)))


def step(x: float, count: int, fmt: Format) -> float:
    """``x`` moved by ``count`` neighbouring values of ``fmt`` (up if positive)."""
    for _ in range(abs(count)):
        x = next_up(x, fmt) if count > 0 else next_down(x, fmt)
    return x


def ln_rounded(value: float | mpmath.mpf, fmt: Format) -> float:
    """ln(value) rounded to nearest in ``fmt`` (mpmath at 256 bits, then one exact rounding)."""
    with mpmath.workprec(_WORKING_BITS):
        return round_exact(mpmath.log(mpmath.mpf(value)), fmt)


def random_normal(rng: np.random.Generator, fmt: Format, size: int, scale_log2: int = 0) -> Floats:
    """Approximately normal values with standard deviation 2^scale_log2, rounded to ``fmt``.

    Irwin–Hall: the sum of 12 uniform integers in [0, 2^20), centred, has variance 2^40, so
    (sum − 6·2^20)·2^(scale_log2 − 20) has standard deviation 2^scale_log2 and lies in ±6σ.
    Integer arithmetic and a power-of-two scaling: exact and identical on every platform.
    """
    draws = rng.integers(0, 1 << 20, size=(size, 12), dtype=np.int64)
    centred = draws.sum(axis=1) - 6 * (1 << 20)
    return round_array(np.ldexp(centred.astype(np.float64), scale_log2 - 20), fmt)


def random_uniform(
    rng: np.random.Generator, fmt: Format, size: int, scale_log2: int, *, negative: bool = False
) -> Floats:
    """Uniform values in [−2^scale_log2, 2^scale_log2) (or [−2^scale_log2, 0)), rounded to ``fmt``.

    Each draw is k·2^(scale_log2 − 52) for a uniform integer k in [−2^52, 2^52): exact before the
    one rounding to the format.
    """
    high = 0 if negative else 1 << 52
    k = rng.integers(-(1 << 52), high, size=size, dtype=np.int64)
    return round_array(np.ldexp(k.astype(np.float64), scale_log2 - 52), fmt)


def random_logspaced(
    rng: np.random.Generator, fmt: Format, size: int, exponent_low: int, exponent_high: int
) -> Floats:
    """Values ±m·2^(e−p+1) with e uniform in [exponent_low, exponent_high], m uniform p-bit.

    Magnitudes are log-uniform over the binades (like SciPy's _mptestutils log-spaced points),
    both signs equally likely; each value is a format value by construction (rounded only where
    e falls in the subnormal range).
    """
    p = fmt.precision
    exponents = rng.integers(exponent_low, exponent_high + 1, size=size, dtype=np.int64)
    significands = rng.integers(1 << (p - 1), 1 << p, size=size, dtype=np.int64)
    signs = rng.integers(0, 2, size=size, dtype=np.int64) * 2 - 1
    values = np.ldexp((signs * significands).astype(np.float64), (exponents - p + 1).astype(int))
    return round_array(values, fmt)


def ceil_log2(x: float) -> int:
    """⌈log2 x⌉ for x > 0, exactly (frexp, no libm log)."""
    mantissa, exponent = math.frexp(x)
    return exponent - 1 if mantissa == 0.5 else exponent
