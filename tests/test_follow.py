"""fs.follow and flatstream.aio.follow against writers in threads: appends,
half-written frames, truncation, replacement, garbage, rotation, timeouts."""

from __future__ import annotations

import asyncio
import os
import pathlib
import struct
import threading
import time
from typing import List

import pytest

import flatstream as fs
from flatstream import aio

FRAMER = fs.ChecksumFramer("crc32")


def frames(*payloads: bytes) -> bytes:
    return FRAMER.frame_many(list(payloads))


@pytest.mark.parametrize("wait", ["poll", "auto"])
def test_follows_appends_and_waits_on_a_half_written_frame(
    tmp_path: pathlib.Path, wait: str
) -> None:
    path = tmp_path / "f.fs"
    data = frames(*[struct.pack("<I", i) for i in range(300)])
    path.write_bytes(b"")

    def writer() -> None:
        with open(path, "ab", buffering=0) as f:
            for i in range(0, len(data), 5):  # cuts inside headers and payloads
                f.write(data[i : i + 5])
                if i % 50 == 0:
                    time.sleep(0.001)

    thread = threading.Thread(target=writer)
    thread.start()
    got = [bytes(p) for p in fs.follow(path, "crc32", poll_interval=0.001, timeout=1.0, wait=wait)]
    thread.join()
    assert got == [struct.pack("<I", i) for i in range(300)]


def test_timeout_ends_with_a_partial_frame_pending(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    data = frames(b"one", b"two")
    path.write_bytes(data[:-1])
    follower = fs.follow(path, "crc32", timeout=0.05, poll_interval=0.01)
    assert [bytes(p) for p in follower] == [b"one"]


def test_a_missing_file_is_waited_for_until_timeout(tmp_path: pathlib.Path) -> None:
    assert list(fs.follow(tmp_path / "nope.fs", timeout=0.05)) == []


def test_truncation_is_reported(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(frames(b"one", b"two"))
    follower = fs.follow(path, "crc32", timeout=2, poll_interval=0.001)
    assert bytes(next(follower)) == b"one"
    assert bytes(next(follower)) == b"two"
    with open(path, "r+b") as f:
        f.truncate(3)
    with pytest.raises(fs.FileTruncated) as raised:
        next(follower)
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, fs.FlatstreamError)
    assert raised.value.path == str(path)


def test_replacement_raises_after_the_old_files_last_frame(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(frames(b"old1"))
    follower = fs.follow(path, "crc32", timeout=2, poll_interval=0.001)
    assert bytes(next(follower)) == b"old1"
    with open(path, "ab") as f:
        f.write(frames(b"old2"))
    os.rename(path, tmp_path / "f.fs.1")
    path.write_bytes(frames(b"new1"))
    assert bytes(next(follower)) == b"old2"
    with pytest.raises(fs.FileReplaced):
        next(follower)


def test_replacement_reopens_when_asked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(frames(b"old1"))
    follower = fs.follow(path, "crc32", timeout=0.2, poll_interval=0.001, on_replace="reopen")
    assert bytes(next(follower)) == b"old1"
    with open(path, "ab") as f:
        f.write(frames(b"old2"))
    os.rename(path, tmp_path / "f.fs.1")
    path.write_bytes(frames(b"new1", b"new2"))
    assert [bytes(p) for p in follower] == [b"old2", b"new1", b"new2"]


def test_replacement_of_a_torn_file_is_a_torn_frame(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(frames(b"old1", b"old2")[:-2])
    follower = fs.follow(path, "crc32", timeout=2, poll_interval=0.001, on_replace="reopen")
    assert bytes(next(follower)) == b"old1"
    os.rename(path, tmp_path / "f.fs.1")
    path.write_bytes(frames(b"new1"))
    with pytest.raises(fs.UnexpectedEof):
        next(follower)


@pytest.mark.parametrize("cut", range(0, 14))
def test_garbage_is_an_error_after_the_good_frames(tmp_path: pathlib.Path, cut: int) -> None:
    path = tmp_path / "f.fs"
    good = frames(b"good", b"also-good")
    bad = bytearray(frames(b"victim!"))
    bad[min(cut, len(bad) - 1)] ^= 0x10
    path.write_bytes(good + bytes(bad))
    got: List[bytes] = []
    follower = fs.follow(path, "crc32", timeout=0.05, poll_interval=0.01, max_frame_len=1000)
    if cut == 0:
        # A length made longer but under the limit looks like a frame still
        # being written: the follower waits, then ends on timeout, and says
        # bytes are pending. (Cuts 1-3 make it longer than the limit.)
        got = [bytes(p) for p in follower]
        assert follower.buffered == len(bad)
    else:
        with pytest.raises((fs.ChecksumMismatch, fs.InvalidFrame)):
            for p in follower:
                got.append(bytes(p))
    assert got == [b"good", b"also-good"]


def test_until_stops_without_yielding_the_marker(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(frames(b"a", b"END", b"after"))
    assert [bytes(p) for p in fs.follow(path, "crc32", until=lambda p: bytes(p) == b"END")] == [b"a"]


def test_follows_a_rotating_directory(tmp_path: pathlib.Path) -> None:
    expected = [struct.pack("<I", i) for i in range(400)]

    def writer() -> None:
        with fs.RotatingWriter(tmp_path, "cap", rotate_bytes=500, checksum="crc32") as w:
            for i, p in enumerate(expected):
                w.write_payload(p)
                w.flush()
                if i % 40 == 0:
                    time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    got = [bytes(p) for p in fs.follow(tmp_path, "crc32", timeout=1.0, poll_interval=0.001)]
    thread.join()
    assert got == expected


@pytest.mark.parametrize("wait", ["poll", "auto"])
def test_async_twin(tmp_path: pathlib.Path, wait: str) -> None:
    path = tmp_path / "f.fs"
    path.write_bytes(b"")
    expected = [b"%d" % i for i in range(200)]

    async def run() -> List[bytes]:
        async def write() -> None:
            with open(path, "ab", buffering=0) as f:
                data = frames(*expected)
                for i in range(0, len(data), 33):
                    f.write(data[i : i + 33])
                    await asyncio.sleep(0.0005)

        task = asyncio.ensure_future(write())
        got = [bytes(p) async for p in aio.follow(path, "crc32", timeout=0.5, poll_interval=0.001, wait=wait)]
        await task
        return got

    assert asyncio.run(run()) == expected
