"""Fuzzing the CLI entry points: random number tokens, random JSON shapes, random bytes.

Whatever the input, ``symsoftmax.cli.main`` must answer: exit status 0, 1 or 2, no traceback on
stderr, a usage or input error as exactly one line, and valid JSON on stdout whenever ``--json``
was given and the status is 0 or 1 (issue 8, part 4). The default run tries a few hundred
inputs; ``pytest -m slow tests/test_cli_fuzz.py -s`` tries many more and prints the counts.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symsoftmax import vectors
from symsoftmax.cli import main
from symsoftmax.cli.verify import MAX_EXHAUSTIVE_K, MAX_K
from symsoftmax.formats import FORMATS
from symsoftmax.ops import INPUT_OPTIONS, OPERATIONS, TEMPERATURE_OPS
from symsoftmax.reference.engine import OPS
from symsoftmax.rounding import format_hex
from symsoftmax.symbolic.options import STYLES as DERIVE_FORMATS
from symsoftmax.symbolic.options import WHATS
from symsoftmax.validation.sources import custom_vectors

# (entry point, exit status) of every input tried in this process; printed by the slow run
TRIED: Counter[tuple[str, int]] = Counter()

# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

_SPECIALS = [
    "inf", "-inf", "+inf", "nan", "-nan", "NaN", "Infinity", "-0", "+0", "0x0p+0", "1e999999999",
    "-1e-999999999", "0x1p-99999999", "0x1.fffffffffffffp+1023", "4.9e-324", "65504", "1e-45",
]  # fmt: skip
_MALFORMED = [
    "",
    " ",
    "1e",
    "e5",
    ".",
    "0x",
    "0xp1",
    "1..2",
    "--1",
    "1e+-2",
    "0x1.8p",
    "+",
    "nan(0x1)",
]

_plain = st.from_regex(
    r"[+-]?([0-9]{1,25}(\.[0-9]{0,25})?|\.[0-9]{1,25})([eE][+-]?[0-9]{1,5})?", fullmatch=True
)
_hexes = st.floats(allow_nan=False).map(float.hex)
_long = st.builds(
    lambda n, digit, tail: digit * n + tail,
    st.sampled_from([4299, 4301, 5000, 9000]),
    st.sampled_from(["1", "9", "0"]),
    st.sampled_from(["", "e-5000", ".5", "e" + "9" * 5000, "e-" + "1" * 4400]),
)
_non_ascii = st.text(
    alphabet=st.characters(categories=["Nd", "No", "Zs"], exclude_characters="0123456789 "),
    min_size=1,
    max_size=4,
)
_mixed = st.builds(lambda a, b: a + b, _plain, _non_ascii)

# Numbers parse_exact reads (long ones and specials included), and anything at all.
NUMBERS = st.one_of(_plain, _hexes, st.sampled_from(_SPECIALS), _long)
NUMBER_TOKENS = st.one_of(
    NUMBERS, st.sampled_from(_MALFORMED), _non_ascii, _mixed, st.text(max_size=12)
)

_json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and ±inf become the non-JSON constants NaN / Infinity
    NUMBER_TOKENS,
)
JSON_VALUES = st.recursive(
    _json_leaves,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


def _nested(value: Any, levels: int) -> bytes:
    """``value`` inside ``levels`` arrays, as JSON text (json.dumps itself would recurse)."""
    return b"[" * levels + json.dumps(value).encode() + b"]" * levels


def _json_text(value: Any) -> str:
    return json.dumps(value)


# A file's content: JSON of a random shape, a deeply nested one, a huge integer, or raw bytes.
FILE_CONTENTS = st.one_of(
    JSON_VALUES.map(_json_text).map(str.encode),
    st.builds(
        _nested,
        JSON_VALUES,
        st.sampled_from([63, 64, 65, 1000, 100_000]),
    ),
    st.lists(NUMBER_TOKENS, max_size=5).map(_json_text).map(str.encode),
    st.lists(NUMBERS, max_size=5).map(_json_text).map(str.encode),
    st.sampled_from([b"[" + b"1" * 5000 + b"]", b"[1e999999]", b"[NaN]", b'["\\ud800"]']),
    st.binary(max_size=64),
)


# --------------------------------------------------------------------------------------------
# one call, and what every answer must satisfy
# --------------------------------------------------------------------------------------------


def _answer(capsys: pytest.CaptureFixture[str], entry: str, argv: list[str]) -> int:
    capsys.readouterr()  # drop anything left by an earlier example
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse's usage errors and --help
        status = stop.code if isinstance(stop.code, int) else 2
    out, err = capsys.readouterr()
    TRIED[entry, status] += 1
    assert status in (0, 1, 2), (argv, status, err)
    assert "Traceback" not in err, (argv, err)
    if status == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)
    if "--json" in argv and status in (0, 1):
        json.loads(out)
    return status


def _file(workdir: Path, name: str, content: bytes) -> str:
    path = workdir / name
    path.write_bytes(content)
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0, 3.0], [0.0, -1.0]])
    vectors.save(vf, root / "vectors.json")
    outputs = {str(t.tc_id): [str(v) for v in t.exact["output"].reshape(-1)] for t in vf.tests()}
    (root / "good-outputs.json").write_text(json.dumps(outputs))
    for op, rows in TAMPER_ROWS.items():  # a genuine outputs file per op, for _score_tampered
        vf = custom_vectors(op, "float32", rows)
        vectors.save(vf, root / f"tamper-{op}.json")
        genuine = {
            str(t.tc_id): {key: [format_hex(v) for v in t.expected[key].reshape(-1).tolist()]
                           for key in t.expected}
            for t in vf.tests()
        }  # fmt: skip
        (root / f"tamper-{op}-outputs.json").write_text(json.dumps(genuine))
    return root


# --------------------------------------------------------------------------------------------
# the entry points
# --------------------------------------------------------------------------------------------


def _reference_values(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    hostile = data.draw(st.booleans())
    tokens = NUMBER_TOKENS if hostile else NUMBERS
    op = data.draw(st.sampled_from(OPS))
    dtypes = [*FORMATS, "float8"] if hostile else list(FORMATS)
    values = data.draw(st.lists(tokens, min_size=0 if hostile else 1, max_size=4))
    argv = ["reference", op, "--dtype", data.draw(st.sampled_from(dtypes))]
    if data.draw(st.booleans()):
        argv.append("--json")
    second = INPUT_OPTIONS.get(OPERATIONS[op].inputs[-1])  # --cotangent, --target or none
    if second is not None:
        given = data.draw(st.lists(tokens, min_size=len(values), max_size=len(values)))
        argv.append(f"--{second}={','.join(given)}")
    if op in TEMPERATURE_OPS and data.draw(st.booleans()):
        argv.append(f"--temperature={data.draw(tokens)}")
    if data.draw(st.booleans()):
        digits = NUMBER_TOKENS if hostile else st.integers(1, 60).map(str)
        argv.append(f"--digits={data.draw(digits)}")
    _answer(capsys, "reference VALUES", [*argv, "--", *values])


def _reference_files(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    op = data.draw(st.sampled_from(OPS))
    path = _file(workdir, "input.json", data.draw(FILE_CONTENTS))
    argv = ["reference", op, "--dtype", data.draw(st.sampled_from(list(FORMATS))), "--json"]
    if data.draw(st.booleans()):
        argv += ["--input", path]
        if op in ("softmax_vjp", "log_softmax_vjp"):
            argv.append(f"--cotangent=@{path}")
        if op in ("cross_entropy", "cross_entropy_grad"):
            argv.append(f"--target=@{path}")
    else:
        name = {"softmax_vjp": "--cotangent", "log_softmax_vjp": "--cotangent"}.get(op, "--target")
        argv += [f"{name}=@{path}", "--", "1", "2"]
    _answer(capsys, "reference files", argv)


def _score(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    vectors_path = str(workdir / "vectors.json")
    good = json.loads((workdir / "good-outputs.json").read_text())
    kind = data.draw(st.sampled_from(["tokens", "outputs", "vectors"]))
    if kind == "tokens":  # the good outputs with some values replaced by random tokens
        tokens = NUMBER_TOKENS if data.draw(st.booleans()) else NUMBERS
        for key in good:
            for i in range(len(good[key])):
                if data.draw(st.integers(0, 2)) == 0:
                    good[key][i] = data.draw(tokens)
        outputs = _file(workdir, "outputs.json", json.dumps(good).encode())
    elif kind == "outputs":
        outputs = _file(workdir, "outputs.json", data.draw(FILE_CONTENTS))
    else:
        vectors_path = _file(workdir, "fuzzed-vectors.json", data.draw(FILE_CONTENTS))
        outputs = str(workdir / "good-outputs.json")
    argv = ["score", vectors_path, outputs, "--no-properties"]
    argv += data.draw(st.sampled_from([[], ["--json"], ["--mode", "correctly-rounded", "--json"]]))
    if data.draw(st.integers(0, 3)) == 0:
        argv.append(f"--worst={data.draw(NUMBER_TOKENS)}")
    if data.draw(st.integers(0, 3)) == 0:
        argv.append(f"--max-ulp={data.draw(NUMBER_TOKENS)}")
    _answer(capsys, "score", argv)


# Ops with different layouts of outputs (K values, one value, K rows of K, loss and grad).
TAMPER_ROWS: dict[str, list[Any]] = {
    "softmax": [[1.0, 2.0, 3.0], [0.0, -1.0]],
    "logsumexp": [[1.0, 2.0], [-3.0]],
    "jacobian": [[0.5, 1.0]],
    "cross_entropy": [{"z": [1.0, 2.0], "y": [0.25, 0.75]}],
}


class _Raw(str):
    """JSON text written as it is (a JSON number of any spelling, a truncated piece)."""


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs, so that a key can appear twice."""


