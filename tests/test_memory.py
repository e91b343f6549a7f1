"""Memory policies: their decisions, and what they do to the writer's builder
and the reader's buffer (a reclaim never invalidates a payload handed out)."""

from __future__ import annotations

import io
from typing import Any, List, Optional

import numpy as np
import pytest
from flatbuffers.table import Table
from helpers import CustomChecksum, TrickleSource, read_all, reference_stream

import flatstream as fs
from flatstream.io import memory

Reason = fs.ReclamationReason


def _decisions(policy: fs.MemoryPolicy, calls: List[Any]) -> List[Optional[Reason]]:
    return [policy.should_reset(size, capacity) for size, capacity in calls]


def test_noop_policy_never_resets() -> None:
    policy = fs.NoOpPolicy()
    assert _decisions(policy, [(1, 1 << 30)] * 100) == [None] * 100


def test_adaptive_watermark_counts_messages_in_a_row() -> None:
    policy = fs.AdaptiveWatermarkPolicy(shrink_multiple=4, messages_to_wait=3)
    over, under = (10, 40), (10, 39)
    assert _decisions(policy, [over, over, over]) == [None, None, Reason.MESSAGE_COUNT]
    # the count starts again after a reset, and after any message that fills the buffer
    assert _decisions(policy, [over, over, under, over, over, over]) == [
        None, None, None, None, None, Reason.MESSAGE_COUNT
    ]
    # an empty message says nothing either way: it resets the count
    assert _decisions(policy, [over, over, (0, 1000), over, over]) == [None] * 5


