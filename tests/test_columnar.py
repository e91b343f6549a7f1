"""Columnar decode/encode (``codec.decode_columns``/``encode_columns``,
``fs.write_columns``): equal to the per-message codec, both kernels equal,
bad payloads refused with the right frame index. Every test runs on both
kernels (conftest); ``test_kernels_agree_*`` compare them directly."""

from __future__ import annotations

import enum
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatstream as fs
from flatstream import _kernels
from flatstream.schema import DecodeError, EncodeError, SchemaError
from flatstream.schema.columnar import ROW_VALID, ColumnarDecodeError

from helpers import reference_stream


class Color(enum.IntEnum):
    __flatstream_name__ = "col.Color"
    Red = 0
    Green = 2
    Blue = 3


@fs.struct(namespace="col")
class Vec3:
    x: fs.f32
    y: fs.f32
    z: fs.f32


@fs.struct(namespace="col")
class Pair:
    a: fs.u8
    v: Vec3
    d: fs.f64


@fs.table(namespace="col")
class Row:
    flag: bool = True
    i8v: fs.i8 = -3
    u16v: fs.u16 = 0
    i32v: fs.i32 = 7
    u64v: fs.u64 = 0
    f32v: fs.f32 = 1.5
    f64v: fs.f64 = 0.0
    color: Color = Color.Blue
    opt: Optional[fs.u8] = None
    opt_f: Optional[fs.f64] = None
    pos: Optional[Vec3] = None
    pair: Optional[Pair] = None


@fs.table(namespace="col")
class Var:
    id: fs.u32 = 0
    name: Optional[str] = None
    raw: Optional[bytes] = None
    ids: Optional[List[fs.i32]] = None
    doubles: Optional[List[fs.f64]] = None
    bools: Optional[List[bool]] = None


@fs.table(namespace="col")
class Tele:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


@fs.table(namespace="col")
class Holder:
    inner: Optional[Tele] = None
    n: fs.i32 = 0


ROW = fs.schema.codec(Row)
VAR = fs.schema.codec(Var)
TELE = fs.schema.codec(Tele)

f32s = st.floats(width=32, allow_nan=False)
f64s = st.floats(allow_nan=True)
vec3s = st.builds(Vec3, f32s, f32s, f32s)
pairs = st.builds(Pair, st.integers(0, 255), vec3s, f64s)
rows = st.builds(
    Row,
    flag=st.booleans(),
    i8v=st.integers(-128, 127),
    u16v=st.integers(0, 65535),
    i32v=st.integers(-(2**31), 2**31 - 1),
    u64v=st.integers(0, 2**64 - 1),
    f32v=f32s,
    f64v=f64s,
    color=st.sampled_from(list(Color)),
    opt=st.none() | st.integers(0, 255),
    opt_f=st.none() | f64s,
    pos=st.none() | vec3s,
    pair=st.none() | pairs,
)
vars_ = st.builds(
    Var,
    id=st.integers(0, 2**32 - 1),
    name=st.none() | st.text(max_size=8),
    raw=st.none() | st.binary(max_size=8),
    ids=st.none() | st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4),
    doubles=st.none() | st.lists(f64s, max_size=4),
    bools=st.none() | st.lists(st.booleans(), max_size=4),
)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def expected_columns(codec: Any, objs: List[Any]) -> Dict[str, np.ndarray]:
    """The columns decode_columns should give, from per-message decode results."""
    plan = fs.schema.columnar.plan_for(codec)
    out: Dict[str, np.ndarray] = {}
    for col in plan.columns:
        values = [_get(o, col.name) for o in objs]
        if col.kind == "fixed":
            present = [v is not None for v in values]
            fill = [int(v) if isinstance(v, enum.Enum) else (0 if v is None else v) for v in values]
            out[col.name] = np.array(fill, dtype=col.dtype)
            if col.nullable:
                out[col.name + ".valid"] = np.array(present, dtype=bool)
            continue
        parts = []
        for v in values:
            if v is None:
                parts.append(np.zeros(0, col.dtype))
            elif isinstance(v, str):
                parts.append(np.frombuffer(v.encode("utf-8"), np.uint8))
            elif isinstance(v, bytes):
                parts.append(np.frombuffer(v, np.uint8))
            else:
                parts.append(np.asarray(v, dtype=col.dtype))
        out[col.name] = np.concatenate(parts) if parts else np.zeros(0, col.dtype)
        out[col.name + ".offsets"] = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        out[col.name + ".valid"] = np.array([v is not None for v in values], dtype=bool)
    return out


