"""The lines format: test vectors as text lines for a program in any language, and its answers.

Berkeley TestFloat's model (``testfloat_gen | program | testfloat_ver``): ``symsoftmax vectors
--format lines`` writes one test per line, a program reads stdin and prints one answer per line,
and ``symsoftmax score VECTORS -`` judges the answers (docs/languages.md).

Tests (:func:`dumps_lines`)::

    # symsoftmax-lines-1 op=softmax dtype=float32 suite=quick seed=0 tests=189 outputs=K ...
    tcId K T z_1 … z_K [c_1 … c_K]

T is ``-`` for a test without a temperature, sink or soft-cap, the temperature's value for a
test with a temperature alone (as before sinks and soft-caps), and ``name=value`` pairs joined
by commas (``sink=2.5``, ``softcap=50``, ``sink=2.5,softcap=50``; names in the order
temperature, sink, softcap) for a test with a sink or soft-cap, so that a program which answers
``tcId -`` when T is not ``-`` skips such a test rather than computing the op without its
sink or cap; the companion row c is y for cross_entropy and g
for the VJPs (``companion=`` in the header says which, ``none`` for the other ops). Values are
the shortest decimal that reads back as the same value of the format, both directly (``strtof``
for float32) and through a double (``strtod`` then a conversion to the format, the only way C
reads the 16- and 8-bit formats), or C99 hex floats with ``hex=True`` (``%a``; exact); ``inf``,
``-inf`` and ``nan`` for the specials. Lines starting with ``#`` are comments.

Answers (:func:`read_answer_lines`): ``tcId v_1 … v_N``, N the output arity of the op
(:func:`output_arity`: ``K``, ``1``, ``1+K`` for cross_entropy's loss then grad, ``K*K`` for the
jacobian, row-major), or ``tcId -`` for a test with a temperature, sink or soft-cap the program
does not take (reported as skipped). Blank lines and ``#`` comments are ignored. The values are
checked by :mod:`symsoftmax.validation.score`, which reads JSON answers the same way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.rounding import brief_repr, format_hex, parse_value, round_exact
from symsoftmax.vectors.model import INPUT_KEYS, SCALAR_INPUTS, TestCase, VectorFile

__all__ = [
    "LINES_SCHEMA",
    "dumps_lines",
    "format_scalars",
    "format_test_line",
    "format_value",
    "header_line",
    "iter_lines",
    "output_arity",
    "output_count",
    "read_answer_lines",
    "read_test_inputs",
    "read_test_lines",
    "shortest_decimal",
]

LINES_SCHEMA = "symsoftmax-lines-1"
_ARITY = {"logsumexp": "1", "cross_entropy": "1+K", "jacobian": "K*K"}  # the others: K
_NATIVE: dict[str, type[np.floating[Any]]] = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
}
_MAX_DIGITS = 17  # enough for float64, hence for every narrower format


def output_arity(op: str) -> str:
    """How many values a program prints per test of ``op``, as a formula of K."""
    return _ARITY.get(op, "K")


def output_count(op: str, k: int) -> int:
    """:func:`output_arity` evaluated for rows of length ``k``."""
    return {"1": 1, "1+K": 1 + k, "K*K": k * k}.get(output_arity(op), k)


def companion_name(op: str) -> str:
    """The second input row of ``op`` ("g", "y") or "none"."""
    keys = INPUT_KEYS[op]
    return keys[1] if len(keys) > 1 else "none"


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def shortest_decimal(value: float, fmt: Format) -> str:
    """The shortest decimal that reads back as ``value`` (a value of ``fmt``) both when rounded
    to ``fmt`` directly and when read as a double first and then rounded (double rounding can
    differ where the double lands on a midpoint of ``fmt``); "inf", "-inf", "nan"."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    native = _NATIVE.get(fmt.name)
    if native is not None:  # NumPy's Dragon4: the shortest that round-trips directly
        text = str(native(value))
        # NumPy's casts from float64 round correctly, as C's do: the path through a double
        if native is np.float64 or float(native(float(text))) == value:
            return text
    return _shortest_by_search(value.hex(), fmt.name)  # keyed by the bits: -0.0 is not 0.0


