"""BackgroundWriter: the capture thread never writes; nothing accepted is lost."""

from __future__ import annotations

import io
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
