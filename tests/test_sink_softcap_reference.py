"""Attention sinks and soft-caps in the reference (issue 21 §3; docs/reference.md).

The brute force here is written apart from the engine: the textbook formulas (no shift, no
extended row, tanh as mpmath's) at 1000 bits, rounded from both ends of a generous interval;
elements it cannot decide are skipped (the test checks that they stay rare). Attacks from the
tracker reports: a sink that does not take part in the maximum (a sink of 100 gives an infinite
LSE), tanh as (e^x − e^−x)/(e^x + e^−x) (NaN for |z/c| beyond exp's overflow), the sink
dropped (the plain op returned).
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import mpmath
import numpy as np
import pytest

import symsoftmax.reference as ref
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.rounding import round_exact

PREC = 1000
FORMATS = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")


def _brute(
    op: str,
    z: list[float],
    g: list[float] | None,
    sink: float | None,
    cap: float | None,
    t: float | None,
) -> list[Any]:
    """Textbook values at PREC bits (mpf), or float specials; one per logit (one for logsumexp,
    one for the sink gradients 'sink_grad_softmax' / 'sink_grad_log_softmax')."""
    with mpmath.workprec(PREC):
        scale = mpmath.mpf(1) if t is None else mpmath.mpf(t)
        v: list[Any] = []
        for x in z:
            u = mpmath.mpf(x) / scale if math.isfinite(x) else mpmath.mpf(x)
            if cap is not None and u != -mpmath.inf:
                u = mpmath.mpf(cap) if u == mpmath.inf else mpmath.mpf(cap) * mpmath.tanh(u / cap)
            v.append(u)
        terms = [mpmath.exp(u) for u in v]
        e_sink = mpmath.exp(mpmath.mpf(sink)) if sink is not None else mpmath.mpf(0)
        total = mpmath.fsum(terms) + e_sink
        sigma = [e / total for e in terms]
        if op == "softmax":
            return sigma
        if op == "log_softmax":
            return [u - mpmath.log(total) for u in v]
        if op == "logsumexp":
            return [scale * mpmath.log(total)]
        assert g is not None
        gs = [mpmath.mpf(x) for x in g]
        inner = mpmath.fsum(a * b for a, b in zip(gs, sigma, strict=True))
        p_sink = e_sink / total
        if op == "sink_grad_softmax":
            return [-p_sink * inner]
        if op == "sink_grad_log_softmax":
            return [-p_sink * mpmath.fsum(gs)]
        if op == "softmax_vjp":
            dv = [s * (a - inner) for a, s in zip(gs, sigma, strict=True)]
        else:
            dv = [a - mpmath.fsum(gs) * s for a, s in zip(gs, sigma, strict=True)]
        if cap is not None:
            dv = [d * mpmath.sech(mpmath.mpf(x) / cap) ** 2 for d, x in zip(dv, z, strict=True)]
        return dv


def _round_both_ends(value: Any, dtype: str) -> float | None:
    """The rounding of value if its PREC-bit interval rounds to one value, else None."""
    if not isinstance(value, mpmath.mpf):
        return float(value)
    with mpmath.workprec(PREC + 20):
        slack = abs(value) * mpmath.mpf(2) ** (-PREC + 60)
        lo, hi = round_exact(value - slack, dtype), round_exact(value + slack, dtype)
    return lo if lo == hi or (lo == 0 and hi == 0) else None


def _check(got: np.ndarray, expected: list[Any], dtype: str) -> int:
    """Assert every decided element bit for bit; return the number of undecided ones."""
    skipped = 0
    for i, value in enumerate(expected):
        want = _round_both_ends(value, dtype)
        if want is None:
            skipped += 1
            continue
        have = float(np.asarray(got, dtype=np.float64).reshape(-1)[i])
        assert (math.isnan(have) and math.isnan(want)) or (
            have == want and math.copysign(1, have) == math.copysign(1, want)
        ), (i, have, want, value)
    return skipped


def _random_case(rng: np.random.Generator, dtype: str) -> tuple[list[float], list[float]]:
    fmt = get_format(dtype)
    k = int(rng.integers(1, 7))
    z = [round_exact(float(v), fmt) for v in rng.normal(0, 4, k)]
    g = [round_exact(float(v), fmt) for v in rng.normal(0, 1, k)]
    return z, g


@pytest.mark.parametrize("dtype", FORMATS)
def test_sink_and_softcap_match_brute_force(dtype: str) -> None:
    """Every op with a sink, a soft-cap, both, and a temperature, against the brute force."""
    fmt = get_format(dtype)
    rng = np.random.default_rng(21)
    skipped = total = 0
    for _ in range(6):
        z, g = _random_case(rng, dtype)
        sink = round_exact(float(rng.normal(0, 4)), fmt)
        cap = round_exact(float(rng.choice([0.5, 3.0, 30.0])), fmt)
        t = round_exact(float(rng.choice([0.5, 2.0])), fmt)
        for s, c, temp in (
            (sink, None, None),
            (None, cap, None),
            (sink, cap, None),
            (sink, cap, t),
        ):
            for op in ("softmax", "log_softmax", "logsumexp"):
                got = ref.evaluate(op, z, dtype=dtype, sink=s, softcap=c, temperature=temp).rounded
                skipped += _check(got, _brute(op, z, None, s, c, temp), dtype)
                total += got.size
            for op in ("softmax_vjp", "log_softmax_vjp"):
                got = ref.evaluate(op, z, g, dtype=dtype, sink=s, softcap=c).rounded
                skipped += _check(got, _brute(op, z, g, s, c, None), dtype)
                total += got.size
            if s is not None:
                for of in ("softmax", "log_softmax"):
                    got = ref.sink_grad(z, g, dtype, sink=s, softcap=c, of=of)
                    skipped += _check(got, _brute(f"sink_grad_{of}", z, g, s, c, None), dtype)
                    total += 1
    assert skipped <= total // 50, (skipped, total)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_sink_is_one_more_entry(dtype: str) -> None:
    """Without T or cap, the sink op is the op of [z, s] with the sink's output dropped, and
    the fast path (extended rows) agrees with the authority (fast=False)."""
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, (40, 5))
    for s in (-3.0, 0.0, 2.5, 100.0):
        ext = np.hstack([z, np.full((40, 1), s)])
        for op in ("softmax", "log_softmax"):
            fast = ref.evaluate(op, z, dtype=dtype, sink=s).rounded
            slow = ref.evaluate(op, z, dtype=dtype, sink=s, fast=False).rounded
            plain = ref.evaluate(op, ext, dtype=dtype).rounded[:, :5]
            np.testing.assert_array_equal(fast, plain)
            np.testing.assert_array_equal(slow, plain)
        lse = ref.evaluate("logsumexp", z, dtype=dtype, sink=s).rounded
        np.testing.assert_array_equal(lse, ref.evaluate("logsumexp", ext, dtype=dtype).rounded)


def test_sink_takes_part_in_the_maximum() -> None:
    """Sink 100 over logits near 0: LSE is finite (100 in float16), softmax tiny, not NaN/inf
    (the attack: a sink left out of the max and rescale overflows e^100 in float16)."""
    z = [0.0, 0.5, -1.0]
    assert float(ref.logsumexp(z, "float16", sink=100)) == 100.0
    assert float(ref.logsumexp(z, "float32", sink=100)) == 100.0
    out = ref.softmax(z, "float32", sink=100)
    assert np.all(np.isfinite(out)) and np.all(out > 0) and np.all(out < 1e-40)
    fmt_max = float(np.finfo(np.float16).max)
    assert float(ref.logsumexp(z, "float16", sink=fmt_max)) == fmt_max


def test_sink_is_not_dropped() -> None:
    """A sink at the max halves the top entry's share (a candidate that drops it fails)."""
    got = ref.softmax([0.0], "float32", sink=0.0)
    assert float(got[0]) == 0.5
    assert float(ref.log_softmax([0.0], "float32", sink=0.0)[0]) == round_exact(
        -math.log(2), "float32"
    )


