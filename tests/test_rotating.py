"""RotatingWriter names segments in write order; open_segments reads them as one stream."""

from __future__ import annotations

import os
import pathlib

import pytest

import flatstream as fs
from flatstream.rotating import list_segments


def test_rotation_by_size_keeps_every_frame_in_order(tmp_path: pathlib.Path) -> None:
    payloads = [bytes([i % 256]) * (i % 50) for i in range(500)]
    with fs.RotatingWriter(tmp_path, "cap", rotate_bytes=1000, checksum="crc32") as w:
        for p in payloads[:250]:
            w.write_payload(p)
        w.write_many(payloads[250:])
    assert w.frames_written == 500
    segments = list_segments(tmp_path, "cap")
    assert segments == w.segments and len(segments) > 5
    for path in segments[:-2]:
        assert os.path.getsize(path) < 1000 + 8 + 50  # closed once it reached the limit
    with fs.open_segments(tmp_path, "crc32") as r:
        assert [bytes(p) for p in r] == payloads


def test_rotation_by_time_and_restart_continue_the_sequence(tmp_path: pathlib.Path) -> None:
    now = [1000.0]
    with fs.RotatingWriter(tmp_path, "t", rotate_seconds=10, clock=lambda: now[0]) as w:
        w.write_payload(b"a")
        now[0] += 11
        w.write_payload(b"b")
        w.write_payload(b"c")
    assert len(w.segments) == 2
    with fs.RotatingWriter(tmp_path, "t") as w2:  # a restart never reuses a segment
        w2.write_payload(b"d")
    names = [os.path.basename(p) for p in list_segments(tmp_path, "t")]
    assert [n.split("-")[1] for n in names] == ["0000000001", "0000000002", "0000000003"]
    assert names == sorted(names)
    assert [bytes(p) for p in fs.open_segments(tmp_path)] == [b"a", b"b", b"c", b"d"]
    assert [bytes(p) for p in fs.open_segments(str(tmp_path / "t-*.fs"))] == [b"a", b"b", b"c", b"d"]


def test_a_torn_segment_is_named(tmp_path: pathlib.Path) -> None:
    with fs.RotatingWriter(tmp_path, "x", rotate_bytes=10, checksum="crc16") as w:
        for i in range(6):
            w.write_payload(b"payload%d" % i)
    first = w.segments[1]
    with open(first, "r+b") as f:
        f.truncate(os.path.getsize(first) - 1)
    reader = fs.open_segments(tmp_path, "crc16")
    got = []
    with pytest.raises(fs.UnexpectedEof) as raised:
        for p in reader:
            got.append(bytes(p))
    assert raised.value.segment == first  # type: ignore[attr-defined]
    assert got == [b"payload0"]


def test_bad_arguments(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        fs.RotatingWriter(tmp_path, "p", rotate_bytes=0)
    with pytest.raises(ValueError):
        fs.RotatingWriter(tmp_path, "a/b")
    with pytest.raises(ValueError, match="format"):
        fs.RotatingWriter(tmp_path, "p", format="parquet")
    with pytest.raises(TypeError, match="journal"):
        fs.RotatingWriter(tmp_path, "p", schema=Reading)
    with pytest.raises(TypeError, match="max_frame_len"):
        fs.RotatingWriter(tmp_path, "p", format="journal", max_frame_len=10)


@fs.table
class Reading:
    sensor: fs.u32
    value: fs.f64


def test_journal_segments_describe_themselves(tmp_path: pathlib.Path) -> None:
    readings = [Reading(i % 7, i / 4) for i in range(400)]
    with fs.RotatingWriter(tmp_path, "j", rotate_bytes=2000, format="journal", schema=Reading,
                           metadata={"site": "lab"}, fsync=True) as w:
        for r in readings[:100]:
            w.write(r)
        w.write_many(fs.codec(Reading).encode_many(readings[100:]))
        os.fsync(w.fileno())  # the open segment's descriptor
    assert w.frames_written == 400  # each segment counted once, the last one too
    assert w.bytes_written == sum(os.path.getsize(p) for p in w.segments)
    assert len(w.segments) > 3
    for path in w.segments:
        with fs.open(path, "rb") as r:  # each a whole journal: header, footer, schema
            assert r.state is fs.journal.JournalState.CLEAN
            assert r.header.checksum == "xxh3_64" and r.header.metadata == {"site": "lab"}
    assert list(fs.open_segments(tmp_path, checksum=None).typed_messages(Reading)) == readings
    with pytest.raises(fs.InvalidFrame, match="reserved"):
        fs.RotatingWriter(tmp_path, "k", format="journal").check_payload(b"\x08\x00\x00\x00FSJFabcd")


def test_the_last_raw_segment_is_counted_once(tmp_path: pathlib.Path) -> None:
    with fs.RotatingWriter(tmp_path, "r", checksum="crc32") as w:
        w.write_payload(b"abc")
    assert (w.frames_written, w.bytes_written) == (1, os.path.getsize(w.path))

