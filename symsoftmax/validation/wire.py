"""The framing between the validator and its worker process: a JSON header, then raw array bytes.

One frame is ``MAGIC``, the header length and the body length (little-endian uint32, uint64), the
header (UTF-8 JSON, an object) and the body (the bytes of the arrays the header lists under
``"arrays"``, each ``{"dtype", "shape", "nbytes"}``, concatenated in order). Nothing is pickled:
the worker runs the candidate, which can write anything to the pipe, so the validator decodes a
reply with ``json.loads`` and ``numpy.frombuffer`` only, after checking the frame's sizes against
limits it sets itself and each array's dtype and shape against what it expects.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_HEADER",
    "OUTPUT_SHOWN",
    "Deadline",
    "FrameReader",
    "ProtocolError",
    "array_spec",
    "captured_text",
    "decode_array",
    "encode",
    "write_all",
]

MAGIC = b"SSMX"
_PREFIX = struct.Struct("<4sIQ")
MAX_HEADER = 1 << 20  # headers carry descriptions and at most a few kB of captured output
OUTPUT_SHOWN = 4096  # bytes of a call's captured output sent with its reply


class ProtocolError(Exception):
    """A frame that breaks the format: bad magic, oversized, malformed JSON or array spec."""


class Deadline:
    """A point in time (monotonic); ``None`` seconds means never."""

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.at is not None and time.monotonic() >= self.at


def array_spec(array: npt.NDArray[Any], **extra: Any) -> dict[str, Any]:
    """The header entry of an array sent in native byte order (its bytes follow in the body)."""
    return {
        "dtype": str(array.dtype),
        "shape": list(array.shape),
        "nbytes": int(array.nbytes),
        **extra,
    }


def encode(header: dict[str, Any], arrays: list[npt.NDArray[Any]]) -> bytes:
    """One frame; ``header["arrays"]`` must describe ``arrays`` (see :func:`array_spec`)."""
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    body = b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
    return _PREFIX.pack(MAGIC, len(head), len(body)) + head + body


def decode_array(spec: Any, body: memoryview, offset: int, dtype: np.dtype[Any]) -> Any:
    """The array ``spec`` describes at ``body[offset:]``, which must be of ``dtype`` (the one the
    reader expects; never a dtype the sender chose) and exactly fill ``nbytes``."""
    if not isinstance(spec, dict):
        raise ProtocolError("array entry is not an object")
    shape = spec.get("shape")
    nbytes = spec.get("nbytes")
    if (
        not isinstance(shape, list)
        or len(shape) > 8
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        or not isinstance(nbytes, int)
        or spec.get("dtype") != str(dtype)
    ):
        raise ProtocolError(f"malformed array entry {spec!r:.200}")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize != nbytes or offset + nbytes > len(body):
        raise ProtocolError(f"array entry {spec!r:.200} does not match the body")
    data = np.frombuffer(body[offset : offset + nbytes], dtype=dtype)
    return data.reshape(shape)


def write_all(fd: int, data: bytes, deadline: Deadline) -> bool:
    """Write all of ``data`` to the non-blocking ``fd`` by ``deadline``; False when it passed."""
    view = memoryview(data)
    while view:
        remaining = deadline.remaining()
        if remaining == 0.0:
            return False
        _, ready, _ = select.select([], [fd], [], remaining)
        if ready:
            try:
                view = view[os.write(fd, view[: 1 << 20]) :]
            except BlockingIOError:
                continue
    return True


class FrameReader:
    """Reads frames from a non-blocking ``fd``, each bounded by the caller's size limit."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()

    def read(self, deadline: Deadline, max_body: int) -> tuple[dict[str, Any], memoryview] | None:
        """The next (header, body), or None when ``deadline`` passed first. EOFError when the
        other end closed, ProtocolError for a malformed or oversized frame."""
        if not self._fill(_PREFIX.size, deadline):
            return None
        magic, head_len, body_len = _PREFIX.unpack_from(self.buffer)
        if magic != MAGIC:
            raise ProtocolError(f"bad frame start {bytes(self.buffer[:16])!r}")
        if head_len > MAX_HEADER or body_len > max_body:
            raise ProtocolError(f"frame too large (header {head_len} B, body {body_len} B)")
        total = _PREFIX.size + head_len + body_len
        if not self._fill(total, deadline):
            return None
        frame = bytes(self.buffer[:total])
        del self.buffer[:total]
        try:
            header = json.loads(frame[_PREFIX.size : _PREFIX.size + head_len].decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"malformed header: {exc}") from None
        if not isinstance(header, dict):
            raise ProtocolError("header is not an object")
        return header, memoryview(frame)[_PREFIX.size + head_len :]

    def _fill(self, size: int, deadline: Deadline) -> bool:
        while len(self.buffer) < size:
            remaining = deadline.remaining()
            if remaining == 0.0:
                return False
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, max(size - len(self.buffer), 1 << 16))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            self.buffer += chunk
        return True


def captured_text(data: bytes, total: int) -> str:
    """Captured output for a report: ``data`` (the first bytes of ``total``) decoded, with a
    note when it was cut."""
    text = data.decode("utf-8", errors="replace")
    return text if total <= len(data) else f"{text}… ({total} bytes in all)"
