"""Calling a candidate function: calls and replies, time limits, shape and dtype checks, batching.

A :class:`Candidate` turns tests into :class:`Call` s (numpy arrays of the format, plus the
shapes and dtype the result must have) and hands them to a *caller*, which runs them and returns
one :class:`Reply` each:

* :class:`InProcessCaller` (the Python API's default) calls the function in this process, on
  the calling thread where the time limit can be kept there: on POSIX, in the main thread, with
  no interval timer already running, a ``SIGALRM`` (``signal.setitimer``) interrupts a call that
  overruns ``timeout`` seconds — its handler raises into the candidate's frame, and the test is
  reported as a timeout. Calling on the caller's thread matters to libraries that keep
  thread-bound state: tinygrad's compile cache, an SQLite connection, failed on a worker thread
  (issue 20 §5). Elsewhere (another thread, Windows, a timer in use) each call runs on a worker
  thread and is waited for at most ``timeout`` seconds; Python cannot stop a thread, so a call
  that overruns is *abandoned*: the worker is replaced by a fresh one for the next call, and the
  abandoned call goes on in the background (a daemon thread: it never keeps the process alive)
  and its result is discarded. Either way, after ``max_hung`` calls that overran the remaining
  tests are not run (reported "not run"). A call that holds the GIL in a C loop is neither
  interrupted nor abandoned until it returns, and a call to ``os._exit`` ends the process: for
  such candidates use the isolated caller. ``timeout=None`` calls the candidate on the caller's
  thread, with no limit.
* :class:`~symsoftmax.validation.isolation.IsolatedCaller` (the CLI, and ``isolate=True``)
  runs the function in a worker process (see that module).

A candidate that fails every call alike (no kernel for the dtype, a wrong calling convention)
would otherwise be called on every test of a suite, for minutes, to learn nothing more. So
:class:`Candidate` hands the calls to its caller a few at a time, in test order, and watches the
replies: after ``max_identical_failures`` (:data:`MAX_IDENTICAL_FAILURES`) consecutive calls
that failed alike — the same exception class and message, the same wrong dtype, or the same
wrong shape up to the row length K and the batch's row count B — it calls :data:`SPOT_CHECKS`
tests further on, first of their row lengths where the run has not met them. Suites are sorted
by row length, so a kernel that fails on a few lengths fails alike for hundreds of tests in a
row; the spot checks tell it from one that fails everywhere. When they fail alike too, the
remaining tests are not run (reported "not run"; the verdict is FAIL) and
:attr:`Candidate.stopped` says why in one line; otherwise that failure never stops the run.
"""

from __future__ import annotations

import inspect
import itertools
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.validation.adapters import Adapter
from symsoftmax.vectors.model import EXPECTED_KEYS, INPUT_KEYS, TestCase, expected_shape

__all__ = [
    "MAX_IDENTICAL_FAILURES",
    "MAX_TIMEOUT",
    "SPOT_CHECKS",
    "Call",
    "CallGuard",
    "Caller",
    "Candidate",
    "InProcessCaller",
    "Outcome",
    "Reply",
    "WrongResult",
    "check_max_identical_failures",
    "check_timeout",
    "returned_dtype",
]

FloatArray = npt.NDArray[np.float64]
TEMPERATURE_POLICIES = ("auto", "keyword", "skip")
MAX_TIMEOUT = 1e6  # seconds (11.6 days): beyond this, time limits overflow the OS's timers
MAX_IDENTICAL_FAILURES = 20  # alike failures in a row that stop a run (module doc); 0: never
SPOT_CHECKS = 3  # tests further on that must fail alike too before the run stops
ALIKE_KINDS = ("exception", "shape", "dtype")  # the failures that can stop a run
# the messages of part_problem, read back to describe a stopped run (the worker's replies too)
_WRONG_SHAPE = re.compile(r"(?P<key>\w+): wrong shape (?P<got>\(.*?\)), expected (?P<want>.+)")
_WRONG_DTYPE = re.compile(r"(?P<key>\w+): wrong dtype (?P<got>.+), expected (?P<want>\S+)")
_SHAPE_TUPLE = re.compile(r"\(\d+(?:, \d+)*,?\)")


