"""Checksums: the spec's known answers and known frames, names and objects,
and user-defined checksums of any width."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path
from typing import Any, Callable, List

import pytest
from helpers import ALGOS, CHECKED_ALGOS, WIDTH, CustomChecksum, TrickleSource, read_all

import flatstream as fs
from flatstream import _kernels

# The spec's table: value of b"123456789" and of b"".
KNOWN_ANSWERS = {
    "crc16": (0x31C3, 0x0000),
    "crc32": (0xCBF43926, 0x00000000),
    "xxh3_64": (0x72DCB18B67A17DFF, 0x2D06800538D394C2),
    "crc32c": (0xE3069283, 0x00000000),
}

# The spec's table of known frames, each a complete one-frame stream.
KNOWN_FRAMES = {
    (b"", "none"): "00000000",
    (b"", "crc16"): "00000000 0000",
    (b"", "crc32"): "00000000 00000000",
    (b"", "xxh3_64"): "00000000 c294d3380580062d",
    (b"abc", "none"): "03000000 616263",
    (b"abc", "crc16"): "03000000 d69d 616263",
    (b"abc", "crc32"): "03000000 c2412435 616263",
    (b"abc", "xxh3_64"): "03000000 50392f89945faf78 616263",
}


@pytest.mark.parametrize("algo", sorted(KNOWN_ANSWERS))
def test_known_answers(algo: str) -> None:
    check, empty = KNOWN_ANSWERS[algo]
    checksum = fs.resolve_checksum(algo)
    assert checksum.width == WIDTH[algo]
    assert checksum.compute(b"123456789") == check
    assert checksum.compute(b"") == empty
    # the kernel in use (native or twin) directly, and over other buffer types
    assert _kernels.checksum(algo, b"123456789") == check
    assert _kernels.checksum(algo, bytearray(b"123456789")) == check
    assert _kernels.checksum(algo, memoryview(b"xx123456789")[2:]) == check
    assert _kernels.checksum(algo, b"") == empty


def test_none_is_zero_width() -> None:
    assert fs.NoChecksum.width == 0
    assert fs.resolve_checksum("none") is fs.NoChecksum
    assert fs.resolve_checksum(None) is fs.NoChecksum


def _frame_by_frame(framer: fs.Framer, payload: bytes) -> bytes:
    return framer.frame(payload)


def _frame_many(framer: fs.Framer, payload: bytes) -> bytes:
    return framer.frame_many([payload])


def _write_payload(framer: fs.Framer, payload: bytes) -> bytes:
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        writer.write_payload(payload)
    return sink.getvalue()


def _write_payload_view(framer: fs.Framer, payload: bytes) -> bytes:
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        writer.write_payload(memoryview(bytearray(payload)))
    return sink.getvalue()


def _write_bytes(framer: fs.Framer, payload: bytes) -> bytes:
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        writer.write(payload)
    return sink.getvalue()


def _write_many(framer: fs.Framer, payload: bytes) -> bytes:
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        writer.write_many([payload])
    return sink.getvalue()


WRITE_PATHS: List[Callable[[fs.Framer, bytes], bytes]] = [
    _frame_by_frame,
    _frame_many,
    _write_payload,
    _write_payload_view,
    _write_bytes,
    _write_many,
]


def _framers(algo: str) -> List[fs.Framer]:
    framers: List[fs.Framer] = [
        fs.Framer(algo),
        fs.ChecksumFramer(algo),
        fs.ChecksumFramer(fs.resolve_checksum(algo)),
        # adapters never change the bytes
        fs.ChecksumFramer(algo).bounded(100).observed(lambda p: None),
        fs.ChecksumFramer(algo).with_validator(fs.NoValidator()),
    ]
    if algo == "none":
        framers.append(fs.DefaultFramer())
    return framers


@pytest.mark.parametrize("write", WRITE_PATHS, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize("payload,algo", sorted(KNOWN_FRAMES))
def test_known_frames_written_byte_for_byte(
    payload: bytes, algo: str, write: Callable[[fs.Framer, bytes], bytes]
) -> None:
    expected = bytes.fromhex(KNOWN_FRAMES[payload, algo].replace(" ", ""))
    for framer in _framers(algo):
        assert write(framer, payload) == expected, framer


@pytest.mark.parametrize("payload,algo", sorted(KNOWN_FRAMES))
def test_known_frames_read_back(payload: bytes, algo: str) -> None:
    stream = bytes.fromhex(KNOWN_FRAMES[payload, algo].replace(" ", ""))
    deframers = [fs.Deframer(algo), fs.ChecksumDeframer(fs.resolve_checksum(algo))]
    if algo == "none":
        deframers.append(fs.DefaultDeframer())
    for deframer in deframers:
        for source in (stream, io.BytesIO(stream), TrickleSource(stream)):
            got, error = read_all(fs.StreamReader(source, deframer))
            assert (got, error) == ([payload], None)


def test_known_frames_through_open(tmp_path: Path) -> None:
    for (payload, algo), hexed in KNOWN_FRAMES.items():
        path = tmp_path / f"{algo}-{len(payload)}.bin"
        with fs.open(path, "wb", checksum=algo) as writer:
            writer.write_payload(payload)
        assert path.read_bytes() == bytes.fromhex(hexed.replace(" ", ""))
        with fs.open(path, "rb", checksum=algo) as reader:
            assert [bytes(p) for p in reader] == [payload]


@pytest.mark.parametrize("algo", CHECKED_ALGOS)
def test_crc32c_and_every_algorithm_store_the_value_little_endian(algo: str) -> None:
    frame = fs.ChecksumFramer(algo).frame(b"123456789")
    width = WIDTH[algo]
    assert frame[:4] == struct.pack("<I", 9)
    stored = int.from_bytes(frame[4 : 4 + width], "little")
    assert stored == fs.resolve_checksum(algo).compute(b"123456789")
    assert frame[4 + width :] == b"123456789"


def test_names_and_alias() -> None:
    assert set(fs.CHECKSUMS) == set(ALGOS)
    for name in ALGOS:
        checksum = fs.resolve_checksum(name)
        assert checksum.name == name and checksum.width == WIDTH[name]
        assert fs.resolve_checksum(name.upper()) is checksum
    # the Rust crate calls XXH3-64 "XxHash64": same algorithm, same object
    assert fs.resolve_checksum("xxhash64") is fs.Xxh3_64
    assert fs.XxHash64 is fs.Xxh3_64
    assert fs.ChecksumFramer("xxhash64").frame(b"abc") == fs.ChecksumFramer("xxh3_64").frame(b"abc")


def test_unknown_names_and_bad_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown checksum 'md5'"):
        fs.resolve_checksum("md5")
    with pytest.raises(ValueError):
        fs.ChecksumFramer("xxh64")  # XXH64 is not XXH3-64: refuse rather than guess
    with pytest.raises(ValueError):
        fs.ChecksumDeframer("sha1")
    with pytest.raises(TypeError):
        fs.resolve_checksum(42)  # type: ignore[arg-type]

    class Wide:
        name, width = "wide", 9

        def compute(self, data: Any) -> int:
            return 0

    with pytest.raises(ValueError, match="0 to 8"):
        fs.ChecksumFramer(Wide())


@pytest.mark.parametrize("algo", ALGOS)
def test_objects_go_wherever_names_go(algo: str, tmp_path: Path) -> None:
    checksum = fs.resolve_checksum(algo)
    assert isinstance(checksum, fs.Checksum)
    payloads = [b"", b"x", b"hello world"]
    by_name = fs.ChecksumFramer(algo).frame_many(payloads)
    assert fs.ChecksumFramer(checksum).frame_many(payloads) == by_name
    assert fs.Framer(checksum).frame_many(payloads) == by_name
    for deframer in (fs.ChecksumDeframer(checksum), fs.Deframer(checksum, max_frame_len=64)):
        assert read_all(fs.StreamReader(by_name, deframer)) == (payloads, None)
    assert fs.recover(by_name, fs.ChecksumDeframer(checksum)).frames == 3
    path = tmp_path / "s.bin"
    with fs.open(path, "wb", checksum=checksum) as writer:
        writer.write_many(payloads)
    assert path.read_bytes() == by_name
    with fs.open(path, "rb", checksum=checksum) as reader:
        assert [bytes(p) for p in reader] == payloads


def test_builtin_checksums_pickle_to_themselves() -> None:
    for checksum in fs.CHECKSUMS.values():
        assert pickle.loads(pickle.dumps(checksum)) is checksum


CUSTOM_WIDTHS = list(range(9))  # every width the format allows


@pytest.mark.parametrize("width", CUSTOM_WIDTHS)
def test_custom_checksum_round_trips(width: int) -> None:
    checksum = CustomChecksum(width)
    payloads = [b"", b"a", b"custom checksums", bytes(range(256))]
    stream = fs.ChecksumFramer(checksum).frame_many(payloads)
    # the layout is the spec's: u32 length, `width` bytes of checksum LE, payload
    pos = 0
    for payload in payloads:
        assert stream[pos : pos + 4] == struct.pack("<I", len(payload))
        stored = stream[pos + 4 : pos + 4 + width]
        assert stored == checksum.compute(payload).to_bytes(width, "little")
        assert stream[pos + 4 + width : pos + 4 + width + len(payload)] == payload
        pos += 4 + width + len(payload)
    assert pos == len(stream)
    sink = io.BytesIO()
    with fs.StreamWriter(sink, fs.ChecksumFramer(checksum)) as writer:
        for payload in payloads:
            writer.write_payload(payload)
    assert sink.getvalue() == stream
    deframer = fs.ChecksumDeframer(checksum)
    for source in (stream, io.BytesIO(stream), TrickleSource(stream, step=3)):
        assert read_all(fs.StreamReader(source, deframer)) == (payloads, None)
    report = fs.recover(stream, deframer)
    assert report == (len(payloads), len(stream), fs.RecoveryEnd.CLEAN_EOF)


@pytest.mark.parametrize("width", [w for w in CUSTOM_WIDTHS if w])
def test_custom_checksum_mismatch(width: int) -> None:
    checksum = CustomChecksum(width)
    payloads = [b"first", b"second", b"third"]
    stream = bytearray(fs.ChecksumFramer(checksum).frame_many(payloads))
    bad_at = 4 + width + len(payloads[0])  # the second frame
    stored = checksum.compute(b"second") ^ 1
    stream[bad_at + 4 : bad_at + 4 + width] = stored.to_bytes(width, "little")
    for source in (bytes(stream), io.BytesIO(bytes(stream)), TrickleSource(bytes(stream))):
        got, error = read_all(fs.StreamReader(source, fs.ChecksumDeframer(checksum)))
        assert got == [b"first"]
        assert isinstance(error, fs.ChecksumMismatch)
        assert error.expected == stored
        assert error.calculated == checksum.compute(b"second")
        assert error.offset == bad_at
    with pytest.raises(fs.ChecksumMismatch):
        fs.recover(bytes(stream), fs.ChecksumDeframer(checksum))



class WideValue:
    """A custom checksum whose compute() returns a full 64-bit value whatever
    its field's width (a crc32 or xxh64 squeezed into fewer bytes)."""

    def __init__(self, width: int) -> None:
        self.name, self.width = f"wide-{width}", width

    def compute(self, data: Any) -> int:
        return CustomChecksum(8).compute(data) | (1 << 63)  # always past 8 * width bits


@pytest.mark.parametrize("width", [1, 3, 7])
def test_custom_checksum_values_are_kept_to_the_field_width(width: int) -> None:
    """The stored value is compute() & (2**(8*width) - 1), as the Rust crate's
    cast to the field does, and the reader compares it the same way."""
    checksum = WideValue(width)
    payloads = [b"", b"masked", bytes(range(40))]
    stream = fs.ChecksumFramer(checksum).frame_many(payloads)
    mask = (1 << (8 * width)) - 1
    pos = 0
    for payload in payloads:
        stored = int.from_bytes(stream[pos + 4 : pos + 4 + width], "little")
        assert stored == checksum.compute(payload) & mask
        pos += 4 + width + len(payload)
    assert pos == len(stream)
    deframer = fs.ChecksumDeframer(checksum)
    for source in (stream, io.BytesIO(stream), TrickleSource(stream, step=2)):
        assert read_all(fs.StreamReader(source, deframer)) == (payloads, None)
    damaged = bytearray(stream)
    damaged[-1] ^= 0x10
    got, error = read_all(fs.StreamReader(bytes(damaged), deframer))
    assert got == payloads[:2] and isinstance(error, fs.ChecksumMismatch)
