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

import dataclasses
import io
import mmap
from typing import TYPE_CHECKING, Any, Callable, Iterator, List, Optional

import numpy as np

from ..wire._io import reader_of
from ..wire.decoder import FrameDecoder
from ..wire.framing import Deframer, DefaultDeframer
from .memory import MemoryPolicy, ReclamationInfo

if TYPE_CHECKING:
    from .scanning import FrameIndex

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
        from ..schema import codec

        return codec(cls).decode  # type: ignore[no-any-return]
    make_codec = getattr(cls, "__flatstream_codec__", None)
    if callable(make_codec):  # a class made for a loaded schema
        return make_codec().decode  # type: ignore[no-any-return]
    decode = getattr(cls, "decode", None)
    if callable(decode):
        return decode  # type: ignore[no-any-return]
    raise TypeError(
        f"{cls!r} is neither a flatc-generated table class (GetRootAs), "
        "an @flatstream.table class, nor a codec (decode)"
    )


class _ClosedDecoder:
    """Stands in for the decoder of a closed reader: it keeps the offsets the
    reader reached, and reading raises."""

    capacity = 0

    def __init__(self, offset: int, frame_offset: int) -> None:
        self.offset = offset
        self.frame_offset = frame_offset

    def _closed(self, *args: Any) -> Any:
        raise ValueError("read from a closed StreamReader")

    read = next_batch = reclaim = __next__ = _closed

    def __iter__(self) -> "_ClosedDecoder":
        return self


class DecoderPositions:
    """Where a reader driving one frame decoder (``self._decoder``) is: the
    sync and the async reader alike."""

    _decoder: Any

    @property
    def decoder(self) -> Any:
        """The frame decoder this reader drives."""
        return self._decoder

    @property
    def offset(self) -> int:
        """Stream offset just past the last frame read."""
        return self._decoder.offset  # type: ignore[no-any-return]

    @property
    def frame_offset(self) -> int:
        """Stream offset of the frame last read."""
        return self._decoder.frame_offset  # type: ignore[no-any-return]