def _dump(value: Any) -> str:
    """JSON text of ``value``, with _Raw tokens and _Pairs objects as they are."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, _Pairs):
        return "{" + ", ".join(f"{json.dumps(k)}: {_dump(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return _dump(_Pairs(value.items()))
    if isinstance(value, list):
        return "[" + ", ".join(_dump(item) for item in value) + "]"
    return json.dumps(value)


def _layout(op: str, outputs: dict[str, list[str]], data: st.DataObject) -> Any:
    """A test's genuine outputs in one of the layouts score accepts (drawn)."""
    if op == "cross_entropy":
        loss, grad = outputs["loss"], outputs["grad"]
        form = data.draw(st.sampled_from(["flat", "dict", "dict-bare"]))
        if form == "flat":
            return [*loss, *grad]
        return _Pairs([("loss", loss if form == "dict" else loss[0]), ("grad", grad)])
    values = outputs["output"]
    if op == "logsumexp" and data.draw(st.booleans()):
        return values[0]
    if op == "jacobian" and data.draw(st.booleans()):
        k = int(len(values) ** 0.5)
        return [values[i * k : (i + 1) * k] for i in range(k)]
    return list(values)


_WHITESPACE = [" ", "\t", "\n", "\r", "\f", "\v", "\u00a0", "\u2003", "\u200b", "\ufeff"]
_RETYPED = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.lists(st.text(max_size=3), max_size=3),
    st.sampled_from([_Raw("1e400"), _Raw("-1e-400"), _Raw("0.5"), _Raw("9" * 5000)]),
    st.sampled_from([_Raw("9" * 5000 + ".5"), _Raw("1" + "0" * 200000), _Raw("-0")]),
)
_HUGE = st.sampled_from(
    ["1e999999999", "-1e-999999999", "9" * 5000, "0x1p99999999", "0x" + "f" * 5000,
     "1" * 100_001, "1e" + "9" * 30, "0." + "0" * 5000 + "1"]
)  # fmt: skip


