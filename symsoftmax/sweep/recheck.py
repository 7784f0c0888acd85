"""``--resume``: a checkpoint's tally judged again, in part, before the run goes on from it.

Reconciliation (:mod:`symsoftmax.sweep.reconcile`) refuses a tally whose fields disagree, but a
consistent tally of another run passes it: the tally of a passing candidate grafted into the
checkpoint of a failing one of the same file (the same source digest) made the failing run PASS.
So a loaded tally is checked against the candidate itself, through the caller the run uses and
the run's own judge (:func:`symsoftmax.sweep.runner.judge_rows`):

* the rows it records — its worst rows and its examples, a few dozen at most — are called again
  in one call: the candidate's outputs must be bit for bit the recorded ones, and judging them
  must give the recorded correctly rounded outputs and class;
* a seeded sample of :data:`SAMPLE` rows inside its ranges is called and judged: each sampled
  row must fall in a class the tally has rows of (a failing row where the tally counts no
  failure refuses it; a failed call counts as "call failed").

Either failure is one line, "FILE: the checkpoint's … are not what TARGET computes (…): a
checkpoint of another run". A candidate whose outputs for a row depend on the other rows of its
call, or vary from call to call, cannot be resumed: its recorded rows are not reproduced.
"""

from __future__ import annotations

from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from symsoftmax.rounding import brief_repr, format_hex
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES
from symsoftmax.sweep.reconcile import Field
from symsoftmax.sweep.runner import Job, judge_rows
from symsoftmax.sweep.tally import Tally

__all__ = ["SAMPLE", "SEED", "recheck"]

SAMPLE = 256
"""Rows of a checkpoint's ranges judged again on resume, besides its recorded rows."""
SEED = 20240917
"""Seed of the sample (with the ranges: the same checkpoint is sampled the same way)."""


def recheck(job: Job, tally: Tally, target: str, at: Field) -> None:
    """Refuse ``tally`` (InputError, one line at ``at``) unless ``job``'s candidate reproduces
    its recorded rows and a sample of its rows falls in its classes (module docstring)."""
    if not tally.rows:
        return
    _recorded(job, tally, target, at)
    _sampled(job, tally, target, at)


def _recorded(job: Job, tally: Tally, target: str, at: Field) -> None:
    """The worst rows and examples: the same outputs, expected outputs and class now."""
    listed: dict[int, dict[str, Any]] = {}
    for row in [*tally.worst, *(r for rows in tally.examples.values() for r in rows)]:
        if "got" in row:  # "call failed" examples record a batch, not outputs
            listed.setdefault(int(row["row"]), row)
    if not listed:
        return
    numbers = sorted(listed)
    judged = judge_rows(job, np.array(numbers, dtype=np.uint64))
    if judged.got is None or judged.expected is None or judged.code is None:
        _refuse(
            at, "recorded rows", target, f"row {numbers[0]}: the call failed now, {judged.problem}"
        )
    for i, number in enumerate(numbers):
        row = listed[number]
        for name, now in (
            ("got", [format_hex(v) for v in judged.got[i]]),
            ("expected", [format_hex(v) for v in judged.expected[i]]),
            ("class", CLASSES[int(judged.code[i])]),
        ):
            if row[name] != now:
                label = "" if name == "got" else f"{name} "
                _refuse(
                    at,
                    "recorded rows",
                    target,
                    f"row {number}: recorded {label}{brief_repr(row[name])}, now {brief_repr(now)}",
                )


def _sampled(job: Job, tally: Tally, target: str, at: Field) -> None:
    """A seeded sample of the ranges' rows: each in a class the tally has rows of."""
    numbers = sample_rows(tally.ranges)
    judged = judge_rows(job, numbers)
    if judged.code is None:
        classes = [CALL_FAILED] * len(numbers)
    else:
        classes = [CLASSES[int(c)] for c in judged.code]
    for number, name in zip(numbers.tolist(), classes, strict=True):
        if not tally.counts[name]:
            _refuse(
                at,
                "counts",
                target,
                f"row {number} is {name!r} now, a class the tally has no rows of",
            )


def sample_rows(ranges: list[list[int]]) -> npt.NDArray[np.uint64]:
    """Up to :data:`SAMPLE` distinct row numbers inside ``ranges``, sorted, drawn with
    :data:`SEED` and the ranges (all the rows when they hold no more)."""
    sizes = np.array([b - a for a, b in ranges], dtype=np.int64)
    total = int(sizes.sum())
    starts = np.array([a for a, _ in ranges], dtype=np.int64)
    if total <= SAMPLE:
        positions = np.arange(total, dtype=np.int64)
    else:
        entropy = [SEED, len(ranges), *(v for pair in ranges[:8] for v in pair)]
        rng = np.random.default_rng(entropy)
        positions = np.unique(rng.integers(0, total, size=SAMPLE, dtype=np.int64))
    ends = np.cumsum(sizes)
    which = np.searchsorted(ends, positions, side="right")
    before = ends[which] - sizes[which]
    return (starts[which] + (positions - before)).astype(np.uint64)


def _refuse(at: Field, what: str, target: str, detail: str) -> NoReturn:
    at.fail(
        f"the checkpoint's {what} are not what {target} computes ({detail}): "
        "a checkpoint of another run"
    )
