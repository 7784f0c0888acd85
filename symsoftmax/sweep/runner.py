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

from symsoftmax.reference import evaluate
from symsoftmax.rounding import format_hex
from symsoftmax.sweep.judge import CALL_FAILED, CLASSES, FAIL_CLASSES, judge_batch
from symsoftmax.sweep.space import Space
from symsoftmax.sweep.tally import KEPT, N_BINS, Tally, bin_of
from symsoftmax.validation.adapters import get_adapter
from symsoftmax.validation.checks import PassRule
from symsoftmax.validation.runner import Call, Caller, CallGuard, InProcessCaller
from symsoftmax.vectors.model import EXPECTED_KEYS, expected_shape

__all__ = ["Job", "tally_range"]


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
    fmt = space.fmt
    x = space.rows(start, stop)
    n = stop - start
    key = EXPECTED_KEYS[job.op][0]
    want = expected_shape(job.op, key, space.k)
    shapes = [(n, *want)] + ([(n,)] if want == (1,) else [])  # logsumexp: (n, 1) or (n,)
    call = Call(0, [x], {}, {key: shapes}, np.dtype(fmt.numpy_dtype), fmt.name)
    reply = caller.run([call])[0]
    tally = Tally(ranges=[[start, stop]])
    if reply.parts is None:
        tally.counts[CALL_FAILED] = n
        problem = {"row": start, "rows": n, "problem": f"{reply.status}: {reply.problem}"}
        tally.problems.append(problem)
        tally.examples[CALL_FAILED] = [{"row": start, "inputs": space.hex_patterns(start)}]
        return tally
    with np.errstate(invalid="ignore"):  # NaN payloads
        got = reply.parts[key].astype(np.float64).reshape(n, -1)
        rows = x.astype(np.float64)
    expected = evaluate(job.op, x, dtype=fmt).rounded.reshape(n, -1)  # x: no rounding needed
    verdict = judge_batch(job.op, fmt, rows, got, expected, job.rule)
    counts = np.bincount(verdict.code, minlength=len(CLASSES))
    tally.counts = {c: int(counts[i]) for i, c in enumerate(CLASSES)}
    tally.histogram = np.bincount(bin_of(verdict.ulp), minlength=N_BINS).tolist()
    finite = verdict.ulp[np.isfinite(verdict.ulp)]
    tally.max_ulp = float(finite.max()) if finite.size else 0.0

    def row(i: int) -> dict[str, Any]:
        ulp = float(verdict.ulp[i])
        return {
            "row": start + i,
            "inputs": space.hex_patterns(start + i),
            "got": [format_hex(v) for v in got[i]],
            "expected": [format_hex(v) for v in expected[i]],
            "ulp": ulp if np.isfinite(ulp) else "inf",
            "class": CLASSES[int(verdict.code[i])],
        }

    order = np.lexsort((np.arange(n), -verdict.ulp))[:KEPT]
    tally.worst = [row(int(i)) for i in order]
    for name in FAIL_CLASSES:
        where = np.flatnonzero(verdict.code == CLASSES.index(name))[:KEPT]
        tally.examples[name] = [row(int(i)) for i in where]
    return tally
