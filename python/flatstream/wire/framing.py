"""Framing strategies: how payloads become frames, and how frames are accepted.

The strategies are small immutable objects that compose like the Rust crate's
adapters: ``bounded(n)``, ``observed(cb)`` and ``with_validator(v)`` each
return a new strategy wrapping the old one. As with the crate's adapters, the
outermost one runs first on the write path (so ``f.observed(cb).bounded(n)``
refuses an oversized payload before ``cb`` sees it) and the innermost one runs
first on the read path, after the frame has been decoded and its checksum
verified.

The bytes themselves are produced by the kernels (see ``_kernels``) and parsed
by :class:`~flatstream.wire.decoder.FrameDecoder`.
"""

from __future__ import annotations

import copy
import struct
from typing import Any, Callable, Iterable, List, Optional, Tuple

from .. import _kernels
from .checksums import Checksum, ChecksumLike, is_builtin, resolve_checksum
from ..errors import InvalidFrame
from .validation import Validator

__all__ = [
    "MAX_PAYLOAD_LEN",
    "DEFAULT_MAX_FRAME_LEN",
    "Framer",
    "DefaultFramer",
    "ChecksumFramer",
    "Deframer",
    "DefaultDeframer",
    "ChecksumDeframer",
]

#: The format's ceiling: the length prefix is a u32.
MAX_PAYLOAD_LEN = 0xFFFFFFFF
#: A reader's default limit: 2 GiB, the FlatBuffers maximum.
DEFAULT_MAX_FRAME_LEN = 1 << 31

Step = Callable[[Any], None]

_HEADER_FORMATS = {0: "<I", 2: "<IH", 4: "<II", 8: "<IQ"}


def _header_packer(checksum: Checksum) -> Callable[[int, int], bytes]:
    """A function (payload length, checksum value) -> header bytes."""
    width = checksum.width
    fmt = _HEADER_FORMATS.get(width)
    if fmt is not None:
        packer = struct.Struct(fmt).pack
        if width == 0:
            return lambda length, value: packer(length)
        return packer
    mask = (1 << (8 * width)) - 1
    length_packer = struct.Struct("<I").pack
    return lambda length, value: length_packer(length) + (value & mask).to_bytes(width, "little")


def byte_view(payload: Any) -> Any:
    """``payload`` as something whose ``len()`` counts bytes: bytes and flat
    byte views as they are, any other buffer (``array``, numpy, a cast
    memoryview) as a flat ``B`` view of its bytes, without copying."""
    if isinstance(payload, (bytes, bytearray)):
        return payload
    if isinstance(payload, memoryview) and payload.format == "B" and payload.ndim == 1:
        return payload
    view = memoryview(payload)
    # len() of a view of wider items counts items: the frame length would lie.
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def _masked(checksum: Checksum) -> Callable[[Any], int]:
    """``checksum.compute`` kept to the field's width, for a custom checksum
    that returns more bits (as the Rust crate's cast to the field does)."""
    if is_builtin(checksum):
        return checksum.compute
    mask = (1 << (8 * checksum.width)) - 1
    compute = checksum.compute
    return lambda data: compute(data) & mask


def _bounded_step(limit: int) -> Step:
    def check(payload: Any) -> None:
        size = len(payload)
        if size > limit:
            raise InvalidFrame("payload too long", declared_len=size, limit=limit)

    return check


def _validator_step(validator: Validator) -> Step:
    return validator.validate


