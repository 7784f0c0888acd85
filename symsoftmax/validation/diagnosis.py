"""What a candidate's failures are consistent with: findings derived from the evidence.

A failing report says which tests failed and by how much; a finding says what the failures
have in common, from how they fail — the inputs of the failing tests, the outputs the
candidate returned, and the same outputs judged again under a changed pass rule — never from
the candidate's name, and never by calling it again (issue 20 §4). Each finding is a
:class:`Finding` (``cause``, ``detail``, ``hint``, the tests it explains); the causes:

* ``nan-dropped``: a NaN input gave a non-NaN output where every allowed answer is NaN
  ([max, NaN, 0] → [0, NaN, 0], or a plausible row): a NaN-ignoring max or sum;
* ``masked-leak``: a −inf input (a masked entry) got a nonzero probability or a finite
  log-probability that no allowed answer has: the mask ignored, or a finite mask value;
* ``inf-clamped``: a +inf input gave what the row with +inf replaced by the format's largest
  value gives ([inf, max] → [½, ½]): a clamp, or a saturating conversion;
* ``flush-to-zero``: the other failing tests all pass when a zero may stand for a subnormal
  result (the rule with ``ftz``);
* ``narrow-accumulation``: 16-bit data whose other failing tests all pass the per-component
  bound of a kernel whose state is the data's format (``KernelClass(state=fmt)``, ``--state``)
  instead of float32;
* ``float32-compute``: float64 data whose failing tests with inputs float32 can hold all pass
  the bound of a float32-state kernel, with errors at float32's unit roundoff (their median
  over those tests at least u/16 of float32); the tests whose inputs float32 cannot hold are
  counted, not judged (their values were rounded before anything was computed);
* ``wrong-dtype``: calls returned another dtype than the input's, said once for the report
  ("returned float64 for float32 input on 160 tests") where each test says "wrong dtype".

The first three explain the tests they name; the re-judging ones speak for the failing tests
left, and need all of them to pass (one cause for all, or no finding). A correct candidate has
no failing test, and so no finding.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from symsoftmax.formats import Format, get_format
from symsoftmax.validation.checks import PassRule, PreparedTest, componentwise_reasons, evaluate
from symsoftmax.validation.componentwise import COMPONENTWISE_OPS
from symsoftmax.validation.runner import Outcome, returned_dtype


class TestResult(Protocol):
    """What the diagnosis reads of a test's result (validation.report.TestResult; a protocol,
    so that report, which renders the findings, and this module do not import each other)."""

    tc_id: int
    status: str
    inputs: dict[str, Any]
    expected: dict[str, Any]
    got: dict[str, Any] | None
    rel_error: float


__all__ = ["CAUSES", "Diagnosis", "Finding", "diagnose", "shown_row"]

CAUSES = (
    "nan-dropped",
    "masked-leak",
    "inf-clamped",
    "flush-to-zero",
    "narrow-accumulation",
    "float32-compute",
    "wrong-dtype",
)
FloatArray = npt.NDArray[np.float64]
CLUSTER = 1 / 16  # float32-compute: the median error, in float32's u, that makes a cluster


@dataclass(frozen=True)
class Finding:
    """One thing the failures are consistent with: ``cause`` (one of :data:`CAUSES`), the
    evidence in one sentence (``detail``), what to do about it (``hint``), and the tests it
    explains (``tc_ids``)."""

    cause: str
    detail: str
    hint: str
    tc_ids: tuple[int, ...] = ()

    def text(self) -> str:
        return f"{self.detail} ({self.hint})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "detail": self.detail,
            "hint": self.hint,
            "tcIds": list(self.tc_ids),
        }


class Diagnosis(list[Finding]):
    """The findings of a report, in order; ``str()`` is their one-line rendering."""

    def text(self, *, said: str = "") -> str:
        """The findings joined by "; ", leaving out a wrong dtype that ``said`` (the report's
        stopped line, which names it) already says."""
        shown = [f for f in self if not (f.cause == "wrong-dtype" and _says(said, f))]
        return "; ".join(f.text() for f in shown)

    def __str__(self) -> str:
        return self.text()

    def to_list(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self]


def _says(text: str, finding: Finding) -> bool:
    """Whether ``text`` already says a wrong-dtype finding ("returned X for Y input")."""
    return bool(text) and finding.detail.partition(" on ")[0] in text


def shown_row(values: FloatArray, limit: int = 4) -> str:
    """A short decimal display of a row (elided in the middle when long)."""
    flat = [f"{v:.6g}" for v in np.asarray(values, dtype=np.float64).ravel().tolist()]
    if len(flat) > limit:
        flat = [*flat[: limit // 2], f"…{len(flat)}…", *flat[-(limit // 2) :]]
    return "[" + ", ".join(flat) + "]"


# ------------------------------------------------------------------ the whole diagnosis


@dataclass
class _Evidence:
    """What the finders read: the run's tests, outcomes and results, and how it was judged."""

    prepared: Sequence[PreparedTest]
    outcomes: Sequence[Outcome]
    results: Sequence[TestResult]
    op: str
    fmt: Format
    rule: PassRule

    def passing(self, indices: Sequence[int], rule: PassRule) -> list[bool]:
        """Whether each test at ``indices`` passes under ``rule``: its recorded outputs judged
        again (the candidate is not called)."""
        subset = [self.prepared[i] for i in indices]
        outputs = [self.outcomes[i].outputs for i in indices]
        judged = componentwise_reasons(subset, outputs, self.op, self.fmt, rule)
        return [
            got is not None and evaluate(item, got, self.op, self.fmt, rule, judged=r).passed
            for item, got, r in zip(subset, outputs, judged, strict=True)
        ]


