"""Blockwise (online) softmax, log_softmax and logsumexp, printed from the proven recurrences.

The row is read in blocks of ``block`` entries. A running state (m, d) — the maximum so far and
d = Σ e^{z_j − m} so far — starts empty, (−∞, 0), and each block updates it by
:data:`symsoftmax.symbolic.online.ONLINE_STEP` (Milakov & Gimelshein 2018, "Online normalizer
calculation for softmax", Algorithm 3; FlashAttention-2, Algorithm 1):

    m_new = max(m, M_b),   d_new = d·e^{m − m_new} + Σ_{k=1}^{B} e^{z_k − m_new}.

softmax then follows from the final state by ``FINALIZE`` (e^{z_k − m}/d). log_softmax and
logsumexp carry r = d − 1 instead, the sum without one maximal term
(:data:`~symsoftmax.symbolic.online.ONLINE_STEP_LOG1P`), and finalize with log1p(r) by
``FINALIZE_LOG1P`` (z_k − m − log1p(r), m + log1p(r)): m + log d would round 1 + r to 1 when the
maximum dominates, and lose every digit of a tiny log d (Blanchard, Higham & Higham, "Accurately
computing the log-sum-exp and softmax functions", IMA J. Numer. Anal. 41 (2021)). softmax and
log_softmax read the row a second time, block by block, and write each block of the result into
the output array. Scratch memory is
O(block) per row, never O(K). With a temperature T the ``*_EXP2`` forms run instead: e^{x/T}
as 2^{x·c}, c = log₂(e)/T (FlashAttention-2, §3.1). These updates are proven in
derivations/online_softmax.md; this module only prints them (:mod:`symsoftmax.numeric.codegen`)
and compiles the printed code, so ``online_softmax.source`` is the code that runs.

Two things are added when printing, both exact:

* **the guard**: while a row has seen only −∞ entries, m_new = −∞ and e^{(−∞) − (−∞)} would be
  NaN. Inside the update m_new is replaced by the shift s = m_new, or 0 where m_new = −∞: the
  recurrence holds for any finite shift (d_new·e^{s} = Σ e^{z_j}), and while m_new = −∞ every
  term is e^{−∞} = 0, so the state stays exactly (−∞, 0). No finite sentinel is used, so rows
  far below any number (−1e300) are handled like any other.
* **the block maximum** M_b = max_k z_k of the block, computed by ``numpy.max`` (NaN-propagating);
  for the r state at κ = ``numpy.argmax`` (the first maximum, or the first NaN), M_b = z_κ.
* **the term left out** (r state): −p_new·δ_{kκ} of the block's sum is subtracted from the
  block's array at κ before it is summed — there e^{z_κ − s} = e^0 = 1 exactly when p_new = 1, so
  the difference is an exact 0, where subtracting 1 from the sum would cancel the small terms.

Refined rows (issue 19 §4): z − s is rounded before e^x, and for m < 0 logsumexp's
m + log1p(r) can cancel. Rows whose fast state may have lost digits that way
(:func:`rows_to_refine`: r < 2^−10, or a cancelling logsumexp) are computed again by
:func:`refine_source`, the same ONLINE_STEP_LOG1P and FINALIZE_LOG1P printed in double-double
(TwoSum of z − s, compensated sums, log1p(r) by a Newton step). Compensation carries the
rounding errors of float operations; those error terms are 0 in real arithmetic, so it does
not change the proven recurrence, only how it is evaluated.

Special rows (docs/numeric.md, "Online (blockwise) functions"): NaN anywhere gives NaN everywhere
in the row; a +inf entry gives NaN everywhere (IEEE inf − inf, one of the validator's accepted
answers); a fully masked row (all −∞) gives NaN softmax and log_softmax (0/0) and logsumexp −∞,
the same as :func:`symsoftmax.lambdify_softmax` and SciPy; a row of length 0 gives an empty
result and logsumexp −∞ (log 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import ml_dtypes
import numpy as np
import numpy.typing as npt
import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from symsoftmax.errors import InputError
from symsoftmax.numeric.codegen import ReusingNumPyPrinter, compile_kernel, print_statements
from symsoftmax.numeric.lambdify import check_temperature
from symsoftmax.reference import double_double as dd
from symsoftmax.symbolic import online as proven

__all__ = [
    "DEFAULT_BLOCK",
    "OnlineFunction",
    "StateMerge",
    "merge_states",
    "online_log_softmax",
    "online_logsumexp",
    "online_softmax",
    "online_state",
]

DEFAULT_BLOCK = 1024
"""Block length when none is given: long enough that NumPy's per-call cost is small."""

KINDS = ("softmax", "log_softmax", "logsumexp")

#: the guarded shift: m_new, or 0 where m_new = −∞ (module docstring)
SHIFT = sp.Symbol("s", real=True)
#: the block's terms e^{z_k − s} as an array, once the term left out is subtracted at κ
TERMS = sp.IndexedBase("t", real=True)