def _tampered_token(token: str, data: st.DataObject) -> Any:
    """A changed value in place of ``token``."""
    how = data.draw(st.sampled_from(["pad", "retype", "huge", "number", "nest", "hostile"]))
    if how == "pad":
        before = data.draw(st.lists(st.sampled_from(_WHITESPACE), max_size=2))
        after = data.draw(st.lists(st.sampled_from(_WHITESPACE), min_size=0 if before else 1))
        return "".join(before) + token + "".join(after)
    if how == "retype":
        return data.draw(_RETYPED)
    if how == "huge":
        return data.draw(_HUGE)
    if how == "number":  # the same value as a JSON number (a decimal: JSON has no hex)
        value = float.fromhex(token) if token.startswith(("0x", "-0x")) else math.nan
        return _Raw(repr(value)) if math.isfinite(value) else token
    if how == "nest":
        times = data.draw(st.integers(1, 2))
        return [token] * times if data.draw(st.booleans()) else [[token]]
    return data.draw(NUMBER_TOKENS)


def _tamper(op: str, document: _Pairs, data: st.DataObject) -> Any:
    """One change to an outputs document: the changed document (a copy, or changed in place)."""
    how = data.draw(
        st.sampled_from(
            ["duplicate", "drop", "unknown", "rekey", "token", "value", "nest", "wrap", "ce-keys"]
        )
    )
    index = data.draw(st.integers(0, len(document) - 1))
    key, value = document[index]
    if how == "duplicate":  # the same tcId again, before or after, with any value
        other = data.draw(st.sampled_from([value, ["0x1p-1"] * 3, None, []]))
        at = data.draw(st.integers(0, len(document)))
        return _Pairs([*document[:at], (key, other), *document[at:]])
    if how == "drop":
        return _Pairs(document[:index] + document[index + 1 :])
    if how == "unknown":
        extra = data.draw(st.sampled_from(["0", "-1", "99999", "", "x", "1" * 5000]))
        return _Pairs([*document, (extra, value)])
    if how == "rekey":  # a spelling of the tcId that is not the tcId
        spelt = data.draw(st.sampled_from([f" {key}", f"{key} ", f"0{key}", f"{key}.0", f"+{key}"]))
        pairs = [(k, v) for k, v in document if k != spelt]  # (a rekey onto another tcId)
        pairs[pairs.index((key, value))] = (spelt, value)
        return _Pairs(pairs)
    if how == "token":
        leaves = _leaves(value)
        if not leaves:
            return document
        path = data.draw(st.sampled_from(leaves))
        document[index] = (key, _set(value, path, _tampered_token(_get(value, path), data)))
        return document
    if how == "value":
        document[index] = (key, data.draw(JSON_VALUES))
        return document
    if how == "nest":
        document[index] = (key, [value] * data.draw(st.integers(1, 3)))
        return document
    if how == "wrap":  # the whole file inside arrays, or as a string
        as_string = _Raw(json.dumps(_dump(document)))
        return data.draw(st.sampled_from([[document], [[document]], as_string]))
    if op == "cross_entropy" and isinstance(value, _Pairs):  # ce-keys
        change = data.draw(st.sampled_from(["drop-loss", "drop-grad", "extra", "twice", "rename"]))
        pairs = list(value)
        if change == "drop-loss":
            pairs = [p for p in pairs if p[0] != "loss"]
        elif change == "drop-grad":
            pairs = [p for p in pairs if p[0] != "grad"]
        elif change == "extra":
            pairs.append((data.draw(st.sampled_from(["grads", "Loss", "", "loss "])), pairs[0][1]))
        elif change == "twice":
            pairs.append(data.draw(st.sampled_from(pairs)))
        else:
            pairs[0] = ("LOSS", pairs[0][1])
        document[index] = (key, _Pairs(pairs))
        return document
    return document


