"""Compressed blocks: many user frames in one ``FSJB`` frame.

A block's raw bytes are ``(length:u32 LE | payload)*``. zstd comes from the
``zstandard`` package, lz4 (block format) from ``lz4``: both are the optional
extra ``flatstream[journal-compression]`` and imported only when used.
The decompressed size is stored and bounded before anything is allocated.
"""

from __future__ import annotations

import struct
from typing import Any, List

from ..errors import InvalidFrame
from .records import CODEC_LZ4, CODEC_ZSTD, BlockRecord

__all__ = ["CODECS", "DEFAULT_BLOCK_SIZE", "MAX_BLOCK_SIZE", "codec_id", "compress", "decompress", "split"]

CODECS = {"zstd": CODEC_ZSTD, "lz4": CODEC_LZ4}
#: Raw bytes gathered before a block is compressed and written.
DEFAULT_BLOCK_SIZE = 1 << 20
#: A reader's default bound on a block's decompressed size (zip bombs stop here).
MAX_BLOCK_SIZE = 64 << 20
_U32 = struct.Struct("<I")


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


def split(raw: Any, frame_count: int) -> List[memoryview]:
    """The payloads of a decompressed block; exactly ``frame_count`` of them."""
    view = memoryview(raw)
    out: List[memoryview] = []
    pos, n = 0, len(view)
    while pos < n:
        if pos + 4 > n:
            raise InvalidFrame("block ends inside a length prefix")
        length = _U32.unpack_from(view, pos)[0]
        if pos + 4 + length > n:
            raise InvalidFrame("block payload runs past the block's end")
        out.append(view[pos + 4:pos + 4 + length])
        pos += 4 + length
        if len(out) > frame_count:
            break
    if len(out) != frame_count:
        raise InvalidFrame(f"block holds {len(out)} frames, its record says {frame_count}")
    return out
