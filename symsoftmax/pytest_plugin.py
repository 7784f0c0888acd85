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
``tc12-tie-at-max``. Without the marker, a test asking for ``softmax_case`` is an error.
"""

from __future__ import annotations

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
    from symsoftmax.testing import cases

    options: dict[str, Any] = dict(marker.kwargs)
    if marker.args:
        options.setdefault("op", marker.args[0])
    found = list(
        cases(
            options.get("op", "softmax"),
            options.get("dtype", "float32"),
            suite=options.get("suite"),
            vectors=options.get("vectors"),
            seed=int(options.get("seed", 0)),
        )
    )
    metafunc.parametrize("softmax_case", found, ids=[case.id for case in found])


@pytest.fixture
def softmax_case(request: pytest.FixtureRequest) -> Any:
    """One reference case (see the module docstring); parametrized by the marker."""
    if not hasattr(request, "param"):
        raise pytest.UsageError(
            f"softmax_case needs @pytest.mark.{MARKER}(op=..., dtype=..., suite=...)"
        )
    return request.param
