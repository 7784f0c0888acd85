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
        assert round_exact(sign * over, fmt) == sign * math.inf  # the tie goes to 2^(emax+1)
        assert round_exact(sign * (over - nudge), fmt) == sign * fmt.max
    if fmt.float64_extra_bits:  # both thresholds are float64 values: round_array agrees
        got = round_array(
            [float(under), -float(over), float(over) - float(ulp(fmt.max, "float64")[()])], fmt
        )
        assert list(got) == [0.0, -math.inf, fmt.max]


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
    above = np.nextafter(values.astype(fmt.numpy_dtype), fmt.numpy_dtype.type(np.inf))
    np.testing.assert_array_equal(above.astype(np.float64) - values, ulp(values, fmt))


def test_a_format_must_embed_in_float64() -> None:
    with pytest.raises(ValueError, match="does not embed in float64"):
        Format("float128", 113, -16382, 16383, np.dtype(np.float64))
    with pytest.raises(ValueError, match="does not embed in float64"):
        Format("bad", 11, -1100, 15, np.dtype(np.float16))


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
