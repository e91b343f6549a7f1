"""StreamWriter: the ways in (str, serialize, finished builders, payloads,
batches), flush/close, and sinks that fail, write short or get interrupted."""

from __future__ import annotations

import errno
import io
import socket
import threading
from pathlib import Path
from typing import Any, List

import flatbuffers
import pytest
from flatbuffers.table import Table
from helpers import (
    FailingSink,
    InterruptingSink,
    RecordingSink,
    ShortWriteSink,
    address_of,
    expected_at_cut,
    read_all,
    reference_frame,
    reference_stream,
)

import flatstream as fs


def _string_root(payload: Any) -> str:
    """The root string of a FlatBuffer, read with the official runtime."""
    return Table(bytearray(payload), 0).String(0).decode("utf-8")


class Event:
    """A user type with serialize(builder), as simple mode expects."""

    def __init__(self, device_id: int, value: float, name: str) -> None:
        self.device_id, self.value, self.name = device_id, value, name

    def serialize(self, builder: flatbuffers.Builder) -> None:
        name = builder.CreateString(self.name)
        builder.StartObject(3)
        builder.PrependUint64Slot(0, self.device_id, 0)
        builder.PrependFloat64Slot(1, self.value, 0.0)
        builder.PrependUOffsetTRelativeSlot(2, name, 0)
        builder.Finish(builder.EndObject())


def _independent_bytes(item: Any) -> bytes:
    builder = flatbuffers.Builder(0)
    if isinstance(item, str):
        builder.Finish(builder.CreateString(item))
    else:
        item.serialize(builder)
    return bytes(builder.Output())


def test_write_str_makes_a_flatbuffer_string_root() -> None:
    texts = ["", "hello", "héllo wörld ✓", "x" * 5000]
    sink = io.BytesIO()
    with fs.StreamWriter(sink, fs.ChecksumFramer("crc32")) as writer:
        for text in texts:
            writer.write(text)
    payloads, error = read_all(fs.StreamReader(sink.getvalue(), fs.ChecksumDeframer("crc32")))
    assert error is None
    assert [_string_root(p) for p in payloads] == texts
    assert payloads == [_independent_bytes(t) for t in texts]


def test_write_an_object_with_serialize() -> None:
    events = [Event(i, i / 4, f"sensor-{i}") for i in range(20)]
    sink = io.BytesIO()
    with fs.StreamWriter(sink) as writer:
        for event in events:
            writer.write(event)
    payloads, error = read_all(fs.StreamReader(sink.getvalue()))
    assert error is None
    assert payloads == [_independent_bytes(e) for e in events]
    table = Table(bytearray(payloads[3]), 0)
    table.Pos = table.Get(flatbuffers.number_types.UOffsetTFlags, 0)
    assert table.Get(flatbuffers.number_types.Uint64Flags, table.Pos + table.Offset(4)) == 3


def test_write_refuses_what_it_cannot_serialize() -> None:
    sink = RecordingSink()
    writer = fs.StreamWriter(sink)
    with pytest.raises(TypeError, match="serialize"):
        writer.write(12345)
    with pytest.raises(TypeError):
        writer.write(object())
    assert sink.calls == []
    writer.write(b"still fine")
    assert sink.getvalue() == reference_frame(b"still fine")


class KeepingSink:
    """Keeps the objects it is given (to see whether they are copies)."""

    def __init__(self) -> None:
        self.objects: List[Any] = []

    def write(self, data: Any) -> int:
        self.objects.append(data)
        return memoryview(data).nbytes


def test_write_finished_frames_the_builder_without_copying() -> None:
    builder = flatbuffers.Builder(0)
    builder.Finish(builder.CreateString("y" * 100_000))
    assert address_of(fs.finished_bytes(builder)) == address_of(builder.Bytes) + builder.Head()
    sink = KeepingSink()
    writer = fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64"))
    writer.write_finished(builder)
    header, payload = sink.objects  # a large payload goes out as itself, after its header
    assert address_of(payload) == address_of(builder.Bytes) + builder.Head()
    assert bytes(header) + bytes(payload) == reference_frame(builder.Output(), "xxh3_64")


