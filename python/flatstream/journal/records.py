"""Journal metadata records: plain dataclasses, encoded as real FlatBuffers
(the official ``flatbuffers`` Builder, ``Finish(root, file_identifier)``) and
decoded by a bounds-checked table reader: the native ``read_record`` kernel
(``src/kernels/record.rs``) or its twin ``_read_record`` here.

Every read of an offset, a count or a length is checked against the buffer
before use: a hostile payload gives :class:`~flatstream.InvalidFrame`, never an
allocation sized from its bytes. See ``docs/journal-format.md``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import flatbuffers

from .. import _kernels
from ..errors import InvalidFrame

__all__ = [
    "FORMAT_VERSION",
    "HEADER_ID",
    "INDEX_ID",
    "FOOTER_ID",
    "BLOCK_ID",
    "RESERVED_PREFIX",
    "NO_OFFSET",
    "CLEAN_MARK",
    "HeaderRecord",
    "IndexRecord",
    "FooterRecord",
    "BlockRecord",
    "encode_header",
    "decode_header",
    "encode_index",
    "decode_index",
    "encode_footer",
    "decode_footer",
    "encode_block",
    "decode_block",
    "identifier_of",
    "is_metadata",
    "check_user_payload",
    "key_bits",
    "bits_key",
]

FORMAT_VERSION = 1
HEADER_ID = b"FSJH"
INDEX_ID = b"FSJI"
FOOTER_ID = b"FSJF"
BLOCK_ID = b"FSJB"
#: Identifiers starting with these bytes are the format's; user payloads may not carry them.
RESERVED_PREFIX = b"FSJ"
#: "No such frame" in offset fields.
NO_OFFSET = (1 << 64) - 1
#: The footer's clean-close mark.
CLEAN_MARK = 0x434C45414E4A4E4C

KEY_NONE, KEY_INT, KEY_UINT, KEY_FLOAT = 0, 1, 2, 3
CODEC_ZSTD, CODEC_LZ4 = 1, 2

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_D = struct.Struct("<d")
_Q = struct.Struct("<Q")
_q = _I64


def identifier_of(payload: Any) -> Optional[bytes]:
    """The 4 bytes at the file_identifier slot, or None for a payload under 8 bytes."""
    if len(payload) < 8:
        return None
    return bytes(payload[4:8])


def is_metadata(payload: Any) -> bool:
    """Whether a journal frame's payload is a metadata frame (reserved identifier)."""
    return len(payload) >= 8 and bytes(payload[4:7]) == RESERVED_PREFIX


def check_user_payload(payload: Any) -> None:
    """Refuse a user payload that would be mistaken for a metadata frame."""
    if len(payload) >= 8 and bytes(payload[4:7]) == RESERVED_PREFIX:
        raise InvalidFrame(
            f"this payload carries the file identifier {bytes(payload[4:8])!r}; identifiers "
            "starting with 'FSJ' are reserved for journal metadata and cannot be written "
            "as user messages (write it to a raw stream, or change the identifier)"
        )


def key_bits(value: Any, kind: int) -> int:
    """The u64 bit pattern of a key value (see JournalIndex.key_min)."""
    if kind == KEY_FLOAT:
        return int(_Q.unpack(_D.pack(float(value)))[0])
    if kind == KEY_INT:
        return int(_Q.unpack(_q.pack(int(value)))[0])
    return int(value)


def bits_key(bits: int, kind: int) -> Any:
    if kind == KEY_FLOAT:
        return _D.unpack(_Q.pack(bits))[0]
    if kind == KEY_INT:
        return _q.unpack(_Q.pack(bits))[0]
    return bits



# -- records ----------------------------------------------------------------


@dataclass(frozen=True)
class HeaderRecord:
    format_version: int = FORMAT_VERSION
    checksum: str = "xxh3_64"
    producer: str = ""
    producer_version: str = ""
    created_unix_ns: int = 0
    metadata: Dict[str, str] = field(default_factory=dict)
    schema_bfbs: bytes = b""
    schema_fbs: str = ""
    root_type: str = ""
    key_field: str = ""
    key_kind: int = KEY_NONE
    compression: str = "none"
    index_every_frames: int = 0
    index_every_bytes: int = 0