def check_timeout(value: float | None) -> float | None:
    """``value`` if it is a usable time limit in seconds: > 0, finite, ≤ MAX_TIMEOUT (or None)."""
    if value is None:
        return None
    if isinstance(value, bool) or not (isinstance(value, int | float) and 0 < value <= MAX_TIMEOUT):
        raise InputError(
            f"timeout must be a number of seconds > 0 and ≤ {MAX_TIMEOUT:g}, got {value!r}"
        )
    return float(value)


def check_max_identical_failures(value: int) -> int:
    """``value`` if it is a usable ``max_identical_failures``: an integer ≥ 0 (0: never stop)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(
            f"max_identical_failures must be an integer ≥ 0 (0: never stop early), got {value!r}"
        )
    return value


class WrongResult(Exception):
    """Raised by a wrapper around the function under test (such as
    :func:`~symsoftmax.testing.attention_as_softmax`) when that function's result has the wrong
    structure or shape: its message is the test's shape problem, as the validator's own checks
    report them, not an exception the candidate raised."""


@dataclass
class Outcome:
    """What one call produced for one test: outputs, or the problem (kind and message), and
    the text the candidate printed (captured when it runs in a worker process)."""

    outputs: dict[str, FloatArray] | None
    kind: str = ""  # "", "exception", "timeout", "crashed", "shape", "dtype", "not-run", "skipped"
    problem: str = ""
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.outputs is not None


@dataclass
class Call:
    """One call of function ``target`` (0 the candidate, 1 its companion) on ``args`` (arrays of
    the format's dtype) and ``kwargs``; each result part ``key`` must have one of
    ``shapes[key]`` and exactly ``dtype``."""

    target: int
    args: list[npt.NDArray[Any]]
    kwargs: dict[str, float]
    shapes: dict[str, list[tuple[int, ...]]]
    dtype: np.dtype[Any]
    format_name: str


@dataclass
class Reply:
    """The result of one :class:`Call`: status "ok" with the result parts (checked arrays of the
    call's dtype), or a problem: "exception", "timeout", "crashed", "shape", "dtype", "not-run"."""

    status: str
    parts: dict[str, npt.NDArray[Any]] | None = None
    problem: str = ""
    seconds: float = 0.0
    output: str = ""
    ran: bool = True  # False for "not-run": the candidate was not called


def _has_keywords(inputs: dict[str, FloatArray]) -> bool:
    """Whether a test has a temperature, sink or soft-cap (its call is one row alone)."""
    return any(name in inputs for name in KEYWORD_INPUTS)


class Caller(Protocol):
    """Runs calls and says whether a function accepts ``temperature=``."""

    def accepts_temperature(self, target: int) -> bool: ...

    def run(self, calls: Sequence[Call]) -> list[Reply]: ...


# ------------------------------------------------------------------ shared by both callers


def _message(exc: BaseException) -> str:
    """``str(exc)`` on one line, at most 200 characters (robust to a hostile str)."""
    try:
        text = " ".join(str(exc).split())
    except BaseException:  # a candidate's exception may fail to print itself
        text = "<unprintable>"
    return text if len(text) <= 200 else text[:197] + "..."


def one_line(exc: BaseException) -> str:
    """'raised Type: message' on one line, at most ~200 characters (robust to a hostile str)."""
    text = _message(exc)
    name = type(exc).__name__
    return f"raised {name}: {text}" if text else f"raised {name}"


def raised_problem(exc: BaseException) -> tuple[str, str]:
    """(status, problem) of a call that raised ``exc``: ("shape", its message) for a
    :class:`WrongResult`, else ("exception", 'raised Type: message')."""
    if isinstance(exc, WrongResult):
        return "shape", _message(exc)
    return "exception", one_line(exc)


def accepts_temperature(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` has a parameter named ``temperature`` or takes ``**kwargs``."""
    return accepts_keyword(fn, "temperature")


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` or takes ``**kwargs``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


KEYWORD_INPUTS = ("temperature", "sink", "softcap")
"""A test's scalar inputs, passed as keywords (Python floats) to one row's call."""


def split_result(
    value: Any, keys: Sequence[str], adapter: Adapter
) -> tuple[dict[str, npt.NDArray[Any]], str]:
    """The result parts as NumPy arrays (dtype kept) keyed by ``keys`` — a single value, a dict
    or a tuple/list — or ({}, problem) when the result has not that structure."""
    if len(keys) == 1:
        parts = {keys[0]: value}
    elif isinstance(value, dict) and set(keys) <= set(value):
        parts = {key: value[key] for key in keys}
    elif isinstance(value, tuple | list) and len(value) == len(keys):
        parts = dict(zip(keys, value, strict=True))
    else:
        return {}, f"returned {type(value).__name__}; expected a tuple {tuple(keys)}"
    arrays = {}
    for key, part in parts.items():
        try:
            arrays[key] = adapter.to_numpy(part)
        except BaseException as exc:  # a hostile __array__ may raise anything
            return {}, f"{key}: result not an array ({one_line(exc)})"
    return arrays, ""


def part_problem(key: str, shape: tuple[int, ...], dtype: str, call: Call) -> tuple[str, str]:
    """("shape" | "dtype", message) when a result part does not fit ``call``, else ("", "")."""
    shapes = call.shapes[key]
    if shape not in shapes:
        shown = " or ".join(str(s) for s in shapes)
        return "shape", f"{key}: wrong shape {shape}, expected {shown}"
    if dtype != str(call.dtype):
        return "dtype", f"{key}: wrong dtype {dtype}, expected {call.format_name}"
    return "", ""


# ------------------------------------------------------------------ in-process


class _Worker:
    """One daemon thread executing calls from a queue."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        thread = threading.Thread(target=self._loop, name="symsoftmax-candidate", daemon=True)
        thread.start()

    def _loop(self) -> None:
        while True:
            fn, args, kwargs, reply = self.jobs.get()
            start = time.perf_counter()
            try:
                with np.errstate(all="ignore"):  # the candidate's own overflow warnings
                    value = fn(*args, **kwargs)
            except BaseException as exc:
                reply.put(("raised", exc, time.perf_counter() - start))
            else:
                reply.put(("ok", value, time.perf_counter() - start))


class _Overran(BaseException):
    """Raised into a candidate's frame by the SIGALRM handler when its call overruns (a
    BaseException, so that the candidate's ``except Exception`` does not swallow it)."""


def _alarm_usable() -> bool:
    """Whether a time limit can be kept on this thread with SIGALRM: POSIX, the main thread
    (the only one Python runs signal handlers in), and no interval timer already running (a
    caller's own, e.g. a test runner's; it is left alone)."""
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    )


# signal.signal converts the handler it returns to a Handlers enum, through a raised and caught
# ValueError when it is a function: ~4 µs, most of what guarding a call cost. The C function it
# wraps (CPython's _signal module) returns the handler as it is; the wrapper where there is none.
_set_handler: Callable[[int, Any], Any] = getattr(
    getattr(signal, "_signal", None), "signal", signal.signal
)


def _raise_overran(signum: int, frame: Any) -> None:
    raise _Overran


def _direct(fn: Callable[..., Any], args: Any, kwargs: Any) -> tuple[str, Any, float]:
    """Call ``fn`` on this thread: ("ok", value, seconds) or ("raised", exception, seconds)."""
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):  # the candidate's own overflow warnings
            value = fn(*args, **kwargs)
    except Exception as exc:
        return "raised", exc, time.perf_counter() - start
    return "ok", value, time.perf_counter() - start


class CallGuard:
    """Runs calls with a time limit: on the calling thread, interrupted by SIGALRM where that
    is usable, else on a worker thread (see the module docstring for a call that overruns)."""

    def __init__(self, timeout: float | None = 10.0, max_hung: int = 3) -> None:
        self.timeout = check_timeout(timeout)
        self.max_hung = max_hung
        self.hung = 0
        self._worker: _Worker | None = None

    @property
    def exhausted(self) -> bool:
        return self.hung >= self.max_hung

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any, float]:
        """("ok", value, seconds), ("raised", exception, seconds) or ("timeout", how, seconds),
        ``how`` "interrupted" (SIGALRM) or "abandoned" (the worker thread left to it)."""
        if self.timeout is None:
            return _direct(fn, args, kwargs)
        if _alarm_usable():
            return self._interrupted(fn, args, kwargs, self.timeout)
        return self._on_worker(fn, args, kwargs, self.timeout)

    def _interrupted(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, timeout: float
    ) -> tuple[str, Any, float]:
        """The call on this thread, a SIGALRM handler raising into it after ``timeout`` s."""
        previous = _set_handler(signal.SIGALRM, _raise_overran)
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                status, value, seconds = _direct(fn, args, kwargs)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Overran:
            status, value, seconds = "timeout", "interrupted", timeout
        finally:
            _set_handler(signal.SIGALRM, previous)
        if status != "timeout" and seconds > timeout:  # the candidate swallowed the alarm
            status, value, seconds = "timeout", "interrupted", timeout
        if status == "timeout":
            self.hung += 1
        return status, value, seconds

    def _on_worker(
        self, fn: Callable[..., Any], args: Any, kwargs: Any, timeout: float
    ) -> tuple[str, Any, float]:
        """The call on the worker thread, waited for at most ``timeout`` s (then abandoned)."""
        if self._worker is None:
            self._worker = _Worker()
        reply: queue.SimpleQueue[tuple[str, Any, float]] = queue.SimpleQueue()
        self._worker.jobs.put((fn, args, kwargs, reply))
        try:
            status, value, seconds = reply.get(timeout=timeout)
        except queue.Empty:
            self._worker = None  # abandon it: the hung call keeps that thread
            self.hung += 1
            return "timeout", "abandoned", timeout
        if status == "raised" and not isinstance(value, Exception):
            raise value  # KeyboardInterrupt, SystemExit: not the candidate's verdict
        return status, value, seconds


