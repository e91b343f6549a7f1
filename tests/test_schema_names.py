"""Names resolved as flatc resolves them: namespace-relative first (the
field's own namespace, then its parents, then the global one), so two
namespaces may both define a ``Monster``; a name that resolves nowhere is a
:class:`SchemaError` when the schema is loaded, not when a buffer is verified.

The buffers here are built by flatc itself (``flatc -b`` of JSON documents)
and read back with ``flatc --json``."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
from helpers import flatc_path
from test_schema_support import flatc_binary, flatc_json, write_fbs

import flatstream as fs
from flatstream.schema import SchemaError

# Two namespaces each define a Monster; the two are laid out so that one read
# as the other is refused (alpha's leading `long` is not an offset).
CLASHING_FBS = """
namespace conf.alpha;

table Monster { hp: long = 100; name: string; }

namespace conf.beta;

table Monster { label: string; mana: int; }

table Holder {
  mine: Monster;                                          // conf.beta.Monster
  other: conf.alpha.Monster;
  blob: [ubyte] (nested_flatbuffer: "Monster");           // conf.beta.Monster
  alpha_blob: [ubyte] (nested_flatbuffer: "alpha.Monster");  // via the parent namespace conf
}

namespace conf;

table Top { holder: [ubyte] (nested_flatbuffer: "beta.Holder"); }