@dataclass(frozen=True)
class IndexRecord:
    self_offset: int
    prev_index_offset: int
    first_frame: int
    frame_count: int
    first_offset: int
    payload_bytes: int
    key_min: int = 0
    key_max: int = 0


@dataclass(frozen=True)
class FooterRecord:
    self_offset: int
    frame_count: int
    payload_bytes: int
    last_index_offset: int
    index_count: int
    clean: int = CLEAN_MARK


@dataclass(frozen=True)
class BlockRecord:
    codec: int
    first_frame: int
    frame_count: int
    raw_size: int
    data: Any  # a memoryview into the frame payload when decoded
    #: Per independently compressed chunk (empty: the block is one chunk):
    #: its user frames, compressed bytes and raw bytes.
    chunk_frames: Tuple[int, ...] = ()
    chunk_sizes: Tuple[int, ...] = ()
    chunk_raw_sizes: Tuple[int, ...] = ()


# -- encoding ---------------------------------------------------------------


def _builder(size: int = 256) -> flatbuffers.Builder:
    builder = flatbuffers.Builder(size)
    builder.ForceDefaults(True)  # fixed layouts: the footer has a fixed length
    return builder


def _finish(builder: flatbuffers.Builder, root: int, ident: bytes) -> bytes:
    builder.Finish(root, file_identifier=ident)
    return bytes(builder.Output())


def _scalar_table(ident: bytes, values: Tuple[int, ...]) -> bytes:
    builder = _builder(16 + 12 * len(values))
    builder.StartObject(len(values))
    for slot in reversed(range(len(values))):
        builder.PrependUint64Slot(slot, values[slot], 0)
    return _finish(builder, builder.EndObject(), ident)


def encode_header(h: HeaderRecord) -> bytes:
    builder = _builder(1024 + len(h.schema_bfbs) + len(h.schema_fbs))
    strings = [builder.CreateString(s) for s in (h.checksum, h.producer, h.producer_version)]
    pairs = []
    for key, value in h.metadata.items():
        k, v = builder.CreateString(str(key)), builder.CreateString(str(value))
        builder.StartObject(2)
        builder.PrependUOffsetTRelativeSlot(0, k, 0)
        builder.PrependUOffsetTRelativeSlot(1, v, 0)
        pairs.append(builder.EndObject())
    builder.StartVector(4, len(pairs), 4)
    for pair in reversed(pairs):
        builder.PrependUOffsetTRelative(pair)
    metadata = builder.EndVector()
    bfbs = builder.CreateByteVector(bytes(h.schema_bfbs))
    fbs, root_type, key_field, compression = (
        builder.CreateString(s) for s in (h.schema_fbs, h.root_type, h.key_field, h.compression)
    )
    builder.StartObject(14)
    builder.PrependUint32Slot(0, h.format_version, 0)
    for slot, ref in ((1, strings[0]), (2, strings[1]), (3, strings[2]), (5, metadata),
                      (6, bfbs), (7, fbs), (8, root_type), (9, key_field), (11, compression)):
        builder.PrependUOffsetTRelativeSlot(slot, ref, 0)
    builder.PrependInt64Slot(4, h.created_unix_ns, 0)
    builder.PrependUint8Slot(10, h.key_kind, 0)
    builder.PrependUint32Slot(12, h.index_every_frames, 0)
    builder.PrependUint64Slot(13, h.index_every_bytes, 0)
    return _finish(builder, builder.EndObject(), HEADER_ID)


def encode_index(r: IndexRecord) -> bytes:
    return _scalar_table(INDEX_ID, (
        r.self_offset, r.prev_index_offset, r.first_frame, r.frame_count,
        r.first_offset, r.payload_bytes, r.key_min, r.key_max,
    ))


def encode_footer(r: FooterRecord) -> bytes:
    return _scalar_table(FOOTER_ID, (
        r.self_offset, r.frame_count, r.payload_bytes, r.last_index_offset, r.index_count, r.clean,
    ))


