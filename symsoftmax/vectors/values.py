"""Exact, platform-independent construction of input values in a format.

Generation decisions never go through libm (``np.exp``, ``np.log`` differ across platforms in the
last bit): random values are built from integers drawn from ``numpy.random.Generator(PCG64)``
(whose integer streams are stable across platforms and NumPy versions) and scaled by powers of
two, which is exact; the result is rounded to the format by :func:`symsoftmax.rounding.round_array`.
Values that involve a logarithm (e.g. ln of the underflow threshold) are computed with mpmath at
256 bits and rounded once with :func:`symsoftmax.rounding.round_exact`; the exp overflow threshold
is the format's own (:attr:`symsoftmax.formats.Format.exp_overflow_threshold`).

Families of many short rows use the ``*_rows`` forms (:func:`random_normal_rows`, …): the same
generator calls, one per row and in row order as row by row, so the same values; the scaling and
the rounding, both elementwise, are done once for all the rows (a NumPy call on a row of a few
entries costs microseconds of overhead, more than its work).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    "random_logspaced_rows",
    "random_normal",
    "random_normal_rows",
    "random_uniform",
    "random_uniform_rows",
    "split_rows",
    "step",
    "uniform_draws",
    "uniform_values",
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
    return random_normal_rows(rng, fmt, [(size, scale_log2)])[0]


def random_normal_rows(
    rng: np.random.Generator, fmt: Format, shapes: Sequence[tuple[int, int]]
) -> list[Floats]:
    """:func:`random_normal` of each (size, scale_log2) in ``shapes``, in order.

    The same generator calls as row by row (one ``rng.integers`` per row: merging them would
    change the stream), hence the same values; the arithmetic and the rounding are done once
    for all the rows (they are elementwise), which spares the per-call overhead of short rows.
    """
    if not shapes:
        return []
    draws = [rng.integers(0, 1 << 20, size=(size, 12), dtype=np.int64) for size, _ in shapes]
    centred = _joined(draws).sum(axis=1) - 6 * (1 << 20)
    exponents = _per_entry([scale_log2 - 20 for _, scale_log2 in shapes], shapes)
    return split_rows(round_array(np.ldexp(centred.astype(np.float64), exponents), fmt), shapes)


def random_uniform(
    rng: np.random.Generator, fmt: Format, size: int, scale_log2: int, *, negative: bool = False
) -> Floats:
    """Uniform values in [−2^scale_log2, 2^scale_log2) (or [−2^scale_log2, 0)), rounded to ``fmt``.

    Each draw is k·2^(scale_log2 − 52) for a uniform integer k in [−2^52, 2^52): exact before the
    one rounding to the format.
    """
    return random_uniform_rows(rng, fmt, [(size, scale_log2)], negative=negative)[0]


def random_uniform_rows(
    rng: np.random.Generator,
    fmt: Format,
    shapes: Sequence[tuple[int, int]],
    *,
    negative: bool = False,
) -> list[Floats]:
    """:func:`random_uniform` of each (size, scale_log2) in ``shapes``, in order: one generator
    call per row as row by row (the same values), the scaling and rounding once for all."""
    draws = [uniform_draws(rng, size, negative=negative) for size, _ in shapes]
    return uniform_values(fmt, draws, shapes)


def uniform_draws(
    rng: np.random.Generator, size: int, *, negative: bool = False
) -> npt.NDArray[np.int64]:
    """The generator call of :func:`random_uniform`: ``size`` integers k uniform in
    [−2^52, 2^52) (or [−2^52, 0)). A family that draws other values between its rows draws
    these in its own order and makes the values of all its rows with :func:`uniform_values`."""
    high = 0 if negative else 1 << 52
    return rng.integers(-(1 << 52), high, size=size, dtype=np.int64)


def uniform_values(
    fmt: Format, draws: Sequence[npt.NDArray[np.int64]], shapes: Sequence[tuple[int, int]]
) -> list[Floats]:
    """The rows of :func:`random_uniform` from their :func:`uniform_draws`: k·2^(scale_log2 − 52)
    rounded to ``fmt``, with (size, scale_log2) of each row in ``shapes``; one scaling and one
    rounding for all the rows (both elementwise)."""
    if not shapes:
        return []
    exponents = _per_entry([scale_log2 - 52 for _, scale_log2 in shapes], shapes)
    values = np.ldexp(_joined(list(draws)).astype(np.float64), exponents)
    return split_rows(round_array(values, fmt), shapes)


def random_logspaced(
    rng: np.random.Generator, fmt: Format, size: int, exponent_low: int, exponent_high: int
) -> Floats:
    """Values ±m·2^(e−p+1) with e uniform in [exponent_low, exponent_high], m uniform p-bit.

    Magnitudes are log-uniform over the binades (like SciPy's _mptestutils log-spaced points),
    both signs equally likely; each value is a format value by construction (rounded only where
    e falls in the subnormal range).
    """
    return random_logspaced_rows(rng, fmt, [size], exponent_low, exponent_high)[0]


def random_logspaced_rows(
    rng: np.random.Generator,
    fmt: Format,
    sizes: Sequence[int],
    exponent_low: int,
    exponent_high: int,
) -> list[Floats]:
    """:func:`random_logspaced` of each size in ``sizes``, in order: the generator calls of each
    row (exponents, significands, signs) as row by row, the arithmetic and rounding once."""
    if not sizes:
        return []
    p = fmt.precision
    exponents, significands, signs = [], [], []
    for size in sizes:
        exponents.append(rng.integers(exponent_low, exponent_high + 1, size=size, dtype=np.int64))
        significands.append(rng.integers(1 << (p - 1), 1 << p, size=size, dtype=np.int64))
        signs.append(rng.integers(0, 2, size=size, dtype=np.int64))
    magnitudes = (_joined(signs) * 2 - 1) * _joined(significands)
    values = np.ldexp(magnitudes.astype(np.float64), (_joined(exponents) - p + 1).astype(int))
    return split_rows(round_array(values, fmt), [(size, 0) for size in sizes])


def _joined(parts: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    """The rows' draws end to end (a lone row as it is)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _per_entry(values: list[int], shapes: Sequence[tuple[int, int]]) -> int | npt.NDArray[np.int_]:
    """Each row's value repeated over its entries (a lone row's value as it is)."""
    if len(values) == 1:
        return values[0]
    return np.repeat(np.asarray(values, dtype=np.int64), [size for size, _ in shapes])


def split_rows(flat: Floats, shapes: Sequence[tuple[int, int]]) -> list[Floats]:
    """``flat`` cut into rows of the sizes (the first of each pair of ``shapes``), in order.

    The rows are views of disjoint slices (writing into one leaves the others alone); a lone
    row is ``flat`` itself.
    """
    if len(shapes) == 1:
        return [flat]
    rows, start = [], 0
    for size, _ in shapes:
        rows.append(flat[start : start + size])
        start += size
    return rows


def ceil_log2(x: float) -> int:
    """⌈log2 x⌉ for x > 0, exactly (frexp, no libm log)."""
    mantissa, exponent = math.frexp(x)
    return exponent - 1 if mantissa == 0.5 else exponent