def test_minus_inf_sink_is_plain_softmax() -> None:
    z = [1.0, 2.0, -3.0]
    for op in ("softmax", "log_softmax", "logsumexp"):
        with_sink = ref.evaluate(op, z, dtype="float32", sink=-math.inf).rounded
        np.testing.assert_array_equal(with_sink, ref.evaluate(op, z, dtype="float32").rounded)


@pytest.mark.parametrize("temperature", [None, 2.0])
def test_empty_range_with_a_finite_sink(temperature: float | None) -> None:
    """K = 0 or every logit masked: softmax 0, log_softmax −inf, lse = T·s (s without T)."""
    s = 2.5
    lse = s * (temperature or 1.0)
    masked = [-math.inf, -math.inf]
    kw: dict[str, Any] = {"sink": s, "temperature": temperature}
    np.testing.assert_array_equal(ref.softmax(masked, "float32", **kw), [0.0, 0.0])
    np.testing.assert_array_equal(ref.log_softmax(masked, "float32", **kw), [-np.inf] * 2)
    assert float(ref.logsumexp(masked, "float32", **kw)) == lse
    assert float(ref.logsumexp([], "float32", **kw)) == lse
    assert ref.softmax(np.zeros((3, 0)), "float32", **kw).shape == (3, 0)
    assert float(ref.logsumexp([], "float32", sink=-math.inf)) == -math.inf


