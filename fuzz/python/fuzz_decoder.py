"""atheris target: the frame decoder and StreamReader over arbitrary bytes.

Input: a checksum (a built-in, or a custom one of width 1..8), a limit, chunk
sizes and flags, then the stream. Properties, in both kernel modes (native
and pure-Python, swapped as tests/conftest.py does):

- every driver (a streaming decoder fed in arbitrary chunks, a decoder over
  the whole buffer, a StreamReader over a chunked file-like and over bytes)
  yields exactly the frames the pure-Python scan twin finds, then ends the way
  it says: cleanly, or with UnexpectedEof / InvalidFrame / ChecksumMismatch
  carrying the right fields and offset, and nothing else ever escapes;
- errors are sticky; payload views a caller keeps from a decoder still show
  their bytes, while those a reader over a file-like has moved past refuse use;
- the native kernels give the same results as their twins, call by call.

Run: scripts/fuzz.sh decoder [seconds]
"""

from __future__ import annotations

import struct
import sys
from typing import Any, Iterator, List, Optional, Tuple

from fuzz_common import (
    CHECKSUM_NAMES,
    Input,
    checksum_from,
    chunk_sizes_from,
    chunks,
    instrumented,
    kernels,
    limit_from,
    modes,
    repair,
    run,
)

with instrumented():
    import flatstream as fs
    from flatstream import _kernels
    from flatstream.wire.checksums import is_builtin

Outcome = Tuple[Any, ...]
Result = Tuple[List[bytes], Outcome]


def describe(error: fs.FlatstreamError) -> Outcome:
    """The fields of a decoding error that the oracle predicts."""
    if isinstance(error, fs.UnexpectedEof):
        return ("eof", error.offset, error.needed, error.available)
    if isinstance(error, fs.InvalidFrame):
        return ("limit", error.offset, error.declared_len, error.limit)
    if isinstance(error, fs.ChecksumMismatch):
        return ("checksum", error.offset, error.expected, error.calculated)
    raise AssertionError(f"unexpected FlatstreamError {error!r}")


def oracle(stream: bytes, checksum: Any, limit: int) -> Result:
    """What a decoder must yield, from the pure-Python scan twin."""
    width = checksum.width
    builtin = is_builtin(checksum)
    verify = checksum.name if builtin and width else None
    offsets_b, lengths_b, stop, status, a, b = _kernels.pure.scan(
        stream, 0, width, verify, min(limit, 0xFFFFFFFF), 1 << 62
    )
    count = len(lengths_b) // 4
    offsets = struct.unpack(f"<{count}Q", offsets_b)
    lengths = struct.unpack(f"<{count}I", lengths_b)
    header = 4 + width
    frames = []
    for offset, length in zip(offsets, lengths):
        payload = stream[offset + header : offset + header + length]
        if not builtin and width:
            stored = int.from_bytes(stream[offset + 4 : offset + header], "little")
            calculated = checksum.compute(payload) & ((1 << (8 * width)) - 1)
            if stored != calculated:
                return frames, ("checksum", offset, stored, calculated)
        frames.append(payload)
    if status == _kernels.CLEAN:
        return frames, ("end", stop)
    if status == _kernels.PARTIAL:
        return frames, ("eof", stop, a, len(stream) - stop)
    if status == _kernels.LIMIT:
        return frames, ("limit", stop, a, b)
    assert status == _kernels.CHECKSUM, status
    return frames, ("checksum", stop, a, b)


def sticky(call: Any, first: fs.FlatstreamError) -> None:
    """After an error, the next call raises the same error again."""
    try:
        call()
    except fs.FlatstreamError as again:
        assert type(again) is type(first) and describe(again) == describe(first), (again, first)
    else:
        raise AssertionError("a decoder error was not sticky")


def drive_streaming(
    stream: bytes, checksum: Any, limit: int, sizes: List[int], flags: int
) -> Result:
    """A sans-I/O decoder fed the stream in chunks."""
    decoder = fs.FrameDecoder(checksum, limit)
    pieces: Iterator[bytes] = chunks(stream, sizes)
    frames: List[bytes] = []
    kept: List[Any] = []
    while True:
        try:
            event = decoder.next_frame()
        except fs.FlatstreamError as error:
            sticky(decoder.next_frame, error)
            outcome = describe(error)
            break
        if event is fs.NEED_DATA:
            assert decoder.bytes_needed > 0, "NEED_DATA but no bytes needed"
            piece = next(pieces, None)
            if piece is None:
                decoder.feed_eof()
            else:
                if flags & 4:
                    decoder.feed(b"")
                decoder.feed(bytearray(piece) if flags & 16 else piece)
        elif event is fs.END:
            assert decoder.offset == len(stream)
            assert decoder.next_frame() is fs.END
            outcome = ("end", decoder.offset)
            break
        else:
            frames.append(bytes(event))
            if flags & 2:
                kept.append(event)  # held while the decoder moves on
            if flags & 8:
                decoder.reclaim()
    if kept:
        assert [bytes(v) for v in kept] == frames[: len(kept)], "a kept payload view changed"
    return frames, outcome


