"""Schema-compiled codecs in one page: a table written as a dataclass, the
LOBSTER schemas loaded from .fbs, a stream written and read back verified.

    python examples/schema_codecs.py
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import List, Optional

import flatstream as fs

SCHEMAS = Path(__file__).resolve().parent / "schemas"


@fs.table(namespace="telemetry")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


@fs.struct(namespace="lobster")
class Level:
    price: fs.i64
    size: fs.u64


@fs.table(namespace="lobster")
class OrderBookSnapshot:
    timestamp: fs.f64 = 0.0
    asks: Optional[List[Level]] = None
    bids: Optional[List[Level]] = None


def main() -> None:
    # 1. A dataclass is a table; its codec is compiled once.
    codec = fs.codec(TelemetryEvent)
    payload = codec.encode(TelemetryEvent(7, 1_700_000_000_000_000_000, 21.5))
    print(len(payload), "bytes:", codec.decode(payload))
    print(fs.schema.schema_of(TelemetryEvent).to_fbs())  # for flatc and other languages

    # 2. The same wire format from the .fbs, through flatc.
    book_schema = fs.load_schema(SCHEMAS / "order_book.fbs")
    book_codec = book_schema.codec("OrderBookSnapshot")
    book = OrderBookSnapshot(34200.5, [Level(1_000_100, 300)], [Level(999_900, 200)])
    assert book_codec.encode(book) == fs.codec(OrderBookSnapshot).encode(book)
    print(book_codec.decode(fs.codec(OrderBookSnapshot).encode(book)))

    # 3. A stream of tables, verified on the way in and on the way out.
    verifier = fs.codec(OrderBookSnapshot).verifier()
    sink = io.BytesIO()
    with fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64").with_validator(verifier)) as writer:
        for n in range(3):
            writer.write(OrderBookSnapshot(34200.0 + n, [Level(1_000_000 + n, 100)], []))
    reader = fs.StreamReader(sink.getvalue(), fs.ChecksumDeframer("xxh3_64").with_validator(verifier))
    for snapshot in reader.typed_messages(OrderBookSnapshot):
        print(snapshot.timestamp, snapshot.asks)


if __name__ == "__main__":
    main()
