"""Journals: round trips, truncation at every byte, bit flips in metadata,
hostile records, appending, foreign files, and the raw-stream invariant."""

from __future__ import annotations

import contextlib
import errno
import io
import struct
from pathlib import Path
from typing import Any, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flatstream as fs
import flatstream.journal
from flatstream.journal import JournalState, NotAJournal, sniff
from flatstream.journal import records
from flatstream.journal.layout import footer_frame_len


@fs.table(namespace="jt")
class Tick:
    ts: fs.i64 = 0
    value: fs.f64 = 0.0


def payloads(n: int) -> List[bytes]:
    return [bytes([i % 251]) * (i % 13) + b"#%d" % i for i in range(n)]


def write(path: Path, items: List[bytes], **options: Any) -> None:
    with fs.open(path, "wb", format="journal", **options) as w:
        for item in items:
            w.write_payload(item)


def read(path: Any) -> List[bytes]:
    with fs.open(path, "rb") as r:
        return [bytes(p) for p in r]


@pytest.mark.parametrize("checksum", ["none", "crc16", "crc32", "crc32c", "xxh3_64"])
@pytest.mark.parametrize("compression", [None, "zstd", "lz4"])
def test_round_trip_every_checksum(tmp_path: Path, checksum: str, compression: Any) -> None:
    path = tmp_path / "j.fsj"
    items = payloads(300)
    write(path, items, checksum=checksum, compression=compression, index_every=17,
          metadata={"site": "lab", "n": "300"})
    with fs.open(path, "rb") as r:
        assert r.header.checksum == checksum and r.header.format_version == 1
        assert r.header.metadata == {"site": "lab", "n": "300"}
        assert r.header.compression == (compression or "none")
        assert r.state is JournalState.CLEAN and len(r) == 300
        assert [bytes(p) for p in r] == items
        for i in (0, 1, 16, 17, 150, 299, -1):
            assert bytes(r[i]) == items[i]
        r.seek(250)
        assert bytes(r.read_message()) == items[250]
        assert [len(b) for b in r.iter_batches(100)] == [49]
    assert fs.count(path).frames == 300 == fs.verify(path).frames
    assert fs.count(path).payload_bytes == sum(map(len, items))
    if compression is None:
        index = fs.scan(path)
        assert len(index) == 300
        data = path.read_bytes()
        got = [data[o:o + n] for o, n in zip(index.payload_offsets.tolist(), index.lengths.tolist())]
        assert got == items


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.binary(max_size=40), max_size=60), every=st.integers(1, 9),
       compression=st.sampled_from([None, "zstd", "lz4"]), block=st.integers(1, 200))
def test_round_trip_property(tmp_path: Path, items: List[bytes], every: int, compression: Any,
                             block: int) -> None:
    items = [b"" if i[4:7] == b"FSJ" else i for i in items]
    path = tmp_path / "p.fsj"
    with fs.open(path, "wb", format="journal", compression=compression, index_every=every) as w:
        w.block_size = block
        w.write_many(items)
    assert read(path) == items
    assert fs.count(path).frames == len(items)


def test_uncompressed_journal_is_a_raw_stream(tmp_path: Path) -> None:
    """The Rust-compatibility invariant: the plain StreamReader with the
    journal's checksum reads header + user frames + index frames + footer, and
    the user payloads are byte for byte the ones written."""
    path = tmp_path / "rust.fsj"
    items = payloads(50)
    write(path, items, checksum="crc32", index_every=20)
    with fs.StreamReader(path.read_bytes(), fs.ChecksumDeframer("crc32")) as r:
        frames = [bytes(p) for p in r]
    kinds = [f[4:8] if records.is_metadata(f) else b"user" for f in frames]
    assert kinds[0] == b"FSJH" and kinds[-1] == b"FSJF"
    assert kinds.count(b"FSJI") == 3  # after 20, 40 and the last 10 on close
    assert [f for f in frames if not records.is_metadata(f)] == items


def test_compressed_journal_is_frames_but_not_user_messages(tmp_path: Path) -> None:
    path = tmp_path / "z.fsj"
    write(path, payloads(50), compression="zstd")
    with fs.StreamReader(path.read_bytes(), fs.ChecksumDeframer("xxh3_64")) as r:
        kinds = [bytes(p)[4:8] for p in r]
    assert kinds == [b"FSJH", b"FSJB", b"FSJI", b"FSJF"]