def encode_block(
    codec: int,
    first_frame: int,
    frame_count: int,
    raw_size: int,
    data: bytes,
    chunks: Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]] = ((), (), ()),
) -> bytes:
    """A block frame's payload; ``chunks`` = (frames, compressed sizes, raw
    sizes) of its independently compressed chunks, or empty for one chunk."""
    builder = _builder(len(data) + 64 + 12 * len(chunks[0]))
    vec = builder.CreateByteVector(data)
    vectors = []
    for values in chunks:
        builder.StartVector(4, len(values), 4)
        for value in reversed(values):
            builder.PrependUint32(value)
        vectors.append(builder.EndVector())
    builder.StartObject(8)
    builder.PrependUint64Slot(1, first_frame, 0)
    builder.PrependUOffsetTRelativeSlot(4, vec, 0)
    if chunks[0]:
        for slot, ref in zip((5, 6, 7), vectors):
            builder.PrependUOffsetTRelativeSlot(slot, ref, 0)
    builder.PrependUint32Slot(2, frame_count, 0)
    builder.PrependUint32Slot(3, raw_size, 0)
    builder.PrependUint8Slot(0, codec, 0)
    return _finish(builder, builder.EndObject(), BLOCK_ID)


# -- decoding ---------------------------------------------------------------


class _Corrupt(Exception):
    """Why a record is corrupt (inside the twin only)."""


class _Table:
    """A bounds-checked view of a FlatBuffers table in ``buf``."""

    __slots__ = ("buf", "pos", "vt", "vt_len")

    def __init__(self, buf: Any, pos: int) -> None:
        self.buf = buf
        n = len(buf)
        if pos < 0 or pos + 4 > n:
            raise _Corrupt("table offset out of bounds")
        soff = _I32.unpack_from(buf, pos)[0]
        vt = pos - soff
        if vt < 0 or vt + 4 > n:
            raise _Corrupt("vtable out of bounds")
        vt_len, obj_len = _U16.unpack_from(buf, vt)[0], _U16.unpack_from(buf, vt + 2)[0]
        if vt_len < 4 or vt_len % 2 or vt + vt_len > n or pos + obj_len > n:
            raise _Corrupt("vtable malformed")
        self.pos, self.vt, self.vt_len = pos, vt, vt_len

    def _field(self, slot: int, size: int) -> Optional[int]:
        at = 4 + 2 * slot
        if at + 2 > self.vt_len:
            return None
        off = _U16.unpack_from(self.buf, self.vt + at)[0]
        if off == 0:
            return None
        where = self.pos + off
        if where + size > len(self.buf):
            raise _Corrupt(f"field {slot} out of bounds")
        return where

    def scalar(self, slot: int, st: struct.Struct) -> int:
        where = self._field(slot, st.size)
        return 0 if where is None else int(st.unpack_from(self.buf, where)[0])

    def _indirect(self, slot: int) -> Optional[Tuple[int, int]]:
        """(start, element count) of the vector/string at ``slot``."""
        where = self._field(slot, 4)
        if where is None:
            return None
        target = where + _U32.unpack_from(self.buf, where)[0]
        if target + 4 > len(self.buf):
            raise _Corrupt(f"field {slot} points out of bounds")
        return target + 4, _U32.unpack_from(self.buf, target)[0]

    def bytes_(self, slot: int) -> Tuple[int, int]:
        got = self._indirect(slot)
        if got is None:
            return 0, 0
        start, length = got
        if start + length > len(self.buf):
            raise _Corrupt(f"vector {slot} runs past the buffer")
        return start, length

    def u32s(self, slot: int) -> Tuple[int, ...]:
        got = self._indirect(slot)
        if got is None:
            return ()
        start, count = got
        if start + 4 * count > len(self.buf):
            raise _Corrupt(f"vector {slot} runs past the buffer")
        return struct.unpack_from(f"<{count}I", self.buf, start)

    def string(self, slot: int) -> str:
        start, length = self.bytes_(slot)
        try:
            return bytes(self.buf[start:start + length]).decode("utf-8")
        except UnicodeDecodeError:
            raise _Corrupt(f"string {slot} is not UTF-8") from None

    def tables(self, slot: int, limit: int) -> List["_Table"]:
        got = self._indirect(slot)
        if got is None:
            return []
        start, count = got
        if count > limit or start + 4 * count > len(self.buf):
            raise _Corrupt(f"vector {slot} has {count} entries, more than the buffer holds")
        return [
            _Table(self.buf, start + 4 * i + _U32.unpack_from(self.buf, start + 4 * i)[0])
            for i in range(count)
        ]


