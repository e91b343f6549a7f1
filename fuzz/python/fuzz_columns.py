"""atheris target: columnar decode (``Codec.decode_columns``) over arbitrary
batches, and the encode round trip of what decodes.

Input: a table choice (scalars/enum/optional/structs, or strings and vectors
of scalars), a flags byte, then payloads, each prefixed by a length byte.
Properties:

- ``decode_columns`` returns columns or raises ``ColumnarDecodeError`` (a
  ``DecodeError``) naming a frame of the batch, nothing else; the frame is
  the first one that fails on its own;
- with ``on_error="skip"`` the ``@valid`` mask is exactly the frames that
  decode on their own, and each valid row equals that frame decoded alone;
- the native kernel and its pure twin give the same bytes and the same
  errors;
- a frame the per-message ``decode`` reads gives the row ``decode`` gives;
- columns of the scalar table re-encode (``encode_columns``) and decode to
  the same columns;
- the batch framed as a stream (cut short by ``flags >> 2`` bytes) decodes
  in one pass (``ColumnarPlan.decode_stream``, both kernels) as the two
  passes do (``fs.scan`` then ``ColumnarPlan.decode``): same columns, same
  error.

Run: scripts/fuzz.sh columns [seconds]
"""

from __future__ import annotations

import enum
import sys
from typing import Any, Dict, List, Optional

from fuzz_common import Input, instrumented, run

with instrumented():
    import flatstream as fs
    from flatstream.schema import columnar as _columnar

import numpy as np

from flatstream import _kernels


class Shade(enum.IntEnum):
    __flatstream_name__ = "fz.Shade"
    Dark = 0
    Light = 5


@fs.struct(namespace="fz")
class Point:
    a: fs.u8
    x: fs.f64


@fs.table(namespace="fz")
class Fixed:
    flag: bool = True
    small: fs.i8 = -1
    count: fs.u32 = 0
    big: fs.u64 = 0
    ratio: fs.f32 = 0.5
    shade: Shade = Shade.Light
    opt: Optional[fs.i16] = None
    at: Optional[Point] = None


@fs.table(namespace="fz")
class Varied:
    id: fs.u16 = 0
    name: Optional[str] = None
    ids: Optional[List[fs.i32]] = None
    raw: Optional[bytes] = None


CODECS = [fs.schema.codec(Fixed), fs.schema.codec(Varied)]


def seeds() -> List[bytes]:
    out = []
    fixed = [Fixed(), Fixed(False, 3, 7, 2**63, 1.0, Shade.Dark, 4, Point(1, 2.5)), Fixed(opt=0)]
    varied = [Varied(), Varied(1, "hé", [1, -2], b"\x00"), Varied(name="", ids=[])]
    for choice, objs in ((0, fixed), (1, varied)):
        codec = CODECS[choice]
        for flags in range(4):
            for k in range(len(objs)):
                body = b""
                for obj in objs[: k + 1]:
                    p = codec.encode(obj)
                    body += bytes([len(p)]) + p
                out.append(bytes([choice, flags]) + body)
                cut = bytes([choice, flags]) + body[:-3]
                out.append(cut)
    return out


def payloads_from(inp: Input) -> List[bytes]:
    out = []
    rest = inp.rest()
    at = 0
    while at < len(rest) and len(out) < 16:
        n = rest[at]
        out.append(rest[at + 1 : at + 1 + n])
        at += 1 + n
    return out


def decode(codec: Any, batch: List[bytes], skip: bool) -> Any:
    try:
        return codec.decode_columns(batch, on_error="skip" if skip else "raise")
    except _columnar.ColumnarDecodeError as exc:
        assert 0 <= exc.frame < len(batch), exc
        return exc.frame


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return sorted(a) == sorted(b) and all(
            a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes() for k in a
        )
    return bool(a == b)


def row(columns: Dict[str, np.ndarray], plan: Any, i: int) -> Dict[str, bytes]:
    out = {}
    for col in plan.columns:
        if col.kind == "fixed":
            out[col.name] = columns[col.name][i : i + 1].tobytes()
        else:
            o = columns[col.name + ".offsets"]
            out[col.name] = columns[col.name][o[i] : o[i + 1]].tobytes()
        if col.name + ".valid" in columns:
            out[col.name + ".valid"] = columns[col.name + ".valid"][i : i + 1].tobytes()
    return out


def stream_of(batch: List[bytes], cut: int) -> bytes:
    data = b"".join(len(p).to_bytes(4, "little") + p for p in batch)
    return data[: max(len(data) - cut, 0)]


def one_pass_or_two(plan: Any, data: bytes, skip: bool, one: bool) -> Any:
    try:
        if one:
            got = plan.decode_stream(data, "none", None, skip)
            if got is not None:
                return got
        offsets, lengths, _ = _columnar.frame_index(data, "none")
        return plan.decode(data, offsets, lengths, skip)
    except ValueError as exc:  # ColumnarDecodeError, or the scan's errors
        return (type(exc), str(exc))


def check_stream(plan: Any, batch: List[bytes], flags: int) -> None:
    data = stream_of(batch, flags >> 2)
    skip = bool(flags & 2)
    want = one_pass_or_two(plan, data, skip, False)
    saved = _kernels.ColumnarDecoder
    modes = [_kernels.pure] + ([_kernels.native] if _kernels.native is not None else [])
    try:
        for source in modes:
            _kernels.ColumnarDecoder = source.ColumnarDecoder
            plan._decoders.clear()
            assert same(one_pass_or_two(plan, data, skip, True), want), "one pass differs"
    finally:
        _kernels.ColumnarDecoder = saved
        plan._decoders.clear()


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    codec = CODECS[inp.byte() % 2]
    flags = inp.byte()
    batch = payloads_from(inp)
    plan = _columnar.plan_for(codec)
    results = {}
    modes = ("native", "python") if _kernels.native is not None else ("python",)
    saved = (_kernels.ColumnarDecoder, _kernels.ColumnarEncoder)
    try:
        for mode in modes:
            source = _kernels.native if mode == "native" else _kernels.pure
            _kernels.ColumnarDecoder, _kernels.ColumnarEncoder = source.ColumnarDecoder, source.ColumnarEncoder
            results[mode] = (decode(codec, batch, False), decode(codec, batch, True))
    finally:
        _kernels.ColumnarDecoder, _kernels.ColumnarEncoder = saved
    first = results[modes[0]]
    for other in modes[1:]:
        assert same(results[other][0], first[0]) and same(results[other][1], first[1]), "kernels disagree"
    strict, skipped = first
    alone = [decode(codec, [p], False) for p in batch]
    ok = [isinstance(a, dict) for a in alone]
    if all(ok):
        assert isinstance(strict, dict)
    else:
        assert strict == ok.index(False), (strict, ok)
    assert skipped["@valid"].tolist() == ok
    for i, a in enumerate(alone):
        if isinstance(a, dict):
            assert row(skipped, plan, i) == row(a, plan, 0)
            try:
                obj = codec.decode(batch[i])
            except fs.schema.DecodeError:
                continue
            del obj  # decode reads it too; the value check is tests/test_columnar.py's
    if codec is CODECS[0]:
        check_stream(plan, batch, flags)
    if isinstance(strict, dict) and codec is CODECS[0] and not flags & 1:
        again = codec.decode_columns(codec.encode_columns(strict))
        for name in strict:
            if name.endswith(".valid"):
                continue
            valid = strict.get(name + ".valid")
            a, b = strict[name], again[name]
            if valid is not None:
                a, b = a[valid], b[valid]
            assert a.tobytes() == b.tobytes(), name


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
