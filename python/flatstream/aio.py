"""asyncio front ends: the one frame decoder, fed from ``await source.read(n)``.

    reader, writer = await asyncio.open_connection(host, port)
    async with fs.AsyncStreamReader(reader, "xxh3_64") as frames:
        async for payload in frames:
            ...

    async with fs.AsyncStreamWriter(writer, "xxh3_64") as out:
        out.write_payload(b"...")
        await out.drain()              # backpressure: wait while the transport is full

Files go through a thread, so the loop never blocks on the disk::

    async with await flatstream.aio.open_file("events.fs", "rb", checksum="xxh3_64") as r:
        async for payload in r: ...

Cancellation: a read cancelled at any point (``asyncio.wait_for`` timeouts
included) loses no frame. Bytes reach the decoder only after an ``await``
returned them, and the decoder hands out frames synchronously, so a
cancelled ``read_message`` leaves the reader exactly where it was; the next
call returns the frame the cancelled one would have. Reading a file, a
cancelled read's thread is kept and its bytes are taken by the next call.

Payloads are views valid until the reader advances, as with
:class:`~flatstream.StreamReader` over a file-like; keep one with ``bytes()``.
Errors, and their order, are the sync reader's.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import os
from typing import Any, AsyncIterator, Callable, List, Optional, Union

from .wire.checksums import ChecksumLike
from .wire.decoder import DEFAULT_CHUNK_SIZE, END, NEED_DATA, FrameDecoder
from .wire.framing import Deframer, Framer
from .io.reader import DecoderPositions, typed_decoder
from .io.writer import StreamWriter, finished_bytes

__all__ = [
    "AsyncStreamReader",
    "AsyncStreamWriter",
    "AsyncFileSource",
    "AsyncFileSink",
    "open_file",
    "follow",
]


def _deframer(
    checksum: Union[ChecksumLike, Deframer], max_frame_len: Optional[int], deframer: Optional[Deframer]
) -> Deframer:
    # The second positional argument was a Deframer before checksum= existed:
    # both spellings are kept.
    if isinstance(checksum, Deframer):
        if deframer is not None:
            raise TypeError("pass either a deframer or checksum=, not both")
        deframer, checksum = checksum, None
    if deframer is None:
        return Deframer(checksum if checksum is not None else "none", max_frame_len)
    if checksum is not None:
        raise TypeError("pass either a deframer or checksum=, not both")
    return deframer.bounded(max_frame_len) if max_frame_len is not None else deframer


def _framer(
    checksum: Union[ChecksumLike, Framer], max_frame_len: Optional[int], framer: Optional[Framer]
) -> Framer:
    if isinstance(checksum, Framer):
        if framer is not None:
            raise TypeError("pass either a framer or checksum=, not both")
        framer, checksum = checksum, None
    if framer is None:
        framer = Framer(checksum if checksum is not None else "none")
    elif checksum is not None:
        raise TypeError("pass either a framer or checksum=, not both")
    return framer.bounded(max_frame_len) if max_frame_len is not None else framer


class AsyncStreamReader(DecoderPositions):
    """Payloads from any object with ``async read(n)``: an ``asyncio.StreamReader``
    (TCP, Unix sockets, pipes) or an :class:`AsyncFileSource`.

    ``checksum`` (or a ready ``deframer``) and ``max_frame_len`` mean what they
    mean for :func:`flatstream.open`. The reader is its own async iterator:
    ``async for`` survives a cancelled step and can be resumed.
    """

    def __init__(
        self,
        source: Any,
        checksum: Union[ChecksumLike, Deframer] = None,
        *,
        max_frame_len: Optional[int] = None,
        deframer: Optional[Deframer] = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        close_source: bool = False,
    ) -> None:
        self.deframer: Deframer = _deframer(checksum, max_frame_len, deframer)
        self._source = source
        self._chunk = max(chunk_size, 1)
        self._close_source = close_source
        self._decoder = FrameDecoder(
            self.deframer.checksum,
            self.deframer.max_frame_len,
            steps=self.deframer.steps,
            release_views=True,
        )
        self.frames_read = 0
        self.closed = False

    # -- counters --------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received that are not yet part of a returned frame."""
        return self._decoder.buffered  # type: ignore[no-any-return]

    # -- reading ---------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("read from a closed AsyncStreamReader")

    async def _fill(self) -> None:
        """One read from the source into the decoder. Cancelled while awaiting,
        it has changed nothing."""
        decoder = self._decoder
        size = max(self._chunk, decoder.bytes_needed)
        while True:
            try:
                data = await self._source.read(size)
                break
            except InterruptedError:
                continue
        # No await from here on: the bytes are the decoder's before anything
        # can cancel this task.
        if data:
            decoder.feed(data)
        else:
            decoder.feed_eof()

    async def read_message(self) -> Optional[Any]:
        """The next payload, or ``None`` at a clean end of the stream."""
        self._check_open()
        decoder = self._decoder
        while True:
            event = decoder.next_frame()
            if event is END:
                return None
            if event is not NEED_DATA:
                self.frames_read += 1
                return event
            await self._fill()

    def messages(self) -> "AsyncStreamReader":
        """Every payload, in order (``async for payload in reader.messages()``)."""
        self._check_open()
        return self

    def __aiter__(self) -> "AsyncStreamReader":
        return self

    async def __anext__(self) -> Any:
        # read_message inlined: one coroutine per frame instead of two.
        if self.closed:
            raise ValueError("read from a closed AsyncStreamReader")
        decoder = self._decoder
        while True:
            event = decoder.next_frame()
            if event is END:
                raise StopAsyncIteration
            if event is not NEED_DATA:
                self.frames_read += 1
                return event
            await self._fill()

    def typed_messages(self, cls: Any) -> AsyncIterator[Any]:
        """Every message decoded with ``cls``: a flatc-generated class, an
        ``@fs.table`` class or a codec (see :meth:`StreamReader.typed_messages`)."""
        return _Mapped(self, typed_decoder(cls))

    async def process_all(self, fn: Callable[[Any], Any]) -> int:
        """Call ``fn(payload)`` for every message (awaited if it returns an
        awaitable); returns how many. An exception from ``fn`` propagates."""
        count = 0
        while True:
            payload = await self.read_message()
            if payload is None:
                return count
            result = fn(payload)
            if inspect.isawaitable(result):
                await result
            count += 1

    async def process_typed(self, cls: Any, fn: Callable[[Any], Any]) -> int:
        """Call ``fn(message)`` for every message decoded with ``cls``."""
        decode = typed_decoder(cls)
        return await self.process_all(lambda payload: fn(decode(payload)))

    def iter_batches(self, n: int = 1024) -> AsyncIterator[List[Any]]:
        """Lists of up to ``n`` payloads: each holds the frames that had arrived
        (never waiting for more once it has one), built by the decoder in one
        call. Payloads in a batch stay valid together."""
        if n < 1:
            raise ValueError("n must be >= 1")
        return _Batches(self, n)

    async def _next_batch(self, n: int) -> List[Any]:
        self._check_open()
        decoder = self._decoder
        while True:
            batch: List[Any] = decoder.next_batch(n)
            if batch:
                self.frames_read += len(batch)
                return batch
            if decoder.bytes_needed == 0:
                # The end, or an error: next_frame says which (and raises).
                if decoder.next_frame() is END:
                    return batch
                raise AssertionError("the decoder delivered no batch but holds a frame")
            await self._fill()

    # -- closing ---------------------------------------------------------

    def close(self) -> None:
        """Stop reading; close the source if this reader owns it."""
        if self.closed:
            return
        self.closed = True
        if self._close_source:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    async def aclose(self) -> None:
        """:meth:`close`, then wait for an owned source to be closed."""
        self.close()
        if self._close_source:
            wait_closed = getattr(self._source, "wait_closed", None)
            if wait_closed is not None:
                await wait_closed()

    async def __aenter__(self) -> "AsyncStreamReader":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncStreamReader {self.deframer!r} offset={self.offset}>"


