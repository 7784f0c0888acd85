"""Exact proofs of the softmax identities for a fixed K.

Each identity compares a *derived* side — obtained by differentiating the expressions of
`symsoftmax.symbolic.expressions` in the exact ring of `symsoftmax.symbolic.exact.ring` — with a
*closed form* template from `symsoftmax.symbolic.closed_forms` (a parameter, so wrong forms can be
tested). An entry is proven when derived − closed is the zero Laurent polynomial after clearing the
reciprocal atoms: an exact symbolic zero, not a numeric spot check.

Two modes:

* ``exhaustive``: every entry (K² for matrices, K³ for the second derivative).
* ``permutation``: both sides are permutation-equivariant — the derived side because the function
  it differentiates is (checked exactly on the generators (1 2) and (1 2 … K) of S_K, and
  ∂/∂z_{π(j)} commutes with relabelling), the closed form because it uses its indices only through
  s[i], δ_ij and full sums (checked structurally) — so J(Pz) = P J(z) Pᵀ and one representative
  entry per orbit of index tuples suffices: (1,1) and (1,2) for a matrix; (1,1,1), (1,1,2),
  (1,2,1), (1,2,2), (1,2,3) for the second derivative; 1 for a vector.

``auto`` chooses exhaustive for K ≤ 16 and permutation above.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import sympy as sp

from symsoftmax.symbolic import closed_forms as cf
from symsoftmax.symbolic.any_k.casework import CaseProof
from symsoftmax.symbolic.any_k.claims import FIXED_K_CLAIMS, prove_claim_fixed
from symsoftmax.symbolic.any_k.online_proofs import FIXED_K_ONLINE, prove_online_fixed
from symsoftmax.symbolic.exact.polynomial import LaurentPolynomial
from symsoftmax.symbolic.exact.ring import RingConversionError, SymbolicRing
from symsoftmax.symbolic.expressions import (
    log_softmax,
    logits,
    logsumexp,
    softmax,
    softmax_shifted,
)
from symsoftmax.symbolic.fixed_k.templates import compile_template
from symsoftmax.symbolic.identities import (
    IDENTITIES,
    Identity,
    ProofResult,
    canonical_name,
    index_patterns,
)
from symsoftmax.symbolic.options import EXHAUSTIVE_MAX_K, FIXED_CLAIMS_MAX_K, MAX_K, PROOF_MODES

__all__ = [
    "CASE_PROOF_NAMES",
    "EXACT_RING_NAMES",
    "EXHAUSTIVE_MAX_K",
    "FIXED_K_NAMES",
    "FIXED_K_PROOFS",
    "IDENTITIES",
    "MAX_K",
    "PROOF_MODES",
    "FixedKContext",
    "FixedKProof",
    "ProofResult",
    "names_for",
    "prove_all",
    "prove_identity",
    "representative_entries",
    "resolve_mode",
]

RESIDUAL_CHARS = 400


class FixedKContext:
    """The expressions for one K, converted once to the exact ring, with derived caches."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.z = logits(size)
        self.y = tuple(sp.Symbol(f"y{n}", real=True) for n in range(1, size + 1))
        self.g = tuple(sp.Symbol(f"g{n}", real=True) for n in range(1, size + 1))
        self.ring = SymbolicRing(self.z, families=(self.y, self.g))
        self._jacobian: dict[tuple[int, int], LaurentPolynomial] = {}

    @cached_property
    def sigma(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(e) for e in softmax(self.z)]

    @cached_property
    def sigma_temperature(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(e) for e in softmax(self.z, cf.T)]

    @cached_property
    def log_sigma(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(e) for e in log_softmax(self.z)]

    @cached_property
    def log_sigma_temperature(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(e) for e in log_softmax(self.z, cf.T)]

    @cached_property
    def lse(self) -> LaurentPolynomial:
        return self.ring.convert(logsumexp(self.z))

    @cached_property
    def shifted_by_c(self) -> list[LaurentPolynomial]:
        """σ(z + c) with a free real c."""
        c = sp.Symbol("c", real=True)
        return [self.ring.convert(e) for e in softmax([zi + c for zi in self.z])]

    @cached_property
    def max_shifted(self) -> list[LaurentPolynomial]:
        """e^{z_i − m}/Σ_k e^{z_k − m}: the generated code's form, m standing for max_k z_k."""
        return [self.ring.convert(e) for e in softmax_shifted(self.z, cf.FORMS.m)]

    @cached_property
    def cross_entropy(self) -> LaurentPolynomial:
        """−Σ_i y_i log σ_i, with log σ_i = z_i − logsumexp(z) (`expressions.log_softmax`)."""
        terms = zip(self.y_vector, self.log_sigma, strict=True)
        return -LaurentPolynomial.sum(yi * li for yi, li in terms)

    @cached_property
    def y_vector(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(v) for v in self.y]

    @cached_property
    def g_vector(self) -> list[LaurentPolynomial]:
        return [self.ring.convert(v) for v in self.g]

    def jacobian(self, row: int, column: int) -> LaurentPolynomial:
        """∂σ_row/∂z_column (0-based), differentiated in the ring and cached."""
        key = (row, column)
        entry = self._jacobian.get(key)
        if entry is None:
            entry = self.ring.derivative(self.sigma[row], column)
            self._jacobian[key] = entry
        return entry

    def sum_to_one(self, poly: LaurentPolynomial) -> LaurentPolynomial:
        """Reduce modulo Σ_i y_i = 1 by substituting y_K = 1 − Σ_{i<K} y_i."""
        last = self.y_vector[-1].single_variable()
        assert last is not None
        replacement = LaurentPolynomial.constant(1) - LaurentPolynomial.sum(self.y_vector[:-1])
        return self.ring.substitute(poly, last[0], replacement)


