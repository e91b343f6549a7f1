"""The native (Rust) schema codec against its twin, the generated pure codec.

For tables of scalars, bools, enums, optional scalars and structs (the native
scope), hypothesis draws values: the native encoder must write the pure
encoder's bytes, which are the official builder's; both decoders must read the
official buffers to the same objects; every truncation and random corruption
of a valid buffer must be the codec's ``DecodeError`` or the pure decoder's
very result. Values the native side does not take (other types, out of range)
go to the pure codec, so they give its bytes or its error. Like every test,
these run with the kernels native and pure (``conftest.kernel_mode``).
"""

from __future__ import annotations

import array
import dataclasses
import io
import math
import mmap
from pathlib import Path
from typing import Any, List

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from helpers import runtime_matches_flatc
from test_schema_support import SCHEMAS, build, generate_module, pack_objapi, values, write_fbs

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import DecodeError, EncodeError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Byte identity with the official builder holds only for flatc's own runtime
# release (helpers.runtime_matches_flatc); the floor run checks the rest.
OFFICIAL_LAYOUT = runtime_matches_flatc()

needs_native = pytest.mark.skipif(_kernels.native is None, reason="the extension is not built")

#: Every kind of field in the native scope.
SCALARS_FBS = """
namespace nat;

enum Color : ubyte { Red = 0, Green = 2, Blue = 3 }

enum Perm : ushort (bit_flags) { Read, Write, Exec }

struct Vec3 {
  x: float;
  y: float;
  z: float;
  color: Color;
}

struct Pair {
  a: ubyte;
  v: Vec3;
  d: double;
  tail: short;
  on: bool;
}

table Scalars {
  flag: bool = true;
  i8v: byte = -3;
  u8v: ubyte;
  i16v: short = 1000;
  u16v: ushort;
  i32v: int;
  u32v: uint;
  i64v: long;
  u64v: ulong;
  f32v: float = 1.5;
  f64v: double = -2.5;
  pos: Vec3;
  pair: Pair;
  opt: ubyte = null;
  opt_f: double = null;
  color: Color = Blue;
  perm: Perm = Read;
  dep: int (deprecated);
  gap: uint;
  last: short;
}

root_type Scalars;
file_identifier "SCAL";
"""


class Loaded:
    def __init__(self, fbs: Path, out: Path) -> None:
        self.fbs = fbs
        self.schema = fs.load_schema(fbs)
        self.name = self.schema.table().name
        self.codec = self.schema.codec()
        self.module = generate_module(fbs, out)


@pytest.fixture(scope="module", params=["telemetry", "lobster_message", "scalars"])
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    directory = tmp_path_factory.mktemp(request.param)
    if request.param == "scalars":
        fbs = write_fbs(directory, "scalars", SCALARS_FBS)
    else:
        fbs = SCHEMAS / f"{request.param}.fbs"
    return Loaded(fbs, directory / "gen")


