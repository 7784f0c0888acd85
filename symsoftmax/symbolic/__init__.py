"""Symbolic half of symsoftmax (SymPy): expressions, derivatives, proofs and printing.

Public API (see docs/symbolic.md):

* `IDENTITIES` — the one registry (module `identities`): name, statements, closed form, derive;
* `prove_all(K, mode="auto")`, `prove_identity(name, K, closed_form=None)` — exact fixed-K proofs;
* `prove_general()`, `prove_general_identity(name)` — proofs for symbolic K;
* `ProofResult` — name, proven, method, seconds, and entry/residual on failure;
* closed forms: `jacobian_closed_form`, `vjp_closed_form`, … (templates in s[i], δ_ij);
* `derive(what, K)` and `render(derived, style)`; `write_derivations(directory)`;
* the definition's claims and the online recurrences: `prove_claim(name)`,
  `prove_online(name, update=None)` (case proofs), `derive_online(what)`, `render_online`.

Modules: `terms` (monomial and coefficient types) ← `polynomial` (Laurent polynomial arithmetic,
pure Python; `flint_polynomial` backs it with python-flint when ``SYMSOFTMAX_RING=flint``, slower
on these proofs: docs/symbolic.md) ← `ring` (atoms: exp, log, 1/b; derivation,
permutations, zero test) ← `templates`, `proofs` (fixed K); `general` (symbolic K, SymPy only);
`identities` (the registry) and `options` (choices and limits, no SymPy) are read by all of them
and by the CLI. `online` holds the online-softmax recurrences; `casework` the case proofs
(equalities expanded to 0, signs decided by SymPy's assumptions, checked lemmas) that `claims`
and `online_proofs` build; `derive_online` prints the online updates.
"""

from __future__ import annotations

from symsoftmax._lazy import lazy_names

_LAZY = {
    "prove_all": "symsoftmax.symbolic.proofs",
    "prove_identity": "symsoftmax.symbolic.proofs",
    "ProofResult": "symsoftmax.symbolic.proofs",
    "IDENTITIES": "symsoftmax.symbolic.proofs",
    "prove_general": "symsoftmax.symbolic.general",
    "prove_general_identity": "symsoftmax.symbolic.general",
    "jacobian_closed_form": "symsoftmax.symbolic.closed_forms",
    "log_softmax_jacobian_closed_form": "symsoftmax.symbolic.closed_forms",
    "vjp_closed_form": "symsoftmax.symbolic.closed_forms",
    "logsumexp_gradient_closed_form": "symsoftmax.symbolic.closed_forms",
    "logsumexp_hessian_closed_form": "symsoftmax.symbolic.closed_forms",
    "cross_entropy_gradient_closed_form": "symsoftmax.symbolic.closed_forms",
    "second_derivative_closed_form": "symsoftmax.symbolic.closed_forms",
    "derive": "symsoftmax.symbolic.derive",
    "render": "symsoftmax.symbolic.derive",
    "write_derivations": "symsoftmax.symbolic.derivations",
    "prove_claim": "symsoftmax.symbolic.claims",
    "prove_online": "symsoftmax.symbolic.online_proofs",
    "derive_online": "symsoftmax.symbolic.derive_online",
    "render_online": "symsoftmax.symbolic.derive_online",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
