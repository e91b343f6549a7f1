"""Pure-Python twins of the native kernels (``src/*.rs``): same signatures,
same results. They are the reference the native code is tested against, and
the fallback where the extension is not built.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import crc32c as _crc32c
import xxhash

LENGTH = struct.Struct("<I")

_ALGORITHMS: Dict[str, Tuple[int, Callable[[Any], int]]] = {
    "none": (0, lambda data: 0),
    "crc16": (2, lambda data: binascii.crc_hqx(data, 0)),
    "crc32": (4, zlib.crc32),
    "crc32c": (4, _crc32c.crc32c),
    "xxh3_64": (8, xxhash.xxh3_64_intdigest),
}
_ALGORITHMS["xxhash64"] = _ALGORITHMS["xxh3_64"]


def _algorithm(name: str) -> Tuple[int, Callable[[Any], int]]:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown checksum algorithm {name!r}") from None


def _bytes_view(data: Any) -> memoryview:
    view = memoryview(data)
    if not view.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def checksum(name: str, data: Any) -> int:
    """The checksum of ``data`` with the built-in algorithm ``name``."""
    return _algorithm(name)[1](_bytes_view(data))


def scan(
    data: Any,
    start: int,
    width: int,
    verify: Optional[str],
    max_frame_len: int,
    max_frames: int,
) -> Tuple[bytes, bytes, int, int, int, int]:
    """Finds the complete, valid frames in ``data[start:]``.

    Returns ``(offsets, lengths, stop, status, detail_a, detail_b)``: frame start
    offsets as packed little-endian u64, payload lengths as packed u32, the first
    offset not covered by a good frame, and a status (see ``flatstream._kernels``):
    CLEAN (ends on a boundary), PARTIAL (``detail_a`` = bytes the frame at ``stop``
    needs), LIMIT (``detail_a`` = declared length, ``detail_b`` = limit), CHECKSUM
    (``detail_a`` = stored, ``detail_b`` = calculated) or MAX_FRAMES.
    With ``verify`` None the checksum field is skipped, not checked.
    """
    if not 0 <= width <= 8:
        raise ValueError("checksum width must be 0..=8")
    compute = None
    if verify is not None:
        algo_width, compute = _algorithm(verify)
        if algo_width != width:
            raise ValueError("width does not match the algorithm")
    view = _bytes_view(data)
    end = len(view)
    header = 4 + width
    offsets: list = []
    lengths: list = []
    pos = min(start, end)
    status, detail_a, detail_b = 0, 0, 0
    while True:
        remaining = end - pos
        if remaining == 0:
            status = 0
            break
        if len(offsets) >= max_frames:
            status = 4
            break
        if remaining < header:
            status, detail_a = 1, header
            break
        (declared,) = LENGTH.unpack_from(view, pos)
        if declared > max_frame_len:
            status, detail_a, detail_b = 2, declared, max_frame_len
            break
        total = header + declared
        if remaining < total:
            status, detail_a = 1, total
            break
        if compute is not None:
            stored = int.from_bytes(view[pos + 4 : pos + header], "little")
            calculated = compute(view[pos + header : pos + total])
            if stored != calculated:
                status, detail_a, detail_b = 3, stored, calculated
                break
        offsets.append(pos)
        lengths.append(declared)
        pos += total
    count = len(offsets)
    return (
        struct.pack(f"<{count}Q", *offsets),
        struct.pack(f"<{count}I", *lengths),
        pos,
        status,
        detail_a,
        detail_b,
    )


def frame_many(
    payloads: Iterable[Any], width: int, algorithm: str, max_len: int
) -> Tuple[Optional[bytes], Optional[int]]:
    """Every payload framed with ``algorithm``, back to back, in one buffer:
    ``(frames, None)``, or ``(None, index)`` if payload ``index`` is longer
    than ``max_len`` (nothing is framed then)."""
    algo_width, compute = _algorithm(algorithm)
    if algo_width != width:
        raise ValueError("width does not match the algorithm")
    max_len = min(max_len, 0xFFFFFFFF)
    views = [_bytes_view(payload) for payload in payloads]
    for index, view in enumerate(views):
        if len(view) > max_len:
            return None, index
    parts = []
    for view in views:
        parts.append(LENGTH.pack(len(view)))
        parts.append(compute(view).to_bytes(width, "little"))
        parts.append(view)
    return b"".join(parts), None


class FrameSink:
    """The per-message half of a ``StreamWriter``: a payload (bytes or a
    memoryview) shorter than ``fast_below`` bytes is framed with
    ``algorithm`` and passed to ``write``, continued by ``write_all(write,
    frame, first)`` after a short or interrupted write; ``slow(data)``
    handles every other payload, and all payloads once the sink is closed or
    failed. Counts what it writes (``count`` adds the slow path's frames).
    ``write(item)`` encodes with ``encoders[type(item)]`` and writes the
    payload, or hands an item of another type to ``slow_item(item)``."""

    __slots__ = (
        "_write", "_width", "_compute", "_fast_below", "_slow", "_write_all",
        "_encoders", "_slow_item", "frames", "nbytes", "closed", "failed",
    )

    def __init__(
        self,
        write: Callable[[Any], Any],
        width: int,
        algorithm: str,
        fast_below: int,
        slow: Callable[[Any], None],
        write_all: Callable[..., None],
        encoders: Dict[type, Callable[[Any], Any]],
        slow_item: Callable[[Any], None],
    ) -> None:
        algo_width, self._compute = _algorithm(algorithm)
        if algo_width != width:
            raise ValueError("width does not match the algorithm")
        self._write, self._width, self._slow, self._write_all = write, width, slow, write_all
        self._encoders, self._slow_item = encoders, slow_item
        # The format cannot carry more than 2**32 - 1 bytes.
        self._fast_below = min(fast_below, 0xFFFFFFFF)
        self.frames = 0
        self.nbytes = 0
        self.closed = False
        self.failed: Optional[BaseException] = None

    def write_payload(self, data: Any) -> None:
        if (
            self._fast_below
            and not self.closed
            and self.failed is None
            and (type(data) is bytes or type(data) is memoryview)
        ):
            try:
                view = _bytes_view(data)
            except (TypeError, ValueError):
                view = None  # the slow path raises the payload's own error
            if view is not None and len(view) < self._fast_below:
                checksum = self._compute(view).to_bytes(self._width, "little")
                self._put(b"".join((LENGTH.pack(len(view)), checksum, view)))
                return
        self._slow(data)

    def write(self, item: Any) -> None:
        encode = self._encoders.get(type(item))
        if encode is None:
            self._slow_item(item)
        else:
            self.write_payload(encode(item))

    def _put(self, frame: bytes) -> None:
        # write_all makes the one write a complete sink takes (the native twin
        # makes it itself and hands write_all only what is left).
        try:
            self._write_all(self._write, frame)
        except BaseException as exc:
            self.fail(exc)
            raise
        self.frames += 1
        self.nbytes += len(frame)

    def count(self, frames: int, nbytes: int) -> None:
        self.frames += frames
        self.nbytes += nbytes

    def fail(self, error: BaseException) -> None:
        self.failed = error

    def close(self) -> None:
        self.closed = True


def scan_all(
    data: Any,
    start: int,
    width: int,
    verify: Optional[str],
    max_frame_len: int,
    threads: int,
    collect: bool,
) -> Tuple[Optional[bytes], Optional[bytes], int, int, int, int, int, int]:
    """Every frame of ``data[start:]`` up to the first error or the end.

    Returns ``(offsets, lengths, frames, payload_bytes, stop, status, detail_a,
    detail_b)``; the index is ``None`` unless ``collect``. ``threads`` only
    changes the native kernel's speed, never its result.
    """
    offsets, lengths = [], []
    frames = payload_bytes = 0
    pos = start
    while True:
        window_offsets, window_lengths, stop, status, a, b = scan(
            data, pos, width, verify, max_frame_len, 1 << 16
        )
        count = len(window_lengths) // 4
        frames += count
        payload_bytes += sum(struct.unpack(f"<{count}I", window_lengths))
        if collect:
            offsets.append(window_offsets)
            lengths.append(window_lengths)
        pos = stop
        if status != 4:
            break
    if not collect:
        return None, None, frames, payload_bytes, pos, status, a, b
    return b"".join(offsets), b"".join(lengths), frames, payload_bytes, pos, status, a, b


# The twin of the native schema codec (``_native.TableCodec``) is the generated
# pure-Python codec itself; None tells ``flatstream.schema`` to use it.
TableCodec = None

# Likewise the twin of the native schema verifier (``_native.SchemaVerifier``)
# is the verifier ``flatstream.schema.verifier`` compiles in Python.
SchemaVerifier = None

# The columnar kernels' twins live in their own module (imported last: it
# uses this one's checksums and framing).
from .columnar import ColumnarDecoder, ColumnarEncoder  # noqa: E402
