"""Correct rounding to a binary format, the ulp, and exact parsing of numbers.

The rule (IEEE 754-2019 §4.3.1, roundTiesToEven; §7.4 for overflow): for a real v ≠ 0 let
E = floor(log2|v|) and q = 2^(max(E, emin) − p + 1) (the quantum, constant in the subnormal
range); round v/q to an integer with ties to even; a result ≥ 2^(emax+1) overflows to ±inf. The
format's side of it — the quantum exponent and the bounds beyond which v rounds to ±0 or ±inf —
is :class:`~symsoftmax.formats.Format`'s.

Two entry points apply that rule, both exact:

* :func:`round_exact` for one exact value (a ``Fraction``, an ``int``, a ``float`` or an
  ``mpmath.mpf``): integer arithmetic, no detour through float64 (which double-rounds).
* :func:`round_array` for a float64 array (NumPy's float64→float16 cast is correct, but ml_dtypes'
  float64→bfloat16 goes through float32 and double-rounds, so we never rely on casts).

The spacing used for error measurement is :func:`ulp` (arrays) and :func:`ulp_exact` (one exact
value). All four take the quantum from :meth:`Format.quantum_exponent` (or its array form).

mpmath's raw numbers (sign, mantissa, exponent, bitcount), as the reference engine's balls hold
them, are read exactly by :func:`raw_to_fraction` and :func:`raw_floor_log2`.
"""

from __future__ import annotations

import decimal
import math
import re
import sys
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, Format, get_format

__all__ = [
    "MAX_MAGNITUDE",
    "MAX_TOKEN",
    "as_format_array",
    "brief_repr",
    "floor_log2",
    "format_hex",
    "parse_exact",
    "parse_value",
    "raw_floor_log2",
    "raw_to_fraction",
    "raw_to_ratio",
    "round_array",
    "round_exact",
    "ulp",
    "ulp_exact",
]


def _is_mpf(value: object) -> bool:
    """Whether ``value`` is an ``mpmath.mpf`` (if mpmath was never imported, none can exist)."""
    mpmath = sys.modules.get("mpmath")
    return mpmath is not None and isinstance(value, mpmath.mpf)


ExactValue = Fraction | int | float | str | Any  # Any: mpmath.mpf (untyped)
RawNumber = Any  # an mpmath raw number: (sign, mantissa, exponent, bitcount), untyped


# --------------------------------------------------------------------------------------------
# exact scalar rounding
# --------------------------------------------------------------------------------------------


def floor_log2(num: int, den: int = 1) -> int:
    """floor(log2(num/den)) for positive integers, exactly."""
    e = num.bit_length() - den.bit_length()
    # num/den lies in [2^(e-1), 2^(e+1)); one comparison settles which half.
    if (num << -e if e < 0 else num) < (den << e if e > 0 else den):
        e -= 1
    return e


def raw_floor_log2(raw: RawNumber) -> int | None:
    """floor(log2|v|) of a finite mpmath raw number v = ±man·2^exp; None for zero.

    man has bc bits, so |v| lies in [2^(exp+bc−1), 2^(exp+bc)). Read from the exponent alone:
    it may be like −10^300, whose power of two would not fit in memory.
    """
    _sign, man, exp, bc = raw
    if not man:
        return None
    return int(exp + bc - 1)


def raw_to_ratio(raw: RawNumber) -> tuple[int, int]:
    """A finite mpmath raw number ±man·2^exp as (numerator, denominator), exactly.

    The denominator is a power of two (1 when exp ≥ 0); the pair is not reduced, which spares
    the gcd of a Fraction where only the ratio is needed (rounding).
    """
    sign, man, exp, _bc = raw
    num = -man if sign else man
    return (num << exp, 1) if exp >= 0 else (num, 1 << -exp)


def raw_to_fraction(raw: RawNumber) -> Fraction:
    """A finite mpmath raw number (sign, man, exp, bc) as the exact Fraction ±man·2^exp."""
    return Fraction(*raw_to_ratio(raw))


