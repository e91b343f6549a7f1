"""flatstream.dask.read_dataframe on a LocalCluster against its peers, in one run.

    .venv/bin/python -m benchmarks.dask [--files 8] [--rows 400000] [--repeats 3]

Writes ``--files`` journals of ``--rows`` telemetry events each (u64
device_id, u64 timestamp, f64 value; index frames every 4096 events) and the
same tables as Parquet files (pyarrow, snappy, one file per journal), once.
Then, interleaved (repeat ``r`` runs every candidate once, from a rotating
start) and best of R, every candidate reads all rows and sums every column
(the sums are checked equal, so nothing is skipped):

- ``fs.read_arrow(path).to_pandas()`` per file, in this process;
- ``flatstream.dask.read_dataframe(paths)`` on a LocalCluster of 1 and of 2
  worker processes (one thread each): one partition per file;
- the same, one journal cut into 8 partitions at its index frames;
- ``dask.dataframe.read_parquet`` of the Parquet files on the same clusters.

Rows/s are total rows over the best time; the cluster numbers include dask's
scheduling and the transfer of the (tiny) per-partition sums.
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

import flatstream as fs


@fs.table(namespace="benchfb")
class TelemetryEvent:
    device_id: fs.u64
    timestamp: fs.u64
    value: fs.f64


def _write(root: Path, files: int, rows: int) -> Tuple[List[Path], List[Path]]:
    import pyarrow.parquet as pq

    codec = fs.codec(TelemetryEvent)
    journals, parquets = [], []
    rng = np.random.default_rng(1)
    for k in range(files):
        columns = {
            "device_id": rng.integers(1, 1 << 20, rows, dtype=np.uint64),
            "timestamp": np.arange(k * rows, (k + 1) * rows, dtype=np.uint64) + (1 << 40),
            "value": rng.random(rows) + 1.0,
        }
        path = root / f"t{k:03d}.fsj"
        with fs.open(path, "wb", format="journal", schema=codec, index_every=4096) as w:
            for payload in codec.encode_columns(columns):
                w.write_payload(payload)
        journals.append(path)
        parquet = root / "parquet" / f"t{k:03d}.parquet"
        parquet.parent.mkdir(exist_ok=True)
        pq.write_table(fs.read_arrow(path), parquet)
        parquets.append(parquet)
    return journals, parquets


def _best(cases: List[Tuple[str, Callable[[], Any]]], repeats: int) -> Tuple[Dict[str, float], Dict[str, Any]]:
    best = {name: float("inf") for name, _ in cases}
    results: Dict[str, Any] = {}
    for r in range(repeats):
        for name, fn in cases[r % len(cases):] + cases[:r % len(cases)]:
            gc.collect()
            start = time.perf_counter()
            results[name] = fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, results


def _sums(df: Any) -> Tuple[int, int, float]:
    return int(df["device_id"].sum()), int(df["timestamp"].sum()), round(float(df["value"].sum()), 3)


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--rows", type=int, default=400_000, help="rows per file")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import dask.dataframe as dd
    import distributed

    import flatstream.dask as fsd

    total = args.files * args.rows
    with tempfile.TemporaryDirectory(prefix="fs-bench-dask-") as tmp:
        t0 = time.perf_counter()
        journals, parquets = _write(Path(tmp), args.files, args.rows)
        size = sum(p.stat().st_size for p in journals)
        psize = sum(p.stat().st_size for p in parquets)
        print(f"# dask benchmark: {args.files} journals x {args.rows:,} telemetry events "
              f"({size / 2**20:.1f} MiB; Parquet {psize / 2**20:.1f} MiB), written in "
              f"{time.perf_counter() - t0:.1f} s; best of {args.repeats}")
        single = [("read_arrow per file, 1 process",
                   lambda: _sums_of([fs.read_arrow(p).to_pandas() for p in journals]))]
        best, results = _best(single, args.repeats)
        rows: List[Tuple[str, float]] = [(single[0][0], best[single[0][0]])]
        one_split = journals[0]
        split_frames = -(-args.rows // 8)
        for workers in (1, 2):
            with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                          dashboard_address=None, silence_logs=40) as cluster, \
                    distributed.Client(cluster, set_as_default=False) as client:
                def on_cluster(frame: Any) -> Any:
                    return _sums(frame.sum().compute(scheduler=client))

                cases = [
                    (f"read_dataframe, {workers} worker(s), {args.files} files",
                     lambda: on_cluster(fsd.read_dataframe(journals))),
                    (f"dd.read_parquet, {workers} worker(s), {args.files} files",
                     lambda: on_cluster(dd.read_parquet([str(p) for p in parquets]))),
                    (f"read_dataframe, {workers} worker(s), 1 journal in 8 index ranges",
                     lambda: on_cluster(fsd.read_dataframe(one_split, partition_frames=split_frames))),
                ]
                cases[0][1]()  # warm the workers' imports
                b, res = _best(cases, args.repeats)
                best.update(b)
                results.update(res)
                rows.extend((name, b[name]) for name, _ in cases)
        # every full read summed the same rows (dask's tree reduction of u64 sums
        # goes through float64 at this size: equal to 1e-12, not exactly)
        full = [value for name, value in results.items() if "1 journal" not in name]
        assert all(math.isclose(a, b, rel_tol=1e-12) for value in full for a, b in zip(value, full[0])), full
        print("| candidate | rows | best time | rows/s |")
        print("|---|---|---|---|")
        for name, took in rows:
            n = args.rows if "1 journal" in name else total
            print(f"| {name} | {n:,} | {took * 1000:.0f} ms | {n / took / 1e6:.1f} M |")
        rate = {name: (args.rows if "1 journal" in name else total) / took for name, took in rows}
        print()
        for what in ("read_dataframe, {w} worker(s), {f} files", "dd.read_parquet, {w} worker(s), {f} files",
                     "read_dataframe, {w} worker(s), 1 journal in 8 index ranges"):
            one, two = (rate[what.format(w=w, f=args.files)] for w in (1, 2))
            print(f"scaling 1 -> 2 workers, {what.format(w='n', f=args.files)}: {two / one:.2f}x")
        for w in (1, 2):
            ours = rate[f"read_dataframe, {w} worker(s), {args.files} files"]
            parquet = rate[f"dd.read_parquet, {w} worker(s), {args.files} files"]
            print(f"{w} worker(s): read_dataframe / dd.read_parquet = {ours / parquet:.2f}x; "
                  f"read_dataframe / single-process read_arrow = {ours / rate[single[0][0]]:.2f}x")


def _sums_of(frames: List[Any]) -> Tuple[int, int, float]:
    import pandas as pd

    return _sums(pd.concat(frames, ignore_index=True))


if __name__ == "__main__":
    main()
