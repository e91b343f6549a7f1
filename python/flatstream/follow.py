"""Follow a growing stream file (``tail -f`` that knows a half-written frame
from corruption).

    for payload in fs.follow("events.fs", checksum="xxh3_64", timeout=30):
        ...

* An incomplete last frame means "wait": the writer has not finished it.
* A checksum mismatch or an over-long length is an error, after every good
  frame before it (the decoder's usual errors).
* The file shrinking under the follower raises :class:`FileTruncated`; the
  path naming another file (rotation) raises :class:`FileReplaced` after the
  old file's last complete frame, or, with ``on_replace="reopen"``, the
  follower finishes the old file and goes on with the new one from its start.
* Given a directory of :class:`~flatstream.RotatingWriter` segments, it
  follows the segments in order, moving to the next once it exists (a torn
  end of a finished segment is :class:`~flatstream.UnexpectedEof`).
* It ends after ``timeout`` seconds without new bytes (``None``: never), when
  ``until(payload)`` is true (the hook a journal's clean-close footer uses),
  or when the caller stops iterating. No frame is yielded twice or skipped:
  one decoder per file sees every byte once.

Waiting: with ``wait="auto"`` (the default) the follower sleeps on an
inotify watch of the file's directory where ``inotify_simple`` is available
(Linux), woken by the writer's write; it still re-checks every
``poll_interval`` seconds, so a missed event only delays. Elsewhere, or with
``wait="poll"``, it polls every ``poll_interval``. ``benchmarks/follow.py``
measures both (latency from the writer's ``flush()`` to the frame yielded).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any, Callable, List, Optional, Union

from .wire.checksums import ChecksumLike
from .wire.decoder import END, NEED_DATA, FrameDecoder
from .errors import FlatstreamError
from .wire.framing import Deframer
from .rotating import list_segments

__all__ = ["follow", "Follower", "AsyncFollower", "FollowError", "FileTruncated", "FileReplaced",
           "is_segments"]

PathLike = Union[str, "os.PathLike[str]"]


def is_segments(path: PathLike) -> bool:
    """Whether ``path`` names segments: a directory, or a glob pattern that
    is not itself a file's name."""
    spec = os.fspath(path)
    return os.path.isdir(spec) or (any(ch in spec for ch in "*?[") and not os.path.exists(spec))


