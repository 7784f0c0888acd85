"""The operation table (symsoftmax/ops.py): every layer and the CLI agree with it, and a new op
needs only the files its docstring lists."""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import symsoftmax.reference as ref
from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.ops import (
    INPUT_OPTIONS,
    OPERATIONS,
    REFERENCE_OPS,
    TEMPERATURE_OPS,
    VECTOR_OPS,
)
from symsoftmax.reference import engine, fast
from symsoftmax.validation import adapters, checks, runner
from symsoftmax.validation.bounds import output_bounds
from symsoftmax.vectors import catalogue, io, model

_ROW = [0.5, -1.0, 2.0]


def _inputs(op: str, k: int = 3, batch: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((batch, k)).round(2) for _ in OPERATIONS[op].inputs]


def test_the_table_is_consistent() -> None:
    for name, op in OPERATIONS.items():
        assert op.name == name
        assert op.inputs[0] == "z" and all(n in INPUT_OPTIONS for n in op.inputs[1:])
        assert op.dims in (0, 1, 2)
        for output in op.outputs:  # every output is the value of an op of the table
            assert output.reference in OPERATIONS
            assert OPERATIONS[output.reference].inputs == op.inputs
        assert (op.bound is None) == (not op.outputs)  # judged iff it has files of its own
    assert tuple(OPERATIONS) == REFERENCE_OPS
    assert set(VECTOR_OPS) < set(REFERENCE_OPS)
    assert TEMPERATURE_OPS == ("softmax", "log_softmax", "logsumexp")


def test_shapes() -> None:
    assert OPERATIONS["softmax"].shape(5) == (5,)
    assert OPERATIONS["logsumexp"].shape(5) == ()
    assert OPERATIONS["jacobian"].shape(5) == (5, 5) and OPERATIONS["jacobian"].size(5) == 25
    ce = OPERATIONS["cross_entropy"]
    assert ce.output_keys() == ("loss", "grad")
    assert ce.output_shape("loss", 5) == () and ce.output_shape("grad", 5) == (5,)


def test_reference_layer_reads_the_table() -> None:
    assert ref.OPS == engine.OPS == REFERENCE_OPS
    assert set(engine._PLANS) == set(REFERENCE_OPS)  # every op has its reference plan
    assert tuple(n for n, op in OPERATIONS.items() if op.fast_path) == fast.FAST_OPS
    for name, op in OPERATIONS.items():
        inputs = _inputs(name)
        result = ref.evaluate(name, *inputs, dtype="float32")
        assert result.rounded.shape == (2, *op.shape(3)), name
        assert engine.output_size(name, 3) == op.size(3)
        with pytest.raises(InputError, match=f"takes {len(op.inputs)} input"):
            ref.evaluate(name, *inputs, inputs[0], dtype="float32")
        if op.temperature:
            ref.evaluate(name, *inputs, dtype="float32", temperature=2.0)
        else:
            with pytest.raises(InputError, match="temperature applies to"):
                ref.evaluate(name, *inputs, dtype="float32", temperature=2.0)


def test_vector_layer_reads_the_table() -> None:
    assert vectors.OPS == model.OPS == VECTOR_OPS
    assert model.TEMPERATURE_OPS == TEMPERATURE_OPS
    assert catalogue.QUADRATIC_OPS == ("jacobian",)
    used = {op for family in catalogue.FAMILIES for op in family.ops}
    assert used == set(VECTOR_OPS)  # every op is tested, and only ops with files
    for name in VECTOR_OPS:
        op = OPERATIONS[name]
        assert model.INPUT_KEYS[name] == op.inputs
        assert model.EXPECTED_KEYS[name] == op.output_keys()
        row = {key: _ROW for key in op.inputs}
        vf = vectors.from_rows(name, "float32", [row])
        (test,) = vf.tests()
        assert set(test.expected) == set(op.output_keys())
        for output in op.outputs:  # stored values: the reference op's, a scalar as (1,)
            want = ref.evaluate(output.reference, *(_ROW for _ in op.inputs), dtype="float32")
            assert test.expected[output.key].shape == (op.output_shape(output.key, 3) or (1,))
            np.testing.assert_array_equal(test.expected[output.key].ravel(), want.rounded.ravel())


def test_every_vector_op_has_its_bound() -> None:
    fmt = get_format("float32")
    for name in VECTOR_OPS:
        op = OPERATIONS[name]
        inputs = {key: np.asarray(_ROW) for key in op.inputs}
        exact = {key: np.zeros(op.output_shape(key, 3) or (1,)) for key in op.output_keys()}
        bounds = output_bounds(name, inputs, exact, fmt)
        assert set(bounds) == set(op.output_keys())
    with pytest.raises(ValueError, match="no bound for op 'cross_entropy_grad'"):
        output_bounds("cross_entropy_grad", {"z": np.zeros(2), "y": np.zeros(2)}, {}, fmt)


