"""The frame decoder and the reader on damaged input: truncation at every
byte, every single-bit flip, hostile lengths, sticky errors, and the spec's
order of errors."""

from __future__ import annotations

import array
import io
import os
import struct
import subprocess
import sys
import tracemalloc
from typing import Any, Callable, List, Optional, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import (
    ALGOS,
    CHECKED_ALGOS,
    WIDTH,
    TrickleSource,
    expected_at_cut,
    read_all,
    reference_checksum,
    kernels,
    reference_stream,
)

import flatstream as fs

# 0-byte and 1-byte payloads, back to back and between others.
PAYLOADS = [b"", b"a", b"", b"hello", b"\x00" * 3, b"z"]


def _decode_fed(data: bytes, algo: str, step: int, limit: int = 1 << 31) -> Any:
    """Drive the sans-I/O decoder by hand, ``step`` bytes at a time."""
    decoder = fs.FrameDecoder(fs.resolve_checksum(algo), limit)
    got: List[bytes] = []
    pos = 0
    try:
        while True:
            event = decoder.next_frame()
            if event is fs.NEED_DATA:
                assert decoder.bytes_needed > 0
                if pos < len(data):
                    decoder.feed(data[pos : pos + step])
                    pos += step
                else:
                    decoder.feed_eof()
            elif event is fs.END:
                return got, None
            else:
                got.append(bytes(event))
    except fs.FlatstreamError as error:
        return got, error


Source = Callable[[bytes], Any]
SOURCES: List[Source] = [bytes, io.BytesIO, lambda data: TrickleSource(data, step=1)]
SOURCE_IDS = ["bytes", "bytesio", "trickle"]


@pytest.mark.parametrize("algo", ALGOS)
def test_truncation_at_every_byte(algo: str) -> None:
    """Every complete frame is delivered, then a clean end (cut on a frame
    boundary) or UnexpectedEof (cut inside a frame)."""
    stream = reference_stream(PAYLOADS, algo)
    width = WIDTH[algo]
    header = 4 + width
    for cut in range(len(stream) + 1):
        data = stream[:cut]
        done, good, clean = expected_at_cut(PAYLOADS, width, cut)
        results = [read_all(fs.StreamReader(make(data), fs.Deframer(algo))) for make in SOURCES]
        results.append(_decode_fed(data, algo, step=1))
        results.append(_decode_fed(data, algo, step=4))
        for got, error in results:
            assert got == PAYLOADS[:done], cut
            if clean:
                assert error is None, (cut, error)
                continue
            assert isinstance(error, fs.UnexpectedEof), (cut, error)
            assert isinstance(error, EOFError)
            available = cut - good
            assert error.offset == good
            assert error.available == available
            if available < header:
                assert error.needed == header
            else:
                assert error.needed == header + len(PAYLOADS[done])