def test_write_finished_refuses_an_unfinished_builder() -> None:
    builder = flatbuffers.Builder(0)
    builder.CreateString("not finished")
    sink = RecordingSink()
    writer = fs.StreamWriter(sink)
    with pytest.raises(ValueError, match="not finished"):
        writer.write_finished(builder)
    with pytest.raises(ValueError):
        writer.write_many([b"ok", builder])
    assert sink.calls == []


@pytest.mark.parametrize("algo", ["none", "crc16", "xxh3_64"])
def test_write_payload_takes_any_bytes_like(algo: str) -> None:
    payload = b"payload bytes"
    sink = io.BytesIO()
    with fs.StreamWriter(sink, fs.ChecksumFramer(algo)) as writer:
        writer.write_payload(payload)
        writer.write_payload(bytearray(payload))
        writer.write_payload(memoryview(b"--" + payload)[2:])
        writer.write_payload(b"")
    assert sink.getvalue() == reference_stream([payload] * 3 + [b""], algo)
    assert writer.frames_written == 4
    assert writer.bytes_written == len(sink.getvalue())


def test_write_many_is_one_sink_call() -> None:
    builder = flatbuffers.Builder(0)
    builder.Finish(builder.CreateString("from a builder"))
    items: List[Any] = [b"raw", "text", Event(1, 2.0, "e"), builder, bytearray(b"ba"), memoryview(b"mv")]
    sink = RecordingSink()
    writer = fs.StreamWriter(sink, fs.ChecksumFramer("crc32"))
    assert writer.write_many(items) == len(items)
    assert len(sink.calls) == 1
    one_by_one = io.BytesIO()
    with fs.StreamWriter(one_by_one, fs.ChecksumFramer("crc32")) as single:
        for item in items:
            if isinstance(item, flatbuffers.Builder):
                single.write_finished(item)
            else:
                single.write(item)
    assert sink.calls[0] == one_by_one.getvalue()
    assert writer.frames_written == len(items)
    assert writer.write_many([]) == 0


@pytest.mark.parametrize("algo", ["none", "crc16", "xxh3_64"])
def test_write_many_batches_reach_any_sink_intact(algo: str) -> None:
    # The kernel frames a list of bytes into a buffer it reuses from batch to
    # batch, but only when nothing holds it any more: what a sink keeps (the
    # object itself, a memoryview of it) still shows its own batch later.
    batches = [[bytes([n]) * (n % 7) + b"batch %d" % n for _ in range(50)] for n in range(6)]
    keeping, copying = KeepingSink(), io.BytesIO()
    views: List[memoryview] = []

    class ExportingSink:
        def write(self, data: Any) -> int:
            views.append(memoryview(data))
            return views[-1].nbytes

    writers = [
        fs.StreamWriter(keeping, fs.ChecksumFramer(algo)),
        fs.StreamWriter(ExportingSink(), fs.ChecksumFramer(algo)),
        fs.StreamWriter(copying, fs.ChecksumFramer(algo)),
    ]
    for batch in batches:
        for writer in writers:
            assert writer.write_many(batch) == len(batch)
    expected = [reference_stream(batch, algo) for batch in batches]
    assert [bytes(obj) for obj in keeping.objects] == expected
    assert [bytes(view) for view in views] == expected
    assert copying.getvalue() == b"".join(expected)
    for writer in writers:
        assert writer.frames_written == 300
        assert writer.bytes_written == len(copying.getvalue())


