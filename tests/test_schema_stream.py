"""Codecs on the stream: StreamWriter.write(obj) of an @fs.table instance,
typed reading with the class or a codec, over every kind of source."""

from __future__ import annotations

import io
from typing import List, Optional

import numpy as np
import pytest
from helpers import SOURCE_KINDS, open_source
from test_schema_support import SCHEMAS

import flatstream as fs


@fs.table(namespace="telemetry")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


@fs.struct
class Level:
    price: fs.i64
    size: fs.u64


@fs.table(file_identifier="BOOK")
class OrderBookSnapshot:
    timestamp: fs.f64 = 0.0
    asks: Optional[List[Level]] = None
    bids: Optional[List[Level]] = None
    sizes: Optional[List[fs.u32]] = None
    venue: Optional[str] = None


EVENTS = [TelemetryEvent(n, 1_700_000_000_000 + n, n * 0.5) for n in range(50)]


def write_events(items: List[object], framer: Optional[fs.Framer] = None) -> bytes:
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        for item in items:
            writer.write(item)
    return sink.getvalue()


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_write_objects_read_them_typed(kind: str) -> None:
    data = write_events(EVENTS, fs.ChecksumFramer("xxh3_64"))
    codec = fs.codec(TelemetryEvent)
    for cls in (codec, TelemetryEvent):
        with open_source(kind, data) as source:
            # A temporary reader: over an mmap, close() alone does not give
            # the mapping back (see the report); dropping the reader does.
            assert list(fs.StreamReader(source, fs.ChecksumDeframer("xxh3_64")).typed_messages(cls)) == EVENTS


def test_payloads_are_the_codec_bytes() -> None:
    data = write_events(EVENTS[:3])
    payloads = [bytes(p) for p in fs.StreamReader(data)]
    assert payloads == [fs.codec(TelemetryEvent).encode(e) for e in EVENTS[:3]]


def test_process_typed_and_a_loaded_schema_codec() -> None:
    data = write_events(EVENTS)
    loaded = fs.load_schema(SCHEMAS / "telemetry.fbs").codec("TelemetryEvent")
    seen: List[object] = []
    assert fs.StreamReader(data).process_typed(loaded, seen.append) == len(EVENTS)
    assert [(e.device_id, e.timestamp, e.value) for e in seen] == [  # type: ignore[attr-defined]
        (e.device_id, e.timestamp, e.value) for e in EVENTS
    ]


def test_write_many_and_mixed_items() -> None:
    sink = io.BytesIO()
    writer = fs.StreamWriter(sink)
    assert writer.write_many([EVENTS[0], EVENTS[1], b"raw"]) == 3
    writer.write(EVENTS[2])
    payloads = [bytes(p) for p in fs.StreamReader(sink.getvalue())]
    codec = fs.codec(TelemetryEvent)
    assert [codec.decode(p) for p in payloads[:2]] + [codec.decode(payloads[3])] == EVENTS[:3]
    assert payloads[2] == b"raw"


@pytest.mark.parametrize("kind", ["bytes", "bytesio", "trickle", "raw_file"])
def test_numpy_views_stay_valid_after_the_reader_moves_on(kind: str) -> None:
    """Decoded vectors are views of the payload; a reader over a file-like
    must not reuse memory a kept view still shows."""
    books = [
        OrderBookSnapshot(float(n), [Level(100 + n, 5)], [Level(99 - n, 7)], sizes=[n, n + 1, n + 2], venue=f"v{n}")
        for n in range(20)
    ]
    data = write_events(books)  # type: ignore[arg-type]
    with open_source(kind, data) as source:
        decoded = list(fs.StreamReader(source, chunk_size=64).typed_messages(OrderBookSnapshot))
    for n, book in enumerate(decoded):
        assert book.sizes.tolist() == [n, n + 1, n + 2]
        assert book.asks == [Level(100 + n, 5)] and book.venue == f"v{n}"
        assert isinstance(book.sizes, np.ndarray)


def test_verifier_on_the_read_side_and_file_identifier() -> None:
    codec = fs.codec(OrderBookSnapshot)
    payload = codec.encode(OrderBookSnapshot(1.0, [Level(1, 2)]))
    assert payload[4:8] == b"BOOK"
    data = write_events([OrderBookSnapshot(1.0, [Level(1, 2)])])  # type: ignore[list-item]
    reader = fs.StreamReader(data, fs.DefaultDeframer().with_validator(codec.verifier()))
    assert [b.asks for b in reader.typed_messages(codec)] == [[Level(1, 2)]]
    other = write_events(EVENTS[:1])
    with pytest.raises(fs.ValidationFailed, match="file identifier"):
        list(fs.StreamReader(other, fs.DefaultDeframer().with_validator(codec.verifier())))


def test_open_writes_and_reads_objects(tmp_path: object) -> None:
    path = f"{tmp_path}/events.fs"
    with fs.open(path, "wb", checksum="crc32c") as writer:
        for event in EVENTS:
            writer.write(event)
    with fs.open(path, "rb", checksum="crc32c") as reader:
        assert list(reader.typed_messages(TelemetryEvent)) == EVENTS


def test_the_example_script_runs() -> None:
    import subprocess
    import sys

    script = SCHEMAS.parent / "schema_codecs.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "34202.0 [Level(price=1000002, size=100)]" in result.stdout


def test_objects_of_a_loaded_schema_are_written_and_read_by_class() -> None:
    from pathlib import Path

    schema = fs.load_schema(Path(__file__).resolve().parent.parent / "examples/schemas/telemetry.fbs")
    cls = schema.python_type("telemetry.TelemetryEvent")
    events = [cls(device_id=i, timestamp=10 * i, value=i / 4) for i in range(5)]
    sink = io.BytesIO()
    with fs.StreamWriter(sink, fs.ChecksumFramer("crc32")) as writer:
        writer.write(events[0])
        writer.write_many(events[1:])
    reader = fs.StreamReader(sink.getvalue(), fs.ChecksumDeframer("crc32"))
    assert list(reader.typed_messages(cls)) == events


def test_max_size_holds_for_tables_of_scalars_in_every_path() -> None:
    from pathlib import Path

    schema = fs.load_schema(Path(__file__).resolve().parent.parent / "examples/schemas/telemetry.fbs")
    event = schema.python_type("telemetry.TelemetryEvent")(device_id=1, timestamp=2, value=3.0)
    assert len(schema.codec().encode(event)) == 48
    small = schema.codec(max_size=40)
    with pytest.raises(fs.EncodeError):
        small.encode(event)
    with pytest.raises(fs.EncodeError):
        small.encode_many([event])
    assert schema.codec(max_size=48).encode(event) == schema.codec().encode(event)


def test_codecs_read_views_in_place_and_refuse_released_ones() -> None:
    """A codec decodes a reader's payload view where it lies; once a streaming
    reader moves on, the view is released and decoding it raises the view's
    own error (in both kernel modes), never stale bytes."""
    data = write_events(EVENTS[:3])
    codec = fs.codec(TelemetryEvent)
    reader = fs.StreamReader(io.BufferedReader(io.BytesIO(data)))  # streaming: views are released
    first = reader.read_message()
    assert first is not None
    assert codec.decode(first) == EVENTS[0] and codec.decode_many([first]) == [EVENTS[0]]
    assert reader.read_message() is not None
    with pytest.raises(ValueError, match="released"):
        codec.decode(first)
    with pytest.raises(ValueError, match="released"):
        codec.decode_many([first])
    views = list(fs.StreamReader(data))  # over bytes: views stay valid
    assert codec.decode_many(views) == EVENTS[:3]
