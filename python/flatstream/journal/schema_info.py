"""What a journal header stores about the payload schema, and back.

The header keeps the binary reflection schema (``.bfbs``) when it can be had:
given as bytes/a ``.bfbs`` path, or compiled from the schema's ``.fbs`` text by
``flatc`` when ``flatc`` is installed. The ``.fbs`` text (``Schema.to_fbs()``)
is stored as well, so a schema written in Python (``@fs.table``) is kept even
without ``flatc``; reading it back then needs ``flatc``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple, Optional

from ..schema import Codec, Schema, SchemaError, codec
from ..schema.bfbs import compile_fbs, schema_from_bfbs
from ..schema.model import BaseType

__all__ = ["SchemaInfo", "describe_schema", "load_header_schema", "key_kind_of"]


class SchemaInfo(NamedTuple):
    schema: Optional[Schema]
    bfbs: bytes
    fbs: str
    root_type: str
    codec: Optional[Codec]


def _compile_text(text: str) -> bytes:
    """``.bfbs`` of ``.fbs`` text, or ``b""`` when flatc is unavailable or refuses."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "payload.fbs"
        path.write_text(text, encoding="utf-8")
        try:
            return compile_fbs(path)
        except (SchemaError, OSError):
            return b""


def describe_schema(spec: Any) -> SchemaInfo:
    """``spec``: None, a :class:`Schema`, a codec, an ``@fs.table`` class,
    ``.bfbs`` bytes, or a path to a ``.bfbs``/``.fbs`` file."""
    if spec is None:
        return SchemaInfo(None, b"", "", "", None)
    if isinstance(spec, (bytes, bytearray, memoryview)):
        data = bytes(spec)
        schema = schema_from_bfbs(data)
        return SchemaInfo(schema, data, schema.to_fbs(), schema.root_table or "", None)
    if isinstance(spec, (str, os.PathLike)):
        path = Path(spec)
        data = path.read_bytes() if path.suffix == ".bfbs" else compile_fbs(path)
        return describe_schema(data)
    the_codec: Optional[Codec] = None
    if isinstance(spec, Schema):
        schema = spec
        root = schema.root_table or ""
    else:
        the_codec = spec if isinstance(spec, Codec) else codec(spec)
        schema = the_codec.schema
        root = the_codec.name
    text = schema.to_fbs()
    return SchemaInfo(schema, _compile_text(text), text, root, the_codec)


def load_header_schema(bfbs: bytes, fbs: str) -> Optional[Schema]:
    """The schema a header stores, or None when it stores none (or only
    ``.fbs`` text and ``flatc`` is not installed)."""
    if bfbs:
        return schema_from_bfbs(bfbs)
    if fbs:
        data = _compile_text(fbs)
        if data:
            return schema_from_bfbs(data)
    return None


def key_kind_of(schema: Schema, root_type: str, key: str) -> int:
    """The header's key_kind for scalar field ``key`` of the root table."""
    from .records import KEY_FLOAT, KEY_INT, KEY_UINT

    table = schema.table(root_type or None)
    try:
        base = table.field_named(key).type.base
    except (SchemaError, KeyError, AttributeError):
        raise ValueError(f"key={key!r}: {table.name} has no such field") from None
    if base in (BaseType.FLOAT, BaseType.DOUBLE):
        return KEY_FLOAT
    if base in (BaseType.BYTE, BaseType.SHORT, BaseType.INT, BaseType.LONG):
        return KEY_INT
    if base in (BaseType.BOOL, BaseType.UBYTE, BaseType.USHORT, BaseType.UINT, BaseType.ULONG, BaseType.UTYPE):
        return KEY_UINT
    raise ValueError(f"key={key!r} must be a scalar field of {table.name}, it is {base.name}")
