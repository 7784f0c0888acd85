"""The one reader of user JSON: every malformed file is one InputError line naming it."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from symsoftmax import jsonfile, vectors
from symsoftmax.cli import main
from symsoftmax.errors import InputError
from symsoftmax.jsonfile import (
    MAX_BYTES_VARIABLE,
    MAX_DEPTH,
    JsonNumber,
    _depth_exceeds,
    load_json,
    loads_json,
    read_user_file,
)
from symsoftmax.validation.sources import custom_vectors
from symsoftmax.vectors.io import to_document


def _deep(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def test_nesting_up_to_the_limit_is_read() -> None:
    value = loads_json(_deep(MAX_DEPTH), "f.json")
    for _ in range(MAX_DEPTH):
        value = value[0]
    assert value == 1
    assert loads_json('{"a": ' * (MAX_DEPTH - 1) + "[]" + "}" * (MAX_DEPTH - 1), "f.json")


@pytest.mark.parametrize(
    "text",
    [
        _deep(MAX_DEPTH + 1),
        '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
        _deep(100_000),  # beyond the recursion limit of json's C scanner
        "[" * 100_000,  # unterminated as well
    ],
)
def test_deeper_nesting_is_one_line(text: str) -> None:
    with pytest.raises(InputError) as info:
        loads_json(text, "f.json")
    assert str(info.value).startswith(f"f.json: JSON nested deeper than {MAX_DEPTH} levels (line 1")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            "[" + "1" * 4301 + "]",
            "f.json: not valid JSON (an integer of 4301 digits, over the limit",
        ),
        ("[NaN]", "f.json: not valid JSON (bare NaN is not JSON"),
        ('{"a": -Infinity}', "bare -Infinity is not JSON"),
        ("[1,]", "f.json: not valid JSON (Expecting value, line 1, column 4)"),
        (b"\xff[]", "f.json: not UTF-8 text (invalid start byte at byte 0)"),
        ("", "f.json: not valid JSON"),
    ],
)
def test_malformed_json_is_one_line_naming_the_file(data: str | bytes, needle: str) -> None:
    with pytest.raises(InputError) as info:
        loads_json(data, "f.json")
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_numbers_as_text_keep_every_digit() -> None:
    huge = "1" + "0" * 5000
    got = loads_json(f'[0.1000000000000000000001, {huge}, -2e-400, "s"]', "f", numbers_as_text=True)
    assert got == ["0.1000000000000000000001", huge, "-2e-400", "s"]
    assert [isinstance(v, JsonNumber) for v in got] == [True, True, True, False]
    assert loads_json("[0.5, 2]", "f") == [0.5, 2]  # otherwise as json.loads


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.json: cannot read \(No such file"):
        load_json(tmp_path / "missing.json")


def test_the_depth_limit_leaves_room_for_every_vector_file() -> None:
    document = to_document(vectors.generate("jacobian", "float16", "quick"))
    assert not _depth_exceeds(document, 10) and _depth_exceeds(document, 9)  # as documented
    assert loads_json(vectors.dumps_json(vectors.generate("jacobian", "float16", "quick")), "v")


# --------------------------------------------------------------------------------------------
# the guarded reader: regular files only, at most the size cap (the audit's /dev/zero and FIFO)
# --------------------------------------------------------------------------------------------


def _refused(path: str | os.PathLike[str], needle: str) -> str:
    """The one-line InputError of load_json(path), checked to name the file and ``needle``."""
    with pytest.raises(InputError) as info:
        load_json(path)
    message = str(info.value)
    assert message.startswith(f"{os.fspath(path)}: ") and needle in message, message
    assert "\n" not in message
    return message


def test_a_device_is_refused_without_reading_it() -> None:
    _refused("/dev/null", "a character device, not a regular file")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path, "a folder, not a regular file")


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    outcome: list[BaseException | object] = []

    def read() -> None:
        try:
            outcome.append(load_json(fifo))
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # release the reader: a writer that closes at once gives it end of file
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=10)
    assert not blocked, "load_json blocked on a FIFO"
    assert len(outcome) == 1 and isinstance(outcome[0], InputError), outcome
    assert str(outcome[0]) == f"{fifo}: cannot read: a FIFO, not a regular file"


def test_a_fifo_swapped_in_after_the_check_does_not_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is checked, then opened: a FIFO put there in between is opened without
    blocking (O_NONBLOCK) and refused from the open file's own status."""
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    real_stat = os.stat
    regular = real_stat(__file__)

    def stale_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        return regular if os.fspath(path) == str(fifo) else real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stale_stat)
    done = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            read_user_file(fifo)
        except InputError as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    finished = done.wait(timeout=10)
    if not finished:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert finished, "the reader blocked on a FIFO that replaced the checked file"
    assert [str(e) for e in errors] == [f"{fifo}: cannot read: a FIFO, not a regular file"]


