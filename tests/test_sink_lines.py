"""The lines format carries a test's sink and soft-cap (issue 21; docs/languages.md).

The attack: the lines format wrote only tcId, K, T and the rows, so a test with a sink or a
soft-cap reached a program as the plain op's test (T = "-") and the program's plain answer was
judged against the sink's expected values. Now the T field holds ``name=value`` pairs for such a
test: a program that answers ``tcId -`` for any T skips it (and ``score`` counts it skipped), a
program that takes them reads them back exactly.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import symsoftmax.reference as ref
from symsoftmax.errors import InputError
from symsoftmax.formats import get_format
from symsoftmax.validation.score import score
from symsoftmax.vectors import VectorFile, generate
from symsoftmax.vectors.lines import dumps_lines, read_test_inputs, read_test_lines
from symsoftmax.vectors.model import TestCase

SCALARS = ("temperature", "sink", "softcap")


@functools.cache
def _quick(op: str, dtype: str) -> VectorFile:
    """The quick suite, generated once per run."""
    return generate(op, dtype, "quick", 0)


def _scalars(test: TestCase) -> dict[str, float]:
    inputs = test.inputs
    return {name: float(inputs[name]) for name in SCALARS if name in inputs}


def _plain_program(text: str) -> str:
    """A pipe program without temperature, sink or cap (the correctly rounded plain softmax)
    that answers '-' when T is not '-', as the docs' C, Rust and JavaScript programs do."""
    out = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[2] != "-":
            out.append(f"{tokens[0]} -")
            continue
        p = ref.softmax(np.array([float(t) for t in tokens[3:]], dtype=np.float32), "float32")
        out.append(" ".join([tokens[0], *_printed(p)]))
    return "\n".join(out) + "\n"


def _printed(values: np.ndarray) -> list[str]:
    """float32 values as a program prints them (shortest round-trip decimals)."""
    return [str(v) for v in values.astype(np.float32)]


@pytest.mark.parametrize("hex", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_sink_and_softcap_are_written_and_read_back(dtype: str, hex: bool) -> None:
    vf = _quick("logsumexp", dtype)
    text = dumps_lines(vf, hex=hex)
    read = read_test_inputs(text, "lines", get_format(dtype), companion=False)
    special = 0
    for test, (tc_id, scalars, z, _) in zip(vf.tests(), read, strict=True):
        want = _scalars(test)
        assert tc_id == test.tc_id and scalars.keys() == want.keys()
        np.testing.assert_array_equal(list(scalars.values()), list(want.values()))
        np.testing.assert_array_equal(z, test.inputs["z"])
        special += bool(want.keys() - {"temperature"})
    assert special >= 15  # the attention-sink, soft-cap and sink-and-softcap families


def test_a_sink_line_is_not_a_plain_test() -> None:
    vf = _quick("softmax", "float32")
    lines = {int(line.split()[0]): line.split() for line in dumps_lines(vf).splitlines()[1:]}
    for test in vf.tests():
        scalars = _scalars(test)
        field = lines[test.tc_id][2]
        if not scalars:
            assert field == "-"
        elif list(scalars) == ["temperature"]:
            assert np.float32(field) == scalars["temperature"]  # unchanged: a bare temperature
        else:
            assert field != "-" and "=" in field
    both = next(t for t in vf.tests() if {"sink", "softcap"} <= _scalars(t).keys())
    sink, cap = _scalars(both)["sink"], _scalars(both)["softcap"]
    assert lines[both.tc_id][2] == f"sink={np.float32(sink)},softcap={np.float32(cap)}"


def test_a_program_without_sinks_skips_them_and_passes() -> None:
    """The attack: a plain program fed the sink tests as plain ones failed them; now it answers
    '-', score reports them skipped, and the rest passes."""
    vf = _quick("softmax", "float32")
    answers = _plain_program(dumps_lines(vf))
    path_free = {str(t.tc_id) for t in vf.tests() if _scalars(t)}
    report = score(vf, _answer_mapping(answers), properties=False)
    skipped = {str(r.tc_id) for r in report.results if r.status == "skipped"}
    assert skipped == path_free
    assert report.passed, report.summary_line()


def test_a_program_taking_sinks_reads_them_and_passes() -> None:
    vf = _quick("softmax", "float32")
    tests = read_test_inputs(dumps_lines(vf), "lines", get_format("float32"), companion=False)
    answers: dict[str, object] = {}
    for tc_id, scalars, z, _ in tests:
        if "temperature" in scalars:
            answers[str(tc_id)] = None
            continue
        out = ref.softmax(z, "float32", sink=scalars.get("sink"), softcap=scalars.get("softcap"))
        answers[str(tc_id)] = _printed(out)
    report = score(vf, answers, properties=False)
    assert report.passed, report.summary_line()
    judged = [r for r in report.results if r.status != "skipped" and r.tc_id in _sinks(vf)]
    assert len(judged) == len(_sinks(vf))


def _sinks(vf: VectorFile) -> set[int]:
    return {t.tc_id for t in vf.tests() if _scalars(t).keys() - {"temperature"}}


def _answer_mapping(text: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for line in text.splitlines():
        tokens = line.split()
        out[tokens[0]] = None if tokens[1:] == ["-"] else tokens[1:]
    return out


def test_read_test_lines_refuses_a_sink_it_cannot_return() -> None:
    vf = _quick("softmax", "float32")
    text = dumps_lines(vf)
    with pytest.raises(InputError, match="has a sink") as info:
        read_test_lines(text, "v.lines", get_format("float32"), companion=False)
    assert "\n" not in str(info.value) and "v.lines" in str(info.value)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("sink=1,sink=2", "sink given twice"),
        ("bias=1", "unknown input 'bias'"),
        ("sink=abc", "abc"),
    ],
)
def test_bad_scalar_fields_are_one_line_errors(field: str, message: str) -> None:
    text = f"7 2 {field} 1 2\n"
    with pytest.raises(InputError, match=message) as info:
        read_test_inputs(text, "v.lines", get_format("float32"), companion=False)
    assert str(info.value).startswith("v.lines, line 1: ") and "\n" not in str(info.value)
