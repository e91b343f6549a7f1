"""The atheris targets (fuzz/python/) as plain functions, so CI keeps them working.

Each target's ``TestOneInput`` runs on its seed inputs and on a fixed set of
pseudo-random inputs, without atheris (its import is blocked here, as on a
machine that never installed it). The targets assert their own properties, so
a failure here is either a broken harness or a library bug the fuzzer would
also find. Crashes found by real campaigns are pinned below as regressions
(see FUZZING.md).
"""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator, List

import pytest

FUZZ_DIR = Path(__file__).resolve().parent.parent / "fuzz" / "python"
TARGETS = ["decoder", "validator", "recover", "salvage", "codec", "journal", "columns"]
MODULES = ["fuzz_common", "seeds"] + [f"fuzz_{t}" for t in TARGETS]


@pytest.fixture(scope="module")
def harness() -> Iterator[dict]:
    """The target modules, imported with atheris unavailable."""
    saved_path = list(sys.path)
    saved_atheris = sys.modules.get("atheris")
    sys.path.insert(0, str(FUZZ_DIR))
    sys.modules["atheris"] = None  # type: ignore[assignment]  # makes `import atheris` fail
    for name in MODULES:
        sys.modules.pop(name, None)
    try:
        modules = {name: importlib.import_module(name) for name in MODULES}
        assert modules["fuzz_common"].atheris is None
        yield modules
    finally:
        for name in MODULES:
            sys.modules.pop(name, None)
        if saved_atheris is None:
            sys.modules.pop("atheris", None)
        else:
            sys.modules["atheris"] = saved_atheris
        sys.path[:] = saved_path


def random_inputs(target: str, count: int = 40) -> List[bytes]:
    rng = random.Random(f"flatstream-fuzz-{target}")
    return [bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 160))) for _ in range(count)]


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_on_seeds(harness: dict, target: str) -> None:
    module: ModuleType = harness[f"fuzz_{target}"]
    seeds = harness["seeds"].seeds_for(target)
    assert len(seeds) >= 24
    for seed in seeds:
        module.TestOneInput(seed)


@pytest.mark.parametrize("target", TARGETS)
def test_target_runs_on_random_inputs(harness: dict, target: str) -> None:
    module: ModuleType = harness[f"fuzz_{target}"]
    for data in random_inputs(target):
        module.TestOneInput(data)


