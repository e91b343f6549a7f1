"""The native kernels and their pure-Python twins give identical results."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flatstream import _kernels
from flatstream._kernels import pure

native = _kernels.native
needs_native = pytest.mark.skipif(native is None, reason="extension not built")
ALGOS = ["none", "crc16", "crc32", "crc32c", "xxh3_64"]
WIDTH = {"none": 0, "crc16": 2, "crc32": 4, "crc32c": 4, "xxh3_64": 8}


def test_ci_builds_the_extension() -> None:
    # CI must exercise the native path; a missing build would silently test only the twins.
    if os.environ.get("CI"):
        assert native is not None


def test_env_var_selects_the_twins() -> None:
    code = "import flatstream; print(flatstream.KERNELS)"
    env = dict(os.environ, FLATSTREAM_PURE_PYTHON="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "python", out.stderr


@needs_native
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALGOS), st.binary(max_size=300))
def test_checksum_twins_agree(algo: str, data: bytes) -> None:
    assert native.checksum(algo, data) == pure.checksum(algo, data)


@needs_native
@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=200),
    start=st.integers(0, 210),
    algo=st.sampled_from(ALGOS + [None]),
    width=st.sampled_from([0, 2, 3, 4, 8]),
    max_frame_len=st.integers(0, 300),
    max_frames=st.integers(1, 20),
)
def test_scan_twins_agree_on_any_bytes(
    data: bytes, start: int, algo: "str | None", width: int, max_frame_len: int, max_frames: int
) -> None:
    if algo is not None:
        width = WIDTH[algo]
    args = (data, start, width, algo, max_frame_len, max_frames)
    assert native.scan(*args) == pure.scan(*args)


@needs_native
@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=100), max_size=20), st.sampled_from(ALGOS))
def test_frame_many_twins_agree(payloads: "list[bytes]", algo: str) -> None:
    framed, too_long = native.frame_many(payloads, WIDTH[algo], algo, 1 << 32)
    assert (framed, too_long) == pure.frame_many(payloads, WIDTH[algo], algo, 1 << 32)
    assert too_long is None
    if payloads:  # a limit below the longest payload frames nothing and names the first
        limit = max(map(len, payloads)) - 1
        first = next(i for i, p in enumerate(payloads) if len(p) > limit)
        if limit >= 0:
            assert native.frame_many(payloads, WIDTH[algo], algo, limit) == (None, first)
            assert pure.frame_many(payloads, WIDTH[algo], algo, limit) == (None, first)
    # and the scan finds exactly those frames again
    offsets, lengths, stop, status, _, _ = native.scan(framed, 0, WIDTH[algo], algo, 1 << 31, 10**6)
    assert status == _kernels.CLEAN and stop == len(framed)
    assert list(memoryview(lengths).cast("I")) == [len(p) for p in payloads]


class _Sink:
    """Records writes; takes at most ``short`` bytes of each (0: all)."""

    def __init__(self, short: int = 0) -> None:
        self.data = bytearray()
        self.calls = 0
        self.short = short

    def write(self, chunk: object) -> int:
        self.calls += 1
        view = memoryview(chunk).cast("B")  # type: ignore[arg-type]
        take = len(view) if not self.short else min(self.short, len(view))
        self.data += view[:take]
        return take


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=100), max_size=20),
    st.sampled_from(ALGOS),
    st.integers(0, 120),
    st.sampled_from([0, 1, 7]),
)
def test_frame_sink_twins_agree(
    payloads: "list[bytes]", algo: str, fast_below: int, short: int
) -> None:
    from flatstream.wire._io import write_all

    results = []
    for kernel in (native, pure):
        sink, slow = _Sink(short), []
        core = kernel.FrameSink(
            sink.write, WIDTH[algo], algo, fast_below, slow.append, write_all, {}, slow.append
        )
        for payload in payloads:
            core.write_payload(payload)
            core.write_payload(memoryview(bytearray(payload)))
        results.append((bytes(sink.data), slow, core.frames, core.nbytes))
    assert results[0] == results[1]
    data, slow, frames, nbytes = results[0]
    # What the kernel framed are exactly frame_many's frames of the short payloads.
    fast = [p for p in payloads for _ in (0, 1) if len(p) < fast_below]
    assert data == pure.frame_many(fast, WIDTH[algo], algo, 1 << 32)[0]
    assert (frames, nbytes) == (len(fast), len(data))
    assert [bytes(p) for p in slow] == [p for p in payloads for _ in (0, 1) if len(p) >= fast_below]


@needs_native
def test_frame_sink_write_finds_the_encoder_by_exact_type() -> None:
    from flatstream.wire._io import write_all

    class Text(str):
        pass

    results = []
    for kernel in (native, pure):
        sink, slow, unknown = _Sink(), [], []
        encoders = {str: lambda s: s.encode(), int: lambda n: bytes([n])}
        core = kernel.FrameSink(
            sink.write, 2, "crc16", 100, slow.append, write_all, encoders, unknown.append
        )
        for item in ["abc", 7, Text("sub"), 2.5, "x" * 150]:
            core.write(item)
        results.append((bytes(sink.data), [bytes(p) for p in slow], unknown, core.frames))
    assert results[0] == results[1]
    data, slow, unknown, frames = results[0]
    assert data == pure.frame_many([b"abc", b"\x07"], 2, "crc16", 100)[0]
    assert slow == [b"x" * 150]  # encoded, then too long for the sink's own path
    assert unknown == [Text("sub"), 2.5] and frames == 2


@pytest.mark.parametrize("kernel", [k for k in (native, pure) if k is not None])
def test_frame_sink_stops_after_a_failed_write_and_after_close(kernel: object) -> None:
    from flatstream.wire._io import write_all

    error = OSError(5, "disk on fire")

    def failing(chunk: object) -> int:
        raise error

    slow: list = []
    core = kernel.FrameSink(failing, 0, "none", 100, slow.append, write_all, {}, slow.append)  # type: ignore[attr-defined]
    with pytest.raises(OSError) as raised:
        core.write_payload(b"abc")
    assert raised.value is error and core.failed is error
    assert (core.frames, core.nbytes) == (0, 0)
    core.write_payload(b"abc")  # a stopped sink leaves every payload to the slow path
    assert slow == [b"abc"]
    sink = _Sink()
    core = kernel.FrameSink(sink.write, 0, "none", 100, slow.append, write_all, {}, slow.append)  # type: ignore[attr-defined]
    core.count(2, 10)
    core.close()
    core.write_payload(b"de")
    assert (core.closed, core.frames, core.nbytes, sink.calls) == (True, 2, 10, 0)
    assert slow == [b"abc", b"de"]


@needs_native
def test_frame_many_list_of_mixed_buffers() -> None:
    # A list that is not all bytes leaves the native list fast path: same result.
    payloads = [b"abc", bytearray(b"de"), memoryview(b"fgh"), b""]
    for algo in ALGOS:
        args = (payloads, WIDTH[algo], algo, 1 << 32)
        assert native.frame_many(*args) == pure.frame_many(*args)
        assert native.frame_many(*args)[0] == pure.frame_many(
            [bytes(p) for p in payloads], WIDTH[algo], algo, 1 << 32
        )[0]


@pytest.mark.parametrize("kernel", [k for k in (native, pure) if k is not None])
def test_frame_many_into_a_reused_bytearray(kernel: Any) -> None:
    out = bytearray(b"old contents, longer than the frames that replace them" * 10)
    for payloads in ([b"abc", b"de"], [b"x" * 300], [], [bytearray(b"mixed"), b"types"]):
        for algo in ALGOS:
            framed, too_long = kernel.frame_many(payloads, WIDTH[algo], algo, 1 << 32, out)
            assert framed is out and too_long is None
            assert out == pure.frame_many(payloads, WIDTH[algo], algo, 1 << 32)[0]
    # too long: nothing framed, out untouched
    before = bytes(out)
    assert kernel.frame_many([b"abc", b"toolong"], 0, "none", 3, out) == (None, 1)
    assert out == before
    # a live view of out (a sink that kept it, or a payload viewing it) is never overwritten
    view = memoryview(out)
    for size in (len(out) - 4, len(out) + 10):  # the same size (no resize) and another
        with pytest.raises(BufferError, match="exported"):
            kernel.frame_many([b"y" * size], 0, "none", 1 << 32, out)
        assert out == before
    with pytest.raises(BufferError, match="exported"):
        kernel.frame_many([view[:3], view[3:6]], 0, "none", 1 << 32, out)
    view.release()
    with pytest.raises(TypeError):
        kernel.frame_many([b"a"], 0, "none", 1 << 32, bytes(4))


@pytest.mark.parametrize("kernel", [k for k in (native, pure) if k is not None])
def test_kernels_take_any_buffer(kernel: object) -> None:
    import array
    import mmap

    framed, _ = pure.frame_many([b"abc", b"de"], 4, "crc32", 100)
    with mmap.mmap(-1, len(framed)) as mapped:
        mapped[:] = framed
        sources = [framed, bytearray(framed), memoryview(framed), mapped, array.array("B", framed)]
        for source in sources:
            assert kernel.scan(source, 0, 4, "crc32", 100, 100)[2:4] == (len(framed), 0)  # type: ignore[attr-defined]
        del sources, source


@pytest.mark.parametrize("kernel", [k for k in (native, pure) if k is not None])
def test_kernels_refuse_bad_arguments(kernel: object) -> None:
    with pytest.raises(ValueError):
        kernel.checksum("md5", b"")  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        kernel.scan(b"", 0, 9, None, 1, 1)  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        kernel.scan(b"", 0, 2, "crc32", 1, 1)  # type: ignore[attr-defined]
