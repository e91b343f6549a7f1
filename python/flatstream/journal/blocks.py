"""Compressed blocks: many user frames in one ``FSJB`` frame.

A block's raw bytes are ``(length:u32 LE | payload)*``, compressed as
independent chunks of about :data:`CHUNK_SIZE` raw bytes cut at frame
boundaries, so random access decompresses one chunk, not the whole block.
zstd comes from the
``zstandard`` package, lz4 (block format) from ``lz4``: both are the optional
extra ``flatstream[journal-compression]`` and imported only when used.
The decompressed size is stored and bounded before anything is allocated.
"""

from __future__ import annotations

from typing import Any, List, Sequence, Tuple

from ..errors import InvalidFrame
from .records import CODEC_LZ4, CODEC_ZSTD, BlockRecord

__all__ = ["CODECS", "DEFAULT_BLOCK_SIZE", "MAX_BLOCK_SIZE", "CHUNK_SIZE", "codec_id", "compress",
           "compress_chunks", "chunks_of", "decompress", "decompress_chunk", "split", "BlockFrames"]

CODECS = {"zstd": CODEC_ZSTD, "lz4": CODEC_LZ4}
#: Raw bytes gathered before a block is compressed and written.
DEFAULT_BLOCK_SIZE = 1 << 20
#: A reader's default bound on a block's decompressed size (zip bombs stop here).
MAX_BLOCK_SIZE = 64 << 20
#: Raw bytes per independently compressed chunk of a block: ``r[i]``
#: decompresses 64 KiB, not the 1 MiB block (zstd runs at about 1 GB/s here).
CHUNK_SIZE = 64 << 10

#: One chunk: (first frame in the block, frames, data start, data end, raw size).
Chunk = Tuple[int, int, int, int, int]


def _missing(name: str) -> ImportError:
    return ImportError(
        f"{name} compression needs the {name} package: pip install 'flatstream[journal-compression]'"
    )


def codec_id(name: str) -> int:
    try:
        ident = CODECS[name]
    except KeyError:
        raise ValueError(f"compression must be None, 'zstd' or 'lz4', not {name!r}") from None
    compress(ident, b"")  # fail now, not at the first block, if the package is missing
    return ident


def compress(codec: int, raw: bytes, level: int = 3) -> bytes:
    if codec == CODEC_ZSTD:
        try:
            import zstandard
        except ImportError:
            raise _missing("zstandard") from None
        return zstandard.ZstdCompressor(level=level, write_content_size=True).compress(raw)  # type: ignore[no-any-return]
    try:
        import lz4.block
    except ImportError:
        raise _missing("lz4") from None
    return lz4.block.compress(raw, store_size=False)  # type: ignore[no-any-return]


def compress_chunks(
    codec: int, raw: bytes, ends: Sequence[Tuple[int, int]]
) -> Tuple[bytes, Tuple[Tuple[int, ...], Tuple[int, ...], Tuple[int, ...]]]:
    """``raw`` compressed as independent chunks ending at ``ends`` ((raw
    offset, frames up to there), the last at ``len(raw)``): the data, and
    per chunk its frames, compressed size and raw size (``encode_block``'s
    ``chunks``)."""
    parts: List[bytes] = []
    frames: List[int] = []
    sizes: List[int] = []
    raws: List[int] = []
    start = start_frames = 0
    for end, upto in ends:
        packed = compress(codec, raw[start:end])
        parts.append(packed)
        frames.append(upto - start_frames)
        sizes.append(len(packed))
        raws.append(end - start)
        start, start_frames = end, upto
    return b"".join(parts), (tuple(frames), tuple(sizes), tuple(raws))


def chunks_of(block: BlockRecord, limit: int = MAX_BLOCK_SIZE) -> List[Chunk]:
    """Where each chunk of ``block`` is, checked against the block's own
    counts (a block written as one chunk is one chunk)."""
    if block.raw_size > limit:
        raise InvalidFrame(
            f"compressed block declares {block.raw_size} decompressed bytes, over the limit",
            declared_len=block.raw_size, limit=limit,
        )
    if not block.chunk_frames:
        return [(0, block.frame_count, 0, len(block.data), block.raw_size)]
    frames, sizes, raws = block.chunk_frames, block.chunk_sizes, block.chunk_raw_sizes
    if not len(frames) == len(sizes) == len(raws):
        raise InvalidFrame("block chunk tables differ in length")
    if sum(frames) != block.frame_count or sum(sizes) != len(block.data) or sum(raws) != block.raw_size:
        raise InvalidFrame("block chunk tables disagree with the block's frame count or sizes")
    out: List[Chunk] = []
    first = start = 0
    for n, size, raw in zip(frames, sizes, raws):
        out.append((first, n, start, start + size, raw))
        first += n
        start += size
    return out


