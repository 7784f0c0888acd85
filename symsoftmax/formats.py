"""Binary floating-point formats: the one place that knows each format's parameters.

A format with precision p (significand bits, hidden bit included), smallest normal exponent emin
and largest exponent emax represents ±m·2^(e−p+1) with 0 ≤ m < 2^p and emin ≤ e ≤ emax
(IEEE 754-2019 §3.3). Every format here embeds exactly in float64, so a value of any of them can
be carried as a Python float without rounding.

Figures from ../shared/reference/numerics.md and IEEE 754; bfloat16 as implemented by ml_dtypes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import ml_dtypes
import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError

__all__ = ["FORMATS", "Format", "get_format"]


@dataclass(frozen=True)
class Format:
    """Parameters of one binary floating-point format."""

    name: str
    precision: int  # p: significand bits, hidden bit included
    emin: int  # smallest normal exponent
    emax: int  # largest finite exponent
    numpy_dtype: np.dtype

    @property
    def unit_roundoff(self) -> float:
        """u = 2^−p, the relative error bound of round to nearest."""
        return math.ldexp(1.0, -self.precision)

    @property
    def max(self) -> float:
        """Largest finite value, (2 − 2^(1−p))·2^emax."""
        return math.ldexp(2.0 - math.ldexp(1.0, 1 - self.precision), self.emax)

    @property
    def tiny(self) -> float:
        """Smallest positive normal value, 2^emin."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value, 2^(emin − p + 1)."""
        return math.ldexp(1.0, self.emin - self.precision + 1)

    @cached_property
    def exp_overflow_threshold(self) -> float:
        """ln(max): exp(x) overflows the format for x above this (float64 approximation)."""
        return math.log(self.max)

    def quantum_exponent(self, exponent: int) -> int:
        """Exponent of the spacing (ulp) of values with floor(log2|v|) = exponent.

        q = max(exponent, emin) − p + 1; below 2^emin the spacing is the constant subnormal one.
        """
        return max(exponent, self.emin) - self.precision + 1

    def quantum_exponent_array(self, exponent: npt.NDArray[np.int_]) -> npt.NDArray[np.int_]:
        """:meth:`quantum_exponent` for an array of exponents."""
        return np.maximum(exponent, self.emin) - self.precision + 1


FORMATS: dict[str, Format] = {
    "float64": Format("float64", 53, -1022, 1023, np.dtype(np.float64)),
    "float32": Format("float32", 24, -126, 127, np.dtype(np.float32)),
    "float16": Format("float16", 11, -14, 15, np.dtype(np.float16)),
    "bfloat16": Format("bfloat16", 8, -126, 127, np.dtype(ml_dtypes.bfloat16)),
}


def get_format(name: str | Format | np.dtype | type) -> Format:
    """Look a format up by name (float64, float32, float16, bfloat16) or NumPy dtype.

    A Format passes through unchanged.
    """
    if isinstance(name, Format):
        return name
    key = name if isinstance(name, str) else _dtype_name(name)
    try:
        return FORMATS[key]
    except KeyError:
        raise InputError(f"unknown dtype {name!r}; expected one of {', '.join(FORMATS)}") from None


def _dtype_name(dtype: object) -> str:
    try:
        return np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        return repr(dtype)