@functools.lru_cache(maxsize=1 << 17)  # the 8- and 16-bit formats have few values: memoized
def _shortest_by_search(bits: str, format_name: str) -> str:
    """The first of the value (``float.hex`` form) printed to 1, 2, … significant digits that
    reads back."""
    value = float.fromhex(bits)
    fmt = get_format(format_name)
    for digits in range(1, _MAX_DIGITS + 1):
        text = f"{value:.{digits}g}"  # %g: no trailing zeros, an exponent where it is shorter
        if _reads_back(text, value, fmt):
            return text
    return repr(value)  # unreachable: 17 digits identify every double


def _reads_back(text: str, value: float, fmt: Format) -> bool:
    """Whether ``text`` rounds to ``value`` in ``fmt``, directly and through a double."""
    as_double = float(text)
    return (
        parse_value(text, fmt) == value
        and round_exact(as_double, fmt) == value
        and math.copysign(1.0, as_double) == math.copysign(1.0, value)
    )


def format_value(value: float, fmt: Format, *, hex: bool = False) -> str:
    """One value as the lines format writes it: shortest decimal, or a C99 hex float."""
    if not hex or not math.isfinite(value):
        return shortest_decimal(value, fmt)
    text = format_hex(value)  # 0x1.8000000000000p+1: the fraction's trailing zeros dropped
    mantissa, _, exponent = text.partition("p")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}p{exponent}"


def header_line(vf: VectorFile) -> str:
    """The comment line that opens the file: what the tests are and what a program answers."""
    header = vf.header
    fields = {
        "op": vf.op,
        "dtype": vf.dtype,
        "suite": header.get("suite", "custom"),
        "seed": header.get("seed", 0),
        "tests": len(vf),
        "outputs": output_arity(vf.op),
        "companion": companion_name(vf.op),
        "sha256": str(header.get("sha256", ""))[:16] or "-",
    }
    return f"# {LINES_SCHEMA} " + " ".join(f"{key}={value}" for key, value in fields.items())


def format_test_line(test: TestCase, op: str, fmt: Format, *, hex: bool = False) -> str:
    """``tcId K T z_1 … z_K [c_1 … c_K]`` for one test (T: :func:`format_scalars`)."""
    z = test.inputs["z"]
    head = [str(test.tc_id), str(z.size), format_scalars(test, fmt, hex=hex)]
    values = [format_value(v, fmt, hex=hex) for key in INPUT_KEYS[op] for v in _row(test, key)]
    return " ".join(head + values)


def format_scalars(test: TestCase, fmt: Format, *, hex: bool = False) -> str:
    """The T field of a test: ``-`` for none, the temperature's value when it is the only
    scalar input (the format before sinks and soft-caps), else ``name=value`` pairs joined by
    commas in :data:`SCALAR_INPUTS` order (never a bare number: a program that reads T as a
    temperature, or answers ``tcId -`` for any T, cannot mistake a sink for one)."""
    given = {name: float(test.inputs[name]) for name in SCALAR_INPUTS if name in test.inputs}
    if not given:
        return "-"
    if list(given) == ["temperature"]:
        return format_value(given["temperature"], fmt, hex=hex)
    return ",".join(f"{name}={format_value(v, fmt, hex=hex)}" for name, v in given.items())


def _row(test: TestCase, key: str) -> list[float]:
    return [float(v) for v in np.asarray(test.inputs[key], dtype=np.float64).ravel().tolist()]


def iter_lines(vf: VectorFile, *, hex: bool = False) -> Iterator[str]:
    """The lines of ``vf`` (header first), without their newlines."""
    fmt = get_format(vf.dtype)
    yield header_line(vf)
    for test in vf.tests():
        yield format_test_line(test, vf.op, fmt, hex=hex)


def dumps_lines(vf: VectorFile, *, hex: bool = False) -> str:
    """The whole lines file of ``vf`` as text (newline-terminated lines)."""
    return "".join(line + "\n" for line in iter_lines(vf, hex=hex))


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def _content_lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, its whitespace-separated tokens) of the lines that are not blank or ``#``."""
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if tokens and not tokens[0].startswith("#"):
            yield number, tokens


