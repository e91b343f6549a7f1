"""The one-pass path of ``decode_columns(path)`` (``ColumnarPlan.decode_stream``:
frame walk and decode fused, no index) gives what the two-pass path
(``fs.scan`` then ``ColumnarPlan.decode``) gives: the same columns, the same
errors, a scan error (checksum, limit) before a decode error wherever each
is, and it steps aside for journals, strings/vectors and streams of payloads
too small to size its outputs for. Every test runs on both kernels
(conftest); ``test_kernels_agree_*`` compares them directly."""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatstream as fs
from flatstream import _kernels
from flatstream._kernels import pure
from flatstream.schema.columnar import ROW_VALID, ColumnarDecodeError, frame_index, plan_for

from helpers import reference_stream
from test_columnar import ROW, TELE, VAR, Row, Tele, Var, assert_columns_equal, rows

CHECKSUMS = ["none", "crc32c", "xxh3_64"]


def _two_pass(codec: Any, path: Path, checksum: str, skip: bool, max_frame_len: Optional[int] = None) -> Any:
    """The reference: index every frame, then decode (either may raise)."""
    data = path.read_bytes()
    try:
        offsets, lengths, _ = frame_index(data, checksum, max_frame_len)
        return plan_for(codec).decode(data, offsets, lengths, skip)
    except ValueError as exc:
        return exc


def _one_pass(codec: Any, path: Path, checksum: str, skip: bool, max_frame_len: Optional[int] = None) -> Any:
    try:
        got = plan_for(codec).decode_stream(path.read_bytes(), checksum, max_frame_len, skip)
    except ValueError as exc:
        return exc
    assert got is not None, "the one-pass path stepped aside"
    return got


def _same(got: Any, want: Any) -> None:
    if isinstance(want, Exception):
        assert type(got) is type(want) and str(got) == str(want)
        if isinstance(want, ColumnarDecodeError):
            assert got.frame == want.frame
    else:
        assert not isinstance(got, Exception), got
        assert_columns_equal(got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=10), st.sampled_from(CHECKSUMS), st.data())
def test_one_pass_equals_two_passes_on_damaged_streams(
    tmp_path_factory: Any, objs: List[Row], checksum: str, data: Any
) -> None:
    path = tmp_path_factory.mktemp("s") / "s.fs"
    stream = bytearray(reference_stream([ROW.encode(o) for o in objs], checksum))
    for _ in range(data.draw(st.integers(0, 3))):
        if stream:
            stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(stream)))
    path.write_bytes(bytes(stream[:cut]))
    for skip in (False, True):
        _same(_one_pass(ROW, path, checksum, skip), _two_pass(ROW, path, checksum, skip))


def test_bad_payload_names_its_frame_across_windows(tmp_path: Path) -> None:
    # More frames than one scan window (65536), the bad one in the second.
    n, bad = 70_000, 66_000
    payloads = [TELE.encode(Tele(i, 2 * i, i / 2)) for i in range(200)]
    stream = bytearray(reference_stream([payloads[i % 200] for i in range(n)], "crc32c"))
    frame = 8 + len(payloads[0])
    stream[bad * frame + 8] = 0xFF  # the root offset: past the end
    path = tmp_path / "t.fs"
    path.write_bytes(bytes(stream))
    with pytest.raises(fs.errors.ChecksumMismatch):
        TELE.decode_columns(path, checksum="crc32c")
    # The same damage under a valid checksum: a decode error naming the frame.
    good = [payloads[i % 200] for i in range(n)]
    good[bad] = b"\xff" + good[bad][1:]
    path.write_bytes(reference_stream(good, "crc32c"))
    with pytest.raises(ColumnarDecodeError) as info:
        TELE.decode_columns(path, checksum="crc32c")
    assert info.value.frame == bad
    skipped = TELE.decode_columns(path, checksum="crc32c", on_error="skip")
    assert np.flatnonzero(~skipped[ROW_VALID]).tolist() == [bad]
    want = np.array([i % 200 for i in range(n)], dtype=np.uint64)
    want[bad] = 0
    assert np.array_equal(skipped["device_id"], want)
    _same(_one_pass(TELE, path, "crc32c", True), _two_pass(TELE, path, "crc32c", True))


def test_checksum_error_comes_before_an_earlier_bad_payload(tmp_path: Path) -> None:
    payloads = [TELE.encode(Tele(i, i, 0.0)) for i in range(5)]
    payloads[1] = b"\x00" * 3  # undecodable, but framed with a good checksum
    stream = bytearray(reference_stream(payloads, "xxh3_64"))
    stream[-1] ^= 0x01  # the last frame fails its checksum
    path = tmp_path / "t.fs"
    path.write_bytes(bytes(stream))
    want = _two_pass(TELE, path, "xxh3_64", False)
    assert not isinstance(want, ColumnarDecodeError) and isinstance(want, ValueError)
    _same(_one_pass(TELE, path, "xxh3_64", False), want)
    # A frame over the length limit likewise.
    _same(_one_pass(TELE, path, "none", False, 16), _two_pass(TELE, path, "none", False, 16))


