"""A zoo of NumPy kernels with an attention sink and a logit soft-cap (issue 21): correct
kernels of every algorithm class, and one buggy kernel per defect the issue lists.

Each kernel takes one row (``z`` along the last axis, in the storage format: float32, float16
or bfloat16) and the keywords ``sink=`` and ``softcap=`` (Python floats, or None for none), as
``validate`` passes them (docs/vectors.md); no ``temperature=``, so the suites' temperature
tests are skipped (they carry no sink or cap: scaling first and shifting first differ there
only on extreme T, which these kernels do not model). Everything runs in the *state*
precision :data:`STATE` (float32, as GPU kernels keep 16-bit inputs) and the result is rounded
once to the storage format. The definitions are those of docs/reference.md, "Sinks and
soft-caps": the capped logits c·tanh(z/c) (−inf stays a mask), and a sink s is one
more logit in the sum with no output of its own, so softmax_j = e^{z_j}/(e^s + Σ_k e^{z_k}).

The algorithm classes are those the validator declares (``componentwise.KernelClass``):

* two-pass: m = max(max_j z_j, s), the sink taking part in the max, then
  Σ = Σ_j e^{z_j − m} + e^{s − m} (Blanchard, Higham & Higham, IMA J. Numer. Anal. 41(4), 2021,
  Alg. 2.1/2.2 on the extended row [z, s]);
* one-pass: the online normalizer over blocks (Milakov & Gimelshein 2018), the sink entering the
  running state either first, as the initial state (m, d) = (s, 1) (FlashAttention kernels with
  sinks initialise the row max with the sink), or last, merged as one more partial state;
* split: S contiguous key splits reduced to (m_i, d_i) and merged with the sink as one more
  state (s, 1), so that it counts once (split-KV "Flash-Decoding", Dao et al. 2023);
* exp2: e^t = 2^{fl(t·log₂e)} of the shifted logits (FlashAttention-2's exps).

The defects (:data:`BUGGY`) are small changes of those kernels, one per defect of the issue;
each :class:`Kernel` says where the pattern comes from and which tests should expose it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from attention_candidates import LOG2E

__all__ = [
    "BUGGY",
    "CORRECT",
    "FORMATS",
    "OTHER_HEAD_SINK",
    "STATE",
    "Kernel",
    "capped",
    "kernel",
    "log_softmax",
    "logsumexp",
    "multi_head_softmax",
    "softmax",
]

STATE = np.float32
FORMATS = ("float32", "float16", "bfloat16")
Array = np.ndarray
OTHER_HEAD_SINK = 0.7  # the sink of the other query head in wrong_head_sink's GQA group
GROUP = 2  # query heads per KV head in wrong_head_sink's model
VECTOR_WIDTH = 4  # the specialised path of sink_dropped_generic_path takes K % 4 == 0
QUIET = {"invalid": "ignore", "divide": "ignore", "over": "ignore", "under": "ignore"}

CAP_BUGS = ("tanh_by_exps", "cap_as_product", "cap_skipped", "cap_after_log2e")
SINK_BUGS = (
    "sink_dropped_generic_path",
    "sink_outside_max",
    "split_sink_per_split",
    "sink_discarded",
)


# ------------------------------------------------------------------------------ logits


def _tanh_by_exps(x: Array) -> Array:
    """tanh written as (e^x − e^{−x})/(e^x + e^{−x}): inf/inf = NaN once |x| > ~88.7 (float32)."""
    a, b = np.exp(x), np.exp(-x)
    return (a - b) / (a + b)


def capped(x: Array, c: Any, bug: str | None = None) -> Array:
    """c·tanh(x/c) in STATE, −inf kept as −inf (a mask, not the logit −c); ``bug`` one of
    :data:`CAP_BUGS` (``cap_after_log2e`` is the caller's: here it caps as it should)."""
    c = STATE(c)
    with np.errstate(**QUIET):
        if bug == "cap_skipped":
            return x
        if bug == "cap_as_product":
            out = x * np.tanh(x / c)  # caps nothing once |x| > 2c
        elif bug == "tanh_by_exps":
            out = c * _tanh_by_exps(x / c)
        else:
            out = c * np.tanh(x / c)
    return np.where(np.isneginf(x), x, out).astype(STATE)


def _logits(z: Array, softcap: float | None, bug: str | None) -> Array:
    """The row's logits in STATE, capped (the sink is not capped)."""
    x = z.astype(STATE)
    return x if softcap is None else capped(x, softcap, bug)


def _sink(sink: float | None) -> Array:
    """The sink as a STATE scalar (−inf for none: the plain op)."""
    return STATE(-math.inf if sink is None else sink)


# ---------------------------------------------------------------------- partial states


def _guarded(m: Array) -> Array:
    """The shift actually subtracted: m, or 0 where m = −inf (a range of −inf only keeps
    e^{−inf} = 0 instead of e^{(−inf) − (−inf)} = NaN)."""
    return np.where(np.isneginf(m), 0, m).astype(STATE)


def _state(x: Array, exp: Callable[[Array], Array]) -> tuple[Array, Array]:
    """(m, d) of a range of logits: m = max (−inf if empty), d = Σ exp(x − m) (pairwise)."""
    m = np.max(x, axis=-1, keepdims=True, initial=-np.inf)
    with np.errstate(**QUIET):
        d = np.sum(exp(x - _guarded(m)), axis=-1, keepdims=True, dtype=STATE)
    return m.astype(STATE), d


def _merge(a: tuple[Array, Array], b: tuple[Array, Array], exp: Callable[[Array], Array]):
    """Two partial states merged: m = max, d = d_a·e^{m_a − m} + d_b·e^{m_b − m}."""
    m = np.maximum(a[0], b[0])
    g = _guarded(m)
    with np.errstate(**QUIET):
        d = a[1] * exp(a[0] - g) + b[1] * exp(b[0] - g)
    return m, d.astype(STATE)


def _sink_state(s: Array, shape: tuple[int, ...]) -> tuple[Array, Array]:
    """The sink as a partial state: (s, 1), or the empty state (−inf, 0) for no sink."""
    m = np.full(shape, s, dtype=STATE)
    return m, np.where(np.isneginf(m), 0, 1).astype(STATE)


def _two_pass(x: Array, s: Array, exp: Callable[[Array], Array]) -> tuple[Array, Array]:
    """(m, d) of the extended row [x, s]: the sink in the max and the sum."""
    return _merge(_state(x, exp), _sink_state(s, (*x.shape[:-1], 1)), exp)


def _one_pass(
    x: Array, s: Array, exp: Callable[[Array], Array], block: int, sink_first: bool
) -> tuple[Array, Array]:
    """The online normalizer over blocks of ``block``; the sink enters first (the initial
    state) or last (one more state merged at the end)."""
    shape = (*x.shape[:-1], 1)
    empty = (np.full(shape, -np.inf, dtype=STATE), np.zeros(shape, dtype=STATE))
    state = _sink_state(s, shape) if sink_first else empty
    for start in range(0, x.shape[-1], block):
        state = _merge(state, _state(x[..., start : start + block], exp), exp)
    return state if sink_first else _merge(state, _sink_state(s, shape), exp)


def _split(
    x: Array, s: Array, exp: Callable[[Array], Array], splits: int, per_split: bool
) -> tuple[Array, Array]:
    """Split-KV: ``splits`` contiguous ranges reduced to (m_i, d_i), merged in order, and the
    sink merged once at the end; with ``per_split`` the sink is instead folded into the state
    of every split that opens a run of non-empty splits (split 0, or one after an empty split:
    written for sliding-window masks, whose leading splits are empty), so a hole emptying a
    whole split in the middle counts it twice, and a row with every split empty not at all."""
    shape = (*x.shape[:-1], 1)
    parts = [_state(chunk, exp) for chunk in np.array_split(x, splits, axis=-1)]
    state = (np.full(shape, -np.inf, dtype=STATE), np.zeros(shape, dtype=STATE))
    before_empty = np.ones(shape, dtype=bool)
    for m_i, d_i in parts:
        part = (m_i, d_i)
        if per_split:
            opens = before_empty & ~np.isneginf(m_i)
            with_sink = _merge(part, _sink_state(s, shape), exp)
            part = (np.where(opens, with_sink[0], m_i), np.where(opens, with_sink[1], d_i))
            before_empty = np.isneginf(m_i)
        state = _merge(state, part, exp)
    return state if per_split else _merge(state, _sink_state(s, shape), exp)


# ---------------------------------------------------------------------------- the ops


def _finish(
    op: str,
    x: Array,
    m: Array,
    d: Array,
    exp: Callable[[Array], Array],
    log: Any,
    guard: bool = True,
) -> Array:
    """The outputs from the row's (m, d): e^{x − m}/d, x − m − log d, or m + log d (STATE),
    ``log`` the logarithm in the base of ``exp``; m guarded (−inf taken as 0) unless not
    ``guard``."""
    g = _guarded(m) if guard else m
    with np.errstate(**QUIET):
        if op == "softmax":
            return exp(x - g) / d
        if op == "log_softmax":
            return (x - g) - log(d)
        return (g + log(d))[..., 0]


def _exp2_scaled(t: Array) -> Array:
    """e^t as 2^{fl(t·log₂e)}, log₂e a float32 constant (FlashAttention-2's exps)."""
    return np.exp2((t * LOG2E).astype(STATE))


def kernel(
    z: Any,
    sink: float | None = None,
    softcap: float | None = None,
    *,
    op: str = "softmax",
    algorithm: str = "two-pass",
    block: int = 64,
    splits: int = 4,
    sink_first: bool = False,
    exp2: bool = False,
    bug: str | None = None,
) -> Array:
    """``op`` (softmax, log_softmax or logsumexp) of the row(s) z with the sink and cap, by
    ``algorithm`` ("two-pass", "one-pass" over blocks of ``block``, "split" into ``splits``),
    with e^t as 2^{t·log₂e} when ``exp2``; ``bug`` one of :data:`SINK_BUGS` or
    :data:`CAP_BUGS` (None: correct). STATE throughout, rounded once to z's format."""
    z = np.asarray(z)
    if bug == "cap_after_log2e" and softcap is not None:
        return _cap_after_log2e(z, sink, softcap)
    x = _logits(z, softcap, bug)
    s = _sink(None if bug == "sink_discarded" else sink)
    if bug == "sink_dropped_generic_path" and z.shape[-1] % VECTOR_WIDTH:
        s = _sink(None)  # the generic (non-vectorised) path forgot the sink
    exp = _exp2_scaled if exp2 or bug == "cap_after_log2e" else np.exp
    if bug == "sink_outside_max":
        m = np.max(x, axis=-1, keepdims=True, initial=-np.inf).astype(STATE)
        with np.errstate(**QUIET):  # unguarded: the sink's term overflows or is e^{s + inf}
            d = np.sum(exp(x - m), axis=-1, keepdims=True, dtype=STATE) + exp(s - m)
    elif algorithm == "one-pass":
        m, d = _one_pass(x, s, exp, block, sink_first)
    elif algorithm == "split":
        m, d = _split(x, s, exp, splits, per_split=bug == "split_sink_per_split")
    else:
        m, d = _two_pass(x, s, exp)
    out = _finish(op, x, m, d, exp, np.log, guard=bug != "sink_outside_max")
    return np.asarray(out, dtype=STATE).astype(z.dtype)


def _cap_after_log2e(z: Array, sink: float | None, softcap: float) -> Array:
    """The softmax of a kernel that fuses log₂e into the score scale and caps the scaled
    scores: y = c·tanh(z·log₂e/c), s·log₂e, 2^{y − m}/Σ (the cap belongs on the natural-scale
    logit: log₂e·c·tanh(z/c))."""
    with np.errstate(**QUIET):
        y = capped((z.astype(STATE) * LOG2E).astype(STATE), softcap)
        s = STATE(_sink(sink) * LOG2E)
    m, d = _two_pass(y, s, np.exp2)
    return np.asarray(_finish("softmax", y, m, d, np.exp2, np.log2), dtype=STATE).astype(z.dtype)


def softmax(
    z: Any,
    sink: float | None = None,
    softcap: float | None = None,
) -> Array:
    """The correct two-pass softmax with a sink and a cap (importable by name: the isolated
    worker runs it)."""
    return kernel(z, sink, softcap, op="softmax")


def log_softmax(
    z: Any,
    sink: float | None = None,
    softcap: float | None = None,
) -> Array:
    """The correct two-pass log_softmax with a sink and a cap."""
    return kernel(z, sink, softcap, op="log_softmax")


def logsumexp(
    z: Any,
    sink: float | None = None,
    softcap: float | None = None,
) -> Array:
    """The correct two-pass logsumexp with a sink and a cap."""
    return kernel(z, sink, softcap, op="logsumexp")


def multi_head_softmax(
    z: Any,
    sink: float | None = None,
    softcap: float | None = None,
) -> Array:
    """A GQA softmax-with-sink kernel seen through one row: the row is query head 1 of a group
    of :data:`GROUP` query heads sharing a KV head, head 0 having the learned sink
    :data:`OTHER_HEAD_SINK`; the kernel indexes the per-query-head sinks by the KV head
    (h // GROUP) instead of the query head h, so the row gets head 0's sink."""
    if sink is None:  # a model without sinks: no per-head table to misindex
        return kernel(z, None, softcap, op="softmax")
    sinks = [OTHER_HEAD_SINK, sink]
    head = 1
    return kernel(z, sinks[head // GROUP], softcap, op="softmax")


# ------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Kernel:
    """One kernel of the zoo: the callable, the op, its declared algorithm class (with block,
    splits and exp2 as ``KernelClass`` takes them) and the formats it is meant for; for a
    defect, where the pattern comes from and which tests should expose it."""

    fn: Callable[..., Array]
    op: str
    algorithm: str  # "two-pass", "one-pass", "split"
    formats: tuple[str, ...] = FORMATS
    block: int | None = None
    splits: int | None = None
    exp2: bool = False
    source: str = ""
    exposed_by: str = ""


def _entry(op: str, algorithm: str = "two-pass", **options: Any) -> Kernel:
    """A registry entry of :func:`kernel` with those options, declaring what it runs."""
    source = options.pop("source", "")
    exposed_by = options.pop("exposed_by", "")
    formats = options.pop("formats", FORMATS)
    fn = functools.partial(kernel, op=op, algorithm=algorithm, **options)
    return Kernel(
        fn,
        op,
        algorithm,
        formats=formats,
        block=options.get("block") if algorithm == "one-pass" else None,
        splits=options.get("splits") if algorithm == "split" else None,
        exp2=bool(options.get("exp2", False)),
        source=source,
        exposed_by=exposed_by,
    )


OPS = ("softmax", "log_softmax", "logsumexp")

CORRECT: dict[str, Kernel] = {
    **{f"two_pass_{op}": _entry(op) for op in OPS},
    **{
        f"one_pass_{op}_b{b}_sink_{where}": _entry(
            op, "one-pass", block=b, sink_first=where == "first"
        )
        for op in OPS
        for b in (1, 16)
        for where in ("first", "last")
    },
    **{f"split_{op}_s{s}": _entry(op, "split", splits=s) for op in OPS for s in (2, 3, 8)},
    "exp2_softmax": _entry("softmax", exp2=True),
    "exp2_split_softmax_s4": _entry("softmax", "split", splits=4, exp2=True),
}

BUGGY: dict[str, Kernel] = {
    "sink_dropped_generic_path": _entry(
        "softmax",
        bug="sink_dropped_generic_path",
        source="a kernel with a vectorised path (K a multiple of 4) that handles the sink and "
        "a generic fallback that forgets it (the tracker's 'output 1.0 instead of ~0.30')",
        exposed_by="attention-sink rows of K = 1, 2, 3 ('K=1, sink 0 (softmax₁): [1/2]' → [1])",
    ),
    "wrong_head_sink": Kernel(
        multi_head_softmax,
        "softmax",
        "two-pass",
        source="per-head sinks indexed by the KV head (h // group) instead of the query head "
        "in a GQA kernel: a row gets another row's sink",
        exposed_by="every attention-sink row whose sink is not the other head's 0.7",
    ),
    **{
        f"sink_outside_max_{op}": _entry(
            op,
            bug="sink_outside_max",
            source="the sink added to the sum as e^{s − m} with m the max of the logits "
            "alone (not in the max or the rescale)",
            exposed_by="sink 100 far above the logits (e^{100} overflows float32: lse = inf); "
            "an empty key range (m = −inf: e^{s + inf}, lse NaN where the exact is s)",
        )
        for op in ("softmax", "logsumexp")
    },
    **{
        f"split_sink_per_split_{op}": _entry(
            op,
            "split",
            splits=4,
            bug="split_sink_per_split",
            source="split-KV: the sink folded into the partial state of the split that "
            "opens the key range, found as a non-empty split after an empty one",
            exposed_by="a sink row whose mask hole empties a whole split (sink counted "
            "twice), and a row with every key masked (sink not counted: lse −inf, not s)",
        )
        for op in ("softmax", "logsumexp")
    },
    "sink_discarded": _entry(
        "softmax",
        bug="sink_discarded",
        source="a backend that accepts sink= and ignores it (forward = vanilla attention)",
        exposed_by="every attention-sink row with a finite sink",
    ),
    "tanh_by_exps": _entry(
        "softmax",
        bug="tanh_by_exps",
        source="tanh written out as (e^x − e^{−x})/(e^x + e^{−x})",
        exposed_by="'|z/c| beyond exp overflow': inf/inf = NaN",
    ),
    "cap_as_product": _entry(
        "softmax",
        bug="cap_as_product",
        source="the cap written z·tanh(z/c) for c·tanh(z/c)",
        exposed_by="every soft-cap row with |z| comparable to c or above",
    ),
    "cap_skipped": _entry(
        "softmax",
        bug="cap_skipped",
        source="a path that accepts softcap= and does not apply it",
        exposed_by="soft-cap rows with |z| not small against c",
    ),
    "cap_after_log2e": _entry(
        "softmax",
        exp2=True,
        bug="cap_after_log2e",
        source="the cap applied after log₂e was fused into the score scale (c·tanh(z·log₂e/c) "
        "in base 2, not log₂e·c·tanh(z/c))",
        exposed_by="soft-cap rows with |z|/c not small",
    ),
}
