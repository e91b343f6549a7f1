"""Where everything is in a journal: one native pass over its frames.

The kernels scan the raw frames (checksums verified, in both kernel modes);
numpy then tells metadata frames (reserved ``FSJ?`` identifiers) from user
frames without Python per frame. Metadata frames are decoded and checked
against where they sit (``self_offset``, frame numbering), so a damaged index
or footer is an error, never a wrong count.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from .. import _kernels
from ..wire.checksums import BuiltinChecksum
from ..wire.decoder import make_error
from ..errors import ChecksumMismatch, InvalidFrame
from ..wire.framing import DEFAULT_MAX_FRAME_LEN
from .records import (
    BLOCK_ID,
    FOOTER_ID,
    INDEX_ID,
    NO_OFFSET,
    RESERVED_PREFIX,
    FooterRecord,
    IndexRecord,
    decode_block,
    decode_footer,
    decode_index,
    encode_footer,
    encode_index,
)

__all__ = ["Layout", "BlockRef", "scan_layout", "salvage_layout", "footer_frame_len", "index_frame_len",
           "last_index", "read_footer", "tail_count", "parse_index_frame", "parse_footer_frame",
           "read_index_at", "index_chain", "last_frames_start"]

_U32 = struct.Struct("<I")


@dataclass
class BlockRef:
    offset: int  # of the block frame
    first_frame: int
    frame_count: int
    raw_size: int = 0


@dataclass
class Layout:
    """User frames, blocks and index records of a journal, and how it ends."""

    #: Payload offsets and lengths of the user frames (uncompressed journals).
    user_offsets: np.ndarray
    user_lengths: np.ndarray
    blocks: List[BlockRef]
    indexes: List[IndexRecord]
    frame_count: int
    payload_bytes: int
    #: Offset just past the last good frame.
    end_offset: int
    torn: bool
    #: The footer, when it is the last frame.
    footer: Optional[FooterRecord]
    metadata_frames: int = 0
    metadata_bytes: int = 0
    footers: List[int] = field(default_factory=list)
    #: Byte ranges read past (:func:`salvage_layout` only).
    skipped: List[Tuple[int, int]] = field(default_factory=list)


def footer_frame_len(width: int) -> int:
    """Every footer frame has this length (all fields are always written)."""
    return 4 + width + len(encode_footer(FooterRecord(0, 0, 0, 0, 0)))


def index_frame_len(width: int) -> int:
    """Every index frame has this length (all fields are always written)."""
    return 4 + width + len(encode_index(IndexRecord(0, 0, 0, 0, 0, 0)))


def last_index(buf: Any, checksum: BuiltinChecksum, header_end: int, base: int = 0) -> Optional[IndexRecord]:
    """The last intact index frame, found from the end without a scan: the
    nearest ``FSJI`` identifier whose frame has the index length, verifies and
    records its own offset. None when there is none. ``buf`` holds the file's
    bytes from offset ``base`` on (the whole file, or a window at its end)."""
    width = checksum.width
    flen = index_frame_len(width)
    lo = max(0, header_end - base)
    hi = len(buf)
    while True:
        at = buf.rfind(INDEX_ID, lo, hi)
        if at < 0:
            return None
        hi = at + 3  # the next candidate ends before this one's last byte
        pos = at - 8 - width
        if pos + base < header_end or pos < 0 or pos + flen > len(buf):
            continue
        try:
            return parse_index_frame(buf[pos:pos + flen], checksum, pos + base)
        except (InvalidFrame, ChecksumMismatch):
            continue


def parse_index_frame(frame: Any, checksum: BuiltinChecksum, pos: int) -> IndexRecord:
    """The index frame ``frame`` (its bytes, length prefix first), which must
    sit at file offset ``pos``: its length, checksum and ``self_offset``
    verified (InvalidFrame, or ChecksumMismatch, when one is wrong)."""
    width = checksum.width
    flen = index_frame_len(width)
    if len(frame) != flen or _U32.unpack_from(frame, 0)[0] != flen - 4 - width:
        raise InvalidFrame(f"no index frame at byte {pos}", offset=pos)
    payload = frame[4 + width:flen]
    if width:
        stored = int.from_bytes(bytes(frame[4:4 + width]), "little")
        calculated = checksum.compute(payload)
        if stored != calculated:
            raise make_error("checksum", stored, calculated, pos, width, flen)
    record = decode_index(payload)
    if record.self_offset != pos:
        raise InvalidFrame(f"the index frame at byte {pos} says it is at {record.self_offset}", offset=pos)
    return record


def read_footer(buf: Any, checksum: BuiltinChecksum, header_end: int) -> Optional[FooterRecord]:
    """The footer if the journal's last frame is a valid one, else None."""
    pos = len(buf) - footer_frame_len(checksum.width)
    if pos < header_end:
        return None
    return parse_footer_frame(buf[pos:], checksum, pos)


