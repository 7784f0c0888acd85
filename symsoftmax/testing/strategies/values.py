"""Exact values of a format as a strategy: its landmarks (where softmax code breaks) first,
then any value, drawn at the width of an IEEE carrier so that it shrinks as ``st.floats`` does."""

from __future__ import annotations

import functools
import math
from typing import Literal

import mpmath
import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, Format, get_format
from symsoftmax.rounding import round_array, round_exact
from symsoftmax.vectors.values import ln_rounded, next_down, next_up


def landmarks(dtype: str | Format) -> tuple[float, ...]:
    """The values of ``dtype`` where softmax code breaks, simplest first, each a format value.

    ±0, ±1, 2^p (where the format's integers stop), the exp overflow threshold t = ln(max)
    rounded down and its neighbours, −t, ln(2/smallest subnormal) negated (e^z at the underflow
    threshold), the smallest and largest subnormal, the smallest normal, max and its lower
    neighbour, −max, and ±inf and NaN where the format has them.
    """
    return _landmarks(get_format(dtype))


@functools.cache
def _landmarks(fmt: Format) -> tuple[float, ...]:
    t = fmt.exp_overflow_threshold
    underflow = ln_rounded(mpmath.ldexp(1, -fmt.underflow_exponent), fmt)
    values = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        round_exact(2.0**fmt.precision, fmt),
        t,
        next_down(t, fmt),
        next_up(t, fmt),
        -t,
        -underflow,
        fmt.smallest_subnormal,
        -fmt.smallest_subnormal,
        next_down(fmt.tiny, fmt),
        fmt.tiny,
        -fmt.tiny,
        fmt.max,
        next_down(fmt.max, fmt),
        -fmt.max,
        math.inf,
        -math.inf,
        math.nan,
    ]
    exact = round_array(np.asarray(values), fmt)  # ±inf become NaN in a finite-only format
    unique: dict[str, float] = {}
    for value in exact.tolist():
        unique.setdefault(repr(value), value)  # keeps −0 apart from 0, one NaN
    return tuple(unique.values())


_WIDTHS: tuple[tuple[Literal[16, 32, 64], str], ...] = (
    (16, "float16"),
    (32, "float32"),
    (64, "float64"),
)


def _carrier(fmt: Format) -> tuple[Literal[16, 32, 64], Format]:
    """The narrowest IEEE interchange format (width, Format) that holds every value of ``fmt``."""
    for width, name in _WIDTHS:
        carrier = FORMATS[name]
        if (
            fmt.precision <= carrier.precision
            and fmt.emin >= carrier.emin
            and fmt.emax <= carrier.emax
        ):
            return width, carrier
    raise InputError(f"{fmt.name} does not fit in float64")


def _checked_bound(value: float | None, fmt: Format, name: str) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and round_exact(value, fmt) == value):
        raise InputError(f"{name}={value!r} is not a finite {fmt.name} value")
    return float(value)


def format_values(
    dtype: str | Format = "float32",
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    allow_nan: bool | None = None,
    allow_infinity: bool | None = None,
    allow_subnormal: bool = True,
) -> SearchStrategy[float]:
    """Exact values of ``dtype`` (as Python floats): its :func:`landmarks`, then any value.

    The arguments mean what they mean for ``st.floats``: NaN is allowed unless a bound is given,
    ±inf unless both are (never in a format without infinities); bounds must be values of the
    format. Any value is drawn by ``st.floats`` at the width of the narrowest IEEE format that
    holds ``dtype`` (float16 for the 8-bit formats, float32 for bfloat16) and rounded to
    ``dtype``, so it shrinks as ``st.floats`` does, towards 0 and simple numbers; the landmarks
    come first, so a failure at one of them shrinks to 0 or to that landmark.
    """
    fmt = get_format(dtype)
    low = _checked_bound(min_value, fmt, "min_value")
    high = _checked_bound(max_value, fmt, "max_value")
    nan_ok = (low is None and high is None) if allow_nan is None else allow_nan
    inf_ok = (low is None or high is None) if allow_infinity is None else allow_infinity
    inf_ok = inf_ok and fmt.infinities
    if not inf_ok:  # values beyond max would round to ±inf (or NaN in a finite-only format)
        low = -fmt.max if low is None else max(low, -fmt.max)
        high = fmt.max if high is None else min(high, fmt.max)
    width, carrier = _carrier(fmt)
    drawn = st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,  # NaN is a landmark (st.floats takes none with bounds, which a
        allow_infinity=inf_ok,  # finite-only format always has)
        allow_subnormal=None if allow_subnormal else False,  # None: as far as the bounds allow
        width=width,
    )
    if carrier is not fmt:
        drawn = drawn.map(lambda v: float(round_array(np.asarray([v]), fmt)[0]))
        if not allow_subnormal:  # the carrier's normals can be fmt's subnormals
            drawn = drawn.filter(lambda v: v == 0 or not abs(v) < fmt.tiny)

    def fits(v: float) -> bool:
        if math.isnan(v):
            return nan_ok
        if math.isinf(v):
            return inf_ok and (v < 0 or high is None) and (v > 0 or low is None)
        if not allow_subnormal and 0 < abs(v) < fmt.tiny:
            return False
        return (low is None or v >= low) and (high is None or v <= high)

    special = [v for v in landmarks(fmt) if fits(v)]
    return st.one_of(st.sampled_from(special), drawn) if special else drawn


@functools.lru_cache(maxsize=4096)  # families ask for the same ranges draw after draw
def _finite_values(fmt: Format, low: float, high: float) -> SearchStrategy[float]:
    return format_values(fmt, min_value=low, max_value=high, allow_nan=False)
