"""Scalar annotation types for ``@fs.table`` and ``@fs.struct`` classes.

``fs.u64`` is ``Annotated[int, ...]``: a type checker sees ``int`` (so
``TelemetryEvent(1, 2, 3.0)`` type-checks), the schema builder sees the wire
type. ``bool``, ``str`` and ``bytes`` are used as plain Python types; a plain
``int`` means ``fs.i64`` and a plain ``float`` ``fs.f64``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Union

from .model import BaseType

__all__ = ["UnionValue", "FixedLength", "Scalar", "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64"]


@dataclass(frozen=True)
class Scalar:
    """The marker inside ``Annotated[int, Scalar(...)]`` naming a wire type."""

    base: BaseType

    def __repr__(self) -> str:
        return f"fs.{_NAMES[self.base]}"


_NAMES = {
    BaseType.UBYTE: "u8",
    BaseType.USHORT: "u16",
    BaseType.UINT: "u32",
    BaseType.ULONG: "u64",
    BaseType.BYTE: "i8",
    BaseType.SHORT: "i16",
    BaseType.INT: "i32",
    BaseType.LONG: "i64",
    BaseType.FLOAT: "f32",
    BaseType.DOUBLE: "f64",
}

u8 = Annotated[int, Scalar(BaseType.UBYTE)]
u16 = Annotated[int, Scalar(BaseType.USHORT)]
u32 = Annotated[int, Scalar(BaseType.UINT)]
u64 = Annotated[int, Scalar(BaseType.ULONG)]
i8 = Annotated[int, Scalar(BaseType.BYTE)]
i16 = Annotated[int, Scalar(BaseType.SHORT)]
i32 = Annotated[int, Scalar(BaseType.INT)]
i64 = Annotated[int, Scalar(BaseType.LONG)]
f32 = Annotated[float, Scalar(BaseType.FLOAT)]
f64 = Annotated[float, Scalar(BaseType.DOUBLE)]


@dataclass(frozen=True)
class UnionValue:
    """A union field's value with its member named explicitly: ``member`` is
    the member's name as the schema spells it (``"M3"``) or its type number.

    A union whose members are tables of different classes needs none of
    this: the value's class says which member it is. Where several members
    hold the same table (aliased members, ``union U { M1: T, M2: T }``),
    encoding needs to know which one: give ``UnionValue("M2", t)``, or set
    the owner's ``<field>_type`` attribute (the decoder sets it, so a decoded
    object encodes back to the same member).
    """

    member: Union[str, int]
    value: Any


@dataclass(frozen=True)
class FixedLength:
    """The marker of a struct's fixed-length array field (``[int:3]`` in
    ``.fbs``): ``pos: Annotated[list[fs.f32], fs.FixedLength(3)]``. The
    field decodes as a list and encodes from any sequence of exactly
    ``length`` items."""

    length: int
