"""Salvage: reading past corruption.

A damaged frame in the middle of a stream ends an ordinary read there. With a
checksum there is a way on (as LevelDB's log reader and Riegeli's recovery
do): search the bytes after the damage for the next offset where a frame with
a plausible length and a checksum that verifies begins, skip to it, and carry
on. :func:`find_resync` is that search; :func:`salvage` copies every frame
that survives into a new file; ``StreamReader(..., on_corruption="skip")``
reads through damage, reporting each skipped range to a callback;
recovery uses the same search to tell a torn tail from a damaged length.

Without a checksum nothing tells a frame from garbage, so every entry point
here refuses a stream with none.
"""

from __future__ import annotations

import builtins
import contextlib
import mmap
import os
from typing import Any, BinaryIO, Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as np

from .. import _kernels
from ..errors import ChecksumMismatch, FlatstreamError, InvalidFrame, UnexpectedEof
from ..wire.checksums import Checksum, ChecksumLike, is_builtin, resolve_checksum
from ..wire.decoder import FrameDecoder, bytes_view
from ..wire.framing import DEFAULT_MAX_FRAME_LEN

__all__ = ["SalvageReport", "salvage", "find_resync", "SkippingDecoder"]

#: Offsets examined per numpy pass of the resync search.
_WINDOW = 1 << 16


def find_resync(data: Any, start: int, algorithm: str, width: int, max_frame_len: int) -> Optional[int]:
    """The first offset at or after ``start`` where a frame with a plausible
    length (non-zero, within the limit and the buffer), a non-zero stored
    checksum and a valid ``algorithm`` checksum begins; None if there is none.
    ``start - 1`` is where the bad frame began.

    The native kernel (``src/kernels/resync.rs``) tries offset after offset;
    its twin here reads the lengths at a window of offsets at once (numpy)
    and checks only the offsets whose frame would fit, so a
    stretch of garbage costs about a pass over it. Empty frames and zero
    checksums are not resync points: runs of zero bytes (common inside
    FlatBuffers) are otherwise valid empty frames for the CRCs, and
    CRC-16/XMODEM of zeros is zero. Worst case (a crafted stretch of lengths
    that all fit) it is one checksum per offset.

    Damaged bytes are often a frame's payload, and structured payloads can
    hold frame-shaped bytes that verify (CRCs are linear: ``crc32c(b"\\xff")``
    is ``0xff000000``, so ``01 00 00 00 00 00 00 ff ff`` is a valid frame). So
    a candidate counts only if the stream goes on after it the way a writer
    leaves it: a valid frame follows, or the end, or the point the bad
    frame's own length leads to; and that point itself, when a frame verifies
    there, is taken as is (the bad frame's length was intact). A real frame
    chains on; a lookalike does not. The cost: an intact frame between a
    frame with a damaged length and more damage is skipped with them
    (reported in the skipped range, never silently).
    """
    if width == 0:
        raise ValueError("there is nothing to resync on without a checksum")
    native = _kernels.resync
    if native is not None:
        result: Optional[int] = native(data, start, algorithm, max_frame_len)
        return result
    # The twin of the native kernel (src/kernels/resync.rs).
    header = 4 + width
    view = np.frombuffer(data, dtype=np.uint8)
    end = len(view)

    def plausible(at: int) -> Optional[int]:
        """The end of an eligible, verifying frame at ``at``, or None."""
        if at + header > end:
            return None
        length = int.from_bytes(view[at:at + 4].tobytes(), "little")
        if not 0 < length <= max_frame_len or at + header + length > end:
            return None
        if not view[at + 4:at + header].any():
            return None
        _offsets, found, _stop, _status, _a, _b = _kernels.scan(
            data, at, width, algorithm, max_frame_len, 1
        )
        return at + header + length if found else None

    def followed(after: int, declared_end: Optional[int]) -> bool:
        if after in (declared_end, end):
            return True
        _offsets, found, _stop, _status, _a, _b = _kernels.scan(
            data, after, width, algorithm, max_frame_len, 1
        )
        return bool(found)

    bad = start - 1
    declared_end: Optional[int] = None
    if 0 <= bad and bad + 4 <= end:
        candidate = bad + header + int.from_bytes(view[bad:bad + 4].tobytes(), "little")
        if plausible(candidate) is not None:
            declared_end = candidate
    first = start
    while first + header <= end:
        last = min(first + _WINDOW, end - header + 1)  # candidate offsets [first, last)
        count = last - first
        chunk = view[first : last + header - 1].astype(np.uint64)
        lengths = (
            chunk[0:count]
            | (chunk[1 : count + 1] << np.uint64(8))
            | (chunk[2 : count + 2] << np.uint64(16))
            | (chunk[3 : count + 3] << np.uint64(24))
        )
        room = (end - header) - np.arange(first, last, dtype=np.int64)
        fits = (lengths > np.uint64(0)) & (lengths <= np.uint64(max_frame_len))
        fits &= lengths.astype(np.int64) <= room
        nonzero = np.zeros(count, dtype=bool)
        for k in range(width):
            nonzero |= chunk[4 + k : 4 + k + count] != 0
        fits &= nonzero
        for candidate in np.flatnonzero(fits).tolist():
            at = first + candidate
            frame_end = plausible(at)
            if frame_end is None:
                continue
            if at != declared_end and not followed(frame_end, declared_end):
                continue  # nothing valid follows: a lookalike in damaged bytes
            return at
        first = last
    return None


def frames_from(data: Any, start: int, algorithm: str, width: int, max_frame_len: int) -> int:
    """How many valid frames run on from ``start``."""
    _offsets, lengths, _stop, _status, _a, _b = _kernels.scan(
        data, start, width, algorithm, max_frame_len, 1 << 62
    )
    return len(lengths) // 4


