"""What the survey knows about one implementation: its functions, per op, and what it cannot run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from symsoftmax.validation.componentwise import KernelClass


@dataclass
class Implementation:
    """One row of the survey's tables.

    ``framework`` is the validator's array adapter (numpy, torch or jax) the functions take
    their inputs through; ``functions`` maps an op to its function (an op left out is "not
    provided"); ``unsupported`` maps (op, format) to why that cell cannot run at all (e.g. the
    library has no kernel for the format), which the table shows instead of a verdict.
    ``classes`` maps (op, format) to the kernel class the implementation was found to compute
    as, where that is not the default class (e.g. a sum kept in float16), with the evidence
    (:class:`Declared`): the survey judges the cell under that class too, and the page shows
    both verdicts.
    """

    name: str
    framework: str
    functions: dict[str, Callable[..., Any]]
    version: str
    unsupported: dict[tuple[str, str], str] = field(default_factory=dict)
    classes: dict[tuple[str, str], Declared] = field(default_factory=dict)

    def summary(self) -> Implementation:
        """A copy without its functions (which may not pickle), for the process that renders
        the tables while workers ran the functions: the same ops, names and versions."""
        return replace(self, functions=dict.fromkeys(self.functions, _ran_elsewhere))


def _ran_elsewhere(*args: Any) -> Any:
    raise RuntimeError("this implementation's functions ran in a survey worker process")


@dataclass(frozen=True)
class Declared:
    """The kernel class an implementation computes as, and why we say so (what its source or
    a reproduction shows)."""

    kernel: KernelClass
    why: str
    ftz: bool = False  # subnormal results (and inputs) flushed to zero

    def describe(self) -> str:
        """E.g. ``state float16, flush-to-zero``: how it differs from the default class."""
        parts = []
        if self.kernel != KernelClass():
            parts.append(self.kernel.describe())
        if self.ftz:
            parts.append("--ftz")
        return ", ".join(parts)


def declare(
    ops: tuple[str, ...],
    formats: tuple[str, ...],
    kernel: KernelClass,
    why: str,
    *,
    ftz: bool = False,
) -> dict[tuple[str, str], Declared]:
    """The same declared class for every op × format given."""
    return {(op, fmt): Declared(kernel, why, ftz) for op in ops for fmt in formats}


class Unavailable(Exception):
    """An implementation that cannot run here (the message says why); listed, not surveyed."""
