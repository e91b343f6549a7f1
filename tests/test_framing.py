"""Framing strategies: composition of bounded/observed/with_validator on both
sides, limits, refusals that write nothing, buffers of any item size, and
reading with the wrong configuration."""

from __future__ import annotations

import array
import io
import itertools
from typing import Any, Callable, List, Tuple

import numpy as np
import pytest
from helpers import (
    ALGOS,
    CHECKED_ALGOS,
    WIDTH,
    RecordingSink,
    TrickleSource,
    read_all,
    reference_frame,
    reference_stream,
    sparse_buffer,
)

import flatstream as fs


# -- write side ----------------------------------------------------------------

ADAPTERS = ["bounded", "observed", "validator"]


def _compose(order: Tuple[str, ...], seen: List[bytes]) -> fs.Framer:
    framer = fs.ChecksumFramer("crc32")
    for name in order:
        if name == "bounded":
            framer = framer.bounded(5)
        elif name == "observed":
            framer = framer.observed(lambda p: seen.append(bytes(p)))
        else:
            framer = framer.with_validator(fs.SizeValidator(min_len=2))
    return framer


def _accepts(name: str, payload: bytes) -> bool:
    if name == "bounded":
        return len(payload) <= 5
    if name == "validator":
        return len(payload) >= 2
    return True


@pytest.mark.parametrize("order", list(itertools.permutations(ADAPTERS)), ids="-".join)
def test_write_adapters_compose_in_any_order(order: Tuple[str, ...]) -> None:
    """The last adapter applied is the outermost: it runs first, and a refusal
    stops the chain before anything is written."""
    for payload in (b"", b"a", b"abc", b"abcde", b"abcdef"):
        seen: List[bytes] = []
        sink = RecordingSink()
        writer = fs.StreamWriter(sink, _compose(order, seen))
        run_first = list(reversed(order))
        refused_by = next((n for n in run_first if not _accepts(n, payload)), None)
        if refused_by is None:
            writer.write_payload(payload)
            assert sink.getvalue() == reference_frame(payload, "crc32")
        else:
            error_type = fs.InvalidFrame if refused_by == "bounded" else fs.ValidationFailed
            with pytest.raises(error_type):
                writer.write_payload(payload)
            assert sink.calls == []  # nothing, not even the header
        observer_reached = all(
            _accepts(n, payload) for n in run_first[: run_first.index("observed")]
        )
        assert seen == ([payload] if observer_reached else [])


def test_bounded_limits_combine_to_the_tightest() -> None:
    framer = fs.DefaultFramer().bounded(10).bounded(100)
    assert framer.limit == 10
    with pytest.raises(fs.InvalidFrame) as info:
        framer.frame(b"x" * 11)
    assert (info.value.declared_len, info.value.limit) == (11, 10)
    assert framer.frame(b"x" * 10) == reference_frame(b"x" * 10)
    with pytest.raises(ValueError):
        fs.DefaultFramer().bounded(-1)


def test_adapters_return_new_framers() -> None:
    base = fs.ChecksumFramer("crc16")
    bounded = base.bounded(1)
    assert base.limit == fs.MAX_PAYLOAD_LEN
    assert base.frame(b"abc") == reference_frame(b"abc", "crc16")
    with pytest.raises(fs.InvalidFrame):
        bounded.frame(b"abc")


def _refusal(action: Callable[[], Any]) -> Tuple[Any, Any]:
    """(declared_len, limit) of the InvalidFrame ``action`` raises. The error
    is dropped here: its traceback would keep a view of the mapping alive."""
    try:
        action()
    except fs.InvalidFrame as error:
        return error.declared_len, error.limit
    raise AssertionError("not refused")


def test_the_format_ceiling_is_checked_before_the_bytes_are_touched() -> None:
    refused = (1 << 32, fs.MAX_PAYLOAD_LEN)
    with sparse_buffer(1 << 32) as huge:  # one byte over the u32 length prefix
        sink = RecordingSink()
        seen: List[Any] = []
        writer = fs.StreamWriter(sink, fs.ChecksumFramer("xxh3_64").observed(seen.append))
        assert _refusal(lambda: writer.write_payload(huge)) == refused
        assert _refusal(lambda: writer.write(huge)) == refused
        assert _refusal(lambda: writer.write_many([b"fine", huge])) == refused
        assert _refusal(lambda: fs.DefaultFramer().frame(huge)) == refused
        assert sink.calls == []
        seen.clear()
        # a refusal is not a failed write: the writer goes on
        writer.write_payload(b"ok")
        assert sink.getvalue() == reference_frame(b"ok", "xxh3_64")
        assert [bytes(p) for p in seen] == [b"ok"]
        del seen


