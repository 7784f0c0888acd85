"""Binary floating-point formats: the one place that knows each format's parameters and arithmetic.

A format with precision p (significand bits, hidden bit included), smallest normal exponent emin
and largest exponent emax represents ±m·2^(e−p+1) with 0 ≤ m < 2^p and emin ≤ e ≤ emax
(IEEE 754-2019 §3.3). Every format here embeds exactly in float64, so a value of any of them can
be carried as a Python float without rounding (checked when a :class:`Format` is made).

Parameters from IEEE 754-2019 §3.6 (binary16, binary32, binary64); bfloat16 as implemented
by ml_dtypes (8 exponent bits like binary32, 8 significand bits, subnormals, infinities); the
two 8-bit formats of the OCP "8-bit Floating Point Specification (OFP8)" rev. 1.0 (2023), as
ml_dtypes implements them: float8_e5m2 (IEEE-like: subnormals, ±inf, NaNs) and float8_e4m3fn
("fn": finite, one NaN pattern per sign — no infinities, largest value 448).

Finite-only formats (float8_e4m3fn) have no infinity to overflow to: a real beyond the range
(|v| > max + half the top spacing, 464 for E4M3) rounds to NaN, as the OCP conversion without
saturation does (and ml_dtypes' cast); ±inf converted to such a format is NaN too. Hardware
that saturates to ±max instead is accepted by the validator as an alternative answer
(docs/exhaustive.md, "float8").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError

__all__ = ["FLOAT64_PRECISION", "FORMATS", "Format", "get_format"]

FLOAT64_PRECISION = 53
"""p of float64, the carrier: every format's values are held and computed on as float64."""

_EXP_THRESHOLD_BITS = 256  # working precision of the exp-overflow threshold's decision


