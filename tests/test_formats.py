"""Format's arithmetic: the quantum, the ±0 and ±inf thresholds, and what a format must be.

Checked against the rounding routines (:mod:`symsoftmax.rounding`) at the thresholds themselves
and against NumPy / ml_dtypes nextafter in each format's own dtype.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from importlib import resources

import numpy as np
import pytest

from symsoftmax.formats import FORMATS, Format, get_format
from symsoftmax.rounding import round_array, round_exact, ulp, ulp_exact


@pytest.mark.parametrize("fmt_name", list(FORMATS))
def test_thresholds_are_where_rounding_leaves_the_finite_nonzero_values(fmt_name: str) -> None:
    fmt = get_format(fmt_name)
    under, over = fmt.underflow_threshold, fmt.overflow_threshold
    assert under == Fraction(fmt.smallest_subnormal) / 2 == Fraction(2) ** fmt.underflow_exponent
    assert over == Fraction(fmt.max) + ulp_exact(fmt.max, fmt) / 2
    assert Fraction(2) ** (fmt.overflow_exponent - 1) < over < Fraction(2) ** fmt.overflow_exponent
    nudge = Fraction(1, 2**2000)  # far below any spacing, but not zero
    for sign in (1, -1):
        assert math.copysign(1, round_exact(sign * under, fmt)) == sign
        assert round_exact(sign * under, fmt) == 0  # the tie goes to the even 0
        assert round_exact(sign * (under + nudge), fmt) == sign * fmt.smallest_subnormal
        if fmt.infinities:
            assert round_exact(sign * over, fmt) == sign * math.inf  # the tie goes to 2^(emax+1)
        else:  # max's last bit is even: the tie goes to max, and beyond it is NaN (OCP FP8)
            assert round_exact(sign * over, fmt) == sign * fmt.max
            assert math.isnan(round_exact(sign * (over + nudge), fmt))
        assert round_exact(sign * (over - nudge), fmt) == sign * fmt.max
    if fmt.float64_extra_bits and fmt.infinities:  # float64 thresholds: round_array agrees
        got = round_array(
            [float(under), -float(over), float(over) - float(ulp(fmt.max, "float64")[()])], fmt
        )
        assert list(got) == [0.0, -math.inf, fmt.max]


def test_float8_e4m3fn_has_no_infinity_overflow_and_infinite_inputs_are_nan() -> None:
    """OCP FP8 E4M3 (finite, max 448): the conversion without saturation gives NaN beyond
    the range (464 = 448 + half the spacing of 32 ties to 448), as ml_dtypes' cast does."""
    fmt = get_format("float8_e4m3fn")
    assert fmt.max == 448.0 and not fmt.infinities
    assert fmt.overflow_threshold == 464
    # 465, not 464 + 2^−40: ml_dtypes casts float64 through float32 (a double rounding)
    values = [448.0, 464.0, 465.0, -480.0, 1e300, math.inf, -math.inf, math.nan]
    got = round_array(values, fmt)
    with np.errstate(over="ignore"):
        cast = np.asarray(values).astype(fmt.numpy_dtype).astype(np.float64)
    np.testing.assert_array_equal(got, cast)  # NaN where they are NaN
    assert list(got[:2]) == [448.0, 448.0] and np.isnan(got[2:]).all()
    assert [round_exact(v, fmt) for v in values[:2]] == [448.0, 448.0]
    assert all(math.isnan(round_exact(v, fmt)) for v in values[2:])
    assert math.isnan(round_exact(Fraction(464) + Fraction(1, 2**40), fmt))
    assert math.isnan(round_exact("-inf", fmt))  # a −inf mask value cannot be held: NaN


@pytest.mark.parametrize("fmt_name", ["float8_e5m2", "float8_e4m3fn"])
def test_every_float8_value_rounds_to_itself_and_midpoints_as_ml_dtypes(fmt_name: str) -> None:
    """All 256 bit patterns, and every midpoint between neighbours: ties to even, as the cast."""
    fmt = get_format(fmt_name)
    values = np.arange(256, dtype=np.uint8).view(fmt.numpy_dtype).astype(np.float64)
    finite = np.unique(values[np.isfinite(values)])
    mids = (finite[:-1] + finite[1:]) / 2  # exact in float64
    for probe in (finite, mids):
        got = round_array(probe, fmt)
        np.testing.assert_array_equal(got, probe.astype(fmt.numpy_dtype).astype(np.float64))
        assert [round_exact(float(v), fmt) for v in probe] == list(got)


@pytest.mark.parametrize("fmt_name", list(FORMATS))
def test_quantum_exponent_is_the_spacing_in_every_range(fmt_name: str) -> None:
    fmt = get_format(fmt_name)
    p = fmt.precision
    assert fmt.quantum_exponent(0) == 1 - p  # ulp(1) = 2^(1−p)
    assert fmt.quantum_exponent(fmt.emin - 5) == fmt.quantum_exponent(fmt.emin)  # subnormal
    assert math.ldexp(1.0, fmt.quantum_exponent(fmt.emin)) == fmt.smallest_subnormal
    exponents = np.arange(fmt.emin - p - 2, fmt.emax + 1)
    assert list(fmt.quantum_exponent_array(exponents)) == [
        fmt.quantum_exponent(int(e)) for e in exponents
    ]
    # the spacing is the gap to the next format value (nextafter in the format's own dtype)
    values = np.ldexp(1.5, exponents[exponents > fmt.emin - p + 1])  # format values
    # toward max, not inf: float8_e4m3fn has no inf (the cast of inf is NaN)
    above = np.nextafter(values.astype(fmt.numpy_dtype), fmt.numpy_dtype.type(fmt.max))
    np.testing.assert_array_equal(above.astype(np.float64) - values, ulp(values, fmt))


def test_a_format_must_embed_in_float64() -> None:
    with pytest.raises(ValueError, match="does not embed in float64"):
        Format("float128", 113, -16382, 16383, "float64")
    with pytest.raises(ValueError, match="does not embed in float64"):
        Format("bad", 11, -1100, 15, "float16")


def test_the_vector_file_schema_lists_exactly_the_formats_table() -> None:
    text = resources.files("symsoftmax").joinpath("schemas/vectors.schema.json").read_text()
    schema = json.loads(text)

    def dtype_enums(node: object) -> list[list[str]]:
        if isinstance(node, dict):
            found = [node["dtype"]["enum"]] if isinstance(node.get("dtype"), dict) else []
            return found + [e for v in node.values() for e in dtype_enums(v)]
        if isinstance(node, list):
            return [e for v in node for e in dtype_enums(v)]
        return []

    enums = dtype_enums(schema)
    assert enums and all(enum == list(FORMATS) for enum in enums)
