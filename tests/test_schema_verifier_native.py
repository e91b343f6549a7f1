"""The native schema verifier against its pure-Python twin: for every input,
the same answer (accepted, or refused with the same exception class, reason
and position).

Each twin is called directly here (the pure compiled check through the
module's own error conversion, the native object through its ``verify``), over
valid buffers of the example and test schemas, every truncation, every
single-byte change (all 256 values for small buffers), random multi-byte
damage from hypothesis, and arbitrary bytes. The comparisons need the
extension, so they run once, in the native kernel mode.
"""

from __future__ import annotations

import array
import ctypes
import io
import mmap
import random
import struct
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_schema_support import FEATURES_FBS, SCHEMAS, build, values, write_fbs
from test_schema_verifier import Leaf, Node, Reading, _draw, node_chain, rich_form

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import verifier as verifier_module

TESTS = Path(__file__).resolve().parent / "schemas"

NESTED_FBS = """
namespace nest;
table Inner { a: int; s: string; more: [Inner]; }
table Outer {
  blob: [ubyte] (nested_flatbuffer: "Inner");
  again: [ubyte] (nested_flatbuffer: "Outer");
  name: string;
}
root_type Outer;
file_identifier "NEST";
"""

Outcome = Optional[Tuple[str, str, Optional[int], str]]


def native_only() -> None:
    if _kernels.SchemaVerifier is None:
        pytest.skip("compares the twins directly: once, in the native kernel mode")


def pure_outcome(validator: Any, payload: Any) -> Outcome:
    try:
        verifier_module._run(validator._check, payload, validator.name)
    except Exception as error:  # noqa: BLE001 - the class is part of the outcome
        return (type(error).__name__, getattr(error, "reason", ""), getattr(error, "position", None), str(error))
    return None


def native_outcome(validator: Any, payload: Any) -> Outcome:
    twin = validator.native
    assert twin is not None, "the native verifier declined this schema"
    try:
        verified = twin.verify(payload)
    except Exception as error:  # noqa: BLE001
        return (type(error).__name__, getattr(error, "reason", ""), getattr(error, "position", None), str(error))
    assert verified is True
    return None


def same(validator: Any, payload: Any) -> Outcome:
    """Both twins' outcome, asserting they are equal."""
    expected = pure_outcome(validator, payload)
    assert expected is None or expected[0] == "VerificationError", expected
    got = native_outcome(validator, payload)
    assert got == expected, f"payload {bytes(payload).hex()}"
    return expected


def damage(payload: bytes, rng: random.Random, exhaustive: bool) -> Iterator[bytes]:
    """The payload, every truncation, two extensions and single-byte changes."""
    yield payload
    for cut in range(len(payload)):
        yield payload[:cut]
    yield payload + b"\0"
    yield payload + b"\0\0\0\0"
    for i, old in enumerate(payload):
        if exhaustive:
            news: Any = range(256)
        else:
            news = {0, 0xFF, old ^ 1, old ^ 0x80, (old + 4) & 0xFF, (old - 4) & 0xFF, rng.randrange(256)}
        for new in news:
            if new != old:
                changed = bytearray(payload)
                changed[i] = new
                yield bytes(changed)


def compare_all(
    validator: Any, payloads: List[bytes], seed: int, exhaustive_upto: int = 160, valid: bool = True
) -> Dict[str, int]:
    rng = random.Random(seed)
    counts = {"accepted": 0, "refused": 0}
    for payload in payloads:
        outcome = same(validator, payload)
        assert outcome is None or not valid, f"a valid buffer was refused: {outcome}"
        for data in damage(payload, rng, len(payload) <= exhaustive_upto):
            counts["refused" if same(validator, data) else "accepted"] += 1
    return counts


# -- the schemas and their buffers ---------------------------------------------------------


class Case:
    def __init__(self, schema: Any, table: Optional[str], payloads: List[bytes]) -> None:
        self.schema = schema
        self.table = table
        self.payloads = payloads


