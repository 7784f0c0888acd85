"""Reading the suite cache entry, each shortcut against the rule it stands for.

* the .npy header read without ``ast.literal_eval`` (``io._npy_header``) against
  ``np.lib.format``, on many dtypes, shapes, orders and versions, and on malformed headers
  (hand-made and randomly mutated): the same result, or refused alike;
* :func:`read_npz_model` against the model it was written from, field by field and bit for bit,
  in every format, with the exact decimals as text and as ASCII bytes;
* the values-of-the-format check of the entry's numbers (``io._values_of_format``: all arrays
  at once, a cast there and back for NumPy's own formats) against
  :func:`~symsoftmax.rounding.round_array` array by array, in every format;
* the manifest's comparison of a file's tests with the suite's (``manifest._alike``: all tests
  of a group at once) against :func:`manifest._test_difference` test by test, on edited files:
  the same findings, word for word.
"""

from __future__ import annotations

import dataclasses
import io
import random
import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.formats import FORMATS, get_format
from symsoftmax.rounding import round_array
from symsoftmax.vectors import io as vio
from symsoftmax.vectors import manifest
from symsoftmax.vectors.model import TestCase, TestGroup, VectorFile

FORMAT_NAMES = tuple(FORMATS)


@cache
def _quick(dtype: str) -> VectorFile:
    """The quick softmax suite (temperatures, sinks, softcaps and acceptable answers among its
    tests)."""
    return vectors.generate("softmax", dtype, suite="quick")


# --- the .npy header ---------------------------------------------------------------------------


def _numpy_header(data: bytes) -> tuple[Any, ...]:
    """What np.lib.format reads: (shape, fortran, dtype, where the data starts), or the
    exception's type."""
    head = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            version = np.lib.format.read_magic(head)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(head)
    except Exception as exc:  # refused (ValueError; a TypeError from literal_eval too)
        return (type(exc),)
    return shape, fortran, dtype, head.tell()


def _mine(data: bytes) -> tuple[Any, ...]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return vio._npy_header(data, 0, len(data))
    except Exception as exc:
        return (type(exc),)


_DTYPES = ("<f8", ">f8", "<f4", "<f2", "<i8", ">i4", "|u1", "|i1", "|b1", "<c16", "|S1", "|S40",
           "<U1", "<U7", ">U3")  # fmt: skip
_SHAPES = ((), (0,), (1,), (7,), (2, 3), (3, 0), (0, 5), (2, 3, 4), (1, 1, 1, 1), (123456, 2))


def _npy(shape: tuple[int, ...], dtype: str, fortran: bool, version: tuple[int, int] | None):
    array = np.zeros(shape, dtype=dtype, order="F" if fortran else "C")
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def test_npy_headers_as_numpy_writes_them_are_read_as_numpy_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = [
        _npy(shape, dtype, fortran, None)[:256]
        for dtype in _DTYPES
        for shape in _SHAPES
        if np.prod(shape) < 10**4 or dtype == "|u1"
        for fortran in (False, True)
    ]
    expected = [_numpy_header(data) for data in written]
    # every one of them by the header pattern, none by np.lib.format
    monkeypatch.setattr(np.lib.format, "read_magic", None)
    for data, theirs in zip(written, expected, strict=True):
        assert vio._npy_header(data, 0, len(data)) == theirs, data[:128]
    # and where a member starts inside the file, the offsets follow it
    data = b"junk" + written[5]
    shape, fortran, dtype, at = vio._npy_header(data, 4, len(data))
    assert (shape, fortran, dtype, at - 4) == expected[5]


def test_other_versions_and_object_arrays_go_to_numpy() -> None:
    for version in ((2, 0), (3, 0)):
        data = _npy((2, 3), "<f8", False, version)
        assert _mine(data) == _numpy_header(data)
    object_header = _npy((2,), "<f8", False, None).replace(b"'<f8'", b"'|O' ")
    assert _mine(object_header)[2] == np.dtype(object)  # refused by _stored_members
    assert _mine(object_header) == _numpy_header(object_header)