def parse_footer_frame(frame: Any, checksum: BuiltinChecksum, pos: int) -> Optional[FooterRecord]:
    """The footer in ``frame`` (the file's last ``footer_frame_len`` bytes,
    starting at file offset ``pos``), or None when they are not a valid footer
    recording that offset (the journal was not closed)."""
    width = checksum.width
    flen = footer_frame_len(width)
    if len(frame) != flen or _U32.unpack_from(frame, 0)[0] != flen - 4 - width:
        return None
    payload = memoryview(frame)[4 + width:flen]
    if bytes(payload[4:8]) != FOOTER_ID:
        return None
    if width:
        stored = int.from_bytes(bytes(frame[4:4 + width]), "little")
        if stored != checksum.compute(payload):
            return None
    try:
        footer = decode_footer(payload)
    except InvalidFrame:
        return None
    if footer.self_offset != pos:
        return None
    return footer


def scan_layout(
    buf: Any,
    checksum: BuiltinChecksum,
    header_end: int,
    *,
    max_frame_len: Optional[int] = None,
    threads: int = 1,
    base_frames: int = 0,
    base_offset: int = 0,
) -> Layout:
    """Scan every frame of ``buf`` after ``header_end`` (see the module
    docstring); ``base_frames`` user frames precede it (a tail scan after an
    index). ``base_offset``: where ``buf`` starts in the file (a range read of
    part of a journal); offsets in the layout are positions in ``buf``, the
    metadata frames' recorded offsets are checked against the file's."""
    width = checksum.width
    limit = DEFAULT_MAX_FRAME_LEN if max_frame_len is None else max_frame_len
    offsets_b, lengths_b, scanned, _, stop, status, a, b = _kernels.scan_all(
        buf, header_end, width, checksum.name if width else None, limit, threads, True
    )
    # Errors number the frame in the file as a raw stream (the header is frame 0),
    # which is where `flatstream dump -c` and a hex editor find it.
    if status == _kernels.LIMIT:
        raise make_error("limit", a, b, stop, width, len(buf) - stop, scanned + 1)
    if status == _kernels.CHECKSUM:
        raise make_error("checksum", a, b, stop, width, len(buf) - stop, scanned + 1)
    offsets = np.frombuffer(offsets_b or b"", dtype="<u8")  # collect=True: never None
    lengths = np.frombuffer(lengths_b or b"", dtype="<u4")
    return _classify(buf, checksum, offsets, lengths, stop, status != _kernels.CLEAN,
                     base_frames, strict=True, base_offset=base_offset)


