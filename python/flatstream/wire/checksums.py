"""Checksum algorithms of the wire format, and the protocol for your own.

A checksum is any object with ``name`` (str), ``width`` (bytes in the frame
header, 0 to 8) and ``compute(data) -> int``. The built-ins are served by the
kernels (native when built). Wherever flatstream takes a checksum it also takes
one of the names ``"none"``, ``"crc16"``, ``"crc32"``, ``"crc32c"``,
``"xxh3_64"`` (alias ``"xxhash64"``, the Rust crate's name for it).
"""

from __future__ import annotations

from typing import Any, Dict, Protocol, Union, runtime_checkable

from .. import _kernels

__all__ = [
    "Checksum",
    "BuiltinChecksum",
    "NoChecksum",
    "Crc16",
    "Crc32",
    "Crc32c",
    "XxHash64",
    "Xxh3_64",
    "CHECKSUMS",
    "resolve_checksum",
    "ChecksumLike",
]


@runtime_checkable
class Checksum(Protocol):
    """What flatstream needs of a checksum algorithm."""

    name: str
    width: int

    def compute(self, data: Any) -> int:
        """The checksum of a bytes-like object, as a non-negative int below 2**(8*width)."""
        ...


class BuiltinChecksum:
    """One of the wire format's algorithms, computed by the kernels."""

    __slots__ = ("name", "width")

    #: The kernels compute this one themselves (no Python call per frame).
    kernel_builtin = True

    def __init__(self, name: str, width: int) -> None:
        self.name = name
        self.width = width

    def compute(self, data: Any) -> int:
        return _kernels.checksum(self.name, data)  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<checksum {self.name}: {self.width} bytes>"

    def __reduce__(self) -> Any:
        return (resolve_checksum, (self.name,))


NoChecksum = BuiltinChecksum("none", 0)
Crc16 = BuiltinChecksum("crc16", 2)  # CRC-16/XMODEM
Crc32 = BuiltinChecksum("crc32", 4)  # CRC-32/ISO-HDLC, as zlib
Crc32c = BuiltinChecksum("crc32c", 4)  # CRC-32C/Castagnoli (not in the Rust crate)
Xxh3_64 = BuiltinChecksum("xxh3_64", 8)  # XXH3-64, seed 0
XxHash64 = Xxh3_64  # the Rust crate's name for XXH3-64 (it is not XXH64)

CHECKSUMS: Dict[str, BuiltinChecksum] = {
    c.name: c for c in (NoChecksum, Crc16, Crc32, Crc32c, Xxh3_64)
}
_ALIASES = {"xxhash64": "xxh3_64", "xxh3": "xxh3_64"}

ChecksumLike = Union[str, Checksum, None]


def resolve_checksum(spec: ChecksumLike) -> Checksum:
    """Turns a name, ``None`` (no checksum) or a checksum object into a checksum object."""
    if spec is None:
        return NoChecksum
    if isinstance(spec, str):
        key = _ALIASES.get(spec.lower(), spec.lower())
        try:
            return CHECKSUMS[key]
        except KeyError:
            names = ", ".join(sorted([*CHECKSUMS, *_ALIASES]))
            raise ValueError(f"unknown checksum {spec!r}; use one of {names}") from None
    width = getattr(spec, "width", None)
    if not callable(getattr(spec, "compute", None)) or not isinstance(width, int):
        raise TypeError(
            f"a checksum needs a name, an int width and compute(data); got {spec!r}"
        )
    if not 0 <= width <= 8:
        raise ValueError(f"checksum width must be 0 to 8 bytes, got {width}")
    return spec


def is_builtin(checksum: Checksum) -> bool:
    """Whether the kernels can compute this checksum themselves."""
    return isinstance(checksum, BuiltinChecksum)
