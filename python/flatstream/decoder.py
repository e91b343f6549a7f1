"""The frame decoder: a state machine over bytes handed to it. It never reads.

Every reader drives this one decoder (sync, asyncio, mapped, recovery)::

    decoder = FrameDecoder(checksum, max_frame_len)
    while True:
        event = decoder.next_frame()
        if event is NEED_DATA:
            data = source.read(max(chunk, decoder.bytes_needed))
            decoder.feed(data) if data else decoder.feed_eof()
        elif event is END:
            break
        else:
            use(event)            # a memoryview of the payload

Frames are found in bulk by the scan kernel (native when built): one call
finds every complete frame in the buffered bytes, so Python pays per frame
only for handing out its view.

Ownership of the bytes: a decoder made with :meth:`FrameDecoder.over` borrows
a complete buffer (``bytes``, ``mmap``, ...) and its payload views are plain
slices of it, valid while the buffer is. A streaming decoder owns a
``bytearray``; it never writes over bytes it has handed out. When it must
drop consumed bytes and a payload view is still alive, it moves to a new
buffer instead, so a view you still hold keeps showing its own bytes. The
reader, not the decoder, decides when a view becomes stale (``release``).

Errors are raised in the spec's order and are sticky: after one, every call
raises it again. Frames before the bad one are all delivered first.
"""

from __future__ import annotations

import struct
from typing import Any, Optional, Union

from . import _kernels
from .checksums import Checksum, is_builtin
from .errors import ChecksumMismatch, FlatstreamError, InvalidFrame, UnexpectedEof

__all__ = ["FrameDecoder", "NEED_DATA", "END", "Event"]


class _Sentinel:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The decoder needs more bytes (``feed``) or the end of input (``feed_eof``).
NEED_DATA: Any = _Sentinel("NEED_DATA")
#: The input ended cleanly on a frame boundary.
END: Any = _Sentinel("END")

Event = Union[memoryview, _Sentinel]

#: Frames one scan call looks for at most (bounds the index it builds).
SCAN_BATCH = 8192


