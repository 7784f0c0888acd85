"""Validation of softmax implementations against correctly rounded reference vectors.

``symsoftmax.validate(fn, op="softmax", dtype="float32", suite="quick")`` calls ``fn`` on every
test, measures each output's error in ulps against the exact value and its normwise relative
error, judges it by a pass rule (by default the Blanchard–Higham–Higham bound of the shifted
algorithm), checks properties (sum to one, range, monotonicity, shift and permutation
invariance, determinism) and returns a :class:`ValidationReport`. ``score`` does the same for
outputs computed elsewhere (any language) and stored as JSON. See docs/validation.md.

Modules: metrics (ulp and normwise errors), bounds, checks (pass rules), properties, runner
(calls, time limits, shape and dtype checks, batching), isolation and worker (the candidate in
a worker process: the CLI always, ``validate(..., isolate=True)``), wire (their framing),
adapters (torch, jax), sources (vectors and their cache), report, plot, score, target (a
candidate named ``module:function`` or ``file.py:function``, loaded for validate and the worker).
"""

from __future__ import annotations

from symsoftmax.validation.checks import PASS_MODES, PassRule
from symsoftmax.validation.core import judge, validate
from symsoftmax.validation.properties import PropertyResult
from symsoftmax.validation.report import TestResult, ValidationReport
from symsoftmax.validation.score import read_outputs, score

__all__ = [
    "PASS_MODES",
    "PassRule",
    "PropertyResult",
    "TestResult",
    "ValidationReport",
    "judge",
    "read_outputs",
    "score",
    "validate",
]