def assert_columns_equal(got: Dict[str, np.ndarray], want: Dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        if want[name].dtype.kind == "f":
            assert np.array_equal(got[name], want[name], equal_nan=True), name
        else:
            assert np.array_equal(got[name], want[name]), name


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=12))
def test_fixed_fields_equal_per_message_decode(objs: List[Row]) -> None:
    payloads = [ROW.encode(o) for o in objs]
    decoded = [ROW.decode(p) for p in payloads]
    assert_columns_equal(ROW.decode_columns(payloads), expected_columns(ROW, decoded))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(vars_, max_size=12))
def test_strings_and_vectors_equal_per_message_decode(objs: List[Var]) -> None:
    payloads = [VAR.encode(o) for o in objs]
    decoded = [VAR.decode(p) for p in payloads]
    assert_columns_equal(VAR.decode_columns(payloads), expected_columns(VAR, decoded))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, max_size=12))
def test_encode_columns_equals_per_message_encode(objs: List[Row]) -> None:
    payloads = [ROW.encode(o) for o in objs]
    columns = ROW.decode_columns(payloads)
    assert ROW.encode_columns(columns) == payloads
    framed = ROW.encode_columns(columns, framed="crc32")
    assert framed == reference_stream(payloads, "crc32")
    index = fs.scan(framed, "crc32")
    assert_columns_equal(ROW.decode_columns((framed, index)), columns)


def test_sources_paths_readers_indexes(tmp_path: Path) -> None:
    objs = [Tele(i, 2 * i, i / 4) for i in range(100)]
    columns = TELE.decode_columns([TELE.encode(o) for o in objs])
    path = tmp_path / "t.fs"
    assert fs.write_columns(path, columns, TELE, checksum="xxh3_64") == 100
    with pytest.raises(FileExistsError):
        fs.write_columns(path, columns, TELE, checksum="xxh3_64")
    assert_columns_equal(TELE.decode_columns(str(path), checksum="xxh3_64"), columns)
    with fs.StreamReader(open(path, "rb"), fs.Deframer("xxh3_64"), close_source=True) as reader:
        assert_columns_equal(TELE.decode_columns(reader), columns)
    data = path.read_bytes()
    index = fs.scan(data, "xxh3_64")
    assert_columns_equal(TELE.decode_columns((data, index)), columns)
    assert_columns_equal(TELE.decode_columns((data, index.payload_offsets, index.lengths)), columns)
    assert_columns_equal(TELE.decode_columns((bytearray(data), index)), columns)
    sub = TELE.decode_columns(str(path), ["value"], checksum="xxh3_64")
    assert list(sub) == ["value"] and np.array_equal(sub["value"], columns["value"])
    fs.write_columns(path, columns, TELE, checksum="xxh3_64", append=True)
    assert len(TELE.decode_columns(str(path), checksum="xxh3_64")["value"]) == 200
    empty = TELE.decode_columns([])
    assert all(len(v) == 0 for v in empty.values()) and empty["value"].dtype == np.float64


def test_refused_fields_and_names() -> None:
    codec = fs.schema.codec(Holder)
    with pytest.raises(SchemaError, match="inner"):
        codec.decode_columns([])
    assert list(codec.decode_columns([codec.encode(Holder(None, 5))], ["n"])) == ["n"]
    with pytest.raises(SchemaError, match="no field"):
        TELE.decode_columns([], ["nope"])
    with pytest.raises(ValueError, match="on_error"):
        TELE.decode_columns([], on_error="ignore")


def _batch() -> List[bytes]:
    return [
        VAR.encode(Var(1, "ab", b"\x01", [1, -2], [0.5], [True])),
        VAR.encode(Var(2, "héllo", None, [3], None, [False, True])),
        VAR.encode(Var(3, None, b"xyz", None, [1.0, 2.0], None)),
    ]


