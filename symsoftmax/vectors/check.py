"""Structural checks of a vector document, decoding it into the typed model, and ``load``.

A :class:`Finding` is one line: file, tcId (when the problem is inside a test), field, what.
:func:`check_document` finds everything that can be checked without the reference engine: the
JSON Schema (shipped in ``symsoftmax/schemas/vectors.schema.json``), unique tcIds, numberOfTests,
the content checksum, hex values that are not values of the file's format, shapes that do not
match K, and answers of "acceptable" tests. :func:`load` reads a file
(:func:`symsoftmax.vectors.io.read_document`), stops at the first finding and decodes it;
``lint`` reports them all and then re-checks the values (:mod:`symsoftmax.vectors.linter`).

The layers: :mod:`~symsoftmax.vectors.io` turns files into documents and back (and defines the
checksum), this module checks and decodes documents, ``lint`` adds the reference engine.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax import collector
from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.jsonfile import read_user_file
from symsoftmax.ops import SINK_OPS
from symsoftmax.rounding import format_hex, parse_exact, round_array
from symsoftmax.vectors.decimals import (
    ExactValues,
    parse_exact_decimal,
    parse_exact_tokens,
    remember_exact,
)
from symsoftmax.vectors.io import (
    NPZ_MAGIC,
    canonical_lines_sha256,
    content_sha256,
    document_of,
)
from symsoftmax.vectors.model import (
    EXPECTED_KEYS,
    INPUT_KEYS,
    TEMPERATURE_OPS,
    Answer,
    Note,
    TestCase,
    TestGroup,
    VectorFile,
    expected_shape,
)
from symsoftmax.vectors.tokens import parse_hex_tokens

__all__ = ["Finding", "check_document", "decode_document", "load", "parse_hex_array", "schema"]

MAX_SCHEMA_FINDINGS = 50


@dataclass(frozen=True)
class Finding:
    """One problem in a vector file, printed as one line."""

    file: str
    tc_id: int | None
    field: str
    what: str

    def __str__(self) -> str:
        where = f"tcId {self.tc_id}: " if self.tc_id is not None else ""
        return f"{self.file}: {where}{self.field}: {self.what}"


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of vector files, shipped as package data."""
    text = resources.files("symsoftmax").joinpath("schemas/vectors.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _pattern(name: str) -> re.Pattern[str]:
    """The schema's pattern of a value: ``"hex"`` or ``"decimal"``."""
    return re.compile(schema()["$defs"][name]["pattern"])


@cache
def _validator() -> Any:
    """The schema compiled by jsonschema-rs (Rust), less the patterns of the hex and decimal
    values.

    A standard suite's 1.9 M nodes take ~0.012 s so; the two patterns, one regular expression
    for each of 0.9 M tokens, took 0.035 s more each. The values are held to them by
    :func:`_pattern_errors`, through the array readers that parse them anyway. The pure-Python
    ``jsonschema`` took 30 s (docs/performance.md, "Loading a suite"); the tests check the
    whole schema with it too, an independent implementation, against the parts here."""
    import jsonschema_rs

    structure = copy.deepcopy(schema())  # schema() is shared: it keeps its patterns
    del structure["$defs"]["hex"]["pattern"]
    del structure["$defs"]["decimal"]["pattern"]
    return jsonschema_rs.validator_for(structure)


def _path_text(parts: list[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"


_INT64 = 1 << 63


def _unconvertible(document: Any) -> tuple[list[Any], str] | None:
    """(path, what) of the first value the Rust validator cannot take: an integer beyond 64 bits
    or a string with a lone surrogate (JSON allows both; a vector file needs neither)."""
    stack: list[tuple[list[Any], Any]] = [([], document)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(([*path, key], value) for key, value in node.items())
            bad_keys = [key for key in node if not key.isascii() and _has_surrogate(key)]
            if bad_keys:
                return path, "a key with a lone surrogate"
        elif isinstance(node, list):
            stack.extend(([*path, index], value) for index, value in enumerate(node))
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= _INT64:
            return path, f"an integer of {len(str(abs(node)))} digits (beyond 64 bits)"
        elif isinstance(node, str) and not node.isascii() and _has_surrogate(node):
            return path, "a string with a lone surrogate (not Unicode text)"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _schema_errors(
    document: dict[str, Any], file: str, parsed: Parsed | None = None
) -> list[tuple[list[Any], str]]:
    """(instance path, message) of every schema violation: the structure's, then (where it
    holds) the number tokens' patterns (``parsed``: receives the value lists read meanwhile)."""
    try:  # (not is_valid first: jsonschema-rs 0.20's leaves a lone surrogate's error pending)
        errors = list(_validator().iter_errors(document))
    except (ValueError, OverflowError, SystemError):  # values the Rust side cannot convert
        found = _unconvertible(document)
        path, what = found if found is not None else ([], "a value the schema check cannot read")
        return [(path, what)]
    if errors:
        return [(list(error.instance_path), str(error.message)) for error in errors]
    return _pattern_errors(document, Parsed() if parsed is None else parsed)


def _pattern_errors(document: dict[str, Any], parsed: Parsed) -> list[tuple[list[Any], str]]:
    """(path, message) of each hex or decimal value that the schema's pattern refuses, in a
    document whose structure the schema accepts. A list the array readers take whole
    (:func:`_parse_value_lists`, :func:`_parse_exact_lists`) matches the pattern; every other
    value is matched by it."""
    errors: list[tuple[list[Any], str]] = []

    def check(path: list[Any], tokens: Any, pattern: re.Pattern[str]) -> None:
        if isinstance(tokens, list):
            for index, token in enumerate(tokens):
                check([*path, index], token, pattern)
        elif not pattern.fullmatch(tokens):  # a str: the structure says so
            what = f"{json.dumps(tokens)} does not match {json.dumps(pattern.pattern)}"
            errors.append((path, what))

    for where, tokens in _parse_value_lists(document, parsed.hex):
        check(_hex_path(where), tokens, _pattern("hex"))
    for path, tokens in _parse_exact_lists(document, parsed.exact):
        check(path, tokens, _pattern("decimal"))
    return errors


def _schema_findings(
    document: dict[str, Any], file: str, parsed: Parsed | None = None
) -> list[Finding]:
    findings = []
    errors = sorted(_schema_errors(document, file, parsed), key=lambda e: list(map(str, e[0])))
    for path, message in errors[:MAX_SCHEMA_FINDINGS]:
        tc_id = None
        field_parts = path
        if len(path) >= 4 and path[0] == "testGroups" and path[2] == "tests":
            test = document["testGroups"][path[1]]["tests"][path[3]]
            raw = test.get("tcId") if isinstance(test, dict) else None
            tc_id = raw if isinstance(raw, int) else None
            field_parts = path[4:] if tc_id is not None else path
        message = message if len(message) <= 120 else message[:117] + "..."
        findings.append(Finding(file, tc_id, _path_text(field_parts), f"schema: {message}"))
    if len(errors) > MAX_SCHEMA_FINDINGS:
        more = len(errors) - MAX_SCHEMA_FINDINGS
        findings.append(Finding(file, None, "(document)", f"schema: {more} more violations"))
    return findings


def parse_hex_array(
    tokens: Any, fmt: Format, *, check_format: bool = True
) -> tuple[npt.NDArray[np.float64], list[int]]:
    """Parse (nested lists of) hex strings into float64; also the flat indices of bad entries.

    An entry is bad if it is not a hex float or not exactly a value of ``fmt``. Canonical
    ``float.hex`` strings take the fast path (``float.fromhex`` is exact for them); anything else
    goes through :func:`symsoftmax.rounding.parse_exact`. ``check_format=False``: canonical
    tokens are not checked for being values of ``fmt`` (the caller checks many lists at once).
    """
    if isinstance(tokens, list) and list not in map(type, tokens):  # a row: no object array
        flat, shape = tokens, (len(tokens),)
    else:
        raw = np.asarray(tokens, dtype=object)
        flat, shape = raw.ravel().tolist(), raw.shape
    try:  # canonical float.hex tokens (what the generator writes): parsed and checked in C
        parsed = list(map(float.fromhex, flat))
        if list(map(float.hex, parsed)) == flat:  # float.hex spells nan/inf as format_hex does
            values = np.array(parsed, dtype=np.float64)
            if fmt.float64_extra_bits == 0 or not check_format:  # every float64 is a float64
                return values.reshape(shape), []
            inexact = np.flatnonzero((round_array(values, fmt) != values) & ~np.isnan(values))
            return values.reshape(shape), inexact.tolist()
    except (ValueError, TypeError, OverflowError):
        pass  # some token is not canonical: one at a time below, to name it
    values = np.empty(len(flat), dtype=np.float64)
    bad: list[int] = []
    for i, token in enumerate(flat):
        try:
            value = float.fromhex(token) if token not in ("nan", "inf", "-inf") else float(token)
            if format_hex(value) != token:
                exact = parse_exact(token)
                if exact != value and not (isinstance(exact, float) and math.isnan(exact)):
                    raise ValueError(token)
        except (ValueError, TypeError, OverflowError, InputError):
            bad.append(i)
            value = math.nan
        values[i] = value
    rounded = round_array(values, fmt)
    inexact = np.flatnonzero((rounded != values) & ~np.isnan(values))
    bad = sorted(set(bad) | set(inexact.tolist()))
    return values.reshape(shape), bad


def _index_text(flat_index: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    return "[" + ", ".join(map(str, np.unravel_index(flat_index, shape))) + "]"


def _tests(document: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for group in document["testGroups"]:
        for test in group["tests"]:
            yield group["k"], test


HexLists = dict[int, npt.NDArray[np.float64]]
"""Hex lists parsed, by ``id`` of the list in a live document."""


@dataclass
class Parsed:
    """The value lists of a document parsed while it is checked, by ``id`` of the list:
    :func:`load` checks and then decodes the same document, and parsing its ~10⁶ tokens twice
    was a third of the time."""

    hex: HexLists = field(default_factory=dict)
    exact: dict[int, ExactValues] = field(default_factory=dict)


def check_document(
    document: dict[str, Any], file: str, *, parsed: Parsed | None = None, text: bytes = b""
) -> list[Finding]:
    """Every structural problem of a vector document (empty list: the document is sound).

    ``parsed``: a :class:`Parsed` that receives the parsed value lists, for
    :func:`decode_document` (which keeps the exact values for the file);
    ``text``: the JSON text the document was parsed from, whose test lines give the checksum
    when the writer laid them out (:func:`~symsoftmax.vectors.io.canonical_lines_sha256`)."""
    parsed = Parsed() if parsed is None else parsed
    findings = _schema_findings(document, file, parsed)  # parses the value lists into parsed
    if findings:
        return findings
    header = document["header"]
    op, fmt = header["op"], get_format(header["dtype"])

    seen: dict[int, int] = {}
    count = 0
    for _k, test in _tests(document):
        count += 1
        tc_id = test["tcId"]
        if tc_id in seen:
            findings.append(Finding(file, tc_id, "tcId", f"duplicate tcId (test #{count})"))
        seen.setdefault(tc_id, count)
    if header["numberOfTests"] != count:
        said = header["numberOfTests"]
        findings.append(Finding(file, None, "header.numberOfTests", f"says {said}, has {count}"))
    digest = canonical_lines_sha256(text, document) if text else None
    if digest != header["sha256"]:
        digest = content_sha256(document["testGroups"])
    if header["sha256"] != digest:
        findings.append(
            Finding(file, None, "header.sha256", f"checksum mismatch: content hashes to {digest}")
        )
    # The values of every test are checked for being values of the format together, in one
    # array operation (per list it was a third of loading a suite); only if some value is not,
    # are the lists checked one by one again, to name the values.
    together: list[npt.NDArray[np.float64]] = []
    value_findings = _value_findings(document, op, fmt, file, parsed, together)
    if together and _some_not_of(together, fmt):
        value_findings = _value_findings(document, op, fmt, file, parsed, None)
    return findings + value_findings


def _value_findings(
    document: dict[str, Any],
    op: str,
    fmt: Format,
    file: str,
    parsed: Parsed,
    together: list[npt.NDArray[np.float64]] | None,
) -> list[Finding]:
    """The findings of every test (``together``: see :func:`_test_findings`)."""
    findings: list[Finding] = []
    for k, test in _tests(document):
        findings += _test_findings(test, k, op, fmt, document["notes"], file, parsed, together)
    return findings


Where = tuple[Any, ...]
"""Where a hex value is in a document: (group, test, part, key), or (group, test,
"acceptable", answer, key); :func:`_hex_path` makes it a schema path (only for an error)."""


def _hex_values(document: dict[str, Any]) -> Iterator[tuple[Where, Any]]:
    """(where, value) of every hex value or list of them in a schema-checked document: inputs
    (the scalar ones too), expected outputs, the answers' outputs."""
    for g_index, group in enumerate(document["testGroups"]):
        for t_index, test in enumerate(group["tests"]):
            for part in ("inputs", "expected"):
                for key, value in test[part].items():
                    yield (g_index, t_index, part, key), value
            for a_index, answer in enumerate(test.get("acceptable", ())):
                for key, value in answer["outputs"].items():
                    yield (g_index, t_index, "acceptable", a_index, key), value


def _hex_path(where: Where) -> list[Any]:
    """The schema path of a value given by its :data:`Where`."""
    g_index, t_index, part, *rest = where
    path = ["testGroups", g_index, "tests", t_index, part, *rest]
    return path if part != "acceptable" else [*path[:-1], "outputs", path[-1]]


def _parse_value_lists(document: dict[str, Any], parsed: HexLists) -> list[tuple[Where, Any]]:
    """Parse every canonical list of hex values into ``parsed`` at once (by ``id`` of the list):
    rows and regular matrices of canonical ``float.hex`` strings (what the generator writes),
    read as one array (:func:`~symsoftmax.vectors.tokens.parse_hex_tokens`). Returns the
    values left out, with where they are: the scalars, and every list with another token or of
    another shape (:func:`parse_hex_array` reads those and names what is wrong). Not checked
    here: that the values are of the file's format."""
    lists: list[tuple[Where, Any]] = []
    left: list[tuple[Where, Any]] = []
    tokens: list[Any] = []
    sizes: list[int] = []
    shapes: list[tuple[int, ...] | None] = []  # None: a row (no reshape)
    for where, value in _hex_values(document):
        if type(value) is not list:
            left.append((where, value))
            continue
        if not value or type(value[0]) is not list:  # a row: a nested list in it is a token,
            tokens += value  # not canonical, which leaves the row out
            sizes.append(len(value))
            shapes.append(None)
        else:  # a matrix (the Jacobian's), if regular
            found = _shape_of(value)
            if found is None or len(found) != 2:
                left.append((where, value))
                continue
            tokens += [token for row in value for token in row]
            sizes.append(math.prod(found))
            shapes.append(found)
        lists.append((where, value))
    if not lists:
        return left
    values, canonical = parse_hex_tokens(tokens)
    bounds = np.cumsum([0, *sizes])
    # a list is canonical throughout if the first non-canonical token from its start on (one
    # search for every list, not a reduction per list) is past its end
    bad = np.flatnonzero(~canonical)
    next_bad = np.append(bad, bounds[-1])[np.searchsorted(bad, bounds[:-1])]
    whole = next_bad >= bounds[1:]
    starts, ends = bounds[:-1].tolist(), bounds[1:].tolist()
    for (where, value), shape, ok, start, end in zip(
        lists, shapes, whole.tolist(), starts, ends, strict=True
    ):
        if ok:
            part = values[start:end]
            parsed[id(value)] = part if shape is None else part.reshape(shape)
        else:
            left.append((where, value))
    return left


def _parse_exact_lists(
    document: dict[str, Any], parsed: dict[int, ExactValues]
) -> list[tuple[list[Any], Any]]:
    """Parse every row or regular matrix of exact decimals into ``parsed`` (by ``id`` of the
    list, as :class:`~symsoftmax.vectors.decimals.ExactValues`), all at once: the array parse,
    and where it leaves a token, the exact one if the token matches the schema's pattern.
    Returns (path, value) of what does not parse so: each refused token, and every list of
    another shape (the shape is a finding of its own)."""
    pattern = _pattern("decimal")
    lists: list[tuple[list[Any], Any, tuple[int, ...]]] = []
    left: list[tuple[list[Any], Any]] = []
    tokens: list[Any] = []
    for g_index, group in enumerate(document["testGroups"]):
        for t_index, test in enumerate(group["tests"]):
            for key, value in test["exact"].items():
                path = ["testGroups", g_index, "tests", t_index, "exact", key]
                shape = _shape_of(value)
                if shape is None or len(shape) not in (1, 2):
                    left.append((path, value))
                    continue
                tokens += value if len(shape) == 1 else [token for row in value for token in row]
                lists.append((path, value, shape))
    if not tokens:
        return left
    hi, lo_frac, lo_exp, pending = parse_exact_tokens(tokens)
    refused = []
    for position in pending:
        token = tokens[position]
        try:
            if not pattern.fullmatch(token):
                raise ValueError(token)
            hi[position], lo_frac[position], lo_exp[position] = parse_exact_decimal(token)
        except ValueError:
            refused.append(position)
    shapes = [shape for _, _, shape in lists]
    sizes = [math.prod(shape) for shape in shapes]
    starts = np.cumsum([0, *sizes])
    owners = (np.searchsorted(starts, refused, side="right") - 1).tolist()
    for position, owner in zip(refused, owners, strict=True):  # named by their place
        path, value, shape = lists[owner]
        at = divmod(position - int(starts[owner]), shape[-1]) if len(shape) == 2 else None
        if at is None:
            left.append(([*path, position - int(starts[owner])], value[position - starts[owner]]))
        else:
            left.append(([*path, *at], value[at[0]][at[1]]))
    broken = set(owners)
    for index, ((_, value, _), exact) in enumerate(
        zip(lists, ExactValues(hi, lo_frac, lo_exp).split(sizes, shapes), strict=True)
    ):
        if index not in broken:
            parsed[id(value)] = exact
    return left


def _some_not_of(arrays: list[npt.NDArray[np.float64]], fmt: Format) -> bool:
    """Whether some (non-NaN) value of ``arrays`` is not a value of ``fmt``."""
    values = np.concatenate([array.ravel() for array in arrays])
    return bool(((round_array(values, fmt) != values) & ~np.isnan(values)).any())


def _test_findings(
    test: dict[str, Any],
    k: int,
    op: str,
    fmt: Format,
    notes: dict[str, Any],
    file: str,
    parsed: Parsed | None = None,
    together: list[npt.NDArray[np.float64]] | None = None,
) -> list[Finding]:
    """The findings of one test. ``parsed``: the document's value lists parsed so far (a list
    of hex values parsed here is added). ``together``: a list that receives its parsed value
    lists, unchecked for being values of ``fmt`` (None: each list is checked here)."""
    tc_id = test["tcId"]
    out: list[Finding] = []

    def finding(field: str, what: str) -> None:
        out.append(Finding(file, tc_id, field, what))

    hex_lists = parsed.hex if parsed is not None else None
    exact_lists = parsed.exact if parsed is not None else {}

    def check_values(tokens: Any, shape: tuple[int, ...], field: str) -> None:
        _check_value_list(tokens, shape, fmt, field, finding, hex_lists, together)

    for flag in test["flags"]:
        if flag not in notes:
            finding("flags", f"flag {flag!r} has no note")
    inputs = test["inputs"]
    allowed = set(INPUT_KEYS[op]) | ({"temperature"} if op in TEMPERATURE_OPS else set())
    allowed |= {"sink", "softcap"} if op in SINK_OPS else set()
    for key in sorted(set(inputs) - allowed):
        finding(f"inputs.{key}", f"not an input of {op}")
    for key in INPUT_KEYS[op]:
        if key not in inputs:
            finding(f"inputs.{key}", "missing")
            continue
        check_values(inputs[key], (k,), f"inputs.{key}")
    for name in ("temperature", "sink", "softcap"):
        if name in inputs and name in allowed:
            check_values(inputs[name], (), f"inputs.{name}")
    expected_keys = EXPECTED_KEYS[op]
    for part in ("expected", "exact"):
        for key in sorted(set(test[part]) - set(expected_keys)):
            finding(f"{part}.{key}", f"not an output of {op}")
    for key in expected_keys:
        shape = expected_shape(op, key, k)
        if key not in test["expected"]:
            finding(f"expected.{key}", "missing")
        else:
            check_values(test["expected"][key], shape, f"expected.{key}")
        if key not in test["exact"]:
            finding(f"exact.{key}", "missing")
        else:
            _check_decimals(test["exact"][key], shape, f"exact.{key}", finding, exact_lists)
    for index, answer in enumerate(test.get("acceptable", [])):
        for key in expected_keys:
            field = f"acceptable[{index}].outputs.{key}"
            if key not in answer["outputs"]:
                finding(field, "missing")
            else:
                shape = expected_shape(op, key, k)
                check_values(answer["outputs"][key], shape, field)
    if not out and "acceptable" in test:
        names = [answer["name"] for answer in test["acceptable"]]
        if len(set(names)) != len(names):
            finding("acceptable", f"answer names repeat: {names}")
        if not any(answer["outputs"] == test["expected"] for answer in test["acceptable"]):
            finding("expected", "is none of the acceptable answers")
    return out


def _shape_of(value: Any) -> tuple[int, ...] | None:
    """Shape of nested lists (None if ragged)."""
    if not isinstance(value, list):
        return ()
    if not value:
        return (0,)
    if list not in map(type, value):  # a row of scalars (most fields): no recursion
        return (len(value),)
    inner = {_shape_of(item) for item in value}
    if len(inner) != 1 or None in inner:
        return None
    (sub,) = inner
    return None if sub is None else (len(value), *sub)


def _as_written(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape nested JSON lists show: no rows is ``[]`` whatever the rest (a 0×0 Jacobian)."""
    return (0,) if shape and shape[0] == 0 else shape


def _check_value_list(
    tokens: Any,
    shape: tuple[int, ...],
    fmt: Format,
    field: str,
    finding: Any,
    parsed: HexLists | None,
    together: list[npt.NDArray[np.float64]] | None = None,
) -> None:
    known = parsed.get(id(tokens)) if parsed is not None else None
    if known is not None and known.shape == _as_written(shape):  # read as an array already
        values, bad = known, [] if together is not None else _not_of(known, fmt)
    else:
        got = _shape_of(tokens)
        if got != _as_written(shape):
            finding(field, f"shape {got if got is not None else 'ragged'}, expected {shape}")
            return
        values, bad = parse_hex_array(tokens, fmt, check_format=together is None)
    if together is not None:
        together.append(values)
    if parsed is not None and not bad:
        parsed[id(tokens)] = values
    for flat_index in bad[:3]:
        token = np.asarray(tokens, dtype=object).ravel()[flat_index]
        finding(f"{field}{_index_text(flat_index, shape)}", f"{token!r} is not a {fmt.name} value")


def _not_of(values: npt.NDArray[np.float64], fmt: Format) -> list[int]:
    """Flat indices of the (non-NaN) values that are not values of ``fmt``."""
    flat = values.ravel()
    return np.flatnonzero((round_array(flat, fmt) != flat) & ~np.isnan(flat)).tolist()


def _check_decimals(
    tokens: Any,
    shape: tuple[int, ...],
    field: str,
    finding: Any,
    parsed: dict[int, ExactValues],
) -> None:
    """A finding if the list of exact decimals ``tokens`` is not of ``shape`` (``parsed``: the
    exact lists parsed, by ``id``, with the shapes :func:`_shape_of` found)."""
    known = parsed.get(id(tokens))
    got = known.hi.shape if known is not None else _shape_of(tokens)
    if got != _as_written(shape):
        finding(field, f"shape {got if got is not None else 'ragged'}, expected {shape}")


# --------------------------------------------------------------------------------------------
# decoding a sound document
# --------------------------------------------------------------------------------------------


def decode_document(
    document: dict[str, Any], file: str, *, parsed: Parsed | None = None
) -> VectorFile:
    """The typed :class:`VectorFile` of a document that passed :func:`check_document`
    (``parsed``: what that check parsed, so that it is not parsed again)."""
    header = document["header"]
    op, fmt = header["op"], get_format(header["dtype"])
    done = parsed.hex if parsed is not None else {}
    exact_lists = parsed.exact if parsed is not None else {}
    exact_of_tests: list[dict[str, ExactValues]] = []  # while every list was parsed

    def _decode_values(tokens: Any, fmt: Format) -> npt.NDArray[np.float64]:
        values = done.get(id(tokens))
        return values if values is not None else parse_hex_array(tokens, fmt)[0]

    groups = []
    for group in document["testGroups"]:
        tests = []
        for test in group["tests"]:
            found = [(key, exact_lists.get(id(v))) for key, v in test["exact"].items()]
            exact_of_tests.append({key: e for key, e in found if e is not None})
            acceptable = tuple(
                Answer(
                    answer["name"],
                    {key: _decode_values(v, fmt) for key, v in answer["outputs"].items()},
                )
                for answer in test.get("acceptable", [])
            )
            tests.append(
                TestCase(
                    tc_id=test["tcId"],
                    comment=test["comment"],
                    flags=tuple(test["flags"]),
                    inputs={key: _decode_values(v, fmt) for key, v in test["inputs"].items()},
                    expected={key: _decode_values(v, fmt) for key, v in test["expected"].items()},
                    exact={key: np.array(v, dtype=object) for key, v in test["exact"].items()},
                    result=test["result"],
                    acceptable=acceptable,
                )
            )
        groups.append(TestGroup(group["k"], tuple(tests)))
    notes = {flag: Note(n["description"], n["catches"]) for flag, n in document["notes"].items()}
    vf = VectorFile(header=header, notes=notes, groups=tuple(groups), op=op, dtype=fmt.name)
    if all(
        len(exact) == len(test.exact)
        for exact, test in zip(exact_of_tests, vf.tests(), strict=True)
    ):
        remember_exact(vf, exact_of_tests)  # parsed as they were checked: every one of them
    return vf


@collector.while_paused
def load(path: str | os.PathLike[str]) -> VectorFile:
    """Read and check a JSON or NPZ vector file; raises InputError naming file, tcId and field.

    Checks the schema, unique tcIds, numberOfTests, the checksum, hex values (exact in the file's
    format) and shapes; it does not recompute reference values (``lint`` does).
    """
    text = read_user_file(path)
    document = document_of(text, str(path))
    parsed = Parsed()
    json_text = text if text[:4] != NPZ_MAGIC else b""
    findings = check_document(document, str(path), parsed=parsed, text=json_text)
    if findings:
        raise InputError(str(findings[0]))
    return decode_document(document, str(path), parsed=parsed)
