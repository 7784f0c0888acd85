"""Python's cyclic garbage collector paused while the package builds large acyclic structures.

Loading a suite creates about a million objects (the JSON document, its value lists, the tests,
their results); each allocation past the collector's threshold starts a collection that walks
the objects made so far, none of which is garbage (they hold no reference cycles: freed by
reference counting when dropped). Paused, loading and judging a standard suite took ~8 % less
(docs/performance.md, "Loading a suite"). A candidate's calls are never made inside: its code
may make cycles, which the collector must keep finding.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

__all__ = ["paused", "while_paused"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the collector disabled, and restore its state after (nested uses
    leave it disabled until the outermost ends)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def while_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fn`` run inside :func:`paused`."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with paused():
            return fn(*args, **kwargs)

    return wrapper
