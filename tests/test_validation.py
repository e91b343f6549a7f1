"""Validators: the simple ones, composition, function validators, and the
structural TableRootValidator against buffers the official Builder makes and
against truncated and corrupted ones."""

from __future__ import annotations

import importlib
import io
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional

import flatbuffers
import pytest
from helpers import SCHEMAS, generate_python, imported, read_all, reference_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatstream as fs


def _refusal(validator: Any, payload: Any) -> Optional[fs.ValidationFailed]:
    try:
        validator.validate(payload)
    except fs.ValidationFailed as error:
        return error
    return None


def test_no_validator_accepts_everything() -> None:
    validator = fs.NoValidator()
    assert validator.name == "NoValidator"
    for payload in (b"", b"\x00", b"\xff" * 100, memoryview(b"abc")):
        assert _refusal(validator, payload) is None
    assert isinstance(validator, fs.Validator)


def test_size_validator_bounds_are_inclusive() -> None:
    validator = fs.SizeValidator(2, 4)
    assert [_refusal(validator, b"x" * n) is None for n in range(6)] == [
        False, False, True, True, True, False
    ]
    error = _refusal(validator, b"x")
    assert error is not None
    assert error.validator == "SizeValidator" and "minimum of 2" in error.reason
    error = _refusal(validator, b"x" * 5)
    assert error is not None and "maximum of 4" in error.reason
    assert _refusal(fs.SizeValidator(), b"x" * 100_000) is None
    with pytest.raises(ValueError):
        fs.SizeValidator(-1)
    with pytest.raises(ValueError):
        fs.SizeValidator(5, 4)


class Recording:
    def __init__(self, name: str, refuse: bool, log: List[str]) -> None:
        self.name, self.refuse, self.log = name, refuse, log

    def validate(self, payload: Any) -> None:
        self.log.append(self.name)
        if self.refuse:
            raise fs.ValidationFailed(self.name, f"{self.name} says no")


def test_composite_runs_in_order_and_stops_at_the_first_refusal() -> None:
    log: List[str] = []
    composite = fs.CompositeValidator(
        Recording("a", False, log), Recording("b", True, log), Recording("c", True, log)
    )
    assert composite.name == "CompositeValidator(a, b, c)"
    error = _refusal(composite, b"payload")
    assert log == ["a", "b"]
    assert error is not None and error.validator == "b" and error.reason == "b says no"
    log.clear()
    accepting = fs.CompositeValidator([Recording("a", False, log), fs.NoValidator()])
    assert _refusal(accepting, b"") is None and log == ["a"]
    assert _refusal(fs.CompositeValidator(), b"") is None
    nested = fs.CompositeValidator(fs.SizeValidator(1), fs.CompositeValidator(fs.SizeValidator(0, 3)))
    error = _refusal(nested, b"long")
    assert error is not None and error.validator == "SizeValidator"


def test_typed_validator_wraps_a_function() -> None:
    def is_even_length(payload: Any) -> bool:
        return len(payload) % 2 == 0

    validator = fs.TypedValidator(is_even_length)
    assert validator.name == "is_even_length"
    assert _refusal(validator, b"ab") is None
    error = _refusal(validator, b"abc")
    assert error is not None and error.validator == "is_even_length"

    def parse(payload: Any) -> None:
        struct.unpack_from("<Q", payload, 0)  # struct.error when short

    for fn, bad in (
        (parse, b"short"),
        (lambda p: int(bytes(p)), b"not a number"),  # ValueError
        (lambda p: p[100], b"x"),  # IndexError
    ):
        error = _refusal(fs.TypedValidator(fn, name="decoder"), bad)
        assert error is not None and error.validator == "decoder" and error.reason
    assert _refusal(fs.TypedValidator(lambda p: None), b"") is None  # None accepts
    with pytest.raises(KeyError):  # not a refusal: a bug in the function surfaces
        fs.TypedValidator(lambda p: {}["missing"]).validate(b"")


