"""Columnar decode and encode: many payloads of one table to numpy columns and back.

    columns = codec.decode_columns("events.fs")          # {"device_id": array, ...}
    payloads = codec.encode_columns(columns)
    fs.write_columns("copy.fs", columns, codec, checksum="crc32")

The plan is compiled from the schema model (like the verifier); the work is
one pass over the frames in ``flatstream._kernels.ColumnarDecoder`` (Rust,
``src/columnar.rs``; no Python per message) or its pure twin.

**Column representation** (``dict[str, numpy.ndarray]``):

- a scalar or enum field ``x``: ``x``, a typed array (enums as their
  underlying integers, absent fields as the schema default);
- a struct field ``a``: one column per scalar, flattened as ``"a.b"`` (nested
  structs ``"a.b.c"``), plus ``"a.b.valid"`` (bool) per column, False where
  the struct is absent (its values are 0 there);
- an optional scalar ``x`` (``= null``): ``x`` (0 where absent) and
  ``"x.valid"`` (bool);
- a string or a vector of scalars ``s``: Arrow-style: ``"s"`` holds the
  values (``uint8`` UTF-8 bytes for a string, the element type for a
  vector), ``"s.offsets"`` (``int64``, rows + 1) where row ``i`` is
  ``s[offsets[i]:offsets[i + 1]]`` (in elements), and ``"s.valid"`` (bool,
  False where absent);
- with ``on_error="skip"``: ``"@valid"`` (bool), False for every frame that
  could not be decoded (its row holds the absent values).

Refused with :class:`SchemaError` (name them out with ``fields=``): unions,
nested tables, vectors of strings/structs/tables, fixed arrays in structs.

Every payload is bounds-checked (root, vtable, fields, strings, vectors,
UTF-8); a payload that fails raises :class:`ColumnarDecodeError` (a
``DecodeError``) naming the frame index. This is the check ``decode`` makes,
not the full verifier: verify untrusted streams first (``codec.verifier()``
as the reader's validator, or ``codec.verify``).

``encode_columns`` takes columns in the same form (scalars, enums, structs
and optional scalars; not strings or vectors), and writes each row exactly
as ``codec.encode`` would (a field equal to its default is left out unless
the codec forces defaults; ``.valid`` columns say which optional scalars and
structs are present). A missing column is the default in every row.
"""

from __future__ import annotations

import copy
import mmap
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .. import _kernels
from .errors import DecodeError, EncodeError
from .model import SCALARS, BaseType, Schema, SchemaError, StructDef, TableDef

__all__ = [
    "ColumnarDecodeError", "ColumnarPlan", "plan_for", "decode_columns", "encode_columns", "write_columns",
    "frame_index", "join_payloads",
]

ROW_VALID = "@valid"


class ColumnarDecodeError(DecodeError):
    """A payload of a columnar batch cannot be decoded; ``frame`` is its index
    in the batch (0-based) and ``reason`` says why."""

    def __init__(self, frame: int, reason: str) -> None:
        super().__init__(f"frame {frame}: {reason}")
        self.frame = frame


class _Col:
    """One output column of the plan."""

    def __init__(self, name: str, field: str, fid: int, inline: int, align: int, kind: str, base: BaseType,
                 offset: int = 0, default: Any = 0, nullable: bool = False) -> None:
        self.name, self.field, self.fid = name, field, fid
        self.inline, self.align, self.kind, self.base = inline, align, kind, base
        self.offset, self.default, self.nullable = offset, default, nullable
        info = SCALARS[base]
        self.dtype = np.dtype(info.dtype)
        self.code = info.code

    def tuple(self) -> Tuple[int, int, int, str, str, int, bytes, bool]:
        default = b""
        if self.kind == "fixed":
            value = 0 if self.default is None else self.default
            default = np.array([value], dtype=self.dtype).tobytes()
        return (self.fid, self.inline, self.align, self.kind, self.code, self.offset, default, self.nullable)


def _struct_columns(schema: Schema, sdef: StructDef, prefix: str, base_offset: int, out: List[Any]) -> None:
    for f in sdef.fields:
        name = f"{prefix}.{f.name}"
        if f.type.base is BaseType.OBJ:
            _struct_columns(schema, schema.structs[f.type.ref or ""], name, base_offset + f.offset, out)
        elif f.type.base.is_scalar:
            out.append((name, f.type.base, base_offset + f.offset))
        else:
            raise SchemaError(f"{name}: {f.type.base.name} in a struct is not columnar")