# Rows of a chunk are processed together; a chunk holds about this many entries of the input, so
# that the output pass finds them still in cache (and the per-call cost of NumPy stays small).
_CHUNK_ENTRIES = 1 << 17
_MIN_CHUNK_BLOCK_ENTRIES = 1 << 14
# The r state's step makes four NumPy calls per block more (κ, M_b = z_κ, p_new, the term left
# out); logsumexp, which has no output pass to keep in cache, takes twice the rows to keep their
# share of the time what it was (benchmarks/bench_online.py). log_softmax's output pass would
# fall out of the cache with them (1.7× slower at K = 32768), and dilutes the calls anyway.
_MIN_CHUNK_BLOCK_ENTRIES_STATE_ONLY = 1 << 15
# log_softmax's r state takes the same rows up to 2^19 entries a chunk: at K = 8192 twice the
# rows (0.83× the (m, d) form, against 1.03× with as many rows as it; 64 rows: 1.6×), and at
# K = 32768 as many as before (16; 8 rows: 1.2×). Measured with bench_online.py's paired ratio.
_MAX_CHUNK_ENTRIES_R_STATE = 1 << 19


class OnlinePrinter(ReusingNumPyPrinter):
    """Prints the online updates: z[k] of a block → the array ``b`` (rows × block), t[k] → the
    array ``t``, a sum over the block → ``numpy.sum(..., axis=-1, keepdims=True)``, Max →
    ``numpy.maximum``, an indicator Piecewise((1, c), (0, True)) → the boolean array c."""

    _ARRAYS: ClassVar[dict[sp.IndexedBase, str]] = {proven.z: "b", TERMS: "t"}

    def _print_Indexed(self, expr: sp.Indexed) -> str:
        name = self._ARRAYS.get(expr.base)
        if name is None or expr.indices != (proven.k,):
            raise ValueError(f"cannot print {expr} as a block array")
        return name

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        (one, condition), (zero, otherwise) = expr.args
        if (one, zero, otherwise) != (1, 0, sp.true):
            raise ValueError(f"only an indicator Piecewise((1, c), (0, True)) is printed: {expr}")
        return f"({self._print(condition)})"

    def _print_StrictGreaterThan(self, expr: sp.StrictGreaterThan) -> str:
        return f"{self._print(expr.lhs)} > {self._print(expr.rhs)}"

    def _print_Sum(self, expr: sp.Sum) -> str:
        if tuple(expr.limits) != ((proven.k, 1, proven.B),):
            raise ValueError(f"only sums over the block k = 1..B are printed, got {expr.limits}")
        return f"numpy.sum({self._print(expr.function)}, axis=-1, keepdims=True)"

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        # b − s rather than SymPy's −s + b (the same IEEE value: negation is exact)
        terms = sorted(
            expr.args, key=lambda t: (t.could_extract_minus_sign(), sp.default_sort_key(t))
        )
        printed = self.parenthesize(terms[0], PRECEDENCE["Add"])
        for term in terms[1:]:
            negative = term.could_extract_minus_sign()
            sign, magnitude = (" - ", -term) if negative else (" + ", term)
            printed += sign + self.parenthesize(magnitude, PRECEDENCE["Add"])
        return printed

    def _print_Max(self, expr: sp.Max) -> str:
        # sympy orders Max's arguments; numpy.maximum propagates NaN from either
        first, *rest = sorted(expr.args, key=sp.default_sort_key)
        printed = self._print(first)
        for arg in rest:
            printed = f"numpy.maximum({printed}, {self._print(arg)})"
        return printed


