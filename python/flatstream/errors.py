"""The error hierarchy: every flatstream error is a :class:`FlatstreamError`
and also the builtin a Python user would catch for it.

``OSError`` from a source or sink is never wrapped: a device fault is not a
torn frame.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "FlatstreamError",
    "InvalidFrame",
    "ChecksumMismatch",
    "UnexpectedEof",
    "ValidationFailed",
    "CorruptionDetected",
]


class FlatstreamError(Exception):
    """Base of every error flatstream raises itself.

    ``offset`` is the byte offset of the frame concerned and ``frame_index``
    its index, where the reader or writer knows them (the reader fills them in
    as the error passes through).
    """

    offset: Optional[int] = None
    #: How many frames came before the one concerned (its index from where
    #: reading started), where the reader knows it.
    frame_index: Optional[int] = None

    def _describe(self) -> str:
        return super().__str__()

    def __str__(self) -> str:
        frame = "frame" if self.frame_index is None else f"frame {self.frame_index}"
        where = "" if self.offset is None else f" ({frame} at byte {self.offset})"
        return f"{self._describe()}{where}"

    def __reduce__(self) -> Any:
        # Errors cross process boundaries (multiprocessing, pickle): keep every field.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type, fields: dict) -> FlatstreamError:
    error: FlatstreamError = Exception.__new__(cls)
    Exception.__init__(error)
    error.__dict__.update(fields)
    return error


class InvalidFrame(FlatstreamError, ValueError):
    """A declared length is over the limit, or a payload cannot be framed."""

    def __init__(
        self,
        reason: str,
        *,
        declared_len: Optional[int] = None,
        limit: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.declared_len = declared_len
        self.limit = limit
        self.offset = offset

    def _describe(self) -> str:
        if self.declared_len is None:
            return self.reason
        return f"{self.reason}: length {self.declared_len} exceeds the limit of {self.limit}"


class ChecksumMismatch(FlatstreamError, ValueError):
    """The checksum stored in a frame differs from the one calculated over its payload."""

    def __init__(
        self, expected: int, calculated: int, *, width: int = 8, offset: Optional[int] = None
    ) -> None:
        super().__init__(expected, calculated)
        self.expected = expected
        self.calculated = calculated
        self.width = width
        self.offset = offset

    def _describe(self) -> str:
        digits = 2 * max(self.width, 1)
        return (
            f"checksum mismatch: stored 0x{self.expected:0{digits}x}, "
            f"calculated 0x{self.calculated:0{digits}x}"
        )


class UnexpectedEof(FlatstreamError, EOFError):
    """The input ended inside a frame: a torn frame."""

    def __init__(
        self,
        reason: str = "input ended inside a frame",
        *,
        needed: Optional[int] = None,
        available: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.needed = needed
        self.available = available
        self.offset = offset

    def _describe(self) -> str:
        if self.needed is None:
            return self.reason
        return f"{self.reason}: the frame needs {self.needed} bytes, {self.available} remain"


class ValidationFailed(FlatstreamError, ValueError):
    """A validator refused a payload. ``validator`` names it, ``reason`` says why."""

    def __init__(self, validator: str, reason: str, *, offset: Optional[int] = None) -> None:
        super().__init__(validator, reason)
        self.validator = validator
        self.reason = reason
        self.offset = offset

    def _describe(self) -> str:
        return f"validation failed in {self.validator}: {self.reason}"


class CorruptionDetected(FlatstreamError, ValueError):
    """A frame is damaged in the middle of a stream: frames that verify
    follow it. It looked like a torn tail (its length runs past the end), but
    truncating there would destroy the good frames after it, so recovery
    refuses; ``fs.salvage`` copies out every frame that survives.

    ``offset`` and ``frame_index`` locate the damaged frame; ``resync_offset``
    is where the next valid frame starts, ``frames_after`` how many valid
    frames follow from there.
    """

    def __init__(
        self, *, offset: int, frame_index: int, resync_offset: int, frames_after: int
    ) -> None:
        super().__init__()
        self.offset = offset
        self.frame_index = frame_index
        self.resync_offset = resync_offset
        self.frames_after = frames_after

    def _describe(self) -> str:
        return (
            f"frame {self.frame_index} is corrupt, not torn: {self.frames_after} valid "
            f"frame(s) follow from byte {self.resync_offset}; refusing to treat it as a "
            "torn tail (truncating would destroy them); fs.salvage / `flatstream salvage` "
            "copies out what survives"
        )
