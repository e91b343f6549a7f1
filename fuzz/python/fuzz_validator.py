"""atheris target: TableRootValidator over arbitrary bytes.

Properties:
- ``validate`` accepts, or raises ValidationFailed naming the validator with a
  reason; nothing else ever escapes (no struct.error, IndexError, ...);
- what it accepts, the ``flatbuffers`` runtime can walk: the root table and
  every vtable slot read without error and inside the table (differential
  against the reference runtime's own accessors);
- the same payload behaves the same on the write side (a framer with the
  validator) and the read side (a deframer with it, in both kernel modes),
  and a read-side refusal carries the frame's offset.

Run: scripts/fuzz.sh validator [seconds]
"""

from __future__ import annotations

import io
import sys
from typing import Any, Optional, Tuple

from fuzz_common import Input, instrumented, kernels, modes, run

with instrumented():
    import flatstream as fs

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

VALIDATOR = fs.TableRootValidator()


def _good() -> bytes:
    builder = flatbuffers.Builder(64)
    name = builder.CreateString("fuzz")
    builder.StartObject(2)
    builder.PrependUOffsetTRelativeSlot(0, name, 0)
    builder.PrependUint32Slot(1, 7, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


#: A real FlatBuffer the validator accepts.
GOOD = _good()


def outcome(call: Any) -> Optional[Tuple[str, str]]:
    """None when accepted, else (validator, reason) of the refusal."""
    try:
        call()
    except fs.ValidationFailed as refusal:
        assert isinstance(refusal.reason, str) and refusal.reason, refusal
        return refusal.validator, refusal.reason
    return None


def walk_with_flatbuffers(payload: bytes) -> None:
    """Read the root table the way generated code does; must not fail."""
    buf = bytearray(payload)
    pos = flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buf, 0)
    table = Table(buf, pos)
    vtable = table.Pos - table.Get(N.SOffsetTFlags, table.Pos)
    vtable_len = table.Get(N.VOffsetTFlags, vtable)
    table_len = table.Get(N.VOffsetTFlags, vtable + 2)
    assert table.Pos + table_len <= len(buf)
    for slot in range(4, vtable_len, 2):
        field = table.Offset(slot)
        assert field == 0 or 4 <= field < table_len, (slot, field, table_len)


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    flags = inp.byte()
    payload = inp.rest()
    wrapped: Any = (payload, bytearray(payload), memoryview(payload))[flags % 3]

    direct = outcome(lambda: VALIDATOR.validate(wrapped))
    if direct is None:
        walk_with_flatbuffers(payload)
    else:
        assert direct[0] == VALIDATOR.name

    # Write side: refused before any byte is written, with the same reason.
    framer = fs.DefaultFramer().with_validator(VALIDATOR)
    sink = io.BytesIO()
    writer = fs.StreamWriter(sink, framer)
    assert outcome(lambda: writer.write_payload(payload)) == direct
    writer.flush()
    framed = sink.getvalue()
    assert framed == (b"" if direct is not None else fs.DefaultFramer().frame(payload))

    # Read side, behind one good frame so the refusal's offset is not 0.
    first = fs.DefaultFramer().frame(GOOD)
    stream = first + fs.DefaultFramer().frame(payload)
    deframer = fs.DefaultDeframer().with_validator(VALIDATOR)
    for mode in modes():
        with kernels(mode):
            for source in (stream, io.BytesIO(stream)):
                reader = fs.StreamReader(source, deframer)
                assert bytes(reader.read_message()) == GOOD
                try:
                    got = reader.read_message()
                except fs.ValidationFailed as refusal:
                    assert (refusal.validator, refusal.reason) == direct, (mode, refusal, direct)
                    assert refusal.offset == len(first), (mode, refusal.offset)
                else:
                    assert direct is None, (mode, direct)
                    assert got is not None and bytes(got) == payload
                    assert reader.read_message() is None
                reader.close()


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