_EDITS = (
    (b"(2, 3)", b"(2, 3,)"),  # a tuple literal NumPy does not write: by np.lib.format
    (b"(2, 3)", b"(2,3)  "),
    (b"(2, 3)", b"(23)  "),  # an int, not a tuple: refused
    (b"(2, 3)", b"(-2, 3)"),  # NumPy reads it; _stored_members refuses it
    (b"(2, 3)", b"(02, 3)"),  # not a Python literal
    (b"(2, 3)", b"[2, 3]"),  # a list: refused
    (b"(2, 3)", b"(2.,3)"),
    (b"(2, 3)", b"(True,)"),  # an int to NumPy
    (b"False", b"0    "),  # not a bool: refused
    (b"False", b"True "),
    (b"'<f8'", b"'<f3'"),  # no such dtype: refused
    (b"'<f8'", b"'<q8'"),
    (b"'<f8'", b"'|V8'"),
    (b"'<f8'", b"'<M8'"),
    (b"'descr'", b"'DESCR'"),  # a key missing: refused
    (b"'shape': (2, 3), ", b"'shape': (2, 3), 'x': 1, "),
    (b"{", b"{ "),
    (b"}", b"} #"),
    (b"\n", b" "),
)


def test_malformed_npy_headers_are_refused_or_read_as_numpy_reads_them() -> None:
    base = _npy((2, 3), "<f8", False, None)
    length = int.from_bytes(base[8:10], "little")
    for old, new in _EDITS:
        head = base[10 : 10 + length].replace(old, new, 1)
        assert head != base[10 : 10 + length]
        for text in (head, head[: len(head) - len(new) + len(old)]):
            data = base[:8] + len(text).to_bytes(2, "little") + text + base[10 + length :]
            assert _mine(data) == _numpy_header(data), text
    # lengths that overrun the member, or exceed NumPy's limit on a header (10,000 characters)
    for length_field in (0, 1, length - 1, length + 1, 60000):
        data = base[:8] + length_field.to_bytes(2, "little") + base[10:]
        assert _mine(data) == _numpy_header(data), length_field
    long = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" + b" " * 10000 + b"\n"
    data = base[:8] + len(long).to_bytes(2, "little") + long + b"\0" * 48
    assert _mine(data) == _numpy_header(data) == (ValueError,)


def test_randomly_mutated_npy_headers_are_refused_or_read_as_numpy_reads_them() -> None:
    rng = random.Random(19)
    alphabet = b"0123456789(), '{}:<>|fiubcSUOTrueFalsdhp\n "
    originals = [
        _npy(s, d, f, None)[:200] for d in _DTYPES[:9] for s in _SHAPES[:6] for f in (0, 1)
    ]
    for _ in range(3000):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(6, 128)
            data[at] = rng.choice(alphabet) if rng.random() < 0.9 else rng.randrange(256)
        assert _mine(bytes(data)) == _numpy_header(bytes(data)), bytes(data[:128])


def test_stored_members_are_what_np_load_gives(tmp_path: Path) -> None:
    """Members of every kind (NumPy's own writer: Fortran order, 0-d, empty, big-endian,
    complex, bool, bytes and text), read in place: NumPy's dtypes, shapes and values; numbers
    copied out C-ordered and aligned, text and bytes read-only views of the file."""
    rng = np.random.default_rng(5)
    arrays = {
        "fortran": np.asfortranarray(rng.standard_normal((3, 4))),
        "fortran3": np.asfortranarray(rng.integers(0, 9, (2, 3, 4), dtype=np.int16)),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3)),
        "big": rng.standard_normal(5).astype(">f8"),
        "complex": rng.standard_normal(3) + 1j,
        "bool": np.array([True, False, True]),
        "bytes": np.array([b"1.5e+00", b"-2"]),
        "text": np.array([["a", "bc"], ["def", ""]]),
        "wide": np.array(["\u00e9\u4e2d"]).astype(">U2"),
    }
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)  # zip64 extra fields in its local headers
    data = path.read_bytes()
    mine = vio._stored_members(data)
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        theirs = {key: npz[key] for key in npz.files}
    assert mine.keys() == theirs.keys() == arrays.keys()
    for key, array in theirs.items():
        assert mine[key].dtype == array.dtype and mine[key].shape == array.shape, key
        assert mine[key].tobytes() == array.tobytes(), key
        if array.dtype.kind in "SU":
            assert not mine[key].flags.writeable
        else:
            assert mine[key].flags.c_contiguous and mine[key].flags.aligned, key
            assert mine[key].flags.writeable, key


# --- read_npz_model against the model it was written from --------------------------------------


