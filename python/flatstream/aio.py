"""asyncio front ends: the same decoder, fed from ``await source.read(n)``.

    reader, writer = await asyncio.open_connection(host, port)
    async with fs.AsyncStreamReader(reader, fs.ChecksumDeframer("xxh3_64")) as frames:
        async for payload in frames:
            ...

    out = fs.AsyncStreamWriter(writer, fs.ChecksumFramer("xxh3_64"))
    out.write_payload(b"...")
    await out.drain()
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Optional

from .wire.decoder import DEFAULT_CHUNK_SIZE, END, NEED_DATA, FrameDecoder
from .wire.framing import DefaultFramer, Deframer, DefaultDeframer, Framer
from .io.writer import StreamWriter

__all__ = ["AsyncStreamReader", "AsyncStreamWriter"]


class AsyncStreamReader:
    """Payloads from any object with ``async read(n)`` (an ``asyncio.StreamReader``).

    A payload is valid until the reader advances, as with :class:`StreamReader`
    over a file-like; errors and their order are the same.
    """

    def __init__(
        self,
        source: Any,
        deframer: Optional[Deframer] = None,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self.deframer = deframer if deframer is not None else DefaultDeframer()
        self._source = source
        self._chunk = chunk_size
        self._decoder = FrameDecoder(
            self.deframer.checksum,
            self.deframer.max_frame_len,
            steps=self.deframer.steps,
            release_views=True,
        )

    @property
    def offset(self) -> int:
        return self._decoder.offset  # type: ignore[no-any-return]

    async def read_message(self) -> Optional[Any]:
        """The next payload, or ``None`` at a clean end of the stream."""
        decoder = self._decoder
        while True:
            event = decoder.next_frame()
            if event is END:
                return None
            if event is not NEED_DATA:
                return event
            while True:
                try:
                    data = await self._source.read(max(self._chunk, decoder.bytes_needed))
                    break
                except InterruptedError:
                    continue
            if data:
                decoder.feed(data)
            else:
                decoder.feed_eof()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Any]:
        while True:
            payload = await self.read_message()
            if payload is None:
                return
            yield payload

    async def __aenter__(self) -> "AsyncStreamReader":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


class AsyncStreamWriter:
    """Frames messages onto an ``asyncio.StreamWriter`` (anything with ``write``
    and ``async drain()``). ``write*`` buffer the frame; ``await drain()``
    applies backpressure, as with the underlying writer."""

    def __init__(self, transport: Any, framer: Optional[Framer] = None) -> None:
        self._transport = transport
        self._writer = StreamWriter(transport, framer if framer is not None else DefaultFramer())

    def write(self, item: Any) -> None:
        self._writer.write(item)

    def write_payload(self, data: Any) -> None:
        self._writer.write_payload(data)

    def write_many(self, items: Any) -> int:
        return self._writer.write_many(items)

    async def drain(self) -> None:
        await self._transport.drain()

    async def aclose(self) -> None:
        """Drain, then close the transport."""
        await self._transport.drain()
        self._transport.close()
        wait_closed = getattr(self._transport, "wait_closed", None)
        if wait_closed is not None:
            await wait_closed()