def drawn(schema: Any, table: str, count: int) -> List[bytes]:
    codec = schema.codec(table)
    strategy = values(schema, table, finite=True)
    return [codec.encode(build(schema, table, _draw(strategy, seed))) for seed in range(count)]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Case]:
    directory = tmp_path_factory.mktemp("native_verifier")
    out: Dict[str, Case] = {}
    for name in ("telemetry", "lobster_message", "order_book", "wide_frame"):
        schema = fs.load_schema(SCHEMAS / f"{name}.fbs")
        table = schema.table().name
        codec = schema.codec()
        payloads = [codec.encode(codec.type())] + drawn(schema, table, 3)
        out[name] = Case(schema, None, payloads)
    for name in ("sample", "telemetry"):
        schema = fs.load_schema(TESTS / f"{name}.fbs")
        table = schema.table().name
        out[f"tests/{name}"] = Case(schema, None, drawn(schema, table, 4))
    features = fs.load_schema(write_fbs(directory, "features", FEATURES_FBS))
    rich = features.codec().encode(build(features, features.table().name, rich_form(1)))
    out["features"] = Case(features, None, [rich] + drawn(features, features.table().name, 2))
    nested = fs.load_schema(write_fbs(directory, "nested", NESTED_FBS))
    inner = nested.codec("Inner")
    inner_type = nested.python_type("Inner")
    one = inner.encode(inner_type(a=1, s="x", more=[inner_type(a=2)]))
    outer = nested.codec("Outer")
    doll = outer.encode(outer.type(blob=one, name="doll"))
    out["nested"] = Case(nested, None, [doll, outer.encode(outer.type(blob=one, again=doll))])
    node = fs.codec(Node)
    out["node"] = Case(
        node.schema,
        node.name,
        [
            node.encode(node_chain(3)),
            node.encode(Node(name="n", value=2.0, leaf=Leaf(text="t", numbers=[1, 2]), leaves=[Leaf(), Leaf(text="ü")])),
        ],
    )
    reading = fs.codec(Reading)
    out["reading"] = Case(
        reading.schema, reading.name, [reading.encode(Reading(1, 2, 3.0)), reading.encode(Reading(1, 0, 3.0))]
    )
    return out


def validator_for(case: Case, **options: Any) -> Any:
    return case.schema.verifier(case.table, **options)


