"""The error hierarchy, what the messages say, and pickling with every field."""

from __future__ import annotations

import pickle
import struct
from typing import Any, List

import pytest
from helpers import read_all, reference_frame, reference_stream

import flatstream as fs


@pytest.mark.parametrize(
    "error_type,builtin",
    [
        (fs.InvalidFrame, ValueError),
        (fs.ChecksumMismatch, ValueError),
        (fs.ValidationFailed, ValueError),
        (fs.UnexpectedEof, EOFError),
    ],
)
def test_hierarchy(error_type: type, builtin: type) -> None:
    assert issubclass(error_type, fs.FlatstreamError)
    assert issubclass(error_type, builtin)
    assert issubclass(fs.FlatstreamError, Exception)
    assert not issubclass(error_type, OSError)  # a device fault is never one of ours


def _error_from(data: bytes, deframer: fs.Deframer) -> Any:
    got, error = read_all(fs.StreamReader(data, deframer))
    assert error is not None
    return error


def _real_errors() -> List[fs.FlatstreamError]:
    good = reference_frame(b"good", "crc32")
    bad_checksum = bytearray(reference_frame(b"corrupted", "crc32"))
    bad_checksum[-1] ^= 0x40
    return [
        _error_from(good + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 4, fs.ChecksumDeframer("crc32")),
        _error_from(good + bytes(bad_checksum), fs.ChecksumDeframer("crc32")),
        _error_from(good + b"\x09\x00", fs.ChecksumDeframer("crc32")),
        _error_from(good + reference_frame(b"x", "crc32")[:-1], fs.ChecksumDeframer("crc32")),
        _error_from(
            good + reference_frame(b"", "crc32"),
            fs.ChecksumDeframer("crc32").with_validator(fs.SizeValidator(1)),
        ),
    ]


def test_invalid_frame_message_has_length_limit_and_offset() -> None:
    error = _real_errors()[0]
    assert isinstance(error, fs.InvalidFrame)
    assert (error.declared_len, error.limit, error.offset) == (0xFFFFFFFF, 1 << 31, 12)
    message = str(error)
    assert "4294967295" in message and "2147483648" in message and "byte 12" in message


def test_checksum_mismatch_message_has_both_values_in_hex_and_the_offset() -> None:
    error = _real_errors()[1]
    assert isinstance(error, fs.ChecksumMismatch)
    message = str(error)
    assert f"0x{error.expected:08x}" in message
    assert f"0x{error.calculated:08x}" in message
    assert error.expected != error.calculated and error.offset == 12
    assert "byte 12" in message
    # the width sets the digits: a crc16 value is 4 hex digits, an xxh3 one 16
    assert "0x00ab" in str(fs.ChecksumMismatch(0xAB, 0xCD, width=2))
    assert "0x00000000000000ab" in str(fs.ChecksumMismatch(0xAB, 0xCD, width=8))


def test_unexpected_eof_messages_say_header_or_payload() -> None:
    header, payload = _real_errors()[2:4]
    assert isinstance(header, fs.UnexpectedEof) and isinstance(payload, fs.UnexpectedEof)
    assert "header" in str(header) and (header.needed, header.available) == (8, 2)
    assert "payload" in str(payload) and (payload.needed, payload.available) == (9, 8)
    assert "byte 12" in str(header) and "byte 12" in str(payload)


def test_validation_failed_message_names_validator_and_reason() -> None:
    error = _real_errors()[4]
    assert isinstance(error, fs.ValidationFailed)
    assert error.validator == "SizeValidator" and error.offset == 12
    message = str(error)
    assert "SizeValidator" in message and error.reason in message and "byte 12" in message


def _fields(error: BaseException) -> Any:
    return type(error), dict(vars(error)), str(error)


