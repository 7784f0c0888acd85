"""``--resume FILE``: the tally so far, rewritten atomically after every finished task.

The file holds the run's identity (op, dtype, K, pass rule, candidate, shard) and the tally; a
run resumed with another identity is refused (one line), and a run resumed from it skips the
rows it covers. Nothing in it is evaluated: it is JSON, read through
:func:`symsoftmax.jsonfile.load_json`.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

from symsoftmax.atomic import check_target, write_atomic
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import load_json
from symsoftmax.sweep.tally import Tally

if TYPE_CHECKING:
    from symsoftmax.sweep.report import ExhaustiveReport

__all__ = ["Checkpoint"]

SAVE_EVERY = 5.0  # seconds between two writes (the last write is always made)


class Checkpoint:
    """A checkpoint file for one run (see the module docstring)."""

    def __init__(self, path: str, report: ExhaustiveReport) -> None:
        check_target(path)
        self.path = path
        self.identity = {**report.identity(), "shard": list(report.shard)}
        self._saved = 0.0

    def load(self) -> Tally:
        """The tally in the file, or an empty one if there is no file yet."""
        if not os.path.exists(self.path):
            return Tally()
        data = load_json(self.path)
        if not isinstance(data, dict) or data.get("identity") != self.identity:
            raise InputError(f"{self.path}: a checkpoint of another run (op, dtype, K, rule, …)")
        try:
            return Tally.from_json(data["tally"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{self.path}: malformed checkpoint") from None

    def save(self, tally: Tally, *, force: bool = False) -> None:
        """Write the tally (at most every SAVE_EVERY seconds unless forced, or when complete)."""
        now = time.monotonic()
        if not force and now - self._saved < SAVE_EVERY:
            return
        document = {"identity": self.identity, "tally": tally.to_json()}
        write_atomic(self.path, json.dumps(document) + "\n")
        self._saved = now