def _same_array(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
        return a.shape == b.shape and a.view(np.uint64).tobytes() == b.view(np.uint64).tobytes()
    return a.shape == b.shape and a.tolist() == b.tolist()


@pytest.mark.parametrize("dtype", FORMAT_NAMES)
@pytest.mark.parametrize("ascii_exact", [True, False])
def test_read_npz_model_gives_back_the_model_it_was_written_from(
    tmp_path: Path, dtype: str, ascii_exact: bool
) -> None:
    vf = _quick(dtype)
    path = tmp_path / "entry.npz"
    path.write_bytes(vio.to_npz_bytes(vf, extra={"x.y": np.arange(5.0)}, ascii_exact=ascii_exact))
    extra: dict[str, np.ndarray] = {}
    back = vio.read_npz_model(path, extra)
    assert list(extra) == ["x.y"] and _same_array(extra["x.y"], np.arange(5.0))
    assert (back.header, back.notes, back.op, back.dtype) == (vf.header, vf.notes, vf.op, vf.dtype)
    assert [g.k for g in back.groups] == [g.k for g in vf.groups]
    for mine, theirs in zip(back.tests(), vf.tests(), strict=True):
        assert (mine.tc_id, mine.comment, mine.flags, mine.result) == (
            theirs.tc_id,
            theirs.comment,
            tuple(theirs.flags),
            theirs.result,
        )
        assert type(mine.tc_id) is int and type(mine.comment) is str and type(mine.flags) is tuple
        assert list(mine.inputs) == list(theirs.inputs)
        for key, value in theirs.inputs.items():
            assert isinstance(mine.inputs[key], np.ndarray) and _same_array(mine.inputs[key], value)
            assert mine.inputs[key].dtype == np.float64
        assert mine.expected.keys() == theirs.expected.keys()
        assert all(_same_array(mine.expected[k], v) for k, v in theirs.expected.items())
        assert all(mine.expected[k].flags.aligned for k in mine.expected)
        assert mine.exact.keys() == theirs.exact.keys()
        assert all(_same_array(mine.exact[k], v) for k, v in theirs.exact.items())
        assert [a.name for a in mine.acceptable] == [a.name for a in theirs.acceptable]
        for a, b in zip(mine.acceptable, theirs.acceptable, strict=True):
            assert all(_same_array(a.outputs[k], v) for k, v in b.outputs.items())


def test_a_cut_short_or_object_member_is_refused(tmp_path: Path) -> None:
    vf = _quick("float16")
    data = vio.to_npz_bytes(vf)
    path = tmp_path / "entry.npz"
    # a member whose header promises more rows than it holds (its CRC-32 made to match)
    name = "g00001.inputs.z.npy"

    def rewritten(member: bytes) -> bytes:
        buffer = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(data)) as source,
            zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as target,
        ):
            for info in source.infolist():
                target.writestr(info, member if info.filename == name else source.read(info))
        return buffer.getvalue()

    with zipfile.ZipFile(io.BytesIO(data)) as source:
        original = source.read(name)
    rows = int(original.split(b"'shape': (")[1].split(b",")[0])
    longer = original.replace(b"'shape': (%d," % rows, b"'shape': (%d," % (rows + 1), 1)
    assert longer != original
    path.write_bytes(rewritten(longer))
    with pytest.raises(InputError, match="cut short"):
        vio.read_npz_model(path)
    objects = original.replace(b"'<f8'", b"'|O' ", 1)
    path.write_bytes(rewritten(objects))
    with pytest.raises(InputError, match="object array"):
        vio.read_npz_model(path)
    path.write_bytes(rewritten(original))  # the rewriting itself keeps a sound entry sound
    assert len(vio.read_npz_model(path)) == len(vf)


# --- the entry's numbers are values of the format -----------------------------------------------


def _reference_check(numbers: list[tuple[str, np.ndarray]], dtype: str) -> str | None:
    """The first array (name) holding a number that is no value of the format: the rule."""
    fmt = get_format(dtype)
    for name, array in numbers:
        if not np.array_equal(round_array(array, fmt), array, equal_nan=True):
            return name
    return None


