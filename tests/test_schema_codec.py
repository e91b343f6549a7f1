"""Compiled codecs against the official FlatBuffers runtime, both directions.

For schemas with every supported feature, hypothesis draws values from the
schema; each value is packed by the official builder (flatc's object API,
generated at test time) and encoded by the codec. The two buffers must be
byte-equal (the codec emulates the builder), the codec must decode the
official buffer to the value, flatc's generated classes must read the
codec's buffer as the value, and ``flatc --json`` (a C++ decoder) must print
the value.
"""

from __future__ import annotations

import enum
import struct
from pathlib import Path
from typing import Any, List, Optional

import flatbuffers
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_schema_support import (
    FEATURES_FBS,
    SCHEMAS,
    build,
    canonical,
    explain,
    flatc_binary,
    flatc_json,
    generate_module,
    normal,
    normal_from_json,
    pack_objapi,
    same,
    unpack_objapi,
    values,
    write_fbs,
)

import flatstream as fs
from flatstream.schema import _compiler as compiler_module
from flatstream.schema import _decoder as decoder_module
from flatstream.schema import _encoder as encoder_module
from helpers import runtime_matches_flatc

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


class Loaded:
    """A schema loaded from .fbs, its codec and flatc's classes for it."""

    def __init__(self, fbs: Path, out: Path, table: Optional[str] = None) -> None:
        self.fbs = fbs
        self.schema = fs.load_schema(fbs)
        self.table = self.schema.table(table).name
        self.codec = self.schema.codec(self.table)
        self.module = generate_module(fbs, out)
        self.ident = self.codec.file_identifier


#: Byte identity with the official object API holds for flatc's own runtime
#: release (CI's pins); at the dependency floor the round trips still run.
OFFICIAL_LAYOUT = runtime_matches_flatc()


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    directory = tmp_path_factory.mktemp("features")
    return Loaded(write_fbs(directory, "features", FEATURES_FBS), directory / "gen")


