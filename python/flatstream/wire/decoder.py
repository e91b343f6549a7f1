"""The frame decoder: a state machine over bytes handed to it.

Every reader drives this one decoder (sync, mapped, recovery, and the async
reader through ``feed``). It comes in two twins with the same methods, events
and errors: ``flatstream._native.FrameDecoder`` (Rust) and
:class:`PyFrameDecoder` here; :func:`FrameDecoder` builds whichever the
kernels in use provide. Sans-I/O use::

    decoder = FrameDecoder(checksum, max_frame_len)
    while True:
        event = decoder.next_frame()
        if event is NEED_DATA:
            data = source.read(max(chunk, decoder.bytes_needed))
            decoder.feed(data) if data else decoder.feed_eof()
        elif event is END:
            break
        else:
            use(event)            # the payload: a view with the buffer protocol

Given a ``read`` callable (``read(n) -> bytes``, ``b""`` at the end), the
decoder pulls for itself (as msgpack's ``Unpacker(file_like)`` does):
``decoder.read()`` returns the next payload or ``None``, and iterating the
decoder yields payloads with no Python code run per frame in the native twin.

Payload ownership: a decoder made with :func:`FrameDecoder.over` borrows a
complete buffer and its payloads are views of it, valid while the buffer is.
A streaming decoder never writes over bytes it has handed out: when it must
drop consumed bytes while a view still exists, it moves to a new buffer. With
``release_views`` it retires the previous payload when it advances, so a
stale one raises ``ValueError`` on use.

``steps`` are callables run on every payload after its checksum (validators
and observers from the deframer); a ``FlatstreamError`` they raise gets the
frame's offset. Errors are raised in the spec's order and are sticky: after
one, every call raises it again. Frames before a bad one are all delivered.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Union

from .. import _kernels
from ._io import read_some
from .checksums import Checksum, is_builtin
from ..errors import ChecksumMismatch, FlatstreamError, InvalidFrame, UnexpectedEof

__all__ = ["FrameDecoder", "PyFrameDecoder", "NEED_DATA", "END", "Event", "make_error"]


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
DEFAULT_CHUNK_SIZE = 256 * 1024


def make_error(
    kind: str, a: int, b: int, offset: int, width: int, available: int,
    frame_index: Optional[int] = None,
) -> FlatstreamError:
    """The error for a bad frame at ``offset``; shared by both decoder twins.

    ``kind`` is "eof" (a = bytes the frame needs, b = header length), "limit"
    (a = declared length, b = limit) or "checksum" (a = stored, b = calculated).
    """
    error: FlatstreamError
    if kind == "eof":
        where = "header" if a == b else "payload"
        error = UnexpectedEof(
            f"input ended inside a frame {where}", needed=a, available=available, offset=offset
        )
    elif kind == "limit":
        error = InvalidFrame("frame too long", declared_len=a, limit=b, offset=offset)
    elif kind == "checksum":
        error = ChecksumMismatch(a, b, width=width, offset=offset)
    else:
        raise ValueError(f"unknown error kind {kind!r}")
    error.frame_index = frame_index
    return error


def bytes_view(data: Any) -> memoryview:
    """A flat, one-byte-per-item view of any C-contiguous buffer (no copy)."""
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


class PyFrameDecoder:
    """The pure-Python decoder; see the module docstring."""

    def __init__(
        self,
        checksum: Checksum,
        max_frame_len: int,
        *,
        read: Optional[Callable[[int], Any]] = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        steps: Sequence[Callable[[Any], Any]] = (),
        release_views: bool = False,
    ) -> None:
        self.width: int = checksum.width
        self.header_len: int = 4 + checksum.width
        self.max_frame_len = min(max_frame_len, 0xFFFFFFFF)
        builtin = is_builtin(checksum)
        # The scan kernel verifies built-in checksums itself; a custom one is
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
        self._read = read
        self._chunk_size = max(chunk_size, 1)
        self._steps = tuple(steps)
        self._release_views = release_views
        self._last: Optional[memoryview] = None
        # An error next_batch met after some good frames: it returned those
        # first, and the next read raises this.
        self._pending: Optional[Exception] = None
        self.frame_offset: int = 0  # stream offset of the frame last returned
        self.frames: int = 0  # frames returned so far

    @classmethod
    def over(
        cls,
        data: Any,
        checksum: Checksum,
        max_frame_len: int,
        *,
        steps: Sequence[Callable[[Any], Any]] = (),
    ) -> "PyFrameDecoder":
        """A decoder over a complete buffer, borrowed without copying."""
        decoder = cls(checksum, max_frame_len, steps=steps)
        view = bytes_view(data)
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
        returns the capacity given up. Views already handed out stay valid.
        Frames still pending are found again by the next scan: a burst is
        given back even while the small frames after it are being read."""
        if self._borrowed:
            return 0
        before = self.capacity
        self._release_base()
        self._buf = bytearray(memoryview(self._buf)[self._pos :])
        self._base += self._pos
        self._pos = 0
        self._offsets = self._lengths = ()
        self._index = self._count = 0
        self._tail = None
        return max(before - self.capacity, 0)

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
        """Bytes of memory the decoder's own buffer occupies (0 when borrowing)."""
        return 0 if self._borrowed else self._buf.__sizeof__()

    @property
    def bytes_needed(self) -> int:
        """How many more bytes the next frame needs at least (0 if none are)."""
        if self._index < self._count or self._error is not None:
            return 0
        tail = self._tail or self._scan()
        if self._index < self._count:
            return 0
        if tail[0] == _kernels.PARTIAL:
            return tail[1] - (len(self._buf) - self._pos)  # type: ignore[no-any-return]
        if tail[0] == _kernels.CLEAN and not self._eof:
            return self.header_len
        return 0

    # -- output ----------------------------------------------------------

    def next_frame(self) -> Event:
        """The next payload (a memoryview), ``NEED_DATA`` or ``END``; raises
        InvalidFrame, ChecksumMismatch or UnexpectedEof at a bad frame."""
        payload = self._decode()
        if payload is NEED_DATA or payload is END:
            return payload
        return self._deliver(payload)

    def read(self) -> Optional[memoryview]:
        """The next payload, reading from the source as needed; None at the end
        (or, without a source, when the bytes fed so far hold no whole frame)."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            raise pending
        while True:
            payload = self._decode()
            if payload is NEED_DATA:
                if self._read is None:
                    return None
                self._fill()
            elif payload is END:
                return None
            else:
                return self._deliver(payload)

    def next_batch(self, n: int) -> List[memoryview]:
        """Up to ``n`` payloads (fewer at the end of the input). An error after
        some good frames returns those first; the next call raises it."""
        release, self._release_views = self._release_views, False
        batch: List[memoryview] = []
        try:
            while len(batch) < n:
                try:
                    payload = self.read()
                except Exception as error:
                    if not batch:
                        raise
                    self._pending = error  # frames before a bad one are all delivered
                    break
                if payload is None:
                    break
                batch.append(payload)
        finally:
            self._release_views = release
        return batch

    def __iter__(self) -> "PyFrameDecoder":
        return self

    def __next__(self) -> memoryview:
        payload = self.read()
        if payload is None:
            raise StopIteration
        return payload

    def _fill(self) -> None:
        assert self._read is not None
        # One chunk at a time, also for a frame larger than a chunk: the
        # buffer grows in place, and no read is held beside a copy of it.
        data = read_some(self._read, max(self._chunk_size, self.header_len))
        if len(data):
            # The reader has moved past the last payload and new bytes came:
            # retire it first (the native twin then frees its chunk); at the
            # end of the input it stays readable.
            if self._release_views:
                self._retire_last()
            self.feed(data)
        else:
            self.feed_eof()

    def _retire_last(self) -> None:
        last, self._last = self._last, None
        if last is not None:
            try:
                last.release()
            except BufferError:
                pass  # re-exported by the caller (numpy, ...): it stays theirs

    def _deliver(self, payload: memoryview) -> memoryview:
        if self._release_views:
            self._retire_last()
            self._last = payload
        try:
            for step in self._steps:
                step(payload)
        except FlatstreamError as error:
            if error.offset is None:
                error.offset = self.frame_offset
                error.frame_index = self.frames - 1
            raise
        return payload

    def _decode(self) -> Any:
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
            self.frames += 1
            return payload
        if self._error is not None:
            raise self._error
        tail = self._tail or self._scan()
        if self._index < self._count:
            return self._decode()
        status = tail[0]
        if status == _kernels.CLEAN:
            return END if self._eof else NEED_DATA
        if status == _kernels.PARTIAL:
            if not self._eof:
                return NEED_DATA
            raise self._fail("eof", tail[1], self.header_len)
        if status == _kernels.LIMIT:
            raise self._fail("limit", tail[1], tail[2])
        raise self._fail("checksum", tail[1], tail[2])

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
        assert self._custom is not None and self._view is not None
        stored = int.from_bytes(self._view[start + 4 : start + self.header_len], "little")
        calculated = self._custom.compute(payload) & ((1 << (8 * self.width)) - 1)
        if stored != calculated:
            self._index = self._count  # drop the rest of the batch: the error comes first
            self._pos = start
            raise self._fail("checksum", stored, calculated)

    def _fail(self, kind: str, a: int, b: int) -> FlatstreamError:
        self._error = make_error(
            kind, a, b, self._base + self._pos, self.width, len(self._buf) - self._pos,
            self.frames,
        )
        return self._error


class _DecoderFactory:
    """``FrameDecoder(...)`` and ``FrameDecoder.over(...)`` build the decoder of
    the kernels in use (native, or :class:`PyFrameDecoder`)."""

    def __call__(self, checksum: Checksum, max_frame_len: int, **options: Any) -> Any:
        return _selected()(checksum, max_frame_len, **options)

    def over(self, data: Any, checksum: Checksum, max_frame_len: int, **options: Any) -> Any:
        return _selected().over(bytes_view(data), checksum, max_frame_len, **options)

    def __repr__(self) -> str:
        return f"<FrameDecoder factory: {_selected().__module__}>"


def _selected() -> Any:
    """The decoder class of the kernels in use, looked up at call time (the
    test suite switches kernels per test)."""
    return _kernels.FrameDecoder or PyFrameDecoder


FrameDecoder = _DecoderFactory()
