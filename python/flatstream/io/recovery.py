"""Crash recovery of a journal: find where the good frames end.

A journal whose writer died mid-append ends in a torn frame. :func:`recover`
scans from the start and reports how many complete frames there are, where
they end, and whether the stream ends cleanly or torn. Only a torn tail
authorises truncation; corruption (a checksum mismatch, an over-limit length,
a validation failure) and OS errors are raised unchanged, because cutting
there could destroy good data after it, or a good file read with the wrong
settings.

The crash story::

    with open(path, "r+b") as f:
        report = fs.recover_file(f, fs.ChecksumDeframer("xxh3_64"))
        if report.end is fs.RecoveryEnd.TORN_TAIL:
            f.truncate(report.last_good_offset)   # the file is positioned there too
    with fs.open(path, "ab", checksum="xxh3_64") as w:
        w.write_payload(b"appended after recovery")
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from .. import _kernels
from ..errors import CorruptionDetected, UnexpectedEof
from ..wire.checksums import ChecksumLike, is_builtin
from ..wire.framing import ChecksumDeframer, Deframer, DefaultDeframer
from .reader import StreamReader, is_buffer_source
from .reports import RecoveryEnd, RecoveryReport

__all__ = ["RecoveryEnd", "RecoveryReport", "recover", "recover_file"]


def recover(
    source: Any,
    deframer: Optional[Deframer] = None,
    *,
    checksum: ChecksumLike = None,
    max_frame_len: Optional[int] = None,
) -> RecoveryReport:
    """Scan ``source`` (a file-like from its current position, or a buffer) and
    report its good frames. Raises on corruption and OS errors; see the module
    docstring. Without ``deframer``, a journal (recognised by its header) is
    read with the checksum its header names; frames then counts every frame,
    metadata included.

    ``checksum=`` and ``max_frame_len=`` say how the stream was written, as for
    :func:`fs.open`; ``deframer`` is the expert form (give one or the other).

    A frame whose declared length runs past the end is a torn tail only if
    nothing valid follows it: with a checksum, the bytes after the last good
    frame are searched for a frame that verifies, and if one is found,
    :class:`~flatstream.CorruptionDetected` is raised instead of reporting
    ``TORN_TAIL`` (a damaged length in the middle of a capture must not get
    the rest of it cut off). The search needs the bytes in place: a buffer,
    a mappable file, or a ``BytesIO``; other streams cannot be truncated anyway.
    """
    if deframer is not None and (checksum is not None or max_frame_len is not None):
        raise ValueError("give either a deframer or checksum=/max_frame_len=, not both")
    if deframer is None and (checksum is not None or max_frame_len is not None):
        deframer = Deframer(checksum if checksum is not None else "none", max_frame_len)
    if deframer is None:
        deframer = _journal_deframer(source)
    deframer = deframer if deframer is not None else DefaultDeframer()
    base = _position(source)
    reader = StreamReader(source, deframer)
    frames = 0
    try:
        while reader.read_message() is not None:
            frames += 1
    except UnexpectedEof:
        _refuse_if_valid_frames_follow(source, base, reader.offset, frames, deframer)
        return RecoveryReport(frames, reader.offset, RecoveryEnd.TORN_TAIL)
    finally:
        reader.close()
    return RecoveryReport(frames, reader.offset, RecoveryEnd.CLEAN_EOF)


def _position(source: Any) -> int:
    """Where a file-like source is now (offsets are counted from there)."""
    if is_buffer_source(source):
        return 0
    try:
        return int(source.tell())
    except (AttributeError, OSError, ValueError):
        return 0


@contextlib.contextmanager
def _bytes_in_place(source: Any) -> Iterator[Optional[Any]]:
    """The whole of ``source`` as a buffer without reading it into memory, or
    None when it cannot be had (a pipe, a socket)."""
    if is_buffer_source(source):
        yield memoryview(source).cast("B") if memoryview(source).format != "B" else source
        return
    getbuffer = getattr(source, "getbuffer", None)
    if callable(getbuffer):  # io.BytesIO
        with getbuffer() as view:
            yield view
        return
    fileno = getattr(source, "fileno", None)
    try:
        if not callable(fileno) or os.fstat(fileno()).st_size == 0:
            yield None
            return
        mapped = mmap.mmap(fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError, io.UnsupportedOperation):
        yield None
        return
    with mapped:
        yield mapped


def _refuse_if_valid_frames_follow(
    source: Any, base: int, last_good: int, frames: int, deframer: Deframer
) -> None:
    """Raise :class:`CorruptionDetected` when a frame that verifies starts
    anywhere after the last good frame (at ``base + last_good``)."""
    width = deframer.checksum.width
    if not width or not is_builtin(deframer.checksum):
        return  # nothing to tell a valid frame from garbage by
    with _bytes_in_place(source) as data:
        if data is None:
            return
        found = find_valid_frame(
            data, base + last_good + 1, deframer.checksum.name, width, deframer.max_frame_len
        )
        if found is None:
            return
        resync, frames_after = found
        raise CorruptionDetected(
            offset=base + last_good,
            frame_index=frames,
            resync_offset=resync,
            frames_after=frames_after,
        )


def find_valid_frame(
    data: Any, start: int, algorithm: str, width: int, max_frame_len: int
) -> Optional[Tuple[int, int]]:
    """The first offset at or after ``start`` where a frame with a plausible
    length (non-zero, within the limit and the buffer), a non-zero stored
    checksum and a valid ``algorithm`` checksum begins, and how many valid frames run on from there; None if
    there is none.

    Lengths at every offset are read at once (numpy) and only the offsets
    whose frame would fit are checked with the scan kernel, so a genuinely
    torn frame of random bytes costs little (few offsets declare a length
    that fits). Worst case, a crafted tail of lengths that all fit, it is
    one checksum per offset: quadratic in the tail's length.
    """
    header = 4 + width
    view = np.frombuffer(data, dtype=np.uint8)
    end = len(view)
    if start + header > end:
        return None
    tail = view[start:].astype(np.uint64)
    positions = len(tail) - header + 1
    lengths = (
        tail[0:positions]
        | (tail[1 : positions + 1] << np.uint64(8))
        | (tail[2 : positions + 2] << np.uint64(16))
        | (tail[3 : positions + 3] << np.uint64(24))
    )
    room = np.arange(end - start - header, end - start - header - positions, -1, dtype=np.int64)
    fits = (lengths <= np.uint64(max_frame_len)) & (lengths.astype(np.int64) <= room)
    # A frame counts as a resync point only if it holds bytes and a checksum
    # that is not zero: runs of zero bytes, common inside FlatBuffers, are
    # otherwise valid empty frames for the CRCs (and CRC-16/XMODEM of zeros
    # is zero), which would make every torn frame look like corruption.
    nonzero = np.zeros(positions, dtype=bool)
    for k in range(width):
        nonzero |= view[start + 4 + k : start + 4 + k + positions] != 0
    fits &= (lengths > np.uint64(0)) & nonzero
    for candidate in np.flatnonzero(fits):
        at = start + int(candidate)
        _offsets, frame_lengths, _stop, _status, _a, _b = _kernels.scan(
            data, at, width, algorithm, max_frame_len, 1 << 62
        )
        found = len(frame_lengths) // 4
        if found:
            return at, found
    return None


def _journal_deframer(source: Any) -> Optional[Deframer]:
    """The deframer of a journal's header checksum, when ``source`` starts one."""
    from ..journal.detect import NotAJournal, sniff
    try:
        if is_buffer_source(source):
            return ChecksumDeframer(sniff(source).checksum)
        fileno = getattr(source, "fileno", None)
        if not callable(fileno) or source.tell() != 0 or os.fstat(fileno()).st_size == 0:
            return None
        with mmap.mmap(fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return ChecksumDeframer(sniff(buf).checksum)
    except (NotAJournal, OSError, ValueError):
        return None  # not a journal, or not a mappable file: read as before


def recover_file(
    file: Any,
    deframer: Optional[Deframer] = None,
    *,
    checksum: ChecksumLike = None,
    max_frame_len: Optional[int] = None,
) -> RecoveryReport:
    """:func:`recover` from the start of a seekable ``file``, leaving it
    positioned at ``last_good_offset``: ready to truncate, or to append."""
    file.seek(0)
    report = recover(file, deframer, checksum=checksum, max_frame_len=max_frame_len)
    file.seek(report.last_good_offset)
    return report
