"""The asyncio reader and writer as a user meets them: checksum=, typed
messages, batches, counters, Unix sockets, files through a thread, torn and
corrupt input over real sockets, cancellation at many points, and many
concurrent producers into one file."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import pathlib
import struct
import sys
from typing import Any, List, Optional, Tuple

import flatbuffers
import pytest

import flatstream as fs
from flatstream import aio

ROOT = pathlib.Path(__file__).resolve().parent.parent


@fs.table(namespace="live")
class Reading:
    sensor: fs.u32
    value: fs.f64


def load_fanin() -> Any:
    spec = importlib.util.spec_from_file_location("fanin_server", ROOT / "examples/fanin_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fanin_server"] = module
    spec.loader.exec_module(module)
    return module


class Chunks:
    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    async def read(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + min(n, self.step)]
        self.pos += len(chunk)
        return chunk


def test_checksum_positionally_or_by_keyword() -> None:
    data = fs.ChecksumFramer("xxh3_64").frame_many([b"a", b"bc"])

    async def read(reader: fs.AsyncStreamReader) -> List[bytes]:
        return [bytes(p) async for p in reader]

    assert asyncio.run(read(fs.AsyncStreamReader(Chunks(data, 3), "xxh3_64"))) == [b"a", b"bc"]
    keyword = fs.AsyncStreamReader(Chunks(data, 3), checksum="xxh3_64", max_frame_len=10)
    assert keyword.deframer.max_frame_len == 10
    assert asyncio.run(read(keyword)) == [b"a", b"bc"]
    framed = fs.AsyncStreamReader(Chunks(data, 3), deframer=fs.ChecksumDeframer("xxh3_64"))
    assert asyncio.run(read(framed)) == [b"a", b"bc"]
    with pytest.raises(TypeError):
        fs.AsyncStreamReader(Chunks(data, 3), "crc32", deframer=fs.ChecksumDeframer("xxh3_64"))
    # The wrong checksum is refused, not misread.
    with pytest.raises(fs.ChecksumMismatch):
        asyncio.run(read(fs.AsyncStreamReader(Chunks(data, 3), "crc16")))
    # max_frame_len bounds what is read.
    with pytest.raises(fs.InvalidFrame):
        asyncio.run(read(fs.AsyncStreamReader(Chunks(data, 3), "xxh3_64", max_frame_len=1)))


def test_vocabulary_of_the_sync_reader() -> None:
    codec = fs.codec(Reading)
    payloads = [bytes(codec.encode(Reading(i, i / 2))) for i in range(50)]
    data = fs.ChecksumFramer("crc32c").frame_many(payloads)

    async def check() -> None:
        r = fs.AsyncStreamReader(Chunks(data, 17), "crc32c")
        typed = [m async for m in r.typed_messages(Reading)]
        assert [(m.sensor, m.value) for m in typed] == [(i, i / 2) for i in range(50)]
        assert r.frames_read == 50 and r.offset == len(data)

        seen: List[int] = []

        async def note(payload: Any) -> None:
            seen.append(len(payload))

        r = fs.AsyncStreamReader(Chunks(data, 100), "crc32c")
        assert await r.process_all(note) == 50
        assert seen == [len(p) for p in payloads]

        r = fs.AsyncStreamReader(Chunks(data, 100), "crc32c")
        batches = [[bytes(p) for p in b] async for b in r.iter_batches(8)]
        assert all(1 <= len(b) <= 8 for b in batches)
        assert [p for b in batches for p in b] == payloads
        with pytest.raises(ValueError):
            r.iter_batches(0)

        async with fs.AsyncStreamReader(Chunks(data, 100), "crc32c") as r:
            assert bytes(await r.read_message() or b"") == payloads[0]
        with pytest.raises(ValueError):
            await r.read_message()

    asyncio.run(check())


def test_batches_keep_good_frames_before_an_error() -> None:
    data = bytearray(fs.ChecksumFramer("crc32").frame_many([b"one", b"two", b"three"]))
    data[-1] ^= 1

    async def check() -> None:
        r = fs.AsyncStreamReader(Chunks(bytes(data), 1000), "crc32")
        batches = r.iter_batches(10)
        assert [bytes(p) for p in await batches.__anext__()] == [b"one", b"two"]
        with pytest.raises(fs.ChecksumMismatch):
            await batches.__anext__()

    asyncio.run(check())


async def unix_pair(tmp_path: pathlib.Path) -> Tuple[Any, asyncio.StreamReader, Any]:
    """A Unix-socket server handing the accepted (reader, writer) to a queue."""
    accepted: "asyncio.Queue[Tuple[asyncio.StreamReader, asyncio.StreamWriter]]" = asyncio.Queue()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    path = str(tmp_path / "s.sock")
    server = await asyncio.start_unix_server(on_client, path)
    creader, cwriter = await asyncio.open_unix_connection(path)
    sreader, swriter = await accepted.get()
    return server, sreader, (cwriter, swriter, creader)


def test_writer_over_a_unix_socket(tmp_path: pathlib.Path) -> None:
    async def check() -> None:
        server, sreader, (cwriter, swriter, _) = await unix_pair(tmp_path)
        async with fs.AsyncStreamWriter(cwriter, "xxh3_64") as out:
            out.write(Reading(7, 1.5))
            out.write_payload(b"raw")
            builder = flatbuffers.Builder(64)
            builder.Finish(builder.CreateString("built"))
            out.write_finished(builder)
            assert out.write_many([b"m1", b"m2"]) == 2
            await out.flush()
            assert out.frames_written == 5
            assert out.bytes_written > 5 * 12
        assert out.closed
        with pytest.raises(ValueError):
            out.write_payload(b"late")
        got = [bytes(p) async for p in fs.AsyncStreamReader(sreader, "xxh3_64")]
        assert len(got) == 5 and got[1] == b"raw" and got[3:] == [b"m1", b"m2"]
        assert fs.codec(Reading).decode(got[0]).sensor == 7
        swriter.close()
        server.close()
        await server.wait_closed()

    asyncio.run(check())


async def send_over_tcp(data: bytes, checksum: str) -> Tuple[List[bytes], Optional[BaseException]]:
    """Send ``data`` raw over loopback TCP; read it with the async reader."""
    result: "asyncio.Future[Tuple[List[bytes], Optional[BaseException]]]" = (
        asyncio.get_running_loop().create_future()
    )

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got: List[bytes] = []
        error: Optional[BaseException] = None
        try:
            async for payload in fs.AsyncStreamReader(reader, checksum, chunk_size=5):
                got.append(bytes(payload))
        except fs.FlatstreamError as exc:
            error = exc
        writer.close()
        result.set_result((got, error))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    writer.close()
    out = await asyncio.wait_for(result, 10)
    server.close()
    await server.wait_closed()
    return out


def test_torn_input_over_tcp_at_every_offset() -> None:
    payloads = [b"alpha", b"", b"gamma-gamma"]
    data = fs.ChecksumFramer("crc16").frame_many(payloads)
    ends = [0]
    for p in payloads:
        ends.append(ends[-1] + 6 + len(p))

    async def check() -> None:
        for cut in range(len(data) + 1):
            got, error = await send_over_tcp(data[:cut], "crc16")
            whole = max(i for i, end in enumerate(ends) if end <= cut)
            assert got == payloads[:whole], cut
            if cut in ends:
                assert error is None, cut
            else:
                assert isinstance(error, fs.UnexpectedEof) and isinstance(error, EOFError), cut
                assert error.offset == ends[whole]

    asyncio.run(check())


def test_corrupt_input_over_tcp_at_every_byte() -> None:
    payloads = [b"one", b"two-two"]
    data = fs.ChecksumFramer("crc32c").frame_many(payloads)

    async def check() -> None:
        for i in range(len(data)):
            bad = bytearray(data)
            bad[i] ^= 0x40
            got, error = await send_over_tcp(bytes(bad), "crc32c")
            # Never a wrong payload: a prefix of the good ones, then an error.
            assert got == payloads[: len(got)], i
            assert error is not None, i
            assert isinstance(error, (fs.ChecksumMismatch, fs.InvalidFrame, fs.UnexpectedEof))

    asyncio.run(check())


def test_cancelled_reads_lose_no_frame_over_tcp() -> None:
    payloads = [bytes([i % 256]) * (i % 40) for i in range(120)]
    data = fs.ChecksumFramer("crc32").frame_many(payloads)

    async def check() -> None:
        got: List[bytes] = []
        cancelled = 0
        done = asyncio.get_running_loop().create_future()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal cancelled
            frames = fs.AsyncStreamReader(reader, "crc32", chunk_size=3)
            while True:
                try:
                    payload = await asyncio.wait_for(frames.read_message(), 0.0005)
                except asyncio.TimeoutError:
                    cancelled += 1
                    continue
                if payload is None:
                    break
                got.append(bytes(payload))
            writer.close()
            done.set_result(None)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        # Drip the stream a few bytes at a time so reads are cancelled inside
        # headers and payloads alike.
        for i in range(0, len(data), 7):
            writer.write(data[i : i + 7])
            await writer.drain()
            await asyncio.sleep(0.001 if i % 3 else 0)
        writer.close()
        await asyncio.wait_for(done, 30)
        server.close()
        await server.wait_closed()
        assert got == payloads
        assert cancelled > 0  # the test did cancel reads (else it proves nothing)

    asyncio.run(check())


def test_cancellation_at_every_await_with_a_controlled_source() -> None:
    """Cancel a read after 0, 1, 2... source reads in turn: no byte is lost."""
    payloads = [b"x" * n for n in (0, 1, 9, 30)]
    data = fs.ChecksumFramer("crc32").frame_many(payloads)

    class Gated:
        def __init__(self) -> None:
            self.pos = 0
            self.allow = 0  # reads that may pass before the next one blocks
            self.blocked = asyncio.Event()

        async def read(self, n: int) -> bytes:
            if self.allow <= 0:
                self.blocked.set()
                await asyncio.sleep(3600)  # until cancelled
            self.allow -= 1
            chunk = data[self.pos : self.pos + min(n, 2)]
            self.pos += len(chunk)
            return chunk

    async def check() -> None:
        source = Gated()
        reader = fs.AsyncStreamReader(source, "crc32", chunk_size=2)
        got: List[bytes] = []
        step = 0
        while True:
            source.allow = step % 4
            source.blocked.clear()
            task = asyncio.ensure_future(reader.read_message())
            done, _ = await asyncio.wait([task, asyncio.ensure_future(source.blocked.wait())],
                                         return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                payload = task.result()
            else:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                source.allow = 10**9
                payload = await reader.read_message()
            step += 1
            if payload is None:
                break
            got.append(bytes(payload))
        assert got == payloads

    asyncio.run(check())


def test_file_reads_cancelled_in_their_thread_lose_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    payloads = [os.urandom(i % 300) for i in range(200)]
    with fs.open(path, "wb", checksum="xxh3_64") as w:
        w.write_many(payloads)

    async def check() -> None:
        got: List[bytes] = []
        async with await aio.open_file(path, "rb", checksum="xxh3_64", chunk_size=64) as r:
            source = r._source
            while True:
                # Cancel each read once its thread has started.
                task = asyncio.ensure_future(r.read_message())
                while source._pending is None and not task.done():
                    await asyncio.sleep(0)
                if not task.done():
                    task.cancel()
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
                    payload = await r.read_message()
                else:
                    payload = task.result()
                if payload is None:
                    break
                got.append(bytes(payload))
        assert got == payloads

    asyncio.run(check())


def test_file_writer_round_trip_and_modes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "w.fs"

    async def check() -> None:
        async with await aio.open_file(path, "xb", checksum="crc32c") as w:
            for i in range(1000):
                w.write_payload(struct.pack("<I", i))
                await w.drain()
        with pytest.raises(FileExistsError):
            await aio.open_file(path, "xb")
        async with await aio.open_file(path, "ab", checksum="crc32c") as w:
            w.write_payload(b"end")
        with pytest.raises(ValueError):
            await aio.open_file(path, "r")

    asyncio.run(check())
    with fs.open(path, "rb", checksum="crc32c") as r:
        got = [bytes(p) for p in r]
    assert got == [struct.pack("<I", i) for i in range(1000)] + [b"end"]


PRODUCERS = 50
FRAMES = int(os.environ.get("FLATSTREAM_FANIN_FRAMES", "200"))


@pytest.mark.parametrize("format", ["raw", "journal"])
def test_many_concurrent_producers_into_one_file(tmp_path: pathlib.Path, format: str) -> None:
    """50 producers over real TCP sockets into one file (raw, or a journal):
    every frame present exactly once. ``FLATSTREAM_FANIN_FRAMES=100000`` is
    the full load (``scripts/fanin_load.sh``)."""
    fanin_server = load_fanin()
    out_path = str(tmp_path / "fanin.fs")

    async def producer(port: int, pid: int) -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        out = fs.AsyncStreamWriter(writer, "xxh3_64")
        for seq in range(FRAMES):
            out.write_payload(struct.pack("<II", pid, seq))
            if seq % 64 == 0:
                await out.drain()
        await out.aclose()

    async def run() -> int:
        server, fanin = await fanin_server.serve(out_path, "xxh3_64", format=format)
        port = server.sockets[0].getsockname()[1]
        await asyncio.gather(*(producer(port, pid) for pid in range(PRODUCERS)))
        while fanin.connections < PRODUCERS:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(fanin.idle.wait(), 120)
        server.close()
        await server.wait_closed()
        await fanin.out.aclose()
        assert not fanin.rejected
        return int(fanin.out.frames_written)

    written = asyncio.run(run())
    seen: dict = {}
    options = {} if format == "journal" else {"checksum": "xxh3_64"}
    with fs.open(out_path, "rb", **options) as r:
        if format == "journal":
            assert len(r) == PRODUCERS * FRAMES  # from the footer: a clean close
        for payload in r:
            key = struct.unpack("<II", payload)
            seen[key] = seen.get(key, 0) + 1
    assert written == PRODUCERS * FRAMES
    assert len(seen) == PRODUCERS * FRAMES and set(seen.values()) == {1}
    assert set(seen) == {(p, s) for p in range(PRODUCERS) for s in range(FRAMES)}


def test_concurrent_drains_of_one_file_sink_lose_nothing(tmp_path: pathlib.Path) -> None:
    """Many tasks draining one file writer at once, each past the sink's high
    water (the fan-in under load): every task's frames land, none twice. The
    first task to see a write finish used to clear it under the others, whose
    drain then failed (frames lost with their connection)."""
    path = tmp_path / "drains.fs"
    tasks, frames = 20, 300

    async def run() -> None:
        # A high water of 256 bytes: nearly every drain starts or joins a write.
        sink = aio.AsyncFileSink(open(path, "wb", buffering=0), high_water=256)
        out = fs.AsyncStreamWriter(sink, "crc32c")

        async def task(tid: int) -> None:
            for seq in range(frames):
                out.write_payload(struct.pack("<II", tid, seq))
                await out.drain()

        await asyncio.gather(*(task(t) for t in range(tasks)))
        await out.aclose()

    asyncio.run(run())
    with fs.open(path, "rb", checksum="crc32c") as r:
        got = sorted(struct.unpack("<II", p) for p in r)
    assert got == [(t, s) for t in range(tasks) for s in range(frames)]