class FrameDecoder:
    """Turns bytes into payload views; see the module docstring."""

    def __init__(self, checksum: Checksum, max_frame_len: int) -> None:
        self.width: int = checksum.width
        self.header_len: int = 4 + checksum.width
        self.max_frame_len = max_frame_len
        builtin = is_builtin(checksum)
        # The kernel verifies built-in checksums itself; a custom one is
        # checked here, frame by frame, from the bytes the kernel located.
        self._verify: Optional[str] = checksum.name if builtin and checksum.width else None
        self._custom: Optional[Checksum] = None if builtin or not checksum.width else checksum
        self._buf: Any = bytearray()
        self._view: Optional[memoryview] = None
        self._borrowed = False
        self._pos = 0  # first byte of _buf not yet handed out as part of a frame
        self._base = 0  # stream offset of _buf[0]
        self._offsets: Any = ()
        self._lengths: Any = ()
        self._index = 0
        self._count = 0
        self._tail: Optional[tuple] = None  # status of the bytes after the pending frames
        self._eof = False
        self._error: Optional[FlatstreamError] = None
        self.frame_offset: int = 0  # stream offset of the frame last returned

    @classmethod
    def over(cls, data: Any, checksum: Checksum, max_frame_len: int) -> "FrameDecoder":
        """A decoder over a complete buffer, borrowed without copying."""
        decoder = cls(checksum, max_frame_len)
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        decoder._buf = view
        decoder._view = view
        decoder._borrowed = True
        decoder._eof = True
        return decoder

    # -- input ------------------------------------------------------------

    def feed(self, data: Any) -> None:
        """Add bytes that follow those already fed."""
        if self._borrowed or self._eof:
            raise RuntimeError("cannot feed a decoder after the end of its input")
        if not len(data):
            return
        if self._index == self._count and self._pos:
            self._drop_consumed()
        self._release_base()
        try:
            self._buf += data
        except BufferError:
            # A payload view still borrows the buffer: build the next one
            # beside it instead of moving bytes under the view.
            self._buf = self._buf + data
        self._tail = None

    def feed_eof(self) -> None:
        """Declare that no more bytes will come."""
        self._eof = True
        self._tail = None

    def _release_base(self) -> None:
        if self._view is not None and not self._borrowed:
            self._view.release()
            self._view = None

    def _drop_consumed(self) -> None:
        self._release_base()
        pos = self._pos
        try:
            del self._buf[:pos]
        except BufferError:
            self._buf = bytearray(memoryview(self._buf)[pos:])
        self._base += pos
        self._pos = 0
        self._offsets = self._lengths = ()
        self._index = self._count = 0

    def reclaim(self) -> int:
        """Move unconsumed bytes to a right-sized buffer (for memory policies);
        returns the capacity given up. Views already handed out stay valid."""
        if self._borrowed or self._index != self._count:
            return 0
        before = self.capacity
        self._release_base()
        self._buf = bytearray(memoryview(self._buf)[self._pos :])
        self._base += self._pos
        self._pos = 0
        self._offsets = self._lengths = ()
        self._index = self._count = 0
        self._tail = None
        return before - self.capacity

    # -- state -----------------------------------------------------------

    @property
    def offset(self) -> int:
        """Stream offset just past the last frame returned."""
        return self._base + self._pos

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a returned frame."""
        return len(self._buf) - self._pos

    @property
    def capacity(self) -> int:
        """Bytes of memory the owned buffer occupies (0 when borrowing)."""
        return 0 if self._borrowed else self._buf.__sizeof__()

    @property
    def bytes_needed(self) -> int:
        """How many more bytes the next frame needs at least (0 if none are)."""
        if self._index < self._count or self._error is not None:
            return 0
        tail = self._tail or self._scan()
        if tail[0] == _kernels.PARTIAL:
            return tail[1] - (len(self._buf) - self._pos)
        if tail[0] == _kernels.CLEAN and not self._eof:
            return self.header_len
        return 0

    # -- output ----------------------------------------------------------

    def next_frame(self) -> Event:
        """The next payload (a memoryview), ``NEED_DATA`` or ``END``; raises
        InvalidFrame, ChecksumMismatch or UnexpectedEof at a bad frame."""
        if self._index < self._count:
            i = self._index
            self._index = i + 1
            start = self._offsets[i]
            begin = start + self.header_len
            end = begin + self._lengths[i]
            if self._view is None:
                self._view = memoryview(self._buf)
            payload = self._view[begin:end]
            if self._custom is not None:
                self._check_custom(start, payload)
            self._pos = end
            self.frame_offset = self._base + start
            return payload
        if self._error is not None:
            raise self._error
        tail = self._tail or self._scan()
        if self._index < self._count:
            return self.next_frame()
        status = tail[0]
        if status == _kernels.CLEAN:
            return END if self._eof else NEED_DATA
        if status == _kernels.PARTIAL:
            if not self._eof:
                return NEED_DATA
            available = len(self._buf) - self._pos
            raise self._fail(
                UnexpectedEof(
                    "input ended inside a frame header"
                    if tail[1] == self.header_len
                    else "input ended inside a frame payload",
                    needed=tail[1],
                    available=available,
                    offset=self.offset,
                )
            )
        if status == _kernels.LIMIT:
            raise self._fail(
                InvalidFrame(
                    "frame too long", declared_len=tail[1], limit=tail[2], offset=self.offset
                )
            )
        if status == _kernels.CHECKSUM:
            raise self._fail(ChecksumMismatch(tail[1], tail[2], width=self.width, offset=self.offset))
        return self.next_frame()  # MAX_FRAMES: the next scan goes on from here

    def _scan(self) -> tuple:
        offsets, lengths, _stop, status, detail_a, detail_b = _kernels.scan(
            self._buf, self._pos, self.width, self._verify, self.max_frame_len, SCAN_BATCH
        )
        self._offsets = memoryview(offsets).cast("Q") if offsets else ()
        self._lengths = memoryview(lengths).cast("I") if lengths else ()
        self._index = 0
        self._count = len(self._lengths)
        # MAX_FRAMES leaves the tail unknown: it is scanned again once these are taken.
        tail = (status, detail_a, detail_b)
        self._tail = None if status == _kernels.MAX_FRAMES else tail
        return tail

    def _check_custom(self, start: int, payload: memoryview) -> None:
        assert self._custom is not None
        stored = int.from_bytes(self._view[start + 4 : start + self.header_len], "little")  # type: ignore[index]
        calculated = self._custom.compute(payload) & ((1 << (8 * self.width)) - 1)
        if stored != calculated:
            self._index = self._count  # drop the rest of the batch: the error comes first
            self._pos = start
            raise self._fail(
                ChecksumMismatch(stored, calculated, width=self.width, offset=self._base + start)
            )

    def _fail(self, error: FlatstreamError) -> FlatstreamError:
        self._error = error
        return error


# Little-endian hosts only: the kernels pack offsets as LE and memoryview.cast
# reads them in host order.
assert struct.pack("=I", 1) == b"\x01\x00\x00\x00", "flatstream needs a little-endian host"
