"""Validators: checks a payload must pass before it is written or handed to you.

A validator is any object with ``name`` and ``validate(payload)`` that raises
:class:`~flatstream.ValidationFailed` to refuse. On the read side validators run
after the checksum and before typed decoding; on the write side before any byte
is written.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional, Protocol, Sequence, runtime_checkable

from ..errors import ValidationFailed

__all__ = [
    "Validator",
    "NoValidator",
    "SizeValidator",
    "CompositeValidator",
    "TableRootValidator",
    "TypedValidator",
]

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")


@runtime_checkable
class Validator(Protocol):
    name: str

    def validate(self, payload: Any) -> None:
        """Return to accept; raise ValidationFailed to refuse."""
        ...


class NoValidator:
    """Accepts everything (the Rust crate's ``NoValidator``)."""

    name = "NoValidator"

    def validate(self, payload: Any) -> None:
        return None


class SizeValidator:
    """Accepts payloads of ``min_len`` to ``max_len`` bytes inclusive."""

    def __init__(self, min_len: int = 0, max_len: Optional[int] = None) -> None:
        if min_len < 0 or (max_len is not None and max_len < min_len):
            raise ValueError("need 0 <= min_len <= max_len")
        self.min_len = min_len
        self.max_len = max_len
        self.name = "SizeValidator"

    def validate(self, payload: Any) -> None:
        size = len(payload)
        if size < self.min_len:
            raise ValidationFailed(self.name, f"{size} bytes is below the minimum of {self.min_len}")
        if self.max_len is not None and size > self.max_len:
            raise ValidationFailed(self.name, f"{size} bytes is above the maximum of {self.max_len}")


class CompositeValidator:
    """Runs validators in order and stops at the first refusal, which names the
    inner validator that refused."""

    def __init__(self, *validators: Validator) -> None:
        if len(validators) == 1 and isinstance(validators[0], (list, tuple)):
            validators = tuple(validators[0])
        self.validators: Sequence[Validator] = tuple(validators)
        self.name = "CompositeValidator(" + ", ".join(v.name for v in self.validators) + ")"

    def validate(self, payload: Any) -> None:
        for validator in self.validators:
            validator.validate(payload)


class TypedValidator:
    """Wraps a function as a validator.

    ``fn(payload)`` refuses by returning False, or by raising ``ValueError``
    (whose message becomes the reason); anything else it returns accepts.
    """

    def __init__(self, fn: Callable[[Any], Any], name: Optional[str] = None) -> None:
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "TypedValidator"))

    def validate(self, payload: Any) -> None:
        try:
            ok = self.fn(payload)
        except ValidationFailed:
            raise
        except (ValueError, IndexError, struct.error) as exc:
            raise ValidationFailed(self.name, str(exc) or type(exc).__name__) from exc
        if ok is False:
            raise ValidationFailed(self.name, "refused by the validator function")


class TableRootValidator:
    """A structural check of a FlatBuffer's root table without knowing its schema.

    It checks what every FlatBuffer must satisfy: the root offset points inside
    the buffer, the table's vtable lies inside the buffer, is aligned and sized
    sanely, the table's inline size fits, and every field offset in the vtable
    points inside the table. Fields are not followed (that needs a schema; see
    the schema-driven verifier), so ``max_depth`` and ``max_tables`` bound the
    schema verifier when one is attached and are kept here for the Rust crate's
    signature.
    """

    def __init__(self, max_depth: int = 64, max_tables: int = 1_000_000) -> None:
        if max_depth < 1 or max_tables < 1:
            raise ValueError("max_depth and max_tables must be positive")
        self.max_depth = max_depth
        self.max_tables = max_tables
        self.name = "TableRootValidator"

    def _fail(self, reason: str) -> ValidationFailed:
        return ValidationFailed(self.name, reason)

    def validate(self, payload: Any) -> None:
        buf = memoryview(payload)
        size = len(buf)
        if size < 4:
            raise self._fail(f"{size} bytes cannot hold a root offset")
        if size > 0x7FFFFFFF:
            raise self._fail("a FlatBuffer is at most 2 GiB")
        (table,) = _U32.unpack_from(buf, 0)
        if table % 4 or table + 4 > size:
            raise self._fail(f"root table offset {table} is outside the buffer or misaligned")
        (soffset,) = _I32.unpack_from(buf, table)
        vtable = table - soffset
        if vtable < 0 or vtable % 2 or vtable + 4 > size:
            raise self._fail(f"vtable at {vtable} is outside the buffer or misaligned")
        vtable_len, table_len = struct.unpack_from("<HH", buf, vtable)
        if vtable_len < 4 or vtable_len % 2 or vtable + vtable_len > size:
            raise self._fail(f"vtable length {vtable_len} is invalid for a buffer of {size} bytes")
        if table_len < 4 or table + table_len > size:
            raise self._fail(f"table length {table_len} runs past the buffer end")
        for slot in range(4, vtable_len, 2):
            (field,) = _U16.unpack_from(buf, vtable + slot)
            if field and (field < 4 or field >= table_len):
                raise self._fail(
                    f"field {(slot - 4) // 2} at offset {field} lies outside its table of {table_len} bytes"
                )
