"""Error measures of one computed output against its exact value: ulps and normwise relative error.

The exact value v of each component is stored as a decimal string with ≥ 40 significant digits.
It is parsed once into an unevaluated float64 pair v = hi + lo (hi = v correctly rounded to
float64, lo = the rounded remainder), which carries v to about 2^−106 relative — far below any
ulp of the supported formats — so the error of a computed value x in ulps,

    err(x) = |x − v| / ulp(v),    ulp(v) = 2^(max(E, emin) − p + 1),  E = ⌊log2|v|⌋,

is fractional and exact to ~15 digits (x − hi is exact by Sterbenz's lemma when x is near v;
lo is stored scaled, so it keeps its precision near the float64 underflow too).
The ulp is taken at the exact value v (Goldberg; Muller, "Handbook of Floating-Point Arithmetic",
§2.6), with the constant subnormal spacing below 2^emin, through :func:`symsoftmax.rounding.ulp`.

Where the correctly rounded value is NaN or ±inf, the error is 0 when the computed value is the
same special and ∞ otherwise; a computed NaN or ±inf where a finite value was due is ∞ ulps.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format
from symsoftmax.vectors.decimals import ExactValues

__all__ = ["ExactValues", "normwise_error", "special_mismatch", "ulp_errors"]

FloatArray = npt.NDArray[np.float64]


def special_mismatch(got: FloatArray, expected: FloatArray) -> npt.NDArray[np.bool_]:
    """True where got and the correctly rounded value differ in kind: NaN, +inf, −inf, finite."""
    nan_got, nan_exp = np.isnan(got), np.isnan(expected)
    inf_exp = np.isinf(expected)
    wrong_nan = nan_got != nan_exp
    wrong_inf = inf_exp & ~nan_got & (got != expected)
    finite_exp = np.isfinite(expected)
    wrong_finite = finite_exp & ~np.isfinite(got)
    return wrong_nan | wrong_inf | wrong_finite


def ulp_errors(
    got: FloatArray, exact: ExactValues, expected: FloatArray, fmt: Format
) -> FloatArray:
    """|got − v| / ulp(v) per component (see the module docstring for NaN and ±inf)."""
    finite = np.isfinite(expected) & np.isfinite(got) & np.isfinite(exact.hi)
    spacing = exact.ulps(fmt)
    _, spacing_exp = np.frexp(np.where(finite, spacing, 1.0))  # spacing = 2^(spacing_exp − 1)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        # (x − hi)/ulp is exact (a power-of-two scaling); lo/ulp is rescaled without underflow
        lo_in_ulps = np.ldexp(exact.lo_frac, exact.lo_exp - (spacing_exp - 1))
        errors = np.where(finite, np.abs((got - exact.hi) / spacing - lo_in_ulps), 0.0)
    return np.where(special_mismatch(got, expected), np.inf, errors)


def normwise_error(
    got: FloatArray, exact: ExactValues, expected: FloatArray
) -> tuple[float, float]:
    """(‖x − v‖∞, ‖v‖∞) over the components whose correctly rounded value is finite."""
    finite = np.isfinite(expected)
    if not finite.any():
        return 0.0, 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs((got[finite] - exact.hi[finite]) - exact.lo[finite])
    if not np.all(np.isfinite(diff)):
        return math.inf, float(np.max(np.abs(exact.hi[finite])))
    return float(np.max(diff)), float(np.max(np.abs(exact.hi[finite])))
