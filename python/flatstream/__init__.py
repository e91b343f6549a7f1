"""flatstream: durable, replayable, checksummed streams of FlatBuffers messages.

The wire format is the Rust ``flatstream`` crate's (v0.2.7), byte for byte:
``[u32 LE length][0/2/4/8-byte checksum][payload]``.

    import flatstream as fs

    with fs.open("events.bin", "wb", checksum="xxh3_64") as w:
        w.write_payload(b"...")
    with fs.open("events.bin", "rb", checksum="xxh3_64") as r:
        for payload in r:
            ...
"""

from __future__ import annotations

from . import _kernels
from ._open import open
from .aio import AsyncStreamReader, AsyncStreamWriter
from .io.background import BackgroundWriter, WriterStats
from .wire.checksums import (
    CHECKSUMS,
    BuiltinChecksum,
    Checksum,
    Crc16,
    Crc32,
    Crc32c,
    NoChecksum,
    XxHash64,
    Xxh3_64,
    resolve_checksum,
)
from .wire.decoder import END, NEED_DATA, FrameDecoder
from .errors import (
    ChecksumMismatch,
    CorruptionDetected,
    FlatstreamError,
    InvalidFrame,
    UnexpectedEof,
    ValidationFailed,
)
from .wire.framing import (
    DEFAULT_MAX_FRAME_LEN,
    MAX_PAYLOAD_LEN,
    ChecksumDeframer,
    ChecksumFramer,
    DefaultDeframer,
    DefaultFramer,
    Deframer,
    Framer,
)
from .io.memory import (
    AdaptiveWatermarkPolicy,
    MemoryPolicy,
    NoOpPolicy,
    ReclamationInfo,
    ReclamationReason,
    SizeThresholdPolicy,
)
from .follow import FileReplaced, FileTruncated, Follower, FollowError, follow
from .io.reader import StreamReader
from .rotating import RotatingWriter, SegmentReader, open_segments
from .io.recovery import RecoveryEnd, RecoveryReport, recover, recover_file
from .io.salvage import SalvageReport, salvage
from .io.scanning import FrameIndex, ScanSummary, count, scan, verify
from .schema.columnar import write_columns
from .arrow import read_arrow, read_arrow_batches
from .schema import (
    Codec,
    DecodeError,
    EncodeError,
    Schema,
    SchemaError,
    SchemaVerifier,
    VerificationError,
    VerifyOptions,
    codec,
    field,
    load_schema,
    struct,
    table,
    UnionValue,
    FixedLength,
)
from .schema import verify as verify_buffer
from .schema.types import f32, f64, i8, i16, i32, i64, u8, u16, u32, u64
from .wire.validation import (
    CompositeValidator,
    NoValidator,
    SizeValidator,
    TableRootValidator,
    TypedValidator,
    Validator,
)
from .io.writer import StreamWriter, finished_bytes

__version__ = "0.1.0"

#: "native" when the Rust kernels are in use, "python" for the pure twins.
KERNELS = _kernels.IMPLEMENTATION

__all__ = [
    "open",
    "KERNELS",
    "CHECKSUMS",
    "BuiltinChecksum",
    "Checksum",
    "Crc16",
    "Crc32",
    "Crc32c",
    "NoChecksum",
    "XxHash64",
    "Xxh3_64",
    "resolve_checksum",
    "END",
    "NEED_DATA",
    "FrameDecoder",
    "ChecksumMismatch",
    "CorruptionDetected",
    "FlatstreamError",
    "InvalidFrame",
    "UnexpectedEof",
    "ValidationFailed",
    "DEFAULT_MAX_FRAME_LEN",
    "MAX_PAYLOAD_LEN",
    "ChecksumDeframer",
    "ChecksumFramer",
    "DefaultDeframer",
    "DefaultFramer",
    "Deframer",
    "Framer",
    "AdaptiveWatermarkPolicy",
    "MemoryPolicy",
    "NoOpPolicy",
    "ReclamationInfo",
    "ReclamationReason",
    "SizeThresholdPolicy",
    "StreamReader",
    "RecoveryEnd",
    "RecoveryReport",
    "recover",
    "recover_file",
    "salvage",
    "SalvageReport",
    "FrameIndex",
    "ScanSummary",
    "count",
    "scan",
    "write_columns",
    "read_arrow",
    "read_arrow_batches",
    "verify",
    "CompositeValidator",
    "NoValidator",
    "SizeValidator",
    "TableRootValidator",
    "TypedValidator",
    "Validator",
    "StreamWriter",
    "finished_bytes",
    "BackgroundWriter",
    "WriterStats",
    "AsyncStreamReader",
    "AsyncStreamWriter",
    "follow",
    "Follower",
    "FollowError",
    "FileTruncated",
    "FileReplaced",
    "RotatingWriter",
    "SegmentReader",
    "open_segments",
    # schema-compiled codecs (flatstream.schema)
    "table",
    "struct",
    "field",
    "codec",
    "Codec",
    "load_schema",
    "UnionValue",
    "FixedLength",
    "Schema",
    "SchemaError",
    "EncodeError",
    "DecodeError",
    "SchemaVerifier",
    "VerifyOptions",
    "VerificationError",
    "verify_buffer",
    "u8",
    "u16",
    "u32",
    "u64",
    "i8",
    "i16",
    "i32",
    "i64",
    "f32",
    "f64",
]
