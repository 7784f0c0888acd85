"""Reading back what a run wrote — a report (``--merge``) or a checkpoint (``--resume``) — and
reconciling it: every field is checked for its type, its range and its consistency with the
others, and anything else is an InputError of one line naming the file and the field.

A report or a checkpoint decides a verdict without a row being run again, so nothing in it is
taken on trust (an outside audit forged a PASS from negative counts, from all-zero counts over
the whole space, and from a checkpoint's counts edited to all-pass). The rules, the same for
both (:func:`read_tally`, the one routine that reads a tally back):

* ``ranges``: [start, stop) pairs of integers, inside the rows allowed (the space for a
  report, the shard for a checkpoint), non-empty, sorted, disjoint and not touching (merged);
* ``counts``: every class, integers ≥ 0, adding up to the rows the ranges hold; ``rows`` and
  ``failed`` equal to their sums;
* ``histogram``: its bins, integers ≥ 0, adding up to the rows judged (all but "call failed":
  a failed call judges nothing); ``max_ulp`` finite, ≥ 0, in the highest finite bin used, and
  the first finite error of the worst rows; ``median_ulp`` the one the histogram gives;
* ``worst``: the min(10, rows judged) rows of largest error, largest first (ties by row);
  ``examples``: per failing class its first min(10, count) rows, of that class; each row inside
  the ranges, its inputs the bit patterns of its row number, its outputs hex numbers, one per
  output of the op; ``problems`` (failed calls): their batches inside the ranges, the same rows
  as the "call failed" examples, their rows adding up to the count (all of them when fewer
  than 10 are listed).

What a tally cannot show — that the rows were run at all — is out of reach of any check of the
file alone: a report whose every field is consistent is taken as the run it describes. Shards
merge only when of the same identity, source digest included (:mod:`symsoftmax.sweep.source`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.rounding import brief_repr
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES, FAIL_CLASSES
from symsoftmax.sweep.runner import EXHAUSTIVE_OPS
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import BIN_EDGES, KEPT, N_BINS, Tally, bin_of
from symsoftmax.validation.checks import PASS_MODES, PassRule
from symsoftmax.validation.componentwise import KernelClass

__all__ = [
    "KERNEL_KEYS",
    "TALLY_KEYS",
    "Field",
    "read_identity",
    "read_tally",
    "require_equal",
    "require_keys",
]

TALLY_KEYS = (
    "ranges",
    "rows",
    "failed",
    "counts",
    "max_ulp",
    "median_ulp",
    "histogram",
    "worst",
    "examples",
    "problems",
)
"""The fields of :meth:`Tally.to_json`, in a report and in a checkpoint's ``tally``."""
ROW_KEYS = ("row", "inputs", "got", "expected", "ulp", "class")
PROBLEM_KEYS = ("row", "rows", "problem")
RULE_KEYS = ("mode", "max_ulp", "ftz", "kernel", "kernel_class")
KERNEL_KEYS = ("algorithm", "block", "splits", "state", "exp", "exp2")
"""The fields of the rule's kernel class (:class:`KernelClass`), in a report's identity."""
_FINITE_BINS = len(BIN_EDGES)  # bins 0 .. len(BIN_EDGES) − 1 hold errors ≤ 2^20
_DIGEST_HEX = 64


@dataclass(frozen=True)
class Field:
    """A field of a file, for messages: ``<file>: <field>: <problem>``."""

    file: str
    path: str = ""

    def __truediv__(self, key: str | int) -> Field:
        if isinstance(key, int):
            return Field(self.file, f"{self.path}[{key}]")
        return Field(self.file, f"{self.path}.{key}" if self.path else key)

    def fail(self, problem: str) -> NoReturn:
        """Raise the one-line InputError for this field."""
        where = f"{self.file}: {self.path}" if self.path else self.file
        raise InputError(f"{where}: {problem}")


# ------------------------------------------------------------------------------- field types


