"""The one-pass allowances of the monotonicity and sum-to-one properties
(validation.properties.one_pass_allowance): R counted right, a drop within the one-pass allowance
passes only for a one-pass candidate, one beyond it fails either way, and how the validator
learns that a candidate is one pass (attention_as_softmax, validate(one_pass=), --one-pass)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import blockwise_kernels as bk
import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.formats import get_format
from symsoftmax.testing import attention_as_softmax
from symsoftmax.validation import validate
from symsoftmax.validation.properties import one_pass_allowance, prefix_records
from symsoftmax.validation.sources import custom_vectors, suite_vectors

SHARED_CACHE = Path(tempfile.gettempdir()) / f"symsoftmax-test-cache-{os.getuid()}"
U32 = get_format("float32").unit_roundoff
NAN, INF = math.nan, math.inf

# z = [0, 0, 1, 2]: the tie is no record, 1 and 2 are: R = 2, m = 2; for the tied pair
# |z_i − m| + |z_j − m| = 4, so ε = (1 + 8u)·e^{4u} − 1 ≈ 12u, against the two-pass 4u
ROW = [0.0, 0.0, 1.0, 2.0]


def _nudged(index: int, ulps: int):
    """The correctly rounded float32 softmax with output ``index`` moved by ``ulps`` ulps
    (down if negative)."""

    def candidate(z: np.ndarray) -> np.ndarray:
        x = z.astype(np.float64)
        e = np.exp(x - x.max())
        out = (e / e.sum()).astype(np.float32)
        toward = np.float32(-1 if ulps < 0 else 2)
        for _ in range(abs(ulps)):
            out[index] = np.nextafter(out[index], toward)
        return out

    return candidate


# output 1, tied with output 0 (ŝ ≈ 0.087, an ulp ≈ 1.44u relative), lowered
within = _nudged(1, -4)  # ≈ 5.8u: beyond 4u, within 12u
beyond = _nudged(1, -40)  # ≈ 58u: beyond both


def _monotonicity(report):
    return next(p for p in report.properties if p.name == "monotonicity")


@pytest.mark.parametrize(
    ("row", "records"),
    [
        ([1, 2, 3], 2),
        ([3, 2, 1], 0),
        ([1, 1, 1], 0),  # ties are not strict records
        ([1, 2, 2, 3], 2),
        ([-INF, -INF, 1, 2], 1),  # the first finite entry sets the maximum, no rescale
        ([1, -INF, 2], 1),
        ([NAN, 1, NAN, 2, 2, 3], 2),  # a NaN is no record and does not reset the maximum
        ([-INF, NAN], 0),
        ([5.0], 0),
        ([], 0),
        (ROW, 2),
    ],
)
def test_prefix_records(row: list[float], records: int) -> None:
    assert prefix_records(np.array(row, dtype=np.float64)) == records


def test_allowance_formula() -> None:
    z = np.array(ROW)
    eps, quanta = one_pass_allowance(z, np.array([0, 1, 2]), np.array([1, 3, 3]), U32)
    distances = np.array([4.0, 2.0 + 0.0, 1.0 + 0.0])
    assert quanta == 3
    assert np.array_equal(eps, (1 + 8 * U32) * np.exp(U32 * distances) - 1)
    assert 11.9 * U32 < eps[0] < 12.1 * U32
    eps, quanta = one_pass_allowance(np.array([3.0, 2.0, 1.0]), np.array([2]), np.array([1]), U32)
    assert quanta == 1 and np.array_equal(eps, [4 * U32])  # R = 0: the two-pass allowance


def test_drop_within_the_one_pass_allowance_passes_only_one_pass() -> None:
    vf = custom_vectors("softmax", "float32", [ROW])
    two_pass = validate(within, vectors=vf)
    assert two_pass.failed == 0  # accurate: only the property tells
    assert not _monotonicity(two_pass).passed
    one_pass = validate(within, vectors=vf, one_pass=True)
    assert one_pass.passed, one_pass.summary_line()
    assert _monotonicity(one_pass).bound.startswith("one-pass")
    within.one_pass = True  # type: ignore[attr-defined]
    try:  # one_pass=None reads the function's attribute; an explicit False overrides it
        assert validate(within, vectors=vf).passed
        assert not validate(within, vectors=vf, one_pass=False).passed
    finally:
        del within.one_pass  # type: ignore[attr-defined]


def test_drop_beyond_the_one_pass_allowance_fails_either_way() -> None:
    vf = custom_vectors("softmax", "float32", [ROW])
    for one_pass in (False, True):
        report = validate(beyond, vectors=vf, one_pass=one_pass)
        assert not _monotonicity(report).passed
        assert "tcId 1" in _monotonicity(report).worst


def test_sum_to_one_gains_two_r_u() -> None:
    """ŝ_3 ≈ 0.64 raised by 8 ulps (2^−24 each, u): |Σŝ − 1| ≈ 8u, beyond the two-pass bound
    for n = 4 (≈ 6u) and within it + 2R·u = 4u (R = 2)."""
    heavy = _nudged(3, 8)
    vf = custom_vectors("softmax", "float32", [ROW])
    sums = {
        one_pass: next(
            p
            for p in validate(heavy, vectors=vf, one_pass=one_pass).properties
            if p.name == "sum-to-one"
        )
        for one_pass in (False, True)
    }
    assert not sums[False].passed and sums[True].passed
    assert sums[True].bound.endswith("+ 2R·u (one-pass)")


def test_log_softmax_is_unchanged() -> None:
    """log_softmax from the online state is z − m − log d: no per-entry chain (R plays no
    part), so its allowance stays the two-pass one."""
    vf = custom_vectors("log_softmax", "float32", [ROW])
    report = validate(bk.log_softmax, vectors=vf, one_pass=True)
    assert _monotonicity(report).bound.startswith("z_i ≤ z_j")


def test_attention_candidates_are_one_pass() -> None:
    adapted = attention_as_softmax(bk.attention)
    assert adapted.one_pass is True
    vf = custom_vectors("softmax", "float32", [ROW, [1.0, 2.0]])
    assert _monotonicity(validate(adapted, vectors=vf, batch=True)).bound.startswith("one-pass")
    assert "one_pass" not in repr(adapted)  # not an option: every attention kernel is one pass


def test_cli_one_pass_flag(tmp_path: Path, capsys) -> None:
    (tmp_path / "cands.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_one_pass_properties import within\n"
    )
    vectors.save(custom_vectors("softmax", "float32", [ROW]), tmp_path / "row.json")
    argv = ["validate", f"{tmp_path / 'cands.py'}:within", "--vectors", str(tmp_path / "row.json")]
    assert main([*argv, "--json"]) == 1
    capsys.readouterr()
    assert main([*argv, "--one-pass"]) == 0
    assert "one-pass allowances (docs/validation.md): sum-to-one, monotonicity" in (
        capsys.readouterr().out
    )
    assert main([*argv, "--json", "--one-pass"]) == 0
    data = json.loads(capsys.readouterr().out)
    bounds = {p["name"]: p["bound"] for p in data["properties"]}
    assert bounds["monotonicity"].startswith("one-pass")
    kernel = f"{Path(bk.__file__)}:attention"  # --attention implies --one-pass
    assert main(["validate", kernel, "--attention", "--vectors", argv[-1], "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    bounds = {p["name"]: p["bound"] for p in data["properties"]}
    assert bounds["monotonicity"].startswith("one-pass")


@pytest.mark.slow
def test_correct_kernel_passes_the_standard_suite_through_the_adapter() -> None:
    """Issue 10: a correct blockwise kernel passes, through the attention adapter, the standard
    float32 softmax suite, properties included (three rows of several blocks, e.g. tcId 2442,
    exceed the two-pass monotonicity allowance; docs/attention.md)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMSOFTMAX_CACHE_DIR", str(SHARED_CACHE))
        vf = suite_vectors("softmax", "float32", "standard")
    adapted = attention_as_softmax(bk.attention, head_dim=256)
    report = validate(adapted, vectors=vf, batch=True, timeout=None)
    assert report.passed, report.summary_line()


def test_score_takes_the_one_pass_allowances_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outputs of a one-pass kernel computed elsewhere (score, --one-pass) are judged as
    validate(one_pass=True) judges the kernel itself."""
    from symsoftmax.validation import score

    vf = custom_vectors("softmax", "float32", [ROW])
    outputs = {
        str(t.tc_id): [float(v).hex() for v in within(np.asarray(t.inputs["z"], np.float32))]
        for t in vf.tests()
    }
    assert not _monotonicity(score(vf, outputs)).passed
    one_pass = score(vf, outputs, one_pass=True)
    assert one_pass.passed and _monotonicity(one_pass).bound.startswith("one-pass")
    vectors.save(vf, tmp_path / "row.json")
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    argv = ["score", str(tmp_path / "row.json"), str(tmp_path / "outputs.json"), "--json"]
    assert main(argv) == 1
    capsys.readouterr()
    assert main([*argv, "--one-pass"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["bound"] for p in data["properties"]}["monotonicity"].startswith(
        "one-pass"
    )
