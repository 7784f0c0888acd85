"""Running a candidate in a worker process: the validator's side.

A candidate is hostile until proven otherwise: it may call ``sys.exit`` or ``os._exit``, abort,
segfault, hang in C code holding the GIL, print, or ``os.chdir``. :class:`IsolatedCaller`
imports and calls it in a worker process (:mod:`~symsoftmax.validation.worker`, a fresh
interpreter talking over two pipes in the frames of :mod:`~symsoftmax.validation.wire`), so
this process alone judges, writes the reports and sets the exit status:

* calls are sent in chunks (up to ``CHUNK_CALLS`` calls or ``CHUNK_BYTES`` of inputs per round
  trip) and answered one reply per call, so a crash on one call keeps the replies before it;
* each call has ``timeout`` seconds (counted from the previous reply); on overrun the worker's
  process group is killed (SIGKILL) and the call is reported "timed out after T s (worker
  killed)";
* a worker that ends during a call is reported "worker exited with code N" or "worker killed by
  signal SIGSEGV (code −11)" (the candidate adds "during tcId 12"), with what it printed;
* the next call starts a fresh worker and the run goes on. Two limits stop it, after which the
  remaining calls are "not run": ``max_killed`` (3) workers killed on a timeout or failing to
  restart — each costs up to ``timeout`` seconds, and a candidate that hangs once tends to hang
  again — and ``max_crashes`` (25) workers that ended during a call: a crash is cheap to report
  (a restart costs a fraction of a second) and a candidate that crashes on one class of inputs
  should still be judged on the rest;
* the import of the target has ``timeout`` seconds too (after NumPy and the framework are
  loaded, which have ``BOOT_LIMIT``); when the first start fails — the target cannot be
  imported, raises, exits or hangs at import — :class:`~symsoftmax.errors.InputError` says why.

The worker's cwd is this process's at start; whatever it does to its own cwd, this process's
stays, so relative report paths keep their meaning.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

import symsoftmax
from symsoftmax.errors import InputError
from symsoftmax.validation.runner import (
    KEYWORD_INPUTS,
    Call,
    Reply,
    check_timeout,
    part_problem,
)
from symsoftmax.validation.sandbox import landlock_abi
from symsoftmax.validation.wire import (
    OUTPUT_SHOWN,
    Deadline,
    FrameReader,
    ProtocolError,
    array_spec,
    captured_text,
    decode_array,
    encode,
    write_all,
)

__all__ = ["BOOT_LIMIT", "IsolatedCaller", "target_reference"]

BOOT_LIMIT = 120.0  # seconds for a fresh interpreter to import NumPy and the framework
CHUNK_CALLS = 256
CHUNK_BYTES = 8 << 20
REPLY_STATUSES = ("ok", "exception", "shape", "dtype")
WORKER_COMMAND = (sys.executable, "-m", "symsoftmax.validation.worker")


def target_reference(fn: Callable[..., Any] | str) -> str:
    """``module:qualname`` (or ``path/file.py:qualname``) by which a worker can import ``fn``;
    a string is taken as such a reference. InputError for lambdas, local functions and objects
    that their module does not expose under their name."""
    if isinstance(fn, str):
        return fn
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    shown = f"{module_name}.{qualname}" if module_name else repr(fn)
    if not module_name or not qualname or "<" in qualname:
        raise InputError(
            f"isolate=True needs a function importable by name (module:function); "
            f"{shown} is a lambda, a local function or has no module"
        )
    module = sys.modules.get(module_name)
    value: Any = module
    for part in qualname.split("."):
        value = getattr(value, part, None)
    if module is None or value is not fn:
        raise InputError(f"isolate=True: {shown} is not reachable under that name in its module")
    spec = getattr(module, "__spec__", None)
    name = spec.name if spec is not None else None
    if name and name != "__main__" and _importable(name):
        return f"{name}:{qualname}"
    path = getattr(module, "__file__", None)
    if not path:
        raise InputError(f"isolate=True: the module of {shown} has no file to import it from")
    return f"{path}:{qualname}"


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class _StartFailed(Exception):
    """A worker could not be made ready (the message says why)."""


class _Worker:
    """One running worker process: its pipes, its capture file, its frame reader.

    ``private``: the worker's private folder (its TMPDIR; the only place a sandboxed worker
    may write), or None for a worker that keeps the validator's temporary folder.
    """

    def __init__(self, private: str | None) -> None:
        self.capture: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        flags = fcntl.fcntl(self.capture.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(self.capture.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        request_read, self.request = os.pipe()
        self.reply, reply_write = os.pipe()
        env = dict(os.environ)
        if private is not None:
            env.update(TMPDIR=private, TEMP=private, TMP=private, PYTHONDONTWRITEBYTECODE="1")
        package_root = str(Path(symsoftmax.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        try:
            self.process = subprocess.Popen(
                [*WORKER_COMMAND, str(request_read), str(reply_write)],
                stdin=subprocess.DEVNULL,
                stdout=self.capture,
                stderr=self.capture,
                pass_fds=(request_read, reply_write),
                start_new_session=True,  # its own process group: killed as one, no terminal ^C
                env=env,
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        os.set_blocking(self.request, False)
        os.set_blocking(self.reply, False)
        self.reader = FrameReader(self.reply)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def exit_problem(self) -> str:
        """How the worker ended (waiting briefly for it, then killing it)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "worker closed its pipe and was killed"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"worker killed by signal {signal.Signals(-code).name} (code {code})"
        return f"worker exited with code {code}"

    def leftover_output(self) -> str:
        """What the worker printed since its last reply (read after it ended)."""
        fd = self.capture.fileno()
        total = os.fstat(fd).st_size
        return captured_text(os.pread(fd, min(total, OUTPUT_SHOWN), 0), total) if total else ""

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        for fd in (self.request, self.reply):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.capture.close()


