"""Atomic file writing: a temporary file in the target's folder, fsync, then os.replace.

An interrupted run leaves either the old file or the new one, never a partial file, and no
temporary file behind (the CLI turns SIGTERM into an exception so that the cleanup runs; see
docs/guide.md). Every error names the path the caller asked for, never the temporary.

What happens at the path (docs/guide.md, "Output files"):

* an existing file keeps its permission bits (not its owner or group: the new file is ours);
  a new file gets ``0666 & ~umask``, as ``open()`` would give it;
* a symbolic link is written through: the file it points to is replaced (in that file's folder,
  so the rename stays atomic) and the link is kept; a dangling link creates its target;
* a folder, an empty path or a path ending in a separator is refused (IsADirectoryError /
  FileNotFoundError naming the path).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import tempfile
from pathlib import Path

__all__ = ["check_target", "write_atomic"]

# Signals whose handler may raise (KeyboardInterrupt; SIGTERM in the CLI): held back while the
# temporary is created, so that it always exists together with the name the cleanup needs.
_DEFERRED = {signal.SIGINT, signal.SIGTERM}


def write_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (str is encoded as UTF-8).

    Raises OSError (with ``filename`` = ``path``) if the file cannot be written; see the module
    docstring for modes, symbolic links and folders.
    """
    name = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        target = _resolve_target(name)
        mode = _mode_for(target)
        _write_replace(target, payload, mode)
    except OSError as exc:  # name the file the user asked for, not our temporary
        raise _naming(exc, name) from None


def check_target(path: str | os.PathLike[str]) -> None:
    """Raise the error :func:`write_atomic` would raise for an empty path or a folder, before
    any work is done (a CLI calls this on its output options first)."""
    name = os.fspath(path)
    try:
        _resolve_target(name)
    except OSError as exc:
        raise _naming(exc, name) from None


def _resolve_target(name: str) -> Path:
    """The file to replace: ``name``, or the file its symbolic link points to."""
    if not name:
        raise FileNotFoundError(errno.ENOENT, "empty file name", name)
    if name.endswith(os.sep) or (os.altsep and name.endswith(os.altsep)):
        raise IsADirectoryError(errno.EISDIR, "ends with a separator: names a folder", name)
    target = Path(os.path.realpath(name)) if os.path.islink(name) else Path(name)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", name)
    return target


def _mode_for(target: Path) -> int:
    """The permission bits to give the new file: the old file's, or those open() would give."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_current_umask()


def _write_replace(target: Path, payload: bytes, mode: int) -> None:
    directory = target.parent if str(target.parent) else Path(".")
    tmp_name: str | None = None
    blocked = _block(_DEFERRED)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        _unblock(blocked)  # a signal held back arrives here, inside the cleanup's reach
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp_name, mode)  # mkstemp makes 0600
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        _unblock(blocked)
        if tmp_name is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
        raise


def _block(signals: set[signal.Signals]) -> set[signal.Signals] | None:
    """Hold back ``signals`` in this thread; returns what to unblock (None where unsupported)."""
    if not hasattr(signal, "pthread_sigmask"):
        return None
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    return signals - previous  # only those we blocked


def _unblock(blocked: set[signal.Signals] | None) -> None:
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)


def _naming(exc: OSError, name: str) -> OSError:
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, name)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
