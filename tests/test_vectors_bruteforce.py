"""Independent re-check of expected values: mpmath brute force, not the reference engine.

Each output is computed from the textbook formula with mpmath at 300 bits and again at 600
bits (plus the bits of the largest |z − max|/T, which exp's argument needs), and rounded
exactly (its binary value, no detour through float) with
rounding.round_exact. When both precisions round to the same format value (they do unless the
value is an exact zero or lies within 2^−290 of a rounding breakpoint), that value must equal
the file's expected value, and the file's 40-digit decimal must agree with the 600-bit value
to 10^−39 relative. Special values (NaN, ±inf inputs) are covered by the convention tests in
test_vectors.py.
"""

from __future__ import annotations

from functools import cache

import mpmath
import numpy as np
import pytest

from symsoftmax.rounding import round_exact
from symsoftmax.vectors import OPS, generate
from symsoftmax.vectors.model import TestCase, VectorFile


@cache
def quick(op: str, dtype: str) -> VectorFile:
    return generate(op, dtype, "quick", 11)


def brute_force(op: str, tc: TestCase) -> dict[str, list[mpmath.mpf]]:
    """Every output of ``op`` at the current mpmath precision, textbook formulas."""
    z = [mpmath.mpf(float(v)) for v in tc.inputs["z"]]
    temperature = mpmath.mpf(float(tc.inputs["temperature"])) if "temperature" in tc.inputs else 1
    # the logits the op sees (docs/reference.md): x = z/T, capped to c·tanh(x/c) (−inf stays,
    # a mask); a sink s joins the sum as one more logit with no output
    x = [v / temperature for v in z]
    if "softcap" in tc.inputs:
        c = mpmath.mpf(float(tc.inputs["softcap"]))
        x = [c * mpmath.tanh(v / c) if mpmath.isfinite(v) else v for v in x]
        slope = [mpmath.sech(v / temperature / c) ** 2 for v in z]  # 1 − tanh², no cancellation
    else:
        slope = [mpmath.mpf(1)] * len(z)
    sink = [mpmath.mpf(float(tc.inputs["sink"]))] if "sink" in tc.inputs else []
    m = max(x + sink)
    t_all = [v - m for v in x + sink]
    e_all = [mpmath.exp(v) for v in t_all]
    total = mpmath.fsum(e_all)
    t, e = t_all[: len(x)], e_all[: len(x)]
    s = [v / total for v in e]
    # 1 − s_i without cancellation: the sum of the other terms over the total
    rest = [mpmath.fsum(e_all[:i] + e_all[i + 1 :]) / total for i in range(len(e))]
    top = t_all.index(max(t_all))  # log(total) = log1p(the other terms): no cancellation near 1
    log_total = mpmath.log1p(mpmath.fsum(e_all[:top] + e_all[top + 1 :]))
    if op == "softmax":
        return {"output": s}
    if op == "log_softmax":
        return {"output": [v - log_total for v in t]}
    if op == "logsumexp":
        return {"output": [temperature * (m + log_total)]}
    if op == "jacobian":
        k = len(z)
        return {
            "output": [
                s[i] * rest[i] if i == j else -s[i] * s[j] for i in range(k) for j in range(k)
            ]
        }
    if op == "softmax_vjp":
        g = [mpmath.mpf(float(v)) for v in tc.inputs["g"]]
        p_sink = 1 - mpmath.fsum(s) if sink else 0  # g_sink = 0: s_i(g_i − ⟨g, s⟩)
        return {
            "dz": [
                slope[i]
                * s[i]
                * (mpmath.fsum(s[j] * (g[i] - g[j]) for j in range(len(g))) + p_sink * g[i])
                for i in range(len(g))
            ]
        }
    if op == "log_softmax_vjp":
        g = [mpmath.mpf(float(v)) for v in tc.inputs["g"]]
        # g_i − s_i·Σg = g_i·(1 − s_i) − s_i·Σ_{j≠i} g_j: no cancellation of 1 − s_i
        others = [mpmath.fsum(g[:i] + g[i + 1 :]) for i in range(len(g))]
        return {"dz": [slope[i] * (g[i] * rest[i] - s[i] * others[i]) for i in range(len(g))]}
    if op == "cross_entropy":
        y = [mpmath.mpf(float(v)) for v in tc.inputs["y"]]
        total_y = mpmath.fsum(y)
        loss = total_y * log_total - mpmath.fsum(yi * ti for yi, ti in zip(y, t, strict=True))
        others = [mpmath.fsum(y[:i] + y[i + 1 :]) for i in range(len(y))]
        grad = [s[i] * others[i] - y[i] * rest[i] for i in range(len(y))]  # = s_i·Σy − y_i
        return {"loss": [loss], "grad": grad}
    raise AssertionError(op)


