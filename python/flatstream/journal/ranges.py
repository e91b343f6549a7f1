"""Cutting a journal into byte ranges at frame boundaries, from its index, without a scan.

A reader that spreads one journal over many workers (``flatstream.dask``)
needs to know where it can cut before anything is read. The index frames
say it (``docs/journal-format.md`` section 4): each closes a segment and
records the segment's first frame number, its frame count and its key range,
and they form a backward chain from the footer. :func:`plan_ranges` reads
only the footer and the chain, through a ``read(start, end)`` callable (a
memory map, or range requests over fsspec), checking each link as
``JournalReader`` does, and groups whole segments into ranges;
:func:`range_payloads` later scans one range on its own and checks it
against what the index promised.

A journal that was not closed has no footer: the last intact index frame is
found from the end (a small window first, growing), and the frames after it
form a last range whose frame count is unknown until it is read (a torn last
frame there is left out, as ``fs.scan`` leaves it out).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from ..errors import InvalidFrame
from ..wire.checksums import BuiltinChecksum
from . import blocks
from .detect import WIDTHS, Sniffed, sniff
from .layout import (
    footer_frame_len,
    index_chain,
    index_frame_len,
    last_index,
    parse_footer_frame,
    parse_index_frame,
    scan_layout,
)
from .records import HEADER_ID, KEY_NONE, NO_OFFSET, IndexRecord, bits_key, decode_block

__all__ = ["ReadRange", "JournalRange", "read_header", "plan_ranges", "range_payloads"]

#: ``read(start, end)``: exactly the bytes ``[start, end)`` of the file.
ReadRange = Callable[[int, int], Any]

_U32 = struct.Struct("<I")
#: Bytes read first to find the header (it holds the schema, usually a few KiB;
#: a longer header is read again whole, a raw stream costs only this).
HEAD_BYTES = 4096
#: The first window searched for the last index frame of a journal that was not closed.
TAIL_WINDOW = 1 << 20


@dataclass(frozen=True)
class JournalRange:
    """Bytes ``[start, end)`` of a journal: whole segments (and the metadata
    frames between them), starting at user frame ``first_frame``."""

    start: int
    end: int
    first_frame: int
    #: User frames the index says the range holds; None for the unindexed
    #: frames after the last index frame of a journal that was not closed.
    frames: Optional[int]
    #: (min, max) of the header's key field over the range, from the index; None if unknown.
    key_range: Optional[Tuple[Any, Any]]
    #: Whether the range runs to the end of the file (only there may the last frame be torn).
    last: bool


def read_header(read: ReadRange, size: int) -> Sniffed:
    """The journal's checksum and header from the start of the file
    (:class:`NotAJournal` when it has none): a first read of ``HEAD_BYTES``,
    and a second one only if the header frame is longer."""
    prefix = read(0, min(size, HEAD_BYTES))
    if len(prefix) >= 4:
        length = _U32.unpack_from(prefix, 0)[0]
        for width in WIDTHS:
            at = 4 + width + 4
            end = 4 + width + length
            if bytes(prefix[at:at + 4]) == HEADER_ID and len(prefix) < end <= size:
                prefix = read(0, end)
                break
    return sniff(prefix)


def _find_last_index(read: ReadRange, size: int, checksum: BuiltinChecksum, header_end: int,
                     whole: Any) -> Optional[IndexRecord]:
    if whole is not None:
        return last_index(whole, checksum, header_end)
    window = TAIL_WINDOW
    while True:
        base = max(header_end, size - window)
        found = last_index(read(base, size), checksum, header_end, base)
        if found is not None or base == header_end:
            return found
        window *= 4


def plan_ranges(
    read: ReadRange,
    size: int,
    sniffed: Sniffed,
    *,
    max_bytes: Optional[int] = None,
    max_frames: Optional[int] = None,
    whole: Any = None,
) -> List[JournalRange]:
    """Ranges tiling the journal from its header to ``size``, each of whole
    index segments, a new range starting once one reaches ``max_bytes`` file
    bytes or ``max_frames`` frames (neither: one range). Only the footer and
    the index chain are read. ``whole``: the whole file as a buffer, if it
    is mapped (the last index is then searched there, without copies).
    A chain that is broken, or disagrees with the footer, is InvalidFrame."""
    checksum, header_end = sniffed.checksum, sniffed.header_end
    kind = sniffed.header.key_kind
    index_len = index_frame_len(checksum.width)
    footer_at = size - footer_frame_len(checksum.width)
    footer = parse_footer_frame(read(footer_at, size), checksum, footer_at) if footer_at >= header_end else None

    def read_index(pos: int) -> IndexRecord:
        if pos < header_end or pos + index_len > size:
            raise InvalidFrame(f"the index chain points at byte {pos}, outside the journal", offset=pos)
        return parse_index_frame(read(pos, pos + index_len), checksum, pos)

    if footer is not None:
        last = None if footer.last_index_offset == NO_OFFSET else read_index(footer.last_index_offset)
    else:
        last = _find_last_index(read, size, checksum, header_end, whole)
    chain = index_chain(read_index, last, (size - header_end) // index_len + 1) if last is not None else []
    if footer is not None:
        indexed = sum(r.frame_count for r in chain)
        if indexed != footer.frame_count or len(chain) != footer.index_count:
            raise InvalidFrame(
                f"the footer counts {footer.frame_count} frames in {footer.index_count} index segments, "
                f"the index chain {indexed} in {len(chain)}", offset=footer_at,
            )

    ranges: List[JournalRange] = []
    group: List[IndexRecord] = []
    start = header_end

    def close(end: int, is_last: bool) -> None:
        nonlocal start, group
        first = group[0].first_frame if group else (ranges[-1].first_frame + (ranges[-1].frames or 0)
                                                    if ranges else 0)
        frames = sum(r.frame_count for r in group)
        keys = None
        if kind != KEY_NONE and group:
            keys = (min(bits_key(r.key_min, kind) for r in group), max(bits_key(r.key_max, kind) for r in group))
        ranges.append(JournalRange(start, end, first, frames, keys, is_last))
        start, group = end, []

    for record in chain:
        group.append(record)
        end = record.self_offset + index_len
        if (max_bytes is not None and end - start >= max_bytes) or (
            max_frames is not None and sum(r.frame_count for r in group) >= max_frames
        ):
            close(end, False)
    if footer is not None:
        if group or not ranges:
            close(size, True)
        else:  # the footer (and nothing else the index covers) follows the last range
            ranges[-1] = JournalRange(ranges[-1].start, size, ranges[-1].first_frame, ranges[-1].frames,
                                      ranges[-1].key_range, True)
        return ranges
    if group:
        close(group[-1].self_offset + index_len, False)
    tail_first = chain[-1].first_frame + chain[-1].frame_count if chain else 0
    ranges.append(JournalRange(start, size, tail_first, None, None, True))
    return ranges


def range_payloads(
    buf: Any,
    checksum: BuiltinChecksum,
    journal_range: JournalRange,
    *,
    start: int,
    base_offset: int = 0,
    max_frame_len: Optional[int] = None,
    max_block_size: int = blocks.MAX_BLOCK_SIZE,
) -> Tuple[Any, np.ndarray, np.ndarray]:
    """The user payloads of ``journal_range`` as ``(buffer, payload_offsets,
    lengths)``: ``buf`` itself and positions in it for plain frames, or the
    decompressed payloads of a compressed journal's blocks joined in a new
    buffer. ``buf`` holds file bytes from ``base_offset`` and ends at the
    range's end; the range starts at ``start`` in ``buf``. Every frame's
    checksum is verified; frames that stop early (other than a torn last
    frame of the file) or disagree with the index are InvalidFrame."""
    layout = scan_layout(buf, checksum, start, max_frame_len=max_frame_len, threads=1,
                         base_frames=journal_range.first_frame, base_offset=base_offset)
    if layout.torn and not journal_range.last:
        at = base_offset + layout.end_offset
        raise InvalidFrame(f"the frames stop at byte {at}, inside a range the index covers: corruption "
                           "(see salvage)", offset=at)
    if journal_range.frames is not None and layout.frame_count != journal_range.frames:
        raise InvalidFrame(
            f"bytes {journal_range.start}..{journal_range.end} hold {layout.frame_count} user frames, "
            f"the index says {journal_range.frames}", offset=journal_range.start,
        )
    if not layout.blocks:
        return buf, layout.user_offsets, layout.user_lengths
    from ..schema.columnar import join_payloads

    hl = 4 + checksum.width
    payloads: List[Any] = []
    for ref in layout.blocks:
        length = _U32.unpack_from(buf, ref.offset)[0]
        record = decode_block(memoryview(buf)[ref.offset + hl:ref.offset + hl + length])
        payloads.extend(blocks.split(blocks.decompress(record, max_block_size), record.frame_count))
    return join_payloads(payloads)
