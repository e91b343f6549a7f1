"""flatstream's bulk paths: whole-file scan/count/verify, batched reading,
``write_many``, each next to what it is meant to beat.

* ``iterate-24b``: per-record iteration over 24-byte payloads from a ``bytes``
  and from an ``mmap`` source (issue 3's first target): the reader's iterator,
  ``iter_batches(n)``, msgpack's ``Unpacker`` over the same payloads as ``bin``
  values, the naive loop, and a bare ``for`` loop over a list of the payloads.
* ``scan-small``: ``fs.scan`` (an index as numpy arrays) and ``fs.verify``
  (``fs.count`` is the same function) over a file of small frames; frames/s.
  pyarrow reading the same payloads as one binary column is the columnar peer.
* ``scan-1mib``: ``fs.verify`` over a file of 1 MiB frames with ``threads=1``
  and ``threads=2`` (given the path, and given the mapping the libraries read), next to the checksum libraries' own single-core speed
  over the same bytes (``xxhash.xxh3_64_intdigest``, ``crc32c.crc32c``,
  ``zlib.crc32``, one call per payload of the same mapping), and both hash
  implementations over one cache-resident 1 MiB buffer.
* ``write-many``: ``StreamWriter.write_many`` of small payloads against
  msgpack's ``Packer`` (its fastest streaming idiom, ``autoreset=False``).
"""

from __future__ import annotations

import io
import mmap
import os
import tempfile
import zlib
from typing import Any, Callable, List

import flatstream as fs

from . import peers
from .framing import records24
from .harness import MODES, Case, Row, Settings, Workload, kernel_mode, run_cases

__all__ = ["workloads"]

BATCH_SIZES = (16, 256, 4096)


def _write_file(path: str, payloads: List[bytes], checksum: str) -> None:
    with fs.open(path, "wb", checksum=checksum) as writer:
        for i in range(0, len(payloads), 65536):
            writer.write_many(payloads[i : i + 65536])


