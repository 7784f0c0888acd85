"""``--resume FILE``: the tally so far, rewritten atomically after every finished task.

The file holds the run's identity — candidate, the digest of its source file, the symsoftmax
version, op, dtype, K, pass rule, shard — and the tally. A run resumed with another identity is
refused (one line): rows judged before the candidate's file was edited, or by another version of
the judge, do not count. The tally is reconciled as a report's is
(:func:`symsoftmax.sweep.reconcile.read_tally`), its ranges inside the shard; a run resumed
from it skips the rows it covers, once the candidate has reproduced its recorded rows and a
sample of its rows (:mod:`symsoftmax.sweep.recheck`, called by the run). Nothing in it is
evaluated: it is JSON, read through :func:`symsoftmax.jsonfile.load_json`.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from symsoftmax.atomic import check_target, write_atomic
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import load_json
from symsoftmax.rounding import brief_repr
from symsoftmax.sweep.reconcile import TALLY_KEYS, Field, read_tally, require_keys
from symsoftmax.sweep.tally import Tally

if TYPE_CHECKING:
    from symsoftmax.sweep.report import ExhaustiveReport

__all__ = ["Checkpoint"]

SAVE_EVERY = 5.0  # seconds between two writes (the last write is always made)


class Checkpoint:
    """A checkpoint file for one run (see the module docstring)."""

    def __init__(self, path: str, report: ExhaustiveReport) -> None:
        check_target(path)
        if report.source is None:
            raise InputError(
                f"--resume {path}: cannot read the source file of {report.candidate} here, and "
                "a checkpoint must tell an edited candidate from the one it was made with"
            )
        self.path = path
        self.identity = {**report.identity(), "shard": list(report.shard)}
        self.report = report
        self._saved = 0.0

    def load(self) -> Tally:
        """The tally in the file, reconciled, or an empty one if there is no file yet."""
        if not os.path.exists(self.path):
            return Tally()
        at = Field(self.path)
        data = require_keys(load_json(self.path), ("identity", "tally"), at)
        self._check_identity(data["identity"], at / "identity")
        tally = require_keys(data["tally"], TALLY_KEYS, at / "tally")
        report = self.report
        return read_tally(tally, report.space, report.op, report.shard_range, at / "tally")

    def _check_identity(self, identity: Any, at: Field) -> None:
        """The file's identity is this run's, field by field and type by type (1 is not 1.0)."""
        ours = self.identity
        if not isinstance(identity, dict) or set(identity) != set(ours):
            at.fail("a checkpoint of another run (not the fields of a run's identity)")
        for key, value in ours.items():
            if _canonical(identity[key]) != _canonical(value):
                (at / key).fail(
                    f"a checkpoint of another run: {brief_repr(identity[key])}, "
                    f"this run's is {brief_repr(value)}"
                    + (" (the candidate's file was edited)" if key == "source" else "")
                )

    def save(self, tally: Tally, *, force: bool = False) -> None:
        """Write the tally (at most every SAVE_EVERY seconds unless forced, or when complete)."""
        now = time.monotonic()
        if not force and now - self._saved < SAVE_EVERY:
            return
        document = {"identity": self.identity, "tally": tally.to_json()}
        write_atomic(self.path, json.dumps(document) + "\n")
        self._saved = now


def _canonical(value: Any) -> str:
    """JSON text with sorted keys: equal only for the same values of the same JSON types."""
    return json.dumps(value, sort_keys=True)