@np.errstate(over="ignore", invalid="ignore")
def _candidates(dtype: str, rng: np.random.Generator) -> np.ndarray:
    """Values of the format and near misses: every binade's edges, subnormals, halfway points,
    the next float64s, overflow, ±inf, NaNs with payloads and signs, ±0."""
    fmt = get_format(dtype)
    exponents = np.arange(fmt.emin - fmt.precision - 2, fmt.emax + 3)
    mantissas = rng.integers(1, 2**fmt.precision, size=exponents.size)
    values = np.ldexp(mantissas.astype(np.float64), exponents - fmt.precision + 1)
    rounded = round_array(values, fmt)
    nan_payload = np.array([0x7FF8000000000001, 0xFFF8000000000000], dtype=np.uint64)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, fmt.max, fmt.tiny, -fmt.max])
    pool = np.concatenate(
        [
            rounded,
            -rounded,
            np.nextafter(rounded, np.inf),
            values,
            rounded + np.ldexp(1.0, np.frexp(rounded)[1] - fmt.precision - 1),  # halfway
            specials,
            nan_payload.view(np.float64),
            [fmt.smallest_subnormal * k for k in (1, 2, 3, 0.5, 1.5)],
            [fmt.max * 2, np.nextafter(fmt.max, np.inf)],
        ]
    )
    return pool


