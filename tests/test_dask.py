"""flatstream.dask.read_dataframe on a real distributed.LocalCluster (two
worker processes), over local files, memory:// and a real local HTTP server
answering Range requests: equal to the single-process fs.read_arrow, cut at
index frames, projected, and clear about damage.

The kernel mode of each test (conftest) is switched on the workers too, so
the cluster runs the native kernels and then their pure twins."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import numpy as np
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

import flatstream as fs  # noqa: E402
import flatstream.dask as fsd  # noqa: E402
from flatstream import _kernels  # noqa: E402

from test_columnar import ROW, VAR, Color, Pair, Row, Tele, Var, Vec3  # noqa: E402

TELE = fs.codec(Tele)


# -- a cluster of two worker processes, started once ------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster:
        with distributed.Client(cluster, set_as_default=False) as c:
            yield c


_WORKER_KERNELS: List[Any] = []


def _select_kernels(mode: str) -> str:
    """On a worker: keep its kernels switched to ``mode`` until the next call."""
    while _WORKER_KERNELS:
        _WORKER_KERNELS.pop().__exit__(None, None, None)
    selection = _kernels.selected(mode)
    selection.__enter__()
    _WORKER_KERNELS.append(selection)
    return _kernels.IMPLEMENTATION


@pytest.fixture
def cluster(client: Any, kernel_mode: str) -> Any:
    assert set(client.run(_select_kernels, kernel_mode).values()) == {kernel_mode}
    return client


def on(cluster: Any, collection: Any) -> Any:
    return collection.compute(scheduler=cluster)


# -- data -------------------------------------------------------------------------


def var_rows(n: int, seed: int) -> List[Var]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(0, 4))
        out.append(Var(
            id=seed * 100_000 + i,
            name=None if k == 0 else "n" * k + str(i),
            raw=None if k == 1 else bytes(range(k)),
            ids=None if k == 2 else [int(v) for v in rng.integers(-5, 5, size=k)],
            doubles=[float(v) for v in rng.random(k)],
            bools=None if k == 3 else [bool(v) for v in rng.integers(0, 2, size=k)],
        ))
    return out


def row_rows(n: int, seed: int) -> List[Row]:
    out = []
    for i in range(n):
        out.append(Row(flag=i % 3 == 0, i8v=(i % 200) - 100, u16v=i % 65536, i32v=seed * i, u64v=2**63 + i,
                       f32v=i / 8, f64v=i / 3, color=list(Color)[i % 3],
                       opt=None if i % 4 == 0 else i % 256, opt_f=None if i % 5 == 0 else i * 0.25,
                       pos=None if i % 2 else Vec3(i, -i, 0.5),
                       pair=None if i % 3 else Pair(i % 256, Vec3(1, 2, 3), -i)))
    return out


def write_journal(path: Path, codec: Any, objs: List[Any], *, index_every: int = 50,
                  key: Optional[str] = None, compression: Optional[str] = None) -> Path:
    with fs.open(path, "wb", format="journal", schema=codec, index_every=index_every, key=key,
                 compression=compression) as w:
        for obj in objs:
            w.write_payload(codec.encode(obj))
    return path


def write_raw(path: Path, codec: Any, objs: List[Any], checksum: str = "xxh3_64") -> Path:
    with fs.open(path, "wb", checksum=checksum) as w:
        for obj in objs:
            w.write_payload(codec.encode(obj))
    return path


def expected(paths: List[Path], codec: Any = None, checksum: Any = None) -> Any:
    """The single-process result: fs.read_arrow per file, concatenated
    (``checksum`` is the raw streams'; journals name theirs)."""
    tables = []
    for path in paths:
        if not fs.journal.is_journal(path.read_bytes()):
            tables.append(fs.read_arrow(str(path), codec, checksum=checksum))
            continue
        with fs.open(path, "rb") as reader:
            # read_arrow reads a compressed journal through its reader (its messages are in blocks)
            source = reader if reader.header.compression != "none" else str(path)
            tables.append(fs.read_arrow(source, codec))
    return pa.concat_tables(tables)


def as_table(df: Any) -> Any:
    """``df`` as Arrow, strings as read_arrow's large_string (pandas before 2.2
    backs them with 32-bit offsets: same values, other offset width)."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    schema = pa.schema([pa.field(f.name, pa.large_string()) if f.type == pa.string() else f
                        for f in table.schema])
    return table.cast(schema)


# -- results equal the single-process reader ---------------------------------------


def test_many_journals_and_raw_streams_on_the_cluster_equal_read_arrow(cluster: Any, tmp_path: Path) -> None:
    paths = [
        write_journal(tmp_path / "a.fsj", VAR, var_rows(700, 1)),
        write_journal(tmp_path / "b.fsj", VAR, var_rows(5, 2)),
        write_journal(tmp_path / "c.fsj", VAR, var_rows(400, 3), compression="zstd"),
        write_raw(tmp_path / "d.fs", VAR, var_rows(300, 4)),
        write_raw(tmp_path / "e.fs", VAR, []),
    ]
    ddf = fsd.read_dataframe(paths, VAR, checksum="xxh3_64", partition_frames=200)
    # a: 14 segments of 50 -> 4 ranges; b: 1; c: ranges of whole blocks/segments; d, e: one each
    assert ddf.npartitions >= 4 + 1 + 1 + 2
    got = on(cluster, ddf)
    assert as_table(got).equals(expected(paths, VAR, "xxh3_64"))
    assert list(got.dtypes.astype(str)) == list(ddf.dtypes.astype(str))  # meta == the partitions
    assert ddf.dtypes["name"] == pd.StringDtype("pyarrow")


def test_structs_optionals_and_enums_equal_read_arrow(cluster: Any, tmp_path: Path) -> None:
    paths = [write_journal(tmp_path / f"r{k}.fsj", ROW, row_rows(300 + k, k)) for k in range(3)]
    ddf = fsd.read_dataframe(str(tmp_path / "r*.fsj"), partition_frames=100)  # the header's codec
    assert ddf.npartitions == 3 + 4 + 4  # 6, 7 and 7 segments of up to 50 frames
    got = on(cluster, ddf)
    assert as_table(got).equals(expected(paths))
    assert str(ddf.dtypes["opt"]) == "UInt8" and str(ddf.dtypes["pos.x"]) == "Float32"
    assert got["pos.x"].isna().sum() == sum((i % 2) for k in range(3) for i in range(300 + k))


def test_meta_comes_from_the_schema_before_any_data(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "v.fsj", VAR, var_rows(10, 5))
    ddf = fsd.read_dataframe(path)
    meta = ddf._meta
    assert len(meta) == 0
    assert list(meta.columns) == ["id", "name", "raw", "ids", "doubles", "bools"]
    assert str(meta.dtypes["id"]) == "uint32"
    assert str(meta.dtypes["ids"]) == "large_list<item: int32>[pyarrow]"


# -- partitions at index frames ----------------------------------------------------


def test_partitions_cut_at_index_frames_hold_the_rows_of_one_partition(cluster: Any, tmp_path: Path) -> None:
    objs = [Tele(i % 7, i, i / 3) for i in range(2000)]
    path = write_journal(tmp_path / "t.fsj", TELE, objs, index_every=100)
    whole = fsd.read_dataframe(path, partition_bytes=1 << 40)
    assert whole.npartitions == 1
    one = on(cluster, whole)
    for frames, parts in ((100, 20), (250, 7), (1000, 2), (5000, 1)):
        ddf = fsd.read_dataframe(path, partition_frames=frames)
        assert ddf.npartitions == parts
        lengths = on(cluster, ddf.map_partitions(len)).tolist()
        # every cut is an index frame: whole segments of 100, the last takes the rest
        assert lengths[:-1] == [-(-frames // 100) * 100] * (parts - 1) and sum(lengths) == 2000
        got = on(cluster, ddf)
        assert got.reset_index(drop=True).equals(one.reset_index(drop=True))
    size = path.stat().st_size
    by_bytes = fsd.read_dataframe(path, partition_bytes=size // 4)
    assert 4 <= by_bytes.npartitions <= 5
    assert on(cluster, by_bytes).reset_index(drop=True).equals(one)


def test_divisions_from_the_index_key_ranges(cluster: Any, tmp_path: Path) -> None:
    paths = []
    for k in range(3):
        # timestamps rise from file to file; inside a segment they are shuffled
        ts = np.arange(k * 1000, k * 1000 + 600)
        for s in range(0, 600, 60):
            np.random.default_rng(s).shuffle(ts[s:s + 60])
        paths.append(write_journal(tmp_path / f"k{k}.fsj", TELE,
                                   [Tele(k, int(t), float(t) / 2) for t in ts], index_every=60, key="timestamp"))
    ddf = fsd.read_dataframe(paths, index="timestamp", partition_frames=120)
    assert ddf.known_divisions
    assert ddf.divisions[:3] == (0, 120, 240) and ddf.divisions[-1] == 2599
    got = on(cluster, ddf)
    assert got.index.is_monotonic_increasing  # each partition sorted by its key
    flat = expected(paths).to_pandas().set_index("timestamp").sort_index()
    assert got.equals(flat)
    window = on(cluster, ddf.loc[1100:1130])
    assert window.index.tolist() == list(range(1100, 1131))
    assert (window["value"] == window.index / 2).all()
    # overlapping key ranges (the same file twice): the index is set, the divisions unknown
    assert not fsd.read_dataframe([paths[0], paths[0]], index="timestamp").known_divisions


# -- column projection -------------------------------------------------------------


def _undecodable_name(path: Path) -> None:
    """Journal ``path`` whose frame 3's ``name`` is not UTF-8 (its id still decodes)."""
    payloads = [VAR.encode(Var(id=i, name="zz" if i == 3 else "ok")) for i in range(10)]
    bad = bytearray(payloads[3])
    at = bytes(bad).index(b"zz")
    bad[at:at + 2] = b"\xff\xfe"
    payloads[3] = bytes(bad)
    with fs.open(path, "wb", format="journal", schema=VAR, index_every=4) as w:
        for p in payloads:
            w.write_payload(p)


def test_a_column_selection_decodes_only_those_fields(cluster: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad-name.fsj"
    _undecodable_name(path)
    ddf = fsd.read_dataframe(path, partition_frames=4)
    # the selection is pushed into the read: the bad string is never decoded
    assert on(cluster, ddf["id"]).tolist() == list(range(10))
    assert on(cluster, ddf[["id", "doubles"]].map_partitions(len)).sum() == 10
    with pytest.raises(fsd.PartitionError) as caught:
        on(cluster, ddf)
    assert str(path) in str(caught.value) and "frame 3" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    skipped = on(cluster, fsd.read_dataframe(path, on_error="skip", partition_frames=4))
    assert skipped["@valid"].tolist() == [i != 3 for i in range(10)]
    only = fsd.read_dataframe(path, columns=["id"])
    assert list(only.columns) == ["id"] and on(cluster, only)["id"].sum() == 45


# -- fsspec: memory:// and HTTP range requests ------------------------------------


def test_memory_filesystem(tmp_path: Path) -> None:
    memfs = fsspec.filesystem("memory")
    paths = [write_journal(tmp_path / "m0.fsj", ROW, row_rows(250, 7)),
             write_raw(tmp_path / "m1.fs", ROW, row_rows(30, 8))]
    for p in paths:
        memfs.pipe(f"/flatstream-test/{p.name}", p.read_bytes())
    try:
        ddf = fsd.read_dataframe(["memory://flatstream-test/m0.fsj", "memory://flatstream-test/m1.fs"],
                                 ROW, checksum="xxh3_64", partition_frames=100)
        assert ddf.npartitions == 3 + 1
        got = ddf.compute(scheduler="threads")  # memory:// is this process's
        assert as_table(got).equals(expected(paths, ROW, "xxh3_64"))
    finally:
        memfs.rm("/flatstream-test", recursive=True)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory and answers ``Range: bytes=a-b`` with 206 (the
    stdlib handler ignores Range); logs (method, path, range, bytes sent)."""

    def log_message(self, *args: Any) -> None:
        pass

    def send_head(self) -> Any:
        wanted = self.headers.get("Range")
        server: Any = self.server
        if wanted is None or not server.honour_range or os.path.isdir(self.translate_path(self.path)):
            body = super().send_head()
            sent = None
            if body is not None and self.command == "GET":
                sent = len(body.getvalue()) if isinstance(body, io.BytesIO) else os.fstat(body.fileno()).st_size
            server.log.append((self.command, self.path, None, sent))
            return body
        try:
            file = open(self.translate_path(self.path), "rb")
        except OSError:
            self.send_error(404)
            return None
        with file:
            size = os.fstat(file.fileno()).st_size
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", wanted)
            start = int(match[1]) if match else size
            end = min(int(match[2]) if match and match[2] else size - 1, size - 1)
            if start > end:
                self.send_error(416)
                return None
            file.seek(start)
            data = file.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        server.log.append((self.command, self.path, wanted, len(data)))
        return io.BytesIO(data)


@contextlib.contextmanager
def http_server(root: Path, honour_range: bool = True) -> Iterator[Tuple[str, Any]]:
    server: Any = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_RangeHandler, directory=str(root)))
    server.log = []
    server.honour_range = honour_range
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_range_requests_from_the_workers(cluster: Any, tmp_path: Path) -> None:
    objs = [Tele(i % 3, i, i * 0.5) for i in range(3000)]
    paths = [write_journal(tmp_path / "h0.fsj", TELE, objs, index_every=100, key="timestamp"),
             write_raw(tmp_path / "h1.fs", TELE, objs[:500])]
    with http_server(tmp_path) as (url, server):
        ddf = fsd.read_dataframe([f"{url}/h0.fsj", f"{url}/h1.fs"], checksum="xxh3_64",
                                 partition_frames=500, codec=TELE)
        planned = [entry for entry in server.log if entry[1] == "/h0.fsj" and entry[3]]
        # planning read the header, the footer and the index chain, never the frames
        assert all(entry[2] is not None for entry in planned)
        assert sum(entry[3] for entry in planned) < paths[0].stat().st_size // 10
        assert ddf.npartitions == 6 + 1
        server.log.clear()
        got = on(cluster, ddf)
        ranges = [entry for entry in server.log if entry[0] == "GET" and entry[1] == "/h0.fsj"]
        assert len(ranges) == 6 and all(entry[2] is not None for entry in ranges)
        assert sum(entry[3] for entry in ranges) < paths[0].stat().st_size  # not the header again
    assert as_table(got).equals(expected(paths, TELE, "xxh3_64"))


def test_an_http_server_that_ignores_range_is_an_error(tmp_path: Path) -> None:
    write_journal(tmp_path / "n.fsj", TELE, [Tele(1, i, 0.0) for i in range(300)])
    with http_server(tmp_path, honour_range=False) as (url, _):
        with pytest.raises(fsd.PartitionError, match="ignores Range"):
            fsd.read_dataframe(f"{url}/n.fsj")


def test_http_glob_and_a_journal_that_was_not_closed(cluster: Any, tmp_path: Path) -> None:
    objs = [Tele(0, i, float(i)) for i in range(1000)]
    closed = write_journal(tmp_path / "g0.fsj", TELE, objs, index_every=64)
    # a crash: no footer, no last index frame, and the last user frame torn
    data = closed.read_bytes()
    metadata = fs.journal.layout.footer_frame_len(8) + fs.journal.layout.index_frame_len(8)
    (tmp_path / "g1.fsj").write_bytes(data[:len(data) - metadata - 5])
    local = fsd.read_dataframe([closed, tmp_path / "g1.fsj"], partition_frames=256)
    with http_server(tmp_path) as (url, _):
        remote = fsd.read_dataframe(f"{url}/g*.fsj", partition_frames=256)
        # 16 segments of 64 in 4 ranges; 15 (the 16th lost its index frame) in 4, and the tail
        assert remote.npartitions == local.npartitions == 4 + 5
        got = on(cluster, remote)
    assert got.reset_index(drop=True).equals(on(cluster, local).reset_index(drop=True))
    assert as_table(got).equals(expected([closed, tmp_path / "g1.fsj"]))
    assert len(got) == 1000 + 999  # the torn frame is left out, as read_arrow leaves it out


# -- damage ------------------------------------------------------------------------


def test_a_corrupt_frame_names_the_file_and_its_range(cluster: Any, tmp_path: Path) -> None:
    good = write_journal(tmp_path / "good.fsj", TELE, [Tele(0, i, 1.0) for i in range(400)], index_every=100)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside a user frame of the second half
    bad = tmp_path / "bad.fsj"
    bad.write_bytes(bytes(data))
    ddf = fsd.read_dataframe([good, bad], partition_frames=100)
    with pytest.raises(fsd.PartitionError) as caught:
        on(cluster, ddf)
    error = caught.value
    assert error.path == str(bad) and error.byte_range is not None
    assert error.byte_range[0] < len(data) // 2 < error.byte_range[1]
    assert "checksum" in str(error).lower()
    # the other partitions still read
    assert on(cluster, ddf.partitions[:4]).shape[0] == 400


def test_a_damaged_index_chain_or_header_is_refused_while_planning(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "i.fsj", TELE, [Tele(0, i, 1.0) for i in range(300)], index_every=100)
    with fs.open(path, "rb") as r:
        indexes = r.layout().indexes
    data = bytearray(path.read_bytes())
    data[indexes[1].self_offset + 20] ^= 0x01
    (tmp_path / "chain.fsj").write_bytes(bytes(data))
    with pytest.raises(fsd.PartitionError, match="chain.fsj"):
        fsd.read_dataframe(tmp_path / "chain.fsj")
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01  # inside the header
    (tmp_path / "head.fsj").write_bytes(bytes(data))
    with pytest.raises(fsd.PartitionError, match="head.fsj.*header is damaged"):
        fsd.read_dataframe(tmp_path / "head.fsj")


def test_frames_missing_from_an_indexed_range_are_corruption(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "cut.fsj", TELE, [Tele(0, i, 1.0) for i in range(300)], index_every=100)
    data = path.read_bytes()
    with fs.open(path, "rb") as r:
        first = r.layout().indexes[0]
    # a frame's length prefix made to run past its segment (to the index frame)
    prefix = int.from_bytes(data[first.first_offset:first.first_offset + 4], "little")
    broken = bytearray(data)
    broken[first.first_offset:first.first_offset + 4] = (prefix + 10**6).to_bytes(4, "little")
    (tmp_path / "len.fsj").write_bytes(bytes(broken))
    ddf = fsd.read_dataframe(tmp_path / "len.fsj", partition_frames=100)
    with pytest.raises(fsd.PartitionError, match="len.fsj.*inside a range the index covers"):
        ddf.compute(scheduler="sync")


# -- arguments ---------------------------------------------------------------------


def test_arguments_are_checked(tmp_path: Path) -> None:
    journal = write_journal(tmp_path / "j.fsj", TELE, [Tele(0, 1, 2.0)])
    raw = write_raw(tmp_path / "r.fs", TELE, [Tele(0, 1, 2.0)])
    with pytest.raises(TypeError, match="raw stream.*codec="):
        fsd.read_dataframe([journal, raw])
    with pytest.raises(ValueError, match="says checksum xxh3_64, not crc32"):
        fsd.read_dataframe(journal, checksum="crc32")
    with pytest.raises(ValueError, match="not both"):
        fsd.read_dataframe(journal, partition_bytes=10, partition_frames=10)
    with pytest.raises(ValueError, match="index='nope'"):
        fsd.read_dataframe(journal, index="nope")
    with pytest.raises(ValueError, match="on_error='skip'"):
        fsd.read_dataframe(journal, columns=["value", "@valid"])
    with pytest.raises(FileNotFoundError):
        fsd.read_dataframe(str(tmp_path / "none-*.fsj"))
    # schema= (a .fbs path) with root_type=: the same layout as the @fs.table class
    fbs = Path(__file__).parent / "schemas" / "telemetry.fbs"
    got = fsd.read_dataframe(raw, schema=fbs, root_type="telemetry.TelemetryEvent",
                             checksum="xxh3_64").compute(scheduler="sync")
    assert got.to_dict("list") == {"device_id": [0], "timestamp": [1], "value": [2.0]}
    with pytest.raises(TypeError, match="not both"):
        fsd.read_dataframe(raw, TELE, schema=fbs)


def test_import_flatstream_does_not_import_dask() -> None:
    probe = ("import sys, flatstream, flatstream.dask; "
             "print(sorted(m for m in ('dask', 'distributed', 'fsspec', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_keys_outside_the_index_key_range_are_refused(tmp_path: Path) -> None:
    from flatstream.journal.records import decode_index, encode_index

    path = write_journal(tmp_path / "keys.fsj", TELE, [Tele(0, i, 0.0) for i in range(200)],
                         index_every=100, key="timestamp")
    with fs.open(path, "rb") as r:
        first = r.layout().indexes[0]
        algo = r.checksum
    assert (first.key_min, first.key_max) == (0, 99)
    # the first index frame, re-signed, claims keys up to 49: its frames hold 0..99
    data = bytearray(path.read_bytes())
    hl = 4 + algo.width
    length = int.from_bytes(data[first.self_offset:first.self_offset + 4], "little")
    record = decode_index(bytes(data[first.self_offset + hl:first.self_offset + hl + length]))
    forged = encode_index(type(record)(**{**record.__dict__, "key_max": 49}))
    assert len(forged) == length  # the fixed layout: the frame keeps its length
    data[first.self_offset + hl:first.self_offset + hl + length] = forged
    data[first.self_offset + 4:first.self_offset + hl] = algo.compute(forged).to_bytes(algo.width, "little")
    path.write_bytes(bytes(data))
    ddf = fsd.read_dataframe(path, index="timestamp", partition_frames=100)
    assert ddf.divisions == (0, 100, 199)
    with pytest.raises(fsd.PartitionError, match="keys run from 0 to 99, outside the 0..49"):
        ddf.compute(scheduler="sync")
