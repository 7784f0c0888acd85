"""The verdict on one test: the candidate's outputs against the exact values, by pass rule.

Modes (:data:`PASS_MODES`, :class:`PassRule`):

* ``bound`` (default): softmax, log_softmax and logsumexp are judged **per component** against
  the bound derived for the declared kernel class (:mod:`symsoftmax.validation.componentwise`:
  each component within its own bound around one row-common factor); the other ops against the
  normwise bound below;
* ``normwise``: every output's normwise error within the bound of
  :mod:`symsoftmax.validation.bounds` (the published Blanchard–Higham–Higham bound of the
  shifted algorithm, or its probabilistic √n form where the worst case is vacuous);
* ``faithful``: every component under 1 ulp of its exact value;
* ``correctly-rounded``: every component equal to the correctly rounded value (0.5 ulp);
* ``max-ulp``: every component within ``max_ulp`` ulps.

In every mode NaN and ±inf must appear exactly where the correctly rounded output has them, and
an "acceptable" test passes when any one of its allowed answers passes (alternative answers are
compared against their own, correctly rounded, values). With ``ftz`` a zero where the correctly
rounded value is subnormal counts as right (hardware that flushes subnormal results).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.rounding import format_hex
from symsoftmax.validation.bounds import Bound, output_bounds
from symsoftmax.validation.componentwise import COMPONENTWISE_OPS, KernelClass, judge_rows
from symsoftmax.validation.metrics import ExactValues, normwise_error, special_mismatch, ulp_errors
from symsoftmax.vectors.decimals import remember_exact, remembered_exact
from symsoftmax.vectors.model import TestCase, VectorFile

__all__ = [
    "PASS_MODES",
    "Evaluation",
    "Measure",
    "OutputBatch",
    "PassRule",
    "PreparedTest",
    "RowProfile",
    "evaluate",
    "measure_many",
    "stack_outputs",
]

PASS_MODES = ("bound", "normwise", "faithful", "correctly-rounded", "max-ulp")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PassRule:
    """How a test passes: the mode, its ulp limit, and the flush-to-zero allowance.

    Built from user options as they come: ``max_ulp`` alone (the mode left at "bound") selects
    the max-ulp mode, so ``PassRule(max_ulp=4)`` is ``--max-ulp 4`` and ``PassRule("faithful",
    ftz=True)`` is ``--mode faithful --ftz``. An unknown mode, or max-ulp without a limit ≥ 0,
    is an InputError.
    """

    mode: str = "bound"
    max_ulp: float | None = None
    ftz: bool = False
    kernel: KernelClass = field(default_factory=KernelClass)  # the class the "bound" mode judges

    def __post_init__(self) -> None:
        if self.max_ulp is not None:  # frozen: the normal form is set through object
            object.__setattr__(self, "max_ulp", float(self.max_ulp))
            if self.mode == "bound":
                object.__setattr__(self, "mode", "max-ulp")
        if self.mode not in PASS_MODES:
            raise InputError(f"unknown mode {self.mode!r}; expected one of {', '.join(PASS_MODES)}")
        if self.mode == "max-ulp" and (self.max_ulp is None or not self.max_ulp >= 0):
            raise InputError("mode max-ulp needs a limit: max_ulp ≥ 0 (--max-ulp N)")

    def describe(self, op: str | None = None, fmt: Format | None = None) -> str:
        if self.mode == "bound" and (op is None or op in COMPONENTWISE_OPS):
            text = f"each component within the derived bound of {self.kernel.describe(fmt)}"
            return text + (", subnormal results may flush to zero" if self.ftz else "")
        text = {
            "bound": "within the Blanchard–Higham–Higham bound of the shifted algorithm",
            "normwise": "within the Blanchard–Higham–Higham bound of the shifted algorithm",
            "faithful": "faithful (every component under 1 ulp)",
            "correctly-rounded": "correctly rounded (every component equal to expected)",
            "max-ulp": f"every component within {self.max_ulp or 0:g} ulp",
        }[self.mode]
        return text + (", subnormal results may flush to zero" if self.ftz else "")


@dataclass(frozen=True)
class PreparedTest:
    """A test with its exact values parsed once (see :class:`ExactValues`)."""

    test: TestCase
    exact: dict[str, ExactValues]

    @classmethod
    def of(cls, test: TestCase) -> PreparedTest:
        return cls.of_all([test])[0]

    @classmethod
    def of_file(cls, vf: VectorFile) -> list[PreparedTest]:
        """:meth:`of` of every test of ``vf``, with the exact values that
        :func:`~symsoftmax.vectors.decimals.remember_exact` keeps for it (a loaded file's, a
        cached suite's), else parsed here (and kept)."""
        tests = list(vf.tests())
        exact = remembered_exact(vf)
        if exact is None or len(exact) != len(tests):
            prepared = cls.of_all(tests)
            remember_exact(vf, [item.exact for item in prepared])
            return prepared
        return [cls(test, values) for test, values in zip(tests, exact, strict=True)]

    @classmethod
    def of_all(cls, tests: Sequence[TestCase]) -> list[PreparedTest]:
        """:meth:`of` of every test, their exact values parsed together (one array parse)."""
        keys = [(test, key) for test in tests for key in test.expected]
        parsed = iter(
            ExactValues.parse_many(
                [test.exact[key] for test, key in keys],
                [f"tcId {test.tc_id} exact {key}" for test, key in keys],
            )
        )
        return [cls(test, {key: next(parsed) for key in test.expected}) for test in tests]

    def answers(self) -> list[tuple[str, dict[str, FloatArray], dict[str, ExactValues]]]:
        """(name, rounded outputs, exact values) of every allowed answer, the expected first."""
        test = self.test
        first = "expected"
        others = []
        for answer in test.acceptable:
            if _same_outputs(answer.outputs, test.expected):
                first = answer.name
                continue
            exact = {k: ExactValues.of_values(v) for k, v in answer.outputs.items()}
            others.append((answer.name, dict(answer.outputs), exact))
        return [(first, dict(test.expected), self.exact), *others]


def _same_outputs(a: Mapping[str, FloatArray], b: Mapping[str, FloatArray]) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(np.asarray(a[k]), np.asarray(b[k]), equal_nan=True) for k in a
    )