Entry = tuple[int, ...]


@dataclass(frozen=True)
class FixedKProof:
    """How one registry identity is proven for a fixed K: its template indices, the derived side
    per entry, what must be equivariant for the permutation mode, and an optional reduction."""

    name: str  # a key of identities.IDENTITIES (statement and default closed form live there)
    indices: tuple[sp.Symbol, ...]
    derived: Callable[[FixedKContext, Entry], LaurentPolynomial]
    values: str = "sigma"  # which vector the template's s[·] denotes
    equivariant: Callable[[FixedKContext], bool] = field(default=lambda ctx: True)
    reduce: Callable[[FixedKContext, LaurentPolynomial], LaurentPolynomial] | None = None
    assumptions: tuple[str, ...] = ()

    @property
    def identity(self) -> Identity:
        return IDENTITIES[self.name]


def _equivariant(*names: str) -> Callable[[FixedKContext], bool]:
    """Check that the named context values are S_K-equivariant vectors or invariant scalars."""

    def check(ctx: FixedKContext) -> bool:
        for name in names:
            value = getattr(ctx, name)
            if isinstance(value, LaurentPolynomial):
                if not ctx.ring.is_invariant(value):
                    return False
            elif not ctx.ring.is_equivariant(value):
                return False
        return True

    return check


def _vjp(ctx: FixedKContext, entry: Entry) -> LaurentPolynomial:
    (column,) = entry
    return LaurentPolynomial.sum(
        ctx.g_vector[row] * ctx.jacobian(row, column) for row in range(ctx.size)
    )


def _row_sum(ctx: FixedKContext, entry: Entry) -> LaurentPolynomial:
    (row,) = entry
    return LaurentPolynomial.sum(ctx.jacobian(row, column) for column in range(ctx.size))


def _d(ctx: FixedKContext, poly: LaurentPolynomial, *positions: int) -> LaurentPolynomial:
    for position in positions:
        poly = ctx.ring.derivative(poly, position)
    return poly


_I, _J, _K = cf.i, cf.j, cf.k

