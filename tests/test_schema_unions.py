"""Unions whose members share a table (aliased members): a decoded value
encodes back to its own member, not the first one holding its table, and
the encoder takes the member explicitly (``<field>_type`` or
:class:`flatstream.UnionValue`). Buffers come from ``flatc -b`` and are read
back with ``flatc --json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
from test_schema_support import flatc_binary, flatc_json, write_fbs

import flatstream as fs

ALIASED_FBS = """
namespace alias;

table Hero { name: string; level: int = 1; }
table Prop { id: int; }

union Actor { Villain: Hero, Sidekick: Hero, Lead: Hero, Prop }

table Scene {
  first: Actor;
  second: Actor;
  title: string;
}

root_type Scene;
"""

DOCUMENTS: List[Dict[str, Any]] = [
    {"first_type": "Lead", "first": {"name": "ada", "level": 9},
     "second_type": "Villain", "second": {"name": "moriarty"}},
    {"first_type": "Sidekick", "first": {"name": "watson", "level": 3}, "title": "t"},
    {"first_type": "Prop", "first": {"id": 4}, "second_type": "Sidekick", "second": {"name": "x"}},
    {"title": "empty"},
]


@pytest.fixture(scope="module")
def aliased(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("aliased")
    fbs = write_fbs(directory, "aliased", ALIASED_FBS)
    return fbs, directory, fs.load_schema(fbs)


def _members(document: Dict[str, Any]) -> Dict[str, Any]:
    return {k: document.get(k) for k in ("first_type", "second_type")}


def test_decoded_members_encode_back_to_themselves(aliased: Any) -> None:
    fbs, directory, schema = aliased
    codec = schema.codec()
    numbers = {m.name: m.value for m in schema.unions["alias.Actor"].members}
    payloads = flatc_binary(fbs, DOCUMENTS, directory / "in")
    decoded = [codec.decode(p) for p in payloads]
    for document, scene in zip(DOCUMENTS, decoded):
        for field in ("first", "second"):
            wanted = document.get(field + "_type")
            assert getattr(scene, field + "_type") == (numbers[wanted] if wanted else 0)
    # Re-encoded by us, printed by flatc: the same members, the same values.
    printed = flatc_json(fbs, [codec.encode(scene) for scene in decoded], directory / "out")
    for document, json_out in zip(DOCUMENTS, printed):
        assert _members(json_out) == _members(document)
        for field in ("first", "second"):
            if field in document:
                assert json_out[field]["name" if "name" in document[field] else "id"] == (
                    document[field].get("name", document[field].get("id"))
                )
    # And flatc's own buffers print the same as ours.
    assert printed == flatc_json(fbs, payloads, directory / "theirs")


def test_the_member_can_be_named_explicitly(aliased: Any) -> None:
    fbs, directory, schema = aliased
    codec = schema.codec()
    hero = schema.python_type("alias.Hero")
    prop = schema.python_type("alias.Prop")
    scenes = [
        codec.type(first=fs.UnionValue("Sidekick", hero(name="a")), second=fs.UnionValue(3, hero(name="b"))),
        codec.type(first=hero(name="c"), first_type=2),
        codec.type(first=hero(name="d"), first_type="Villain"),
        codec.type(first=prop(id=5)),  # one member holds Prop: no need to say
        codec.type(first=fs.UnionValue("Prop", prop(id=6)), first_type=1),  # the wrapper wins
    ]
    printed = flatc_json(fbs, [codec.encode(scene) for scene in scenes], directory / "explicit")
    assert [_members(p) for p in printed] == [
        {"first_type": "Sidekick", "second_type": "Lead"},
        {"first_type": "Sidekick", "second_type": None},
        {"first_type": "Villain", "second_type": None},
        {"first_type": "Prop", "second_type": None},
        {"first_type": "Prop", "second_type": None},
    ]
    assert printed[0]["first"]["name"] == "a" and printed[4]["first"]["id"] == 6
    # Decoding gives the member back as <field>_type.
    again = codec.decode(codec.encode(scenes[0]))
    assert (again.first_type, again.second_type) == (2, 3) and again.first.name == "a"


def test_an_aliased_value_without_its_member_is_refused(aliased: Any) -> None:
    _fbs, _directory, schema = aliased
    codec = schema.codec()
    hero = schema.python_type("alias.Hero")
    with pytest.raises(fs.EncodeError, match="any of the members Villain, Sidekick, Lead: set first_type"):
        codec.encode(codec.type(first=hero(name="who")))
    with pytest.raises(fs.EncodeError, match="any of the members"):
        codec.encode(codec.type(first=hero(name="who"), first_type=4))  # Prop's number
    with pytest.raises(fs.EncodeError, match="'Nobody' is not a member"):
        codec.encode(codec.type(first=fs.UnionValue("Nobody", hero())))


def test_union_value_works_for_decorated_classes(tmp_path: Path) -> None:
    @fs.table
    class Cat:
        lives: fs.u8 = 9

    @fs.table
    class Dog:
        good: bool = True

    @fs.table
    class Home:
        pet: "Cat | Dog | None" = None

    codec = fs.codec(Home)
    plain = codec.encode(Home(pet=Dog(good=False)))
    assert codec.encode(Home(pet=fs.UnionValue("Dog", Dog(good=False)))) == plain
    assert codec.decode(plain).pet == Dog(good=False)