def _round_ratio(num: int, den: int, fmt: Format) -> float:
    """Round num/den (den > 0) to fmt, ties to even: the one rounding routine for exact values."""
    if num == 0:
        return 0.0
    negative = num < 0
    a = -num if negative else num
    exponent = floor_log2(a, den)
    if exponent < fmt.underflow_exponent or exponent >= fmt.overflow_exponent:
        return _beyond_range(exponent, negative, fmt)  # skips the big shifts
    qe = fmt.quantum_exponent(exponent)
    n, d = (a, den << qe) if qe >= 0 else (a << -qe, den)
    q, r = divmod(n, d)
    if 2 * r > d or (2 * r == d and q & 1):
        q += 1
    if q.bit_length() + qe > fmt.overflow_exponent:  # q·2^qe ≥ 2^(emax+1): beyond any max
        return fmt.overflow_value(negative)
    value = math.ldexp(q, qe)  # exact: q < 2^(p+1), and now below 2^(emax+1)
    if value > fmt.max:  # finite-only formats: max is below the last binade's top
        return fmt.overflow_value(negative)
    return -value if negative else value


def _beyond_range(exponent: int, negative: bool, fmt: Format) -> float:
    """±0 below the underflow exponent, overflow (±inf, or NaN in a finite-only format) at or
    above the overflow exponent (see Format)."""
    if exponent < fmt.underflow_exponent:
        return -0.0 if negative else 0.0
    return fmt.overflow_value(negative)


def round_exact(value: ExactValue, dtype: str | Format) -> float:
    """Round an exact value to the nearest value of ``dtype`` (ties to even); returns a float.

    The float holds the format's value exactly (every supported format embeds in float64).
    ``value`` may be a Fraction, int, float, mpmath mpf (its binary value is used exactly) or a
    number string as :func:`parse_exact` reads it (e.g. ``Result.decimals`` or a vector file's
    ``exact`` field); NaN and ±inf pass through (±inf becomes NaN in a finite-only format, as
    the OCP FP8 conversion), and the sign of zero is kept.
    """
    fmt = get_format(dtype)
    if isinstance(value, str):
        value = parse_exact(value)
    if isinstance(value, Fraction):
        return _round_ratio(value.numerator, value.denominator, fmt)
    if isinstance(value, int):
        return _round_ratio(value, 1, fmt)
    if isinstance(value, float):
        if not math.isfinite(value):
            return value if fmt.infinities or math.isnan(value) else math.nan
        if value == 0.0:
            return value
        num, den = value.as_integer_ratio()
        return _round_ratio(num, den, fmt)
    if _is_mpf(value):
        import mpmath

        if mpmath.isnan(value):
            return math.nan
        if mpmath.isinf(value):
            return fmt.overflow_value(value < 0)
        raw = value._mpf_
        exponent = raw_floor_log2(raw)
        if exponent is None:
            return -0.0 if raw[0] else 0.0
        # Far-out magnitudes are decided from the exponent alone: an mpf may carry an exponent
        # like −10^300, whose exact shift would not fit in memory.
        if exponent < fmt.underflow_exponent or exponent >= fmt.overflow_exponent:
            return _beyond_range(exponent, bool(raw[0]), fmt)
        return _round_ratio(*raw_to_ratio(raw), fmt)
    raise TypeError(f"cannot round a {type(value).__name__}")


def ulp_exact(value: ExactValue, dtype: str | Format) -> Fraction:
    """The spacing 2^(max(E, emin) − p + 1) of ``dtype`` at an exact value, E = floor(log2|value|).

    At zero it is the smallest subnormal. This is the ulp in which errors are measured
    (Goldberg's definition, taken at the exact result). ``value`` is any exact value
    :func:`round_exact` takes, number strings included; a NaN or infinite one raises InputError.
    """
    fmt = get_format(dtype)
    frac = _as_fraction(value)
    if frac == 0:
        exponent = fmt.emin
    else:
        a = abs(frac)
        exponent = floor_log2(a.numerator, a.denominator)
    return Fraction(2) ** fmt.quantum_exponent(exponent)


def _as_fraction(value: ExactValue) -> Fraction:
    if isinstance(value, str):
        value = parse_exact(value)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{value!r} is not a finite number: it has no ulp")
    if isinstance(value, int | float):
        return Fraction(value)
    if _is_mpf(value):
        import mpmath

        if not mpmath.isfinite(value):
            raise InputError(f"{value} is not a finite number: it has no ulp")
        return raw_to_fraction(value._mpf_)
    raise TypeError(f"cannot convert a {type(value).__name__} to Fraction")


# --------------------------------------------------------------------------------------------
# vectorized rounding of float64 arrays
# --------------------------------------------------------------------------------------------


