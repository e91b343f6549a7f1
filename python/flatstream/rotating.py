"""Rotating segments: a writer that starts a new file by size and/or age, and
a reader over a directory (or glob) of segments as one stream.

Segment names: ``{prefix}-{seq:010d}-{YYYYmmddTHHMMSS}Z.fs``, where ``seq``
counts up from one past the highest segment already in the directory (a
restarted writer never appends to, or replaces, an old segment) and the time
is UTC when the segment was opened. The zero-padded sequence number comes
first, so names sort in the order segments were written even if the clock
steps back; the time is for people.

A segment is complete once a later one exists: the writer flushes and closes
a segment before it creates the next (this is what followers rely on). With
``fsync=True`` it also fsyncs the closed segment before the next exists, and
the directory after creating it, so after a power loss at most the last
segment can be short.

``format="journal"`` makes every segment a journal (``docs/journal.md``):
each has its own header (checksum, schema, metadata) and a footer once
closed, so a segment read on its own describes itself, and a crash leaves at
most a torn tail on the last one (``fs.open(path, "ab")`` repairs it).
"""

from __future__ import annotations

import glob
import os
import re
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

from ._open import open as fs_open
from .wire.checksums import ChecksumLike
from .errors import FlatstreamError
from .wire.framing import byte_view
from .io.reader import typed_decoder

__all__ = ["RotatingWriter", "SegmentReader", "open_segments", "list_segments", "segment_name"]

_NAME = re.compile(r"^(?P<prefix>.+)-(?P<seq>\d{10})-(?P<time>\d{8}T\d{6})Z\.fs$")


