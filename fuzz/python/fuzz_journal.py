"""atheris target: the journal header/index/footer/block parsers and reader.

Input: a flags byte, then either a whole file (flags bit 0 clear) or edits to
a small valid journal (bit 0 set: pairs of (position u16, value) bytes).
Properties, in both kernel modes:

- the record decoders take any bytes and return a record or raise
  InvalidFrame (nothing else escapes, nothing is allocated from the input);
- opening the file as a journal raises a FlatstreamError (a clear refusal:
  not a journal, a damaged header) or gives a reader whose ``len(r)``,
  iteration, ``r[i]`` and ``fs.count`` agree with each other, or raise a
  FlatstreamError; the answer is the same in both kernel modes.

Run: scripts/fuzz.sh journal [seconds]
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, List, Tuple

from fuzz_common import Input, instrumented, kernels, modes, run

with instrumented():
    import flatstream as fs
    from flatstream.journal import records

_TMP = tempfile.mkdtemp(prefix="fuzz-journal-")
_PATH = os.path.join(_TMP, "input.fsj")


def base_journal(kind: int) -> bytes:
    """A small valid journal of one of four shapes."""
    path = os.path.join(_TMP, f"base{kind}.fsj")
    if not os.path.exists(path):
        checksum = ("crc16", "crc32", "xxh3_64", "none")[kind % 4]
        compression = "zstd" if kind % 4 == 1 else None
        with fs.open(path, "wb", format="journal", checksum=checksum, compression=compression,
                     index_every=3, metadata={"k": "v"}) as w:
            for i in range(7):
                w.write_payload(b"m%d" % i * (i + 1))
    with open(path, "rb") as f:
        return f.read()


def decoders(data: bytes) -> None:
    for decode in (records.decode_header, records.decode_index, records.decode_footer,
                   records.decode_block):
        try:
            decode(data)
        except fs.InvalidFrame:
            pass


def outcome(path: str) -> Tuple[Any, ...]:
    try:
        with fs.open(path, "rb") as r:
            n = len(r)
            got: List[bytes] = [bytes(p) for p in r]
            assert len(got) == n, (len(got), n)
            for i in range(0, n, 3):
                assert bytes(r[i]) == got[i]
            counted = fs.count(path).frames
            assert counted == n, (counted, n)
            return ("ok", n, tuple(got))
    except fs.FlatstreamError as error:
        return ("error", type(error).__name__)


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    flags = inp.byte()
    if flags & 1:
        body = bytearray(base_journal(flags >> 1))
        rest = inp.rest()
        for k in range(0, len(rest) - 2, 3):
            at = int.from_bytes(rest[k:k + 2], "little")
            if at < len(body):
                body[at] = rest[k + 2]
        if flags & 2:
            body = body[: int.from_bytes(rest[:2] or b"\xff\xff", "little") % (len(body) + 1)]
        file_bytes = bytes(body)
    else:
        file_bytes = inp.rest()
    decoders(file_bytes)
    decoders(file_bytes[12:])
    with open(_PATH, "wb") as f:
        f.write(file_bytes)
    results = []
    for mode in modes():
        with kernels(mode):
            results.append(outcome(_PATH))
    assert all(r == results[0] for r in results), results


def seeds() -> List[bytes]:
    out = []
    for kind in range(4):
        out.append(bytes([0]) + base_journal(kind))
        for cut in (1, 20, 40):
            out.append(bytes([1 | (kind << 1) | 2]) + cut.to_bytes(2, "little") + b"\x00")
        for pos in range(0, 120, 7):
            out.append(bytes([1 | (kind << 1)]) + pos.to_bytes(2, "little") + b"\xff")
    return out


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