def round_array(values: npt.ArrayLike, dtype: str | Format) -> npt.NDArray[np.float64]:
    """Round every float64 value to the nearest value of ``dtype`` (ties to even), exactly.

    Same rule as :func:`round_exact`, vectorized: with x = m·2^e (frexp, m in [1/2, 1)),
    floor(log2|x|) = e − 1 and the quantum exponent is :meth:`Format.quantum_exponent_array` of
    it; scaling by a power of two is exact, and ``np.rint`` rounds ties to even. Returns float64
    (the format's values embed exactly); overflow and ±inf give NaN in a finite-only format.
    """
    fmt = get_format(dtype)
    x = np.asarray(values, dtype=np.float64)
    if fmt.float64_extra_bits == 0:
        return x.copy()
    with np.errstate(invalid="ignore", over="ignore"):
        _, e = np.frexp(x)
        qe = fmt.quantum_exponent_array(e - 1)
        rounded = np.ldexp(np.rint(np.ldexp(x, -qe)), qe)
        magnitude = np.abs(rounded)
        # finite and in range: done (a NaN or ±inf makes the maximum NaN or inf, and takes the
        # general path, as does a 0-d array, whose ufunc results are scalars, not arrays)
        if x.ndim and (not x.size or magnitude.max() <= fmt.max):
            return rounded
        overflow = magnitude > fmt.max
        beyond = np.copysign(np.inf, x) if fmt.infinities else np.nan
        rounded = np.where(overflow, beyond, rounded)
        finite = np.isfinite(x)
    return np.where(finite, rounded, x if fmt.infinities else np.where(np.isnan(x), x, np.nan))


def ulp(values: npt.ArrayLike, dtype: str | Format) -> npt.NDArray[np.float64]:
    """The spacing of ``dtype`` at each float64 value: 2^(max(E, emin) − p + 1), E = ⌊log2|x|⌋.

    At zero the smallest subnormal; NaN for NaN and ±inf. See :func:`ulp_exact` for exact values.
    """
    fmt = get_format(dtype)
    x = np.asarray(values, dtype=np.float64)
    _, e = np.frexp(x)
    exponent = np.where(x == 0, fmt.emin, e - 1)
    spacing = np.ldexp(1.0, fmt.quantum_exponent_array(exponent))
    return np.where(np.isfinite(x), spacing, np.nan)


# --------------------------------------------------------------------------------------------
# parsing and printing
# --------------------------------------------------------------------------------------------

# ASCII digits only: `\d` would also match "١٢" or fullwidth "１", which int() accepts.
_DECIMAL = re.compile(r"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
_HEX = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP]([+-]?[0-9]+))?")
_SPECIAL = {
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
    "+nan": math.nan,
    "-nan": math.nan,
}
_ASCII_SPACE = " \t\n\r\f\v"
MAX_TOKEN = 100_000
"""Longest number token parse_exact reads (characters); longer ones are refused."""
MAX_MAGNITUDE = 100_000
"""|log10| (decimal) or |log2| (hex) beyond which a value saturates to ±0 or ±inf.

Far beyond every supported format (float64 spans 2^−1074 … 2^1024), so saturating there changes
no rounding and spares the exact arithmetic on powers like 10^(10^9)."""
_EXPONENT_DIGITS = 9  # an exponent with more significant digits is beyond any magnitude here


def parse_exact(token: str) -> Fraction | float:
    """Parse a decimal or hex-float string exactly: a Fraction, or a float for inf/nan/±0.

    Accepts ``1.5``, ``-2e-3``, ``0x1.8p+1`` (Python's float.hex form), ``inf``, ``-inf``, ``nan``
    with ASCII digits only, and any number of them up to :data:`MAX_TOKEN` characters (Python's
    ``int()`` refuses more than 4300 decimal digits; the digits are converted through
    ``decimal.Decimal``, which has no such limit and is exact). Values beyond 10^±MAX_MAGNITUDE
    (2^±MAX_MAGNITUDE for hex) saturate to ±inf or ±0, which is what every format rounds them
    to. Nothing is evaluated: the grammar is a fixed regular expression. Raises InputError
    otherwise (one line, the token shown shortened).
    """
    if not isinstance(token, str):
        raise InputError(f"malformed number {brief_repr(token)}")
    if len(token) > MAX_TOKEN:
        raise InputError(
            f"number of {len(token)} characters is longer than the limit of {MAX_TOKEN} "
            f"({brief_repr(token)})"
        )
    text = token.strip(_ASCII_SPACE)
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    match = _HEX.fullmatch(text)
    decimal_match = None if match else _DECIMAL.fullmatch(text)
    if decimal_match:
        match = decimal_match
    if not match:
        raise InputError(f"malformed number {brief_repr(token)}")
    sign, digits, exp = match.groups()
    int_part, _, frac_part = digits.partition(".")
    significant = (int_part + frac_part).lstrip("0")
    if not significant:
        return -0.0 if sign == "-" else 0.0
    if decimal_match:
        base, mantissa, frac_scale = 10, _decimal_int(significant), len(frac_part)
        magnitude_offset = len(significant)  # 10^(len−1) ≤ mantissa < 10^len
    else:
        base, mantissa, frac_scale = 2, int(significant, 16), 4 * len(frac_part)
        magnitude_offset = mantissa.bit_length()
    exponent = _exponent(exp) - frac_scale
    magnitude = exponent + magnitude_offset
    if magnitude > MAX_MAGNITUDE:
        return -math.inf if sign == "-" else math.inf
    if magnitude < -MAX_MAGNITUDE:
        return -0.0 if sign == "-" else 0.0
    value = (
        Fraction(mantissa * base**exponent)
        if exponent >= 0
        else Fraction(mantissa, base**-exponent)
    )
    return -value if sign == "-" else value


