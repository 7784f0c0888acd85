"""The sink and soft-cap variants (symbolic.any_k.variants): proven for symbolic K, and wrong
recurrences rejected with the failing case named (docs/symbolic.md, "Variants")."""

from __future__ import annotations

import pytest
import sympy as sp

from symsoftmax.symbolic import online as on
from symsoftmax.symbolic.any_k.general import GENERAL_PROOFS
from symsoftmax.symbolic.any_k.variants import VARIANTS, prove_variant


@pytest.mark.parametrize("name", list(VARIANTS))
def test_each_variant_is_proven_by_cases_and_listed_by_verify_general(name: str) -> None:
    proof = prove_variant(name)
    assert proof.proven, proof.result().failure_message()
    assert all(case.holds for case in proof.cases) and len(proof.cases) >= 2
    assert name in GENERAL_PROOFS


def _failing(name: str, update: dict[str, sp.Expr]) -> str:
    result = prove_variant(name, update).result()
    assert not result.proven
    assert result.residual is not None
    return result.residual


def test_a_sink_in_the_max_but_not_in_d_is_rejected_at_the_base_case() -> None:
    # the kernel starts from m = s but d = 0: the sink sets the shift and is never counted
    wrong = {"m0": on.s, "d0": sp.S.Zero, **on.ONLINE_STEP}
    assert _failing("sink_online", wrong).startswith("base case n = 0")


def test_the_sink_taken_into_every_max_but_no_denominator_is_rejected() -> None:
    wrong = {
        "m0": -sp.oo,
        "d0": sp.S.Zero,
        "m": sp.Max(on.m, on.M_b, on.s),
        "d": on.ONLINE_STEP["d"],
    }
    assert "d_0·e^{m_0} = e^s" in _failing("sink_online", wrong)


def test_a_sink_merged_twice_is_rejected_with_the_ordering_named() -> None:
    # both partial states started from (s, 1): the merge sees the sink once per range
    twice = {"m": on.SINK_MERGE["m"], "d": on.SINK_MERGE["d"] + sp.exp(on.s - on.m_new)}
    residual = _failing("sink_split_merge", twice)
    assert "d·e^m = e^s + A + B" in residual and "s = m_a = m_b" in residual


def test_a_merge_that_drops_the_sink_fails_when_both_ranges_are_empty() -> None:
    dropped = {"m": on.SINK_MERGE["m"], "d": on.SINK_MERGE["d"] - sp.exp(on.s - on.m_new)}
    proof = prove_variant("sink_split_merge", dropped)
    failing = [case.label for case in proof.cases if not case.holds]
    assert "both ranges empty: d = 1 (the sink alone)" in failing


def test_claims_and_derivatives_take_no_replacement() -> None:
    with pytest.raises(ValueError, match="nothing to replace"):
        prove_variant("sink_gradient", {"d": sp.S.One})
    with pytest.raises(ValueError, match="unknown variant identity"):
        prove_variant("sink_twice")
    with pytest.raises(TypeError, match="dict of SymPy expressions"):
        prove_variant("sink_online", {"d0": "1"})  # type: ignore[dict-item]