def require_keys(value: Any, keys: Sequence[str], at: Field) -> Mapping[str, Any]:
    """``value`` as an object with exactly ``keys`` (a missing or unknown one is named)."""
    if not isinstance(value, dict):
        at.fail(f"expected an object, got {_shown(value)}")
    for key in keys:
        if key not in value:
            (at / key).fail("missing")
    for key in value:
        if key not in keys:
            (at / str(key)).fail("not a field of this file")
    return value


def _integer(value: Any, at: Field, lo: int = 0, hi: int | None = None) -> int:
    """An integer in lo..hi (not a bool, not a float)."""
    if type(value) is not int:
        at.fail(f"expected an integer, got {_shown(value)}")
    if value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f"≥ {lo}"
        at.fail(f"expected an integer {bound}, got {value}")
    return value


def _number(value: Any, at: Field) -> float:
    """A finite number ≥ 0 (an error in ulps)."""
    if type(value) not in (int, float) or not (math.isfinite(value) and value >= 0):
        at.fail(f"expected a finite number ≥ 0, got {_shown(value)}")
    return float(value)


def _text(value: Any, at: Field) -> str:
    if not isinstance(value, str):
        at.fail(f"expected a string, got {_shown(value)}")
    return value


def _array(value: Any, at: Field, size: int | None = None) -> list[Any]:
    """A list (of ``size`` items, if given)."""
    if not isinstance(value, list):
        at.fail(f"expected a list, got {_shown(value)}")
    if size is not None and len(value) != size:
        at.fail(f"expected {size} items, got {len(value)}")
    return value


def require_equal(value: Any, want: Any, at: Field, what: str) -> None:
    """``value`` is ``want`` (same JSON type too: 1 is not 1.0 nor true)."""
    if type(value) is not type(want) or value != want:
        at.fail(f"is {_shown(value)} but {what} is {_shown(want)}")


def _shown(value: Any) -> str:
    return brief_repr(value)


# ------------------------------------------------------------------------------- identity


def read_identity(data: Mapping[str, Any], at: Field) -> dict[str, Any]:
    """The identity fields of a report (candidate, source, symsoftmax_version, op, dtype, k,
    rule), each checked; returns them with ``rule`` as a :class:`PassRule`."""
    source = data["source"]
    if source is not None and not _is_digest(source):
        (at / "source").fail(f"expected null or 'sha256:' and 64 hex digits, got {_shown(source)}")
    op = _text(data["op"], at / "op")
    if op not in EXHAUSTIVE_OPS:
        (at / "op").fail(f"unknown op {_shown(op)}; expected one of {', '.join(EXHAUSTIVE_OPS)}")
    dtype = _text(data["dtype"], at / "dtype")
    try:
        fmt = get_format(dtype)
    except InputError as exc:
        (at / "dtype").fail(str(exc))
    require_equal(dtype, fmt.name, at / "dtype", "the format's name")
    k = _integer(data["k"], at / "k", 1)
    try:
        Space.of(fmt, k)
    except InputError as exc:
        (at / "k").fail(str(exc))
    return {
        "candidate": _text(data["candidate"], at / "candidate"),
        "source": source,
        "symsoftmax_version": _text(data["symsoftmax_version"], at / "symsoftmax_version"),
        "op": op,
        "dtype": dtype,
        "k": k,
        "rule": _read_rule(data["rule"], at / "rule", fmt),
    }


def _is_digest(value: Any) -> bool:
    if not isinstance(value, str) or not value.startswith("sha256:"):
        return False
    digits = value.removeprefix("sha256:")
    return len(digits) == _DIGEST_HEX and all(c in "0123456789abcdef" for c in digits)