def test_a_bounded_framer_checks_before_observers_it_wraps() -> None:
    seen: List[Any] = []
    framer = fs.DefaultFramer().observed(seen.append).bounded(4)
    with pytest.raises(fs.InvalidFrame):
        framer.frame(b"12345")
    assert seen == []


def test_frame_many_refuses_the_whole_batch() -> None:
    sink = RecordingSink()
    writer = fs.StreamWriter(sink, fs.ChecksumFramer("crc32").bounded(3))
    with pytest.raises(fs.InvalidFrame):
        writer.write_many([b"a", b"bb", b"toolong", b"c"])
    assert sink.calls == []
    assert writer.write_many([b"a", b"bb"]) == 2
    assert sink.calls == [reference_stream([b"a", b"bb"], "crc32")]


# -- buffers of any item size --------------------------------------------------


def _wide_payloads() -> List[Any]:
    return [
        array.array("I", [1, 2, 3]),
        memoryview(bytes(range(16))).cast("Q"),
        np.arange(5, dtype=np.float64),
        np.arange(6, dtype=np.int16).reshape(2, 3),
    ]


@pytest.mark.parametrize("algo", ["none", "crc32", "xxh3_64"])
def test_payloads_with_wide_items_are_framed_by_their_bytes(algo: str) -> None:
    """A bytes-like whose items are wider than a byte (array, numpy) is framed
    with its length in bytes, not in items."""
    framer = fs.ChecksumFramer(algo)
    for payload in _wide_payloads():
        raw = bytes(memoryview(payload).cast("B"))
        expected = reference_frame(raw, algo)
        assert framer.frame(payload) == expected
        assert framer.frame_many([payload]) == expected
        sink = io.BytesIO()
        with fs.StreamWriter(sink, framer) as writer:
            writer.write_payload(payload)
            writer.write_many([payload])
            writer.write(payload)  # simple mode takes any bytes-like as is
        stream = sink.getvalue()
        count = 3
        assert stream == expected * count
        assert read_all(fs.StreamReader(stream, fs.Deframer(algo))) == ([raw] * count, None)


def test_bounded_counts_bytes_not_items() -> None:
    payload = array.array("d", [1.0, 2.0])  # 16 bytes, 2 items
    framer = fs.DefaultFramer().bounded(8)
    with pytest.raises(fs.InvalidFrame) as info:
        framer.frame(payload)
    assert info.value.declared_len == 16
    with pytest.raises(fs.InvalidFrame):
        framer.frame_many([payload])
    with pytest.raises(fs.ValidationFailed):
        fs.DefaultFramer().with_validator(fs.SizeValidator(max_len=8)).frame(payload)


# -- read side -----------------------------------------------------------------


def _deframe(order: Tuple[str, ...], events: List[str]) -> fs.Deframer:
    deframer = fs.ChecksumDeframer("crc32")
    for name in order:
        if name == "bounded":
            deframer = deframer.bounded(5)
        elif name == "observed":
            deframer = deframer.observed(lambda p: events.append(f"saw {bytes(p)!r}"))
        else:

            def check(payload: Any) -> bool:
                events.append(f"checked {bytes(payload)!r}")
                return len(payload) >= 2

            deframer = deframer.with_validator(fs.TypedValidator(check, name="min2"))
    return deframer


@pytest.mark.parametrize("order", list(itertools.permutations(ADAPTERS)), ids="-".join)
def test_read_adapters_compose_in_any_order(order: Tuple[str, ...]) -> None:
    """On the read side the limit is checked on the header, before the payload
    is read; then the adapters run in the order they were applied."""
    events: List[str] = []
    deframer = _deframe(order, events)
    assert deframer.max_frame_len == 5
    good = reference_stream([b"abc", b"de"], "crc32")
    assert read_all(fs.StreamReader(good, deframer)) == ([b"abc", b"de"], None)
    adapters = [n for n in order if n != "bounded"]
    per_frame = {
        "observed": "saw {!r}",
        "validator": "checked {!r}",
    }
    expected = [per_frame[n].format(p) for p in (b"abc", b"de") for n in adapters]
    assert events == expected

    events.clear()
    got, error = read_all(fs.StreamReader(reference_stream([b"abc", b"x"], "crc32"), deframer))
    assert got == [b"abc"]
    assert isinstance(error, fs.ValidationFailed) and error.validator == "min2"
    assert error.offset == 4 + 4 + 3
    refused = [per_frame[n].format(b"x") for n in adapters]
    refused = refused[: adapters.index("validator") + 1]  # nothing runs after the refusal
    assert events[-len(refused) :] == refused

    # over the limit: only the header is there, and the limit still wins
    events.clear()
    header_only = reference_frame(b"123456", "crc32")[:8]
    for source in (header_only, TrickleSource(header_only)):
        got, error = read_all(fs.StreamReader(source, deframer))
        assert got == [] and events == []
        assert isinstance(error, fs.InvalidFrame)
        assert (error.declared_len, error.limit, error.offset) == (6, 5, 0)


