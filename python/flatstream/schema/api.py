"""The front door that needs both a loader and a compiler: :func:`codec` of an
``@fs.table`` class (the decorators build its schema, the schema's codec
compiles it). Above both layers, so neither imports the other."""

from __future__ import annotations

from typing import Any, Optional

from .codecs import Codec
from .decorators import is_table, schema_of

__all__ = ["codec"]


def codec(
    cls: Any,
    *,
    force_defaults: bool = False,
    max_size: Optional[int] = None,
    file_identifier: Any = True,
) -> "Codec":
    """The codec of an ``@fs.table`` class, compiled on first use and cached.

    ``force_defaults``: write scalar fields even when they equal their default
    (``Builder.ForceDefaults(True)``). ``max_size``: refuse to encode or
    decode buffers larger than this (default and ceiling: 2 GiB - 1).
    ``file_identifier``: ``True`` writes the table's declared identifier,
    ``None``/``False`` none, a 4-character string that one.
    """
    if isinstance(cls, Codec):
        return cls
    if not is_table(cls):
        raise TypeError(f"{cls!r} is not an @flatstream.table class")
    schema = schema_of(cls)
    codec: Codec = schema.codec(
        None, force_defaults=force_defaults, max_size=max_size, file_identifier=file_identifier
    )
    return codec
