"""Vectors of unions (``[Cast]``: a ``[ubyte]`` type vector and a vector of
offsets, FlatBuffers' ``union_vector.fbs`` shape) of tables, structs and
strings: ``flatc -b`` buffers decode and print as ``flatc --json`` prints
them, our buffers print the same through flatc, and the verifier refuses
type/value vectors that disagree, in both kernel modes (native and pure verifiers) with one verdict."""

from __future__ import annotations

import json
import struct
from typing import Any, Dict, List, Optional

import pytest
from test_schema_support import flatc_binary, flatc_json, write_fbs

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import DecodeError, EncodeError, VerificationError
from flatstream.schema import json_values
from flatstream.schema import verifier as verifier_module

MOVIE_FBS = """
namespace vu;

struct Pt { x: int; y: short; }
table Hero { name: string; level: int = 1; }

union Cast { Hero, Pt, Line: string }

table Movie {
  lead: Cast;
  cast: [Cast];
  n: int;
  sequel: Movie;
}

root_type Movie;
"""

DOCUMENTS: List[Dict[str, Any]] = [
    {"lead_type": "Hero", "lead": {"name": "a"}, "cast_type": ["Pt", "Line", "Hero"],
     "cast": [{"x": 1, "y": 2}, "hi", {"name": "b", "level": 3}], "n": 4},
    {"cast_type": [], "cast": [], "sequel": {"cast_type": ["Line", "Line"], "cast": ["x", ""]}},
    {"cast_type": ["Hero"] * 5, "cast": [{"name": str(i), "level": i} for i in range(5)]},
    {"n": 1},
]


