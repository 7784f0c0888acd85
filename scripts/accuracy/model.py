"""What the survey knows about one implementation: its functions, per op, and what it cannot run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class Implementation:
    """One row of the survey's tables.

    ``framework`` is the validator's array adapter (numpy, torch or jax) the functions take
    their inputs through; ``functions`` maps an op to its function (an op left out is "not
    provided"); ``unsupported`` maps (op, format) to why that cell cannot run at all (e.g. the
    library has no kernel for the format), which the table shows instead of a verdict.
    """

    name: str
    framework: str
    functions: dict[str, Callable[..., Any]]
    version: str
    unsupported: dict[tuple[str, str], str] = field(default_factory=dict)

    def summary(self) -> Implementation:
        """A copy without its functions (which may not pickle), for the process that renders
        the tables while workers ran the functions: the same ops, names and versions."""
        return replace(self, functions=dict.fromkeys(self.functions, _ran_elsewhere))


def _ran_elsewhere(*args: Any) -> Any:
    raise RuntimeError("this implementation's functions ran in a survey worker process")


class Unavailable(Exception):
    """An implementation that cannot run here (the message says why); listed, not surveyed."""
