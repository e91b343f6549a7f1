"""StreamWriter: frames messages onto a binary sink.

Three ways in, from simplest to fastest:

* ``write(item)``: simple mode. A ``str`` becomes a FlatBuffer string root (as
  the Rust crate does); an object with ``serialize(builder)`` fills and
  finishes the writer's own reused ``flatbuffers.Builder``; an ``@fs.table``
  instance goes through its compiled codec; a bytes-like is written as is.
* ``write_finished(builder)``: expert mode; the finished bytes of your builder
  are framed without the copy ``Builder.Output()`` makes.
* ``write_payload(data)``: any bytes-like, framed as is.

``write_many`` frames a batch into one buffer and hands it to the sink in one
call. A validator or limit refuses a payload before any byte of it is written.
Over a sink from the ``io`` module (files, ``BytesIO``, socket files), whose
``write`` contract lets the caller reuse the buffer once it returns, that
buffer is the writer's own and reused batch after batch.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Dict, Iterable, List, Optional

import flatbuffers

from .. import _kernels
from ..wire._io import write_all
from ..wire.framing import DefaultFramer, Framer, byte_view
from .memory import BASELINE_CAPACITY, MemoryPolicy, ReclamationInfo

__all__ = ["StreamWriter", "finished_bytes"]

# Frames up to this size go to the sink as one buffer (one syscall on a raw
# sink); larger ones as header + payload, so the payload is never copied.
_JOIN_BELOW = 4096


def _as_is(data: Any) -> Any:
    return data


def finished_bytes(builder: flatbuffers.Builder) -> memoryview:
    """The finished buffer of ``builder`` as a view (what ``Output()`` copies)."""
    if not getattr(builder, "finished", False):
        raise ValueError("the builder is not finished: call builder.Finish(root) first")
    return memoryview(builder.Bytes)[builder.Head() :]


class StreamWriter:
    """Writes framed messages to ``sink`` (any object with ``write``).

    The sink is flushed by :meth:`flush` and :meth:`close`; it is closed only
    with ``close_sink=True`` (as :func:`flatstream.open` does). ``OSError``
    from the sink propagates unchanged; after one, the frame it interrupted
    may be torn (see :func:`flatstream.recover`) and the writer refuses to go
    on, so a good frame never follows a torn one.
    """

    def __init__(
        self,
        sink: Any,
        framer: Optional[Framer] = None,
        *,
        memory_policy: Optional[MemoryPolicy] = None,
        builder_capacity: int = BASELINE_CAPACITY,
        close_sink: bool = False,
    ) -> None:
        self._sink = sink
        self._write = sink.write
        self._close_sink = close_sink
        self._policy = memory_policy
        self._baseline = builder_capacity
        self._builder = flatbuffers.Builder(builder_capacity)
        self._encoders: Dict[type, Callable[[Any], Any]] = {}
        self._core: Any = None
        # io's write() contract: "the caller may release or mutate b after
        # this method returns", so batches for such a sink are framed into
        # one reused buffer (no allocation, zeroing or page faults per batch).
        # Any other sink may keep what it is given, so it gets new bytes.
        self._batch: Optional[bytearray] = bytearray() if isinstance(sink, io.IOBase) else None
        self.framer = framer if framer is not None else DefaultFramer()

    @property
    def framer(self) -> Framer:
        """The framing strategy (checksum, limit, adapters) of every frame."""
        return self._framer

    @framer.setter
    def framer(self, framer: Framer) -> None:
        # The per-message path is a kernel (native or pure, chosen now): it
        # frames small payloads itself when the framer has no adapters and a
        # built-in checksum, and sends everything else to _write_slow.
        plain = framer.plain
        core = _kernels.FrameSink(
            self._write,
            framer.checksum.width if plain else 0,
            framer.checksum.name if plain else "none",
            min(_JOIN_BELOW, framer.limit + 1) if plain else 0,
            self._write_slow,
            write_all,
            self._encoders,
            self._write_item_slow,
        )
        previous = self._core
        if previous is not None:  # the same stream goes on with another framer
            core.count(previous.frames, previous.nbytes)
            if previous.failed is not None:
                core.fail(previous.failed)
            if previous.closed:
                core.close()
        self._framer = framer
        self._core = core
        # Callers reach the kernel's methods with no Python frame between
        # (not for subclasses that override them, nor with a memory policy,
        # which looks at every payload).
        if type(self).write_payload is StreamWriter.write_payload:
            self.write_payload = core.write_payload  # type: ignore[method-assign]
        if type(self).write is StreamWriter.write and self._policy is None:
            self.write = core.write  # type: ignore[method-assign]

    @property
    def frames_written(self) -> int:
        """Frames handed to the sink so far."""
        return int(self._core.frames)

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the sink so far, headers included."""
        return int(self._core.nbytes)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return bool(self._core.closed)

    # -- simple mode -----------------------------------------------------

    @property
    def builder(self) -> flatbuffers.Builder:
        """The internal builder simple mode reuses (replaced by a memory-policy reset)."""
        return self._builder

    def write(self, item: Any) -> None:
        """Serialize ``item`` (see the module docstring) and write it as one frame."""
        self._write_item_slow(item)

    def _write_item_slow(self, item: Any) -> None:
        """``write`` in Python: for an item whose type has no encoder yet, and
        for every item when a memory policy looks at each payload (the
        kernel's ``write`` does the rest)."""
        encode = self._encoders.get(type(item))
        if encode is None:
            encode = self._encoder_for(item)
        payload = encode(item)
        self.write_payload(payload)
        if self._policy is not None:
            self._apply_policy(len(payload))

    def _encoder_for(self, item: Any) -> Callable[[Any], Any]:
        cls = type(item)
        encode: Callable[[Any], Any]
        if issubclass(cls, str):
            encode = self._encode_str
        elif issubclass(cls, (bytes, bytearray, memoryview)):
            encode = _as_is
        elif callable(getattr(cls, "serialize", None)):
            encode = self._encode_serializable
        elif getattr(cls, "__flatstream_table__", None) is not None:
            from ..schema import codec

            encode = codec(cls).encode
        elif callable(getattr(cls, "__flatstream_codec__", None)):
            encode = cls.__flatstream_codec__().encode  # a class made for a loaded schema
        else:
            try:
                memoryview(item)  # any other bytes-like (array, numpy, mmap) goes as is
            except TypeError:
                raise TypeError(
                    f"cannot write a {cls.__name__}: give it serialize(builder), decorate it "
                    "with @flatstream.table, or pass bytes to write_payload()"
                ) from None
            encode = _as_is
        self._encoders[cls] = encode
        return encode

    def _encode_str(self, text: str) -> memoryview:
        builder = self._builder
        builder.Clear()
        builder.Finish(builder.CreateString(text))
        return finished_bytes(builder)

    def _encode_serializable(self, item: Any) -> memoryview:
        builder = self._builder
        builder.Clear()
        item.serialize(builder)
        return finished_bytes(builder)

    def _apply_policy(self, size: int) -> None:
        assert self._policy is not None
        capacity = len(self._builder.Bytes)
        reason = self._policy.should_reset(size, capacity)
        if reason is None:
            return
        # A new builder, not Clear(): Clear keeps the grown bytearray.
        self._builder = flatbuffers.Builder(self._baseline)
        self._policy.on_reclaim(
            ReclamationInfo(reason, size, capacity, len(self._builder.Bytes))
        )

    # -- expert mode -----------------------------------------------------

    def write_finished(self, builder: flatbuffers.Builder) -> None:
        """Frame the finished buffer of ``builder`` without copying it."""
        self.write_payload(finished_bytes(builder))

    def write_payload(self, data: Any) -> None:
        """Frame ``data`` (any bytes-like object) as is."""
        self._core.write_payload(data)

    def _write_slow(self, data: Any) -> None:
        """``write_payload`` of what the kernel does not frame itself: larger
        payloads (header and payload go out separately, uncopied), adapters,
        custom checksums, refusals."""
        self._check_open()
        framer = self.framer
        data = byte_view(data)
        framer.check(data)  # raises InvalidFrame past the limit
        header = framer.header(data)
        size = len(data)
        if size < _JOIN_BELOW:
            self._put(header + data if isinstance(data, bytes) else header + bytes(data))
        else:
            self._put(header)
            self._put(data)
        self._core.count(1, len(header) + size)

    def write_many(self, items: Iterable[Any]) -> int:
        """Write many messages in one call to the sink; returns how many.

        Items may be bytes-likes, finished builders, or anything ``write``
        takes. Every payload is checked before any is written, so a refusal
        writes nothing of the batch.
        """
        self._check_open()
        items = items if isinstance(items, list) else list(items)
        framer = self.framer
        data = None
        if framer.plain:
            try:  # a batch of bytes-likes needs no Python work per item
                data = self._frame_batch(items)
            except TypeError:
                data = None  # some items need serializing first
        if data is None:
            data = self._frame_batch(self._payloads_of(items))
        self._put(data)
        self._core.count(len(items), len(data))
        return len(items)

    def _frame_batch(self, payloads: List[Any]) -> Any:
        """``framer.frame_many`` into the writer's reused buffer when it has
        one (a plain framer over an ``io`` sink), else into new bytes."""
        framer = self.framer
        batch = self._batch
        if batch is None or not framer.plain:
            return framer.frame_many(payloads)
        try:
            return framer.frame_many(payloads, batch)
        except BufferError:
            # Something still views the buffer (a sink that kept it against
            # io's contract, or a payload that is a view of it): never reuse it.
            self._batch = None
            return framer.frame_many(payloads)

    def _write_checked(self, payloads: List[Any]) -> int:
        """Frame and write byte views that already passed the framer's checks."""
        self._check_open()
        data = self.framer.frame_checked(payloads)
        self._put(data)
        self._core.count(len(payloads), len(data))
        return len(payloads)

    def _payloads_of(self, items: List[Any]) -> List[Any]:
        """The payloads of ``items``: a batch of one ``@fs.table`` class in one
        ``Codec.encode_many`` call (native when the codec has a native twin),
        anything else item by item."""
        if items:
            cls = type(items[0])
            if (
                getattr(cls, "__flatstream_table__", None) is not None
                and not callable(getattr(cls, "serialize", None))  # serialize() wins, as in write()
                and all(type(item) is cls for item in items)
            ):
                from ..schema import codec

                return codec(cls).encode_many(items)
        return [self._payload_of(item) for item in items]

    def _payload_of(self, item: Any) -> Any:
        if isinstance(item, (bytes, bytearray, memoryview)):
            return item
        if isinstance(item, flatbuffers.Builder):
            return finished_bytes(item)
        encode = self._encoders.get(type(item)) or self._encoder_for(item)
        if encode is _as_is:
            return item
        # Simple mode reuses one builder, so each payload is copied out of it.
        return bytes(encode(item))

    # -- the sink --------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("write to a closed StreamWriter")
        failed = self._core.failed
        if failed is not None:
            raise ValueError(
                "this StreamWriter stopped after a failed write; the last frame may be torn"
            ) from failed

    def _put(self, data: Any) -> None:
        try:
            write_all(self._write, data)
        except BaseException as exc:
            self._core.fail(exc)
            raise

    def flush(self) -> None:
        """Flush the sink, if it buffers."""
        flush = getattr(self._sink, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        """Flush, and close the sink if this writer owns it. Idempotent."""
        if self.closed:
            return
        self._core.close()
        try:
            if self._core.failed is None:
                self.flush()
        finally:
            if self._close_sink:
                self._sink.close()

    def __enter__(self) -> "StreamWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StreamWriter {self.framer!r} frames={self.frames_written}>"
