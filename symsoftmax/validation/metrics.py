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
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.rounding import ulp

__all__ = ["ExactValues", "normwise_error", "special_mismatch", "ulp_errors"]

FloatArray = npt.NDArray[np.float64]
_CONTEXT = Context(prec=60)  # the remainder v − hi needs ~17 digits; 60 leaves room


@dataclass(frozen=True)
class ExactValues:
    """Exact values v = hi + lo of one output array (same shape as the output).

    lo is kept as ``lo_frac · 2^lo_exp`` (lo_frac near 1), so that it keeps its 53 bits even
    where lo itself would be a float64 subnormal (exact values near the float64 underflow).
    """

    hi: FloatArray
    lo_frac: FloatArray
    lo_exp: npt.NDArray[np.int64]

    @classmethod
    def of_values(cls, values: npt.ArrayLike) -> ExactValues:
        """Values that are exact as float64 (lo = 0)."""
        hi = np.asarray(values, dtype=np.float64)
        return cls(hi, np.zeros(hi.shape), np.zeros(hi.shape, dtype=np.int64))

    @classmethod
    def parse(
        cls, decimals: npt.NDArray[Any] | Iterable[str], *, where: str = "exact"
    ) -> ExactValues:
        """Parse decimal strings ("nan", "inf", "-inf" allowed) into the hi + lo pair."""
        strings = np.asarray(decimals, dtype=object)
        hi = np.empty(strings.shape, dtype=np.float64)
        lo_frac = np.zeros(strings.shape, dtype=np.float64)
        lo_exp = np.zeros(strings.shape, dtype=np.int64)
        for index, token in np.ndenumerate(strings):
            text = str(token).strip().lower()
            if text in ("nan", "inf", "+inf", "-inf"):
                hi[index] = float(text)
                continue
            mantissa, _, exponent = text.partition("e")
            if exponent and _huge_exponent(exponent):
                # far outside float64 (e.g. e^−10^30): zero to within 2^−1074, or beyond any max
                tiny = exponent.lstrip("+").startswith("-")
                negative = mantissa.startswith("-")
                hi[index] = (
                    (-0.0 if negative else 0.0) if tiny else (-math.inf if negative else math.inf)
                )
                continue
            try:
                exact = Decimal(text)
            except InvalidOperation:
                raise InputError(f"{where}{list(index)}: malformed decimal {text[:40]!r}") from None
            if not exact.is_finite():
                raise InputError(f"{where}{list(index)}: malformed decimal {text[:40]!r}")
            head = float(exact)  # correctly rounded (CPython converts through the string)
            hi[index] = head
            if not math.isfinite(head):
                continue
            rest = _CONTEXT.subtract(exact, Decimal(head))
            if rest:
                scale = int((rest.adjusted() + 1) * _LOG2_10)  # 2^scale ≈ |rest|
                lo_frac[index] = float(_CONTEXT.multiply(rest, _CONTEXT.power(2, -scale)))
                lo_exp[index] = scale
        return cls(hi, lo_frac, lo_exp)

    @property
    def lo(self) -> FloatArray:
        """The remainder v − hi (may lose bits where it is a float64 subnormal)."""
        with np.errstate(under="ignore"):
            return np.ldexp(self.lo_frac, self.lo_exp)

    def ulps(self, fmt: Format) -> FloatArray:
        """ulp(v) of ``fmt`` at each exact value v (NaN where v is not finite).

        hi may have rounded up to a power of two from just below it; then v lies in the binade
        below, whose spacing is that of the float64 just under hi.
        """
        below = (np.sign(self.hi) * np.sign(self.lo_frac) < 0) & np.isfinite(self.hi)
        at = np.where(below, np.nextafter(self.hi, 0.0), self.hi)
        return ulp(at, fmt)


_LOG2_10 = math.log2(10)


def _huge_exponent(exponent: str) -> bool:
    digits = exponent.lstrip("+-")
    return not digits.isdigit() or len(digits) > 5 or int(digits) > 5000


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