def test_a_read_side_refusal_names_validator_reason_and_offset() -> None:
    payloads = [b"fine", b"also fine", b"BAD", b"never reached"]
    stream = reference_stream(payloads, "crc32")
    deframer = fs.ChecksumDeframer("crc32").with_validator(
        fs.TypedValidator(lambda p: not bytes(p).startswith(b"BAD"), name="no-bad")
    )
    bad_offset = len(reference_stream(payloads[:2], "crc32"))
    for source in (stream, io.BytesIO(stream)):
        got, error = read_all(fs.StreamReader(source, deframer))
        assert got == payloads[:2]
        assert isinstance(error, fs.ValidationFailed) and isinstance(error, ValueError)
        assert (error.validator, error.offset) == ("no-bad", bad_offset)
        assert error.reason == "refused by the validator function"
        assert f"byte {bad_offset}" in str(error)


# -- TableRootValidator ----------------------------------------------------------


@pytest.fixture
def generated(tmp_path: Path) -> Any:
    out = tmp_path / "generated"
    generate_python(SCHEMAS / "telemetry.fbs", out)
    generate_python(SCHEMAS / "sample.fbs", out)
    with imported(out, "telemetry"), imported(out, "sample"):
        modules: Dict[str, Any] = {
            name: importlib.import_module(name)
            for name in (
                "telemetry.TelemetryEvent",
                "sample.Record",
                "sample.Tag",
                "sample.Reading",
                "sample.Vec3",
                "sample.Payload",
            )
        }
        yield modules


def _telemetry(m: Dict[str, Any], device: int, timestamp: int, value: float) -> bytes:
    module = m["telemetry.TelemetryEvent"]
    builder = flatbuffers.Builder(0)
    module.TelemetryEventStart(builder)
    module.TelemetryEventAddDeviceId(builder, device)
    module.TelemetryEventAddTimestamp(builder, timestamp)
    module.TelemetryEventAddValue(builder, value)
    builder.Finish(module.TelemetryEventEnd(builder))
    return bytes(builder.Output())


def _record(m: Dict[str, Any], spec: Dict[str, Any], depth: int = 0) -> bytes:
    builder = flatbuffers.Builder(0)
    builder.Finish(_build_record(builder, m, spec, depth))
    return bytes(builder.Output())


def _build_record(builder: flatbuffers.Builder, m: Dict[str, Any], spec: Dict[str, Any], depth: int) -> int:
    rec, tag, reading = m["sample.Record"], m["sample.Tag"], m["sample.Reading"]
    child = _build_record(builder, m, spec["child"], depth + 1) if spec.get("child") else None
    name = builder.CreateString(spec["name"]) if spec["name"] is not None else None
    samples = names = tags = payload = None
    if spec["samples"] is not None:
        rec.RecordStartSamplesVector(builder, len(spec["samples"]))
        for value in reversed(spec["samples"]):
            builder.PrependFloat64(value)
        samples = builder.EndVector()
    if spec["names"] is not None:
        strings = [builder.CreateString(s) for s in spec["names"]]
        rec.RecordStartNamesVector(builder, len(strings))
        for offset in reversed(strings):
            builder.PrependUOffsetTRelative(offset)
        names = builder.EndVector()
    if spec["tags"] is not None:
        tag_offsets = []
        for key, weight in spec["tags"]:
            key_offset = builder.CreateString(key)
            tag.TagStart(builder)
            tag.TagAddKey(builder, key_offset)
            tag.TagAddWeight(builder, weight)
            tag_offsets.append(tag.TagEnd(builder))
        rec.RecordStartTagsVector(builder, len(tag_offsets))
        for offset in reversed(tag_offsets):
            builder.PrependUOffsetTRelative(offset)
        tags = builder.EndVector()
    if spec["reading"] is not None:
        sensor = builder.CreateString(spec["reading"][0])
        reading.ReadingStart(builder)
        reading.ReadingAddSensor(builder, sensor)
        reading.ReadingAddLevel(builder, spec["reading"][1])
        payload = reading.ReadingEnd(builder)
    rec.RecordStart(builder)
    rec.RecordAddId(builder, spec["id"])
    rec.RecordAddFlag(builder, spec["flag"])
    rec.RecordAddSmall(builder, spec["small"])
    if spec["position"] is not None:
        rec.RecordAddPosition(builder, m["sample.Vec3"].CreateVec3(builder, *spec["position"]))
    for add, offset in (
        (rec.RecordAddName, name),
        (rec.RecordAddSamples, samples),
        (rec.RecordAddNames, names),
        (rec.RecordAddTags, tags),
        (rec.RecordAddChild, child),
    ):
        if offset is not None:
            add(builder, offset)
    if payload is not None:
        rec.RecordAddPayloadType(builder, m["sample.Payload"].Payload.Reading)
        rec.RecordAddPayload(builder, payload)
    return rec.RecordEnd(builder)  # type: ignore[no-any-return]


