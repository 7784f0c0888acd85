"""The one rounding routine against NumPy and ml_dtypes casts, exact ties and known pitfalls."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import ml_dtypes
import mpmath
import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import (
    MAX_TOKEN,
    as_format_array,
    floor_log2,
    parse_exact,
    parse_value,
    raw_floor_log2,
    raw_to_fraction,
    round_array,
    round_exact,
    ulp_exact,
)

N = 200_000


def _random_float64(rng: np.random.Generator, fmt_name: str, n: int) -> np.ndarray:
    """Random float64 values spread over the format's whole range, subnormals and overflow too."""
    fmt = get_format(fmt_name)
    lo, hi = fmt.emin - fmt.precision - 3, fmt.emax + 2
    exponents = rng.integers(lo, hi, n)
    mantissas = rng.random(n) + 1.0
    signs = rng.choice([-1.0, 1.0], n)
    with np.errstate(over="ignore"):
        return signs * np.ldexp(mantissas, exponents)


@pytest.mark.parametrize("fmt_name", ["float32", "float16"])
def test_round_array_matches_numpy_cast_from_float64(fmt_name: str) -> None:
    rng = np.random.default_rng(1)
    x = _random_float64(rng, fmt_name, N)
    fmt = get_format(fmt_name)
    with np.errstate(over="ignore"):
        expected = x.astype(fmt.numpy_dtype).astype(np.float64)
    got = round_array(x, fmt_name)
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


def test_round_array_matches_ml_dtypes_bfloat16_from_float32() -> None:
    # ml_dtypes rounds float32 → bfloat16 correctly; from float64 it goes through float32.
    rng = np.random.default_rng(2)
    with np.errstate(over="ignore"):
        x = _random_float64(rng, "bfloat16", N).astype(np.float32)
    expected = x.astype(ml_dtypes.bfloat16).astype(np.float64)
    got = round_array(x.astype(np.float64), "bfloat16")
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fmt_name", ["float32", "float16", "bfloat16"])
def test_exact_ties_round_to_even(fmt_name: str) -> None:
    fmt = get_format(fmt_name)
    p = fmt.precision
    rng = np.random.default_rng(3)
    # midpoints (m + 1/2)·q between neighbours m·q and (m + 1)·q: normal and subnormal ranges
    m_normal = rng.integers(1 << (p - 1), 1 << p, 5000)
    q_normal = np.ldexp(1.0, rng.integers(fmt.emin, fmt.emax, 5000) - p + 1)
    m_sub = rng.integers(0, 1 << (p - 1), 5000)
    q_sub = np.full(5000, math.ldexp(1.0, fmt.emin - p + 1))
    for m, q in ((m_normal, q_normal), (m_sub, q_sub)):
        ties = (m + 0.5) * q
        even = np.where(m % 2 == 0, m, m + 1) * q
        got = round_array(ties, fmt_name)
        np.testing.assert_array_equal(got, even)
        np.testing.assert_array_equal(round_array(-ties, fmt_name), -even)
        for v, g in zip(ties[:200], got[:200], strict=True):
            assert round_exact(Fraction(float(v)), fmt_name) == g


def test_round_array_rounds_float64_to_bfloat16_once() -> None:
    # 1 + 2^-8 + 2^-30: above the bfloat16 midpoint 1 + 2^-8, so it rounds up to 1 + 2^-7; a
    # detour through float32 would first round it to the midpoint itself, which then ties to
    # even: 1 (a double rounding; some casts in ml_dtypes did this before 0.7, so we never cast).
    x = np.array([1 + 2.0**-8 + 2.0**-30, -(1 + 2.0**-8 + 2.0**-30), 1 + 2.0**-8])
    assert list(round_array(x, "bfloat16")) == [1 + 2.0**-7, -(1 + 2.0**-7), 1.0]
    assert [round_exact(float(v), "bfloat16") for v in x] == [1 + 2.0**-7, -(1 + 2.0**-7), 1.0]


def test_round_exact_avoids_float_mpf_double_rounding() -> None:
    with mpmath.workprec(200):
        tiny = mpmath.mpf(2) ** -1075 * (1 + mpmath.mpf(2) ** -60)
        assert round_exact(tiny, "float64") == 5e-324
        near = 1 + mpmath.mpf(2) ** -11 + mpmath.mpf(2) ** -60
        assert round_exact(near, "float16") == 1 + 2.0**-10


