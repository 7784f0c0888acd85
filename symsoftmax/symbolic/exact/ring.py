"""Exact differential algebra for the fixed-K proofs: Laurent polynomials over ℚ in "atoms".

A SymPy expression built from logits z_1..z_K (plus parameters such as T, c, y_i, g_i) is converted
into a sparse Laurent polynomial whose variables are *atoms*:

* symbols (logits and parameters), allowed negative exponents (T⁻¹);
* exponentials e^{u}, one atom per base u, with e^{n·u} = (e^{u})^n for integer n, so
  e^{z₂ − z₁} = E₂·E₁⁻¹ (the exponential is a group homomorphism, hence Laurent exponents);
* logarithms log b and reciprocals 1/b of non-monomial expressions b (e.g. R = 1/Σ_k e^{z_k}).

Each atom carries its derivative with respect to z_j (the chain rule):
∂z_k/∂z_j = δ_kj, ∂e^{u}/∂z_j = e^{u}·∂u/∂z_j, ∂log b/∂z_j = (1/b)·∂b/∂z_j,
∂(1/b)/∂z_j = −(1/b)²·∂b/∂z_j. Extended to polynomials by the product rule, this is a derivation
equal to ∂/∂z_j on the functions the polynomials denote, so ``derivative`` *is* differentiation.

Equality test (exact): a residual P is zero if it is the zero polynomial; otherwise every
reciprocal atom 1/b is cleared (multiply by b^d, replace (1/b)^e by b^{d−e}), giving a Laurent
polynomial Q in symbols and exponentials only. Q = 0 as a polynomial proves P = 0 as a function
wherever the denominators are non-zero (they are sums of exponentials: positive). The atoms left
in Q (z_k, e^{z_k}, log Σe^{z_k}, parameters) are algebraically independent as functions, so a
non-zero Q means the identity is false, and Q is reported as the residual.

Layers: the polynomial arithmetic (sum, product, power, the derivation extending given variable
derivatives, renaming of variables over integer variable ids) lives in `symbolic.exact.polynomial`,
whose `LaurentPolynomial` is the pure-Python backend or python-flint's (SYMSOFTMAX_RING); this
module is the atom layer on top — what each variable id stands for,
conversion from and to SymPy, the derivation, permutations of the indexed families and the zero
test. docs/symbolic.md ("Why a hand-written ring") gives the reasons and measurements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from symsoftmax.symbolic.exact.polynomial import (
    Coefficient,
    LaurentPolynomial,
    Monomial,
    reciprocal_coefficient,
)

__all__ = ["RingConversionError", "SymbolicRing"]


class RingConversionError(ValueError):
    """The expression uses an operation the exact ring does not model (e.g. sqrt, sin)."""


def _generators(size: int) -> list[list[int]]:
    """The transposition (1 2) and the cycle (1 2 … K), 0-based; they generate S_K."""
    if size < 2:
        return []
    swap = [1, 0, *range(2, size)]
    cycle = [*range(1, size), 0]
    return [swap, cycle]


def _coefficient(number: sp.Rational) -> Coefficient:
    p, q = int(number.p), int(number.q)
    return p if q == 1 else Fraction(p, q)


@dataclass(frozen=True)
class _Atom:
    kind: str  # "symbol" | "exp" | "log" | "inv"
    expr: sp.Expr  # the symbol, the exponential's base u, or the log/reciprocal argument b
    argument: LaurentPolynomial | None = None  # ring form of u or b


class SymbolicRing:
    """Converts SymPy expressions in the logits into Laurent polynomials, differentiates them and
    tests them for zero.

    ``logits`` are the differentiation variables z_1..z_K; every other symbol is a parameter
    (∂/∂z_j = 0). Conversion results are memoised per (hash-consed) SymPy node, so a shared
    denominator Σ_k e^{z_k} is converted once however many σ_i use it.
    """

    def __init__(
        self, logits: Sequence[sp.Symbol], families: Sequence[Sequence[sp.Symbol]] = ()
    ) -> None:
        self.logits = tuple(logits)
        self._atoms: list[_Atom] = []
        self._atom_ids: dict[tuple[str, sp.Expr], int] = {}
        self._atom_by_argument: dict[tuple[str, LaurentPolynomial], int] = {}
        self._logit_atom: dict[int, int] = {}  # logit position (0-based) -> atom id
        self._atom_logit: dict[int, int] = {}  # atom id -> logit position
        for position, symbol in enumerate(self.logits):
            atom = self._atom("symbol", symbol)
            self._logit_atom[position] = atom
            self._atom_logit[atom] = position
        # Indexed families (logits, targets y, cotangents g): permutations act on all at once.
        self._family_of: dict[int, tuple[int, int]] = {}  # atom -> (family, position)
        self._families: list[list[int]] = []
        for number, family in enumerate((self.logits, *families)):
            if len(family) != len(self.logits):
                raise ValueError("every indexed family must have K members")
            atoms = [self._atom("symbol", symbol) for symbol in family]
            self._families.append(atoms)
            for position, atom in enumerate(atoms):
                self._family_of[atom] = (number, position)
        self._memo: dict[sp.Basic, LaurentPolynomial] = {}
        self._atom_derivatives: dict[tuple[int, int], LaurentPolynomial] = {}
        self._support: dict[int, frozenset[int]] = {}  # atom -> logit positions it depends on
        self._argument_index: dict[
            int, dict[int, LaurentPolynomial]
        ] = {}  # atom -> position -> its terms
        self._dependents_of: dict[int, tuple[int, list[int]]] = {}  # position -> (atoms, deps)

    # -- atoms ---------------------------------------------------------------------------------
    def _atom(self, kind: str, expr: sp.Expr, argument: LaurentPolynomial | None = None) -> int:
        key = (kind, expr)
        atom = self._atom_ids.get(key)
        if atom is None:
            atom = len(self._atoms)
            self._atoms.append(_Atom(kind, expr, argument))
            self._atom_ids[key] = atom
            if argument is not None:
                self._atom_by_argument.setdefault((kind, argument), atom)
        return atom

    def atom_argument(self, atom: int) -> LaurentPolynomial | None:
        return self._atoms[atom].argument

    # -- conversion ----------------------------------------------------------------------------
    def convert(self, expr: sp.Basic) -> LaurentPolynomial:
        """Ring form of a SymPy expression (rational functions of symbols, exp and log)."""
        cached = self._memo.get(expr)
        if cached is None:
            cached = self._convert(expr)
            self._memo[expr] = cached
        return cached

    def _convert(self, expr: sp.Basic) -> LaurentPolynomial:
        if isinstance(expr, sp.Rational):
            return LaurentPolynomial.constant(_coefficient(expr))
        if isinstance(expr, sp.Add):
            return LaurentPolynomial.sum(self.convert(arg) for arg in expr.args)
        if isinstance(expr, sp.Mul):
            product = LaurentPolynomial.constant(1)
            for arg in expr.args:
                product = product * self.convert(arg)
            return product
        if isinstance(expr, sp.Pow):
            return self._convert_power(expr)
        if isinstance(expr, sp.exp):
            return self._convert_exp(expr.args[0])
        if isinstance(expr, sp.log):
            argument = self.convert(expr.args[0])
            return LaurentPolynomial.variable(self._atom("log", expr.args[0], argument))
        if isinstance(expr, sp.Symbol):
            return LaurentPolynomial.variable(self._atom("symbol", expr))
        raise RingConversionError(f"cannot represent {type(expr).__name__} exactly: {expr}")

    def _convert_power(self, expr: sp.Pow) -> LaurentPolynomial:
        base, exponent = expr.args
        if base is sp.E:
            return self._convert_exp(exponent)
        if not (isinstance(exponent, sp.Integer)):
            raise RingConversionError(f"non-integer power {exponent} in {expr}")
        n = int(exponent)
        converted = self.convert(base)
        if n >= 0:
            return converted**n
        # A monomial in symbols/exponentials has a Laurent inverse; anything else gets 1/b.
        if len(converted) == 1:
            ((monomial, c),) = converted.terms.items()
            if all(self._atoms[a].kind in ("symbol", "exp") for a, _ in monomial):
                inverse = tuple((a, -e) for a, e in monomial)
                return LaurentPolynomial.from_term(inverse, reciprocal_coefficient(c)) ** (-n)
        return LaurentPolynomial.variable(self._atom("inv", base, converted), -n)

    def _convert_exp(self, argument: sp.Expr) -> LaurentPolynomial:
        """e^{Σ c_t u_t} = Π (e^{u_t/q_t})^{p_t} for rational c_t = p_t/q_t (expanded first)."""
        product = LaurentPolynomial.constant(1)
        for term in sp.Add.make_args(sp.expand(argument)):
            coefficient, base = term.as_coeff_Mul()
            if not isinstance(coefficient, sp.Rational):
                base, coefficient = term, sp.S.One
            p, q = int(coefficient.p), int(coefficient.q)
            base = base / q if q != 1 else base
            if base == 1:  # e^{p/q}: a constant atom (never appears in softmax expressions)
                base, p = sp.Rational(p, q), 1
            atom = self._atom("exp", base, self.convert(base))
            product = product * LaurentPolynomial.variable(atom, p)
        return product

    # -- differentiation -----------------------------------------------------------------------
    def derivative(self, poly: LaurentPolynomial, position: int) -> LaurentPolynomial:
        """∂poly/∂z_{position+1}, by the product rule over atoms (chain rule per atom)."""
        return poly.derivation(
            lambda atom: self._atom_derivative(atom, position), lambda: self._dependents(position)
        )

    def _dependents(self, position: int) -> list[int]:
        """The atoms whose derivative in z_{position+1} may be non-zero (recomputed when atoms
        have been added since)."""
        cached = self._dependents_of.get(position)
        if cached is None or cached[0] != len(self._atoms):
            atoms = [a for a in range(len(self._atoms)) if position in self.support(a)]
            cached = (len(self._atoms), atoms)
            self._dependents_of[position] = cached
        return cached[1]

    def _atom_derivative(self, atom: int, position: int) -> LaurentPolynomial:
        key = (atom, position)
        cached = self._atom_derivatives.get(key)
        if cached is not None:
            return cached
        info = self._atoms[atom]
        if info.kind == "symbol":
            result = LaurentPolynomial.constant(1 if self._atom_logit.get(atom) == position else 0)
        else:
            # Only the terms of the argument that depend on z_j contribute: for the partition
            # sum Σ_k e^{z_k} that is one term, so ∂(1/S)/∂z_j costs O(1), not O(K).
            relevant = self._terms_depending_on(atom).get(position)
            d_argument = (
                LaurentPolynomial() if relevant is None else self.derivative(relevant, position)
            )
            if info.kind == "exp":  # (e^u)' = e^u u'
                result = LaurentPolynomial.variable(atom) * d_argument
            elif info.kind == "log":  # (log b)' = b'/b
                reciprocal = self._atom("inv", info.expr, info.argument)
                result = LaurentPolynomial.variable(reciprocal) * d_argument
            else:  # (1/b)' = −b'/b²
                result = -(LaurentPolynomial.variable(atom, 2) * d_argument)
        self._atom_derivatives[key] = result
        return result

    def support(self, atom: int) -> frozenset[int]:
        """Positions j with ∂atom/∂z_j possibly non-zero."""
        cached = self._support.get(atom)
        if cached is None:
            info = self._atoms[atom]
            if info.kind == "symbol":
                position = self._atom_logit.get(atom)
                cached = frozenset() if position is None else frozenset({position})
            else:
                assert info.argument is not None
                cached = frozenset().union(*(self.support(a) for a in info.argument.variables()))
            self._support[atom] = cached
        return cached

    def _terms_depending_on(self, atom: int) -> dict[int, LaurentPolynomial]:
        index = self._argument_index.get(atom)
        if index is None:
            argument = self._atoms[atom].argument
            assert argument is not None
            grouped: dict[int, dict[Monomial, Coefficient]] = {}
            for monomial, c in argument.terms.items():
                positions = frozenset().union(*(self.support(a) for a, _ in monomial))
                for position in positions:
                    grouped.setdefault(position, {})[monomial] = c
            index = {position: LaurentPolynomial(terms) for position, terms in grouped.items()}
            self._argument_index[atom] = index
        return index

    # -- permutations ---------------------------------------------------------------------------
    def permute(
        self,
        poly: LaurentPolynomial,
        permutation: Sequence[int],
        memo: dict[int, int | None] | None = None,
    ) -> LaurentPolynomial | None:
        """poly with every indexed atom x_k replaced by x_{π(k)} (π given 0-based), or None
        when the image of an exp/log/reciprocal atom is not an atom of this ring (then no
        equivariance can be concluded). ``memo`` caches atom images across calls for one π."""
        memo = {} if memo is None else memo
        return poly.rename(lambda atom: self._permute_atom(atom, permutation, memo))

    def _permute_atom(
        self, atom: int, permutation: Sequence[int], memo: dict[int, int | None]
    ) -> int | None:
        if atom in memo:
            return memo[atom]
        info = self._atoms[atom]
        result: int | None
        if atom in self._family_of:
            family, position = self._family_of[atom]
            result = self._families[family][permutation[position]]
        elif info.kind == "symbol":
            result = atom
        else:
            assert info.argument is not None
            image = self.permute(info.argument, permutation, memo)
            result = None if image is None else self._atom_by_argument.get((info.kind, image))
        memo[atom] = result
        return result

    def is_equivariant(self, vector: Sequence[LaurentPolynomial]) -> bool:
        """v(Pz) = P v(z) for every permutation P (v a function of all indexed families).

        Checked for the two generators of the symmetric group S_K, the transposition (1 2) and
        the cycle (1 2 … K): v_{π(i)} = π·v_i for each. O(K) for softmax-like vectors.
        """
        size = len(vector)
        for permutation in _generators(size):
            memo: dict[int, int | None] = {}
            for position, component in enumerate(vector):
                image = self.permute(component, permutation, memo)
                if image is None or image != vector[permutation[position]]:
                    return False
        return len(vector) == len(self.logits)

    def is_invariant(self, poly: LaurentPolynomial) -> bool:
        """f(Pz) = f(z) for every permutation P (checked on the generators of S_K)."""
        return all(
            self.permute(poly, permutation) == poly for permutation in _generators(len(self.logits))
        )

    # -- substitution and zero test ------------------------------------------------------------
    def substitute(
        self, poly: LaurentPolynomial, atom: int, replacement: LaurentPolynomial
    ) -> LaurentPolynomial:
        """poly with atom → replacement (non-negative exponents of ``atom`` only)."""
        parts = []
        for exponent, rest in poly.split_off(atom):
            if exponent < 0:
                raise ValueError("cannot substitute into a negative power")
            parts.append(rest * replacement**exponent)
        return LaurentPolynomial.sum(parts)

    def clear_denominators(self, poly: LaurentPolynomial) -> LaurentPolynomial:
        """Multiply out every reciprocal atom 1/b and drop it.

        With e_min ≤ e ≤ e_max the exponents of 1/b in ``poly``, poly = 0 iff
        Σ c·(rest)·b^{e_max − e} = 0 (multiply by b^{e_max}, then divide by the non-zero
        (1/b)^{e_min}); only the powers b^0..b^{e_max − e_min} are formed.
        """
        while True:
            reciprocals = sorted(a for a in poly.variables() if self._atoms[a].kind == "inv")
            if not reciprocals:
                return poly
            atom = reciprocals[-1]  # the newest: its argument may hold older reciprocals
            argument = self._atoms[atom].argument
            assert argument is not None
            split = poly.split_off(atom)
            top = max(exponent for exponent, _ in split)
            powers: dict[int, LaurentPolynomial] = {}
            parts = []
            for exponent, rest in split:
                n = top - exponent
                if n not in powers:
                    powers[n] = argument**n
                parts.append(rest * powers[n])
            poly = LaurentPolynomial.sum(parts)

    def is_identically_zero(self, poly: LaurentPolynomial) -> tuple[bool, LaurentPolynomial]:
        """(True, 0) when poly denotes the zero function, else (False, cleared residual)."""
        if poly.is_zero():
            return True, poly
        cleared = self.clear_denominators(poly)
        return cleared.is_zero(), cleared

    # -- back to SymPy -------------------------------------------------------------------------
    def to_sympy(
        self, poly: LaurentPolynomial, names: Mapping[int, sp.Expr] | None = None
    ) -> sp.Expr:
        """SymPy expression of ``poly``; ``names`` maps atoms to short stand-ins (e.g. 1/S)."""
        names = names or {}
        terms = []
        for monomial, c in poly.terms.items():
            factors: list[sp.Expr] = [sp.Rational(c.numerator, c.denominator)]
            for atom, e in monomial:
                factors.append(self._atom_expr(atom, names) ** e)
            terms.append(sp.Mul(*factors))
        return sp.Add(*terms)

    def _atom_expr(self, atom: int, names: Mapping[int, sp.Expr]) -> sp.Expr:
        if atom in names:
            return names[atom]
        info = self._atoms[atom]
        if info.kind == "symbol":
            return info.expr
        if info.kind == "exp":
            return sp.exp(info.expr)
        if info.kind == "log":
            return sp.log(info.expr)
        return 1 / info.expr

    def inverse_atoms(self, polys: Iterable[LaurentPolynomial]) -> set[int]:
        return {a for p in polys for a in p.variables() if self._atoms[a].kind == "inv"}