def _refused(document: Any, known: set[str]) -> bool:
    """Whether score must refuse ``document`` whatever its values: not an object of exactly the
    tcIds, each once; a cross_entropy object without exactly loss and grad, each once; or a
    string padded with whitespace where a number is read."""
    if not isinstance(document, _Pairs):
        return True
    keys = [key for key, _ in document]
    if len(set(keys)) < len(keys) or set(keys) != known:
        return True
    for _, value in document:
        if isinstance(value, _Pairs) and sorted(k for k, _ in value) != ["grad", "loss"]:
            return True
        if any(_get(value, path).strip() != _get(value, path) for path in _leaves(value)):
            return True
    return False


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to the string leaves of a layout (lists and _Pairs)."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, _Pairs):
        return [p for i, (_, v) in enumerate(value) for p in _leaves(v, (*path, i))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return []


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for i in path:
        value = value[i][1] if isinstance(value, _Pairs) else value[i]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    """``value`` with the leaf at ``path`` replaced (copies along the path)."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, _Pairs):
        copy = _Pairs(value)
        copy[head] = (value[head][0], _set(value[head][1], rest, new))
        return copy
    copy_list = list(value)
    copy_list[head] = _set(value[head], rest, new)
    return copy_list


def _score_tampered(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    """A genuine outputs file (passes), changed one to three times: duplicate tcIds, retyped or
    padded values, huge numbers, nesting, missing or extra keys. Always exit 0, 1 or 2 with no
    traceback; 2 whenever the change makes the file ambiguous or incomplete."""
    op = data.draw(st.sampled_from(sorted(TAMPER_ROWS)))
    genuine = json.loads((workdir / f"tamper-{op}-outputs.json").read_text())
    document = _Pairs((key, _layout(op, outputs, data)) for key, outputs in genuine.items())
    changes = data.draw(st.integers(0, 3))
    for _ in range(changes):
        if not isinstance(document, _Pairs) or not document:
            break
        document = _tamper(op, document, data)
    must_refuse = _refused(document, set(genuine))
    text = _dump(document).encode()
    if data.draw(st.integers(0, 9)) == 0:  # cut short (not JSON), or a byte made not UTF-8
        cut = data.draw(st.integers(0, len(text)))
        truncate = data.draw(st.booleans())
        must_refuse = must_refuse or not truncate or cut < len(text)
        text = text[:cut] if truncate else text[:cut] + b"\xff" + text[cut + 1 :]
    outputs = _file(workdir, "tampered-outputs.json", text)
    argv = ["score", str(workdir / f"tamper-{op}.json"), outputs, "--no-properties", "--json"]
    status = _answer(capsys, "score tampered", argv)
    if changes == 0 and not must_refuse:
        assert status == 0, (op, text[:300])  # the genuine file, in any accepted layout
    if must_refuse:
        assert status == 2, (op, text[:300])


def _lint(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    path = _file(workdir, "lint.json", data.draw(FILE_CONTENTS))
    _answer(capsys, "vectors --lint", ["vectors", "--lint", path, "--no-recheck"])


def _validate_arguments(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    """Option parsing of validate, with a candidate that does not exist (nothing is run)."""
    argv = ["validate", str(workdir / "missing" / "candidate.py") + ":f"]
    for option in ("--timeout", "--worst", "--max-ulp", "--seed", "--dtype"):
        if data.draw(st.booleans()):
            argv.append(f"{option}={data.draw(NUMBER_TOKENS)}")
    # always --vectors: without it validate builds the standard suite before it looks for the
    # candidate (seconds per call)
    if data.draw(st.booleans()):
        argv += ["--vectors", _file(workdir, "validate-vectors.json", data.draw(FILE_CONTENTS))]
    else:
        argv += ["--vectors", str(workdir / "vectors.json")]
    status = _answer(capsys, "validate arguments", argv)
    assert status == 2


def _derive_and_verify(capsys: Any, workdir: Path, data: st.DataObject) -> None:
    k = data.draw(NUMBER_TOKENS | st.sampled_from(["1", "2", "17", "0", "-1", "100001", "129"]))
    if data.draw(st.booleans()):
        what = data.draw(st.sampled_from(WHATS))
        fmt = data.draw(st.sampled_from(DERIVE_FORMATS))
        _answer(capsys, "derive", ["derive", what, f"--k={k}", "--format", fmt])
        return
    argv = ["verify", f"--k={k}", "--json"]
    size = _valid_k(k)
    if size is not None and size > 2:  # keep the proofs quick: K ≤ 2, or refused at once
        argv = [*argv, "--exhaustive"] if size > MAX_EXHAUSTIVE_K else ["verify", "--k=2"]
    _answer(capsys, "verify", argv)


def _valid_k(token: str) -> int | None:
    """The K that `verify --k` accepts from ``token``, or None if it refuses it."""
    text = token.strip(" \t")
    digits = text.lstrip("+-")
    if not (digits.isascii() and digits.isdigit()) or len(text) - len(digits) > 1:
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > 6:
        return None
    value = -int(significant) if text.startswith("-") else int(significant)
    return value if 1 <= value <= MAX_K else None


# --------------------------------------------------------------------------------------------
# the tests: a modest number of examples by default, many more in the slow run
# --------------------------------------------------------------------------------------------

Body = Callable[[Any, Path, st.DataObject], None]


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings of every CLI fuzz test (this module's and the tamper tests')."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def _fuzz(body: Body, examples: int) -> Callable[..., None]:
    @fuzz_settings(examples)
    @given(data=st.data())
    def test(capsys: pytest.CaptureFixture[str], workdir: Path, data: st.DataObject) -> None:
        body(capsys, workdir, data)

    return test


BODIES: dict[str, tuple[Body, int]] = {
    "reference_values": (_reference_values, 200),
    "reference_files": (_reference_files, 200),
    "score": (_score, 200),
    "score_tampered": (_score_tampered, 300),
    "lint": (_lint, 150),
    "validate_arguments": (_validate_arguments, 100),
    "derive_and_verify": (_derive_and_verify, 100),
}
SLOW_FACTOR = 20

for _name, (_body, _examples) in BODIES.items():
    globals()[f"test_fuzz_{_name}"] = _fuzz(_body, _examples)
    globals()[f"test_fuzz_{_name}_many"] = pytest.mark.slow(_fuzz(_body, _examples * SLOW_FACTOR))


@pytest.fixture(scope="module", autouse=True)
def _print_counts() -> Iterator[None]:
    """After the module (seen with -s): how many inputs each entry point answered, and how."""
    yield
    for (entry, status), count in sorted(TRIED.items()):
        print(f"{entry}: exit {status}: {count}")
    total = sum(TRIED.values())
    print(f"{total} inputs, every one answered with exit 0, 1 or 2 and no traceback")
