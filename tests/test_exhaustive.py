"""symsoftmax exhaustive / symsoftmax.exhaustive (issue 12 §2, §4): every float8 row of K = 2,
verdicts by class, determinism across batching, sharding, resuming and Dask, refusals, and the
vectorized judge against the per-test one."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symsoftmax
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS
from symsoftmax.reference import evaluate
from symsoftmax.sweep.judge import _batch_bounds, judge_batch
from symsoftmax.sweep.reconcile import TALLY_KEYS
from symsoftmax.sweep.report import IDENTITY_KEYS
from symsoftmax.sweep.space import Space
from symsoftmax.validation.bounds import output_bounds
from symsoftmax.validation.checks import PassRule

CANDIDATES = """
import numpy as np

def good(x):
    z = x.astype(np.float32)
    posinf = z == np.inf
    limit = posinf.any(axis=-1, keepdims=True) & ~np.isnan(z).any(axis=-1, keepdims=True)
    z = np.where(limit, np.where(posinf, 0.0, -np.inf), z).astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def naive(x):
    z = x.astype(np.float32)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def saturating_log(x):
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    out = z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))
    return np.clip(out, -448, 448).astype(x.dtype)

def lse(x):
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0].astype(x.dtype)

def max_shift(x):  # IEEE max-shift: a +inf row is all NaN
    z = x.astype(np.float32)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def masked_zeros(x):  # FlashAttention's convention: a fully masked row is 0
    out = max_shift(x)
    return np.where(np.isneginf(x).all(axis=-1, keepdims=True), 0, out).astype(x.dtype)

def half_nan(x):  # NaN only at the +inf entries, 0 elsewhere: neither named answer
    z = x.astype(np.float32)
    m = z.max(axis=-1, keepdims=True)
    e = np.exp(z - np.where(np.isfinite(m), m, 0))
    return (e / e.sum(axis=-1, keepdims=True)).astype(x.dtype)

def exits(x):
    import os
    os._exit(3)
