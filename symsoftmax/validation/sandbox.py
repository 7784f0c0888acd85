"""The worker's sandbox: Linux Landlock, so that a candidate cannot write outside a private folder.

A candidate runs as the same user as the validator, so without an OS sandbox it could rewrite
anything the validator later reads back (the cached suites, a checkpoint, a report). Landlock
(Linux ≥ 5.13, no privileges needed; see the kernel's "Landlock: unprivileged access control"
documentation, userspace-api/landlock) lets a process give up rights for itself and every
process it starts afterwards, grandchildren in a new session included. The worker, before it
imports the framework or the candidate, restricts itself to:

* **writes** (create, write, truncate, rename into, remove, make links, devices, FIFOs,
  sockets) only beneath a private folder made for this worker (``TMPDIR`` points there), plus
  writing to /dev/null; reading and executing stay allowed, so frameworks import as usual;
* **no signals** to processes outside the sandbox and no connection to their abstract UNIX
  sockets (Landlock ABI 6, Linux ≥ 6.12; on older kernels this part is missing and the
  description says so);
* no ptrace of, and no /proc/PID/fd or /proc/PID/mem access to, processes outside the sandbox
  (every Landlock version: a sandboxed process cannot trace a less restricted one).

What it does not do (docs/validation.md, "Threat model"): limit reading, the network, CPU or
memory (the time limit and the file-size limit do), or stop a process the candidate started
in a new session from running on after the worker is killed (it stays sandboxed).

:func:`restrict_writes` is called in the worker; :func:`landlock_abi` tells the validator,
before it starts one, whether the platform can sandbox at all. The system calls are made through
ctypes (the numbers 444–446 are the same on every Linux architecture).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterable
from functools import cache

__all__ = ["landlock_abi", "restrict_writes"]

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# LANDLOCK_ACCESS_FS_* (include/uapi/linux/landlock.h), with the ABI version that added each
_WRITE_FILE = 1 << 1
_DIRECTORY_WRITES = (
    (1 << 4, 1),  # REMOVE_DIR
    (1 << 5, 1),  # REMOVE_FILE
    (1 << 6, 1),  # MAKE_CHAR
    (1 << 7, 1),  # MAKE_DIR
    (1 << 8, 1),  # MAKE_REG
    (1 << 9, 1),  # MAKE_SOCK
    (1 << 10, 1),  # MAKE_FIFO
    (1 << 11, 1),  # MAKE_BLOCK
    (1 << 12, 1),  # MAKE_SYM
    (1 << 13, 2),  # REFER: link or rename a file into another folder
)
_TRUNCATE = (1 << 14, 3)
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # LANDLOCK_SCOPE_* (ABI 6)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header: 12 bytes
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


@cache
def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers; 0 where there is none (not Linux, too old,
    disabled at boot, or refused by a seccomp filter, as in some containers)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(
            _CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION
        )
    except (AttributeError, OSError):
        return 0
    return max(int(version), 0)


def _handled_writes(abi: int) -> tuple[int, int]:
    """(rights on folders, rights on single files) that the ruleset takes away, for ``abi``."""
    folder = _WRITE_FILE
    for bit, since in _DIRECTORY_WRITES:
        if abi >= since:
            folder |= bit
    file = _WRITE_FILE
    if abi >= _TRUNCATE[1]:
        folder |= _TRUNCATE[0]
        file |= _TRUNCATE[0]
    return folder, file


def _add_path(libc: ctypes.CDLL, ruleset: int, path: str, allowed: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(allowed, fd)
        if libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def restrict_writes(writable: Iterable[str]) -> str:
    """Sandbox this process and its future children; a description of what was applied.

    ``writable``: folders beneath which writing stays allowed (each must exist). Returns e.g.
    ``"Landlock ABI 7: writes only in the worker's private folder; no signals outside"``, or
    ``""`` when the platform offers no Landlock (nothing applied). Raises OSError when the
    kernel refuses a step (the caller reports the run as not sandboxed).
    """
    abi = landlock_abi()
    if abi < 1:
        return ""
    libc = _libc()
    folder_rights, file_rights = _handled_writes(abi)
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(folder_rights, 0, scoped)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        for path in writable:
            _add_path(libc, ruleset, path, folder_rights)
        with contextlib.suppress(OSError):  # a system without /dev/null loses nothing else
            _add_path(libc, ruleset, os.devnull, file_rights)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    signals = "no signals or abstract sockets outside" if scoped else "signals not scoped (ABI < 6)"
    return f"Landlock ABI {abi}: writes only in the worker's private folder; {signals}"