def _read_rule(value: Any, at: Field, fmt: Format) -> PassRule:
    """A pass rule as :meth:`ExhaustiveReport.identity` writes it (its normal form), with its
    kernel class (:func:`_read_kernel`) described as ``kernel_class`` says."""
    data = require_keys(value, RULE_KEYS, at)
    mode = _text(data["mode"], at / "mode")
    if mode not in PASS_MODES:
        (at / "mode").fail(f"unknown mode {_shown(mode)}; expected one of {', '.join(PASS_MODES)}")
    limit = data["max_ulp"]
    if limit is not None:
        limit = _number(limit, at / "max_ulp")
    ftz = data["ftz"]
    if not isinstance(ftz, bool):
        (at / "ftz").fail(f"expected true or false, got {_shown(ftz)}")
    kernel = _read_kernel(data["kernel"], at / "kernel")
    try:
        rule = PassRule(mode, limit, ftz, kernel)
    except InputError as exc:
        at.fail(str(exc))
    require_equal(mode, rule.mode, at / "mode", "the mode its max_ulp makes")  # bound + a limit
    described = kernel.describe(fmt)
    require_equal(data["kernel_class"], described, at / "kernel_class", "its kernel's description")
    return rule


def _read_kernel(value: Any, at: Field) -> KernelClass:
    """A kernel class as :meth:`ExhaustiveReport.identity` writes it (:data:`KERNEL_KEYS`)."""
    data = require_keys(value, KERNEL_KEYS, at)
    algorithm = _text(data["algorithm"], at / "algorithm")
    block = _integer(data["block"], at / "block", 1)
    splits = _integer(data["splits"], at / "splits", 1)
    state = data["state"]
    if state is not None:
        state = _text(state, at / "state")
    exp = _text(data["exp"], at / "exp")
    exp2 = data["exp2"]
    if not isinstance(exp2, bool):
        (at / "exp2").fail(f"expected true or false, got {_shown(exp2)}")
    try:
        kernel = KernelClass(algorithm, block, splits, state, exp, exp2)
    except InputError as exc:
        at.fail(str(exc))
    if state is not None:
        require_equal(state, get_format(state).name, at / "state", "the format's name")
    return kernel


# ------------------------------------------------------------------------------- the tally


def read_tally(
    data: Mapping[str, Any], space: Space, op: str, within: tuple[int, int], at: Field
) -> Tally:
    """The tally of ``data`` (a mapping holding :data:`TALLY_KEYS`), reconciled by the rules of
    the module docstring; ``within``: the rows it may cover. InputError naming the field."""
    ranges = _read_ranges(data["ranges"], within, at / "ranges", space)
    rows = sum(b - a for a, b in ranges)
    require_equal(data["rows"], rows, at / "rows", "the number of rows the ranges hold")
    counts = _read_counts(data["counts"], rows, at / "counts")
    failed = sum(counts[c] for c in FAIL_CLASSES)
    require_equal(data["failed"], failed, at / "failed", "the sum of the failing classes' counts")
    judged = rows - counts[CALL_FAILED]
    histogram = _read_histogram(data["histogram"], judged, at / "histogram")
    max_ulp = _read_max_ulp(data["max_ulp"], histogram, at / "max_ulp")
    rows_at = _RowReader(space, op, ranges, counts, histogram, max_ulp)
    tally = Tally(
        ranges=ranges,
        counts=counts,
        histogram=histogram,
        max_ulp=max_ulp,
        worst=rows_at.worst(data["worst"], min(KEPT, judged), at / "worst"),
        examples=rows_at.examples(data["examples"], at / "examples"),
    )
    tally.problems = rows_at.problems(
        data["problems"], tally.examples[CALL_FAILED], at / "problems"
    )
    median: float | str = tally.median_ulp()
    median = median if math.isfinite(float(median)) else "inf"  # as Tally.to_json writes it
    require_equal(data["median_ulp"], median, at / "median_ulp", "the median the histogram gives")
    first_finite = next((r["ulp"] for r in tally.worst if r["ulp"] != "inf"), None)
    if first_finite is not None and float(first_finite) != max_ulp:
        (at / "max_ulp").fail(f"is {max_ulp!r} but the worst finite row's error is {first_finite}")
    return tally


