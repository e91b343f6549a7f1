"""Schema-compiled codecs (work in progress)."""

from .bfbs import load_schema
from .codec import Codec, codec
from .decorators import field, schema_of, struct, table
from .errors import DecodeError, EncodeError, VerificationError
from .model import Schema
from .types import f32, f64, i8, i16, i32, i64, u8, u16, u32, u64

__all__ = [
    "load_schema", "Codec", "codec", "field", "schema_of", "struct", "table",
    "DecodeError", "EncodeError", "VerificationError", "Schema",
    "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64",
]