def _tc_id(token: str, where: str) -> int:
    """A tcId token: ASCII digits only, as the vectors print it."""
    if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
        raise InputError(f"{where}: expected a tcId, got {brief_repr(token)}")
    if len(token) > 19:
        raise InputError(f"{where}: tcId {brief_repr(token)} is too long")
    return int(token)


def read_answer_lines(text: str, name: str) -> dict[str, list[str] | None]:
    """tcId (as a string) → the value tokens of its line, or None for ``tcId -``.

    InputError (one line, naming ``name`` and the line) for a line whose first token is not a
    tcId, a ``-`` followed by values, or a tcId given twice (which one would count?).
    """
    answers: dict[str, list[str] | None] = {}
    first_line: dict[str, int] = {}
    for number, tokens in _content_lines(text):
        where = f"{name}, line {number}"
        key = str(_tc_id(tokens[0], where))
        if key in answers:
            raise InputError(f"{where}: tcId {key} given twice (first on line {first_line[key]})")
        values: list[str] | None = tokens[1:]
        if values == ["-"]:
            values = None
        elif "-" in (values or []):
            raise InputError(f"{where}: tcId {key}: '-' (no output) stands alone on its line")
        answers[key] = values
        first_line[key] = number
    return answers


def read_test_inputs(
    text: str, name: str, fmt: Format, companion: bool
) -> list[tuple[int, dict[str, float], list[float], list[float]]]:
    """(tcId, scalar inputs, z, companion row) of each test line written by
    :func:`dumps_lines`, values rounded to ``fmt`` (for Python programs in a pipe, and to check
    the writer); the scalar inputs map temperature, sink and softcap to their values (empty for
    T = ``-``)."""
    tests = []
    for number, tokens in _content_lines(text):
        where = f"{name}, line {number}"
        if len(tokens) < 3 or not (tokens[1].isascii() and tokens[1].isdigit()):
            raise InputError(f"{where}: expected 'tcId K T z_1 … z_K'")
        k = int(tokens[1])
        values = tokens[3:]
        if len(values) != k * (2 if companion else 1):
            raise InputError(f"{where}: expected {k * (2 if companion else 1)} values")
        try:
            numbers = [parse_value(token, fmt) for token in values]
            scalars = _parse_scalars(tokens[2], fmt)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        tests.append((_tc_id(tokens[0], where), scalars, numbers[:k], numbers[k:]))
    return tests


def read_test_lines(
    text: str, name: str, fmt: Format, companion: bool
) -> list[tuple[int, float | None, list[float], list[float]]]:
    """(tcId, T or None, z, companion row) of each test line, as :func:`read_test_inputs`
    reads them; InputError for a test with a sink or soft-cap (which this tuple cannot carry:
    read such lines with :func:`read_test_inputs`)."""
    tests = []
    for tc_id, scalars, z, c in read_test_inputs(text, name, fmt, companion):
        other = [key for key in scalars if key != "temperature"]
        if other:
            raise InputError(f"{name}: tcId {tc_id} has a {other[0]} (read_test_inputs returns it)")
        tests.append((tc_id, scalars.get("temperature"), z, c))
    return tests


def _parse_scalars(token: str, fmt: Format) -> dict[str, float]:
    """The T field: ``-`` → {}, a value → its temperature, ``name=value,…`` → those inputs."""
    if token == "-":
        return {}
    if "=" not in token:
        return {"temperature": parse_value(token, fmt)}
    scalars: dict[str, float] = {}
    for pair in token.split(","):
        key, _, value = pair.partition("=")
        if key not in SCALAR_INPUTS:
            raise InputError(
                f"unknown input {brief_repr(key)} in {brief_repr(token)} "
                f"(expected {', '.join(SCALAR_INPUTS)})"
            )
        if key in scalars:
            raise InputError(f"{key} given twice in {brief_repr(token)}")
        scalars[key] = parse_value(value, fmt)
    return scalars