def test_nan_sink_is_a_nan_logit() -> None:
    assert np.isnan(ref.softmax([1.0, 2.0], "float32", sink=math.nan)).all()
    assert np.isnan(ref.logsumexp([1.0, 2.0], "float32", sink=math.nan))


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_softcap_beyond_exp_overflow(dtype: str) -> None:
    """|z/c| = 88 (z = 4400, c = 50) and beyond each format's exp overflow: finite values, no
    NaN (the attack: tanh as (e^x − e^−x)/(e^x + e^−x) gives inf/inf); +inf caps to c, −inf
    stays masked."""
    fmt = get_format(dtype)
    big = round_exact(4400.0, fmt)
    z = [big, -big, 0.0, math.inf, -math.inf]
    lse = ref.logsumexp(z, dtype, softcap=50)
    with mpmath.workprec(200):
        v = [50 * mpmath.tanh(mpmath.mpf(big) / 50), -50 * mpmath.tanh(mpmath.mpf(big) / 50)]
        want = mpmath.log(mpmath.exp(v[0]) + mpmath.exp(v[1]) + 1 + mpmath.exp(50))
    assert float(lse) == round_exact(want, fmt)
    out = ref.softmax(z, dtype, softcap=50)
    assert np.isfinite(out).all() and float(out[4]) == 0.0
    dz = ref.softmax_vjp(z, [1.0, 0.0, 0.0, 0.0, 0.0], dtype, softcap=50)
    assert float(dz[3]) == 0.0 and float(dz[4]) == 0.0  # sech² = 0 at ±inf, σ = 0 masked


@pytest.mark.parametrize("cap", [2.0**-10, 1e4])
def test_tiny_and_huge_softcap(cap: float) -> None:
    """A tiny c flattens the row to a near-tie; a huge c leaves it as it was (to the ulp)."""
    z = [1.0, 2.0, 30.0]
    for op in ("softmax", "log_softmax", "logsumexp"):
        got = ref.evaluate(op, z, dtype="float32", softcap=cap).rounded
        _check(got, _brute(op, z, None, None, cap, None), "float32")


def test_softcap_and_sink_combine_without_capping_the_sink() -> None:
    """c = 1 caps the logits below 1; a sink of 5 stays 5, so it takes almost all the mass."""
    got = ref.softmax([100.0, 100.0], "float32", sink=5.0, softcap=1.0)
    with mpmath.workprec(200):
        share = mpmath.exp(mpmath.tanh(100)) / (2 * mpmath.exp(mpmath.tanh(100)) + mpmath.exp(5))
    assert float(got[0]) == round_exact(share, "float32")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"softcap": 0.0}, "softcap must be a positive finite"),
        ({"softcap": -1.0}, "softcap must be a positive finite"),
        ({"softcap": math.inf}, "softcap must be a positive finite"),
        ({"softcap": math.nan}, "softcap must be a positive finite"),
        ({"sink": "x"}, "sink"),
    ],
)
def test_bad_sink_or_softcap(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        ref.softmax([1.0, 2.0], "float32", **kwargs)
    assert "\n" not in str(info.value)


def test_sink_refused_where_it_does_not_apply() -> None:
    with pytest.raises(InputError, match="sink and softcap apply to"):
        ref.evaluate("jacobian", [1.0, 2.0], dtype="float32", sink=1.0)
    with pytest.raises(InputError, match="sink and softcap apply to"):
        ref.evaluate("cross_entropy", [1.0, 2.0], [0.0, 1.0], dtype="float32", softcap=1.0)
    with pytest.raises(InputError, match="of must be"):
        ref.sink_grad([1.0], [1.0], sink=1.0, of="jacobian")


def test_cli_sink_and_softcap() -> None:
    run = [sys.executable, "-m", "symsoftmax", "reference", "softmax", "--dtype", "float32"]
    done = subprocess.run(
        [*run, "--sink", "2.5", "--softcap", "50", "--json", "--", "1", "2", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    document = json.loads(done.stdout)
    want = ref.softmax([1, 2, 3], "float32", sink=2.5, softcap=50)
    assert [float.fromhex(h) for h in document["output"]] == [float(v) for v in want]
    assert float.fromhex(document["sink"]) == 2.5 and float.fromhex(document["softcap"]) == 50
    bad = subprocess.run([*run, "--softcap", "0", "--", "1"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