@dataclass
class Evaluation:
    """The verdict on one test's outputs."""

    passed: bool
    reason: str  # why it failed ("" when it passed)
    answer: str  # the allowed answer it was measured against
    ulp: float  # largest component error in ulps (inf for a misplaced NaN/inf)
    rel_error: float  # largest normwise relative error over the outputs
    worst_key: str
    worst_index: tuple[int, ...]
    bounds: dict[str, Bound] = field(default_factory=dict)
    bound_u: float = math.nan  # the primary output's bound, relative, in units of u
    ulps: dict[str, FloatArray] = field(default_factory=dict)  # every component's error

    @property
    def bound_form(self) -> str:
        forms = {b.form for b in self.bounds.values()}
        return "/".join(sorted(forms))


def evaluate(
    prepared: PreparedTest,
    got: Mapping[str, FloatArray],
    op: str,
    fmt: Format,
    rule: PassRule,
    *,
    judged: Mapping[str, str] | None = None,
    measured: Mapping[str, Measure] | None = None,
) -> Evaluation:
    """Judge ``got`` (float64 arrays of format values, keyed like ``expected``) by ``rule``.

    ``judged``: the per-component reasons of the expected answer's outputs, by key, already
    found for many tests at once (:func:`componentwise_reasons`); ``measured``: their errors,
    likewise (:func:`measure_many`); the same verdicts as one by one.
    """
    verdicts = [
        _evaluate_answer(
            name,
            expected,
            exact,
            prepared.test,
            got,
            op,
            fmt,
            rule,
            judged if i == 0 else None,
            measured if i == 0 else None,
        )
        for i, (name, expected, exact) in enumerate(prepared.answers())
    ]
    for verdict in verdicts:
        if verdict.passed:
            return verdict
    if len(verdicts) > 1:  # say why each allowed answer was not met
        verdicts[0].reason = "matches no allowed answer: " + "; ".join(
            f"{v.answer}: {v.reason}" for v in verdicts
        )
    return verdicts[0]