_SCALARS = {"B": _U8, "I": _U32, "Q": _U64, "q": _I64}


def _read_record(payload: Any, kinds: str) -> Tuple[Optional[List[Any]], Optional[str]]:
    """The twin of the native ``read_record`` (``src/kernels/record.rs``):
    the root table's fields, one per letter of ``kinds`` (``B``/``I``/``Q``
    unsigned 1/4/8 bytes, ``q`` signed 8 bytes, ``s`` string, ``b`` byte
    vector as ``(start, length)``, ``v`` u32 vector, ``p`` (key, value)
    string tables), as ``(values, None)``, or ``(None, why)``."""
    try:
        if len(payload) < 4:
            raise _Corrupt("table offset out of bounds")
        t = _Table(payload, _U32.unpack_from(payload, 0)[0])
        values: List[Any] = []
        for slot, kind in enumerate(kinds):
            if kind in _SCALARS:
                values.append(t.scalar(slot, _SCALARS[kind]))
            elif kind == "s":
                values.append(t.string(slot))
            elif kind == "b":
                values.append(t.bytes_(slot))
            elif kind == "v":
                values.append(t.u32s(slot))
            elif kind == "p":
                pairs = t.tables(slot, len(payload) // 4)
                values.append([(pair.string(0), pair.string(1)) for pair in pairs])
            else:
                raise ValueError(f"unknown record field kind {kind!r}")
        return values, None
    except _Corrupt as fault:
        return None, str(fault)


def _fields(payload: Any, ident: bytes, what: str, kinds: str) -> List[Any]:
    if len(payload) < 8 or bytes(payload[4:8]) != ident:
        raise InvalidFrame(f"not a journal {what}: identifier is not {ident.decode()}")
    read = _kernels.read_record or _read_record
    values, why = read(payload, kinds)
    if values is None:
        raise InvalidFrame(f"corrupt journal {what}: {why}")
    return values


def decode_header(payload: Any) -> HeaderRecord:
    (version, checksum, producer, producer_version, created, metadata, bfbs, fbs,
     root_type, key_field, key_kind, compression, every_frames, every_bytes) = _fields(
        payload, HEADER_ID, "header", "IsssqpbsssBsIQ")
    if version != FORMAT_VERSION:
        raise InvalidFrame(
            f"journal format version {version} is not supported (this flatstream reads {FORMAT_VERSION})"
        )
    start, length = bfbs
    return HeaderRecord(
        format_version=version,
        checksum=checksum,
        producer=producer,
        producer_version=producer_version,
        created_unix_ns=created,
        metadata=dict(metadata),
        schema_bfbs=bytes(payload[start:start + length]),
        schema_fbs=fbs,
        root_type=root_type,
        key_field=key_field,
        key_kind=key_kind,
        compression=compression,
        index_every_frames=every_frames,
        index_every_bytes=every_bytes,
    )


def decode_index(payload: Any) -> IndexRecord:
    return IndexRecord(*_fields(payload, INDEX_ID, "index frame", "QQQQQQQQ"))


def decode_footer(payload: Any) -> FooterRecord:
    footer = FooterRecord(*_fields(payload, FOOTER_ID, "footer", "QQQQQQ"))
    if footer.clean != CLEAN_MARK:
        raise InvalidFrame("corrupt journal footer: no clean-close mark")
    return footer


def decode_block(payload: Any) -> BlockRecord:
    codec, first_frame, frame_count, raw_size, (start, length), frames, sizes, raws = _fields(
        payload, BLOCK_ID, "block", "BQIIbvvv")
    return BlockRecord(
        codec=codec,
        first_frame=first_frame,
        frame_count=frame_count,
        raw_size=raw_size,
        data=memoryview(payload)[start:start + length],
        chunk_frames=tuple(frames),
        chunk_sizes=tuple(sizes),
        chunk_raw_sizes=tuple(raws),
    )