def test_every_truncation_names_the_frame() -> None:
    payloads = [TELE.encode(Tele(i, i, float(i))) for i in range(3)]
    for k in range(3):
        for cut in range(len(payloads[k])):
            bad = list(payloads)
            bad[k] = payloads[k][:cut]
            with pytest.raises(ColumnarDecodeError) as info:
                TELE.decode_columns(bad)
            assert info.value.frame == k and str(info.value).startswith(f"frame {k}: ")
            assert isinstance(info.value, DecodeError) and isinstance(info.value, ValueError)
            skipped = TELE.decode_columns(bad, on_error="skip")
            assert skipped[ROW_VALID].tolist() == [i != k for i in range(3)]
            assert skipped["device_id"][k] == 0 and skipped["value"][k] == 0.0


def test_every_corrupt_byte_is_an_error_for_its_frame_or_reads_in_bounds() -> None:
    good = _batch()
    want = expected_columns(VAR, [VAR.decode(p) for p in good])
    for k in range(len(good)):
        for at in range(len(good[k])):
            for value in (0x00, 0x7F, 0xFF, good[k][at] ^ 0x01):
                payload = bytearray(good[k])
                payload[at] = value
                batch = list(good)
                batch[k] = bytes(payload)
                try:
                    got = VAR.decode_columns(batch)
                except ColumnarDecodeError as exc:
                    assert exc.frame == k
                    skipped = VAR.decode_columns(batch, on_error="skip")
                    assert skipped[ROW_VALID].tolist() == [i != k for i in range(len(good))]
                    continue
                # Decoded: the other rows are untouched, and the bad row is what
                # the per-message decoder reads, when it reads anything.
                assert np.array_equal(np.delete(got["id"], k), np.delete(want["id"], k))
                try:
                    single = VAR.decode(bytes(payload))
                except DecodeError:
                    continue
                one = VAR.decode_columns([bytes(payload)])
                assert_columns_equal(one, expected_columns(VAR, [single]))


def test_frames_outside_the_buffer_are_refused() -> None:
    batch = _batch()
    data = b"".join(batch)
    offsets = np.array([0, len(data) - 4, 2**63], dtype="<u8")
    lengths = np.array([len(batch[0]), 100, 4], dtype="<u4")
    with pytest.raises(ColumnarDecodeError, match="outside") as info:
        VAR.decode_columns((data, offsets, lengths))
    assert info.value.frame == 1
    skipped = VAR.decode_columns((data, offsets, lengths), on_error="skip")
    assert skipped[ROW_VALID].tolist() == [True, False, False]
    assert skipped["id"].tolist() == [1, 0, 0]


def test_invalid_utf8_is_refused() -> None:
    payload = bytearray(VAR.encode(Var(1, "abc")))
    at = bytes(payload).index(b"abc")
    payload[at] = 0xFF
    with pytest.raises(ColumnarDecodeError, match="UTF-8"):
        VAR.decode_columns([b"", bytes(payload)][1:])


def _decode_with(kind: str, codec: Any, batch: Any, skip: bool) -> Any:
    plan = fs.schema.columnar.plan_for(codec)
    decoder_cls = _kernels.native.ColumnarDecoder if kind == "native" else _kernels.pure.ColumnarDecoder
    decoder = decoder_cls([c.tuple() for c in plan.columns], plan.max_size)
    data, offsets, lengths = fs.schema.columnar.join_payloads(batch)
    cols, valid, error = decoder.decode(data, offsets.view(np.uint8), lengths.view(np.uint8), skip)
    columns = [tuple(None if x is None else bytes(x) for x in c) for c in cols]
    return columns, None if valid is None else bytes(valid), error


