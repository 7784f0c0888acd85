"""Cases: a drawn row, its second input and temperature, and the reference values."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn, SearchStrategy

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.ops import OPERATIONS
from symsoftmax.reference import evaluate
from symsoftmax.testing import SoftmaxCase
from symsoftmax.testing.strategies.rows import drawn_rows
from symsoftmax.testing.strategies.spec import Floats, _tiled
from symsoftmax.testing.strategies.values import _finite_values, format_values
from symsoftmax.vectors.builder import answers_for
from symsoftmax.vectors.catalogue import (
    COTANGENTS,
    MAX_SHORT_K,
    MAX_SHORT_K_JACOBIAN,
    TARGETS,
    Companion,
)
from symsoftmax.vectors.model import INPUT_KEYS, OPS, TestCase, expected_shape

_EXACT_BITS = 160  # binary precision of the exact values, printed with _EXACT_DIGITS digits
_EXACT_DIGITS = 40
_COTANGENT_BOUND = 1024.0  # drawn cotangents lie in [−2^10, 2^10] (see _second_input)


def _companion(
    draw: DrawFn, fmt: Format, k: int, kinds: tuple[Companion, ...]
) -> tuple[Floats, tuple[str, ...], str]:
    """The second input from one of the catalogue's companions (cotangents or targets).

    A companion draws from a NumPy generator (one-hot positions, signs): here, and only here, the
    seed is a drawn integer (shrinking to 0), so that the values are exactly the catalogue's
    constructions rather than a second copy of them.
    """
    companion = draw(st.sampled_from(kinds))
    seed = draw(st.integers(0, 2**32 - 1))
    try:
        values = companion.make(np.random.default_rng(seed), fmt, k)
    except AssertionError:  # e.g. a uniform target that the format cannot hold exactly
        reject()
    return values, companion.flags, companion.name


def _second_input(
    draw: DrawFn, op: str, fmt: Format, k: int
) -> tuple[str, Floats, tuple[str, ...], str] | None:
    """(name, values, flags, kind) of the op's second input, None for a one-input op."""
    inputs = OPERATIONS[op].inputs
    if len(inputs) < 2:
        return None
    name = inputs[1]
    if name == "g" and not draw(st.booleans()):  # a drawn cotangent (shrinks to a constant) first
        # |g| ≤ 2^10 like the catalogue's: cotangents across the whole range (3e38 next to
        # 1e-45) send the reference's Ziv loop to thousands of bits, seconds a case
        bound = min(_COTANGENT_BOUND, fmt.max)
        return name, _tiled(draw, _finite_values(fmt, -bound, bound), k), (), "drawn"
    values, flags, kind = _companion(draw, fmt, k, COTANGENTS if name == "g" else TARGETS)
    return name, values, flags, kind


def _reference_test(
    op: str, fmt: Format, inputs: dict[str, Floats], flags: tuple[str, ...], comment: str
) -> TestCase:
    """The test of one row, as a vector file holds it: the correctly rounded outputs (the
    engine's fast path), the exact values and the named answers where the field disagrees.

    The vector builder prints each exact value as its correctly rounded 40-digit decimal, which
    the engine computes exactly — seconds for values like e^−2·10^5 (a row spanning ±max in
    float16). Here the exact value is correctly rounded to 160 bits and printed with 40 digits:
    within 2^−130 of it, far below the hi + lo double the pass rule reads (about 2^−106).
    """
    k = inputs["z"].size
    rows = [inputs[name][np.newaxis] for name in INPUT_KEYS[op]]
    temperature = inputs.get("temperature")
    expected, exact = {}, {}
    for output in OPERATIONS[op].outputs:
        result = evaluate(
            output.reference,
            *rows,
            dtype=fmt,
            temperature=None if temperature is None else float(temperature),
        )
        shape = expected_shape(op, output.key, k)
        expected[output.key] = np.asarray(result.rounded[0], dtype=np.float64).reshape(shape)
        values = np.asarray(result.values(_EXACT_BITS)[0], dtype=object).reshape(shape)
        exact[output.key] = np.vectorize(_decimal, otypes=[object])(values)
    answers = answers_for(op, inputs, expected)
    return TestCase(
        tc_id=1,
        comment=comment,
        flags=flags,
        inputs=inputs,
        expected=expected,
        exact=exact,
        result="acceptable" if answers else "valid",
        acceptable=answers,
    )


def _decimal(value: Any) -> str:
    """An mpmath value as the vector files write it: a decimal, "nan", "inf", "-inf", "0"."""
    if not value:
        return "0"
    return str(mpmath.nstr(value, _EXACT_DIGITS, min_fixed=1, max_fixed=0))


def cases(
    op: str = "softmax",
    dtype: str | Format = "float32",
    *,
    temperature: bool = False,
    max_size: int | None = None,
    **options: Any,
) -> SearchStrategy[SoftmaxCase]:
    """Cases of ``op`` in ``dtype``: a hard row (:func:`rows`; ``options`` go there), the second
    input the op takes (a cotangent g, a target y), and the correctly rounded reference values.

    The strategy counterpart of :func:`symsoftmax.testing.cases`: a drawn case is a
    :class:`~symsoftmax.testing.SoftmaxCase` (``case.z``, ``case.args``, ``case.expected``), and
    ``assert_softmax_close(got, case)`` judges an output by the validator's pass rule
    (:class:`symsoftmax.validation.PassRule`: ``mode``, ``max_ulp``, ``ftz``). Special values get
    the named answers of the vector files (an all −inf row: NaN or the masked zeros).
    ``temperature=True`` also draws T (None, or a positive format value) for the ops that take
    one; call the kernel with ``case.test.inputs.get("temperature")``. The Jacobian (K² outputs)
    keeps K ≤ 10 and has no block-structured rows.
    """
    if op not in OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
    fmt = get_format(dtype)
    quadratic = OPERATIONS[op].dims == 2
    if quadratic:
        options["block"] = None
    limit = MAX_SHORT_K_JACOBIAN if quadratic else MAX_SHORT_K
    row_strategy = drawn_rows(fmt, max_size=limit if max_size is None else max_size, **options)
    temperatures: SearchStrategy[float | None] = st.none()
    if temperature and OPERATIONS[op].temperature:
        positive = format_values(fmt, min_value=fmt.smallest_subnormal, max_value=fmt.max)
        temperatures = st.one_of(st.none(), positive)

    @st.composite
    def make(draw: DrawFn) -> SoftmaxCase:
        row = draw(row_strategy)
        inputs = {"z": row.z}
        flags, comment = row.flags, row.comment
        second = _second_input(draw, op, fmt, row.z.size)
        if second is not None:
            name, values, extra, kind = second
            inputs[name] = values
            flags, comment = (*flags, *extra), f"{comment}; {name}: {kind}"
        t = draw(temperatures)
        if t is not None:
            inputs["temperature"] = np.asarray(t, dtype=np.float64)
            flags, comment = (*flags, "temperature"), f"{comment}; T = {t!r}"
        return SoftmaxCase(op, fmt.name, _reference_test(op, fmt, inputs, flags, comment))

    return make()