class _Mapped:
    """``typed_messages``: an async iterator that survives a cancelled step."""

    def __init__(self, reader: AsyncStreamReader, decode: Callable[[Any], Any]) -> None:
        self._reader, self._decode = reader, decode

    def __aiter__(self) -> "_Mapped":
        return self

    async def __anext__(self) -> Any:
        payload = await self._reader.read_message()
        if payload is None:
            raise StopAsyncIteration
        return self._decode(payload)


class _Batches:
    def __init__(self, reader: AsyncStreamReader, n: int) -> None:
        self._reader, self._n = reader, n

    def __aiter__(self) -> "_Batches":
        return self

    async def __anext__(self) -> List[Any]:
        batch = await self._reader._next_batch(self._n)
        if not batch:
            raise StopAsyncIteration
        return batch


class _Cork:
    """The frames written in one turn of the event loop go to the transport
    as one write: they gather here and are handed on by a callback the loop
    runs as soon as the writing task yields (or at once past 64 KiB, and on
    ``drain``/``flush``/``close``), so a burst of small frames costs one
    ``send``, not one each, and no frame waits for the caller to await
    anything. Buffers are copied (asyncio lets a caller reuse one once
    ``write`` returns); ``bytes`` are kept as they are."""

    LIMIT = 1 << 16

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._parts: List[bytes] = []
        self._size = 0
        self._handle: Optional[asyncio.Handle] = None

    def write(self, data: Any) -> None:
        part = data if type(data) is bytes else bytes(data)
        self._parts.append(part)
        self._size += len(part)
        if self._size >= self.LIMIT:
            self.flush()
        elif self._handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # written outside the loop: straight through
                self.flush()
                return
            self._handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._parts:
            parts, self._parts, self._size = self._parts, [], 0
            self._transport.write(parts[0] if len(parts) == 1 else b"".join(parts))