def salvage_layout(
    buf: Any,
    checksum: BuiltinChecksum,
    header_end: int,
    *,
    max_frame_len: Optional[int] = None,
) -> Layout:
    """The frames that verify, read through damage: after a bad frame,
    scanning goes on from the next offset where a frame verifies (as
    :func:`flatstream.salvage` does); the skipped byte ranges are in
    ``Layout.skipped``. Index and footer frames are not trusted for counts
    (damage may have cost frames they count), so frames are numbered as they
    survive; a torn last frame with nothing valid after it is a torn tail, as
    in :func:`scan_layout`."""
    from ..io.salvage import find_resync

    width = checksum.width
    limit = DEFAULT_MAX_FRAME_LEN if max_frame_len is None else max_frame_len
    end = len(buf)
    pos, torn = header_end, False
    offsets_parts: List[np.ndarray] = []
    lengths_parts: List[np.ndarray] = []
    skipped: List[Tuple[int, int]] = []
    while True:
        offsets_b, lengths_b, stop, status, _a, _b = _kernels.scan(
            buf, pos, width, checksum.name, limit, 1 << 62
        )
        offsets_parts.append(np.frombuffer(offsets_b, dtype="<u8"))
        lengths_parts.append(np.frombuffer(lengths_b, dtype="<u4"))
        if status == _kernels.CLEAN:
            break
        resync = find_resync(buf, stop + 1, checksum.name, width, limit)
        if resync is None:
            if status == _kernels.CHECKSUM or status == _kernels.LIMIT:
                skipped.append((stop, end))  # damage, then nothing valid to the end
            else:
                torn = True  # the last frame runs past the end: a torn tail
            break
        skipped.append((stop, resync))
        pos = resync
    layout = _classify(buf, checksum, np.concatenate(offsets_parts), np.concatenate(lengths_parts),
                       stop, torn, 0, strict=False)
    layout.skipped = skipped
    return layout


def _classify(
    buf: Any,
    checksum: BuiltinChecksum,
    offsets: np.ndarray,
    lengths: np.ndarray,
    stop: int,
    torn: bool,
    base_frames: int,
    *,
    strict: bool,
    base_offset: int = 0,
) -> Layout:
    """Metadata frames told from user frames and, with ``strict``, checked
    against where they sit; without it (frames read through damage) index
    frames are left out and blocks numbered as they come."""
    width = checksum.width
    hl = 4 + width
    meta_mask = np.zeros(len(offsets), dtype=bool)
    if len(offsets):
        data = np.frombuffer(buf, dtype=np.uint8)
        long_enough = lengths >= 8
        where = offsets[long_enough].astype(np.int64) + (hl + 4)
        prefix = (
            (data[where] == RESERVED_PREFIX[0])
            & (data[where + 1] == RESERVED_PREFIX[1])
            & (data[where + 2] == RESERVED_PREFIX[2])
        )
        meta_mask[np.flatnonzero(long_enough)[prefix]] = True
        del data
    user = ~meta_mask
    user_offsets = offsets[user] + np.uint64(hl)
    user_lengths = lengths[user]
    blocks: List[BlockRef] = []
    indexes: List[IndexRecord] = []
    footers: List[int] = []
    frames_seen = 0  # user frames before the metadata frame in hand
    # Walk metadata frames in file order; user frames between them are counted
    # from the positions (searchsorted), not one by one.
    meta_positions = np.flatnonzero(meta_mask)
    user_before = np.cumsum(user)  # user frames up to and including each frame
    footer: Optional[FooterRecord] = None
    block_frames = 0
    for k in meta_positions.tolist():
        off = int(offsets[k])
        at = off + base_offset  # in the file
        # A copy (metadata frames are small, blocks are parsed for their
        # header only): no view of the mapping outlives this call, even when
        # an error carries this frame in its traceback.
        payload = buf[off + hl:off + hl + int(lengths[k])]
        ident = bytes(payload[4:8])
        frames_seen = base_frames + int(user_before[k]) + block_frames
        if not strict:
            if ident == BLOCK_ID:
                blk = decode_block(payload)
                blocks.append(BlockRef(off, frames_seen, blk.frame_count, blk.raw_size))
                block_frames += blk.frame_count
            continue
        if ident == INDEX_ID:
            rec = decode_index(payload)
            if rec.self_offset != at:
                raise InvalidFrame(
                    f"index frame records offset {rec.self_offset}, but sits at {at}", offset=at
                )
            if rec.first_frame + rec.frame_count != frames_seen or rec.first_offset > at:
                raise InvalidFrame(
                    f"index frame covers frames {rec.first_frame}..{rec.first_frame + rec.frame_count}, "
                    f"but {frames_seen} user frames precede it", offset=at,
                )
            if indexes and rec.prev_index_offset != indexes[-1].self_offset:
                raise InvalidFrame("index chain is broken (previous index offset differs)", offset=at)
            indexes.append(rec)
        elif ident == BLOCK_ID:
            blk = decode_block(payload)
            if blk.first_frame != frames_seen:
                raise InvalidFrame(
                    f"block starts at frame {blk.first_frame}, but {frames_seen} precede it", offset=at
                )
            blocks.append(BlockRef(off, blk.first_frame, blk.frame_count, blk.raw_size))
            block_frames += blk.frame_count
        elif ident == FOOTER_ID:
            rec_f = decode_footer(payload)
            if rec_f.self_offset != at or rec_f.frame_count != frames_seen:
                raise InvalidFrame(
                    f"footer says {rec_f.frame_count} frames at offset {rec_f.self_offset}; "
                    f"it sits at {at} after {frames_seen} frames", offset=at,
                )
            footers.append(at)
            if k == len(offsets) - 1 and not torn:
                footer = rec_f
        # other FSJ? identifiers: a later format version's frames, skipped
    payload_total = int(user_lengths.sum(dtype=np.uint64))
    if blocks:  # a block's raw bytes are a u32 length prefix per payload, then the payload
        payload_total = sum(b.raw_size - 4 * b.frame_count for b in blocks)
    frame_count = int(user.sum()) + block_frames
    if blocks and len(user_offsets):
        raise InvalidFrame("journal mixes compressed blocks with plain user frames")
    return Layout(
        user_offsets=user_offsets,
        user_lengths=user_lengths,
        blocks=blocks,
        indexes=indexes,
        frame_count=frame_count,
        payload_bytes=payload_total,
        end_offset=stop,
        torn=torn,
        footer=footer,
        metadata_frames=len(meta_positions),
        metadata_bytes=int((lengths[meta_mask].astype(np.uint64) + np.uint64(hl)).sum()),
        footers=footers,
    )