@pytest.mark.parametrize("algo", CHECKED_ALGOS)
def test_every_bit_flip_in_checksum_or_payload_is_caught(algo: str) -> None:
    before = [b"", b"good"]
    target = b"target payload!"
    after = [b"never seen"]
    width = WIDTH[algo]
    stream = reference_stream(before + [target] + after, algo)
    offset = len(reference_stream(before, algo))
    stored = reference_checksum(algo, target)
    first_bit = (offset + 4) * 8  # the checksum field, then the payload
    last_bit = (offset + 4 + width + len(target)) * 8
    for bit in range(first_bit, last_bit):
        damaged = bytearray(stream)
        damaged[bit // 8] ^= 1 << (bit % 8)
        byte = bit // 8 - (offset + 4)
        if byte < width:  # the stored value changed
            expected, calculated = stored ^ (1 << (bit - first_bit)), stored
        else:
            payload = bytearray(target)
            payload[byte - width] ^= 1 << (bit % 8)
            expected, calculated = stored, reference_checksum(algo, bytes(payload))
        for make in (bytes, io.BytesIO):
            got, error = read_all(fs.StreamReader(make(bytes(damaged)), fs.Deframer(algo)))
            assert got == before, bit
            assert isinstance(error, fs.ChecksumMismatch), (bit, error)
            assert (error.expected, error.calculated, error.offset) == (
                expected,
                calculated,
                offset,
            )


@pytest.mark.parametrize("algo", CHECKED_ALGOS)
def test_bit_flips_in_the_length_never_yield_wrong_payloads(algo: str) -> None:
    """A damaged length moves the frame's boundaries: the checksum, the limit
    or the end of input catches it; no wrong payload is ever delivered."""
    payloads = [b"first frame", b"second frame!", b"third", b"fourth and last"]
    stream = reference_stream(payloads, algo)
    offset = len(reference_stream(payloads[:1], algo))  # the second frame's length field
    for bit in range(32):
        damaged = bytearray(stream)
        damaged[offset + bit // 8] ^= 1 << (bit % 8)
        for make in SOURCES:
            got, error = read_all(fs.StreamReader(make(bytes(damaged)), fs.Deframer(algo, 4096)))
            assert got == payloads[:1], bit
            assert isinstance(error, (fs.ChecksumMismatch, fs.InvalidFrame, fs.UnexpectedEof))
            assert error.offset == offset


@pytest.mark.parametrize(
    "declared,limit",
    [(0xFFFFFFFF, None), ((1 << 31) + 1, None), (1001, 1000), (0xFFFFFFFF, 0xFFFFFFFE)],
    ids=["4GiB", "default-limit+1", "limit+1", "u32-max-over-limit"],
)
@pytest.mark.parametrize("algo", ["none", "xxh3_64"])
def test_hostile_length_is_refused_at_its_frame(
    declared: int, limit: Optional[int], algo: str
) -> None:
    expected_limit = limit if limit is not None else fs.DEFAULT_MAX_FRAME_LEN
    good = reference_stream([b"ok", b""], algo)
    hostile = struct.pack("<I", declared) + b"\x00" * WIDTH[algo] + b"tail bytes"
    stream = good + hostile
    for make in SOURCES:
        got, error = read_all(fs.StreamReader(make(stream), fs.Deframer(algo, limit)))
        assert got == [b"ok", b""]
        assert isinstance(error, fs.InvalidFrame) and isinstance(error, ValueError)
        assert (error.declared_len, error.limit, error.offset) == (
            declared,
            expected_limit,
            len(good),
        )
    # the limit comes before end-of-input: only the header is there
    header_only = stream[: len(good) + 4 + WIDTH[algo]]
    got, error = read_all(fs.StreamReader(header_only, fs.Deframer(algo, limit)))
    assert isinstance(error, fs.InvalidFrame)


def test_a_frame_exactly_at_the_limit_is_accepted() -> None:
    stream = reference_stream([b"x" * 10, b"y" * 10], "crc32")
    for make in SOURCES:
        got, error = read_all(fs.StreamReader(make(stream), fs.ChecksumDeframer("crc32", 10)))
        assert (got, error) == ([b"x" * 10, b"y" * 10], None)


def _peak_while(action: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["bytesio", "trickle", "raw_file"])
def test_a_4gib_claim_is_refused_before_any_allocation(kind: str, tmp_path: Any) -> None:
    stream = struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 8 + b"only a few bytes follow"
    path = tmp_path / "hostile.bin"
    path.write_bytes(stream)
    files: List[Any] = []

    def source() -> Any:
        if kind == "bytesio":
            return io.BytesIO(stream)
        if kind == "trickle":
            return TrickleSource(stream, step=3)
        files.append(open(path, "rb", buffering=0))
        return files[-1]

    def attempt() -> None:
        # a small chunk size: what is measured is the frame, not the read-ahead
        reader = fs.StreamReader(source(), fs.ChecksumDeframer("xxh3_64"), chunk_size=4096)
        with pytest.raises(fs.InvalidFrame) as info:
            reader.read_message()
        assert info.value.declared_len == 0xFFFFFFFF

    peak = _peak_while(attempt)
    for file in files:
        file.close()
    assert peak < 256 * 1024, peak  # far from 4 GiB, or even from one MiB


_ADDRESS_SPACE_PROBE = """
import io, resource, struct, sys
import flatstream as fs
# Allow this process 1 GiB more address space than it has now: sizing any
# buffer from a claim of 1 GiB or more fails, whether Python or Rust allocates it.
with open("/proc/self/status") as status:
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (1 << 30), resource.RLIM_INFINITY))
cases = [
    (0xFFFFFFFF, fs.ChecksumDeframer("xxh3_64")),
    (0xFFFFFFFF, fs.ChecksumDeframer("xxh3_64", 0xFFFFFFFE)),
    ((1 << 30) + 1, fs.ChecksumDeframer("xxh3_64").bounded(1 << 30)),
]
for declared, deframer in cases:
    stream = struct.pack("<I", declared) + bytes(8) + b"only a few bytes follow"
    with open(sys.argv[1], "wb") as out:
        out.write(stream)
    for make in (lambda: io.BytesIO(stream), lambda: open(sys.argv[1], "rb", buffering=0)):
        for attempt in (lambda s: fs.StreamReader(s, deframer).read_message(),
                        lambda s: fs.recover(s, deframer)):
            try:
                attempt(make())
            except fs.InvalidFrame as error:
                assert error.declared_len == declared, error
            else:
                raise AssertionError("no InvalidFrame for a claim of %d" % declared)
print("refused without allocating")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and RLIMIT_AS")
def test_a_4gib_claim_allocates_nothing_in_either_kernel(kernel_mode: str, tmp_path: Any) -> None:
    """tracemalloc sees only Python's allocator; an address-space limit also
    catches an allocation made by the native code."""
    path = tmp_path / "hostile.bin"
    path.write_bytes(struct.pack("<I", 0xFFFFFFFF) + bytes(8) + b"only a few bytes follow")
    env = dict(os.environ, FLATSTREAM_PURE_PYTHON="1" if kernel_mode == "python" else "0")
    result = subprocess.run(
        [sys.executable, "-c", _ADDRESS_SPACE_PROBE, str(path)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "refused without allocating"


def test_errors_are_sticky() -> None:
    stream = reference_stream([b"one"], "crc32") + b"\x05\x00"
    for make in SOURCES:
        reader = fs.StreamReader(make(stream), fs.ChecksumDeframer("crc32"))
        assert bytes(reader.read_message() or b"") == b"one"
        with pytest.raises(fs.UnexpectedEof) as first:
            reader.read_message()
        with pytest.raises(fs.UnexpectedEof) as second:
            reader.read_message()
        assert second.value is first.value


def test_decoder_reports_offsets_and_needs() -> None:
    stream = reference_stream([b"abc", b"", b"defg"], "crc16")
    decoder = fs.FrameDecoder(fs.Crc16, 1 << 20)
    assert decoder.next_frame() is fs.NEED_DATA
    assert decoder.bytes_needed == 6
    decoder.feed(stream[:4])
    assert decoder.next_frame() is fs.NEED_DATA
    assert decoder.bytes_needed == 2  # the rest of the header
    decoder.feed(stream[4:6])
    assert decoder.next_frame() is fs.NEED_DATA
    assert decoder.bytes_needed == 3  # the payload
    decoder.feed(stream[6:])
    offsets = []
    for expected in (b"abc", b"", b"defg"):
        payload = decoder.next_frame()
        assert bytes(payload) == expected
        offsets.append((decoder.frame_offset, decoder.offset))
    assert offsets == [(0, 9), (9, 15), (15, 25)]
    assert decoder.next_frame() is fs.NEED_DATA
    decoder.feed_eof()
    assert decoder.next_frame() is fs.END
    assert decoder.next_frame() is fs.END


def test_decoder_takes_any_bytes_like_chunk(request: Any, kernel_mode: str) -> None:
    stream = reference_stream([b"abcd", b"efghijkl"], "crc32")
    decoder = fs.FrameDecoder(fs.Crc32, 100)
    decoder.feed(memoryview(stream[:8]).cast("I"))
    decoder.feed(array.array("b", stream[8:20]))
    decoder.feed(bytearray(stream[20:]))
    decoder.feed_eof()
    got = []
    while (event := decoder.next_frame()) is not fs.END:
        got.append(bytes(event))
    assert got == [b"abcd", b"efghijkl"]


def test_decoder_over_a_buffer_needs_no_feeding() -> None:
    stream = bytearray(reference_stream([b"p", b"q"], "crc32c"))
    decoder = fs.FrameDecoder.over(stream, fs.Crc32c, 100)
    got = []
    while (event := decoder.next_frame()) is not fs.END:
        got.append(bytes(event))
    assert got == [b"p", b"q"]
    with pytest.raises(RuntimeError):
        decoder.feed(b"more")


@pytest.mark.parametrize("algo", ["none", "crc32"])
def test_error_order_limit_before_checksum_before_later_frames(algo: str) -> None:
    # a checksum error in frame 2 and an over-limit frame 3: frame 2 wins
    frames = [b"ok", b"bad", b"x" * 50]
    stream = bytearray(reference_stream(frames, algo))
    second = len(reference_stream(frames[:1], algo))
    stream[second + 4 + WIDTH[algo]] ^= 0xFF  # corrupt frame 2's payload
    got, error = read_all(fs.StreamReader(bytes(stream), fs.Deframer(algo, 10)))
    assert got[0] == b"ok"
    if algo == "none":
        assert isinstance(error, fs.InvalidFrame)  # nothing to detect frame 2 with
        assert len(got) == 2
    else:
        assert isinstance(error, fs.ChecksumMismatch) and error.offset == second


def _by_source(data: bytes, algo: str, sources: Sequence[Source]) -> List[Any]:
    return [read_all(fs.StreamReader(make(data), fs.Deframer(algo))) for make in sources]


@pytest.mark.parametrize("algo", ALGOS)
def test_all_sources_agree_on_damaged_streams(algo: str) -> None:
    """The same damage gives the same frames and the same error from every source."""
    stream = reference_stream(PAYLOADS, algo)
    cases: List[bytes] = [stream[:-1], stream + b"\x01", stream + b"\xff\xff\xff\xff" + b"\x00" * 9]
    for data in cases:
        results = _by_source(data, algo, SOURCES)
        summaries = [(got, _summary(error)) for got, error in results]
        assert all(s == summaries[0] for s in summaries), summaries


def _summary(error: Optional[BaseException]) -> Any:
    if error is None:
        return None
    return type(error), getattr(error, "offset", None), str(error)


@settings(max_examples=80, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=40), max_size=8),
    algo=st.sampled_from(ALGOS),
    cut_fraction=st.floats(0, 1),
    splits=st.lists(st.integers(1, 17), min_size=1, max_size=30),
)
def test_any_split_and_cut_of_any_stream(
    payloads: List[bytes], algo: str, cut_fraction: float, splits: List[int]
) -> None:
    """However the bytes arrive, the decoder finds the same frames and the same end."""
    stream = reference_stream(payloads, algo)
    cut = int(len(stream) * cut_fraction)
    decoder = fs.FrameDecoder(fs.resolve_checksum(algo), 1 << 20)
    got: List[bytes] = []
    pos, chunk = 0, 0
    error: Optional[BaseException] = None
    try:
        while True:
            event = decoder.next_frame()
            if event is fs.NEED_DATA:
                if pos >= cut:
                    decoder.feed_eof()
                    continue
                size = splits[chunk % len(splits)]
                chunk += 1
                decoder.feed(stream[pos : min(cut, pos + size)])
                pos = min(cut, pos + size)
            elif event is fs.END:
                break
            else:
                got.append(bytes(event))
    except fs.UnexpectedEof as eof:
        error = eof
    done, good, clean = expected_at_cut(payloads, WIDTH[algo], cut)
    assert got == payloads[:done]
    assert (error is None) == clean
    assert decoder.offset == good


def _outcome(data: bytes, algo: str, kind: str, limit: int) -> Any:
    """Everything observable about reading and recovering ``data``."""
    make = dict(zip(SOURCE_IDS, SOURCES))[kind]
    got, error = read_all(fs.StreamReader(make(data), fs.Deframer(algo, limit)))
    fields = None if error is None else (type(error), sorted(vars(error).items()), str(error))
    try:
        report: Any = fs.recover(make(data), fs.Deframer(algo, limit))
    except fs.FlatstreamError as failure:
        report = type(failure), sorted(vars(failure).items())
    return got, fields, report


@pytest.mark.skipif(fs._kernels.native is None, reason="needs the extension")
@settings(max_examples=150, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=30), max_size=6),
    algo=st.sampled_from(ALGOS),
    kind=st.sampled_from(SOURCE_IDS),
    damage=st.lists(
        st.tuples(st.sampled_from(["cut", "flip", "length"]), st.floats(0, 1), st.integers(0, 255)),
        max_size=2,
    ),
    limit=st.sampled_from([1 << 31, 25]),
)
def test_native_and_python_agree_on_any_damage(
    payloads: List[bytes], algo: str, kind: str, damage: List[Any], limit: int
) -> None:
    """The same frames, the same error with the same fields and message, and
    the same recovery report, from both twins (each example runs both)."""
    data = bytearray(reference_stream(payloads, algo))
    for op, where, value in damage:
        if not data:
            break
        at = min(int(where * len(data)), len(data) - 1)
        if op == "cut":
            del data[at:]
        elif op == "flip":
            data[at] ^= 1 << (value % 8)
        else:
            data[at : at + 4] = struct.pack("<I", value * 0x01010101)[: len(data) - at]
    outcomes = []
    for mode in ("native", "python"):
        with kernels(mode):
            outcomes.append(_outcome(bytes(data), algo, kind, limit))
    assert outcomes[0] == outcomes[1]