def _evaluate_answer(
    name: str,
    expected: Mapping[str, FloatArray],
    exact: Mapping[str, ExactValues],
    test: TestCase,
    got: Mapping[str, FloatArray],
    op: str,
    fmt: Format,
    rule: PassRule,
    judged: Mapping[str, str] | None = None,
    measured: Mapping[str, Measure] | None = None,
) -> Evaluation:
    u = fmt.unit_roundoff
    per_component = rule.mode == "bound" and op in COMPONENTWISE_OPS
    # the normwise bound judges (and is reported) only where the rule uses it
    bounds = (
        {}
        if per_component
        else output_bounds(op, test.inputs, {k: v.hi for k, v in exact.items()}, fmt, ftz=rule.ftz)
    )
    reasons: list[str] = []
    worst: tuple[float, str, tuple[int, ...]] = (-1.0, "", ())
    rel_max = 0.0
    bound_u = math.nan
    component_ulps: dict[str, FloatArray] = {}
    for key, exp_values in expected.items():
        exp_arr = np.asarray(exp_values, dtype=np.float64)
        ex = exact[key]
        found = measured.get(key) if measured is not None else None
        m = found if found is not None else _measure(got[key], exp_arr, ex, fmt, rule)
        g, errors, key_ulp, mismatch, abs_err, norm = (
            m.got,
            m.errors,
            m.key_ulp,
            m.mismatch,
            m.abs_err,
            m.norm,
        )
        component_ulps[key] = errors
        if key_ulp > worst[0]:
            worst = (key_ulp, key, m.index)
        rel = abs_err / norm if norm > 0 else (0.0 if abs_err == 0 else math.inf)
        rel_max = max(rel_max, rel)
        bound = bounds.get(key)
        if bound is not None and math.isnan(bound_u) and norm > 0:
            bound_u = bound.in_units_of_u(norm)
        if per_component and judged is not None and key in judged:
            # componentwise_reasons judges only rows without a NaN answer or a misplaced NaN/inf
            if judged[key]:
                reasons.append(judged[key])
            continue
        if mismatch.any():
            at = tuple(int(i) for i in np.argwhere(mismatch)[0])
            reasons.append(
                f"{key}{list(at)}: got {format_hex(g[at])}, expected {format_hex(exp_arr[at])}"
                f" ({int(mismatch.sum())} misplaced NaN/inf)"
            )
            continue
        if per_component:
            # a NaN answer (NaN inputs, IEEE inf − inf) is decided by where the NaNs are alone
            nan_answer = np.isnan(exp_arr).any()
            verdict = "" if nan_answer else _componentwise(test, g, ex, op, fmt, rule)
            if verdict:
                reasons.append(verdict)
        elif rule.mode in ("bound", "normwise") and bound is not None:
            if abs_err > bound.absolute * (1 + 1e-9):
                shown = (
                    f"error {abs_err / norm / u:.4g} u > bound {bound.in_units_of_u(norm):.4g} u"
                    if norm > 0
                    else f"error {abs_err:.3g} > bound {bound.absolute:.3g}"
                )
                reasons.append(f"{key}: normwise {shown} ({bound.form})")
        elif rule.mode == "correctly-rounded":
            differs = ~((g == exp_arr) | (np.isnan(g) & np.isnan(exp_arr)))
            if differs.any():
                reasons.append(
                    f"{key}: {int(differs.sum())} component(s) not correctly rounded, "
                    f"worst {key_ulp:.4g} ulp"
                )
        else:
            limit = 1.0 if rule.mode == "faithful" else float(rule.max_ulp or 0.0)
            too_far = errors >= limit if rule.mode == "faithful" else errors > limit
            if too_far.any():
                relation = "≥" if rule.mode == "faithful" else ">"
                reasons.append(f"{key}: {key_ulp:.4g} ulp {relation} {limit:g} ulp")
    ulp_value, worst_key, worst_index = worst
    return Evaluation(
        passed=not reasons,
        reason="; ".join(reasons),
        answer=name,
        ulp=max(ulp_value, 0.0),
        rel_error=rel_max,
        worst_key=worst_key,
        worst_index=worst_index,
        bounds=bounds,
        bound_u=bound_u,
        ulps=component_ulps,
    )