@pytest.mark.skipif(_kernels.native is None, reason="no native extension")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(vars_, min_size=1, max_size=4), st.data())
def test_kernels_agree_on_damaged_batches(objs: List[Var], data: Any) -> None:
    batch = [bytearray(VAR.encode(o)) for o in objs]
    for _ in range(data.draw(st.integers(0, 4))):
        k = data.draw(st.integers(0, len(batch) - 1))
        if batch[k]:
            at = data.draw(st.integers(0, len(batch[k]) - 1))
            batch[k][at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        k = data.draw(st.integers(0, len(batch) - 1))
        del batch[k][data.draw(st.integers(0, len(batch[k]))) :]
    frozen = [bytes(b) for b in batch]
    for skip in (False, True):
        assert _decode_with("native", VAR, frozen, skip) == _decode_with("python", VAR, frozen, skip)
        assert _decode_with("native", ROW, frozen, skip) == _decode_with("python", ROW, frozen, skip)


@pytest.mark.skipif(_kernels.native is None, reason="no native extension")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_kernels_agree_on_arbitrary_bytes(a: bytes, b: bytes) -> None:
    for skip in (False, True):
        assert _decode_with("native", VAR, [a, b], skip) == _decode_with("python", VAR, [a, b], skip)


# -- encode errors ---------------------------------------------------------------------


def _tele_columns(n: int = 4) -> Dict[str, Any]:
    return {
        "device_id": np.arange(n, dtype=np.uint64),
        "timestamp": np.arange(n, dtype=np.uint64) * 2,
        "value": np.linspace(0, 1, n),
    }


def test_encode_errors_name_the_column() -> None:
    cols = _tele_columns()
    cols["value"] = cols["value"][:3]
    with pytest.raises(EncodeError, match="'value' has 3 rows"):
        TELE.encode_columns(cols)
    cols = _tele_columns()
    cols["device_id"] = cols["value"]
    with pytest.raises(EncodeError, match="'device_id'.*integers"):
        TELE.encode_columns(cols)
    cols = _tele_columns()
    cols["timestamp"] = np.array([0, -1, 2, 3])
    with pytest.raises(EncodeError, match="'timestamp'.*-1 is out of the range"):
        TELE.encode_columns(cols)
    cols = _tele_columns()
    cols["value"] = np.array(["a", "b", "c", "d"])
    with pytest.raises(EncodeError, match="'value'"):
        TELE.encode_columns(cols)
    with pytest.raises(EncodeError, match="'nope'"):
        TELE.encode_columns({**_tele_columns(), "nope": np.zeros(4)})
    with pytest.raises(EncodeError, match="'u16v'.*70000"):
        ROW.encode_columns({"u16v": np.array([1, 70000])})
    with pytest.raises(EncodeError, match="'f32v'.*float"):
        ROW.encode_columns({"f32v": np.array([1e300])})
    with pytest.raises(EncodeError, match="'flag'"):
        ROW.encode_columns({"flag": np.array([0, 2])})
    with pytest.raises(EncodeError, match="'name'.*not strings"):
        VAR.encode_columns({"id": np.array([1]), "name": np.array([97], dtype=np.uint8)})
    # Leaving the string out writes it absent, as codec.encode does for None.
    assert VAR.encode_columns({"id": np.array([1])}) == [VAR.encode(Var(1))]


def test_encode_missing_columns_are_defaults_and_valid_masks_drop_fields() -> None:
    payloads = ROW.encode_columns({
        "i32v": np.array([1, 7]),
        "opt": np.array([5, 0], dtype=np.uint8),
        "opt.valid": np.array([True, False]),
        "pos.x": np.array([1.0, 2.0], dtype=np.float32),
        "pos.x.valid": np.array([False, True]),
    })
    assert payloads == [ROW.encode(Row(i32v=1, opt=5)), ROW.encode(Row(opt=None, pos=Vec3(2.0, 0.0, 0.0)))]
    assert struct.unpack_from("<I", payloads[0])[0] > 0


def test_encode_telemetry_matches_codec() -> None:
    cols = _tele_columns(1000)
    objs = [Tele(int(a), int(b), float(c)) for a, b, c in zip(*cols.values())]
    assert TELE.encode_columns(cols) == [TELE.encode(o) for o in objs]
    assert TELE.encode_columns({k: v[:0] for k, v in cols.items()}) == []


def test_encode_framed_large_and_empty_equal_the_reference() -> None:
    # Over 2 MiB of frames (the native encoder asks for huge pages there),
    # mixed present fields (several templates), and no rows at all.
    n = 60_000
    objs = [Tele(i % 7, i * 3 if i % 5 else 0, i / 8) for i in range(n)]
    payloads = [TELE.encode(o) for o in objs]
    columns = TELE.decode_columns(payloads)
    for algo in ("none", "xxh3_64"):
        framed = TELE.encode_columns(columns, framed=algo)
        assert isinstance(framed, bytes) and len(framed) > 2 << 20
        assert framed == reference_stream(payloads, algo)
    empty = TELE.encode_columns({k: v[:0] for k, v in columns.items()}, framed="crc32c")
    assert empty == b""
