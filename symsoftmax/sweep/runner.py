"""Running a candidate over a row range, batch by batch, and tallying the verdicts.

One call of the candidate per batch: a 2-D array (rows along axis 0, the op along axis −1) of
the format's dtype, as ``validate --batch`` does; the result must be batched likewise ((n, K),
or (n,) for logsumexp). The candidate is reached through a caller of
:mod:`symsoftmax.validation.runner`: in this process (the Python API's default, a callable), or
in an isolated worker process (:class:`~symsoftmax.validation.isolation.IsolatedCaller`: the
CLI, and a ``module:function`` string), which survives a candidate that exits, crashes or hangs —
its batch is then counted as "call failed", with the problem, and the run goes on.

:func:`tally_range` is the unit of work, the same in one process and on a Dask worker
(:mod:`symsoftmax.sweep.distribute`): it depends on nothing but its arguments, so the
merged result does not depend on where or in which order ranges ran.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.ops import OPERATIONS
from symsoftmax.reference import evaluate
from symsoftmax.rounding import format_hex
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES, FAIL_CLASSES, judge_batch
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import KEPT, N_BINS, Tally, bin_of
from symsoftmax.validation.adapters import get_adapter
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.runner import Call, Caller, CallGuard, InProcessCaller
from symsoftmax.vectors.model import EXPECTED_KEYS, expected_shape

__all__ = ["EXHAUSTIVE_OPS", "JUDGED_TOGETHER", "Job", "JudgedRows", "judge_rows", "tally_range"]

EXHAUSTIVE_OPS = tuple(
    name
    for name, op in OPERATIONS.items()
    if op.fast_path and op.inputs == ("z",) and op.dims < 2  # not the (K, K) Jacobian
)
"""softmax, log_softmax, logsumexp: one input row, a vectorized reference."""
JUDGED_TOGETHER = 1 << 14
"""Rows referenced and judged at once within a batch: the temporaries (a few dozen float64
arrays of this many rows) then stay in the cache. Judging a whole 2^18-row batch at once ran at
0.71–0.87× the speed for bfloat16, float16 and float8_e4m3fn (docs/performance.md, from
benchmarks/bench_exhaustive.py --compare-blocks)."""


@dataclass(frozen=True)
class Job:
    """What to run: the candidate (a callable, or ``module:function`` for a worker process),
    the op, the space, the pass rule and the time limit per call."""

    candidate: Callable[..., Any] | str
    op: str
    dtype: str
    k: int
    rule: PassRule
    timeout: float | None = 60.0

    @property
    def space(self) -> Space:
        return Space.of(self.dtype, self.k)


_CALLERS: dict[tuple[Any, float | None], Caller] = {}  # one per process and candidate


def _caller(job: Job) -> Caller:
    key = (job.candidate, job.timeout)
    if key not in _CALLERS:
        if isinstance(job.candidate, str):
            from symsoftmax.validation.isolation import IsolatedCaller

            isolated = IsolatedCaller([job.candidate], timeout=job.timeout)
            atexit.register(isolated.close)
            _CALLERS[key] = isolated
        else:
            guard = CallGuard(job.timeout)
            _CALLERS[key] = InProcessCaller([job.candidate], get_adapter("numpy"), guard)
    return _CALLERS[key]


def close_callers() -> None:
    """End the worker processes of this process's isolated callers."""
    for caller in _CALLERS.values():
        close = getattr(caller, "close", None)
        if close is not None:
            close()
    _CALLERS.clear()


def tally_range(job: Job, start: int, stop: int, batch: int) -> Tally:
    """The tally of rows start..stop−1, in calls of at most ``batch`` rows."""
    caller = _caller(job)
    space = job.space
    tally = Tally()
    for first in range(start, stop, batch):
        tally = tally.merge(_tally_batch(job, caller, space, first, min(stop, first + batch)))
    return tally


