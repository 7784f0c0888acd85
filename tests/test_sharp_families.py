"""The families for per-component error bounds: the rows each flag's note promises.

Each family is checked against its note (docs/vectors.md): the tail rows' t lies one format
value below or above ln u, ln(smallest normal) or ln(smallest subnormal), computed here with
mpmath; the ramps hold over 1000 prefix-maximum records; nu-below-half rows stop short of
n·u = 1/2 in bfloat16 and float16 only; the +inf rows are in float8_e5m2 only, with the limit
and NaN as answers; the sum witnesses make a sequential state-format sum, simulated here one
addition at a time, err by a good part of (K − 1)u. Every value is a format value, generation is
deterministic, the families move no other family's rows, and the quick suite grows a little.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

from symsoftmax.formats import FORMATS, Format, get_format
from symsoftmax.rounding import round_array, round_exact, ulp
from symsoftmax.vectors import OPS, save
from symsoftmax.vectors.builder import Draft, build_file, draft_rows
from symsoftmax.vectors.catalogue import (
    ATTENTION_OPS,
    FAMILIES,
    NOTES,
    QUADRATIC_OPS,
    SHARP_FAMILIES,
)

DTYPES = tuple(FORMATS)
SHARP = {family.name: family for family in SHARP_FAMILIES}
INF = math.inf


@functools.cache
def drafts(op: str, dtype: str, suite: str = "standard") -> list[Draft]:
    return draft_rows(op, dtype, suite, 0)


def rows(name: str, dtype: str, op: str = "softmax", suite: str = "standard") -> list[Draft]:
    """The drafts of the family ``name`` (its flags lead each draft's flags)."""
    flags = SHARP[name].flags
    return [d for d in drafts(op, dtype, suite) if d.flags[: len(flags)] == flags]


def ln(value: float) -> mpmath.mpf:
    with mpmath.workprec(200):
        return mpmath.log(value)


def records(z: np.ndarray) -> int:
    """The number of prefix-maximum records: entries above every entry before them."""
    return 1 + int(np.sum(z[1:] > np.maximum.accumulate(z)[:-1]))


def test_every_family_has_its_note() -> None:
    for family in SHARP_FAMILIES:
        assert set(family.flags) <= set(NOTES)
        assert family in FAMILIES


@pytest.mark.parametrize("dtype", DTYPES)
def test_each_family_is_in_the_formats_it_targets(dtype: str) -> None:
    targets = {
        "nu-below-half": {"bfloat16", "float16"},
        "pos-inf-beside-max": {"float8_e5m2"},
    }
    for name in SHARP:
        expected = dtype in targets.get(name, {dtype})
        for op in ("softmax", "log_softmax", "logsumexp"):
            made = rows(name, dtype, op)
            assert bool(made) == expected, (name, op)
            assert all(d.flags[0] == name for d in made)


def test_long_families_take_the_forward_ops_and_tails_take_every_op() -> None:
    for op in OPS:
        for name in ("prefix-max-ramp", "sum-near-bound"):
            assert bool(rows(name, "float32", op)) == (op in ATTENTION_OPS), (name, op)
        tails = [d.k for d in rows("tail-at-ln-u", "float32", op)]
        assert tails and (max(tails) == 1024) == (op in ATTENTION_OPS), op
        if op in QUADRATIC_OPS:
            assert max(tails) <= 10  # the Jacobian has K² outputs


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_value_is_a_format_value(dtype: str) -> None:
    fmt = get_format(dtype)
    for name in SHARP:
        for d in rows(name, dtype):
            z = d.inputs["z"]
            assert np.array_equal(round_array(z, fmt), z, equal_nan=True), (name, d.comment)


def _straddled(landmark: float, ts: set[float], fmt: Format) -> None:
    """ts holds two neighbouring format values, one below and one above ln(landmark)."""
    below, above = sorted(ts)
    assert below < ln(landmark) < above
    assert above - below <= float(ulp(np.asarray(below), fmt))


def _tail(d: Draft) -> float:
    """The t of a tail row: one 0 (the maximum), the rest t."""
    z = d.inputs["z"]
    assert np.count_nonzero(z == 0.0) == 1 and z.max() == 0.0
    (t,) = set(z[z != 0.0].tolist())
    if d.k == 2:
        assert z[0] == 0.0  # [0, t]
    return t


@pytest.mark.parametrize("dtype", DTYPES)
def test_tail_rows_sit_one_value_below_and_above_ln_u(dtype: str) -> None:
    fmt = get_format(dtype)
    made = rows("tail-at-ln-u", dtype)
    _straddled(fmt.unit_roundoff, {_tail(d) for d in made}, fmt)
    assert sorted({d.k for d in made}) == [2, 8, 64, 1024]
    assert len(made) == 8  # both sides at every length
    jacobian = rows("tail-at-ln-u", dtype, "jacobian")
    assert sorted({d.k for d in jacobian}) == [2, 8]


def test_tail_rows_in_float32_are_the_issues_example() -> None:
    # [0, −17] → [1, 0] was the issue's first bug: ln u = −16.64 in float32
    ts = {_tail(d) for d in rows("tail-at-ln-u", "float32")}
    assert all(-16.7 < t < -16.6 for t in ts) and len(ts) == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_underflow_tails_straddle_the_smallest_normal_and_subnormal(dtype: str) -> None:
    fmt = get_format(dtype)
    made = rows("tail-at-underflow", dtype)
    assert set(made[0].flags[:2]) == {"tail-at-underflow", "subnormal-output"}
    normal = {_tail(d) for d in made if d.comment.endswith("ln(smallest normal)")}
    subnormal = {_tail(d) for d in made if d.comment.endswith("ln(smallest subnormal)")}
    assert len(made) == 2 * 2 * 3  # two landmarks, both sides, three lengths
    _straddled(fmt.tiny, normal, fmt)
    _straddled(fmt.smallest_subnormal, subnormal, fmt)
    assert sorted({d.k for d in made}) == [8, 64, 1024]
    with mpmath.workprec(200):  # the small outputs of [0, t × 7]: e^t/(1 + 7e^t)
        small = {
            t: round_exact(mpmath.exp(t) / (1 + 7 * mpmath.exp(t)), fmt) for t in normal | subnormal
        }
    assert 0 < small[min(normal)] < fmt.tiny <= small[max(normal)]  # subnormal, then normal
    assert small[max(subnormal)] >= fmt.smallest_subnormal
    if fmt.precision >= 8:  # float8's neighbours of ln(2^−16) are 2 apart: e^−12 rounds to 0
        assert {small[t] for t in subnormal} == {fmt.smallest_subnormal}  # not flushed to 0


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_ramps_hold_thousands_of_prefix_max_records(dtype: str) -> None:
    made = rows("prefix-max-ramp", dtype)
    counts = [records(d.inputs["z"]) for d in made]
    assert all(1024 <= d.k <= 8192 for d in made)
    assert len(made) == 5
    if get_format(dtype).precision >= 11:
        assert min(counts) >= 1000, counts
    else:  # bfloat16's linear ramps repeat values; its consecutive-values row does not
        assert max(counts) >= 1000, counts
    ramp = next(d.inputs["z"] for d in made if d.k == 8192)
    assert np.all(np.diff(ramp) >= 0) and -16 <= ramp[0] < -15.99 and ramp[-1] == 0.0


def test_float32_ramps_raise_the_maximum_at_every_entry() -> None:
    made = rows("prefix-max-ramp", "float32")
    causal = next(d for d in made if "causal" in d.comment)
    ramp = next(d for d in made if d.k == 8192)
    for d in (causal, ramp):
        assert records(d.inputs["z"]) == d.k
    middle = next(d for d in made if "middle" in d.comment)
    z = middle.inputs["z"]
    assert records(z) == middle.k // 2 + 1  # rising to the query at K/2, then falling
    assert np.array_equal(z[1:], z[1:][::-1])  # symmetric about the query


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_nu_below_half_rows_stop_short_of_nu_one_half(dtype: str) -> None:
    u = Fraction(get_format(dtype).unit_roundoff)
    made = rows("nu-below-half", dtype)
    lengths = sorted({d.k for d in made})
    assert all(Fraction(1, 4) <= k * u < Fraction(1, 2) for k in lengths)
    assert lengths[-1] * u + u == Fraction(1, 2)  # the last length before n·u = 1/2
    distinct = [np.unique(d.inputs["z"]).size for d in made]
    assert distinct.count(1) == len(lengths) and len(made) == 3 * len(lengths)  # one constant
    assert sorted(distinct)[len(lengths)] > 8  # a length each, and random rows


def test_pos_inf_beside_max_rows_and_their_answers() -> None:
    fmt = get_format("float8_e5m2")
    made = rows("pos-inf-beside-max", "float8_e5m2")
    m = fmt.max
    assert sorted(d.inputs["z"].tolist() for d in made) == sorted(
        [[INF, m], [m, INF], [INF, m, 0.0]]
    )
    built = build_file("softmax", fmt, made, suite="standard", seed=0)
    for tc in built.tests():
        assert tc.result == "acceptable"
        assert [a.name for a in tc.acceptable] == ["limit", "nan"]
        assert np.array_equal(tc.expected["output"], np.isposinf(tc.inputs["z"]).astype(float))
    assert not rows("pos-inf-beside-max", "float8_e4m3fn")  # no infinities there


def _sequential_error(x: float, k: int, state: str) -> Fraction:
    """Relative error of 1 + x + … + x (k − 1 copies), added one at a time in ``state``."""
    cast = np.float32 if state == "float32" else float
    total, term = cast(1.0), cast(x)
    for _ in range(k - 1):
        total = cast(total + term)
    exact = 1 + (k - 1) * Fraction(x)
    return abs(Fraction(float(total)) - exact) / exact


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_sum_witnesses_nearly_attain_the_sums_bound(dtype: str) -> None:
    state = "float64" if dtype == "float64" else "float32"
    u = Fraction(get_format(state).unit_roundoff)
    made = rows("sum-near-bound", dtype, "logsumexp")
    witnesses = [d for d in made if d.inputs["z"][0] == 0.0]
    constants = [d for d in made if d.inputs["z"][0] != 0.0]
    assert sorted(d.k for d in witnesses) == [4096, 8192]
    assert sorted(d.k for d in constants) == [4096, 8192, 16384]
    assert all(np.all(d.inputs["z"] == d.inputs["z"][0]) for d in constants)
    for d in witnesses:
        c = set(d.inputs["z"][1:].tolist())
        assert len(c) == 1
        with mpmath.workprec(200):
            x = round_exact(mpmath.exp(c.pop()), state)
        assert _sequential_error(x, d.k, state) >= (d.k - 1) * u / 5, d.comment


def test_generation_is_deterministic(tmp_path: Path) -> None:
    for name in SHARP:
        for dtype in ("float16", "float8_e5m2"):
            first = [d.inputs["z"].tobytes() for d in rows(name, dtype)]
            again = draft_rows("softmax", dtype, "standard", 0)
            flags = SHARP[name].flags
            second = [d.inputs["z"].tobytes() for d in again if d.flags[: len(flags)] == flags]
            assert first == second, (name, dtype)
    made = rows("tail-at-ln-u", "float16")[:4]
    fmt = get_format("float16")
    for run in ("a", "b"):
        save(build_file("softmax", fmt, made, suite="standard", seed=0), tmp_path / f"{run}.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_the_new_families_move_no_other_family(monkeypatch: pytest.MonkeyPatch) -> None:
    import symsoftmax.vectors.builder as builder

    def others(made: list[Draft]) -> list[tuple[str, bytes]]:
        sharp = {flag for family in SHARP_FAMILIES for flag in family.flags[:1]}
        return [(d.comment, d.inputs["z"].tobytes()) for d in made if d.flags[0] not in sharp]

    with_them = others(draft_rows("softmax", "bfloat16", "standard", 0))
    monkeypatch.setattr(builder, "FAMILIES", tuple(f for f in FAMILIES if f not in SHARP_FAMILIES))
    assert others(draft_rows("softmax", "bfloat16", "standard", 0)) == with_them


@pytest.mark.parametrize("op", OPS)
def test_the_quick_suite_gains_a_few_tail_rows(op: str) -> None:
    for dtype in DTYPES:
        quick = [d for name in SHARP for d in rows(name, dtype, op, "quick")]
        assert 1 <= len(quick) <= 15, dtype
        assert any(d.flags[0] == "tail-at-ln-u" for d in quick)
        assert max(d.k for d in quick) <= 8
