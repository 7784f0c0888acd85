"""Rows from every family: :func:`drawn_rows`, :func:`rows`, :func:`blockwise_rows`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from symsoftmax.errors import InputError
from symsoftmax.formats import Format, get_format
from symsoftmax.testing.strategies.block_families import BLOCK_FAMILIES, BLOCK_SIZES
from symsoftmax.testing.strategies.catalogue_families import CATALOGUE_FAMILIES
from symsoftmax.testing.strategies.spec import DrawnRow, Family, _Spec
from symsoftmax.testing.strategies.values import format_values
from symsoftmax.vectors.catalogue import (
    MAX_SHORT_K,
)

FAMILIES: dict[str, Family] = {**CATALOGUE_FAMILIES, **BLOCK_FAMILIES}
"""The row families by name: the catalogue's (a plain "drawn" row stands for its single-entry,
two-entries and random families), then the block-structured ones (:data:`BLOCK_FAMILIES`)."""

# The switch of rows() that turns a (non-block) family off.
_NEEDS = {
    "neg-inf-entries": "masked",
    "all-neg-inf": "masked",
    "nan-input": "allow_nan",
    "pos-inf": "allow_infinity",
}


def _block_sizes(block: int | SearchStrategy[int] | bool | None) -> SearchStrategy[int] | None:
    if block is None or block is False:
        return None
    if block is True:
        return st.sampled_from(BLOCK_SIZES)
    if isinstance(block, int):
        if block < 2:
            raise InputError(f"block must be at least 2, got {block}")
        return st.just(block)
    return block


def drawn_rows(
    dtype: str | Format = "float32",
    *,
    min_size: int = 1,
    max_size: int = MAX_SHORT_K,
    elements: SearchStrategy[float] | None = None,
    block: int | SearchStrategy[int] | bool | None = True,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    masked: bool = True,
    families: Sequence[str] | None = None,
) -> SearchStrategy[DrawnRow]:
    """Hard rows with their family's flags and a comment (:class:`DrawnRow`); see :func:`rows`."""
    fmt = get_format(dtype)
    if not 0 <= min_size <= max_size:
        raise InputError(f"need 0 ≤ min_size ≤ max_size, got {min_size} and {max_size}")
    names = list(FAMILIES) if families is None else list(families)
    unknown = [name for name in names if name not in FAMILIES]
    if unknown:
        raise InputError(f"unknown family {unknown[0]!r}; expected one of {', '.join(FAMILIES)}")
    finite = format_values(fmt, allow_nan=False, allow_infinity=False)
    spec = _Spec(
        fmt=fmt,
        elements=finite if elements is None else elements,
        min_size=min_size,
        max_size=max_size,
        blocks=_block_sizes(block),
        allow_nan=allow_nan,
        allow_infinity=allow_infinity and fmt.infinities,
        masked=masked and fmt.infinities,
    )
    chosen = []
    for name in names:
        switch = _NEEDS.get(name)
        if switch is not None and not getattr(spec, switch):
            continue
        strategy = FAMILIES[name](spec)
        if strategy is not None:
            chosen.append(strategy)
    if not chosen:
        raise InputError(f"no row family of {', '.join(names)} fits these options")
    return st.one_of(chosen)


def rows(
    dtype: str | Format = "float32",
    *,
    min_size: int = 1,
    max_size: int = MAX_SHORT_K,
    elements: SearchStrategy[float] | None = None,
    block: int | SearchStrategy[int] | bool | None = True,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    masked: bool = True,
    families: Sequence[str] | None = None,
) -> SearchStrategy[npt.NDArray[Any]]:
    """Hard rows as NumPy arrays of ``dtype``, drawn from every family (:data:`FAMILIES`).

    ``min_size``/``max_size`` bound the length of the catalogue families' rows; a
    block-structured row has 1–3 full blocks and a partial one (``block``: a block size, a
    strategy of them, True for :data:`BLOCK_SIZES`, None for no block-structured rows).
    ``elements``: the finite entries of plain rows and of the fills (default: any finite value
    of the format, landmarks first). ``allow_nan``, ``allow_infinity`` (+inf) and ``masked``
    (−inf) switch those families off. ``families``: only these (names of :data:`FAMILIES`).
    """
    fmt = get_format(dtype)
    return drawn_rows(
        fmt,
        min_size=min_size,
        max_size=max_size,
        elements=elements,
        block=block,
        allow_nan=allow_nan,
        allow_infinity=allow_infinity,
        masked=masked,
        families=families,
    ).map(lambda row: row.z.astype(fmt.numpy_dtype))


def blockwise_rows(
    dtype: str | Format = "float32", block: int | SearchStrategy[int] | bool = True, **options: Any
) -> SearchStrategy[npt.NDArray[Any]]:
    """Block-structured rows only (:data:`BLOCK_FAMILIES`): :func:`rows` with those families.

    ``block``: a block size, a strategy of them, or True for :data:`BLOCK_SIZES`.
    """
    return rows(dtype, block=block, families=list(BLOCK_FAMILIES), **options)