class AsyncStreamWriter:
    """Frames messages onto an ``asyncio.StreamWriter`` (anything with ``write``
    and ``async drain()``), or an :class:`AsyncFileSink`.

    ``write*`` frame at once (a frame is never split by another task's
    frames); the frames of one turn of the event loop reach the transport
    together, as soon as the writing task yields, in one write. ``await
    drain()`` (or ``flush()``) waits while the transport is above its
    high-water mark: that is the backpressure. Counters and refusals are
    :class:`StreamWriter`'s.
    """

    def __init__(
        self,
        transport: Any,
        checksum: Union[ChecksumLike, Framer] = None,
        *,
        max_frame_len: Optional[int] = None,
        framer: Optional[Framer] = None,
    ) -> None:
        self._transport = transport
        # A file sink buffers itself; a socket's transport sends at once, so
        # the frames of one turn of the loop are corked into one write.
        self._cork = None if isinstance(transport, AsyncFileSink) else _Cork(transport)
        sink = transport if self._cork is None else self._cork
        self._writer = StreamWriter(sink, _framer(checksum, max_frame_len, framer))
        self._closed = False

    @property
    def framer(self) -> Framer:
        return self._writer.framer

    @property
    def frames_written(self) -> int:
        """Frames handed to the transport so far."""
        return self._writer.frames_written

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the transport so far, headers included."""
        return self._writer.bytes_written

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("write to a closed AsyncStreamWriter")

    def write(self, item: Any) -> None:
        """Serialize ``item`` as :meth:`StreamWriter.write` does and frame it."""
        self._check_open()
        self._writer.write(item)

    def write_payload(self, data: Any) -> None:
        """Frame ``data`` (any bytes-like) as is."""
        self._check_open()
        self._writer.write_payload(data)

    def write_finished(self, builder: Any) -> None:
        """Frame the finished buffer of a ``flatbuffers.Builder`` without copying it."""
        self._check_open()
        self._writer.write_payload(finished_bytes(builder))

    def write_many(self, items: Any) -> int:
        """Frame many messages in one transport write; returns how many."""
        self._check_open()
        return self._writer.write_many(items)

    def _uncork(self) -> None:
        if self._cork is not None:
            self._cork.flush()

    async def drain(self) -> None:
        """Hand every frame to the transport and wait until it accepts more
        (its ``drain()``)."""
        self._uncork()
        await self._transport.drain()

    async def flush(self) -> None:
        """Wait until what was written has been handed on: ``drain()``, and
        for a file sink, written to the file whatever its high-water mark."""
        self._uncork()
        aflush = getattr(self._transport, "aflush", None)
        await (aflush() if aflush is not None else self._transport.drain())

    def close(self) -> None:
        """Close the transport (buffered bytes are still sent); then
        ``await wait_closed()``. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        self._uncork()
        self._transport.close()

    async def wait_closed(self) -> None:
        wait_closed = getattr(self._transport, "wait_closed", None)
        if wait_closed is not None:
            await wait_closed()

    async def aclose(self) -> None:
        """Drain, close and wait until closed."""
        if not self._closed:
            try:
                self._uncork()
                await self._transport.drain()
            finally:
                self.close()
        await self.wait_closed()

    async def __aenter__(self) -> "AsyncStreamWriter":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncStreamWriter {self.framer!r} frames={self.frames_written}>"


