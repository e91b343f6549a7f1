"""Salvage: reading past damage, counted exactly, against fs.verify's speed.

``python -m benchmarks.salvage [--frames N] [--corruptions K]`` (default
1,000,000 24-byte events in an xxh3_64 journal, 100 corrupted bytes) writes
the journal, flips K random bytes in place, and measures in one run:

* ``fs.salvage`` to a new file: frames kept against the exact count of
  frames that overlap no corrupted byte (found from the clean file's own
  frame index, metadata frames included, since salvage keeps those too);
* its throughput against ``fs.verify`` over the clean file (same size),
  the issue's target being >= 50%;
* ``StreamReader(on_corruption="skip")`` reading through the same damage.

Every number printed was measured in this run; ratios are against the
``fs.verify`` run next to them.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from typing import Any, Callable

import numpy as np

import flatstream as fs

from .framing import records24


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--corruptions", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        clean = os.path.join(tmp, "clean.fsj")
        with fs.open(clean, "wb", format="journal", checksum="xxh3_64") as w:
            w.write_many(records24(args.frames))
        data = bytearray(open(clean, "rb").read())
        # Every raw frame of the clean file (header, index, footer and user frames).
        index = fs.scan(bytes(data), "xxh3_64")
        starts = index.offsets.astype(np.int64)
        ends = starts + index.header_len + index.lengths.astype(np.int64)
        positions = sorted(rng.sample(range(len(data)), args.corruptions))
        hit = np.zeros(len(starts), dtype=bool)
        for pos in positions:
            data[pos] ^= 1 << rng.randrange(8)
            k = int(np.searchsorted(starts, pos, side="right")) - 1
            if k >= 0 and pos < ends[k]:
                hit[k] = True
        expected = int((~hit).sum())
        damaged = os.path.join(tmp, "damaged.fsj")
        with open(damaged, "wb") as f:
            f.write(data)
        size = len(data)

        verify = _best(lambda: fs.verify(clean), args.repeat)
        outputs = iter(range(10**6))
        report = None

        def salvage() -> None:
            nonlocal report
            report = fs.salvage(damaged, os.path.join(tmp, f"out{next(outputs)}.fs"))

        salvage_time = _best(salvage, args.repeat)
        assert report is not None
        report_only = _best(lambda: fs.salvage(damaged), args.repeat)

        def skip_read() -> int:
            with open(damaged, "rb") as f:
                reader = fs.StreamReader(
                    f, fs.ChecksumDeframer("xxh3_64"), on_corruption="skip"
                )
                n = 0
                for batch in reader.iter_batches(4096):
                    n += len(batch)
                return n

        skipped_read = _best(skip_read, args.repeat)

    gb = size / 1e9
    print(f"journal: {args.frames:,} 24-byte events, xxh3_64, {size / 1e6:.1f} MB, "
          f"{args.corruptions} corrupted bytes in {int(hit.sum())} frames")
    print(f"kept {report.frames:,} frames, expected {expected:,} "
          f"({'exact' if report.frames == expected else 'MISMATCH'}); "
          f"{len(report.skipped)} ranges skipped, {report.bytes_lost:,} bytes lost")
    print(f"{'fs.verify (clean file)':<40} {verify * 1e3:8.1f} ms  {gb / verify:6.2f} GB/s")
    for name, seconds in (
        ("fs.salvage -> new file", salvage_time),
        ("fs.salvage, report only", report_only),
        ("StreamReader(on_corruption='skip')", skipped_read),
    ):
        print(f"{name:<40} {seconds * 1e3:8.1f} ms  {gb / seconds:6.2f} GB/s  "
              f"{verify / seconds:5.2f}x fs.verify")


if __name__ == "__main__":
    main()
