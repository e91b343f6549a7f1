"""Schema-compiled codecs: FlatBuffers tables encoded and decoded by small
functions generated once per table, and a schema-driven verifier.

    import flatstream as fs

    @fs.table
    class TelemetryEvent:
        device_id: fs.u64
        timestamp: fs.u64
        value: fs.f64

    codec = fs.codec(TelemetryEvent)
    payload = codec.encode(TelemetryEvent(1, 2, 3.0))   # a finished FlatBuffer
    event = codec.decode(payload)                       # a TelemetryEvent

    schema = fs.load_schema("telemetry.fbs")            # through flatc; or a .bfbs
    codec = schema.codec("TelemetryEvent")              # decode -> object with attributes
    schema.verifier("TelemetryEvent").validate(payload) # or use it as a stream validator

Modules: :mod:`.model` (the schema dataclasses), :mod:`.decorators`
(``@table``/``@struct``), :mod:`.bfbs` (loading), :mod:`.fbs_text`
(``to_fbs``), :mod:`.codecs` (the compiler), :mod:`.verifier`.
"""

from .api import codec
from .bfbs import FlatcNotFound, compile_fbs, find_flatc, load_schema, schema_from_bfbs
from .codecs import MAX_BUFFER_SIZE, Codec
from .decorators import field, is_struct, is_table, schema_of, struct, table
from .errors import DecodeError, EncodeError, VerificationError
from .fbs_text import schema_to_fbs as _schema_to_fbs  # noqa: F401  (registers Schema.to_fbs)
from .model import (
    BaseType,
    EnumDef,
    FieldDef,
    FieldType,
    Schema,
    SchemaError,
    StructDef,
    TableDef,
    UnionDef,
    UnionMember,
)
from .pyclasses import python_type as _python_type  # noqa: F401  (registers Schema.python_type)
from .types import FixedLength, UnionValue, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64
from .verifier import SchemaVerifier, VerifyOptions, verify

__all__ = [
    "load_schema",
    "schema_from_bfbs",
    "compile_fbs",
    "find_flatc",
    "FlatcNotFound",
    "Codec",
    "codec",
    "MAX_BUFFER_SIZE",
    "field",
    "is_struct",
    "is_table",
    "schema_of",
    "struct",
    "table",
    "DecodeError",
    "EncodeError",
    "VerificationError",
    "BaseType",
    "EnumDef",
    "FieldDef",
    "FieldType",
    "Schema",
    "SchemaError",
    "StructDef",
    "TableDef",
    "UnionDef",
    "UnionMember",
    "UnionValue",
    "FixedLength",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
    "SchemaVerifier",
    "VerifyOptions",
    "verify",
]
