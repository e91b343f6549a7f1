"""Native vs pure schema codec, per message and in batches, in one run.

    .venv/bin/python -m benchmarks.native_codec [N]

Per message: ``codec.encode(obj)`` / ``codec.decode(payload)`` (results
kept in a list; ``decode+drop`` lets each go, as a stream reader does) with the
kernels native, then pure (``_kernels.TableCodec = None``); batches:
``encode_many`` / ``decode_many``. msgpack's ``packb``/``unpackb`` of the same
fields (a tuple) for scale. ``cycle``: StreamWriter.write_many
of encode_many, then StreamReader.typed_messages, against msgpack's Packer + streaming Unpacker. Best of 5 runs of N messages; rates in millions of
messages per second.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import msgpack

import flatstream as fs
from flatstream import _kernels

SCHEMAS = Path(__file__).resolve().parent.parent / "examples" / "schemas"


def _drop(decode: Callable[[Any], Any], payloads: List[bytes]) -> None:
    """Decode each payload and let it go, as a stream consumer does (no
    growing list of live objects for the garbage collector to walk)."""
    for p in payloads:
        decode(p)


def _cycle(codec: Any, objs: List[Any]) -> None:
    """Encode and frame every message (``write_many`` of ``encode_many``:
    the classes of a loaded schema are not ``@fs.table`` classes the writer
    knows), then read and decode each (``typed_messages``), letting it go."""
    sink = io.BytesIO()
    with fs.StreamWriter(sink) as writer:
        writer.write_many(codec.encode_many(objs))
    for _ in fs.StreamReader(sink.getvalue()).typed_messages(codec):
        pass


def _msgpack_cycle(fields: List[Any]) -> None:
    """The same with msgpack's Packer and streaming Unpacker."""
    packer = msgpack.Packer()
    data = b"".join([packer.pack(f) for f in fields])
    unpacker = msgpack.Unpacker(use_list=False)
    unpacker.feed(data)
    for _ in unpacker:
        pass


def best(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    """Messages per second of ``fn`` (which handles ``n`` messages)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / min(times)


def run(n: int) -> Dict[str, Dict[str, float]]:
    results: Dict[str, Dict[str, float]] = {}
    native_class = _kernels.TableCodec
    for name, make in (
        ("telemetry", lambda cls, i: cls(i, 1_700_000_000_000 + i, i * 0.5)),
        (
            "lobster_message",
            lambda cls, i: cls(34200.0 + i * 1e-3, 1, 10_000 + i, 100, 5_850_000 + i, 1),
        ),
    ):
        codec = fs.load_schema(SCHEMAS / f"{name}.fbs").codec()
        objs: List[Any] = [make(codec.type, i) for i in range(n)]
        payloads = [codec.encode(o) for o in objs]
        row: Dict[str, float] = {}
        for mode, kernel in (("native", native_class), ("pure", None)):
            _kernels.TableCodec = kernel
            encode, decode = codec.encode, codec.decode
            row[f"{mode} encode"] = best(lambda: [encode(o) for o in objs], n)
            row[f"{mode} decode"] = best(lambda: [decode(p) for p in payloads], n)
            row[f"{mode} decode+drop"] = best(lambda: _drop(decode, payloads), n)
            row[f"{mode} encode_many"] = best(lambda: codec.encode_many(objs), n)
            row[f"{mode} decode_many"] = best(lambda: codec.decode_many(payloads), n)
            row[f"{mode} cycle"] = best(lambda: _cycle(codec, objs), n)
        _kernels.TableCodec = native_class
        fields = [
            tuple(vars(o).values())
            if hasattr(o, "__dict__")
            else tuple(getattr(o, s) for s in o.__slots__)
            for o in objs
        ]
        packed = [msgpack.packb(f) for f in fields]
        row["msgpack packb"] = best(lambda: [msgpack.packb(f) for f in fields], n)
        row["msgpack unpackb"] = best(lambda: [msgpack.unpackb(p) for p in packed], n)
        row["msgpack cycle"] = best(lambda: _msgpack_cycle(fields), n)
        results[name] = row
    return results


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    if _kernels.TableCodec is None:
        sys.exit("the native extension is not available")
    for name, row in run(n).items():
        print(f"{name} ({n} messages, M msg/s)")
        for key, rate in row.items():
            print(f"  {key:22s} {rate / 1e6:6.2f}")
        for op in ("encode", "decode", "decode+drop", "encode_many", "decode_many", "cycle"):
            print(f"  speedup {op:14s} {row['native ' + op] / row['pure ' + op]:5.2f}x")


if __name__ == "__main__":
    main()
