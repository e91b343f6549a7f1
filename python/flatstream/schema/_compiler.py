"""The codec compiler of one schema: the encoding and decoding halves
joined, one instance per (schema, force_defaults) kept on the schema."""

from __future__ import annotations

from typing import Optional, Tuple

from ._decoder import _Decoder
from ._encoder import _Encoder
from .model import Schema

__all__ = ["_Compiler", "compiler_for", "fixed_message"]


class _Compiler(_Encoder, _Decoder):
    """Generates the encoders and decoders of one schema (per force_defaults)."""


def compiler_for(schema: Schema, force_defaults: bool) -> _Compiler:
    """The compiler of ``schema``, made on first use and kept on it."""
    compilers = schema.__dict__.setdefault("_compilers", {})
    compiler = compilers.get(force_defaults)
    if compiler is None:
        compiler = compilers[force_defaults] = _Compiler(schema, force_defaults)
    return compiler  # type: ignore[no-any-return]


def fixed_message(schema: Schema, name: str, ident: Optional[str]) -> Optional[Tuple[bytes, int]]:
    """For a table of scalars and structs: the bytes before its inline data,
    and the length, of every buffer the official builder (and a codec) makes
    with all its fields present and ``ident`` as file identifier; None for
    other tables. The verifier checks such buffers by comparison."""
    return compiler_for(schema, False).fixed_message(name, ident.encode("ascii") if ident else b"")
