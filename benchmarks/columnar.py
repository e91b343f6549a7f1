"""Columnar replay of the telemetry event against its peers, in one run.

    .venv/bin/python -m benchmarks.columnar [--rows N] [--repeats R] [--mode native|python]

A stream of N telemetry events (u64 device_id, u64 timestamp, f64 value; the
``TELEMETRY`` message of ``benchmarks/schemas.py``) is written to a temporary
file once. Then, interleaved (repeat ``r`` runs every candidate once, from a
rotating start) and best of R:

- ``decode_columns(path)``: mmap, ``fs.scan`` and columnar decode;
- numpy gather: ``fs.scan`` for the offsets, then per column fancy indexing of
  the field's bytes at a fixed position in each payload (valid only because
  every payload has the same layout; it checks nothing);
- numpy structured: ``numpy.frombuffer`` with a structured dtype striding
  over the uniform frames (no scan at all: the most numpy can do, and wrong
  the moment one frame differs), columns copied out;
- per-message ``codec.decode`` over a ``StreamReader`` (measured on a slice,
  reported per row);
- ``read_arrow(path).to_pandas()`` vs a DataFrame built from per-message
  decode, and vs ``pyarrow.ipc`` reading the same table from an Arrow IPC
  file (+ ``to_pandas()``);
- ``encode_columns`` (payload list) and ``encode_columns(framed=...)`` (one
  framed buffer, what ``fs.write_columns`` writes).

Prints a table of rows/s and the ratios the issue sets targets for.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import flatstream as fs
from flatstream import _kernels

from .harness import kernel_mode


@fs.table(namespace="benchfb")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


def _columns(n: int) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {
        # Non-zero so that every field is present and every payload has one layout.
        "device_id": rng.integers(1, 1 << 20, n, dtype=np.uint64),
        "timestamp": np.arange(1, n + 1, dtype=np.uint64) * 1000 + (1 << 40),
        "value": rng.random(n) + 1.0,
    }


def _time(cases: List[Tuple[str, Callable[[], Any]]], repeats: int) -> Dict[str, float]:
    best = {name: float("inf") for name, _ in cases}
    for r in range(repeats):
        order = cases[r % len(cases):] + cases[: r % len(cases)]
        for name, fn in order:
            gc.disable()
            try:
                start = time.perf_counter()
                fn()
                took = time.perf_counter() - start
            finally:
                gc.enable()
            best[name] = min(best[name], took)
    return best


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--per-message-rows", type=int, default=100_000)
    parser.add_argument("--mode", choices=("native", "python"), default="native")
    args = parser.parse_args(argv)
    n = args.rows
    codec = fs.schema.codec(TelemetryEvent)
    cols = _columns(n)
    import pandas as pd
    import pyarrow as pa
    import pyarrow.ipc as ipc

    with kernel_mode(args.mode), tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "telemetry.fs")
        fs.write_columns(path, cols, codec)
        arrow_path = os.path.join(tmp, "telemetry.arrow")
        table = pa.table(cols)
        with pa.OSFile(arrow_path, "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        payload = codec.encode(TelemetryEvent(1, 1 << 40, 1.5))
        size = len(payload)
        # Field positions inside the (uniform) payload: the root table's vtable.
        pos = int.from_bytes(payload[:4], "little")
        vt = pos - int.from_bytes(payload[pos:pos + 4], "little", signed=True)
        slots = [int.from_bytes(payload[vt + 4 + 2 * i: vt + 6 + 2 * i], "little") for i in range(3)]
        at = [pos + s for s in slots]
        frame = 4 + size
        assert os.path.getsize(path) == n * frame
        names = ["device_id", "timestamp", "value"]
        dtypes = ["<u8", "<u8", "<f8"]
        small = args.per_message_rows

        def columnar() -> Any:
            return codec.decode_columns(path)

        def numpy_gather() -> Any:
            with fs.io.scanning.mapped(path) as buf:
                index = fs.scan(buf)
                raw = np.frombuffer(buf, np.uint8)
                base = index.payload_offsets.astype(np.int64)
                out = {}
                for name, dt, a in zip(names, dtypes, at):
                    idx = (base + a)[:, None] + np.arange(8)
                    out[name] = raw[idx].view(dt).reshape(-1)
                del raw
                return out

        def numpy_structured() -> Any:
            with fs.io.scanning.mapped(path) as buf:
                dtype = np.dtype({"names": names, "formats": dtypes, "offsets": [4 + a for a in at],
                                  "itemsize": frame})
                rec = np.frombuffer(buf, dtype, n)
                out = {name: rec[name].copy() for name in names}
                del rec
                return out

        def per_message() -> Any:
            decode = codec.decode
            with fs.StreamReader(open(path, "rb"), close_source=True) as reader:
                out = []
                for k, p in enumerate(reader):
                    if k == small:
                        break
                    out.append(decode(p))
            return out

        def arrow_pandas() -> Any:
            return fs.read_arrow(path, codec).to_pandas()

        def per_message_pandas() -> Any:
            objs = per_message()
            return pd.DataFrame({"device_id": [o.device_id for o in objs],
                                 "timestamp": [o.timestamp for o in objs],
                                 "value": [o.value for o in objs]})

        def ipc_pandas() -> Any:
            with pa.memory_map(arrow_path) as source:
                return ipc.open_file(source).read_all().to_pandas()

        def encode_list() -> Any:
            return codec.encode_columns(cols)

        def encode_framed() -> Any:
            return codec.encode_columns(cols, framed="none")

        got = columnar()
        assert all(np.array_equal(got[k], cols[k]) for k in names)
        assert all(np.array_equal(numpy_gather()[k], cols[k]) for k in names)
        assert all(np.array_equal(numpy_structured()[k], cols[k]) for k in names)
        assert arrow_pandas().equals(ipc_pandas())
        cases = [
            ("decode_columns(path)", columnar),
            ("numpy gather (scan + fancy indexing)", numpy_gather),
            ("numpy structured dtype (no scan)", numpy_structured),
            ("per-message decode", per_message),
            ("read_arrow(path).to_pandas()", arrow_pandas),
            ("DataFrame from per-message decode", per_message_pandas),
            ("pyarrow.ipc file -> to_pandas()", ipc_pandas),
            ("encode_columns -> payload list", encode_list),
            ("encode_columns(framed) -> one buffer", encode_framed),
        ]
        best = _time(cases, args.repeats)
    rows_of = {name: (small if "per-message" in name else n) for name, _ in cases}
    rate = {name: rows_of[name] / best[name] for name in best}
    print(f"# columnar benchmark: {n} telemetry events, kernels={_kernels.IMPLEMENTATION if args.mode == 'native' else 'python'}, best of {args.repeats}")
    print(f"{'candidate':45s} {'rows/s':>14s} {'ns/row':>8s}")
    for name, _ in cases:
        print(f"{name:45s} {rate[name]:14,.0f} {1e9 / rate[name]:8.2f}")
    dc = rate["decode_columns(path)"]
    print()
    print(f"decode_columns vs numpy gather:          {dc / rate['numpy gather (scan + fancy indexing)']:.2f}x (target >= 3x)")
    print(f"decode_columns vs numpy structured:      {dc / rate['numpy structured dtype (no scan)']:.2f}x")
    print(f"decode_columns vs per-message decode:    {dc / rate['per-message decode']:.1f}x (target >= 20x)")
    print(f"decode_columns rows/s:                   {dc / 1e6:.1f}M (target >= 100M)")
    ap = rate["read_arrow(path).to_pandas()"]
    print(f"read_arrow.to_pandas vs per-message df:  {ap / rate['DataFrame from per-message decode']:.1f}x (target >= 10x)")
    print(f"read_arrow.to_pandas vs pyarrow.ipc:     {ap / rate['pyarrow.ipc file -> to_pandas()']:.2f}x (target >= 0.5x)")
    print(f"encode_columns rows/s (list / framed):   {rate['encode_columns -> payload list'] / 1e6:.1f}M / "
          f"{rate['encode_columns(framed) -> one buffer'] / 1e6:.1f}M (target >= 50M)")


if __name__ == "__main__":
    main()
