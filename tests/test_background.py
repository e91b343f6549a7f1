"""BackgroundWriter: the capture thread never writes; nothing accepted is lost."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

import flatstream as fs


class SlowSink(io.RawIOBase):
    """A sink that sleeps on every write, and can be told to fail."""

    def __init__(self, delay: float = 0.0, fail_after: int = -1) -> None:
        self.data = bytearray()
        self.delay = delay
        self.fail_after = fail_after
        self.writes = 0
        self.flushed = 0
        self.error = OSError(28, "No space left on device")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.fail_after >= 0 and self.writes >= self.fail_after:
            raise self.error
        time.sleep(self.delay)
        self.writes += 1
        self.data += bytes(data)
        return len(data)

    def flush(self) -> None:
        self.flushed += 1


def payloads(n: int) -> List[bytes]:
    return [i.to_bytes(4, "little") * (i % 5) for i in range(n)]


@pytest.mark.parametrize("checksum", ["none", "crc32", "xxh3_64"])
def test_everything_accepted_is_written_in_order(checksum: str) -> None:
    sink = SlowSink(delay=0.001)
    items = payloads(5_000)
    with fs.BackgroundWriter(sink, fs.ChecksumFramer(checksum), queue_size=64) as w:
        for p in items:
            assert w.write(p)
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data), fs.ChecksumDeframer(checksum))] == items
    stats = w.stats
    assert (stats.written, stats.dropped, stats.queued) == (5_000, 0, 0)
    assert 1 <= stats.high_water <= 64
    assert sink.writes < 5_000  # batches: far fewer sink calls than messages


def test_drop_newest_counts_what_it_refuses() -> None:
    sink = SlowSink(delay=0.02)
    accepted = []
    with fs.BackgroundWriter(sink, queue_size=4, overflow="drop_newest") as w:
        for p in payloads(500):
            if w.write(p):
                accepted.append(p)
    stats = w.stats
    assert stats.dropped > 0
    assert stats.dropped + stats.written == 500
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == accepted


def test_simple_mode_items_are_serialized_on_the_callers_thread() -> None:
    sink = SlowSink()
    buffer = bytearray(b"abc")
    with fs.BackgroundWriter(sink) as w:
        w.write("hello")
        w.write(buffer)
        buffer[:] = b"xyz"  # changing it after write() must not change what is written
    got = [bytes(p) for p in fs.StreamReader(bytes(sink.data))]
    assert got[1] == b"abc"
    assert len(got) == 2 and got[0].endswith(b"hello\x00\x00\x00")


def test_a_failing_sink_surfaces_its_own_oserror() -> None:
    sink = SlowSink(fail_after=2)
    w = fs.BackgroundWriter(sink, queue_size=8)
    with pytest.raises(OSError) as raised:
        for p in payloads(10_000):
            w.write(p)
            time.sleep(0.0001)
        w.close()
    assert raised.value is sink.error
    with pytest.raises(OSError):
        w.close()


def test_refusals_happen_on_the_callers_thread_before_queueing() -> None:
    sink = SlowSink()
    seen: List[bytes] = []
    # bounded() is the outermost adapter, so it refuses before the observer sees anything
    framer = fs.DefaultFramer().observed(lambda p: seen.append(bytes(p))).bounded(8)
    with fs.BackgroundWriter(sink, framer) as w:
        w.write(b"ok")
        with pytest.raises(fs.InvalidFrame):
            w.write(b"much too long")
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"ok"]
    assert seen == [b"ok"]  # the observer ran once per frame, not again on the I/O thread


def test_flush_policies_and_fsync_on_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "capture.fs"
    with fs.BackgroundWriter(
        open(path, "wb"), fs.ChecksumFramer("crc32c"), close_sink=True, flush_every=100, fsync=True
    ) as w:
        for p in payloads(1_000):
            w.write(p)
        w.flush(timeout=10)
        # flushed means on disk for a reader in another handle
        assert fs.count(path, "crc32c").frames == 1_000
    stats = w.stats
    assert stats.fsyncs >= 2 and stats.flushes >= 2
    assert fs.verify(path, "crc32c").frames == 1_000


def test_block_policy_waits_for_space_and_loses_nothing() -> None:
    sink = SlowSink(delay=0.005)
    errors: List[BaseException] = []

    def produce(w: fs.BackgroundWriter, start: int) -> None:
        try:
            for i in range(start, start + 300):
                w.write(i.to_bytes(4, "little"))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    with fs.BackgroundWriter(sink, queue_size=2) as w:
        threads = [threading.Thread(target=produce, args=(w, k * 1000)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    got = sorted(int.from_bytes(bytes(p), "little") for p in fs.StreamReader(bytes(sink.data)))
    assert got == sorted(i for k in range(3) for i in range(k * 1000, k * 1000 + 300))


def test_write_after_close_is_refused() -> None:
    w = fs.BackgroundWriter(SlowSink())
    w.close()
    with pytest.raises(ValueError):
        w.write(b"late")


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds (a generous bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def test_flush_interval_flushes_when_messages_stop() -> None:
    sink = SlowSink()
    with fs.BackgroundWriter(sink, flush_interval=0.02) as w:
        w.write(b"the last event before a quiet spell")
        assert wait_until(lambda: w.stats.written == 1)
        # No more messages come: the interval still bounds how long they sit unflushed.
        assert wait_until(lambda: sink.flushed >= 1)
        assert w.stats.flushes >= 1
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"the last event before a quiet spell"]


def test_flush_every_counts_messages_not_batches() -> None:
    sink = SlowSink()
    with fs.BackgroundWriter(sink, flush_every=1_000_000) as w:
        for p in payloads(50):
            w.write(p)
        assert wait_until(lambda: w.stats.written == 50)
        assert sink.flushed == 0 and w.stats.flushes == 0  # fewer than flush_every
    assert w.stats.flushes == 1 and sink.flushed >= 1  # close flushes anyway


class BlockedSink(SlowSink):
    """A sink whose first write blocks until released."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, data: Any) -> int:
        self.entered.set()
        self.release.wait(10)
        return super().write(data)