FIXED_K_PROOFS: dict[str, FixedKProof] = {
    spec.name: spec
    for spec in [
        FixedKProof(
            "jacobian",
            (_I, _J),
            lambda ctx, e: ctx.jacobian(e[0], e[1]),
            equivariant=_equivariant("sigma"),
        ),
        FixedKProof(
            "jacobian_symmetric",
            (_I, _J),
            lambda ctx, e: ctx.jacobian(e[0], e[1]) - ctx.jacobian(e[1], e[0]),
            equivariant=_equivariant("sigma"),
        ),
        FixedKProof(
            "jacobian_rows_sum_to_zero",
            (_I,),
            _row_sum,
            equivariant=_equivariant("sigma"),
        ),
        FixedKProof(
            "vjp",
            (_J,),
            _vjp,
            equivariant=_equivariant("sigma"),
        ),
        FixedKProof(
            "log_softmax_jacobian",
            (_I, _J),
            lambda ctx, e: _d(ctx, ctx.log_sigma[e[0]], e[1]),
            equivariant=_equivariant("log_sigma"),
        ),
        FixedKProof(
            "logsumexp_gradient",
            (_J,),
            lambda ctx, e: _d(ctx, ctx.lse, e[0]),
            equivariant=_equivariant("lse"),
        ),
        FixedKProof(
            "logsumexp_hessian",
            (_J, _K),
            lambda ctx, e: _d(ctx, ctx.lse, e[0], e[1]),
            equivariant=_equivariant("lse"),
        ),
        FixedKProof(
            "cross_entropy_gradient",
            (_J,),
            lambda ctx, e: _d(ctx, ctx.cross_entropy, e[0]),
            equivariant=_equivariant("cross_entropy"),
            reduce=FixedKContext.sum_to_one,
            assumptions=("Σ_i y_i = 1 (used as y_K = 1 − Σ_{i<K} y_i)",),
        ),
        FixedKProof(
            "second_derivative",
            (_I, _J, _K),
            lambda ctx, e: _d(ctx, ctx.jacobian(e[0], e[1]), e[2]),
            equivariant=_equivariant("sigma"),
        ),
        FixedKProof(
            "shift_invariance",
            (_I,),
            lambda ctx, e: ctx.shifted_by_c[e[0]],
            equivariant=_equivariant("sigma", "shifted_by_c"),
        ),
        FixedKProof(
            "max_shifted_softmax",
            (_I,),
            lambda ctx, e: ctx.max_shifted[e[0]],
            equivariant=_equivariant("sigma", "max_shifted"),
        ),
        FixedKProof(
            "jacobian_temperature",
            (_I, _J),
            lambda ctx, e: _d(ctx, ctx.sigma_temperature[e[0]], e[1]),
            values="sigma_temperature",
            equivariant=_equivariant("sigma_temperature"),
        ),
        FixedKProof(
            "log_softmax_jacobian_temperature",
            (_I, _J),
            lambda ctx, e: _d(ctx, ctx.log_sigma_temperature[e[0]], e[1]),
            values="sigma_temperature",
            equivariant=_equivariant("log_sigma_temperature"),
        ),
    ]
}
SIGMOID = "sigmoid_k2"  # proven by its own function at K = 2 (`prove_sigmoid`)
# The definition's claims and the online identities: SymPy case proofs (symbolic.any_k.claims,
# symbolic.any_k.online_proofs), run for K <= FIXED_CLAIMS_MAX_K.
_CASE_PROOFS: dict[str, Callable[[str, int, str], CaseProof]] = {
    **{name: prove_claim_fixed for name in FIXED_K_CLAIMS},
    **{name: prove_online_fixed for name in FIXED_K_ONLINE},
}
CASE_PROOF_NAMES = tuple(_CASE_PROOFS)
EXACT_RING_NAMES = (*FIXED_K_PROOFS, SIGMOID)  # proven in the exact ring (symbolic.exact.ring)
FIXED_K_NAMES = (*EXACT_RING_NAMES, *CASE_PROOF_NAMES)  # the order `verify --k` prints


@functools.lru_cache(maxsize=256)
def _case_proof(name: str, size: int, mode: str) -> ProofResult:
    """One fixed-K case proof, memoised per process: it is deterministic, and SymPy takes
    0.1–1 s for each, so repeated `prove_all` calls (tests, the CLI fuzz) run it once."""
    return _CASE_PROOFS[name](name, size, mode).result()


def names_for(size: int) -> tuple[str, ...]:
    """The identities `prove_all` proves for K = ``size`` (the case proofs up to
    FIXED_CLAIMS_MAX_K; above, they are proven for symbolic K by `prove_general`)."""
    if size <= FIXED_CLAIMS_MAX_K:
        return FIXED_K_NAMES
    return tuple(name for name in FIXED_K_NAMES if name not in _CASE_PROOFS)