class DoubleWord:
    """The arithmetic of the refined rows' generated code: every value a double-double
    (hi, lo) of float64 arrays (:mod:`symsoftmax.reference.double_double`); a plain array or
    number is read as (x, 0). Each operation carries the rounding error of its float result,
    which is 0 in real arithmetic: the printed expression is the proven one."""

    @staticmethod
    def of(x: Any) -> tuple[Any, Any]:
        if isinstance(x, tuple):
            return x
        hi = np.asarray(x, dtype=np.float64)
        return hi, np.zeros_like(hi)

    @classmethod
    def add(cls, a: Any, b: Any) -> tuple[Any, Any]:
        return dd.dd_add(*cls.of(a), *cls.of(b))

    @classmethod
    def neg(cls, a: Any) -> tuple[Any, Any]:
        hi, lo = cls.of(a)
        return -hi, -lo

    @classmethod
    def mul(cls, a: Any, b: Any) -> tuple[Any, Any]:
        return dd.dd_mul(*cls.of(a), *cls.of(b))

    @classmethod
    def div(cls, a: Any, b: Any) -> tuple[Any, Any]:
        return dd.dd_div(*cls.of(a), *cls.of(b))

    @classmethod
    def exp(cls, a: Any) -> tuple[Any, Any]:
        """e^a for a ≤ 0 (every exponent of the recurrence: z − s ≤ 0, m − s ≤ 0); −∞ → 0.
        Below the normal range the result rounds like e^a itself would (ldexp)."""
        hi, lo = cls.of(a)
        hi, lo = np.broadcast_arrays(hi, lo)
        # −∞ − s gives NaN parts in double-double; e^{−∞} = 0 (dd_exp_scaled gives 0 outside
        # its range, NaN included). Refined rows hold no NaN or +∞ entry (rows_to_refine)
        lo = np.where(np.isfinite(hi), lo, 0.0)
        e, mh, ml, _ = dd.dd_exp_scaled(hi, lo)
        return np.ldexp(mh, e), np.ldexp(ml, e)

    @classmethod
    def log1p(cls, a: Any) -> tuple[Any, Any]:
        """log(1 + a), a ≥ 0, by one Newton step from L = log1p(hi) on e^L = 1 + a:
        L + (1 + a)·e^{−L} − 1 (the step's error is O(u²) of L)."""
        hi, lo = cls.of(a)
        L = np.log1p(hi)
        # e^{−L} to about 2^−86 whatever the class: one call per row
        step = cls.add(cls.mul(cls.add(1.0, (hi, lo)), DoubleWord.exp(-L)), -1.0)
        return dd.dd_add(L, np.zeros_like(L), *step)

    @classmethod
    def sum(cls, a: Any) -> tuple[Any, Any]:
        """Σ over the block (the last axis), pairwise in double-double, keeping the axis."""
        hi, lo = dd.dd_sum_last_axis(*cls.of(a))
        return hi[..., None], lo[..., None]


class FirstOrderDoubleWord(DoubleWord):
    """:class:`DoubleWord` with e^{hi + lo} as e^{hi}·(1 + lo), e^{hi} NumPy's: the error of
    the rounded argument (|lo| ≤ u·|hi|, hundreds of ulps at |hi| ≈ 600) is carried, to first
    order (the rest is below u²·|hi|²/2), but not exp's own rounding (about an ulp a term, of
    either sign). Enough where only the relative error of r matters (log_softmax: −log1p(r) at
    the maximum, z − m − log1p(r) elsewhere); about 10× cheaper than the double-double exp."""

    @classmethod
    def exp(cls, a: Any) -> tuple[Any, Any]:
        hi, lo = cls.of(a)
        # a NaN here is −∞ − s in double-double (an entry −∞, or the empty state's m): e^{−∞}
        # = 0. Refined rows hold no NaN or +∞ entry (rows_to_refine)
        value = np.exp(np.where(np.isnan(hi), -np.inf, hi))
        return value, np.where(value > 0, value * lo, 0.0)


class DoubleWordPrinter(OnlinePrinter):
    """Prints an expression as calls of :class:`DoubleWord` (``dw``): +, ×, ÷, e^x, log1p and
    the block's sum in double-double; names print as themselves (read as (x, 0))."""

    def _print_Add(self, expr: sp.Add, order: str | None = None) -> str:
        first, *rest = (self._print(arg) for arg in expr.args)
        for term in rest:
            first = f"dw.add({first}, {term})"
        return first

    def _print_Mul(self, expr: sp.Mul) -> str:
        coefficient, factors = expr.as_coeff_mul()
        numerator = [f for f in factors if not (f.is_Pow and f.exp == -1)]
        denominator = [f.base for f in factors if f.is_Pow and f.exp == -1]
        printed = "1.0"
        if numerator:
            printed, *rest = (self._print(f) for f in numerator)
            for factor in rest:
                printed = f"dw.mul({printed}, {factor})"
        for base in denominator:
            printed = f"dw.div({printed}, {self._print(base)})"
        if coefficient == -1:
            return f"dw.neg({printed})"
        if coefficient != 1:
            return f"dw.mul({self._print(coefficient)}, {printed})"
        return printed

    def _print_exp(self, expr: sp.exp) -> str:
        return f"dw.exp({self._print(expr.args[0])})"

    def _print_log1p(self, expr: sp.Function) -> str:
        return f"dw.log1p({self._print(expr.args[0])})"

    def _print_Sum(self, expr: sp.Sum) -> str:
        if tuple(expr.limits) != ((proven.k, 1, proven.B),):
            raise ValueError(f"only sums over the block k = 1..B are printed, got {expr.limits}")
        return f"dw.sum({self._print(expr.function)})"


# ---- the expressions, from symsoftmax.symbolic.online ----------------------------------------


def at_temperature(expr: sp.Expr) -> sp.Expr:
    """``expr`` for the logits z/T: z_k → z_k/T and every maximum m → m/T (the maximum of z/T is
    m/T since T > 0), each exponent written as one quotient (z_k − m)/T, so that z − m is
    rounded before the division and a tiny T cannot overflow z/T (as in forms.py). The plain
    form rather than the proven base-2 one (ONLINE_STEP_EXP2): c = log₂(e)/T overflows for a
    subnormal T, and folding c adds a rounding to every exponent."""
    scaled = expr.xreplace(
        {
            proven.z[proven.k]: proven.z[proven.k] / proven.T,
            proven.m: proven.m / proven.T,
            SHIFT: SHIFT / proven.T,
        }
    )
    return scaled.replace(sp.exp, lambda arg: sp.exp(sp.factor_terms(arg)))