@pytest.fixture(scope="module")
def movies(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("union_vectors")
    fbs = write_fbs(directory, "movie", MOVIE_FBS)
    payloads = flatc_binary(fbs, DOCUMENTS, directory / "theirs")
    return fbs, directory, fs.load_schema(fbs), payloads


def test_round_trip_through_flatc(movies: Any) -> None:
    fbs, directory, schema, theirs = movies
    codec = schema.codec()
    printed = flatc_json(fbs, theirs, directory / "theirs")
    decoded = [codec.decode(p) for p in theirs]
    assert decoded[0].cast == [schema.python_type("vu.Pt")(x=1, y=2), "hi", schema.python_type("vu.Hero")("b", 3)]
    assert list(decoded[0].cast_type) == [2, 3, 1]
    for payload, obj, expected in zip(theirs, decoded, printed):
        assert json.loads(codec.to_json(payload)) == expected
        assert codec.decode(codec.from_json(json.dumps(expected))) == obj
        view = codec.view(payload)
        assert view.cast == obj.cast
    ours = [codec.encode(obj) for obj in decoded]
    assert flatc_json(fbs, ours, directory / "ours") == printed
    # The CLI's JSON values (flatstream cat / convert) go both ways too.
    for obj, expected in zip(decoded, printed):
        values = json_values.to_json(schema, obj)
        assert values.get("cast_type") == expected.get("cast_type")  # (values print defaults too)
        assert codec.decode(codec.encode(json_values.from_json(schema, values))) == obj
    assert [codec.decode(p) for p in ours] == decoded


def test_elements_are_resolved_by_class_type_list_or_union_value(movies: Any, tmp_path: Any) -> None:
    fbs, _directory, schema, _theirs = movies
    codec = schema.codec()
    movie, hero, pt = (schema.python_type(n) for n in ("vu.Movie", "vu.Hero", "vu.Pt"))
    payload = codec.encode(movie(cast=[pt(x=5, y=6), "line", hero(name="h"), fs.UnionValue("Line", "named")]))
    printed = flatc_json(fbs, [payload], tmp_path)[0]
    assert printed["cast_type"] == ["Pt", "Line", "Hero", "Line"]
    assert printed["cast"] == [{"x": 5, "y": 6}, "line", {"name": "h"}, "named"]
    # None is a NONE element: type 0, offset 0 (what an unknown member decodes to).
    holes = codec.encode(movie(cast=[None, "x"]))
    schema.verifier().validate(holes)
    back = codec.decode(holes)
    assert back.cast == [None, "x"] and list(back.cast_type) == [0, 3]
    with pytest.raises(EncodeError, match=r"vu\.Movie\.cast\[1\]"):
        codec.encode(movie(cast=[pt(x=1, y=1), 2.5]))


def _verdicts(schema: Any, payloads: List[bytes]) -> List[Optional[str]]:
    """Per payload: None when accepted, else the refusal's message."""
    verifier = schema.verifier()
    out: List[Optional[str]] = []
    for payload in payloads:
        try:
            verifier.validate(payload)
            out.append(None)
        except VerificationError as refusal:
            out.append(str(refusal))
    return out


def _damaged(payloads: List[bytes]) -> List[bytes]:
    out = []
    for payload in payloads:
        out += [payload[:cut] for cut in range(len(payload))]
        for at in range(len(payload)):
            for flip in (0x01, 0x02, 0x80):
                changed = bytearray(payload)
                changed[at] ^= flip
                out.append(bytes(changed))
    return out


def test_verifier_verdicts_agree_and_accepted_buffers_decode(
    movies: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fbs, _directory, schema, theirs = movies
    codec = schema.codec()
    payloads = theirs + [codec.encode(codec.decode(p)) for p in theirs]
    damaged = _damaged(payloads)
    verdicts = {}
    for mode in ("native", "python") if _kernels.native is not None else ("python",):
        with _kernels.selected(mode):
            if mode == "native":  # the native twin checks vectors of unions itself
                assert schema.verifier().native is not None
            assert all(v is None for v in _verdicts(schema, payloads))
            verdicts[mode] = _verdicts(schema, damaged)
    first = next(iter(verdicts.values()))
    assert all(v == first for v in verdicts.values())
    strict = schema.verifier(check_utf8=True)
    for payload, verdict in zip(damaged, first):
        if verdict is None:
            try:
                strict.validate(payload)
            except VerificationError:
                continue  # a string that is not UTF-8
            codec.decode(payload)
    assert sum(v is not None for v in first) > len(first) // 4
    # The interpreted checks (past the compiled layouts' limit) give the same verdicts.
    monkeypatch.setattr(verifier_module, "_CACHE_LIMIT", 0)
    fresh = fs.load_schema(_fbs)
    assert _verdicts(fresh, damaged) == first


def _type_vector(payload: bytes, schema: Any) -> int:
    """The position of the root table's type vector of ``cast``."""
    root = struct.unpack_from("<I", payload)[0]
    vt = root - struct.unpack_from("<i", payload, root)[0]
    field = schema.tables["vu.Movie"].field_named("cast_type")
    slot = struct.unpack_from("<H", payload, vt + field.voffset)[0]
    return root + slot + struct.unpack_from("<I", payload, root + slot)[0]


def test_disagreeing_type_and_value_vectors_are_refused(movies: Any) -> None:
    _fbs, _directory, schema, theirs = movies
    codec = schema.codec()
    payload = theirs[0]
    at = _type_vector(payload, schema)
    shorter = bytearray(payload)
    struct.pack_into("<I", shorter, at, 2)  # 2 types for 3 values
    # A type saying Pt where the value is a table (still in the buffer: accepted, as C++).
    for mode in ("native", "python") if _kernels.native is not None else ("python",):
        with _kernels.selected(mode):
            with pytest.raises(VerificationError, match="differ in length"):
                schema.verifier().validate(bytes(shorter))
            with pytest.raises(DecodeError, match="differ in length"):
                codec.decode(bytes(shorter))
    # Values without their types.
    root = struct.unpack_from("<I", payload)[0]
    vt = root - struct.unpack_from("<i", payload, root)[0]
    no_types = bytearray(payload)
    struct.pack_into("<H", no_types, vt + schema.tables["vu.Movie"].field_named("cast_type").voffset, 0)
    with pytest.raises(VerificationError, match="not both present"):
        schema.verifier().validate(bytes(no_types))