class FollowError(FlatstreamError, ValueError):
    """The followed file stopped being one append-only stream."""

    def __init__(self, reason: str, *, path: str, offset: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.offset = offset

    def _describe(self) -> str:
        return f"{self.reason}: {self.path}"


class FileTruncated(FollowError):
    """The file is now shorter than what was already read from it."""


class FileReplaced(FollowError):
    """The path now names another file (rotated, or deleted and recreated)."""


class _Tail:
    """One open file, its identity, and the decoder that sees its bytes."""

    def __init__(self, path: str, deframer: Deframer, chunk: int, start: int = 0) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        st = os.fstat(self.fd)
        self.ident = (st.st_dev, st.st_ino)
        if start:
            os.lseek(self.fd, start, os.SEEK_SET)
        self.read_pos = start
        self.chunk = chunk
        self.decoder = FrameDecoder(
            deframer.checksum, deframer.max_frame_len, steps=deframer.steps, release_views=True
        )

    def fill(self) -> int:
        """Read what is there now (at most a few chunks); bytes read."""
        data = os.read(self.fd, max(self.chunk, self.decoder.bytes_needed))
        if data:
            self.read_pos += len(data)
            self.decoder.feed(data)
        return len(data)

    def change(self) -> Optional[str]:
        """"truncated", "replaced" or None."""
        if os.fstat(self.fd).st_size < self.read_pos:
            return "truncated"
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "replaced"
        return None if (st.st_dev, st.st_ino) == self.ident else "replaced"

    def close(self) -> None:
        os.close(self.fd)


class _Core:
    """The follow state machine shared by the sync and async twins: ``step()``
    returns a payload, or ``None`` when the caller should wait."""

    def __init__(
        self,
        path: PathLike,
        checksum: ChecksumLike,
        *,
        max_frame_len: Optional[int],
        deframer: Optional[Deframer],
        on_replace: str,
        until: Optional[Callable[[Any], bool]],
        prefix: Optional[str],
        chunk_size: int,
        start: int = 0,
        first_segment: Optional[PathLike] = None,
    ) -> None:
        if on_replace not in ("raise", "reopen"):
            raise ValueError("on_replace must be 'raise' or 'reopen'")
        if deframer is None:
            deframer = Deframer(checksum if checksum is not None else "none", max_frame_len)
        elif max_frame_len is not None:
            deframer = deframer.bounded(max_frame_len)
        self.deframer = deframer
        self.path = os.fspath(path)
        self.directory = is_segments(self.path)
        if first_segment is not None and not self.directory:
            raise ValueError("first_segment goes with a directory or glob of segments")
        if start < 0:
            raise ValueError("start must be a byte offset (>= 0)")
        self.start = start  # in the first file opened; later files are read from their start
        self.first_segment = os.fspath(first_segment) if first_segment is not None else None
        self.prefix = prefix
        self.on_replace = on_replace
        self.until = until
        self.chunk = chunk_size
        self.tail: Optional[_Tail] = None
        self.done = False
        self.frames = 0
        self.files_opened = 0
        self.segment_index = -1
        self._pending: List[Any] = []  # a finished file's last frames, still to yield
        self._raise_after: Optional[FollowError] = None

    @property
    def segment(self) -> Optional[str]:
        return self.tail.path if self.tail is not None else None

    def _open(self) -> bool:
        if self.directory:
            segments = list_segments(self.path, self.prefix)
            nxt = self.segment_index + 1
            if nxt == 0 and self.first_segment is not None:
                if self.first_segment not in segments:
                    raise FollowError("the segment to start at is not one of the segments",
                                      path=self.first_segment)
                nxt = segments.index(self.first_segment)
            if nxt >= len(segments):
                return False
            self.segment_index = nxt
            target = segments[nxt]
        else:
            target = self.path
        try:
            self.tail = _Tail(target, self.deframer, self.chunk, self.start)
        except FileNotFoundError:
            return False  # not there yet: wait for it
        self.start = 0
        self.files_opened += 1
        return True

    def _finish_tail(self) -> List[Any]:
        """The old file is complete: its remaining frames (a torn end raises)."""
        tail = self.tail
        assert tail is not None
        while tail.fill():
            pass
        tail.decoder.feed_eof()
        rest: List[Any] = []
        while True:
            event = tail.decoder.next_batch(1 << 16)
            if not event:
                break
            rest.extend(bytes(p) for p in event)
        if tail.decoder.next_frame() is not END:  # pragma: no cover - next_batch drained it
            raise AssertionError("frames left after the end")
        return rest

    def step(self) -> Any:
        """A payload, ``None`` (wait), or raise. ``self.done`` after the end."""
        if self.tail is None and not self._open():
            return None
        tail = self.tail
        assert tail is not None
        while True:
            event = tail.decoder.next_frame()
            if event is END:  # pragma: no cover - eof is fed only when finishing
                return None
            if event is not NEED_DATA:
                if self.until is not None and self.until(event):
                    self.done = True
                    return None
                self.frames += 1
                return event
            if tail.fill():
                continue
            if self.directory:
                if len(list_segments(self.path, self.prefix)) > self.segment_index + 1:
                    return self._advance()
                change = tail.change()
                if change == "truncated":
                    raise FileTruncated("the segment was truncated", path=tail.path, offset=tail.read_pos)
                return None
            change = tail.change()
            if change is None:
                return None
            if change == "truncated":
                raise FileTruncated(
                    "the file was truncated while followed", path=tail.path, offset=tail.read_pos
                )
            return self._advance(replaced=True)

    def _advance(self, replaced: bool = False) -> Any:
        # Deliver the old file's last frames one by one through a queue.
        try:
            self._pending = self._finish_tail()
        finally:
            assert self.tail is not None
            old = self.tail
            old.close()
            self.tail = None
        if replaced and self.on_replace == "raise":
            self._raise_after = FileReplaced(
                "the file was replaced (rotated) while followed", path=old.path, offset=old.read_pos
            )
        return _PENDING


_PENDING: Any = object()


class _Base:
    def __init__(self, path: PathLike, checksum: ChecksumLike = None, **options: Any) -> None:
        self.poll_interval: float = options.pop("poll_interval", 0.01)
        self.timeout: Optional[float] = options.pop("timeout", None)
        self._watch = _watch(os.fspath(path), options.pop("wait", "auto"))
        options.setdefault("max_frame_len", None)
        options.setdefault("deframer", None)
        options.setdefault("on_replace", "raise")
        options.setdefault("until", None)
        options.setdefault("prefix", None)
        options.setdefault("chunk_size", 1 << 20)
        self._core = _Core(path, checksum, **options)
        self._last_data = time.monotonic()
        self._buffered_at_close = 0
        self.closed = False

    @property
    def frames_read(self) -> int:
        return self._core.frames

    @property
    def files_opened(self) -> int:
        """How many files were opened so far: it counts up when the follower
        moves to the next segment or reopens a replaced file (payloads of the
        file before come first), so a caller can tell which file a payload
        came from."""
        return self._core.files_opened

    @property
    def segment(self) -> Optional[str]:
        """The file being followed now."""
        return self._core.segment

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete last frame waiting for the writer."""
        tail = self._core.tail
        return int(tail.decoder.buffered) if tail is not None else self._buffered_at_close

    def _try(self) -> Any:
        """A payload, ``None`` to wait, or raise StopIteration's cause."""
        core = self._core
        if self.closed or core.done:
            raise _Stop
        while True:
            pending = core._pending
            if pending:
                core.frames += 1
                return pending.pop(0)
            error = core._raise_after
            if error is not None:
                core._raise_after = None
                self.closed = True
                raise error
            before = core.tail.read_pos if core.tail is not None else -1
            result = core.step()
            if core.tail is not None and core.tail.read_pos != before:
                self._last_data = time.monotonic()
            if result is _PENDING:
                self._last_data = time.monotonic()
                continue
            if result is None:
                if core.done:
                    raise _Stop
                if self.timeout is not None and time.monotonic() - self._last_data >= self.timeout:
                    raise _Stop
            return result

    def _wait_time(self) -> float:
        if self.timeout is None:
            return self.poll_interval
        left = self.timeout - (time.monotonic() - self._last_data)
        return max(0.0, min(self.poll_interval, left))

    def close(self) -> None:
        self.closed = True
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._core.tail is not None:
            # Kept: after a timeout, says whether a frame was left half written.
            self._buffered_at_close = int(self._core.tail.decoder.buffered)
            self._core.tail.close()
            self._core.tail = None


class _Watch:
    """An inotify watch of one directory: ``wait(seconds)`` returns early when
    anything in it changes. ``None`` from :func:`_watch` where unavailable."""

    MASK = 0x2 | 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x200  # modify attrib close move create delete

    def __init__(self, directory: str) -> None:
        import inotify_simple

        self._inotify = inotify_simple.INotify()
        self._inotify.add_watch(directory, self.MASK)

    def fileno(self) -> int:
        return int(self._inotify.fileno())

    def wait(self, seconds: float) -> None:
        self._inotify.read(timeout=max(0, math.ceil(seconds * 1000)))

    def drain(self) -> None:
        self._inotify.read(timeout=0)

    def close(self) -> None:
        self._inotify.close()


def _watch(path: str, mode: str) -> Optional[_Watch]:
    if mode not in ("auto", "poll", "inotify"):
        raise ValueError("wait must be 'auto', 'poll' or 'inotify'")
    if mode == "poll":
        return None
    directory = path if os.path.isdir(path) else (os.path.dirname(path) or ".")
    try:
        return _Watch(directory)
    except (ImportError, OSError, AttributeError):
        if mode == "inotify":
            raise
        return None


class _Stop(Exception):
    pass


class Follower(_Base):
    """The iterator :func:`follow` returns; ``close()`` (or ``with``) stops it."""

    def __iter__(self) -> "Follower":
        return self

    def __next__(self) -> Any:
        while True:
            try:
                payload = self._try()
            except _Stop:
                self.close()
                raise StopIteration from None
            if payload is not None:
                return payload
            if self._watch is not None:
                self._watch.wait(self._wait_time())
            else:
                time.sleep(self._wait_time())

    def __enter__(self) -> "Follower":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class AsyncFollower(_Base):
    """The async twin: ``async for payload in flatstream.aio.follow(...)``.
    File reads are small and from the page cache; waiting never blocks the loop."""

    def __aiter__(self) -> "AsyncFollower":
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                payload = self._try()
            except _Stop:
                self.close()
                raise StopAsyncIteration from None
            if payload is not None:
                return payload
            watch = self._watch
            if watch is None:
                await asyncio.sleep(self._wait_time())
                continue
            # Woken by the inotify descriptor becoming readable, or the poll.
            loop = asyncio.get_running_loop()
            woken = loop.create_future()
            fd = watch.fileno()

            def wake() -> None:
                if not woken.done():
                    woken.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await asyncio.wait_for(woken, self._wait_time())
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(fd)
            watch.drain()

    async def __aenter__(self) -> "AsyncFollower":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()


def follow(
    path: PathLike,
    checksum: ChecksumLike = None,
    *,
    poll_interval: float = 0.01,
    timeout: Optional[float] = None,
    wait: str = "auto",
    max_frame_len: Optional[int] = None,
    deframer: Optional[Deframer] = None,
    on_replace: str = "raise",
    until: Optional[Callable[[Any], bool]] = None,
    prefix: Optional[str] = None,
    start: int = 0,
    first_segment: Optional[PathLike] = None,
) -> Follower:
    """Payloads of ``path`` (a file, or a directory or glob of rotating
    segments) as a writer appends them; see the module docstring for every
    event. Payloads are views valid until the next one; keep one with ``bytes()``.

    ``start``: the byte offset, in the first file followed, of the frame to
    begin with (a frame boundary, e.g. where the last frames begin:
    ``flatstream tail -f`` finds it with one native scan or a journal's
    index); ``first_segment``: with segments, the one to begin with (those
    before it are passed over)."""
    return Follower(
        path,
        checksum,
        poll_interval=poll_interval,
        timeout=timeout,
        wait=wait,
        max_frame_len=max_frame_len,
        deframer=deframer,
        on_replace=on_replace,
        until=until,
        prefix=prefix,
        start=start,
        first_segment=first_segment,
    )