def tail_count(
    buf: Any, checksum: BuiltinChecksum, header_end: int, *, max_frame_len: Optional[int] = None,
    threads: int = 1,
    walk_chain: bool = True,
) -> Optional[Tuple[IndexRecord, Layout, int]]:
    """For a journal without a footer: the last intact index frame, the scan
    of only its segment and the frames after it (which re-checks the index
    against the frames it covers), and the user payload bytes before that
    segment (from the verified index chain; without ``walk_chain`` the chain
    is not read, the frame number only bounded by the bytes before it, and the
    bytes are reported as -1). None when there is no index."""
    record = last_index(buf, checksum, header_end)
    if record is None:
        return None
    if not header_end <= record.first_offset <= record.self_offset:
        raise InvalidFrame("the last index frame's segment starts outside the journal",
                           offset=record.self_offset)
    if record.first_frame > (record.first_offset - header_end) // (4 + checksum.width):
        raise InvalidFrame(
            f"the last index frame numbers its segment from {record.first_frame}, more frames "
            "than the bytes before it can hold", offset=record.self_offset,
        )
    before = chain_payload_bytes(buf, checksum, record) - record.payload_bytes if walk_chain else -1
    tail = scan_layout(buf, checksum, record.first_offset, max_frame_len=max_frame_len,
                       threads=threads, base_frames=record.first_frame)
    if not tail.indexes or tail.indexes[0].self_offset != record.self_offset:
        raise InvalidFrame("the last index frame is not where its segment's frames lead",
                           offset=record.self_offset)
    return record, tail, before