def _choices(parser: argparse.ArgumentParser, command: str) -> dict[str, Any]:
    """{option or positional dest: its choices} of one subcommand."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        (action.option_strings[0] if action.option_strings else action.dest): action.choices
        for action in sub.choices[command]._actions
        if action.choices is not None
    }


def test_cli_choices_are_the_library_constants() -> None:
    from symsoftmax.cli import build_parser

    parser = build_parser()
    reference = _choices(parser, "reference")
    assert tuple(reference["op"]) == REFERENCE_OPS
    assert list(reference["--dtype"]) == list(FORMATS)
    made = _choices(parser, "vectors")
    assert tuple(made["--op"]) == VECTOR_OPS
    assert list(made["--dtype"]) == list(FORMATS)
    assert tuple(made["--suite"]) == model.SUITES
    assert tuple(made["--format"]) == (*io.FILE_FORMATS, "lines")  # lines: not a vector file
    validate = _choices(parser, "validate")
    assert tuple(validate["--op"]) == VECTOR_OPS
    assert tuple(validate["--suite"]) == model.SUITES
    assert tuple(validate["--framework"]) == adapters.FRAMEWORKS
    assert tuple(validate["--temperature"]) == runner.TEMPERATURE_POLICIES
    # max-ulp is chosen by --max-ulp N, not --mode
    assert (*validate["--mode"], "max-ulp") == checks.PASS_MODES
    assert _choices(parser, "score")["--mode"] == validate["--mode"]


def test_cli_second_inputs_come_from_the_table() -> None:
    from symsoftmax.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    options = {o for a in sub.choices["reference"]._actions for o in a.option_strings}
    assert {f"--{name}" for name in INPUT_OPTIONS.values()} <= options


# A new op, added the way the table's docstring says: one table entry (here inserted into the
# source of symsoftmax/ops.py before anything reads it), its reference plan in engine._PLANS and
# its bound family (softmax's, reused). It is softmax under another name, so every layer must
# give softmax's values: the reference, a generated suite, the validator and the CLI.
_NEW_OP = """
import importlib.util, io, sys, contextlib
import numpy as np
import symsoftmax

spec = importlib.util.find_spec("symsoftmax.ops")
source = open(spec.origin).read()
anchor = '        Operation("cross_entropy_grad"'
assert source.count(anchor) == 1
entry = '''        Operation(
            "softmax_twin",
            inputs=_Z,
            dims=_VECTOR,
            outputs=_own("output", "softmax_twin"),
            temperature=True,
            sink=True,
            bound="softmax",
        ),
'''
module = importlib.util.module_from_spec(spec)
sys.modules["symsoftmax.ops"] = module
exec(compile(source.replace(anchor, entry + anchor), spec.origin, "exec"), module.__dict__)

from symsoftmax.reference import engine
engine._PLANS["softmax_twin"] = engine._PLANS["softmax"]  # its reference plan

import symsoftmax.reference as ref
from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.validation import validate

x = [1.0, 2.0, 2.5, -3.0]
np.testing.assert_array_equal(
    ref.evaluate("softmax_twin", x, dtype="bfloat16", temperature=0.5).rounded,
    ref.evaluate("softmax", x, dtype="bfloat16", temperature=0.5).rounded,
)
twin = vectors.generate("softmax_twin", "bfloat16", "quick")
plain = vectors.generate("softmax", "bfloat16", "quick")
assert len(twin) == len(plain) > 100
for a, b in zip(twin.tests(), plain.tests(), strict=True):
    assert a.inputs.keys() == b.inputs.keys()
    np.testing.assert_array_equal(a.expected["output"], b.expected["output"])

def shifted(z, temperature=1.0):
    t = (z.astype(np.float64) - z.max()) / temperature
    e = np.exp(t)
    return (e / e.sum()).astype(z.dtype)

report = validate(shifted, vectors=twin, properties=False)
assert report.passed, report
with contextlib.redirect_stdout(io.StringIO()) as out:
    assert main(["reference", "softmax_twin", "--dtype", "float32", "--", "0", "0"]) == 0
assert "0.5" in out.getvalue()
print("new op ok")
"""


def test_a_new_op_needs_only_its_entry_plan_and_bound() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_NEW_OP)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("new op ok")
