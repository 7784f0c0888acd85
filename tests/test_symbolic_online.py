"""The definition's claims and the online-softmax recurrences: proven for symbolic K/length and
fixed K, and a wrong recurrence or claim is rejected with the failing case and its residual.

(tests/test_symbolic.py runs the exact-ring identities over more K; these case proofs cost SymPy
0.1–1 s each, so they run at a few K here.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sympy as sp

from symsoftmax.cli import main
from symsoftmax.symbolic import online as on
from symsoftmax.symbolic.any_k import casework as cw
from symsoftmax.symbolic.any_k.claims import CLAIMS, FIXED_K_CLAIMS, prove_claim
from symsoftmax.symbolic.any_k.online_proofs import (
    FIXED_K_ONLINE,
    ONLINE,
    prove_online,
    prove_online_fixed,
)
from symsoftmax.symbolic.fixed_k.proofs import (
    CASE_PROOF_NAMES,
    names_for,
    prove_all,
    prove_identity,
)
from symsoftmax.symbolic.identities import IDENTITIES
from symsoftmax.symbolic.options import FIXED_CLAIMS_MAX_K

EXP = sp.exp


def test_every_claim_and_online_identity_is_proven_for_symbolic_k() -> None:
    for name in CLAIMS:
        proof = prove_claim(name)
        assert proof.proven, proof.result().failure_message()
        assert proof.statement == IDENTITIES[name].general_statement
    for name in ONLINE:
        proof = prove_online(name)
        assert proof.proven, proof.result().failure_message()
        assert proof.cases, name


@pytest.mark.parametrize(
    ("size", "mode"), [(1, "exhaustive"), (3, "exhaustive"), (2, "permutation"), (5, "permutation")]
)
def test_every_fixed_k_case_proof_is_proven(size: int, mode: str) -> None:
    results = prove_all(size, mode=mode, names=CASE_PROOF_NAMES)
    assert [r.name for r in results] == list(CASE_PROOF_NAMES)
    for r in results:
        assert r.proven, r.failure_message()
        assert r.statement == IDENTITIES[r.name].statement


def test_exhaustive_mode_enumerates_every_branch_sequence_of_the_max() -> None:
    every = prove_online_fixed("online_invariant", 3, "exhaustive")
    # 2^(K−1) = 4 branch sequences, each checked at every prefix k = 1..3
    assert len(every.cases) == 12 and "every branch sequence" in every.method
    free = prove_online_fixed("online_invariant", 3, "permutation")
    assert len(free.cases) == 3 and "free reals" in free.method


def test_fixed_k_case_proofs_stop_at_their_cap() -> None:
    assert "online_invariant" in names_for(FIXED_CLAIMS_MAX_K)
    assert "online_invariant" not in names_for(FIXED_CLAIMS_MAX_K + 1)
    with pytest.raises(ValueError, match="symbolic K"):
        prove_identity("logsumexp_bounds", FIXED_CLAIMS_MAX_K + 1)


# --- a wrong recurrence is rejected, naming the case and the residual -------------------------

_BLOCK = sp.Sum(EXP(on.z[on.k] - on.m_new), (on.k, 1, on.B))


def _failure(proof: cw.CaseProof) -> str:
    assert not proof.proven
    text = proof.result().residual
    assert text is not None
    return text


def test_missing_rescale_of_the_running_denominator_is_rejected() -> None:
    wrong = {"m": on.ONLINE_STEP["m"], "d": on.d + _BLOCK}  # d not multiplied by e^{m − m_new}
    text = _failure(prove_online("online_invariant", wrong))
    # only the branch where the maximum moves exposes it
    assert text.startswith("M_b > m (m_new = M_b)") and "residual" in text and "exp(t)" in text
    fixed = prove_online_fixed("online_invariant", 3, "exhaustive", wrong).result()
    assert not fixed.proven and "m_3 new, k = 3: d_k·e^{m_k}" in (fixed.residual or "")
    assert not prove_online_fixed("online_invariant", 3, "permutation", wrong).proven


def test_a_min_instead_of_the_max_keeps_the_algebra_but_fails_the_bounds() -> None:
    # the invariant holds for any shift, so only the no-overflow bounds reject it
    wrong = {"m": sp.Min(on.m, on.M_b), "d": on.ONLINE_STEP["d"]}
    text = _failure(prove_online("online_invariant", wrong))
    assert "max evaluated" in text or "≤ 0" in text


def test_wrong_merge_and_attention_updates_are_rejected() -> None:
    one_sided = {"m": on.MERGE["m"], "d": on.d_a * EXP(on.m_a - on.m_new) + on.d_b}
    assert "m_a ≥ m_b" in _failure(prove_online("online_merge", one_sided))
    assert "commutative" in _failure(prove_online("online_merge_algebra", one_sided))
    assert not prove_online_fixed("online_merge", 3, "exhaustive", one_sided).proven
    stale = dict(on.ATTENTION_STEP)
    stale["o"] = on.o + sp.Sum(EXP(on.z[on.k] - on.m_new) * on.v[on.k], (on.k, 1, on.B))
    assert "o_new" in _failure(prove_online("attention_accumulator", stale))
    assert not prove_online_fixed("attention_accumulator", 3, "permutation", stale).proven
    unweighted = dict(on.LOG_MERGE)
    unweighted["o"] = on.o_a + on.o_b
    assert "O = (V_a + V_b)/(A + B)" in _failure(prove_online("attention_log_merge", unweighted))


def test_wrong_finalize_and_base2_scale_are_rejected() -> None:
    wrong = dict(on.FINALIZE)
    wrong["log_softmax"] = on.z[on.k] - on.m + sp.log(on.d)
    assert _failure(prove_online("online_finalize", wrong)).startswith("log_softmax")
    assert not prove_online_fixed("online_finalize", 2, "exhaustive", wrong).proven
    natural = {  # 2^{x} without the log₂(e)/T scale folded in
        "m": on.ONLINE_STEP_EXP2["m"],
        "d": on.d * on.exp2(on.m - on.m_new)
        + sp.Sum(on.exp2(on.z[on.k] - on.m_new), (on.k, 1, on.B)),
    }
    assert "residual" in _failure(prove_online("online_exp2_temperature", natural))


def test_a_replacement_update_must_be_sympy_expressions() -> None:
    text: Any = "d + 1"  # a string is never parsed (sympify would eval it)
    with pytest.raises(ValueError, match="dict of name → SymPy expression, got str"):
        prove_online("online_invariant", text)
    with pytest.raises(ValueError, match="got dict"):
        prove_online("online_merge", {"d": text})
    with pytest.raises(ValueError, match="no update to replace"):
        prove_online("attention_backward", dict(on.MERGE))
    with pytest.raises(ValueError, match="unknown online identity"):
        prove_online("online_nothing")
    with pytest.raises(ValueError, match="unknown claim 'nothing'; known: softmax_sums_to_one"):
        prove_claim("nothing")


def test_sign_cases_are_decided_by_assumptions_never_guessed() -> None:
    E, R = sp.symbols("E R", positive=True)
    assert cw.sign("σ > 0", E / (E + R), ">").holds
    undecided = cw.sign("σ > 1/2", E / (E + R) - sp.Rational(1, 2), ">")
    assert not undecided.holds and "cannot decide" in undecided.describe()
    assert not cw.sign("negative", -E, ">").holds
    assert not cw.equal("σ = 1", E / (E + R), sp.S.One).holds


def test_claim_results_list_their_lemmas() -> None:
    result = prove_claim("softmax_order_preserving").result()
    lemmas = [a for a in result.assumptions if a.startswith("lemma: ")]
    assert any("strictly increasing" in lemma for lemma in lemmas)
    assert any("exponential series" in lemma for lemma in lemmas)


# --- the CLI ----------------------------------------------------------------------------------


def test_verify_general_lists_the_new_identities_with_the_same_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["verify", "--general", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_name = {d["name"]: d for d in data["identities"]}
    assert set(CLAIMS) | set(ONLINE) <= set(by_name)
    for name in (*CLAIMS, *ONLINE):
        entry = by_name[name]
        # the fields of every other identity (assumptions only when there are some)
        assert (
            {"name", "proven", "method", "seconds", "statement", "entries_checked"}
            <= set(entry)
            <= {
                "name",
                "proven",
                "method",
                "seconds",
                "statement",
                "entries_checked",
                "assumptions",
            }
        )
        assert entry["proven"] is True and entry["entries_checked"] > 0
    assert main(["verify", "--general"]) == 0
    out = capsys.readouterr().out
    assert "note: lemma: e^{−∞} = 0" in out and "note: assumption: (m, d) = (−∞, 0)" in out


@pytest.mark.parametrize("flag", ["--exhaustive", "--permutation"])
def test_verify_k_runs_the_fixed_k_forms_in_both_modes(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--k", "3", flag, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    methods = {d["name"]: d["method"] for d in data["identities"]}
    assert set(FIXED_K_CLAIMS) | set(FIXED_K_ONLINE) <= set(methods)
    expected = "every branch sequence" if flag == "--exhaustive" else "free reals"
    assert expected in methods["online_invariant"]


# --- the log1p form (issue 19 §4): r = d − 1, the sum without one maximal term ---------------


def _log1p_step(r_update: sp.Expr) -> dict[str, sp.Expr]:
    return {**on.ONLINE_STEP_LOG1P, "r": r_update}


_TERMS = EXP(on.z[on.k] - on.m_new)
_ONE_HOT = sp.KroneckerDelta(on.k, on.kappa)


def test_the_log1p_step_must_leave_out_exactly_one_maximal_term() -> None:
    """Three near misses of ONLINE_STEP_LOG1P, each rejected in the branch it gets wrong."""
    rescaled = (on.r + on.p_new) * EXP(on.m - on.m_new)
    keeps_the_new_one = rescaled + sp.Sum(_TERMS, (on.k, 1, on.B))  # r_new one too large
    text = _failure(prove_online("online_log1p_invariant", _log1p_step(keeps_the_new_one)))
    assert text.startswith("M_b > m (m_new = M_b)")
    always_subtracts = rescaled + sp.Sum(_TERMS - _ONE_HOT, (on.k, 1, on.B))  # one too small
    text = _failure(prove_online("online_log1p_invariant", _log1p_step(always_subtracts)))
    assert text.startswith("m ≥ M_b (m_new = m)")
    drops_the_old_one = on.r * EXP(on.m - on.m_new) + sp.Sum(
        _TERMS - on.p_new * _ONE_HOT, (on.k, 1, on.B)
    )
    text = _failure(prove_online("online_log1p_invariant", _log1p_step(drops_the_old_one)))
    assert text.startswith("M_b > m (m_new = M_b)")


def test_the_log1p_finalize_must_add_the_left_out_term_back() -> None:
    wrong = {**on.FINALIZE_LOG1P, "logsumexp": on.m + sp.log(on.r)}  # log r, not log(1 + r)
    assert _failure(prove_online("online_log1p_finalize", wrong)).startswith("logsumexp")
    assert prove_online("online_log1p_finalize").proven
