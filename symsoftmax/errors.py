"""Exceptions that carry a one-line, user-facing message.

The CLI prints ``symsoftmax: error: <message>`` for these and exits with status 2; library callers
catch them as ordinary ``ValueError`` subclasses.
"""

from __future__ import annotations

__all__ = ["InputError", "PrecisionLimitError"]


class InputError(ValueError):
    """Malformed user input: a number, vector, shape, file or option. The message names where."""


class PrecisionLimitError(ArithmeticError):
    """Ziv's loop reached its precision cap without deciding a rounding (names the op and input)."""