class IsolatedCaller:
    """Runs calls of ``targets`` (``module:function`` or ``file.py:function`` references) in a
    worker process; see the module docstring. Use as a context manager, or :meth:`close`.
    ``attention``: the keywords of :func:`symsoftmax.testing.attention_as_softmax` with which the
    worker wraps the first target (an attention function) into a softmax candidate."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        framework: str = "numpy",
        timeout: float | None = 10.0,
        max_killed: int = 3,
        max_crashes: int = 25,
        attention: dict[str, Any] | None = None,
        sandbox: bool = True,
    ) -> None:
        self.targets = list(targets)
        # The sandbox (symsoftmax.validation.sandbox) where the platform has one: required then,
        # so that a run that loaded trusted files never runs its candidate unsandboxed.
        self.sandbox_required = sandbox and landlock_abi() > 0
        self.sandbox = ""  # what the worker applied (its description), "" for none
        self._private = (
            tempfile.mkdtemp(prefix="symsoftmax-worker-") if self.sandbox_required else None
        )
        self.framework = framework
        self.attention = attention
        self.timeout = check_timeout(timeout)
        self.max_killed = max_killed
        self.max_crashes = max_crashes
        self.killed = 0  # workers killed on a timeout, or that failed to restart
        self.crashed = 0  # workers that ended (exit, signal, garbled reply) during a call
        self.import_output = ""
        self._keywords: list[frozenset[str]] = []  # per target: the keyword inputs it takes
        self._worker: _Worker | None = None
        problem = self._start()
        if problem:
            raise InputError(problem)

    # ---------------------------------------------------------------- Caller

    def accepts_temperature(self, target: int) -> bool:
        return self.accepts_keyword(target, "temperature")

    def accepts_keyword(self, target: int, name: str) -> bool:
        """Whether the target's signature takes ``name`` (temperature, sink or softcap), as
        the worker found it on import: the in-process caller's rule, so that ``validate
        file.py:fn`` in auto mode passes the keywords a function takes."""
        return name in self._keywords[target]

    @property
    def exhausted(self) -> bool:
        return self.killed >= self.max_killed or self.crashed >= self.max_crashes

    @property
    def lost(self) -> int:
        """Workers lost so far, killed or crashed."""
        return self.killed + self.crashed

    def run(self, calls: Sequence[Call]) -> list[Reply]:
        """One reply per call, in order."""
        replies: list[Reply] = []
        while len(replies) < len(calls):
            if self.exhausted:
                problem = (
                    f"not run: {self.killed} workers killed (timed out or failed to restart)"
                    if self.killed >= self.max_killed
                    else f"not run: the worker ended {self.crashed} times during a call"
                )
                rest = len(calls) - len(replies)
                replies += [Reply("not-run", problem=problem, ran=False) for _ in range(rest)]
                break
            if self._worker is None:
                problem = self._start()
                if problem:
                    self.killed += 1
                    problem = f"not run: worker restart failed: {problem}"
                    replies.append(Reply("not-run", problem=problem, ran=False))
                    continue
            start = len(replies)
            stop, size = start + 1, _input_bytes(calls[start])
            while stop < len(calls) and stop - start < CHUNK_CALLS:
                size += _input_bytes(calls[stop])
                if size > CHUNK_BYTES:
                    break
                stop += 1
            replies += self._exchange(calls[start:stop])
        return replies

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
            self._private = None

    def __enter__(self) -> IsolatedCaller:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- the worker

    def _start(self) -> str:
        """Start a worker and import the targets; "" when ready, else the problem."""
        worker = _Worker(self._private)
        try:
            header = self._greet(worker)
        except _StartFailed as exc:
            worker.close()
            return str(exc)
        self._keywords = [frozenset(names) for names in header["keywords"]]
        self.sandbox = header["sandbox"]
        self.import_output = self.import_output or str(header.get("output", ""))[:OUTPUT_SHOWN]
        self._worker = worker
        return ""

    def _greet(self, worker: _Worker) -> dict[str, Any]:
        """Send the setup and wait for the worker to be ready (its "ready" header)."""
        shown = " and ".join(self.targets)
        setup = {
            "sys_path": sys.path,
            "framework": self.framework,
            "targets": self.targets,
            "attention": self.attention,
            "sandbox": self._private,
        }
        late = f"worker did not start within {BOOT_LIMIT:g} s"
        try:
            if not write_all(worker.request, encode(setup, []), Deadline(BOOT_LIMIT)):
                raise _StartFailed(late)
            got = worker.reader.read(Deadline(BOOT_LIMIT), max_body=0)
            if got is None:
                raise _StartFailed(late)
            if got[0].get("status") == "booted":  # the import of the targets is timed
                got = worker.reader.read(Deadline(self.timeout), max_body=0)
                if got is None:
                    raise _StartFailed(
                        f"import of {shown} did not finish within {self.timeout:g} s (killed)"
                    )
        except EOFError:
            problem = f"{worker.exit_problem()} while importing {shown}"
            output = " ".join(worker.leftover_output().split())[:300]
            raise _StartFailed(problem + (f"; it printed: {output}" if output else "")) from None
        except ProtocolError as exc:
            raise _StartFailed(f"worker sent a malformed greeting ({exc})") from None
        except OSError as exc:
            raise _StartFailed(f"worker could not start: {exc}") from None
        header = got[0]
        if header.get("status") == "error":
            raise _StartFailed(str(header.get("problem", "the worker could not start"))[:1000])
        keywords = header.get("keywords")
        applied = header.get("sandbox")
        if not isinstance(applied, str) or (self.sandbox_required and not applied):
            raise _StartFailed("worker sent a malformed greeting (no sandbox)")
        if header.get("status") != "ready" or not (
            isinstance(keywords, list)
            and len(keywords) == len(self.targets)
            and all(
                isinstance(names, list) and all(name in KEYWORD_INPUTS for name in names)
                for names in keywords
            )
        ):
            raise _StartFailed("worker sent a malformed greeting")
        return header

    def _exchange(self, chunk: Sequence[Call]) -> list[Reply]:
        """Send ``chunk`` in one request; its replies, up to the first lost-worker reply."""
        worker = self._worker
        assert worker is not None
        specs = []
        arrays = []
        for call in chunk:
            arrays += call.args
            specs.append(
                {
                    "target": call.target,
                    "args": [array_spec(np.ascontiguousarray(a)) for a in call.args],
                    "kwargs": call.kwargs,
                    "shapes": {k: [list(s) for s in v] for k, v in call.shapes.items()},
                    "format": call.format_name,
                }
            )
        replies: list[Reply] = []
        deadline = Deadline(self.timeout)
        try:
            if not write_all(worker.request, encode({"calls": specs}, arrays), deadline):
                return [self._lose("timeout", self._timed_out())]
        except OSError:  # the worker is gone (EPIPE)
            return [self._lose("crashed", worker.exit_problem())]
        for index, call in enumerate(chunk):
            try:
                got = worker.reader.read(deadline, max_body=_output_bytes(call))
                if got is None:
                    return [*replies, self._lose("timeout", self._timed_out())]
                replies.append(_decode(got[0], got[1], index, call))
            except EOFError:
                return [*replies, self._lose("crashed", worker.exit_problem())]
            except ProtocolError as exc:
                return [*replies, self._lose("crashed", f"worker sent a malformed reply ({exc})")]
            deadline = Deadline(self.timeout)
        return replies

    def _timed_out(self) -> str:
        return f"timed out after {self.timeout:g} s (worker killed)"

    def _lose(self, status: str, problem: str) -> Reply:
        """The reply for the call during which the worker was lost; the worker is killed."""
        worker = self._worker
        assert worker is not None
        worker.kill()
        output = worker.leftover_output()
        worker.close()
        self._worker = None
        if status == "timeout":
            self.killed += 1
        else:
            self.crashed += 1
        seconds = self.timeout if status == "timeout" and self.timeout else 0.0
        return Reply(status, problem=problem, seconds=seconds, output=output)


def _input_bytes(call: Call) -> int:
    return sum(int(a.nbytes) for a in call.args)


def _output_bytes(call: Call) -> int:
    """The largest body a correct reply to ``call`` can have."""
    most = 0
    for shapes in call.shapes.values():
        most += max(math.prod(s) for s in shapes) * call.dtype.itemsize
    return most


def _decode(header: dict[str, Any], body: memoryview, index: int, call: Call) -> Reply:
    """The Reply a worker's frame describes; ProtocolError for anything inconsistent."""
    status = header.get("status")
    seconds = header.get("seconds", 0.0)
    if (
        header.get("index") != index
        or status not in REPLY_STATUSES
        or not isinstance(seconds, int | float)
        or not 0 <= seconds < math.inf
    ):
        raise ProtocolError(f"unexpected reply header {str(header)[:200]}")
    output = str(header.get("output", ""))[: 2 * OUTPUT_SHOWN]
    if status != "ok":
        problem = str(header.get("problem", ""))[:1000]
        return Reply(status, problem=problem, seconds=float(seconds), output=output)
    specs = header.get("arrays")
    if not isinstance(specs, list) or len(specs) != len(call.shapes):
        raise ProtocolError("reply lists the wrong number of arrays")
    parts = {}
    offset = 0
    for key, spec in zip(call.shapes, specs, strict=True):
        if not isinstance(spec, dict) or spec.get("key") != key:
            raise ProtocolError(f"reply array {str(spec)[:100]} is not {key!r}")
        array = decode_array(spec, body, offset, call.dtype)
        offset += array.nbytes
        kind, problem = part_problem(key, array.shape, str(array.dtype), call)
        if kind:
            raise ProtocolError(f"reply array breaks the call's expectations: {problem}")
        parts[key] = array
    if offset != len(body):
        raise ProtocolError("reply body longer than its arrays")
    return Reply("ok", parts, seconds=float(seconds), output=output)