def test_steps_aside_where_it_does_not_apply(tmp_path: Path) -> None:
    path = tmp_path / "v.fs"
    path.write_bytes(reference_stream([VAR.encode(Var(1, "a", None, None, None, None))]))
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        assert plan_for(VAR).decode_stream(buf, "none", None, False) is None
    # Empty payloads: more frames than outputs sized for 8-byte payloads.
    path.write_bytes(reference_stream([b""] * 10))
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        assert plan_for(TELE).decode_stream(buf, "none", None, True) is None
    got = TELE.decode_columns(path, checksum="none", on_error="skip")
    assert got[ROW_VALID].tolist() == [False] * 10
    # A journal: its user frames, as the two-pass path reads them.
    objs = [Tele(i, i, 1.0) for i in range(10)]
    jpath = tmp_path / "j.fs"
    from flatstream.journal import JournalWriter

    with JournalWriter(open(jpath, "wb")) as writer:
        for o in objs:
            writer.write_payload(TELE.encode(o))
    with open(jpath, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        assert plan_for(TELE).decode_stream(buf, None, None, False) is None
    assert TELE.decode_columns(jpath)["device_id"].tolist() == list(range(10))


def _stream_result(kind: Any, codec: Any, data: bytes, width: int, verify: Optional[str], skip: bool) -> Any:
    decoder = kind([c.tuple() for c in plan_for(codec).columns], codec.max_size)
    got = decoder.decode_stream(data, 0, width, verify, 1 << 20, 1, skip)
    if got is None:
        return None
    cols, rows_valid, error, summary = got
    norm: List[Any] = [(bytes(v), None if m is None else bytes(m), e) for v, m, e in cols]
    return norm, None if rows_valid is None else bytes(rows_valid), error, tuple(summary)


@pytest.mark.skipif(_kernels.native is None, reason="needs the native kernels")
@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([(0, None), (4, "crc32c")]), st.booleans())
def test_kernels_agree_on_arbitrary_bytes(data: bytes, check: Any, skip: bool) -> None:
    width, verify = check
    for codec in (TELE, ROW):
        native = _stream_result(_kernels.native.ColumnarDecoder, codec, data, width, verify, skip)
        assert native == _stream_result(pure.ColumnarDecoder, codec, data, width, verify, skip)


def test_telemetry_file_matches_per_message(tmp_path: Path) -> None:
    objs = [Tele(i * 7, 1 << 40 | i, i / 3) for i in range(1000)]
    path = tmp_path / "t.fs"
    path.write_bytes(reference_stream([TELE.encode(o) for o in objs]))
    got: Dict[str, np.ndarray] = TELE.decode_columns(path)
    assert got["device_id"].tolist() == [o.device_id for o in objs]
    assert got["timestamp"].tolist() == [o.timestamp for o in objs]
    assert got["value"].tolist() == [o.value for o in objs]
    assert got["value"].flags.owndata or got["value"].base is not None


def test_long_runs_with_layout_changes_and_bad_frames(tmp_path: Path) -> None:
    # Thousands of frames (the native decoder copies runs of 1024 frames of
    # one layout column by column), the layout changing inside runs (a zero
    # field is left out) and bad frames inside runs, skipped or raised.
    from test_columnar import expected_columns

    objs = [Tele(0 if i % 1500 == 7 else i, 0 if i % 2100 == 3 else 2 * i, i / 4) for i in range(5000)]
    payloads = [TELE.encode(o) for o in objs]
    bad = {2500, 4097}
    for k in bad:
        payloads[k] = payloads[k][:5]
    path = tmp_path / "t.fs"
    path.write_bytes(reference_stream(payloads))
    with pytest.raises(ColumnarDecodeError) as info:
        TELE.decode_columns(path)
    assert info.value.frame == min(bad)
    got = TELE.decode_columns(path, on_error="skip")
    assert np.flatnonzero(~got.pop(ROW_VALID)).tolist() == sorted(bad)
    want = expected_columns(TELE, [Tele(0, 0, 0.0) if i in bad else o for i, o in enumerate(objs)])
    assert_columns_equal(got, want)
    good = [p for i, p in enumerate(payloads) if i not in bad]
    path.write_bytes(reference_stream(good))
    assert_columns_equal(TELE.decode_columns(path), expected_columns(TELE, [o for i, o in enumerate(objs) if i not in bad]))
    # Optional fields and structs (validity bytes) over long runs too.
    rows_ = [Row(opt=(i // 1100) % 3 or None, u64v=i + 1) for i in range(4000)]
    path.write_bytes(reference_stream([ROW.encode(r) for r in rows_]))
    assert_columns_equal(ROW.decode_columns(path), expected_columns(ROW, rows_))