class InProcessCaller:
    """Calls the functions in this process, through a :class:`CallGuard`."""

    def __init__(
        self, fns: Sequence[Callable[..., Any]], adapter: Adapter, guard: CallGuard | None = None
    ) -> None:
        for fn in fns:
            if not callable(fn):
                raise InputError(f"candidate {fn!r} is not callable")
        self.fns = list(fns)
        self.adapter = adapter
        self.guard = guard or CallGuard()

    def accepts_temperature(self, target: int) -> bool:
        return accepts_temperature(self.fns[target])

    def accepts_keyword(self, target: int, name: str) -> bool:
        return accepts_keyword(self.fns[target], name)

    def run(self, calls: Sequence[Call]) -> list[Reply]:
        return [self._one(call) for call in calls]

    def _one(self, call: Call) -> Reply:
        if self.guard.exhausted:
            problem = f"not run: {self.guard.hung} earlier calls hung"
            return Reply("not-run", problem=problem, ran=False)
        args = [self.adapter.to_framework(a) for a in call.args]
        status, value, seconds = self.guard.call(self.fns[call.target], *args, **call.kwargs)
        if status == "timeout":
            return Reply("timeout", problem=f"timed out after {seconds:g} s (call {value})")
        if status == "raised":
            kind, problem = raised_problem(value)
            return Reply(kind, problem=problem, seconds=seconds)
        parts, problem = split_result(value, list(call.shapes), self.adapter)
        if problem:
            return Reply("shape", problem=problem, seconds=seconds)
        for key, array in parts.items():
            if array.dtype == call.dtype and array.shape in call.shapes[key]:
                continue  # what part_problem finds fine, found without its strings
            kind, problem = part_problem(key, array.shape, str(array.dtype), call)
            if kind:
                return Reply(kind, problem=problem, seconds=seconds)
        return Reply("ok", parts, seconds=seconds)


