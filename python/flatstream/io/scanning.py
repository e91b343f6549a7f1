"""Whole-stream operations that never run Python per frame: an index of every
frame as numpy arrays, a count, a verification pass.

Sources are paths (memory-mapped read-only, so a file larger than memory is
scanned with constant memory beyond the mapping), open binary files (mapped
through their descriptor), or buffers. Over a path or ``bytes`` the native
kernel releases the GIL and, when frames are large, verifies checksums on
several threads.

A torn tail is reported (``end`` is ``TORN_TAIL``), not raised; corruption
(an over-limit length, a checksum mismatch) raises as the reader does. A
deframer with adapters (validators, observers) is refused: they are Python
per frame, which these never run.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Tuple, Union

import numpy as np

from .. import _kernels
from ..errors import UnexpectedEof
from ..wire.checksums import ChecksumLike, is_builtin
from ..wire.decoder import bytes_view, make_error
from ..wire.framing import Deframer
from .reports import RecoveryEnd

__all__ = ["FrameIndex", "ScanSummary", "scan", "count", "verify", "mapped", "default_threads"]

Source = Union[str, "os.PathLike[str]", Any]

#: ``checksum`` not given: a journal is recognised by its header (then its
#: user frames are what is counted); anything else is read with no checksum.
AUTO: Any = "auto"


def _journal_of(buf: Any, checksum: Any, deframer: Optional[Deframer]) -> Any:
    """The sniffed journal header of ``buf`` when checksum/deframer were not given."""
    if deframer is not None or checksum != AUTO:
        return None
    from ..journal.detect import NotAJournal, sniff

    try:
        return sniff(buf)
    except NotAJournal:
        return None


def _journal_summary(buf: Any, sniffed: Any, max_frame_len: Optional[int], trust_footer: bool,
                     threads: Optional[int]) -> "ScanSummary":
    from ..journal.layout import read_footer, scan_layout, tail_count

    footer = read_footer(buf, sniffed.checksum, sniffed.header_end) if trust_footer else None
    if footer is not None:
        return ScanSummary(footer.frame_count, footer.payload_bytes, len(buf), RecoveryEnd.CLEAN_EOF)
    found = tail_count(buf, sniffed.checksum, sniffed.header_end, max_frame_len=max_frame_len,
                       threads=threads if threads is not None else default_threads()) if trust_footer else None
    if found is not None:  # not closed: the last intact index, then only the frames after it
        last, tail, before = found
        return ScanSummary(
            last.first_frame + tail.frame_count,
            before + tail.payload_bytes,
            tail.end_offset,
            RecoveryEnd.TORN_TAIL if tail.torn else RecoveryEnd.CLEAN_EOF,
        )
    layout = scan_layout(buf, sniffed.checksum, sniffed.header_end, max_frame_len=max_frame_len,
                         threads=threads if threads is not None else default_threads())
    end = RecoveryEnd.TORN_TAIL if layout.torn else RecoveryEnd.CLEAN_EOF
    return ScanSummary(layout.frame_count, layout.payload_bytes, layout.end_offset, end)


def default_threads() -> int:
    """Threads a scan may use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class FrameIndex:
    """Where every good frame is: ``offsets[i]`` is the stream offset of frame
    ``i`` (its length prefix), ``lengths[i]`` its payload length."""

    offsets: np.ndarray
    lengths: np.ndarray
    header_len: int
    end_offset: int
    end: RecoveryEnd

    @property
    def payload_offsets(self) -> np.ndarray:
        """Stream offsets of the payloads themselves."""
        return self.offsets + np.uint64(self.header_len)

    def __len__(self) -> int:
        return len(self.offsets)


@dataclass(frozen=True)
class ScanSummary:
    """What a count or verification found."""

    frames: int
    payload_bytes: int
    end_offset: int
    end: RecoveryEnd