def diagnose(
    prepared: Sequence[PreparedTest],
    outcomes: Sequence[Outcome],
    results: Sequence[TestResult],
    op: str,
    fmt: Format,
    rule: PassRule,
) -> Diagnosis:
    """The findings on a judged run (see the module doc), in the order of :data:`CAUSES`."""
    evidence = _Evidence(prepared, outcomes, results, op, fmt, rule)
    failing = [i for i, r in enumerate(results) if r.status == "fail" and r.got is not None]
    found = [finder(evidence, failing) for finder in _ENTRY_FINDERS]
    explained = {tc for f in found if f for tc in f.tc_ids}
    rest = [i for i in failing if results[i].tc_id not in explained]
    if rest:
        rejudged = _flush_to_zero(evidence, rest, len(rest) < len(failing))
        found.append(rejudged or _narrow_state(evidence, rest))
    return Diagnosis([*(f for f in found if f), *_wrong_dtypes(outcomes, results)])


# ------------------------------------------------------------------ per-entry evidence


def _answers(item: PreparedTest, key: str) -> list[FloatArray]:
    """Output ``key`` of every allowed answer of a test, the expected one first."""
    return [np.asarray(outputs[key], dtype=np.float64) for _, outputs, _ in item.answers()]


def _entry_finding(
    evidence: _Evidence,
    failing: Sequence[int],
    shows: Callable[[_Evidence, int], bool],
    cause: str,
    what: str,
    hint: str,
) -> Finding | None:
    """A finding of ``cause`` for the failing tests where ``shows`` holds: "consistent with
    {what}", with their count and the first as the example."""
    tests = [i for i in failing if shows(evidence, i)]
    if not tests:
        return None
    first = evidence.results[tests[0]]
    got = next(iter(first.got.values())) if first.got else np.empty(0)
    example = f"tcId {first.tc_id}: {shown_row(first.inputs['z'])} → {shown_row(got)}"
    count = f"{len(tests)} failing test{'s' * (len(tests) != 1)}"
    return Finding(
        cause,
        f"consistent with {what} on {count} ({example})",
        hint,
        tuple(evidence.results[i].tc_id for i in tests),
    )


def _drops_nan(evidence: _Evidence, i: int) -> bool:
    """A NaN input, and a non-NaN output where every allowed answer is NaN."""
    result = evidence.results[i]
    if result.got is None or not any(np.isnan(v).any() for v in result.inputs.values()):
        return False
    for key, got in result.got.items():
        due = np.logical_and.reduce([np.isnan(a) for a in _answers(evidence.prepared[i], key)])
        if (due & ~np.isnan(np.asarray(got).reshape(due.shape))).any():
            return True
    return False


def _leaks_mask(evidence: _Evidence, i: int) -> bool:
    """A −inf input (in a row without NaN) whose output is a nonzero probability (softmax) or
    a finite log-probability (log_softmax) where no allowed answer has one: a fully masked row
    too, whose answers are NaN or 0 / −inf."""
    result = evidence.results[i]
    if evidence.op not in ("softmax", "log_softmax") or result.got is None:
        return False
    z = np.asarray(result.inputs["z"], dtype=np.float64)
    if np.isnan(z).any() or not np.isneginf(z).any():
        return False
    weight = _nonzero if evidence.op == "softmax" else np.isfinite
    answers = _answers(evidence.prepared[i], "output")
    allowed = np.logical_or.reduce([weight(a) for a in answers])
    got = np.asarray(result.got["output"], dtype=np.float64)
    return bool((np.isneginf(z) & weight(got) & ~allowed).any())