@dataclass(frozen=True)
class Measure:
    """The errors of one output key of a test against one answer (what the verdict reads)."""

    got: FloatArray  # the candidate's values in the expected shape (ftz applied)
    errors: FloatArray  # per component, in ulps (:func:`ulp_errors`)
    index: tuple[int, ...]  # where the largest is (the first such; () when there is none)
    key_ulp: float  # the largest (0.0 when there are no components)
    mismatch: npt.NDArray[np.bool_]  # misplaced NaN/inf (:func:`special_mismatch`)
    abs_err: float  # normwise (:func:`normwise_error`)
    norm: float


def _measure(
    values: FloatArray, expected: FloatArray, exact: ExactValues, fmt: Format, rule: PassRule
) -> Measure:
    """The :class:`Measure` of one output key, alone."""
    g = _candidate(values, expected, fmt, rule)
    errors = ulp_errors(g, exact, expected, fmt)
    index = np.unravel_index(int(np.argmax(errors)), errors.shape) if errors.size else ()
    key_ulp = float(errors[index]) if errors.size else 0.0
    abs_err, norm = normwise_error(g, exact, expected)
    return Measure(
        g,
        errors,
        tuple(int(i) for i in index),
        key_ulp,
        special_mismatch(g, expected),
        abs_err,
        norm,
    )


@dataclass(frozen=True)
class RowProfile:
    """Per test, what the report and the properties read off its rows, found for the tests of
    one length at once: the spread max − min of its finite logits (NaN without any), and
    whether every input and every expected value is finite."""

    spread: list[float]
    finite: list[bool]

    @classmethod
    def of(cls, prepared: Sequence[PreparedTest]) -> RowProfile:
        spread, finite = [math.nan] * len(prepared), [True] * len(prepared)
        by_length: dict[tuple[int, tuple[str, ...]], list[int]] = {}
        for i, item in enumerate(prepared):
            test = item.test
            group = (int(np.size(test.inputs["z"])), tuple(sorted(test.inputs)))
            by_length.setdefault(group, []).append(i)
        for (k, names), members in by_length.items():
            tests = [prepared[i].test for i in members]
            ok = np.ones(len(members), dtype=bool)
            for name in names:
                values = np.stack([np.asarray(t.inputs[name], dtype=np.float64) for t in tests])
                ok &= np.isfinite(values.reshape(len(members), -1)).all(axis=1)
            for key in tests[0].expected:
                values = np.stack([np.asarray(t.expected[key], dtype=np.float64) for t in tests])
                ok &= np.isfinite(values.reshape(len(members), -1)).all(axis=1)
            if k:
                z = np.stack([np.asarray(t.inputs["z"], dtype=np.float64) for t in tests])
                some = np.isfinite(z)
                with np.errstate(over="ignore"):  # beyond the largest double: +inf, rightly
                    width = np.where(some, z, -np.inf).max(axis=1)
                    width = width - np.where(some, z, np.inf).min(axis=1)
                width = np.where(some.any(axis=1), width, math.nan)
                for i, value in zip(members, width.tolist(), strict=True):
                    spread[i] = value
            for i, value in zip(members, ok.tolist(), strict=True):
                finite[i] = value
        return cls(spread, finite)


@dataclass(frozen=True)
class OutputBatch:
    """The outputs of one key of the tests whose rows have one length and one output shape,
    stacked (axis 0: the test), as :func:`measure_many` and :func:`componentwise_reasons` judge
    them: the candidate's (ftz applied, :func:`_candidate`), the expected and the exact ones."""

    key: str
    k: int
    shape: tuple[int, ...]
    tests: list[int]  # indices into the prepared tests
    got: FloatArray
    expected: FloatArray
    exact: ExactValues