class ColumnarPlan:
    """The columns of one table (see the module docstring)."""

    def __init__(self, schema: Schema, table: TableDef, max_size: int, fields: Optional[Sequence[str]] = None,
                 force_defaults: bool = False, ident: bytes = b"") -> None:
        self.table = table
        self.max_size = max_size
        self.force_defaults = force_defaults
        self.ident = ident
        wanted = None if fields is None else list(fields)
        cols: List[_Col] = []
        known = set()
        for fdef in table.fields:
            if fdef.deprecated:
                continue
            base = fdef.type.base
            flat: List[Tuple[str, BaseType, int]] = []
            if base is BaseType.OBJ and fdef.type.ref in schema.structs:
                sdef = schema.structs[fdef.type.ref or ""]
                _struct_columns(schema, sdef, fdef.name, 0, flat)
            names = [fdef.name] + [n for n, _, _ in flat]
            known.update(names)
            if wanted is not None and not any(n in wanted for n in names):
                continue
            if base.is_scalar and base is not BaseType.UTYPE:
                size = SCALARS[base].size
                cols.append(_Col(fdef.name, fdef.name, fdef.id, size, size, "fixed", base,
                                 default=None if fdef.optional else fdef.default, nullable=fdef.optional))
            elif flat:
                sdef = schema.structs[fdef.type.ref or ""]
                for name, sbase, off in flat:
                    if wanted is not None and fdef.name not in wanted and name not in wanted:
                        continue
                    cols.append(_Col(name, fdef.name, fdef.id, sdef.bytesize, sdef.minalign, "fixed", sbase,
                                     offset=off, default=0, nullable=True))
            elif base is BaseType.STRING:
                cols.append(_Col(fdef.name, fdef.name, fdef.id, 4, 4, "string", BaseType.UBYTE))
            elif base is BaseType.VECTOR and fdef.type.element.is_scalar:
                cols.append(_Col(fdef.name, fdef.name, fdef.id, 4, 4, "vector", fdef.type.element))
            else:
                what = "union" if base in (BaseType.UNION, BaseType.UTYPE) else base.name.lower()
                raise SchemaError(
                    f"{table.name}.{fdef.name} ({what}) is not columnar: unions, tables and vectors of "
                    "strings, structs or tables are not; leave it out with fields=[...]"
                )
        if wanted is not None:
            for name in wanted:
                if name not in known:
                    raise SchemaError(f"table {table.name} has no field or struct column {name!r}")
        taken: Dict[str, str] = {}
        for col in cols:
            for key in self._keys(col):
                if key in taken or key == ROW_VALID:
                    raise SchemaError(f"column name {key!r} is used twice in {table.name}")
                taken[key] = col.name
        self.columns = cols
        self._decoders: Dict[Any, Any] = {}

    def select(self, names: Iterable[str]) -> "ColumnarPlan":
        """The plan of only the output columns ``names`` (in this plan's
        order; names it has no column for are ignored): what a column
        projection decodes, without the schema."""
        wanted = set(names)
        picked = [col for col in self.columns if col.name in wanted]
        if len(picked) == len(self.columns):
            return self
        plan = copy.copy(self)
        plan.columns = picked
        plan._decoders = {}
        return plan

    def __getstate__(self) -> Dict[str, Any]:
        # Kernel objects (native decoders) are built again where the plan is unpickled.
        state = dict(self.__dict__)
        state["_decoders"] = {}
        return state

    @staticmethod
    def _keys(col: _Col) -> List[str]:
        keys = [col.name]
        if col.nullable or col.kind != "fixed":
            keys.append(col.name + ".valid")
        if col.kind != "fixed":
            keys.append(col.name + ".offsets")
        return keys

    def decoder(self) -> Any:
        kind = _kernels.ColumnarDecoder
        made = self._decoders.get(kind)
        if made is None:
            made = self._decoders[kind] = kind([c.tuple() for c in self.columns], self.max_size)
        return made

    def decode(self, buffer: Any, offsets: Any, lengths: Any, skip: bool, first_frame: int = 0) -> Dict[str, np.ndarray]:
        """Decode frames ``offsets``/``lengths`` of ``buffer``; errors count
        frames from ``first_frame``."""
        offsets = np.ascontiguousarray(offsets, dtype="<u8")
        lengths = np.ascontiguousarray(lengths, dtype="<u4")
        if isinstance(buffer, (bytes, mmap.mmap)):
            data = buffer
        else:
            data = memoryview(buffer).cast("B")
        cols, rows_valid, error = self.decoder().decode(data, offsets.view(np.uint8), lengths.view(np.uint8), skip)
        if error is not None:
            raise ColumnarDecodeError(first_frame + error[0], error[1])
        return self._arrays(cols, rows_valid)

    def decode_stream(self, buf: Any, checksum: Any, max_frame_len: Optional[int],
                      skip: bool) -> Optional[Dict[str, np.ndarray]]:
        """What ``decode`` of ``fs.scan(buf, checksum, max_frame_len)``'s
        frames gives (the same columns, the same errors, scan errors first),
        in one pass that builds no index; None where that pass does not apply
        (a journal, strings or vectors, payloads too small to size the
        outputs for): decode in two passes then."""
        from ..io.scanning import AUTO, _deframer, _journal_of, kernel_args, scan_end

        if any(col.kind != "fixed" for col in self.columns):
            return None
        checksum = AUTO if checksum is None else checksum
        if _journal_of(buf, checksum, None) is not None:
            return None
        data, width, verify, limit, threads = kernel_args(buf, _deframer(checksum, max_frame_len, None), None)
        found = self.decoder().decode_stream(data, 0, width, verify, limit, threads, skip)
        if found is None:
            return None
        cols, rows_valid, error, (frames, _, stop, status, a, b) = found
        scan_end(status, a, b, stop, width, len(data) - stop, frames)
        if error is not None:
            raise ColumnarDecodeError(error[0], error[1])
        return self._arrays(cols, rows_valid)

    def _arrays(self, cols: Any, rows_valid: Any) -> Dict[str, np.ndarray]:
        out: Dict[str, np.ndarray] = {}
        for col, (values, valid, ends) in zip(self.columns, cols):
            out[col.name] = np.frombuffer(values, dtype=col.dtype)
            if valid is not None:
                out[col.name + ".valid"] = np.frombuffer(valid, dtype=np.bool_)
            if ends is not None:
                out[col.name + ".offsets"] = np.frombuffer(ends, dtype="<i8")
        if rows_valid is not None:
            out[ROW_VALID] = np.frombuffer(rows_valid, dtype=np.bool_)
        return out