# ------------------------------------------------------------------ the candidate


@dataclass
class _Planned:
    indices: list[int]  # the tests this call answers (several when batched)
    call: Call
    rows: int | None  # rows of a batched call
    k: int
    tc_ids: list[int] = field(default_factory=list)


class Candidate:
    """A function under test: ``fn(z)``, ``fn(z, g)`` or ``fn(z, y)`` on 1-D arrays of the format,
    reached through ``caller`` as function number ``target``.

    With ``batch=True`` the tests of equal K go in one call as 2-D arrays (rows along axis 0, the
    op along axis −1) and the result must be batched likewise. A test with a temperature passes it
    as the keyword ``temperature=`` (a Python float) when ``temperature="keyword"``, or "auto" and
    the function has such a parameter; otherwise the test is skipped. :meth:`run` stops after
    ``max_identical_failures`` alike failures in a row (0: never; see the module doc).
    """

    def __init__(
        self,
        caller: Caller,
        op: str,
        fmt: Format,
        *,
        target: int = 0,
        batch: bool = False,
        temperature: str = "auto",
        max_identical_failures: int = MAX_IDENTICAL_FAILURES,
    ) -> None:
        if temperature not in TEMPERATURE_POLICIES:
            raise InputError(
                f"unknown temperature policy {temperature!r}; expected one of "
                f"{', '.join(TEMPERATURE_POLICIES)}"
            )
        self.caller = caller
        self.target = target
        self.op = op
        self.fmt = fmt
        self.batch = batch
        self.pass_temperature = temperature == "keyword" or (
            temperature == "auto" and caller.accepts_temperature(target)
        )
        # sink= and softcap= follow the temperature policy; a caller that cannot say whether
        # the function takes them (no accepts_keyword) gets them only under "keyword"
        accepts = getattr(caller, "accepts_keyword", None)
        self.pass_keyword = {"temperature": self.pass_temperature} | {
            name: temperature == "keyword"
            or (temperature == "auto" and accepts is not None and accepts(target, name))
            for name in ("sink", "softcap")
        }
        self.max_identical_failures = check_max_identical_failures(max_identical_failures)
        self.stopped = ""  # why run() stopped early, in one line ("" when it did not)
        self.seconds = 0.0  # total time spent inside the candidate
        self.calls = 0
        self.other_output: list[str] = []  # printed during calls outside run() (properties)
        self._accepted_shapes: dict[tuple[int, int | None], dict[str, list[tuple[int, ...]]]] = {}

    # ---------------------------------------------------------------- public

    def run(self, tests: Sequence[TestCase]) -> list[Outcome]:
        """One outcome per test, in order (the calls handed to the caller a few at a time, so
        that a run of alike failures can stop it: see the module doc)."""
        outcomes: list[Outcome | None] = [None] * len(tests)
        for i, test in enumerate(tests):
            if self._skipped(test.inputs):
                missing = next(n for n in KEYWORD_INPUTS if self._refused(test.inputs, n))
                outcomes[i] = Outcome(None, "skipped", f"candidate takes no {missing}")
        plan = [
            self._plan(indices, [tests[i].inputs for i in indices], batched=batched)
            for indices, batched in self.groups(tests)
        ]
        for item in plan:
            item.tc_ids = [tests[i].tc_id for i in item.indices]
        replies = self._run_watched(plan)
        with np.errstate(invalid="ignore"):  # (see _outcomes)
            for item, reply in zip(plan, replies, strict=True):
                if reply.status == "crashed":
                    reply.problem += f" during {_which(item.tc_ids)}"
                for i, outcome in zip(item.indices, self._outcomes(item, reply), strict=True):
                    outcomes[i] = outcome
        return [o if o is not None else Outcome(None, "not-run", "not run") for o in outcomes]

    def groups(self, tests: Sequence[TestCase]) -> list[tuple[list[int], bool]]:
        """The calls :meth:`run` makes on ``tests``, in order: (the indices of the tests one call
        answers, whether it is batched). Tests skipped by policy are in none; with ``batch=True``
        the tests of equal K without a temperature share one batched call (rows in test order,
        after the calls of one test each); every other test has a call of its own."""
        single: list[tuple[list[int], bool]] = []
        batches: dict[int, list[int]] = {}
        for i, test in enumerate(tests):
            if self._skipped(test.inputs):
                continue
            if self.batch and not _has_keywords(test.inputs):
                batches.setdefault(int(test.inputs["z"].shape[-1]), []).append(i)
            else:
                single.append(([i], False))
        return single + [(indices, True) for indices in batches.values()]

    def call_group(self, rows: Sequence[dict[str, FloatArray]], *, batched: bool) -> list[Outcome]:
        """One call on ``rows`` (one test's inputs each), as :meth:`run` makes the calls of
        :meth:`groups`: a batch of all of them, or (``batched=False``) one test alone."""
        if not batched and len(rows) != 1:
            raise ValueError("an unbatched call takes one row")
        item = self._plan(list(range(len(rows))), rows, batched=batched)
        reply = self._run([item])[0]
        with np.errstate(invalid="ignore"):  # (see _outcomes)
            outcomes = self._outcomes(item, reply)
        self.other_output += [o.output for o in outcomes if o.output]
        return outcomes

    def call(self, inputs: dict[str, FloatArray]) -> Outcome:
        """Call on one test's inputs and check the result's shape and dtype (as a batch of one
        row when the candidate is batched and there is no temperature)."""
        return self.call_group([inputs], batched=self.batch and not _has_keywords(inputs))[0]

    # ---------------------------------------------------------------- helpers

    def _skipped(self, inputs: dict[str, FloatArray]) -> bool:
        """Whether a test is skipped by policy: a temperature, sink or soft-cap the candidate
        does not take."""
        return any(self._refused(inputs, name) for name in KEYWORD_INPUTS)

    def _refused(self, inputs: dict[str, FloatArray], name: str) -> bool:
        return name in inputs and not self.pass_keyword[name]

    def _run(self, plan: Sequence[_Planned]) -> list[Reply]:
        replies = self.caller.run([item.call for item in plan])
        for reply in replies:
            self.seconds += reply.seconds
            self.calls += int(reply.ran)
        return replies

    def _run_watched(self, plan: Sequence[_Planned]) -> list[Reply]:
        """The replies to ``plan``, in order; after a run of ``max_identical_failures`` alike
        failures that the spot checks confirm, the rest are "not-run" and :attr:`stopped` says
        why. Calls go to the caller at most as many at a time as the run lacks to be complete,
        so that it stops at the limit exactly, even in a worker answering chunks of calls."""
        limit = self.max_identical_failures
        if not limit:
            return self._run(plan)
        replies: list[Reply | None] = [None] * len(plan)
        run = _FailureRun()
        pos = 0
        while pos < len(plan):
            reply = replies[pos]
            if reply is not None:  # answered: take it into the run, in test order
                run.add(pos, plan[pos], reply)
                pos += 1
            elif run.length >= limit:
                checks = _spot_checks(plan, replies, pos, run.lengths)
                self._answer(plan, replies, checks)
                if all(run.same(plan[j], replies[j]) for j in checks):
                    return self._stop(plan, replies, run, len(checks))
                run.exempt.add(run.pattern)  # fails on some rows only: never stops the run
                run.restart()
            else:
                waiting = (j for j in range(pos, len(plan)) if replies[j] is None)
                self._answer(plan, replies, list(itertools.islice(waiting, limit - run.length)))
        return [r for r in replies if r is not None]

    def _answer(
        self, plan: Sequence[_Planned], replies: list[Reply | None], positions: list[int]
    ) -> None:
        """Make the calls at ``positions`` of ``plan`` (one hand-over) and keep their replies."""
        for j, reply in zip(positions, self._run([plan[j] for j in positions]), strict=True):
            replies[j] = reply

    def _stop(
        self, plan: Sequence[_Planned], replies: list[Reply | None], run: _FailureRun, checks: int
    ) -> list[Reply]:
        """All replies, the calls not made "not-run", after ``run`` stopped the run."""
        problem = f"not run: stopped after {run.length} identical failures"
        skipped = [i for i, r in enumerate(replies) if r is None]
        tests = sum(len(plan[i].indices) for i in skipped)
        start = "" if run.start == 0 else f" from tcId {plan[run.start].tc_ids[0]}"
        spot = f", {checks} spot check{'s' * (checks != 1)} further on"
        self.stopped = (
            f"the candidate {run.describe()} on every call{start} ({run.length} in a row{spot}): "
            f"stopped, {tests} test{'s' * (tests != 1)} not run"
        )
        for i in skipped:
            replies[i] = Reply("not-run", problem=problem, ran=False)
        return [r for r in replies if r is not None]

    def _plan(
        self, indices: list[int], rows: Sequence[dict[str, FloatArray]], *, batched: bool
    ) -> _Planned:
        k = int(rows[0]["z"].shape[-1])
        dtype = self.fmt.numpy_dtype
        if batched:
            args = [np.stack([row[n] for row in rows]).astype(dtype) for n in INPUT_KEYS[self.op]]
            kwargs: dict[str, float] = {}
        else:
            args = [np.asarray(rows[0][n]).astype(dtype) for n in INPUT_KEYS[self.op]]
            kwargs = {}
            for name in KEYWORD_INPUTS:  # one row per call: its own T, sink, soft-cap
                if name in rows[0]:
                    kwargs[name] = float(np.asarray(rows[0][name]))
        count = len(rows) if batched else None
        call = Call(self.target, args, kwargs, self._shapes(k, count), dtype, self.fmt.name)
        return _Planned(indices, call, count, k)

    def _shapes(self, k: int, count: int | None) -> dict[str, list[tuple[int, ...]]]:
        """The result shapes a call on rows of length ``k`` may return, by key (``count``: the
        rows of a batched call); one dict per (k, count), shared by the calls (read only)."""
        found = self._accepted_shapes.get((k, count))
        if found is None:
            found = {}
            for key in EXPECTED_KEYS[self.op]:
                want = expected_shape(self.op, key, k)
                accepted = [want, ()] if want == (1,) else [want]
                if count is not None:
                    accepted = [(count, *s) for s in accepted]
                found[key] = accepted
            self._accepted_shapes[(k, count)] = found
        return found

    def _outcomes(self, item: _Planned, reply: Reply) -> list[Outcome]:
        count = len(item.indices)
        if reply.parts is None:
            kind = reply.status if reply.status != "ok" else "shape"
            first = Outcome(None, kind, reply.problem, reply.seconds, reply.output)
            return [first] + [Outcome(None, kind, reply.problem) for _ in range(count - 1)]
        outputs = {}
        for key, array in reply.parts.items():
            want = expected_shape(self.op, key, item.k)
            per_row = want if item.rows is None else (item.rows, *want)
            # (the callers ignore "invalid": converting a signalling NaN raises it)
            outputs[key] = array.astype(np.float64).reshape(per_row)
        if item.rows is None:
            return [Outcome(outputs, seconds=reply.seconds, output=reply.output)]
        share = reply.seconds / count
        return [
            Outcome(
                {key: arr[i] for key, arr in outputs.items()},
                seconds=share,
                output=reply.output if i == 0 else "",
            )
            for i in range(count)
        ]


