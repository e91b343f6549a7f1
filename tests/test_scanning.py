"""fs.scan / fs.count / fs.verify, StreamReader.index and iter_batches."""

from __future__ import annotations

import io
import mmap
from pathlib import Path
from typing import List

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatstream as fs
from flatstream import _kernels

CHECKSUMS = ["none", "crc16", "crc32", "crc32c", "xxh3_64"]


def frames(payloads: List[bytes], checksum: str) -> bytes:
    return fs.ChecksumFramer(checksum).frame_many(payloads)


def expected_offsets(payloads: List[bytes], width: int) -> List[int]:
    offsets, pos = [], 0
    for p in payloads:
        offsets.append(pos)
        pos += 4 + width + len(p)
    return offsets


@pytest.mark.parametrize("checksum", CHECKSUMS)
def test_scan_indexes_every_frame_of_a_file(tmp_path: Path, checksum: str) -> None:
    payloads = [bytes([i % 256]) * (i % 11) for i in range(500)]
    path = tmp_path / "j.fs"
    path.write_bytes(frames(payloads, checksum))
    width = fs.resolve_checksum(checksum).width
    for source in (path, str(path), path.read_bytes(), bytearray(path.read_bytes())):
        index = fs.scan(source, checksum)
        assert index.offsets.dtype == np.dtype("<u8") and index.lengths.dtype == np.dtype("<u4")
        assert index.offsets.tolist() == expected_offsets(payloads, width)
        assert index.lengths.tolist() == [len(p) for p in payloads]
        assert (index.end, index.end_offset) == (fs.RecoveryEnd.CLEAN_EOF, path.stat().st_size)
        data = path.read_bytes()
        got = [data[o : o + n] for o, n in zip(index.payload_offsets.tolist(), index.lengths.tolist())]
        assert got == payloads


def test_an_empty_file_has_no_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.fs"
    path.write_bytes(b"")
    assert len(fs.scan(path)) == 0
    assert fs.count(path) == fs.ScanSummary(0, 0, 0, fs.RecoveryEnd.CLEAN_EOF)


@pytest.mark.parametrize("checksum", ["none", "crc32", "xxh3_64"])
def test_every_truncation_is_a_torn_tail_with_the_good_frames(checksum: str) -> None:
    payloads = [b"", b"a", b"hello", b"xy" * 20]
    data = frames(payloads, checksum)
    width = fs.resolve_checksum(checksum).width
    boundaries = expected_offsets(payloads, width) + [len(data)]
    for cut in range(len(data) + 1):
        good = sum(1 for b in boundaries[1:] if b <= cut)
        summary = fs.count(data[:cut], checksum)
        assert summary.frames == good
        assert summary.end_offset == boundaries[good]
        clean = cut == boundaries[good]
        assert summary.end is (fs.RecoveryEnd.CLEAN_EOF if clean else fs.RecoveryEnd.TORN_TAIL)
        assert len(fs.scan(data[:cut], checksum)) == good
        # verify is the whole-file check: a torn tail is an EOFError there
        assert fs.verify(data[:cut], checksum, allow_torn_tail=True) == summary
        if clean:
            assert fs.verify(data[:cut], checksum) == summary
        else:
            with pytest.raises(fs.UnexpectedEof) as torn:
                fs.verify(data[:cut], checksum)
            assert isinstance(torn.value, EOFError)
            assert (torn.value.offset, torn.value.frame_index) == (boundaries[good], good)


def test_corruption_raises_with_the_frame_offset() -> None:
    payloads = [b"one", b"two", b"three"]
    data = bytearray(frames(payloads, "crc32"))
    data[8 + 3 + 8 + 1] ^= 0x10  # a payload byte of the second frame
    with pytest.raises(fs.ChecksumMismatch) as raised:
        fs.verify(bytes(data), "crc32")
    assert raised.value.offset == 11
    data = bytearray(frames(payloads, "none"))
    data[7:11] = (10**6).to_bytes(4, "little")  # second frame claims 1 MB
    with pytest.raises(fs.InvalidFrame) as limit:
        fs.count(bytes(data), max_frame_len=1000)
    assert (limit.value.declared_len, limit.value.limit, limit.value.offset) == (10**6, 1000, 7)