def test_the_capture_loop_never_waits_on_a_stuck_sink() -> None:
    sink = BlockedSink()
    w = fs.BackgroundWriter(sink, queue_size=1_000)
    try:
        w.write(b"first")
        assert sink.entered.wait(10)  # the I/O thread is inside the sink now
        for p in payloads(500):
            assert w.write(p)  # each returns while the disk is stuck
        assert not sink.release.is_set()
        stats = w.stats
        assert (stats.written, stats.queued, stats.high_water) == (0, 500, 500)
    finally:
        sink.release.set()
        w.close()
    got = [bytes(p) for p in fs.StreamReader(bytes(sink.data))]
    assert got == [b"first"] + payloads(500)


def test_drop_newest_keeps_the_queue_bounded_and_counts_exactly() -> None:
    sink = BlockedSink()
    w = fs.BackgroundWriter(sink, queue_size=10, overflow="drop_newest")
    try:
        w.write(b"first")
        assert sink.entered.wait(10)
        results = [w.write(p) for p in payloads(100)]
        assert results == [True] * 10 + [False] * 90  # the newest are refused
        assert (w.stats.dropped, w.stats.queued, w.stats.high_water) == (90, 10, 10)
    finally:
        sink.release.set()
        w.close()
    stats = w.stats
    assert (stats.written, stats.dropped, stats.queued) == (11, 90, 0)
    assert stats.bytes == len(sink.data)  # headers included
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"first"] + payloads(10)


def test_close_flushes_and_fsyncs_once_without_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "capture.fs"
    with fs.BackgroundWriter(open(path, "wb"), fs.ChecksumFramer("xxh3_64"), close_sink=True, fsync=True) as w:
        for p in payloads(100):
            w.write(p)
    assert (w.stats.flushes, w.stats.fsyncs) == (1, 1)
    assert fs.verify(path, "xxh3_64").frames == 100
    assert w.stats.bytes == path.stat().st_size


def test_a_message_accepted_while_the_io_thread_stops_is_still_written() -> None:
    """A producer thread may pass write()'s closed check just before close()
    and append after the I/O thread's last look at the queue: close() writes it."""
    sink = SlowSink()
    w = fs.BackgroundWriter(sink)
    w.write(b"early")
    w._stopping = True  # the I/O thread drains and stops, as in close()
    w._thread.join(10)
    assert not w._thread.is_alive()
    assert w.write(b"late but accepted")  # the racing producer
    w.close()
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"early", b"late but accepted"]
    assert (w.stats.written, w.stats.queued) == (2, 0)