def decompress(block: BlockRecord, limit: int = MAX_BLOCK_SIZE) -> bytes:
    """The raw bytes of ``block``, refusing any size over ``limit`` before allocating."""
    return b"".join(decompress_chunk(block, chunk, limit) for chunk in chunks_of(block, limit))


def decompress_chunk(block: BlockRecord, chunk: Chunk, limit: int = MAX_BLOCK_SIZE) -> bytes:
    """The raw bytes of one chunk of ``block`` (from :func:`chunks_of`)."""
    _first, _frames, start, end, raw_size = chunk
    if raw_size > limit:
        raise InvalidFrame(
            f"compressed block declares {raw_size} decompressed bytes, over the limit",
            declared_len=raw_size, limit=limit,
        )
    data = bytes(block.data[start:end])
    try:
        if block.codec == CODEC_ZSTD:
            import zstandard

            size = zstandard.frame_content_size(data)
            if size != raw_size:
                raise InvalidFrame(
                    f"zstd block content size {size} differs from the declared {raw_size}"
                )
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=raw_size)
        elif block.codec == CODEC_LZ4:
            import lz4.block

            raw = lz4.block.decompress(data, uncompressed_size=raw_size)
        else:
            raise InvalidFrame(f"unknown block codec {block.codec}")
    except InvalidFrame:
        raise
    except ImportError:
        raise _missing("zstandard" if block.codec == CODEC_ZSTD else "lz4") from None
    except Exception as error:  # the libraries raise their own error types
        raise InvalidFrame(f"compressed block does not decompress: {error}") from error
    if len(raw) != raw_size:
        raise InvalidFrame(f"block decompressed to {len(raw)} bytes, not the declared {raw_size}")
    return raw  # type: ignore[no-any-return]


def split(raw: Any, frame_count: int) -> "BlockFrames":
    """The payloads of a decompressed block; exactly ``frame_count`` of them.

    The raw block is a width-0 raw stream, so the scan kernel (native, or its
    pure twin) finds the boundaries without Python per payload."""
    from .. import _kernels

    if frame_count > len(raw) // 4:
        raise InvalidFrame(f"block record says {frame_count} frames, more than its bytes can hold")
    data = raw if isinstance(raw, bytes) else bytes(raw)
    offsets, lengths, frames, _, stop, status, _, _ = _kernels.scan_all(
        data, 0, 0, None, (1 << 32) - 1, 1, True
    )
    if status != _kernels.CLEAN or stop != len(data):
        raise InvalidFrame("block payload runs past the block's end")
    if frames != frame_count:
        raise InvalidFrame(f"block holds {frames} frames, its record says {frame_count}")
    return BlockFrames(data, offsets or b"", lengths or b"")


class BlockFrames:
    """The payloads of one decompressed block, as views, by position."""

    __slots__ = ("_view", "_offsets", "_lengths")

    def __init__(self, data: bytes, offsets: bytes, lengths: bytes) -> None:
        import numpy as np

        self._view = memoryview(data)
        # The kernels write little-endian u64/u32 arrays; as lists, indexing is cheapest.
        self._offsets = np.frombuffer(offsets, dtype="<u8").tolist()
        self._lengths = np.frombuffer(lengths, dtype="<u4").tolist()

    def __len__(self) -> int:
        return len(self._lengths)

    def __getitem__(self, i: int) -> memoryview:
        start = self._offsets[i] + 4
        return self._view[start:start + self._lengths[i]]

    def __iter__(self) -> Any:
        return self.iter_from(0)

    def iter_from(self, first: int) -> Any:
        """The payloads from position ``first`` on."""
        view = self._view
        for start, length in zip(self._offsets[first:], self._lengths[first:]):
            yield view[start + 4:start + 4 + length]
