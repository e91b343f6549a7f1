"""JSON both ways: ``codec.to_json`` prints what ``flatc --json
--strict-json`` prints for the same buffer (compared as text, and parsed),
``codec.from_json`` reads it back into a buffer that flatc prints the same
again and that decodes like ``flatc -b``'s buffer of the same text. Over
the example schemas, the test schemas, a schema with every feature, aliased
unions, nested flatbuffers and flexbuffers."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, List, Sequence

import pytest
from helpers import flatc_path
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from test_schema_support import FEATURES_FBS, SCHEMAS, build, flatc_binary, values, write_fbs
from test_schema_unions import ALIASED_FBS, DOCUMENTS

import flatstream as fs

TESTS_SCHEMAS = Path(__file__).resolve().parent / "schemas"

# The parts of the language the generated values above do not reach.
EXTRAS_FBS = """
namespace extra;

enum Level : byte { Low = -1, Mid, High }
enum Bits : ulong (bit_flags) { A, B, C = 63 }

struct Cell { row: short; level: Level; }

table Leaf { text: string; bits: Bits = A; ratio: float = 0.5; }

table Root {
  nested: [ubyte] (nested_flatbuffer: "Leaf");
  flex: [ubyte] (flexbuffer);
  cells: [Cell];
  levels: [Level];
  leaves: [Leaf];
  level: Level = Mid;
  maybe: double = null;
  tiny: float;
  huge: double;
  text: string;
}

root_type Root;
"""

EXTRA_DOCUMENTS: List[Any] = [
    {"nested": {"text": "inside", "bits": "A C", "ratio": 2.0}, "flex": {"k": [1, "two", 3.5, None, True]},
     "cells": [{"row": -2, "level": "High"}, {"row": 7, "level": 5}], "levels": ["Low", 3, "Mid"],
     "leaves": [{"text": "\u00e9\u4e2d\U0001f600\"\\\n\t\u0001\u007f"}, {}], "level": "Low", "maybe": 0.0,
     "tiny": 1.17549435e-38, "huge": 1e300, "text": ""},
    {"maybe": -0.0, "tiny": 3.4028234663852886e38, "huge": -1.0000000000000002, "levels": []},
    {"flex": [1, 2, 3], "level": 1, "tiny": float("nan"), "huge": float("-inf")},
    {"leaves": [{"bits": 0}, {"bits": "B"}, {"bits": 9223372036854775809}]},
    {},
]


def flatc_texts(fbs: Path, payloads: Sequence[bytes], work: Path, *extra: str) -> List[str]:
    """flatc's own text (``--json --strict-json --raw-binary``) of each payload."""
    work.mkdir(parents=True, exist_ok=True)
    names = []
    for n, payload in enumerate(payloads):
        path = work / f"buf{n}.bin"
        path.write_bytes(bytes(payload))
        names.append(str(path))
    subprocess.run(
        [flatc_path(), "--json", "--strict-json", "--raw-binary", *extra, "-o", str(work), str(fbs), "--", *names],
        check=True, capture_output=True,
    )
    return [(work / f"buf{n}.json").read_text() for n in range(len(payloads))]


def parsed(text: str) -> Any:
    """JSON text with flatc's bare nan/inf made Python's spelling, parsed."""
    text = re.sub(
        r'("(?:[^"\\]|\\.)*")|-?\bnan\b|\b(inf)\b',
        lambda m: m.group(1) or ("Infinity" if m.group(2) else "NaN"), text,
    )
    return json.loads(text)


def same_json(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    return bool(a == b) and type(a) is type(b)


def flatc_builds(fbs: Path, texts: Sequence[str], work: Path) -> List[bytes]:
    """``flatc -b`` of each JSON text (the C++ parser and builder)."""
    work.mkdir(parents=True, exist_ok=True)
    names = []
    for n, text in enumerate(texts):
        path = work / f"doc{n}.json"
        path.write_text(text)
        names.append(str(path))
    subprocess.run([flatc_path(), "-b", "-o", str(work), str(fbs), *names], check=True, capture_output=True)
    return [(work / f"doc{n}.bin").read_bytes() for n in range(len(texts))]


def check_both_ways(fbs: Path, codec: Any, payloads: Sequence[bytes], work: Path) -> None:
    """to_json is flatc's text; from_json of that text is a buffer flatc
    prints as it prints its own buffer of the text (flatc -b), holding the
    same values; exact floats read back to the very values."""
    theirs = flatc_texts(fbs, payloads, work / "theirs")
    mine = [codec.to_json(p) for p in payloads]
    for a, b in zip(mine, theirs):
        assert same_json(parsed(a), parsed(b))
        assert a == b  # the very text, layout included
    rebuilt = [codec.from_json(text) for text in theirs]
    by_flatc = flatc_builds(fbs, theirs, work / "cpp")
    assert flatc_texts(fbs, rebuilt, work / "again") == flatc_texts(fbs, by_flatc, work / "cpp-again")
    for ours, cpp in zip(rebuilt, by_flatc):
        assert codec.to_json(ours, exact_floats=True) == codec.to_json(cpp, exact_floats=True)
    for payload in payloads:
        exact = codec.to_json(payload, exact_floats=True)
        # Every value back, but a NaN's sign (flatc -b drops it too).
        again = codec.to_json(codec.from_json(exact), exact_floats=True)
        assert again == exact.replace("-nan", "nan")


def check_defaults(fbs: Path, codec: Any, payloads: Sequence[bytes], work: Path) -> None:
    theirs = flatc_texts(fbs, payloads, work / "defaults", "--defaults-json")
    assert [codec.to_json(p, defaults=True) for p in payloads] == theirs


SLOW = settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module", params=[
    *(SCHEMAS / f"{n}.fbs" for n in ("telemetry", "lobster_message", "order_book", "wide_frame")),
    TESTS_SCHEMAS / "sample.fbs", TESTS_SCHEMAS / "telemetry.fbs", "features",
], ids=lambda p: p if isinstance(p, str) else f"{p.parent.name}/{p.stem}")
def loaded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    fbs = request.param
    if fbs == "features":
        fbs = write_fbs(tmp_path_factory.mktemp("features"), "features", FEATURES_FBS)
    schema = fs.load_schema(fbs)
    return fbs, schema, schema.codec(schema.table().name)


