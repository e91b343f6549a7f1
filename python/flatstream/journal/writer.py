"""JournalWriter: writes a journal (header, user frames or compressed blocks,
index frames, footer on close), or continues one (``JournalWriter.append``)."""

from __future__ import annotations

import mmap
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

import flatbuffers
import numpy as np

from .. import _kernels
from ..wire.checksums import BuiltinChecksum, ChecksumLike, resolve_checksum
from ..errors import InvalidFrame
from ..wire.framing import ChecksumDeframer, Framer
from ..io.recovery import RecoveryEnd, RecoveryReport, recover_file
from . import blocks
from .detect import sniff
from .records import (
    KEY_NONE,
    NO_OFFSET,
    RESERVED_PREFIX,
    FooterRecord,
    HeaderRecord,
    IndexRecord,
    check_user_payload,
    encode_block,
    encode_footer,
    encode_header,
    encode_index,
    key_bits,
)
from .schema_info import SchemaInfo, describe_schema, key_kind_of

__all__ = ["JournalWriter", "DEFAULT_INDEX_EVERY", "DEFAULT_INDEX_EVERY_BYTES"]

DEFAULT_INDEX_EVERY = 4096
DEFAULT_INDEX_EVERY_BYTES = 1 << 20
_MAX_PAYLOAD = (1 << 32) - 1


def _producer_version() -> str:
    try:
        from importlib.metadata import version

        return version("flatstream")
    except Exception:  # not installed as a distribution (a source checkout)
        return "unknown"