@dataclass
class _FailureRun:
    """The current run of alike failures among the replies, in test order: their pattern
    (:func:`_pattern`), how many, where it started, the row lengths it met, and the patterns
    that the spot checks showed to fail on some rows only (``exempt``: they never count)."""

    pattern: str = ""
    kind: str = ""
    problem: str = ""
    length: int = 0
    start: int = 0
    lengths: set[int] = field(default_factory=set)
    exempt: set[str] = field(default_factory=set)

    def add(self, pos: int, item: _Planned, reply: Reply) -> None:
        """Count the reply at plan position ``pos``: it extends the run or starts a new one."""
        pattern = _pattern(item, reply)
        if not pattern or pattern in self.exempt:
            self.restart()
            return
        if pattern != self.pattern:
            self.restart()
            self.pattern, self.kind, self.start = pattern, reply.status, pos
        self.problem = reply.problem
        self.length += 1
        self.lengths.add(item.k)

    def same(self, item: _Planned, reply: Reply | None) -> bool:
        """Whether ``reply`` to ``item`` failed as the run did."""
        return reply is not None and _pattern(item, reply) == self.pattern

    def restart(self) -> None:
        self.pattern, self.kind, self.problem, self.length = "", "", "", 0
        self.lengths = set()

    def describe(self) -> str:
        """What the candidate did, for 'the candidate … on every call': "raised
        TypeError('no kernel')", "returned float64 for float32 input", "returned output of
        shape (1, K), expected (K,),"."""
        if self.kind == "exception":
            name, _, text = self.problem.removeprefix("raised ").partition(": ")
            return f"raised {name}({text!r})" if text else f"raised {name}()"
        returned = returned_dtype(self.problem) if self.kind == "dtype" else ""
        if returned:
            return returned
        shape = _WRONG_SHAPE.fullmatch(self.pattern.partition(":")[2])
        if shape:
            return f"returned {shape['key']} of shape {shape['got']}, expected {shape['want']},"
        return f"failed with “{self.pattern.partition(':')[2]}”"


