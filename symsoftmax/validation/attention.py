"""A fused attention kernel as a softmax (or logsumexp) candidate, exactly.

``attention_as_softmax(attn)`` wraps an attention function into a function of logits ``z`` that
the validator can call: for a row z of K logits it builds one query and K keys such that the
kernel's scores are exactly z, and values that copy each probability to one output component:

* q = e₁ (the first unit vector of length ``head_dim``) and k_j = z_j·e₁, so
  q·k_j = 1·z_j + Σ_{d>1} 0·0 = z_j exactly in every format (scale 1);
* V rows one-hot: v_j = e_{j−c₀} for the keys of the slice of output columns [c₀, c₀ + head_dim)
  and 0 for the others, so output column c is Σ_j p_j·v_jc / ℓ = p_{c₀+c} / ℓ: one non-zero
  term, σ_{c₀+c} as the kernel computes it. A row longer than ``head_dim`` takes one call per
  slice of ``head_dim`` columns (the keys are the whole row each time);
* −inf entries go through the kernel's mask (``mask="boolean"``: False = masked;
  ``"additive"``: −inf added to the score; their keys are 0) or inline (``"none"``: k_j = −inf·e₁,
  q·k_j = 1·(−inf) + 0·0 + … = −inf: no 0·(−inf) is formed);
* NaN and +inf entries go inline in k (never masked): the kernel sees them as scores;
* ``fixed_scale=True``, for kernels that fix the scale at 1/√D (Paddle's, tinygrad's): D must
  be a power of 4, D = 4^a, so that √D = 2^a and 1/√D = 2^−a are exact, and q = √D·e₁: the
  score is 2^−a·(2^a·z_j) = z_j exactly, in whichever order the kernel scales (q first,
  1·z_j; the product first, a power-of-two scaling there and back) — except where 2^a·|z_j|
  overflows the kernel's accumulator (a product formed before scaling, z_j near the format's
  largest value) or the kernel scales k first and z_j is subnormal (bits below the subnormal
  quantum lost).
* ``sinks="NAME"``: a test's sink s goes to the kernel as a per-head tensor under keyword NAME
  (``sinks``, ``learnable_sink``, ``s_aux``: one logit per head in the units of the scaled
  scores, GPT-OSS's), on a call of two heads: head 0, whose output is read, carries s, head 1
  another value (−inf, or 0 when s is −inf), so a kernel that reads another head's sink fails;
  ``softcap="NAME"``: a test's soft-cap c goes as a Python float under keyword NAME (``softcap``,
  ``logit_softcap``), the kernel capping the scaled scores, which are z_j exactly. The candidate
  then takes ``sink=`` / ``softcap=`` as the validator passes them; without these options it
  takes neither and the validator skips such tests.

Rows of equal K go in one call along the batch dimension (heads 1, one query). The argument
and the recipes for PyTorch, JAX and flash-attn are in docs/attention.md.
"""

from __future__ import annotations

import functools
import inspect
import keyword
import math
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from symsoftmax.errors import InputError
from symsoftmax.validation.adapters import FRAMEWORKS, Adapter, get_adapter
from symsoftmax.validation.runner import WrongResult

__all__ = [
    "ATTENTION_OPS",
    "CALLS",
    "FIXED_SCALE_HEAD_DIMS",
    "LAYOUTS",
    "MASKS",
    "AttentionSoftmax",
    "attention_as_softmax",
]

LAYOUTS = ("bhsd", "bshd")  # PyTorch SDPA's (batch, heads, seq, dim); flash-attn's and JAX's
MASKS = ("boolean", "additive", "none")
# sdpa: attn(q, k, v, attn_mask=…, scale=1.0); flash: attn(q, k, v, softmax_scale=1.0, causal=False)
CALLS = ("sdpa", "flash")
ATTENTION_OPS = ("softmax", "logsumexp")
MAX_HEAD_DIM = 1 << 16
FIXED_SCALE_HEAD_DIMS = tuple(4**a for a in range(9))  # 1, 4, …, 65536: √D a power of two
# the keywords the adapter itself passes, which a sink or soft-cap keyword may not take over
CALL_KEYWORDS = ("attn_mask", "scale", "softmax_scale", "causal")
SINK_HEADS = 2  # heads of a call with a sink: head 0 is read, head 1 has another sink

