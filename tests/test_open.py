"""fs.open: paths of both kinds, every mode, checksum= and max_frame_len=."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List

import pytest
from helpers import read_all, reference_stream

import flatstream as fs

PATH_KINDS: List[Callable[[Path], Any]] = [str, Path]


def _read(path: Any, **options: Any) -> Any:
    with fs.open(path, "rb", **options) as reader:
        assert isinstance(reader, fs.StreamReader)
        return read_all(reader)


@pytest.mark.parametrize("as_path", PATH_KINDS, ids=["str", "pathlib"])
def test_write_then_read(tmp_path: Path, as_path: Callable[[Path], Any]) -> None:
    path = as_path(tmp_path / "stream.bin")
    with fs.open(path, "wb", checksum="crc32") as writer:
        assert isinstance(writer, fs.StreamWriter)
        writer.write_payload(b"one")
        writer.write_many([b"two", b""])
    assert Path(path).read_bytes() == reference_stream([b"one", b"two", b""], "crc32")
    assert _read(path, checksum="crc32") == ([b"one", b"two", b""], None)


def test_modes(tmp_path: Path) -> None:
    path = tmp_path / "modes.bin"
    with fs.open(path, "xb") as writer:
        writer.write_payload(b"first")
    with pytest.raises(FileExistsError):
        fs.open(path, "xb")
    with fs.open(str(path), "ab") as writer:
        writer.write_payload(b"appended")
    assert _read(path, checksum="none") == ([b"first", b"appended"], None)
    with fs.open(path, "wb") as writer:  # truncates
        writer.write_payload(b"fresh")
    assert _read(path, checksum="none") == ([b"fresh"], None)
    for mode in ("r", "w", "rb+", "r+b", "wt", ""):
        with pytest.raises(ValueError, match="mode"):
            fs.open(path, mode)
    with pytest.raises(FileNotFoundError):
        fs.open(tmp_path / "missing.bin", "rb")


@pytest.mark.parametrize("checksum", ["none", "crc16", "crc32", "crc32c", "xxh3_64", "xxhash64"])
def test_checksum_option(tmp_path: Path, checksum: str) -> None:
    path = tmp_path / "c.bin"
    with fs.open(path, "wb", checksum=checksum) as writer:
        writer.write_payload(b"abc")
    name = fs.resolve_checksum(checksum).name
    assert path.read_bytes() == reference_stream([b"abc"], name)
    assert _read(path, checksum=checksum) == ([b"abc"], None)
    assert _read(path, checksum=fs.resolve_checksum(checksum)) == ([b"abc"], None)


def test_max_frame_len_on_both_sides(tmp_path: Path) -> None:
    path = tmp_path / "limited.bin"
    with fs.open(path, "wb", checksum="crc32", max_frame_len=4) as writer:
        writer.write_payload(b"1234")
        with pytest.raises(fs.InvalidFrame) as info:
            writer.write_payload(b"12345")
        assert (info.value.declared_len, info.value.limit) == (5, 4)
        writer.write_payload(b"ok")  # a refusal writes nothing and stops nothing
    assert _read(path, checksum="crc32") == ([b"1234", b"ok"], None)
    got, error = _read(path, checksum="crc32", max_frame_len=3)
    assert got == [] and isinstance(error, fs.InvalidFrame)
    assert (error.declared_len, error.limit, error.offset) == (4, 3, 0)


def test_explicit_framer_and_deframer(tmp_path: Path) -> None:
    path = tmp_path / "explicit.bin"
    seen: List[bytes] = []
    framer = fs.ChecksumFramer("crc16").observed(lambda p: seen.append(bytes(p)))
    with fs.open(path, "wb", framer=framer) as writer:
        writer.write_payload(b"x")
    assert seen == [b"x"]
    deframer = fs.ChecksumDeframer("crc16").with_validator(fs.SizeValidator(2))
    got, error = _read(path, deframer=deframer)
    assert got == [] and isinstance(error, fs.ValidationFailed)
    with pytest.raises(TypeError):
        fs.open(path, "rb", framer=framer)
    with pytest.raises(TypeError):
        fs.open(path, "wb", deframer=deframer)


def test_closing_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "closing.bin"
    writer = fs.open(path, "wb")
    writer.write_payload(b"buffered until close")
    writer.close()
    assert writer.closed
    assert _read(path, checksum="none") == ([b"buffered until close"], None)
    reader = fs.open(path, "rb", checksum="none")
    reader.close()
    with pytest.raises(ValueError):
        reader.read_message()


def test_a_writer_error_inside_with_still_closes(tmp_path: Path) -> None:
    path = tmp_path / "error.bin"
    with pytest.raises(RuntimeError):
        with fs.open(path, "wb") as writer:
            writer.write_payload(b"kept")
            raise RuntimeError("user code failed")
    assert _read(path, checksum="none") == ([b"kept"], None)


def test_max_frame_len_also_bounds_an_explicit_deframer(tmp_path: Path) -> None:
    """max_frame_len is a safety limit: it applies to a deframer you pass, as
    it does to a framer you pass, never silently dropped."""
    path = tmp_path / "bounded.bin"
    with fs.open(path, "wb", checksum="crc16") as writer:
        writer.write_many([b"ok", b"too long"])
    deframer = fs.ChecksumDeframer("crc16").with_validator(fs.NoValidator())
    got, error = _read(path, deframer=deframer, max_frame_len=4)
    assert got == [b"ok"] and isinstance(error, fs.InvalidFrame)
    assert (error.declared_len, error.limit, error.offset) == (8, 4, 8)
    # a deframer's own tighter limit stays
    got, error = _read(path, deframer=fs.ChecksumDeframer("crc16", 1), max_frame_len=100)
    assert got == [] and isinstance(error, fs.InvalidFrame) and error.limit == 1
    with fs.open(path, "wb", framer=fs.ChecksumFramer("crc16"), max_frame_len=4) as writer:
        with pytest.raises(fs.InvalidFrame):
            writer.write_payload(b"too long")
