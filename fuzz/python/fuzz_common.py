"""Shared pieces of the atheris targets (see FUZZING.md).

The targets must also run without atheris (tests/test_fuzz_targets.py calls
their ``TestOneInput`` on seed inputs in CI), so nothing here needs it: input
bytes are split by :class:`Input` rather than atheris' FuzzedDataProvider.
"""

from __future__ import annotations

import contextlib
import sys
import zlib
from typing import Any, Callable, ContextManager, Iterator, List, Optional, Tuple

try:
    import atheris
except ImportError:  # CI runs the targets as plain functions
    atheris = None

#: Built-in checksum names, by the input byte that selects them.
CHECKSUM_NAMES = ("none", "crc16", "crc32", "crc32c", "xxh3_64")


def instrumented() -> ContextManager[Any]:
    """Wrap the flatstream import in this so atheris traces its coverage
    (only flatstream: instrumenting numpy or xxhash would only add noise)."""
    if atheris is None:
        return contextlib.nullcontext()
    return atheris.instrument_imports(include=["flatstream"])  # type: ignore[no-any-return]


def run(test_one_input: Callable[[bytes], None]) -> None:
    """The fuzzer's entry point: ``python fuzz_x.py [corpus] [libFuzzer flags]``."""
    if atheris is None:
        sys.exit("atheris is not installed: pip install atheris==3.0.0 (or run scripts/fuzz.sh)")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


class Input:
    """Takes parameters off the front of the fuzz input; the rest is the data.

    Reading past the end gives zeros, so every input is usable.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def uint(self, size: int) -> int:
        return int.from_bytes(bytes(self.byte() for _ in range(size)), "little")

    def rest(self) -> bytes:
        rest = self.data[self.pos :]
        self.pos = len(self.data)
        return rest


class MaskedAdler:
    """A checksum flatstream has no kernel for (so the decoder verifies it in
    Python), of any width 1..8 (the built-ins only have 2, 4 and 8). Its value
    is below 2**(8*width), as the Checksum protocol asks (the framer refuses a
    wider one for widths 2, 4 and 8 with struct.error; see FUZZING.md)."""

    name = "adler-fuzz"

    def __init__(self, width: int) -> None:
        self.width = width

    def compute(self, data: Any) -> int:
        value = zlib.adler32(data) * 0x9E3779B1 + len(data)
        return value & ((1 << (8 * self.width)) - 1)


def checksum_from(choice: int, width_byte: int) -> Any:
    """A checksum spec (a built-in name, or a custom object) from two input bytes."""
    choice %= len(CHECKSUM_NAMES) + 1
    if choice < len(CHECKSUM_NAMES):
        return CHECKSUM_NAMES[choice]
    return MaskedAdler(1 + width_byte % 8)


def limit_from(inp: Input) -> int:
    """A max_frame_len: often small (so limits trip), sometimes the default."""
    kind = inp.byte() % 4
    if kind == 0:
        return 1 << 31
    if kind == 1:
        return 0xFFFFFFFF
    if kind == 2:
        return inp.byte()
    return inp.uint(2)


def chunk_sizes_from(inp: Input) -> List[int]:
    """Sizes to split a stream into (cycled): 1..64, or 0 for everything left."""
    count = 1 + inp.byte() % 4
    return [inp.byte() % 65 for _ in range(count)]


def chunks(data: bytes, sizes: List[int]) -> Iterator[bytes]:
    pos = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)] or len(data) - pos
        yield data[pos : pos + size]
        pos += size
        i += 1


def repair(data: bytes, width: int, compute: Optional[Callable[[Any], int]]) -> bytes:
    """The same bytes with a right checksum in every complete frame, walking
    them as a writer lays them out: random bytes almost never carry a right
    CRC, and without this the fuzzer would seldom get past the first frame."""
    if compute is None or width == 0:
        return data
    buf = bytearray(data)
    header = 4 + width
    pos = 0
    mask = (1 << (8 * width)) - 1
    while pos + header <= len(buf):
        end = pos + header + int.from_bytes(buf[pos : pos + 4], "little")
        if end > len(buf):
            break
        value = compute(bytes(buf[pos + header : end])) & mask
        buf[pos + 4 : pos + header] = value.to_bytes(width, "little")
        pos = end
    return bytes(buf)


@contextlib.contextmanager
def kernels(mode: str) -> Iterator[None]:
    """Switch flatstream to the native kernels or their pure-Python twins
    (as tests/conftest.py does), restoring the previous ones afterwards."""
    from flatstream import _kernels

    with _kernels.selected(mode):
        yield


def modes() -> Tuple[str, ...]:
    """The kernel modes this build has."""
    from flatstream import _kernels

    return ("native", "python") if _kernels.native is not None else ("python",)