def stack_outputs(
    prepared: Sequence[PreparedTest],
    outputs: Sequence[Mapping[str, FloatArray] | None],
    fmt: Format,
    rule: PassRule,
) -> list[OutputBatch]:
    """Every test's outputs (None: not run) grouped into :class:`OutputBatch` es. A key whose
    outputs are missing or of another size is left out (the evaluation names it), as is an
    output with no components."""
    groups: dict[tuple[str, int, tuple[int, ...]], list[tuple[int, FloatArray]]] = {}
    for i, (item, got) in enumerate(zip(prepared, outputs, strict=True)):
        if got is None:
            continue
        test = item.test
        k = int(np.asarray(test.inputs["z"]).size)
        for key, expected in test.expected.items():
            values = got.get(key)
            if values is None or np.size(values) != np.size(expected) or not np.size(expected):
                continue
            groups.setdefault((key, k, np.shape(expected)), []).append((i, values))
    batches = []
    for (key, k, shape), members in groups.items():
        tests = [i for i, _ in members]
        exact = [prepared[i].exact[key] for i in tests]
        expected = np.stack([np.asarray(prepared[i].test.expected[key]) for i in tests])
        stacked = np.stack([np.asarray(values).reshape(shape) for _, values in members])
        batches.append(
            OutputBatch(
                key,
                k,
                shape,
                tests,
                _candidate(stacked.astype(np.float64, copy=False), expected, fmt, rule),
                expected.astype(np.float64, copy=False),
                ExactValues(
                    np.stack([e.hi for e in exact]),
                    np.stack([e.lo_frac for e in exact]),
                    np.stack([e.lo_exp for e in exact]),
                ),
            )
        )
    return batches


def measure_many(
    prepared: Sequence[PreparedTest],
    outputs: Sequence[Mapping[str, FloatArray] | None],
    fmt: Format,
    rule: PassRule,
    batches: Sequence[OutputBatch] | None = None,
) -> list[dict[str, Measure]]:
    """The :class:`Measure` of every output key of every test against its expected answer,
    outputs of one shape stacked and measured at once: ulp_errors, special_mismatch and the
    normwise error are elementwise, and the row reductions (argmax, masked max) pick the same
    element as on one row, so each Measure is bit for bit the one :func:`_measure` gives
    (tests/test_batched_evaluate.py). Per test a dict by key; a key left out (no outputs, a
    shape the evaluation will reject, no components) is measured one by one by
    :func:`evaluate`. ``batches``: :func:`stack_outputs` of the same, when already made."""
    found: list[dict[str, Measure]] = [{} for _ in prepared]
    for batch in batches if batches is not None else stack_outputs(prepared, outputs, fmt, rule):
        measures = _measure_rows(batch.got, batch.expected, batch.exact, fmt, batch.shape)
        for i, measure in zip(batch.tests, measures, strict=True):
            found[i][batch.key] = measure
    return found


def _measure_rows(
    got: FloatArray, expected: FloatArray, exact: ExactValues, fmt: Format, shape: tuple[int, ...]
) -> list[Measure]:
    """:func:`_measure` of each of ``n`` stacked outputs of ``shape`` (axis 0: the test)."""
    n = got.shape[0]
    errors = ulp_errors(got, exact, expected, fmt)
    mismatch = special_mismatch(got, expected)
    flat = errors.reshape(n, -1)
    at = np.argmax(flat, axis=1)
    largest = flat[np.arange(n), at].tolist()
    indices = np.unravel_index(at, shape)
    finite = np.isfinite(expected).reshape(n, -1)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs((got - exact.hi) - exact.lo).reshape(n, -1)
        magnitude = np.abs(exact.hi).reshape(n, -1)
    some: npt.NDArray[np.bool_] = np.asarray(finite.any(axis=1))
    # the max over the finite components: another value can only be -inf, below any of them
    err = np.where(finite, diff, -np.inf).max(axis=1)
    norm = np.where(finite, magnitude, -np.inf).max(axis=1)
    beyond = (finite & ~np.isfinite(diff)).any(axis=1)  # normwise_error's ∞
    abs_err = np.where(beyond, np.inf, err)
    places = zip(*(axis.tolist() for axis in indices), strict=True)  # (shape is never ())
    rows = zip(places, largest, some.tolist(), abs_err.tolist(), norm.tolist(), strict=True)
    return [
        Measure(
            got[row],
            errors[row],
            place,
            key_ulp,
            mismatch[row],
            abs_row if any_finite else 0.0,
            norm_row if any_finite else 0.0,
        )
        for row, (place, key_ulp, any_finite, abs_row, norm_row) in enumerate(rows)
    ]