root_type conf.beta.Holder;
"""

HOLDER_JSON: Dict[str, Any] = {
    "mine": {"label": "mine", "mana": 3},
    "other": {"hp": 7, "name": "alpha"},
    "blob": {"label": "nested beta", "mana": 11},
    "alpha_blob": {"hp": 0x7FFFFFFF7FFFFFFF, "name": "nested alpha"},
}


@pytest.fixture(scope="module")
def clashing(tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory = tmp_path_factory.mktemp("names")
    return write_fbs(directory, "clashing", CLASHING_FBS), directory


def test_lookup_is_namespace_relative(clashing: Any) -> None:
    fbs, _ = clashing
    schema = fs.load_schema(fbs)
    assert schema.lookup("Monster", "conf.beta") == "conf.beta.Monster"
    assert schema.lookup("Monster", "conf.alpha") == "conf.alpha.Monster"
    assert schema.lookup("alpha.Monster", "conf.beta") == "conf.alpha.Monster"
    assert schema.lookup("beta.Holder", "conf") == "conf.beta.Holder"
    assert schema.lookup("Holder", "conf.alpha") == "conf.beta.Holder"  # the only Holder
    with pytest.raises(SchemaError, match="ambiguous"):
        schema.lookup("Monster", "conf")
    with pytest.raises(SchemaError, match="no definition"):
        schema.lookup("Nothing", "conf.beta")
    holder = schema.tables["conf.beta.Holder"]
    assert schema.nested_root(holder, holder.field_named("blob")) == "conf.beta.Monster"
    assert schema.nested_root(holder, holder.field_named("alpha_blob")) == "conf.alpha.Monster"
    assert schema.nested_root(holder, holder.field_named("mine")) is None
    top = schema.tables["conf.Top"]
    assert schema.nested_root(top, top.field_named("holder")) == "conf.beta.Holder"


def test_flatc_buffers_with_clashing_names_verify_and_decode(clashing: Any) -> None:
    fbs, directory = clashing
    schema = fs.load_schema(fbs)
    (payload,) = flatc_binary(fbs, [HOLDER_JSON], directory / "holder")
    schema.verifier().validate(payload)
    codec = schema.codec()
    holder = codec.decode(payload)
    (printed,) = flatc_json(fbs, [payload], directory / "holder-json")
    assert (holder.mine.label, holder.mine.mana) == (printed["mine"]["label"], printed["mine"]["mana"])
    assert (holder.other.hp, holder.other.name) == (printed["other"]["hp"], printed["other"]["name"])
    blob = schema.codec("conf.beta.Monster").decode(bytes(np.asarray(holder.blob, dtype=np.uint8)))
    assert (blob.label, blob.mana) == ("nested beta", 11) == (printed["blob"]["label"], printed["blob"]["mana"])
    alpha = schema.codec("conf.alpha.Monster").decode(bytes(np.asarray(holder.alpha_blob, dtype=np.uint8)))
    assert (alpha.hp, alpha.name) == (0x7FFFFFFF7FFFFFFF, "nested alpha")
    # A Holder nested in a Top, all from flatc.
    document = directory / "top.json"
    document.write_text(json.dumps({"holder": HOLDER_JSON}))
    subprocess.run(
        [flatc_path(), "-b", "--root-type", "conf.Top", "-o", str(directory), str(fbs), str(document)],
        check=True, capture_output=True,
    )
    top = (directory / "top.bin").read_bytes()
    schema.verifier("conf.Top").validate(top)
    inner = bytes(np.asarray(schema.codec("conf.Top").decode(top).holder, dtype=np.uint8))
    assert codec.decode(inner).blob.tolist() == holder.blob.tolist()


def test_the_nested_root_is_the_namespace_relative_one(clashing: Any) -> None:
    """Swap the two nested blobs: each is now the other Monster, which the
    verifier refuses, so it did check them against the right tables."""
    fbs, directory = clashing
    schema = fs.load_schema(fbs)
    swapped = dict(HOLDER_JSON, blob=HOLDER_JSON["alpha_blob"], alpha_blob=HOLDER_JSON["blob"])
    holder = schema.codec()
    alpha = schema.codec("conf.alpha.Monster")
    alpha_type = schema.python_type("conf.alpha.Monster")
    (good,) = flatc_binary(fbs, [HOLDER_JSON], directory / "good")
    schema.verifier().validate(good)
    # flatc -b would refuse the swapped document (fields unknown to the
    # table): build it with our encoder from flatc's own nested bytes instead.
    wrong = holder.encode(holder.type(blob=alpha.encode(alpha_type(hp=0x7FFFFFFF7FFFFFFF, name="x"))))
    with pytest.raises(fs.VerificationError, match="nested flatbuffer conf.beta.Holder.blob"):
        schema.verifier().validate(wrong)
    assert swapped["blob"]["hp"] == 0x7FFFFFFF7FFFFFFF


def _patched_bfbs(directory: Path, text: str, old: bytes, new: bytes) -> bytes:
    """The binary schema of ``text`` with the length-prefixed string ``old``
    replaced by ``new`` (same length): a .bfbs flatc would not have written."""
    assert len(old) == len(new)
    data = fs.schema.compile_fbs(write_fbs(directory, "patched", text))
    needle = struct.pack("<I", len(old)) + old + b"\0"
    assert data.count(needle) == 1
    return data.replace(needle, struct.pack("<I", len(new)) + new + b"\0")


def test_schema_level_errors_are_raised_at_load_time(tmp_path: Path) -> None:
    text = """
        namespace n;
        table Target { a: int; }
        struct Point { x: int; }
        table Outer { blob: [ubyte] (nested_flatbuffer: "Target"); }
        root_type Outer;
    """
    fs.load_schema(fs.schema.compile_fbs(write_fbs(tmp_path, "fine", text)))
    with pytest.raises(SchemaError, match=r"n\.Outer\.blob: nested_flatbuffer 'Tarxet'.*no definition"):
        fs.load_schema(_patched_bfbs(tmp_path, text, b"Target", b"Tarxet"))
    # flatc itself takes a struct as the nested root; no buffer can have one.
    struct_root = text.replace('nested_flatbuffer: "Target"', 'nested_flatbuffer: "Point"')
    with pytest.raises(SchemaError, match="names n.Point, which is not a table"):
        fs.load_schema(write_fbs(tmp_path, "struct_root", struct_root))


def test_a_model_built_by_hand_is_checked_too() -> None:
    schema = fs.Schema()
    blob = fs.schema.FieldDef(
        "blob",
        fs.schema.FieldType(fs.schema.BaseType.VECTOR, fs.schema.BaseType.UBYTE),
        attributes={"nested_flatbuffer": "Missing"},
    )
    schema.tables["x.T"] = fs.schema.TableDef("x.T", [blob])
    with pytest.raises(SchemaError, match="x.T.blob: nested_flatbuffer 'Missing'"):
        schema.check_references()
    with pytest.raises(SchemaError, match="x.T.blob"):
        schema.verifier("x.T")
