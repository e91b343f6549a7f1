"""Streams of one table as Arrow tables (and through Arrow, pandas/polars).

    table = fs.read_arrow("events.fs", codec)                 # pyarrow.Table
    df = table.to_pandas()
    for batch in fs.read_arrow_batches("events.fs", codec, batch_size=1 << 16):
        ...                                                   # pyarrow.RecordBatch

Columns are those of :meth:`Codec.decode_columns` turned into Arrow arrays:
scalars and enums as their integer/float/bool types (numeric arrays without
nulls share the numpy memory), optional scalars and struct members as
nullable arrays (null where absent), strings as ``large_string`` and vectors
of scalars as ``large_list`` over the decoded buffers (no copy). Struct
members keep their flattened ``"a.b"`` names. pyarrow is imported on first
use (install the ``arrow`` extra).
"""

from __future__ import annotations

import os

from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

from .schema.columnar import ROW_VALID, ColumnarPlan, plan_for

__all__ = ["read_arrow", "read_arrow_batches", "columns_to_arrow", "columns_to_pandas"]


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("fs.read_arrow needs pyarrow: pip install 'flatstream[arrow]'") from exc
    return pyarrow


def _bitmap(pa: Any, valid: np.ndarray) -> Any:
    if bool(valid.all()):
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _arrow_column(pa: Any, col: Any, columns: Dict[str, np.ndarray]) -> Any:
    values = columns[col.name]
    valid = columns.get(col.name + ".valid")
    if col.kind == "fixed":
        return pa.array(values) if valid is None else pa.array(values, mask=~valid)
    offsets = columns[col.name + ".offsets"]
    n = len(offsets) - 1
    if col.kind == "string":
        return pa.Array.from_buffers(
            pa.large_string(), n,
            [_bitmap(pa, valid) if valid is not None else None, pa.py_buffer(offsets), pa.py_buffer(values)],
        )
    mask = None if valid is None or bool(valid.all()) else pa.array(~valid)
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values), mask=mask)


def columns_to_arrow(plan: ColumnarPlan, columns: Dict[str, np.ndarray]) -> Any:
    """A ``pyarrow.RecordBatch`` of decoded columns (as ``decode_columns`` returns them)."""
    pa = _pa()
    arrays = [_arrow_column(pa, col, columns) for col in plan.columns]
    names = [col.name for col in plan.columns]
    if ROW_VALID in columns:
        arrays.append(pa.array(columns[ROW_VALID]))
        names.append(ROW_VALID)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _string_array(pa: Any, pd: Any, array: Any) -> Any:
    try:
        return pd.arrays.ArrowStringArray(array)
    except ValueError:
        # pandas before 2.2 backs its strings with 32-bit offsets only: a copy
        # of the offsets (the bytes are shared), refused past 2 GiB of text.
        return pd.arrays.ArrowStringArray(array.cast(pa.string()))


def columns_to_pandas(plan: ColumnarPlan, columns: Dict[str, np.ndarray]) -> Any:
    """A ``pandas.DataFrame`` of decoded columns whose dtypes depend on the
    schema only, never on the data (so every partition of a Dask frame, and
    an empty one, agree): scalars and enums as numpy arrays (no copy),
    optional scalars and struct members as pandas' nullable ``Int64`` /
    ``UInt8`` / ``Float64`` / ``boolean`` arrays (``pd.NA`` where absent),
    strings as pyarrow-backed ``string`` (``pd.StringDtype("pyarrow")``, what
    dask converts strings to) and vectors as ``large_list<...>[pyarrow]``,
    both over the decoded buffers."""
    pa = _pa()
    import pandas as pd

    data: Dict[str, Any] = {}
    for col in plan.columns:
        values = columns[col.name]
        valid = columns.get(col.name + ".valid")
        if col.kind == "string":
            data[col.name] = _string_array(pa, pd, _arrow_column(pa, col, columns))
        elif col.kind != "fixed":
            data[col.name] = pd.arrays.ArrowExtensionArray(_arrow_column(pa, col, columns))
        elif valid is None:
            data[col.name] = values
        elif values.dtype.kind == "b":
            data[col.name] = pd.arrays.BooleanArray(values, ~valid)
        elif values.dtype.kind == "f":
            data[col.name] = pd.arrays.FloatingArray(values, ~valid)
        else:
            data[col.name] = pd.arrays.IntegerArray(values, ~valid)
    if ROW_VALID in columns:
        data[ROW_VALID] = columns[ROW_VALID]
    rows = len(next(iter(columns.values()))) if columns else 0
    if plan.columns and plan.columns[0].kind != "fixed":
        rows = len(columns[plan.columns[0].name + ".offsets"]) - 1
    return pd.DataFrame(data, index=pd.RangeIndex(rows))