def _componentwise(
    test: TestCase, got: FloatArray, exact: ExactValues, op: str, fmt: Format, rule: PassRule
) -> str:
    """The reason the test's row fails its per-component bound ("" when it passes)."""
    z = np.asarray(test.inputs["z"], dtype=np.float64)[None]
    temperature = test.inputs.get("temperature")
    _, sink, softcap = _variant(test)
    verdict = judge_rows(
        op,
        z,
        np.asarray(exact.hi, dtype=np.float64).reshape(1, -1),
        np.asarray(exact.lo, dtype=np.float64).reshape(1, -1),
        np.asarray(got, dtype=np.float64).reshape(1, -1),
        fmt,
        rule.kernel,
        temperature=None if temperature is None else np.asarray([float(temperature)]),
        ftz=rule.ftz,
        sink=np.array([sink]),
        softcap=np.array([softcap]),
    )
    return "" if verdict.passed[0] else verdict.reasons[0]


_PLAIN = (1.0, math.nan, math.nan)  # the variant of a test without temperature, sink, soft-cap


def _variant(test: TestCase) -> tuple[float, float, float]:
    """The test's temperature (1 where it has none), attention sink and soft-cap (NaN where
    it has none)."""
    inputs = test.inputs
    if "temperature" not in inputs and "sink" not in inputs and "softcap" not in inputs:
        return _PLAIN  # (most tests)
    values = []
    for key in ("temperature", "sink", "softcap"):
        value = inputs.get(key)
        if value is None:
            values.append(1.0 if key == "temperature" else math.nan)
        else:
            values.append(float(np.asarray(value).reshape(-1)[0]))
    return values[0], values[1], values[2]


def _candidate(values: FloatArray, expected: FloatArray, fmt: Format, rule: PassRule) -> FloatArray:
    """The candidate's outputs of one key as float64 in the expected shape; with ``ftz``, a
    flushed subnormal result is taken as the correctly rounded one."""
    g = np.asarray(values, dtype=np.float64).reshape(expected.shape)
    if rule.ftz:
        flushed = (g == 0) & np.isfinite(expected) & (np.abs(expected) < fmt.tiny)
        g = np.where(flushed, expected, g)
    return g


def componentwise_reasons(
    prepared: Sequence[PreparedTest],
    outputs: Sequence[Mapping[str, FloatArray] | None],
    op: str,
    fmt: Format,
    rule: PassRule,
    batches: Sequence[OutputBatch] | None = None,
) -> list[dict[str, str]]:
    """The per-component verdicts of every test's expected answer, judged many rows at once.

    Rows of the same length go to :func:`judge_rows` together (it is row-independent: each
    row's verdict is the one it gets alone), which is what keeps the per-component rule as
    fast as the normwise one. Per test, the reason by output key ("" when it passes); a test
    left out (no outputs, a NaN answer, misplaced NaN/inf, a shape the evaluation will reject)
    is judged one by one by :func:`evaluate`. ``batches``: :func:`stack_outputs` of the same.
    """
    found: list[dict[str, str]] = [{} for _ in prepared]
    if rule.mode != "bound" or op not in COMPONENTWISE_OPS:
        return found
    for batch in batches if batches is not None else stack_outputs(prepared, outputs, fmt, rule):
        n = len(batch.tests)
        got, expected = batch.got.reshape(n, -1), batch.expected.reshape(n, -1)
        judged = ~(np.isnan(expected).any(axis=1) | special_mismatch(got, expected).any(axis=1))
        rows = np.flatnonzero(judged)
        if not rows.size:
            continue
        tests = [prepared[batch.tests[r]].test for r in rows.tolist()]
        variants = np.array([_variant(test) for test in tests]).reshape(-1, 3)
        verdict = judge_rows(
            op,
            np.stack([np.asarray(test.inputs["z"], dtype=np.float64) for test in tests]),
            batch.exact.hi.reshape(n, -1)[rows],
            batch.exact.lo.reshape(n, -1)[rows],
            got[rows],
            fmt,
            rule.kernel,
            temperature=variants[:, 0],
            ftz=rule.ftz,
            sink=variants[:, 1],
            softcap=variants[:, 2],
        )
        for row, r in enumerate(rows.tolist()):
            i = batch.tests[r]
            found[i][batch.key] = "" if verdict.passed[row] else verdict.reasons[row]
    return found
