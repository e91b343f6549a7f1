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


def test_writes_of_one_loop_turn_reach_the_transport_as_one_write_without_an_await() -> None:
    class Transport:
        def __init__(self) -> None:
            self.writes: List[bytes] = []

        def write(self, data: bytes) -> None:
            self.writes.append(bytes(data))

        async def drain(self) -> None:
            pass

        def close(self) -> None:
            pass

    async def main() -> None:
        transport = Transport()
        out = fs.AsyncStreamWriter(transport, "crc32")
        reused = bytearray(b"first")
        out.write_payload(reused)
        reused[:] = b"XXXXX"  # asyncio lets a caller reuse its buffer once write returns
        out.write_payload(b"second")
        assert transport.writes == []  # gathered, not yet handed on
        await asyncio.sleep(0)  # the writing task yields once: the turn's frames go out together
        expected = fs.ChecksumFramer("crc32").frame_many([b"first", b"second"])
        assert transport.writes == [expected]
        out.write_many([b"x" * 70_000])  # past the cork's limit: handed on at once
        assert len(transport.writes) == 2
        out.write_payload(b"third")
        await out.drain()  # drain hands on what is gathered before it waits
        assert transport.writes[-1] == fs.ChecksumFramer("crc32").frame_many([b"third"])
        out.write_payload(b"last")
        out.close()  # and so does close
        assert transport.writes[-1] == fs.ChecksumFramer("crc32").frame_many([b"last"])
        stream = b"".join(transport.writes)
        assert [bytes(p) for p in fs.StreamReader(stream, fs.ChecksumDeframer("crc32"))] == [
            b"first", b"second", b"x" * 70_000, b"third", b"last"]

    asyncio.run(main())


def test_frames_of_concurrent_tasks_are_never_interleaved() -> None:
    async def main() -> List[bytes]:
        received: List[bytes] = []
        done = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async for payload in fs.AsyncStreamReader(reader, "xxh3_64"):
                received.append(bytes(payload))
            done.set()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        _, transport = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        out = fs.AsyncStreamWriter(transport, "xxh3_64")

        async def producer(k: int) -> None:
            for i in range(200):
                out.write_payload(bytes([k]) * (1 + (i * 31 + k) % 2000))
                if i % 7 == k % 7:
                    await asyncio.sleep(0)

        await asyncio.gather(*(producer(k) for k in range(5)))
        await out.aclose()
        await asyncio.wait_for(done.wait(), 10)
        server.close()
        await server.wait_closed()
        return received

    received = asyncio.run(main())
    assert len(received) == 1000
    for k in range(5):
        mine = [p for p in received if p[0] == k]
        assert [len(p) for p in mine] == [1 + (i * 31 + k) % 2000 for i in range(200)]
        assert all(p == bytes([k]) * len(p) for p in mine)
