"""Scoring outputs computed elsewhere (C, CUDA, Julia, ...): the same verdict as validate().

OUTPUTS is a JSON object mapping each tcId (as a string) to the list of output values of that
test, or answer lines ``tcId v_1 … v_N`` (:mod:`symsoftmax.vectors.lines`: a file whose first
non-blank character is a digit or ``#``), from a file or from stdin (``-``). Each value is a string:
decimal (``"0.0900305733"``) or hex float (``"0x1.70c10ap-4"``), or a NaN or infinity as runtimes
print them (:data:`NAN_SPELLINGS`, :data:`INF_SPELLINGS`: ``nan``, ``-nan``, ``NaN``,
``nan(0x8000)``, ``-nan(ind)``, ``1.#QNAN``, ``inf``, ``Infinity``, ``-1.#INF``, …). Each must
be a value of the format: a hex float exactly, a decimal to the precision it is printed with
(within one unit of its last significant digit: ``printf("%.9g")`` and every shortest
round-trip printer of a float32 qualify, ``%.17g`` of a double that is no float32 value does
not). Anything else is an error naming the tcId, unless ``round_outputs`` (``--round-outputs``)
rounds it to the nearest value of the format. JSON numbers are accepted too and read exactly
from their text. Per op:

* softmax, log_softmax, softmax_vjp, log_softmax_vjp: K values;
* logsumexp: one value (a list of one, or the bare value);
* jacobian: K·K values in row-major order (or K lists of K);
* cross_entropy: ``[loss, grad_1, …, grad_K]`` (K + 1 values) or ``{"loss": v, "grad": [...]}``.

A test with a temperature, sink or soft-cap may map to ``null`` (a line ``tcId -``) when the
implementation does not take it: it is reported as skipped (validate's keyword policy).
Anything else missing or malformed is an input error naming the file, the tcId and the
position, and so is anything that could be read two ways: a tcId given twice (JSON would keep
the last), a number padded with whitespace, lists inside a list where a flat one is expected,
jacobian rows of the wrong length, or an unknown key beside loss and grad.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from symsoftmax import collector
from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.jsonfile import loads_json, read_user_file, read_user_stdin
from symsoftmax.rounding import brief_repr, parse_exact, round_array, round_exact
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.core import judge
from symsoftmax.validation.report import ValidationReport
from symsoftmax.validation.runner import Outcome
from symsoftmax.validation.sources import resolve_vectors
from symsoftmax.vectors.decimals import EXACT_POWER, EXACT_POWERS_OF_TEN
from symsoftmax.vectors.model import (
    EXPECTED_KEYS,
    SCALAR_INPUTS,
    TestCase,
    VectorFile,
    expected_shape,
)
from symsoftmax.vectors.tokens import SEPARATOR, joined_tokens

__all__ = ["INF_SPELLINGS", "NAN_SPELLINGS", "STDIN", "read_outputs", "score"]

STDIN = "-"  # OUTPUTS read from standard input
NAN_SPELLINGS = re.compile(
    r"[+-]?[sq]?nan(?:\([0-9A-Za-z_]*\)|16|32|64)?|[+-]?1\.#(?:qnan|snan|ind)0*", re.IGNORECASE
)
"""NaN as C runtimes (glibc ``nan``/``-nan``, ``nan(0x…)`` of C99 strtod, MSVC ``-nan(ind)``
and the older ``1.#QNAN``, ``1.#SNAN``, ``-1.#IND``), Rust, JavaScript, Java, Go (``NaN``) and
Julia (``NaN32``, ``NaN16``) print it; the sign and payload of a NaN are not judged."""
INF_SPELLINGS = re.compile(
    r"(?P<sign>[+-]?)(?:inf(?:inity)?(?:16|32|64)?|1\.#inf0*)", re.IGNORECASE
)
"""±infinity as C (``inf``), MSVC's older runtimes (``1.#INF``, ``-1.#INF00``), JavaScript and
Java (``Infinity``), Go (``+Inf``) and Julia (``Inf32``) print it."""
_DECIMAL_DIGITS = re.compile(
    r"[+-]?(?P<int>[0-9]*)\.?(?P<frac>[0-9]*)(?:[eE](?P<exp>[+-]?[0-9]+))?"
)  # the parts of a decimal that parse_exact has read


@collector.while_paused
def read_outputs(
    outputs: Mapping[str, Any] | str | os.PathLike[str],
    vf: VectorFile,
    *,
    round_outputs: bool = False,
) -> list[Outcome]:
    """One Outcome per test of ``vf`` from an OUTPUTS object, a JSON or answer-lines file, or
    ``"-"`` (stdin); see the module docstring. ``round_outputs``: round a value that is not one
    of the format to the nearest that is, instead of refusing it."""
    where = "outputs"
    if isinstance(outputs, str | os.PathLike):
        where, outputs = _read_document(outputs)
    if not isinstance(outputs, Mapping):
        raise InputError(f"{where}: expected a JSON object mapping tcId to output values")
    fmt = get_format(vf.dtype)
    known = {str(test.tc_id) for test in vf.tests()}
    for key in outputs:
        if key not in known:
            shown = key if len(key) <= 60 and key.isprintable() else brief_repr(key)
            raise InputError(f"{where}: tcId {shown}: no such test in the vectors")
    plans, tokens, deferred = _plans(outputs, vf, where, check_items=False)
    try:  # every token a str, so no list among them: what _plans left unchecked
        joined: str | None = SEPARATOR.join(tokens)
    except TypeError:  # (an error to name, or a list's): the layout again, checked
        plans, tokens, deferred = _plans(outputs, vf, where, check_items=True)
        joined = None
    parts = [part for plan in plans if plan is not None for part in plan]
    values = _parsed_all(tokens, parts, fmt, round_outputs, joined)
    if deferred is not None:
        raise deferred
    result, start = [], 0
    for plan in plans:  # (all complete: an error was raised above)
        if plan is None:
            result.append(Outcome(None, "skipped", "no output (null)"))
            continue
        found = {}
        for part in plan:
            end = start + part.size
            found[part.key] = values[start:end].reshape(part.shape)
            start = end
        result.append(Outcome(found))
    return result


class _Part(NamedTuple):
    """One output of one test as the file gives it: its shape, its size (its tokens, row-major,
    are the next ``size`` of the token list) and where it is."""

    key: str
    shape: tuple[int, ...]
    size: int
    place: str


def _plans(
    outputs: Mapping[str, Any], vf: VectorFile, where: str, *, check_items: bool
) -> tuple[list[list[_Part] | None], list[Any], InputError | None]:
    """(the parts of each test in file order, None for a skipped one; all their tokens, in
    order; the first layout error). The layout of every test comes first, then every value at
    once (:func:`_quick_values` is an array parse: per test it cost 60 % of a score). The
    plans end at the first test with a layout error (its parts before the error included),
    which the caller raises after the values before it: the first error in the file is the one
    named, as when each test was read in turn.

    The common case, a flat list of the right length for an op of one flat output, is taken
    inline: what :func:`_layout` gives it, without its calls. Without ``check_items`` its items
    are not checked for lists (:func:`_flat`'s check, ~45 ns a token even as a C loop): right
    only when every token turns out to be a str (the caller's join tells)."""
    plans: list[list[_Part] | None] = []
    tokens: list[Any] = []
    op, keys = vf.op, EXPECTED_KEYS[vf.op]
    key = keys[0]
    flat = len(keys) == 1 and len(expected_shape(op, key, 2)) == 1
    for test in vf.tests():
        name = str(test.tc_id)
        value = outputs.get(name)
        # list in map(type, …): the check of _flat, so that the same lists pass
        if flat and type(value) is list and not (check_items and list in map(type, value)):
            shape = expected_shape(op, key, int(test.inputs["z"].size))
            if len(value) == shape[0]:  # else _layout names the count
                tokens += value
                plans.append([_Part(key, shape, shape[0], f"{where}: tcId {name}")])
                continue
        plan, deferred = _layout(outputs, test, op, where, tokens)
        plans.append(plan)
        if deferred is not None:
            return plans, tokens, deferred
    return plans, tokens, None


def _layout(
    outputs: Mapping[str, Any], test: TestCase, op: str, where: str, tokens: list[Any]
) -> tuple[list[_Part] | None, InputError | None]:
    """(the parts of one test's value in the file, each in its expected shape; the first error
    in its layout). Parts: None for null (a skipped test); on an error, those before it. The
    tokens of each part are appended to ``tokens``."""
    key = str(test.tc_id)
    found: list[_Part] = []
    try:
        if key not in outputs:
            raise InputError(f"{where}: tcId {key}: missing")
        value = outputs[key]
        if value is None:
            if not any(name in test.inputs for name in SCALAR_INPUTS):
                raise InputError(
                    f"{where}: tcId {key}: null (only tests with a temperature, sink or "
                    "soft-cap may be)"
                )
            return None, None
        place = f"{where}: tcId {key}"
        k = int(test.inputs["z"].size)
        for output, part, at in _parts(value, op, k, place):
            shape = expected_shape(op, output, k)
            items = _rows(part, shape, output, at) if len(shape) == 2 else None
            if items is None:
                items = _flat(part, math.prod(shape), output, at)
            tokens += items
            found.append(_Part(output, shape, len(items), at))
    except InputError as exc:
        return found, exc
    return found, None


def _parsed_all(
    tokens: list[Any],
    parts: list[_Part],
    fmt: Format,
    round_outputs: bool,
    joined: str | None = None,
) -> np.ndarray:
    """The values of ``tokens`` (those of ``parts``, in order) in ``fmt``: short plain decimals
    by :func:`_quick_values`, the rest one by one in file order, so that the first bad token is
    the one named (by its part's place and its index there, row-major). ``joined``:
    ``SEPARATOR.join(tokens)`` if the caller has it."""
    values, quick = _quick_values(tokens, fmt, joined)
    slow = np.flatnonzero(~quick)
    if slow.size:
        starts = np.cumsum([0, *(part.size for part in parts)])
        owners = np.searchsorted(starts, slow, side="right") - 1
        for i, owner in zip(slow.tolist(), owners.tolist(), strict=True):
            place = f"{parts[owner].place}, position {i - int(starts[owner])}"
            values[i] = _value(tokens[i], fmt, place, round_outputs)
    return values


def _read_document(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """(the name errors give it, the tcId mapping) of a JSON or answer-lines file, or stdin."""
    from symsoftmax.vectors.lines import read_answer_lines

    if os.fspath(path) == STDIN:
        name, data = "<stdin>", read_user_stdin()
    else:
        name, data = os.fspath(path), read_user_file(path)
    start = data.lstrip()[:1]
    if not (start.isdigit() or start == b"#"):  # answer lines open with a tcId or a comment
        return name, loads_json(data, name, numbers_as_text=True)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return name, read_answer_lines(text, name)


def _parts(value: Any, op: str, k: int, where: str) -> list[tuple[str, Any, str]]:
    """(output key, its value, where it is) for each output of ``op``.

    Only cross_entropy has two: a flat ``[loss, grad_1, …, grad_K]`` or exactly the keys
    ``loss`` and ``grad`` (an unknown key is refused: a misspelt one would go unread).
    """
    keys = EXPECTED_KEYS[op]
    if op != "cross_entropy":
        return [(keys[0], value, where)]
    if isinstance(value, Mapping):
        expected = " and ".join(repr(key) for key in keys)
        for key in value:
            if key not in keys:
                raise InputError(f"{where}: unexpected key {brief_repr(key)} (expected {expected})")
        missing = [key for key in keys if key not in value]
        if missing:
            raise InputError(f"{where}: missing {missing[0]!r}")
        return [(key, value[key], f"{where} {key}") for key in keys]
    flat = _flat(value, k + 1, "loss and grad", where)
    return [("loss", flat[:1], where), ("grad", flat[1:], where)]


def _flat(value: Any, size: int, what: str, where: str) -> list[Any]:
    """A flat list of ``size`` values (a bare value counts as a list of one).

    Lists inside are refused rather than flattened: rows are only a layout of the jacobian
    (:func:`_rows`), and flattening would let a value of the wrong shape fit by its count.
    """
    items = value if isinstance(value, list) else [value]
    lists = sum(isinstance(item, list) for item in items) if list in map(type, items) else 0
    if lists:
        mixed = ", got one that mixes values and lists" if lists < len(items) else ""
        raise InputError(f"{where}: expected a flat list of {size} value(s) for {what}{mixed}")
    if len(items) != size:
        raise InputError(f"{where}: expected {size} value(s) for {what}, got {len(items)}")
    return items


def _rows(value: Any, shape: tuple[int, ...], what: str, where: str) -> list[Any] | None:
    """A matrix given as ``shape[0]`` lists of ``shape[1]`` values, flattened row-major; None
    when ``value`` has no rows (a flat list, read by :func:`_flat`)."""
    if not isinstance(value, list) or not any(isinstance(item, list) for item in value):
        return None
    rows, cols = shape
    expected = f"expected {rows} rows of {cols} value(s) for {what}"
    if not all(isinstance(item, list) for item in value):
        raise InputError(f"{where}: {expected}, got a list that mixes values and lists")
    if len(value) != rows:
        raise InputError(f"{where}: {expected}, got {len(value)} rows")
    flat: list[Any] = []
    for i, row in enumerate(value):
        if any(isinstance(item, list) for item in row):
            raise InputError(f"{where}, row {i}: lists nested more than two deep")
        if len(row) != cols:
            raise InputError(f"{where}, row {i}: expected {cols} value(s), got {len(row)}")
        flat.extend(row)
    return flat


_PLAIN_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]{1,15}|(?=[0-9.]{2,16}(?![0-9.]))[0-9]*\.([0-9]*))(?:[eE]([+-]?[0-9]{1,4}))?"
)  # a decimal of at most 15 digits (16 characters with the point), no space: see _quick_values
_FLOAT64_TINY = 2.0**-1022  # the smallest normal float64
_ZERO = re.compile(r"[+-]?[0.]*(?:[eE].*)?")  # a decimal whose digits are all 0: exactly ±0
_NAN_WORDS = frozenset(("nan", "-nan", "NaN"))  # what NAN_SPELLINGS reads as NaN, the usual ones
_SLACK = 1 - 2.0**-40  # room for the rounding errors of the quick test (see _quick_values)


def _quick_values(
    tokens: list[Any], fmt: Format, joined: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(values, which are proved): the value :func:`format_value_of` gives each token that is a
    plain decimal of at most 15 digits, found in float arithmetic, where it is provably the
    same and accepted (with or without ``round_outputs``); the others are left to it (False).

    Let x be the token's exact value, with k = (its exponent) − (digits after its point), so
    that 10^k is at most the unit of its last significant digit. f = ``float()`` of it rounds x
    correctly to the nearest double, ties to even (CPython's David Gay strtod: "What's New in
    Python 3.1"; :func:`_decimal_floats` finds the same f by Clinger's fast path where it
    applies), and v = :func:`~symsoftmax.rounding.round_array` (f) rounds f to ``fmt``. Taken
    when both

    * f is normal, v is finite and nonzero, |f| ≤ the format's largest value, and f is no
      midpoint of two neighbouring values of ``fmt``. The midpoints are doubles (p + 1 ≤ 53
      bits, within float64's range), and rounding to a double is monotone, so x lies strictly
      on f's side of every midpoint (x = m would give f = m): x rounds to v as f does, so v is
      :func:`~symsoftmax.rounding.round_exact` (x). For float64 itself v = f = x rounded;
    * |f − v| + 2^−52·|f| < 10^k (computed, with the ``_SLACK`` that covers the rounding of
      this sum and of ``10.0 ** k``). |x − f| ≤ 2^−53·|x| < 2^−52·|f| (f normal), so
      |x − v| < 10^k: x is within one unit of its last digit of v, the test of :func:`_spells`.

    Taken too: x = 0 (all its digits are), f = ±0 with the token's sign as parse_exact gives it;
    and the common NaN spellings (:data:`NAN_SPELLINGS` reads each as NaN).

    tests/test_score_quick.py checks this against the exact path on many tokens. ``joined``:
    ``SEPARATOR.join(tokens)`` if the caller has it (:func:`_plain_decimals`).
    """
    n = len(tokens)
    plain = np.zeros(n, dtype=bool)  # ±0 and NaN, as written: no rounding to check
    decimals = _plain_decimals(tokens, joined)
    decimal, scale = decimals.matches, decimals.scale
    values = _decimal_floats(decimals, tokens)
    # ±0 as written: a zero whose last digit's unit is at least 10^−323 has only 0 digits (one
    # other digit would make it ≥ 10^−323, which float() does not round to 0); below, an
    # underflow is possible, and the spelling decides
    zeros = np.flatnonzero(values == 0)  # (NaN where no plain decimal)
    plain[zeros] = scale[zeros] >= -323
    for i in zeros[scale[zeros] < -323].tolist():
        plain[i] = _ZERO.fullmatch(tokens[i]) is not None
    others = np.flatnonzero(~decimal).tolist()
    plain[others] = [
        isinstance(token, str) and token in _NAN_WORDS for token in map(tokens.__getitem__, others)
    ]
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        rounded = round_array(values, fmt)
        magnitude = np.abs(values)
        quick = (magnitude >= _FLOAT64_TINY) & (magnitude <= fmt.max) & (rounded != 0)
        quick &= np.isfinite(rounded) & ~_midpoints(values, fmt)
        error = np.abs(values - rounded) + magnitude * 2.0**-52
        unit = np.power(10.0, scale.astype(np.float64))
        quick &= (unit >= _FLOAT64_TINY) & (error < unit * _SLACK)
    return np.where(plain, values, rounded), quick | plain


def _decimal_floats(decimals: _Decimals, tokens: list[Any]) -> np.ndarray:
    """``float(token)`` of each plain decimal (:func:`_plain_decimals`), NaN for the others.

    Clinger's fast path (W. D. Clinger, "How to read floating point numbers accurately", PLDI
    1990; also in Muller et al., "Handbook of Floating-Point Arithmetic"): the token is ±M·10^s
    with M its digits read as an integer and s its scale. M < 10^15 < 2^53 is a double, and so
    is every partial value M′·10 + d of :func:`_plain_decimals`'s Horner scheme (an integer of
    at most M), which is thus exact; for |s| ≤ 22, 10^|s| = 2^|s|·5^|s| with 5^|s| ≤ 5^22 < 2^53
    is a double too (:data:`~symsoftmax.vectors.decimals.EXACT_POWERS_OF_TEN`, exact conversions
    of integers). Then M·10^s (s ≥ 0) or M/10^−s (s < 0) is one IEEE 754 multiplication or
    division of exact operands, correctly rounded to nearest, ties to even (IEEE 754-2019
    §4.3.1, §5.4.1), with no overflow (< 10^37) and no underflow (≥ 10^−22 when M ≥ 1): it is
    RN(M·10^s), what ``float()`` gives (CPython's David Gay strtod rounds correctly, ties to
    even: "What's New in Python 3.1"). RN is odd, so the sign is applied after, giving −0.0 for
    a negative zero as ``float()`` does. Tokens with |s| > 22 are read by ``float()``.

    tests/test_score_quick.py checks this bit for bit against ``float()``.
    """
    matches, scale = decimals.matches, decimals.scale
    power = EXACT_POWERS_OF_TEN[np.minimum(np.abs(scale), EXACT_POWER)]
    significand = decimals.significand  # (of a non-match: some finite number, unused)
    values = np.where(scale >= 0, significand * power, significand / power)
    values = np.where(decimals.negative, -values, values)
    values[~matches] = math.nan
    slow = np.flatnonzero(matches & (np.abs(scale) > EXACT_POWER)).tolist()
    values[slow] = np.fromiter(map(float, map(tokens.__getitem__, slow)), np.float64, len(slow))
    return values


class _Decimals(NamedTuple):
    """What :func:`_plain_decimals` reads of each token; only its matches' entries mean
    anything."""

    matches: np.ndarray  # bool: a plain decimal (:data:`_PLAIN_DECIMAL`)
    scale: np.ndarray  # int64: its exponent less the digits after its point
    significand: np.ndarray  # float64: its digits as an integer (exact: at most 15 digits)
    negative: np.ndarray  # bool: it starts with "-"


_DECIMAL_WIDTH = 23  # sign, 16 characters of digits and point, "e", sign, 4 digits
_MANTISSA_WIDTH = 17  # sign, 16 characters of digits and point
_SHORT_WIDTH = 16  # "-1.17549435e-38": a float32 printed with 9 digits
_BLOCK = 1 << 16  # tokens per block: its (23, block) byte matrices stay in the cache


def _plain_decimals(texts: list[Any], joined: str | None = None) -> _Decimals:
    """Whether each token matches :data:`_PLAIN_DECIMAL` in full; its scale (exponent less the
    digits after its point), its digits as an integer and its sign.

    Read as arrays: the tokens are joined (:func:`~symsoftmax.vectors.tokens.joined_tokens`, in
    C; a non-ASCII character becomes one "?", a token that is no str is read as ""), each
    token's first 23 bytes (16 when none is longer) gathered into a column of a (23, tokens)
    matrix, zero past its end, and each character classed (digit, point, "e", sign, other) once.
    The grammar is then checked by counts and positions: nothing else, at most one "e" and one
    point, no point after the "e", a sign only first or right after the "e", 1 to 15 digits
    before the "e", 1 to 4 after it (tests/test_suite_load_paths.py holds this to the regular
    expression's answers). The digits are read by Horner's scheme, one character position (a
    contiguous row) at a time for every token at once. ``joined``: ``SEPARATOR.join(texts)``
    if the caller has it.
    """
    n = len(texts)
    if joined is None:
        try:
            joined = SEPARATOR.join(texts)
        except TypeError:  # a token that is no str: read as "", which the grammar refuses
            texts = [token if isinstance(token, str) else "" for token in texts]
    buffer, start, length = joined_tokens(texts, _DECIMAL_WIDTH, joined)
    matches, negative = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    significand, scale = np.zeros(n), np.zeros(n, dtype=np.int64)
    # 16 rows when every token fits (all shortest and %.9g printings of a float32 do): less
    # work per token than the 23 the grammar may need
    width = _SHORT_WIDTH if n and length.max() <= _SHORT_WIDTH else _DECIMAL_WIDTH
    window = np.lib.stride_tricks.sliding_window_view(buffer, width)
    for first in range(0, n, _BLOCK):
        end = min(first + _BLOCK, n)
        size = length[first:end]
        text = np.ascontiguousarray(window[start[first:end]].T)  # one row per position
        text *= size > _COLUMNS[:width]  # zero past each token's end
        digit_value = text - np.uint8(ord("0"))  # (wraps around for the others)
        digit = digit_value < 10
        e = (text | 0x20) == ord("e")
        point = text == ord(".")
        sign = (text == ord("+")) | (text == ord("-"))
        known = (digit | e | point | sign).sum(axis=0, dtype=np.uint8)
        e_count = e.sum(axis=0, dtype=np.uint8)
        since_e, since_point = e.copy(), point.copy()  # from the first "e" (point) on
        for row in range(1, width):
            np.logical_or(since_e[row - 1], since_e[row], out=since_e[row])
            np.logical_or(since_point[row - 1], since_point[row], out=since_point[row])
        mantissa, written = digit & ~since_e, digit & since_e
        digits = mantissa.sum(axis=0, dtype=np.uint8)
        exponent = written.sum(axis=0, dtype=np.uint8)
        signed_exponent = (e[:-1] & sign[1:]).any(axis=0)
        ok = (size <= width) & (known == size) & (e_count <= 1)
        ok &= (point.sum(axis=0, dtype=np.uint8) <= 1) & ~(point & since_e).any(axis=0)
        ok &= sign.sum(axis=0, dtype=np.uint8) == sign[0] + signed_exponent.view(np.uint8)
        ok &= (digits >= 1) & (digits <= 15)
        ok &= (e_count == 0) | ((exponent >= 1) & (exponent <= 4))
        # Horner: ×10 and + the digit at each digit (of the mantissa, of the exponent), ×1 + 0
        # elsewhere; the exponent in int16 (4 digits), the mantissa in float64 (exact, above)
        add, times = digit_value * mantissa, mantissa * np.uint8(9) + np.uint8(1)
        value = np.zeros(end - first)
        for row in range(min(_MANTISSA_WIDTH, width)):
            value *= times[row]
            value += add[row]
        add, times = digit_value * written, written * np.uint8(9) + np.uint8(1)
        power = np.zeros(end - first, dtype=np.int16)  # (wraps around beyond 4 digits)
        for row in range(2, width):  # "1e" before the first
            power *= times[row]
            power += add[row]
        minus = ((text == ord("-")) & since_e).any(axis=0)
        matches[first:end] = ok
        significand[first:end] = value
        negative[first:end] = text[0] == ord("-")
        scale[first:end] = np.where(minus, -power, power)
        scale[first:end] -= (mantissa & since_point).sum(axis=0, dtype=np.uint8)
    return _Decimals(matches, scale, significand, negative)


_COLUMNS = np.arange(_DECIMAL_WIDTH, dtype=np.uint8)[:, None]


def _midpoints(values: np.ndarray, fmt: Format) -> np.ndarray:
    """Where a double is exactly halfway between two neighbouring values of ``fmt``: half an
    odd multiple of the spacing there (the quantum at the midpoint's own exponent, as in
    :func:`~symsoftmax.rounding.round_array`)."""
    if fmt.float64_extra_bits == 0:
        return np.zeros(values.shape, dtype=bool)
    _, exponent = np.frexp(values)
    scaled = np.abs(np.ldexp(values, -fmt.quantum_exponent_array(exponent - 1)))
    return scaled - np.floor(scaled) == 0.5


def _value(token: Any, fmt: Format, where: str, round_outputs: bool = False) -> float:
    """One number string (or JSON number, kept as text) as a value of ``fmt``.

    A string padded with whitespace is refused: the number alone is what an implementation
    prints, and padding hints at a value pasted from elsewhere (parse_exact would strip it).
    """
    if not isinstance(token, str):
        raise InputError(f"{where}: expected a number string, got {brief_repr(token)}")
    if token.strip() != token:
        raise InputError(f"{where}: number padded with whitespace {brief_repr(token)}")
    try:
        return format_value_of(token, fmt, round_outputs=round_outputs)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def format_value_of(token: str, fmt: Format, *, round_outputs: bool = False) -> float:
    """The value of ``fmt`` that ``token`` spells (see the module docstring for what may spell
    one); InputError for a number that is not one, unless ``round_outputs`` rounds it."""
    if NAN_SPELLINGS.fullmatch(token):
        return math.nan
    infinity = INF_SPELLINGS.fullmatch(token)
    exact = parse_exact(f"{infinity['sign']}inf" if infinity else token)
    value = round_exact(exact, fmt)
    if round_outputs:
        return value
    if isinstance(exact, float):  # ±inf or ±0
        if math.isinf(exact) and not fmt.infinities:
            raise InputError(f"{brief_repr(token)} is not a {fmt.name} value (it has no infinity)")
        return value
    if not math.isfinite(value):
        raise InputError(
            f"{brief_repr(token)} is beyond {fmt.name}'s range (--round-outputs rounds it to "
            f"{value})"
        )
    if not _spells(token, exact, value):
        from symsoftmax.vectors.lines import shortest_decimal

        raise InputError(
            f"{brief_repr(token)} is not a {fmt.name} value (nearest "
            f"{shortest_decimal(value, fmt)}; print the {fmt.name} result, or --round-outputs "
            "rounds it)"
        )
    return value


def _spells(token: str, exact: Fraction, value: float) -> bool:
    """Whether ``token`` (read as ``exact``) spells ``value``: a hex float exactly; a decimal
    within one unit of its last significant digit (trailing zeros do not count), which every
    correctly rounded or shortest round-trip printing of ``value`` is."""
    error = abs(exact - Fraction(value))
    match = _DECIMAL_DIGITS.fullmatch(token)
    if match is None:  # a hex float (parse_exact read it): exact
        return error == 0
    digits = match["int"] + match["frac"]
    trailing = len(digits) - len(digits.rstrip("0"))
    written = match["exp"] or "0"  # leading zeros stripped: int() refuses over 4300 digits
    sign = -1 if written.startswith("-") else 1
    exponent = sign * int(written.lstrip("+-").lstrip("0") or "0") - len(match["frac"]) + trailing
    return error < Fraction(10) ** exponent


def score(
    vectors: VectorFile | str | os.PathLike[str],
    outputs: Mapping[str, Any] | str | os.PathLike[str],
    *,
    rule: PassRule | None = None,
    properties: bool = True,
    one_pass: bool = False,
    name: str | None = None,
    round_outputs: bool = False,
) -> ValidationReport:
    """Judge outputs computed elsewhere against ``vectors``; same report as :func:`validate`.

    ``rule``: the :class:`~symsoftmax.validation.checks.PassRule` (default: the bound), as for
    :func:`~symsoftmax.validation.core.validate`. Properties that need calls (shift,
    permutation, determinism) are listed as not run. ``one_pass``: the outputs come from a
    one-pass (online) softmax, judged with the allowances of
    :func:`~symsoftmax.validation.properties.one_pass_allowance` (docs/validation.md).
    ``outputs``: a mapping, a JSON or answer-lines file, or ``"-"`` for stdin;
    ``round_outputs``: round values that are not of the format instead of refusing them.
    """
    start = time.perf_counter()
    rule = PassRule() if rule is None else rule
    vf, source = resolve_vectors(vectors, None, None, None)
    outcomes = read_outputs(outputs, vf, round_outputs=round_outputs)
    label = name or (str(outputs) if isinstance(outputs, str | os.PathLike) else "outputs")
    label = "<stdin>" if label == STDIN else label
    report = judge(
        vf,
        outcomes,
        rule,
        candidate_name=label,
        source=source,
        properties=properties,
        one_pass=one_pass,
    )
    report.seconds_total = time.perf_counter() - start
    return report
