"""Salvage: every frame that no damage touched survives, in both kernel modes."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, List, Set

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flatstream as fs

FRAMES = 60


def stream(checksum: str, frames: int = FRAMES) -> "tuple[bytes, List[bytes], List[int]]":
    payloads = [struct.pack("<QI", i, i * 3) + bytes([i % 7]) * (i % 5) for i in range(frames)]
    out = io.BytesIO()
    with fs.StreamWriter(out, fs.ChecksumFramer(checksum)) as w:
        w.write_many(payloads)
        data = out.getvalue()
    header = 4 + fs.resolve_checksum(checksum).width
    starts, at = [], 0
    for p in payloads:
        starts.append(at)
        at += header + len(p)
    return data, payloads, starts


def untouched(payloads: List[bytes], starts: List[int], header: int, hit: Set[int]) -> List[bytes]:
    return [
        p for p, s in zip(payloads, starts)
        if not any(s <= h < s + header + len(p) for h in hit)
    ]


def salvaged(data: bytes, checksum: str) -> "tuple[fs.SalvageReport, List[bytes]]":
    out = io.BytesIO()
    report = fs.salvage(data, out, checksum=checksum)
    kept = [bytes(p) for p in fs.StreamReader(out.getvalue(), fs.ChecksumDeframer(checksum))]
    return report, kept


@pytest.mark.parametrize("checksum", ["crc32", "xxh3_64"])
def test_one_flipped_byte_anywhere_costs_only_its_frame(checksum: str) -> None:
    data, payloads, starts = stream(checksum, 24)
    header = 4 + fs.resolve_checksum(checksum).width
    for at in range(len(data)):
        damaged = bytearray(data)
        damaged[at] ^= 0x5A
        report, kept = salvaged(bytes(damaged), checksum)
        expected = untouched(payloads, starts, header, {at})
        assert kept == expected, at
        assert report.frames == len(expected)
        assert report.bytes_lost == sum(b - a for a, b in report.skipped) > 0


@settings(max_examples=60, deadline=None)
@given(hits=st.sets(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12),
       seed=st.integers(1, 255))
def test_random_damage_keeps_every_frame_it_missed(hits: Set[int], seed: int) -> None:
    data, payloads, starts = stream("xxh3_64")
    header = 12
    hit = {h % len(data) for h in hits}
    damaged = bytearray(data)
    for h in hit:
        damaged[h] ^= seed
    report, kept = salvaged(bytes(damaged), "xxh3_64")
    missed = untouched(payloads, starts, header, hit)
    # the brute-force oracle of the salvage fuzz target says exactly what survives
    frames, skipped, _ = salvage_oracle().oracle(bytes(damaged), fs.resolve_checksum("xxh3_64"), 1 << 31)
    assert kept == [bytes(damaged[a + header:a + header + n]) for a, n in frames]
    assert report.skipped == skipped and report.frames == len(kept)
    # every frame kept is an undamaged one, in order; an undamaged frame is
    # lost only beside damage (after a damaged length, before more damage)
    assert [p for p in missed if p in kept] == kept
    assert len(missed) - len(kept) <= len(hit)


def salvage_oracle() -> Any:
    import importlib
    import sys

    fuzz_dir = str(Path(__file__).resolve().parent.parent / "fuzz" / "python")
    sys.path.insert(0, fuzz_dir)
    saved = sys.modules.get("atheris")
    sys.modules["atheris"] = None  # type: ignore[assignment]  # the oracle needs no atheris
    try:
        return importlib.import_module("fuzz_salvage")
    finally:
        sys.path.remove(fuzz_dir)
        if saved is None:
            sys.modules.pop("atheris", None)
        else:
            sys.modules["atheris"] = saved


def test_a_clean_stream_is_copied_whole(tmp_path: Path) -> None:
    data, payloads, _ = stream("crc32c")
    src, dst = tmp_path / "src.fs", tmp_path / "dst.fs"
    src.write_bytes(data)
    report = fs.salvage(src, dst, checksum="crc32c")
    assert report == (FRAMES, [], 0)
    assert dst.read_bytes() == data == src.read_bytes()
    with pytest.raises(FileExistsError):  # never over an existing file
        fs.salvage(src, dst, checksum="crc32c")


def test_a_torn_tail_is_skipped_and_reported() -> None:
    data, payloads, starts = stream("xxh3_64")
    report, kept = salvaged(data[:-3], "xxh3_64")
    assert kept == payloads[:-1]
    assert report.skipped == [(starts[-1], len(data) - 3)]


def test_without_a_checksum_salvage_refuses() -> None:
    data, _, _ = stream("none")
    with pytest.raises(ValueError, match="checksum"):
        fs.salvage(data)
    with pytest.raises(ValueError, match="resync"):
        fs.salvage(data, checksum="none")


def test_the_reader_reads_through_damage_with_on_corruption_skip(tmp_path: Path) -> None:
    data, payloads, starts = stream("crc32")
    damaged = bytearray(data)
    for frame in (3, 4, 40):
        damaged[starts[frame] + 9] ^= 0xFF
    path = tmp_path / "d.fs"
    path.write_bytes(bytes(damaged))
    skips: list = []
    with fs.open(path, "rb", checksum="crc32", on_corruption="skip", on_skip=lambda a, b: skips.append((a, b))) as r:
        kept = [bytes(p) for p in r]
    expected = [p for i, p in enumerate(payloads) if i not in (3, 4, 40)]
    assert kept == expected
    assert skips == [(starts[3], starts[5]), (starts[40], starts[41])]
    batches = fs.StreamReader(bytes(damaged), fs.ChecksumDeframer("crc32"), on_corruption="skip")
    assert [bytes(p) for batch in batches.iter_batches(7) for p in batch] == expected
    with pytest.raises(fs.ChecksumMismatch):  # the default still raises
        list(fs.StreamReader(bytes(damaged), fs.ChecksumDeframer("crc32")))


def test_skipping_still_raises_on_a_torn_tail() -> None:
    data, payloads, _ = stream("xxh3_64")
    reader = fs.StreamReader(data[:-2], fs.ChecksumDeframer("xxh3_64"), on_corruption="skip")
    got = []
    with pytest.raises(fs.UnexpectedEof):
        for p in reader:
            got.append(bytes(p))
    assert got == payloads[:-1]


def test_skipping_needs_bytes_in_place() -> None:
    class Pipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

    with pytest.raises(ValueError, match="searched ahead"):
        fs.StreamReader(Pipe(), fs.ChecksumDeframer("crc32"), on_corruption="skip")
    with pytest.raises(ValueError, match="checksum"):
        fs.StreamReader(b"", fs.DefaultDeframer(), on_corruption="skip")


def test_cli_salvage(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from flatstream.cli import main

    data, payloads, starts = stream("xxh3_64")
    damaged = bytearray(data)
    damaged[starts[10] + 2] ^= 0xFF
    src, dst = tmp_path / "src.fs", tmp_path / "dst.fs"
    src.write_bytes(bytes(damaged))
    result = CliRunner().invoke(main, ["salvage", str(src), str(dst), "-c", "xxh3_64"])
    assert result.exit_code == 1, result.output  # damage was found
    assert f"{FRAMES - 1} frames kept" in result.output and "1 damaged range" in result.output
    assert fs.verify(dst, "xxh3_64").frames == FRAMES - 1
    result = CliRunner().invoke(main, ["salvage", str(src), str(tmp_path / "x.fs")])
    assert result.exit_code == 3 and "checksum" in result.output


def _journal(tmp_path: Path, compression: "str | None") -> "tuple[bytes, List[bytes]]":
    payloads = [struct.pack("<QI", i, i * 3) + bytes([i % 7]) * (i % 5) for i in range(40)]
    path = tmp_path / f"j-{compression}.fsj"
    with fs.open(path, "wb", format="journal", checksum="crc32c", compression=compression,
                 index_every=8) as w:
        for p in payloads:
            w.write_payload(p)
    return path.read_bytes(), payloads


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_a_journal_reads_through_damage_at_every_byte_with_on_corruption_skip(
    tmp_path: Path, compression: "str | None"
) -> None:
    data, payloads = _journal(tmp_path, compression)
    frames = fs.scan(data, "crc32c")  # every raw frame: header, blocks, index, footer, user
    starts = frames.offsets.tolist()
    ends = (frames.offsets + frames.header_len + frames.lengths).tolist()
    with fs.open(tmp_path / f"j-{compression}.fsj", "rb") as r:
        header_end = r.header_end
        # the user messages each raw frame carries (a block carries several)
        carried: List[List[bytes]] = []
        layout = r.layout()
        user = {int(o) - frames.header_len for o in layout.user_offsets}
        block_of = {b.offset: b for b in layout.blocks}
        for start in starts:
            if start in user:
                carried.append([payloads[len([u for u in user if u < start])]])
            elif start in block_of:
                b = block_of[start]
                carried.append(payloads[b.first_frame:b.first_frame + b.frame_count])
            else:
                carried.append([])
    path = tmp_path / "damaged.fsj"
    for pos in range(header_end, len(data)):
        damaged = bytearray(data)
        damaged[pos] ^= 0x5A
        path.write_bytes(bytes(damaged))
        expected = [p for s, e, msgs in zip(starts, ends, carried) if not s <= pos < e for p in msgs]
        hit = next(k for k, (s, e) in enumerate(zip(starts, ends)) if s <= pos < e)
        skips: List[tuple] = []
        with fs.open(path, "rb", on_corruption="skip", on_skip=lambda a, b: skips.append((a, b))) as r:
            assert len(r) == len(expected), pos
            assert [bytes(p) for p in r] == expected, pos
            if expected:
                assert [bytes(r[i]) for i in (0, len(r) - 1)] == [expected[0], expected[-1]]
            assert skips == r.skipped
            if skips:  # the damaged frame is skipped, to the next frame that verifies (or the end)
                assert len(skips) == 1 and skips[0][0] == starts[hit], (pos, skips)
                assert skips[0][1] == (starts[hit + 1] if hit + 1 < len(starts) else len(data)), pos
            else:  # a damaged length in the last frame makes it run past the end: a torn tail
                assert hit == len(starts) - 1 and r.layout().torn, pos
        if skips:
            with pytest.raises(fs.FlatstreamError):  # without skip, damage is an error
                with fs.open(path, "rb") as r:
                    list(r)
                    r.layout()