@SLOW
@given(data=st.data())
def test_generated_values_both_ways(loaded: Any, data: st.DataObject, tmp_path_factory: pytest.TempPathFactory) -> None:
    fbs, schema, codec = loaded
    forms = data.draw(st.lists(values(schema, codec.name), min_size=6, max_size=6))
    payloads = [codec.encode(build(schema, codec.name, form)) for form in forms]
    work = tmp_path_factory.mktemp("json")
    check_both_ways(fbs, codec, payloads, work)
    check_defaults(fbs, codec, payloads, work)


def test_unions_nested_buffers_flexbuffers_and_odd_floats(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "extras", EXTRAS_FBS)
    codec = fs.load_schema(fbs).codec()
    payloads = [codec.from_json(json.dumps(d).replace("NaN", "nan").replace("Infinity", "inf")) for d in EXTRA_DOCUMENTS]
    check_both_ways(fbs, codec, payloads, tmp_path)
    check_defaults(fbs, codec, payloads, tmp_path)
    # The nested buffer and the flexbuffer came through as values, not bytes.
    first = parsed(codec.to_json(payloads[0]))
    assert first["nested"] == {"text": "inside", "bits": "A C", "ratio": 2.0}
    assert first["flex"] == {"k": [1, "two", 3.5, None, True]}


def test_aliased_unions_by_member_name(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "aliased", ALIASED_FBS)
    codec = fs.load_schema(fbs).codec()
    payloads = flatc_binary(fbs, DOCUMENTS, tmp_path / "in")
    check_both_ways(fbs, codec, payloads, tmp_path)
    assert [parsed(codec.to_json(p)).get("first_type") for p in payloads] == ["Lead", "Sidekick", "Prop", None]


def test_exact_floats_read_back_exactly(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "extras", EXTRAS_FBS)
    codec = fs.load_schema(fbs).codec()
    payload = codec.from_json('{"tiny": 0.1, "huge": 0.1234567890123456789, "maybe": 1e-300}')
    lossy = parsed(codec.to_json(payload))
    assert lossy["maybe"] == 0.0  # flatc's 12 decimals
    exact = codec.to_json(payload, exact_floats=True)
    assert codec.from_json(exact) == payload
    assert parsed(exact)["maybe"] == 1e-300


def test_bad_json_and_damaged_buffers(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "extras", EXTRAS_FBS)
    codec = fs.load_schema(fbs).codec()
    for text, message in [
        ("{", "not JSON"),
        ('{"nope": 1}', "no field 'nope'"),
        ('{"level": "Top"}', "'Top' is not a value of extra.Level"),
        ('{"level": "Low Mid"}', "not a bit_flags enum"),
        ('{"tiny": "x"}', "not a number"),
        ('{"cells": {}}', "a vector is a JSON array"),
        ('{"leaves": [1]}', "a extra.Leaf is a JSON object"),
        ('[]', "a extra.Root is a JSON object"),
    ]:
        with pytest.raises(fs.EncodeError, match=re.escape(message)):
            codec.from_json(text)
    good = codec.from_json('{"text": "abc", "leaves": [{"text": "x"}]}')
    with pytest.raises(fs.VerificationError):
        codec.to_json(good[:-4])
    for cut in range(len(good)):
        try:
            codec.to_json(good[:cut], verify=False)
        except fs.DecodeError:
            pass


def test_nested_buffers_from_json_as_flatc_builds_them(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "doll", """
        table Doll { inside: [ubyte] (nested_flatbuffer: "Doll"); n: int; }
        root_type Doll;
        file_identifier "DOLL";
    """)
    codec = fs.load_schema(fbs).codec()
    text = '{"n": 1, "inside": {"n": 2, "inside": {"n": 3}}}'
    (theirs,) = flatc_builds(fbs, [text], tmp_path / "cpp")
    ours = codec.from_json(text)
    assert ours[4:8] == theirs[4:8] == b"DOLL"
    # The nested buffers carry no identifier in either (flatc's choice).
    # (The C++ builder lays the bytes out in another order.)
    inner, cpp_inner = bytes(codec.decode(ours).inside), bytes(codec.decode(theirs).inside)
    assert len(inner) == len(cpp_inner) and b"DOLL" not in inner + cpp_inner
    assert codec.to_json(ours) == codec.to_json(theirs) == flatc_texts(fbs, [theirs], tmp_path / "txt")[0]