LseGetter = int | Callable[[Any], Any]


@dataclass(repr=False, eq=False)
class AttentionSoftmax:
    """The softmax (or logsumexp) candidate made of an attention function; see the module doc.
    Made by :func:`attention_as_softmax`, which checks the options.

    Call it with one row z (K,) or rows (B, K) of the target dtype; it returns (K,) / (B, K)
    (softmax) or () / (B,) (logsumexp), in the dtype the kernel returned (the validator checks
    it), except a log-sum-exp in another dtype, which is rounded to z's.
    """

    attn: Callable[..., Any] | str
    _: KW_ONLY
    layout: str
    mask: str
    head_dim: int
    framework: str
    call: str
    op: str
    device: str
    lse: LseGetter
    fixed_scale: bool = False  # the kernel fixes scale = 1/√head_dim (the call passes none)
    sinks: str | None = None  # the kernel's keyword of the per-head sink tensor
    softcap: str | None = None  # the kernel's keyword of the soft-cap (a Python float)
    # a fused attention kernel is one pass (online softmax): the validator's monotonicity and
    # sum-to-one allowances widen for it (validation.properties.one_pass_allowance); a two-pass
    # kernel is within them too, so this is never a false failure
    one_pass = True

    def __post_init__(self) -> None:
        attn = self.attn
        shown = attn if isinstance(attn, str) else getattr(attn, "__qualname__", repr(attn))
        module = "" if isinstance(attn, str) else getattr(attn, "__module__", "") or ""
        self.__name__ = self.__qualname__ = (
            f"attention_as_softmax({module}{'.' if module else ''}{shown})"
        )
        self.__module__ = ""  # so the validator's report names it by __qualname__ alone
        # the validator passes sink= / softcap= to a candidate whose signature takes them
        # (runner.accepts_keyword): only those configured, so that others skip such tests
        self.__signature__ = inspect.Signature(
            [inspect.Parameter("z", inspect.Parameter.POSITIONAL_ONLY)]
            + [
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None)
                for name in self._inputs()
            ]
        )

    def _inputs(self) -> tuple[str, ...]:
        """The keyword inputs this candidate takes: "sink" and/or "softcap", as configured."""
        return tuple(name for name, kw in (("sink", self.sinks), ("softcap", self.softcap)) if kw)

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self._options().items())
        return f"{self.__name__[:-1]}, {options})"

    def _options(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "attn"}

    def worker_options(self) -> dict[str, Any]:
        """The keywords that rebuild this wrapper around the same target in a worker process
        (JSON values: the worker wraps the function it imports, see validation.worker)."""
        if not isinstance(self.lse, int):
            raise InputError(
                "isolate=True: attention_as_softmax(lse=) must be an index for a worker process, "
                "not a function"
            )
        return self._options()

    @functools.cached_property
    def _function(self) -> Callable[..., Any]:
        if isinstance(self.attn, str):
            from symsoftmax.validation.target import load_target

            return load_target(self.attn)
        return self.attn

    @functools.cached_property
    def _adapter(self) -> Adapter:
        return get_adapter(self.framework)

    def __call__(self, z: Any, /, **inputs: float | None) -> npt.NDArray[Any]:
        if not isinstance(z, np.ndarray) or z.ndim not in (1, 2):
            raise InputError(
                "attention_as_softmax takes NumPy rows (K,) or (B, K) (validate it with "
                "framework='numpy'; its own framework= says what the kernel gets), "
                f"got {type(z).__name__} {getattr(z, 'shape', '')}"
            )
        for name in inputs:
            if name not in self._inputs():  # as a function without that parameter would
                raise TypeError(f"{self.__name__} got an unexpected keyword argument {name!r}")
        heads, extra = self._keyword_inputs(z.dtype, inputs.get("sink"), inputs.get("softcap"))
        out = self._rows(z[np.newaxis] if z.ndim == 1 else z, heads, extra)  # K = 0 too
        return out[0] if z.ndim == 1 else out

    def _keyword_inputs(
        self, dtype: np.dtype[Any], sink: float | None, softcap: float | None
    ) -> tuple[int, dict[str, Any]]:
        """(heads, the kernel's extra keywords) for a test's sink and soft-cap (None: none).

        The sink goes as a tensor of one value per head in the target dtype (the test's sink
        is a value of the format: exact), on :data:`SINK_HEADS` heads: head 0, whose output is
        read, has the test's s; head 1 another value (:func:`_other_sink`), so a kernel that
        takes another head's sink gives head 0 a wrong sum. The soft-cap goes as a float."""
        extra: dict[str, Any] = {}
        heads = 1
        if sink is not None and self.sinks:
            heads = SINK_HEADS
            per_head = np.array([sink, _other_sink(sink, dtype)], dtype)
            extra[self.sinks] = self._to_framework(per_head)
        if softcap is not None and self.softcap:
            extra[self.softcap] = float(softcap)
        return heads, extra

    # ------------------------------------------------------------------ one call per slice

    def _rows(
        self, z: npt.NDArray[Any], heads: int = 1, extra: dict[str, Any] | None = None
    ) -> npt.NDArray[Any]:
        b, k = z.shape
        extra = extra or {}
        shared = self._query_keys_mask(z, heads)  # built once: the same in every slice's call
        if self.op == "logsumexp":
            return self._lse(self._invoke(shared, self._values(z, 0, heads), extra), b, z.dtype)
        columns = [
            self._out(
                self._invoke(shared, self._values(z, c0, heads), extra),
                b,
                min(self.head_dim, k - c0),
                heads,
            )
            for c0 in range(0, k, self.head_dim)
        ]
        return np.concatenate(columns, axis=-1) if columns else np.empty((b, 0), z.dtype)

    def _shape(self, b: int, k: int, heads: int = 1) -> tuple[int, ...]:
        """Queries', keys' and values' shape: heads, k positions, head_dim, in the layout."""
        if self.layout == "bhsd":
            return (b, heads, k, self.head_dim)
        return (b, k, heads, self.head_dim)

    def _in_layout(self, rows: npt.NDArray[Any], heads: int) -> npt.NDArray[Any]:
        """(B, K, D) arrays of head 0 as (B, H, K, D) or (B, K, H, D), every head the same."""
        b, k, _ = rows.shape
        axis = 1 if self.layout == "bhsd" else 2
        out = np.repeat(np.expand_dims(rows, axis), heads, axis=axis)
        assert out.shape == self._shape(b, k, heads)
        return out

    def _query_keys_mask(self, z: npt.NDArray[Any], heads: int = 1) -> list[Any]:
        """[q, k] or [q, k, mask] for rows z: q = e₁ (√head_dim·e₁ with ``fixed_scale``, which
        the kernel's 1/√head_dim undoes), k_j = z_j·e₁ (0 where the mask takes −inf), in every
        head; mask (B, 1, 1, K): boolean (True = attend) or additive (0 or −inf)."""
        b, k = z.shape
        masked = np.isneginf(z) if self.mask != "none" else np.zeros(z.shape, bool)
        q = np.zeros((b, 1, self.head_dim), z.dtype)
        q[..., 0] = np.sqrt(self.head_dim) if self.fixed_scale else 1  # a power of two: exact
        keys = np.zeros((b, k, self.head_dim), z.dtype)
        keys[..., 0] = np.where(masked, np.zeros_like(z), z)
        arrays = [self._in_layout(q, heads), self._in_layout(keys, heads)]
        if self.mask != "none":
            allowed = ~masked[:, None, None, :]
            arrays.append(allowed if self.mask == "boolean" else np.where(allowed, 0, -np.inf))
            arrays[-1] = arrays[-1].astype(bool if self.mask == "boolean" else z.dtype)
        return [self._to_framework(a, shared=True) for a in arrays]

    def _values(self, z: npt.NDArray[Any], c0: int, heads: int = 1) -> Any:
        """V for output columns [c0, c0 + head_dim): v_j = e_{j−c0} there, 0 elsewhere."""
        b, k = z.shape
        values = np.zeros((b, k, self.head_dim), z.dtype)
        width = min(self.head_dim, k - c0)
        values[:, np.arange(c0, c0 + width), np.arange(width)] = 1
        return self._to_framework(self._in_layout(values, heads))

    def _invoke(self, shared: list[Any], values: Any, extra: dict[str, Any]) -> Any:
        """One kernel call in the chosen convention, scale 1 (no scale: ``fixed_scale``), with
        the sink and soft-cap keywords of ``extra``."""
        q, keys = shared[:2]
        if self.call == "flash":
            scale = {} if self.fixed_scale else {"softmax_scale": 1.0}
            return self._function(q, keys, values, causal=False, **scale, **extra)
        scale = {} if self.fixed_scale else {"scale": 1.0}
        if self.mask == "none":
            return self._function(q, keys, values, **scale, **extra)
        return self._function(q, keys, values, attn_mask=shared[2], **scale, **extra)

    def _to_framework(self, array: npt.NDArray[Any], *, shared: bool = False) -> Any:
        """``array`` in the kernel's framework on its device. NumPy arrays used by several
        calls are read-only, so a kernel that writes into its inputs raises instead of
        changing the next call's."""
        if self.framework == "torch":
            import torch

            if array.dtype == bool:
                return torch.from_numpy(array).to(self.device)
            return self._adapter.to_framework(array).to(self.device)
        if self.framework == "jax":
            import jax

            return jax.device_put(self._adapter.to_framework(array), _jax_device(self.device))
        if self.framework != "numpy":  # TensorFlow, Paddle, MLX: the adapter's tensors (CPU)
            return self._adapter.to_framework(array)
        if shared:
            array.setflags(write=False)
        return array

    def _out(self, result: Any, b: int, width: int, heads: int = 1) -> npt.NDArray[Any]:
        """Columns [0, width) of head 0's attention output, (B, H, 1, D) or (B, 1, H, D) as the
        layout says; a :class:`WrongResult` for any other shape, even one holding as many
        values."""
        out = self._adapter.to_numpy(result[0] if isinstance(result, tuple | list) else result)
        want = self._shape(b, 1, heads)
        if out.shape != want:
            raise WrongResult(
                f"attention output has shape {out.shape}, expected {want} "
                f"(batch, {heads} head{'s' * (heads > 1)} and 1 query in layout "
                f"{self.layout}, head_dim)"
            )
        return out[:, 0, 0, :width]  # head 0, query 0 in either layout

    def _indexed_lse(self, result: Any) -> Any:
        """``result[lse]``, the kernel's log-sum-exp; a :class:`WrongResult` when the kernel
        returned no tuple that holds it (a bare output would be indexed along its batch)."""
        assert isinstance(self.lse, int)
        if isinstance(result, tuple | list) and -len(result) <= self.lse < len(result):
            return result[self.lse]
        raise WrongResult(
            f"the attention kernel returned no (output, lse) pair: got {_result_shown(result)} "
            f"(lse={self.lse} indexes the kernel's tuple result)"
        )

    def _lse(self, result: Any, b: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """The log-sum-exp of each batch row (its first entry: head 0, query 0 in a (B, H, 1)
        or (B, 1, H) array), rounded to ``dtype``; with a sink, the kernel's own, sink
        included (log(e^s + Σ_j e^{z_j}), as the reference's)."""
        from symsoftmax.formats import get_format
        from symsoftmax.rounding import as_format_array

        lse = self.lse(result) if callable(self.lse) else self._indexed_lse(result)
        lse = self._adapter.to_numpy(lse)
        if lse.ndim == 0 or lse.shape[0] != b:
            raise WrongResult(f"log-sum-exp has shape {lse.shape}, expected batch {b} first")
        first = lse.reshape(b, -1)[:, 0]
        fmt = get_format(dtype)
        return first if first.dtype == dtype else as_format_array(first, fmt).astype(dtype)


def _result_shown(result: Any) -> str:
    """'a tuple of 1 item', 'ndarray': what a kernel returned, briefly (no shape, so that the
    message is the same for every call and a run of them can stop the validation)."""
    if isinstance(result, tuple | list):
        return f"a {type(result).__name__} of {len(result)} item{'s' * (len(result) != 1)}"
    return type(result).__name__


def _other_sink(sink: float, dtype: np.dtype[Any]) -> float:
    """The sink of the heads whose output is not read: −inf (no sink), or 0 when the test's is
    −inf or the format has no −inf; so it differs from the test's unless both are 0 in a
    format without infinities (one value then serves all heads)."""
    no_sink = float(np.array(-math.inf, dtype).astype(np.float64))
    return no_sink if no_sink == -math.inf and sink != -math.inf else 0.0


def _jax_device(device: str) -> Any:
    """``"cpu"``, ``"gpu"`` or ``"gpu:1"`` as a jax device."""
    import jax

    platform, _, index = device.partition(":")
    return jax.devices(platform)[int(index or 0)]


def attention_as_softmax(
    attn: Callable[..., Any] | str,
    *,
    layout: str = "bhsd",
    mask: str = "boolean",
    head_dim: int = 64,
    framework: str = "numpy",
    call: str = "sdpa",
    op: str = "softmax",
    device: str = "cpu",
    lse: LseGetter = 1,
    fixed_scale: bool = False,
    sinks: str | None = None,
    softcap: str | None = None,
) -> AttentionSoftmax:
    """A softmax candidate (``op="logsumexp"``: a logsumexp one) made of an attention function.

    ``attn``: the kernel (or a ``"module:function"`` / ``"file.py:function"`` name, imported on
    first use), called as ``attn(q, k, v, attn_mask=M, scale=1.0)`` (``call="sdpa"``: PyTorch's
    ``scaled_dot_product_attention``; no ``attn_mask`` with ``mask="none"``) or
    ``attn(q, k, v, softmax_scale=1.0, causal=False)`` (``call="flash"``: flash-attn's
    ``flash_attn_func``, which has no mask, so ``mask="none"``). ``layout``: q, k, v as
    (batch, heads, seq, dim) ``"bhsd"`` or (batch, seq, heads, dim) ``"bshd"``; the mask is
    (batch, 1, 1, K) either way. ``mask``: how −inf logits reach the kernel: a boolean mask
    (False = masked), an additive one (−inf), or ``"none"`` (inline in k). ``framework``:
    ``"numpy"``, ``"torch"`` or ``"jax"`` — the type of q, k, v, built in the target dtype on
    ``device`` (``"cpu"``, ``"cuda:0"``; for jax a platform, ``"gpu:1"``). A tuple result's
    first element is the output. ``lse`` (``op="logsumexp"``): where the result holds the
    log-sum-exp — an index into the tuple the kernel returns (default 1: ``(out, lse)``, as
    flash-attn's ``return_attn_probs=True`` gives) or a function of the result; its
    (batch, …) array's first entry per batch row is taken and rounded to the target dtype.
    ``fixed_scale=True``: the kernel fixes the scale at 1/√head_dim and takes none (Paddle's,
    tinygrad's): it is called without ``scale=`` / ``softmax_scale=``, with q = √head_dim·e₁,
    and ``head_dim`` must be a power of 4 (:data:`FIXED_SCALE_HEAD_DIMS`), so that every score
    is still exactly z_j. ``sinks``: the keyword under which the kernel takes a per-head sink
    tensor (shape (heads,), the target dtype, the framework's type: ``"sinks"``,
    ``"learnable_sink"``, ``"s_aux"``); ``softcap``: the keyword of its soft-cap, a float
    (``"softcap"``, ``"logit_softcap"``); with them the candidate takes ``sink=`` /
    ``softcap=`` (see the module doc). Exactness argument and recipes: docs/attention.md.
    InputError on a bad option.
    """
    _check_choice("layout", layout, LAYOUTS)
    _check_choice("mask", mask, MASKS)
    _check_choice("call", call, CALLS)
    _check_choice("op", op, ATTENTION_OPS)
    _check_choice("framework", framework, FRAMEWORKS)
    if (
        isinstance(head_dim, bool)
        or not isinstance(head_dim, int)
        or not 1 <= head_dim <= MAX_HEAD_DIM
    ):
        raise InputError(f"head_dim must be an integer in 1..{MAX_HEAD_DIM}, got {head_dim!r}")
    _check_fixed_scale(fixed_scale, head_dim)
    _check_keyword("sinks", sinks)
    _check_keyword("softcap", softcap)
    if sinks is not None and sinks == softcap:
        raise InputError(f"sinks and softcap name the same keyword {sinks!r}")
    if call == "flash" and mask != "none":
        raise InputError(
            f"call 'flash' passes no mask (flash-attn's convention): use mask 'none' "
            f"(−inf inline in the keys), not {mask!r}"
        )
    if framework not in ("torch", "jax") and device != "cpu":
        raise InputError(f"framework {framework!r} runs on the CPU only, not device {device!r}")
    if not isinstance(device, str) or not device:
        raise InputError(f"device must be a name such as 'cpu' or 'cuda:0', got {device!r}")
    if isinstance(lse, bool) or not (isinstance(lse, int) or callable(lse)):
        raise InputError(
            f"lse must be an index into the kernel's result or a function of it, got {lse!r}"
        )
    if isinstance(attn, str):
        from symsoftmax.validation.target import locate_target

        locate_target(attn)
    elif not callable(attn):
        raise InputError(f"attention function {attn!r} is not callable")
    return AttentionSoftmax(
        attn,
        layout=layout,
        mask=mask,
        head_dim=head_dim,
        framework=framework,
        call=call,
        op=op,
        device=device,
        lse=lse,
        fixed_scale=fixed_scale,
        sinks=sinks,
        softcap=softcap,
    )


def _check_keyword(option: str, name: Any) -> None:
    """InputError unless ``name`` is None or a Python identifier that the adapter's call does
    not already pass (:data:`CALL_KEYWORDS`)."""
    if name is None:
        return
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InputError(f"{option} must name a keyword argument of the kernel, got {name!r}")
    if name in CALL_KEYWORDS:
        raise InputError(
            f"{option} {name!r} is a keyword the adapter passes itself ({', '.join(CALL_KEYWORDS)})"
        )


def _check_fixed_scale(fixed_scale: Any, head_dim: int) -> None:
    """InputError unless ``fixed_scale`` is a bool, and with it ``head_dim`` a power of 4."""
    if not isinstance(fixed_scale, bool):
        raise InputError(f"fixed_scale must be True or False, got {fixed_scale!r}")
    if fixed_scale and head_dim not in FIXED_SCALE_HEAD_DIMS:
        shown = ", ".join(str(d) for d in FIXED_SCALE_HEAD_DIMS[1:5])
        raise InputError(
            f"fixed_scale needs head_dim a power of 4 ({shown}, …), so that 1/√head_dim is "
            f"exact; got {head_dim}"
        )


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
