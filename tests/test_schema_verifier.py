"""The schema-driven verifier: accepts what the official builder makes,
refuses every truncation, meets corruption with its own error only."""

from __future__ import annotations

import pickle
import random
import struct
from pathlib import Path
from typing import Any, List, Optional

import flatbuffers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_schema_support import (
    FEATURES_FBS,
    SCHEMAS,
    build,
    generate_module,
    pack_objapi,
    values,
    write_fbs,
)

import flatstream as fs
from helpers import runtime_matches_flatc
from flatstream.schema import verifier as verifier_module


#: Byte identity with the official builder holds for flatc's own runtime release.
OFFICIAL_LAYOUT = runtime_matches_flatc()


class Features:
    def __init__(self, directory: Path) -> None:
        self.fbs = write_fbs(directory, "features", FEATURES_FBS)
        self.schema = fs.load_schema(self.fbs)
        self.table = self.schema.table().name
        self.codec = self.schema.codec()
        self.module = generate_module(self.fbs, directory / "gen")


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Features:
    return Features(tmp_path_factory.mktemp("verifier"))


def rich_form(depth: int = 2) -> Any:
    """A value touching every kind of field (built by hand: the fixed test
    buffers must not depend on hypothesis)."""
    form = {
        "flag": False, "i8v": -1, "u8v": 200, "i16v": -300, "u16v": 60000, "i32v": -70000,
        "u32v": 4_000_000_000, "i64v": -(2**40), "u64v": 2**63, "f32v": 0.25, "f64v": 2.5,
        "name": "name ü", "raw": [0, 1, 255], "ids": [1, -1], "doubles": [0.5, -1.5],
        "bools": [True, False], "colors": [0, 2, 3], "names": ["x", ""],
        "inners": [{"a": 1, "s": "one"}, {"a": 2, "s": None}],
        "vecs": [{"x": 1.0, "y": 2.0, "z": 3.0, "color": 2}],
        "pairs": [{"a": 1, "v": {"x": 0.5, "y": 0.0, "z": -1.0, "color": 3}, "d": 9.0, "tail": -7}],
        "pos": {"x": 1.0, "y": 1.0, "z": 1.0, "color": 0},
        "pair": {"a": 9, "v": {"x": 0.0, "y": 0.0, "z": 0.0, "color": 2}, "d": 1.0, "tail": 1},
        "child": {"a": 3, "s": "child"}, "thing": (2, {"b": 99, "words": ["w1", "w2"]}),
        "opt": 0, "opt_f": None, "color": 2, "perm": 3, "req": "required",
        "next": None,
    }
    if depth > 0:
        form["next"] = rich_form(depth - 1)
    return form


@pytest.fixture(scope="module")
def rich(features: Features) -> bytes:
    return pack_objapi(features.module, features.schema, features.table, rich_form(), "EVRY")


def verdict(validator: Any, payload: Any) -> Optional[str]:
    """None if accepted, the reason if refused; any other exception fails the test."""
    try:
        validator.validate(payload)
    except fs.VerificationError as error:
        assert isinstance(error, fs.ValidationFailed) and isinstance(error, ValueError)
        assert error.validator == validator.name
        return error.reason
    return None


# -- acceptance -------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_accepts_every_buffer_the_official_builder_makes(features: Features, data: st.DataObject) -> None:
    form = data.draw(values(features.schema, features.table))
    payload = pack_objapi(features.module, features.schema, features.table, form, "EVRY")
    validator = features.schema.verifier(check_utf8=True)
    assert verdict(validator, payload) is None
    assert verdict(validator, memoryview(bytearray(payload))) is None
    # and the codec's own output: the same bytes where the runtime is flatc's
    # release (24.3.25 lays vtables out differently; both verify)
    mine = features.codec.encode(build(features.schema, features.table, form))
    assert verdict(validator, mine) is None
    if OFFICIAL_LAYOUT:
        assert mine == payload


def test_accepts_the_examples(tmp_path: Path) -> None:
    for name in ("telemetry", "lobster_message", "order_book", "wide_frame"):
        schema = fs.load_schema(SCHEMAS / f"{name}.fbs")
        codec = schema.codec()
        module = generate_module(SCHEMAS / f"{name}.fbs", tmp_path / name)
        form = {}  # every field at its default
        payload = pack_objapi(module, schema, codec.name, form, None)
        assert verdict(schema.verifier(), payload) is None
        codec.verify(payload)