class JournalWriter:
    """Writes user payloads into a journal file it owns.

    ``write_payload(bytes)`` writes one payload as is; ``write(obj)`` also
    takes a ``flatbuffers.Builder`` (finished) or, with a codec/``@fs.table``
    schema, an object to encode. ``close()`` writes the last index and the
    footer (the clean-close mark). After a crash the file is still a journal:
    everything written before the torn frame reads back.

    An ``OSError`` from the file (a full disk) propagates unchanged and stops
    the writer: the frame it interrupted may be torn, so nothing more is
    written (no index, no footer on ``close``), and the file stays a journal
    with at most a torn tail, which ``fs.open(path, "ab")`` repairs.
    """

    def __init__(
        self,
        file: Any,
        *,
        checksum: ChecksumLike = "xxh3_64",
        schema: Any = None,
        metadata: Optional[Dict[str, str]] = None,
        compression: Optional[str] = None,
        index_every: int = DEFAULT_INDEX_EVERY,
        index_every_bytes: int = DEFAULT_INDEX_EVERY_BYTES,
        key: Optional[str] = None,
        block_size: int = blocks.DEFAULT_BLOCK_SIZE,
        producer: str = "flatstream-python",
        close_file: bool = True,
        _resume: Optional[Dict[str, Any]] = None,
    ) -> None:
        resolved = resolve_checksum(checksum)
        if not isinstance(resolved, BuiltinChecksum):
            raise ValueError("a journal needs a built-in checksum (the header names it)")
        if index_every < 1 or index_every_bytes < 1 or block_size < 1:
            raise ValueError("index_every, index_every_bytes and block_size must be >= 1")
        if block_size > blocks.MAX_BLOCK_SIZE:
            raise ValueError(f"block_size must be at most {blocks.MAX_BLOCK_SIZE}")
        self.checksum = resolved
        self._framer = Framer(resolved)
        self._file = file
        self._close_file = close_file
        self._codec_id = 0 if compression in (None, "none") else blocks.codec_id(str(compression))
        self.compression = "none" if not self._codec_id else str(compression)
        self.index_every = index_every
        self.index_every_bytes = index_every_bytes
        self.block_size = block_size
        self.repaired: Optional[RecoveryReport] = None
        self.closed = False
        # The error that stopped the writer (see the class docstring).
        self.failed: Optional[BaseException] = None
        self._block = bytearray()
        self._block_frames = 0
        self._chunk_ends: List[Tuple[int, int]] = []  # (raw offset, frames) where chunks end
        self._builder = flatbuffers.Builder(1024)
        if _resume is not None:
            info: SchemaInfo = _resume["schema_info"]
            self.key = _resume["key"]
            self._key_kind = _resume["key_kind"]
        else:
            info = describe_schema(schema)
            self.key = key or None
            self._key_kind = KEY_NONE
            if self.key is not None:
                if info.schema is None:
                    raise ValueError("key= needs schema= (the key is a field of the root table)")
                self._key_kind = key_kind_of(info.schema, info.root_type, self.key)
        self._codec = info.codec
        if self._codec is None and info.schema is not None and info.root_type:
            self._codec = info.schema.codec(info.root_type)
        if self.key is not None and self._codec is None:
            raise ValueError("key= needs a schema with a root table")
        if _resume is not None:
            self.__dict__.update(_resume["state"])
            return
        header = HeaderRecord(
            checksum=resolved.name,
            producer=producer,
            producer_version=_producer_version(),
            created_unix_ns=time.time_ns(),
            metadata={str(k): str(v) for k, v in (metadata or {}).items()},
            schema_bfbs=info.bfbs,
            schema_fbs=info.fbs,
            root_type=info.root_type,
            key_field=self.key or "",
            key_kind=self._key_kind,
            compression=self.compression,
            index_every_frames=index_every,
            index_every_bytes=index_every_bytes,
        )
        self.offset = 0
        self.frames_written = 0
        self.payload_bytes = 0
        self.index_count = 0
        self.last_index_offset = NO_OFFSET
        self._put(encode_header(header))
        self._start_segment()

    # -- state ----------------------------------------------------------------

    def _start_segment(self) -> None:
        self._seg_first_frame = self.frames_written + self._block_frames
        self._seg_first_offset = self.offset
        self._seg_frames = 0
        self._seg_bytes = 0
        self._seg_payload = 0
        self._key_min: Any = None
        self._key_max: Any = None

    def _put(self, payload: Any) -> None:
        self._write_framed(self._framer.frame(payload))

    def _write_framed(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except BaseException as error:
            self.failed = error
            raise
        self.offset += len(data)

    @property
    def bytes_written(self) -> int:
        """Bytes in the file up to the last frame written (header included)."""
        return self.offset

    def fileno(self) -> int:
        """The file's descriptor (for ``os.fsync`` after :meth:`flush`)."""
        return int(self._file.fileno())

    def check_payload(self, data: Any) -> None:
        """Raise what :meth:`write_payload` would raise for ``data``, writing nothing."""
        if len(data) > _MAX_PAYLOAD:
            raise InvalidFrame("payload too large for a frame", declared_len=len(data), limit=_MAX_PAYLOAD)
        check_user_payload(data)

    # -- writing --------------------------------------------------------------

    def write_payload(self, data: Any) -> None:
        """Write one user payload (any bytes-like), byte for byte."""
        self._check_open()
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self.check_payload(view)
        if self.key is not None:
            assert self._codec is not None
            value = getattr(self._codec.decode(view), self.key)
            if self._key_min is None or value < self._key_min:
                self._key_min = value
            if self._key_max is None or value > self._key_max:
                self._key_max = value
        if self._codec_id:
            if 4 + len(view) + len(self._block) > blocks.MAX_BLOCK_SIZE:
                if self._block_frames:
                    self._flush_block()
                if 4 + len(view) > blocks.MAX_BLOCK_SIZE:
                    raise InvalidFrame(
                        "payload too large for a compressed block", declared_len=len(view),
                        limit=blocks.MAX_BLOCK_SIZE - 4,
                    )
            self._block += len(view).to_bytes(4, "little")
            self._block += view
            self._block_frames += 1
            chunk_start = self._chunk_ends[-1][0] if self._chunk_ends else 0
            if len(self._block) - chunk_start >= blocks.CHUNK_SIZE:
                self._chunk_ends.append((len(self._block), self._block_frames))
            self._seg_payload += len(view)
            if len(self._block) >= self.block_size:
                self._flush_block()
            return
        before = self.offset
        self._put(view)
        self.frames_written += 1
        self.payload_bytes += len(view)
        self._seg_frames += 1
        self._seg_payload += len(view)
        self._seg_bytes += self.offset - before
        if self._seg_frames >= self.index_every or self._seg_bytes >= self.index_every_bytes:
            self._write_index()

    def write(self, item: Any) -> None:
        """Write ``item``: bytes-like, a finished ``flatbuffers.Builder``, or an
        object the journal's codec encodes."""
        if isinstance(item, flatbuffers.Builder):
            self.write_payload(item.Output())
            return
        try:
            view = memoryview(item)
        except TypeError:
            if self._codec is None:
                raise TypeError(
                    f"cannot write {type(item).__name__}: pass bytes, a Builder, or open the "
                    "journal with schema= to encode objects"
                ) from None
            self.write_payload(self._codec.encode(item))
            return
        self.write_payload(view)

    def write_many(self, items: Iterable[Any]) -> int:
        """Write many messages; returns how many. A batch of ``bytes`` (with
        no key field to index) is framed natively in one call and checked
        whole first, so a refusal writes nothing of it; the file is the same
        as from one ``write`` per item."""
        items = items if isinstance(items, list) else list(items)
        if self.key is not None or not items or not all(type(i) is bytes for i in items):
            for item in items:
                self.write(item)
            return len(items)
        self._check_open()
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
        over = np.flatnonzero(lengths > _MAX_PAYLOAD)
        if len(over):
            raise InvalidFrame("payload too large for a frame", declared_len=int(lengths[over[0]]),
                               limit=_MAX_PAYLOAD)
        # A block's raw bytes are width-0 frames; plain user frames carry the checksum.
        width = 0 if self._codec_id else self.checksum.width
        header = 4 + width
        if self._codec_id:
            framed, _ = _kernels.frame_many(items, 0, "none", _MAX_PAYLOAD)
        else:
            framed = self._framer.frame_many(items)
        ends = np.cumsum(lengths + header)
        self._check_reserved(items, framed, ends - lengths, lengths)
        if self._codec_id:
            self._gather_framed(items, framed, ends)
        else:
            self._write_segments(framed, ends, header)
        return len(items)

    @staticmethod
    def _check_reserved(items: List[bytes], framed: Any, payload_starts: Any, lengths: Any) -> None:
        """``check_user_payload`` of every item at once (numpy over the frames)."""
        view = np.frombuffer(framed, dtype=np.uint8)
        long_enough = np.flatnonzero(lengths >= 8)
        where = payload_starts[long_enough] + 4
        hit = ((view[where] == RESERVED_PREFIX[0]) & (view[where + 1] == RESERVED_PREFIX[1])
               & (view[where + 2] == RESERVED_PREFIX[2]))
        if hit.any():
            check_user_payload(items[int(long_enough[np.argmax(hit)])])  # raises

    def _write_segments(self, framed: Any, ends: Any, header: int) -> None:
        """Frames ending at ``ends`` in ``framed``, written a segment at a time
        with the index frames where ``write_payload`` would put them."""
        view = memoryview(framed)
        n_total, pos, done = len(ends), 0, 0  # frames written, bytes of framed written
        while pos < n_total:
            last = min(n_total, pos + self.index_every - self._seg_frames) - 1
            # where the segment reaches index_every_bytes, as write_payload finds it
            reach = int(np.searchsorted(ends[pos:last + 1], done + self.index_every_bytes
                                        - self._seg_bytes, side="left"))
            last = min(last, pos + reach)
            stop = int(ends[last])
            self._write_framed(view[done:stop])
            n, nbytes = last + 1 - pos, stop - done
            self.frames_written += n
            self.payload_bytes += nbytes - n * header
            self._seg_frames += n
            self._seg_payload += nbytes - n * header
            self._seg_bytes += nbytes
            if self._seg_frames >= self.index_every or self._seg_bytes >= self.index_every_bytes:
                self._write_index()
            pos, done = last + 1, stop

    def _gather_framed(self, items: List[bytes], raw: Any, ends: Any) -> None:
        """Raw block frames ending at ``ends`` in ``raw``, gathered into
        blocks, chunks and flushes cut where ``write_payload`` would cut them."""
        view = memoryview(raw)
        n_total, pos, done = len(ends), 0, 0
        while pos < n_total:
            size = int(ends[pos]) - done
            if size + len(self._block) > blocks.MAX_BLOCK_SIZE:
                self.write_payload(items[pos])  # the rare payload that needs a new block
                pos, done = pos + 1, done + size
                continue
            base = len(self._block) - done  # block offset = framed offset + base
            # the run ends where the block is full, or before a frame it cannot hold
            full = int(np.searchsorted(ends[pos:], self.block_size - base, side="left"))
            fits = int(np.searchsorted(ends[pos:], blocks.MAX_BLOCK_SIZE - base, side="right")) - 1
            last = min(pos + full, pos + fits, n_total - 1)
            stop = int(ends[last])
            chunk_start = self._chunk_ends[-1][0] if self._chunk_ends else 0
            run_ends = ends[pos:last + 1] + base
            # chunk ends: the first frame that takes a chunk to CHUNK_SIZE bytes
            at = int(np.searchsorted(run_ends, chunk_start + blocks.CHUNK_SIZE, side="left"))
            while at < len(run_ends):
                end_at = int(run_ends[at])
                self._chunk_ends.append((end_at, self._block_frames + at + 1))
                at = int(np.searchsorted(run_ends, end_at + blocks.CHUNK_SIZE, side="left"))
            self._block += view[done:stop]
            n = last + 1 - pos
            self._block_frames += n
            self._seg_payload += stop - done - 4 * n
            pos, done = last + 1, stop
            if len(self._block) >= self.block_size:
                self._flush_block()

    def _flush_block(self) -> None:
        if not self._block_frames:
            return
        raw = bytes(self._block)
        ends = self._chunk_ends
        if not ends or ends[-1][0] != len(raw):
            ends = ends + [(len(raw), self._block_frames)]
        packed, chunks = blocks.compress_chunks(self._codec_id, raw, ends)
        if len(ends) == 1:
            chunks = ((), (), ())  # one chunk: the plain block layout
        first = self.frames_written
        before = self.offset
        self._put(encode_block(self._codec_id, first, self._block_frames, len(raw), packed, chunks))
        self.frames_written += self._block_frames
        self.payload_bytes += len(raw) - 4 * self._block_frames
        self._seg_frames += self._block_frames
        self._seg_bytes += self.offset - before
        self._block = bytearray()
        self._block_frames = 0
        self._chunk_ends = []
        if self._seg_frames >= self.index_every or self._seg_bytes >= self.index_every_bytes:
            self._write_index()

    def _write_index(self) -> None:
        if not self._seg_frames:
            return
        kind = self._key_kind
        record = IndexRecord(
            self_offset=self.offset,
            prev_index_offset=self.last_index_offset,
            first_frame=self._seg_first_frame,
            frame_count=self._seg_frames,
            first_offset=self._seg_first_offset,
            payload_bytes=self._seg_payload,
            key_min=key_bits(self._key_min, kind) if self._key_min is not None else 0,
            key_max=key_bits(self._key_max, kind) if self._key_max is not None else 0,
        )
        self.last_index_offset = self.offset
        self._put(encode_index(record))
        self.index_count += 1
        self._start_segment()

    def flush(self) -> None:
        """Write the block being gathered (compressed journals) and flush the file."""
        self._check_open()
        self._flush_block()
        try:
            self._file.flush()
        except BaseException as error:
            self.failed = error
            raise

    def close(self) -> None:
        """Write the last block, index and the footer; close the file."""
        if self.closed:
            return
        if self.failed is not None:
            # No index or footer after a frame that may be torn; closing the
            # file may raise the same error again (its buffer still waits).
            self.closed = True
            if self._close_file:
                self._file.close()
            return
        try:
            self._flush_block()
            self._write_index()
            self._put(encode_footer(FooterRecord(
                self_offset=self.offset,
                frame_count=self.frames_written,
                payload_bytes=self.payload_bytes,
                last_index_offset=self.last_index_offset,
                index_count=self.index_count,
            )))
            self._file.flush()
        finally:
            self.closed = True
            if self._close_file:
                self._file.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("write to a closed JournalWriter")
        if self.failed is not None:
            raise ValueError(
                "this JournalWriter stopped after a failed write; the last frame may be torn "
                "(fs.open(path, 'ab') repairs it)"
            ) from self.failed

    def __enter__(self) -> "JournalWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<JournalWriter {self.checksum.name} frames={self.frames_written} offset={self.offset}>"

    # -- appending ------------------------------------------------------------

    @classmethod
    def append(cls, path: Any, *, checksum: ChecksumLike = None, max_frame_len: Optional[int] = None) -> "JournalWriter":
        """Continue the journal at ``path``: verify its header and tail, cut a
        torn last frame (reported as ``repaired``), continue numbering and the
        index. A file that is not a journal, a different ``checksum``, or
        damage other than a torn tail: refused, the file untouched."""
        file = open(path, "r+b")
        try:
            return cls._append(file, checksum, max_frame_len)
        except BaseException:
            file.close()
            raise

    @classmethod
    def _append(cls, file: Any, checksum: ChecksumLike, max_frame_len: Optional[int]) -> "JournalWriter":
        import os

        size = os.fstat(file.fileno()).st_size
        if size == 0:
            from .detect import NotAJournal

            raise NotAJournal("cannot append: the file is empty, not a journal (open it with 'wb')")
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            sniffed = sniff(buf)
        if checksum is not None:
            wanted = resolve_checksum(checksum)
            if wanted.name != sniffed.checksum.name:
                raise ValueError(
                    f"cannot append with checksum {wanted.name!r}: the journal's header says "
                    f"{sniffed.checksum.name!r}; the file is untouched"
                )
        # The tail: a torn last frame is cut; corruption raises (file untouched).
        report = recover_file(file, ChecksumDeframer(sniffed.checksum).bounded(max_frame_len or (1 << 31)))
        repaired: Optional[RecoveryReport] = None
        if report.end is RecoveryEnd.TORN_TAIL:
            file.truncate(report.last_good_offset)
            repaired = report
        from .reader import JournalReader

        reader = JournalReader(file, max_frame_len=max_frame_len, close_source=False)
        try:
            layout = reader.layout()
            header = sniffed.header
            last = layout.indexes[-1] if layout.indexes else None
            seg_first = last.first_frame + last.frame_count if last else 0
            hl = 4 + sniffed.checksum.width
            if layout.blocks:
                open_blocks = [b for b in layout.blocks if b.first_frame >= seg_first]
                seg_first_offset = open_blocks[0].offset if open_blocks else layout.end_offset
            elif seg_first < len(layout.user_offsets):
                seg_first_offset = int(layout.user_offsets[seg_first]) - hl
            else:
                seg_first_offset = layout.end_offset
            key = header.key_field or None
            key_min = key_max = None
            seg_payload = 0
            codec = reader.codec() if key is not None else None
            for i in range(seg_first, layout.frame_count):
                payload = reader[i]
                seg_payload += len(payload)
                if codec is not None:
                    value = getattr(codec.decode(payload), str(key))
                    key_min = value if key_min is None or value < key_min else key_min
                    key_max = value if key_max is None or value > key_max else key_max
            info = SchemaInfo(reader.header.schema, header.schema_bfbs, header.schema_fbs,
                              header.root_type, codec)
        finally:
            reader.close()
        file.seek(layout.end_offset)
        state = {
            "offset": layout.end_offset,
            "frames_written": layout.frame_count,
            "payload_bytes": layout.payload_bytes,
            "index_count": len(layout.indexes),
            "last_index_offset": last.self_offset if last else NO_OFFSET,
            "_seg_first_frame": seg_first,
            "_seg_first_offset": seg_first_offset,
            "_seg_frames": layout.frame_count - seg_first,
            "_seg_bytes": layout.end_offset - seg_first_offset,
            "_seg_payload": seg_payload,
            "_key_min": key_min,
            "_key_max": key_max,
        }
        writer = cls(
            file,
            checksum=sniffed.checksum,
            compression=header.compression,
            index_every=header.index_every_frames or DEFAULT_INDEX_EVERY,
            index_every_bytes=header.index_every_bytes or DEFAULT_INDEX_EVERY_BYTES,
            _resume={"schema_info": info, "key": key, "key_kind": header.key_kind, "state": state},
        )
        writer.repaired = repaired
        return writer
