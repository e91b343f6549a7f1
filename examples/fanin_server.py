"""Fan-in: a server accepting many producers over TCP (or a Unix socket) and
appending every frame they send to one file.

    python examples/fanin_server.py --port 7000 --out capture.fs --checksum xxh3_64
    python examples/fanin_server.py --port 7000 --out capture.fsj --format journal

Each connection has its own :class:`flatstream.AsyncStreamReader`; all of them
write into one :class:`flatstream.AsyncStreamWriter` over the file. A frame is
written in one synchronous call, so frames from different producers never
interleave inside each other; the file is one valid stream. A producer that
sends a torn or corrupt frame is disconnected after its last good frame, which
is kept; the others carry on. With ``--format journal`` the output is a
journal (``fs.open(..., format="journal")``; appending to an existing one
verifies and repairs its tail first), written batch by batch from the event
loop: its writes go to the page cache, and the file's own buffer bounds them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any, Dict, Optional

import flatstream as fs
from flatstream import aio


class JournalOut:
    """A journal writer with the part of :class:`flatstream.AsyncStreamWriter`
    the fan-in uses (``write_many``, ``drain``, ``aclose``, ``frames_written``)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write_many(self, payloads: Any) -> None:
        self.writer.write_many(payloads)

    async def drain(self) -> None:
        """Nothing to wait for: each batch is already in the file's buffer."""

    async def aclose(self) -> None:
        self.writer.close()  # writes the footer: a cleanly closed journal

    @property
    def frames_written(self) -> int:
        return int(self.writer.frames_written)


class FanIn:
    """Accepts producers and appends their frames to ``out``."""

    def __init__(self, out: Any, checksum: str, max_frame_len: int = 1 << 20):
        self.out = out
        self.checksum = checksum
        self.max_frame_len = max_frame_len
        self.connections = 0
        self.rejected: Dict[str, int] = {}
        self.active = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.active += 1
        self.idle.clear()
        frames = fs.AsyncStreamReader(reader, self.checksum, max_frame_len=self.max_frame_len)
        try:
            async for batch in frames.iter_batches(1024):
                self.out.write_many(batch)
                await self.out.drain()  # backpressure from the file reaches the socket
        except fs.FlatstreamError as error:
            name = type(error).__name__
            self.rejected[name] = self.rejected.get(name, 0) + 1
        finally:
            writer.close()
            self.active -= 1
            if not self.active:
                self.idle.set()


async def serve(
    out_path: str,
    checksum: str,
    host: str = "127.0.0.1",
    port: int = 0,
    unix: Optional[str] = None,
    format: str = "raw",
) -> Any:
    """Start the server; returns ``(server, fanin)``. Close ``fanin.out`` when done."""
    out: Any
    if format == "journal":
        mode = "ab" if os.path.exists(out_path) else "wb"
        out = JournalOut(fs.open(out_path, mode, format="journal", checksum=checksum))
    else:
        out = await aio.open_file(out_path, "ab", checksum=checksum)
    fanin = FanIn(out, checksum)
    if unix is not None:
        server = await asyncio.start_unix_server(fanin.handle, unix)
    else:
        server = await asyncio.start_server(fanin.handle, host, port)
    return server, fanin


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--unix", help="listen on this Unix socket path instead of TCP")
    parser.add_argument("--out", required=True)
    parser.add_argument("--checksum", default="xxh3_64")
    parser.add_argument("--format", choices=["raw", "journal"], default="raw")
    args = parser.parse_args()
    server, fanin = await serve(args.out, args.checksum, args.host, args.port, args.unix, args.format)
    print("listening on", [s.getsockname() for s in server.sockets])
    try:
        async with server:
            await server.serve_forever()
    finally:
        await fanin.out.aclose()
        print(f"{fanin.out.frames_written} frames from {fanin.connections} producers")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
