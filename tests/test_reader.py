"""StreamReader over every kind of source, misbehaving sources, payload views,
typed reading with real flatc-generated classes, and a property test that any
payloads round-trip through every framer and source."""

from __future__ import annotations

import array
import errno
import gc
import io
import itertools
import mmap
import socket
import threading
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import flatbuffers
import numpy as np
import pytest
from helpers import (
    ALGOS,
    address_of,
    FILE_LIKE_KINDS,
    SCHEMAS,
    SOURCE_KINDS,
    WIDTH,
    CustomChecksum,
    EarlyEofSource,
    FailingSource,
    InterruptingSource,
    TrickleSource,
    expected_at_cut,
    generate_python,
    imported,
    open_source,
    read_all,
    reference_stream,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatstream as fs

PAYLOADS = [b"", b"a", b"hello", b"", b"x" * 300, b"\x00\xff" * 7, b"z"]


class Read1Source(TrickleSource):
    """A file-like with read1 (the reader prefers it), one byte per call."""

    def read(self, n: int = -1) -> bytes:
        raise AssertionError("read1 is available: read must not be called")

    def read1(self, n: int = -1) -> bytes:
        return super().read(n)


# -- sources -------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["none", "crc32"])
def test_one_byte_at_a_time(algo: str) -> None:
    stream = reference_stream(PAYLOADS, algo)
    for source in (TrickleSource(stream, step=1), Read1Source(stream, step=1)):
        assert read_all(fs.StreamReader(source, fs.Deframer(algo))) == (PAYLOADS, None)
        assert source.pos == len(stream)


def test_interrupted_reads_are_retried_never_surfaced() -> None:
    stream = reference_stream(PAYLOADS, "xxh3_64")
    source = InterruptingSource(stream, step=2)
    assert read_all(fs.StreamReader(source, fs.ChecksumDeframer("xxh3_64"))) == (PAYLOADS, None)
    assert source.interrupts > len(stream) // 2  # one per read: all of them were retried


@pytest.mark.parametrize(
    "make_error",
    [
        lambda: OSError(errno.EIO, "input/output error"),
        lambda: ConnectionResetError(errno.ECONNRESET, "reset by peer"),
    ],
    ids=["EIO", "ECONNRESET"],
)
@pytest.mark.parametrize("algo", ["none", "crc16"])
def test_os_error_at_every_offset_surfaces_unchanged(
    algo: str, make_error: Callable[[], OSError]
) -> None:
    """A device fault is not a torn frame: the very OSError object comes out,
    after the frames complete before it, never an end or UnexpectedEof."""
    stream = reference_stream(PAYLOADS, algo)
    for fail_at in range(len(stream) + 1):
        for step in (1, 1 << 20):
            error = make_error()
            source = FailingSource(stream, fail_at, error, step=step)
            got, raised = read_all(fs.StreamReader(source, fs.Deframer(algo)))
            assert raised is error, (fail_at, raised)
            done = expected_at_cut(PAYLOADS, WIDTH[algo], fail_at)[0]
            assert got == PAYLOADS[:done]


class FailingRaw(io.RawIOBase):
    """A raw device that fails after ``fail_at`` bytes, under a real BufferedReader."""

    def __init__(self, data: bytes, fail_at: int, error: OSError) -> None:
        self.data, self.fail_at, self.error, self.pos = data, fail_at, error, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.fail_at:
            raise self.error
        chunk = self.data[self.pos : min(self.fail_at, self.pos + len(buffer))]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def test_os_error_through_a_real_buffered_reader() -> None:
    stream = reference_stream(PAYLOADS, "crc32")
    for fail_at in range(len(stream) + 1):
        error = OSError(errno.EIO, "input/output error")
        source = io.BufferedReader(FailingRaw(stream, fail_at, error), buffer_size=16)
        got, raised = read_all(fs.StreamReader(source, fs.ChecksumDeframer("crc32")))
        assert raised is error, (fail_at, raised)
        assert got == PAYLOADS[: expected_at_cut(PAYLOADS, 4, fail_at)[0]]


@pytest.mark.parametrize("algo", ["none", "crc32c"])
def test_an_early_empty_read_is_the_end(algo: str) -> None:
    stream = reference_stream(PAYLOADS, algo)
    for eof_at in range(len(stream) + 1):
        source = EarlyEofSource(stream, eof_at)
        got, error = read_all(fs.StreamReader(source, fs.Deframer(algo)))
        done, _good, clean = expected_at_cut(PAYLOADS, WIDTH[algo], eof_at)
        assert got == PAYLOADS[:done]
        if clean:
            assert error is None
        else:
            assert isinstance(error, fs.UnexpectedEof), (eof_at, error)
        assert source.eof_sent and source.pos == eof_at  # nothing read after b""


def _write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_raw_unbuffered_file(tmp_path: Path) -> None:
    stream = reference_stream(PAYLOADS, "crc32")
    path = _write_file(tmp_path / "raw.bin", stream)
    with open(path, "rb", buffering=0) as raw:
        assert not hasattr(raw, "read1")
        assert read_all(fs.StreamReader(raw, fs.ChecksumDeframer("crc32"))) == (PAYLOADS, None)
    with open(path, "rb", buffering=0) as raw:  # and a tiny chunk size
        reader = fs.StreamReader(raw, fs.ChecksumDeframer("crc32"), chunk_size=3)
        assert read_all(reader) == (PAYLOADS, None)


def _socket_reader(
    stream: bytes, piece: int, deframer: fs.Deframer
) -> Tuple[List[bytes], Optional[BaseException]]:
    left, right = socket.socketpair()
    failures: List[BaseException] = []

    def send() -> None:
        try:
            with right:
                for start in range(0, len(stream), piece):
                    right.sendall(stream[start : start + piece])
                right.shutdown(socket.SHUT_WR)
        except BaseException as error:  # reported by the test below
            failures.append(error)

    thread = threading.Thread(target=send)
    thread.start()
    try:
        with left, left.makefile("rb") as source:
            result = read_all(fs.StreamReader(source, deframer))
    finally:
        thread.join()
    assert failures == []
    return result


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_socket_with_a_writer_thread(piece: int) -> None:
    payloads = PAYLOADS * 20
    stream = reference_stream(payloads, "xxh3_64")
    assert _socket_reader(stream, piece, fs.ChecksumDeframer("xxh3_64")) == (payloads, None)


def test_socket_peer_closing_mid_frame_is_a_torn_frame() -> None:
    stream = reference_stream(PAYLOADS, "crc32")
    got, error = _socket_reader(stream[:-3], 5, fs.ChecksumDeframer("crc32"))
    assert got == PAYLOADS[:-1]
    assert isinstance(error, fs.UnexpectedEof)


def _payload_starts(payloads: List[bytes], width: int) -> List[int]:
    starts, pos = [], 0
    for payload in payloads:
        starts.append(pos + 4 + width)
        pos += 4 + width + len(payload)
    return starts


def _check_slices_of(source: Any, width: int, deframer: fs.Deframer) -> List[bytes]:
    """Read ``source`` and check that every payload is a view into it (its
    address inside the source's own memory), not a copy."""
    views = list(fs.StreamReader(source, deframer))
    base = address_of(source)
    for view, start in zip(views, _payload_starts(PAYLOADS, width)):
        if len(view):
            assert address_of(view) == base + start
    return [bytes(v) for v in views]


def test_mmap_sources(tmp_path: Path) -> None:
    stream = reference_stream(PAYLOADS, "crc32")
    path = _write_file(tmp_path / "mapped.bin", stream)
    deframer = fs.ChecksumDeframer("crc32")
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert _check_slices_of(mapped, 4, deframer) == PAYLOADS
        gc.collect()  # the views are gone: the mapping can close


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_buffer_sources(kind: str) -> None:
    stream = reference_stream(PAYLOADS, "crc16")
    with open_source(kind, stream) as source:
        assert read_all(fs.StreamReader(source, fs.ChecksumDeframer("crc16"))) == (PAYLOADS, None)


def test_buffers_of_wider_items_are_read_as_bytes() -> None:
    stream = reference_stream([b"abcd", b"efghijkl"], "crc32")  # 28 bytes
    assert len(stream) % 4 == 0
    deframer = fs.ChecksumDeframer("crc32")
    sources = [
        np.frombuffer(stream, dtype=np.uint8),
        np.frombuffer(stream, dtype=np.int32),
        array.array("I", stream),
        memoryview(stream).cast("I"),
        memoryview(stream).cast("b"),
    ]
    for source in sources:
        assert read_all(fs.StreamReader(source, deframer)) == ([b"abcd", b"efghijkl"], None)
        assert fs.recover(source, deframer) == (2, len(stream), fs.RecoveryEnd.CLEAN_EOF)


def test_read_message_and_process_all() -> None:
    stream = reference_stream(PAYLOADS, "none")
    reader = fs.StreamReader(io.BytesIO(stream))
    first = reader.read_message()
    assert first is not None and bytes(first) == b""
    seen: List[bytes] = []
    assert reader.process_all(lambda p: seen.append(bytes(p))) == len(PAYLOADS) - 1
    assert seen == PAYLOADS[1:]
    assert reader.read_message() is None
    assert reader.read_message() is None


def test_an_exception_from_the_callback_stops_and_propagates() -> None:
    stream = reference_stream(PAYLOADS, "none")
    seen: List[bytes] = []

    def fn(payload: Any) -> None:
        seen.append(bytes(payload))
        if len(seen) == 3:
            raise KeyError("stop here")

    reader = fs.StreamReader(stream)
    with pytest.raises(KeyError, match="stop here"):
        reader.process_all(fn)
    assert seen == PAYLOADS[:3]
    payload = reader.read_message()  # the reader goes on
    assert payload is not None and bytes(payload) == PAYLOADS[3]


# -- views ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(FILE_LIKE_KINDS))
def test_a_held_view_goes_stale_over_a_file_like(kind: str) -> None:
    stream = reference_stream([b"first", b"second", b"third"], "crc32")
    with open_source(kind, stream) as source:
        reader = fs.StreamReader(source, fs.ChecksumDeframer("crc32"))
        first = reader.read_message()
        assert first is not None and bytes(first) == b"first"
        second = reader.read_message()
        assert second is not None and bytes(second) == b"second"
        with pytest.raises(ValueError):
            bytes(first)
        with pytest.raises(ValueError):
            first[0]
        assert bytes(second) == b"second"
        assert bytes(reader.read_message() or b"") == b"third"
        with pytest.raises(ValueError):
            bytes(second)
        reader.close()


@pytest.mark.parametrize("how", ["iteration", "messages", "process_all", "typed"])
def test_views_handed_out_by_the_loops_go_stale_too(how: str) -> None:
    """The loops (in native mode the decoder itself, no Python per frame)
    retire each payload when they advance, as read_message does."""
    payloads = [b"first", b"second", b"third"]
    stream = reference_stream(payloads, "crc32")
    reader = fs.StreamReader(io.BytesIO(stream), fs.ChecksumDeframer("crc32"))
    held: List[Any] = []
    if how == "iteration":
        for payload in reader:
            held.append(payload)
    elif how == "messages":
        held.extend(reader.messages())
    elif how == "process_all":
        assert reader.process_all(held.append) == 3
    else:

        class Holder:
            @staticmethod
            def decode(payload: Any) -> Any:
                return payload

        held.extend(reader.typed_messages(Holder))
    assert len(held) == 3
    for stale in held[:-1]:
        with pytest.raises(ValueError):
            bytes(stale)
    assert bytes(held[-1]) == b"third"  # nothing has advanced past the last one


class CountingSource(TrickleSource):
    """A file-like that gives whatever is asked and counts the calls."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data, step=1 << 30)
        self.sizes: List[int] = []

    def read(self, n: int = -1) -> bytes:
        self.sizes.append(n)
        return super().read(n)


def test_the_streaming_reader_reads_large_chunks_and_scans_many_frames_at_once(
    kernel_mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = [b"m%04d" % i for i in range(5000)]  # 5,000 frames, about 65 KB
    stream = reference_stream(payloads, "crc32c")
    scans: List[int] = []
    if kernel_mode == "python":
        # the pure decoder calls the scan kernel through _kernels: count those calls
        from flatstream import _kernels

        scan = _kernels.scan

        def counting_scan(*args: Any) -> Any:
            scans.append(1)
            return scan(*args)

        monkeypatch.setattr(_kernels, "scan", counting_scan)
    source = CountingSource(stream)
    assert read_all(fs.StreamReader(source, fs.ChecksumDeframer("crc32c"))) == (payloads, None)
    assert min(source.sizes) >= 64 * 1024  # large reads, not one per header or payload
    assert len(source.sizes) <= 3  # the whole stream, then the end
    if kernel_mode == "python":
        assert 1 <= len(scans) <= 4  # 5,000 frames found by a few scan calls


def test_views_over_bytes_and_mmap_are_slices_that_stay_valid() -> None:
    stream = reference_stream(PAYLOADS, "xxh3_64")
    deframer = fs.ChecksumDeframer("xxh3_64")
    assert _check_slices_of(stream, 8, deframer) == PAYLOADS
    views = list(fs.StreamReader(stream, deframer))
    assert [bytes(v) for v in views] == PAYLOADS  # all still valid after the end
    del views

    def mutate_under_views(mapped: mmap.mmap) -> None:
        views = list(fs.StreamReader(mapped, deframer))
        assert [bytes(v) for v in views] == PAYLOADS
        mapped[len(stream) - 1 : len(stream)] = b"Z"  # the last payload is b"z"
        assert bytes(views[-1]) == b"Z"  # no copy: the view shows the mapping

    with mmap.mmap(-1, len(stream)) as mapped:
        mapped[:] = stream
        assert _check_slices_of(mapped, 8, deframer) == PAYLOADS
        mutate_under_views(mapped)
        gc.collect()


def test_views_over_a_bytearray_show_its_bytes_without_copying() -> None:
    payloads = [b"aaaa", b"bbbb"]
    source = bytearray(reference_stream(payloads, "none"))
    reader = fs.StreamReader(source)
    first = reader.read_message()
    second = reader.read_message()
    assert first is not None and second is not None
    source[4] = ord("A")
    source[12:16] = b"BBBB"
    assert bytes(first) == b"Aaaa" and bytes(second) == b"BBBB"


def test_re_exported_views_keep_their_bytes_after_the_reader_advances() -> None:
    payloads = [bytes([i]) * (i + 1) for i in range(200)]
    stream = reference_stream(payloads, "crc32")
    # a tiny chunk size: the reader refills (and would compact) its buffer often
    reader = fs.StreamReader(
        TrickleSource(stream, step=5), fs.ChecksumDeframer("crc32"), chunk_size=5
    )
    kept_views: List[memoryview] = []
    kept_arrays: List[Any] = []
    for payload in reader:
        kept_views.append(memoryview(payload))
        kept_arrays.append(np.frombuffer(payload, dtype=np.uint8))
    assert [bytes(v) for v in kept_views] == payloads
    assert [a.tobytes() for a in kept_arrays] == payloads


@pytest.mark.parametrize("source_kind", ["bytes", "mmap"])
def test_payloads_a_loop_keeps_in_any_way_keep_their_bytes(source_kind: str) -> None:
    # The native iterator points a payload view nobody holds any more at the
    # next frame instead of allocating another: whatever a loop keeps (the
    # view, a memoryview or numpy array of it, a slice, a flatbuffers table,
    # an iterator's earlier results) must still show its own frame.
    payloads = [bytes([i % 251]) * (i % 40) for i in range(300)]
    stream = reference_stream(payloads, "crc32")
    with mmap.mmap(-1, len(stream)) as mapped:
        mapped[:] = stream
        source: Any = stream if source_kind == "bytes" else mapped
        kept: List[Tuple[int, Any]] = []
        for i, payload in enumerate(fs.StreamReader(source, fs.ChecksumDeframer("crc32"))):
            assert bytes(payload) == payloads[i]
            how = i % 6
            if how == 0:
                kept.append((i, payload))
            elif how == 1:
                kept.append((i, memoryview(payload)))
            elif how == 2:
                kept.append((i, np.frombuffer(payload, dtype=np.uint8)))
            elif how == 3:
                kept.append((i, payload[1:]))
            elif how == 4:
                kept.append((i, flatbuffers.table.Table(payload, 0)))
            # how == 5: dropped, so its view may be reused for the next frame
        for i, thing in kept:
            if isinstance(thing, flatbuffers.table.Table):
                assert bytes(thing.Bytes) == payloads[i]
            elif isinstance(thing, np.ndarray):
                assert thing.tobytes() == payloads[i]
            elif i % 6 == 3:
                assert bytes(thing) == payloads[i][1:]
            else:
                assert bytes(thing) == payloads[i]
        iterator = iter(fs.StreamReader(source, fs.ChecksumDeframer("crc32")))
        first, second, third = next(iterator), next(iterator), next(iterator)
        assert [bytes(first), bytes(second), bytes(third)] == payloads[:3]
        del first, second, third, iterator, kept, thing, payload
        gc.collect()  # nothing may still export the mapping when it closes


_PEAK_RSS_CHILD = """
import sys
import flatstream as fs

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

open("/proc/self/clear_refs", "w").write("5")  # the peak so far (imports) is not the loop's
before = status("VmRSS")
count = 0
with fs.open(sys.argv[1], "rb", checksum="xxh3_64") as reader:
    for payload in reader:  # the loop variable holds the previous payload
        count += len(payload) > 0
print(count, status("VmHWM") - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_streaming_large_frames_holds_about_one_frame(tmp_path: Path, kernel_mode: str) -> None:
    # Reading a file of large frames keeps one frame in memory (plus read
    # chunks), not the previous payload too: a stale view lets go of its
    # chunk, and a frame larger than a chunk is assembled in place.
    import os
    import subprocess
    import sys

    frame = 4 << 20
    path = tmp_path / "big.fs"
    with fs.open(path, "wb", checksum="xxh3_64") as writer:
        for i in range(12):
            writer.write_payload(bytes([i]) * frame)
    env = dict(os.environ)
    if kernel_mode == "python":
        env["FLATSTREAM_PURE_PYTHON"] = "1"
    # A fixed mmap threshold: glibc's dynamic one otherwise keeps freed 4 MiB
    # blocks in the heap once the first is unmapped, depending on what the
    # imports allocated before (seen: 4.2 MiB in one venv, 7.4 in a clean one,
    # the same code), which measures the allocator, not what the reader holds.
    env["MALLOC_MMAP_THRESHOLD_"] = str(128 * 1024)
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_CHILD, str(path)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    count, growth_kib = map(int, out.stdout.split())
    assert count == 12
    # One 4 MiB frame plus two 256 KiB chunks is 4.5 MiB; holding the previous
    # payload as well would be 8 MiB and more.
    assert growth_kib < 6 * 1024, f"peak RSS grew {growth_kib} KiB reading 4 MiB frames"


# -- typed reading with flatc-generated classes --------------------------------


def _build_event(builder: flatbuffers.Builder, module: Any, i: int) -> None:
    module.TelemetryEventStart(builder)
    module.TelemetryEventAddDeviceId(builder, 1000 + i)
    module.TelemetryEventAddTimestamp(builder, 1_700_000_000_000 + i)
    module.TelemetryEventAddValue(builder, i * 0.5)
    builder.Finish(module.TelemetryEventEnd(builder))


def test_typed_reading_with_flatc_generated_classes(tmp_path: Path) -> None:
    out = generate_python(SCHEMAS / "telemetry.fbs", tmp_path / "generated")
    assert (out / "telemetry" / "TelemetryEvent.py").exists()
    with imported(out, "telemetry.TelemetryEvent") as module:
        event_class = module.TelemetryEvent
        sink = io.BytesIO()
        with fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64")) as writer:
            for i in range(50):
                builder = flatbuffers.Builder(64)
                _build_event(builder, module, i)
                writer.write_finished(builder)
        stream = sink.getvalue()
        expected = [(1000 + i, 1_700_000_000_000 + i, i * 0.5) for i in range(50)]
        deframer = fs.ChecksumDeframer("xxh3_64")
        for source in (stream, io.BytesIO(stream), TrickleSource(stream, step=11)):
            seen: List[Tuple[int, int, float]] = []
            count = fs.StreamReader(source, deframer).process_typed(
                event_class, lambda e: seen.append((e.DeviceId(), e.Timestamp(), e.Value()))
            )
            assert count == 50 and seen == expected
        for source in (stream, io.BytesIO(stream)):
            events = fs.StreamReader(source, deframer).typed_messages(event_class)
            got = [(e.DeviceId(), e.Timestamp(), e.Value()) for e in events]
            assert got == expected
        # over bytes the objects stay usable after the loop (zero-copy views)
        events = list(fs.StreamReader(stream, deframer).typed_messages(event_class))
        assert events[7].DeviceId() == 1007


def test_typed_reading_refuses_what_is_not_a_class_or_codec() -> None:
    reader = fs.StreamReader(reference_stream([b"1234"], "none"))
    with pytest.raises(TypeError):
        list(reader.typed_messages(object()))


# -- sizes ---------------------------------------------------------------------


def test_payloads_of_0_1_and_16_mib(tmp_path: Path) -> None:
    big = bytes(range(256)) * (1 << 16)  # 16 MiB
    payloads = [b"", b"\x01", big, b"", b"\x02"]
    path = tmp_path / "big.bin"
    with fs.open(path, "wb", checksum="xxh3_64") as writer:
        for payload in payloads:
            writer.write_payload(payload)
    stream = path.read_bytes()
    assert stream == reference_stream(payloads, "xxh3_64")
    with fs.open(path, "rb", checksum="xxh3_64") as reader:
        got = [bytes(p) for p in reader]
    assert got == payloads
    assert [bytes(p) for p in fs.StreamReader(stream, fs.ChecksumDeframer("xxh3_64"))] == payloads
    # a limit just below the big frame refuses it before reading it
    _, error = read_all(fs.StreamReader(io.BytesIO(stream), fs.ChecksumDeframer("xxh3_64", len(big) - 1)))
    assert isinstance(error, fs.InvalidFrame) and error.offset == 4 + 8 + 4 + 8 + 1


def test_a_stream_of_100k_frames_through_a_file(tmp_path: Path) -> None:
    count = 100_000
    payloads = [i.to_bytes(4, "little") * (i % 5) for i in range(count)]
    path = tmp_path / "many.bin"
    with fs.open(path, "wb", checksum="crc32c") as writer:
        for start in range(0, count, 10_000):
            writer.write_many(payloads[start : start + 10_000])
    assert path.stat().st_size == sum(8 + len(p) for p in payloads)
    with fs.open(path, "rb", checksum="crc32c") as reader:
        got = [bytes(p) for p in reader]
    assert got == payloads
    with open(path, "rb") as file:
        assert fs.recover_file(file, fs.ChecksumDeframer("crc32c")) == (
            count,
            path.stat().st_size,
            fs.RecoveryEnd.CLEAN_EOF,
        )


# -- any payloads, every framer, every source ----------------------------------

CHECKSUM_CHOICES = ALGOS + ["custom3"]
ADAPTER_ORDERS = [
    order
    for r in range(4)
    for order in itertools.permutations(["bounded", "observed", "validator"], r)
]


def _checksum(name: str) -> Any:
    return CustomChecksum(3) if name == "custom3" else name


def _compose(base: Any, order: Tuple[str, ...], limit: int, calls: List[bytes]) -> Any:
    for name in order:
        if name == "bounded":
            base = base.bounded(limit)
        elif name == "observed":
            base = base.observed(lambda p: calls.append(bytes(p)))
        else:
            base = base.with_validator(fs.SizeValidator(0, limit))
    return base


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payloads=st.lists(st.binary(max_size=64), max_size=12),
    checksum=st.sampled_from(CHECKSUM_CHOICES),
    order=st.sampled_from(ADAPTER_ORDERS),
    kind=st.sampled_from(SOURCE_KINDS),
    batch=st.booleans(),
)
def test_any_payloads_round_trip(
    payloads: List[bytes], checksum: str, order: Tuple[str, ...], kind: str, batch: bool
) -> None:
    limit = max((len(p) for p in payloads), default=0)
    written: List[bytes] = []
    framer = _compose(fs.ChecksumFramer(_checksum(checksum)), order, limit, written)
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        if batch:
            writer.write_many(payloads)
        else:
            for payload in payloads:
                writer.write_payload(payload)
    stream = sink.getvalue()
    if checksum != "custom3":
        # the same bytes in both kernel modes: the spec's, built independently
        assert stream == reference_stream(payloads, checksum)
    assert written == (payloads if "observed" in order else [])
    read_calls: List[bytes] = []
    deframer = _compose(fs.ChecksumDeframer(_checksum(checksum)), order, limit, read_calls)
    with open_source(kind, stream) as source:
        got, error = read_all(fs.StreamReader(source, deframer))
        del source
    assert (got, error) == (payloads, None)
    assert read_calls == (payloads if "observed" in order else [])