def same_object(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and the same types (``repr`` tells a
    bool from an int and an enum member from its number)."""
    return type(a) is type(b) and repr(a) == repr(b)


def native_of(codec: Any) -> Any:
    if codec.native is None:
        pytest.skip("no native twin (extension not built)")
    return codec.native


@needs_native
def test_the_example_tables_have_a_native_twin(loaded: Loaded, tmp_path: Path) -> None:
    assert loaded.codec.native is not None
    assert loaded.schema.codec(force_defaults=True).native is not None
    # Out of the native scope: strings, vectors, tables, unions.
    book = fs.load_schema(SCHEMAS / "order_book.fbs").codec()
    assert book.native is None


@SETTINGS
@given(data=st.data())
def test_encode_is_byte_identical_to_the_pure_codec_and_the_builder(loaded: Loaded, data: Any) -> None:
    schema, name, codec = loaded.schema, loaded.name, loaded.codec
    native = native_of(codec)
    form = data.draw(values(schema, name))
    obj = build(schema, name, form)
    pure_bytes = codec._pure_encode(obj)
    assert native.encode(obj) == pure_bytes
    assert codec.encode(obj) == pure_bytes
    if OFFICIAL_LAYOUT:
        assert pack_objapi(loaded.module, schema, name, form, codec.file_identifier) == pure_bytes
    for options in ({"force_defaults": True}, {"file_identifier": None}):
        other = schema.codec(**options)
        assert native_of(other).encode(obj) == other._pure_encode(obj)
    decoded = native.decode(pure_bytes)
    assert same_object(decoded, codec._pure_decode(pure_bytes))
    assert same_object(codec.decode(pure_bytes), decoded)


@SETTINGS
@given(data=st.data())
def test_decode_of_builder_buffers_with_fields_left_out(loaded: Loaded, data: Any) -> None:
    """Buffers of the official builder: every field either at its default
    (left out) or drawn, read the same by both decoders and by any buffer
    type that has the byte buffer protocol."""
    schema, name, codec = loaded.schema, loaded.name, loaded.codec
    native = native_of(codec)
    form = data.draw(values(schema, name))
    payload = pack_objapi(loaded.module, schema, name, form, codec.file_identifier)
    expected = codec._pure_decode(payload)
    assert same_object(native.decode(payload), expected)
    for kind in (bytearray, memoryview, lambda b: memoryview(b"..." + b)[3:]):
        assert same_object(native.decode(kind(payload)), expected)
    assert same_object(native.encode(expected), codec._pure_encode(expected))


def test_decode_from_mmap_and_wide_buffers(loaded: Loaded, tmp_path: Path) -> None:
    codec = loaded.codec
    payload = codec.encode(codec.type())
    path = tmp_path / "one"
    path.write_bytes(payload + bytes(-len(payload) % 4))
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        assert same_object(codec.decode(m), codec._pure_decode(m))
    # Items wider than a byte: the pure decoder's business (and result).
    words = array.array("I", path.read_bytes())
    assert same_object(codec.decode(words), codec._pure_decode(words))


def test_every_truncation_is_a_decode_error(loaded: Loaded) -> None:
    schema, name, codec = loaded.schema, loaded.name, loaded.codec
    native = native_of(codec)
    everything = schema.python_type(name)()
    for field in vars(everything) if hasattr(everything, "__dict__") else everything.__slots__:
        value = getattr(everything, field)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            setattr(everything, field, type(value)(1) + value if value == 0 else value)
    payload = codec.encode(everything)
    for n in range(len(payload)):
        with pytest.raises(DecodeError):
            native.decode(payload[:n])
        with pytest.raises(DecodeError):
            codec._pure_decode(payload[:n])


@SETTINGS
@given(data=st.data())
def test_corruption_is_a_decode_error_or_the_pure_result(loaded: Loaded, data: Any) -> None:
    schema, name, codec = loaded.schema, loaded.name, loaded.codec
    native = native_of(codec)
    form = data.draw(values(schema, name))
    payload = bytearray(codec.encode(build(schema, name, form)))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        payload += data.draw(st.binary(max_size=8))
    payload_bytes = bytes(payload)
    try:
        expected: Any = codec._pure_decode(payload_bytes)
    except DecodeError:
        expected = DecodeError
    if expected is DecodeError:
        with pytest.raises(DecodeError):
            native.decode(payload_bytes)
    else:
        assert same_object(native.decode(payload_bytes), expected)


@given(payload=st.binary(max_size=64))
@settings(max_examples=300, deadline=None)
def test_random_bytes_never_crash(payload: bytes) -> None:
    codec = fs.load_schema(SCHEMAS / "lobster_message.fbs").codec()
    native = native_of(codec)
    try:
        expected: Any = codec._pure_decode(payload)
    except DecodeError:
        with pytest.raises(DecodeError):
            native.decode(payload)
    else:
        assert same_object(native.decode(payload), expected)


def test_max_size_is_checked_on_decode(loaded: Loaded) -> None:
    small = loaded.schema.codec(max_size=8)
    payload = loaded.codec.encode(loaded.codec.type())
    with pytest.raises(DecodeError):
        small.decode(payload)
    with pytest.raises(DecodeError):
        native_of(small).decode(payload)


# -- values the native side hands to the pure codec ------------------------------------


def scalars_codec(tmp_path: Path) -> Any:
    return fs.load_schema(write_fbs(tmp_path, "scalars", SCALARS_FBS)).codec()


def both_encode(codec: Any, obj: Any) -> Any:
    """The pure codec's bytes or error type, after checking the native one agrees."""
    native = native_of(codec)
    try:
        expected: Any = codec._pure_encode(obj)
    except EncodeError:
        with pytest.raises(EncodeError):
            native.encode(obj)
        return EncodeError
    assert native.encode(obj) == expected
    return expected


@pytest.mark.parametrize(
    "field, value",
    [
        ("u8v", 256),
        ("u8v", -1),
        ("u64v", 1 << 64),
        ("i64v", -(1 << 63) - 1),
        ("i32v", 1.0),
        ("i32v", "1"),
        ("f32v", 1e300),
        ("f32v", math.inf),
        ("f64v", math.nan),
        ("f64v", 1 << 60),
        ("f64v", 3),
        ("f64v", -2.5),
        ("f64v", True),
        ("i16v", np.int16(5)),
        ("f64v", np.float64(2.0)),
        ("flag", None),
        ("flag", 5),
        ("flag", 0),
        ("flag", 1.0),
        ("opt", None),
        ("opt", 0),
        ("opt", 300),
        ("opt_f", 0.0),
        ("color", 3),
        ("color", 9),
        ("perm", 7),
        ("i8v", -3),
    ],
)
def test_odd_values_give_the_pure_codecs_bytes_or_error(tmp_path: Path, field: str, value: Any) -> None:
    codec = scalars_codec(tmp_path)
    obj = codec.type()
    setattr(obj, field, value)
    both_encode(codec, obj)


def test_odd_structs_and_objects(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "scalars", SCALARS_FBS))
    codec = schema.codec()
    vec3, pair = schema.python_type("Vec3"), schema.python_type("Pair")
    obj = codec.type(pos=vec3(1.0, 2.0, 3.0, 2), pair=pair(1, vec3(0.5, 0, 1e300, 0), 2.0, -1, True))
    assert both_encode(codec, obj) is EncodeError  # 1e300 does not fit a float
    obj.pair.v.z = 1.0
    assert both_encode(codec, obj) is not EncodeError
    obj.pair.on = "yes"  # packed by truth, as struct '?' does
    both_encode(codec, obj)
    obj.pos = object()
    assert both_encode(codec, obj) is EncodeError

    class Partial:
        flag = True

    assert both_encode(codec, Partial()) is EncodeError


