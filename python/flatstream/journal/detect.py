"""Sniffing: is this buffer a journal, and with which checksum?

The header identifier ``FSJH`` sits at byte ``4 + N + 4`` for checksum width N;
for each width where it does, the header is parsed and its own frame checksum
verified with the algorithm it names. Nothing is allocated from the input.
"""

from __future__ import annotations

import struct
from typing import Any, List, NamedTuple

from ..wire.checksums import CHECKSUMS, BuiltinChecksum, resolve_checksum
from ..errors import ChecksumMismatch, FlatstreamError, InvalidFrame
from .records import HEADER_ID, HeaderRecord, decode_header

__all__ = ["NotAJournal", "DamagedHeader", "Sniffed", "sniff", "is_journal", "plausible_widths", "WIDTHS"]

WIDTHS = (0, 2, 4, 8)
_U32 = struct.Struct("<I")


class NotAJournal(InvalidFrame):
    """The file has no journal header (it may be a raw stream)."""


class DamagedHeader(NotAJournal):
    """The file starts like a journal (a header identifier where one goes),
    but that header does not verify: a damaged journal, not a raw stream."""


class Sniffed(NamedTuple):
    checksum: BuiltinChecksum
    header: HeaderRecord
    #: Byte offset just past the header frame.
    header_end: int


def _frame_ok(buf: Any, width: int, checksum: BuiltinChecksum) -> bool:
    length = _U32.unpack_from(buf, 0)[0]
    end = 4 + width + length
    if end > len(buf):
        return False
    if not width:
        return True
    stored = int.from_bytes(bytes(buf[4:4 + width]), "little")
    return stored == checksum.compute(memoryview(buf)[4 + width:end])


def plausible_widths(buf: Any) -> List[str]:
    """Checksums whose first frame would verify, read as a raw stream."""
    if len(buf) < 4:
        return []
    names = []
    for checksum in CHECKSUMS.values():
        if len(buf) >= 4 + checksum.width and _frame_ok(buf, checksum.width, checksum):
            names.append(f"{checksum.name} ({checksum.width} bytes)")
    return names


def sniff(buf: Any) -> Sniffed:
    """The journal's checksum and header, or :class:`NotAJournal`."""
    last_error: FlatstreamError | None = None
    for width in WIDTHS:
        at = 4 + width + 4
        if len(buf) < at + 4 or bytes(buf[at:at + 4]) != HEADER_ID:
            continue
        length = _U32.unpack_from(buf, 0)[0]
        end = 4 + width + length
        if end > len(buf):
            last_error = InvalidFrame(f"the journal header (width {width}) runs past the end of the file")
            continue
        try:
            header = decode_header(memoryview(buf)[4 + width:end])
            checksum = resolve_checksum(header.checksum)
        except (FlatstreamError, ValueError) as error:
            last_error = error if isinstance(error, FlatstreamError) else InvalidFrame(str(error))
            continue
        if not isinstance(checksum, BuiltinChecksum) or checksum.width != width:
            continue
        if width:
            stored = int.from_bytes(bytes(buf[4:4 + width]), "little")
            calculated = checksum.compute(memoryview(buf)[4 + width:end])
            if stored != calculated:
                last_error = ChecksumMismatch(stored, calculated, width=width, offset=0)
                continue
        return Sniffed(checksum, header, end)
    if last_error is not None:
        raise DamagedHeader(f"the journal header is damaged: {last_error}")
    fits = plausible_widths(buf)
    hint = (
        f"its first frame fits checksum {', '.join(fits)}" if fits
        else "no checksum width fits its first frame"
    )
    raise NotAJournal(
        f"this file has no journal header (not a journal: a raw stream?); {hint}. "
        "Pass checksum= to read it as a raw stream"
    )


def is_journal(buf: Any) -> bool:
    try:
        sniff(buf)
    except NotAJournal:
        return False
    return True