def _index(source: Any, checksum: Any, max_frame_len: Optional[int]) -> Any:
    from .io.scanning import AUTO, scan

    return scan(source, AUTO if checksum is None else checksum, max_frame_len)


def _codec_of(source: Any, codec: Any) -> Any:
    """``codec``, or the one of a journal's embedded schema (``source`` a
    path or a journal reader)."""
    if codec is not None:
        return codec
    header_codec = getattr(source, "codec", None)
    if callable(header_codec):  # a JournalReader
        return header_codec()
    if isinstance(source, (str, os.PathLike)):
        from .journal import JournalReader

        with JournalReader(source) as reader:
            return reader.codec()
    raise TypeError("pass codec=: only a journal (a path or its reader) names its own schema")


def read_arrow(
    source: Any,
    codec: Any = None,
    columns: Optional[Sequence[str]] = None,
    *,
    batch_size: Optional[int] = None,
    checksum: Any = None,
    max_frame_len: Optional[int] = None,
    on_error: str = "raise",
) -> Any:
    """Read every message of ``source`` (a path, a ``StreamReader``, or
    anything :meth:`Codec.decode_columns` takes) as a ``pyarrow.Table``.
    ``batch_size``: rows per record batch (default: one batch). ``columns``:
    the fields to read. ``checksum``/``max_frame_len``: the stream's framing
    (for paths)."""
    pa = _pa()
    codec = _codec_of(source, codec)
    if batch_size is not None:
        with read_arrow_batches(source, codec, columns, batch_size=batch_size, checksum=checksum,
                                max_frame_len=max_frame_len, on_error=on_error) as reader:
            return reader.read_all()
    plan = plan_for(codec, columns)
    decoded = codec.decode_columns(source, columns, on_error=on_error, checksum=checksum,
                                   max_frame_len=max_frame_len)
    return pa.Table.from_batches([columns_to_arrow(plan, decoded)])


def read_arrow_batches(
    source: Any,
    codec: Any = None,
    columns: Optional[Sequence[str]] = None,
    *,
    batch_size: int = 1 << 16,
    checksum: Any = None,
    max_frame_len: Optional[int] = None,
    on_error: str = "raise",
) -> Any:
    """A ``pyarrow.RecordBatchReader`` over ``source`` in batches of
    ``batch_size`` rows. A path is indexed once (``fs.scan``) and mapped
    while the reader is open; other sources are decoded batch by batch from
    their payloads."""
    pa = _pa()
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    codec = _codec_of(source, codec)
    plan = plan_for(codec, columns)
    skip = on_error == "skip"
    empty = columns_to_arrow(plan, plan.decode(b"", np.zeros(0, "<u8"), np.zeros(0, "<u4"), skip))

    def batches() -> Iterator[Any]:
        import os

        if isinstance(source, (str, os.PathLike)):
            from .io.scanning import mapped

            with mapped(source) as buf:
                index = _index(buf, checksum, max_frame_len)
                offsets, lengths = index.payload_offsets, index.lengths
                for start in range(0, len(offsets), batch_size):
                    stop = start + batch_size
                    decoded = plan.decode(buf, offsets[start:stop], lengths[start:stop], skip, start)
                    yield columns_to_arrow(plan, decoded)
            return
        from .schema.columnar import join_payloads

        chunk: List[Any] = []
        done = 0
        for payload in source:
            chunk.append(payload)
            if len(chunk) == batch_size:
                yield columns_to_arrow(plan, plan.decode(*join_payloads(chunk), skip, done))
                done += len(chunk)
                chunk = []
        if chunk:
            yield columns_to_arrow(plan, plan.decode(*join_payloads(chunk), skip, done))

    return pa.RecordBatchReader.from_batches(empty.schema, batches())