def uses_log1p(kind: str, log1p: bool = True) -> bool:
    """log_softmax and logsumexp carry (m, r), r = d − 1, and finalize with log1p(r); with
    ``log1p`` False they carry (m, d) and finalize with log d, as before issue 19 (kept only to
    be measured against: it loses every digit of a tiny log d)."""
    return log1p and kind != "softmax"


def step_expressions(temperature: bool, log1p: bool = False) -> dict[str, sp.Expr]:
    """The block update (m, d) → (m_new, d_new) of ONLINE_STEP, or with ``log1p`` (m, r) →
    (m_new, p_new, r_new) of ONLINE_STEP_LOG1P, with m_new in the sum's update read as the
    guarded shift s (module docstring); with a temperature, at z/T (m stays in units of z)."""
    step = proven.ONLINE_STEP_LOG1P if log1p else proven.ONLINE_STEP
    key = "r" if log1p else "d"
    total = step[key].xreplace({proven.m_new: SHIFT})
    return {**step, key: at_temperature(total) if temperature else total}


def finalize_expression(kind: str, temperature: bool, log1p: bool = True) -> sp.Expr:
    """The result from the final state, FINALIZE (FINALIZE_LOG1P for log_softmax and
    logsumexp). With a temperature, at z/T; logsumexp is then T·logsumexp(z/T), the package's
    definition (symsoftmax/ops.py): T·(m/T + log1p r), expanded to m + T·log1p r."""
    expr = (proven.FINALIZE_LOG1P if uses_log1p(kind, log1p) else proven.FINALIZE)[kind]
    if not temperature:
        return expr
    if kind == "logsumexp":
        return sp.expand(proven.T * at_temperature(expr))
    return sp.collect(at_temperature(expr), 1 / proven.T)  # (z_k − m)/T − log d


def merge_expressions() -> dict[str, sp.Expr]:
    """(m_a, d_a) ⊕ (m_b, d_b), with m_new in d's merge read as the guarded shift s."""
    return {
        "m": proven.MERGE["m"],
        "d": proven.MERGE["d"].xreplace({proven.m_new: SHIFT}),
    }


# ---- printing ---------------------------------------------------------------------------------

_GUARD = "numpy.where({m} == -numpy.inf, 0.0, {m})"


def _block_line(temperature: bool) -> str:
    """The block b of the row chunk z, in the state dtype; with a temperature, times h (see
    :func:`temperature_halving`)."""
    load = "z[..., start:start + block].astype(state, copy=False)"
    return f"b = {load}*h" if temperature else f"b = {load}"


def _arguments(temperature: bool) -> str:
    return "block, state, T, h" if temperature else "block, state"


def _state_name(log1p: bool) -> str:
    return "online_state_log1p" if log1p else "online_state"


def _left_out_terms(
    expr: sp.Expr, printer: OnlinePrinter | None = None
) -> tuple[list[str], sp.Expr]:
    """The block sum Σ_k (f_k + c·δ_{kκ}) of ``expr`` as lines that compute t = f on the block
    and add c at κ, and ``expr`` with the sum read as Σ_k t_k. The addition at κ is exact where
    it matters (module docstring, "the term left out"). With a :class:`DoubleWordPrinter`, t is
    a double-double whose high part is e^0 = 1 exactly at κ when c = −1 (and its low part 0)."""
    printer = printer or OnlinePrinter()
    one_hot = sp.KroneckerDelta(proven.k, proven.kappa)
    (total,) = [s for s in expr.atoms(sp.Sum) if s.has(one_hot)]
    summand = sp.expand(total.function, deep=False)
    coefficient = summand.coeff(one_hot)
    terms = summand - coefficient * one_hot
    if terms.has(one_hot) or coefficient.has(proven.k):
        raise ValueError(f"expected Σ_k (f_k + c·δ_kκ), got {total}")
    # t −= p rather than t += −p: NumPy has no negation of a boolean array
    negative = coefficient.could_extract_minus_sign()
    sign, magnitude = ("-", -coefficient) if negative else ("+", coefficient)
    target = "t"
    if isinstance(printer, DoubleWordPrinter):
        lines = [f"t = {printer.doprint(terms)}"]
        target = "t[0]"
    elif isinstance(terms, sp.exp):  # e^x computed into the array of x: no second allocation
        lines = [f"t = {printer.doprint(terms.args[0])}", "numpy.exp(t, out=t)"]
    else:
        lines = [f"t = {printer.doprint(terms)}"]
    lines.append(f"{target}[rows, kappa] {sign}= {OnlinePrinter().doprint(magnitude)}")
    return lines, expr.xreplace({total: sp.Sum(TERMS[proven.k], *total.limits)})


