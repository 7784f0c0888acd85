"""Symbolic half of symsoftmax (SymPy): expressions, derivatives, proofs and printing.

Public API (see docs/symbolic.md):

* `IDENTITIES` — the one registry (module `identities`): name, statements, closed form, derive;
* `prove_all(K, mode="auto")`, `prove_identity(name, K, closed_form=None)` — exact fixed-K proofs;
* `prove_general()`, `prove_general_identity(name)` — proofs for symbolic K;
* `ProofResult` — name, proven, method, seconds, and entry/residual on failure;
* closed forms: `jacobian_closed_form`, `vjp_closed_form`, … (templates in s[i], δ_ij);
* `derive(what, K)` and `render(derived, style)`; `write_derivations(directory)`;
* the definition's claims and the online recurrences: `prove_claim(name)`,
  `prove_online(name, update=None)` (case proofs), `derive_online(what)`, `render_online`;
* the sink and soft-cap variants: `prove_variant(name, update=None)` (case proofs).

Sub-packages, one per part: `exact` (the exact ring: `terms` ← `polynomial`, pure Python;
`flint_polynomial` backs it with python-flint when ``SYMSOFTMAX_RING=flint``, slower on these
proofs: docs/symbolic.md ← `ring`: atoms exp, log, 1/b; derivation, permutations, zero test);
`fixed_k` (`templates`, `proofs`: one K in the exact ring); `any_k` (symbolic K, SymPy only:
`general`, and the case proofs of `casework` — equalities expanded to 0, signs decided by SymPy's
assumptions, checked lemmas — that `claims`, `online_proofs` and `variants` build); `printing`
(`derive`, `derive_online`, `derivations`). Shared at this level: `expressions` (the definitions)
and `online` (the recurrences) that everything proves and prints, `closed_forms` (the templates),
`identities` (the registry), `options` (choices and limits, no SymPy, read by the CLI) and
`error_analysis` (the per-component rounding-error bounds).
"""

from __future__ import annotations

from symsoftmax._lazy import lazy_names

_LAZY = {
    "prove_all": "symsoftmax.symbolic.fixed_k.proofs",
    "prove_identity": "symsoftmax.symbolic.fixed_k.proofs",
    "ProofResult": "symsoftmax.symbolic.fixed_k.proofs",
    "IDENTITIES": "symsoftmax.symbolic.fixed_k.proofs",
    "prove_general": "symsoftmax.symbolic.any_k.general",
    "prove_general_identity": "symsoftmax.symbolic.any_k.general",
    "jacobian_closed_form": "symsoftmax.symbolic.closed_forms",
    "log_softmax_jacobian_closed_form": "symsoftmax.symbolic.closed_forms",
    "vjp_closed_form": "symsoftmax.symbolic.closed_forms",
    "logsumexp_gradient_closed_form": "symsoftmax.symbolic.closed_forms",
    "logsumexp_hessian_closed_form": "symsoftmax.symbolic.closed_forms",
    "cross_entropy_gradient_closed_form": "symsoftmax.symbolic.closed_forms",
    "second_derivative_closed_form": "symsoftmax.symbolic.closed_forms",
    "derive": "symsoftmax.symbolic.printing.derive",
    "render": "symsoftmax.symbolic.printing.derive",
    "write_derivations": "symsoftmax.symbolic.printing.derivations",
    "prove_claim": "symsoftmax.symbolic.any_k.claims",
    "prove_online": "symsoftmax.symbolic.any_k.online_proofs",
    "prove_variant": "symsoftmax.symbolic.any_k.variants",
    "derive_online": "symsoftmax.symbolic.printing.derive_online",
    "render_online": "symsoftmax.symbolic.printing.derive_online",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
