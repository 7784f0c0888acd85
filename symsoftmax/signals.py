"""SIGINT and SIGTERM held back while code runs that must not be interrupted by their handlers.

An exception that a signal handler raises inside an extension module's import surfaces as an
ImportError (NumPy's), or is printed and swallowed by the module's initialization (older
python-flint builds: the command then went on, a traceback on stderr and the signal lost). So
while such imports run, a signal is only recorded, and its own handler is called after.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

__all__ = ["signals_held"]


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back while the block runs, then let their handler raise (the
    CLI: while the parser is built and parses, importing a command's modules; an optional
    extension's import). Signals without a Python handler (ignored, or the default action)
    are left alone, and so is everything outside the main thread."""
    pending: list[int] = []
    handlers: dict[int, Any] = {}
    try:
        for deferred in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(deferred)
            if callable(handler):
                signal.signal(deferred, lambda signum, frame: pending.append(signum))
                handlers[deferred] = handler
    except ValueError:  # not the main thread: nothing was installed
        pass
    try:
        yield
    finally:
        for number, previous in handlers.items():
            signal.signal(number, previous)
    if pending:
        handlers[pending[0]](pending[0], None)  # raises KeyboardInterrupt or Terminated
