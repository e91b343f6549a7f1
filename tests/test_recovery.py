"""Crash recovery: the report at every cut, what is raised instead of
truncating, and the whole story: crash, recover, truncate, append, read."""

from __future__ import annotations

import errno
import io
import struct
from pathlib import Path
from typing import Any, Callable, List

import pytest
from helpers import (
    ALGOS,
    WIDTH,
    FailingSink,
    FailingSource,
    TrickleSource,
    expected_at_cut,
    reference_stream,
)

import flatstream as fs

PAYLOADS = [b"", b"a", b"journal entry", b"", b"\xff" * 9, b"z"]


def _expected(cut: int, algo: str) -> fs.RecoveryReport:
    done, good, clean = expected_at_cut(PAYLOADS, WIDTH[algo], cut)
    end = fs.RecoveryEnd.CLEAN_EOF if clean else fs.RecoveryEnd.TORN_TAIL
    return fs.RecoveryReport(done, good, end)


@pytest.mark.parametrize("algo", ALGOS)
def test_recover_at_every_cut(algo: str, tmp_path: Path) -> None:
    stream = reference_stream(PAYLOADS, algo)
    deframer = fs.Deframer(algo)
    path = tmp_path / "journal.bin"
    for cut in range(len(stream) + 1):
        data = stream[:cut]
        expected = _expected(cut, algo)
        sources: List[Any] = [data, bytearray(data), io.BytesIO(data), TrickleSource(data, step=2)]
        for source in sources:
            assert fs.recover(source, deframer) == expected, (cut, type(source))
        path.write_bytes(data)
        with open(path, "rb") as file:
            file.seek(cut // 2)  # recover_file starts from 0 wherever the file is
            assert fs.recover_file(file, deframer) == expected
            assert file.tell() == expected.last_good_offset


def test_recover_reads_from_the_current_position() -> None:
    stream = reference_stream(PAYLOADS, "crc32")
    first = len(reference_stream(PAYLOADS[:2], "crc32"))
    source = io.BytesIO(stream[:-1])
    source.seek(first)
    report = fs.recover(source, fs.ChecksumDeframer("crc32"))
    # offsets count from where the scan began
    good_end = len(reference_stream(PAYLOADS[:-1], "crc32"))
    assert report == (len(PAYLOADS) - 3, good_end - first, fs.RecoveryEnd.TORN_TAIL)


def _corrupt_checksum(stream: bytes) -> bytes:
    damaged = bytearray(stream)
    damaged[-1] ^= 0x01
    return bytes(damaged)


def _over_limit(stream: bytes) -> bytes:
    return stream + struct.pack("<I", 0xFFFFFFF0) + b"\x00" * 4 + b"tail"


@pytest.mark.parametrize(
    "damage,error_type",
    [(_corrupt_checksum, fs.ChecksumMismatch), (_over_limit, fs.InvalidFrame)],
    ids=["checksum", "limit"],
)
def test_corruption_is_raised_not_reported_as_torn(
    damage: Callable[[bytes], bytes], error_type: type, tmp_path: Path
) -> None:
    data = damage(reference_stream(PAYLOADS, "crc32"))
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    for source in (data, io.BytesIO(data), TrickleSource(data, step=3)):
        with pytest.raises(error_type):
            fs.recover(source, fs.ChecksumDeframer("crc32"))
    with open(path, "r+b") as file:
        with pytest.raises(error_type):
            fs.recover_file(file, fs.ChecksumDeframer("crc32"))
    assert path.read_bytes() == data  # nothing was cut


def test_validation_failure_is_raised() -> None:
    data = reference_stream([b"long enough", b"no"], "none")
    deframer = fs.DefaultDeframer().with_validator(fs.SizeValidator(min_len=5))
    with pytest.raises(fs.ValidationFailed) as info:
        fs.recover(data, deframer)
    assert info.value.offset == 4 + 11


def test_os_errors_are_raised_unchanged_at_every_offset() -> None:
    stream = reference_stream(PAYLOADS, "crc16")
    for fail_at in range(len(stream) + 1):
        error = OSError(errno.EIO, "input/output error")
        with pytest.raises(OSError) as info:
            fs.recover(FailingSource(stream, fail_at, error, step=4), fs.ChecksumDeframer("crc16"))
        assert info.value is error


class FileThatFails:
    """A real file behind a sink that fails once ``capacity`` bytes are in:
    the crash of a journal writer mid-append."""

    def __init__(self, file: Any, capacity: int) -> None:
        self.file = file
        self.fail = FailingSink(capacity, OSError(errno.EIO, "power lost"), raise_partial=True)

    def write(self, data: Any) -> int:
        before = self.fail.size
        try:
            return self.fail.write(data)
        finally:
            self.file.write(bytes(memoryview(data).cast("B")[: self.fail.size - before]))
            self.file.flush()


@pytest.mark.parametrize("algo", ["none", "crc32c", "xxh3_64"])
def test_the_recovery_story(algo: str, tmp_path: Path) -> None:
    path = tmp_path / "journal.bin"
    first = [b"entry %d" % i for i in range(10)]
    with fs.open(path, "wb", checksum=algo) as writer:
        for payload in first:
            writer.write_payload(payload)
    clean_size = path.stat().st_size

    # the crash: the writer dies in the middle of the next frame
    crashed = [b"this frame is torn by the crash"]
    with open(path, "ab") as raw:
        writer = fs.StreamWriter(FileThatFails(raw, capacity=7), fs.ChecksumFramer(algo))
        with pytest.raises(OSError, match="power lost"):
            writer.write_payload(crashed[0])
    assert path.stat().st_size == clean_size + 7

    # a reader now sees every good frame, then the torn one
    with fs.open(path, "rb", checksum=algo) as reader:
        got: List[bytes] = []
        with pytest.raises(fs.UnexpectedEof):
            for payload in reader:
                got.append(bytes(payload))
    assert got == first

    # recover, truncate, append, read everything back
    with open(path, "r+b") as file:
        report = fs.recover_file(file, fs.Deframer(algo))
        assert report == (10, clean_size, fs.RecoveryEnd.TORN_TAIL)
        assert file.tell() == clean_size
        file.truncate(report.last_good_offset)
    after = [b"appended %d" % i for i in range(5)] + [b""]
    with fs.open(path, "ab", checksum=algo) as writer:
        writer.write_many(after[:3])
        for payload in after[3:]:
            writer.write_payload(payload)
    with fs.open(path, "rb", checksum=algo) as reader:
        assert [bytes(p) for p in reader] == first + after
    with open(path, "rb") as file:
        total = len(first) + len(after)
        assert fs.recover_file(file, fs.Deframer(algo)) == (
            total,
            path.stat().st_size,
            fs.RecoveryEnd.CLEAN_EOF,
        )
    assert path.read_bytes() == reference_stream(first + after, algo)


def test_recovery_report_fields() -> None:
    report = fs.recover(b"")
    assert report == fs.RecoveryReport(0, 0, fs.RecoveryEnd.CLEAN_EOF)
    assert (report.frames, report.last_good_offset, report.end) == (0, 0, fs.RecoveryEnd.CLEAN_EOF)
    assert fs.recover(b"\x01") == (0, 0, fs.RecoveryEnd.TORN_TAIL)