@pytest.mark.parametrize("algo", ["none", "crc32", "xxh3_64"])
def test_write_many_reuses_one_buffer_over_io_sinks_and_never_overwrites_a_kept_view(algo: str) -> None:
    # An io sink may not keep what write() gets (io's contract), so a
    # long-lived writer frames every batch into one reused bytearray. A sink
    # that breaks the contract and keeps a view of it makes the writer stop
    # reusing (the buffer is exported): the views it kept stay intact.
    batches = [[bytes([n]) * (n % 5) + b"batch %d" % n for _ in range(40)] for n in range(5)]
    expected = [reference_stream(batch, algo) for batch in batches]
    copying = io.BytesIO()
    writer = fs.StreamWriter(copying, fs.ChecksumFramer(algo))
    kept: List[memoryview] = []

    class KeepingRaw(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            kept.append(memoryview(data))
            return kept[-1].nbytes

    keeping = fs.StreamWriter(KeepingRaw(), fs.ChecksumFramer(algo))
    buffers = []
    for batch in batches:
        writer.write_many(batch)
        keeping.write_many(batch)
        buffers.append(writer._batch)
    assert copying.getvalue() == b"".join(expected)
    assert all(b is buffers[0] for b in buffers) and buffers[0] is not None  # one buffer, reused
    assert [bytes(view) for view in kept] == expected
    assert keeping._batch is None  # the kept view stopped the reuse
    # payloads that are views of the reused buffer itself are framed intact
    view_batch = [bytes(buffers[0][:8]), memoryview(buffers[0])[4:12]]
    before = [bytes(p) for p in view_batch]
    writer.write_many(view_batch)
    assert copying.getvalue().endswith(reference_stream(before, algo))


def test_write_many_takes_any_iterable_and_checks_it_all_first() -> None:
    payloads = [b"p%d" % i for i in range(10)]
    sink = RecordingSink()
    writer = fs.StreamWriter(sink, fs.ChecksumFramer("crc32c"))
    assert writer.write_many(p for p in payloads) == 10  # a generator, consumed once
    assert writer.write_many(iter(())) == 0
    assert writer.write_many(tuple(payloads[:2])) == 2
    assert sink.getvalue() == reference_stream(payloads + payloads[:2], "crc32c")
    # a validator refusing the last item of a generator: nothing of the batch is written
    sink = RecordingSink()
    refusing = fs.StreamWriter(
        sink, fs.ChecksumFramer("crc32c").with_validator(fs.SizeValidator(min_len=1))
    )
    with pytest.raises(fs.ValidationFailed):
        refusing.write_many(p for p in [b"a", b"b", b""])
    assert sink.calls == [] and refusing.frames_written == 0


def test_flush_close_and_with() -> None:
    sink = RecordingSink()
    writer = fs.StreamWriter(sink)
    writer.write_payload(b"a")
    writer.flush()
    assert sink.flushes == 1
    writer.close()
    assert sink.flushes == 2 and not sink.closed  # not ours to close
    writer.close()  # idempotent
    assert sink.flushes == 2
    with pytest.raises(ValueError, match="closed"):
        writer.write_payload(b"b")
    with pytest.raises(ValueError, match="closed"):
        writer.write_many([b"b"])

    owned = RecordingSink()
    with fs.StreamWriter(owned, close_sink=True) as writer:
        writer.write("x")
    assert owned.closed and owned.flushes == 1
    assert writer.closed

    no_flush = io.RawIOBase()  # a sink without buffering still works
    assert fs.StreamWriter(no_flush).close() is None


# -- sinks that fail -----------------------------------------------------------

PAYLOADS = [b"", b"a", b"hello world", b"", b"z" * 5000, b"bye"]


def _write_until_failure(writer: fs.StreamWriter, batch: bool) -> None:
    if batch:
        writer.write_many(PAYLOADS[:3])
        writer.write_many(PAYLOADS[3:])
    else:
        for payload in PAYLOADS:
            writer.write_payload(payload)


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "write_many"])
@pytest.mark.parametrize("raise_partial", [False, True], ids=["short-then-raise", "partial-raise"])
@pytest.mark.parametrize("algo", ["none", "crc32"])
def test_a_sink_that_fails_part_way(algo: str, raise_partial: bool, batch: bool) -> None:
    """The OSError comes out unchanged; the writer then refuses to go on; what
    reached the sink recovers to its good frames and a torn tail or clean end."""
    stream = reference_stream(PAYLOADS, algo)
    width = 4 if algo == "crc32" else 0
    cuts = sorted(set(range(0, 64)) | set(range(len(stream) - 40, len(stream))))
    for capacity in cuts:
        error = OSError(errno.ENOSPC, "no space left on device")
        sink = FailingSink(capacity, error, raise_partial=raise_partial)
        writer = fs.StreamWriter(sink, fs.ChecksumFramer(algo))
        with pytest.raises(OSError) as info:
            _write_until_failure(writer, batch)
        assert info.value is error
        with pytest.raises(ValueError, match="failed write"):
            writer.write_payload(b"after the failure")
        with pytest.raises(ValueError):
            writer.write_many([b"after the failure"])
        writer.close()
        written = sink.getvalue()
        assert written == stream[:capacity]
        report = fs.recover(written, fs.Deframer(algo))
        done, good, clean = expected_at_cut(PAYLOADS, width, capacity)
        assert report.frames == done and report.last_good_offset == good
        assert report.end is (fs.RecoveryEnd.CLEAN_EOF if clean else fs.RecoveryEnd.TORN_TAIL)
        got, _ = read_all(fs.StreamReader(written, fs.Deframer(algo)))
        assert got == PAYLOADS[:done]


