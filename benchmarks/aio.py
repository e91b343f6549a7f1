"""asyncio TCP throughput of small frames: flatstream's AsyncStreamWriter /
AsyncStreamReader against the same loop with msgpack over asyncio streams
(``Packer`` + ``Unpacker.feed``), in one run, over loopback.

    .venv/bin/python -m benchmarks.aio [--frames 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import struct
import time
from typing import Any, Awaitable, Callable, List

import msgpack

import flatstream as fs

BATCH = 256


def payloads(n: int) -> List[bytes]:
    return [struct.pack("<QQd", i, i * 7, i / 3) for i in range(n)]


async def run_pair(
    send: Callable[[asyncio.StreamWriter], Awaitable[None]],
    receive: Callable[[asyncio.StreamReader], Awaitable[int]],
) -> float:
    result: "asyncio.Future[int]" = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        result.set_result(await receive(reader))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.perf_counter()
    await send(writer)
    await result
    elapsed = time.perf_counter() - start
    server.close()
    await server.wait_closed()
    return elapsed


def flatstream_pair(items: List[bytes]) -> Any:
    async def send(writer: asyncio.StreamWriter) -> None:
        out = fs.AsyncStreamWriter(writer, "xxh3_64")
        for i in range(0, len(items), BATCH):
            for payload in items[i : i + BATCH]:
                out.write_payload(payload)
            await out.drain()
        await out.aclose()

    async def receive(reader: asyncio.StreamReader) -> int:
        n = 0
        async for payload in fs.AsyncStreamReader(reader, "xxh3_64"):
            n += len(payload) > 0
        return n

    return send, receive


def flatstream_batches_pair(items: List[bytes]) -> Any:
    send, _ = flatstream_pair(items)

    async def receive(reader: asyncio.StreamReader) -> int:
        n = 0
        async for batch in fs.AsyncStreamReader(reader, "xxh3_64").iter_batches(4096):
            for payload in batch:
                n += len(payload) > 0
        return n

    return send, receive


def msgpack_pair(items: List[bytes]) -> Any:
    async def send(writer: asyncio.StreamWriter) -> None:
        pack = msgpack.Packer().pack
        for i in range(0, len(items), BATCH):
            for payload in items[i : i + BATCH]:
                writer.write(pack(payload))
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def receive(reader: asyncio.StreamReader) -> int:
        unpacker = msgpack.Unpacker()
        n = 0
        while True:
            data = await reader.read(256 * 1024)
            if not data:
                return n
            unpacker.feed(data)
            for payload in unpacker:
                n += len(payload) > 0

    return send, receive


PEERS = (
    ("flatstream async for", flatstream_pair),
    ("flatstream iter_batches", flatstream_batches_pair),
    ("msgpack", msgpack_pair),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    items = payloads(args.frames)
    best = {}
    for _ in range(args.repeat):
        for name, pair in PEERS:
            elapsed = asyncio.run(run_pair(*pair(items)))
            best[name] = min(best.get(name, elapsed), elapsed)
    print(f"{args.frames} frames of 24 bytes over loopback TCP, best of {args.repeat}")
    print(f"{'peer':<26}{'frames/s':>14}{'ratio':>8}")
    for name, _ in PEERS:
        rate = args.frames / best[name]
        print(f"{name:<26}{rate:>14,.0f}{best['msgpack'] / best[name]:>8.2f}x")


if __name__ == "__main__":
    main()
