"""Where the vectors come from: a VectorFile, a file path, or a generated suite (cached on disk).

Generating a suite takes seconds to minutes (every expected value is correctly rounded), so a
generated suite is stored under the user cache folder — ``$SYMSOFTMAX_CACHE_DIR``, else
``$XDG_CACHE_HOME/symsoftmax``, else ``~/.cache/symsoftmax`` — as
``vectors/<op>-<dtype>-<suite>-seed<seed>-v<version>-<code>.npz``, written atomically, where
<code> fingerprints the source of the code that computes the vectors (vectors, reference,
rounding, formats), so that an edited generator never serves stale expected values. A cache file
that does not load is regenerated; an unwritable cache folder only means no caching.

A verdict must not depend on a file a candidate could have written (docs/validation.md, "Threat
model"). Only this process writes the cache, and a cache entry is read only where candidates
cannot write it: on a platform whose workers are sandboxed (:mod:`~symsoftmax.validation.sandbox`;
``trust_cache``), and then checked against the suite's manifest, regenerated
(:mod:`symsoftmax.vectors.manifest`: the same tests, tcIds, flags and inputs, bit for bit) and
for values of the format; an entry that differs is made again. Beside the entry, the exact
values of its tests are stored parsed (:class:`~symsoftmax.validation.metrics.ExactValues`), as
the expected values are: written by this process, which parsed them. Elsewhere the suite is
generated afresh for each run.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from symsoftmax import __version__, collector
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation.checks import PreparedTest
from symsoftmax.validation.metrics import ExactValues
from symsoftmax.vectors.decimals import ExactOfTests, remember_exact
from symsoftmax.vectors.model import EXPECTED_KEYS, OPS, SUITES, VectorFile, expected_shape

if TYPE_CHECKING:
    from symsoftmax.vectors.builder import Progress

__all__ = ["cache_dir", "cache_trusted", "custom_vectors", "resolve_vectors", "suite_vectors"]


def cache_dir() -> Path:
    """The folder for cached vector files."""
    explicit = os.environ.get("SYMSOFTMAX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "symsoftmax"


@functools.cache
def _code_fingerprint() -> str:
    """A short hash of the source files that determine generated vectors."""
    package = Path(__file__).resolve().parent.parent
    sources = [*(package / "vectors").glob("*.py"), *(package / "reference").glob("*.py")]
    files = sorted([*sources, package / "rounding.py", package / "formats.py"])
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()[:12]


def cache_trusted(*, isolate: bool, sandbox: bool) -> bool:
    """Whether a run may read the suite cache: only where no candidate can have written it,
    that is on a platform whose isolated workers are sandboxed, in a run whose candidate is
    sandboxed or runs in this process (trusted code, by the caller's choice)."""
    from symsoftmax.validation.sandbox import landlock_abi

    return landlock_abi() > 0 and (sandbox or not isolate)


_EXACT_PARTS = ("hi", "lo_frac", "lo_exp")  # the fields of ExactValues, as stored


def _exact_arrays(vf: VectorFile, prepared: list[PreparedTest]) -> dict[str, npt.NDArray[Any]]:
    """The parsed exact values of ``prepared`` (the tests of ``vf``, in order) as arrays to
    store beside the cache entry: ``g<group>.exact.<key>.<part>``, shaped as the group's."""
    arrays: dict[str, npt.NDArray[Any]] = {}
    tests = iter(prepared)
    for index, group in enumerate(vf.groups):
        members = [next(tests) for _ in group.tests]
        for key in EXPECTED_KEYS[vf.op]:
            shape = expected_shape(vf.op, key, group.k)
            for part in _EXACT_PARTS:
                values = [getattr(item.exact[key], part) for item in members]
                stacked = np.array(values).reshape(len(members), *shape)
                arrays[f"g{index:05d}.exact.{key}.{part}"] = stacked
    return arrays


def _stored_exact(vf: VectorFile, arrays: dict[str, npt.NDArray[Any]]) -> ExactOfTests:
    """The exact values of a cache entry's tests, stored beside it (ValueError if they are
    missing or misshapen: the entry is then made again)."""
    exact_of_tests: ExactOfTests = []
    dtypes = {"hi": np.float64, "lo_frac": np.float64, "lo_exp": np.int64}
    for index, group in enumerate(vf.groups):
        n = len(group.tests)
        columns: dict[str, list[ExactValues]] = {}
        for key in EXPECTED_KEYS[vf.op]:
            shape = (n, *expected_shape(vf.op, key, group.k))
            parts = []
            for part in _EXACT_PARTS:
                array = arrays.get(f"g{index:05d}.exact.{key}.{part}")
                if array is None or array.shape != shape or array.dtype != dtypes[part]:
                    raise ValueError(f"exact values of group {index} missing or misshapen")
                parts.append(list(array))  # a row each, as indexing gives them, at less cost
            columns[key] = [ExactValues(*row) for row in zip(*parts, strict=True)]
        if len(columns) == 1:  # one output (softmax's): a dict a test, built at once
            ((key, values),) = columns.items()
            exact_of_tests.extend([{key: value} for value in values])
        else:
            exact_of_tests.extend(
                {key: values[i] for key, values in columns.items()} for i in range(n)
            )
    return exact_of_tests


@collector.while_paused
def _cached_suite(path: Path, op: str, dtype: str, suite: str, seed: int) -> VectorFile | None:
    """The cache entry at ``path`` if it is the suite it should be, else None. Its tests'
    parsed exact values, stored beside it, are kept for it
    (:func:`~symsoftmax.vectors.decimals.remember_exact`)."""
    from symsoftmax.vectors.io import read_npz_model
    from symsoftmax.vectors.manifest import manifest_findings, suite_claim

    extra: dict[str, npt.NDArray[Any]] = {}
    try:
        vf = read_npz_model(path, extra)
        exact = _stored_exact(vf, extra)
    except (InputError, OSError, ValueError):
        return None
    claim = suite_claim(vf.header)
    if claim is None or (claim.op, claim.dtype, claim.suite, claim.seed) != (
        op,
        dtype,
        suite,
        seed,
    ):
        return None
    if claim.generator_version != __version__ or manifest_findings(vf, str(path)):
        return None
    remember_exact(vf, exact)
    return vf


def suite_vectors(
    op: str,
    dtype: str,
    suite: str,
    seed: int = 0,
    *,
    progress: Progress | None = None,
    trust_cache: bool = True,
) -> VectorFile:
    """The generated vectors of ``suite``, from the cache when present and trusted.

    ``progress``: the generator's progress callback (see :func:`symsoftmax.vectors.generate`).
    ``trust_cache=False`` (see :func:`cache_trusted`) generates them without reading the cache.
    """
    from symsoftmax import vectors
    from symsoftmax.atomic import write_atomic
    from symsoftmax.vectors.io import to_npz_bytes

    if suite not in SUITES:
        raise InputError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    name = f"{op}-{dtype}-{suite}-seed{seed}-v{__version__}-{_code_fingerprint()}.npz"
    path = cache_dir() / "vectors" / name
    if trust_cache and path.is_file():
        cached = _cached_suite(path, op, dtype, suite, seed)
        if cached is not None:
            return cached  # else damaged or tampered with: make it again
    vf = vectors.generate(op, dtype, suite=suite, seed=seed, progress=progress)
    prepared = PreparedTest.of_file(vf)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, to_npz_bytes(vf, extra=_exact_arrays(vf, prepared), ascii_exact=True))
    except OSError:
        pass
    return vf