def returned_dtype(problem: str) -> str:
    """A wrong-dtype problem (:func:`part_problem`'s message) said once for a whole report:
    "returned float64 for float32 input" ("… as grad …" for a part other than the output);
    "" for any other problem."""
    dtype = _WRONG_DTYPE.fullmatch(problem)
    if not dtype:
        return ""
    part = "" if dtype["key"] == "output" else f" as {dtype['key']}"
    return f"returned {dtype['got']}{part} for {dtype['want']} input"


def _pattern(item: _Planned, reply: Reply) -> str:
    """What makes two failures alike: "kind:problem", with a shape problem's K and B written as
    such (a (1, K) result is the same problem for every K); "" for a reply that cannot count."""
    if reply.status not in ALIKE_KINDS:
        return ""
    if reply.status != "shape":
        return f"{reply.status}:{reply.problem}"

    def symbol(number: re.Match[str]) -> str:
        value = int(number.group())
        return "K" if value == item.k else "B" if value == item.rows else number.group()

    generic = _SHAPE_TUPLE.sub(lambda t: re.sub(r"\d+", symbol, t.group()), reply.problem)
    return f"shape:{generic}"


def _spot_checks(
    plan: Sequence[_Planned], replies: Sequence[Reply | None], pos: int, lengths: set[int]
) -> list[int]:
    """Up to SPOT_CHECKS positions from ``pos`` on not called yet, spread evenly: the first test
    of each row length not in ``lengths``, or when there is none, any test."""
    waiting = [j for j in range(pos, len(plan)) if replies[j] is None]
    first: dict[int, int] = {}
    for j in waiting:
        first.setdefault(plan[j].k, j)
    pool = [j for k, j in first.items() if k not in lengths] or waiting
    if len(pool) <= SPOT_CHECKS:
        return pool
    step = (len(pool) - 1) / (SPOT_CHECKS - 1)
    return sorted({pool[round(i * step)] for i in range(SPOT_CHECKS)})


def _which(tc_ids: Sequence[int]) -> str:
    """'tcId 12', or 'a batched call of 40 tests (tcIds 3, 4, 5, …)'."""
    if len(tc_ids) == 1:
        return f"tcId {tc_ids[0]}"
    shown = ", ".join(str(t) for t in tc_ids[:3]) + (", …" if len(tc_ids) > 3 else "")
    return f"a batched call of {len(tc_ids)} tests (tcIds {shown})"
