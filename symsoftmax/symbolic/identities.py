"""The one registry of softmax identities: name, statement, closed form, which proofs exist.

Every identity that `symsoftmax verify` proves, for a fixed K (`symbolic.fixed_k.proofs`), for
symbolic K (`symbolic.any_k.general`), or that `symsoftmax derive` prints
(`symbolic.printing.derive`), is listed here once.
The proof modules hold only *how* each side is derived in their setting, keyed by these names:

* ``statement`` — the claim as printed for a fixed K (None: no fixed-K proof);
* ``general_statement`` — the claim as printed for symbolic K, where a third index is named q and
  summation indices r, because k is the summation index of the symbolic forms (None: no
  symbolic-K proof);
* ``closed_form`` — the default right-hand side, a template of `symbolic.closed_forms` (None for
  the max-shifted forms whose right side is the unshifted function itself);
* ``derive`` — the `derive WHAT` that prints this identity's closed form, if any.

Sources: Blanchard, Higham & Higham, "Accurately computing the log-sum-exp and softmax functions",
IMA J. Numer. Anal. 41 (2021), §2; the derivations in docs/symbolic.md and derivations/.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symsoftmax.symbolic import closed_forms as cf

__all__ = [
    "IDENTITIES",
    "RENAMED",
    "Identity",
    "ProofResult",
    "canonical_name",
    "index_patterns",
]


@dataclass(frozen=True)
class Identity:
    """One identity of the registry (see the module docstring for the fields)."""

    name: str
    statement: str | None
    general_statement: str | None = None
    closed_form: Callable[[], sp.Expr] | None = None
    derive: str | None = None


_JACOBIAN = "∂σ_i/∂z_j = σ_i(δ_ij − σ_j)"
_MAX_SHIFTED = "e^{z_i − m}/Σ_k e^{z_k − m} = σ_i"

IDENTITIES: dict[str, Identity] = {
    identity.name: identity
    for identity in [
        Identity("jacobian", _JACOBIAN, _JACOBIAN, cf.jacobian_closed_form, derive="jacobian"),
        Identity("jacobian_symmetric", "J_ij − J_ji = 0", closed_form=cf.zero),
        Identity("jacobian_rows_sum_to_zero", "J·1 = 0", "Σ_j ∂σ_i/∂z_j = 0", cf.zero),
        Identity(
            "vjp",
            "Jᵀg = σ ⊙ (g − ⟨g, σ⟩)",
            "Σ_r g_r ∂σ_r/∂z_j = σ_j(g_j − ⟨g, σ⟩)",
            cf.vjp_closed_form,
            derive="vjp",
        ),
        Identity(
            "log_softmax_jacobian",
            "∂ log σ_i/∂z_j = δ_ij − σ_j  (I − 1σᵀ)",
            "∂ log σ_i/∂z_j = δ_ij − σ_j",
            cf.log_softmax_jacobian_closed_form,
        ),
        Identity(
            "logsumexp_gradient",
            "∇ logsumexp = σ",
            "∂ lse/∂z_j = σ_j",
            cf.logsumexp_gradient_closed_form,
        ),
        Identity(
            "logsumexp_hessian",
            "∇² logsumexp = J:  ∂²lse/∂z_j∂z_k = σ_j(δ_jk − σ_k)",
            "∂²lse/∂z_j∂z_i = σ_j(δ_ji − σ_i)",
            cf.logsumexp_hessian_closed_form,
        ),
        Identity(
            "cross_entropy_gradient",
            "∂/∂z_j (−Σ_i y_i log σ_i) = σ_j − y_j  when Σ y = 1",
            "∂/∂z_j (−Σ_r y_r log σ_r) = σ_j − y_j  when Σ y = 1",
            cf.cross_entropy_gradient_closed_form,
            derive="cross_entropy_grad",
        ),
        Identity(
            "second_derivative",
            "∂²σ_i/∂z_j∂z_k = σ_i[(δ_ij − σ_j)(δ_ik − σ_k) − σ_j(δ_jk − σ_k)]",
            "∂²σ_i/∂z_j∂z_q = σ_i[(δ_ij − σ_j)(δ_iq − σ_q) − σ_j(δ_jq − σ_q)]",
            cf.second_derivative_closed_form,
            derive="hessian",
        ),
        Identity("shift_invariance", "σ(z + c) = σ(z)", closed_form=cf.softmax_value),
        Identity(
            "max_shifted_softmax",
            f"{_MAX_SHIFTED}  (any m, in particular m = max_k z_k)",
            _MAX_SHIFTED,
            cf.softmax_value,
        ),
        Identity(
            "jacobian_temperature",
            "∂σ_i/∂z_j = (1/T) σ_i(δ_ij − σ_j),  σ = softmax(z/T)",
            closed_form=lambda: cf.jacobian_closed_form(temperature=True),
        ),
        Identity(
            "log_softmax_jacobian_temperature",
            "∂ log σ_i/∂z_j = (δ_ij − σ_j)/T,  σ = softmax(z/T)",
            closed_form=lambda: cf.log_softmax_jacobian_closed_form(temperature=True),
        ),
        Identity("sigmoid_k2", "K = 2: σ(z)₁ = 1/(1 + e^{−(z₁ − z₂)})", closed_form=cf.sigmoid),
        Identity("max_shifted_log_softmax", None, "(z_i − m) − log Σ_k e^{z_k − m} = log σ_i"),
        Identity("max_shifted_logsumexp", None, "m + log Σ_k e^{z_k − m} = logsumexp(z)"),
        # the definition's own claims (symbolic.any_k.claims)
        Identity("softmax_sums_to_one", "Σ_j σ_j = 1", "Σ_j σ_j = 1"),
        Identity(
            "softmax_in_unit_interval",
            "0 < σ_j < 1 for K ≥ 2; σ_1 = 1 for K = 1",
            "0 < σ_j < 1 for K ≥ 2; σ_1 = 1 for K = 1",
        ),
        Identity(
            "softmax_order_preserving",
            "σ_i/σ_j = e^{z_i − z_j}, so z_i > z_j ⇔ σ_i > σ_j",
            "σ_i/σ_j = e^{z_i − z_j}, so z_i > z_j ⇔ σ_i > σ_j",
        ),
        Identity(
            "softmax_diagonal_derivative_positive",
            "∂σ_i/∂z_i = σ_i(1 − σ_i) > 0 for K ≥ 2 (0 for K = 1)",
            "∂σ_i/∂z_i = σ_i(1 − σ_i) > 0 for K ≥ 2 (0 for K = 1)",
        ),
        Identity(
            "log_softmax_nonpositive",
            "log σ_j ≤ 0, with equality only when K = 1",
            "log σ_j ≤ 0, with equality only when K = 1",
        ),
        Identity(
            "logsumexp_bounds",
            "max_k z_k ≤ logsumexp(z) ≤ max_k z_k + log K",
            "max_k z_k ≤ logsumexp(z) ≤ max_k z_k + log K",
        ),
        # the online recurrences (symbolic.online, proven in symbolic.any_k.online_proofs)
        Identity(
            "online_invariant",
            "m_k = max(m_{k−1}, z_k), d_k = d_{k−1}e^{m_{k−1} − m_k} + e^{z_k − m_k}, "
            "(m_0, d_0) = (−∞, 0): d_k·e^{m_k} = Σ_{j≤k} e^{z_j} for k = 1..K",
            "block step (m, d) → (max(m, M_b), d·e^{m − m_new} + Σ_{k=n+1}^{n+B} e^{z_k − m_new}): "
            "d·e^m = Σ_{j≤n} e^{z_j} for every prefix n (induction)",
        ),
        Identity(
            "online_finalize",
            "from (m_K, d_K): σ_j = e^{z_j − m_K}/d_K, log σ_j = z_j − m_K − log d_K, "
            "logsumexp = m_K + log d_K",
            "d·e^m = Σ_k e^{z_k} ⇒ e^{z_k − m}/d = σ_k, z_k − m − log d = log σ_k, "
            "m + log d = logsumexp(z)",
        ),
        Identity(
            "online_merge",
            "the states of z_1..z_p and z_{p+1}..z_K merged by ⊕ give d·e^m = Σ_{j≤K} e^{z_j} "
            "for every split p = 0..K",
            "(m_a, d_a) ⊕ (m_b, d_b) = (m, d_a e^{m_a − m} + d_b e^{m_b − m}), m = max(m_a, m_b), "
            "represents the concatenation: d·e^m = d_a e^{m_a} + d_b e^{m_b}",
        ),
        Identity(
            "online_merge_algebra",
            None,
            "⊕ is commutative and associative, with identity (−∞, 0)",
        ),
        Identity(
            "attention_accumulator",
            "o_k = o_{k−1}e^{m_{k−1} − m_k} + e^{z_k − m_k}v_k: o_K/d_K = Σ_j σ_j v_j",
            "o·e^m = Σ_{j≤n} e^{z_j}v_j for every prefix (induction), so o_K/d_K = Σ_j σ_j v_j",
        ),
        Identity(
            "attention_merge",
            "partial outputs of z_1..z_p and z_{p+1}..z_K merged: o·e^m = Σ_{j≤K} e^{z_j}v_j "
            "for every split p",
            "o = o_a e^{m_a − m} + o_b e^{m_b − m}: o·e^m = o_a e^{m_a} + o_b e^{m_b}",
        ),
        Identity(
            "attention_log_merge",
            None,
            "lse = logaddexp(lse_a, lse_b), O = O_a e^{lse_a − lse} + O_b e^{lse_b − lse}: "
            "e^{lse} = A + B and O = (V_a + V_b)/(A + B) for O_a = V_a/A, O_b = V_b/B",
        ),
        Identity(
            "attention_backward",
            "P = softmax(s), dP_j = Σ_c dO_c V_jc, D = Σ_c dO_c O_c: "
            "∂⟨dO, PV⟩/∂s_j = P_j(dP_j − D), and D = ⟨dP, P⟩ (the softmax VJP)",
            "P = softmax(s), dP_j = Σ_c dO_c V_jc, D = Σ_c dO_c O_c: "
            "∂⟨dO, PV⟩/∂s_j = P_j(dP_j − D), and D = ⟨dP, P⟩ (the softmax VJP)",
        ),
        Identity(
            "online_exp2_temperature",
            "base 2, c = log₂(e)/T: d_k·2^{m_k c} = Σ_{j≤k} e^{z_j/T}, "
            "2^{(z_j − m_K)c}/d_K = softmax(z/T)_j",
            "e^{x/T} = 2^{x·c}, c = log₂(e)/T; the base-2 step keeps "
            "d·2^{m c} = Σ_{j≤n} e^{z_j/T}; "
            "2^{(z_k − m)c}/d = softmax(z/T)_k, m/T + log d = logsumexp(z/T)",
        ),
        Identity(
            "online_log1p_invariant",
            None,
            "r = d − 1, the sum without one maximal term: p_new = [M_b > m], r_new = "
            "(r + p_new)·e^{m − m_new} + Σ_k (e^{z_k − m_new} − p_new·δ_{kκ}), "
            "z_κ = M_b, from (−∞, 0): (1 + r)·e^m = Σ_{j≤n} e^{z_j} for every prefix n "
            "(induction), and r_new ≥ 0 term by term",
        ),
        Identity(
            "online_log1p_finalize",
            None,
            "(1 + r)·e^m = Σ_k e^{z_k} ⇒ z_k − m − log1p(r) = log σ_k, m + log1p(r) = logsumexp(z)",
        ),
        # the sink and soft-cap variants (proven in symbolic.any_k.variants)
        Identity(
            "sink_claims",
            None,
            "σ_j = e^{z_j}/(e^s + Σ_k e^{z_k}), p_sink = e^s/(e^s + Σ_k e^{z_k}): "
            "Σ_j σ_j + p_sink = 1, 0 < σ_j < 1, 0 < p_sink < 1, log σ_j < 0, "
            "max(s, max z) ≤ lse ≤ max(s, max z) + log(K + 1); K = 0 or every z = −∞: "
            "σ = 0, log σ = −∞, lse = s; s = −∞ is softmax, s = 0 softmax₁",
        ),
        Identity(
            "sink_online",
            None,
            "the online step started from (m, d) = (s, 1): d·e^m = e^s + Σ_{j≤n} e^{z_j} "
            "for every prefix n (induction); e^{z_k − m}/d = σ_k, m + log d = lse, "
            "e^{s − m}/d = p_sink",
        ),
        Identity(
            "sink_split_merge",
            None,
            "partial states (m_a, d_a), (m_b, d_b) of two ranges from (−∞, 0), merged with the "
            "sink once: m = max(s, m_a, m_b), d = e^{s − m} + d_a e^{m_a − m} + d_b e^{m_b − m}: "
            "d·e^m = e^s + A + B for every split, empty or all-masked ranges included",
        ),
        Identity(
            "sink_gradient",
            None,
            "L = ⟨g, σ⟩ with a sink: ∂L/∂z_j = σ_j(g_j − ⟨g, σ⟩), ∂L/∂s = −p_sink·⟨g, σ⟩",
        ),
        Identity(
            "softcap_chain_rule",
            None,
            "y_k = c·tanh(z_k/(cT)): ∂⟨g, σ(y)⟩/∂z_j = σ_j(g_j − ⟨g, σ⟩)·(1 − tanh²(z_j/(cT)))/T "
            "(J·diag(1 − tanh²) as a VJP); +∞ is capped to c",
        ),
    ]
}

RENAMED = {"max_shifted_form": "max_shifted_softmax"}  # old name → registry name (still accepted)


def canonical_name(name: str) -> str:
    """The registry name for ``name`` (an old name from RENAMED is mapped to its new one)."""
    return RENAMED.get(name, name)


def index_patterns(arity: int) -> list[tuple[int, ...]]:
    """Every equality pattern of ``arity`` indices: the set partitions of the positions, each as
    block labels in order of first appearance — (0, 0) for i = j, (0, 1) for i ≠ j, and so on.

    These are the orbits of S_K on index tuples (the representative entries of the permutation
    proofs, `proofs.representative_entries`) and the index cases of the symbolic-K proofs
    (`general`)."""
    return [
        labels
        for labels in itertools.product(range(arity), repeat=arity)
        if all(labels[n] <= max(labels[:n], default=-1) + 1 for n in range(arity))
    ]


@dataclass(frozen=True, kw_only=True)
class ProofResult:
    """Outcome of one identity; on failure ``entry`` (1-based) and ``residual`` say where/why.

    Keyword-only: nine fields, several of the same type, are easy to swap by position."""

    name: str
    statement: str
    proven: bool
    method: str
    seconds: float
    entries_checked: int = 0
    entry: tuple[int, ...] | None = None
    residual: str | None = None
    assumptions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form: name, proven, method, seconds (+ statement, entry, residual, assumptions)."""
        data: dict[str, Any] = {
            "name": self.name,
            "proven": self.proven,
            "method": self.method,
            "seconds": round(self.seconds, 6),
            "statement": self.statement,
            "entries_checked": self.entries_checked,
        }
        if self.assumptions:
            data["assumptions"] = list(self.assumptions)
        if not self.proven:
            data["entry"] = list(self.entry) if self.entry else None
            data["residual"] = self.residual
        return data

    def failure_message(self) -> str:
        """One line naming the identity, the entry and the non-zero residual."""
        if self.proven:
            return f"{self.name}: proven"
        where = f" at entry {self.entry}" if self.entry else ""
        return f"{self.name} ({self.statement}) NOT proven{where}: residual {self.residual} ≠ 0"