def test_large_frames_verify_the_same_on_any_thread_count() -> None:
    payloads = [bytes([i]) * (700_000 + i) for i in range(12)]  # > 4 MiB per window
    data = bytearray(frames(payloads, "xxh3_64"))
    results = {t: fs.scan(bytes(data), "xxh3_64", threads=t) for t in (1, 2, 4)}
    for index in results.values():
        assert index.lengths.tolist() == [len(p) for p in payloads]
    bad_at = expected_offsets(payloads, 8)[9] + 12 + 500
    data[bad_at] ^= 1
    for threads in (1, 2, 4):
        with pytest.raises(fs.ChecksumMismatch) as raised:
            fs.verify(bytes(data), "xxh3_64", threads=threads)
        assert raised.value.offset == expected_offsets(payloads, 8)[9]


def test_a_read_only_mapping_is_scanned_in_place(tmp_path: Path) -> None:
    path = tmp_path / "j.fs"
    path.write_bytes(frames([b"abc"] * 100, "crc32c"))
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert fs.count(m, "crc32c").frames == 100
        assert fs.count(f, "crc32c").frames == 100  # an open file is mapped through its fd


def test_custom_checksums_are_refused_by_the_bulk_paths() -> None:
    class Sum8:
        name, width = "sum8", 1

        def compute(self, data: object) -> int:
            return sum(memoryview(data)) & 0xFF  # type: ignore[arg-type]

    with pytest.raises(ValueError):
        fs.scan(b"", deframer=fs.ChecksumDeframer(Sum8()))


@pytest.mark.parametrize("checksum", ["none", "crc16", "xxh3_64"])
def test_reader_index_starts_where_the_reader_is(tmp_path: Path, checksum: str) -> None:
    payloads = [bytes([i]) * i for i in range(40)]
    data = frames(payloads, checksum)
    path = tmp_path / "j.fs"
    path.write_bytes(b"prefix" + data)
    width = fs.resolve_checksum(checksum).width
    with open(path, "rb") as f:
        f.seek(6)
        reader = fs.StreamReader(f, fs.ChecksumDeframer(checksum))
        for _ in range(5):
            reader.read_message()
        index = reader.index()
        assert index.offsets.tolist() == expected_offsets(payloads, width)[5:]
        assert bytes(reader.read_message() or b"") == payloads[5]  # the reader did not move
    over_bytes = fs.StreamReader(data, fs.ChecksumDeframer(checksum))
    assert len(over_bytes.index()) == 40
    with pytest.raises(io.UnsupportedOperation):
        fs.StreamReader(io.BytesIO(data), fs.ChecksumDeframer(checksum)).index()


@settings(max_examples=60, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=40), max_size=60),
    n=st.integers(1, 17),
    checksum=st.sampled_from(CHECKSUMS),
    file_source=st.booleans(),
)
def test_batches_hold_every_payload_in_order(
    payloads: List[bytes], n: int, checksum: str, file_source: bool
) -> None:
    data = frames(payloads, checksum)
    source = io.BytesIO(data) if file_source else data
    reader = fs.StreamReader(source, fs.ChecksumDeframer(checksum), chunk_size=64)
    batches = list(reader.iter_batches(n))
    assert all(1 <= len(b) <= n for b in batches)
    assert [bytes(p) for b in batches for p in b] == payloads  # views in a batch stay valid


def test_bulk_kernels_agree_with_the_scan_twin() -> None:
    if _kernels.native is None:
        pytest.skip("extension not built")
    data = frames([bytes([i % 256]) * i for i in range(300)], "crc16")
    for start in (0, 6, 13):
        for collect in (True, False):
            args = (data, start, 2, "crc16", 1 << 20, 2, collect)
            assert _kernels.native.scan_all(*args) == _kernels.pure.scan_all(*args)


