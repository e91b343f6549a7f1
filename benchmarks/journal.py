"""Journals: what the index and footer buy, what they cost, and compression.

``python -m benchmarks.journal [--frames N]`` (default 10,000,000 24-byte
telemetry events, xxh3_64) measures, in one run:

* ``len(r)`` / ``fs.count`` of a cleanly closed journal (footer) vs
  ``fs.verify`` scanning it; the same on a journal truncated at a random point;
* ``r[i]`` random access p50, uncompressed and zstd (1 MiB blocks), warm;
* header+index+footer overhead as % of the file;
* zstd journal size vs ``zstd -3`` of the raw stream (the zstd CLI, or the
  zstandard package at level 3 when the CLI is missing);
* write and read throughput of the zstd journal vs pyarrow IPC with zstd
  (when pyarrow is installed: the ``bench`` extra).

Numbers are printed as ratios next to the absolute times.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from typing import Any, Callable, List

import flatstream as fs

from .framing import records24


def _time(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _write(path: str, events: List[bytes], **options: Any) -> float:
    start = time.perf_counter()
    with fs.open(path, "wb", format="journal", **options) as w:
        write = w.write_payload
        for e in events:
            write(e)
    return time.perf_counter() - start


def _p50_access(path: str, n: int, samples: int = 2000) -> float:
    rng = random.Random(7)
    with fs.open(path, "rb") as r:
        len(r)
        r[0]
        r.layout()  # one scan, then warm
        times = []
        for _ in range(samples):
            i = rng.randrange(n)
            start = time.perf_counter()
            r[i]
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=10_000_000)
    args = parser.parse_args()
    n = args.frames
    events = records24(n)
    tmp = tempfile.mkdtemp(prefix="fs-journal-bench-")
    plain, packed, raw = (os.path.join(tmp, x) for x in ("plain.fsj", "zstd.fsj", "raw.bin"))
    rows = []
    with fs.open(raw, "wb", checksum="xxh3_64") as w:
        w.write_many(events)
    write_plain = _write(plain, events)
    start = time.perf_counter()
    with fs.open(plain, "wb", format="journal") as w:
        w.write_many(events)
    write_plain_many = time.perf_counter() - start
    write_zstd = _write(packed, events, compression="zstd")
    start = time.perf_counter()
    with fs.open(packed, "wb", format="journal", compression="zstd") as w:
        w.write_many(events)
    write_zstd_many = time.perf_counter() - start
    size_plain, size_raw, size_zstd = (os.path.getsize(p) for p in (plain, raw, packed))

    t_len = _time(lambda: len(fs.open(plain, "rb")))
    t_count = _time(lambda: fs.count(plain))
    t_scan = _time(lambda: fs.verify(plain))
    rows.append(("len(r) clean, footer", t_len, t_scan / t_len))
    rows.append(("fs.count clean, footer", t_count, t_scan / t_count))
    cut = os.path.join(tmp, "cut.fsj")
    with open(plain, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(random.Random(3).randrange(size_plain // 2, size_plain)))
    t_cut = _time(lambda: len(fs.open(cut, "rb")))
    t_cut_scan = _time(lambda: fs.verify(cut, allow_torn_tail=True))
    rows.append(("len(r) truncated (last index + tail)", t_cut, t_cut_scan / t_cut))
    p50_plain = _p50_access(plain, n)
    p50_zstd = _p50_access(packed, n)

    if shutil.which("zstd"):
        out = subprocess.run(["zstd", "-3", "-c", raw], capture_output=True, check=True).stdout
        zstd3 = len(out)
    else:
        import zstandard

        with open(raw, "rb") as f:
            zstd3 = len(zstandard.ZstdCompressor(level=3).compress(f.read()))

    t_read_zstd = _time(lambda: sum(1 for _ in fs.open(packed, "rb")), repeat=1)
    print(f"# journal benchmark: {n:,} 24-byte events, xxh3_64, kernels={fs.KERNELS}")
    print("| measure | time | ratio (scan / this) |\n|---|---|---|")
    for name, t, ratio in rows:
        print(f"| {name} | {t * 1e3:.3f} ms | {ratio:,.0f}x |")
    print(f"| verify scan (clean) | {t_scan * 1e3:.1f} ms | 1x |")
    print(f"\nr[i] p50: uncompressed {p50_plain * 1e6:.2f} us, zstd {p50_zstd * 1e6:.2f} us")
    print(f"overhead (header+index+footer): {100 * (size_plain - size_raw) / size_plain:.3f} % of the file")
    print(f"zstd journal {size_zstd:,} B vs zstd -3 of raw {zstd3:,} B: "
          f"journal/zstd-3 = {size_zstd / zstd3:.3f} (target <= 1.10)")
    print(f"write: plain {n / write_plain / 1e6:.2f} M ev/s (write_many {n / write_plain_many / 1e6:.2f}), "
          f"zstd {n / write_zstd / 1e6:.2f} M ev/s (write_many {n / write_zstd_many / 1e6:.2f}); "
          f"read zstd {n / t_read_zstd / 1e6:.2f} M ev/s")
    try:
        import pyarrow as pa
        import pyarrow.ipc as ipc
    except ImportError:
        print("pyarrow not installed (pip install -e '.[bench]'): IPC comparison skipped")
    else:
        arrow = os.path.join(tmp, "events.arrow")
        start = time.perf_counter()
        table = pa.table({"e": pa.array(events, type=pa.binary(24))})
        with ipc.new_file(arrow, table.schema, options=ipc.IpcWriteOptions(compression="zstd")) as wr:
            wr.write_table(table, max_chunksize=1 << 16)
        t_aw = time.perf_counter() - start
        t_ar = _time(lambda: ipc.open_file(arrow).read_all().column(0).to_pylist(), repeat=1)
        print(f"pyarrow IPC zstd: write {n / t_aw / 1e6:.2f} M ev/s, read {n / t_ar / 1e6:.2f} M ev/s; "
              f"journal/arrow write {t_aw / write_zstd:.2f}x (write_many {t_aw / write_zstd_many:.2f}x), "
              f"read {t_ar / t_read_zstd:.2f}x")
    _mcap(tmp, events, write_zstd, t_read_zstd, size_zstd)
    shutil.rmtree(tmp)


def _mcap(tmp: str, events: List[bytes], write_zstd: float, t_read_zstd: float, size_zstd: int) -> None:
    """The same events as MCAP messages (zstd chunks of 1 MiB, the default
    chunk size's order), written and read with the ``mcap`` package."""
    try:
        from mcap.reader import make_reader
        from mcap.writer import CompressionType, Writer
    except ImportError:
        print("mcap not installed (pip install -e '.[bench]'): MCAP comparison skipped")
        return
    n = len(events)
    path = os.path.join(tmp, "events.mcap")
    start = time.perf_counter()
    with open(path, "wb") as f:
        writer = Writer(f, chunk_size=1 << 20, compression=CompressionType.ZSTD)
        writer.start()
        schema_id = writer.register_schema(name="Event", encoding="flatbuffer", data=b"")
        channel = writer.register_channel(topic="/events", message_encoding="flatbuffer",
                                          schema_id=schema_id)
        add = writer.add_message
        for i, e in enumerate(events):
            add(channel, log_time=i, data=e, publish_time=i)
        writer.finish()
    t_mw = time.perf_counter() - start

    def read_all() -> int:
        with open(path, "rb") as f:
            return sum(1 for _ in make_reader(f).iter_messages())

    t_mr = _time(read_all, repeat=1)
    size = os.path.getsize(path)
    print(f"MCAP zstd chunks: write {n / t_mw / 1e6:.2f} M ev/s, read {n / t_mr / 1e6:.2f} M ev/s, "
          f"{size:,} B; journal/MCAP write {t_mw / write_zstd:.2f}x, read {t_mr / t_read_zstd:.2f}x, "
          f"size {size_zstd / size:.3f}")


if __name__ == "__main__":
    main()
