"""Instruction counts per record under ``valgrind --tool=callgrind``.

Wall-clock time on a shared machine moves from run to run; instruction counts
do not. Each scenario runs in its own ``valgrind`` process, after the same
setup as an empty baseline scenario; the difference, divided by the record
count, is what one record costs, split by function. Used for "Where the time
goes" in BENCHMARKS.md::

    python -m benchmarks.callgrind                 # every scenario
    python -m benchmarks.callgrind read_fs read_msgpack

(needs ``valgrind`` and ``callgrind_annotate`` on PATH; takes a few minutes).
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List

N = 100_000

SCENARIOS: Dict[str, str] = {
    "baseline": "setup only",
    "bare_list": "for p in list_of_payloads: pass",
    "read_fs": "for p in StreamReader(bytes): pass (24-byte payloads, no checksum)",
    "read_fs_xxh3": "the same with XXH3 verification",
    "read_fs_batches": "for b in iter_batches(4096): for p in b: pass",
    "read_msgpack": "for p in msgpack.Unpacker(BytesIO(bytes)): pass (bin values)",
    "write_many": "StreamWriter(BytesIO()).write_many(payloads)",
    "frame_many_kernel": "_native.frame_many(payloads, 0, 'none', 2**32 - 1) alone",
    "write_payload": "w.write_payload(p) per payload",
    "msgpack_packer": "Packer(autoreset=False).pack(p) per payload",
    "codec_encode": "fs.codec(TelemetryEvent).encode(obj) per event",
    "codec_decode_bytes": "codec.decode(p), p a bytes object",
    "codec_decode_view": "codec.decode(p), p a reader's FrameView",
    "codec_verify": "codec.verify(p), p a bytes object",
    "msgpack_unpackb": "msgpack.unpackb(p) of a (device_id, timestamp, value) tuple",
    "hash_lib": "xxhash.xxh3_64_intdigest over 16 MiB, 4 times (per byte)",
    "hash_native": "flatstream's native xxh3_64 over the same 16 MiB, 4 times (per byte)",
}

HASH_BYTES = 4 * (16 << 20)


def _setup() -> Dict[str, Any]:
    import msgpack

    import flatstream as fs

    from . import codecs, schemas

    pack = struct.Struct("<QQd").pack
    values = schemas.samples(schemas.TELEMETRY, N)
    payloads = [pack(*v) for v in values]
    classes, _ = codecs.dataclasses_for([schemas.TELEMETRY])
    objects = [codecs.dataclass_maker(schemas.TELEMETRY, classes)(v) for v in values]
    codec = fs.codec(classes["TelemetryEvent"])
    encoded = [codec.encode(o) for o in objects]
    views = list(fs.StreamReader(fs.Framer("none").frame_many(encoded)))
    # First calls outside the measured part: compiled layouts, caches.
    codec.decode(encoded[0])
    codec.decode(views[0])
    codec.verify(encoded[0])
    return {
        "fs": fs,
        "msgpack": msgpack,
        "payloads": payloads,
        "plain": fs.Framer("none").frame_many(payloads),
        "xxh3": fs.Framer("xxh3_64").frame_many(payloads),
        "packed": b"".join(msgpack.packb(p) for p in payloads),
        "tuples": [msgpack.packb(v) for v in values],
        "objects": objects,
        "codec": codec,
        "encoded": encoded,
        "views": views,
        "blob": os.urandom(16 << 20),
    }


def _run(name: str, s: Dict[str, Any]) -> None:
    fs, msgpack = s["fs"], s["msgpack"]
    actions: Dict[str, Callable[[], None]] = {
        "baseline": lambda: None,
        "bare_list": lambda: _drain(s["payloads"]),
        "read_fs": lambda: _drain(fs.StreamReader(s["plain"])),
        "read_fs_xxh3": lambda: _drain(fs.StreamReader(s["xxh3"], fs.Deframer("xxh3_64"))),
        "read_fs_batches": lambda: _drain_batches(fs.StreamReader(s["plain"]).iter_batches(4096)),
        "read_msgpack": lambda: _drain(msgpack.Unpacker(io.BytesIO(s["packed"]))),
        "write_many": lambda: fs.StreamWriter(io.BytesIO()).write_many(s["payloads"]) and None,
        "frame_many_kernel": lambda: (
            fs._kernels.native.frame_many(s["payloads"], 0, "none", 0xFFFFFFFF) and None
        ),
        "write_payload": lambda: _each(fs.StreamWriter(io.BytesIO()).write_payload, s["payloads"]),
        "msgpack_packer": lambda: _each(msgpack.Packer(autoreset=False).pack, s["payloads"]),
        "codec_encode": lambda: _each(s["codec"].encode, s["objects"]),
        "codec_decode_bytes": lambda: _each(s["codec"].decode, s["encoded"]),
        "codec_decode_view": lambda: _each(s["codec"].decode, s["views"]),
        "codec_verify": lambda: _each(s["codec"].verify, s["encoded"]),
        "msgpack_unpackb": lambda: _each(msgpack.unpackb, s["tuples"]),
        "hash_lib": lambda: _repeat(__import__("xxhash").xxh3_64_intdigest, s["blob"]),
        "hash_native": lambda: _repeat(
            lambda d: fs._kernels.native.checksum("xxh3_64", d), s["blob"]
        ),
    }
    actions[name]()


def _drain(iterable: Any) -> None:
    for _ in iterable:
        pass


def _drain_batches(batches: Any) -> None:
    for batch in batches:
        for _ in batch:
            pass


def _each(fn: Callable[[Any], Any], items: List[Any]) -> None:
    for item in items:
        fn(item)


def _repeat(fn: Callable[[Any], Any], data: Any) -> None:
    for _ in range(4):
        fn(data)


def _functions(path: str) -> Dict[str, int]:
    out = subprocess.run(
        ["callgrind_annotate", "--threshold=100", path], capture_output=True, text=True, check=True
    ).stdout
    totals: Dict[str, int] = {}
    for line in out.splitlines():
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not match or "PROGRAM TOTALS" in line:
            continue
        name = re.sub(r"python-build[^:]*/", "", match.group(2))
        name = re.sub(r" \[.*\]$", "", name)
        totals[name] = totals.get(name, 0) + int(match.group(1).replace(",", ""))
    return totals


def measure(names: List[str], top: int = 8) -> None:
    # One OpenBLAS thread (idle BLAS threads otherwise spin in the counts) and a
    # fixed hash seed (dict work in the setup then costs the same in every run).
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory(prefix="flatstream-callgrind-") as tmp:
        counts: Dict[str, Dict[str, int]] = {}
        for name in ["baseline", *[n for n in names if n != "baseline"]]:
            out = os.path.join(tmp, f"{name}.out")
            done = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                 "-m", "benchmarks.callgrind", "--run", name],
                env=env, capture_output=True, text=True,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"scenario {name} failed:\n{done.stderr[-2000:]}")
            counts[name] = _functions(out)
        base = counts["baseline"]
        for name in names:
            if name == "baseline":
                continue
            per = HASH_BYTES if name.startswith("hash") else N
            unit = "byte" if name.startswith("hash") else "record"
            diff = {
                k: counts[name].get(k, 0) - base.get(k, 0) for k in set(base) | set(counts[name])
            }
            total = sum(diff.values()) / per
            print(f"\n{name}: {SCENARIOS[name]}\n  {total:,.2f} instructions per {unit}")
            for fn, value in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
                print(f"  {value / per:10.2f}  {fn[:110]}")


def main(argv: List[str]) -> None:
    if argv[:1] == ["--run"]:
        _run(argv[1], _setup())
        return
    measure(argv or list(SCENARIOS))


if __name__ == "__main__":
    main(sys.argv[1:])