@pytest.mark.parametrize("dtype", FORMAT_NAMES)
def test_the_values_check_finds_what_rounding_array_by_array_finds(dtype: str) -> None:
    rng = np.random.default_rng(sum(map(ord, dtype)))
    pool = _candidates(dtype, rng)
    fmt = get_format(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        good = pool[
            np.array([_reference_check([("x", np.array([v]))], dtype) is None for v in pool])
        ]
    every = fmt.float64_extra_bits == 0  # float64: every float64 is one of its values
    assert good.size > 10 and (good.size == pool.size) == every
    outcomes = set()
    for _ in range(300):
        numbers = []
        for index in range(rng.integers(1, 6)):
            shape = tuple(rng.integers(0, 4, size=rng.integers(0, 3)))
            source = pool if rng.random() < 0.15 else good
            numbers.append((f"a{index}", np.asarray(rng.choice(source, size=shape))))
        expected = _reference_check(numbers, dtype)
        outcomes.add(expected is None)
        if expected is None:
            vio._values_of_format(numbers, fmt)
        else:
            with pytest.raises(ValueError, match=f"^{expected} holds a number that is no"):
                vio._values_of_format(numbers, fmt)
    assert outcomes == ({True} if every else {True, False})
    vio._values_of_format([], fmt)


def test_native_dtypes_are_numpys_own_formats_only() -> None:
    natives = {name for name in FORMAT_NAMES if vio._native_dtype(get_format(name)) is not None}
    assert natives == {"float64", "float32", "float16"}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_an_entry_with_a_value_outside_the_format_is_refused(tmp_path: Path, dtype: str) -> None:
    vf = _quick(dtype)
    index = next(i for i, g in enumerate(vf.groups) if g.k > 1 and len(g.tests) > 1)
    group = vf.groups[index]
    test = group.tests[1]
    z = np.array(test.inputs["z"], dtype=np.float64)
    z[0] = np.nextafter(1.0, 2.0)  # the next float64 after 1: no value of a narrower format
    edited = dataclasses.replace(test, inputs={**test.inputs, "z": z})
    tests = (group.tests[0], edited, *group.tests[2:])
    groups = (*vf.groups[:index], TestGroup(group.k, tests), *vf.groups[index + 1 :])
    path = tmp_path / "entry.npz"
    path.write_bytes(vio.to_npz_bytes(dataclasses.replace(vf, groups=groups)))
    with pytest.raises(
        InputError, match=f"g{index:05d}.inputs.z holds a number that is no {dtype}"
    ):
        vio.read_npz_model(path)
    path.write_bytes(vio.to_npz_bytes(vf))
    assert len(vio.read_npz_model(path)) == len(vf)


# --- the manifest: all tests of a group at once, against test by test ---------------------------


def _edit(vf: VectorFile, at: int, change: Any) -> VectorFile:
    """``vf`` with its test number ``at`` (file order) replaced by ``change(test)``."""
    groups, seen = [], 0
    for group in vf.groups:
        tests = list(group.tests)
        if seen <= at < seen + len(tests):
            tests[at - seen] = change(tests[at - seen])
        seen += len(group.tests)
        groups.append(TestGroup(group.k, tuple(tests)))
    return dataclasses.replace(vf, groups=tuple(groups))


def _with_inputs(**changes: Any) -> Any:
    def change(tc: TestCase) -> TestCase:
        inputs = dict(tc.inputs)
        for key, value in changes.items():
            if value is _DROP:
                inputs.pop(key, None)
            else:
                inputs[key] = value(inputs.get(key)) if callable(value) else value
        return dataclasses.replace(tc, inputs=inputs)

    return change


_DROP = object()


def _flip_last_bit(z: np.ndarray) -> np.ndarray:
    out = np.array(z, dtype=np.float64)
    if out.size:
        out.view(np.uint64).reshape(-1)[-1] ^= np.uint64(1)
    return out


def _signed_zero(z: np.ndarray) -> np.ndarray:
    out = np.array(z, dtype=np.float64)
    out.reshape(-1)[...] = np.where(out.reshape(-1) == 0, -out.reshape(-1), out.reshape(-1))
    return out


@np.errstate(over="ignore")
def _as_float16(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float16)


_CHANGES = {
    "last bit": _with_inputs(z=_flip_last_bit),
    "signed zeros": _with_inputs(z=_signed_zero),
    "a NaN's payload": _with_inputs(
        z=lambda z: np.where(np.isnan(z), np.array(0x7FF8000000000001).view(np.float64), z)
    ),
    "a row of one more": _with_inputs(z=lambda z: np.append(z, 0.0)),
    "a row as (1, K)": _with_inputs(z=lambda z: np.asarray(z)[None, :]),
    "a row as a list": _with_inputs(z=lambda z: np.asarray(z).tolist()),
    "a row as float16": _with_inputs(z=lambda z: _as_float16(z)),
    "no z": _with_inputs(z=_DROP),
    "z None": _with_inputs(z=None),
    "a temperature more": _with_inputs(temperature=np.asarray(1.0)),
    "a temperature less": _with_inputs(temperature=_DROP),
    "a sink of −0": _with_inputs(sink=lambda s: None if s is None else -np.asarray(s)),
    "flags reordered": lambda tc: dataclasses.replace(tc, flags=(*reversed(tc.flags), "x")),
    "flags as a list": lambda tc: dataclasses.replace(tc, flags=list(tc.flags)),
    "a comment": lambda tc: dataclasses.replace(tc, comment=tc.comment + " "),
    "a tcId": lambda tc: dataclasses.replace(tc, tc_id=tc.tc_id + 1),
}


def _test_by_test(vf: VectorFile, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    with monkeypatch.context() as patch:
        patch.setattr(manifest, "_alike", lambda groups: False)
        return manifest.manifest_findings(vf, "f")


@pytest.mark.parametrize("dtype", FORMAT_NAMES)
def test_the_manifest_finds_what_test_by_test_finds(
    dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manifest, "draft_rows", cache(manifest.draft_rows))  # the same each time
    vf = _quick(dtype)
    assert manifest.manifest_findings(vf, "f") == [] == _test_by_test(vf, monkeypatch)
    tests = list(vf.tests())
    with_scalars = [i for i, tc in enumerate(tests) if len(tc.inputs) > 1]
    with_values = [i for i, tc in enumerate(tests) if np.size(tc.inputs["z"])]
    rng = random.Random(dtype)
    where = [0, len(tests) - 1, *rng.sample(range(len(tests)), 4), *rng.sample(with_scalars, 3)]
    for name, change in _CHANGES.items():
        for at in where:
            edited = _edit(vf, at, change)
            expected = _test_by_test(edited, monkeypatch)
            found = manifest.manifest_findings(edited, "f")
            assert found == expected, (name, at)
            if name in ("last bit", "a row of one more", "no z", "a comment") and at in with_values:
                assert found, (name, at)
    # several tests edited: the first five named, in file order, and the count of the others
    several = vf
    for at in rng.sample(with_values, 9):
        several = _edit(several, at, _CHANGES["last bit"])
    found = manifest.manifest_findings(several, "f")
    assert found == _test_by_test(several, monkeypatch) and "4 more tests differ" in str(found[-1])


def test_the_groups_compared_at_once_agree_with_each_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_alike`` says True for the suite itself (the shortcut is taken) and False for every
    edit that ``_test_difference`` names."""
    vf = _quick("float32")
    calls: list[bool] = []
    alike = manifest._alike
    monkeypatch.setattr(manifest, "_alike", lambda groups: calls.append(alike(groups)) or calls[-1])
    manifest.manifest_findings(vf, "f")
    at = next(i for i, tc in enumerate(vf.tests()) if np.size(tc.inputs["z"]) and i > 5)
    manifest.manifest_findings(_edit(vf, at, _CHANGES["last bit"]), "f")
    assert calls == [True, False]
