"""Choices and limits of the symbolic commands, in a module without SymPy.

The library (`symbolic.fixed_k.proofs`, `symbolic.printing.derive`) checks its arguments against
these, and the CLI (`cli/verify.py`, `cli/derive.py`) offers them as choices at parse time
without paying for the SymPy import.
"""

from __future__ import annotations

__all__ = [
    "BOUND_ALGORITHMS",
    "BOUND_OPS",
    "EXHAUSTIVE_MAX_K",
    "FIXED_CLAIMS_MAX_K",
    "FIXED_EXHAUSTIVE_MAX_K",
    "MAX_BOUND_K",
    "MAX_DERIVE_K",
    "MAX_K",
    "ONLINE_WHATS",
    "PROOF_MODES",
    "STYLES",
    "WHATS",
]

PROOF_MODES = ("auto", "exhaustive", "permutation")  # fixed-K proofs, see docs/symbolic.md
EXHAUSTIVE_MAX_K = 16  # auto mode: entry by entry up to here (K³ = 4096 second-derivative entries)
MAX_K = 100_000  # beyond this even the O(K) permutation proofs are not worth running
# The definition's claims and the online identities (symbolic.any_k.claims,
# symbolic.any_k.online_proofs) are SymPy proofs over K-term sums: their fixed-K forms run for
# K <= FIXED_CLAIMS_MAX_K (symbolic K and length: `verify --general`), every
# component/branch for K <= FIXED_EXHAUSTIVE_MAX_K.
FIXED_CLAIMS_MAX_K = 16
FIXED_EXHAUSTIVE_MAX_K = 8

WHATS = (  # the formulas `derive` prints
    "softmax",
    "log_softmax",
    "logsumexp",
    "jacobian",
    "vjp",
    "hessian",
    "cross_entropy_grad",
)
ONLINE_WHATS = ("online_step", "merge", "attention_step")  # the online updates; no K
STYLES = ("latex", "text", "markdown", "python", "c")  # how `derive` prints them
MAX_DERIVE_K = 16  # printed output has up to K³ entries (hessian): keep it readable
# `derive bound`: the ops and kernel classes of the per-component error analysis
# (symbolic.error_analysis; the same names as the validator's --op and --algorithm)
BOUND_OPS = ("softmax", "log_softmax", "logsumexp")
BOUND_ALGORITHMS = ("two-pass", "one-pass", "split", "exp2")
MAX_BOUND_K = 6  # one δ per rounding: the linearization grows as K² symbols