class SalvageReport(NamedTuple):
    """What :func:`salvage` kept and what it skipped."""

    #: Valid frames kept (copied to ``dst``).
    frames: int
    #: Byte ranges ``(start, end)`` skipped, in order: damage, and a torn tail.
    skipped: List[Tuple[int, int]]
    #: Bytes in the skipped ranges.
    bytes_lost: int


def _salvage_checksum(data: Any, checksum: ChecksumLike) -> Checksum:
    if checksum is None:
        from ..journal.detect import NotAJournal, sniff

        try:
            return sniff(data).checksum
        except NotAJournal:
            raise ValueError(
                "salvage needs the checksum the stream was written with: the file has no "
                "journal header, so pass checksum= (without one there is nothing to resync on)"
            ) from None
    resolved = resolve_checksum(checksum)
    if not resolved.width or not is_builtin(resolved):
        raise ValueError(
            f"salvage needs a built-in checksum to resync on, not {resolved.name!r}: "
            "without one, garbage and frames look alike"
        )
    return resolved


@contextlib.contextmanager
def _source_bytes(src: Any) -> Iterator[Any]:
    if isinstance(src, (str, os.PathLike)):
        with builtins.open(src, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                yield b""
                return
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped
        return
    yield bytes_view(src)


@contextlib.contextmanager
def _sink(dst: Any) -> Iterator[Optional[BinaryIO]]:
    if dst is None:
        yield None
    elif isinstance(dst, (str, os.PathLike)):
        with builtins.open(dst, "xb") as file:  # never over an existing file
            yield file
    else:
        yield dst


def salvage(
    src: Union[str, "os.PathLike[str]", Any],
    dst: Union[str, "os.PathLike[str]", BinaryIO, None] = None,
    checksum: ChecksumLike = None,
    max_frame_len: Optional[int] = None,
) -> SalvageReport:
    """Copy every valid frame of ``src`` (a path or a buffer; never modified)
    into ``dst`` (a new path, refused if it exists, or a binary file; None
    only reports), skipping damaged stretches.

    ``checksum`` is the stream's (a journal's header names its own); a stream
    without one is refused, since nothing tells a frame from garbage. Frames
    are copied byte for byte, so ``dst`` is a valid stream with the same
    checksum (a journal's metadata frames are frames like any other).
    """
    limit = DEFAULT_MAX_FRAME_LEN if max_frame_len is None else max_frame_len
    with _source_bytes(src) as data, _sink(dst) as out:
        algorithm = _salvage_checksum(data, checksum)
        width, name = algorithm.width, algorithm.name
        end, pos, frames = len(data), 0, 0
        skipped: List[Tuple[int, int]] = []
        while pos < end:
            _offsets, lengths, stop, status, _a, _b = _kernels.scan(
                data, pos, width, name, limit, 1 << 62
            )
            found = len(lengths) // 4
            if found and out is not None:
                out.write(memoryview(data)[pos:stop])
            frames += found
            if status == _kernels.CLEAN:
                break
            resync = find_resync(data, stop + 1, name, width, limit)
            skipped.append((stop, end if resync is None else resync))
            if resync is None:
                break
            pos = resync
    return SalvageReport(frames, skipped, sum(b - a for a, b in skipped))


class SkippingDecoder:
    """A frame decoder over a complete buffer that reads through damage: on a
    bad frame it calls ``on_skip(start, end)`` for the skipped bytes and goes
    on from the next valid frame (``StreamReader(on_corruption="skip")``).
    A torn tail with nothing valid after it still raises ``UnexpectedEof``;
    validation failures are not damage and raise as usual."""

    capacity = 0

    def __init__(
        self,
        data: Any,
        checksum: Checksum,
        max_frame_len: int,
        steps: Any = (),
        on_skip: Optional[Callable[[int, int], Any]] = None,
    ) -> None:
        if not checksum.width or not is_builtin(checksum):
            raise ValueError(
                "on_corruption='skip' needs a built-in checksum to resync on, not "
                f"{checksum.name!r}"
            )
        self._data = bytes_view(data)
        self._checksum, self._limit, self._steps = checksum, max_frame_len, steps
        self._on_skip = on_skip
        self._base = 0
        self._inner = FrameDecoder.over(self._data, checksum, max_frame_len, steps=steps)
        #: Byte ranges skipped so far.
        self.skipped: List[Tuple[int, int]] = []

    @property
    def offset(self) -> int:
        return self._base + int(self._inner.offset)

    @property
    def frame_offset(self) -> int:
        return self._base + int(self._inner.frame_offset)

    def _resync(self, error: FlatstreamError) -> None:
        bad = self.offset
        resync = find_resync(
            self._data, bad + 1, self._checksum.name, self._checksum.width, self._limit
        )
        if resync is None:
            if isinstance(error, UnexpectedEof):
                raise error  # a torn tail is not skipped: nothing follows it
            resync = len(self._data)
        self.skipped.append((bad, resync))
        if self._on_skip is not None:
            self._on_skip(bad, resync)
        self._base = resync
        self._inner = FrameDecoder.over(
            self._data[resync:], self._checksum, self._limit, steps=self._steps
        )

    def read(self) -> Any:
        while True:
            try:
                return self._inner.read()
            except (ChecksumMismatch, InvalidFrame, UnexpectedEof) as error:
                self._resync(error)

    def next_batch(self, n: int) -> List[Any]:
        while True:
            try:
                return list(self._inner.next_batch(n))
            except (ChecksumMismatch, InvalidFrame, UnexpectedEof) as error:
                self._resync(error)

    def reclaim(self) -> int:
        return 0

    def __iter__(self) -> "SkippingDecoder":
        return self

    def __next__(self) -> Any:
        payload = self.read()
        if payload is None:
            raise StopIteration
        return payload
