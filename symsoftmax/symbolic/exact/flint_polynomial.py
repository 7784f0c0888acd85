"""Sparse Laurent polynomials over ℚ kept inside python-flint's ``fmpq_mpoly`` end to end.

The same contract as `symbolic.exact.polynomial.PythonLaurentPolynomial` (the ring cannot tell them
apart; tests/test_symbolic_backends.py proves every identity with both and compares the results),
with FLINT doing the arithmetic, the partial derivatives and the zero test. Opt-in
(SYMSOFTMAX_RING=flint): end to end it is slower than the dict code on the proofs' many tiny
polynomials, measured in docs/symbolic.md, "Why a hand-written ring".

Representation: a Laurent polynomial is N / x^D with N an ``fmpq_mpoly`` (non-negative exponents
only, as FLINT requires) and D a monomial with positive exponents, kept *reduced*: no variable of
D divides N (x_v is prime, so this makes the pair unique and ``==`` exact). Variable v is FLINT's
generator x_v of one process-wide context whose number of generators doubles when a larger id
appears; polynomials made in a smaller context are lifted (exponent vectors padded with zeros)
when they meet one from a larger context. Term dicts (``terms``) are produced only on request:
printing, the one-off grouping of an atom's argument, renaming variables (permutations), and the
split by one variable in the zero test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction

import flint

from symsoftmax.symbolic.exact.terms import Coefficient, Monomial

__all__ = ["FlintLaurentPolynomial"]

_contexts: list[flint.fmpq_mpoly_ctx] = [flint.fmpq_mpoly_ctx.get(("x", 64))]


def _context(variable: int) -> flint.fmpq_mpoly_ctx:
    """The current context, first grown (doubled) until it has generator x_variable."""
    while variable >= _contexts[-1].nvars():
        _contexts.append(flint.fmpq_mpoly_ctx.get(("x", 2 * _contexts[-1].nvars())))
    return _contexts[-1]


def _lift(poly: flint.fmpq_mpoly, context: flint.fmpq_mpoly_ctx) -> flint.fmpq_mpoly:
    """``poly`` in the larger ``context`` (the first generators are the same variables).

    Exponent vectors padded with zeros: project_to_context, which matches generators by name,
    costs far more (measured: milliseconds per call at a few hundred generators)."""
    pad = (0,) * (context.nvars() - poly.context().nvars())
    return context.from_dict({e + pad: c for e, c in poly.to_dict().items()})


def _coefficient(value: flint.fmpq) -> Coefficient:
    p, q = int(value.p), int(value.q)
    return p if q == 1 else Fraction(p, q)


class FlintLaurentPolynomial:
    """N / x^D over ℚ: ``numerator`` an fmpq_mpoly, ``shift`` the reduced monomial D."""

    __slots__ = ("numerator", "shift")

    def __init__(self, terms: Mapping[Monomial, Coefficient] | None = None) -> None:
        """The polynomial Σ c·m over ``terms`` (zero coefficients ignored): N = Σ c·m·x^D with
        D the largest negative exponent of each variable, then reduced."""
        terms = {m: c for m, c in (terms or {}).items() if c}
        shift: dict[int, int] = {}
        for monomial in terms:
            for v, e in monomial:
                if e < 0:
                    shift[v] = max(shift.get(v, 0), -e)
        context = _context(max((v for m in terms for v, _ in m), default=0))
        dense: dict[tuple[int, ...], flint.fmpq] = {}
        for monomial, c in terms.items():
            exponents = [0] * context.nvars()
            for v, d in shift.items():
                exponents[v] = d
            for v, e in monomial:
                exponents[v] += e
            dense[tuple(exponents)] = flint.fmpq(c.numerator, c.denominator)
        reduced = FlintLaurentPolynomial._of(context.from_dict(dense), tuple(sorted(shift.items())))
        self.numerator: flint.fmpq_mpoly = reduced.numerator
        self.shift: Monomial = reduced.shift

    @staticmethod
    def _of(numerator: flint.fmpq_mpoly, shift: Monomial = ()) -> FlintLaurentPolynomial:
        """N / x^shift, reduced (the shift shrinks while x_v still divides N)."""
        result = FlintLaurentPolynomial.__new__(FlintLaurentPolynomial)
        if shift and not numerator.is_zero():
            reduced = []
            context = numerator.context()
            for v, d in shift:
                while d:
                    quotient, remainder = divmod(numerator, context.gen(v))
                    if not remainder.is_zero():
                        break
                    numerator, d = quotient, d - 1
                if d:
                    reduced.append((v, d))
            shift = tuple(reduced)
        elif numerator.is_zero():
            shift = ()
        result.numerator, result.shift = numerator, shift
        return result

    @classmethod
    def constant(cls, value: Coefficient) -> FlintLaurentPolynomial:
        return cls._of(_contexts[-1].constant(flint.fmpq(value.numerator, value.denominator)))

    @classmethod
    def variable(cls, variable: int, exponent: int = 1) -> FlintLaurentPolynomial:
        """x_variable ** exponent (any integer exponent but 0)."""
        context = _context(variable)
        if exponent > 0:
            return cls._of(context.gen(variable) ** exponent)
        return cls._of(context.constant(1), ((variable, -exponent),))

    @classmethod
    def from_term(cls, monomial: Monomial, c: Coefficient) -> FlintLaurentPolynomial:
        """The single term c·monomial."""
        result = cls.constant(c)
        for variable, e in monomial:
            result = result * cls.variable(variable, e)
        return result

    def _lifted(self, other: FlintLaurentPolynomial) -> tuple[flint.fmpq_mpoly, flint.fmpq_mpoly]:
        """Both numerators in one context (the larger one; generators matched by name)."""
        a, b = self.numerator, other.numerator
        ca, cb = a.context(), b.context()
        if ca is cb:
            return a, b
        if ca.nvars() < cb.nvars():
            a = _lift(a, cb)
            self.numerator = a  # same value, bigger context: saves the next lift
        else:
            b = _lift(b, ca)
            other.numerator = b
        return a, b

    def is_zero(self) -> bool:
        return bool(self.numerator.is_zero())

    def __len__(self) -> int:
        """The number of terms."""
        return len(self.numerator)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FlintLaurentPolynomial) or self.shift != other.shift:
            return False
        a, b = self._lifted(other)
        return bool(a == b)

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        return f"FlintLaurentPolynomial({self.terms!r})"

    @property
    def terms(self) -> dict[Monomial, Coefficient]:
        """{monomial: coefficient}, as in the pure-Python class (a conversion: O(terms·vars))."""
        result: dict[Monomial, Coefficient] = {}
        for exponents, c in self.numerator.to_dict().items():
            powers = {v: int(e) for v, e in enumerate(exponents) if e}
            for v, d in self.shift:
                powers[v] = powers.get(v, 0) - d
            result[tuple(sorted((v, e) for v, e in powers.items() if e))] = _coefficient(c)
        return result

    def __add__(self, other: FlintLaurentPolynomial) -> FlintLaurentPolynomial:
        a, b = self._lifted(other)
        if self.shift == other.shift:
            return FlintLaurentPolynomial._of(a + b, self.shift)
        da, db = dict(self.shift), dict(other.shift)
        common = {v: max(da.get(v, 0), db.get(v, 0)) for v in da.keys() | db.keys()}
        context = a.context()
        for v, d in common.items():
            if d > da.get(v, 0):
                a = a * context.gen(v) ** (d - da.get(v, 0))
            if d > db.get(v, 0):
                b = b * context.gen(v) ** (d - db.get(v, 0))
        return FlintLaurentPolynomial._of(a + b, tuple(sorted(common.items())))

    def __neg__(self) -> FlintLaurentPolynomial:
        return FlintLaurentPolynomial._of(-self.numerator, self.shift)

    def __sub__(self, other: FlintLaurentPolynomial) -> FlintLaurentPolynomial:
        return self + (-other)

    def __mul__(self, other: FlintLaurentPolynomial) -> FlintLaurentPolynomial:
        a, b = self._lifted(other)
        if not self.shift and not other.shift:
            return FlintLaurentPolynomial._of(a * b)
        shift = dict(self.shift)
        for v, d in other.shift:
            shift[v] = shift.get(v, 0) + d
        return FlintLaurentPolynomial._of(a * b, tuple(sorted(shift.items())))

    def __pow__(self, n: int) -> FlintLaurentPolynomial:
        """self**n for n ≥ 0 (a negative power needs a reciprocal atom)."""
        if n < 0:
            raise ValueError("negative power of a polynomial: use a reciprocal atom")
        # (N/x^D)^n is reduced when N/x^D is: x_v prime, so x_v ∤ N implies x_v ∤ N^n.
        result = FlintLaurentPolynomial.__new__(FlintLaurentPolynomial)
        result.numerator = self.numerator**n
        result.shift = tuple((v, d * n) for v, d in self.shift) if n else ()
        return result

    @staticmethod
    def sum(polys: Iterable[FlintLaurentPolynomial]) -> FlintLaurentPolynomial:
        total = FlintLaurentPolynomial.constant(0)
        for p in polys:
            total = total + p
        return total

    def variables(self) -> set[int]:
        """The variable ids that occur (with a non-zero exponent) in some term."""
        present = {v for v, e in enumerate(self.numerator.degrees()) if e > 0}  # zero: −1s
        return present | {v for v, _ in self.shift}

    def single_variable(self) -> tuple[int, int] | None:
        """(variable, exponent) when the polynomial is exactly x**exponent, else None."""
        if len(self.numerator) == 1:
            ((monomial, c),) = self.terms.items()
            if c == 1 and len(monomial) == 1:
                return monomial[0]
        return None

    def split_off(self, variable: int) -> list[tuple[int, FlintLaurentPolynomial]]:
        """Each term as (exponent of ``variable``, the term without that variable)."""
        return [
            (
                dict(m).get(variable, 0),
                FlintLaurentPolynomial.from_term(tuple(t for t in m if t[0] != variable), c),
            )
            for m, c in self.terms.items()
        ]

    def derivation(
        self,
        derivative_of: Callable[[int], FlintLaurentPolynomial],
        candidates: Callable[[], Iterable[int]],
    ) -> FlintLaurentPolynomial:
        """Σ_v ∂self/∂x_v · derivative_of(v) over the ``candidates`` v (every variable whose
        derivative may be non-zero); ∂(N/x^D)/∂x_v = (∂N/∂x_v)/x^D − D_v·N/(x^D·x_v)."""
        nvars = self.numerator.context().nvars()
        shift = dict(self.shift)
        parts = []
        for v in candidates():
            # The partial derivative first: derivative_of(v) is asked only for variables present
            # (an atom's own derivative may be defined through this very call).
            partial = (
                FlintLaurentPolynomial._of(self.numerator.derivative(v), self.shift)
                if v < nvars
                else FlintLaurentPolynomial.constant(0)
            )
            if v in shift:
                partial = partial + FlintLaurentPolynomial._of(
                    -shift[v] * self.numerator, self.shift
                ) * FlintLaurentPolynomial.variable(v, -1)
            if partial.is_zero():
                continue
            d_v = derivative_of(v)
            if not d_v.is_zero():
                parts.append(partial * d_v)
        return FlintLaurentPolynomial.sum(parts)

    def rename(self, image_of: Callable[[int], int | None]) -> FlintLaurentPolynomial | None:
        """The polynomial with every variable v replaced by image_of(v) (an injective renaming
        on the variables present), or None when some present variable has no image."""
        images = {}
        for v in self.variables():
            image = image_of(v)
            if image is None:
                return None
            images[v] = image
        if not images:
            return self
        # Through the sparse terms: FLINT's compose takes one image per generator of the
        # context (thousands), far slower for the short polynomials permuted here.
        return FlintLaurentPolynomial(
            {
                tuple(sorted((images[v], e) for v, e in monomial)): c
                for monomial, c in self.terms.items()
            }
        )