@pytest.mark.parametrize("max_per_call", [1, 3, 4096])
def test_short_writes_are_completed(max_per_call: int) -> None:
    sink = ShortWriteSink(max_per_call)
    with fs.StreamWriter(sink, fs.ChecksumFramer("crc16")) as writer:
        for payload in PAYLOADS:
            writer.write_payload(payload)
        writer.write_many(PAYLOADS)
    assert sink.getvalue() == reference_stream(PAYLOADS * 2, "crc16")


def test_interrupted_writes_are_retried() -> None:
    sink = InterruptingSink()
    with fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64")) as writer:
        for payload in PAYLOADS:
            writer.write_payload(payload)
        writer.write_many(PAYLOADS)
        writer.write("text")
    assert sink.interrupts == len(sink.calls) > 0
    expected = reference_stream(PAYLOADS * 2, "xxh3_64") + reference_frame(
        _independent_bytes("text"), "xxh3_64"
    )
    assert sink.getvalue() == expected


def test_a_sink_accepting_nothing_is_an_error_not_a_hang() -> None:
    class Stuck(RecordingSink):
        def write(self, data: Any) -> int:
            return 0

    writer = fs.StreamWriter(Stuck())
    with pytest.raises(OSError):
        writer.write_payload(b"never written")
    with pytest.raises(ValueError):
        writer.write_payload(b"refused after the failure")


def test_a_refusal_is_not_a_failure() -> None:
    sink = RecordingSink()
    writer = fs.StreamWriter(sink, fs.DefaultFramer().with_validator(fs.SizeValidator(1)))
    with pytest.raises(fs.ValidationFailed):
        writer.write_payload(b"")
    writer.write_payload(b"ok")
    assert sink.getvalue().endswith(reference_frame(b"ok"))


def test_a_raw_unbuffered_file_sink(tmp_path: Path) -> None:
    path = tmp_path / "raw.bin"
    with open(path, "wb", buffering=0) as raw:
        with fs.StreamWriter(raw, fs.ChecksumFramer("crc32c")) as writer:
            for payload in PAYLOADS:
                writer.write_payload(payload)
            writer.write_many(PAYLOADS)
    assert path.read_bytes() == reference_stream(PAYLOADS * 2, "crc32c")


def test_a_socket_between_a_writer_thread_and_a_reader() -> None:
    left, right = socket.socketpair()
    payloads = [b"message %d" % i * (i % 7) for i in range(500)]
    failures: List[BaseException] = []

    def produce() -> None:
        try:
            with right, right.makefile("wb") as sink:
                with fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64")) as writer:
                    for i, payload in enumerate(payloads):
                        if i % 50 == 0:
                            writer.flush()
                        writer.write_payload(payload)
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        with left, left.makefile("rb") as source:
            got, error = read_all(fs.StreamReader(source, fs.ChecksumDeframer("xxh3_64")))
    finally:
        thread.join()
    assert failures == []
    assert (got, error) == (payloads, None)