def test_accepts_the_rich_buffer_with_every_option(features: Features, rich: bytes) -> None:
    for options in ({}, {"check_utf8": True}, {"check_alignment": False}, {"max_depth": 4}):
        assert verdict(features.schema.verifier(**options), rich) is None
    # root -> next -> next -> child: four levels
    assert verdict(features.schema.verifier(max_depth=3), rich) is not None


# -- truncation and corruption ----------------------------------------------------------


def test_refuses_every_truncation(features: Features, rich: bytes) -> None:
    validator = features.schema.verifier()
    for cut in range(len(rich)):
        assert verdict(validator, rich[:cut]) is not None, f"accepted the first {cut} bytes"


def test_refuses_every_truncation_of_small_messages(tmp_path: Path) -> None:
    for name in ("telemetry", "lobster_message", "order_book"):
        schema = fs.load_schema(SCHEMAS / f"{name}.fbs")
        codec = schema.codec()
        module = generate_module(SCHEMAS / f"{name}.fbs", tmp_path / name)
        form = values(schema, codec.name, finite=True)
        for seed in range(3):
            payload = pack_objapi(module, schema, codec.name, _draw(form, seed), None)
            # Accepted first, so its layout is cached: the cached path must refuse too.
            assert verdict(schema.verifier(), payload) is None
            for cut in range(len(payload)):
                assert verdict(schema.verifier(), payload[:cut]) is not None


def _draw(strategy: Any, seed: int) -> Any:
    found: List[Any] = []

    @settings(max_examples=1, database=None, deadline=None, derandomize=True)
    @given(strategy)
    def grab(value: Any) -> None:
        found.append(value)

    for _ in range(seed + 1):
        grab()
    return found[-1]


@pytest.mark.parametrize("seed", range(4))
def test_random_corruption_meets_only_verification_error(features: Features, rich: bytes, seed: int) -> None:
    """Flip bytes anywhere; the verifier refuses with its own error or
    accepts, and a buffer it accepts (with the UTF-8 check) decodes."""
    rng = random.Random(seed)
    validator = features.schema.verifier(check_utf8=True)
    refused = 0
    for _ in range(400):
        damaged = bytearray(rich)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if verdict(validator, bytes(damaged)) is None:
            features.codec.decode(bytes(damaged))
        else:
            refused += 1
    assert refused > 100  # the damage is noticed, not waved through