def test_a_message_appended_after_the_final_drain_is_refused_not_lost() -> None:
    """The other side of the race: a producer past write()'s closed check
    whose append lands after close() drained for the last time. write() must
    not report it accepted (nothing would ever write it)."""
    sink = SlowSink()
    w = fs.BackgroundWriter(sink)
    w.write(b"early")
    w.close()
    w.closed = False  # as seen by a producer that checked before close()
    with pytest.raises(ValueError, match="closed"):
        w.write(b"too late")
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"early"]
    assert (w.stats.written, w.stats.queued) == (1, 0)


def test_block_policy_blocks_the_producer_while_the_sink_is_stalled() -> None:
    sink = BlockedSink()
    w = fs.BackgroundWriter(sink, queue_size=8, overflow="block")
    accepted: List[int] = []

    def produce() -> None:
        for i in range(100):
            w.write(i.to_bytes(4, "little"))
            accepted.append(i)

    producer = threading.Thread(target=produce)
    try:
        w.write(b"first")
        assert sink.entered.wait(10)  # the I/O thread is stuck inside the sink
        producer.start()
        assert wait_until(lambda: len(accepted) == 8)  # the queue fills ...
        producer.join(0.2)
        assert producer.is_alive()  # ... and the producer waits for a slot, not dropping
        assert len(accepted) == 8 and w.stats.queued == 8 and w.stats.dropped == 0
    finally:
        sink.release.set()
        producer.join(10)
        w.close()
    assert [bytes(p) for p in fs.StreamReader(bytes(sink.data))] == [b"first"] + [
        i.to_bytes(4, "little") for i in range(100)
    ]


class FullDiskSink(SlowSink):
    """Takes ``room`` bytes, then every write raises ENOSPC (and is counted)."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room
        self.refused = 0

    def write(self, data: Any) -> int:
        if len(self.data) + len(data) > self.room:
            self.refused += 1
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_full_disk_stops_the_io_thread_without_retrying() -> None:
    sink = FullDiskSink(room=1000)
    w = fs.BackgroundWriter(sink, fs.ChecksumFramer("crc32"), queue_size=16)
    with pytest.raises(OSError) as raised:
        for p in payloads(100_000):
            w.write(p)
    assert raised.value.errno == 28
    assert w.error is raised.value  # visible to a thread that does not write
    assert not wait_until(lambda: sink.refused > 1, timeout=0.2)  # one attempt, no retry loop
    assert not w._thread.is_alive()
    with pytest.raises(OSError):
        w.close()
    assert sink.refused == 1
    # what the sink took reads back as whole frames
    got = [bytes(p) for p in fs.StreamReader(bytes(sink.data), fs.ChecksumDeframer("crc32"))]
    assert got == payloads(len(got)) and w.stats.written == len(got)


def test_into_rotating_journal_segments_with_acknowledgements(tmp_path: Path) -> None:
    acks: List[Any] = []
    segments = fs.RotatingWriter(tmp_path, "cap", rotate_bytes=4000, format="journal",
                                 checksum="crc32c", fsync=True)
    items = payloads(3_000)
    with fs.BackgroundWriter(segments, close_sink=True, fsync=True, flush_every=1, queue_size=64,
                             on_flush=lambda frames, seconds: acks.append((frames, seconds))) as w:
        for p in items:
            assert w.write(p)
        w.flush(timeout=10)
        assert acks[-1][0] == 3_000  # flushed: everything accepted so far is acknowledged
    assert len(segments.segments) > 3
    frames = [a[0] for a in acks]
    assert frames == sorted(frames) and all(seconds is not None and seconds >= 0 for _, seconds in acks)
    stats = w.stats
    assert (stats.written, stats.dropped) == (3_000, 0)
    assert stats.bytes == sum(os.path.getsize(p) for p in segments.segments)
    for path in segments.segments:
        with fs.open(path, "rb") as r:
            assert r.state is fs.journal.JournalState.CLEAN
    assert [bytes(p) for p in fs.open_segments(tmp_path, checksum=None)] == items


def test_a_writer_target_refuses_on_the_callers_thread(tmp_path: Path) -> None:
    segments = fs.RotatingWriter(tmp_path, "cap", format="journal")
    with fs.BackgroundWriter(segments, close_sink=True) as w:
        with pytest.raises(fs.InvalidFrame, match="reserved"):
            w.write(b"\x08\x00\x00\x00FSJHxxxx")  # would pass for a journal header
        w.write(b"fine")
    assert [bytes(p) for p in fs.open_segments(tmp_path, checksum=None)] == [b"fine"]
    with pytest.raises(TypeError, match="framer"):
        fs.BackgroundWriter(fs.RotatingWriter(tmp_path, "other"), fs.DefaultFramer())