def _print_body(printer: OnlinePrinter, targets: dict[str, sp.Expr]) -> list[str]:
    """``name = code`` lines computing each target (common subexpressions shared, but none
    holding s or T: ``x0 = 1/T`` would turn (z − m)/T into a product with a rounded 1/T)."""
    lines, printed = print_statements(
        printer, list(targets.values()), own=[], keep=[SHIFT, proven.T]
    )
    return lines + [f"{name} = {code}" for name, code in zip(targets, printed, strict=True)]


def _indent(lines: list[str], depth: int) -> list[str]:
    return [" " * (4 * depth) + line for line in lines]


def _update_lines(
    printer: OnlinePrinter, temperature: bool, log1p: bool, refine: bool = False
) -> list[str]:
    """The body of the loop over blocks: the block, its maximum, the printed step (with
    ``refine``, r's update in double-double: :func:`refine_source`)."""
    step = step_expressions(temperature, log1p)
    if not log1p:
        return [
            _block_line(temperature),
            "M_b = numpy.max(b, axis=-1, keepdims=True)",
            *_print_body(printer, {"m_new": step["m"]}),
            f"s = {_GUARD.format(m='m_new')}",
            *_print_body(printer, {"d": step["d"]}),
            "m = m_new",
        ]
    dw = DoubleWordPrinter()
    terms, r_new = _left_out_terms(step["r"], dw if refine else printer)
    update = [f"r = {dw.doprint(r_new)}"] if refine else _print_body(printer, {"r": r_new})
    return [
        _block_line(temperature),
        "kappa = numpy.argmax(b, axis=-1, keepdims=True)",
        "M_b = b[rows, kappa]",
        *_print_body(printer, {"m_new": step["m"], "p_new": step["p"]}),
        f"s = {_GUARD.format(m='m_new')}",
        *terms,
        *update,
        "m = m_new",
    ]


def state_source(temperature: bool, log1p: bool = False, refine: bool = False) -> str:
    """Source of ``online_state(z, block, state[, T, h])`` → (m, d), or with ``log1p`` of
    ``online_state_log1p`` → (m, r); each of shape (..., 1). With ``refine``,
    ``online_state_refine``: the same step with r a double-double (hi, lo), in float64."""
    printer = OnlinePrinter()
    total = "r" if log1p else "d"
    # the r state indexes κ of each row: z is (rows, K) there, as the kernels pass it
    rows = ["rows = numpy.arange(z.shape[0])[:, None]"] if log1p else []
    name = "online_state_refine" if refine else _state_name(log1p)
    start = ["state = numpy.float64", "r = (numpy.zeros_like(m), numpy.zeros_like(m))"]
    lines = [
        f"def {name}(z, {_arguments(temperature)}):",
        *_indent(
            [
                *start[: 1 if refine else 0],
                "m = numpy.full((*z.shape[:-1], 1), -numpy.inf, dtype=state)",
                start[1] if refine else f"{total} = numpy.zeros_like(m)",
                *rows,
                "for start in range(0, z.shape[-1], block):",
            ],
            1,
        ),
        *_indent(_update_lines(printer, temperature, log1p, refine), 2),
        f"    return m, {total}",
    ]
    return "\n".join(lines) + "\n"


def kernel_source(kind: str, temperature: bool, log1p: bool = True) -> str:
    """Source of ``online_<kind>(z, out, block, state[, T, h])``: the state pass, then the
    result written into ``out`` (block by block for softmax and log_softmax), after the source
    of the state function (:func:`state_source`) that it calls. Returns the state (m, d or r)."""
    printer = OnlinePrinter()
    expr = finalize_expression(kind, temperature, log1p)
    log1p = uses_log1p(kind, log1p)
    total = "r" if log1p else "d"
    state = f"{_state_name(log1p)}(z, {_arguments(temperature)})"
    body = [f"m, {total} = {state}", *_finalize_lines(printer, kind, temperature, expr)]
    kernel = [
        f"def online_{kind}(z, out, {_arguments(temperature)}):",
        *_indent([*body, f"return m, {total}"], 1),
    ]
    return state_source(temperature, log1p) + "\n\n" + "\n".join(kernel) + "\n"


def _finalize_lines(
    printer: OnlinePrinter, kind: str, temperature: bool, expr: sp.Expr
) -> list[str]:
    """Lines writing ``expr``, the finalization, into ``out``."""
    if kind == "logsumexp":
        lines, (result,) = print_statements(printer, [expr], own=[], keep=[proven.T])
        if isinstance(printer, DoubleWordPrinter):
            result = f"{result}[0]"  # the double-double's high part: the rounded sum
        unscaled = f"(({result})/h)" if temperature else f"({result})"  # temperature_halving
        return [*lines, f"out[...] = {unscaled}[..., 0]"]
    target = "out[..., start:start + block]"
    return [
        "for start in range(0, z.shape[-1], block):",
        *_indent([_block_line(temperature), *_print_body(printer, {target: expr})], 1),
    ]


