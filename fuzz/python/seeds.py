"""Seed inputs for the atheris targets: well-formed streams and FlatBuffers,
and the damaged variants the fuzzer should start near (torn, over-limit,
flipped bytes). scripts/fuzz.sh writes them into an empty corpus;
tests/test_fuzz_targets.py runs every target on them.

    python fuzz/python/seeds.py TARGET CORPUS_DIR
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import List

import flatbuffers

import flatstream as fs

CHECKSUM_NAMES = ("none", "crc16", "crc32", "crc32c", "xxh3_64")


def _flatbuffer(fields: int, text: str) -> bytes:
    builder = flatbuffers.Builder(64)
    name = builder.CreateString(text)
    builder.StartObject(fields + 1)
    builder.PrependUOffsetTRelativeSlot(0, name, 0)
    for slot in range(1, fields + 1):
        builder.PrependUint32Slot(slot, slot * 7, 0)
    builder.Finish(builder.EndObject())
    return bytes(builder.Output())


FLATBUFFERS: List[bytes] = [_flatbuffer(n, "x" * n) for n in range(4)]


def _stream_header(choice: int, limit_kind: int, flags: int, flags_size: int) -> bytes:
    """The parameter bytes the decoder and recover targets read first:
    checksum choice, custom width, limit kind, one chunk size, flags."""
    limit = ([0], [1], [2, 20])[limit_kind % 3]  # 2 GiB, 2**32-1, 20 bytes
    sizes = [1, 1, 3 + choice]  # two chunk sizes
    return bytes([choice, 3, *limit, *sizes]) + flags.to_bytes(flags_size, "little")


def _streams() -> List[bytes]:
    out = []
    for payloads in ([], [b""], [b"abc"], [b"hello", b"", b"world!" * 5], FLATBUFFERS):
        out.append(payloads)
    return out


def stream_seeds(flags_size: int) -> List[bytes]:
    seeds = []
    for choice in range(len(CHECKSUM_NAMES) + 1):
        if choice < len(CHECKSUM_NAMES):
            framer = fs.ChecksumFramer(CHECKSUM_NAMES[choice])
        else:
            framer = fs.ChecksumFramer(_custom_width_4())
        for i, payloads in enumerate(_streams()):
            good = framer.frame_many(payloads)
            flags = (i * 37) & (0xFFFF if flags_size == 2 else 0xFF)
            head = _stream_header(choice, i, flags, flags_size)
            seeds.append(head + good)
            if good:
                seeds.append(head + good[:-1])  # torn tail
                flipped = bytearray(good)
                flipped[-1] ^= 0x40
                seeds.append(head + bytes(flipped))  # checksum mismatch (or a changed payload)
            seeds.append(head + good + b"\xff\xff\xff\x7f" + bytes(8))  # over-limit length
    return seeds


def _custom_width_4() -> object:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fuzz_common import MaskedAdler

    return MaskedAdler(4)


def validator_seeds() -> List[bytes]:
    seeds = [bytes([i % 3]) + fb for i, fb in enumerate(FLATBUFFERS)]
    seeds += [b"", b"\x00", b"\x00\x04\x00\x00\x00", b"\x01" + bytes(12)]
    for fb in FLATBUFFERS:
        for i in range(0, len(fb), 3):
            damaged = bytearray(fb)
            damaged[i] ^= 0x81
            seeds.append(b"\x02" + bytes(damaged))
        seeds.append(b"\x00" + fb[: len(fb) // 2])
    return seeds


def seeds_for(target: str) -> List[bytes]:
    if target == "decoder":
        return stream_seeds(flags_size=2)
    if target == "recover":
        return stream_seeds(flags_size=1)
    if target == "validator":
        return validator_seeds()
    if target == "codec":
        # Buffers made by the target's own codecs (its schemas live there).
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from fuzz_codec import seeds

        return seeds()
    if target == "journal":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from fuzz_journal import seeds as journal_seeds

        return journal_seeds()
    if target == "salvage":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from fuzz_salvage import seeds as salvage_seeds

        return salvage_seeds()
    if target == "columns":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from fuzz_columns import seeds as columnar_seeds

        return columnar_seeds()
    raise SystemExit(f"no seeds for target {target!r}")


def main() -> None:
    target, corpus = sys.argv[1], sys.argv[2]
    os.makedirs(corpus, exist_ok=True)
    seeds = seeds_for(target)
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        with open(os.path.join(corpus, name), "wb") as f:
            f.write(seed)
    print(f"wrote {len(seeds)} seeds for {target} into {corpus}")


if __name__ == "__main__":
    main()
