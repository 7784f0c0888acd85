"""ExactValues.parse: the array parse of the generator's decimals against exact rational arithmetic.

The parse turns each exact decimal v into hi (v correctly rounded to float64) and lo (≈ v − hi).
Everything downstream relies on three facts, checked here against :class:`fractions.Fraction`:
hi is correctly rounded, lo has the sign of v − hi (zero exactly when v is a double: the ulp of
v is taken in the binade below hi when lo < 0), and hi + lo is within 2^−90·|v| of v (or lo is
v − hi to 53 bits, where hi is a subnormal double).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.validation.metrics import ExactValues
from symsoftmax.vectors import decimals


def _generator_form(value: Fraction, digits: int = 40) -> str:
    """``value`` with ``digits`` significant digits in the vectors' form, ``d.ddd…e±XX``."""
    text = format(Decimal(value.numerator) / Decimal(value.denominator), f".{digits - 1}e")
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent):+03d}"


def _check(texts: list[str]) -> None:
    parsed = ExactValues.parse(np.array(texts, dtype=object))
    parts = (parsed.hi.tolist(), parsed.lo_frac.tolist(), parsed.lo_exp.tolist())
    rows = zip(texts, *parts, strict=True)
    for text, hi, lo_frac, lo_exp in rows:
        exact = Fraction(Decimal(text))
        assert hi == float(exact), text  # float(Fraction) rounds correctly
        rest, lo = exact - Fraction(hi), Fraction(lo_frac) * Fraction(2) ** lo_exp
        assert (lo > 0) - (lo < 0) == (rest > 0) - (rest < 0), text
        # lo is rounded to 53 bits: that is all it holds where hi is a subnormal double
        assert abs(lo - rest) <= max(abs(exact) / 2**90, abs(rest) / 2**52), text


def _random_decimals(rng: random.Random, count: int, exponents: tuple[int, int]) -> list[str]:
    texts = []
    for _ in range(count):
        mantissa = rng.randrange(10**39, 10**40)
        sign = rng.choice(["", "-"])
        exponent = rng.randint(*exponents)
        texts.append(f"{sign}{str(mantissa)[0]}.{str(mantissa)[1:]}e{exponent:+03d}")
    return texts


def test_random_decimals_in_the_array_range() -> None:
    _check(_random_decimals(random.Random(1), 3000, (-250, 250)))


def test_random_decimals_beyond_it_go_the_exact_way() -> None:
    _check(_random_decimals(random.Random(2), 300, (-330, 307)))


def test_doubles_have_no_remainder() -> None:
    # softmax of equal entries is 1/K exactly: 2^-15 = 3.0517578125e-05 in a K = 32768 row
    doubles = [Fraction(1, 2**k) for k in range(0, 40)]
    doubles += [Fraction(3, 4), Fraction(5, 8), Fraction(2**52 + 1, 2**70), Fraction(10**22)]
    texts = [_generator_form(v) for v in doubles]
    _check(texts)
    parsed = ExactValues.parse(np.array(texts, dtype=object))
    exact_doubles = [Fraction(Decimal(t)) == Fraction(float(Fraction(Decimal(t)))) for t in texts]
    assert (parsed.lo == 0).tolist() == exact_doubles
    assert sum(exact_doubles) >= 30


def test_values_next_to_doubles_and_midpoints() -> None:
    near = []
    for double in (1.0, 0.5, 2.0**-15, 1.5, 1e-200, 3e200):
        for offset in (Fraction(1, 10**39), Fraction(1, 10**30), Fraction(1, 10**20)):
            for sign in (1, -1):
                near.append(_generator_form(Fraction(double) * (1 + sign * offset)))
        gap = Fraction(math.ulp(double))
        for twist in (0, Fraction(1, 10**35), -Fraction(1, 10**35)):  # at and beside midpoints
            near.append(_generator_form(Fraction(double) + gap * (Fraction(1, 2) + twist), 45))
            near.append(_generator_form(Fraction(double) - gap * (Fraction(1, 4) + twist), 45))
    _check(near)


def test_other_spellings_and_specials() -> None:
    texts = ["0", "-0", "nan", "inf", "-inf", "0.5", "1e-5", " 2.5E+3 ", "+1.25", "5e-01"]
    texts += ["9.05e-295565490868405", "1.0e+99999", "12.5e-1", "0.000123", "1.5e+0000"]
    parsed = ExactValues.parse(np.array(texts, dtype=object))
    expected = [0.0, -0.0, math.nan, math.inf, -math.inf, 0.5, 1e-5, 2500.0, 1.25, 0.5]
    expected += [0.0, math.inf, 1.25, 0.000123, 1.5]
    assert np.array_equal(parsed.hi, expected, equal_nan=True)
    assert np.signbit(parsed.hi).tolist() == [math.copysign(1, v) < 0 for v in expected]
    _check(["0.5", "1e-5", "1.25", "0.000123", "12.5e-1"])