def _nonzero(values: FloatArray) -> npt.NDArray[np.bool_]:
    """Finite and not zero: a probability that gives weight."""
    return np.isfinite(values) & (values != 0)


def _clamps_inf(evidence: _Evidence, i: int) -> bool:
    """A +inf input (no NaN), finite outputs, and those outputs are, within a few units of
    the format's roundoff, the op of the row with +inf replaced by the format's largest value
    (computed here in float64)."""
    result = evidence.results[i]
    z = np.asarray(result.inputs["z"], dtype=np.float64)
    if evidence.op not in COMPONENTWISE_OPS or result.got is None or "temperature" in result.inputs:
        return False
    got = np.asarray(result.got["output"], dtype=np.float64).ravel()
    if not np.isposinf(z).any() or np.isnan(z).any() or not np.isfinite(got).all():
        return False
    clamped = _op_in_float64(evidence.op, np.where(np.isposinf(z), evidence.fmt.max, z))
    scale = max(float(np.abs(clamped).max(initial=0.0)), evidence.fmt.tiny)
    tolerance = max(8 * evidence.fmt.unit_roundoff, 1e-9) * scale
    return got.shape == clamped.shape and bool((np.abs(got - clamped) <= tolerance).all())


def _op_in_float64(op: str, z: FloatArray) -> FloatArray:
    """softmax, log_softmax or logsumexp of a row with no +inf and no NaN, in float64 (the
    shifted algorithm: an approximation for comparing, not a reference)."""
    with np.errstate(all="ignore"):
        m = z.max()
        total = np.exp(z - m).sum()
        if op == "softmax":
            return np.exp(z - m) / total
        if op == "log_softmax":
            return z - m - np.log(total)
        return np.array([m + np.log(total)])


_NAN_HINT = (
    "a NaN-ignoring max or sum (fmax, nanmax, nansum; IEEE 754-2019 maximumNumber) loses it: "
    "IEEE 754-2019 maximum (§9.6) and plain sums propagate NaN"
)
_MASK_HINT = (
    "the mask ignored, or a finite mask value that real logits reach: mask with −inf, or zero "
    "the masked weights"
)
_CLAMP_HINT = (
    "an input clamp or a saturating conversion: +inf must take all the weight (or give NaN)"
)

_ENTRY_FINDERS: tuple[Callable[[_Evidence, Sequence[int]], Finding | None], ...] = (
    lambda e, f: _entry_finding(e, f, _drops_nan, "nan-dropped", "dropping NaN", _NAN_HINT),
    lambda e, f: _entry_finding(
        e, f, _leaks_mask, "masked-leak", "masked (−inf) entries leaking", _MASK_HINT
    ),
    lambda e, f: _entry_finding(
        e, f, _clamps_inf, "inf-clamped", "+inf clamped to the format's largest value", _CLAMP_HINT
    ),
)


# ------------------------------------------------------------------ re-judged evidence


def _flush_to_zero(evidence: _Evidence, rest: Sequence[int], others: bool) -> Finding | None:
    """Every test of ``rest`` passes when zeros may stand for subnormal results."""
    if evidence.rule.ftz or not all(_has_flushed(evidence.results[i], evidence.fmt) for i in rest):
        return None  # a test without a flushed zero cannot pass by --ftz: no need to judge
    if not all(evidence.passing(rest, dataclasses.replace(evidence.rule, ftz=True))):
        return None
    which = f"the {len(rest)} other failing tests" if others else f"all {len(rest)} failing tests"
    return Finding(
        "flush-to-zero",
        f"consistent with flush-to-zero: {which} pass when subnormal results may be 0",
        "rerun with --ftz if the hardware flushes",
        tuple(evidence.results[i].tc_id for i in rest),
    )


def _has_flushed(result: TestResult, fmt: Format) -> bool:
    """Whether an output is 0 where the expected value is subnormal (what ``ftz`` forgives)."""
    for key, expected in result.expected.items():
        got = result.got[key] if result.got is not None else None
        if got is None or np.shape(got) != np.shape(expected):
            continue
        exp = np.asarray(expected, dtype=np.float64)
        if ((np.asarray(got) == 0) & (exp != 0) & (np.abs(exp) < fmt.tiny)).any():
            return True
    return False