def test_round_exact_far_out_mpf_exponents() -> None:
    with mpmath.workprec(60):
        assert round_exact(mpmath.exp(mpmath.mpf(-1e300)), "float64") == 0.0
        assert round_exact(-mpmath.exp(mpmath.mpf(1e300)), "float16") == -math.inf
        assert math.copysign(1, round_exact(-mpmath.exp(mpmath.mpf(-1e300)), "float32")) == -1


@pytest.mark.parametrize("fmt_name", ["float64", "float32", "float16", "bfloat16"])
def test_round_exact_agrees_with_round_array(fmt_name: str) -> None:
    rng = np.random.default_rng(4)
    x = _random_float64(rng, fmt_name, 3000)
    got = round_array(x, fmt_name)
    for v, g in zip(x, got, strict=True):
        assert round_exact(float(v), fmt_name) == g


# --------------------------------------------------------------------------------------------
# parse_exact: long tokens exactly, non-ASCII digits refused, saturation by magnitude
# --------------------------------------------------------------------------------------------


def test_parse_exact_reads_decimals_beyond_pythons_int_string_limit() -> None:
    digits = "123456789" * 1000  # 9000 digits: int() of this text raises ValueError
    got = parse_exact(digits + "e-8990")
    expected = Fraction(
        sum(int(digits[i : i + 9]) * 10 ** (len(digits) - 9 - i) for i in range(0, len(digits), 9)),
        10**8990,
    )
    assert got == expected
    assert parse_value("0." + "3" * 6000, "float32") == round_exact(Fraction(1, 3), "float32")


def test_parse_exact_ignores_a_lowered_int_string_limit() -> None:
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)  # the smallest limit Python allows
    try:
        assert parse_exact("7" * 700) == 7 * (10**700 - 1) // 9
    finally:
        sys.set_int_max_str_digits(previous)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("1e" + "9" * 5000, math.inf),
        ("-1e" + "9" * 5000, -math.inf),
        ("1e-" + "9" * 5000, 0.0),
        ("-0x1p-" + "7" * 5000, -0.0),
        ("0x1p+" + "1" * 40, math.inf),
        ("1e-100002", 0.0),
    ],
)
def test_parse_exact_saturates_huge_exponents(token: str, expected: float) -> None:
    got = parse_exact(token)
    assert got == expected and math.copysign(1, got) == math.copysign(1, expected)


def test_parse_exact_saturates_by_magnitude_not_by_exponent_alone() -> None:
    # 99990 digits × 10^−100001 ≈ 1.1e−12: the exponent is beyond the cap, the value is not
    token = "1" * 99_990 + "e-100001"
    assert round_exact(parse_exact(token), "float64") == 1.1111111111111112e-12


@pytest.mark.parametrize("token", ["١٢", "１", "1٫5", "1e١", "0x1p١", "1_000", "1\u00a0", "²"])
def test_parse_exact_refuses_non_ascii_digits_and_python_extras(token: str) -> None:
    with pytest.raises(InputError, match="malformed number"):
        parse_exact(token)


def test_parse_exact_refuses_tokens_beyond_the_limit_in_one_line() -> None:
    token = "1" * (MAX_TOKEN + 1)
    with pytest.raises(InputError) as info:
        parse_exact(token)
    message = str(info.value)
    assert f"longer than the limit of {MAX_TOKEN}" in message
    assert len(message) < 200 and "\n" not in message
    assert parse_exact("1" * MAX_TOKEN) > 0  # at the limit: read


# --------------------------------------------------------------------------------------------
# exact values as strings: Result.decimals and the vectors' "exact" field
# --------------------------------------------------------------------------------------------


def test_ulp_exact_and_round_exact_take_result_decimals() -> None:
    from symsoftmax.reference import evaluate

    result = evaluate("softmax", [0.0, -3.0, 1e-3, -120.0], dtype="float32", digits=40)
    assert result.decimals is not None
    for text, rounded in zip(result.decimals, result.rounded, strict=True):
        assert isinstance(text, str)
        assert round_exact(text, "float32") == rounded
        assert ulp_exact(text, "float32") == ulp_exact(Fraction(float(rounded)), "float32") or (
            # the exact value and its rounding may sit on either side of a power of two
            ulp_exact(text, "float32") * 2 == ulp_exact(Fraction(float(rounded)), "float32")
        )
    tiny = evaluate("softmax", [0.0, -200.0], dtype="float32", digits=30).decimals
    assert tiny is not None
    assert ulp_exact(str(tiny[1]), "float32") == Fraction(1, 2**149)  # subnormal spacing