def test_the_generators_decimals_are_parsed_as_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The point of the array parse: the per-value route took ~2 s per standard suite.
    texts = [*_random_decimals(random.Random(3), 200, (-40, 5)), "0", "nan", "-inf"]
    expected = ExactValues.parse(np.array(texts, dtype=object))

    def refuse(*args: object) -> None:
        raise AssertionError("the one-at-a-time parse used")

    monkeypatch.setattr(decimals, "parse_exact_decimal", refuse)
    parsed = ExactValues.parse(np.array(texts, dtype=object))
    assert np.array_equal(parsed.hi, expected.hi, equal_nan=True)
    assert np.array_equal(parsed.lo, expected.lo)


@pytest.mark.parametrize("bad", ["0x1p-3z", "1.5e", "1.2.3e+01", "--1.5e+00", "1,5e+00", "\x00"])
def test_a_malformed_decimal_names_its_array_and_index(bad: str) -> None:
    good = ["1.000000000000000000000000000000000000000e+00"] * 4
    arrays = [np.array(good[:2], dtype=object), np.array([good[:2], [good[0], bad]], dtype=object)]
    with pytest.raises(InputError, match=r"^tcId 7 exact output\[1, 1\]: malformed decimal"):
        ExactValues.parse_many(arrays, ["tcId 6 exact output", "tcId 7 exact output"])
    with pytest.raises(InputError, match=r"^exact\[0\]: malformed decimal"):
        ExactValues.parse(np.array([bad], dtype=object))


def test_parse_many_gives_each_array_its_own_values() -> None:
    arrays = [
        np.array(["5.000000000000000000000000000000000000000e-01"] * 3, dtype=object),
        np.empty((0,), dtype=object),
        np.array([["nan", "2.5e+00"], ["-1.0e-300", "0"]], dtype=object),
    ]
    parsed = ExactValues.parse_many(arrays, ["a", "b", "c"])
    assert [p.hi.shape for p in parsed] == [(3,), (0,), (2, 2)]
    assert parsed[0].hi.tolist() == [0.5] * 3
    assert np.array_equal(parsed[2].hi, [[math.nan, 2.5], [-1e-300, 0.0]], equal_nan=True)
    alone = [ExactValues.parse(array) for array in arrays]
    for one, many in zip(alone, parsed, strict=True):
        assert np.array_equal(one.hi, many.hi, equal_nan=True)
        assert np.array_equal(one.lo, many.lo)


def test_a_files_exact_values_are_parsed_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from symsoftmax import vectors
    from symsoftmax.validation.core import prepare

    vf = vectors.generate("softmax", "float32", suite="quick")
    calls: list[int] = []
    parse_many = ExactValues.parse_many

    def counted(arrays: list[np.ndarray], wheres: list[str]) -> list[ExactValues]:
        calls.append(len(arrays))
        return parse_many(arrays, wheres)

    monkeypatch.setattr(ExactValues, "parse_many", counted)
    prepared = prepare(vf)
    assert calls == [len(vf)]  # one output per softmax test
    first = prepared[0]
    alone = ExactValues.parse(first.test.exact["output"])
    assert np.array_equal(first.exact["output"].hi, alone.hi, equal_nan=True)


def test_the_one_at_a_time_parse_against_fractions() -> None:
    """decimals.parse_exact_decimal (rational arithmetic) on spellings the array parse leaves:
    near doubles, subnormal and overflowing values, short and odd forms; against Fraction."""
    rng = random.Random(17)
    texts = ["5.", ".5", "-0.0", "+7", "1e+5", "-2.5e-0400", "4.9e-324", "2.4703282292062328e-324"]
    texts += ["1.7976931348623158e+308", "1.7976931348623159e+308", "-1e309", "1" * 60 + "e-60"]
    for _ in range(400):
        digits = str(rng.randrange(1, 10 ** rng.randint(1, 50)))
        point = rng.randrange(len(digits) + 1)
        exponent = rng.choice(["", f"e{rng.randint(-330, 310)}", f"e+{rng.randint(0, 30):03d}"])
        texts.append(rng.choice(["", "-"]) + digits[:point] + "." + digits[point:] + exponent)
    for text in texts:
        hi, lo_frac, lo_exp = decimals.parse_exact_decimal(text)
        exact = Fraction(Decimal(text))
        assert hi == float(exact) if abs(exact) < 2**1024 - 2**970 else math.isinf(hi), text
        assert math.copysign(1, hi) == (-1 if text.startswith("-") else 1), text
        if math.isfinite(hi):
            rest, lo = exact - Fraction(hi), Fraction(lo_frac) * Fraction(2) ** lo_exp
            assert lo_frac == 0 or 0.5 <= abs(lo_frac) < 1, text
            assert abs(lo - rest) <= abs(rest) / 2**53, text  # lo: rest rounded to 53 bits


@pytest.mark.parametrize("bad", ["1_0", "\u0661", "e5", ".", "1.2.3", "1e", "--1", "0x10", ""])
def test_the_one_at_a_time_parse_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        decimals.parse_exact_decimal(bad)