def _tally_batch(job: Job, caller: Caller, space: Space, start: int, stop: int) -> Tally:
    x = space.rows(start, stop)
    n = stop - start
    tally = Tally(ranges=[[start, stop]])
    got, problem = _call(job, caller, x)
    if got is None:
        tally.counts[CALL_FAILED] = n
        tally.problems.append({"row": start, "rows": n, "problem": problem})
        tally.examples[CALL_FAILED] = [{"row": start, "inputs": space.hex_patterns(start)}]
        return tally
    expected, code, ulps = _judge(job, space, x, got)
    counts = np.bincount(code, minlength=len(CLASSES))
    tally.counts = {c: int(counts[i]) for i, c in enumerate(CLASSES)}
    tally.histogram = np.bincount(bin_of(ulps), minlength=N_BINS).tolist()
    finite = ulps[np.isfinite(ulps)]
    tally.max_ulp = float(finite.max()) if finite.size else 0.0

    def row(i: int) -> dict[str, Any]:
        ulp = float(ulps[i])
        return {
            "row": start + i,
            "inputs": space.hex_patterns(start + i),
            "got": [format_hex(v) for v in got[i]],
            "expected": [format_hex(v) for v in expected[i]],
            "ulp": ulp if np.isfinite(ulp) else "inf",
            "class": CLASSES[int(code[i])],
        }

    tally.worst = [row(int(i)) for i in _worst(ulps, KEPT)]
    for name in FAIL_CLASSES:
        where = np.flatnonzero(code == CLASSES.index(name))[:KEPT]
        tally.examples[name] = [row(int(i)) for i in where]
    return tally


@dataclass(frozen=True)
class JudgedRows:
    """Rows called and judged again (:func:`judge_rows`): per row the candidate's outputs
    (``got``, float64, shape (n, outputs)), the correctly rounded ones, class code and error;
    or, when the call failed, ``got`` is None and ``problem`` says why."""

    got: npt.NDArray[np.float64] | None
    expected: npt.NDArray[np.float64] | None
    code: npt.NDArray[np.int8] | None
    ulps: npt.NDArray[np.float64] | None
    problem: str = ""


def judge_rows(job: Job, index: npt.NDArray[np.uint64]) -> JudgedRows:
    """The rows numbered ``index`` (any order) in one call of the candidate, through the
    caller the run uses, judged as a run judges them (used to check a checkpoint on resume)."""
    space = job.space
    x = space.rows_of(index)
    got, problem = _call(job, _caller(job), x)
    if got is None:
        return JudgedRows(None, None, None, None, problem)
    expected, code, ulps = _judge(job, space, x, got)
    return JudgedRows(got, expected, code, ulps)


def _call(
    job: Job, caller: Caller, x: npt.NDArray[np.generic]
) -> tuple[npt.NDArray[np.float64] | None, str]:
    """One call of the candidate on the rows ``x``: (outputs as float64 (n, outputs), "") or
    (None, the problem) when the call failed."""
    fmt = job.space.fmt
    n = x.shape[0]
    key = EXPECTED_KEYS[job.op][0]
    want = expected_shape(job.op, key, job.k)
    shapes = [(n, *want)] + ([(n,)] if want == (1,) else [])  # logsumexp: (n, 1) or (n,)
    call = Call(0, [x], {}, {key: shapes}, np.dtype(fmt.numpy_dtype), fmt.name)
    reply = caller.run([call])[0]
    if reply.parts is None:
        return None, f"{reply.status}: {reply.problem}"
    with np.errstate(invalid="ignore"):  # NaN payloads
        return reply.parts[key].astype(np.float64).reshape(n, -1), ""


def _judge(
    job: Job, space: Space, x: npt.NDArray[np.generic], got: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """(expected, class code, error in ulps) of every row of ``x`` given the outputs ``got``."""
    fmt = space.fmt
    n = x.shape[0]
    expected = np.empty_like(got)
    code = np.empty(n, dtype=np.int8)
    ulps = np.empty(n)
    for first in range(0, n, JUDGED_TOGETHER):
        part = slice(first, first + JUDGED_TOGETHER)
        rows = x[part]  # in the format: no rounding needed
        expected[part] = evaluate(job.op, rows, dtype=fmt).rounded.reshape(len(rows), -1)
        with np.errstate(invalid="ignore"):  # NaN payloads
            wide = rows.astype(np.float64)
        verdict = judge_batch(job.op, fmt, wide, got[part], expected[part], job.rule)
        code[part], ulps[part] = verdict.code, verdict.ulp
    return expected, code, ulps


def _worst(ulps: npt.NDArray[np.float64], kept: int) -> list[int]:
    """Indices of the ``kept`` largest errors, largest first, ties by lower index, NaN as the
    smallest: ``np.lexsort((np.arange(n), -ulps))[:kept]`` by ``kept`` argmax passes (argmax
    takes the first of equal maxima), without sorting the batch."""
    key = np.where(np.isnan(ulps), -1.0, ulps)  # errors are ≥ 0
    chosen = []
    for _ in range(min(kept, key.size)):
        index = int(np.argmax(key))
        chosen.append(index)
        key[index] = -2.0  # below every other key
    return chosen
