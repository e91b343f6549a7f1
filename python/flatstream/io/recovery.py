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
from typing import Any, Iterator, Optional

from ..errors import CorruptionDetected, UnexpectedEof
from ..wire.checksums import ChecksumLike, is_builtin
from ..wire.framing import ChecksumDeframer, Deframer, DefaultDeframer
from .reader import StreamReader, is_buffer_source
from .reports import RecoveryEnd, RecoveryReport
from .salvage import find_resync, frames_from

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
        name, limit = deframer.checksum.name, deframer.max_frame_len
        resync = find_resync(data, base + last_good + 1, name, width, limit)
        if resync is None:
            return
        frames_after = frames_from(data, resync, name, width, limit)
        raise CorruptionDetected(
            offset=base + last_good,
            frame_index=frames,
            resync_offset=resync,
            frames_after=frames_after,
        )


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