def test_enums_decode_to_members_and_unknown_numbers_stay_numbers(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "scalars", SCALARS_FBS))
    codec = schema.codec()
    color, perm = schema.python_type("Color"), schema.python_type("Perm")
    decoded = codec.decode(codec.encode(codec.type(color=2, perm=3)))
    assert decoded.color is color.Green and decoded.perm == perm.Read | perm.Write
    assert isinstance(decoded.perm, perm)
    unknown = codec.decode(codec.encode(codec.type(color=9)))
    assert same_object(unknown.color, codec._pure_decode(codec.encode(codec.type(color=9))).color)
    absent = codec.decode(codec.encode(codec.type()))
    assert absent.color is color.Blue and absent.opt is None and absent.pos is None


def test_slot_fast_paths_and_other_objects(tmp_path: Path) -> None:
    """Classes made for a loaded schema are read and filled slot by slot;
    objects of any other class go through getattr, to the same bytes."""
    import types

    codec = scalars_codec(tmp_path)
    native = native_of(codec)
    assert native.fast_paths == (True, True)
    obj = codec.type(u8v=7, f64v=0.25, opt=3)
    expected = both_encode(codec, obj)
    names = codec.type.__flatstream_fields__
    twin = types.SimpleNamespace(**{name: getattr(obj, name) for name in names})
    assert native.encode(twin) == expected

    class Sub(codec.type):  # type: ignore[misc,name-defined]
        __slots__ = ()

    sub = Sub(u8v=7, f64v=0.25, opt=3)
    assert native.encode(sub) == expected
    unset = codec.type()
    del unset.u8v
    assert both_encode(codec, unset) is EncodeError
    decoded = native.decode(expected)
    assert type(decoded) is codec.type and same_object(decoded, codec._pure_decode(expected))
    # A plain dataclass: read with getattr, decoded by setting its attributes.
    assert fs.codec(TelemetryEvent).native.fast_paths == (False, True)


def test_dataclass_decode_sets_attributes_only_when_init_does_nothing_else() -> None:
    """The native decoder sets a dataclass's attributes itself only when its
    generated ``__init__`` would do exactly that; any class whose construction
    does more (``__post_init__``, frozen, slots, custom ``__init__``) is called."""
    calls: List[Any] = []

    @fs.table(namespace="dc")
    class Plain:
        a: fs.u32 = 0
        b: fs.f64 = 0.0

    @fs.table(namespace="dc")
    class Posted:
        a: fs.u32 = 0
        b: fs.f64 = 0.0

        def __post_init__(self) -> None:
            calls.append(self.a)

    @fs.table(namespace="dc")
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        a: fs.u32 = 0
        b: fs.f64 = 0.0

    @fs.table(namespace="dc")
    @dataclasses.dataclass(slots=True)
    class Slotted:
        a: fs.u32 = 0
        b: fs.f64 = 0.0

    @fs.table(namespace="dc")
    class Custom:
        a: fs.u32 = 0
        b: fs.f64 = 0.0

    def init(self: Any, a: int = 0, b: float = 0.0) -> None:
        self.a, self.b = a * 2, b

    Custom.__init__ = init  # type: ignore[method-assign]

    class Mixin:  # a Python base class: instances are still made by object's tp_new
        def total(self) -> float:
            return self.a + self.b  # type: ignore[attr-defined, no-any-return]

    @fs.table(namespace="dc")
    class Mixed(Mixin):
        a: fs.u32 = 0
        b: fs.f64 = 0.0

    expected = {Plain: (False, True), Posted: (False, False), Frozen: (False, False),
                Slotted: (True, False), Custom: (False, False), Mixed: (False, True)}
    for cls, paths in expected.items():
        codec = fs.codec(cls)
        if codec.native is None:
            pytest.skip("no native extension")
        assert codec.native.fast_paths == paths, cls
        payload = codec.encode(cls(7, 0.5))
        decoded = codec.decode(payload)
        assert type(decoded) is cls
        assert decoded == codec._pure_decode(payload)
        assert codec.decode_many([payload, payload]) == [decoded, decoded]
    assert fs.codec(Custom).decode(fs.codec(Custom).encode(Custom(7, 0.5))).a == 28
    assert fs.codec(Mixed).decode(fs.codec(Mixed).encode(Mixed(7, 0.5))).total() == 7.5
    assert calls and set(calls) == {7}