def test_a_file_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.json"
    path.write_text("[" + ",".join(["1"] * 50) + "]")  # 101 bytes
    monkeypatch.setenv(MAX_BYTES_VARIABLE, "101")
    assert load_json(path) == [1] * 50  # at the cap: read
    monkeypatch.setenv(MAX_BYTES_VARIABLE, "100")
    message = _refused(path, "more than the limit of 100 bytes")
    assert MAX_BYTES_VARIABLE in message
    monkeypatch.delenv(MAX_BYTES_VARIABLE)
    monkeypatch.setattr(jsonfile, "MAX_JSON_BYTES", 100)  # the constant, without the variable
    _refused(path, "more than the limit of 100 bytes")


def test_a_file_larger_than_its_stat_says_is_still_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/proc files are regular files of st_size 0 with content: a file that grows after the
    check is the same case. At most cap + 1 bytes are read, then it is refused."""
    status = Path("/proc/self/status")
    if not status.is_file() or status.stat().st_size != 0:
        pytest.skip("needs Linux /proc")
    monkeypatch.setenv(MAX_BYTES_VARIABLE, "64")
    reads: list[int] = []
    real_read = os.read

    def counted(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counted)
    with pytest.raises(InputError, match=r"^/proc/self/status: cannot read: more than the limit"):
        read_user_file(status)
    assert sum(reads) == 65


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1e9", "١٢", "1_000"])
def test_a_bad_cap_variable_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    path = tmp_path / "a.json"
    path.write_text("[]")
    monkeypatch.setenv(MAX_BYTES_VARIABLE, value)
    with pytest.raises(InputError) as info:
        load_json(path)
    assert str(info.value).startswith(f"{MAX_BYTES_VARIABLE} must be a positive integer")


def test_the_default_cap_fits_the_largest_documented_vector_file() -> None:
    """docs/performance.md: the exhaustive softmax float32 suite is 330 MB of JSON."""
    page = (Path(__file__).parents[1] / "docs" / "performance.md").read_text()
    sizes = [float(mb) for mb in re.findall(r"([0-9]+(?:\.[0-9]+)?) MB of JSON", page)]
    assert sizes and 3 * max(sizes) * 1e6 <= jsonfile.MAX_JSON_BYTES


@pytest.mark.parametrize("suffix", ["json", "npz"])
def test_vector_files_go_through_the_guarded_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    path = tmp_path / f"v.{suffix}"
    vf = vectors.generate("logsumexp", "float16", "quick")
    vectors.save(vf, path)
    size = path.stat().st_size
    assert len(vectors.load(path)) == len(vf)
    monkeypatch.setenv(MAX_BYTES_VARIABLE, str(size - 1))
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: cannot read: more than"):
        vectors.load(path)
    fifo = tmp_path / f"pipe.{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a FIFO, not a regular file"):
        vectors.load(fifo)


def test_the_cli_refuses_a_device_as_outputs(tmp_path: Path, capsys) -> None:
    vf = custom_vectors("softmax", "float32", [[1.0, 2.0]])
    vectors.save(vf, tmp_path / "v.json")
    assert main(["score", str(tmp_path / "v.json"), "/dev/null"]) == 2
    assert capsys.readouterr().err == (
        "symsoftmax score: error: /dev/null: cannot read: a character device, not a regular file\n"
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"12": ["0.9"], "12": ["0.1"]}', "12"),  # the audit's outputs file: last one won
        ('{"1": {"loss": "1", "grad": [], "loss": "2"}}', "loss"),
        ('[{"a": 1}, {"b": 1, "b": 1}]', "b"),  # twice, even with the same value
    ],
)
def test_a_key_given_twice_in_one_object_is_refused(text: str, key: str) -> None:
    with pytest.raises(InputError) as info:
        loads_json(text, "f.json", numbers_as_text=True)
    assert str(info.value).startswith(f"f.json: key {key!r} appears twice in one object (line 1")
    assert loads_json('{"a": {"b": 1}, "b": {"a": 2}}', "f.json") == {"a": {"b": 1}, "b": {"a": 2}}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"a": 1,\n "b": [1, 2,]}', "not valid JSON (Expecting value, line 2, column 13)"),
        ("[\n  1,\n  NaN]", "'nan', line 3, column 3)"),
        ('{"x": "NaN",\n "y": [0, -Infinity]}', "'-infinity', line 2, column 11)"),
        ('["1e5000",\n\t' + "7" * 4301 + "]", "limit of 4300, line 2, column 2)"),
        (
            '{"b": {"b": 1},\n "c": {"b": 1, "\\u0062": 2}}',
            "twice in one object (line 2, column 16)",
        ),
        ('{"k": "a:b",\n "k": 1}', "twice in one object (line 2, column 2)"),
        (
            "\n\n " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
            f"(line 3, column {MAX_DEPTH + 2})",
        ),
        ("[" * 100_000, f"levels (line 1, column {MAX_DEPTH + 1})"),
    ],
)
def test_every_json_error_names_its_line_and_column(text: str, needle: str) -> None:
    """The column as well as the line (issue 20 §4): for json's own syntax errors and for
    what the hooks refuse (bare constants, huge integers, repeated keys, deep nesting), found
    on the error path by scanning again (strings holding ':' or 'NaN' are not tokens)."""
    with pytest.raises(InputError) as info:
        loads_json(text, "f.json")
    assert needle in str(info.value), str(info.value)