def read_index_at(buf: Any, checksum: BuiltinChecksum, pos: int) -> IndexRecord:
    """The index frame that must be at ``pos`` (a chain link), verified."""
    flen = index_frame_len(checksum.width)
    if pos < 0 or pos + flen > len(buf):
        raise InvalidFrame(f"the index chain points at byte {pos}, where no index frame is", offset=pos)
    return parse_index_frame(buf[pos:pos + flen], checksum, pos)


def index_chain(read_index: Callable[[int], IndexRecord], last: IndexRecord, max_links: int) -> List[IndexRecord]:
    """Every index record, first to ``last``, walking the chain back with
    ``read_index(offset)``; a chain that loops, skips frames, points nowhere
    or has more than ``max_links`` links is InvalidFrame."""
    chain = [last]
    record = last
    while record.prev_index_offset != NO_OFFSET:
        if len(chain) >= max_links or record.prev_index_offset >= record.self_offset:
            raise InvalidFrame("the index chain does not go strictly backwards", offset=record.self_offset)
        prev = read_index(record.prev_index_offset)
        if prev.first_frame + prev.frame_count != record.first_frame:
            raise InvalidFrame("index frames disagree on frame numbers", offset=record.self_offset)
        chain.append(prev)
        record = prev
    if record.first_frame != 0:
        raise InvalidFrame("the first index frame does not start at frame 0", offset=record.self_offset)
    chain.reverse()
    return chain


def chain_payload_bytes(buf: Any, checksum: BuiltinChecksum, last: IndexRecord) -> int:
    """User payload bytes of every segment, walking the index chain back from
    ``last``; a chain that loops, skips frames or points nowhere is InvalidFrame."""
    chain = index_chain(lambda pos: read_index_at(buf, checksum, pos), last,
                        len(buf) // index_frame_len(checksum.width) + 1)
    return sum(record.payload_bytes for record in chain)


def last_frames_start(
    buf: Any, checksum: BuiltinChecksum, header_end: int, n: int, *,
    max_frame_len: Optional[int] = None, threads: int = 1,
) -> Tuple[int, int, int]:
    """Where the last ``n`` user frames of a journal begin, for a reader that
    goes on from there (``flatstream tail -f``): ``(offset, number, total)``,
    the byte offset of the frame to read first (a user frame, or the block
    frame holding user frame ``total - n``), the user frame number of the
    first message at that offset, and how many user frames there are.

    Only the index chain (walked back from the last intact index frame, a
    few small reads) and the frames from the chosen index segment on are
    scanned; a journal without index frames is scanned whole."""
    hl = 4 + checksum.width
    record = last_index(buf, checksum, header_end)
    scan_from, base = header_end, 0
    layout: Optional[Layout] = None
    if record is not None:
        layout = scan_layout(buf, checksum, record.first_offset, max_frame_len=max_frame_len,
                             threads=threads, base_frames=record.first_frame)
        want = record.first_frame + layout.frame_count - n
        scan_from, base = record.first_offset, record.first_frame
        # Walk the chain back (index frames only) to the segment holding frame `want`.
        links = len(buf) // index_frame_len(checksum.width) + 1
        while record.first_frame > want and record.prev_index_offset != NO_OFFSET and links:
            prev = read_index_at(buf, checksum, record.prev_index_offset)
            if prev.first_frame + prev.frame_count != record.first_frame:
                raise InvalidFrame("index frames disagree on frame numbers", offset=record.self_offset)
            record, links, layout = prev, links - 1, None
        if layout is None:
            scan_from, base = record.first_offset, record.first_frame
    if layout is None:
        layout = scan_layout(buf, checksum, scan_from, max_frame_len=max_frame_len,
                             threads=threads, base_frames=base)
    total = base + layout.frame_count
    want = max(base, total - n)
    if want >= total:
        return layout.end_offset, total, total
    if layout.blocks:
        for ref in layout.blocks:
            if ref.first_frame <= want < ref.first_frame + ref.frame_count:
                return ref.offset, ref.first_frame, total
        raise InvalidFrame(f"no block holds frame {want}", offset=scan_from)  # pragma: no cover
    return int(layout.user_offsets[want - base]) - hl, want, total
