"""The salvage scanner and the journal metadata reader: the native kernels
(src/kernels/resync.rs, record.rs) and their Python twins give the same answer
on every input, valid or hostile (hypothesis over mutated real records and
streams)."""

from __future__ import annotations

import io
import random
from typing import Any, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatstream as fs
from flatstream import _kernels
from flatstream.io import salvage
from flatstream.journal import records

native = pytest.mark.skipif(_kernels.native is None, reason="the native extension is not built")

HEADER = records.encode_header(records.HeaderRecord(
    producer="p", producer_version="1", metadata={"site": "a", "k": "v"},
    schema_bfbs=b"\x01\x02\x03", root_type="Event", key_field="ts", key_kind=records.KEY_INT,
))
INDEX = records.encode_index(records.IndexRecord(10, 2, 3, 4, 5, 6, 7, 8))
FOOTER = records.encode_footer(records.FooterRecord(1, 2, 3, 4, 5))
BLOCK = records.encode_block(records.CODEC_ZSTD, 1, 2, 3, b"data", ((1, 1), (2, 2), (3, 3)))
SAMPLES = [(HEADER, "IsssqpbsssBsIQ"), (INDEX, "Q" * 8), (FOOTER, "Q" * 6), (BLOCK, "BQIIbvvv")]


def mutations(buf: bytes, seed: int, count: int) -> List[bytes]:
    rng = random.Random(seed)
    out = [buf[:cut] for cut in range(len(buf))]
    for _ in range(count):
        b = bytearray(buf)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(b))
            b[at] = rng.choice([0, 0xFF, rng.randrange(256), b[at] ^ (1 << rng.randrange(8))])
        out.append(bytes(b))
    return out


@native
@pytest.mark.parametrize("sample,kinds", SAMPLES)
def test_read_record_native_and_twin_agree(sample: bytes, kinds: str) -> None:
    assert _kernels.native.read_record(sample, kinds) == records._read_record(sample, kinds)
    refused = 0
    for bad in mutations(sample, len(sample), 3000):
        want = records._read_record(bad, kinds)
        assert _kernels.native.read_record(bad, kinds) == want, bad.hex()
        refused += want[0] is None
    assert refused > len(sample)  # the mutations do reach the checks


@native
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["IsssqpbsssBsIQ", "Q" * 8, "BQIIbvvv", "pvbs"]))
def test_read_record_agrees_on_any_bytes(data: bytes, kinds: str) -> None:
    assert _kernels.native.read_record(data, kinds) == records._read_record(data, kinds)


def test_decoded_records_round_trip() -> None:
    # Runs in both kernel modes (conftest).
    h = records.decode_header(HEADER)
    assert (h.metadata, h.schema_bfbs, h.root_type, h.key_kind) == (
        {"site": "a", "k": "v"}, b"\x01\x02\x03", "Event", records.KEY_INT)
    assert records.decode_index(INDEX) == records.IndexRecord(10, 2, 3, 4, 5, 6, 7, 8)
    blk = records.decode_block(BLOCK)
    assert (bytes(blk.data), blk.chunk_frames, blk.chunk_raw_sizes) == (b"data", (1, 1), (3, 3))
    with pytest.raises(fs.InvalidFrame, match="corrupt journal index frame"):
        records.decode_index(INDEX[:12] + b"\xff" * 4 + INDEX[16:])


def frames_with_damage(seed: int, algorithm: str) -> bytes:
    rng = random.Random(seed)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))) for _ in range(40)]
    out = io.BytesIO()
    with fs.StreamWriter(out, fs.ChecksumFramer(algorithm)) as w:
        w.write_many(payloads)
        data = bytearray(out.getvalue())
    for _ in range(rng.randint(1, 6)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


@native
@pytest.mark.parametrize("algorithm,width", [("crc16", 2), ("crc32c", 4), ("xxh3_64", 8)])
def test_resync_native_and_twin_agree(algorithm: str, width: int, monkeypatch: Any) -> None:
    for seed in range(60):
        data = frames_with_damage(seed, algorithm)
        for start in range(0, len(data), 3):
            got = _kernels.native.resync(data, start, algorithm, 1 << 20)
            with monkeypatch.context() as m:
                m.setattr(_kernels, "resync", None)
                want = salvage.find_resync(data, start, algorithm, width, 1 << 20)
            assert got == want, (seed, start)