class StreamReader(DecoderPositions):
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
        on_corruption: str = "raise",
        on_skip: Optional[Callable[[int, int], Any]] = None,
    ) -> None:
        self.deframer: Deframer = deframer if deframer is not None else DefaultDeframer()
        checksum, limit = self.deframer.checksum, self.deframer.max_frame_len
        steps = self.deframer.steps
        self._source = source
        self._close_source = close_source
        self._buffered_source = is_buffer_source(source)
        self._mapped: Optional[mmap.mmap] = None
        if on_corruption not in ("raise", "skip"):
            raise ValueError(f"on_corruption must be 'raise' or 'skip', not {on_corruption!r}")
        if on_corruption == "skip":
            # Reading through damage searches ahead for the next valid frame
            # (flatstream.io.salvage), so the bytes must be in place.
            from .salvage import SkippingDecoder

            data = source if self._buffered_source else self._map(source)
            self._buffered_source = True
            self._decoder: Any = SkippingDecoder(data, checksum, limit, steps, on_skip)
        elif on_skip is not None:
            raise TypeError("on_skip goes with on_corruption='skip'")
        elif self._buffered_source:
            self._decoder = FrameDecoder.over(source, checksum, limit, steps=steps)
        else:
            self._decoder = FrameDecoder(
                checksum,
                limit,
                read=reader_of(source),
                chunk_size=chunk_size,
                steps=steps,
                release_views=True,
            )
        self._policy = memory_policy
        self.closed = False
        # Where the stream starts in a seekable file, for index().
        self._origin: Optional[int] = None
        if not self._buffered_source and callable(getattr(source, "fileno", None)):
            try:
                self._origin = source.tell()
            except (OSError, AttributeError):
                self._origin = None

    def _map(self, source: Any) -> Any:
        fileno = getattr(source, "fileno", None)
        try:
            if callable(fileno):
                self._mapped = mmap.mmap(fileno(), 0, access=mmap.ACCESS_READ)
                return memoryview(self._mapped)[source.tell():]
        except (OSError, ValueError, io.UnsupportedOperation):
            pass
        raise ValueError(
            "on_corruption='skip' needs a buffer or a regular file: a stream cannot be "
            "searched ahead for the next valid frame"
        )

    def read_message(self) -> Optional[Any]:
        """The next payload, or ``None`` at a clean end of the stream."""
        if self.closed:
            raise ValueError("read from a closed StreamReader")
        payload = self._decoder.read()
        if payload is not None and self._policy is not None:
            self._apply_policy(len(payload))
        return payload

    def _apply_policy(self, size: int) -> None:
        assert self._policy is not None
        capacity = self._decoder.capacity
        reason = self._policy.should_reset(size, capacity)
        if reason is not None:
            self._decoder.reclaim()
            self._policy.on_reclaim(
                ReclamationInfo(reason, size, capacity, self._decoder.capacity)
            )

    def messages(self) -> Iterator[Any]:
        """Every payload, in order. Without a memory policy this is the decoder
        itself: in native mode no Python code runs per frame."""
        if self.closed:
            raise ValueError("read from a closed StreamReader")
        if self._policy is None:
            return self._decoder  # type: ignore[no-any-return]
        return iter(self.read_message, None)

    __iter__ = messages

    def iter_batches(self, n: int = 1024) -> Iterator[List[Any]]:
        """Lists of up to ``n`` payloads, built by the decoder in one call each
        (Python pays per batch, not per frame). Payloads in a batch stay valid
        together; over a file-like they are not retired when the next batch comes."""
        if n < 1:
            raise ValueError("n must be >= 1")
        next_batch = self._decoder.next_batch
        while True:
            batch = next_batch(n)
            if not batch:
                return
            yield batch

    def index(self, *, threads: Optional[int] = None) -> "FrameIndex":
        """Index the frames after the current position without reading them
        through Python: numpy arrays of offsets (relative to where this reader
        started) and payload lengths, checksums verified natively. The reader
        does not move. Needs a buffer source or a real file (it is mapped)."""
        from .scanning import mapped, scan

        start = self._decoder.offset
        if self._buffered_source:
            return scan(self._source, deframer=self.deframer, start=start, threads=threads)
        if self._origin is None:
            raise io.UnsupportedOperation("index() needs a buffer or a seekable file source")
        with mapped(self._source) as buf:
            found = scan(buf, deframer=self.deframer, start=self._origin + start, threads=threads)
        if not self._origin:
            return found
        origin = np.uint64(self._origin)
        return dataclasses.replace(
            found, offsets=found.offsets - origin, end_offset=found.end_offset - self._origin
        )

    def process_all(self, fn: Callable[[Any], Any]) -> int:
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
        # map: the loop runs in C, one decode call per message and no
        # generator frame to resume (native decoder + native codec: no Python
        # code at all per message).
        return map(typed_decoder(cls), self.messages())

    def process_typed(self, cls: Any, fn: Callable[[Any], Any]) -> int:
        """Call ``fn(message)`` for every message decoded with ``cls``."""
        count = 0
        for message in self.typed_messages(cls):
            fn(message)
            count += 1
        return count

    def close(self) -> None:
        """Stop reading; close the source if this reader owns it."""
        if self.closed:
            return
        self.closed = True
        # Drop the decoder: over an mmap it holds a buffer export, and the
        # mapping cannot be closed while one exists.
        self._decoder = _ClosedDecoder(self._decoder.offset, self._decoder.frame_offset)
        # The map of on_corruption="skip" is let go, not closed: payload views
        # handed out may still hold exports of it (it unmaps when the last goes).
        self._mapped = None
        if self._close_source:
            self._source.close()

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StreamReader {self.deframer!r} offset={self.offset}>"
