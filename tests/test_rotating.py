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
    with pytest.raises(NotImplementedError):
        fs.RotatingWriter(tmp_path, "p", format="journal")