def _narrower_state(fmt: Format, rule: PassRule) -> Format | None:
    """The narrower state a kernel may have computed in: float32 under a float64 state,
    the data's own format under a wider state (16-bit data, float32 state); None otherwise."""
    state = rule.kernel.state_format(fmt)
    if state.precision > 24:
        return get_format("float32")
    return fmt if fmt.precision < state.precision else None


def _held(z: FloatArray, fmt: Format) -> bool:
    """Whether every value of ``z`` is one of ``fmt`` (NaN and ±inf included)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        cast = z.astype(fmt.numpy_dtype).astype(np.float64)
    return bool(np.array_equal(cast, z, equal_nan=True))


def _narrow_state(evidence: _Evidence, rest: Sequence[int]) -> Finding | None:
    """The failing tests of ``rest`` that fail the per-component bound of the rule's kernel
    class all pass the bound of the same class with a narrower state (the failing tests
    whose inputs that state holds, for float64 data), their errors clustered at its u."""
    fmt, rule = evidence.fmt, evidence.rule
    narrow = _narrower_state(fmt, rule)
    if narrow is None or evidence.op not in COMPONENTWISE_OPS:
        return None
    bound = PassRule(ftz=rule.ftz, kernel=rule.kernel)
    failing = rest if rule.mode == "bound" else _failing_under(evidence, rest, bound)
    held = [i for i in failing if _held(evidence.results[i].inputs["z"], narrow)]
    narrowed = dataclasses.replace(
        bound, kernel=dataclasses.replace(rule.kernel, state=narrow.name)
    )
    if not held or not all(evidence.passing(held, narrowed)):
        return None
    errors = [evidence.results[i].rel_error / narrow.unit_roundoff for i in held]
    median = statistics.median(errors)
    if not median >= CLUSTER:  # errors far below the narrow u: not its rounding
        return None
    return _narrow_finding(evidence, fmt, narrow, held, len(failing) - len(held), median)


def _failing_under(evidence: _Evidence, indices: Sequence[int], rule: PassRule) -> list[int]:
    return [i for i, ok in zip(indices, evidence.passing(indices, rule), strict=True) if not ok]


def _narrow_finding(
    evidence: _Evidence,
    fmt: Format,
    narrow: Format,
    held: Sequence[int],
    unheld: int,
    median: float,
) -> Finding:
    """The narrow-state finding: float32-compute for float64 data, else narrow-accumulation."""
    tc_ids = tuple(evidence.results[i].tc_id for i in held)
    tests = f"{len(held)} failing test{'s' * (len(held) != 1)}"
    passes = f"pass the bound of a {narrow.name}-state kernel (median error {median:.3g} u of "
    passes += f"{narrow.name})"
    if narrow is not fmt:
        others = f"; {unheld} other failing tests have inputs {narrow.name} cannot hold" * bool(
            unheld
        )
        return Finding(
            "float32-compute",
            f"consistent with computing in {narrow.name}: the {tests} whose inputs "
            f"{narrow.name} holds {passes}{others}",
            f"compute in {fmt.name}, or validate it as a {narrow.name} kernel "
            f"(--dtype {narrow.name})",
            tc_ids,
        )
    return Finding(
        "narrow-accumulation",
        f"consistent with accumulating in {narrow.name}: the {tests} {passes}",
        f"if it accumulates in {narrow.name} by design, judge it so: --state {narrow.name} "
        f"(KernelClass(state={narrow.name!r}))",
        tc_ids,
    )


# ------------------------------------------------------------------ call problems


def _wrong_dtypes(outcomes: Sequence[Outcome], results: Sequence[TestResult]) -> list[Finding]:
    """One finding per wrong dtype returned ("returned float64 for float32 input"), for the
    summary; each test's own reason stays short."""
    said = [returned_dtype(o.problem) if o.kind == "dtype" else "" for o in outcomes]
    counts = Counter(text for text in said if text)
    return [
        Finding(
            "wrong-dtype",
            f"{text} on {count} test{'s' * (count != 1)}",
            "return the input's dtype: cast the result, or compute in it",
            tuple(r.tc_id for r, t in zip(results, said, strict=True) if t == text),
        )
        for text, count in counts.items()
    ]
