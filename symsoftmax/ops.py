"""The operation table: every fact about an op that more than one layer needs, in one place.

Both wings read it — the reference engine (:mod:`symsoftmax.reference`), the test vectors
(:mod:`symsoftmax.vectors`), the validator (:mod:`symsoftmax.validation`) and the CLI — so it is
data only and imports nothing of the package.

An :class:`Operation` says, for one op:

* ``inputs``: the names of its input rows, each of shape (K,): ``z`` (the logits), then ``g``
  (the cotangent of a VJP) or ``y`` (the target of cross-entropy). :data:`INPUT_OPTIONS` gives
  each second input's long name (the CLI's ``--cotangent`` / ``--target``).
* ``dims``: the shape of the value :func:`symsoftmax.reference.evaluate` computes for one row of
  length K: 0 → () (the op axes are removed), 1 → (K,), 2 → (K, K) (the Jacobian).
* ``outputs``: its reference plan — the outputs of a vector file of the op, each a key (the name
  in the file and in a candidate's answer) and the reference op whose value it is; its shape
  is that op's. cross_entropy's loss comes from the reference op cross_entropy and its grad from
  cross_entropy_grad. An op with no outputs has no vector files of its own (cross_entropy_grad:
  its values are the grad of cross_entropy's files).
* ``temperature``: whether it takes a temperature T (the op of z/T, T·logsumexp for logsumexp).
* ``fast_path``: whether the vectorized float64 / double-double path of
  :mod:`symsoftmax.reference.fast` settles its values (the others go to Ziv's loop directly).
  A new op leaves it False unless it also adds its double-double routine there (or a module
  of its own, named in ``OWN_MODULES`` there): the fast path is an optimisation, and the op's
  values are the same without it.
* ``bound``: the error-bound family of :func:`symsoftmax.validation.bounds.output_bounds` that
  judges it (None: not judged on its own — cross_entropy_grad is judged as cross_entropy's grad).

A new op touches exactly: its entry here; its reference plan (a ``_Plan`` class in
``_PLANS`` of symsoftmax/reference/engine.py); its bound (a family in
symsoftmax/validation/bounds.py, unless it reuses one); and the catalogue families that test it
(``Family.ops`` in symsoftmax/vectors/catalogue.py; families listing every op take it at once).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "INPUT_OPTIONS",
    "OPERATIONS",
    "REFERENCE_OPS",
    "SINK_OPS",
    "TEMPERATURE_OPS",
    "VECTOR_OPS",
    "Operation",
    "Output",
    "operation",
]


@dataclass(frozen=True)
class Output:
    """One output of a vector file: its ``key`` and the ``reference`` op whose value it is."""

    key: str
    reference: str


@dataclass(frozen=True)
class Operation:
    """One op: inputs, shape of its value, vector-file outputs, temperature, attention sink and
    soft-cap, fast path, bound."""

    name: str
    inputs: tuple[str, ...]
    dims: int
    outputs: tuple[Output, ...]
    temperature: bool = False
    sink: bool = False  # takes an attention sink and a soft-cap (docs/reference.md)
    fast_path: bool = False
    bound: str | None = None

    def shape(self, k: int) -> tuple[int, ...]:
        """Shape of this op's value for a row of length ``k``: (), (k,) or (k, k)."""
        return (k,) * self.dims

    def size(self, k: int) -> int:
        """Number of values one row of length ``k`` gives: 1, k or k²."""
        return k**self.dims

    def output_keys(self) -> tuple[str, ...]:
        """Keys of the outputs in a vector file of this op."""
        return tuple(output.key for output in self.outputs)

    def output_shape(self, key: str, k: int) -> tuple[int, ...]:
        """Shape of output ``key`` for rows of length ``k`` (its reference op's shape)."""
        reference = next(output.reference for output in self.outputs if output.key == key)
        return OPERATIONS[reference].shape(k)


_Z, _ZG, _ZY = ("z",), ("z", "g"), ("z", "y")
_SCALAR, _VECTOR, _MATRIX = 0, 1, 2  # dims: (), (K,), (K, K)


def _own(key: str, name: str) -> tuple[Output, ...]:
    """A vector file with one output, ``key``, the value of the op itself."""
    return (Output(key, name),)


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "softmax",
            inputs=_Z,
            dims=_VECTOR,
            outputs=_own("output", "softmax"),
            sink=True,
            temperature=True,
            fast_path=True,
            bound="softmax",
        ),
        Operation(
            "log_softmax",
            inputs=_Z,
            dims=_VECTOR,
            outputs=_own("output", "log_softmax"),
            sink=True,
            temperature=True,
            fast_path=True,
            bound="log_softmax",
        ),
        Operation(
            "logsumexp",
            inputs=_Z,
            dims=_SCALAR,
            outputs=_own("output", "logsumexp"),
            sink=True,
            temperature=True,
            fast_path=True,
            bound="logsumexp",
        ),
        Operation(
            "jacobian",
            inputs=_Z,
            dims=_MATRIX,
            outputs=_own("output", "jacobian"),
            fast_path=True,
            bound="jacobian",
        ),
        Operation(
            "softmax_vjp",
            inputs=_ZG,
            dims=_VECTOR,
            outputs=_own("dz", "softmax_vjp"),
            sink=True,
            fast_path=True,
            bound="softmax_vjp",
        ),
        Operation(
            "log_softmax_vjp",
            inputs=_ZG,
            dims=_VECTOR,
            outputs=_own("dz", "log_softmax_vjp"),
            sink=True,
            fast_path=True,
            bound="log_softmax_vjp",
        ),
        Operation(
            "cross_entropy",
            inputs=_ZY,
            dims=_SCALAR,
            outputs=(Output("loss", "cross_entropy"), Output("grad", "cross_entropy_grad")),
            fast_path=True,
            bound="cross_entropy",
        ),
        Operation("cross_entropy_grad", inputs=_ZY, dims=_VECTOR, outputs=(), fast_path=True),
    )
}
"""Every op, in the order the CLI and the docs list them."""

REFERENCE_OPS: tuple[str, ...] = tuple(OPERATIONS)
"""The ops :func:`symsoftmax.reference.evaluate` computes (all of them)."""

VECTOR_OPS: tuple[str, ...] = tuple(name for name, op in OPERATIONS.items() if op.outputs)
"""The ops with vector files of their own (and so validated on their own)."""

TEMPERATURE_OPS: tuple[str, ...] = tuple(name for name, op in OPERATIONS.items() if op.temperature)
"""The ops that take a temperature."""

SINK_OPS: tuple[str, ...] = tuple(name for name, op in OPERATIONS.items() if op.sink)
"""The ops that take an attention sink and a soft-cap (docs/reference.md)."""

INPUT_OPTIONS: dict[str, str] = {"g": "cotangent", "y": "target"}
"""Long name of each second input (the CLI option ``--<name>`` of ``symsoftmax reference``)."""


def operation(name: str) -> Operation:
    """The table entry of op ``name`` (KeyError for an unknown op: callers check names first)."""
    return OPERATIONS[name]