def drive_over(stream: bytes, checksum: Any, limit: int, flags: int) -> Result:
    """A decoder borrowing the complete buffer."""
    source: Any = memoryview(stream) if flags & 32 else stream
    decoder = fs.FrameDecoder.over(source, checksum, limit)
    frames: List[bytes] = []
    while True:
        try:
            event = decoder.next_frame()
        except fs.FlatstreamError as error:
            sticky(decoder.next_frame, error)
            return frames, describe(error)
        assert event is not fs.NEED_DATA, "a decoder over a whole buffer asked for data"
        if event is fs.END:
            return frames, ("end", decoder.offset)
        frames.append(bytes(event))


class ChunkedSource:
    """A file-like whose reads return arbitrary short pieces (as a pipe does)."""

    def __init__(self, data: bytes, sizes: List[int]) -> None:
        self.data = data
        self.sizes = sizes
        self.pos = 0
        self.calls = 0

    def read(self, n: int = -1) -> bytes:
        size = self.sizes[self.calls % len(self.sizes)] or len(self.data)
        self.calls += 1
        if n is not None and n >= 0:
            size = min(size, n)
        piece = self.data[self.pos : self.pos + size]
        self.pos += len(piece)
        return piece


def drive_reader(
    stream: bytes, checksum: Any, limit: int, sizes: List[int], flags: int
) -> Result:
    """A StreamReader over a chunked file-like, or over the bytes themselves."""
    deframer = fs.ChecksumDeframer(checksum, limit)
    source: Any = stream if flags & 64 else ChunkedSource(stream, sizes)
    chunk_size = 1 + ((flags >> 9) % 64) * 7  # small reads: many refills
    reader = fs.StreamReader(source, deframer, chunk_size=chunk_size)
    frames: List[bytes] = []
    batches = getattr(reader, "iter_batches", None)
    try:
        if flags & 0x8000 and batches is not None:
            for batch in batches(1 + (flags >> 12) % 8):
                frames.extend(bytes(payload) for payload in batch)
        elif flags & 1:
            for payload in reader:
                frames.append(bytes(payload))
        else:
            previous = None
            while True:
                payload = reader.read_message()
                if previous is not None and source is not stream:
                    # The reader reuses its buffer: a payload it has moved
                    # past must refuse use rather than show other bytes (at
                    # the end it may stay readable, showing its own bytes).
                    try:
                        seen = bytes(previous)
                    except ValueError:
                        pass
                    else:
                        assert payload is None, "a stale payload view still reads"
                        assert seen == frames[-1], "a payload view shows other bytes"
                if payload is None:
                    break
                frames.append(bytes(payload))
                previous = payload
    except fs.FlatstreamError as error:
        return frames, describe(error)
    finally:
        reader.close()
    return frames, ("end", reader.offset)


def kernels_agree(stream: bytes, inp: Input, sizes: List[int]) -> None:
    """The native kernels and their twins, call by call."""
    native, pure = _kernels.native, _kernels.pure
    if native is None:
        return
    for name in CHECKSUM_NAMES:
        assert native.checksum(name, stream) == pure.checksum(name, stream), name
    name = CHECKSUM_NAMES[inp.byte() % len(CHECKSUM_NAMES)]
    width = fs.resolve_checksum(name).width
    verify: Optional[str] = name if inp.byte() & 1 and width else None
    start = inp.byte()
    max_frames = inp.byte() % 5
    limit = limit_from(inp)
    for frames_per_call in (max_frames, 1 << 62):
        args = (stream, start, width, verify, limit, frames_per_call)
        assert native.scan(*args) == pure.scan(*args), args
    payloads = list(chunks(stream, sizes))
    limit = 1 << 32
    assert native.frame_many(payloads, width, name, limit) == pure.frame_many(
        payloads, width, name, limit
    )


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    checksum = fs.resolve_checksum(checksum_from(inp.byte(), inp.byte()))
    limit = limit_from(inp)
    sizes = chunk_sizes_from(inp)
    flags = inp.uint(2)
    stream = inp.rest()
    if flags & 0x100:
        compute = checksum.compute if checksum.width else None
        stream = repair(stream, checksum.width, compute)

    expected = oracle(stream, checksum, limit)
    for mode in modes():
        with kernels(mode):
            got = drive_streaming(stream, checksum, limit, sizes, flags)
            assert got == expected, (mode, "streaming", got, expected)
            got = drive_over(stream, checksum, limit, flags)
            assert got == expected, (mode, "over", got, expected)
            got = drive_reader(stream, checksum, limit, sizes, flags)
            assert got == expected, (mode, "reader", got, expected)
    kernels_agree(stream, Input(data[:8]), sizes)


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
