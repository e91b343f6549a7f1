"""Streams and journals as Dask DataFrames: many files, and big journals cut at their index.

    import flatstream.dask

    ddf = flatstream.dask.read_dataframe("captures/*.fsj")            # journals: codec from the header
    ddf = flatstream.dask.read_dataframe(["a.fs", "b.fs"], codec, checksum="crc32")   # raw streams
    ddf = flatstream.dask.read_dataframe("http://host/day.fsj", index="timestamp")    # known divisions
    ddf["value"].mean().compute()                    # decodes only the "value" column

Each partition is one raw stream file, or one range of a journal: whole
index segments, cut where the journal's index frames say (only the footer
and the index chain are read to plan them, never the frames; about
``partition_bytes`` of file per partition, or ``partition_frames`` frames).
A partition is decoded by the columnar kernel (``codec.decode_columns``,
every checksum verified) into pandas with the dtypes of
:func:`flatstream.arrow.columns_to_pandas`; the DataFrame's ``meta`` comes
from the schema alone. Column selections are pushed into the read (dask's
optimizer passes ``columns=``), so unselected fields are never decoded.

Files are read through fsspec: local paths are memory-mapped, other URLs
(``memory://``, ``http(s)://``, ``s3://`` ...) are read with range requests
of exactly each partition's bytes (a server that ignores ``Range`` is an
error, not a silent full download). ``memory://`` lives in one process:
compute such frames on threads, not on a distributed cluster of processes.

Needs the ``dask`` extra (``pip install 'flatstream[dask]'``: dask,
distributed of the same release, fsspec, aiohttp for HTTP); imported on first
use, so ``import flatstream`` never imports dask.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from .arrow import columns_to_pandas
from .errors import FlatstreamError
from .journal.detect import DamagedHeader, NotAJournal
from .journal.ranges import JournalRange, plan_ranges, range_payloads, read_header
from .journal.reader import JournalHeader
from .schema.columnar import ROW_VALID, ColumnarPlan, frame_index, plan_for
from .wire.checksums import BuiltinChecksum, resolve_checksum

__all__ = ["read_dataframe", "PartitionError", "DEFAULT_PARTITION_BYTES"]

#: File bytes per partition when neither partition_bytes nor partition_frames is given.
DEFAULT_PARTITION_BYTES = 64 << 20


class PartitionError(FlatstreamError, ValueError):
    """A file, or a byte range of it, cannot be read as planned: corruption
    (a checksum, a frame that stops early, an index that disagrees with the
    frames), a payload the codec cannot decode, or a file that changed.
    ``path`` names the file, ``byte_range`` the partition's ``(start, end)``
    (None for an error while planning); the message ends with the cause's."""

    def __init__(self, message: str, path: str, byte_range: Optional[Tuple[int, int]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.byte_range = byte_range

    def _describe(self) -> str:
        return self.message


class _Part(NamedTuple):
    """One partition: picklable plain data, sent to the worker that reads it."""

    path: str
    checksum: str
    size: int  # of the file, when planned
    journal: Optional[JournalRange]  # None: a raw stream, read whole

    @property
    def byte_range(self) -> Tuple[int, int]:
        if self.journal is None:
            return 0, self.size
        return self.journal.start, self.journal.end

    @property
    def first_frame(self) -> int:
        return 0 if self.journal is None else self.journal.first_frame


def _builtin(checksum: Any) -> BuiltinChecksum:
    """A built-in checksum (the scan kernel verifies only those; a name is what a worker gets)."""
    algo = resolve_checksum(checksum)
    if not isinstance(algo, BuiltinChecksum):
        raise ValueError(f"read_dataframe reads streams with built-in checksums only, not {algo!r}")
    return algo


# -- reading bytes ---------------------------------------------------------------


@contextlib.contextmanager
def _mapped(path: str) -> Iterator[Any]:
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size == 0:
            yield b""
            return
        buf = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            yield buf
        finally:
            try:
                buf.close()
            except BufferError:
                pass  # an error's traceback still holds a view; the mapping goes with it


def _read_range(fs: Any, path: str, start: int, end: int) -> bytes:
    """Exactly bytes ``[start, end)`` of ``path`` through fsspec (one range request)."""
    if start >= end:
        return b""
    data = fs.cat_file(path, start=start, end=end)
    if len(data) != end - start:
        raise PartitionError(
            f"{path}: asked for bytes {start}..{end}, got {len(data)} bytes (the server ignores "
            "Range requests, or the file changed since the frame was planned)", path, (start, end),
        )
    return bytes(data)


# -- the partition function -------------------------------------------------------


class _ReadPartition:
    """Reads one :class:`_Part` into a pandas DataFrame (what ``from_map``
    calls on the workers; ``columns=`` is dask's column projection)."""

    def __init__(self, fs: Any, plan: ColumnarPlan, *, skip: bool, max_frame_len: Optional[int],
                 index: Optional[str], with_valid: bool, check_keys: bool) -> None:
        self.fs = fs  # None: local paths, memory-mapped
        self.plan = plan
        self.skip = skip
        self.max_frame_len = max_frame_len
        self.index = index
        self.with_valid = with_valid
        self.check_keys = check_keys
        self._plans: Dict[Any, ColumnarPlan] = {}

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_plans"] = {}
        return state

    def __dask_tokenize__(self) -> Any:
        from dask.base import tokenize

        plan = [(c.name, c.kind, str(c.dtype), c.fid, c.offset) for c in self.plan.columns]
        return ("flatstream.dask", tokenize(self.fs), self.plan.table.name, plan, self.skip,
                self.max_frame_len, self.index, self.with_valid, self.check_keys)

    @property
    def output_columns(self) -> List[str]:
        names = [c.name for c in self.plan.columns if c.name != self.index]
        return names + ([ROW_VALID] if self.with_valid else [])

    def _plan_for(self, columns: Optional[Sequence[str]]) -> ColumnarPlan:
        if columns is None:
            return self.plan
        key = tuple(columns)
        plan = self._plans.get(key)
        if plan is None:
            names = list(columns) + ([self.index] if self.index else [])
            plan = self.plan.select(names)
            if not plan.columns:  # only @valid, or only the row count: decode one column for the rows
                plan = self.plan.select([self.plan.columns[0].name])
            self._plans[key] = plan
        return plan

    def __call__(self, part: _Part, columns: Optional[Sequence[str]] = None) -> Any:
        plan = self._plan_for(columns)
        try:
            decoded = self._decode(part, plan)
        except PartitionError:
            raise
        except (FlatstreamError, ValueError, EOFError) as error:  # OSError passes through unchanged
            start, end = part.byte_range
            raise PartitionError(f"{part.path} (bytes {start}..{end}): {error}", part.path,
                                 (start, end)) from error
        return self.finish(columns_to_pandas(plan, decoded), part, columns)

    def _decode(self, part: _Part, plan: ColumnarPlan) -> Dict[str, np.ndarray]:
        start, end = part.byte_range
        checksum = _builtin(part.checksum)
        if self.fs is not None:
            data = _read_range(self.fs, part.path, start, end)
            if part.journal is None:
                offsets, lengths, _ = frame_index(data, checksum, self.max_frame_len)
                return plan.decode(data, offsets, lengths, self.skip)
            buf, offsets, lengths = range_payloads(data, checksum, part.journal, start=0, base_offset=start,
                                                   max_frame_len=self.max_frame_len)
            return plan.decode(buf, offsets, lengths, self.skip, part.first_frame)
        with _mapped(part.path) as mapped:
            if len(mapped) < end:
                raise PartitionError(
                    f"{part.path} is {len(mapped)} bytes, shorter than the {end} it had when the "
                    "frame was planned", part.path, (start, end),
                )
            with memoryview(mapped) as whole, whole[:end] as view:
                # The view stops where the plan does (a writer may be appending);
                # decoding reads the mapping itself (the kernel releases the GIL there).
                if part.journal is None:
                    offsets, lengths, _ = frame_index(view, checksum, self.max_frame_len)
                    return plan.decode(mapped, offsets, lengths, self.skip)
                buf, offsets, lengths = range_payloads(view, checksum, part.journal, start=start,
                                                       max_frame_len=self.max_frame_len)
                return plan.decode(mapped if buf is view else buf, offsets, lengths, self.skip,
                                   part.first_frame)

    @staticmethod
    def _check_keys(df: Any, part: _Part, journal: JournalRange) -> None:
        """The divisions promise the index frames' key range: hold the rows to it."""
        if journal.key_range is None:
            return
        lo, hi = df.index.min(), df.index.max()
        if lo < journal.key_range[0] or hi > journal.key_range[1]:
            start, end = part.byte_range
            raise PartitionError(
                f"{part.path} (bytes {start}..{end}): keys run from {lo} to {hi}, outside the "
                f"{journal.key_range[0]}..{journal.key_range[1]} its index frames record",
                part.path, (start, end),
            )

    def finish(self, df: Any, part: Optional[_Part], columns: Optional[Sequence[str]]) -> Any:
        """``df`` as the partition (or, with ``part`` None, the meta): the index
        set, keys checked against the journal's index, columns in order."""
        if self.index is not None:
            df = df.set_index(self.index)
            if self.check_keys and part is not None and part.journal is not None and len(df):
                self._check_keys(df, part, part.journal)
                if not df.index.is_monotonic_increasing:
                    df = df.sort_index(kind="stable")
        wanted = list(columns) if columns is not None else self.output_columns
        if list(df.columns) != wanted:
            df = df[wanted]
        return df


# -- planning ---------------------------------------------------------------------


def _expand(urlpath_or_list: Any, storage_options: Optional[Dict[str, Any]]) -> Tuple[Any, List[str]]:
    """(fsspec filesystem or None for local files, paths), globs expanded."""
    import fsspec
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(urlpath_or_list, (str, os.PathLike)):
        spec: Any = os.fspath(urlpath_or_list)
    else:
        spec = [os.fspath(p) for p in urlpath_or_list]
        if not spec:
            raise ValueError("read_dataframe needs at least one path")
    fs, _, paths = fsspec.core.get_fs_token_paths(spec, mode="rb", storage_options=storage_options)
    if not paths:
        raise FileNotFoundError(f"no files match {urlpath_or_list!r}")
    if isinstance(fs, LocalFileSystem):
        return None, list(paths)
    return fs, list(paths)


def _plan_file(fs: Any, path: str, checksum: Any, max_bytes: Optional[int],
               max_frames: Optional[int]) -> Tuple[List[_Part], Optional[JournalHeader]]:
    """The partitions of one file, and its journal header (None: a raw stream)."""
    if fs is None:
        with _mapped(path) as buf:
            return _plan_buffer(path, lambda s, e: buf[s:e], len(buf), buf, checksum, max_bytes, max_frames)
    size = int(fs.size(path))
    return _plan_buffer(path, lambda s, e: _read_range(fs, path, s, e), size, None, checksum,
                        max_bytes, max_frames)


def _plan_buffer(path: str, read: Any, size: int, whole: Any, checksum: Any, max_bytes: Optional[int],
                 max_frames: Optional[int]) -> Tuple[List[_Part], Optional[JournalHeader]]:
    try:
        sniffed = read_header(read, size) if size else None
    except DamagedHeader as error:
        raise PartitionError(f"{path}: {error}", path) from error
    except NotAJournal:
        sniffed = None
    if sniffed is None:
        return [_Part(path, _builtin("none" if checksum is None else checksum).name, size, None)], None
    if checksum is not None and _builtin(checksum).name != sniffed.checksum.name:
        raise ValueError(f"{path}: the journal's header says checksum {sniffed.checksum.name}, "
                         f"not {_builtin(checksum).name}")
    try:
        ranges = plan_ranges(read, size, sniffed, max_bytes=max_bytes, max_frames=max_frames, whole=whole)
    except FlatstreamError as error:
        raise PartitionError(f"{path}: {error}", path) from error
    return [_Part(path, sniffed.checksum.name, size, r) for r in ranges], JournalHeader(sniffed.header)


def _codec_of(codec: Any, schema: Any, root_type: Optional[str]) -> Any:
    if schema is not None:
        if codec is not None:
            raise TypeError("pass codec= or schema=, not both")
        if isinstance(schema, (str, os.PathLike)):
            from .schema import load_schema

            schema = load_schema(schema)
        return schema.codec(root_type)
    if root_type is not None:
        raise TypeError("root_type= names a table of schema=; pass schema= too")
    if codec is not None and not hasattr(codec, "decode_columns"):
        from .schema import codec as codec_of_class

        return codec_of_class(codec)
    return codec


def _signature(codec: Any) -> List[Tuple[str, str, str]]:
    return [(c.name, c.kind, str(c.dtype)) for c in plan_for(codec).columns]


def _journal_codec(files: List[Tuple[str, List[_Part], Optional[JournalHeader]]]) -> Any:
    """The codec of the journals' embedded schema; every journal must store the same columns."""
    first: Optional[JournalHeader] = None
    codec: Any = None
    for path, _, header in files:
        if header is None:
            raise TypeError(f"{path} is a raw stream, which names no schema: pass codec= (or schema=)")
        if first is None:
            first, codec = header, header.codec()
        elif (header.record.schema_bfbs, header.record.schema_fbs, header.root_type) != (
                first.record.schema_bfbs, first.record.schema_fbs, first.root_type):
            if _signature(header.codec()) != _signature(codec):
                raise ValueError(f"{path}: its schema gives other columns than the first journal's "
                                 "(pass codec= to read every file with one schema)")
    return codec


def _divisions(parts: List[_Part], headers: Dict[str, Optional[JournalHeader]],
               index: Optional[str]) -> Optional[Tuple[Any, ...]]:
    """Divisions from the journals' index key ranges, when ``index`` is their
    key field and the ranges follow one another strictly."""
    if index is None:
        return None
    bounds = []
    for part in parts:
        header = headers[part.path]
        if header is None or header.key_field != index or part.journal is None or part.journal.key_range is None:
            return None
        bounds.append(part.journal.key_range)
    if any(bounds[i][1] >= bounds[i + 1][0] for i in range(len(bounds) - 1)):
        return None
    return tuple(lo for lo, _ in bounds) + (bounds[-1][1],)


def read_dataframe(
    urlpath_or_list: Union[str, "os.PathLike[str]", Sequence[Any]],
    codec: Any = None,
    columns: Optional[Sequence[str]] = None,
    *,
    schema: Any = None,
    root_type: Optional[str] = None,
    index: Optional[str] = None,
    checksum: Any = None,
    partition_bytes: Optional[int] = None,
    partition_frames: Optional[int] = None,
    on_error: str = "raise",
    max_frame_len: Optional[int] = None,
    storage_options: Optional[Dict[str, Any]] = None,
) -> Any:
    """A ``dask.dataframe.DataFrame`` of every message of the files (see the module docstring).

    ``urlpath_or_list``: a path or URL (globs expanded by fsspec), or a list
    of them. ``codec``: a codec or ``@fs.table`` class; or ``schema=`` (a
    :class:`~flatstream.Schema` or a ``.fbs``/``.bfbs`` path) with
    ``root_type=``; neither: the journals' embedded schema (all must give the
    same columns). ``columns``: fields (or ``"a.b"`` struct columns) to read,
    all by default. ``index``: a column to make the index; when it is the
    journals' key field (``fs.open(..., key=...)``) and the index frames'
    key ranges follow one another, the divisions are known, each partition's
    keys are checked against its range and sorted. ``checksum``: for raw
    streams (journals name theirs; a different one is refused).
    ``partition_bytes`` (default 64 MiB) or ``partition_frames``: how much of
    a journal goes into one partition (whole index segments; a raw stream is
    one partition per file). ``on_error="skip"``: payloads the codec cannot
    decode become rows marked False in an ``"@valid"`` column instead of a
    :class:`PartitionError`. ``storage_options``: for fsspec (HTTP headers,
    credentials).

    Corruption (a checksum mismatch, frames that stop inside an indexed
    range, an index that disagrees with the frames) raises
    :class:`PartitionError` (a ``ValueError``) naming the file and byte range,
    when the partition is computed (or while planning, for a damaged index).
    A torn last frame of a file that was not closed is left out, as
    ``fs.read_arrow`` leaves it out; ``OSError`` passes through unchanged.
    """
    try:
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("flatstream.dask needs dask: pip install 'flatstream[dask]'") from exc
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error is 'raise' or 'skip', not {on_error!r}")
    if partition_bytes is not None and partition_frames is not None:
        raise ValueError("pass partition_bytes= or partition_frames=, not both")
    for name, value in (("partition_bytes", partition_bytes), ("partition_frames", partition_frames)):
        if value is not None and value < 1:
            raise ValueError(f"{name} must be positive, not {value}")
    if partition_bytes is None and partition_frames is None:
        partition_bytes = DEFAULT_PARTITION_BYTES

    fs, paths = _expand(urlpath_or_list, storage_options)
    files = [(path, *_plan_file(fs, path, checksum, partition_bytes, partition_frames)) for path in paths]
    codec = _codec_of(codec, schema, root_type)
    if codec is None:
        codec = _journal_codec(files)

    wanted = None if columns is None else [c for c in columns if c != ROW_VALID]
    if columns is not None and ROW_VALID in columns and on_error != "skip":
        raise ValueError(f"the {ROW_VALID!r} column comes with on_error='skip'")
    if wanted is not None and index is not None and index not in wanted:
        wanted.append(index)
    plan = plan_for(codec, wanted)
    if index is not None and index not in [c.name for c in plan.columns]:
        raise ValueError(f"index={index!r} is not a column of {plan.table.name}")

    parts = [part for _, file_parts, _ in files for part in file_parts]
    headers = {path: header for path, _, header in files}
    divisions = _divisions(parts, headers, index)
    reader = _ReadPartition(
        fs, plan, skip=on_error == "skip", max_frame_len=max_frame_len, index=index,
        with_valid=on_error == "skip" and (columns is None or ROW_VALID in columns),
        check_keys=divisions is not None,
    )
    empty = plan.decode(b"", np.zeros(0, "<u8"), np.zeros(0, "<u4"), on_error == "skip")
    meta = reader.finish(columns_to_pandas(plan, empty), None, None)
    return dd.from_map(reader, parts, meta=meta, divisions=divisions, label="read-flatstream",
                       enforce_metadata=False)