def test_ulp_exact_takes_the_vector_files_exact_field() -> None:
    from symsoftmax.vectors import generate

    vf = generate("log_softmax", "float16", "quick")
    checked = 0
    for test in vf.tests():
        for text in np.asarray(test.exact["output"]).reshape(-1):
            value = parse_exact(str(text))
            if isinstance(value, float) and not math.isfinite(value):
                with pytest.raises(InputError, match="not a finite number"):
                    ulp_exact(str(text), "float16")
                continue
            assert ulp_exact(str(text), "float16") == ulp_exact(value, "float16")
            checked += 1
    assert checked > 100


def test_ulp_exact_of_a_decimal_string_is_the_spacing_there() -> None:
    assert ulp_exact("1.000000000e+00", "float32") == Fraction(1, 2**23)
    assert ulp_exact("0.99999", "float32") == Fraction(1, 2**24)
    assert ulp_exact("-0", "float16") == Fraction(1, 2**24)
    assert ulp_exact("0x1p-20", "float16") == Fraction(1, 2**24)  # subnormal range
    with pytest.raises(InputError, match="malformed number"):
        ulp_exact("one", "float32")


# --------------------------------------------------------------------------------------------
# mpmath raw numbers, and arrays of every listed format
# --------------------------------------------------------------------------------------------


def test_raw_numbers_are_read_exactly_even_with_huge_exponents() -> None:
    with mpmath.workprec(80):
        values = [mpmath.mpf(3) / 7, -(mpmath.mpf(2) ** 70) * 5, mpmath.exp(-mpmath.mpf(1e6))]
    for value in values:
        raw = value._mpf_
        frac = raw_to_fraction(raw)
        den = frac.denominator
        assert den & (den - 1) == 0  # a power of two: num·2^−k is exact in mpmath
        assert mpmath.ldexp(frac.numerator, -(den.bit_length() - 1)) == value
        assert raw_floor_log2(raw) == floor_log2(abs(frac.numerator), frac.denominator)
    assert raw_floor_log2(mpmath.mpf(0)._mpf_) is None
    far = mpmath.mpf((0, 1, -(10**300), 1))  # 2^−10^300: no Fraction could hold it
    assert raw_floor_log2(far._mpf_) == -(10**300)
    assert round_exact(far, "float64") == 0.0 and round_exact(-1 / far, "float16") == -math.inf


def test_arrays_of_every_listed_dtype_are_taken_as_numbers() -> None:
    for fmt in FORMATS.values():
        data = np.array([1.5, -2.0, 0.25]).astype(fmt.numpy_dtype)
        np.testing.assert_array_equal(as_format_array(data, fmt), [1.5, -2.0, 0.25])
    halves = np.array([1 + 2.0**-9], dtype=ml_dtypes.bfloat16)  # bfloat16 array → float16
    assert as_format_array(halves, "float16")[0] == float(halves[0])


def test_decimal_rounding_of_tiny_raw_numbers_equals_the_fraction_route() -> None:
    """DecimalRounder's integer route for |v| < 1 (a shift, no gcd) gives the digits of the
    exact Fraction route: random mantissas at exponents down to −40000, decimal midpoints
    (ties to even), powers of ten's neighbours, and every digit count from 1 to 25."""
    import random
    from fractions import Fraction

    from mpmath import libmp

    from symsoftmax.reference.rounders import DecimalRounder

    def by_fraction(rounder: DecimalRounder, man: int, exp: int) -> str:
        return rounder.round(Fraction(man) * Fraction(2) ** exp)

    rng = random.Random(20261201)
    cases = [(1, -1), (5, -3), (1, -2), (3, -3), (25, -8), (1, -1074), (1, -30_000)]
    cases += [(rng.getrandbits(rng.randint(1, 120)) | 1, -rng.randint(1, 5000)) for _ in range(300)]
    cases += [(rng.getrandbits(64) | 1, -rng.randint(10_000, 40_000)) for _ in range(3)]
    for j in range(1, 40):  # just below and above 10^−j, as ~70-bit binary numbers
        man, exp = libmp.from_rational(1, 10**j, 70, "f")[1:3]
        cases += [(man, exp), (man + 1, exp), (man - 1, exp)]
    for digits in (1, 2, 3, 17, 25):
        rounder = DecimalRounder(digits)
        for man, exp in cases:
            if man <= 0 or man.bit_length() + exp > 0:  # the route is for |v| < 1
                continue
            raw = libmp.normalize(0, man, exp, man.bit_length(), man.bit_length(), "n")
            got = rounder.round(raw)
            assert got == by_fraction(rounder, man, exp), (man, exp, digits)
            negative = libmp.mpf_neg(raw)
            assert rounder.round(negative) == "-" + got
