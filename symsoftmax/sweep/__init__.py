"""The exhaustive sweep: a candidate on every row of K bit patterns of a small format.

``symsoftmax.exhaustive(fn, op="softmax", dtype="float8_e4m3fn", k=2)`` runs ``fn`` on all
2^(b·K) rows (b the format's width: float8 K = 2 and 3, float16 and bfloat16 K = 2), in batches,
judges every row with the pass rules of ``validate`` against correctly rounded references, and
returns an :class:`ExhaustiveReport`: rows by class, largest and median error in ulps, a
histogram, the worst inputs as bit patterns. See docs/exhaustive.md.

Modules: space (the rows), judge (vectorized verdicts), tally (mergeable summaries), runner (a
row range through the candidate), distribute (ranges on Dask), checkpoint (resume), report,
source (the digest of the candidate's file, in a run's identity), reconcile (reading a report or
a checkpoint back: every field checked), recheck (a checkpoint's recorded rows and a sample of
its rows judged again on resume).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from symsoftmax.errors import InputError
from symsoftmax.sweep.checkpoint import Checkpoint
from symsoftmax.sweep.distribute import SCHEDULER_TIMEOUT, run_on_dask
from symsoftmax.sweep.recheck import recheck
from symsoftmax.sweep.reconcile import Field
from symsoftmax.sweep.report import ExhaustiveReport, merge_reports
from symsoftmax.sweep.runner import EXHAUSTIVE_OPS, Job, close_callers, tally_range
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import Tally
from symsoftmax.validation.checks import PassRule
from symsoftmax.vectors.builder import ProgressStep

__all__ = [
    "EXHAUSTIVE_OPS",
    "SCHEDULER_TIMEOUT",
    "ExhaustiveReport",
    "exhaustive",
    "merge_reports",
]

DEFAULT_BATCH = 1 << 18
TASKS_PER_WORKER = 16  # Dask tasks per worker: enough for balance, few enough to stay cheap


def exhaustive(
    fn: Callable[..., Any] | str,
    *,
    op: str = "softmax",
    dtype: str = "float8_e4m3fn",
    k: int = 2,
    rule: PassRule | None = None,
    batch: int = DEFAULT_BATCH,
    shard: tuple[int, int] = (0, 1),
    workers: int = 0,
    scheduler: str | None = None,
    scheduler_timeout: float = SCHEDULER_TIMEOUT,
    resume: str | None = None,
    timeout: float | None = 60.0,
    progress: Callable[[ProgressStep], None] | None = None,
) -> ExhaustiveReport:
    """Run ``fn`` on every row of the space (or shard ``(i, n)`` of it) and judge it.

    ``fn``: a callable (called in this process) or ``"module:function"`` /
    ``"file.py:function"`` (called in an isolated worker process, as the CLI does).
    ``workers=0`` runs here; ``workers=N`` on a Dask LocalCluster of N processes; ``scheduler``
    (``tcp://host:port``) on an existing cluster, which must answer within
    ``scheduler_timeout`` seconds. ``resume``: a checkpoint file, read (and reconciled) if it
    exists and rewritten (atomically) as batches finish; its recorded rows and a sample of its
    rows are judged again first (:mod:`symsoftmax.sweep.recheck`). InputError for a bad
    argument, or a checkpoint of another run.
    """
    if op not in EXHAUSTIVE_OPS:
        raise InputError(f"unknown op {op!r}; expected one of {', '.join(EXHAUSTIVE_OPS)}")
    rule = rule or PassRule()
    space = Space.of(dtype, k)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"batch must be a positive number of rows, got {batch!r}")
    index, count = shard
    if not (isinstance(count, int) and isinstance(index, int) and 0 <= index < count):
        raise InputError(f"shard must be I/N with 0 ≤ I < N, got {index}/{count}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InputError(f"workers must be a number ≥ 0, got {workers!r}")
    if not (type(scheduler_timeout) in (int, float) and 0 < scheduler_timeout < math.inf):
        raise InputError(
            f"scheduler_timeout must be a number of seconds > 0, got {scheduler_timeout!r}"
        )
    job = Job(fn, op, space.fmt.name, k, rule, timeout)
    report = ExhaustiveReport.start(job, shard)
    start, stop = report.shard_range
    checkpoint = Checkpoint(resume, report) if resume else None
    if checkpoint is not None:
        loaded = checkpoint.load()
        try:  # the candidate must reproduce the checkpoint's rows (sweep.recheck)
            recheck(job, loaded, report.candidate, Field(checkpoint.path))
        except BaseException:
            close_callers()
            raise
        report.tally = loaded
    todo = _chunks(_left(report.tally, start, stop), batch, workers)
    total = stop - start
    began = time.perf_counter()

    def done(part: Tally) -> None:
        report.tally = report.tally.merge(part)
        if checkpoint is not None:
            checkpoint.save(report.tally)
        if progress is not None:
            progress(ProgressStep(f"{op} {space.fmt.name} K={k}", report.tally.rows, total))

    try:
        if workers == 0 and scheduler is None:
            for first, last in todo:
                done(tally_range(job, first, last, batch))
        else:
            run_on_dask(
                job,
                todo,
                batch,
                scheduler=scheduler,
                workers=workers,
                done=done,
                timeout=scheduler_timeout,
            )
    finally:
        close_callers()
        if checkpoint is not None:
            checkpoint.save(report.tally, force=True)
    report.seconds = time.perf_counter() - began
    return report


def _left(tally: Tally, start: int, stop: int) -> list[tuple[int, int]]:
    """Parts of [start, stop) that ``tally`` does not cover."""
    left, at = [], start
    for a, b in tally.ranges:
        if b <= at or a >= stop:
            continue
        if a > at:
            left.append((at, a))
        at = max(at, b)
    if at < stop:
        left.append((at, stop))
    return left


def _chunks(parts: list[tuple[int, int]], batch: int, workers: int) -> list[tuple[int, int]]:
    """Tasks: whole batches, about TASKS_PER_WORKER per worker (one batch each in-process)."""
    total = sum(b - a for a, b in parts)
    per_task = batch
    if workers:
        per_task = max(batch, -(-total // (workers * TASKS_PER_WORKER) // batch) * batch)
    return [(a, min(b, a + per_task)) for a0, b in parts for a in range(a0, b, per_task)]
