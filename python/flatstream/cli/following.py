"""``tail -f``: where the last N frames begin (found by the native scan or a
journal's index, never by decoding the file), then every frame appended,
through ``fs.follow`` (one decoder sees each byte once: no frame printed
twice or skipped), across rotation: a directory or glob of segments is
followed segment after segment, and a followed file that is replaced
(renamed away, a new one created at its name) is finished and the new file
followed from its start."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import click

from .common import EXIT_TORN, Frame, Input


@dataclass(frozen=True)
class Start:
    """Where printing begins: byte ``offset`` in ``segment`` (None: the one
    file followed), whose first message is user frame ``number``; frames
    before ``first`` (inside a compressed block) are passed over."""

    segment: Optional[str]
    offset: int
    number: int
    first: int


def last_frames(path: Path, source: Input, n: int) -> Tuple[int, int, int]:
    """``(offset, number, total)`` of the last ``n`` frames of one file (see
    :func:`flatstream.journal.layout.last_frames_start`); a raw stream is
    indexed by one native scan (its torn tail, if any, is left out)."""
    from ..io.scanning import default_threads, mapped, scan

    if source.journal is not None:
        from ..journal.detect import sniff
        from ..journal.layout import last_frames_start

        with mapped(path) as buf:
            sniffed = sniff(buf)
            return last_frames_start(buf, sniffed.checksum, sniffed.header_end, n,
                                     max_frame_len=source.max_frame_len, threads=default_threads())
    index = scan(path, source.checksum, source.max_frame_len)
    total = len(index)
    if n == 0 or total == 0:
        return index.end_offset, total, total
    first = max(0, total - n)
    return int(index.offsets[first]), first, total


def segments_start(segments: List[str], source: Input, n: int) -> Start:
    """The start of the last ``n`` frames over ``segments`` (write order):
    the segments are counted from the last one back until they hold ``n``
    frames, and those before are counted (journals from their footers) to
    number the frames as one stream."""
    from ..io.scanning import AUTO, count

    remaining = n
    for k in range(len(segments) - 1, -1, -1):
        offset, number, total = last_frames(Path(segments[k]), source, remaining)
        if total - number >= remaining or k == 0:
            checksum = AUTO if source.journal is not None else source.checksum
            before = sum(count(segments[j], checksum, source.max_frame_len).frames for j in range(k))
            first = before + max(0, total - remaining)
            return Start(segments[k], offset, before + number, first)
        remaining -= total
    raise AssertionError("unreachable")  # pragma: no cover - k == 0 returns


def followed_frames(source: Input, target: Path, start: Start, *, timeout: Optional[float],
                    until_footer: bool, torn_is_error: bool = False) -> Iterator[Frame]:
    """Frames from ``start`` on, then every frame appended to ``target`` (a
    file, or segments). A journal's metadata frames are passed over, its
    compressed blocks opened; with ``until_footer`` its clean-close footer
    ends the follow. With ``torn_is_error`` (printing what is there, no -f),
    a last frame left half written at the end is a torn tail: exit 2."""
    from ..follow import follow, is_segments
    from ..journal import blocks
    from ..journal.records import BLOCK_ID, FOOTER_ID, decode_block, identifier_of, is_metadata

    journal = source.journal is not None
    until = (lambda payload: identifier_of(payload) == FOOTER_ID) if journal and until_footer else None
    hl = source.header_len
    offset, number, files = start.offset, start.number, 1
    segment = start.segment or str(target)
    follower = follow(
        target, source.checksum, timeout=timeout, until=until, max_frame_len=source.max_frame_len,
        on_replace="reopen", start=start.offset,
        first_segment=start.segment if is_segments(target) else None,
    )
    try:
        for payload in follower:
            if follower.files_opened != files:  # the next segment, or the file that replaced it
                files, offset, segment = follower.files_opened, 0, follower.segment or segment
            at = offset
            offset += hl + len(payload)
            if journal and is_metadata(payload):
                if identifier_of(payload) != BLOCK_ID:
                    continue  # header, index and footer frames
                record = decode_block(bytes(payload))
                for inner in blocks.split(blocks.decompress(record), record.frame_count):
                    if number >= start.first:
                        yield number, None, inner
                    number += 1
                continue
            if number >= start.first:
                yield number, at, payload
            number += 1
    finally:
        follower.close()
    if torn_is_error and follower.buffered:
        click.echo(f"error: {segment}: torn tail: the file ends {follower.buffered} bytes into a "
                   f"frame after byte {offset}", err=True)
        sys.exit(EXIT_TORN)