"""


@pytest.fixture(scope="module")
def candidates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cands") / "cands.py"
    path.write_text(CANDIDATES)
    return path


def _module(path: Path) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # our own test file
    return namespace


def test_space_enumerates_every_bit_pattern_in_order() -> None:
    space = Space.of("float8_e4m3fn", 2)
    assert space.size == 65536
    patterns = space.patterns(0, space.size)
    assert np.array_equal(patterns[:, 0] * 256 + patterns[:, 1], np.arange(65536))
    assert space.hex_patterns(0x3C07) == ["0x3c", "0x07"]
    assert Space.of("float16", 2).size == 2**32


def test_spaces_that_cannot_finish_are_refused_with_rows_and_estimate() -> None:
    with pytest.raises(InputError, match=r"float32 K = 2 has 1.84e\+19 rows \(2\^64\).*years"):
        Space.of("float32", 2)
    with pytest.raises(InputError, match=r"k must be"):
        Space.of("float8_e5m2", 0)


def test_a_correct_softmax_passes_and_a_naive_one_fails_with_exact_counts(
    candidates: Path,
) -> None:
    names = _module(candidates)
    for dtype in ("float8_e4m3fn", "float8_e5m2"):
        report = symsoftmax.exhaustive(names["good"], op="softmax", dtype=dtype, k=2)
        assert report.passed and report.tally.rows == 65536, report.to_text()
        assert report.tally.max_ulp <= 0.5 + 1e-9  # a float32 computation, rounded once
    naive = symsoftmax.exhaustive(names["naive"], op="softmax", dtype="float8_e4m3fn", k=2)
    # NaN outputs (inf/inf once exp(z) overflows float32) where the reference has none: the
    # rows without a NaN entry whose naive outputs have a NaN, counted here independently
    space = Space.of("float8_e4m3fn", 2)
    x = space.rows(0, space.size)
    with np.errstate(all="ignore"):
        out = names["naive"](x).astype(np.float64)  # type: ignore[operator]
    nan_in = np.isnan(x.astype(np.float64)).any(axis=1)
    counts = naive.tally.counts
    assert counts["misplaced NaN/inf"] == int((np.isnan(out).any(axis=1) & ~nan_in).sum()) > 0
    assert naive.tally.failed == counts["misplaced NaN/inf"] + counts["over the bound"]
    assert not naive.passed


def test_named_answers_that_validate_accepts_are_acceptable_rows(candidates: Path) -> None:
    """As validate (vectors.builder.answers_for): all NaN for a row with +inf and no NaN, and
    0 (masked) or NaN for a row of −inf only; NaN at +inf with 0 elsewhere is neither."""
    names = _module(candidates)
    space = Space.of("float8_e5m2", 2)
    x = space.rows(0, space.size).astype(np.float64)
    no_nan = ~np.isnan(x).any(axis=1)
    posinf_rows = int((np.isposinf(x).any(axis=1) & no_nan).sum())
    masked_rows = int(np.isneginf(x).all(axis=1).sum())
    ieee = symsoftmax.exhaustive(names["max_shift"], op="softmax", dtype="float8_e5m2", k=2)
    assert ieee.passed, ieee.to_text()
    assert ieee.tally.counts["acceptable"] == posinf_rows > 0
    masked = symsoftmax.exhaustive(names["masked_zeros"], op="softmax", dtype="float8_e5m2", k=2)
    assert masked.passed, masked.to_text()
    assert masked.tally.counts["acceptable"] == posinf_rows + masked_rows
    half = symsoftmax.exhaustive(names["half_nan"], op="softmax", dtype="float8_e5m2", k=2)
    assert not half.passed
    with np.errstate(all="ignore"):
        out = names["half_nan"](x.astype(space.fmt.numpy_dtype)).astype(np.float64)  # type: ignore[operator]
    mixed = np.isnan(out).any(axis=1) & ~np.isnan(out).all(axis=1)
    assert half.tally.counts["misplaced NaN/inf"] == int(mixed.sum()) > 0


def test_logsumexp_candidate_returns_one_value_per_row(candidates: Path) -> None:
    names = _module(candidates)
    report = symsoftmax.exhaustive(names["lse"], op="logsumexp", dtype="float8_e4m3fn", k=2)
    assert report.passed, report.to_text()


def test_float8_e4m3fn_overflow_nan_is_right_and_saturation_acceptable(candidates: Path) -> None:
    names = _module(candidates)
    report = symsoftmax.exhaustive(
        names["saturating_log"], op="log_softmax", dtype="float8_e4m3fn", k=2
    )
    assert report.passed, report.to_text()
    assert report.tally.counts["saturated"] > 0  # e.g. [448, −448]: −896 beyond the range
    got = evaluate("log_softmax", ["448", "-448"], dtype="float8_e4m3fn").rounded
    assert got[0] == 0 and math.isnan(got[1])  # the valid answer: NaN (OCP conversion)


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symsoftmax", "exhaustive", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_json_is_identical_whatever_the_batching_sharding_and_resuming(
    candidates: Path, tmp_path: Path
) -> None:
    target = f"{candidates}:naive"
    whole = _cli(target, "--workers", "0", "--json", cwd=tmp_path)
    assert whole.returncode == 1, whole.stderr
    shards = []
    for i in range(2):  # and another batch size
        part = _cli(
            target, "--workers", "0", "--shard", f"{i}/2", "--batch", "777", "--json", cwd=tmp_path
        )
        assert part.returncode == 1 and json.loads(part.stdout)["complete"] is False
        shards.append(tmp_path / f"s{i}.json")
        shards[-1].write_text(part.stdout)
    merged = _cli("--merge", *map(str, reversed(shards)), "--json", cwd=tmp_path)
    assert merged.stdout == whole.stdout
    overlap = _cli("--merge", str(shards[0]), str(shards[0]), cwd=tmp_path)
    assert overlap.returncode == 2 and "same rows" in overlap.stderr
    # a checkpoint of the first shard's rows, resumed to the end, gives the same report
    checkpoint = tmp_path / "run.ckpt"
    document = json.loads(shards[0].read_text())
    identity = {key: document[key] for key in IDENTITY_KEYS}
    checkpoint.write_text(
        json.dumps(
            {
                "identity": {**identity, "shard": [0, 1]},
                "tally": {key: document[key] for key in TALLY_KEYS},
            }
        )
    )
    resumed = _cli(target, "--workers", "0", "--resume", str(checkpoint), "--json", cwd=tmp_path)
    assert resumed.stdout == whole.stdout
    other = _cli(
        target, "--workers", "0", "--op", "log_softmax", "--resume", str(checkpoint), cwd=tmp_path
    )
    assert other.returncode == 2 and "another run" in other.stderr


def test_cli_reports_a_hostile_candidate_and_writes_markdown_and_plot(
    candidates: Path, tmp_path: Path
) -> None:
    out = _cli(
        f"{candidates}:exits",
        "--workers",
        "0",
        "--batch",
        "32768",
        "--report",
        "r.md",
        "--plot",
        "h.png",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    assert "call failed: 65536" in out.stdout and "exited with code 3" in out.stdout
    assert "# Exhaustive" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "h.png").read_bytes()[:4] == b"\x89PNG"
    refused = _cli(f"{candidates}:good", "--dtype", "float32", "--workers", "0", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "rows" in refused.stderr and "Traceback" not in refused.stderr


def test_dask_local_cluster_of_two_workers_equals_one_process(
    candidates: Path, tmp_path: Path
) -> None:
    pytest.importorskip("distributed")
    target = f"{candidates}:naive"
    single = _cli(target, "--workers", "0", "--json", cwd=tmp_path)
    cluster = _cli(target, "--workers", "2", "--batch", "4096", "--json", cwd=tmp_path)
    assert cluster.returncode == single.returncode == 1, cluster.stderr
    assert cluster.stdout == single.stdout


def test_a_bad_target_on_a_cluster_is_one_line_and_exit_2(candidates: Path, tmp_path: Path) -> None:
    """The workers' failed tasks are not logged: the driver reports the error once."""
    pytest.importorskip("distributed")
    run = _cli(f"{candidates}:no_such_function", "--workers", "2", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "has no attribute" in run.stderr, run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float8_e5m2"])
def test_vectorized_bounds_equal_output_bounds(op: str, dtype: str) -> None:
    fmt = FORMATS[dtype]
    bits = fmt.numpy_dtype.itemsize * 8
    rng = np.random.default_rng(bits)
    patterns = rng.integers(0, 1 << bits, size=(80, 3), dtype=np.uint64)
    with np.errstate(invalid="ignore"):
        rows = patterns.astype(f"uint{bits}").view(fmt.numpy_dtype).astype(np.float64)
    rows = rows[~np.isnan(rows).any(axis=1)]
    rows = np.concatenate([rows, [[np.inf, np.inf, np.inf], [np.inf, 1.0, np.inf]]])
    got = _batch_bounds(op, rows, fmt, ftz=False)
    for row, bound in zip(rows, got, strict=True):
        exact = evaluate(op, row, dtype=fmt).rounded
        want = output_bounds(op, {"z": row}, {"output": exact}, fmt)["output"].absolute
        assert bound == pytest.approx(want, rel=1e-12, abs=0), row


@pytest.mark.parametrize("mode", ["bound", "faithful", "correctly-rounded"])
def test_batch_judge_agrees_with_exact_errors_on_perturbed_outputs(mode: str) -> None:
    """Outputs nudged by 0, 1 or 2 format steps: the vectorized verdict equals one computed
    from the authority's 40-digit exact values, row by row."""
    from symsoftmax.sweep.judge import CLASSES, _judge_exactly

    fmt = FORMATS["float16"]
    rng = np.random.default_rng(7)
    rows = np.round(rng.standard_normal((120, 2)) * 6, 2)
    rows = evaluate("softmax", rows, dtype=fmt).rounded * 0 + rows.astype(np.float16)
    expected = evaluate("softmax", rows, dtype=fmt).rounded
    steps = rng.integers(-2, 3, size=expected.shape)
    got = expected.astype(np.float16)
    for _ in range(2):
        up = np.nextafter(got, np.float16(np.inf))
        down = np.nextafter(got, np.float16(-np.inf))
        got = np.where(steps > 0, up, np.where(steps < 0, down, got))
        steps = steps - np.sign(steps)
    got64 = got.astype(np.float64)
    rule = PassRule(mode)
    verdict = judge_batch("softmax", fmt, rows, got64, expected, rule)
    for r in range(len(rows)):
        code, ulp = _judge_exactly("softmax", fmt, rows[r], got64[r], expected[r], rule)
        assert CLASSES[verdict.code[r]] == CLASSES[code], rows[r]
        assert verdict.ulp[r] == pytest.approx(ulp, abs=1e-6)


def test_worst_rows_are_the_sorted_top_without_sorting_the_batch() -> None:
    """runner._worst is lexsort((index, −ulp))[:kept], NaN last, ties by lower row."""
    from symsoftmax.sweep.runner import _worst

    rng = np.random.default_rng(12)
    for _ in range(500):
        n = int(rng.integers(1, 60))
        ulps = rng.choice([0.0, 0.25, 0.5, 3.0, np.inf, np.nan], size=n)
        expected = np.lexsort((np.arange(n), -ulps))[:10].tolist()
        assert _worst(ulps, 10) == expected, ulps


def test_local_cluster_workers_keep_glibcs_adaptive_mmap_threshold() -> None:
    """Dask's nanny exports MALLOC_TRIM_THRESHOLD_, which halved the judge's speed (every
    temporary mapped afresh); our LocalCluster unsets it."""
    pytest.importorskip("distributed")
    from symsoftmax.sweep.distribute import _client

    with _client(None, 1) as client:
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(seen.values()) == [None]


def test_documented_worker_configuration_unsets_the_trim_threshold(tmp_path: Path) -> None:
    """The YAML that docs/exhaustive.md gives for `dask worker` does unset it."""
    pytest.importorskip("distributed")
    import re

    doc = (Path(__file__).parents[1] / "docs" / "exhaustive.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)
    (tmp_path / "symsoftmax.yaml").write_text(block)
    code = (
        "from distributed.nanny import _get_env_variables as g;"
        "print(sorted(g('distributed.nanny.pre-spawn-environ')))"
    )
    env = {**os.environ, "DASK_CONFIG": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "MALLOC_TRIM_THRESHOLD_" not in run.stdout and "OMP_NUM_THREADS" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_k3_correct_passes_and_naive_fails_with_counts_found_independently(
    candidates: Path, dtype: str
) -> None:
    """Issue 12's "done when" at K = 3 (16.8 M rows): the naive candidate's failing rows are
    counted here from its outputs and a float64 softmax, without the judge or the reference."""
    names = _module(candidates)
    good = symsoftmax.exhaustive(names["good"], op="softmax", dtype=dtype, k=3)
    assert good.passed and good.tally.rows == 1 << 24, good.to_text()
    naive = symsoftmax.exhaustive(names["naive"], op="softmax", dtype=dtype, k=3)
    space = Space.of(dtype, 3)
    misplaced = gross = 0
    for start in range(0, space.size, 1 << 21):
        x = space.rows(start, start + (1 << 21))
        with np.errstate(all="ignore"):
            out = names["naive"](x).astype(np.float64)  # type: ignore[operator]
            z = x.astype(np.float64)
            posinf = np.isposinf(z)
            limit = posinf.any(axis=1, keepdims=True)  # +inf rows: their limit, as the reference
            z = np.where(limit, np.where(posinf, 0.0, -np.inf), z)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            exact = e / e.sum(axis=1, keepdims=True)
        nan_in = np.isnan(x.astype(np.float64)).any(axis=1)
        finite_in = ~nan_in & ~np.isneginf(z).all(axis=1)  # the reference is finite here
        all_nan_at_inf = limit[:, 0] & np.isnan(out).all(axis=1)  # an accepted answer
        bad_special = ~np.isfinite(out).all(axis=1) & finite_in & ~all_nan_at_inf
        misplaced += int(bad_special.sum())
        # naive's finite outputs are float32 results rounded once to float8 (off by at most
        # half an ulp: ≤ 1/16 for outputs in [1/2, 1]), or 0 everywhere where Σ e^z overflowed
        # float32 (off by ≥ 1/K at the largest output): an error over 0.1 is that overflow
        far = (np.abs(out - exact) > 0.1).any(axis=1)
        gross += int((far & finite_in & ~bad_special & ~all_nan_at_inf).sum())
    counts = naive.tally.counts
    assert counts["misplaced NaN/inf"] == misplaced > 0
    assert counts["over the bound"] == gross
    assert naive.tally.failed == misplaced + gross and not naive.passed


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_vectorized_acceptable_rows_are_the_named_answers_of_the_vectors(op: str) -> None:
    """judge.accepted_alternative (vectorized, for the sweep) accepts a row's outputs exactly
    when they are one of vectors.builder.answers_for's named answers other than the
    reference's own — the rule validate applies — on every float8_e5m2 row with an infinity
    and 500 others, for several candidate outputs."""
    from symsoftmax.sweep.judge import accepted_alternative
    from symsoftmax.vectors.builder import answers_for
    from symsoftmax.vectors.model import EXPECTED_KEYS

    space = Space.of("float8_e5m2", 2)
    x = space.rows(0, space.size).astype(np.float64)
    special = np.flatnonzero(np.isinf(x).any(axis=1))
    others = np.random.default_rng(5).choice(space.size, 500, replace=False)
    rows = x[np.union1d(special, others)]
    expected = np.asarray(evaluate(op, rows, dtype="float8_e5m2").rounded).reshape(len(rows), -1)
    key = EXPECTED_KEYS[op][0]
    outputs = [
        expected,
        np.full_like(expected, np.nan),
        np.zeros_like(expected),
        np.full_like(expected, -np.inf),
        np.where(np.isposinf(rows[:, : expected.shape[1]]), np.nan, 0.0),
    ]
    for got in outputs:
        fast = accepted_alternative(op, rows, got, expected)
        for i, row in enumerate(rows):
            want = expected[i].reshape(-1 if op != "logsumexp" else ())
            answers = answers_for(op, {"z": row}, {key: np.asarray(want)})
            same = np.array_equal(got[i], expected[i], equal_nan=True)
            named = any(
                np.array_equal(np.ravel(a.outputs[key]), got[i], equal_nan=True) for a in answers
            )
            assert fast[i] == (named and not same), (op, row, got[i], expected[i])
