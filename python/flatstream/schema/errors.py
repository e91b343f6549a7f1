"""Errors of the schema codecs and the verifier."""

from __future__ import annotations

from typing import Optional

from ..errors import FlatstreamError, ValidationFailed

__all__ = ["EncodeError", "DecodeError", "VerificationError"]


class EncodeError(FlatstreamError, ValueError):
    """A value cannot be encoded: wrong type, out of range for its field, a
    required field missing, or the buffer over the size limit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def _describe(self) -> str:
        return self.reason


class DecodeError(FlatstreamError, ValueError):
    """A payload is not a buffer of the codec's table: an offset, length or
    string runs out of the buffer, or a string is not UTF-8. The decoder
    does not check everything the verifier does: verify untrusted input."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def _describe(self) -> str:
        return self.reason


class VerificationError(ValidationFailed):
    """The schema verifier refused a buffer. ``reason`` says why and
    ``position`` is the byte in the payload where the fault was found."""

    def __init__(
        self, validator: str, reason: str, *, position: Optional[int] = None,
        offset: Optional[int] = None,
    ) -> None:
        super().__init__(validator, reason, offset=offset)
        self.position = position

    def _describe(self) -> str:
        where = "" if self.position is None else f" at payload byte {self.position}"
        return f"validation failed in {self.validator}: {self.reason}{where}"
