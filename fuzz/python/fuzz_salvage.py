"""atheris target: salvage (fs.salvage and StreamReader(on_corruption="skip"))
over arbitrary, often damaged, streams.

Input: a checksum choice, a limit, flags, then the stream bytes (its frames'
checksums made right when flags say so, then garbage spliced in at
input-chosen places, so there is damage between valid frames to read past).
Properties, in both kernel modes:

- ``fs.salvage`` keeps exactly the frames, and skips exactly the byte ranges,
  of a brute-force oracle written here: read frames in order; at a bad one,
  try every later offset until a non-empty frame within the limit, with a
  non-zero stored checksum that matches, fits in the stream and is followed
  by a valid frame, the end, or the point the bad frame's length leads to
  (that point itself taken as is when a frame verifies there);
- what it copies to ``dst`` is those frames byte for byte, and scans clean;
- ``StreamReader(on_corruption="skip")`` yields the same payloads and calls
  ``on_skip`` with the same ranges, except that a torn tail with nothing valid
  after it raises ``UnexpectedEof`` after the last payload;
- a stream without a checksum is refused with ``ValueError`` (nothing to
  resync on), and salvage never raises anything else.

Run: scripts/fuzz.sh salvage [seconds]
"""

from __future__ import annotations

import io
import struct
import sys
from typing import Any, List, Optional, Tuple

from fuzz_common import CHECKSUM_NAMES, Input, instrumented, kernels, limit_from, modes, repair, run

with instrumented():
    import flatstream as fs

Frame = Tuple[int, int]  # (offset, payload length)


def frame_at(stream: bytes, at: int, checksum: Any, limit: int) -> Optional[int]:
    """The payload length of a valid frame starting at ``at``, or None."""
    header = 4 + checksum.width
    if at + header > len(stream):
        return None
    length = struct.unpack_from("<I", stream, at)[0]
    if length > limit or at + header + length > len(stream):
        return None
    stored = int.from_bytes(stream[at + 4 : at + header], "little")
    if checksum.compute(stream[at + header : at + header + length]) != stored:
        return None
    return int(length)


def resync_after(stream: bytes, start: int, checksum: Any, limit: int) -> Optional[int]:
    header = 4 + checksum.width

    def eligible(at: int) -> bool:
        length = frame_at(stream, at, checksum, limit)
        return bool(length) and any(stream[at + 4 : at + header])

    bad = start - 1
    declared_end = None
    if bad + 4 <= len(stream):
        candidate = bad + header + struct.unpack_from("<I", stream, bad)[0]
        if eligible(candidate):
            declared_end = candidate
    for at in range(start, len(stream) - header + 1):
        if not eligible(at):
            continue
        after = at + header + struct.unpack_from("<I", stream, at)[0]
        if at != declared_end and after not in (declared_end, len(stream)) and frame_at(
            stream, after, checksum, limit
        ) is None:
            continue  # nothing valid follows: a frame-shaped lookalike
        return at
    return None


def oracle(stream: bytes, checksum: Any, limit: int) -> Tuple[List[Frame], List[Frame], bool]:
    """(frames kept, ranges skipped, whether the last skip is a torn tail
    with nothing valid after it)."""
    frames: List[Frame] = []
    skipped: List[Frame] = []
    pos, end, header = 0, len(stream), 4 + checksum.width
    torn_end = False
    while pos < end:
        length = frame_at(stream, pos, checksum, limit)
        if length is not None:
            frames.append((pos, length))
            pos += header + length
            continue
        resync = resync_after(stream, pos + 1, checksum, limit)
        skipped.append((pos, end if resync is None else resync))
        if resync is None:
            declared = struct.unpack_from("<I", stream, pos)[0] if pos + 4 <= end else 0
            # what the reader calls a tear: the frame (or its header) runs past the end
            torn_end = pos + header > end or (
                declared <= limit and pos + header + declared > end
            )
            break
        pos = resync
    return frames, skipped, torn_end


def damaged(inp: Input, checksum: Any) -> bytes:
    flags = inp.byte()
    splices = [(inp.uint(2), inp.byte() % 9) for _ in range(inp.byte() % 4)]
    stream = inp.rest()
    if flags & 1:
        stream = repair(stream, checksum.width, checksum.compute)
    for at, size in splices:  # garbage between (or inside) frames
        at %= len(stream) + 1
        stream = stream[:at] + bytes([0xA5 ^ (at & 0xFF)]) * size + stream[at:]
    return stream


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    name = CHECKSUM_NAMES[inp.byte() % len(CHECKSUM_NAMES)]
    checksum = fs.resolve_checksum(name)
    limit = limit_from(inp)
    stream = damaged(inp, checksum)
    if not checksum.width:
        try:
            fs.salvage(stream, None, checksum=name)
        except ValueError:
            return
        raise AssertionError("salvage without a checksum must be refused")
    frames, skipped, torn_end = oracle(stream, checksum, limit)
    header = 4 + checksum.width
    kept = b"".join(stream[at : at + header + length] for at, length in frames)
    payloads = [stream[at + header : at + header + length] for at, length in frames]
    for mode in modes():
        with kernels(mode):
            out = io.BytesIO()
            report = fs.salvage(stream, out, checksum=name, max_frame_len=limit)
            assert report.frames == len(frames), (mode, report, frames)
            assert report.skipped == skipped, (mode, report.skipped, skipped)
            assert report.bytes_lost == sum(b - a for a, b in skipped)
            assert out.getvalue() == kept, mode
            summary = fs.count(kept, name, max_frame_len=max(limit, 1))
            assert (summary.frames, summary.end) == (len(frames), fs.RecoveryEnd.CLEAN_EOF)

            seen: List[Frame] = []
            reader = fs.StreamReader(
                stream,
                fs.ChecksumDeframer(name, limit),
                on_corruption="skip",
                on_skip=lambda a, b: seen.append((a, b)),
            )
            got: List[bytes] = []
            try:
                for payload in reader:
                    got.append(bytes(payload))
            except fs.UnexpectedEof:
                assert torn_end, (mode, "a tear raised where the oracle skips on")
                assert seen == skipped[:-1], (mode, seen, skipped)
            else:
                assert not torn_end, (mode, "a tear with nothing after it must raise")
                assert seen == skipped, (mode, seen, skipped)
            assert got == payloads, (mode, len(got), len(payloads))


def seeds() -> List[bytes]:
    """Streams of every built-in checksum: clean, torn, flipped, spliced."""
    out = []
    payloads = [b"", b"abc", b"hello world" * 3, bytes(range(40)), b"z"]
    for choice, name in enumerate(CHECKSUM_NAMES):
        good = fs.ChecksumFramer(name).frame_many(payloads)
        for splices in ([], [(5, 3)], [(len(good) // 2, 8), (1, 1)]):
            head = bytes([choice, 0, 0, len(splices)])
            for at, size in splices:
                head += at.to_bytes(2, "little") + bytes([size])
            out.append(head + good)
            out.append(head + good[:-3])
            flipped = bytearray(good)
            flipped[len(good) // 3] ^= 0x10
            out.append(head + bytes(flipped))
    return out


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
