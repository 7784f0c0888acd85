"""The data model of a test-vector file, shared by generator, I/O, lint and validator.

A file holds the tests of one operation in one format (Wycheproof layout: a header, notes per
flag, tests grouped by shape). Every number is a float64 array holding values of the file's
format exactly; the exact mathematical result of each output is kept as a decimal string
(≥ 40 significant digits) so that an implementation's error can be measured in fractional ulps.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.ops import OPERATIONS, TEMPERATURE_OPS, VECTOR_OPS

__all__ = [
    "EXPECTED_KEYS",
    "INPUT_KEYS",
    "OPS",
    "RESULTS",
    "SUITES",
    "TEMPERATURE_OPS",
    "Answer",
    "Note",
    "TestCase",
    "TestGroup",
    "VectorFile",
    "expected_shape",
]

OPS = VECTOR_OPS  # the ops with vector files, from the operation table (symsoftmax.ops)
SUITES = ("quick", "standard", "exhaustive")
RESULTS = ("valid", "acceptable")

# Input arrays per op, each of shape (K,); "temperature" (shape ()) is optional for the
# TEMPERATURE_OPS, "sink" and "softcap" (shape ()) for symsoftmax.reference.SINK_OPS.
SCALAR_INPUTS = ("temperature", "sink", "softcap")
INPUT_KEYS: dict[str, tuple[str, ...]] = {op: OPERATIONS[op].inputs for op in OPS}

# Output arrays per op.
EXPECTED_KEYS: dict[str, tuple[str, ...]] = {op: OPERATIONS[op].output_keys() for op in OPS}


@functools.cache  # asked once per test and output by the readers and the runner
def expected_shape(op: str, key: str, k: int) -> tuple[int, ...]:
    """Shape of output ``key`` of ``op`` for rows of length ``k``.

    The operation table's shape, except that a scalar is stored as a one-element array (1,).
    """
    return OPERATIONS[op].output_shape(key, k) or (1,)


Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Answer:
    """One allowed answer of an "acceptable" test, e.g. ``"ieee-nan"`` or ``"limit"``.

    ``outputs`` has the same keys and shapes as :attr:`TestCase.expected` (float64 format values).
    """

    name: str
    outputs: dict[str, Array]


@dataclass(frozen=True)
class TestCase:
    """One test: inputs, correctly rounded expected outputs and their exact decimal values.

    ``result`` is "valid" (the output must match ``expected``) or "acceptable" (the field disagrees;
    each allowed answer is listed, named, in ``acceptable``, and ``expected`` is one of them).
    """

    __test__ = False  # not a pytest class

    tc_id: int
    comment: str
    flags: tuple[str, ...]
    inputs: dict[str, Array]
    expected: dict[str, Array]
    exact: Mapping[str, Array]  # a dict, or a cache entry's vectors.io.AsciiExact
    result: str
    acceptable: tuple[Answer, ...] = ()


@dataclass(frozen=True)
class TestGroup:
    """Tests whose rows have the same length ``k``."""

    __test__ = False

    k: int
    tests: tuple[TestCase, ...]


@dataclass(frozen=True)
class Note:
    """What a flag probes, and which implementation bug it catches."""

    description: str
    catches: str


@dataclass(frozen=True)
class VectorFile:
    """A whole vector file. ``op`` and ``dtype`` are copies of the header's fields."""

    header: dict[str, Any]
    notes: dict[str, Note]
    groups: tuple[TestGroup, ...]
    op: str = field(default="")
    dtype: str = field(default="")

    def __post_init__(self) -> None:
        if not self.op:
            object.__setattr__(self, "op", str(self.header.get("op", "")))
        if not self.dtype:
            object.__setattr__(self, "dtype", str(self.header.get("dtype", "")))

    def tests(self) -> Iterator[TestCase]:
        """All tests in file order."""
        for group in self.groups:
            yield from group.tests

    def __len__(self) -> int:
        return sum(len(group.tests) for group in self.groups)


def empty_exact(shape: tuple[int, ...]) -> npt.NDArray[np.object_]:
    """An object array of the given shape, to be filled with decimal strings."""
    return np.empty(shape, dtype=object)