def resolve_vectors(
    vectors: VectorFile | str | os.PathLike[str] | None,
    suite: str | None,
    op: str | None,
    dtype: str | None,
    seed: int = 0,
    *,
    progress: Progress | None = None,
    trust_cache: bool = True,
) -> tuple[VectorFile, str]:
    """(the vectors, a description of where they came from). Checks op and dtype agree.
    ``trust_cache``: as in :func:`suite_vectors`."""
    if vectors is not None and suite is not None:
        raise InputError("give either vectors or suite, not both")
    if vectors is None:
        op = op or "softmax"
        dtype = get_format(dtype or "float32").name
        if op not in OPS:
            raise InputError(f"unknown op {op!r}; expected one of {', '.join(OPS)}")
        suite = suite or "standard"
        vf = suite_vectors(op, dtype, suite, seed, progress=progress, trust_cache=trust_cache)
        return vf, f"generated suite {suite!r}, seed {seed}"
    if isinstance(vectors, VectorFile):
        vf, where = vectors, f"{vectors.header.get('suite', 'given')} vectors"
    else:
        from symsoftmax.vectors import load

        vf, where = load(vectors), str(vectors)
    if op is not None and op != vf.op:
        raise InputError(f"{where}: vectors are for op {vf.op!r}, not {op!r}")
    if dtype is not None and get_format(dtype).name != vf.dtype:
        raise InputError(f"{where}: vectors are for dtype {vf.dtype!r}, not {dtype!r}")
    sha = str(vf.header.get("sha256", ""))[:12]
    return vf, f"{where} ({len(vf)} tests{', sha256 ' + sha if sha else ''})"


def custom_vectors(
    op: str,
    dtype: str,
    rows: list[dict[str, object]] | list[list[float]],
    *,
    flags: tuple[str, ...] = ("custom",),
) -> VectorFile:
    """Vectors from your own input rows: :func:`symsoftmax.vectors.from_rows` (see there)."""
    from symsoftmax.vectors import from_rows

    return from_rows(op, dtype, rows, flags=flags)