def test_deframer_limits() -> None:
    assert fs.DefaultDeframer().max_frame_len == fs.DEFAULT_MAX_FRAME_LEN == 1 << 31
    assert fs.Deframer(max_frame_len=1 << 40).max_frame_len == fs.MAX_PAYLOAD_LEN
    assert fs.DefaultDeframer(100).bounded(1000).max_frame_len == 100
    assert fs.DefaultDeframer(100).bounded(10).max_frame_len == 10
    with pytest.raises(ValueError):
        fs.DefaultDeframer(-1)
    zero = fs.DefaultDeframer(0)
    assert read_all(fs.StreamReader(reference_stream([b"", b""]), zero)) == ([b"", b""], None)
    _, error = read_all(fs.StreamReader(reference_stream([b"", b"a"]), zero))
    assert isinstance(error, fs.InvalidFrame) and error.offset == 4


def test_observer_is_called_once_per_frame() -> None:
    calls: List[bytes] = []
    payloads = [b"p%d" % i for i in range(50)] + [b""]
    framer = fs.ChecksumFramer("crc16").observed(lambda p: calls.append(bytes(p)))
    sink = io.BytesIO()
    with fs.StreamWriter(sink, framer) as writer:
        for payload in payloads[:20]:
            writer.write_payload(payload)
        writer.write_many(payloads[20:])
    assert calls == payloads
    calls.clear()
    deframer = fs.ChecksumDeframer("crc16").observed(lambda p: calls.append(bytes(p)))
    for source in (sink.getvalue(), TrickleSource(sink.getvalue(), step=7)):
        calls.clear()
        assert read_all(fs.StreamReader(source, deframer)) == (payloads, None)
        assert calls == payloads


# -- the wrong configuration ---------------------------------------------------

PAYLOADS = [b"first message", b"\x01\x02\x03\x04\x05\x06\x07\x08\x09", b"last one"]


@pytest.mark.parametrize("algo", CHECKED_ALGOS)
def test_checksummed_stream_read_plain_is_misframed(algo: str) -> None:
    """The format cannot tell: the plain reader takes the checksum for payload
    bytes. It must never hand back the original payloads."""
    stream = reference_stream(PAYLOADS, algo)
    width = WIDTH[algo]
    for source in (stream, io.BytesIO(stream)):
        got, error = read_all(fs.StreamReader(source, fs.DefaultDeframer()))
        assert got != PAYLOADS
        assert got[0] == stream[4 : 4 + len(PAYLOADS[0])]  # checksum + payload head
        assert got[0][:width] == stream[4 : 4 + width]
        assert error is None or isinstance(error, fs.FlatstreamError)


@pytest.mark.parametrize("algo", CHECKED_ALGOS)
def test_plain_stream_read_with_a_checksum_fails(algo: str) -> None:
    stream = reference_stream(PAYLOADS, "none")
    for source in (stream, io.BytesIO(stream), TrickleSource(stream, step=2)):
        got, error = read_all(fs.StreamReader(source, fs.ChecksumDeframer(algo)))
        assert got == []
        assert isinstance(error, (fs.ChecksumMismatch, fs.UnexpectedEof)), error
    # a single plain frame is one checksum-width short: torn
    one = reference_frame(b"only", "none")
    _, error = read_all(fs.StreamReader(one, fs.ChecksumDeframer(algo)))
    assert isinstance(error, (fs.ChecksumMismatch, fs.UnexpectedEof))


@pytest.mark.parametrize("algo", ALGOS)
def test_framer_repr_names_the_checksum(algo: str) -> None:
    assert algo in repr(fs.ChecksumFramer(algo))
    assert algo in repr(fs.ChecksumDeframer(algo, max_frame_len=7))