def test_closing_a_reader_lets_the_mapping_close() -> None:
    data = frames([b"a", b"bb"], "crc32")
    mapping = mmap.mmap(-1, len(data))
    mapping[:] = data
    with fs.StreamReader(mapping, fs.ChecksumDeframer("crc32")) as reader:
        assert [bytes(p) for p in reader] == [b"a", b"bb"]
    mapping.close()  # no export of the mapping survives the reader
    assert reader.offset == len(data)
    with pytest.raises(ValueError):
        reader.read_message()


def test_deframer_adapters_are_refused_not_skipped(tmp_path: Path) -> None:
    """A validator is Python per frame, which the bulk paths never run: they
    refuse a deframer carrying one instead of indexing frames it would reject."""
    data = frames([b"ok", b"much too long for the validator"], "crc32")
    validated = fs.ChecksumDeframer("crc32").with_validator(fs.SizeValidator(max_len=4))
    observed = fs.ChecksumDeframer("crc32").observed(lambda payload: None)
    for deframer in (validated, observed):
        with pytest.raises(ValueError, match="adapters"):
            fs.scan(data, deframer=deframer)
        with pytest.raises(ValueError, match="adapters"):
            fs.verify(data, deframer=deframer)
        with pytest.raises(ValueError, match="adapters"):
            fs.StreamReader(data, deframer).index()
    with pytest.raises(fs.ValidationFailed):  # what reading with it does
        list(fs.StreamReader(data, validated))


def test_a_bounded_deframer_limits_the_scan() -> None:
    data = frames([b"ok", b"x" * 100], "xxh3_64")
    bounded = fs.ChecksumDeframer("xxh3_64").bounded(10)
    with pytest.raises(fs.InvalidFrame) as raised:
        fs.StreamReader(data, bounded).index()
    assert (raised.value.declared_len, raised.value.limit) == (100, 10)
    assert len(fs.scan(data, deframer=fs.ChecksumDeframer("xxh3_64").bounded(100))) == 2


@pytest.mark.parametrize("checksum", ["none", "crc32c"])
def test_count_keeps_no_index_and_agrees_with_scan(checksum: str) -> None:
    payloads = [bytes([i % 256]) * (i % 13) for i in range(1000)]
    data = frames(payloads, checksum)
    width = fs.resolve_checksum(checksum).width
    raw = _kernels.scan_all(data, 0, width, checksum if width else None, 1 << 20, 1, False)
    assert raw[:2] == (None, None)  # counting builds no per-frame arrays at all
    summary = fs.count(data, checksum)
    index = fs.scan(data, checksum)
    assert summary.frames == len(index) == 1000
    assert summary.payload_bytes == int(index.lengths.sum()) == sum(map(len, payloads))
    assert summary.end_offset == index.end_offset == len(data)


def test_a_path_is_scanned_through_a_read_only_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path or file is never read into memory: the kernel gets a read-only
    mmap (the buffer it releases the GIL over), advised for sequential reading."""
    path = tmp_path / "j.fs"
    path.write_bytes(frames([b"abc"] * 10, "crc32"))
    seen: List[object] = []
    real = _kernels.scan_all

    def spy(data: object, *args: object) -> object:
        seen.append(data)
        if isinstance(data, mmap.mmap):
            with pytest.raises(TypeError):
                data[0:1] = b"x"  # read-only
        return real(data, *args)

    monkeypatch.setattr(_kernels, "scan_all", spy)
    with open(path, "rb") as f:
        assert fs.count(path, "crc32").frames == 10
        assert len(fs.scan(str(path), "crc32")) == 10
        assert fs.verify(f, "crc32").frames == 10
        assert len(fs.StreamReader(f, fs.ChecksumDeframer("crc32")).index()) == 10
    assert len(seen) == 4 and all(isinstance(data, mmap.mmap) for data in seen)