def plan_for(codec: Any, fields: Optional[Sequence[str]] = None) -> ColumnarPlan:
    """The columnar plan of ``codec``'s table (cached on the codec per field list)."""
    key = None if fields is None else tuple(fields)
    cache = codec.__dict__.setdefault("_columnar_plans", {})
    made = cache.get(key)
    if made is None:
        ident = b"" if codec.file_identifier is None else codec.file_identifier.encode("ascii")
        made = cache[key] = ColumnarPlan(codec.schema, codec.table, codec.max_size, fields,
                                         codec.force_defaults, ident)
    return made  # type: ignore[no-any-return]


def frame_index(buf: Any, checksum: Any = None, max_frame_len: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, int]:
    """Payload offsets, lengths and the end of the good frames of a stream in
    ``buf``: what ``fs.scan`` finds (same kernel, same errors). ``checksum``
    None: a journal's header names it (and only user frames are indexed);
    anything else is read with none."""
    from ..io.scanning import AUTO, scan

    index = scan(buf, AUTO if checksum is None else checksum, max_frame_len)
    return index.payload_offsets, index.lengths, index.end_offset


def join_payloads(payloads: Iterable[Any]) -> Tuple[bytes, np.ndarray, np.ndarray]:
    """Payloads copied back to back into one buffer, with their offsets and
    lengths (what :meth:`ColumnarPlan.decode` takes)."""
    parts = [bytes(p) if not isinstance(p, bytes) else p for p in payloads]
    lengths = np.fromiter((len(p) for p in parts), dtype="<u4", count=len(parts))
    offsets = np.zeros(len(parts), dtype="<u8")
    if len(parts) > 1:
        np.cumsum(lengths[:-1], dtype="<u8", out=offsets[1:])
    return b"".join(parts), offsets, lengths


