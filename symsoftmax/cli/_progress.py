"""The progress bar of the commands that compute reference values (vectors, validate, exhaustive).

The library reports progress through a callback that receives
:class:`symsoftmax.vectors.builder.ProgressStep`\\ s; this turns them into a transient rich
progress bar on stderr, drawn only when stderr is a terminal (piped or captured output stays
clean). The bar is shown from a file's first step to its last only, as the work it measures.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from symsoftmax.vectors.builder import Progress, ProgressStep

__all__ = ["progress_bar"]


class _Bar:
    """A rich progress bar started at a file's first step and closed at its last."""

    def __init__(self) -> None:
        self._live: Any = None  # the running rich Progress, between a first and a last step
        self._task: Any = None

    def __call__(self, step: ProgressStep) -> None:
        if self._live is None:
            self._start(step)
        self._live.update(self._task, completed=step.done)
        if step.done >= step.total:
            self.close()

    def _start(self, step: ProgressStep) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),  # the ETA: long for exhaustive runs
        )
        self._live = Progress(*columns, console=Console(stderr=True), transient=True)
        self._live.start()
        self._task = self._live.add_task(step.label, total=step.total)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A progress callback that draws a bar on stderr (a terminal), else None; the block's end
    (or an error in it) closes a bar left open."""
    if not sys.stderr.isatty():
        yield None
        return
    bar = _Bar()
    try:
        yield bar
    finally:
        bar.close()
