"""score's quick path for short plain decimals (validation/score.py ``_quick_values``) gives
exactly what the exact path (``format_value_of``: Fractions) gives, accepting or refusing alike,
on many tokens of every format: shortest decimals, every printf precision, neighbours of format
values, boundaries, and spellings the quick path must leave to the exact one."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import round_array, ulp
from symsoftmax.validation.score import _quick_values, format_value_of, read_outputs
from symsoftmax.vectors.lines import shortest_decimal
from symsoftmax.vectors.model import EXPECTED_KEYS

KEY = EXPECTED_KEYS["softmax"][0]


def _exact(token: str, fmt_name: str, round_outputs: bool) -> float | str:
    """format_value_of's value (as its bits), or "error"."""
    try:
        return format_value_of(token, get_format(fmt_name), round_outputs=round_outputs).hex()
    except InputError:
        return "error"


def _values_of(fmt_name: str, rng: random.Random, count: int) -> list[float]:
    """Values of the format spread over its whole range, signs, subnormals and extremes."""
    fmt = get_format(fmt_name)
    raw = [
        math.ldexp(rng.random(), rng.randint(fmt.emin - fmt.precision - 1, fmt.emax + 1))
        for _ in range(count)
    ]
    raw += [fmt.max, fmt.max * 2 if fmt_name != "float64" else fmt.max, 2.0**fmt.emin]
    values = round_array(np.array(raw) * rng.choice([1, -1]), fmt)
    return [float(v) for v in values if math.isfinite(v)]


def _tokens(fmt_name: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    fmt = get_format(fmt_name)
    tokens = []
    for value in _values_of(fmt_name, rng, 150):
        tokens.append(shortest_decimal(value, fmt))
        tokens += [f"{value:.{digits}g}" for digits in (1, 3, 6, 8, 9, 12, 15, 16, 17)]
        tokens += [f"{value:.{digits}e}" for digits in (5, 14)]
        tokens.append(f"{value:.20f}"[:17])  # leading zeros count as digits here
        # the float64 neighbours: no value of a narrower format, refused by both paths
        tokens += [repr(math.nextafter(value, math.inf)), repr(math.nextafter(value, -math.inf))]
        # decimals that float() reads as the value but that lie further from it than one unit
        # of their last digit: the exact path refuses them, so the quick path must not take them
        off = Decimal(value) * (1 + Decimal("0.45") * Decimal(2) ** -52)
        tokens += [f"{off:.{digits}e}" for digits in (14, 15, 16, 17, 18)]
        # halfway to the next value of the format (a double): double rounding's trap
        above = abs(value) + float(ulp(np.array([abs(value)]), fmt)[0])
        if above <= fmt.max:
            middle = (Decimal(abs(value)) + Decimal(above)) / 2 * (1 if value > 0 else -1)
            nudge = abs(middle) * Decimal(2) ** -60
            for near in (middle, middle + nudge, middle - nudge):
                tokens += [f"{near:.{digits}e}" for digits in (6, 8, 14, 16, 20)]
    for token in _DOUBLE_ROUNDING.get(fmt_name, []):
        tokens += [token, "-" + token]
    tokens += [
        "1",
        "+1.",
        ".5",
        "-0",
        "0.0",
        "1e-400",
        "-1e-400",
        "1e400",
        "0e7",
        "-0.000",
        "+0.",
        "nan",
        "-nan",
        "NaN",
        "123456789012345",
        "1234567890123456",
        "0.1",
        "0.100000000000000",
        "0.1000000000000000",
        "9007199254740993",
        "4.9406564584124654e-324",
        "2.2250738585072014e-308",
    ]
    return tokens


# decimals of at most 15 digits, no midpoint themselves, whose double is a midpoint of the
# format: rounding the double (ties to even) can differ from rounding the decimal (found by a
# search over random midpoints)
_DOUBLE_ROUNDING = {
    "float32": [
        "9.22248649597168e+01",
        "4.88815107382834e-03",
        "5.33767812885344e-03",
        "6.9675013422966e-01",
    ],
    "bfloat16": ["5.64381480216980e-07"],
}


@pytest.mark.parametrize("fmt_name", sorted(FORMATS))
def test_quick_values_equal_the_exact_path(fmt_name: str) -> None:
    """Every token the quick path takes gets the exact path's value, bit for bit, and the exact
    path accepts it (with and without round_outputs); the quick path takes most tokens."""
    tokens = _tokens(fmt_name, seed=sum(map(ord, fmt_name))) + _DOUBLE_ROUNDING.get(fmt_name, [])
    values, quick = _quick_values(tokens, get_format(fmt_name))
    taken = 0
    for token, value, is_quick in zip(tokens, values.tolist(), quick.tolist(), strict=True):
        if not is_quick:
            continue
        taken += 1
        assert _exact(token, fmt_name, False) == value.hex(), token
        assert _exact(token, fmt_name, True) == value.hex(), token
    assert taken >= 100  # the path is taken: otherwise nothing was compared


@pytest.mark.parametrize(
    "token",
    [
        " 0.5",
        "0.5 ",
        "1_0",
        "١",  # float() reads other scripts' digits; parse_exact does not
        "inf",
        "0x1p-1",
        "1e",
        ".",
        "0.1000000000000001",  # 16 digits: more than the proof covers
        "1234567890123456",
        "1e-400",  # float() gives 0, but it is no zero: beyond the format's range
        "-1e-60",
        "0.0000000000000001",
        "NAN",
        "+nan",
    ],
)
def test_quick_path_leaves_these_to_the_exact_path(token: str) -> None:
    _, quick = _quick_values([token], get_format("float32"))
    assert not quick[0]


def test_bad_items_are_left_to_the_exact_path() -> None:
    """Items that are no string (a JSON object, a number, null) are the exact path's errors."""
    _, quick = _quick_values([{"a": 1}, 1.5, None, "0.5"], get_format("float32"))
    assert quick.tolist() == [False, False, False, True]


def test_a_double_that_is_no_float32_is_still_refused() -> None:
    """The attack: %.17g of a double a quarter float32 ulp off a float32 value, which the quick
    path must not wave through (read_outputs names the test and position)."""
    from symsoftmax.validation.sources import suite_vectors

    vf = suite_vectors("softmax", "float32", "quick")
    outputs = {}
    for test in vf.tests():
        outputs[str(test.tc_id)] = [
            shortest_decimal(float(v), get_format("float32")) for v in test.expected[KEY].ravel()
        ]
    first = next(t for t in vf.tests() if t.expected[KEY].size and t.expected[KEY][0] > 0)
    value = float(first.expected[KEY][0])
    outputs[str(first.tc_id)][0] = f"{value * (1 + 2.0**-30):.17g}"  # a quarter ulp off
    with pytest.raises(InputError, match=rf"tcId {first.tc_id}, position 0: .* is not a float32"):
        read_outputs(outputs, vf)
