"""Loading a vector file checks every value for being one of the file's format, all at once.

vectors.check parses each list of hex values and checks the values of the whole file against
the format in one array operation; a file with a value off the format is then checked list by
list again, to name each such value as before (docs/performance.md, "Loading a vector file").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from symsoftmax import vectors
from symsoftmax.errors import InputError
from symsoftmax.vectors import check
from symsoftmax.vectors.io import content_sha256


@pytest.fixture(scope="module")
def suite_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "quick.json"
    vectors.save(vectors.generate("softmax", "float32", suite="quick"), path)
    return path


def test_a_sound_file_is_checked_against_its_format_in_one_operation(
    suite_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = check.round_array

    def counted(values: np.ndarray, fmt: Any) -> np.ndarray:
        calls.append(np.size(values))
        return real(values, fmt)

    monkeypatch.setattr(check, "round_array", counted)
    vf = vectors.load(suite_json)
    inputs = sum(test.inputs["z"].size + test.expected["output"].size for test in vf.tests())
    assert len(calls) == 1 and calls[0] >= inputs


def test_values_off_the_format_are_each_named(suite_json: Path, tmp_path: Path) -> None:
    document = json.loads(suite_json.read_text())
    tests = [t for g in document["testGroups"] for t in g["tests"] if len(t["inputs"]["z"]) > 2]
    first, second = tests[0], tests[5]
    first["inputs"]["z"][1] = "0x1.0000001p+0"  # 1 + 2^-28: a double, not a float32
    second["expected"]["output"][0] = "0x1.0000000000001p-1"
    document["header"]["sha256"] = content_sha256(document["testGroups"])
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    findings = check.check_document(document, str(edited))
    assert [(f.tc_id, f.field) for f in findings] == [
        (first["tcId"], "inputs.z[1]"),
        (second["tcId"], "expected.output[0]"),
    ]
    assert all("is not a float32 value" in f.what for f in findings)
    with pytest.raises(InputError, match=rf"tcId {first['tcId']}: inputs\.z\[1\]"):
        vectors.load(edited)