def test_decoder_target_catches_a_wrong_frame(harness: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a decoder that drops the last frame is caught."""
    module = harness["fuzz_decoder"]
    seed = next(s for s in harness["seeds"].seeds_for("decoder") if len(s) > 40)
    real_oracle = module.oracle

    def off_by_one(stream: bytes, checksum: object, limit: int) -> tuple:
        frames, end = real_oracle(stream, checksum, limit)
        return frames + [b"phantom"], end

    monkeypatch.setattr(module, "oracle", off_by_one)
    with pytest.raises(AssertionError):
        module.TestOneInput(seed)


def test_validator_target_catches_a_leaking_error(harness: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a validator that raises struct.error is caught."""
    import struct

    module = harness["fuzz_validator"]

    class Leaky:
        name = "TableRootValidator"

        def validate(self, payload: object) -> None:
            raise struct.error("leaked")

    monkeypatch.setattr(module, "VALIDATOR", Leaky())
    with pytest.raises(struct.error):
        module.TestOneInput(b"\x00" + bytes(8))


def test_codec_target_catches_a_leaking_error(harness: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a decoder that raises struct.error is caught."""
    import struct

    module = harness["fuzz_codec"]
    seed = harness["seeds"].seeds_for("codec")[0]
    codec = module.SCHEMAS[seed[0]][1]

    def leaky(payload: object) -> None:
        raise struct.error("leaked")

    monkeypatch.setattr(codec, "decode", leaky)
    with pytest.raises(struct.error):
        module.TestOneInput(seed)


def test_codec_target_catches_a_lossy_round_trip(harness: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: an encoder that changes a value is caught."""
    module = harness["fuzz_codec"]
    index = [label for label, _codec, _forced in module.SCHEMAS].index("telemetry")
    codec, forced = module.SCHEMAS[index][1:]
    seed = next(s for s in harness["seeds"].seeds_for("codec") if s[0] == index)
    real_encode = forced.encode

    def lossy(obj: object) -> bytes:
        changed = codec.type(device_id=obj.device_id + 1, timestamp=obj.timestamp, value=obj.value)  # type: ignore[attr-defined]
        return real_encode(changed)

    monkeypatch.setattr(forced, "encode", lossy)
    with pytest.raises(AssertionError):
        module.TestOneInput(seed)


def test_codec_target_catches_a_native_twin_that_disagrees(harness: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness can fail: a native twin that refuses a good buffer is caught."""
    import flatstream as fs

    module = harness["fuzz_codec"]
    index = [label for label, _codec, _forced in module.SCHEMAS].index("telemetry")
    codec = module.SCHEMAS[index][1]
    seed = next(s for s in harness["seeds"].seeds_for("codec") if s[0] == index)

    class Refusing:
        def decode(self, payload: object) -> None:
            raise fs.DecodeError("refused")

    monkeypatch.setattr(codec, "native", Refusing())
    with pytest.raises(AssertionError):
        module.TestOneInput(seed)


# -- regressions found by the campaigns (FUZZING.md, "Findings") -------------

#: decoder, 2026-11-22: an empty frame then a torn header, read with
#: StreamReader.iter_batches(5): the batch holding the good frame was dropped
#: when the torn tail raised (both decoder twins).
BATCH_DROPPED_BEFORE_ERROR = bytes.fromhex("0003003f01030014 00cc000000000000".replace(" ", ""))


def test_regression_batch_before_error_replayed(harness: dict) -> None:
    harness["fuzz_decoder"].TestOneInput(BATCH_DROPPED_BEFORE_ERROR)


def test_regression_batch_delivers_frames_before_a_torn_tail() -> None:
    import io

    import flatstream as fs

    stream = fs.DefaultFramer().frame_many([b"a", b"", b"bc"]) + b"\x05\x00"
    for source in (io.BytesIO(stream), stream):
        batches = fs.StreamReader(source).iter_batches(5)
        assert [bytes(p) for p in next(batches)] == [b"a", b"", b"bc"]
        with pytest.raises(fs.UnexpectedEof) as caught:
            next(batches)
        assert caught.value.offset == len(stream) - 2


def test_regression_batch_delivers_frames_before_a_refusal() -> None:
    import flatstream as fs

    stream = fs.DefaultFramer().frame_many([b"ok", b"too long", b"ok"])
    deframer = fs.DefaultDeframer().with_validator(fs.SizeValidator(max_len=2))
    batches = fs.StreamReader(stream, deframer).iter_batches(10)
    assert [bytes(p) for p in next(batches)] == [b"ok"]
    with pytest.raises(fs.ValidationFailed) as caught:
        next(batches)
    assert caught.value.offset == 6


def test_regression_errored_reader_is_collected() -> None:
    """decoder, 2026-11-22: the fuzzer's memory grew ~7 KB per input and its
    speed fell. A native decoder's sticky error holds a traceback whose frames
    hold the reader that owns the decoder; the decoder did not expose its
    references to the garbage collector, so every reader that met an error
    leaked with its buffers."""
    import gc
    import io
    import weakref

    import flatstream as fs

    reader = fs.StreamReader(io.BytesIO(fs.DefaultFramer().frame(b"abc")[:-1]))
    try:
        reader.read_message()
    except fs.UnexpectedEof:
        pass
    else:
        raise AssertionError("a torn frame was not reported")
    gone = weakref.ref(reader)
    del reader
    gc.collect()
    assert gone() is None, "a reader that met an error was never freed"


def test_regression_view_union_type_past_the_buffer(harness: dict) -> None:
    """codec, 2026-11-22 (smoke run, after 1,992 executions): reading a
    union attribute of ``Codec.view`` whose type field lies past the end of
    the payload raised struct.error; the type was read outside the try that
    turns such errors into DecodeError."""
    import struct

    import flatstream as fs

    module = harness["fuzz_codec"]
    codec = fs.codec(module.Packet)
    buf = bytearray(codec.encode(module.Packet(seq=1, body=module.Leaf(n=5))))
    pos = struct.unpack_from("<I", buf, 0)[0]
    vt = pos - struct.unpack_from("<i", buf, pos)[0]
    type_id = codec.table.field_named("body_type").id
    struct.pack_into("<H", buf, vt + 4 + 2 * type_id, 0xFFF0)  # far past the end
    view = codec.view(bytes(buf))
    assert view.seq == 1
    with pytest.raises(fs.DecodeError):
        view.body
    with pytest.raises(fs.DecodeError):
        codec.decode(bytes(buf))
    index = [label for label, _codec, _forced in module.SCHEMAS].index("packet")
    module.TestOneInput(bytes([index, 0]) + bytes(buf))
