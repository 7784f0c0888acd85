"""The worker process that runs a candidate for the validator (the child side of isolation).

Started by :class:`~symsoftmax.validation.isolation.IsolatedCaller` as
``python -m symsoftmax.validation.worker REQUEST_FD REPLY_FD``, with stdin from /dev/null and
stdout and stderr (fds 1 and 2) on a capture file, so that everything the candidate prints, from
Python or from C, lands there; after each call the worker reads what was written, sends it with
the reply and empties the file. Frames (:mod:`~symsoftmax.validation.wire`):

1. request: ``{"sys_path", "framework", "targets": ["module:function", ...], "attention",
   "sandbox"}`` (``attention``: null, or the keywords of
   :func:`symsoftmax.testing.attention_as_softmax` with which the first target, an attention
   function, is wrapped into a softmax candidate; ``sandbox``: null, or the private folder to
   which the worker confines its writes, :mod:`~symsoftmax.validation.sandbox`, before it
   imports anything of the candidate's);
2. reply ``{"status": "booted"}`` once NumPy and the framework are imported, then
   ``{"status": "ready", "keywords": [[name, ...], ...], "sandbox": description, "output"}``
   once the targets are (for each target, the keyword inputs of
   :data:`~symsoftmax.validation.runner.KEYWORD_INPUTS`, temperature, sink and softcap, that
   its signature takes: the validator passes a test's keyword inputs only to a target that
   takes them, as it does in process), or
   ``{"status": "error", "problem"}`` when one cannot be loaded;
3. then, any number of times: request ``{"calls": [{"target", "args", "kwargs", "shapes",
   "format"}, ...]}`` (the args' bytes in the body), answered by one reply per call, in order:
   ``{"index", "status", "problem", "seconds", "output", "arrays"}`` with the result's arrays
   (converted to NumPy here, so torch and jax are imported only in this process). The worker
   sends an array's bytes only when its shape and dtype are what the call expects; the
   validator checks them again.

Every exception of the candidate, whatever its class (SystemExit, KeyboardInterrupt, a custom
BaseException), is that call's reply. The worker runs in its own session (a Ctrl-C in the
terminal reaches the validator, which kills it); its files are limited to ``FILE_LIMIT`` bytes
(the capture file included: a call that prints more gets an OSError).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import resource
import signal
import sys
import time
from typing import Any

import numpy as np

from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation.adapters import get_adapter
from symsoftmax.validation.runner import (
    KEYWORD_INPUTS,
    Call,
    accepts_keyword,
    one_line,
    part_problem,
    raised_problem,
    split_result,
)
from symsoftmax.validation.sandbox import restrict_writes
from symsoftmax.validation.target import load_target
from symsoftmax.validation.wire import (
    OUTPUT_SHOWN,
    Deadline,
    FrameReader,
    array_spec,
    captured_text,
    decode_array,
    encode,
    write_all,
)

FILE_LIMIT = 1 << 30  # bytes: any file the worker writes, the capture file included


def main(argv: list[str]) -> int:
    request_fd, reply_fd = int(argv[1]), int(argv[2])
    capture_fd = os.dup(1)  # kept even if the candidate closes or redirects fd 1
    faulthandler.enable(file=sys.stderr)  # a segfault's Python traceback lands in the capture
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))

    reader = FrameReader(request_fd)
    got = reader.read(Deadline(None), max_body=0)
    assert got is not None
    setup = got[0]
    sys.path[:] = setup["sys_path"]
    sandbox = ""
    if setup.get("sandbox") is not None:  # before the framework and the candidate are imported
        try:
            sandbox = restrict_writes([setup["sandbox"]])
        except OSError as exc:
            problem = f"could not sandbox the worker ({exc}); --no-sandbox runs it unsandboxed"
            _send(reply_fd, {"status": "error", "problem": problem})
            return 0

    try:
        adapter = get_adapter(setup["framework"])
    except InputError as exc:
        _send(reply_fd, {"status": "error", "problem": str(exc)})
        return 0
    _send(reply_fd, {"status": "booted"})  # the time limit applies from here on
    fns = []
    try:
        for ref in setup["targets"]:
            fns.append(load_target(ref))
    except InputError as exc:
        _send(reply_fd, {"status": "error", "problem": str(exc)})
        return 0
    except BaseException as exc:  # SystemExit at import, etc.
        _send(reply_fd, {"status": "error", "problem": f"import {one_line(exc)}"})
        return 0
    if setup.get("attention") is not None:
        fns[0], adapter = _as_attention(fns[0], setup["attention"])
    _send(
        reply_fd,
        {
            "status": "ready",
            "keywords": [_keywords(fn) for fn in fns],
            "sandbox": sandbox,
            "output": _take_output(capture_fd),
        },
    )
    while True:
        try:
            got = reader.read(Deadline(None), max_body=1 << 40)
        except EOFError:
            return 0
        assert got is not None
        header, body = got
        offset = 0
        for index, spec in enumerate(header["calls"]):
            offset = _answer(index, spec, body, offset, fns, adapter, reply_fd, capture_fd)


def _answer(
    index: int,
    spec: dict[str, Any],
    body: memoryview,
    offset: int,
    fns: list[Any],
    adapter: Any,
    reply_fd: int,
    capture_fd: int,
) -> int:
    """Run one call and send its reply; the offset of the next call's arrays in ``body``."""
    fmt = get_format(spec["format"])
    dtype = np.dtype(fmt.numpy_dtype)
    inputs = []
    for arg in spec["args"]:
        inputs.append(decode_array(arg, body, offset, dtype).copy())  # writable, like in-process
        offset += arg["nbytes"]
    shapes = {key: [tuple(s) for s in accepted] for key, accepted in spec["shapes"].items()}
    call = Call(spec["target"], inputs, spec["kwargs"], shapes, dtype, fmt.name)
    reply: dict[str, Any] = {"index": index, "status": "ok", "problem": "", "arrays": []}
    arrays: list[Any] = []
    args = [adapter.to_framework(a) for a in inputs]
    start = time.perf_counter()
    try:
        with np.errstate(all="ignore"):  # the candidate's own overflow warnings
            value = fns[call.target](*args, **call.kwargs)
    except BaseException as exc:  # whatever it raises is this call's verdict
        status, problem = raised_problem(exc)  # a wrapper's WrongResult is a shape problem
        reply.update(status=status, problem=problem)
    else:
        reply["seconds"] = time.perf_counter() - start
        try:
            parts, problem = split_result(value, list(shapes), adapter)
        except BaseException as exc:  # a hostile result object
            parts, problem = {}, f"result could not be read ({one_line(exc)})"
        if problem:
            reply.update(status="shape", problem=problem)
        for key, array in parts.items():
            kind, problem = part_problem(key, array.shape, str(array.dtype), call)
            if kind:
                reply.update(status=kind, problem=problem, arrays=[])
                arrays = []
                break
            arrays.append(np.ascontiguousarray(array))
            reply["arrays"].append(array_spec(array, key=key))
    reply.setdefault("seconds", time.perf_counter() - start)
    reply["output"] = _take_output(capture_fd)
    _send(reply_fd, reply, arrays)
    return offset