def _read_ranges(value: Any, within: tuple[int, int], at: Field, space: Space) -> list[list[int]]:
    """Sorted, disjoint, merged [start, stop) integer pairs inside ``within``."""
    lo, hi = within
    where = f"rows {lo}..{hi}" + (
        f" of {space.fmt.name} K={space.k}" if (lo, hi) == (0, space.size) else " of the shard"
    )
    ranges = []
    previous = None
    for index, item in enumerate(_array(value, at)):
        pair = _array(item, at / index, 2)
        start = _integer(pair[0], at / index)
        stop = _integer(pair[1], at / index)
        if not lo <= start < stop <= hi:
            (at / index).fail(f"[{start}, {stop}] is not a non-empty range inside the {where}")
        if previous is not None and start <= previous:
            (at / index).fail(f"starts at {start}, not after the previous range's end {previous}")
        ranges.append([start, stop])
        previous = stop
    return ranges


def _read_counts(value: Any, rows: int, at: Field) -> dict[str, int]:
    """Rows by class: every class, integers ≥ 0, adding up to ``rows``."""
    data = require_keys(value, CLASSES, at)
    counts = {c: _integer(data[c], at / c) for c in CLASSES}
    if sum(counts.values()) != rows:
        at.fail(f"they add up to {sum(counts.values())} but the ranges hold {rows} rows")
    return counts


def _read_histogram(value: Any, judged: int, at: Field) -> list[int]:
    """The bins, integers ≥ 0, adding up to the rows judged."""
    histogram = [_integer(v, at / i) for i, v in enumerate(_array(value, at, N_BINS))]
    if sum(histogram) != judged:
        at.fail(f"its bins add up to {sum(histogram)} but {judged} rows were judged")
    return histogram


def _read_max_ulp(value: Any, histogram: list[int], at: Field) -> float:
    """The largest finite error: in the highest finite bin in use (no row above it)."""
    max_ulp = _number(value, at)
    index = int(bin_of(np.array([max_ulp]))[0])
    if max_ulp > 0 and not histogram[index]:
        at.fail(f"is {max_ulp!r}, in an empty bin of the histogram")
    above = [i for i in range(index + 1, _FINITE_BINS) if histogram[i]]
    if index < _FINITE_BINS and above:
        at.fail(f"is {max_ulp!r} but the histogram has rows of larger error (bin {above[-1]})")
    return max_ulp


