"""Compressed blocks: many user frames in one ``FSJB`` frame.

A block's raw bytes are ``(length:u32 LE | payload)*``. zstd comes from the
``zstandard`` package, lz4 (block format) from ``lz4``: both are the optional
extra ``flatstream[journal-compression]`` and imported only when used.
The decompressed size is stored and bounded before anything is allocated.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidFrame
from .records import CODEC_LZ4, CODEC_ZSTD, BlockRecord

__all__ = ["CODECS", "DEFAULT_BLOCK_SIZE", "MAX_BLOCK_SIZE", "codec_id", "compress", "decompress", "split", "BlockFrames"]

CODECS = {"zstd": CODEC_ZSTD, "lz4": CODEC_LZ4}
#: Raw bytes gathered before a block is compressed and written.
DEFAULT_BLOCK_SIZE = 1 << 20
#: A reader's default bound on a block's decompressed size (zip bombs stop here).
MAX_BLOCK_SIZE = 64 << 20


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


def decompress(block: BlockRecord, limit: int = MAX_BLOCK_SIZE) -> bytes:
    """The raw bytes of ``block``, refusing any size over ``limit`` before allocating."""
    if block.raw_size > limit:
        raise InvalidFrame(
            f"compressed block declares {block.raw_size} decompressed bytes, over the limit",
            declared_len=block.raw_size, limit=limit,
        )
    data = bytes(block.data)
    try:
        if block.codec == CODEC_ZSTD:
            import zstandard

            size = zstandard.frame_content_size(data)
            if size != block.raw_size:
                raise InvalidFrame(
                    f"zstd block content size {size} differs from the declared {block.raw_size}"
                )
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=block.raw_size)
        elif block.codec == CODEC_LZ4:
            import lz4.block

            raw = lz4.block.decompress(data, uncompressed_size=block.raw_size)
        else:
            raise InvalidFrame(f"unknown block codec {block.codec}")
    except InvalidFrame:
        raise
    except ImportError:
        raise _missing("zstandard" if block.codec == CODEC_ZSTD else "lz4") from None
    except Exception as error:  # the libraries raise their own error types
        raise InvalidFrame(f"compressed block does not decompress: {error}") from error
    if len(raw) != block.raw_size:
        raise InvalidFrame(f"block decompressed to {len(raw)} bytes, not the declared {block.raw_size}")
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
        view = self._view
        for start, length in zip(self._offsets, self._lengths):
            yield view[start + 4:start + 4 + length]