def decode_columns(
    codec: Any,
    source: Any,
    fields: Optional[Sequence[str]] = None,
    *,
    on_error: str = "raise",
    checksum: Any = None,
    max_frame_len: Optional[int] = None,
) -> Dict[str, np.ndarray]:
    """Decode every payload of ``source`` into columns (see the module docstring).

    ``source``: a path (memory-mapped and indexed with ``fs.scan`` using
    ``checksum``/``max_frame_len``), a ``StreamReader`` (or any iterable of
    payloads), a list of payloads, ``(buffer, FrameIndex)`` from ``fs.scan``
    or ``(buffer, payload_offsets, lengths)``. ``fields``: field names (or
    ``"a.b"`` struct columns) to decode, all by default. ``on_error``:
    ``"raise"`` (a :class:`ColumnarDecodeError` naming the first bad frame)
    or ``"skip"`` (bad frames become rows marked False in ``"@valid"``).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error is 'raise' or 'skip', not {on_error!r}")
    plan = plan_for(codec, fields)
    skip = on_error == "skip"
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                return plan.decode(b"", np.zeros(0, "<u8"), np.zeros(0, "<u4"), skip)
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                fused = plan.decode_stream(buf, checksum, max_frame_len, skip)
                if fused is not None:
                    return fused
                offsets, lengths, _ = frame_index(buf, checksum, max_frame_len)
                return plan.decode(buf, offsets, lengths, skip)
    if isinstance(source, tuple) and len(source) == 2 and hasattr(source[1], "payload_offsets"):
        return plan.decode(source[0], source[1].payload_offsets, source[1].lengths, skip)
    if isinstance(source, tuple) and len(source) == 3 and isinstance(source[1], np.ndarray):
        return plan.decode(source[0], source[1], source[2], skip)
    buffer, offsets, lengths = join_payloads(source)
    return plan.decode(buffer, offsets, lengths, skip)


# -- encode --------------------------------------------------------------------------


def _as_dtype(name: str, values: Any, base: BaseType, rows: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise EncodeError(f"column {name!r}: a column is one-dimensional, not {arr.ndim}-dimensional")
    if len(arr) != rows:
        raise EncodeError(f"column {name!r} has {len(arr)} rows, not {rows} as the others")
    info = SCALARS[base]
    target = np.dtype(info.dtype)
    kind = arr.dtype.kind
    if base is BaseType.BOOL:
        if kind == "b":
            return arr.astype(target)
        if kind in "iu" and (rows == 0 or (int(arr.min()) >= 0 and int(arr.max()) <= 1)):
            return arr.astype(target)
        raise EncodeError(f"column {name!r}: a bool field takes bools or 0/1, not {arr.dtype}")
    if base.is_float:
        if kind not in "biuf":
            raise EncodeError(f"column {name!r}: a {info.fbs} field takes numbers, not {arr.dtype}")
        with np.errstate(over="ignore"):
            out = arr.astype(target)
        if base is BaseType.FLOAT and kind == "f" and bool(np.any(np.isinf(out) & np.isfinite(arr))):
            raise EncodeError(f"column {name!r}: a value is out of the range of float")
        return out
    if kind not in "biu":
        raise EncodeError(f"column {name!r}: an {info.fbs} field takes integers, not {arr.dtype}")
    if rows and kind in "iu":
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            bad = lo if lo < info.min else hi
            raise EncodeError(f"column {name!r}: {bad} is out of the range of {info.fbs}")
    return arr.astype(target)


def _encoder_inputs(plan: ColumnarPlan, columns: Dict[str, Any]) -> Tuple[List[Any], List[Any], List[str], int]:
    for col in plan.columns:
        if col.kind != "fixed":
            raise EncodeError(f"column {col.name!r}: encode_columns takes scalar, enum and struct fields, not strings or vectors")
    keys = {k for c in plan.columns for k in plan._keys(c)}
    for name in columns:
        if name not in keys:
            raise EncodeError(f"column {name!r}: table {plan.table.name} has no such column")
    rows = None
    for name, values in columns.items():
        n = len(values)
        if rows is None:
            rows = n
        elif n != rows:
            raise EncodeError(f"column {name!r} has {n} rows, not {rows} as the others")
    rows = rows or 0
    buffers: List[Any] = []
    names: List[str] = []
    fields: List[Any] = []
    by_field: Dict[int, List[_Col]] = {}
    for col in plan.columns:
        by_field.setdefault(col.fid, []).append(col)
    for fid in sorted(by_field):
        cols = by_field[fid]
        first = cols[0]
        scalars = []
        present: Optional[np.ndarray] = None
        for col in cols:
            if col.name in columns:
                arr = _as_dtype(col.name, columns[col.name], col.base, rows)
            else:
                arr = np.full(rows, 0 if col.default is None else col.default, dtype=col.dtype)
            scalars.append((col.offset, col.code, len(buffers)))
            names.append(col.name)
            buffers.append(np.ascontiguousarray(arr).view(np.uint8))
            if col.nullable and present is None and col.name + ".valid" in columns:
                present = _as_dtype(col.name + ".valid", columns[col.name + ".valid"], BaseType.BOOL, rows)
            if not col.nullable and not plan.force_defaults:
                default = np.array([col.default], dtype=col.dtype)
                present = np.asarray(arr != default[0])
                if col.base.is_float and col.default == 0:
                    # -0.0 == 0.0, but the codec writes -0.0 (its bytes differ from the default's).
                    present = present | np.signbit(arr)
        if first.nullable and not any(c.name in columns or c.name + ".valid" in columns for c in cols):
            present = np.zeros(rows, dtype=bool)  # an optional field or struct left out: absent
        is_struct = first.kind == "fixed" and first.nullable and first.name != first.field
        presence = None
        if present is not None:
            presence = len(buffers)
            names.append(first.name + ".valid" if first.nullable else first.name)
            buffers.append(np.ascontiguousarray(present, dtype=np.uint8))
        size = first.inline
        fields.append((fid, size, first.align, is_struct, scalars, presence))
    return fields, buffers, names, rows


def _encoder(plan: ColumnarPlan, columns: Dict[str, Any]) -> Tuple[Any, List[Any], List[str], int]:
    fields, buffers, names, rows = _encoder_inputs(plan, columns)
    return _kernels.ColumnarEncoder(fields, plan.ident), buffers, names, rows


def encode_columns(codec: Any, columns: Dict[str, Any], *, framed: Any = None) -> Any:
    """Encode rows given as columns: a list of payloads (``framed=None``) or,
    with ``framed="none"``/``"crc32"``/..., one buffer of frames with that
    checksum. Errors (lengths, dtypes, ranges) raise :class:`EncodeError`
    naming the column."""
    plan = plan_for(codec, [c for c in _fields_named(codec, columns)])
    encoder, buffers, names, rows = _encoder(plan, columns)
    if framed is None:
        result, error = encoder.encode(buffers, rows)
    else:
        from ..wire.checksums import is_builtin, resolve_checksum

        algo = resolve_checksum(framed)
        if not is_builtin(algo):
            raise ValueError("encode_columns frames with built-in checksums only")
        result, error = encoder.encode(buffers, rows, algo.width, algo.name)
    if error is not None:
        raise EncodeError(f"column {names[error[0]]!r}: {error[1]}")
    if codec.max_size < 0x7FFFFFFF and framed is None:
        for p in result:
            if len(p) > codec.max_size:
                raise EncodeError(f"the buffer is {len(p)} bytes, over the limit of {codec.max_size}")
    return result


def _fields_named(codec: Any, columns: Dict[str, Any]) -> List[str]:
    """Every encodable field of the table: columns left out are defaults."""
    out = []
    for fdef in codec.table.fields:
        if fdef.deprecated:
            continue
        base = fdef.type.base
        if (base.is_scalar and base is not BaseType.UTYPE) or (
            base is BaseType.OBJ and fdef.type.ref in codec.schema.structs
        ):
            out.append(fdef.name)
        elif any(k == fdef.name or k.startswith(fdef.name + ".") for k in columns):
            out.append(fdef.name)
    return out


def write_columns(path: Any, columns: Dict[str, Any], codec: Any, *, checksum: Any = "none",
                  append: bool = False) -> int:
    """Write rows given as columns to a new stream file at ``path`` (framed
    with ``checksum``); returns the number of rows. An existing file is
    refused unless ``append=True`` (then frames are appended; the file must
    already be a stream with the same checksum: check it with ``fs.scan``)."""
    data = encode_columns(codec, columns, framed=checksum)
    if append and os.path.exists(path):
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            end = 0
            if size:
                with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                    end = frame_index(buf, checksum)[2]
        if end != size:
            raise ValueError(f"{path}: the stream ends in a torn frame at byte {end}; "
                             "recover it before appending")
        mode = "ab"
    else:
        mode = "xb"
    with open(path, mode) as f:
        f.write(data)
    rows = 0 if not columns else len(next(iter(columns.values())))
    return rows