@contextlib.contextmanager
def mapped(source: Source) -> Iterator[Any]:
    """A read-only buffer over ``source``: a path or a binary file is
    memory-mapped (an empty file gives ``b""``), a buffer is used as is."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            with mapped(file) as buf:
                yield buf
        return
    fileno = getattr(source, "fileno", None)
    if callable(fileno) and not isinstance(source, mmap.mmap):
        fd = fileno()
        if os.fstat(fd).st_size == 0:
            yield b""
            return
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as buf:
            if hasattr(buf, "madvise"):
                # Pages are read once, in order: let the kernel read ahead and
                # drop them behind us, keeping memory flat on huge files.
                buf.madvise(mmap.MADV_SEQUENTIAL)
            yield buf
        return
    yield source


def _run(
    buf: Any, deframer: Deframer, start: int, threads: Optional[int], collect: bool
) -> Tuple[Any, Any, int, int, int, RecoveryEnd]:
    data, width, verify_name, max_frame_len, threads = kernel_args(buf, deframer, threads)
    offsets, lengths, frames, payload_bytes, stop, status, a, b = _kernels.scan_all(
        data, start, width, verify_name, max_frame_len, threads, collect,
    )
    end = scan_end(status, a, b, stop, width, len(data) - stop, frames)
    return offsets, lengths, frames, payload_bytes, stop, end


def kernel_args(buf: Any, deframer: Deframer, threads: Optional[int]) -> Tuple[Any, int, Optional[str], int, int]:
    """What ``_kernels.scan_all`` takes for ``deframer`` over ``buf``: the
    buffer, checksum width and name, frame limit and thread count (also used
    by the columnar decoder, which walks the frames itself)."""
    checksum = deframer.checksum
    if deframer.steps:
        # Validators and observers are Python per frame; skipping them would
        # index frames this deframer's reader refuses.
        raise ValueError(
            f"scan/count/verify run no per-frame Python, and this deframer has "
            f"{len(deframer.steps)} adapters (validators or observers): read with StreamReader"
        )
    if not is_builtin(checksum) and checksum.width:
        raise ValueError("scan/count/verify need a built-in checksum; read custom ones with StreamReader")
    verify_name = checksum.name if checksum.width else None
    data = buf if isinstance(buf, (bytes, mmap.mmap)) else bytes_view(buf)
    return data, checksum.width, verify_name, deframer.max_frame_len, threads if threads is not None else default_threads()


def scan_end(status: int, a: int, b: int, stop: int, width: int, remaining: int, frames: int) -> RecoveryEnd:
    """How a ``scan_all`` that ended with ``status`` ends: raises its limit
    or checksum error."""
    if status == _kernels.LIMIT:
        raise make_error("limit", a, b, stop, width, remaining, frames)
    if status == _kernels.CHECKSUM:
        raise make_error("checksum", a, b, stop, width, remaining, frames)
    return RecoveryEnd.CLEAN_EOF if status == _kernels.CLEAN else RecoveryEnd.TORN_TAIL


def _deframer(checksum: ChecksumLike, max_frame_len: Optional[int], deframer: Optional[Deframer]) -> Deframer:
    if deframer is not None:
        return deframer
    return Deframer("none" if checksum == AUTO else checksum, max_frame_len)


def scan(
    source: Source,
    checksum: ChecksumLike = AUTO,
    max_frame_len: Optional[int] = None,
    *,
    deframer: Optional[Deframer] = None,
    start: int = 0,
    threads: Optional[int] = None,
) -> FrameIndex:
    """Index every frame of ``source`` from ``start``, verifying checksums.

    Returns numpy arrays of frame offsets (u64) and payload lengths (u32).
    Without ``checksum``/``deframer``, a journal is recognised by its header
    and only its user frames are indexed (a compressed journal is refused: its
    messages are inside blocks); pass ``checksum=`` to see every raw frame.
    """
    frame_deframer = _deframer(checksum, max_frame_len, deframer)
    with mapped(source) as buf:
        sniffed = _journal_of(buf, checksum, deframer) if start == 0 else None
        if sniffed is not None:
            from ..journal.layout import scan_layout

            layout = scan_layout(buf, sniffed.checksum, sniffed.header_end, max_frame_len=max_frame_len,
                                 threads=threads if threads is not None else default_threads())
            if layout.blocks:
                raise ValueError(
                    "a compressed journal's messages are inside blocks: read them with fs.open(path)"
                )
            hl = 4 + sniffed.checksum.width
            return FrameIndex(
                layout.user_offsets - np.uint64(hl), layout.user_lengths, hl, layout.end_offset,
                RecoveryEnd.TORN_TAIL if layout.torn else RecoveryEnd.CLEAN_EOF,
            )
        offsets, lengths, _, _, stop, end = _run(buf, frame_deframer, start, threads, True)
    return FrameIndex(
        np.frombuffer(offsets, dtype="<u8"),
        np.frombuffer(lengths, dtype="<u4"),
        4 + frame_deframer.checksum.width,
        stop,
        end,
    )


def count(
    source: Source,
    checksum: ChecksumLike = AUTO,
    max_frame_len: Optional[int] = None,
    *,
    deframer: Optional[Deframer] = None,
    start: int = 0,
    threads: Optional[int] = None,
) -> ScanSummary:
    """Count the good frames of ``source`` (checksums verified), keeping no index.

    Without ``checksum``/``deframer``, a journal is recognised by its header:
    its user frames are counted, from the footer of a cleanly closed journal
    (verified, no scan) or by one scan otherwise."""
    return _count(source, checksum, max_frame_len, deframer, start, threads, trust_footer=True)


def _count(source: Source, checksum: ChecksumLike, max_frame_len: Optional[int],
           deframer: Optional[Deframer], start: int, threads: Optional[int],
           trust_footer: bool) -> ScanSummary:
    frame_deframer = _deframer(checksum, max_frame_len, deframer)
    with mapped(source) as buf:
        sniffed = _journal_of(buf, checksum, deframer) if start == 0 else None
        if sniffed is not None:
            return _journal_summary(buf, sniffed, max_frame_len, trust_footer, threads)
        _, _, frames, payload_bytes, stop, end = _run(buf, frame_deframer, start, threads, False)
    return ScanSummary(frames, payload_bytes, stop, end)


def verify(
    source: Source,
    checksum: ChecksumLike = AUTO,
    max_frame_len: Optional[int] = None,
    *,
    deframer: Optional[Deframer] = None,
    start: int = 0,
    threads: Optional[int] = None,
    allow_torn_tail: bool = False,
) -> ScanSummary:
    """Check that ``source`` is whole: every frame read and its checksum
    verified, a journal's footer checked against its frames (never trusted
    alone). Returns the summary of a clean stream.

    Raises ``ChecksumMismatch``/``InvalidFrame`` on corruption and
    ``UnexpectedEof`` (an ``EOFError``) when the stream ends inside a frame,
    a torn tail, with ``offset`` where the good frames end and
    ``frame_index`` how many there are. ``allow_torn_tail=True`` returns the
    summary of the good frames instead (``end=TORN_TAIL``), as
    :func:`count` does: for a capture that is still being written."""
    summary = _count(source, checksum, max_frame_len, deframer, start, threads, trust_footer=False)
    if summary.end is RecoveryEnd.TORN_TAIL and not allow_torn_tail:
        error = UnexpectedEof(
            f"torn tail: the stream ends inside a frame after {summary.frames} good frames "
            "(fs.count reports them; fs.recover / `flatstream recover --truncate` cuts the tail)",
            offset=summary.end_offset,
        )
        error.frame_index = summary.frames
        raise error
    return summary