@dataclass(frozen=True)
class _RowReader:
    """Reads the listed rows (worst, examples, problems) against the tally read so far."""

    space: Space
    op: str
    ranges: list[list[int]]
    counts: dict[str, int]
    histogram: list[int]
    max_ulp: float

    @property
    def outputs(self) -> int:
        return 1 if self.op == "logsumexp" else self.space.k

    def worst(self, value: Any, size: int, at: Field) -> list[dict[str, Any]]:
        """The ``size`` rows of largest error, largest first, ties by lower row number."""
        rows = [self.row(r, at / i) for i, r in enumerate(_array(value, at, size))]
        keys = [(-math.inf if r["ulp"] == "inf" else -float(r["ulp"]), r["row"]) for r in rows]
        _sorted_strictly(keys, at, "by error, largest first, then by row")
        return rows

    def examples(self, value: Any, at: Field) -> dict[str, list[dict[str, Any]]]:
        """Per failing class, its first rows (the batches' first rows for "call failed")."""
        data = require_keys(value, FAIL_CLASSES, at)
        examples = {}
        for name in FAIL_CLASSES:
            where = at / name
            if name == CALL_FAILED:
                items = _array(data[name], where)
                rows = [self.failed_batch(r, where / i) for i, r in enumerate(items)]
            else:
                size = min(KEPT, self.counts[name])
                items = _array(data[name], where, size)
                rows = [self.row(r, where / i) for i, r in enumerate(items)]
                for i, r in enumerate(rows):
                    require_equal(r["class"], name, where / i / "class", "the class listed")
            _sorted_strictly([r["row"] for r in rows], where, "by row")
            examples[name] = rows
        return examples

    def problems(
        self, value: Any, failed_examples: list[dict[str, Any]], at: Field
    ) -> list[dict[str, Any]]:
        """Failed calls: batches inside the ranges, the rows of the "call failed" examples."""
        items = _array(value, at)
        if len(items) > KEPT:
            at.fail(f"lists {len(items)} failed calls; at most {KEPT} are kept")
        problems: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            data = require_keys(item, PROBLEM_KEYS, at / index)
            row = self.inside(data["row"], at / index / "row")
            size = _integer(data["rows"], at / index / "rows", 1)
            if not self.covered(row, row + size):
                (at / index).fail(f"rows {row}..{row + size} are not inside the ranges")
            problem = _text(data["problem"], at / index / "problem")
            problems.append({"row": row, "rows": size, "problem": problem})
        _sorted_strictly([p["row"] for p in problems], at, "by row")
        for index in range(1, len(problems)):
            if problems[index - 1]["row"] + problems[index - 1]["rows"] > problems[index]["row"]:
                (at / index).fail("overlaps the previous failed call")
        require_equal(
            [p["row"] for p in problems],
            [r["row"] for r in failed_examples],
            at,
            f"the rows of examples.{CALL_FAILED}",
        )
        listed, count = sum(p["rows"] for p in problems), self.counts[CALL_FAILED]
        if listed > count or (len(problems) < KEPT and listed != count):
            at.fail(f"the failed calls hold {listed} rows but counts.{CALL_FAILED} is {count}")
        return problems

    def row(self, value: Any, at: Field) -> dict[str, Any]:
        """A judged row: row number, inputs, outputs got and expected, error, class."""
        data = require_keys(value, ROW_KEYS, at)
        row = self.numbered(data, at)
        got = self.outputs_of(data["got"], at / "got")
        expected = self.outputs_of(data["expected"], at / "expected")
        ulp = data["ulp"]
        if ulp == "inf":
            if not self.histogram[-1] + self.histogram[_FINITE_BINS]:
                (at / "ulp").fail("is 'inf' but the histogram has no row of infinite error")
        elif _number(ulp, at / "ulp") > self.max_ulp:
            (at / "ulp").fail(f"{ulp!r} is larger than max_ulp {self.max_ulp!r}")
        name = _text(data["class"], at / "class")
        if name not in CLASSES or name == CALL_FAILED or not self.counts[name]:
            (at / "class").fail(f"{_shown(name)} is not a class with rows in counts")
        return {
            "row": row,
            "inputs": data["inputs"],
            "got": got,
            "expected": expected,
            "ulp": ulp,
            "class": name,
        }

    def failed_batch(self, value: Any, at: Field) -> dict[str, Any]:
        """The first row of a batch whose call failed: its number and inputs."""
        data = require_keys(value, ("row", "inputs"), at)
        return {"row": self.numbered(data, at), "inputs": data["inputs"]}

    def numbered(self, data: Mapping[str, Any], at: Field) -> int:
        """The row number, inside the ranges, with the inputs of that row."""
        row = self.inside(data["row"], at / "row")
        require_equal(data["inputs"], self.space.hex_patterns(row), at / "inputs", "that row's")
        return row

    def inside(self, value: Any, at: Field) -> int:
        """A row number inside the ranges."""
        row = _integer(value, at)
        if not self.covered(row, row + 1):
            at.fail(f"row {row} is not inside the ranges")
        return row

    def covered(self, start: int, stop: int) -> bool:
        """Whether [start, stop) lies inside one range."""
        index = bisect.bisect_right([a for a, _ in self.ranges], start) - 1
        return index >= 0 and stop <= self.ranges[index][1]

    def outputs_of(self, value: Any, at: Field) -> list[str]:
        """Outputs of a row as hex numbers (``float.hex``, nan, inf, -inf), one per output."""
        values = [_text(v, at / i) for i, v in enumerate(_array(value, at, self.outputs))]
        for index, text in enumerate(values):
            try:
                float.fromhex(text)
            except (ValueError, OverflowError):
                (at / index).fail(f"expected a hex number, got {_shown(text)}")
        return values


def _sorted_strictly(keys: Sequence[Any], at: Field, order: str) -> None:
    for index in range(1, len(keys)):
        if not keys[index - 1] < keys[index]:
            (at / index).fail(f"out of order or repeated (they are sorted {order})")