CASE_NAMES = [
    "telemetry", "lobster_message", "order_book", "wide_frame", "tests/sample", "tests/telemetry",
    "features", "nested", "node", "reading",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_twins_agree_on_every_truncation_and_byte_change(cases: Dict[str, Case], name: str) -> None:
    native_only()
    case = cases[name]
    counts = compare_all(validator_for(case), case.payloads, seed=len(name))
    assert counts["refused"] > 0
    assert counts["accepted"] > 0 or name == "nested"


OPTION_SETS = [
    {"check_utf8": True},
    {"check_alignment": False},
    {"check_length": True},
    {"check_table_size": True},
    {"check_length": True, "check_table_size": True, "check_utf8": True},
    {"max_depth": 2},
    {"max_tables": 3},
    {"file_identifier": None},
    {"max_size": 64},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
@pytest.mark.parametrize("name", ["tests/sample", "features", "nested", "node", "order_book"])
def test_twins_agree_under_every_option(cases: Dict[str, Case], name: str, options: Dict[str, Any]) -> None:
    native_only()
    case = cases[name]
    compare_all(validator_for(case, **options), case.payloads[:2], seed=7, exhaustive_upto=0, valid=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
@pytest.mark.parametrize("name", ["tests/sample", "features", "nested", "node", "wide_frame"])
def test_twins_agree_on_random_damage(cases: Dict[str, Case], name: str, data: st.DataObject) -> None:
    native_only()
    case = cases[name]
    payload = data.draw(st.sampled_from(case.payloads))
    changes = data.draw(
        st.lists(st.tuples(st.integers(0, len(payload) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    )
    damaged = bytearray(payload)
    for at, value in changes:
        damaged[at] = value
    cut = data.draw(st.integers(0, len(damaged)) | st.just(len(damaged)))
    options = data.draw(st.sampled_from([{}] + OPTION_SETS))
    same(validator_for(case, **options), bytes(damaged[:cut]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_twins_agree_on_arbitrary_bytes(cases: Dict[str, Case], data: bytes) -> None:
    native_only()
    for name in ("tests/sample", "features", "nested"):
        same(validator_for(cases[name]), data)
        same(validator_for(cases[name], check_utf8=True, check_length=True, file_identifier=None), data)
        same(validator_for(cases[name], check_table_size=True), data)


# -- particular checks ----------------------------------------------------------------------


UTF8_EDGES = [
    0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
    0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
]


def test_utf8_reasons_and_positions_agree() -> None:
    """Python's own reasons ("invalid start byte", "invalid continuation
    byte", "unexpected end of data") at the byte where each error starts."""
    native_only()
    codec = fs.codec(Leaf)
    validator = codec.verifier(check_utf8=True)
    rng = random.Random(3)
    for length in (1, 2, 3, 4, 5):
        payload = codec.encode(Leaf(text="Q" * length))
        start = payload.index(struct.pack("<I", length) + b"Q" * length) + 4
        if length <= 2:
            sequences: Any = (bytes(s) for s in _all_bytes(length))
        elif length == 3:
            sequences = (bytes([a, b, c]) for a in UTF8_EDGES for b in UTF8_EDGES for c in UTF8_EDGES)
        else:
            sequences = (bytes(rng.choice(UTF8_EDGES) for _ in range(length)) for _ in range(20_000))
        reasons = set()
        for sequence in sequences:
            changed = bytearray(payload)
            changed[start : start + length] = sequence
            outcome = same(validator, bytes(changed))
            if outcome is not None:
                reasons.add(outcome[1].split(":")[1].split(" at ")[0].strip())
        if length >= 2:
            assert {"invalid start byte", "invalid continuation byte", "unexpected end of data"} <= reasons


def _all_bytes(length: int) -> Iterator[List[int]]:
    if length == 1:
        for a in range(256):
            yield [a]
    else:
        for a in range(256):
            for b in range(256):
                yield [a, b]


def test_file_identifier_messages_agree(cases: Dict[str, Case]) -> None:
    native_only()
    case = cases["features"]
    payload = case.payloads[0]
    for ident in (b"NOPE", b"EVR'", b'EV"Y', b"a'b\"", b"\\\t\n\x00", b"\x7f\x80\xff\r"):
        changed = payload[:4] + ident + payload[8:]
        outcome = same(validator_for(case), changed)
        assert outcome is not None and "file identifier" in outcome[1]
    for wanted in ('EV"Y', "A\\BC", "A\tBC"):
        validator = validator_for(case, file_identifier=wanted)
        assert validator.native is not None
        same(validator, payload)


def test_depth_and_table_limits_agree(cases: Dict[str, Case]) -> None:
    native_only()
    codec = fs.codec(Node)
    deep = codec.encode(node_chain(12))
    for max_depth in range(1, 14):
        same(codec.verifier(max_depth=max_depth), deep)
    wide = codec.encode(Node(name="n", leaves=[Leaf(text=str(i)) for i in range(20)]))
    for max_tables in range(1, 23):
        same(codec.verifier(max_tables=max_tables), wide)
    nested = cases["nested"]
    outer = nested.schema.codec("Outer")
    doll = outer.encode(outer.type(name="0"))
    for level in range(80):
        doll = outer.encode(outer.type(again=doll, name=str(level)))
    for max_depth in (1, 2, 3, 64, 80):  # 81 levels
        assert same(validator_for(nested, max_depth=max_depth), doll) is not None
    for max_depth in (81, 128):
        assert same(validator_for(nested, max_depth=max_depth), doll) is None


def test_shared_subtrees_agree() -> None:
    """A vector whose elements all point at one table: counted per visit."""
    native_only()
    codec = fs.codec(Node)
    payload = bytearray(codec.encode(Node(name="n", leaves=[Leaf(text="t") for _ in range(6)])))
    root = struct.unpack_from("<I", payload, 0)[0]
    vtable = root - struct.unpack_from("<i", payload, root)[0]
    field = struct.unpack_from("<H", payload, vtable + 12)[0]
    vector = root + field + struct.unpack_from("<I", payload, root + field)[0]
    first = vector + 4 + struct.unpack_from("<I", payload, vector + 4)[0]
    for i in range(1, 6):
        at = vector + 4 + 4 * i
        struct.pack_into("<I", payload, at, first - at)
    for max_tables in range(1, 9):
        same(codec.verifier(max_tables=max_tables), bytes(payload))


def test_large_bytes_are_verified_without_the_gil_alike() -> None:
    native_only()
    codec = fs.codec(Node)
    big = codec.encode(Node(name="n" * 70_000, leaf=Leaf(numbers=list(range(10_000)))))
    assert len(big) > 64 * 1024
    validator = codec.verifier(check_utf8=True)
    assert same(validator, big) is None
    for cut in (len(big) - 4, len(big) // 2, 100_000):
        assert same(validator, big[:cut]) is not None
    broken = bytearray(big)
    broken[big.index(b"nnnn") + 1000] = 0xC3
    assert same(validator, bytes(broken)) is not None


# -- which twin runs --------------------------------------------------------------------------


def test_the_native_twin_verifies_in_native_mode(kernel_mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    codec = fs.codec(Node)
    validator = codec.verifier()
    payload = codec.encode(Node(name="n"))
    if kernel_mode == "native":
        assert isinstance(validator.native, _kernels.native.SchemaVerifier)
    else:
        assert validator.native is None

    def pure_check(buffer: Any) -> None:
        raise AssertionError("the pure verifier ran")

    monkeypatch.setattr(validator, "_check", pure_check)
    if kernel_mode == "native":
        validator.validate(payload)
        with pytest.raises(fs.VerificationError):
            validator.validate(payload[:-4])
    else:
        with pytest.raises(AssertionError):
            validator.validate(payload)


def test_the_choice_is_made_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """One validator follows `_kernels.SchemaVerifier` as it changes."""
    native_only()
    native = _kernels.SchemaVerifier
    codec = fs.codec(Node)
    validator = codec.verifier()
    payload = codec.encode(Node(name="n"))
    validator.validate(payload)
    assert validator.native is not None
    monkeypatch.setattr(_kernels, "SchemaVerifier", None)
    assert validator.native is None
    validator.validate(payload)
    monkeypatch.setattr(_kernels, "SchemaVerifier", native)
    assert validator.native is not None
    fs.verify_buffer(codec.schema, codec.name, payload)


def test_limits_past_the_native_ones_fall_back_to_the_pure_verifier(kernel_mode: str) -> None:
    codec = fs.codec(Node)
    validator = codec.verifier(max_depth=1000)
    assert validator.native is None
    validator.validate(codec.encode(node_chain(5)))
    assert codec.verifier(max_depth=128).native is not None or kernel_mode == "python"


def test_every_kind_of_buffer_object(tmp_path: Path, kernel_mode: str) -> None:
    """bytes-likes the native twin reads; anything else is answered by the
    pure twin (so the same error), in both modes."""
    codec = fs.codec(Node)
    validator = codec.verifier()
    payload = codec.encode(Node(name="n", leaves=[Leaf(text="x")]))
    path = tmp_path / "payload"
    path.write_bytes(b"\0" * 8 + payload)
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        whole = memoryview(mapped)
        goods = [payload, bytearray(payload), memoryview(payload), whole[8:], array.array("B", payload)]
        for good in goods:
            validator.validate(good)
            if kernel_mode == "native":
                assert validator.native.verify(good) is True
        # The mapping itself holds 8 more bytes in front: refused alike.
        assert pure_outcome(validator, mapped) is not None
        with pytest.raises(fs.VerificationError) as caught:
            validator.validate(mapped)
        assert caught.value.reason == pure_outcome(validator, mapped)[1]  # type: ignore[index]
        del goods, good
        whole.release()
    frame = struct.pack("<I", len(payload)) + payload
    reader = fs.StreamReader(io.BytesIO(frame + frame))
    view = reader.read_message()
    validator.validate(view)
    if kernel_mode == "native":
        assert type(view).__name__ == "FrameView" and validator.native.verify(view) is True
    assert reader.read_message() is not None
    # The reader moved on: the stale view is refused alike, with its own error.
    stale = pure_outcome(validator, view)
    assert stale is not None and "released" in stale[1]
    if kernel_mode == "native":
        assert validator.native.verify(view) is False
    with pytest.raises(fs.VerificationError) as caught:
        validator.validate(view)
    assert caught.value.reason == stale[1]
    others: List[Any] = [
        "text", 7, None, memoryview(payload)[::2], memoryview(payload).cast("B", (2, len(payload) // 2)),
        array.array("I", payload), memoryview(payload).cast("c"), array.array("b", payload),
        (ctypes.c_ubyte * len(payload)).from_buffer_copy(payload),  # format "<B"
    ]
    for other in others:
        expected = pure_outcome(validator, other)
        assert expected is None or expected[0] == "VerificationError", expected
        if kernel_mode == "native":
            assert validator.native.verify(other) is False
        try:
            validator.validate(other)
        except fs.VerificationError as error:
            assert expected is not None and (error.reason, error.position) == expected[1:3]
        else:
            assert expected is None


def test_codec_verify_is_the_twins_own_method_and_follows_the_kernel_mode(
    kernel_mode: str,
) -> None:
    # Codec.verify is bound once to the native twin's validate, which looks
    # at the kernel mode at each call: the same verdicts in both modes, and
    # no Python frame between the caller and the native verifier.
    codec = fs.codec(Reading)
    verify = codec.verify
    if _kernels.native is not None:
        assert type(getattr(verify, "__self__", None)) is _kernels.native.SchemaVerifier
    good = codec.encode(Reading(sensor=3, level=1, value=2.5))
    verify(good)
    verify(memoryview(bytearray(good)))
    refused = 0
    for cut in range(len(good)):
        try:
            verify(good[:cut])
        except fs.VerificationError as error:
            refused += 1
            assert error.validator == "SchemaVerifier(Reading)"
    assert refused == len(good)
    assert codec.verify is verify  # built once, then found on the instance