@dataclass(frozen=True)
class Format:
    """Parameters of one binary floating-point format, and the arithmetic that follows from them.

    Everything the package computes about a format is derived here, exactly, from (p, emin, emax):
    the quantum (ulp) exponent, the bounds beyond which a real rounds to ±0 or ±inf, the largest
    value whose exponential is finite. Rounding (:mod:`symsoftmax.rounding`), the reference fast
    path (:mod:`symsoftmax.reference.fast`) and the test vectors read them from here.

    A new format needs one entry in :data:`FORMATS` — name, p, emin, emax and the name of its NumPy
    dtype (``"ml_dtypes.NAME"`` for the non-native ones) — and its name in the ``dtype`` enum of the
    vector-file schema (``symsoftmax/schemas/vectors.schema.json``, a published file; a test keeps
    the two equal), provided it is an IEEE-style binary format (subnormals, ±inf, the largest finite
    value (2 − 2^(1−p))·2^emax, as float8_e5m2) that embeds in float64. Nothing else branches on a
    format's name: the fast path tells float64 from narrower formats by p
    (:attr:`float64_extra_bits`), NumPy arrays of any listed dtype are taken as numbers
    (:func:`symsoftmax.rounding.as_format_array`), and the CLI's ``--dtype`` names come from
    :data:`FORMATS`. Two things a new format may need besides:

    * finite-only formats (float8_e4m3fn: no infinities, largest value 448, not the 480 of the
      formula) give ``largest`` and ``infinities=False``: overflow then rounds to NaN
      (:meth:`overflow_value`);
    * handing arrays to PyTorch goes through DLPack, which does not carry ml_dtypes' dtypes:
      :mod:`symsoftmax.validation.adapters` converts bfloat16 through a 16-bit integer view, and a
      new non-native format needs the same (an 8-bit view for float8).
    """

    name: str
    precision: int  # p: significand bits, hidden bit included
    emin: int  # smallest normal exponent
    emax: int  # largest finite exponent
    dtype_name: str  # the NumPy dtype: "float32", or "ml_dtypes.bfloat16" (imported when used)
    largest: float | None = None  # max when it is not (2 − 2^(1−p))·2^emax (finite-only formats)
    infinities: bool = True  # False: overflow and ±inf give NaN (float8_e4m3fn)

    def __post_init__(self) -> None:
        if not (
            2 <= self.precision <= FLOAT64_PRECISION and -1022 <= self.emin < 0 < self.emax <= 1023
        ):
            raise ValueError(f"format {self.name} does not embed in float64")

    @cached_property
    def numpy_dtype(self) -> np.dtype:
        """The NumPy dtype of the format; ml_dtypes (≈ 0.5 s to import) only where it is needed."""
        module, _, attribute = self.dtype_name.rpartition(".")
        if not module:
            return np.dtype(attribute)
        import importlib

        return np.dtype(getattr(importlib.import_module(module), attribute))

    @property
    def unit_roundoff(self) -> float:
        """u = 2^−p, the relative error bound of round to nearest."""
        return math.ldexp(1.0, -self.precision)

    @property
    def max(self) -> float:
        """Largest finite value, (2 − 2^(1−p))·2^emax, or ``largest`` where the format says."""
        if self.largest is not None:
            return self.largest
        return math.ldexp(2.0 - math.ldexp(1.0, 1 - self.precision), self.emax)

    def overflow_value(self, negative: bool) -> float:
        """What a real beyond the range rounds to: ±inf, or NaN in a finite-only format."""
        if not self.infinities:
            return math.nan
        return -math.inf if negative else math.inf

    @property
    def tiny(self) -> float:
        """Smallest positive normal value, 2^emin."""
        return math.ldexp(1.0, self.emin)

    @property
    def smallest_subnormal(self) -> float:
        """Smallest positive value, 2^(emin − p + 1): the quantum of the subnormal range."""
        return math.ldexp(1.0, self.quantum_exponent(self.emin))

    @property
    def float64_extra_bits(self) -> int:
        """53 − p: the trailing bits of a float64 significand below this format's last bit.

        0 for float64. In the normal range a format value is a float64 whose last
        ``float64_extra_bits`` significand bits are zero, so on float64 bit patterns (monotone in
        the value for positive numbers) the rounding breakpoints of the format are the patterns
        ≡ 2^(extra − 1) mod 2^extra.
        """
        return FLOAT64_PRECISION - self.precision

    # ---- the quantum (IEEE 754-2019 §4.3.1: round v/2^q to an integer) ----------------------

    def quantum_exponent(self, exponent: int) -> int:
        """Exponent q of the spacing (ulp) of values with floor(log2|v|) = exponent.

        q = max(exponent, emin) − p + 1; below 2^emin the spacing is the constant subnormal one.
        """
        return max(exponent, self.emin) - self.precision + 1

    def quantum_exponent_array(self, exponent: npt.NDArray[np.int_]) -> npt.NDArray[np.int_]:
        """:meth:`quantum_exponent` for an array of exponents."""
        # one subtraction, not two: each NumPy operation on a short array costs ~0.5 µs
        return np.maximum(exponent, self.emin) - (self.precision - 1)

    # ---- where rounding leaves the finite nonzero values (IEEE 754-2019 §4.3.1, §7.4) -------

    @property
    def underflow_threshold(self) -> Fraction:
        """2^(emin − p), half the smallest subnormal: every real v with |v| ≤ this rounds to ±0.

        Below it the nearest value is 0; at it, the tie goes to the even neighbour, 0.
        """
        return Fraction(2) ** self.underflow_exponent

    @cached_property  # read on every exact rounding: an attribute after the first call
    def underflow_exponent(self) -> int:
        """emin − p: floor(log2|v|) < emin − p means |v| < :attr:`underflow_threshold` (→ ±0)."""
        return self.emin - self.precision

    @property
    def overflow_threshold(self) -> Fraction:
        """(2 − 2^−p)·2^emax, max plus half its spacing: every |v| ≥ this rounds to ±inf.

        Below it the nearest value is at most max; at it, the tie goes to the even neighbour,
        2^(emax+1), which is beyond the range (IEEE 754-2019 §7.4, roundTiesToEven). In a
        finite-only format (max's last bit is even there: 448 = 1.11₂·2^8) the tie goes to max,
        and only |v| above this overflows (to NaN).
        """
        spacing = Fraction(2) ** self.quantum_exponent(self.emax)
        return Fraction(self.max) + spacing / 2

    @cached_property  # read on every exact rounding: an attribute after the first call
    def overflow_exponent(self) -> int:
        """emax + 1: floor(log2|v|) ≥ emax + 1 means |v| ≥ 2^(emax+1) > :attr:`overflow_threshold`
        (→ ±inf); so does a rounded result of magnitude 2^(emax+1)."""
        return self.emax + 1

    @cached_property
    def exp_overflow_threshold(self) -> float:
        """The largest value t of the format with e^t ≤ max: exp of any larger input overflows.

        t is ln(max) rounded down to the format. ln(max) is irrational (max is a rational other
        than 1; Lindemann), hence no format value; it is evaluated at 256 bits with mpmath, put on
        the format's grid, and the result checked by e^t ≤ max < e^(t + spacing) at that precision.
        """
        import mpmath

        with mpmath.workprec(_EXP_THRESHOLD_BITS):
            ln_max = mpmath.log(self.max)
            _mantissa, exponent = mpmath.frexp(ln_max)  # ln_max = mantissa·2^exponent, in [1/2, 1)
            spacing = mpmath.ldexp(1, self.quantum_exponent(int(exponent) - 1))
            t = mpmath.floor(ln_max / spacing) * spacing  # exact: a multiple of the spacing
            if not mpmath.exp(t) <= self.max < mpmath.exp(t + spacing):
                raise ArithmeticError(f"{self.name}: ln(max) not decided at 256 bits")
        return float(t)


FORMATS: dict[str, Format] = {
    "float64": Format("float64", 53, -1022, 1023, "float64"),
    "float32": Format("float32", 24, -126, 127, "float32"),
    "float16": Format("float16", 11, -14, 15, "float16"),
    "bfloat16": Format("bfloat16", 8, -126, 127, "ml_dtypes.bfloat16"),
    "float8_e5m2": Format("float8_e5m2", 3, -14, 15, "ml_dtypes.float8_e5m2"),
    "float8_e4m3fn": Format(
        "float8_e4m3fn", 4, -6, 8, "ml_dtypes.float8_e4m3fn", largest=448.0, infinities=False
    ),
}


def get_format(name: str | Format | np.dtype | type) -> Format:
    """Look a format up by name (see :data:`FORMATS`) or NumPy dtype.

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