def test_generic_checks_agree_with_compiled_ones(features: Features, rich: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the per-table limit of compiled vtables the verifier interprets;
    its verdicts, reasons included, must be the same."""
    rng = random.Random(7)
    samples = []
    for _ in range(300):
        damaged = bytearray(rich)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        samples.append(bytes(damaged))
    compiled = [verdict(features.schema.verifier(), s) for s in samples]
    monkeypatch.setattr(verifier_module, "_CACHE_LIMIT", 0)
    fresh = fs.load_schema(features.fbs)
    interpreted = [verdict(fresh.verifier(), s) for s in samples]
    assert compiled == interpreted
    assert None in compiled and any(compiled)


def test_verdicts_do_not_depend_on_what_was_verified_before() -> None:
    """The caches (layouts by vtable, roots by prefix) change the speed,
    never the answer: a truncated buffer met twice is refused twice alike."""
    codec = fs.codec(Reading)
    # A field at its default is left out: not the all-fields shape the
    # verifier compares whole, but a layout its root cache remembers.
    payload = codec.encode(Reading(sensor=7, level=0, value=2.5))
    for cut in range(len(payload) + 1):
        first = verdict(codec.verifier(), payload[:cut])
        assert verdict(codec.verifier(), payload[:cut]) == first
    assert verdict(codec.verifier(), payload[:-8]) == (
        f"the fields of the table {codec.name} (20 bytes) run past the end of the buffer"
    )
    assert verdict(codec.verifier(check_table_size=True), payload[:-8]) == (
        f"the table {codec.name} (20 bytes) runs past the end of the buffer"
    )


# -- each check, one fault at a time --------------------------------------------------------


@fs.table
class Leaf:
    text: Optional[str] = None
    numbers: Optional[List[fs.i64]] = None


@fs.table
class Node:
    name: str = fs.field(required=True)
    value: fs.f64 = 0.0
    leaf: Optional[Leaf] = None
    child: Optional["Node"] = None
    leaves: Optional[List[Leaf]] = None


@fs.table
class Reading:
    sensor: fs.u64
    level: fs.u64
    value: fs.f64


def node_chain(depth: int) -> Node:
    node = Node(name="0")
    for n in range(1, depth):
        node = Node(name=str(n), child=node)
    return node


def test_depth_and_table_limits() -> None:
    codec = fs.codec(Node)
    deep = codec.encode(node_chain(10))
    assert verdict(codec.verifier(max_depth=10), deep) is None
    assert "deeper than 9" in (verdict(codec.verifier(max_depth=9), deep) or "")
    wide = codec.encode(Node(name="n", leaves=[Leaf() for _ in range(20)]))
    assert verdict(codec.verifier(max_tables=21), wide) is None
    assert "more than 20 tables" in (verdict(codec.verifier(max_tables=20), wide) or "")


def test_shared_subtrees_count_every_visit() -> None:
    """Offsets may point many times at one table: the table limit bounds the
    work (the defence against exponential 'DAG' buffers)."""
    codec = fs.codec(Node)
    payload = bytearray(codec.encode(Node(name="n", leaves=[Leaf(text="t"), Leaf(text="u")])))
    # Point the second element of `leaves` at the first leaf.
    vector = _field_target(payload, 12)
    first = vector + 4 + struct.unpack_from("<I", payload, vector + 4)[0]
    struct.pack_into("<I", payload, vector + 8, first - (vector + 8))
    assert verdict(codec.verifier(), bytes(payload)) is None
    assert verdict(codec.verifier(max_tables=2), bytes(payload)) is not None


def _field_target(payload: Any, voffset: int) -> int:
    """The position an offset field of the root table points to."""
    root = struct.unpack_from("<I", payload, 0)[0]
    vtable = root - struct.unpack_from("<i", payload, root)[0]
    field = struct.unpack_from("<H", payload, vtable + voffset)[0]
    assert field, "field absent"
    return root + field + struct.unpack_from("<I", payload, root + field)[0]


def test_required_field_missing() -> None:
    builder = flatbuffers.Builder(0)
    builder.StartObject(5)
    builder.PrependFloat64Slot(1, 2.0, 0.0)
    builder.Finish(builder.EndObject())
    reason = verdict(fs.codec(Node).verifier(), bytes(builder.Output()))
    assert reason is not None and "required field Node.name is missing" in reason


def test_strings_must_be_terminated_and_optionally_utf8() -> None:
    codec = fs.codec(Node)
    payload = bytearray(codec.encode(Node(name="abc")))
    text = _field_target(payload, 4)
    assert payload[text + 7] == 0
    unterminated = bytearray(payload)
    unterminated[text + 7] = ord("!")
    assert "NUL" in (verdict(codec.verifier(), bytes(unterminated)) or "")
    bad_utf8 = bytearray(payload)
    bad_utf8[text + 4] = 0xFF
    assert verdict(codec.verifier(), bytes(bad_utf8)) is None
    reason = verdict(codec.verifier(check_utf8=True), bytes(bad_utf8))
    assert reason is not None and "UTF-8" in reason


def test_vector_length_past_the_end() -> None:
    codec = fs.codec(Node)
    payload = bytearray(codec.encode(Node(name="n", leaf=Leaf(numbers=[1, 2, 3]))))
    leaf = _field_target(payload, 8)
    vtable = leaf - struct.unpack_from("<i", payload, leaf)[0]
    field = struct.unpack_from("<H", payload, vtable + 6)[0]
    numbers = leaf + field + struct.unpack_from("<I", payload, leaf + field)[0]
    struct.pack_into("<I", payload, numbers, 2**30)
    assert "runs past the end" in (verdict(codec.verifier(), bytes(payload)) or "")


def test_misaligned_root_and_vtable_outside() -> None:
    codec = fs.codec(Node)
    payload = bytearray(codec.encode(Node(name="n")))
    moved = bytearray(payload)
    struct.pack_into("<I", moved, 0, struct.unpack_from("<I", payload, 0)[0] + 1)
    assert "aligned" in (verdict(codec.verifier(), bytes(moved)) or "")
    assert verdict(codec.verifier(check_alignment=False), bytes(moved)) is not None
    outside = bytearray(payload)
    root = struct.unpack_from("<I", payload, 0)[0]
    struct.pack_into("<i", outside, root, root + 100)
    assert "outside the buffer" in (verdict(codec.verifier(), bytes(outside)) or "")


def test_union_checks(features: Features, rich: bytes) -> None:
    validator = features.schema.verifier()
    fields = {f.name: f for f in features.schema.table().fields}
    root = struct.unpack_from("<I", rich, 0)[0]
    vtable = root - struct.unpack_from("<i", rich, root)[0]
    type_at = root + struct.unpack_from("<H", rich, vtable + fields["thing_type"].voffset)[0]
    value_at = root + struct.unpack_from("<H", rich, vtable + fields["thing"].voffset)[0]
    unknown = bytearray(rich)
    unknown[type_at] = 200  # a member this schema does not know: accepted, as C++ does
    assert verdict(validator, bytes(unknown)) is None
    wrong_member = bytearray(rich)
    wrong_member[type_at] = 1  # an Other read as an Inner: still two valid layouts?
    verdict(validator, bytes(wrong_member))  # either verdict, but only the verifier's error
    dangling = bytearray(rich)
    struct.pack_into("<I", dangling, value_at, len(rich))
    assert "past the end" in (verdict(validator, bytes(dangling)) or "")


def test_file_identifier_and_size(features: Features, rich: bytes) -> None:
    other = bytearray(rich)
    other[4:8] = b"NOPE"
    assert "file identifier" in (verdict(features.schema.verifier(), bytes(other)) or "")
    assert verdict(features.schema.verifier(file_identifier=None), bytes(other)) is None
    assert "over the limit" in (verdict(features.schema.verifier(max_size=64), rich) or "")
    assert verdict(features.schema.verifier(), b"") is not None
    # A length that is not a multiple of 4: C++ accepts it, check_length refuses it.
    assert verdict(features.schema.verifier(), rich + b"\0") is None
    assert "not a multiple of 4" in (verdict(features.schema.verifier(check_length=True), rich + b"\0") or "")


def test_nested_flatbuffer(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "nested", """
        table Inner { a: int; s: string; }
        table Outer { blob: [ubyte] (nested_flatbuffer: "Inner"); }
        root_type Outer;
    """)
    schema = fs.load_schema(fbs)
    inner = schema.codec("Inner").encode(schema.python_type("Inner")(a=1, s="x"))
    outer = schema.codec("Outer")
    good = outer.encode(outer.type(blob=inner))
    assert verdict(schema.verifier("Outer"), good) is None
    bad = outer.encode(outer.type(blob=inner[:-4]))
    reason = verdict(schema.verifier("Outer"), bad)
    assert reason is not None and "nested flatbuffer" in reason


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_meet_only_verification_error(data: bytes) -> None:
    for validator in (fs.codec(Node).verifier(check_utf8=True), fs.codec(Leaf).verifier()):
        verdict(validator, data)


def test_verify_function_and_errors(features: Features, rich: bytes) -> None:
    assert fs.verify_buffer(features.schema, None, rich) is None
    with pytest.raises(fs.VerificationError) as caught:
        fs.verify_buffer(features.schema, "Everything", rich[:-8], fs.VerifyOptions())
    error = caught.value
    assert error.validator == "SchemaVerifier(feat.Everything)" and error.position is not None
    assert str(error).startswith("validation failed in SchemaVerifier(feat.Everything)")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.position) == (error.reason, error.position)
    with pytest.raises(ValueError):
        fs.VerifyOptions(max_depth=0)


# -- on the stream ----------------------------------------------------------------------


def test_verifier_as_a_stream_validator() -> None:
    import io

    codec = fs.codec(Node)
    validator = codec.verifier()
    sink = io.BytesIO()
    writer = fs.StreamWriter(sink, fs.DefaultFramer().with_validator(validator))
    writer.write(Node(name="ok"))
    with pytest.raises(fs.VerificationError):
        writer.write_payload(codec.encode(Node(name="ok"))[:-4])
    assert writer.frames_written == 1
    # A reader refuses a damaged frame with the verifier's error, naming its offset.
    good = codec.encode(Node(name="ok"))
    bad = bytearray(good)
    struct.pack_into("<I", bad, 0, 2**20)
    stream = io.BytesIO()
    plain = fs.StreamWriter(stream)
    plain.write_payload(good)
    plain.write_payload(bytes(bad))
    reader = fs.StreamReader(stream.getvalue(), fs.DefaultDeframer().with_validator(validator))
    assert reader.read_message() is not None
    with pytest.raises(fs.VerificationError) as caught:
        reader.read_message()
    assert caught.value.offset == 4 + len(good)


def test_nested_flatbuffers_count_toward_the_depth_limit(tmp_path: Path) -> None:
    fbs = write_fbs(tmp_path, "matryoshka", """
        table Doll { inside: [ubyte] (nested_flatbuffer: "Doll"); }
        root_type Doll;
    """)
    schema = fs.load_schema(fbs)
    codec = schema.codec()
    payload = codec.encode(codec.type())
    for _ in range(300):  # deeper than Python's recursion would allow unchecked
        payload = codec.encode(codec.type(inside=payload))
    reason = verdict(schema.verifier(), payload)
    assert reason is not None and "deeper than 64" in reason
    shallow = codec.encode(codec.type(inside=codec.encode(codec.type(inside=codec.encode(codec.type())))))
    assert verdict(schema.verifier(max_depth=3), shallow) is None
    assert verdict(schema.verifier(max_depth=2), shallow) is not None


# -- the C++ verifier's verdicts, on hand-made buffers -------------------------------------


@fs.table
class Pt:
    a: fs.i32 = 0
    b: fs.i16 = 0


def _pt_buffer(table_size: int, b_offset: int) -> bytes:
    """Root offset, an 8-byte vtable declaring ``table_size``, then the table:
    its vtable offset, ``a`` at offset 4, ``b`` at ``b_offset`` (20 bytes
    from the start of the table area are written either way; a ``b`` that
    overlaps the vtable offset reads its upper half, 0)."""
    vtable = struct.pack("<HHHH", 8, table_size, 4, b_offset)
    table = bytearray(struct.pack("<ii", 8, 7) + bytes(4))
    if b_offset >= 8:
        struct.pack_into("<h", table, b_offset, 3)
    return struct.pack("<I", 12) + vtable + bytes(table)


def test_fields_outside_the_declared_table_size_are_accepted_as_cpp_does() -> None:
    codec = fs.codec(Pt)
    # The inline part is 10 bytes, the vtable says 4: C++ bounds fields by
    # the buffer, so the default does too; check_table_size is stricter.
    short = _pt_buffer(4, 8)
    assert verdict(codec.verifier(), short) is None
    assert codec.decode(short, verify=True) == Pt(a=7, b=3)
    reason = verdict(codec.verifier(check_table_size=True), short)
    assert reason == "the field Pt.a at offset 4 lies outside its table of 4 bytes"
    # b at offset 2 overlaps the table's vtable offset: C++ accepts that too.
    overlapping = _pt_buffer(12, 2)
    assert verdict(codec.verifier(), overlapping) is None
    assert codec.decode(overlapping, verify=True) == Pt(a=7, b=0)
    assert "lies outside its table" in (verdict(codec.verifier(check_table_size=True), overlapping) or "")
    # A field past the end of the buffer is refused either way.
    assert verdict(codec.verifier(), short[:21]) == (
        "the fields of the table Pt (10 bytes) run past the end of the buffer"
    )
    assert verdict(codec.verifier(check_table_size=True), _pt_buffer(12, 8)[:21]) == (
        "the table Pt (12 bytes) runs past the end of the buffer"
    )


def test_a_length_not_a_multiple_of_4_is_accepted_as_cpp_does() -> None:
    codec = fs.codec(Pt)
    cut = _pt_buffer(12, 8)[:22]  # the trailing padding cut off: every field still inside
    assert verdict(codec.verifier(), cut) is None
    assert verdict(codec.verifier(check_length=True), cut) == (
        "the buffer is 22 bytes, not a multiple of 4: truncated or padded"
    )
