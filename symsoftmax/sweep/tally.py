"""What an exhaustive run found, as a mergeable summary of row ranges.

A :class:`Tally` covers a set of row ranges and holds: rows by class, the largest error in ulps,
a histogram of each row's largest error (fixed bins, so that tallies add), the worst rows and the
first rows of each failing class. Merging is exact and order-free: counts add, the worst rows are
the top :data:`KEPT` by (error, then row number) and the examples the lowest row numbers, so the
same rows give the same tally — byte for byte in :meth:`Tally.to_json` — whatever the batching,
the sharding or the order in which batches finish. A tally read back from a file is reconciled
field by field first (:func:`symsoftmax.sweep.reconcile.read_tally`).

The histogram's bins: 0 (exact), then quarter octaves 2^(i/4) from 2^−10 to 2^20 ulp, one bin
below 2^−10 and one above 2^20, and ∞ (a misplaced NaN/inf). The median is read from it: the
upper edge of the bin holding the middle row (an upper bound, within a factor 2^(1/4)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.sweep.judge import ACCEPTABLE, CLASSES, FAIL_CLASSES, PASS, SATURATED

__all__ = ["BIN_EDGES", "KEPT", "Tally"]

KEPT = 10  # worst rows, and examples per failing class
BIN_EDGES: tuple[float, ...] = (0.0, *(2.0 ** (i / 4) for i in range(-40, 81)))
"""Upper edges of the finite bins: [0, 0], (0, 2^−10], (2^−10, 2^−9.75], …, (2^19.75, 2^20];
then (2^20, ∞) and ∞."""
N_BINS = len(BIN_EDGES) + 2


def bin_of(ulps: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Bin index of each error (see :data:`BIN_EDGES`)."""
    index = np.searchsorted(np.asarray(BIN_EDGES), ulps, side="left")
    return np.where(np.isinf(ulps), N_BINS - 1, index)


Row = dict[str, Any]  # {"row", "inputs", "got", "expected", "ulp", "class"}


@dataclass
class Tally:
    """Summary of the rows of ``ranges`` (half-open [start, stop) pairs, merged and sorted)."""

    ranges: list[list[int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    histogram: list[int] = field(default_factory=lambda: [0] * N_BINS)
    max_ulp: float = 0.0  # over the rows with finite errors
    worst: list[Row] = field(default_factory=list)
    examples: dict[str, list[Row]] = field(default_factory=lambda: {c: [] for c in FAIL_CLASSES})
    problems: list[dict[str, Any]] = field(default_factory=list)  # failed calls: row, problem

    @property
    def rows(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    @property
    def failed(self) -> int:
        return sum(self.counts[c] for c in FAIL_CLASSES)

    def median_ulp(self) -> float:
        """Upper edge of the bin holding the median row error (inf if that is a misplaced one)."""
        judged = sum(self.histogram)
        if not judged:
            return 0.0
        seen = 0
        for index, count in enumerate(self.histogram):
            seen += count
            if 2 * seen >= judged:
                return BIN_EDGES[index] if index < len(BIN_EDGES) else math.inf
        return math.inf  # pragma: no cover - the loop always returns

    def merge(self, other: Tally) -> Tally:
        """The tally of both (their ranges must not overlap: ValueError)."""
        ranges = _merge_ranges(self.ranges + other.ranges)
        if sum(b - a for a, b in ranges) != self.rows + other.rows:
            raise ValueError("tallies cover overlapping rows")
        merged = Tally(
            ranges=ranges,
            counts={c: self.counts[c] + other.counts[c] for c in CLASSES},
            histogram=[a + b for a, b in zip(self.histogram, other.histogram, strict=True)],
            max_ulp=max(self.max_ulp, other.max_ulp),
            worst=_worst(self.worst + other.worst),
            examples={
                c: sorted(self.examples[c] + other.examples[c], key=_row_key)[:KEPT]
                for c in FAIL_CLASSES
            },
            problems=sorted(self.problems + other.problems, key=_row_key)[:KEPT],
        )
        return merged

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict, keys in a fixed order (floats as their repr: deterministic)."""
        return {
            "ranges": self.ranges,
            "rows": self.rows,
            "failed": self.failed,
            "counts": self.counts,
            "max_ulp": _number(self.max_ulp),
            "median_ulp": _number(self.median_ulp()),
            "histogram": self.histogram,
            "worst": self.worst,
            "examples": self.examples,
            "problems": self.problems,
        }


def _number(value: float) -> float | str:
    return value if math.isfinite(value) else "inf"


def _row_key(row: Row) -> int:
    return int(row["row"])


def _worst(rows: list[Row]) -> list[Row]:
    def key(row: Row) -> tuple[float, int]:
        ulp = row["ulp"]
        return (-(math.inf if ulp == "inf" else float(ulp)), int(row["row"]))

    return sorted(rows, key=key)[:KEPT]


def _merge_ranges(ranges: list[list[int]]) -> list[list[int]]:
    merged: list[list[int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    return merged


PASSING = (PASS, SATURATED, ACCEPTABLE)
