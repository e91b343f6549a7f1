"""The asyncio reader and writer over a real loopback TCP connection."""

from __future__ import annotations

import asyncio
from typing import List

import pytest

import flatstream as fs

PAYLOADS = [bytes([i % 251]) * (i * 37 % 3000) for i in range(300)]


async def roundtrip(checksum: str, chunk_size: int) -> List[bytes]:
    received: List[bytes] = []
    done = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = fs.AsyncStreamReader(reader, fs.ChecksumDeframer(checksum), chunk_size=chunk_size)
        async for payload in frames:
            received.append(bytes(payload))
        writer.close()
        done.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, transport = await asyncio.open_connection("127.0.0.1", port)
    out = fs.AsyncStreamWriter(transport, fs.ChecksumFramer(checksum))
    for i, payload in enumerate(PAYLOADS):
        if i % 3:
            out.write_payload(payload)
        else:
            out.write_many([payload])
        await out.drain()
    await out.aclose()
    await asyncio.wait_for(done.wait(), 10)
    server.close()
    await server.wait_closed()
    return received


@pytest.mark.parametrize("checksum", ["none", "crc16", "xxh3_64"])
@pytest.mark.parametrize("chunk_size", [1, 7, 65536])
def test_async_roundtrip_over_tcp(checksum: str, chunk_size: int) -> None:
    assert asyncio.run(roundtrip(checksum, chunk_size)) == PAYLOADS


class ChunkedSource:
    """An async source handing out fixed slices of a byte string."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    async def read(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + min(n, self.step)]
        self.pos += len(chunk)
        return chunk


def test_async_reader_reports_a_torn_tail_after_every_good_frame() -> None:
    data = fs.ChecksumFramer("crc32").frame_many([b"one", b"two", b"three"])

    async def read_all() -> List[bytes]:
        got: List[bytes] = []
        frames = fs.AsyncStreamReader(ChunkedSource(data[:-2], 4), fs.ChecksumDeframer("crc32"))
        with pytest.raises(fs.UnexpectedEof) as raised:
            async for payload in frames:
                got.append(bytes(payload))
        assert raised.value.offset == 22
        return got

    assert asyncio.run(read_all()) == [b"one", b"two"]


def test_async_reader_views_are_released_when_it_advances() -> None:
    data = fs.DefaultFramer().frame_many([b"first", b"second"])

    async def check() -> None:
        frames = fs.AsyncStreamReader(ChunkedSource(data, 100))
        first = await frames.read_message()
        assert first is not None and bytes(first) == b"first"
        second = await frames.read_message()
        assert second is not None and bytes(second) == b"second"
        with pytest.raises(ValueError):
            bytes(first)
        assert await frames.read_message() is None

    asyncio.run(check())