def _decimal_int(digits: str) -> int:
    """int(digits) for any number of ASCII digits: int() itself stops at
    sys.get_int_max_str_digits() (4300 by default); decimal.Decimal has no such limit."""
    limit = sys.get_int_max_str_digits()
    return int(digits) if limit == 0 or len(digits) <= limit else int(decimal.Decimal(digits))


def _exponent(text: str | None) -> int:
    """The exponent field as an int; a huge one is clamped (the value saturates anyway)."""
    if text is None:
        return 0
    negative = text.startswith("-")
    digits = text.lstrip("+-").lstrip("0")
    if len(digits) > _EXPONENT_DIGITS:
        clamped = 10**_EXPONENT_DIGITS  # |magnitude| > MAX_MAGNITUDE however long the mantissa
        return -clamped if negative else clamped
    value = int(digits or "0")
    return -value if negative else value


def parse_value(token: str, dtype: str | Format) -> float:
    """Parse a number string and round it to ``dtype`` (nearest, ties to even), exactly.

    Values beyond the format's range become ±inf, as IEEE conversion does.
    """
    return round_exact(parse_exact(token), dtype)


def brief_repr(token: object) -> str:
    """repr() of a token cut to 60 characters, for one-line error messages."""
    text = repr(token)
    return text if len(text) <= 60 else text[:57] + "..."


def format_hex(value: float) -> str:
    """float.hex() of a value, with "nan", "inf" and "-inf" for the specials."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value).hex()


def as_format_array(
    data: npt.ArrayLike | Iterable[Any], dtype: str | Format, *, name: str = "input"
) -> npt.NDArray[np.float64]:
    """Convert an array, or nested lists of numbers or strings, to float64 values of ``dtype``.

    Strings are parsed exactly (:func:`parse_value`); numbers are rounded to the format to
    nearest. Returns float64 (exact), so that arithmetic on it needs no dtype-specific code.
    Raises InputError naming the position of a malformed entry or a ragged shape.
    """
    fmt = get_format(dtype)
    # ml_dtypes' dtypes (bfloat16) have kind "V": arrays of any listed format are numbers too
    if isinstance(data, np.ndarray) and (data.dtype.kind in "fiub" or data.dtype.name in FORMATS):
        if data.dtype.name == fmt.name:
            with np.errstate(invalid="ignore"):  # NaN payloads (every NaN pattern) cast quietly
                return data.astype(np.float64)
        return round_array(data.astype(np.float64), fmt)
    try:
        raw = np.array(data, dtype=object)
    except ValueError as exc:  # ragged nested lists
        raise InputError(f"{name}: not a rectangular array ({exc})") from None
    out = np.empty(raw.shape, dtype=np.float64)
    for index, item in np.ndenumerate(raw):
        where = f"{name}[{', '.join(map(str, index))}]" if index else name
        if isinstance(item, list | tuple | np.ndarray):
            raise InputError(f"{name}: not a rectangular array (ragged at {where})")
        if isinstance(item, str):
            try:
                out[index] = parse_value(item, fmt)
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
        elif isinstance(item, bool) or not isinstance(item, int | float | np.number):
            raise InputError(
                f"{where}: expected a number or a number string, got {brief_repr(item)}"
            )
        elif isinstance(item, int | np.integer):
            out[index] = round_exact(int(item), fmt)
        else:
            out[index] = round_exact(float(item), fmt)
    return out