def resolve_mode(size: int, mode: str) -> str:
    """``auto`` → exhaustive for K ≤ EXHAUSTIVE_MAX_K, permutation above."""
    if mode not in PROOF_MODES:
        raise ValueError(f"mode must be one of {', '.join(PROOF_MODES)}, got {mode!r}")
    if mode == "auto":
        return "exhaustive" if size <= EXHAUSTIVE_MAX_K else "permutation"
    return mode


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_K:
        raise ValueError(f"K must be an integer in 1..{MAX_K}, got {size!r}")


def representative_entries(arity: int, size: int) -> list[Entry]:
    """One index tuple (0-based) per orbit of S_K acting on {1..K}^arity: the equality patterns
    of the positions (`identities.index_patterns`) that need at most K distinct values."""
    return [labels for labels in index_patterns(arity) if max(labels) < size]


def _residual_text(ctx: FixedKContext, residual: LaurentPolynomial) -> str:
    names: dict[int, sp.Expr] = {}
    legend = ""
    for atom in ctx.ring.inverse_atoms([residual]):
        argument = ctx.ring.atom_argument(atom)
        if argument is not None and len(argument.terms) == ctx.size and ctx.size > 1:
            # The partition sum: shown as S, with its first term as a legend.
            names[atom] = 1 / sp.Symbol("S")
            first_term = dict([next(iter(argument.terms.items()))])
            first = ctx.ring.to_sympy(LaurentPolynomial(first_term))
            legend = f"  (S = sum of the {ctx.size} terms {first}, …)"
    text = str(ctx.ring.to_sympy(residual, names)) + legend
    return text if len(text) <= RESIDUAL_CHARS else text[: RESIDUAL_CHARS - 1] + "…"


def _prove_with(
    ctx: FixedKContext, spec: FixedKProof, closed_form: sp.Expr, mode: str
) -> ProofResult:
    start = time.perf_counter()
    statement = spec.identity.statement
    assert statement is not None  # every FIXED_K_PROOFS entry has a fixed-K statement

    def outcome(proven: bool, method: str, checked: int, **failure: Any) -> ProofResult:
        return ProofResult(
            name=spec.name,
            statement=statement,
            proven=proven,
            method=method,
            seconds=time.perf_counter() - start,
            entries_checked=checked,
            assumptions=spec.assumptions,
            **failure,
        )

    arity = len(spec.indices)
    vectors = {"s": getattr(ctx, spec.values), "y": ctx.y_vector, "g": ctx.g_vector}
    try:
        template = compile_template(closed_form, spec.indices, ctx.ring, vectors, ctx.size, cf.K)
    except RingConversionError as exc:
        return _rejected(spec.name, statement, exc)
    method = "exact ring, every entry"
    entries: Iterable[Entry] = itertools.product(range(ctx.size), repeat=arity)
    if mode == "permutation":
        if not template.index_generic:
            method = "exact ring, every entry (closed form not index-generic)"
        elif not spec.equivariant(ctx):
            method = "exact ring, every entry (equivariance check failed)"
        else:
            reps = representative_entries(arity, ctx.size)
            shown = ", ".join("(" + ",".join(str(n + 1) for n in e) + ")" for e in reps)
            method = f"permutation symmetry (S_K-equivariant both sides): entries {shown}"
            entries = reps
    checked = 0
    for entry in entries:
        checked += 1
        one_based = tuple(n + 1 for n in entry)
        try:
            residual = spec.derived(ctx, entry) - template.evaluate(one_based)
        except RingConversionError as exc:
            return outcome(False, method, checked, entry=one_based, residual=str(exc))
        if spec.reduce is not None:
            residual = spec.reduce(ctx, residual)
        if not ctx.ring.is_identically_zero(residual)[0]:
            text = _residual_text(ctx, residual)
            return outcome(False, method, checked, entry=one_based, residual=text)
    return outcome(True, method, checked)