def segment_name(prefix: str, seq: int, when: Optional[float] = None) -> str:
    """The file name of segment ``seq`` of ``prefix`` opened at ``when`` (epoch seconds)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if when is None else when))
    return f"{prefix}-{seq:010d}-{stamp}Z.fs"


def _fsync_path(path: str) -> None:
    """fsync a file or directory by name (Linux syncs the file, not the descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_segments(directory_or_glob: Union[str, "os.PathLike[str]"], prefix: Optional[str] = None) -> List[str]:
    """Segment paths in write order: every segment-named file of a directory
    (of ``prefix`` only, if given), or the files a glob matches, sorted by name."""
    spec = os.fspath(directory_or_glob)
    if os.path.isdir(spec):
        names = []
        for name in os.listdir(spec):
            match = _NAME.match(name)
            if match and (prefix is None or match.group("prefix") == prefix):
                names.append((match.group("prefix"), int(match.group("seq")), name))
        names.sort()
        return [os.path.join(spec, name) for _, _, name in names]
    return sorted(glob.glob(spec))


class RotatingWriter:
    """Writes frames into ``directory``, starting a new segment once the
    current one holds ``rotate_bytes`` (the frame that crosses it stays whole
    in it) or is ``rotate_seconds`` old (checked at each write). Same write
    methods and counters as :class:`StreamWriter`; counters cover all segments.

    ``format="journal"`` writes journal segments (``checksum`` then defaults
    to ``"xxh3_64"``; ``schema`` and ``metadata`` go into every header; read
    them back with ``fs.open_segments(directory, checksum=None)``).
    ``fsync=True`` fsyncs each segment as it is closed (and the directory as
    a segment is created); ``flush()`` then ``os.fsync(w.fileno())`` syncs the
    open one (:class:`BackgroundWriter` does it with ``fsync=True``).
    """

    def __init__(
        self,
        directory: Union[str, "os.PathLike[str]"],
        prefix: str,
        *,
        rotate_bytes: Optional[int] = None,
        rotate_seconds: Optional[float] = None,
        checksum: ChecksumLike = None,
        max_frame_len: Optional[int] = None,
        fsync: bool = False,
        format: str = "raw",  # noqa: A002 - the name fs.open uses
        schema: Any = None,
        metadata: Optional[Dict[str, str]] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if format not in ("raw", "journal"):
            raise ValueError(f"format must be 'raw' or 'journal', not {format!r}")
        if format == "raw" and (schema is not None or metadata is not None):
            raise TypeError("schema and metadata need format='journal'")
        if format == "journal" and max_frame_len is not None:
            raise TypeError("max_frame_len is for raw segments (a journal's reader sets its own)")
        if rotate_bytes is not None and rotate_bytes < 1:
            raise ValueError("rotate_bytes must be >= 1")
        if rotate_seconds is not None and rotate_seconds <= 0:
            raise ValueError("rotate_seconds must be > 0")
        if not prefix or "/" in prefix or os.sep in prefix:
            raise ValueError("prefix must be a non-empty file name part")
        self.directory = os.fspath(directory)
        self.prefix = prefix
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        if checksum is None:
            checksum = "xxh3_64" if format == "journal" else "none"
        self.checksum = checksum
        self.max_frame_len = max_frame_len
        self.fsync = fsync
        self.format = format
        self._journal_options: Dict[str, Any] = (
            {"format": "journal", "schema": schema, "metadata": metadata} if format == "journal" else {}
        )
        self._clock = clock
        os.makedirs(self.directory, exist_ok=True)
        existing = list_segments(self.directory, prefix)
        last = _NAME.match(os.path.basename(existing[-1])) if existing else None
        self._seq = int(last.group("seq")) + 1 if last else 1
        self._writer: Any = None
        self._opened_at = 0.0
        self._frames = self._bytes = 0
        self._counted = False  # the current writer's counts are in _frames/_bytes (it is closed)
        self.segments: List[str] = []
        self.closed = False
        self._open_next()

    @property
    def path(self) -> str:
        """The segment being written."""
        return self.segments[-1]

    @property
    def frames_written(self) -> int:
        return self._frames + (0 if self._counted else self._writer.frames_written)

    @property
    def bytes_written(self) -> int:
        return self._bytes + (0 if self._counted else self._writer.bytes_written)

    def _open_next(self) -> None:
        now = self._clock()
        path = os.path.join(self.directory, segment_name(self.prefix, self._seq, now))
        # "xb": never overwrite a file that is already there.
        self._writer = fs_open(path, "xb", checksum=self.checksum, max_frame_len=self.max_frame_len,
                               **self._journal_options)
        self._seq += 1
        self._counted = False
        self._opened_at = now
        self.segments.append(path)
        if self.fsync:
            _fsync_path(self.directory)  # the new name survives a power loss

    def _close_current(self) -> None:
        writer = self._writer
        try:
            writer.close()  # flushes first; a journal writes its last index and footer
        finally:
            # Counted even after a failed write (a journal then writes no footer).
            self._frames += writer.frames_written
            self._bytes += writer.bytes_written
            self._counted = True
        if self.fsync:
            _fsync_path(self.path)

    def fileno(self) -> int:
        """The open segment's descriptor: ``flush()`` then ``os.fsync(w.fileno())``
        puts everything written so far on disk (closed segments were fsynced
        if ``fsync=True``)."""
        writer = self._writer
        return int(writer.fileno() if hasattr(writer, "fileno") else writer._sink.fileno())

    def check_payload(self, data: Any) -> None:
        """Raise what writing ``data`` would raise (too long, reserved), writing nothing."""
        writer = self._writer
        if hasattr(writer, "check_payload"):
            writer.check_payload(data)
        else:
            writer.framer.check(byte_view(data))

    def rotate(self) -> str:
        """Close the current segment and start the next; returns its path."""
        self._check_open()
        self._close_current()
        self._open_next()
        return self.path

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("write to a closed RotatingWriter")

    def _before(self) -> None:
        self._check_open()
        if (
            self.rotate_seconds is not None
            and self._writer.frames_written
            and self._clock() - self._opened_at >= self.rotate_seconds
        ):
            self.rotate()

    def _after(self) -> None:
        if self.rotate_bytes is not None and self._writer.bytes_written >= self.rotate_bytes:
            self.rotate()

    def write(self, item: Any) -> None:
        self._before()
        self._writer.write(item)
        self._after()

    def write_payload(self, data: Any) -> None:
        self._before()
        self._writer.write_payload(data)
        self._after()

    def write_finished(self, builder: Any) -> None:
        self._before()
        if self._journal_options:
            self._writer.write(builder)  # a journal takes the finished Builder itself
        else:
            self._writer.write_finished(builder)
        self._after()

    def write_many(self, items: Any) -> int:
        """A batch goes into one segment whole."""
        self._before()
        count = int(self._writer.write_many(items))
        self._after()
        return count

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._close_current()

    def __enter__(self) -> "RotatingWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<RotatingWriter {self.directory!r} {self.prefix!r} segments={len(self.segments)}>"


class SegmentReader:
    """The frames of many segments as one stream, segment after segment.
    An error names the segment (``error.segment``); its offset is within it.
    ``checksum=None`` reads journal segments (their user frames, each
    segment's header naming its checksum)."""

    def __init__(
        self, paths: List[str], checksum: ChecksumLike = "none", max_frame_len: Optional[int] = None
    ) -> None:
        self.segments = list(paths)
        self.checksum = checksum
        self.max_frame_len = max_frame_len
        self._index = -1
        self._reader: Any = None  # a StreamReader or JournalReader
        self.frames_read = 0

    @property
    def segment(self) -> Optional[str]:
        """The segment being read."""
        return self.segments[self._index] if 0 <= self._index < len(self.segments) else None

    def read_message(self) -> Optional[Any]:
        while True:
            if self._reader is None:
                self._index += 1
                if self._index >= len(self.segments):
                    return None
                # checksum=None: journal segments, each header names its own.
                given: Dict[str, Any] = {} if self.checksum is None else {"checksum": self.checksum}
                self._reader = fs_open(
                    self.segments[self._index], "rb", max_frame_len=self.max_frame_len, **given
                )
            try:
                payload = self._reader.read_message()
            except FlatstreamError as error:
                error.segment = self.segment  # type: ignore[attr-defined]
                raise
            if payload is not None:
                self.frames_read += 1
                return payload
            self._reader.close()
            self._reader = None

    def messages(self) -> Iterator[Any]:
        return iter(self.read_message, None)

    __iter__ = messages

    def typed_messages(self, cls: Any) -> Iterator[Any]:
        return map(typed_decoder(cls), self.messages())

    def process_all(self, fn: Callable[[Any], Any]) -> int:
        count = 0
        for payload in self.messages():
            fn(payload)
            count += 1
        return count

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._index = len(self.segments)

    def __enter__(self) -> "SegmentReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def open_segments(
    directory_or_glob: Union[str, "os.PathLike[str]"],
    checksum: ChecksumLike = "none",
    *,
    prefix: Optional[str] = None,
    max_frame_len: Optional[int] = None,
) -> SegmentReader:
    """Read the segments of a directory (or the files of a glob), in name
    order, as one stream (see the module docstring for the naming);
    ``checksum=None`` for journal segments."""
    return SegmentReader(list_segments(directory_or_glob, prefix), checksum, max_frame_len)
