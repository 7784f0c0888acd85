"""Properties of softmax-like outputs, each with a bound that a correct algorithm meets.

Checked on the valid tests whose inputs and outputs are all finite and carry no temperature,
sink or soft-cap.
From the outputs already computed (no extra calls):

* ``sum-to-one`` (softmax): |Σŝ_j − 1| ≤ (u + γ_{n−1})/(1 − γ_{n−1}) + 2u (Blanchard, Higham &
  Higham 2021: independent of exp's accuracy; + u for a multiplication by a reciprocal, + u for a
  final rounding), γ_k = ku/(1 − ku), k → √k where the worst case is vacuous (see bounds);
* ``range``: softmax in [0, 1] and log_softmax ≤ 0, exactly (the shifted algorithm guarantees
  both: e^{x−max} ≤ 1 and each term divides a sum it is part of);
* ``monotonicity`` (weak): z_i ≤ z_j ⇒ ŝ_i ≤ ŝ_j(1 + 4u) (+ one subnormal quantum). Rounding is
  monotone, but exp need not be (NumPy's AVX-512 float32 exp is not); with a faithful exp the
  two terms differ by at most 2u relative, and the division adds 2u more. For log_softmax the
  allowance is 4u·|l̂_j|. A one-pass (online, FlashAttention-style) softmax is allowed more:
  see :func:`one_pass_allowance` (``one_pass=True``; the sum-to-one bound then gains 2R·u).

From extra calls on a sample of those tests:

* ``shift-invariance``: σ(z + c) = σ(z) bit for bit when z + c is exact in the format (then
  every z_j − max is unchanged, so any max-shifted algorithm sees identical operands); c is
  chosen among small multiples of the coarsest spacing in z and small powers of two, and a test
  with no exact shift is not used. Not for logsumexp (it is covariant, not invariant);
* ``permutation``: f(Pz) = P f(z) within twice the output bound (both sides are within one bound
  of the exact value; summation order may differ, so bitwise equality is not required);
* ``batch-invariance`` (a batched candidate): a row alone (a batch of one) gives the bits it got
  in its batch. Reported, but not required unless asked (``require``): a kernel may pick its
  reduction by the batch shape and be correct and deterministic all the same;
* ``determinism``: the same input twice gives the same bits;

Shift-invariance and determinism repeat the calls of the run as they were made
(:meth:`~symsoftmax.validation.runner.Candidate.groups`): each batch again whole, the same rows
in the same order, with the sampled rows shifted (or unchanged), so that a deterministic kernel
whose results depend on the batch shape passes them; that dependence is batch-invariance's.
* ``exp-log-softmax`` (log_softmax, or softmax with a ``companion``): ‖exp(l̂) − ŝ‖∞ within
  ‖s‖∞(e^{B_l} − 1) + B_s, B_l and B_s the two outputs' bounds; without a companion, ŝ is the
  float64 softmax of z (its error, ~n·2^−53, is negligible here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.formats import Format
from symsoftmax.rounding import round_array, ulp
from symsoftmax.validation.bounds import RowFacts, output_bounds, sum_to_one_bound
from symsoftmax.validation.checks import PreparedTest, RowProfile
from symsoftmax.validation.runner import Candidate, Outcome

__all__ = [
    "OPTIONAL",
    "PropertyCase",
    "PropertyResult",
    "check_properties",
    "check_require",
    "exact_shift",
    "one_pass_allowance",
    "prefix_records",
]

FloatArray = npt.NDArray[np.float64]
SAMPLE = 16  # tests used for the properties that need extra calls
OPTIONAL = ("batch-invariance",)  # reported, but failing the verdict only when required


def check_require(require: str | Iterable[str]) -> tuple[str, ...]:
    """The optional properties to require (a name or several): InputError for another name."""
    names = (require,) if isinstance(require, str) else tuple(require)
    for name in names:
        if name not in OPTIONAL:
            raise InputError(
                f"unknown property {name!r} to require; known: {', '.join(OPTIONAL)} "
                "(every other property is always required)"
            )
    return names


@dataclass
class PropertyCase:
    """One failing case of a property: the test(s) it concerns and what went wrong."""

    tc_ids: tuple[int, ...]
    description: str  # one line, the tcId first

    def to_dict(self) -> dict[str, object]:
        return {"tcIds": list(self.tc_ids), "description": self.description}


@dataclass
class PropertyResult:
    """How one property fared: cases checked, violations (every one in ``cases``, in test
    order), the bound and the worst violation. A property that is not ``required`` is reported
    but does not fail the verdict."""

    name: str
    checked: int
    failed: int
    bound: str
    worst: str = ""  # the worst violation (tcId, where, by how much)
    note: str = ""  # why a property was not checked
    required: bool = True
    cases: list[PropertyCase] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failed == 0

    @property
    def fails_verdict(self) -> bool:
        """Whether this result fails the report: a required property that did not hold."""
        return self.required and not self.passed

    def shown(self) -> str:
        """The worst violation, and how many more the JSON lists (or the note)."""
        if not self.worst:
            return self.note
        more = len(self.cases) - 1
        return self.worst + (f"; and {more} more (see the JSON)" if more > 0 else "")

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "passed": self.passed,
            "required": self.required,
            "checked": self.checked,
            "failed": self.failed,
            "bound": self.bound,
            "worst": self.worst,
            "note": self.note,
            "cases": [case.to_dict() for case in self.cases],
        }


class _Tally:
    def __init__(self, name: str, bound: str, *, required: bool = True) -> None:
        self.result = PropertyResult(name, 0, 0, bound, required=required)
        self._worst = -math.inf

    def add(self, ok: bool, excess: float, tc_ids: Sequence[int], detail: str) -> None:
        """Count one case of test(s) ``tc_ids``: held, or failed by ``excess`` (the worst
        kept) as ``detail`` says."""
        self.result.checked += 1
        if not ok:
            self.result.failed += 1
            self.result.cases.append(PropertyCase(tuple(tc_ids), detail))
            if excess > self._worst:
                self._worst = excess
                self.result.worst = detail


def _eligible(prepared: PreparedTest, outcome: Outcome, finite: bool) -> bool:
    """Whether a test's outputs are held to the properties (``finite``: its inputs and
    expected values are, :class:`~symsoftmax.validation.checks.RowProfile`)."""
    test = prepared.test
    return (
        test.result == "valid"
        and outcome.outputs is not None
        and test.inputs["z"].size > 0  # an empty row (K = 0) has no properties to break
        # a temperature, sink or soft-cap changes what the properties say (a sink's outputs sum
        # to 1 − p_sink; z + c shifts the row but not the sink; a cap is not shift-covariant)
        and not {"temperature", "sink", "softcap"} & test.inputs.keys()
        and finite
    )


def check_properties(
    op: str,
    fmt: Format,
    prepared: Sequence[PreparedTest],
    outcomes: Sequence[Outcome],
    candidate: Candidate | None,
    *,
    companion: Candidate | None = None,
    ftz: bool = False,
    seed: int = 0,
    one_pass: bool = False,
    require: Iterable[str] = (),
    state: Format | None = None,
    finite: Sequence[bool] | None = None,
) -> list[PropertyResult]:
    """Every property that applies to ``op``; the call-based ones need ``candidate``.

    ``state``: the format the kernel sums in (its declared class's; None: ``fmt``), which the
    sum-to-one bound's summation term is in (the final roundings are in ``fmt``).

    ``one_pass``: the outputs come from a one-pass (online) softmax, judged with the wider
    monotonicity and sum-to-one allowances of :func:`one_pass_allowance`. ``require``: the
    optional properties (:data:`OPTIONAL`) that fail the verdict too (:func:`check_require`).
    ``finite``: :attr:`RowProfile.finite` of ``prepared``, when already found.
    """
    required = check_require(require)
    finite = finite if finite is not None else RowProfile.of(prepared).finite
    tests = zip(prepared, outcomes, finite, strict=True)
    eligible = [i for i, (p, o, f) in enumerate(tests) if _eligible(p, o, f)]
    pairs = [(prepared[i], outcomes[i]) for i in eligible]
    quantum = fmt.tiny if ftz else fmt.smallest_subnormal
    results: list[PropertyResult] = []
    if op in ("softmax", "log_softmax"):
        results += _output_properties(
            op, fmt, pairs, quantum, one_pass and op == "softmax", state or fmt
        )
    call_names = ["shift-invariance", "permutation", "batch-invariance", "determinism"]
    if op == "logsumexp":
        call_names.remove("shift-invariance")
    if candidate is None:
        for name in call_names:
            results.append(
                PropertyResult(
                    name,
                    0,
                    0,
                    "",
                    note="needs the function (scoring outputs only)",
                    required=name not in OPTIONAL or name in required,
                )
            )
        return results
    step = max(1, math.ceil(len(eligible) / SAMPLE))
    sample = eligible[::step][:SAMPLE]
    sampled = [(prepared[i], outcomes[i]) for i in sample]
    rng = np.random.default_rng(seed)
    run = _RunCalls(prepared, outcomes, candidate)
    if "shift-invariance" in call_names:
        results.append(_shift(fmt, run, sample))
    results.append(_permutation(op, fmt, sampled, candidate, rng, ftz))
    results.append(_batch_invariance(run, sample, "batch-invariance" in required))
    results.append(_determinism(run, sample))
    if op == "log_softmax" or (op == "softmax" and companion is not None):
        results.append(_exp_log_softmax(op, fmt, sampled, candidate, companion, ftz))
    return results


# -------------------------------------------------------------------------- output-only


TWO_PASS_MONOTONICITY = "z_i ≤ z_j ⇒ ŝ_i ≤ ŝ_j + 4u·|ŝ_j| + one subnormal quantum"
ONE_PASS_MONOTONICITY = (
    "one-pass: z_i ≤ z_j ⇒ ŝ_i ≤ ŝ_j + ((1 + (4 + 2R)u)·e^(u(|z_i − m| + |z_j − m|)) − 1)·|ŝ_j| "
    "+ (1 + R) subnormal quanta, R = the row's prefix-max records (R = 0: the two-pass 4u)"
)
SUM_TO_ONE = "(u_a + γ_{n−1}(u_a))/(1 − γ_{n−1}(u_a)) + 2u (u_a: the state format's)"


def prefix_records(z: FloatArray) -> int:
    """R: how many entries of ``z``, in index order, are strict records of the running maximum
    after the first entry above −inf (NaN entries ignored: a NaN is no record, and a tie is not
    a strict one). A one-pass softmax over any blocking of the row rescales its state at most R
    times, since a block rescales only when it holds a new record.
    """
    w = np.where(np.isnan(z), -np.inf, np.asarray(z, dtype=np.float64))
    if w.size < 2:
        return 0
    before = np.maximum.accumulate(w)[:-1]
    return int(np.count_nonzero((w[1:] > before) & (before > -np.inf)))


def one_pass_allowance(
    z: FloatArray, earlier: npt.NDArray[np.intp], later: npt.NDArray[np.intp], u: float
) -> tuple[FloatArray, int]:
    """The relative monotonicity allowance ε_k of a one-pass softmax for the pairs
    (i, j) = (earlier[k], later[k]) of a finite row z with z_i ≤ z_j, and its count of subnormal
    quanta: ŝ_i ≤ ŝ_j(1 + ε_k) + (1 + R) quanta, with R = :func:`prefix_records` of z, m = max z,

        ε = (1 + (4 + 2R)u)·e^{u(|z_i − m| + |z_j − m|)} − 1   (R ≥ 1;  ε = 4u for R = 0).

    Why. A one-pass (online) kernel computes ŝ_i = o_i/d with o_i = fl(e^{fl(z_i − m_a)})
    multiplied, rounding each product, by the factor α_k = fl(e^{fl(m_{k−1} − m_k)}) of every
    later block whose running maximum m_k rises (Milakov & Gimelshein 2018; FlashAttention).
    Two entries under the same running maximum see the same factors, and a product by the same
    α is monotone after rounding, so only the factors that one entry of the pair sees and the
    other does not break the order: at most R of them, each with an exp error u and a product
    rounding u (2u; the two-pass 4u is exp 2u + division 2u). Their subtractions no longer share
    one reference maximum, so their roundings are not ordered either: fl(x) has an error at most
    u|x|, and along i's chain |z_i − m_a| + Σ|m_{k−1} − m_k| telescopes to at most m − z_i
    (likewise for j) — in the exponent, hence the factor e^{u(|z_i − m| + |z_j − m|)}. With
    R = 0 the state is never rescaled and the bound is the two-pass one. Each rounding in the
    subnormal range adds at most half a quantum absolute (d ≥ 1 does not enlarge it): exp,
    up to R products and the division on either side, (2 + 2R)/2 quanta. Measured against the
    blockwise kernel of tests/blockwise_kernels.py in docs/attention.md.
    """
    records = prefix_records(z)
    if records == 0:
        return np.full(earlier.shape, 4 * u), 1
    distance = np.abs(z[earlier] - np.max(z)) + np.abs(z[later] - np.max(z))
    with np.errstate(over="ignore"):  # a row spanning beyond the largest double: no allowance
        eps = (1 + (4 + 2 * records) * u) * np.exp(u * distance) - 1
    return eps, 1 + records


def _output_properties(
    op: str,
    fmt: Format,
    pairs: list[tuple[PreparedTest, Outcome]],
    quantum: float,
    one_pass: bool,
    state: Format,
) -> list[PropertyResult]:
    """Sum-to-one (softmax), range and monotonicity of every test's outputs. Rows of one
    length are checked together, as a matrix (one row at a time cost more than the rest of a
    suite's verdict); each row's verdict and message are those of the row alone."""
    u = fmt.unit_roundoff
    sums = _Tally("sum-to-one", SUM_TO_ONE + (" + 2R·u (one-pass)" if one_pass else ""))
    ranges = _Tally("range", "[0, 1] exactly" if op == "softmax" else "≤ 0 exactly")
    mono = _Tally("monotonicity", ONE_PASS_MONOTONICITY if one_pass else TWO_PASS_MONOTONICITY)
    by_length: dict[int, list[int]] = {}
    for index, (prepared, _) in enumerate(pairs):
        by_length.setdefault(prepared.test.inputs["z"].size, []).append(index)
    checked: list[tuple[int, _RowChecks]] = []
    for members in by_length.values():
        z = np.array([pairs[i][0].test.inputs["z"] for i in members])
        out = np.array([_output(pairs[i][1]) for i in members])
        rows = _row_checks(op, fmt, z, out, quantum, one_pass, state)
        checked += zip(members, rows, strict=True)
    for index, row in sorted(checked, key=lambda item: item[0]):  # the tests' order
        tc = pairs[index][0].test.tc_id
        # (the details are written for the failures only: most rows hold)
        if op == "softmax":
            excess = abs(row.total - 1) / u
            held = abs(row.total - 1) <= row.limit
            sums.add(
                held,
                excess,
                [tc],
                ""
                if held
                else f"tcId {tc}: |Σŝ − 1| = {excess:.3g} u > {row.limit / u:.3g} u ({row.form})",
            )
        ranges.add(not row.outside, float(row.outside), [tc], row.range_detail(tc))
        if pairs[index][0].test.inputs["z"].size > 1:  # one entry has no order to keep
            mono.add(row.ordered, row.excess, [tc], "" if row.ordered else row.order_detail(tc))
    found = [ranges.result, mono.result]
    return ([sums.result] if op == "softmax" else []) + found


def _output(outcome: Outcome) -> FloatArray:
    assert outcome.outputs is not None
    return outcome.outputs["output"]


@dataclass
class _RowChecks:
    """What the output-only properties found on one row (see :func:`_row_checks`)."""

    total: float  # Σŝ, correctly rounded (softmax)
    limit: float  # the sum-to-one bound
    form: str
    outside: int  # outputs out of range
    first_outside: int
    value_outside: float
    ordered: bool  # monotone within the allowance
    excess: float  # the worst drop, in ulps of the running maximum (or quanta)
    drop: float
    allowed: float
    later_index: int  # the entry of the worst drop (index into z)

    def range_detail(self, tc: int) -> str:
        if not self.outside:
            return ""
        return f"tcId {tc}: output[{self.first_outside}] = {self.value_outside!r}"

    def order_detail(self, tc: int) -> str:
        return (
            f"tcId {tc}: z[{self.later_index}] ≥ an earlier z but its output is "
            f"{self.drop:.3g} lower (allowed {self.allowed:.3g})"
        )


def _row_checks(
    op: str,
    fmt: Format,
    z: FloatArray,
    out: FloatArray,
    quantum: float,
    one_pass: bool,
    state: Format,
) -> list[_RowChecks]:
    """The output-only checks of rows of one length K: ``z`` and ``out`` are (rows, K).

    Sum-to-one: Σŝ by math.fsum (exactly rounded) within :func:`sum_to_one_bound` (+ 2R·u of
    a one-pass kernel). Range: softmax in [0, 1], log_softmax ≤ 0. Monotonicity: along z in
    increasing order (ties in index order), no output drops below the running maximum by more
    than ε·|ŝ| + quanta (:data:`TWO_PASS_MONOTONICITY`, or :func:`one_pass_allowance`).
    """
    n, k = out.shape
    u = fmt.unit_roundoff
    if op == "softmax":
        limit, form = sum_to_one_bound(k, fmt, state)
        totals = [math.fsum(row) for row in out.tolist()]
        bad = (out < 0) | (out > 1)
    else:
        limit, form, totals = math.nan, "", [math.nan] * n
        bad = out > 0
    outside = bad.sum(axis=1)
    first = np.argmax(bad, axis=1)
    value = out[np.arange(n), first]
    order = np.argsort(z, axis=1, kind="stable")
    ordered = np.take_along_axis(out, order, axis=1)
    ok = np.ones(n, dtype=bool)
    excess, drop_at, allowed_at = np.zeros(n), np.zeros(n), np.zeros(n)
    worst = np.zeros(n, dtype=np.int64)
    if k > 1:
        running = np.maximum.accumulate(ordered, axis=1)[:, :-1]
        later = ordered[:, 1:]
        eps = np.full(later.shape, 4 * u)
        quanta = np.ones((n, 1))
        if one_pass:  # the entry holding each running maximum, against the later one
            at = np.arange(k - 1)
            for r in range(n):
                holder = np.maximum.accumulate(np.where(ordered[r, :-1] == running[r], at, 0))
                eps[r], quanta[r] = one_pass_allowance(z[r], order[r, holder], order[r, 1:], u)
        # float64 log_softmax outputs near −1.8e308 make the differences overflow to inf,
        # which is the right verdict (a drop beyond any allowance), not a warning
        with np.errstate(over="ignore", invalid="ignore"):
            drop = running - later
            scale = np.abs(later if op == "log_softmax" else running)
            # 0 where ŝ is 0 (an infinite ε of a row spanning ±max times 0 is no allowance)
            allowed = np.where(scale == 0, 0.0, eps * scale) + quanta * quantum
            worst = np.argmax(drop - allowed, axis=1)
            ok = np.all(drop <= allowed, axis=1)
            rows = np.arange(n)
            drop_at, allowed_at = drop[rows, worst], allowed[rows, worst]
            spacing = np.maximum(ulp(running[rows, worst], fmt), quantum)
            excess = drop_at / spacing
    records = [prefix_records(row) for row in z] if one_pass and op == "softmax" else [0] * n
    later_index = np.take_along_axis(order, np.minimum(worst + 1, k - 1)[:, None], axis=1)
    # as Python numbers, converted a column at a time
    outside_, first_, value_, ok_, excess_, drop_, allowed_, later_ = (
        np.asarray(column).tolist()
        for column in (outside, first, value, ok, excess, drop_at, allowed_at, later_index[:, 0])
    )
    return [
        _RowChecks(
            total=totals[r],
            limit=limit + 2 * records[r] * state.unit_roundoff,
            form=form,
            outside=outside_[r],
            first_outside=first_[r],
            value_outside=value_[r],
            ordered=ok_[r],
            excess=excess_[r],
            drop=drop_[r],
            allowed=allowed_[r],
            later_index=later_[r],
        )
        for r in range(n)
    ]


# -------------------------------------------------------------------------- call-based


def exact_shift(z: FloatArray, fmt: Format) -> float | None:
    """A nonzero c with z + c exact in ``fmt`` for every entry, or None."""
    spacing = float(np.max(ulp(z, fmt)))
    for c in (spacing, -spacing, 2 * spacing, 1.0, -1.0, 0.5, 2.0, -2.0, 0.25, 8.0, -8.0):
        if c == 0 or not math.isfinite(c):
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            shifted = z + c
            # two-sum: the float64 addition itself is exact iff its error term is zero
            back = shifted - z
            error = (z - (shifted - back)) + (c - back)
        if not np.all(np.isfinite(shifted)) or np.any(error != 0):
            continue
        if np.array_equal(round_array(shifted, fmt), shifted):
            return c
    return None


def _same_bits(a: dict[str, FloatArray], b: dict[str, FloatArray]) -> bool:
    return all(
        np.array_equal(a[k], b[k], equal_nan=True)
        and np.array_equal(np.signbit(a[k]), np.signbit(b[k]))
        for k in a
    )


def _first_difference(
    a: dict[str, FloatArray], b: dict[str, FloatArray], labels: tuple[str, str] = ("", "")
) -> str:
    """Where ``a`` and ``b`` first differ: 'key[i]: a_i vs b_i', each value followed by its
    label (' alone', ' in a batch of 6')."""
    for key in a:
        differs = ~((a[key] == b[key]) | (np.isnan(a[key]) & np.isnan(b[key])))
        if differs.any():
            at = tuple(int(i) for i in np.argwhere(differs)[0])
            first, second = float(a[key][at]), float(b[key][at])
            return f"{key}{list(at)}: {first!r}{labels[0]} vs {second!r}{labels[1]}"
    return "sign of a zero differs"


class _RunCalls:
    """The candidate's calls as the run made them (:meth:`Candidate.groups`), to make again."""

    def __init__(
        self, prepared: Sequence[PreparedTest], outcomes: Sequence[Outcome], cand: Candidate
    ) -> None:
        self.prepared, self.outcomes, self.cand = prepared, outcomes, cand
        self.groups = cand.groups([p.test for p in prepared])
        self.group_of = {i: g for g, (indices, _) in enumerate(self.groups) for i in indices}

    def tc_id(self, i: int) -> int:
        return self.prepared[i].test.tc_id

    def inputs(self, i: int) -> dict[str, FloatArray]:
        return self.prepared[i].test.inputs

    def rows_with(self, i: int) -> int:
        """How many rows test ``i``'s call held in the run (1 for a call of its own)."""
        indices, batched = self.groups[self.group_of[i]]
        return len(indices) if batched else 1

    def again(self, changed: dict[int, dict[str, FloatArray]]) -> dict[int, Outcome]:
        """Each call of the run that answered a test of ``changed`` made again, whole (a batch:
        the same rows in the same order), with those tests' inputs replaced by ``changed[i]``;
        the new outcomes of those tests."""
        outcomes: dict[int, Outcome] = {}
        for g in sorted({self.group_of[i] for i in changed}):
            indices, batched = self.groups[g]
            rows = [changed.get(i, self.inputs(i)) for i in indices]
            for i, outcome in zip(
                indices, self.cand.call_group(rows, batched=batched), strict=True
            ):
                if i in changed:
                    outcomes[i] = outcome
        return outcomes


def _shift(fmt: Format, run: _RunCalls, sample: list[int]) -> PropertyResult:
    tally = _Tally("shift-invariance", "bitwise, for exact shifts z + c (the run's calls again)")
    shifts = {i: exact_shift(run.inputs(i)["z"], fmt) for i in sample}
    changed = {
        i: dict(run.inputs(i), z=run.inputs(i)["z"] + c) for i, c in shifts.items() if c is not None
    }
    shifted = run.again(changed)
    for i in changed:
        where = f"tcId {run.tc_id(i)}, z + {shifts[i]!r}"
        _add_same_bits(tally, run.tc_id(i), where, shifted[i], run.outcomes[i])
    skipped = len(sample) - len(changed)
    if skipped:
        tally.result.note = f"{skipped} sampled test(s) have no exact shift"
    return tally.result


def _max_difference(a: FloatArray, b: FloatArray) -> float:
    """max |a − b| over the components; 0 where both are the same NaN or infinity, inf where
    only one is (no overflow or invalid-operation warnings)."""
    if not a.size:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(over="ignore", invalid="ignore"):
        gap = np.abs(a - b)
    return float(np.max(np.where(same, 0.0, np.where(np.isnan(gap), np.inf, gap))))


def _permute_back(
    op: str, key: str, values: FloatArray, inverse: npt.NDArray[np.intp]
) -> FloatArray:
    if values.shape == (1,):
        return values
    if values.ndim == 2:
        return values[np.ix_(inverse, inverse)]
    return values[inverse]


def _permutation(
    op: str,
    fmt: Format,
    sample: list[tuple[PreparedTest, Outcome]],
    cand: Candidate,
    rng: np.random.Generator,
    ftz: bool,
) -> PropertyResult:
    tally = _Tally("permutation", "‖P⁻¹f(Pz) − f(z)‖∞ ≤ 2 × the output's bound")
    for prepared, outcome in sample:
        test = prepared.test
        k = test.inputs["z"].size
        perm = rng.permutation(k)
        if k > 1 and np.array_equal(perm, np.arange(k)):
            perm = perm[::-1].copy()
        inverse = np.argsort(perm)
        inputs = {
            name: (v[perm] if np.ndim(v) == 1 and v.size == k else v)
            for name, v in test.inputs.items()
        }
        permuted = cand.call(inputs)
        assert outcome.outputs is not None
        if permuted.outputs is None:
            tally.add(False, math.inf, [test.tc_id], f"tcId {test.tc_id}: {permuted.problem}")
            continue
        exact = {key: ex.hi for key, ex in prepared.exact.items()}
        bounds = output_bounds(op, test.inputs, exact, fmt, ftz=ftz)
        worst, detail, ok = 0.0, "", True
        for key, mine in outcome.outputs.items():
            back = _permute_back(op, key, permuted.outputs[key], inverse)
            diff = _max_difference(back, mine)
            allowed = 2 * bounds[key].absolute
            ratio = diff / allowed if allowed > 0 else (0.0 if diff == 0 else math.inf)
            if ratio > worst:
                worst = ratio
                detail = f"tcId {test.tc_id}: {key} differs by {diff:.3g} (allowed {allowed:.3g})"
            ok = ok and diff <= allowed
        tally.add(ok, worst, [test.tc_id], detail)
    return tally.result


def _determinism(run: _RunCalls, sample: list[int]) -> PropertyResult:
    tally = _Tally("determinism", "same input twice, same bits (the run's calls again)")
    again = run.again({i: run.inputs(i) for i in sample})
    for i in sample:
        tc = run.tc_id(i)
        _add_same_bits(tally, tc, f"tcId {tc}", again[i], run.outcomes[i], "second call ")
    return tally.result


def _batch_invariance(run: _RunCalls, sample: list[int], required: bool) -> PropertyResult:
    """A sampled row of a batch of several, called alone (a batch of one), against its bits in
    the batch; rows called alone in the run are not counted."""
    tally = _Tally(
        "batch-invariance",
        "a row alone (a batch of one) = the same row in its batch, bit for bit",
        required=required,
    )
    if not run.cand.batch:
        tally.result.note = "the candidate is called one row at a time (batch=True, --batch)"
        return tally.result
    batched = [i for i in sample if run.rows_with(i) > 1]
    for i in batched:
        tc, rows = run.tc_id(i), run.rows_with(i)
        alone = run.cand.call_group([run.inputs(i)], batched=True)[0]
        labels = (" alone", f" in a batch of {rows}")
        _add_same_bits(tally, tc, f"tcId {tc}", alone, run.outcomes[i], "alone ", labels)
    if len(batched) < len(sample):
        tally.result.note = f"{len(sample) - len(batched)} sampled test(s) had a call of their own"
    return tally.result


def _add_same_bits(
    tally: _Tally,
    tc: int,
    where: str,
    again: Outcome,
    first: Outcome,
    call: str = "",
    labels: tuple[str, str] = ("", ""),
) -> None:
    """Count whether another call (``again``) on test ``tc`` returned exactly the bits of
    ``first``.

    A failed call counts as a difference of any size; ``call`` names it in the detail, and
    ``labels`` the two values where they differ (:func:`_first_difference`).
    """
    assert first.outputs is not None
    if again.outputs is None:
        tally.add(False, math.inf, [tc], f"{where}: {call}{again.problem}")
        return
    same = _same_bits(again.outputs, first.outputs)
    differs = "" if same else _first_difference(again.outputs, first.outputs, labels)
    tally.add(same, 1.0, [tc], f"{where}: {differs}" if differs else "")


def _exp_log_softmax(
    op: str,
    fmt: Format,
    sample: list[tuple[PreparedTest, Outcome]],
    cand: Candidate,
    companion: Candidate | None,
    ftz: bool,
) -> PropertyResult:
    against = "the companion softmax" if companion is not None else "float64 softmax"
    tally = _Tally("exp-log-softmax", f"‖exp(l̂) − ŝ‖∞ ≤ ‖s‖∞(e^(B_l) − 1) + B_s, ŝ from {against}")
    for prepared, outcome in sample:
        test = prepared.test
        z = test.inputs["z"]
        assert outcome.outputs is not None
        facts = RowFacts.of(z)
        log_bound = output_bounds("log_softmax", test.inputs, {}, fmt, ftz=ftz)["output"]
        soft_bound = output_bounds("softmax", test.inputs, {}, fmt, ftz=ftz)["output"]
        other = companion.call(test.inputs) if companion is not None else None
        from_other = other.outputs["output"] if other is not None and other.outputs else None
        logs: FloatArray | None
        soft: FloatArray | None
        if op == "log_softmax":
            logs = outcome.outputs["output"]
            soft = facts.s if other is None else from_other
            soft_allow = soft_bound.absolute if companion is not None else 0.0
        else:
            logs = from_other
            soft = outcome.outputs["output"]
            soft_allow = soft_bound.absolute
        if logs is None or soft is None:
            problem = other.problem if other is not None else "no output"
            tally.add(False, math.inf, [test.tc_id], f"tcId {test.tc_id}: companion {problem}")
            continue
        s_norm = float(np.max(facts.s))
        growth = math.expm1(min(log_bound.absolute, 700.0))
        allowed = s_norm * growth + soft_allow + log_bound.floor
        with np.errstate(over="ignore"):  # a wild l̂ > 709: exp is inf, the difference too
            diff = _max_difference(np.exp(logs), soft)
        tally.add(
            diff <= allowed,
            diff / allowed if allowed else math.inf,
            [test.tc_id],
            f"tcId {test.tc_id}: ‖exp(l̂) − ŝ‖∞ = {diff:.3g} > {allowed:.3g}",
        )
    return tally.result
