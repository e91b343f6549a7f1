"""Deterministic mutations of a FlatBuffers buffer for differential tests
against the C++ verifier: every truncation, bit flips, random byte
replacements, inserted and deleted bytes, and hostile 32-bit values
(offsets, vtable sizes) written at every 4-byte-aligned position."""

from __future__ import annotations

import random
import struct
from typing import Iterator

HOSTILE = (0, 1, 2, 3, 4, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFC, 0xFFFFFFFF)


def mutations(payload: bytes, count: int, seed: int) -> Iterator[bytes]:
    """About ``count`` mutated copies of ``payload`` (all truncations and the
    hostile-value writes first, then random bit flips / replacements /
    insertions / deletions until ``count``), the same for the same seed."""
    produced = 0
    for n in range(len(payload)):
        yield payload[:n]
        produced += 1
    for pos in range(0, len(payload) - 3, 4):
        for value in HOSTILE:
            data = bytearray(payload)
            data[pos : pos + 4] = struct.pack("<I", value)
            yield bytes(data)
            produced += 1
        for value in (0, 4, 0xFFFF):  # 16-bit vtable fields
            data = bytearray(payload)
            data[pos : pos + 2] = struct.pack("<H", value)
            yield bytes(data)
            produced += 1
    rng = random.Random(seed)
    while produced < count:
        data = bytearray(payload)
        kind = rng.randrange(4)
        if kind == 0 or not data:
            pos = rng.randrange(len(data)) if data else 0
            if data:
                data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 4))))
        else:
            pos = rng.randrange(len(data))
            del data[pos : pos + rng.choice((1, 4))]
        yield bytes(data)
        produced += 1