# -- files, through a thread ------------------------------------------------


class AsyncFileSource:
    """``async read(n)`` over a file descriptor, each read in a thread.

    Cancel safe: a read cancelled while its thread runs is not lost; the
    next ``read`` returns its bytes first.
    """

    def __init__(self, file: Any) -> None:
        self._file = file
        self._fd: int = file.fileno()
        self._pending: Optional["asyncio.Future[bytes]"] = None

    async def read(self, n: int) -> bytes:
        pending = self._pending
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = self._pending = loop.run_in_executor(None, os.read, self._fd, n)
        data = await asyncio.shield(pending)
        self._pending = None
        return data

    def close(self) -> None:
        self._file.close()


class AsyncFileSink:
    """A transport over a file: ``write`` buffers, ``await drain()`` writes the
    buffer in a thread once it holds ``high_water`` bytes (always on
    ``flush``), ``close``/``wait_closed`` write the rest and close the file.
    A drain cancelled while its thread writes does not lose or repeat bytes."""

    def __init__(self, file: Any, *, high_water: int = 1 << 20, fsync: bool = False) -> None:
        self._file = file
        self._buf = bytearray()
        self._high_water = high_water
        self._fsync = fsync
        self._pending: Optional["asyncio.Future[None]"] = None
        self._closing = False

    def write(self, data: Any) -> None:
        if self._closing:
            raise ValueError("write to a closed AsyncFileSink")
        self._buf += data

    def _write_out(self, data: bytes) -> None:
        self._file.write(data)
        self._file.flush()
        if self._fsync:
            os.fsync(self._file.fileno())

    async def _flush(self) -> None:
        while True:
            if self._pending is None:
                if not self._buf:
                    return
                data, self._buf = bytes(self._buf), bytearray()
                loop = asyncio.get_running_loop()
                self._pending = loop.run_in_executor(None, self._write_out, data)
            # Several tasks may drain at once (a fan-in's connections): each
            # waits on the write in flight, and the first to see it done
            # clears it, so the others must check the one they waited on.
            pending = self._pending
            try:
                await asyncio.shield(pending)
            finally:
                if pending.done() and self._pending is pending:
                    self._pending = None

    async def drain(self) -> None:
        if len(self._buf) >= self._high_water or self._pending is not None:
            await self._flush()

    async def aflush(self) -> None:
        """Write everything buffered now (the writer's ``flush()``)."""
        await self._flush()

    def close(self) -> None:
        self._closing = True

    async def wait_closed(self) -> None:
        if self._file.closed:
            return
        try:
            await self._flush()
        finally:
            await asyncio.get_running_loop().run_in_executor(None, self._file.close)


async def open_file(
    path: Union[str, "os.PathLike[str]"],
    mode: str = "rb",
    *,
    checksum: ChecksumLike = "none",
    max_frame_len: Optional[int] = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    fsync: bool = False,
) -> Any:
    """A file as an :class:`AsyncStreamReader` (``"rb"``) or an
    :class:`AsyncStreamWriter` (``"wb"``, ``"ab"``, ``"xb"``) that owns it.
    Reads and writes run in a thread; use with ``async with``. With
    ``fsync=True`` every flush of the writer is also an ``os.fsync``."""
    if mode not in ("rb", "wb", "ab", "xb"):
        raise ValueError(f"mode must be 'rb', 'wb', 'ab' or 'xb', not {mode!r}")
    loop = asyncio.get_running_loop()
    file = await loop.run_in_executor(None, lambda: builtins.open(path, mode, buffering=0))
    if mode == "rb":
        return AsyncStreamReader(
            AsyncFileSource(file),
            checksum,
            max_frame_len=max_frame_len,
            chunk_size=chunk_size,
            close_source=True,
        )
    return AsyncStreamWriter(AsyncFileSink(file, fsync=fsync), checksum, max_frame_len=max_frame_len)


def follow(path: Union[str, "os.PathLike[str]"], checksum: ChecksumLike = None, **options: Any) -> Any:
    """The async twin of :func:`flatstream.follow`: ``async for payload in
    flatstream.aio.follow(path, ...)`` (same options, same events)."""
    from .follow import AsyncFollower

    return AsyncFollower(path, checksum, **options)
