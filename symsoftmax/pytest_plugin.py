"""pytest plugin (entry point ``pytest11``): parametrize a test over the reference vectors.

.. code-block:: python

    import numpy as np
    import pytest
    from symsoftmax.testing import assert_softmax_close

    @pytest.mark.softmax_vectors(op="softmax", dtype="float32", suite="quick")
    def test_my_softmax(softmax_case):
        z = softmax_case.z
        e = np.exp(z - z.max())
        assert_softmax_close(e / e.sum(), softmax_case)

The marker takes ``op``, ``dtype``, and ``suite`` (default "quick") or ``vectors`` (a file path)
and ``seed``; each test of the vectors becomes one parametrized case, with ids like
``tc12-tie-at-max``. Without the marker, a test asking for ``softmax_case`` is an error; a
marker with a bad argument is a collection error of one line naming the test.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pytest

MARKER = "softmax_vectors"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(op='softmax', dtype='float32', suite='quick', vectors=None, seed=0): "
        "parametrize the softmax_case fixture over symsoftmax reference vectors",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "softmax_case" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None:
        return
    from symsoftmax.errors import InputError
    from symsoftmax.testing import cases

    try:
        options = marker_options(marker.args, marker.kwargs)
        found = list(cases(**options))
    except (InputError, OSError) as exc:
        # a collection error of one line, not a traceback through this plugin
        where = f"@pytest.mark.{MARKER} on {metafunc.definition.nodeid}"
        pytest.fail(f"{where}: {exc}", pytrace=False)
    metafunc.parametrize("softmax_case", found, ids=[case.id for case in found])


_POSITIONAL = ("op", "dtype")
_TEXT_OPTIONS = ("op", "dtype", "suite")


def marker_options(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`symsoftmax.testing.cases` for a marker's arguments.

    Checked here, each mistake an InputError of one line: more than ``op, dtype`` by
    position, a name given twice or unknown (a misspelt ``sute=`` would otherwise be ignored),
    a non-string op, dtype or suite, vectors that are not a path, and a seed that is not a
    non-negative integer (``int()`` would take ``1.5`` as 1 and ``True`` as 1).
    """
    from symsoftmax.cli._options import SEED_MAX, parse_int
    from symsoftmax.errors import InputError
    from symsoftmax.rounding import brief_repr

    if len(args) > len(_POSITIONAL):
        raise InputError(f"at most 2 positional arguments (op, dtype), got {len(args)}")
    options: dict[str, Any] = {"op": "softmax", "dtype": "float32"}
    for name, value in zip(_POSITIONAL, args, strict=False):
        if name in kwargs:
            raise InputError(f"{name} given twice (by position and by name)")
        options[name] = value
    for name, value in kwargs.items():
        if name not in ("op", "dtype", "suite", "vectors", "seed"):
            raise InputError(
                f"unknown argument {brief_repr(name)}; expected op, dtype, suite, vectors, seed"
            )
        options[name] = value
    for name in _TEXT_OPTIONS:
        if name in options and not isinstance(options[name], str):
            raise InputError(f"{name} must be a string, got {brief_repr(options[name])}")
    vectors = options.get("vectors")
    if vectors is not None and not isinstance(vectors, str | os.PathLike):
        raise InputError(f"vectors must be a file path, got {brief_repr(vectors)}")
    seed = options.get("seed", 0)
    if isinstance(seed, str):
        options["seed"] = parse_int(seed, "seed", 0, SEED_MAX)
    elif not isinstance(seed, int) or isinstance(seed, bool):
        raise InputError(f"seed must be an integer, got {brief_repr(seed)}")
    elif not 0 <= seed <= SEED_MAX:
        raise InputError(f"seed must be an integer in 0..{SEED_MAX}, got {seed}")
    return options


@pytest.fixture
def softmax_case(request: pytest.FixtureRequest) -> Any:
    """One reference case (see the module docstring); parametrized by the marker."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(
            f"softmax_case needs @pytest.mark.{MARKER}(op=..., dtype=..., suite=...)"
        )
    return request.param