_floats = st.floats(allow_nan=False, width=32)
_text = st.text(max_size=12)
RECORDS = st.recursive(
    st.fixed_dictionaries(
        {
            "id": st.integers(0, 2**64 - 1),
            "flag": st.booleans(),
            "small": st.integers(-128, 127),
            "position": st.none() | st.tuples(_floats, _floats, _floats),
            "name": st.none() | _text,
            "samples": st.none() | st.lists(st.floats(allow_nan=False), max_size=5),
            "names": st.none() | st.lists(_text, max_size=4),
            "tags": st.none() | st.lists(st.tuples(_text, st.integers(-(2**15), 2**15 - 1)), max_size=3),
            "reading": st.none() | st.tuples(_text, st.integers(0, 255)),
            "child": st.none(),
        }
    ),
    lambda children: st.fixed_dictionaries(
        {
            "id": st.integers(0, 10),
            "flag": st.booleans(),
            "small": st.just(0),
            "position": st.none(),
            "name": st.none() | _text,
            "samples": st.none(),
            "names": st.none(),
            "tags": st.none(),
            "reading": st.none(),
            "child": children,
        }
    ),
    max_leaves=3,
)


def _accepts_or_refuses(validator: fs.TableRootValidator, payload: bytes) -> bool:
    """True if accepted, False if refused with ValidationFailed; anything else
    (IndexError, struct.error, ...) fails the test."""
    try:
        validator.validate(payload)
    except fs.ValidationFailed as error:
        assert error.validator == "TableRootValidator" and error.reason
        return False
    return True


def test_table_root_validator_accepts_telemetry_and_refuses_every_truncation(
    generated: Dict[str, Any],
) -> None:
    validator = fs.TableRootValidator()
    module = generated["telemetry.TelemetryEvent"]
    for device, timestamp, value in [(0, 0, 0.0), (1, 2, 3.5), (2**64 - 1, 2**63, -1e300)]:
        payload = _telemetry(generated, device, timestamp, value)
        assert _accepts_or_refuses(validator, payload)
        event = module.TelemetryEvent.GetRootAs(payload, 0)
        assert (event.DeviceId(), event.Timestamp(), event.Value()) == (device, timestamp, value)
        # a scalar-only table ends the buffer: every truncation cuts into it
        for cut in range(len(payload)):
            assert not _accepts_or_refuses(validator, payload[:cut]), cut


def test_table_root_validator_on_tiny_and_hostile_inputs() -> None:
    validator = fs.TableRootValidator()
    hostile = [
        b"",
        b"\x00",
        b"\x00" * 3,
        b"\x00" * 4,  # root offset 0: the table would overlap the offset
        struct.pack("<I", 0xFFFFFFFC) + b"\x00" * 8,
        struct.pack("<Ii", 4, -(2**31)) + b"\x00" * 8,
        struct.pack("<Ii", 4, 2**31 - 1) + b"\x00" * 8,
        struct.pack("<IiHH", 4, -4, 0xFFFF, 4),
        struct.pack("<IiHH", 4, -4, 6, 0xFFFF),
        struct.pack("<IiHHH", 4, -4, 6, 4, 0xFFFF),
    ]
    for payload in hostile:
        assert not _accepts_or_refuses(validator, payload), payload.hex()
    with pytest.raises(ValueError):
        fs.TableRootValidator(max_depth=0)