class Framer:
    """Frames payloads as ``[u32 length][checksum][payload]``.

    Immutable: the composition methods return new framers.
    """

    def __init__(self, checksum: ChecksumLike = "none") -> None:
        self.checksum: Checksum = resolve_checksum(checksum)
        self.limit: int = MAX_PAYLOAD_LEN
        self._steps: Tuple[Step, ...] = ()
        self._pack_header = _header_packer(self.checksum)
        self._compute = _masked(self.checksum) if self.checksum.width else None

    def _wrapped(self, step: Step) -> "Framer":
        framer = copy.copy(self)
        framer._steps = (step,) + self._steps  # the newest adapter is the outermost
        return framer

    def bounded(self, max_len: int) -> "Framer":
        """Refuse payloads longer than ``max_len`` with InvalidFrame, writing nothing."""
        if max_len < 0:
            raise ValueError("max_len must be >= 0")
        framer = self._wrapped(_bounded_step(max_len))
        framer.limit = min(self.limit, max_len)
        return framer

    def observed(self, callback: Callable[[Any], Any]) -> "Framer":
        """Call ``callback(payload)`` once per payload, before it is framed."""
        return self._wrapped(callback)

    def with_validator(self, validator: Validator) -> "Framer":
        """Run ``validator`` on every payload before any byte of its frame is written."""
        return self._wrapped(_validator_step(validator))

    def check(self, payload: Any) -> None:
        """The format's own length check, then the adapters; raise to refuse.

        A payload the format cannot carry is refused before any adapter (an
        observer included) sees it."""
        if len(payload) > MAX_PAYLOAD_LEN:
            raise InvalidFrame(
                "payload too long for the format", declared_len=len(payload), limit=MAX_PAYLOAD_LEN
            )
        for step in self._steps:
            step(payload)

    def header(self, payload: Any) -> bytes:
        """The length and checksum that precede ``payload`` (after :meth:`check`)."""
        value = self._compute(payload) if self._compute is not None else 0
        return self._pack_header(len(payload), value)

    def frame(self, payload: Any) -> bytes:
        """One complete frame as bytes (checks included)."""
        payload = byte_view(payload)
        self.check(payload)
        return self.header(payload) + bytes(payload)

    @property
    def plain(self) -> bool:
        """No adapters and a built-in checksum: batches are framed entirely natively."""
        return not self._steps and is_builtin(self.checksum)

    def frame_many(self, payloads: Iterable[Any], out: Optional[bytearray] = None) -> Any:
        """Many frames back to back in one buffer; every payload is checked
        before any is framed, so a refusal frames nothing. The buffer is new
        ``bytes``, or, for a plain framer, ``out`` resized to fit (reused by
        long-lived writers; ``BufferError`` while a memoryview of it lives)."""
        items = payloads if isinstance(payloads, list) else list(payloads)
        if self.plain:
            # One kernel call checks every length against the limit, then frames.
            data, too_long = _kernels.frame_many(
                items, self.checksum.width, self.checksum.name, self.limit, out
            )
            if data is None:
                assert too_long is not None
                self.check(byte_view(items[too_long]))  # raises the usual InvalidFrame
                raise AssertionError("the kernel and check() disagree on the limit")
            return data
        views = [byte_view(p) for p in items]
        for payload in views:
            self.check(payload)
        return self.frame_checked(views)

    def frame_checked(self, items: List[Any]) -> bytes:
        """Frame byte views that already passed :meth:`check` (adapters are not run again)."""
        if is_builtin(self.checksum):
            data, _ = _kernels.frame_many(
                items, self.checksum.width, self.checksum.name, MAX_PAYLOAD_LEN
            )
            assert data is not None  # check() has refused anything over the ceiling
            return data
        return b"".join(self.header(p) + bytes(p) for p in items)

    def __repr__(self) -> str:
        extra = f", limit={self.limit}" if self.limit != MAX_PAYLOAD_LEN else ""
        steps = f", {len(self._steps)} adapters" if self._steps else ""
        return f"{type(self).__name__}({self.checksum.name!r}{extra}{steps})"


class DefaultFramer(Framer):
    """Frames without a checksum: ``[u32 length][payload]``."""

    def __init__(self) -> None:
        super().__init__("none")


class ChecksumFramer(Framer):
    """Frames with a checksum: ``[u32 length][checksum][payload]``."""

    def __init__(self, checksum: ChecksumLike) -> None:
        super().__init__(checksum)


class Deframer:
    """How frames are read: the checksum to verify, the length limit, and the
    adapters (validators, observers) each decoded payload passes through.

    ``max_frame_len`` (default 2 GiB) is checked before any buffer is sized
    from a declared length. Immutable: the composition methods return new ones.
    """

    def __init__(self, checksum: ChecksumLike = "none", max_frame_len: Optional[int] = None) -> None:
        self.checksum: Checksum = resolve_checksum(checksum)
        if max_frame_len is None:
            max_frame_len = DEFAULT_MAX_FRAME_LEN
        if max_frame_len < 0:
            raise ValueError("max_frame_len must be >= 0")
        self.max_frame_len: int = min(max_frame_len, MAX_PAYLOAD_LEN)
        self._steps: Tuple[Step, ...] = ()

    @property
    def steps(self) -> Tuple[Step, ...]:
        """The adapters, in the order they run on each payload."""
        return self._steps

    def _wrapped(self, step: Step) -> "Deframer":
        deframer = copy.copy(self)
        deframer._steps = self._steps + (step,)  # the newest adapter runs last
        return deframer

    def bounded(self, max_len: int) -> "Deframer":
        """Lower the length limit to ``max_len``."""
        deframer = copy.copy(self)
        deframer.max_frame_len = min(self.max_frame_len, max_len)
        return deframer

    def observed(self, callback: Callable[[Any], Any]) -> "Deframer":
        """Call ``callback(payload)`` once per accepted frame."""
        return self._wrapped(callback)

    def with_validator(self, validator: Validator) -> "Deframer":
        """Refuse payloads that ``validator`` refuses (ValidationFailed)."""
        return self._wrapped(_validator_step(validator))

    def __repr__(self) -> str:
        steps = f", {len(self._steps)} adapters" if self._steps else ""
        return (
            f"{type(self).__name__}({self.checksum.name!r}, "
            f"max_frame_len={self.max_frame_len}{steps})"
        )


class DefaultDeframer(Deframer):
    """Reads frames without a checksum."""

    def __init__(self, max_frame_len: Optional[int] = None) -> None:
        super().__init__("none", max_frame_len)


class ChecksumDeframer(Deframer):
    """Reads frames with a checksum and verifies every payload against it."""

    def __init__(self, checksum: ChecksumLike, max_frame_len: Optional[int] = None) -> None:
        super().__init__(checksum, max_frame_len)
