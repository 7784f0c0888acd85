"""Command-line entry point: ``symsoftmax <command> ...`` (also ``python -m symsoftmax``).

A thin layer: each subcommand lives in its own module here, with ``register(subparsers)`` that adds
its parser and sets ``run(args) -> int``, imported only when that command runs (so that
``--version`` and ``--help`` start fast). The work itself is done by the library. Errors in user
input surface as one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from symsoftmax import __version__
from symsoftmax.errors import InputError
from symsoftmax.signals import signals_held

__all__ = ["COMMANDS", "SUMMARIES", "Terminated", "build_parser", "main"]

# Each command's one-line help, listed by ``symsoftmax --help`` without importing the command's
# module (its register() adds the parser when the command runs); the symbolic wing (derive,
# verify), then the verifier in order: reference → vectors → validate.
SUMMARIES = {
    "derive": "print a derived softmax formula (LaTeX, text, Markdown, Python, C)",
    "verify": "prove the softmax derivative identities exactly (fixed K or symbolic K)",
    "reference": "correctly rounded softmax, log_softmax, logsumexp and derivatives of a vector",
    "vectors": "generate golden test vectors (JSON/NPZ) or lint a vector file",
    "validate": "validate a Python implementation against the reference vectors",
    "score": "score outputs computed elsewhere (JSON or lines) against a vector file",
    "exhaustive": "run a Python implementation on every row of a small format",
    "abi": "print the C declarations of the kernels validate --abi c calls",
}
COMMANDS = tuple(SUMMARIES)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line (argparse prints usage + error)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _Commands(argparse._SubParsersAction):
    """The subcommands, each built (its module imported) on first lookup.

    ``symsoftmax --version`` and ``--help`` import no command module, and ``symsoftmax CMD``
    imports CMD's only: the commands' modules import NumPy and the validator, the symbolic
    wing SymPy (docs/performance.md, "CLI start-up"). argparse looks a command up by
    ``choices[name]`` (``_name_parser_map``) when it parses it, which is when it is built here.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _CommandTable(self)

    def add_command(self, name: str) -> None:
        """List ``name`` with its summary; its parser is built when it is looked up."""
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), SUMMARIES[name]))
        dict.__setitem__(self._name_parser_map, name, None)

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """The command's parser, from its module's register(); listed already (add_command)."""
        kwargs.pop("help", None)
        return super().add_parser(name, **kwargs)


class _CommandTable(dict[str, "argparse.ArgumentParser | None"]):
    """name → parser of a :class:`_Commands`, with the parser built on first ``table[name]``."""

    def __init__(self, commands: _Commands) -> None:
        super().__init__()
        self._commands = commands

    def __getitem__(self, name: str) -> argparse.ArgumentParser | None:
        if dict.__getitem__(self, name) is None:
            module = importlib.import_module(f"symsoftmax.cli.{name}")
            del self[name]  # add_parser refuses a name it has
            module.register(self._commands)
        return dict.__getitem__(self, name)


def build_parser() -> argparse.ArgumentParser:
    """The parser, with one subparser per command in COMMANDS, each built when it is used."""
    parser = _Parser(
        prog="symsoftmax",
        description="Symbolic proofs, correctly rounded references, test vectors and a "
        "validator for softmax, log_softmax and logsumexp.",
    )
    parser.add_argument("--version", action="version", version=f"symsoftmax {__version__}")
    parser.register("action", "parsers", _Commands)
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, required=True
    )
    assert isinstance(subparsers, _Commands)
    for name in COMMANDS:
        subparsers.add_command(name)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that cleanups (``finally``, temporary files) run.

    A BaseException, like KeyboardInterrupt, so that ``except Exception`` does not swallow it.
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 a check failed, 2 usage or input error).

    Interrupted (SIGINT, also while the parser is built and its modules imported): one line
    ``interrupted``, status 130; terminated (SIGTERM): one line ``terminated``, status 143
    (128 + the signal number, as shells report it).
    """
    command = "symsoftmax"
    try:
        with _sigterm_raises():
            # Signals are held back while the parser is built and while it parses: argparse's
            # intermixed parsing restores its actions in a `finally` that fails if interrupted.
            with signals_held():
                parser = build_parser()
                args = parser.parse_args(argv)
            command = f"symsoftmax {args.command}"
            status = _run(args, command)
            # Flush while SIGTERM still raises Terminated: after main() the default action is
            # back, and a SIGTERM then would drop output still in the buffer.
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
            _quiet_interrupt_after()
            return status
    except (KeyboardInterrupt, Terminated, ImportError) as exc:
        stopped = _signal_status(exc)
        if stopped is None:
            raise
        word = "terminated" if stopped == 128 + signal.SIGTERM else "interrupted"
        print(f"{command}: {word}", file=sys.stderr)
    # Out of the except clause, the exception is gone, and with it the traceback that held the
    # abandoned work's frames: they are freed now, by reference counting. (Kept in a local, the
    # traceback would tie them into a cycle with main's frame, left for the cyclic collector at
    # exit: seconds after `verify --k 100000` was stopped.)
    _drop_caches()
    return stopped


def _quiet_interrupt_after() -> None:
    """After the command's work, a Ctrl-C ends the process as the shell's default does (status
    −SIGINT, nothing printed) instead of raising KeyboardInterrupt in the caller's last line
    (``sys.exit(main())``), which printed a traceback. Only where Python's own handler is in
    place, in the main thread: a caller's handler is left alone."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_status(exc: BaseException) -> int | None:
    """128 + the signal number if a KeyboardInterrupt or Terminated is behind ``exc``, else None:
    extension modules (NumPy's) report one raised during their import as an ImportError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt | Terminated):
            return 128 + (signal.SIGTERM if isinstance(seen, Terminated) else signal.SIGINT)
        seen = seen.__cause__ or seen.__context__
    return None


def _drop_caches() -> None:
    """Empty SymPy's cache, if SymPy was loaded, once a command was stopped by a signal.

    A stopped proof leaves up to a million cached expressions that nothing will use; emptied
    here it takes a fraction of a second, where the interpreter's exit took seconds over them.
    """
    cache = sys.modules.get("sympy.core.cache")
    if cache is not None:
        cache.clear_cache()


def _run(args: argparse.Namespace, command: str) -> int:
    """The command's run(args), with its errors as one line on stderr and status 2."""
    try:
        return int(args.run(args))
    except InputError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `symsoftmax derive ... | head`
        return EXIT_OK
    except OSError as exc:  # unreadable or unwritable file named on the command line
        where = f"{_path_text(exc.filename)}: " if exc.filename is not None else ""
        print(f"{command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def _path_text(filename: object) -> str:
    """A path for a message: as given, or quoted when empty or not printable on one line."""
    text = str(filename)
    return text if text and text.isprintable() else repr(filename)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the CLI runs, SIGTERM raises Terminated (the default would kill the process with
    no cleanup). Only the main thread can install handlers; elsewhere this does nothing."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