def _keywords(fn: Any) -> list[str]:
    """The keyword inputs (temperature, sink, softcap) that ``fn``'s signature takes."""
    return [name for name in KEYWORD_INPUTS if accepts_keyword(fn, name)]


def _as_attention(fn: Any, options: dict[str, Any]) -> tuple[Any, Any]:
    """``fn`` wrapped as a softmax candidate by :func:`symsoftmax.testing.attention_as_softmax`
    with ``options`` (its keywords), and the adapter for its calls: it takes NumPy rows and
    builds the kernel's tensors itself."""
    from symsoftmax.validation.attention import attention_as_softmax

    return attention_as_softmax(fn, **options), get_adapter("numpy")


def _take_output(capture_fd: int) -> str:
    """What was printed since the last call (flushed from Python and C buffers); empties it."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(BaseException):  # the candidate may have replaced or closed it
            stream.flush()  # type: ignore[union-attr]
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)  # C stdio buffers (printf from an extension)
    total = os.fstat(capture_fd).st_size
    data = os.pread(capture_fd, min(total, OUTPUT_SHOWN), 0) if total else b""
    os.ftruncate(capture_fd, 0)  # the file is in append mode: the next write starts at 0
    return captured_text(data, total) if total else ""


def _send(fd: int, header: dict[str, Any], arrays: list[Any] | None = None) -> None:
    write_all(fd, encode(header, arrays or []), Deadline(None))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
