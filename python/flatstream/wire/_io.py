"""Moving bytes to and from file-likes, with the spec's rules for OS errors:
an interrupted call is retried, never surfaced; any other OSError propagates
unchanged; a short write is continued."""

from __future__ import annotations

import errno
from typing import Any, Callable, Optional


def reader_of(source: Any) -> Callable[[int], Any]:
    """The source's "give me what you have, up to n bytes" call."""
    read1 = getattr(source, "read1", None)
    # read1 returns what one raw read gives: a socket or pipe never blocks
    # waiting to fill a large chunk.
    return read1 if callable(read1) else source.read  # type: ignore[no-any-return]


def read_some(read: Callable[[int], Any], size: int) -> Any:
    """One read of up to ``size`` bytes; ``b""`` means end of input."""
    while True:
        try:
            data = read(size)
        except InterruptedError:
            continue
        if data is None:
            raise BlockingIOError(errno.EAGAIN, "the source is non-blocking and has no data now")
        return data


#: ``write_all``'s ``first`` when the caller made no write yet (or its first
#: one was interrupted).
NOT_WRITTEN: Any = object()


def write_all(write: Callable[[Any], Optional[int]], data: Any, first: Any = NOT_WRITTEN) -> None:
    """Write every byte of ``data``, continuing short writes and retrying interrupts.

    ``first`` is what a ``write(data)`` the caller already made returned, so
    a caller can make the common single write itself and come here only for
    the rest."""
    view: Optional[memoryview] = None
    total = len(data)
    done = 0
    written = first
    while True:
        if written is NOT_WRITTEN:
            chunk = data if view is None else view[done:]
            try:
                written = write(chunk)
            except InterruptedError:
                continue
        if written is None:
            # A buffered sink returns None after writing everything; a
            # non-blocking raw one returns None after writing nothing, but
            # those are not supported and are treated alike.
            return
        done += written
        if done >= total:
            return
        if written == 0:
            raise OSError(errno.EIO, f"the sink accepted 0 of {total - done} remaining bytes")
        if view is None:
            view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
        written = NOT_WRITTEN