def test_errors_pickle_with_every_field() -> None:
    constructed: List[fs.FlatstreamError] = [
        fs.InvalidFrame("frame too long", declared_len=10, limit=5, offset=3),
        fs.InvalidFrame("payload cannot be framed"),
        fs.ChecksumMismatch(1, 2, width=4, offset=99),
        fs.UnexpectedEof(),
        fs.UnexpectedEof("input ended inside a frame payload", needed=9, available=2, offset=7),
        fs.ValidationFailed("SizeValidator", "too small", offset=0),
    ]
    for error in constructed + _real_errors():
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            copy = pickle.loads(pickle.dumps(error, protocol))
            assert _fields(copy) == _fields(error)
            assert isinstance(copy, fs.FlatstreamError)


def test_an_error_without_an_offset_says_nothing_about_one() -> None:
    error = fs.InvalidFrame("payload too long", declared_len=11, limit=10)
    assert "byte" not in str(error)
    with pytest.raises(fs.InvalidFrame) as info:
        fs.DefaultFramer().bounded(10).frame(b"x" * 11)
    assert "11" in str(info.value) and "10" in str(info.value)


def test_errors_are_raised_in_the_specs_order() -> None:
    """header EOF, then the limit, then payload EOF, then checksum, then validation."""
    deframer = fs.ChecksumDeframer("crc16", 8).with_validator(fs.SizeValidator(0, 2))
    bad_checksum = bytearray(reference_frame(b"abc", "crc16"))
    bad_checksum[4] ^= 1
    cases = [
        (b"\x05\x00\x00", fs.UnexpectedEof),  # inside the header
        (struct.pack("<IH", 9, 0), fs.InvalidFrame),  # over the limit, before its payload
        (reference_frame(b"abcdefgh", "crc16")[:-1], fs.UnexpectedEof),  # inside the payload
        (bytes(bad_checksum), fs.ChecksumMismatch),  # the checksum before the validator
        (reference_frame(b"abc", "crc16"), fs.ValidationFailed),
    ]
    for data, error_type in cases:
        assert type(_error_from(reference_stream([b"ok"], "crc16") + data, deframer)) is error_type


# -- errors name the frame, by index and by byte offset -------------------------


def _damaged(kind: str) -> "tuple[bytes, int]":
    import io as _io
    import struct as _struct

    import flatstream as _fs

    out = _io.BytesIO()
    with _fs.StreamWriter(out, _fs.ChecksumFramer("crc32")) as w:
        w.write_many(bytes([i]) * 10 for i in range(8))
        data = bytearray(out.getvalue())
    at = 5 * 18  # frame 5 (4 + 4 + 10 bytes a frame)
    if kind == "checksum":
        data[at + 12] ^= 1
    elif kind == "limit":
        data[at : at + 4] = _struct.pack("<I", 1 << 20)
    elif kind == "eof":  # cut inside frame 5
        data = data[: at + 9]
    return bytes(data), at


@pytest.mark.parametrize("kind", ["checksum", "limit", "eof"])
def test_errors_carry_the_frame_index(kind: str) -> None:
    import io as _io

    import flatstream as _fs

    data, at = _damaged(kind)
    deframer = _fs.ChecksumDeframer("crc32", max_frame_len=4096)
    for source in (data, _io.BytesIO(data)):
        reader = _fs.StreamReader(source, deframer)
        with pytest.raises(_fs.FlatstreamError) as caught:
            list(reader)
        assert (caught.value.frame_index, caught.value.offset) == (5, at)
        assert f"frame 5 at byte {at}" in str(caught.value)
    if kind != "eof":
        with pytest.raises(_fs.FlatstreamError) as caught:
            _fs.verify(data, "crc32", max_frame_len=4096)
        assert (caught.value.frame_index, caught.value.offset) == (5, at)


def test_validation_errors_carry_the_frame_index() -> None:
    import flatstream as _fs

    data, _ = _damaged("clean")
    refuse_five = _fs.TypedValidator(lambda p: bytes(p)[:1] != b"\x05", name="no fives")
    reader = _fs.StreamReader(data, _fs.ChecksumDeframer("crc32").with_validator(refuse_five))
    with pytest.raises(_fs.ValidationFailed) as caught:
        list(reader)
    assert (caught.value.frame_index, caught.value.offset) == (5, 90)