def test_table_root_validator_accepts_every_record_the_builder_makes(
    generated: Dict[str, Any],
) -> None:
    validator = fs.TableRootValidator()
    record_class = generated["sample.Record"].Record

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(spec=RECORDS)
    def check(spec: Dict[str, Any]) -> None:
        payload = _record(generated, spec)
        assert _accepts_or_refuses(validator, payload)
        record = record_class.GetRootAs(payload, 0)
        assert record.Id() == spec["id"]
        assert record.Name() == (None if spec["name"] is None else spec["name"].encode())
        # every truncation and any corruption: accepted or refused, nothing else
        for cut in range(len(payload)):
            _accepts_or_refuses(validator, payload[:cut])

    check()


def test_table_root_validator_survives_any_corruption(generated: Dict[str, Any]) -> None:
    validator = fs.TableRootValidator()
    base = _record(
        generated,
        {
            "id": 7, "flag": True, "small": -3, "position": (1.0, 2.0, 3.0), "name": "rec",
            "samples": [1.5, 2.5], "names": ["a", "bc"], "tags": [("k", 2)],
            "reading": ("s", 9), "child": None,
        },
    )
    assert _accepts_or_refuses(validator, base)

    @settings(max_examples=300, deadline=None)
    @given(
        edits=st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), min_size=1, max_size=4),
        cut=st.integers(0, len(base)),
    )
    def check(edits: List[Any], cut: int) -> None:
        damaged = bytearray(base)
        for position, value in edits:
            damaged[position] = value
        _accepts_or_refuses(validator, bytes(damaged[:cut]))
        _accepts_or_refuses(validator, memoryview(damaged))

    check()


def test_table_root_validator_in_a_stream(generated: Dict[str, Any]) -> None:
    events = [_telemetry(generated, i, i, float(i)) for i in range(5)]
    events[3] = events[3][:-2]  # a truncated event, framed whole: only a validator can tell
    stream = reference_stream(events, "none")
    deframer = fs.DefaultDeframer().with_validator(fs.TableRootValidator())
    for source in (stream, io.BytesIO(stream)):
        got, error = read_all(fs.StreamReader(source, deframer))
        assert got == events[:3]
        assert isinstance(error, fs.ValidationFailed)
        assert error.validator == "TableRootValidator"
        assert error.offset == len(reference_stream(events[:3], "none"))
    # the write side refuses it before a byte is written
    sink = io.BytesIO()
    writer = fs.StreamWriter(sink, fs.DefaultFramer().with_validator(fs.TableRootValidator()))
    with pytest.raises(fs.ValidationFailed):
        writer.write_payload(events[3])
    assert sink.getvalue() == b""


def test_validators_keep_the_rust_crates_defaults_and_names() -> None:
    validator = fs.TableRootValidator()
    assert (validator.max_depth, validator.max_tables) == (64, 1_000_000)
    assert validator.name == "TableRootValidator"
    custom = fs.TableRootValidator(max_depth=3, max_tables=10)
    assert (custom.max_depth, custom.max_tables) == (3, 10)
    with pytest.raises(ValueError):
        fs.TableRootValidator(max_tables=0)
    sized = fs.SizeValidator()
    assert (sized.min_len, sized.max_len, sized.name) == (0, None, "SizeValidator")
    assert fs.TypedValidator(lambda p: True, "mine").name == "mine"
    for validator in (fs.NoValidator(), sized, fs.CompositeValidator(), validator):
        assert isinstance(validator, fs.Validator)
