"""atheris target: crash recovery (fs.recover) over arbitrary bytes.

Input: a checksum, a limit, chunk sizes and flags, then the journal bytes.
Properties, in both kernel modes and over bytes, a chunked file-like and a
seekable file (``recover_file``):

- recover returns a RecoveryReport or raises ChecksumMismatch / InvalidFrame
  / CorruptionDetected (corruption is never reported as a torn tail; nothing
  else escapes), and agrees with the pure-Python scan twin on frames, offset
  and end, and with a brute-force search on where valid frames resume after
  a frame that runs past the end (bytes and files; a read()-only stream
  cannot search and reports the tear);
- a TORN_TAIL report's ``last_good_offset``, cut there, re-scans as a clean
  stream of the same frame count; ``recover_file`` leaves the file there, and
  after truncating and appending one frame the journal recovers CLEAN_EOF with
  one frame more (the crash story of the recovery module).

Run: scripts/fuzz.sh recover [seconds]
"""

from __future__ import annotations

import io
import struct
import sys
from typing import Any, Tuple

from fuzz_common import (
    Input,
    checksum_from,
    chunk_sizes_from,
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

from fuzz_decoder import ChunkedSource, describe, oracle
from fuzz_salvage import resync_after

Outcome = Tuple[Any, ...]


def attempt(call: Any) -> Outcome:
    try:
        report = call()
    except fs.CorruptionDetected as error:
        return ("corrupt", error.frame_index, error.offset, error.resync_offset)
    except (fs.ChecksumMismatch, fs.InvalidFrame) as error:
        return describe(error)
    assert isinstance(report, fs.RecoveryReport), report
    return ("report", report.frames, report.last_good_offset, report.end)


def expected_outcome(stream: bytes, checksum: Any, limit: int) -> Outcome:
    frames, end = oracle(stream, checksum, limit)
    if end[0] == "end":
        return ("report", len(frames), end[1], fs.RecoveryEnd.CLEAN_EOF)
    if end[0] == "eof":
        resync = first_valid_frame_after(stream, end[1] + 1, checksum, limit)
        if resync is not None:
            return ("corrupt", len(frames), end[1], resync)
        return ("report", len(frames), end[1], fs.RecoveryEnd.TORN_TAIL)
    return end


def first_valid_frame_after(stream: bytes, start: int, checksum: Any, limit: int) -> Any:
    """The brute-force oracle of recovery's resync search (the salvage
    target's: a non-empty frame within the limit, with a non-zero stored
    checksum that matches, that fits and that the stream goes on after)."""
    if not checksum.width or not fs.wire.checksums.is_builtin(checksum):
        return None
    return resync_after(stream, start, checksum, limit)


def clean_frame_count(data: bytes, checksum: Any, limit: int) -> int:
    """Frames in ``data`` per the pure scan twin, which must find it clean."""
    width = checksum.width
    verify = checksum.name if fs.wire.checksums.is_builtin(checksum) and width else None
    _offsets, lengths, stop, status, _a, _b = _kernels.pure.scan(
        data, 0, width, verify, limit, 1 << 62
    )
    assert (status, stop) == (_kernels.CLEAN, len(data)), (status, stop, len(data))
    return len(lengths) // struct.calcsize("<I")


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    checksum = fs.resolve_checksum(checksum_from(inp.byte(), inp.byte()))
    limit = limit_from(inp)
    sizes = chunk_sizes_from(inp)
    flags = inp.byte()
    stream = inp.rest()
    if flags & 1:
        stream = repair(stream, checksum.width, checksum.compute if checksum.width else None)
    deframer = fs.ChecksumDeframer(checksum, limit)

    expected = expected_outcome(stream, checksum, limit)
    for mode in modes():
        with kernels(mode):
            got = attempt(lambda: fs.recover(stream, deframer))
            assert got == expected, (mode, "bytes", got, expected)
            got = attempt(lambda: fs.recover(ChunkedSource(stream, sizes), deframer))
            # A stream read through read() cannot be searched ahead: it reports the tear.
            streamed = expected if expected[0] != "corrupt" else (
                "report", expected[1], expected[2], fs.RecoveryEnd.TORN_TAIL)
            assert got == streamed, (mode, "chunked", got, streamed)
            journal = io.BytesIO(stream)
            journal.seek(len(stream) // 2)  # recover_file must start from 0 anyway
            got = attempt(lambda: fs.recover_file(journal, deframer))
            assert got == expected, (mode, "file", got, expected)
            if got[0] != "report":
                continue
            _, frames, last_good, end = got
            assert journal.tell() == last_good, (journal.tell(), last_good)
            if end is fs.RecoveryEnd.TORN_TAIL:
                prefix = stream[:last_good]
                again = attempt(lambda: fs.recover(prefix, deframer))
                assert again == ("report", frames, last_good, fs.RecoveryEnd.CLEAN_EOF), again
                assert clean_frame_count(prefix, checksum, deframer.max_frame_len) == frames
                journal.truncate(last_good)
            appended = bytes([flags]) * (flags % 5)
            if len(appended) <= limit:
                writer = fs.StreamWriter(journal, fs.ChecksumFramer(checksum))
                writer.write_payload(appended)
                writer.flush()
                total = last_good + 4 + checksum.width + len(appended)
                after = attempt(lambda: fs.recover_file(journal, deframer))
                want = ("report", frames + 1, total, fs.RecoveryEnd.CLEAN_EOF)
                assert after == want, (mode, after, want)
                assert journal.tell() == len(journal.getvalue())


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