def _argument_bits(tc: TestCase) -> int:
    """Bits of the largest |z − max|/T: exp of an argument of magnitude 2^b needs b extra bits."""
    z = np.concatenate([tc.inputs["z"], np.ravel(tc.inputs.get("sink", []))])
    finite = z[np.isfinite(z)]
    with mpmath.workprec(64):
        spread = mpmath.mpf(float(finite.max())) - mpmath.mpf(float(finite.min()))
        if "temperature" in tc.inputs:
            spread /= mpmath.mpf(float(tc.inputs["temperature"]))
        return max(0, int(mpmath.mag(spread))) if spread else 0


DTYPES = ["float64", "float32", "float16", "bfloat16"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_a_sample_matches_an_independent_brute_force(op: str, dtype: str) -> None:
    """Every fourth test of each quick file, rows up to 64 (the whole files: the slow variant)."""
    check_against_brute_force(quick(op, dtype), stride=4, max_k=64)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_every_quick_test_matches_an_independent_brute_force(op: str, dtype: str) -> None:
    check_against_brute_force(quick(op, dtype), stride=1, max_k=None)


def check_against_brute_force(vf: VectorFile, stride: int, max_k: int | None) -> None:
    op, dtype = vf.op, vf.dtype
    checked = undecided = decimals = 0
    for tc in list(vf.tests())[::stride]:
        if not np.isfinite(tc.inputs["z"]).any() or np.isnan(tc.inputs["z"]).any():
            continue
        if np.isinf(tc.inputs["z"]).any():
            continue  # special values: the convention tests in test_vectors.py
        if max_k is not None and tc.inputs["z"].size > max_k:
            continue  # long rows: the slow variant
        if "softcap" in tc.inputs and (op.endswith("_vjp") or op == "cross_entropy"):
            cap = float(tc.inputs["softcap"])
            if np.abs(tc.inputs["z"] / cap).max() > 2.0**20:
                # sech²(z/c) = e^−(2^21 and more): exact mpmath sums of such terms do not fit
                # in memory (tests/test_sink_softcap_reference.py covers these rows)
                continue
        extra = _argument_bits(tc)
        with mpmath.workprec(300 + extra):
            low = brute_force(op, tc)
        with mpmath.workprec(600 + extra):
            high = brute_force(op, tc)
        for key, values in high.items():
            expected = tc.expected[key].ravel()
            exact = tc.exact[key].ravel()
            for i, value in enumerate(values):
                rounded = _decided(low[key][i], value, dtype, 300 + extra)
                if rounded is None:
                    undecided += 1
                    continue
                assert rounded == expected[i], (tc.tc_id, tc.comment, key, i, expected[i])
                checked += 1
                with mpmath.workprec(700 + 2 * extra):  # parsing 10^E needs E's bits too
                    if abs(low[key][i] - value) > abs(value) * mpmath.mpf(10) ** -45:
                        continue  # the brute force's own digits are unsure: no decimal check
                    decimal = mpmath.mpf(exact[i])
                    close = abs(decimal - value) <= abs(value) * mpmath.mpf(10) ** -39
                assert close, (tc.tc_id, key, i, exact[i])
                decimals += 1
    assert checked > 100 // stride and decimals > 100 // stride
    assert undecided <= checked // 10, (undecided, checked)


def _decided(low: mpmath.mpf, high: mpmath.mpf, dtype: str, bits: int) -> float | None:
    """The format value both brute-force results round to, if neither is near a breakpoint.

    Each result is widened by 2^(20 − bits) relative; if the widened ends round apart (a
    rounding breakpoint lies within), or the two precisions disagree, it is undecided (e.g.
    t − L with L below the working precision sitting on an exact midpoint).
    """
    with mpmath.workprec(bits + 700):
        eps = mpmath.mpf(2) ** (20 - bits)
        ends = {round_exact(v * (1 + d), dtype) for v in (low, high) for d in (-eps, eps)}
    return ends.pop() if len(ends) == 1 else None