REFINED_LOG1P = sp.Symbol("w_hi", real=True) + sp.Symbol("w_lo", real=True)
"""log1p(r) of a refined log_softmax row: the double-double w = (w_hi, w_lo) of
DoubleWord.log1p, subtracted from z_k − m part by part, w_hi first (names after m: the printer
puts z_k − m first, which is exact at the maximum)."""


def refine_source(kind: str, temperature: bool) -> str:
    """Source of ``online_<kind>_refine(z, out, block, state[, T, h])``, log_softmax or
    logsumexp of rows whose fast result may have lost digits (:func:`rows_to_refine`): the same
    proven step (ONLINE_STEP_LOG1P) and finalization (FINALIZE_LOG1P) printed in double-double
    (:class:`DoubleWordPrinter`): z − s by TwoSum, e^x, the block sums and the running r to
    about 2^−100, log1p(r) by a Newton step. Each carried error term is 0 in real arithmetic,
    so the recurrence is the proven one; only its evaluation is compensated."""
    expr = finalize_expression(kind, temperature)
    finalize = ["state = numpy.float64"]
    if kind == "logsumexp":
        printer: OnlinePrinter = DoubleWordPrinter()
    else:
        printer = OnlinePrinter()
        expr = expr.xreplace({log1p_of_r(): REFINED_LOG1P})
        finalize.append("w_hi, w_lo = dw.log1p(r)")
    body = [
        f"m, r = online_state_refine(z, {_arguments(temperature)})",
        *finalize,
        *_finalize_lines(printer, kind, temperature, expr),
    ]
    kernel = [f"def online_{kind}_refine(z, out, {_arguments(temperature)}):", *_indent(body, 1)]
    # logsumexp's cancelling rows need each e^x to double-double accuracy
    arithmetic = "DoubleWord" if kind == "logsumexp" else "FirstOrderDoubleWord"
    imports = f"from symsoftmax.numeric.online import {arithmetic} as dw\n\n\n"
    return (
        imports + state_source(temperature, True, refine=True) + "\n\n" + "\n".join(kernel) + "\n"
    )


def log1p_of_r() -> sp.Expr:
    """log1p(r) as FINALIZE_LOG1P writes it."""
    (term,) = proven.FINALIZE_LOG1P["logsumexp"].atoms(sp.Function)
    return term


def merge_source() -> str:
    """Source of ``merge_states(m_a, d_a, m_b, d_b)`` → (m, d)."""
    printer = OnlinePrinter()
    merge = merge_expressions()
    body = [
        *_print_body(printer, {"m_new": merge["m"]}),
        f"s = {_GUARD.format(m='m_new')}",
        *_print_body(printer, {"d_new": merge["d"]}),
        "return m_new, d_new",
    ]
    return "\n".join(["def merge_states(m_a, d_a, m_b, d_b):", *_indent(body, 1)]) + "\n"


@cache
def _compiled(kind: str, temperature: bool, log1p: bool = True) -> Callable[..., Any]:
    """The compiled kernel ``kind`` (a KINDS entry, "state" or "merge"), printed once."""
    if kind == "merge":
        return compile_kernel(merge_source(), "merge_states")
    if kind == "state":
        return compile_kernel(state_source(temperature), "online_state")
    if kind.endswith("_refine"):
        return compile_kernel(
            refine_source(kind.removesuffix("_refine"), temperature), f"online_{kind}"
        )
    return compile_kernel(kernel_source(kind, temperature, log1p), f"online_{kind}")


# ---- input checks -----------------------------------------------------------------------------


def _is_floating(dtype: np.dtype) -> bool:
    """NumPy's floating dtypes and ml_dtypes' (bfloat16, the float8 formats)."""
    if dtype.kind == "f":
        return True
    try:
        ml_dtypes.finfo(dtype)
    except (TypeError, ValueError):  # "not inexact"
        return False
    return True


