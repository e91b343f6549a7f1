"""StreamReader: payloads out of a binary source, one view per frame.

Sources: a binary file-like (buffered or raw file, a socket's ``makefile("rb")``,
a pipe), or a complete buffer (``bytes``, ``bytearray``, ``memoryview``,
``mmap``). Over a buffer every payload is a slice of it: no copy, valid while
the buffer is. Over a file-like, payloads are views into the reader's reusable
buffer, valid until the reader advances: then they are released, and using a
stale one raises ``ValueError`` instead of showing another message's bytes.
Keep a payload with ``bytes(payload)``.
"""

from __future__ import annotations

import mmap
from typing import Any, Callable, Iterator, Optional

from ._io import reader_of, read_some
from .decoder import END, NEED_DATA, FrameDecoder
from .errors import FlatstreamError
from .framing import Deframer, DefaultDeframer
from .memory import MemoryPolicy, ReclamationInfo

__all__ = ["StreamReader", "DEFAULT_CHUNK_SIZE", "is_buffer_source", "typed_decoder"]

#: Bytes asked of a file-like source per read (more when one frame needs more).
DEFAULT_CHUNK_SIZE = 256 * 1024


def is_buffer_source(source: Any) -> bool:
    """Whether ``source`` is read in place (a buffer) rather than through ``read``."""
    if isinstance(source, (bytes, bytearray, memoryview, mmap.mmap)):
        return True
    if callable(getattr(source, "read", None)):
        return False
    try:
        memoryview(source)
    except TypeError:
        return False
    return True


def typed_decoder(cls: Any) -> Callable[[Any], Any]:
    """The function payload -> object for a flatc-generated class (``GetRootAs``),
    a codec (``decode``), or an ``@fs.table`` class."""
    get_root = getattr(cls, "GetRootAs", None)
    if callable(get_root):
        return lambda payload: get_root(payload, 0)
    if getattr(cls, "__flatstream_table__", None) is not None:
        from .schema import codec

        return codec(cls).decode  # type: ignore[no-any-return]
    decode = getattr(cls, "decode", None)
    if callable(decode):
        return decode  # type: ignore[no-any-return]
    raise TypeError(
        f"{cls!r} is neither a flatc-generated table class (GetRootAs), "
        "an @flatstream.table class, nor a codec (decode)"
    )


class StreamReader:
    """Reads framed messages from ``source`` (see the module docstring).

    Iterating the reader yields payloads; at the end of a torn stream it raises
    :class:`~flatstream.UnexpectedEof` after every complete frame. The source is
    closed by :meth:`close` only with ``close_source=True``.
    """

    def __init__(
        self,
        source: Any,
        deframer: Optional[Deframer] = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        memory_policy: Optional[MemoryPolicy] = None,
        close_source: bool = False,
    ) -> None:
        self.deframer: Deframer = deframer if deframer is not None else DefaultDeframer()
        checksum, limit = self.deframer.checksum, self.deframer.max_frame_len
        self._source = source
        self._close_source = close_source
        if is_buffer_source(source):
            self._decoder = FrameDecoder.over(source, checksum, limit)
            self._read: Optional[Callable[[int], Any]] = None
        else:
            self._decoder = FrameDecoder(checksum, limit)
            self._read = reader_of(source)
        self._steps = self.deframer.steps
        self._chunk = chunk_size
        self._policy = memory_policy
        self._last: Optional[memoryview] = None  # the view to release when we advance
        self.closed = False

    @property
    def offset(self) -> int:
        """Stream offset just past the last frame read."""
        return self._decoder.offset

    @property
    def frame_offset(self) -> int:
        """Stream offset of the frame last read."""
        return self._decoder.frame_offset

    def read_message(self) -> Optional[memoryview]:
        """The next payload, or ``None`` at a clean end of the stream."""
        last = self._last
        if last is not None:
            self._last = None
            try:
                last.release()
            except BufferError:
                pass  # re-exported by the caller (numpy, ...): it stays theirs
        decoder = self._decoder
        payload: Any = decoder.next_frame()
        while payload is NEED_DATA:
            self._fill()
            payload = decoder.next_frame()
        if payload is END:
            return None
        if self._read is not None:
            self._last = payload
        if self._steps:
            try:
                for step in self._steps:
                    step(payload)
            except FlatstreamError as error:
                if error.offset is None:
                    error.offset = decoder.frame_offset
                raise
        if self._policy is not None:
            self._apply_policy(len(payload))
        return payload  # type: ignore[no-any-return]

    def _fill(self) -> None:
        if self._read is None or self.closed:
            raise ValueError("read from a closed StreamReader")
        decoder = self._decoder
        data = read_some(self._read, max(self._chunk, decoder.bytes_needed))
        if data:
            decoder.feed(data)
        else:
            decoder.feed_eof()

    def _apply_policy(self, size: int) -> None:
        assert self._policy is not None
        capacity = self._decoder.capacity
        reason = self._policy.should_reset(size, capacity)
        if reason is not None:
            self._decoder.reclaim()
            self._policy.on_reclaim(
                ReclamationInfo(reason, size, capacity, self._decoder.capacity)
            )

    def messages(self) -> Iterator[memoryview]:
        """Every payload, in order."""
        read = self.read_message
        while True:
            payload = read()
            if payload is None:
                return
            yield payload

    __iter__ = messages

    def process_all(self, fn: Callable[[memoryview], Any]) -> int:
        """Call ``fn(payload)`` for every message; returns how many. An
        exception from ``fn`` stops the loop and propagates."""
        count = 0
        for payload in self.messages():
            fn(payload)
            count += 1
        return count

    def typed_messages(self, cls: Any) -> Iterator[Any]:
        """Every message decoded with ``cls``: a flatc-generated class (lazy
        accessors over the payload), an ``@fs.table`` class or a codec."""
        decode = typed_decoder(cls)
        for payload in self.messages():
            yield decode(payload)

    def process_typed(self, cls: Any, fn: Callable[[Any], Any]) -> int:
        """Call ``fn(message)`` for every message decoded with ``cls``."""
        count = 0
        for message in self.typed_messages(cls):
            fn(message)
            count += 1
        return count

    def close(self) -> None:
        """Release the last view; close the source if this reader owns it."""
        if self.closed:
            return
        self.closed = True
        if self._last is not None:
            try:
                self._last.release()
            except BufferError:
                pass
            self._last = None
        if self._close_source:
            self._source.close()

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StreamReader {self.deframer!r} offset={self.offset}>"