def test_reserved_identifiers_are_refused_on_write(tmp_path: Path) -> None:
    path = tmp_path / "r.fsj"
    with fs.open(path, "wb", format="journal") as w:
        for ident in (b"FSJH", b"FSJI", b"FSJF", b"FSJB", b"FSJZ"):
            with pytest.raises(fs.InvalidFrame, match="reserved"):
                w.write_payload(b"\x08\x00\x00\x00" + ident + b"payload")
        w.write_payload(b"\x08\x00\x00\x00FSKHok")  # not reserved
        w.write_payload(b"FSJH")  # too short to carry an identifier
    assert read(path) == [b"\x08\x00\x00\x00FSKHok", b"FSJH"]


def test_a_copy_of_a_metadata_frame_inside_a_payload_is_user_data(tmp_path: Path) -> None:
    inner = tmp_path / "inner.fsj"
    write(inner, payloads(5))
    outer = tmp_path / "outer.fsj"
    blob = b"xyz" + inner.read_bytes()  # a whole journal inside one user payload
    write(outer, [blob, b"after"])
    assert read(outer) == [blob, b"after"]
    assert fs.count(outer).frames == 2


def test_header_sniffing_and_raw_streams(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    with fs.open(raw, "wb", checksum="xxh3_64") as w:
        w.write_payload(b"hello world")
    with pytest.raises(NotAJournal, match="no journal header") as info:
        fs.open(raw, "rb")
    assert "xxh3_64 (8 bytes)" in str(info.value)
    assert isinstance(info.value, ValueError)
    with fs.open(raw, "rb", checksum="xxh3_64") as r:
        assert [bytes(p) for p in r] == [b"hello world"]
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(NotAJournal):
        fs.open(empty, "rb")


def test_crc32_and_crc32c_are_told_apart_by_the_header(tmp_path: Path) -> None:
    for name in ("crc32", "crc32c"):
        path = tmp_path / f"{name}.fsj"
        write(path, [b"a"], checksum=name)
        assert sniff(path.read_bytes()).checksum.name == name


def test_footer_gives_len_without_a_scan(tmp_path: Path) -> None:
    path = tmp_path / "f.fsj"
    write(path, payloads(100))
    with fs.open(path, "rb") as r:
        assert len(r) == 100
        assert r._layout is None  # no scan happened
    assert footer_frame_len(8) == len(records.encode_footer(records.FooterRecord(9, 9, 9, 9, 9))) + 12


def test_not_closed_is_not_clean(tmp_path: Path) -> None:
    """A cut exactly on a frame boundary is told from a clean close."""
    path = tmp_path / "open.fsj"
    w = fs.open(path, "wb", format="journal", index_every=10)
    w.write_many(payloads(25))
    w.flush()  # the process dies here: no footer
    with fs.open(path, "rb") as r:
        assert r.state is JournalState.OPEN and len(r) == 25
        assert [bytes(p) for p in r] == payloads(25)
    w.close()
    with fs.open(path, "rb") as r:
        assert r.state is JournalState.CLEAN


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_truncation_at_every_byte(tmp_path: Path, compression: Any) -> None:
    """Everything before the cut reads back and is counted, wherever the cut is
    (header, user frame, index, block, footer)."""
    full = tmp_path / "full.fsj"
    items = payloads(12)
    with fs.open(full, "wb", format="journal", checksum="crc32", index_every=4,
                 compression=compression) as w:
        w.block_size = 20
        w.write_many(items)
    data = full.read_bytes()
    with fs.StreamReader(data, fs.ChecksumDeframer("crc32")) as r:
        ends = []
        frames = []
        for payload in r:
            frames.append(bytes(payload))
            ends.append(r.offset)
    header_end = ends[0]
    cut_path = tmp_path / "cut.fsj"
    for cut in range(len(data)):
        cut_path.write_bytes(data[:cut])
        if cut < header_end:
            with pytest.raises(NotAJournal):
                fs.open(cut_path, "rb")
            continue
        # user messages in the complete frames before the cut
        complete = [f for f, e in zip(frames, ends) if e <= cut]
        if compression is None:
            want = [f for f in complete if not records.is_metadata(f)]
        else:
            want = []
            for f in complete:
                if f[4:8] == b"FSJB":
                    from flatstream.journal import blocks

                    rec = records.decode_block(f)
                    want += [bytes(p) for p in blocks.split(blocks.decompress(rec), rec.frame_count)]
        with fs.open(cut_path, "rb") as r:
            assert len(r) == len(want), cut
            assert [bytes(p) for p in r] == want, cut
            assert r.state is (JournalState.CLEAN if cut == len(data) else
                               JournalState.OPEN if cut in ends else JournalState.TORN)
        summary = fs.count(cut_path)
        assert summary.frames == len(want)
        assert (summary.end is fs.RecoveryEnd.TORN_TAIL) == (cut not in ends), cut


@pytest.mark.parametrize("checksum", ["crc16", "crc32", "xxh3_64"])
def test_bit_flips_in_metadata_are_detected(tmp_path: Path, checksum: str) -> None:
    """A single flipped bit in any metadata frame (header, index, footer)
    raises, or leaves every answer right: never a silent wrong count."""
    path = tmp_path / "m.fsj"
    items = payloads(20)
    write(path, items, checksum=checksum, index_every=7, metadata={"k": "v"})
    data = path.read_bytes()
    with fs.StreamReader(data, fs.ChecksumDeframer(checksum)) as r:
        spans = []
        for payload in r:
            if records.is_metadata(payload):
                spans.append((r.frame_offset, r.offset))
    flipped = tmp_path / "flipped.fsj"
    for start, end in spans:
        for byte in range(start, end):
            for bit in (0, 5):
                bad = bytearray(data)
                bad[byte] ^= 1 << bit
                flipped.write_bytes(bytes(bad))
                try:
                    with fs.open(flipped, "rb") as r:
                        n = len(r)
                        got = [bytes(p) for p in r]
                    counted = fs.count(flipped).frames
                except fs.FlatstreamError:
                    continue
                assert (n, got, counted) == (20, items, 20), (byte, bit)


def _frame(payload: bytes, checksum: str = "xxh3_64") -> bytes:
    return fs.Framer(checksum).frame(payload)


def test_hostile_records() -> None:
    header = records.encode_header(records.HeaderRecord(metadata={"a": "b"}))
    good = _frame(header)
    assert sniff(good).header.metadata == {"a": "b"}
    # every byte of the header payload overwritten with hostile values: a
    # clear error or a valid header, never another exception
    for at in range(len(header)):
        for value in (0x00, 0x7F, 0xFF):
            bad = bytearray(header)
            bad[at] = value
            try:
                records.decode_header(bytes(bad))
            except fs.InvalidFrame:
                pass
    block = bytearray(records.encode_block(1, 0, 1, 5, b"abc"))
    at = bytes(block).index(b"\x03\x00\x00\x00abc")  # the data vector's length
    block[at:at + 4] = b"\xff\xff\xff\xff"
    with pytest.raises(fs.InvalidFrame, match="runs past"):
        records.decode_block(bytes(block))
    with pytest.raises(fs.InvalidFrame):
        records.decode_header(b"\x00" * 3)
    with pytest.raises(fs.InvalidFrame, match="version"):
        records.decode_header(records.encode_header(records.HeaderRecord(format_version=7)))
    from flatstream.journal import blocks

    bomb = records.BlockRecord(1, 0, 1, 1 << 40, memoryview(b"x"))
    with pytest.raises(fs.InvalidFrame, match="limit"):
        blocks.decompress(bomb)
    import zstandard

    small = zstandard.ZstdCompressor().compress(b"\x00" * 100000)
    with pytest.raises(fs.InvalidFrame):
        blocks.decompress(records.BlockRecord(1, 0, 1, 100, memoryview(small)))
    with pytest.raises(fs.InvalidFrame):
        blocks.split(b"\x05\x00\x00\x00ab", 1)
    with pytest.raises(fs.InvalidFrame):
        blocks.split(b"\x00\x00\x00\x00" * 3, 2)


def test_hostile_index_frames(tmp_path: Path) -> None:
    """Index frames that lie about where they are or what they cover, with a
    valid checksum: InvalidFrame, not a wrong answer."""
    head = _frame(records.encode_header(records.HeaderRecord()))
    user = _frame(b"user")
    cases = [
        records.IndexRecord(999, records.NO_OFFSET, 0, 1, len(head), 4),  # wrong self_offset
        records.IndexRecord(len(head) + len(user), records.NO_OFFSET, 0, 5, len(head), 4),  # count
        records.IndexRecord(len(head) + len(user), records.NO_OFFSET, 1 << 63, 1, 0, 4),  # absurd
    ]
    path = tmp_path / "h.fsj"
    for record in cases:
        path.write_bytes(head + user + _frame(records.encode_index(record)))
        with fs.open(path, "rb") as r:
            with pytest.raises(fs.InvalidFrame):
                len(r)
        with pytest.raises(fs.InvalidFrame):
            fs.count(path)


def test_key_index_and_embedded_schema(tmp_path: Path) -> None:
    path = tmp_path / "k.fsj"
    codec = fs.codec(Tick)
    ticks = [Tick(ts=(i * 7919) % 1000, value=i / 2) for i in range(200)]
    with fs.open(path, "wb", format="journal", schema=Tick, key="ts", index_every=16) as w:
        for t in ticks:
            w.write(t)
    with fs.open(path, "rb") as r:
        assert r.header.root_type == "jt.Tick"
        assert r.header.schema is not None
        decoded = list(r.typed_messages())
        assert [(d.ts, d.value) for d in decoded] == [(t.ts, t.value) for t in ticks]
        assert r.key_range() == (min(t.ts for t in ticks), max(t.ts for t in ticks))
        for target in (0, 1, 500, 998, 999, 1000):
            want = next((i for i, t in enumerate(ticks) if t.ts >= target), len(ticks))
            assert r.seek_key(target) == want
            if want < len(ticks):
                assert codec.decode(r.read_message()).ts == ticks[want].ts
    with fs.open(path, "ab") as w:  # the key index continues
        w.write(Tick(ts=5000, value=0.0))
    with fs.open(path, "rb") as r:
        assert r.seek_key(4000) == 200 and r.key_range()[1] == 5000


def test_seek_key_needs_a_key(tmp_path: Path) -> None:
    path = tmp_path / "nokey.fsj"
    write(path, [b"a"])
    with fs.open(path, "rb") as r:
        with pytest.raises(fs.FlatstreamError, match="no key"):
            r.seek_key(1)
        with pytest.raises(fs.FlatstreamError, match="no embedded schema"):
            list(r.typed_messages())


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_append_continues_and_repairs(tmp_path: Path, compression: Any) -> None:
    path = tmp_path / "a.fsj"
    items = payloads(30)
    write(path, items[:10], index_every=4, compression=compression)
    with fs.open(path, "ab") as w:  # a cleanly closed journal continues
        assert w.repaired is None
        w.write_many(items[10:20])
    assert read(path) == items[:20]
    data = path.read_bytes()
    path.write_bytes(data[:-3])  # torn inside the footer
    with fs.open(path, "ab") as w:
        assert isinstance(w.repaired, fs.RecoveryReport)
        assert w.repaired.end is fs.RecoveryEnd.TORN_TAIL
        w.write_many(items[20:])
    with fs.open(path, "rb") as r:
        assert [bytes(p) for p in r] == items and r.state is JournalState.CLEAN
        assert len(r) == 30
    assert fs.verify(path).frames == 30


def test_append_refuses_foreign_files_untouched(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_bytes(b"this is not a flatstream file at all\n")
    before = text.read_bytes()
    with pytest.raises(fs.InvalidFrame, match="untouched"):
        fs.open(text, "ab")
    with pytest.raises(fs.FlatstreamError):
        fs.open(text, "ab", checksum="xxh3_64")
    assert text.read_bytes() == before
    journal = tmp_path / "j.fsj"
    write(journal, [b"x"], checksum="crc32")
    before = journal.read_bytes()
    with pytest.raises(ValueError, match="header says 'crc32'"):
        fs.open(journal, "ab", checksum="xxh3_64")
    assert journal.read_bytes() == before
    # corruption (not a torn tail) refuses the append
    bad = bytearray(before)
    bad[-1] ^= 1
    journal.write_bytes(bytes(bad))
    with pytest.raises(fs.ChecksumMismatch):
        fs.open(journal, "ab")
    assert journal.read_bytes() == bytes(bad)


def test_append_to_a_raw_stream_with_checksum(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    with fs.open(raw, "wb", checksum="crc32") as w:
        w.write_many([b"one", b"two"])
    raw.write_bytes(raw.read_bytes()[:-1])  # torn
    with fs.open(raw, "ab", checksum="crc32") as w:
        assert w.repaired is not None and w.repaired.frames == 1
        w.write_payload(b"three")
    with fs.open(raw, "rb", checksum="crc32") as r:
        assert [bytes(p) for p in r] == [b"one", b"three"]


def test_recover_on_a_journal_needs_no_checksum(tmp_path: Path) -> None:
    path = tmp_path / "rec.fsj"
    write(path, payloads(10), checksum="crc16", index_every=3)
    data = path.read_bytes()
    path.write_bytes(data[:-2])
    with open(path, "rb") as f:
        report = fs.recover_file(f)
    assert report.end is fs.RecoveryEnd.TORN_TAIL
    assert report.last_good_offset == len(data) - footer_frame_len(2)


def test_options_need_format_journal(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="format='journal'"):
        fs.open(tmp_path / "x", "wb", compression="zstd")
    with pytest.raises(ValueError, match="format"):
        fs.open(tmp_path / "x", "wb", format="zip")
    with pytest.raises(ValueError, match="compression"):
        fs.open(tmp_path / "x", "wb", format="journal", compression="brotli")
    with pytest.raises(ValueError, match="key"):
        fs.open(tmp_path / "x", "wb", format="journal", key="ts")


def test_info_cli(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from flatstream.cli import main

    path = tmp_path / "i.fsj"
    write(path, payloads(40), compression="zstd", metadata={"who": "me"})
    result = CliRunner().invoke(main, ["info", "--json", str(path)])
    assert result.exit_code == 0, result.output
    fields = json.loads(result.output)
    assert fields["frames"] == 40 and fields["state"] == "clean"
    assert fields["metadata"] == {"who": "me"} and fields["compression"] == "zstd"
    path.write_bytes(path.read_bytes()[:-1])
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 2 and "torn" in result.output
    raw = tmp_path / "raw.bin"
    raw.write_bytes(struct.pack("<I", 1) + b"a")
    result = CliRunner().invoke(main, ["info", str(raw)])
    assert result.exit_code == 1 and "no journal header" in result.output


def test_unclosed_journal_counts_from_the_last_index(tmp_path: Path) -> None:
    path = tmp_path / "u.fsj"
    items = payloads(50)
    w = fs.open(path, "wb", format="journal", index_every=8)
    w.write_many(items)
    w.flush()
    data = path.read_bytes()
    w.close()
    path.write_bytes(data[:-2])  # torn inside the last user frame
    with fs.open(path, "rb") as r:
        assert len(r) == 49 and r._layout is None  # the index and a tail scan, no full scan
        assert [bytes(p) for p in r] == items[:49]
    summary = fs.count(path)
    assert (summary.frames, summary.payload_bytes) == (49, sum(map(len, items[:49])))
    assert summary.end is fs.RecoveryEnd.TORN_TAIL
    with pytest.raises(fs.UnexpectedEof) as torn:
        fs.verify(path)
    assert (torn.value.offset, torn.value.frame_index) == (summary.end_offset, summary.frames)
    assert fs.verify(path, allow_torn_tail=True) == summary


def test_a_damaged_length_before_the_last_index_is_corruption(tmp_path: Path) -> None:
    """A length that runs past the end is a torn tail only if nothing intact
    follows: with an index frame after it, reading raises instead of
    silently losing the frames behind it."""
    path = tmp_path / "d.fsj"
    w = fs.open(path, "wb", format="journal", checksum="crc32", index_every=8)
    w.write_many(payloads(40))
    w.flush()
    data = bytearray(path.read_bytes())
    w.close()
    header_len = fs.journal.sniff(bytes(data)).header_end
    data[header_len + 3] = 0x7F  # the first user frame now declares ~2 GiB
    path.write_bytes(bytes(data))
    with fs.open(path, "rb") as r:
        assert len(r) == 40  # from the intact last index
        with pytest.raises(fs.InvalidFrame, match="corruption"):
            list(r)


def test_hostile_index_chain(tmp_path: Path) -> None:
    from flatstream.journal.layout import chain_payload_bytes

    head = _frame(records.encode_header(records.HeaderRecord()))
    user = _frame(b"user")
    at = len(head) + len(user)
    loop = records.IndexRecord(at, at, 0, 1, len(head), 4)  # points at itself
    path = tmp_path / "loop.fsj"
    path.write_bytes(head + user + _frame(records.encode_index(loop)))
    with pytest.raises(fs.InvalidFrame, match="backwards"):
        chain_payload_bytes(path.read_bytes(), fs.Xxh3_64, loop)
    with pytest.raises(fs.InvalidFrame):
        fs.count(path)


def test_ab_with_format_journal_starts_a_new_journal(tmp_path: Path) -> None:
    path = tmp_path / "new.fsj"
    with fs.open(path, "ab", format="journal", checksum="crc32", metadata={"a": "1"}) as w:
        w.write_payload(b"first")
    with fs.open(path, "ab") as w:
        w.write_payload(b"second")
    with fs.open(path, "rb") as r:
        assert r.header.checksum == "crc32" and r.header.metadata == {"a": "1"}
        assert [bytes(p) for p in r] == [b"first", b"second"]
    with pytest.raises(TypeError, match="when a journal is created"):
        fs.open(path, "ab", metadata={"b": "2"})


@pytest.mark.parametrize("index_every, index_every_bytes", [(7, 10**9), (1000, 300), (5, 120), (1, 1)])
def test_write_many_lays_out_the_file_as_one_write_per_item(
    tmp_path: Path, index_every: int, index_every_bytes: int
) -> None:
    items = [bytes([i % 251]) * (i % 23) for i in range(200)]
    batched, looped = tmp_path / "batched.fsj", tmp_path / "looped.fsj"
    options = dict(format="journal", checksum="crc32", index_every=index_every)
    with fs.open(batched, "wb", **options) as w:
        w.index_every_bytes = index_every_bytes
        assert w.write_many(items[:150]) == 150
        w.write_many(items[150:])
    with fs.open(looped, "wb", **options) as w:
        w.index_every_bytes = index_every_bytes
        for item in items:
            w.write(item)
    with fs.open(batched, "rb") as a, fs.open(looped, "rb") as b:
        start = a.header_end
        assert start == b.header_end
        # the same frames after the header (whose creation time differs)
        assert batched.read_bytes()[start:] == looped.read_bytes()[start:]
        assert [bytes(p) for p in a] == items
        assert len(a.layout().indexes) == len(b.layout().indexes) > 0


def test_write_many_refuses_a_reserved_identifier_before_writing_any(tmp_path: Path) -> None:
    path = tmp_path / "j.fsj"
    with fs.open(path, "wb", format="journal") as w:
        bad = b"\x08\x00\x00\x00FSJI" + bytes(8)
        with pytest.raises(fs.InvalidFrame, match="reserved"):
            w.write_many([b"fine"] * 10 + [bad])
        assert w.frames_written == 0
        w.write_many([b"fine"])
    with fs.open(path, "rb") as r:
        assert [bytes(p) for p in r] == [b"fine"]


def test_a_compressed_journal_reads_by_chunk_in_order_and_at_random(tmp_path: Path) -> None:
    # 300 KiB of payloads: blocks of 1 MiB hold several 64 KiB chunks
    items = [bytes([i % 256]) * (100 + i % 900) for i in range(600)]
    path = tmp_path / "z.fsj"
    with fs.open(path, "wb", format="journal", compression="zstd") as w:
        w.write_many(items)
    with fs.open(path, "rb") as r:
        layout = r.layout()
        record, chunks, _ = r._chunk_table(0)
        assert len(chunks) > 3 and sum(c[1] for c in chunks) == record.frame_count
        assert [bytes(p) for p in r] == items
        for i in (599, 0, 300, 301, 17, 598):
            assert bytes(r[i]) == items[i]
        r.seek(250)
        got = []
        for payload in r:
            got.append(bytes(payload))
            if len(got) == 5:
                r.seek(590)  # a seek during iteration is honoured
        assert got == items[250:255] + items[590:]
        assert len(layout.blocks) == 1


def test_damaged_chunk_tables_are_invalid_frames() -> None:
    from flatstream.journal import blocks
    from flatstream.journal.records import BlockRecord

    good = BlockRecord(1, 0, 3, 30, b"x" * 10, (1, 2), (4, 6), (10, 20))
    assert [c[:2] for c in blocks.chunks_of(good)] == [(0, 1), (1, 2)]
    for bad in (
        BlockRecord(1, 0, 3, 30, b"x" * 10, (1, 2), (4, 6), (10,)),  # lengths differ
        BlockRecord(1, 0, 4, 30, b"x" * 10, (1, 2), (4, 6), (10, 20)),  # frames disagree
        BlockRecord(1, 0, 3, 30, b"x" * 11, (1, 2), (4, 6), (10, 20)),  # sizes disagree
        BlockRecord(1, 0, 3, 31, b"x" * 10, (1, 2), (4, 6), (10, 20)),  # raw sizes disagree
    ):
        with pytest.raises(fs.InvalidFrame):
            blocks.chunks_of(bad)
    with pytest.raises(fs.InvalidFrame, match="over the limit"):
        blocks.chunks_of(good, limit=29)


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
@pytest.mark.parametrize("block_size", [1 << 20, 5000, 1])
def test_write_many_into_blocks_is_the_same_file_as_one_write_per_item(
    tmp_path: Path, compression: str, block_size: int
) -> None:
    from flatstream.journal import JournalWriter

    # 200 KiB of payloads: several 64 KiB chunks per 1 MiB block
    items = [bytes([i % 251]) * (i * 37 % 1500) for i in range(300)]
    files = []
    for batched in (True, False):
        path = tmp_path / f"{batched}.fsj"
        with open(path, "wb") as f:
            w = JournalWriter(f, checksum="crc32", compression=compression, block_size=block_size,
                              index_every=50, close_file=False)
            if batched:
                w.write_many(items[:120])
                w.write_many(items[120:])
            else:
                for item in items:
                    w.write_payload(item)
            w.close()
        files.append(path)
    with fs.open(files[0], "rb") as a:
        start = a.header_end
        assert [bytes(p) for p in a] == items
        assert len(a.layout().blocks) >= (2 if block_size < 1 << 20 else 1)
    assert files[0].read_bytes()[start:] == files[1].read_bytes()[start:]


class _FullDisk(io.RawIOBase):
    """A real file that holds ``room`` bytes, then refuses with ENOSPC (a
    write that does not fit is taken in part, as a filling disk does)."""

    def __init__(self, path: Path, room: int) -> None:
        self.file = open(path, "wb")
        self.room = room
        self.refused = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        left = self.room - self.file.tell()
        if left <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(bytes(data)[:left])

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()
        super().close()


def test_a_full_disk_stops_the_journal_and_leaves_only_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "full.fsj"
    disk = _FullDisk(path, room=3000)
    w = fs.journal.JournalWriter(io.BufferedWriter(disk, 256), checksum="crc32")
    with pytest.raises(OSError) as raised:
        for i in range(10_000):
            w.write_payload(b"event %05d" % i)
    assert raised.value.errno == errno.ENOSPC and w.failed is raised.value
    with pytest.raises(ValueError, match="stopped after a failed write"):
        w.write_payload(b"more")  # nothing follows a frame that may be torn
    refused = disk.refused
    with contextlib.suppress(OSError):
        w.close()  # no index, no footer; the buffered rest still does not fit
    assert disk.refused <= refused + 1
    assert path.stat().st_size == 3000
    with fs.open(path, "ab") as repaired:  # room again: cut the torn tail, go on
        assert repaired.repaired is not None
        kept = repaired.frames_written
        repaired.write_payload(b"after the disk had room")
    with fs.open(path, "rb") as r:
        got = [bytes(p) for p in r]
    assert got == [b"event %05d" % i for i in range(kept)] + [b"after the disk had room"]


@pytest.mark.parametrize("index_every, index_every_bytes", [(7, 1 << 20), (4096, 300), (5, 200), (1, 1)])
def test_write_many_writes_the_bytes_of_one_by_one(index_every: int, index_every_bytes: int) -> None:
    import random

    rng = random.Random(index_every * 31 + index_every_bytes)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(0, 90))) for _ in range(300)]

    def journal(batched: bool) -> bytes:
        sink = io.BytesIO()
        w = fs.journal.JournalWriter(sink, checksum="crc32", index_every=index_every,
                                     index_every_bytes=index_every_bytes, close_file=False)
        w.write_payload(payloads[0])
        for k in range(1, 300, 37):
            chunk = payloads[k:k + 37]
            if batched:
                assert w.write_many(chunk) == len(chunk)
            else:
                for p in chunk:
                    w.write_payload(p)
        w.close()
        data = sink.getvalue()
        # the header's creation time differs between the two: compare what follows it
        return data[fs.journal.sniff(data).header_end:]

    assert journal(True) == journal(False)


def test_write_many_refuses_before_writing_any_of_the_batch() -> None:
    sink = io.BytesIO()
    w = fs.journal.JournalWriter(sink, close_file=False)
    before = sink.getvalue()
    with pytest.raises(fs.InvalidFrame, match="reserved"):
        w.write_many([b"good", b"\x08\x00\x00\x00FSJIxxxx"])
    w.flush()
    assert sink.getvalue() == before and w.frames_written == 0
