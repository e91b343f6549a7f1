"""LOBSTER end to end: a message stream of a synthetic day against the CSV it
came from and against Arrow IPC / Parquet of the same table, in one run.

    python -m benchmarks.lobster [--messages 1000000] [--repeats 3] [--cache DIR]

Builds (once per cache dir) a synthetic LOBSTER ZIP (examples/lobster/synth.py),
ingests it (examples/lobster/ingest.py), extracts the message CSV and writes
the decoded table as Arrow IPC and Parquet. Then times, best of the repeats,
interleaved: reading the full stream (payloads only), decoding it to columns
(the columnar kernel, examples/lobster/storage.decode_columns), and to a pandas
DataFrame; pandas.read_csv and pyarrow.csv.read_csv of the CSV; pyarrow IPC and
Parquet to pandas. GiB/s is of each candidate's own input file.
"""

from __future__ import annotations

import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flatstream as fs  # noqa: E402
from examples.lobster import ingest, storage, synth  # noqa: E402


def prepare(cache: Path, messages: int) -> Dict[str, Path]:
    """The input files, made once per (cache, messages)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache.mkdir(parents=True, exist_ok=True)
    zip_path = cache / f"SYNTH_2012-06-21_34200000_57600000_10-{messages}.zip"
    files = {
        "zip": zip_path,
        "stream": cache / f"{zip_path.stem}-message.fs",
        "csv": cache / f"{zip_path.stem}-message.csv",
        "ipc": cache / f"{zip_path.stem}-message.arrow",
        "parquet": cache / f"{zip_path.stem}-message.parquet",
    }
    if all(p.exists() for p in files.values()):
        return files
    for p in files.values():
        p.unlink(missing_ok=True)
    (cache / f"{zip_path.stem}-orderbook.fs").unlink(missing_ok=True)
    t = time.perf_counter()
    synth.write_zip(zip_path, messages, levels=10, seed=1)
    print(f"synthetic zip: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    t = time.perf_counter()
    ingest.ingest_zip(zip_path, cache, progress=False)
    print(f"ingest (both files): {time.perf_counter() - t:.1f} s", file=sys.stderr)
    with zipfile.ZipFile(zip_path) as zf:
        name = next(n for n in zf.namelist() if "_message_" in n)
        files["csv"].write_bytes(zf.read(name))
    table = pa.table(storage.decode_columns(files["stream"], storage.message_codec()))
    with pa.OSFile(str(files["ipc"]), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    pq.write_table(table, files["parquet"])
    return files


def candidates(files: Dict[str, Path]) -> List[Tuple[str, str, Callable[[], Any]]]:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    codec = storage.message_codec()
    names = list(storage.MESSAGE_COLUMNS)

    def read_stream() -> int:
        n = 0
        with fs.open(files["stream"], "rb") as reader:
            for batch in reader.iter_batches(65536):
                n += len(batch)
        return n

    def ipc_pandas() -> Any:
        with pa.memory_map(str(files["ipc"])) as source:
            return pa.ipc.open_file(source).read_all().to_pandas()

    return [
        ("flatstream: read full stream (payloads)", "stream", read_stream),
        ("flatstream: decode to columns (columnar kernel)", "stream",
         lambda: storage.decode_columns(files["stream"], codec)),
        ("flatstream: to pandas (columnar kernel)", "stream",
         lambda: storage.message_frame(storage.decode_columns(files["stream"], codec))),
        ("pandas.read_csv (CSV)", "csv", lambda: pd.read_csv(files["csv"], header=None, names=names)),
        ("pyarrow.csv.read_csv (CSV) to pandas", "csv", lambda: pcsv.read_csv(
            files["csv"], read_options=pcsv.ReadOptions(column_names=names)).to_pandas()),
        ("pyarrow IPC (mmap) to pandas", "ipc", ipc_pandas),
        ("Parquet to pandas", "parquet", lambda: pq.read_table(files["parquet"]).to_pandas()),
    ]


@click.command()
@click.option("--messages", default=1_000_000, show_default=True)
@click.option("--repeats", default=3, show_default=True)
@click.option("--cache", type=click.Path(file_okay=False), default="/tmp/flatstream-bench-lobster",
              show_default=True)
def main(messages: int, repeats: int, cache: str) -> None:
    """Print the table (markdown) of one run."""
    files = prepare(Path(cache), messages)
    cases = candidates(files)
    best: Dict[str, float] = {}
    for r in range(repeats):
        for i in range(len(cases)):
            label, _, fn = cases[(i + r) % len(cases)]  # rotate: drift spreads over all
            t = time.perf_counter()
            fn()
            best[label] = min(best.get(label, float("inf")), time.perf_counter() - t)
    base = best["pandas.read_csv (CSV)"]
    print(f"LOBSTER message file, {messages:,} messages, kernels={fs.KERNELS}, best of {repeats}")
    print("| candidate | input | MiB | s | GiB/s | Mmsg/s | x pandas.read_csv |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, key, _ in cases:
        size = files[key].stat().st_size
        s = best[label]
        print(f"| {label} | {key} | {size / 2**20:.1f} | {s:.3f} | {size / s / 2**30:.3f} "
              f"| {messages / s / 1e6:.2f} | {base / s:.2f}x |")


if __name__ == "__main__":
    main()
