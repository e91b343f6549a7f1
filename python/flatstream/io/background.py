"""BackgroundWriter: a capture loop hands messages to a bounded queue and an
I/O thread writes them, so the loop never waits on the disk.

    with fs.BackgroundWriter(open("capture.fs", "wb"), fs.ChecksumFramer("xxh3_64"),
                             close_sink=True, flush_interval=0.05) as w:
        for event in sensor:
            w.write(event)          # returns at once; False if dropped

``write`` serializes on the caller's thread (the item may change afterwards,
the bytes queued will not), then appends to the queue. When the queue is full
the ``overflow`` policy decides: ``"block"`` waits for a free slot (nothing is
ever dropped), ``"drop_newest"`` refuses the message and counts it. The I/O
thread takes everything queued at once, frames it in one native call and
hands it to the sink in one write. ``close`` (and leaving the ``with``) stops
accepting, drains every accepted message, flushes, fsyncs if asked, and closes
the sink if the writer owns it: nothing accepted is lost.

The sink is a binary file-like (the writer frames with ``framer``), or a
flatstream writer that frames itself: a :class:`~flatstream.RotatingWriter`
(raw or journal segments), a journal writer or a :class:`StreamWriter`; each
batch then goes to its ``write_many``:

    segments = fs.RotatingWriter("captures", "cap", rotate_bytes=64 << 20, format="journal")
    with fs.BackgroundWriter(segments, close_sink=True, fsync=True, flush_interval=0.1,
                             on_flush=lambda frames, seconds: ack(frames)) as w:
        ...

``on_flush(frames, fsync_seconds)`` runs after every flush (on whichever
thread flushed, before the next batch is written): the first ``frames``
messages accepted are now in the operating system (they survive the process
being killed), and on disk if ``fsync_seconds`` (the fsync's duration) is not
None. An exception from it stops the writer like a sink error.

An error from the sink stops the I/O thread (it writes nothing more, so it
never spins on a full disk); the next ``write``, ``flush`` or ``close`` raises
it (the very ``OSError``), and :attr:`BackgroundWriter.error` shows it to a
thread that does not write.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, List, Optional

from ..wire.framing import DefaultFramer, Framer
from .writer import StreamWriter

__all__ = ["BackgroundWriter", "WriterStats"]

# How long the idle I/O thread sleeps between looks at the queue. Polling
# keeps write() free of any signalling cost (no lock, no event per message).
_IDLE_POLL = 0.0005


@dataclass(frozen=True)
class WriterStats:
    written: int  # messages handed to the sink
    dropped: int  # messages refused by the drop_newest policy
    # bytes handed to the sink, headers included (a flatstream writer's own
    # bytes_written: with journals, their headers, index frames and footers too)
    bytes: int
    queued: int  # messages waiting now
    high_water: int  # the most messages ever waiting at once
    flushes: int
    fsyncs: int


class _NoSink:
    """The byte sink of the serializing-only StreamWriter of a writer target."""

    def write(self, data: Any) -> int:
        raise AssertionError("a BackgroundWriter over a flatstream writer writes through it")


def _is_frame_writer(sink: Any) -> bool:
    """A flatstream writer (it frames itself), not a byte sink."""
    return hasattr(sink, "frames_written") and hasattr(sink, "write_many")


class BackgroundWriter:
    """A :class:`StreamWriter` drained by its own I/O thread; see the module docstring.

    ``queue_size`` bounds waiting messages. ``flush_every`` flushes after that
    many messages (1: after every batch, so no message is written before the
    flush of the ones before it); ``flush_interval`` (seconds) bounds how
    long written messages wait for a flush, whether or not more arrive;
    ``fsync=True`` follows every flush with ``os.fsync`` (the sink needs
    ``fileno``). The sink is flushed (and fsynced) on close anyway.
    ``on_flush``: see the module docstring.
    """

    def __init__(
        self,
        sink: Any,
        framer: Optional[Framer] = None,
        *,
        queue_size: int = 65536,
        overflow: str = "block",
        flush_every: Optional[int] = None,
        flush_interval: Optional[float] = None,
        fsync: bool = False,
        close_sink: bool = False,
        on_flush: Optional[Callable[[int, Optional[float]], Any]] = None,
    ) -> None:
        if overflow not in ("block", "drop_newest"):
            raise ValueError("overflow must be 'block' or 'drop_newest'")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self._target: Any = sink if _is_frame_writer(sink) else None
        if self._target is not None:
            if framer is not None:
                raise TypeError("a flatstream writer frames its messages itself: pass no framer")
            # Only serializes items on the caller's thread; batches go to the target.
            self._writer = StreamWriter(_NoSink())
            self._check: Optional[Callable[[Any], Any]] = getattr(sink, "check_payload", None)
            self._put_batch: Callable[[List[Any]], Any] = sink.write_many
        else:
            self._writer = StreamWriter(sink, framer if framer is not None else DefaultFramer())
            self._check = self._writer.framer.check
            self._put_batch = self._writer._write_checked
        self._written = 0
        self._on_flush = on_flush
        self._sink = sink
        self._close_sink = close_sink
        self._queue: Deque[Any] = collections.deque()
        self._queue_size = queue_size
        self._block = overflow == "block"
        self._flush_every = flush_every
        self._flush_interval = flush_interval
        self._fsync = fsync
        self._space = threading.Condition(threading.Lock())
        self._io_lock = threading.Lock()  # held while a batch goes to the sink
        self._stopping = False
        # Set by close() (under the I/O lock) just before its final drain.
        self._final_drain = False
        self._error: Optional[BaseException] = None
        self._dropped = 0
        self._high_water = 0
        self._flushes = 0
        self._fsyncs = 0
        self.closed = False
        self._thread = threading.Thread(target=self._drain, name="flatstream-writer", daemon=True)
        self._thread.start()

    # -- the capture side -------------------------------------------------

    def write(self, item: Any) -> bool:
        """Queue one message (anything :meth:`StreamWriter.write` takes); returns
        False if the ``drop_newest`` policy refused it."""
        if self._error is not None:
            raise self._error
        if self.closed:
            raise ValueError("write to a closed BackgroundWriter")
        payload = self._writer._payload_of(item)
        if not isinstance(payload, bytes):
            payload = bytes(payload)  # the caller may reuse its buffer
        if self._check is not None:
            self._check(payload)
        queue = self._queue
        if len(queue) >= self._queue_size:
            if not self._block:
                self._dropped += 1
                return False
            with self._space:
                while len(queue) >= self._queue_size and self._error is None:
                    self._space.wait(0.01)
            if self._error is not None:
                raise self._error
        queue.append(payload)
        if self._final_drain:
            # close() began its final drain while this call was past the
            # closed check: the message was written only if the drain took it.
            with self._io_lock:
                try:
                    queue.remove(payload)
                except ValueError:
                    return True
            raise ValueError("write to a closed BackgroundWriter")
        depth = len(queue)
        if depth > self._high_water:
            self._high_water = depth
        return True

    def write_payload(self, data: Any) -> bool:
        """Queue a bytes-like payload as is."""
        return self.write(bytes(data))

    @property
    def error(self) -> Optional[BaseException]:
        """The error that stopped the I/O thread (a sink's ``OSError``), or None."""
        return self._error

    @property
    def stats(self) -> WriterStats:
        sink = self._writer if self._target is None else self._target
        return WriterStats(
            written=self._written,
            dropped=self._dropped,
            bytes=int(sink.bytes_written),
            queued=len(self._queue),
            high_water=self._high_water,
            flushes=self._flushes,
            fsyncs=self._fsyncs,
        )

    def flush(self, timeout: Optional[float] = None) -> None:
        """Wait until everything queued so far is written, then flush (and fsync)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._raise_error()
            # The I/O lock is held while a batch is being written: an empty
            # queue alone does not mean the sink has the bytes yet.
            with self._io_lock:
                if not self._queue:
                    self._flush_sink()
                    return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError("the sink did not take the queued messages in time")
            time.sleep(_IDLE_POLL)

    def close(self) -> None:
        """Drain every accepted message, flush, fsync if asked, close an owned sink."""
        if self.closed:
            self._raise_error()
            return
        self.closed = True
        self._stopping = True
        self._thread.join()
        try:
            self._raise_error()
            with self._io_lock:
                # A producer that passed write()'s closed check may have
                # appended after the I/O thread's last look at the queue; one
                # that appends from now on sees the flag (see write()).
                self._final_drain = True
                queue = self._queue
                if queue:
                    self._write_batch([queue.popleft() for _ in range(len(queue))])
                self._flush_sink()
        finally:
            if self._close_sink:
                self._sink.close()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- the I/O thread -----------------------------------------------------

    def _drain(self) -> None:
        queue = self._queue
        since_flush = 0
        last_flush = time.monotonic()
        try:
            while True:
                if not queue:
                    if self._stopping:
                        return
                    # An interval is a bound on how long written bytes wait
                    # for a flush, also when no more messages come.
                    if (
                        since_flush
                        and self._flush_interval is not None
                        and time.monotonic() - last_flush >= self._flush_interval
                    ):
                        with self._io_lock:
                            self._flush_sink()
                        since_flush = 0
                        last_flush = time.monotonic()
                    time.sleep(_IDLE_POLL)
                    continue
                with self._io_lock:
                    batch = [queue.popleft() for _ in range(len(queue))]
                    with self._space:
                        self._space.notify_all()
                    self._write_batch(batch)
                    since_flush += len(batch)
                    now = time.monotonic()
                    if (self._flush_every is not None and since_flush >= self._flush_every) or (
                        self._flush_interval is not None and now - last_flush >= self._flush_interval
                    ):
                        self._flush_sink()
                        since_flush = 0
                        last_flush = now
        except BaseException as error:  # handed to the capture thread
            self._error = error
            with self._space:
                self._space.notify_all()

    def _write_batch(self, batch: List[Any]) -> None:
        self._put_batch(batch)
        self._written += len(batch)

    def _flush_sink(self) -> None:
        (self._writer if self._target is None else self._target).flush()
        self._flushes += 1
        fsync_seconds = None
        if self._fsync:
            start = time.perf_counter()
            os.fsync(self._sink.fileno())
            fsync_seconds = time.perf_counter() - start
            self._fsyncs += 1
        if self._on_flush is not None:
            self._on_flush(self._written, fsync_seconds)

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
