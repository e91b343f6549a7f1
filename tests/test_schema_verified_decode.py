"""``codec.decode(payload, verify=True)``: the verifier runs first, so a
buffer it refuses raises :class:`VerificationError` and never becomes an
object; a buffer it accepts decodes as without ``verify``. Both twins (the
conftest runs each test in native and pure kernel modes)."""

from __future__ import annotations

import random
from typing import Any, List

import pytest
from test_schema_support import FEATURES_FBS, SCHEMAS, build, write_fbs

import flatstream as fs


def mutations(payload: bytes, count: int, seed: int) -> List[bytes]:
    """Truncations and byte flips of ``payload``."""
    rng = random.Random(seed)
    out = [payload[:n] for n in range(len(payload))]
    for _ in range(count):
        data = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(bytes(data))
    return out


def check_agreement(codec: Any, payloads: List[bytes]) -> int:
    """For each payload: refused by the verifier -> decode(verify=True) raises
    its VerificationError; accepted -> the same object as decode() (or the
    same DecodeError). Returns
    how many plain decode() turned into an object although refused."""
    unverified_objects = 0
    for payload in payloads:
        try:
            codec.verify(payload)
        except fs.VerificationError as refusal:
            with pytest.raises(fs.VerificationError) as caught:
                codec.decode(payload, verify=True)
            assert caught.value.reason == refusal.reason
            with pytest.raises(fs.VerificationError):
                codec.decode_many([payload], verify=True)
            with pytest.raises(fs.VerificationError):
                codec.view(payload, verify=True)
            try:
                codec.decode(payload)
            except fs.DecodeError:
                pass
            else:
                unverified_objects += 1
            continue
        try:
            plain = codec.decode(payload)
        except fs.DecodeError:
            # Accepted structure, unreadable content (a string that is not
            # UTF-8: the verifier's check_utf8 is off by default, as in C++).
            with pytest.raises(fs.DecodeError):
                codec.decode(payload, verify=True)
            continue
        assert codec.decode(payload, verify=True) == plain
        assert codec.decode_many([payload], verify=True) == [plain]
    return unverified_objects


def test_scalar_table_verified_decode() -> None:
    schema = fs.load_schema(SCHEMAS / "telemetry.fbs")
    codec = schema.codec()
    assert codec.native is not None  # the Rust twin's decode(verify=True) in native mode
    payload = codec.encode(codec.type(device_id=7, timestamp=2**40, value=1.5))
    assert codec.decode(payload, verify=True) == codec.decode(payload)
    # A buffer the decoder reads happily but the verifier refuses: the root
    # offset points at a table that is not 4-byte aligned.
    shifted = bytearray(b"\0\0" + payload[:-2])
    shifted[0:4] = (int.from_bytes(payload[0:4], "little") + 2).to_bytes(4, "little")
    with pytest.raises(fs.VerificationError):
        codec.decode(bytes(shifted), verify=True)
    check_agreement(codec, mutations(payload, 400, seed=1))


def test_every_feature_verified_decode(tmp_path: Any) -> None:
    schema = fs.load_schema(write_fbs(tmp_path, "features", FEATURES_FBS))
    codec = schema.codec()
    inner = {"a": 1, "s": "inner"}
    form = {
        "name": "n", "raw": [1, 2], "ids": [3], "names": ["a", "b"], "inners": [inner],
        "vecs": [{"x": 1.0, "y": 2.0, "z": 3.0, "color": 2}], "child": inner,
        "thing": (1, inner), "req": "r", "pos": {"x": 0.0, "y": 1.0, "z": 2.0, "color": 3},
    }
    payload = codec.encode(build(schema, schema.root_table or "", form))
    assert codec.decode(payload, verify=True) == codec.decode(payload)
    escaped = check_agreement(codec, mutations(payload, 600, seed=2))
    # The point of verify=True: plain decode makes objects of some of these.
    assert escaped > 0


def test_decorated_codec_verified_decode() -> None:
    @fs.table
    class Reading:
        sensor: str = ""
        level: fs.u8 = 0

    codec = fs.codec(Reading)
    payload = codec.encode(Reading(sensor="s1", level=3))
    assert codec.decode(payload, verify=True) == Reading(sensor="s1", level=3)
    with pytest.raises(fs.VerificationError):
        codec.decode(payload[:-4], verify=True)
    check_agreement(codec, mutations(payload, 200, seed=3))