def _rejected(name: str, statement: str, error: RingConversionError) -> ProofResult:
    """The result for a closed form the exact ring cannot represent (nothing was checked)."""
    return ProofResult(
        name=name,
        statement=statement,
        proven=False,
        method="closed form rejected",
        seconds=0.0,
        residual=str(error),
    )


def prove_sigmoid(closed_form: sp.Expr | None = None) -> ProofResult:
    """K = 2: σ(z₁, z₂) = (sigmoid(z₁ − z₂), sigmoid(z₂ − z₁)), sigmoid(x) = 1/(1 + e^{−x}).

    ``closed_form`` is an expression in ``closed_forms.x`` (default `closed_forms.sigmoid()`).
    """
    start = time.perf_counter()
    identity = IDENTITIES[SIGMOID]
    statement, default = identity.statement, identity.closed_form
    assert statement is not None and default is not None
    form = default() if closed_form is None else closed_form
    ctx = FixedKContext(2)

    def outcome(proven: bool, checked: int, **failure: Any) -> ProofResult:
        return ProofResult(
            name=SIGMOID,
            statement=statement,
            proven=proven,
            method="exact ring at K = 2",
            seconds=time.perf_counter() - start,
            entries_checked=checked,
            **failure,
        )

    z1, z2 = ctx.z
    for n, argument in enumerate((z1 - z2, z2 - z1)):
        try:
            closed = ctx.ring.convert(form.xreplace({cf.x: argument}))
        except RingConversionError as exc:
            return _rejected(SIGMOID, statement, exc)
        residual = ctx.sigma[n] - closed
        if not ctx.ring.is_identically_zero(residual)[0]:
            return outcome(False, n + 1, entry=(n + 1,), residual=_residual_text(ctx, residual))
    return outcome(True, 2)


def prove_identity(
    name: str,
    size: int,
    closed_form: sp.Expr | None = None,
    mode: str = "auto",
    context: FixedKContext | None = None,
) -> ProofResult:
    """Prove one identity (a name in FIXED_K_NAMES, or an old name of `identities.RENAMED`) for
    K = ``size``.

    ``closed_form`` replaces the default template (see `closed_forms`); ``mode`` is auto,
    exhaustive or permutation.
    """
    _check_size(size)
    name = canonical_name(name)
    if name == SIGMOID:
        return prove_sigmoid(closed_form)
    if name in _CASE_PROOFS:
        if closed_form is not None:
            raise ValueError(
                f"{name} has no closed-form template; a replacement recurrence is passed to "
                "symbolic.any_k.online_proofs.prove_online_fixed"
            )
        if size > FIXED_CLAIMS_MAX_K:
            raise ValueError(
                f"{name}: the fixed-K form runs for K <= {FIXED_CLAIMS_MAX_K}, got {size}; "
                "it is proven for symbolic K by prove_general"
            )
        return _case_proof(name, size, resolve_mode(size, mode))
    spec = FIXED_K_PROOFS.get(name)
    if spec is None:
        raise ValueError(f"unknown identity {name!r}; known: {', '.join(FIXED_K_NAMES)}")
    ctx = context if context is not None else FixedKContext(size)
    default = spec.identity.closed_form
    assert default is not None  # every fixed-K identity has a closed-form template
    form = default() if closed_form is None else closed_form
    return _prove_with(ctx, spec, form, resolve_mode(size, mode))


def prove_all(
    size: int,
    mode: str = "auto",
    closed_forms: Mapping[str, sp.Expr] | None = None,
    names: Sequence[str] | None = None,
) -> list[ProofResult]:
    """Prove every fixed-K identity (`names_for` K, or ``names``) for K = ``size``.

    ``closed_forms`` maps identity names to replacement templates (to test that wrong ones fail).
    """
    _check_size(size)
    overrides = {canonical_name(name): form for name, form in (closed_forms or {}).items()}
    unknown = set(overrides) - set(FIXED_K_NAMES)
    if unknown:
        raise ValueError(f"unknown identities in closed_forms: {', '.join(sorted(unknown))}")
    ctx = FixedKContext(size)
    return [
        prove_identity(name, size, overrides.get(canonical_name(name)), mode, ctx)
        for name in (names if names is not None else names_for(size))
    ]