def _iterate(settings: Settings) -> List[Row]:
    n = settings.size(100_000, 20_000)
    payloads = records24(n)
    nbytes = 24 * n
    title = f"iterate 24-byte records x{n:,}"
    cases: List[Case] = []
    with tempfile.TemporaryDirectory(prefix="flatstream-bench-") as tmp:
        sources = {}
        for checksum in ("none", "xxh3_64"):
            data = fs.Framer(checksum).frame_many(payloads)
            path = os.path.join(tmp, f"{checksum}.fs")
            with open(path, "wb") as f:
                f.write(data)
            with open(path, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            sources[checksum] = {"bytes": data, "mmap": mapped}
        msgpack_data = peers.MsgpackFraming().write(payloads).getvalue()
        naive_data = peers.NaiveFraming().write(payloads).getvalue()
        msgpack_path = os.path.join(tmp, "msgpack.bin")
        naive_path = os.path.join(tmp, "naive.bin")
        for path, data in ((msgpack_path, msgpack_data), (naive_path, naive_data)):
            with open(path, "wb") as f:
                f.write(data)
        with open(msgpack_path, "rb") as f:
            msgpack_map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        with open(naive_path, "rb") as f:
            naive_map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

        import msgpack

        for kind in ("bytes", "mmap"):
            figure = f"read ({kind})"
            for mode in MODES:
                for checksum in ("none", "xxh3_64"):
                    deframer = fs.Deframer(checksum)
                    source = sources[checksum][kind]
                    with kernel_mode(mode):
                        got = [bytes(p) for p in fs.StreamReader(source, deframer)]
                        assert got == payloads, "the reader did not give the payloads back"

                    def per_message(source: Any = source, deframer: Any = deframer) -> None:
                        for _ in fs.StreamReader(source, deframer):
                            pass

                    name = f"flatstream {checksum} {mode}"
                    cases.append(Case(title, name, figure, per_message, n, nbytes, mode))
                    for size in BATCH_SIZES if mode == "native" else (256,):

                        def batches(
                            source: Any = source, deframer: Any = deframer, size: int = size
                        ) -> None:
                            for batch in fs.StreamReader(source, deframer).iter_batches(size):
                                for _ in batch:
                                    pass

                        name = f"flatstream {checksum} {mode} iter_batches({size})"
                        cases.append(Case(title, name, figure, batches, n, nbytes, mode))

            def unpack(kind: str = kind) -> None:
                if kind == "bytes":
                    stream: Any = io.BytesIO(msgpack_data)
                else:
                    msgpack_map.seek(0)
                    stream = msgpack_map
                for _ in msgpack.Unpacker(stream):
                    pass

            naive_source = naive_data if kind == "bytes" else naive_map

            def naive(source: Any = naive_source) -> None:
                peers.NaiveFraming().read(source)

            cases.append(Case(title, peers.MSGPACK, figure, unpack, n, nbytes))
            cases.append(Case(title, peers.NAIVE, figure, naive, n, nbytes))

        def bare() -> None:
            for _ in payloads:
                pass

        cases.append(Case(title, peers.BARE_LOOP, "read (list)", bare, n, nbytes))
        rows = run_cases(cases, settings)
        for checksum in sources:
            sources[checksum]["mmap"].close()
        msgpack_map.close()
        naive_map.close()
    return rows


def _scan_small(settings: Settings) -> List[Row]:
    n = settings.size(1_000_000, 100_000)
    payloads = records24(n)
    title = f"scan 24-byte frames x{n:,} (file)"
    cases: List[Case] = []
    with tempfile.TemporaryDirectory(prefix="flatstream-bench-") as tmp:
        for checksum in ("none", "crc32c", "xxh3_64"):
            path = os.path.join(tmp, f"{checksum}.fs")
            _write_file(path, payloads, checksum)
            for mode in MODES:
                with kernel_mode(mode):
                    index = fs.scan(path, checksum)
                    assert len(index) == n and fs.verify(path, checksum).frames == n

                def scan(path: str = path, checksum: str = checksum) -> None:
                    fs.scan(path, checksum)

                def verify(path: str = path, checksum: str = checksum) -> None:
                    fs.verify(path, checksum)

                name = f"flatstream {checksum} {mode}"
                cases.append(Case(title, name, "scan (index)", scan, n, 24 * n, mode))
                cases.append(Case(title, name, "verify/count", verify, n, 24 * n, mode))

        import pyarrow as pa

        arrow_path = os.path.join(tmp, "arrow.ipc")
        with open(arrow_path, "wb") as f:
            f.write(peers.ArrowFraming().write(payloads))

        def arrow() -> None:
            with pa.memory_map(arrow_path) as source:
                pa.ipc.open_stream(source).read_all()

        cases.append(
            Case(title, "pyarrow IPC read_all (memory_map)", "scan (index)", arrow, n, 24 * n)
        )
        naive_path = os.path.join(tmp, "naive.bin")
        with open(naive_path, "wb") as f:
            f.write(peers.NaiveFraming().write(payloads).getvalue())

        def naive() -> None:
            with (
                open(naive_path, "rb") as f,
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m,
            ):
                peers.NaiveFraming().read(m)

        cases.append(Case(title, peers.NAIVE + " (mmap)", "verify/count", naive, n, 24 * n))
        return run_cases(cases, settings)


def _scan_large(settings: Settings) -> List[Row]:
    import crc32c
    import xxhash

    mib = settings.size(256, 32)
    payload = os.urandom(1 << 20)
    # Distinct payloads (a rotation each), so no frame is a cache-warm copy of another.
    payloads = [
        payload[i * 4099 % len(payload) :] + payload[: i * 4099 % len(payload)] for i in range(mib)
    ]
    title = f"verify 1 MiB frames x{mib} (file, {mib} MiB)"
    nbytes = mib << 20
    libraries: dict = {
        "xxh3_64": ("xxhash.xxh3_64_intdigest", xxhash.xxh3_64_intdigest),
        "crc32c": ("crc32c.crc32c", crc32c.crc32c),
        "crc32": ("zlib.crc32", zlib.crc32),
    }
    cases: List[Case] = []
    with tempfile.TemporaryDirectory(prefix="flatstream-bench-") as tmp:
        maps = []
        for checksum, (library, function) in libraries.items():
            path = os.path.join(tmp, f"{checksum}.fs")
            _write_file(path, payloads, checksum)
            index = fs.scan(path, checksum)
            spans = [
                (int(o), int(o) + int(n)) for o, n in zip(index.payload_offsets, index.lengths)
            ]
            with open(path, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            view = memoryview(mapped)
            maps.append((mapped, view))
            for threads in (1, 2):

                def verify(
                    path: str = path, checksum: str = checksum, threads: int = threads
                ) -> None:
                    fs.verify(path, checksum, threads=threads)

                # The same mapping the library loop hashes: no mmap call and no
                # page faults per call, so only the hashing differs.
                def verify_mapped(
                    mapped: Any = mapped, checksum: str = checksum, threads: int = threads
                ) -> None:
                    fs.verify(mapped, checksum, threads=threads)

                name = f"flatstream {checksum} native threads={threads}"
                cases.append(Case(title, name, "verify", verify, mib, nbytes, "native"))
                cases.append(
                    Case(
                        title,
                        name + ", same mapping",
                        "verify",
                        verify_mapped,
                        mib,
                        nbytes,
                        "native",
                    )
                )

            def library_loop(
                view: Any = view, spans: Any = spans, function: Callable = function
            ) -> None:
                for start, end in spans:
                    function(view[start:end])

            cases.append(Case(title, f"{library} (1 core)", "verify", library_loop, mib, nbytes))
            # The same two hash implementations over one 1 MiB buffer that stays
            # in cache: separates the hashing itself from reading memory.
            native = fs.resolve_checksum(checksum).compute
            for name, hash_fn in ((library, function), (f"flatstream {checksum} kernel", native)):

                def cached(hash_fn: Callable = hash_fn, data: bytes = payload) -> None:
                    for _ in range(64):
                        hash_fn(data)

                cases.append(
                    Case(
                        title,
                        name + ", one 1 MiB buffer",
                        "hash in cache",
                        cached,
                        64,
                        64 << 20,
                        "native" if name.startswith("flatstream") else None,
                    )
                )
        rows = run_cases(cases, settings)
        for mapped, view in maps:
            view.release()
            mapped.close()
    return rows


LONG_LIVED = "flatstream none native write_many, long-lived writer"
MSGPACK_LONG_LIVED = f"{peers.MSGPACK}, long-lived Packer"


def _write_many(settings: Settings) -> List[Row]:
    import msgpack

    n = settings.size(100_000, 20_000)
    payloads = records24(n)
    title = f"write 24-byte payloads x{n:,}"
    cases: List[Case] = []
    for mode in MODES:
        for checksum in ("none", "xxh3_64"):
            framer = fs.Framer(checksum)

            def write_many(framer: Any = framer) -> None:
                fs.StreamWriter(io.BytesIO(), framer).write_many(payloads)

            name = f"flatstream {checksum} {mode} write_many"
            cases.append(Case(title, name, "write", write_many, n, 24 * n, mode))
    framer = fs.Framer("none")

    def write_payload() -> None:
        write = fs.StreamWriter(io.BytesIO(), framer).write_payload
        for p in payloads:
            write(p)

    cases.append(
        Case(
            title,
            "flatstream none native write_payload loop",
            "write",
            write_payload,
            n,
            24 * n,
            "native",
        )
    )

    def packer() -> None:
        sink = io.BytesIO()
        packer = msgpack.Packer(autoreset=False)
        pack = packer.pack
        for p in payloads:
            pack(p)
        sink.write(packer.getbuffer())

    cases.append(Case(title, peers.MSGPACK, "write", packer, n, 24 * n))

    # Long-lived writers, as a capture runs: one writer (and one Packer)
    # writing batch after batch into one sink, so flatstream reuses its batch
    # buffer and msgpack its packing buffer (reset between batches).
    long_sink = io.BytesIO()
    long_writer = fs.StreamWriter(long_sink, fs.Framer("none"))

    def write_many_long_lived() -> None:
        long_sink.seek(0)
        long_writer.write_many(payloads)

    cases.append(
        Case(title, LONG_LIVED, "write", write_many_long_lived, n, 24 * n, "native")
    )
    packer_sink = io.BytesIO()
    long_packer = msgpack.Packer(autoreset=False)

    def packer_long_lived() -> None:
        packer_sink.seek(0)
        long_packer.reset()
        pack = long_packer.pack
        for p in payloads:
            pack(p)
        packer_sink.write(long_packer.getbuffer())

    cases.append(Case(title, MSGPACK_LONG_LIVED, "write", packer_long_lived, n, 24 * n))

    def naive() -> None:
        peers.NaiveFraming().write(payloads)

    cases.append(Case(title, peers.NAIVE, "write", naive, n, 24 * n))
    return run_cases(cases, settings)


def workloads(settings: Settings) -> List[Workload]:
    return [
        Workload(
            "iterate-24b", "bulk", "iterate 24-byte records (bytes and mmap sources)", _iterate
        ),
        Workload("scan-small", "bulk", "scan/verify a file of small frames", _scan_small),
        Workload(
            "scan-1mib", "bulk", "verify a file of 1 MiB frames, 1 and 2 threads", _scan_large
        ),
        Workload("write-many", "bulk", "write_many vs msgpack Packer", _write_many),
    ]
