"""Calling a candidate function safely: time limits, exceptions, shape and dtype checks, batching.

Each call runs on a worker thread and is waited for at most ``timeout`` seconds. Python cannot
stop a thread, so a call that overruns is *abandoned*: its test is reported as a timeout, the
worker is replaced by a fresh one for the next call, and the abandoned call goes on in the
background (a daemon thread: it never keeps the process alive) and its result is discarded.
After ``max_hung`` abandoned calls the remaining tests are not run (reported "not run"), so a
candidate that hangs on everything cannot pile up threads. A call that holds the GIL in a C loop
cannot be abandoned at all; run such candidates in a separate process (the CLI is one).
``timeout=None`` calls the candidate on the caller's thread, with no limit.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.validation.adapters import Adapter
from symsoftmax.vectors.model import EXPECTED_KEYS, INPUT_KEYS, TestCase, expected_shape

__all__ = ["CallGuard", "Candidate", "Outcome"]

FloatArray = npt.NDArray[np.float64]
TEMPERATURE_POLICIES = ("auto", "keyword", "skip")


@dataclass
class Outcome:
    """What one call produced for one test: outputs, or the problem (kind and message)."""

    outputs: dict[str, FloatArray] | None
    kind: str = ""  # "", "exception", "timeout", "shape", "dtype", "not-run", "skipped"
    problem: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outputs is not None


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


class CallGuard:
    """Runs calls with a time limit (see the module docstring for what happens to a hung call)."""

    def __init__(self, timeout: float | None = 10.0, max_hung: int = 3) -> None:
        if timeout is not None and not timeout > 0:
            raise InputError(f"timeout must be positive, got {timeout!r}")
        self.timeout = timeout
        self.max_hung = max_hung
        self.hung = 0
        self._worker: _Worker | None = None

    @property
    def exhausted(self) -> bool:
        return self.hung >= self.max_hung

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any, float]:
        """("ok", value, seconds), ("raised", exception, seconds) or ("timeout", None, seconds)."""
        if self.timeout is None:
            start = time.perf_counter()
            try:
                with np.errstate(all="ignore"):
                    value = fn(*args, **kwargs)
            except Exception as exc:
                return "raised", exc, time.perf_counter() - start
            return "ok", value, time.perf_counter() - start
        if self._worker is None:
            self._worker = _Worker()
        reply: queue.SimpleQueue[tuple[str, Any, float]] = queue.SimpleQueue()
        self._worker.jobs.put((fn, args, kwargs, reply))
        try:
            status, value, seconds = reply.get(timeout=self.timeout)
        except queue.Empty:
            self._worker = None  # abandon it: the hung call keeps that thread
            self.hung += 1
            return "timeout", None, self.timeout
        if status == "raised" and not isinstance(value, Exception):
            raise value  # KeyboardInterrupt, SystemExit: not the candidate's verdict
        return status, value, seconds


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"raised {type(exc).__name__}: {text}" if text else f"raised {type(exc).__name__}"


def _accepts_temperature(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "temperature" or p.kind is p.VAR_KEYWORD for p in params)


class Candidate:
    """A function under test: ``fn(z)``, ``fn(z, g)`` or ``fn(z, y)`` on 1-D arrays of the format.

    With ``batch=True`` the tests of equal K go in one call as 2-D arrays (rows along axis 0, the
    op along axis −1) and the result must be batched likewise. A test with a temperature passes it
    as the keyword ``temperature=`` (a Python float) when ``temperature="keyword"``, or "auto" and
    the function has such a parameter; otherwise the test is skipped.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        op: str,
        fmt: Format,
        adapter: Adapter,
        *,
        batch: bool = False,
        guard: CallGuard | None = None,
        temperature: str = "auto",
    ) -> None:
        if not callable(fn):
            raise InputError(f"candidate {fn!r} is not callable")
        if temperature not in TEMPERATURE_POLICIES:
            raise InputError(
                f"unknown temperature policy {temperature!r}; expected one of "
                f"{', '.join(TEMPERATURE_POLICIES)}"
            )
        self.fn = fn
        self.op = op
        self.fmt = fmt
        self.adapter = adapter
        self.batch = batch
        self.guard = guard or CallGuard()
        self.pass_temperature = temperature == "keyword" or (
            temperature == "auto" and _accepts_temperature(fn)
        )
        self.seconds = 0.0  # total time spent inside the candidate
        self.calls = 0

    # ---------------------------------------------------------------- public

    def run(self, tests: Sequence[TestCase]) -> list[Outcome]:
        """One outcome per test, in order."""
        outcomes: list[Outcome | None] = [None] * len(tests)
        batches: dict[int, list[int]] = {}
        for i, test in enumerate(tests):
            if "temperature" in test.inputs and not self.pass_temperature:
                outcomes[i] = Outcome(None, "skipped", "candidate takes no temperature")
            elif self.batch and "temperature" not in test.inputs:
                batches.setdefault(int(test.inputs["z"].shape[-1]), []).append(i)
            else:
                outcomes[i] = self.call(test.inputs)
        for indices in batches.values():
            results = self.call_batch([tests[i].inputs for i in indices])
            for i, outcome in zip(indices, results, strict=True):
                outcomes[i] = outcome
        return [o if o is not None else Outcome(None, "not-run", "not run") for o in outcomes]

    def call(self, inputs: dict[str, FloatArray]) -> Outcome:
        """Call on one test's inputs and check the result's shape and dtype (as a batch of one
        row when the candidate is batched and there is no temperature)."""
        if self.batch and "temperature" not in inputs:
            return self.call_batch([inputs])[0]
        k = int(inputs["z"].shape[-1])
        args = [self._to_candidate(inputs[name]) for name in INPUT_KEYS[self.op]]
        kwargs = {}
        if "temperature" in inputs:
            kwargs["temperature"] = float(np.asarray(inputs["temperature"]))
        outcome = self._guarded(args, kwargs)
        if not isinstance(outcome, Outcome):
            return self._unpack(outcome[0], outcome[1], k, rows=None)
        return outcome

    def call_batch(self, rows: Sequence[dict[str, FloatArray]]) -> list[Outcome]:
        """Call once on stacked rows of equal K; one outcome per row."""
        k = int(rows[0]["z"].shape[-1])
        args = [
            self._to_candidate(np.stack([row[name] for row in rows]))
            for name in INPUT_KEYS[self.op]
        ]
        outcome = self._guarded(args, {})
        if isinstance(outcome, Outcome):
            return [Outcome(None, outcome.kind, outcome.problem) for _ in rows]
        value, seconds = outcome
        batched = self._unpack(value, seconds, k, rows=len(rows))
        if batched.outputs is None:
            return [Outcome(None, batched.kind, batched.problem) for _ in rows]
        share = seconds / len(rows)
        return [
            Outcome({key: arr[i] for key, arr in batched.outputs.items()}, seconds=share)
            for i in range(len(rows))
        ]

    # ---------------------------------------------------------------- helpers

    def _to_candidate(self, values: FloatArray) -> Any:
        return self.adapter.to_framework(np.asarray(values).astype(self.fmt.numpy_dtype))

    def _guarded(self, args: list[Any], kwargs: dict[str, Any]) -> Outcome | tuple[Any, float]:
        if self.guard.exhausted:
            return Outcome(None, "not-run", f"not run: {self.guard.hung} earlier calls hung")
        status, value, seconds = self.guard.call(self.fn, *args, **kwargs)
        self.seconds += seconds
        self.calls += 1
        if status == "timeout":
            return Outcome(
                None, "timeout", f"timed out after {seconds:g} s (call abandoned)", seconds
            )
        if status == "raised":
            return Outcome(None, "exception", _one_line(value), seconds)
        return value, seconds

    def _unpack(self, value: Any, seconds: float, k: int, rows: int | None) -> Outcome:
        keys = EXPECTED_KEYS[self.op]
        if len(keys) == 1:
            parts = {keys[0]: value}
        elif isinstance(value, dict) and set(keys) <= set(value):
            parts = {key: value[key] for key in keys}
        elif isinstance(value, tuple | list) and len(value) == len(keys):
            parts = dict(zip(keys, value, strict=True))
        else:
            return Outcome(
                None, "shape", f"returned {type(value).__name__}; expected a tuple {keys}", seconds
            )
        outputs: dict[str, FloatArray] = {}
        for key, part in parts.items():
            try:
                array = self.adapter.to_numpy(part)
            except Exception as exc:
                return Outcome(None, "shape", f"{key}: result not an array ({_one_line(exc)})")
            want = expected_shape(self.op, key, k)
            shapes = [want, ()] if want == (1,) else [want]
            if rows is not None:
                shapes = [(rows, *s) for s in shapes] + ([(rows, 1)] if want == (1,) else [])
            if array.shape not in shapes:
                shown = " or ".join(str(s) for s in shapes)
                return Outcome(
                    None, "shape", f"{key}: wrong shape {array.shape}, expected {shown}", seconds
                )
            if array.dtype != self.fmt.numpy_dtype:
                return Outcome(
                    None,
                    "dtype",
                    f"{key}: wrong dtype {array.dtype}, expected {self.fmt.name}",
                    seconds,
                )
            per_row = want if rows is None else (rows, *want)
            outputs[key] = array.astype(np.float64).reshape(per_row)
        return Outcome(outputs, seconds=seconds)