def test_adaptive_watermark_cooldown(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(memory.time, "monotonic", lambda: clock[0])
    policy = fs.AdaptiveWatermarkPolicy(shrink_multiple=2, messages_to_wait=1000, cooldown=5.0)

    def at(t: float, size: int = 10, capacity: int = 100) -> Optional[Reason]:
        clock[0] = t
        return policy.should_reset(size, capacity)

    assert [at(100), at(103), at(104.9)] == [None, None, None]
    assert at(105) is Reason.TIME_COOLDOWN
    assert at(106) is None  # the cooldown starts again from the reset
    assert at(107, capacity=10) is None  # not over: the timer stops
    assert [at(108), at(112.9), at(113)] == [None, None, Reason.TIME_COOLDOWN]


def test_size_threshold_needs_a_large_message_then_small_ones() -> None:
    policy = fs.SizeThresholdPolicy(grow_above_bytes=1000, shrink_below_bytes=100, messages_to_wait=2)
    small, medium, large = (10, 0), (500, 0), (1001, 0)
    assert _decisions(policy, [small, small, small]) == [None, None, None]
    assert _decisions(policy, [large, small, medium, small, small]) == [
        None, None, None, None, Reason.SIZE_THRESHOLD
    ]
    assert _decisions(policy, [small, small]) == [None, None]  # needs another large one


def test_on_reclaim_hook_and_override() -> None:
    seen: List[fs.ReclamationInfo] = []
    info = fs.ReclamationInfo(Reason.SIZE_THRESHOLD, 1, 2, 3)
    fs.SizeThresholdPolicy(on_reclaim=seen.append).on_reclaim(info)
    assert seen == [info]

    class Counting(fs.MemoryPolicy):
        count = 0

        def on_reclaim(self, info: fs.ReclamationInfo) -> None:
            self.count += 1

    policy = Counting()
    policy.on_reclaim(info)
    assert policy.count == 1
    fs.NoOpPolicy().on_reclaim(info)  # no hook: nothing happens


# -- the writer's builder ------------------------------------------------------


def _string_root(payload: Any) -> str:
    return Table(bytearray(payload), 0).String(0).decode()


@pytest.mark.parametrize("kind", ["adaptive", "threshold"])
def test_writer_resets_its_builder_after_a_burst(kind: str) -> None:
    infos: List[fs.ReclamationInfo] = []
    policy: fs.MemoryPolicy
    if kind == "adaptive":
        policy = fs.AdaptiveWatermarkPolicy(4, 3, on_reclaim=infos.append)
    else:
        policy = fs.SizeThresholdPolicy(64 * 1024, 1024, 3, on_reclaim=infos.append)
    sink = io.BytesIO()
    writer = fs.StreamWriter(sink, memory_policy=policy, builder_capacity=1024)
    texts = ["x" * 300_000, "a", "b", "c", "d"]
    builders = []
    for text in texts:
        writer.write(text)
        builders.append(writer.builder)
    assert len(infos) == 1
    info = infos[0]
    expected_reason = Reason.MESSAGE_COUNT if kind == "adaptive" else Reason.SIZE_THRESHOLD
    assert info.reason is expected_reason
    assert info.capacity_before >= 300_000
    assert info.capacity_after == 1024 == len(writer.builder.Bytes)
    assert builders[2] is not builders[3]  # reset after the third small message
    payloads, error = read_all(fs.StreamReader(sink.getvalue()))
    assert error is None and [_string_root(p) for p in payloads] == texts


def test_writer_without_a_policy_keeps_its_builder() -> None:
    writer = fs.StreamWriter(io.BytesIO())
    builder = writer.builder
    for text in ["x" * 100_000] + ["s"] * 20:
        writer.write(text)
    assert writer.builder is builder


# -- the reader's buffer -------------------------------------------------------

BIG = 2 << 20
BURST = [b"B" * BIG] + [b"small %02d" % i for i in range(20)]


def test_reader_gives_back_a_burst(request: Any, kernel_mode: str) -> None:
    """A source that delivers a 2 MiB frame and small ones in one read: after
    the policy fires the buffer holds only the small frames still pending."""
    infos: List[fs.ReclamationInfo] = []
    policy = fs.SizeThresholdPolicy(1 << 20, 1024, 3, on_reclaim=infos.append)
    reader = fs.StreamReader(io.BytesIO(reference_stream(BURST)), memory_policy=policy, chunk_size=8 << 20)
    got, error = read_all(reader)
    assert (got, error) == (BURST, None)
    assert len(infos) == 1
    assert infos[0].reason is Reason.SIZE_THRESHOLD
    assert infos[0].capacity_before >= BIG
    assert infos[0].capacity_after < 64 * 1024


@pytest.mark.parametrize("custom", [False, True], ids=["crc32", "custom"])
@pytest.mark.parametrize("chunk_size", [61, 1 << 20])
def test_a_reclaim_never_invalidates_a_payload_already_handed_out(
    chunk_size: int, custom: bool
) -> None:
    infos: List[fs.ReclamationInfo] = []
    policy = fs.AdaptiveWatermarkPolicy(2, 2, on_reclaim=infos.append)
    checksum: Any = CustomChecksum(3) if custom else "crc32"
    stream = fs.ChecksumFramer(checksum).frame_many(BURST)
    source = TrickleSource(stream, step=chunk_size)
    deframer = fs.ChecksumDeframer(checksum)
    reader = fs.StreamReader(source, deframer, memory_policy=policy, chunk_size=chunk_size)
    kept: List[Any] = []
    for expected in BURST:
        payload = reader.read_message()
        assert payload is not None
        before = len(infos)
        # the payload returned by the read that reclaimed is intact
        assert bytes(payload) == expected, (before, len(infos))
        kept.append(np.frombuffer(payload, dtype=np.uint8))
        kept.append(memoryview(payload))
    assert reader.read_message() is None
    assert infos, "the policy never fired"
    # and views re-exported before any reclaim still show their own bytes
    assert [kept[i].tobytes() for i in range(0, len(kept), 2)] == BURST
    assert [bytes(kept[i]) for i in range(1, len(kept), 2)] == BURST


def test_reader_reclaims_never_grow_the_buffer(request: Any, kernel_mode: str) -> None:
    infos: List[fs.ReclamationInfo] = []
    policy = fs.AdaptiveWatermarkPolicy(2, 2, on_reclaim=infos.append)
    reader = fs.StreamReader(io.BytesIO(reference_stream(BURST)), memory_policy=policy, chunk_size=4096)
    assert read_all(reader) == (BURST, None)
    assert infos
    assert all(info.capacity_after <= info.capacity_before for info in infos), infos


def test_a_policy_over_a_buffer_source_has_nothing_to_reclaim() -> None:
    infos: List[fs.ReclamationInfo] = []
    policy = fs.AdaptiveWatermarkPolicy(1, 1, on_reclaim=infos.append)
    stream = reference_stream(BURST)
    views = list(fs.StreamReader(stream, memory_policy=policy))
    assert [bytes(v) for v in views] == BURST
    assert all(info.capacity_before == info.capacity_after == 0 for info in infos)


# -- the defaults are the Rust crate's -------------------------------------------


def test_policy_defaults_are_the_rust_crates() -> None:
    adaptive = fs.AdaptiveWatermarkPolicy()
    assert (adaptive.shrink_multiple, adaptive.messages_to_wait, adaptive.cooldown) == (4, 5, None)
    # a capacity of exactly 4x the message counts; the fifth such message in a row resets
    assert _decisions(adaptive, [(100, 400)] * 5) == [None] * 4 + [Reason.MESSAGE_COUNT]
    assert _decisions(adaptive, [(100, 399)] * 10) == [None] * 10

    threshold = fs.SizeThresholdPolicy()
    assert (threshold.grow_above_bytes, threshold.shrink_below_bytes) == (1 << 20, 1 << 10)
    assert threshold.messages_to_wait == 8
    large, small = ((1 << 20) + 1, 0), ((1 << 10) - 1, 0)
    assert _decisions(threshold, [large] + [small] * 8) == [None] * 8 + [Reason.SIZE_THRESHOLD]
    # exactly 1 MiB is not above, exactly 1 KiB is not below
    assert _decisions(threshold, [(1 << 20, 0)] + [small] * 8) == [None] * 9
    assert _decisions(threshold, [large] + [(1 << 10, 0)] * 8) == [None] * 9


def test_the_writer_builder_baseline_is_16_kib() -> None:
    assert memory.BASELINE_CAPACITY == 16 * 1024
    infos: List[fs.ReclamationInfo] = []
    writer = fs.StreamWriter(
        io.BytesIO(), memory_policy=fs.AdaptiveWatermarkPolicy(on_reclaim=infos.append)
    )
    assert len(writer.builder.Bytes) == 16 * 1024
    writer.write("x" * 100_000)  # the builder grows past 100 KB
    grown = writer.builder
    for _ in range(4):
        writer.write("s")
    assert infos == [] and writer.builder is grown  # four over-provisioned messages: not yet
    writer.write("s")
    assert [info.reason for info in infos] == [Reason.MESSAGE_COUNT]
    assert infos[0].capacity_before >= 100_000
    assert infos[0].capacity_after == 16 * 1024 == len(writer.builder.Bytes)
