"""score's quick path for short plain decimals (validation/score.py ``_quick_values``) gives
exactly what the exact path (``format_value_of``: Fractions) gives, accepting or refusing alike,
on many tokens of every format: shortest decimals, every printf precision, neighbours of format
values, boundaries, and spellings the quick path must leave to the exact one."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import round_array, ulp
from symsoftmax.validation.score import (
    _decimal_floats,
    _layout,
    _plain_decimals,
    _quick_values,
    _value,
    format_value_of,
    read_outputs,
)
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


def _clinger_tokens(rng: random.Random) -> list[str]:
    """Plain decimals around the fast path's edges: 1 to 15 digits (15 nines, powers of ten,
    random), the point anywhere, scales from −25 to 25 (±22 are the last taken), exponents
    with leading zeros and signs, zeros of every sign and spelling."""
    tokens = ["-0.0", "-0", "0e5", "-0e5", "+0", "0.", ".0", "-.0e-0", "1.", ".5", "-.5e-3"]
    tokens += ["999999999999999", "999999999999999e22", "9.99999999999999e-8", "1e22", "1e23"]
    tokens += ["1e-22", "1e-23", "-1E+0022", "4.35e0023", "123456789012345e-22", "5e-0324"]
    for _ in range(4000):
        count = rng.choice([1, 2, 7, 9, 14, 15, 15, rng.randint(1, 15)])
        digits = rng.choice(["9" * count, "1" + "0" * (count - 1), "0" * count, ""])
        digits = digits or "".join(rng.choice("0123456789") for _ in range(count))
        at = rng.randint(0, count) if rng.random() < 0.7 else None
        after = 0 if at is None else count - at
        mantissa = digits if at is None else digits[:at] + "." + digits[at:]
        scale = rng.randint(-25, 25)
        token = rng.choice(["", "-", "+"]) + mantissa
        if scale != -after or rng.random() < 0.3:  # the scale is the exponent less `after`
            exponent = scale + after
            written = str(abs(exponent)).zfill(rng.randint(1, 4))
            if len(written) > 4:
                continue
            sign = "-" if exponent < 0 else rng.choice(["", "+"])
            token += rng.choice("eE") + sign + written
        tokens.append(token)
    return tokens


def test_clinger_fast_path_is_float_bit_for_bit() -> None:
    """_decimal_floats gives float(token) for every plain decimal, signed zeros included (its
    Clinger fast path for scales within ±22, float() beyond), and NaN for the others."""
    tokens = _clinger_tokens(random.Random(19))
    decimals = _plain_decimals(tokens)
    assert decimals.matches.all()  # the generator writes plain decimals only
    fast = int((np.abs(decimals.scale) <= 22).sum())
    assert fast >= 3000 and len(tokens) - fast >= 100  # both paths are taken
    found = _decimal_floats(decimals, tokens)
    want = np.array([float(token) for token in tokens])
    for token, got, value in zip(tokens, found.tolist(), want.tolist(), strict=True):
        assert got.hex() == value.hex() and math.copysign(1, got) == math.copysign(1, value), token
    others = ["nan", "1e", "0x1p0", "1234567890123456", "", " 1"]
    assert np.isnan(_decimal_floats(_plain_decimals(others), others)).all()


class _Items(list):  # type: ignore[type-arg]
    """A list subclass: _flat's check passes it as an item, the exact path then refuses it."""


def _one_at_a_time(outputs: dict[str, Any], vf: Any) -> list[dict[str, str]]:
    """The authority read_outputs stands for: each test in turn, its layout by _layout, then
    each of its values by _value (the exact path), so the first error in the file is raised.
    Returns each test's values as hex, or None for a skipped test."""
    fmt = get_format(vf.dtype)
    found: list[Any] = []
    for test in vf.tests():
        tokens: list[Any] = []
        plan, error = _layout(outputs, test, vf.op, "outputs", tokens)
        offset, values = 0, {}
        for part in plan or []:
            read = [
                _value(tokens[offset + i], fmt, f"{part.place}, position {i}").hex()
                for i in range(part.size)
            ]
            values[part.key] = read
            offset += part.size
        if error is not None:
            raise error
        found.append(None if plan is None else values)
    return found


_DAMAGES = (
    *("nest", "mixed", "short", "subclass", "null", "missing", "bare", "none", "dict"),
    *("number", "bad", "bad", "pad", "off"),
)


def _damaged(document: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``document`` with one to three changes at random tests: layout errors (nested, mixed
    or short lists, a list-subclass item, null, a missing test, a bare value), items of other
    types and bad values, so that errors of several kinds come in several orders."""
    changed = {key: list(v) if isinstance(v, list) else v for key, v in document.items()}
    keys = list(changed)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(keys)
        value = changed.get(key)
        if not isinstance(value, list) or not value:
            continue
        at = rng.randrange(len(value))
        how = rng.choice(_DAMAGES)
        if how == "nest":
            value[at] = [value[at]]
        elif how == "mixed":
            changed[key] = [value]
        elif how == "short":
            del value[at]
        elif how == "subclass":
            value[at] = _Items([value[at]])
        elif how == "null":
            changed[key] = None
        elif how == "missing":
            del changed[key]
        elif how == "bare":
            changed[key] = value[at]
        elif how in ("none", "dict", "number"):
            value[at] = {"none": None, "dict": {"a": 1}, "number": 0.5}[how]
        elif how == "bad":
            value[at] = rng.choice(["zero", "0x1p-1000", "1e400", "0.1234567890123456789"])
        elif how == "pad":
            value[at] = f" {value[at]}"
        elif isinstance(value[at], str):  # a quarter ulp off: refused by both paths
            value[at] = f"{float(value[at]) * (1 + 2.0**-30):.17g}"
    return changed


@pytest.mark.parametrize("op", sorted(EXPECTED_KEYS))
def test_read_outputs_equals_reading_each_test_in_turn(op: str) -> None:
    """read_outputs (the inline layout of flat lists, the unchecked items read again when a
    token is no str, every value at once) gives what reading each test in turn by _layout and
    the exact path gives: the same values, bit for bit, or the same first error, word for
    word, on genuine and damaged documents of every op."""
    from symsoftmax.validation.sources import suite_vectors

    vf = suite_vectors(op, "float32", "quick")
    fmt = get_format("float32")
    document: dict[str, Any] = {}
    for test in vf.tests():
        values = [
            shortest_decimal(float(v), fmt) if math.isfinite(v) else repr(float(v))
            for key in EXPECTED_KEYS[op]
            for v in test.expected[key].ravel()
        ]
        document[str(test.tc_id)] = values
    rng = random.Random(sum(map(ord, op)))
    errors = 0
    for trial in range(25):
        outputs = document if trial == 0 else _damaged(document, rng)
        try:
            want: Any = _one_at_a_time(outputs, vf)
        except InputError as exc:
            want = str(exc)
        try:
            outcomes = read_outputs(outputs, vf)
        except InputError as exc:
            assert str(exc) == want, trial
            errors += 1
            continue
        got = [
            None
            if outcome.outputs is None
            else {
                key: [v.hex() for v in array.ravel().tolist()]
                for key, array in outcome.outputs.items()
            }
            for outcome in outcomes
        ]
        assert got == want, trial
    assert errors >= 15  # the damaged documents are refused, mostly
