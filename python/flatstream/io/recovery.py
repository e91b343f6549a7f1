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

from typing import Any, Optional

from ..errors import UnexpectedEof
from ..wire.framing import Deframer, DefaultDeframer
from .reader import StreamReader
from .reports import RecoveryEnd, RecoveryReport

__all__ = ["RecoveryEnd", "RecoveryReport", "recover", "recover_file"]


def recover(source: Any, deframer: Optional[Deframer] = None) -> RecoveryReport:
    """Scan ``source`` (a file-like from its current position, or a buffer) and
    report its good frames. Raises on corruption and OS errors; see the module
    docstring. Without ``deframer``, a journal (recognised by its header) is
    read with the checksum its header names; frames then counts every frame,
    metadata included."""
    if deframer is None:
        deframer = _journal_deframer(source)
    reader = StreamReader(source, deframer if deframer is not None else DefaultDeframer())
    frames = 0
    try:
        while reader.read_message() is not None:
            frames += 1
    except UnexpectedEof:
        return RecoveryReport(frames, reader.offset, RecoveryEnd.TORN_TAIL)
    finally:
        reader.close()
    return RecoveryReport(frames, reader.offset, RecoveryEnd.CLEAN_EOF)


def _journal_deframer(source: Any) -> Optional[Deframer]:
    """The deframer of a journal's header checksum, when ``source`` starts one."""
    import mmap
    import os

    from ..wire.framing import ChecksumDeframer
    from ..journal.detect import NotAJournal, sniff
    from .reader import is_buffer_source

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


def recover_file(file: Any, deframer: Optional[Deframer] = None) -> RecoveryReport:
    """:func:`recover` from the start of a seekable ``file``, leaving it
    positioned at ``last_good_offset``: ready to truncate, or to append."""
    file.seek(0)
    report = recover(file, deframer)
    file.seek(report.last_good_offset)
    return report
