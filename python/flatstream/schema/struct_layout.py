"""A struct's layout as flatc computes it: each field's offset and the
padding after it, the struct's size and alignment (fixed-length arrays
included). Used for structs written in Python, which have no flatc-computed
layout."""

from __future__ import annotations

from typing import Optional, Tuple

from .model import SCALARS, BaseType, FieldDef, FieldType, Schema, SchemaError, StructDef

__all__ = ["layout_struct", "field_size_align"]


def field_size_align(ftype: FieldType, schema: Schema) -> Tuple[int, int]:
    """(size, alignment) of a struct field of type ``ftype``."""
    if ftype.base is BaseType.OBJ:
        inner = schema.structs[ftype.ref or ""]
        return inner.bytesize, inner.minalign
    if ftype.base is BaseType.ARRAY:
        element = FieldType(ftype.element, ref=ftype.ref)
        if element.base is BaseType.ARRAY:
            raise SchemaError("arrays of arrays are not part of the schema language")
        size, align = field_size_align(element, schema)
        return size * ftype.fixed_length, align
    size = SCALARS[ftype.base].size
    return size, size


def layout_struct(struct: StructDef, schema: Schema, force_align: Optional[int] = None) -> None:
    """Fill in the offsets, padding, size and alignment of ``struct`` the way
    ``flatc`` lays structs out."""
    offset = 0
    minalign = 1
    previous: Optional[FieldDef] = None
    for fdef in struct.fields:
        size, align = field_size_align(fdef.type, schema)
        padding = -offset % align
        if previous is not None:
            previous.padding = padding
        offset += padding
        fdef.offset = offset
        fdef.padding = 0
        offset += size
        minalign = max(minalign, align)
        previous = fdef
    if force_align is not None:
        minalign = max(minalign, force_align)
    tail = -offset % minalign
    if previous is not None:
        previous.padding = tail
    struct.minalign = minalign
    struct.bytesize = offset + tail