def as_floating(value: npt.ArrayLike, name: str) -> npt.NDArray[Any]:
    """``value`` as a floating array (bool and integer → float64), or InputError."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: not a rectangular numeric array ({exc})") from None
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    if not _is_floating(array.dtype):
        raise InputError(
            f"{name}: expected real numbers (bool, integer or float), got dtype {array.dtype}"
        )
    return array


def _check_block(block: int) -> int:
    if not isinstance(block, int | np.integer) or isinstance(block, bool) or block < 1:
        raise InputError(f"block must be a positive integer, got {block!r}")
    return int(block)


def state_dtype_for(dtype: np.dtype, state_dtype: npt.DTypeLike | None) -> np.dtype:
    """The dtype of the running state: ``state_dtype``, or by default the input's dtype widened
    to at least float32 (float16 and bfloat16 inputs keep a float32 state, as GPU kernels do)."""
    if state_dtype is None:
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    try:
        chosen = np.dtype(state_dtype)
    except TypeError:
        raise InputError(f"state_dtype: not a NumPy dtype: {state_dtype!r}") from None
    if not _is_floating(chosen):
        raise InputError(f"state_dtype: expected a floating dtype, got {chosen}")
    return chosen


def temperature_halving(T: float | None) -> float:
    """h = 1/2 for T ≥ 1, else 1. The kernels compute (z − m)/T as (h·z − h·m)/(h·T), the same
    value: h·z and h·T are exact (h·z up to 2^−1075 for a subnormal z, negligible against
    h·T ≥ 1/2), and h·z − h·m cannot overflow, where z − m can (z = [max, −max] with T = max:
    (z − m)/T = −2 but z − m = −inf). For T < 1 an overflowing z − m means (z − m)/T < −max,
    whose exponential is 0 either way. The kernel divides logsumexp, m + T·log d, by h."""
    return 0.5 if T is not None and T >= 1 else 1.0


def rows_per_chunk(K: int, block: int, state_only: bool = False, r_state: bool = False) -> int:
    """Rows processed together: about _CHUNK_ENTRIES input entries, but a block of the chunk
    holds at least _MIN_CHUNK_BLOCK_ENTRIES (else NumPy's per-call cost dominates), or
    _MIN_CHUNK_BLOCK_ENTRIES_STATE_ONLY for logsumexp's r state (``state_only``) and
    log_softmax's (``r_state``), whose chunk stays within _MAX_CHUNK_ENTRIES_R_STATE for its
    output pass."""
    least = (
        _MIN_CHUNK_BLOCK_ENTRIES_STATE_ONLY if state_only or r_state else _MIN_CHUNK_BLOCK_ENTRIES
    )
    rows = max(1, _CHUNK_ENTRIES // max(K, 1), least // min(block, max(K, 1)))
    if r_state and not state_only:
        rows = min(rows, max(1, _MAX_CHUNK_ENTRIES_R_STATE // max(K, 1)))
    return rows


REFINE_BELOW = 2.0**-10
"""r below which a row is refined: the terms of such a row lie at z − m ≤ log(K·2^10), and the
rounding of z − m costs each term u·|z − m| of its value (hundreds of ulps at |z − m| ≈ 600),
which log1p(r) ≈ r passes on whole to a tiny result."""


def rows_to_refine(
    kind: str, m: npt.NDArray[Any], r: npt.NDArray[Any], T: float = 1.0
) -> npt.NDArray[np.bool_]:
    """The rows (finite maximum m) whose fast (m, r) may give a result off by more than a few
    ulps: r < :data:`REFINE_BELOW` (a tiny log1p(r), the maximum's −log1p(r) in log_softmax),
    and for logsumexp the rows where m + T·log1p(r) cancels to below |m|/2 (m < 0), whose
    result carries the absolute errors of m + T·log1p(r) magnified. Rows of NaN, or of a
    maximum ±∞, are left as they are (NaN r compares False)."""
    finite = np.isfinite(m)
    picked = finite & (r < REFINE_BELOW)
    if kind == "logsumexp":
        with np.errstate(all="ignore"):
            total = m + T * np.log1p(r)
        picked |= finite & (np.abs(total) < 0.5 * np.abs(m))
    return picked


# ---- the public functions ---------------------------------------------------------------------


def _along_last_axis(z: npt.ArrayLike, axis: int) -> npt.NDArray[Any]:
    """``z`` as a floating array with ``axis`` moved to the end (a view when possible)."""
    x = as_floating(z, "z")
    if x.ndim == 0:
        raise InputError("z: expected at least one axis, got a scalar")
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise InputError(f"axis must be an integer, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise InputError(f"axis {axis} is out of range for z of shape {x.shape}")
    return np.moveaxis(x, axis, -1)


@dataclass(frozen=True)
class OnlineFunction:
    """``online_<kind>(z, block=1024, axis=-1, state_dtype=None, temperature=None)``.

    Computes softmax, log_softmax or logsumexp along ``axis`` of ``z`` (any shape), reading the
    axis in blocks of ``block`` entries with the online recurrence (module docstring). The result
    has z's dtype (bool and integer input: float64); logsumexp removes ``axis``. ``state_dtype``:
    the dtype of the state and of the arithmetic (default: z's dtype, at least float32).
    ``temperature`` T > 0: softmax(z/T), log_softmax(z/T), T·logsumexp(z/T).
    ``source`` is the generated code (``temperature_source`` with a temperature). ``log1p``
    False: log_softmax and logsumexp from (m, d) and log d, the form before issue 19, which
    loses tiny results (kept for benchmarks/bench_online.py to measure against).
    """

    kind: str
    log1p: bool = True

    @property
    def source(self) -> str:
        return kernel_source(self.kind, temperature=False, log1p=self.log1p)

    @property
    def temperature_source(self) -> str:
        return kernel_source(self.kind, temperature=True, log1p=self.log1p)

    def kernel(self, temperature: bool) -> Callable[..., Any]:
        return _compiled(self.kind, temperature, self.log1p)

    def _refine(
        self,
        z: npt.NDArray[Any],
        out: npt.NDArray[Any],
        m: npt.NDArray[Any],
        r: npt.NDArray[Any],
        block: int,
        state: np.dtype,
        constants: tuple[float, ...],
        chunk: int,
    ) -> None:
        """Rewrite the rows of ``out`` that :func:`rows_to_refine` picks from the fast state
        (m, r) of all rows with the double-double kernel (:func:`refine_source`), ``chunk``
        rows at a time. Picked once for the whole batch: per chunk, the few calls of the test
        were a tenth of a short row's time (benchmarks/bench_online.py)."""
        T = constants[0] if constants else 1.0
        picked = np.flatnonzero(rows_to_refine(self.kind, m[:, 0], r[:, 0], T))
        kernel = _compiled(f"{self.kind}_refine", bool(constants))
        for start in range(0, picked.size, chunk):
            rows = picked[start : start + chunk]
            refined = np.empty((rows.size, *out.shape[1:]), dtype=out.dtype)
            kernel(z[rows], refined, block, state, *constants)
            out[rows] = refined

    def __call__(
        self,
        z: npt.ArrayLike,
        block: int = DEFAULT_BLOCK,
        axis: int = -1,
        state_dtype: npt.DTypeLike | None = None,
        temperature: float | None = None,
    ) -> npt.NDArray[Any]:
        x = _along_last_axis(z, axis)
        block = _check_block(block)
        T = check_temperature(temperature)
        state = state_dtype_for(x.dtype, state_dtype)
        lead, K = x.shape[:-1], x.shape[-1]
        rows = math.prod(lead)
        x2 = x.reshape(rows, K)
        out2 = np.empty((rows,) if self.kind == "logsumexp" else (rows, K), dtype=x.dtype)
        kernel = self.kernel(T is not None)
        h = temperature_halving(T)
        constants = () if T is None else (T * h, h)
        log1p = uses_log1p(self.kind, self.log1p)
        state_only = self.kind == "logsumexp" and log1p
        chunk = rows_per_chunk(K, block, state_only, r_state=log1p)
        # e^{−∞}, ∞ − ∞ and log 0 of the special rows are intended (module docstring)
        with np.errstate(all="ignore"):
            states = [
                kernel(
                    x2[start : start + chunk], out2[start : start + chunk], block, state, *constants
                )
                for start in range(0, rows, chunk)
            ]
            if log1p and states:
                m, r = (np.concatenate(part) for part in zip(*states, strict=True))
                self._refine(x2, out2, m, r, block, state, constants, chunk)
        if self.kind == "logsumexp":
            return out2.reshape(lead)
        return np.moveaxis(out2.reshape(*lead, K), -1, axis)


online_softmax = OnlineFunction("softmax")
online_log_softmax = OnlineFunction("log_softmax")
online_logsumexp = OnlineFunction("logsumexp")


def online_state(
    z: npt.ArrayLike,
    block: int = DEFAULT_BLOCK,
    axis: int = -1,
    state_dtype: npt.DTypeLike | None = None,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The final state (m, d) of the online recurrence along ``axis``: m = max z and
    d = Σ e^{z − m}, each of z's shape without ``axis``, in the state dtype (see
    :class:`OnlineFunction`). States of parts of a row combine with :func:`merge_states`."""
    x = _along_last_axis(z, axis)
    state = state_dtype_for(x.dtype, state_dtype)
    kernel = _compiled("state", False)
    with np.errstate(all="ignore"):
        m, d = kernel(x, _check_block(block), state)
    return m[..., 0], d[..., 0]


@dataclass(frozen=True)
class StateMerge:
    """``merge_states(m_a, d_a, m_b, d_b)`` → (m, d).

    (m_a, d_a) ⊕ (m_b, d_b) = (m, d_a·e^{m_a − m} + d_b·e^{m_b − m}), m = max(m_a, m_b): the
    state of the concatenation of two parts of a row (Milakov & Gimelshein 2018, §3.1),
    elementwise over broadcast arrays, printed from :data:`symsoftmax.symbolic.online.MERGE`
    with the guard, so the empty state (−∞, 0) is the identity. ``source`` is the code.
    """

    @property
    def source(self) -> str:
        return merge_source()

    def __call__(
        self, m_a: npt.ArrayLike, d_a: npt.ArrayLike, m_b: npt.ArrayLike, d_b: npt.ArrayLike
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
        names = ("m_a", "d_a", "m_b", "d_b")
        arrays = [as_floating(a, n) for a, n in zip((m_a, d_a, m_b, d_b), names, strict=True)]
        try:
            np.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            shapes = ", ".join(f"{n} {a.shape}" for n, a in zip(names, arrays, strict=True))
            raise InputError(f"merge_states: shapes do not broadcast together: {shapes}") from None
        dtype = np.result_type(*arrays)
        kernel = _compiled("merge", False)
        with np.errstate(all="ignore"):
            m, d = kernel(*(a.astype(dtype, copy=False) for a in arrays))
        return np.asarray(m), np.asarray(d)


merge_states = StateMerge()
