"""Targets of correct rounding: a binary format, p-bit binary numbers, or N decimal digits.

Each rounder maps an exact value (a ``Fraction`` or an mpmath raw number) to the nearest target
value, ties to even, and compares two results. Ziv's loop (:mod:`symsoftmax.reference.engine`)
accepts an approximation when both ends of its error interval give the same result.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Protocol

import mpmath
from mpmath import libmp

from symsoftmax.errors import PrecisionLimitError
from symsoftmax.formats import Format
from symsoftmax.rounding import floor_log2, raw_floor_log2, raw_to_fraction, round_exact

__all__ = [
    "BinaryRounder",
    "DecimalRounder",
    "FormatRounder",
    "Rounder",
]

Exact = Fraction | Any  # Any: an mpmath raw number (sign, man, exp, bc)

# Largest |floor(log2|v|)| converted to a Fraction for decimal rounding (2^±2^20).
_FRACTION_EXPONENT_CAP = 1 << 20


class Rounder(Protocol):
    """Rounds exact values to one target; ``bits`` sizes the working precision."""

    bits: int

    def round(self, value: Exact) -> Any: ...
    def zero(self, negative: bool = False) -> Any: ...
    def special(self, value: float) -> Any: ...  # nan, inf, -inf
    def same(self, a: Any, b: Any) -> bool: ...


class FormatRounder:
    """Nearest value of a binary format (ties to even, subnormals, overflow): a Python float."""

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self.bits = fmt.precision

    def round(self, value: Exact) -> float:
        if isinstance(value, Fraction):
            return round_exact(value, self.fmt)
        # make_mpf wraps the raw number as is; mpmath.mpf(raw) would first round it to the
        # context precision (53 bits), a double rounding
        return round_exact(mpmath.mp.make_mpf(value), self.fmt)

    def zero(self, negative: bool = False) -> float:
        return -0.0 if negative else 0.0

    def special(self, value: float) -> float:
        return value

    def same(self, a: float, b: float) -> bool:
        # NaN is a rounded value too: the overflow of a finite-only format (float8_e4m3fn)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


class BinaryRounder:
    """Nearest binary number with ``bits`` significant bits and unbounded exponent: an mpf."""

    def __init__(self, bits: int) -> None:
        if bits < 2:
            raise ValueError("precision must be at least 2 bits")
        self.bits = bits

    def round(self, value: Exact) -> Any:
        if isinstance(value, Fraction):
            raw = libmp.from_rational(value.numerator, value.denominator, self.bits, "n")
        else:
            raw = libmp.mpf_pos(value, self.bits, "n")
        return mpmath.mp.make_mpf(raw)  # as is: mpmath.mpf(raw) would round to 53 bits

    def zero(self, negative: bool = False) -> Any:
        return mpmath.mpf(libmp.fnzero if negative else libmp.fzero)

    def special(self, value: float) -> Any:
        return mpmath.mpf(value)

    def same(self, a: Any, b: Any) -> bool:
        return bool(a._mpf_ == b._mpf_)


class DecimalRounder:
    """Nearest decimal with ``digits`` significant digits, as a string like ``3.3333e-01``."""

    def __init__(self, digits: int) -> None:
        if digits < 1:
            raise ValueError("digits must be at least 1")
        self.digits = digits
        self.bits = math.ceil(digits * math.log2(10)) + 4

    def round(self, value: Exact) -> str:
        if not isinstance(value, Fraction):
            exponent = raw_floor_log2(value)
            if exponent is None:
                return "-0" if value[0] else "0"
            if abs(exponent) > _FRACTION_EXPONENT_CAP:
                return self._round_far(value)
            if value[2] < 0 and exponent < 0:
                return self._round_tiny(value)
            value = raw_to_fraction(value)
        if value == 0:
            return "0"
        negative = value < 0
        a = -value if negative else value
        # k = floor(log10 a): start from the binary exponent and correct by comparison.
        k = math.floor(floor_log2(a.numerator, a.denominator) * math.log10(2))
        while Fraction(10) ** (k + 1) <= a:
            k += 1
        while Fraction(10) ** k > a:
            k -= 1
        scaled = a / Fraction(10) ** (k - self.digits + 1)  # in [10^(N−1), 10^N)
        q, r = divmod(scaled.numerator, scaled.denominator)
        if 2 * r > scaled.denominator or (2 * r == scaled.denominator and q & 1):
            q += 1
        return self._text(negative, q, k)

    def _round_tiny(self, value: Any) -> str:
        """Decimal rounding of a raw number below 1, |v| = man·2^−e, in integers.

        The same result as the Fraction route above, without its gcds: with k = ⌊log10|v|⌋
        (estimated from the bit length, then settled by exact comparisons, |v| ≥ 10^j ⟺
        man·10^−j ≥ 2^e) and s = k − N + 1 ≤ 0, the scaled value |v|·10^−s = man·10^−s / 2^e
        is a shift: q = X >> e, remainder X mod 2^e against the half 2^(e−1). At e ≈ 2·10^6
        (outputs near e^−10^6) this takes milliseconds where the Fraction route took seconds.
        """
        sign, man, exp, bc = value
        e = -exp

        def at_least(j: int) -> bool:  # |v| ≥ 10^j, for j < 0
            return (man * 10 ** (-j)).bit_length() > e

        k = math.floor((bc - 1 - e) * math.log10(2))
        while at_least(k + 1):
            k += 1
        while not at_least(k):
            k -= 1
        scaled = man * 10 ** (self.digits - 1 - k)  # |v|·10^(N−1−k)·2^e, N−1−k > 0
        q = scaled >> e
        r = scaled - (q << e)
        half = 1 << (e - 1)
        if r > half or (r == half and q & 1):
            q += 1
        return self._text(bool(sign), q, k)

    def _round_far(self, value: Any) -> str:
        """Decimal rounding of a raw number beyond 2^±2^20 (e.g. e^−10^300), in log space.

        log10|v| = log10(man) + exp·log10(2) at a precision covering the exponent's bits, so the
        decimal exponent k and the scaled mantissa m = |v|·10^(N−1−k) carry ≥ 4N + 40 correct
        bits (under the error model of mpmath's log/exp, see balls.py); if m is too close to a
        rounding midpoint or k to a decade boundary to be sure, PrecisionLimitError is raised.
        """
        sign, man, exp, _bc = value
        prec = abs(exp).bit_length() + 4 * self.bits + 64
        with mpmath.workprec(prec):
            log10 = mpmath.log10(man) + exp * mpmath.log10(2)
            k = int(mpmath.floor(log10))
            mantissa = mpmath.power(10, log10 - k + self.digits - 1)  # in [10^(N−1), 10^N)
            q = int(mpmath.floor(mantissa + mpmath.mpf(0.5)))
            slack = mpmath.mpf(2) ** (-3 * self.bits - 32) * mantissa
            near_half = (
                abs(mantissa - q + mpmath.mpf(0.5)) < slack
                or abs(mantissa - q - mpmath.mpf(0.5)) < slack
            )
            near_decade = abs(log10 - k) < slack or abs(log10 - k - 1) < slack
        if near_half or near_decade:
            raise PrecisionLimitError(
                "cannot decide the decimal rounding of a value beyond 2^±1048576"
            )
        return self._text(bool(sign), q, k)

    def _text(self, negative: bool, q: int, k: int) -> str:
        """±q·10^(k−N+1) as ``d.ddde±kk``, q the rounded N-digit mantissa (10^N carries over)."""
        if q == 10**self.digits:
            q //= 10
            k += 1
        text = str(q)
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if negative else ''}{mantissa}e{k:+03d}"

    def zero(self, negative: bool = False) -> str:
        return "-0" if negative else "0"

    def special(self, value: float) -> str:
        if math.isnan(value):
            return "nan"
        return "inf" if value > 0 else "-inf"

    def same(self, a: str, b: str) -> bool:
        return a == b
