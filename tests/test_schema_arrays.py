"""Fixed-length arrays in structs (``[int:3]``, arrays of enums and of
structs), the shape of FlatBuffers' ``arrays_test.fbs``: buffers written by
``flatc -b`` decode to what ``flatc --json`` prints, our buffers print the
same through flatc, the bytes equal the official Python builder's, and the
native and pure codecs and verifiers agree."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any, Dict, List, Optional

import flatbuffers
import numpy as np
import pytest
from helpers import runtime_matches_flatc
from test_schema_support import flatc_binary, flatc_json, generate_module, write_fbs

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import EncodeError, SchemaError, VerificationError, schema_of

ARRAYS_FBS = """
namespace arrays;

enum Kind : byte { A = 0, B = 1, C = 5 }

struct Cell {
  a: [int:2];
  b: Kind;
  c: [ubyte:3];
}

struct Grid {
  x: float;
  cells: [Cell:2];
  kinds: [Kind:2];
  d: [long:2];
  flags: [bool:3];
}

struct Big { b: [ubyte:64]; w: [short:15]; }

table Holder {
  grid: Grid;
  n: int;
  grids: [Grid];
  name: string;
  big: Big;
}

root_type Holder;
"""

DOCUMENTS: List[Dict[str, Any]] = [
    {"grid": {"x": 1.5, "cells": [{"a": [1, -2], "b": "C", "c": [1, 2, 3]},
                                  {"a": [2147483647, -2147483648], "b": "B", "c": [255, 0, 9]}],
              "kinds": ["A", "C"], "d": [-1, 9007199254740993], "flags": [True, False, True]},
     "n": 3, "name": "first"},
    {"grids": [{"x": -0.25, "cells": [{"a": [0, 0], "b": "A", "c": [0, 0, 0]},
                                      {"a": [7, 8], "b": "C", "c": [4, 5, 6]}],
                "kinds": ["B", "B"], "d": [-9223372036854775808, 9223372036854775807],
                "flags": [False, False, True]}] * 3},
    {"n": -5, "big": {"b": list(range(64)), "w": list(range(-7, 8))}},
]


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("arrays")
    fbs = write_fbs(directory, "arrays", ARRAYS_FBS)
    return fbs, directory, fs.load_schema(fbs)


def _plain(value: Any) -> Any:
    """A decoded object as the JSON flatc prints (enums by name, absent out)."""
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "__slots__") or hasattr(value, "__dict__"):
        names = getattr(type(value), "__flatstream_fields__", None) or vars(value)
        return {n: _plain(getattr(value, n)) for n in names if getattr(value, n) is not None}
    return value


def _drop_defaults(document: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in document.items() if not (k == "n" and v == 0)}


def test_flatc_buffers_decode_to_what_flatc_prints(arrays: Any) -> None:
    fbs, directory, schema = arrays
    codec = schema.codec()
    theirs = flatc_binary(fbs, DOCUMENTS, directory / "theirs")
    printed = flatc_json(fbs, theirs, directory / "theirs")
    for payload, expected in zip(theirs, printed):
        decoded = codec.decode(payload)
        assert _drop_defaults(_plain(decoded)) == expected
        assert json.loads(codec.to_json(payload)) == expected
        # Our encoding of the decoded object prints the same through flatc.
        ours = codec.encode(decoded)
        assert codec.decode(ours) == decoded
    ours_printed = flatc_json(fbs, [codec.encode(codec.decode(p)) for p in theirs], directory / "ours")
    assert ours_printed == printed
    # from_json takes flatc's JSON back to the same object.
    for payload, expected in zip(theirs, printed):
        assert codec.decode(codec.from_json(json.dumps(expected))) == codec.decode(payload)


@pytest.mark.skipif(
    not runtime_matches_flatc(), reason="byte identity holds for flatc's own runtime release"
)
def test_bytes_equal_the_official_python_builder(arrays: Any) -> None:
    fbs, directory, schema = arrays
    gen = generate_module(fbs, directory / "gen")
    codec = schema.codec()
    for document in DOCUMENTS[:1]:
        grid = document["grid"]
        kinds = {"A": 0, "B": 1, "C": 5}
        builder = flatbuffers.Builder(0)
        name = builder.CreateString(document["name"])
        gen.HolderStart(builder)
        # The generated (non object API) struct writer, with the arrays of
        # the cells given column by column, as flatc's Python generator takes them.
        gen.HolderAddGrid(builder, gen.CreateGrid(
            builder, grid["x"],
            [c["a"] for c in grid["cells"]], [kinds[c["b"]] for c in grid["cells"]],
            [c["c"] for c in grid["cells"]],
            [kinds[k] for k in grid["kinds"]], grid["d"], grid["flags"],
        ))
        gen.HolderAddN(builder, document["n"])
        gen.HolderAddName(builder, name)
        builder.Finish(gen.HolderEnd(builder))
        official = bytes(builder.Output())
        obj = codec.decode(official)
        assert codec.encode(obj) == official


def test_native_and_pure_twins_agree(arrays: Any) -> None:
    fbs, directory, schema = arrays
    theirs = flatc_binary(fbs, DOCUMENTS, directory / "twins")
    grid_only = fs.load_schema(write_fbs(directory, "grid_only", ARRAYS_FBS.replace(
        "  grids: [Grid];\n  name: string;\n", "")))
    for sch in (schema, grid_only):
        codec = sch.codec()
        for payload in theirs if sch is schema else []:
            results = {}
            for mode in ("native", "python"):
                with _kernels.selected(mode):
                    obj = codec.decode(payload)
                    results[mode] = (obj, codec.encode(obj))
            assert results["native"] == results["python"] or _kernels.native is None
    # The table of scalars and structs has a native codec, arrays included.
    if _kernels.native is not None:
        assert grid_only.codec().native is not None
    codec = grid_only.codec()
    cls = grid_only.python_type("arrays.Holder")
    grid_cls, cell_cls = grid_only.python_type("arrays.Grid"), grid_only.python_type("arrays.Cell")
    kind = grid_only.python_type("arrays.Kind")
    value = cls(grid=grid_cls(x=2.0, cells=[cell_cls([1, 2], kind.C, [3, 4, 5]), cell_cls((6, 7), kind.A, [8, 9, 10])],
                              kinds=[kind.B, kind.C], d=[1, -1], flags=[True, True, False]), n=9)
    with _kernels.selected("python"):
        pure = codec.encode(value)
    assert codec.encode(value) == pure
    decoded = codec.decode(pure)
    assert decoded.grid.cells[1].a == [6, 7] and decoded.grid.kinds == [kind.B, kind.C]
    assert decoded.grid.flags == [True, True, False]
    # numpy arrays and tuples encode as lists do.
    value.grid.d = np.array([1, -1], dtype=np.int64)
    value.grid.cells[0].c = (3, 4, 5)
    assert codec.encode(value) == pure
    # The verifiers of this table of scalars and structs agree, cut by cut.
    verdicts = []
    for mode in ("native", "python") if _kernels.native is not None else ("python",):
        with _kernels.selected(mode):
            verifier = grid_only.verifier()
            assert verifier.validate(pure) is None
            verdicts.append([_refused(verifier, pure[:cut]) for cut in range(len(pure))])
    assert all(v == verdicts[0] for v in verdicts) and all(verdicts[0])


def _refused(verifier: Any, payload: bytes) -> bool:
    try:
        verifier.validate(payload)
    except VerificationError:
        return True
    return False


@pytest.mark.parametrize("bad, message", [
    (lambda g: setattr(g, "d", [1]), "arrays.Grid.d takes exactly 2 values, got 1"),
    (lambda g: setattr(g, "d", [1, 2, 3]), "arrays.Grid.d takes exactly 2 values, got 3"),
    (lambda g: setattr(g, "cells", g.cells[:1]), "arrays.Grid.cells takes exactly 2 values, got 1"),
    (lambda g: setattr(g.cells[1], "c", [1, 2]), "arrays.Cell.c takes exactly 3 values, got 2"),
    (lambda g: setattr(g, "kinds", "AB"), "arrays.Grid.kinds takes a sequence of 2 values, not str"),
    (lambda g: setattr(g, "d", None), "arrays.Grid.d takes a sequence of 2 values, not NoneType"),
])
def test_wrong_lengths_raise_encode_error_naming_the_field(arrays: Any, bad: Any, message: str) -> None:
    fbs, directory, schema = arrays
    codec = schema.codec()
    obj = codec.decode(flatc_binary(fbs, DOCUMENTS[:1], directory / "bad")[0])
    bad(obj.grid)
    with pytest.raises(EncodeError, match=message.replace(".", r"\.")):
        codec.encode(obj)


def test_verifiers_accept_valid_and_refuse_truncated_alike(arrays: Any) -> None:
    fbs, directory, schema = arrays
    codec = schema.codec()
    payloads = flatc_binary(fbs, DOCUMENTS, directory / "verify")
    payloads += [codec.encode(codec.decode(p)) for p in payloads]
    verdicts: Dict[str, List[Optional[str]]] = {}
    for mode in ("native", "python") if _kernels.native is not None else ("python",):
        with _kernels.selected(mode):
            verifier = schema.verifier()
            out: List[Optional[str]] = []
            for payload in payloads:
                assert verifier.validate(payload) is None
                for cut in range(len(payload)):
                    try:
                        verifier.validate(payload[:cut])
                        out.append(None)
                    except VerificationError:
                        out.append("refused")
                        with pytest.raises(VerificationError):
                            codec.decode(payload[:cut], verify=True)
            verdicts[mode] = out
    first = next(iter(verdicts.values()))
    assert all(v == first for v in verdicts.values())
    # A buffer cut inside a struct holding arrays is refused (not every cut
    # is: past the inline data a table may still be whole).
    assert first.count("refused") > len(first) // 2


def test_decorated_structs_describe_the_same_layout(arrays: Any, tmp_path: Path) -> None:
    _fbs, _directory, loaded = arrays

    class Kind(enum.IntEnum):
        A = 0
        B = 1
        C = 5

    @fs.struct(name="arrays.Cell")
    class Cell:
        a: Annotated[List[fs.i32], fs.FixedLength(2)]
        b: Kind
        c: Annotated[List[fs.u8], fs.FixedLength(3)]

    @fs.struct(name="arrays.Grid")
    class Grid:
        x: fs.f32
        cells: Annotated[List[Cell], fs.FixedLength(2)]
        kinds: Annotated[List[Kind], fs.FixedLength(2)]
        d: Annotated[List[fs.i64], fs.FixedLength(2)]
        flags: Annotated[List[bool], fs.FixedLength(3)]

    @fs.table(name="arrays.Holder")
    class Holder:
        grid: Optional[Grid] = None
        n: fs.i32 = 0

    schema = schema_of(Holder)
    for name in ("arrays.Cell", "arrays.Grid"):
        mine, theirs = schema.structs[name], loaded.structs[name]
        assert (mine.bytesize, mine.minalign) == (theirs.bytesize, theirs.minalign)
        assert [(f.offset, f.padding, f.type.fixed_length) for f in mine.fields] == [
            (f.offset, f.padding, f.type.fixed_length) for f in theirs.fields
        ]
    # The printed schema compiles with flatc to the same layout.
    reloaded = fs.load_schema(write_fbs(tmp_path, "printed", schema.to_fbs()))
    assert reloaded.structs["arrays.Grid"].bytesize == loaded.structs["arrays.Grid"].bytesize
    value = Holder(Grid(0.5, [Cell([1, 2], Kind.C, [1, 2, 3]), Cell([3, 4], Kind.A, [4, 5, 6])],
                        [Kind.B, Kind.A], [5, 6], [False, True, False]), n=4)
    codec = fs.codec(Holder)
    payload = codec.encode(value)
    assert codec.decode(payload) == value
    assert json.loads(reloaded.codec().to_json(payload))["grid"]["cells"][0]["b"] == "C"


def test_decorator_refuses_arrays_outside_structs() -> None:
    @fs.table(name="arrays.Bad")
    class Bad:
        xs: Annotated[List[fs.i32], fs.FixedLength(2)] = fs.field(default_factory=list)

    with pytest.raises(SchemaError, match="fixed-length arrays are struct fields"):
        fs.codec(Bad)

    @fs.struct(name="arrays.Empty")
    class Empty:
        xs: Annotated[List[fs.i32], fs.FixedLength(0)]

    @fs.table(name="arrays.UsesEmpty")
    class UsesEmpty:
        e: Optional[Empty] = None

    with pytest.raises(SchemaError, match="1 to 65535 items"):
        fs.codec(UsesEmpty)
