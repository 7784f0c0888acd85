"""The CLI builds a command's parser only when the command is used (symsoftmax.cli._Commands).

Which packages start-up imports is held by tests/test_imports.py; these hold the lazy parser's
behaviour: the commands listed from SUMMARIES, only the used one's module imported, and the
full parser still there for whoever looks a command up.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import pytest

from symsoftmax.cli import COMMANDS, SUMMARIES, build_parser


def _commands(parser: argparse.ArgumentParser) -> Any:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_parsing_a_command_builds_its_parser_only() -> None:
    parser = build_parser()
    args = parser.parse_args(["reference", "softmax", "--dtype", "float32", "--", "0", "1"])
    assert args.command == "reference" and callable(args.run)
    table = _commands(parser).choices
    built = [name for name in COMMANDS if dict.__getitem__(table, name) is not None]
    assert built == ["reference"]


def test_the_top_level_help_lists_each_summary_once(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    _commands(parser).choices["validate"]  # a built command keeps one line in the listing
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    listing = " ".join(capsys.readouterr().out.split())  # the help wraps long lines
    for name, summary in SUMMARIES.items():
        assert listing.count(f"{name} {summary}") == 1, name


def test_looking_a_command_up_gives_its_full_parser() -> None:
    parser = _commands(build_parser()).choices["validate"]
    options = {option for action in parser._actions for option in action.option_strings}
    assert {"--op", "--vectors", "--suite", "--framework"} <= options


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["no-such-command"])
    assert stopped.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


class _Recorder:
    """A stand-in for the subparsers action: keeps what register() passes to add_parser."""

    def __init__(self) -> None:
        self.kwargs: dict[str, dict[str, Any]] = {}

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        self.kwargs[name] = kwargs
        return argparse.ArgumentParser(prog=name)


@pytest.mark.parametrize("name", COMMANDS)
def test_a_module_that_names_its_help_line_agrees_with_the_table(name: str) -> None:
    recorder = _Recorder()
    importlib.import_module(f"symsoftmax.cli.{name}").register(recorder)
    assert list(recorder.kwargs) == [name]
    assert recorder.kwargs[name].get("help", SUMMARIES[name]) == SUMMARIES[name]