# -- batches and the stream ------------------------------------------------------------


def test_encode_many_and_decode_many(loaded: Loaded) -> None:
    codec = loaded.codec
    objs = [codec.type() for _ in range(5)]
    for n, obj in enumerate(objs):
        first = codec.type.__slots__[0] if hasattr(codec.type, "__slots__") else None
        if first is not None and isinstance(getattr(obj, first), (int, float)):
            setattr(obj, first, getattr(obj, first) + n)
    payloads = codec.encode_many(iter(objs))
    assert payloads == [codec._pure_encode(o) for o in objs]
    decoded = codec.decode_many(payloads)
    assert [repr(d) for d in decoded] == [repr(codec._pure_decode(p)) for p in payloads]
    assert codec.decode_many([]) == [] and codec.encode_many([]) == []
    with pytest.raises(DecodeError):
        codec.decode_many([payloads[0], payloads[1][:5]])


@fs.table(namespace="telemetry")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


EVENTS = [TelemetryEvent(n, 1_700_000_000_000 + n, n * 0.5) for n in range(40)]


def test_stream_round_trip(kernel_mode: str) -> None:
    codec = fs.codec(TelemetryEvent)
    if _kernels.native is not None:
        assert codec.native is not None
    sink = io.BytesIO()
    with fs.StreamWriter(sink) as writer:
        for event in EVENTS[:20]:
            writer.write(event)
        assert writer.write_many(codec.encode_many(EVENTS[20:])) == 20
    data = sink.getvalue()
    assert list(fs.StreamReader(data).typed_messages(codec)) == EVENTS
    assert list(fs.StreamReader(data).typed_messages(TelemetryEvent)) == EVENTS
    assert codec.decode_many(fs.StreamReader(data)) == EVENTS
    assert [bytes(p) for p in fs.StreamReader(data)] == [codec._pure_encode(e) for e in EVENTS]
    # write_many of @fs.table objects: one encode_many call, the same stream.
    batch = io.BytesIO()
    with fs.StreamWriter(batch) as writer:
        assert writer.write_many(EVENTS[:20]) == 20
        assert writer.write_many(iter(EVENTS[20:])) == 20
    assert batch.getvalue() == data


def test_the_mode_is_chosen_at_call_time(kernel_mode: str) -> None:
    """The native codec hands each call to the pure twins it was given while
    ``_kernels.TableCodec`` is None, and runs itself otherwise."""
    from flatstream.schema._native import bind, native_codec
    from flatstream.schema._compiler import compiler_for as _compiler

    codec = fs.codec(TelemetryEvent)
    calls = []

    def pure_encode(obj: Any) -> bytes:
        calls.append("pure")
        return b"p"

    def pure_decode(payload: Any) -> Any:
        calls.append("pure")
        return "p"

    compiler = _compiler(codec.schema, codec.force_defaults)
    native = native_codec(compiler, codec.table, pure_encode, pure_decode, b"", codec.max_size)
    if native is None:
        pytest.skip("no native extension")
    encode, decode = bind(native, pure_encode, pure_decode)
    payload = codec._pure_encode(TelemetryEvent(1, 2, 3.0))
    results = [encode(TelemetryEvent(1, 2, 3.0)), decode(payload)]
    if kernel_mode == "python":
        assert calls == ["pure", "pure"] and results == [b"p", "p"]
    else:
        assert calls == [] and results == [payload, TelemetryEvent(1, 2, 3.0)]
    assert (_kernels.TableCodec is None) == (kernel_mode == "python")