@pytest.fixture(scope="module", params=["telemetry", "lobster_message", "order_book", "wide_frame"])
def example(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    directory = tmp_path_factory.mktemp(request.param)
    return Loaded(SCHEMAS / f"{request.param}.fbs", directory / "gen")


def check_both_directions(loaded: Loaded, form: Any) -> bytes:
    """The four-way comparison of the module docstring, but flatc --json."""
    schema, name = loaded.schema, loaded.table
    expected = canonical(schema, name, form)
    official = pack_objapi(loaded.module, schema, name, form, loaded.ident)
    mine = loaded.codec.encode(build(schema, name, form))
    assert isinstance(mine, bytes)
    if OFFICIAL_LAYOUT:
        assert mine == official, "the codec's buffer differs from the official builder's"
    decoded = normal(schema, name, loaded.codec.decode(official))
    assert same(decoded, expected), explain(decoded, expected)
    read_back = unpack_objapi(loaded.module, schema, name, mine)
    assert same(read_back, expected), explain(read_back, expected)
    viewed = normal(schema, name, loaded.codec.view(official))
    assert same(viewed, expected), explain(viewed, expected)
    return mine


# -- every feature, both directions --------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_features_round_trip_with_the_official_runtime(features: Loaded, data: st.DataObject) -> None:
    form = data.draw(values(features.schema, features.table))
    check_both_directions(features, form)


@SETTINGS
@given(data=st.data())
def test_examples_round_trip_with_the_official_runtime(example: Loaded, data: st.DataObject) -> None:
    form = data.draw(values(example.schema, example.table))
    check_both_directions(example, form)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_flatc_json_reads_codec_output(features: Loaded, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    forms = data.draw(st.lists(values(features.schema, features.table, finite=True), min_size=8, max_size=8))
    payloads = [features.codec.encode(build(features.schema, features.table, f)) for f in forms]
    work = tmp_path_factory.mktemp("json")
    printed = flatc_json(features.fbs, payloads, work)
    for form, text in zip(forms, printed):
        expected = canonical(features.schema, features.table, form)
        got = normal_from_json(features.schema, features.table, text)
        # flatc prints doubles with limited precision.
        assert same(got, expected, rel=1e-6), explain(got, expected)
    # And back: the C++ builder makes buffers of the JSON (its own field
    # order), which the codec decodes to what flatc printed and the
    # verifier accepts.
    verifier = features.schema.verifier(check_utf8=True)
    for text, built in zip(printed, flatc_binary(features.fbs, printed, work / "cpp")):
        verifier.validate(built)
        decoded = normal(features.schema, features.table, features.codec.decode(built))
        assert same(decoded, normal_from_json(features.schema, features.table, text), rel=1e-6)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_flatc_json_reads_every_example(example: Loaded, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    forms = data.draw(st.lists(values(example.schema, example.table, finite=True), min_size=5, max_size=5))
    payloads = [example.codec.encode(build(example.schema, example.table, f)) for f in forms]
    work = tmp_path_factory.mktemp("json")
    printed = flatc_json(example.fbs, payloads, work)
    for form, text in zip(forms, printed):
        expected = canonical(example.schema, example.table, form)
        got = normal_from_json(example.schema, example.table, text)
        assert same(got, expected, rel=1e-6), explain(got, expected)
    for text, built in zip(printed, flatc_binary(example.fbs, printed, work / "cpp")):
        example.codec.verify(built)
        decoded = normal(example.schema, example.table, example.codec.decode(built))
        assert same(decoded, normal_from_json(example.schema, example.table, text), rel=1e-6)


def test_generic_decoder_agrees(features: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-table limit of compiled vtables the codec reads vtables at
    run time; the result must not change."""
    monkeypatch.setattr(decoder_module, "_VTABLE_CACHE_LIMIT", 0)
    schema = fs.load_schema(features.fbs)  # a fresh compiler sees the patched limit
    codec = schema.codec()
    official_forms = []

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values(schema, features.table))
    def check(form: Any) -> None:
        official = pack_objapi(features.module, schema, features.table, form, features.ident)
        decoded = normal(schema, features.table, codec.decode(official))
        expected = canonical(schema, features.table, form)
        assert same(decoded, expected), explain(decoded, expected)
        official_forms.append(form)

    check()
    assert official_forms and not compiler_module._Compiler.__dict__.get("unused")


@pytest.mark.parametrize("name", ["features", "telemetry", "lobster_message"])
def test_interpreted_layouts_agree(
    name: str, features: Loaded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Past the per-table limit of compiled layouts (a table with many
    optional fields has many) the encoder interprets; the bytes must not change."""
    if not OFFICIAL_LAYOUT:
        pytest.skip("compares with the official object API, whose layout is flatc's release's")
    monkeypatch.setattr(encoder_module, "_LAYOUT_CACHE_LIMIT", 0)
    loaded = features if name == "features" else Loaded(SCHEMAS / f"{name}.fbs", tmp_path / "gen")
    schema = fs.load_schema(loaded.fbs)  # a fresh compiler sees the patched limit
    codec = schema.codec()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(values(schema, codec.name))
    def check(form: Any) -> None:
        official = pack_objapi(loaded.module, schema, codec.name, form, codec.file_identifier)
        assert codec.encode(build(schema, codec.name, form)) == official

    check()


# -- the telemetry event, byte for byte ---------------------------------------------------


@fs.table(namespace="telemetry")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


def official_telemetry(module: Any, device_id: int, timestamp: int, value: float, force: bool = False) -> bytes:
    builder = flatbuffers.Builder(0)
    builder.ForceDefaults(force)
    module.TelemetryEventStart(builder)
    module.TelemetryEventAddDeviceId(builder, device_id)
    module.TelemetryEventAddTimestamp(builder, timestamp)
    module.TelemetryEventAddValue(builder, value)
    builder.Finish(module.TelemetryEventEnd(builder))
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def telemetry_module(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_module(SCHEMAS / "telemetry.fbs", tmp_path_factory.mktemp("telemetry"))


@pytest.mark.parametrize("args", [(1, 2, 3.0), (0, 0, 0.0), (0, 5, 0.0), (2**64 - 1, 1, -0.0), (7, 0, float("nan"))])
def test_telemetry_event_equals_the_official_builder(telemetry_module: Any, args: Any) -> None:
    codec = fs.codec(TelemetryEvent)
    assert codec.encode(TelemetryEvent(*args)) == official_telemetry(telemetry_module, *args)
    loaded = fs.load_schema(SCHEMAS / "telemetry.fbs").codec("TelemetryEvent")
    assert loaded.encode(loaded.type(*args)) == official_telemetry(telemetry_module, *args)
    event = codec.decode(official_telemetry(telemetry_module, *args))
    assert (event.device_id, event.timestamp) == args[:2]
    assert struct.pack("<d", event.value) == struct.pack("<d", args[2] if args[2] else 0.0) or event.value != event.value


def test_force_defaults_equals_the_official_builder(telemetry_module: Any) -> None:
    codec = fs.codec(TelemetryEvent, force_defaults=True)
    assert codec is not fs.codec(TelemetryEvent)
    assert codec is fs.codec(TelemetryEvent, force_defaults=True)
    for args in [(0, 0, 0.0), (1, 0, 0.0)]:
        assert codec.encode(TelemetryEvent(*args)) == official_telemetry(telemetry_module, *args, force=True)
    # Without it the defaults are omitted: a 4-byte vtable, no field stored.
    payload = fs.codec(TelemetryEvent).encode(TelemetryEvent(0, 0, 0.0))
    assert len(payload) < len(codec.encode(TelemetryEvent(0, 0, 0.0)))


def test_codec_is_compiled_once_and_cached() -> None:
    assert fs.codec(TelemetryEvent) is fs.codec(TelemetryEvent)
    assert fs.codec(fs.codec(TelemetryEvent)) is fs.codec(TelemetryEvent)
    with pytest.raises(TypeError):
        fs.codec(int)


def test_schema_codec_gives_objects_with_attributes() -> None:
    schema = fs.load_schema(SCHEMAS / "telemetry.fbs")
    codec = schema.codec("TelemetryEvent")
    assert schema.codec("telemetry.TelemetryEvent") is codec
    assert schema.codec() is codec  # the root type
    event = codec.decode(codec.encode(codec.type(device_id=9, timestamp=8, value=0.5)))
    assert (event.device_id, event.timestamp, event.value) == (9, 8, 0.5)
    assert event == codec.type(9, 8, 0.5)
    assert "device_id=9" in repr(event)
    # Any object with the attributes encodes.
    assert codec.encode(TelemetryEvent(9, 8, 0.5)) == codec.encode(event)


# -- dataclasses: the same wire format as the .fbs they print ------------------------------


class Color(enum.IntEnum):
    __flatstream_name__ = "feat.Color"
    Red = 0
    Green = 2
    Blue = 3


class Perm(enum.IntFlag):
    __flatstream_name__ = "feat.Perm"
    __flatstream_underlying__ = fs.u16
    Read = 1
    Write = 2
    Exec = 4


@fs.struct(namespace="feat")
class Vec3:
    """A position."""

    x: fs.f32
    y: fs.f32
    z: fs.f32
    color: Color


@fs.struct(namespace="feat")
class Pair:
    """A struct holding a struct, with padding inside and at the end."""

    a: fs.u8
    v: Vec3
    d: fs.f64
    tail: fs.i16


@fs.table(namespace="feat")
class Inner:
    a: fs.i32 = 0
    s: Optional[str] = None


@fs.table(namespace="feat")
class Other:
    b: fs.u64 = 7
    words: Optional[List[str]] = None


@fs.table(namespace="feat", file_identifier="EVRY")
class Everything:
    req: str = fs.field(id=31, required=True)
    flag: bool = fs.field(id=0, default=True)
    i8v: fs.i8 = fs.field(id=1, default=-3)
    u8v: fs.u8 = fs.field(id=2, default=0)
    i16v: fs.i16 = fs.field(id=3, default=1000)
    u16v: fs.u16 = fs.field(id=4, default=0)
    i32v: fs.i32 = fs.field(id=5, default=0)
    u32v: fs.u32 = fs.field(id=6, default=0)
    i64v: fs.i64 = fs.field(id=7, default=0)
    u64v: fs.u64 = fs.field(id=8, default=0)
    f32v: fs.f32 = fs.field(id=9, default=1.5)
    f64v: fs.f64 = fs.field(id=10, default=0.0)
    name: Optional[str] = fs.field(id=11, default=None)
    raw: Optional[bytes] = fs.field(id=12, default=None)
    ids: Optional[List[fs.i32]] = fs.field(id=13, default=None)
    doubles: Optional[List[fs.f64]] = fs.field(id=14, default=None)
    bools: Optional[List[bool]] = fs.field(id=15, default=None)
    colors: Optional[List[Color]] = fs.field(id=16, default=None)
    names: Optional[List[str]] = fs.field(id=17, default=None)
    inners: Optional[List[Inner]] = fs.field(id=18, default=None)
    vecs: Optional[List[Vec3]] = fs.field(id=19, default=None)
    pairs: Optional[List[Pair]] = fs.field(id=20, default=None)
    pos: Optional[Vec3] = fs.field(id=21, default=None)
    pair: Optional[Pair] = fs.field(id=22, default=None)
    child: Optional[Inner] = fs.field(id=23, default=None)
    thing: Optional[Inner | Other] = fs.field(id=25, default=None, union="feat.Any")
    opt: Optional[fs.u8] = fs.field(id=26, default=None)
    opt_f: Optional[fs.f64] = fs.field(id=27, default=None)
    color: Color = fs.field(id=28, default=Color.Blue)
    perm: Perm = fs.field(id=29, default=Perm.Read)
    dep: fs.i32 = fs.field(id=30, default=0, deprecated=True)
    next: Optional["Everything"] = fs.field(id=32, default=None)


def test_dataclasses_describe_the_same_schema_as_the_fbs(features: Loaded) -> None:
    mine = fs.schema.schema_of(Everything)
    loaded = features.schema
    assert mine.tables == loaded.tables
    assert mine.structs == loaded.structs
    assert mine.enums == loaded.enums
    assert mine.unions == loaded.unions
    assert (mine.root_table, mine.file_identifier) == (loaded.root_table, loaded.file_identifier)


@SETTINGS
@given(data=st.data())
def test_dataclass_codec_round_trip(features: Loaded, data: st.DataObject) -> None:
    schema = fs.schema.schema_of(Everything)
    form = data.draw(values(schema, schema.root_table or ""))
    obj = build(schema, schema.root_table or "", form)
    assert isinstance(obj, Everything)
    payload = fs.codec(Everything).encode(obj)
    assert payload == features.codec.encode(build(features.schema, features.table, form))
    decoded = fs.codec(Everything).decode(payload)
    assert isinstance(decoded, Everything)
    assert decoded.raw is None or isinstance(decoded.raw, bytes)
    assert decoded.color is None or isinstance(decoded.color, int)
    expected = canonical(schema, schema.root_table or "", form)
    assert same(normal(schema, schema.root_table or "", decoded), expected)


def test_dataclass_decodes_enums_structs_unions_as_their_classes() -> None:
    codec = fs.codec(Everything)
    obj = Everything(
        req="r", pos=Vec3(1.0, 2.0, 3.0, Color.Green), thing=Other(b=1, words=["a"]),
        colors=[Color.Red, Color.Blue], color=Color.Green, perm=Perm.Read | Perm.Exec,
        pairs=[Pair(1, Vec3(0.5, 0, 0, Color.Red), 2.5, -1)],
    )
    back = codec.decode(codec.encode(obj))
    assert back.pos == Vec3(1.0, 2.0, 3.0, Color.Green) and type(back.pos.color) is Color
    assert back.thing == Other(b=1, words=["a"])
    assert back.color is Color.Green and back.perm == Perm.Read | Perm.Exec and isinstance(back.perm, Perm)
    assert back.colors.tolist() == [0, 3]
    assert back.pairs == [Pair(1, Vec3(0.5, 0.0, 0.0, Color.Red), 2.5, -1)]
    assert back.dep == 0  # deprecated: never written, decodes as its default
    assert back.next is None and back.child is None and back.opt is None


# -- vectors and numpy ---------------------------------------------------------------


@fs.table
class Samples:
    ints: Optional[List[fs.i32]] = None
    floats: Optional[List[fs.f32]] = None
    small: Optional[List[fs.u8]] = None
    levels: Optional[List[Vec3]] = None


def test_scalar_vectors_decode_to_zero_copy_numpy_views() -> None:
    codec = fs.codec(Samples)
    payload = codec.encode(Samples(ints=[1, -2, 3], floats=np.arange(4, dtype=np.float32)))
    back = codec.decode(payload)
    assert back.ints.dtype == np.dtype("<i4") and back.ints.tolist() == [1, -2, 3]
    assert back.floats.tolist() == [0.0, 1.0, 2.0, 3.0]
    buffer = np.frombuffer(payload, np.uint8)
    assert np.shares_memory(back.ints, buffer)  # a view, not a copy
    assert not back.ints.flags.writeable  # over bytes: read-only
    writable = bytearray(payload)
    view = codec.decode(memoryview(writable)).ints
    writable[-1] ^= 0  # still the caller's buffer
    assert np.shares_memory(view, np.frombuffer(writable, np.uint8))


def test_numpy_arrays_encode_like_lists() -> None:
    codec = fs.codec(Samples)
    as_list = codec.encode(Samples(ints=[1, 2, 3], small=[1, 2]))
    for ints in (np.array([1, 2, 3], dtype=np.int32), np.array([1, 2, 3], dtype=np.int64), (1, 2, 3), range(1, 4)):
        assert codec.encode(Samples(ints=ints, small=b"\x01\x02")) == as_list  # type: ignore[arg-type]
    big_endian = np.array([1, 2, 3], dtype=">i4")
    assert codec.encode(Samples(ints=big_endian, small=[1, 2])) == as_list  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [
        np.array([2**40], dtype=np.int64),  # does not fit int32
        np.array([1.5]),  # float into an int vector
        np.zeros((2, 2), dtype=np.int32),  # not 1-dimensional
        [2**31],  # a list value out of range
        ["x"],
        "123",  # a str is not a vector of numbers
    ],
)
def test_bad_vectors_raise_encode_error(bad: Any) -> None:
    with pytest.raises(fs.EncodeError):
        fs.codec(Samples).encode(Samples(ints=bad))


def test_struct_vectors_from_numpy_structured_arrays() -> None:
    codec = fs.codec(Samples)
    objects = [Vec3(1.0, 2.0, 3.0, Color.Red), Vec3(4.0, 5.0, 6.0, Color.Blue)]
    expected = codec.encode(Samples(levels=objects))
    dtype = np.dtype({"names": ["x", "y", "z", "color"], "formats": ["<f4", "<f4", "<f4", "u1"],
                      "offsets": [0, 4, 8, 12], "itemsize": 16})
    array = np.array([(1.0, 2.0, 3.0, 0), (4.0, 5.0, 6.0, 3)], dtype=dtype)
    assert codec.encode(Samples(levels=array)) == expected  # type: ignore[arg-type]
    packed = np.array([(1.0, 2.0, 3.0, 0), (4.0, 5.0, 6.0, 3)],
                      dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("color", "u1")])
    assert codec.encode(Samples(levels=packed)) == expected  # type: ignore[arg-type]
    assert codec.decode(expected).levels == objects


# -- optional scalars, identifiers, limits, errors --------------------------------------------


@fs.table
class Optionals:
    a: Optional[fs.u8] = None
    b: fs.u8 = 0


def test_optional_scalars_keep_none_and_zero_apart() -> None:
    codec = fs.codec(Optionals)
    none, zero = codec.encode(Optionals(None, 0)), codec.encode(Optionals(0, 0))
    assert none != zero
    assert codec.decode(none).a is None and codec.decode(zero).a == 0
    assert codec.decode(codec.encode(Optionals(255, 1))) == Optionals(255, 1)


def test_file_identifier() -> None:
    codec = fs.codec(Everything)
    assert codec.encode(Everything(req="x"))[4:8] == b"EVRY"
    plain = fs.codec(Everything, file_identifier=None).encode(Everything(req="x"))
    assert plain[4:8] != b"EVRY"
    assert fs.codec(Everything, file_identifier="ABCD").encode(Everything(req="x"))[4:8] == b"ABCD"
    assert codec.decode(plain).req == "x"
    with pytest.raises(ValueError):
        fs.codec(Everything, file_identifier="TOOLONG")
    with pytest.raises(ValueError):
        fs.table(file_identifier="ABC")


def test_size_limits() -> None:
    codec = fs.codec(Samples, max_size=64)
    assert codec.decode(codec.encode(Samples(small=[1] * 8))).small.tolist() == [1] * 8
    with pytest.raises(fs.EncodeError, match="over the limit of 64"):
        codec.encode(Samples(small=[1] * 100))
    big = fs.codec(Samples).encode(Samples(small=[1] * 100))
    with pytest.raises(fs.DecodeError, match="over the limit"):
        codec.decode(big)
    with pytest.raises(ValueError):
        fs.codec(Samples, max_size=2**31)


@pytest.mark.parametrize(
    "obj, message",
    [
        (TelemetryEvent(-1, 0, 0.0), "TelemetryEvent"),
        (TelemetryEvent(2**64, 0, 0.0), "TelemetryEvent"),
        (TelemetryEvent("1", 0, 0.0), "TelemetryEvent"),  # type: ignore[arg-type]
        (TelemetryEvent(1, 0, "x"), "TelemetryEvent"),  # type: ignore[arg-type]
    ],
)
def test_bad_scalars_raise_encode_error(obj: Any, message: str) -> None:
    with pytest.raises(fs.EncodeError, match=message):
        fs.codec(TelemetryEvent).encode(obj)


def test_missing_required_field_and_bad_union_raise_encode_error() -> None:
    codec = fs.codec(Everything)
    with pytest.raises(fs.EncodeError, match="req is required"):
        codec.encode(Everything(req=None))  # type: ignore[arg-type]
    with pytest.raises(fs.EncodeError, match="union member"):
        codec.encode(Everything(req="x", thing=Samples()))  # type: ignore[arg-type]
    with pytest.raises(fs.EncodeError):
        codec.encode(Everything(req="x", name=5))  # type: ignore[arg-type]
    with pytest.raises(fs.EncodeError):
        codec.encode(Everything(req="\ud800"))  # a lone surrogate is not UTF-8
    with pytest.raises(fs.EncodeError):
        codec.encode(object())


def test_union_member_from_its_type_field(features: Loaded) -> None:
    """A loaded schema's object may name its union member by number."""
    schema = features.schema
    codec = features.codec
    Other = schema.python_type("Other")
    obj = build(schema, features.table, {"req": "x"})
    obj.thing = Other(b=3)
    by_class = codec.encode(obj)

    class Lookalike:
        b = 3
        words = None

    obj.thing, obj.thing_type = Lookalike(), 2
    assert codec.encode(obj) == by_class
    obj.thing_type = 9
    with pytest.raises(fs.EncodeError):
        codec.encode(obj)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_garbage_raises_only_decode_error(data: bytes) -> None:
    for codec in (fs.codec(Everything), fs.codec(TelemetryEvent), fs.codec(Samples)):
        try:
            codec.decode(data)
        except fs.DecodeError:
            pass


def test_decode_of_every_truncation_raises_only_decode_error() -> None:
    codec = fs.codec(Everything)
    payload = codec.encode(
        Everything(req="required", name="n", ids=[1, 2], thing=Inner(1, "s"), pairs=[Pair(1, Vec3(1, 2, 3, Color.Red), 2.0, 3)],
                   next=Everything(req="inner", inners=[Inner(2, "t")]))
    )
    for cut in range(len(payload)):
        try:
            codec.decode(payload[:cut])
        except fs.DecodeError:
            pass


def test_decode_errors_are_value_errors_and_flatstream_errors() -> None:
    with pytest.raises(ValueError):
        fs.codec(TelemetryEvent).decode(b"\x00")
    assert issubclass(fs.DecodeError, fs.FlatstreamError)
    assert issubclass(fs.EncodeError, fs.FlatstreamError)


def test_lazy_view_of_a_wide_frame() -> None:
    schema = fs.load_schema(SCHEMAS / "wide_frame.fbs")
    codec = schema.codec()
    frame = codec.type(frame_id=5, host="h", position=schema.python_type("Vec3")(1, 2, 3), samples=[1.0, 2.0],
                       temp_c_3=2.5, mode=2)
    payload = codec.encode(frame)
    view = codec.view(payload)
    assert (view.frame_id, view.host, view.temp_c_3, view.ok, view.rpm_7) == (5, "h", 2.5, True, 0)
    assert view.mode is schema.python_type("Mode").Charge
    assert view.samples.tolist() == [1.0, 2.0] and view.position == frame.position
    assert view.to_object() == codec.decode(payload) == frame
    assert type(view).__name__ == "WideFrameView"
    with pytest.raises(fs.DecodeError):
        codec.view(b"\x00")
    broken = codec.view(payload[:40])
    with pytest.raises(fs.DecodeError):
        broken.host


def test_an_object_containing_itself_raises_encode_error() -> None:
    loop = Everything(req="loop")
    loop.next = loop
    with pytest.raises(fs.EncodeError):
        fs.codec(Everything).encode(loop)
