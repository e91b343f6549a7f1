"""Unions whose members are structs (stored out of line) and strings, beside
tables: ``flatc -b`` buffers decode to what ``flatc --json`` prints, our
buffers print the same through flatc, and the native and pure verifiers
give the same verdict on every cut and byte flip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from test_schema_support import flatc_binary, flatc_json, write_fbs

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import EncodeError, VerificationError

UNION_FBS = """
namespace uv;

struct Pt { x: int; y: short; }
struct Wide { a: ubyte; d: double; }
table Hero { name: string; level: int = 1; }

union Thing { Hero, Pt, Wide, Label: string, Note: string }

table Box {
  thing: Thing;
  n: int;
  other: Thing;
}

root_type Box;
"""

DOCUMENTS: List[Dict[str, Any]] = [
    {"thing_type": "Pt", "thing": {"x": -7, "y": 3}, "n": 1},
    {"thing_type": "Label", "thing": "h\u00e9llo", "other_type": "Wide", "other": {"a": 9, "d": 2.5}},
    {"thing_type": "Hero", "thing": {"name": "ada", "level": 4}, "other_type": "Note", "other": ""},
    {"thing_type": "Wide", "thing": {"a": 255, "d": -0.125}, "other_type": "Pt", "other": {"x": 1, "y": -1}},
    {"n": 5},
]


@pytest.fixture(scope="module")
def unions(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("union_values")
    fbs = write_fbs(directory, "union_values", UNION_FBS)
    return fbs, directory, fs.load_schema(fbs)


def test_members_are_loaded_with_their_kinds(unions: Any) -> None:
    _fbs, _directory, schema = unions
    kinds = {m.name: m.kind for m in schema.unions["uv.Thing"].members if m.value}
    assert kinds == {"Hero": "table", "Pt": "struct", "Wide": "struct", "Label": "string", "Note": "string"}


def test_flatc_buffers_round_trip_through_flatc(unions: Any) -> None:
    fbs, directory, schema = unions
    codec = schema.codec()
    theirs = flatc_binary(fbs, DOCUMENTS, directory / "theirs")
    printed = flatc_json(fbs, theirs, directory / "theirs")
    decoded = [codec.decode(p) for p in theirs]
    for payload, obj, expected in zip(theirs, decoded, printed):
        assert json.loads(codec.to_json(payload)) == expected
        assert codec.decode(codec.from_json(json.dumps(expected))) == obj
    assert decoded[0].thing == schema.python_type("uv.Pt")(x=-7, y=3)
    assert decoded[1].thing == "h\u00e9llo" and decoded[1].thing_type == 4
    ours = [codec.encode(obj) for obj in decoded]
    assert flatc_json(fbs, ours, directory / "ours") == printed
    assert [codec.decode(p) for p in ours] == decoded


def test_members_are_chosen_by_value_type_or_explicitly(unions: Any, tmp_path: Path) -> None:
    fbs, _directory, schema = unions
    codec = schema.codec()
    box, pt, wide = (schema.python_type(n) for n in ("uv.Box", "uv.Pt", "uv.Wide"))
    # A struct by its class; a str by its type field or explicitly (two
    # members hold strings: a str alone says nothing, as aliased tables).
    payloads = [
        codec.encode(box(thing=pt(x=2, y=3))),
        codec.encode(box(thing_type=4, thing="plain", other=wide(a=1, d=0.5))),
        codec.encode(box(thing=fs.UnionValue("Note", "named"))),
        codec.encode(box(thing_type=5, thing="by type field")),
    ]
    printed = flatc_json(fbs, payloads, tmp_path)
    assert (printed[0]["thing_type"], printed[0]["thing"]) == ("Pt", {"x": 2, "y": 3})
    assert (printed[1]["thing_type"], printed[1]["thing"]) == ("Label", "plain")
    assert (printed[1]["other_type"], printed[1]["other"]) == ("Wide", {"a": 1, "d": 0.5})
    assert (printed[2]["thing_type"], printed[2]["thing"]) == ("Note", "named")
    assert (printed[3]["thing_type"], printed[3]["thing"]) == ("Note", "by type field")
    with pytest.raises(EncodeError, match="any of the members Label, Note"):
        codec.encode(box(thing="which one"))
    with pytest.raises(EncodeError, match="cannot tell which union member"):
        codec.encode(box(thing=3.5))


def test_printed_schema_compiles_to_the_same_members(unions: Any, tmp_path: Path) -> None:
    _fbs, _directory, schema = unions
    again = fs.load_schema(write_fbs(tmp_path, "printed", schema.to_fbs()))
    assert again.unions["uv.Thing"].members == schema.unions["uv.Thing"].members


def _verdict(verifier: Any, payload: bytes) -> str:
    try:
        verifier.validate(payload)
    except VerificationError as refusal:
        return refusal.reason
    return ""


def test_native_and_pure_verifiers_agree_on_damage(unions: Any) -> None:
    fbs, directory, schema = unions
    codec = schema.codec()
    payloads = flatc_binary(fbs, DOCUMENTS, directory / "damage")
    payloads += [codec.encode(codec.decode(p)) for p in payloads]
    damaged = []
    for payload in payloads:
        damaged += [payload[:cut] for cut in range(len(payload))]
        for at in range(len(payload)):
            for flip in (0x01, 0x80, 0xFF):
                changed = bytearray(payload)
                changed[at] ^= flip
                damaged.append(bytes(changed))
    modes = ("native", "python") if _kernels.native is not None else ("python",)
    verdicts = {}
    for mode in modes:
        with _kernels.selected(mode):
            verifier = schema.verifier()
            if mode == "native":  # the native twin handles these unions itself
                assert verifier.native is not None
            assert all(_verdict(verifier, p) == "" for p in payloads)
            verdicts[mode] = [_verdict(verifier, p) for p in damaged]  # the same messages too
            # What verifies decodes (a string member that is not UTF-8 aside).
            strict = schema.verifier(check_utf8=True)
            for payload, verdict in zip(damaged, verdicts[mode]):
                if verdict == "" and _verdict(strict, payload) == "":
                    codec.decode(payload)
    if _kernels.native is not None:
        assert verdicts["native"] == verdicts["python"]
    refused = sum(v != "" for v in verdicts[modes[-1]])
    assert refused > len(damaged) // 4


def test_struct_and_string_members_out_of_bounds_are_refused(unions: Any) -> None:
    fbs, directory, schema = unions
    payload = flatc_binary(fbs, [{"thing_type": "Wide", "thing": {"a": 1, "d": 2.0}}], directory / "oob")[0]
    label = flatc_binary(fbs, [{"thing_type": "Label", "thing": "abc"}], directory / "oob2")[0]
    for mode in ("native", "python") if _kernels.native is not None else ("python",):
        with _kernels.selected(mode):
            verifier = schema.verifier()
            # The struct is the buffer's last bytes: any cut inside it is refused.
            for cut in range(1, 16):
                with pytest.raises(VerificationError):
                    verifier.validate(payload[:-cut])
            # The string loses its NUL.
            at = label.rindex(b"abc") + 3
            broken = label[:at] + b"x" + label[at + 1:]
            with pytest.raises(VerificationError, match="NUL"):
                verifier.validate(broken)


def test_decorated_unions_of_tables_structs_and_str(tmp_path: Path) -> None:
    from typing import Optional, Union

    @fs.struct(name="dec.Pt")
    class Pt:
        x: fs.i32
        y: fs.i16

    @fs.table(name="dec.Hero")
    class Hero:
        name: Optional[str] = None

    @fs.table(name="dec.Box")
    class Box:
        thing: Optional[Union[Hero, Pt, str]] = None
        n: fs.i32 = 0

    codec = fs.codec(Box)
    fbs = write_fbs(tmp_path, "dec", codec.schema.to_fbs())
    loaded = fs.load_schema(fbs)
    assert [(m.name, m.kind) for m in loaded.unions["dec.BoxThing"].members] == [
        ("NONE", "table"), ("Hero", "table"), ("Pt", "struct"), ("String", "string"),
    ]
    values = [Box(Pt(3, -4), 1), Box("label", 2), Box(Hero("ada")), Box()]
    payloads = [codec.encode(v) for v in values]
    assert [codec.decode(p) for p in payloads] == values
    printed = flatc_json(fbs, payloads, tmp_path / "out")
    assert [(d.get("thing_type"), d.get("thing")) for d in printed] == [
        ("Pt", {"x": 3, "y": -4}), ("String", "label"), ("Hero", {"name": "ada"}), (None, None),
    ]
