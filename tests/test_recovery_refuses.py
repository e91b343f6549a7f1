"""Recovery never cuts intact frames: a length that runs past the end is a
torn tail only if nothing valid follows it (issue 11's first bad input)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest

import flatstream as fs
from flatstream.io.salvage import find_resync

EVENT = 16  # bytes of each payload


def capture(frames: int, checksum: str = "xxh3_64") -> bytes:
    out = io.BytesIO()
    with fs.StreamWriter(out, fs.ChecksumFramer(checksum)) as w:
        w.write_many(struct.pack("<QQ", i, i * 7) for i in range(frames))
        data = out.getvalue()
    return data


def frame_offset(index: int, checksum: str) -> int:
    return index * (4 + fs.resolve_checksum(checksum).width + EVENT)


def test_a_flipped_length_in_the_middle_is_corruption_not_a_torn_tail(tmp_path: Path) -> None:
    # The issue's scenario: 100,000 xxh3 frames, one byte of frame 50,000's
    # length flipped so it runs past the end of the file (16 -> 16 MiB: under
    # the 2 GiB limit, so it reads as a frame torn by the end of the file).
    data = bytearray(capture(100_000))
    at = frame_offset(50_000, "xxh3_64")
    data[at + 2] ^= 0xFF
    path = tmp_path / "capture.fs"
    path.write_bytes(bytes(data))
    with open(path, "r+b") as f:
        with pytest.raises(fs.CorruptionDetected) as caught:
            fs.recover_file(f, checksum="xxh3_64")
    error = caught.value
    assert isinstance(error, ValueError) and isinstance(error, fs.FlatstreamError)
    assert error.frame_index == 50_000 and error.offset == at
    assert error.resync_offset == frame_offset(50_001, "xxh3_64")
    assert error.frames_after == 49_999
    assert "salvage" in str(error)
    assert path.read_bytes() == bytes(data)  # untouched
    with pytest.raises(fs.CorruptionDetected):  # a buffer, and the expert form, alike
        fs.recover(bytes(data), fs.ChecksumDeframer("xxh3_64"))


@pytest.mark.parametrize("checksum", ["crc16", "crc32", "crc32c", "xxh3_64"])
def test_every_length_byte_of_a_middle_frame(checksum: str) -> None:
    data = capture(40, checksum)
    at = frame_offset(20, checksum)
    for byte in range(4):
        for flip in (0x01, 0x80, 0xFF):
            damaged = bytearray(data)
            damaged[at + byte] ^= flip
            try:
                report = fs.recover(bytes(damaged), checksum=checksum)
            except fs.CorruptionDetected as error:
                assert error.frame_index == 20 and error.offset == at
                assert error.frames_after >= 1
            except (fs.ChecksumMismatch, fs.InvalidFrame) as error:
                assert error.offset == at  # a length that fits: caught as before
            else:  # only a length shrunk onto a later boundary could read on cleanly
                pytest.fail(f"byte {byte} ^ {flip:#x}: reported {report}")


@pytest.mark.parametrize("checksum", ["crc32", "xxh3_64"])
def test_a_genuinely_torn_tail_is_still_torn_at_every_cut(checksum: str) -> None:
    data = capture(6, checksum)
    frame = frame_offset(1, checksum)
    for cut in range(len(data) - 3 * frame, len(data)):
        report = fs.recover(data[:cut], checksum=checksum)
        good = cut // frame
        expected_end = fs.RecoveryEnd.CLEAN_EOF if cut % frame == 0 else fs.RecoveryEnd.TORN_TAIL
        assert report == (good, good * frame, expected_end), cut


def test_without_a_checksum_nothing_can_be_told_apart() -> None:
    data = bytearray(capture(10, "none"))
    data[frame_offset(5, "none") + 2] ^= 0xFF
    report = fs.recover(bytes(data), checksum="none")
    assert report.end is fs.RecoveryEnd.TORN_TAIL and report.frames == 5


def test_a_stream_that_cannot_be_searched_reports_as_before() -> None:
    class Pipe(io.RawIOBase):  # no fileno, no getbuffer: like a pipe
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            return self._inner.readinto(b)

    data = bytearray(capture(10))
    data[frame_offset(5, "xxh3_64") + 2] ^= 0xFF
    report = fs.recover(Pipe(bytes(data)), checksum="xxh3_64")
    assert report.end is fs.RecoveryEnd.TORN_TAIL and report.frames == 5


def test_checksum_and_deframer_are_one_or_the_other() -> None:
    with pytest.raises(ValueError, match="either"):
        fs.recover(b"", fs.ChecksumDeframer("crc32"), checksum="crc32")


def test_find_resync_skips_lengths_that_cannot_fit() -> None:
    data = capture(3, "crc32")
    garbage = b"\xff\xff\xff\x7f" * 8  # lengths far past the end everywhere
    assert find_resync(garbage + data, 0, "crc32", 4, 1 << 31) == len(garbage)
    assert find_resync(garbage, 0, "crc32", 4, 1 << 31) is None


# -- the command line: nothing that rewrites a file runs on a guess -------------


def _run(*args: str) -> "tuple[int, str]":
    from click.testing import CliRunner

    from flatstream.cli import main

    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cli_truncate_without_a_known_checksum_is_refused(tmp_path: Path) -> None:
    # The case: -c defaulted to none and cut a 1.25 MB xxh3 capture to 4 bytes.
    data = capture(50_000)[:-5]  # torn, too
    path = tmp_path / "capture.fs"
    path.write_bytes(data)
    code, out = _run("recover", "--truncate", str(path))
    assert code == 3 and "checksum is not known" in out and "xxh3_64 (8 bytes)" in out
    code, out = _run("recover", "--truncate", "-c", "none", str(path))
    assert code == 3 and "does not verify as -c none" in out
    code, out = _run("recover", "--truncate", "-c", "crc32", str(path))
    assert code == 3 and "does not verify as -c crc32" in out
    assert path.read_bytes() == data
    assert "Traceback" not in out


def test_cli_truncate_refuses_corruption_in_the_middle(tmp_path: Path) -> None:
    data = bytearray(capture(1000))
    data[frame_offset(500, "xxh3_64") + 2] ^= 0xFF
    path = tmp_path / "capture.fs"
    path.write_bytes(bytes(data))
    code, out = _run("recover", "--truncate", "-c", "xxh3_64", str(path))
    assert code == 1 and "frame 500 is corrupt" in out and "salvage" in out
    assert str(path) in out and "Traceback" not in out
    assert path.read_bytes() == bytes(data)


def test_cli_cuts_a_torn_tail_and_says_how_much(tmp_path: Path) -> None:
    data = capture(100)
    path = tmp_path / "capture.fs"
    path.write_bytes(data[:-7])
    good = frame_offset(99, "xxh3_64")
    code, out = _run("recover", "-c", "xxh3_64", str(path))
    assert code == 2 and "TORN_TAIL" in out
    code, out = _run("recover", "--truncate", "--dry-run", "-c", "xxh3_64", str(path))
    assert code == 2 and f"would cut {len(data) - 7 - good} bytes" in out
    assert path.stat().st_size == len(data) - 7
    code, out = _run("recover", "--truncate", "-c", "xxh3_64", str(path))
    assert code == 0 and f"truncated to {good} bytes" in out
    assert path.read_bytes() == data[:good]
    code, out = _run("recover", "--truncate", "-c", "xxh3_64", str(path))
    assert code == 0 and "CLEAN_EOF" in out


@pytest.mark.parametrize("checksum", ["crc16", "crc32", "crc32c"])
def test_zeros_inside_a_torn_frame_are_not_taken_for_frames(checksum: str) -> None:
    # Four zero bytes and a zero CRC are a valid empty frame, and CRC-16/XMODEM
    # of zeros is zero: a torn frame full of zeros must still be a torn tail.
    width = fs.resolve_checksum(checksum).width
    head = capture(3, checksum)
    torn = struct.pack("<I", 4096) + b"\x00" * width + b"\x05\x00\x00\x00" + b"\x00" * 200
    report = fs.recover(head + torn, checksum=checksum)
    assert report == (3, len(head), fs.RecoveryEnd.TORN_TAIL)
