"""The message types every runtime encodes, defined once.

One description per message gives the ``.fbs`` text (compiled by flatc for the
official runtime, loaded by ``fs.load_schema``), the ``.proto`` text (compiled
by protoc), the ``@fs.table`` dataclasses and the sample values, so every
candidate encodes the same fields with the same values.

Sample values are plain tuples in field order (a vector of structs is a tuple
of tuples): the form msgpack and pickle are given, and the form the other
runtimes' objects are built from before timing starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

__all__ = [
    "Field",
    "Message",
    "TELEMETRY",
    "LEVEL",
    "MESSAGE_EVENT",
    "ORDER_BOOK",
    "WIDE",
    "MESSAGES",
    "TABLES",
    "NAMESPACE",
    "fbs_text",
    "proto_text",
    "samples",
]

NAMESPACE = "benchfb"


@dataclass(frozen=True)
class Field:
    """A field: its name and its FlatBuffers type (``ulong``, ``string``, ``[Level]`` ...)."""

    name: str
    type: str

    @property
    def vector_of(self) -> str:
        """The element type of a vector field, "" otherwise."""
        return self.type[1:-1] if self.type.startswith("[") else ""


@dataclass(frozen=True)
class Message:
    """A table (or, with ``struct=True``, a FlatBuffers struct)."""

    name: str
    fields: Tuple[Field, ...]
    struct: bool = False


TELEMETRY = Message(
    "TelemetryEvent",
    (Field("device_id", "ulong"), Field("timestamp", "ulong"), Field("value", "double")),
)

# The LOBSTER schemas of issue 4, field for field.
MESSAGE_EVENT = Message(
    "MessageEvent",
    (
        Field("timestamp", "double"),
        Field("event_type", "ubyte"),
        Field("order_id", "ulong"),
        Field("size", "uint"),
        Field("price", "long"),
        Field("direction", "byte"),
    ),
)
LEVEL = Message("Level", (Field("price", "long"), Field("size", "ulong")), struct=True)
ORDER_BOOK = Message(
    "OrderBookSnapshot",
    (Field("timestamp", "double"), Field("asks", "[Level]"), Field("bids", "[Level]")),
)

# A wide telemetry frame: 64 scalars of every width and signedness, then a string.
_WIDE_TYPES = (
    "ulong", "long", "double", "uint", "int", "float", "ushort", "short",
    "ubyte", "byte", "bool", "double", "ulong", "float", "int", "uint",
)  # fmt: skip
WIDE = Message(
    "WideFrame",
    tuple(Field(f"f{i:02d}_{_WIDE_TYPES[i % 16]}", _WIDE_TYPES[i % 16]) for i in range(64))
    + (Field("source", "string"),),
)

MESSAGES: Tuple[Message, ...] = (TELEMETRY, MESSAGE_EVENT, LEVEL, ORDER_BOOK, WIDE)
#: The tables benchmarked as messages, by short name.
TABLES: Dict[str, Message] = {
    "telemetry": TELEMETRY,
    "lobster": MESSAGE_EVENT,
    "book10": ORDER_BOOK,
    "wide": WIDE,
}


def fbs_text() -> str:
    """Every message as one ``.fbs`` schema (root type: the telemetry event)."""
    lines = [f"namespace {NAMESPACE};", ""]
    for message in MESSAGES:
        kind = "struct" if message.struct else "table"
        lines.append(f"{kind} {message.name} {{")
        lines += [f"  {f.name}: {f.type};" for f in message.fields]
        lines += ["}", ""]
    lines.append(f"root_type {TELEMETRY.name};")
    return "\n".join(lines) + "\n"


_PROTO_TYPES = {
    "ulong": "uint64",
    "long": "int64",
    "uint": "uint32",
    "int": "int32",
    "ushort": "uint32",
    "short": "int32",
    "ubyte": "uint32",
    "byte": "int32",
    "double": "double",
    "float": "float",
    "bool": "bool",
    "string": "string",
}


def proto_text() -> str:
    """The same messages in proto3, plus ``Blob`` (one bytes field) for opaque payloads."""
    lines = ['syntax = "proto3";', f"package {NAMESPACE};", ""]
    lines += ["message Blob {", "  bytes data = 1;", "}", ""]
    for message in MESSAGES:
        lines.append(f"message {message.name} {{")
        for number, f in enumerate(message.fields, 1):
            if f.vector_of:
                lines.append(f"  repeated {f.vector_of} {f.name} = {number};")
            else:
                lines.append(f"  {_PROTO_TYPES[f.type]} {f.name} = {number};")
        lines += ["}", ""]
    return "\n".join(lines)


def _scalar(rng: random.Random, kind: str) -> Any:
    if kind == "ulong":
        return rng.getrandbits(63)
    if kind == "long":
        return rng.getrandbits(62) - (1 << 61)
    if kind == "uint":
        return rng.getrandbits(32)
    if kind == "int":
        return rng.getrandbits(31) - (1 << 30)
    if kind == "ushort":
        return rng.getrandbits(16)
    if kind == "short":
        return rng.getrandbits(15) - (1 << 14)
    if kind == "ubyte":
        return rng.getrandbits(8)
    if kind == "byte":
        return rng.getrandbits(7) - 64
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "double":
        return rng.random() * 1e6
    if kind == "float":
        return rng.getrandbits(20) / 8.0  # exact in a float32, so every runtime round-trips it
    if kind == "string":
        return f"sensor-{rng.getrandbits(24):06x}"
    raise ValueError(kind)


def _value(rng: random.Random, message: Message, i: int) -> Tuple[Any, ...]:
    if message is TELEMETRY:
        # The seeds' capture: a few devices, nanosecond timestamps, readings.
        return (rng.randrange(1, 65), 1_700_000_000_000_000_000 + i * 1000, rng.random() * 100.0)
    if message is ORDER_BOOK:
        mid = rng.randrange(1_000_000, 2_000_000) * 100
        asks = tuple((mid + 100 * (k + 1), rng.randrange(1, 10_000)) for k in range(10))
        bids = tuple((mid - 100 * (k + 1), rng.randrange(1, 10_000)) for k in range(10))
        return (34200.0 + i * 0.001, asks, bids)
    if message is MESSAGE_EVENT:
        return (
            34200.0 + i * 0.001,
            rng.randrange(1, 8),
            rng.getrandbits(40),
            rng.randrange(1, 100_000),
            rng.randrange(1_000_000, 2_000_000) * 100,
            rng.choice((-1, 1)),
        )
    return tuple(_scalar(rng, f.type) for f in message.fields)


def samples(message: Message, n: int, seed: int = 7) -> List[Tuple[Any, ...]]:
    """``n`` deterministic sample values of ``message`` (tuples in field order)."""
    rng = random.Random(seed)
    return [_value(rng, message, i) for i in range(n)]


def field_names(message: Message) -> Sequence[str]:
    return [f.name for f in message.fields]
