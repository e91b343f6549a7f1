"""Pure-Python twins of the native kernels (``src/*.rs``): same signatures,
same results. They are the reference the native code is tested against, and
the fallback where the extension is not built.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import crc32c as _crc32c
import xxhash

LENGTH = struct.Struct("<I")

_ALGORITHMS: Dict[str, Tuple[int, Callable[[Any], int]]] = {
    "none": (0, lambda data: 0),
    "crc16": (2, lambda data: binascii.crc_hqx(data, 0)),
    "crc32": (4, zlib.crc32),
    "crc32c": (4, _crc32c.crc32c),
    "xxh3_64": (8, xxhash.xxh3_64_intdigest),
}
_ALGORITHMS["xxhash64"] = _ALGORITHMS["xxh3_64"]


def _algorithm(name: str) -> Tuple[int, Callable[[Any], int]]:
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown checksum algorithm {name!r}") from None


def _bytes_view(data: Any) -> memoryview:
    view = memoryview(data)
    if not view.c_contiguous:
        raise ValueError("buffer must be C-contiguous")
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def checksum(name: str, data: Any) -> int:
    """The checksum of ``data`` with the built-in algorithm ``name``."""
    return _algorithm(name)[1](_bytes_view(data))


def scan(
    data: Any,
    start: int,
    width: int,
    verify: Optional[str],
    max_frame_len: int,
    max_frames: int,
) -> Tuple[bytes, bytes, int, int, int, int]:
    """Finds the complete, valid frames in ``data[start:]``.

    Returns ``(offsets, lengths, stop, status, detail_a, detail_b)``: frame start
    offsets as packed little-endian u64, payload lengths as packed u32, the first
    offset not covered by a good frame, and a status (see ``flatstream._kernels``):
    CLEAN (ends on a boundary), PARTIAL (``detail_a`` = bytes the frame at ``stop``
    needs), LIMIT (``detail_a`` = declared length, ``detail_b`` = limit), CHECKSUM
    (``detail_a`` = stored, ``detail_b`` = calculated) or MAX_FRAMES.
    With ``verify`` None the checksum field is skipped, not checked.
    """
    if not 0 <= width <= 8:
        raise ValueError("checksum width must be 0..=8")
    compute = None
    if verify is not None:
        algo_width, compute = _algorithm(verify)
        if algo_width != width:
            raise ValueError("width does not match the algorithm")
    view = _bytes_view(data)
    end = len(view)
    header = 4 + width
    offsets: list = []
    lengths: list = []
    pos = min(start, end)
    status, detail_a, detail_b = 0, 0, 0
    while True:
        remaining = end - pos
        if remaining == 0:
            status = 0
            break
        if len(offsets) >= max_frames:
            status = 4
            break
        if remaining < header:
            status, detail_a = 1, header
            break
        (declared,) = LENGTH.unpack_from(view, pos)
        if declared > max_frame_len:
            status, detail_a, detail_b = 2, declared, max_frame_len
            break
        total = header + declared
        if remaining < total:
            status, detail_a = 1, total
            break
        if compute is not None:
            stored = int.from_bytes(view[pos + 4 : pos + header], "little")
            calculated = compute(view[pos + header : pos + total])
            if stored != calculated:
                status, detail_a, detail_b = 3, stored, calculated
                break
        offsets.append(pos)
        lengths.append(declared)
        pos += total
    count = len(offsets)
    return (
        struct.pack(f"<{count}Q", *offsets),
        struct.pack(f"<{count}I", *lengths),
        pos,
        status,
        detail_a,
        detail_b,
    )


def frame_many(
    payloads: Iterable[Any],
    width: int,
    algorithm: str,
    max_len: int,
    out: Optional[bytearray] = None,
) -> Tuple[Optional[Any], Optional[int]]:
    """Every payload framed with ``algorithm``, back to back, in one buffer:
    ``(frames, None)``, or ``(None, index)`` if payload ``index`` is longer
    than ``max_len`` (nothing is framed then). The buffer is a new ``bytes``,
    or ``out`` resized to fit, which a long-lived writer reuses; ``out`` must
    not be viewed by any live memoryview (BufferError)."""
    algo_width, compute = _algorithm(algorithm)
    if algo_width != width:
        raise ValueError("width does not match the algorithm")
    max_len = min(max_len, 0xFFFFFFFF)
    views = [_bytes_view(payload) for payload in payloads]
    for index, view in enumerate(views):
        if len(view) > max_len:
            return None, index
    parts = []
    for view in views:
        parts.append(LENGTH.pack(len(view)))
        parts.append(compute(view).to_bytes(width, "little"))
        parts.append(view)
    data = b"".join(parts)
    if out is None:
        return data, None
    if type(out) is not bytearray:
        raise TypeError(f"out must be a bytearray, not {type(out).__name__}")
    try:  # a bytearray refuses to grow while exported: the twin's export check
        out.append(0)
    except BufferError:
        raise BufferError(OUT_EXPORTED) from None
    out[:] = data
    return out, None


#: The error of a reused output buffer that something still views.
OUT_EXPORTED = (
    "the output bytearray is exported (a memoryview of it is alive), so it cannot be reused"
)


class FrameSink:
    """The per-message half of a ``StreamWriter``: a payload (bytes or a
    memoryview) shorter than ``fast_below`` bytes is framed with
    ``algorithm`` and passed to ``write``, continued by ``write_all(write,
    frame, first)`` after a short or interrupted write; ``slow(data)``
    handles every other payload, and all payloads once the sink is closed or
    failed. Counts what it writes (``count`` adds the slow path's frames).
    ``write(item)`` encodes with ``encoders[type(item)]`` and writes the
    payload, or hands an item of another type to ``slow_item(item)``."""

    __slots__ = (
        "_write", "_width", "_compute", "_fast_below", "_slow", "_write_all",
        "_encoders", "_slow_item", "frames", "nbytes", "closed", "failed",
    )

    def __init__(
        self,
        write: Callable[[Any], Any],
        width: int,
        algorithm: str,
        fast_below: int,
        slow: Callable[[Any], None],
        write_all: Callable[..., None],
        encoders: Dict[type, Callable[[Any], Any]],
        slow_item: Callable[[Any], None],
    ) -> None:
        algo_width, self._compute = _algorithm(algorithm)
        if algo_width != width:
            raise ValueError("width does not match the algorithm")
        self._write, self._width, self._slow, self._write_all = write, width, slow, write_all
        self._encoders, self._slow_item = encoders, slow_item
        # The format cannot carry more than 2**32 - 1 bytes.
        self._fast_below = min(fast_below, 0xFFFFFFFF)
        self.frames = 0
        self.nbytes = 0
        self.closed = False
        self.failed: Optional[BaseException] = None

    def write_payload(self, data: Any) -> None:
        if (
            self._fast_below
            and not self.closed
            and self.failed is None
            and (type(data) is bytes or type(data) is memoryview)
        ):
            try:
                view = _bytes_view(data)
            except (TypeError, ValueError):
                view = None  # the slow path raises the payload's own error
            if view is not None and len(view) < self._fast_below:
                checksum = self._compute(view).to_bytes(self._width, "little")
                self._put(b"".join((LENGTH.pack(len(view)), checksum, view)))
                return
        self._slow(data)

    def write(self, item: Any) -> None:
        encode = self._encoders.get(type(item))
        if encode is None:
            self._slow_item(item)
        else:
            self.write_payload(encode(item))

    def _put(self, frame: bytes) -> None:
        # write_all makes the one write a complete sink takes (the native twin
        # makes it itself and hands write_all only what is left).
        try:
            self._write_all(self._write, frame)
        except BaseException as exc:
            self.fail(exc)
            raise
        self.frames += 1
        self.nbytes += len(frame)

    def count(self, frames: int, nbytes: int) -> None:
        self.frames += frames
        self.nbytes += nbytes

    def fail(self, error: BaseException) -> None:
        self.failed = error

    def close(self) -> None:
        self.closed = True


def scan_all(
    data: Any,
    start: int,
    width: int,
    verify: Optional[str],
    max_frame_len: int,
    threads: int,
    collect: bool,
) -> Tuple[Optional[bytes], Optional[bytes], int, int, int, int, int, int]:
    """Every frame of ``data[start:]`` up to the first error or the end.

    Returns ``(offsets, lengths, frames, payload_bytes, stop, status, detail_a,
    detail_b)``; the index is ``None`` unless ``collect``. ``threads`` only
    changes the native kernel's speed, never its result.
    """
    offsets, lengths = [], []
    frames = payload_bytes = 0
    pos = start
    while True:
        window_offsets, window_lengths, stop, status, a, b = scan(
            data, pos, width, verify, max_frame_len, 1 << 16
        )
        count = len(window_lengths) // 4
        frames += count
        payload_bytes += sum(struct.unpack(f"<{count}I", window_lengths))
        if collect:
            offsets.append(window_offsets)
            lengths.append(window_lengths)
        pos = stop
        if status != 4:
            break
    if not collect:
        return None, None, frames, payload_bytes, pos, status, a, b
    return b"".join(offsets), b"".join(lengths), frames, payload_bytes, pos, status, a, b


# The twin of the native schema codec (``_native.TableCodec``) is the generated
# pure-Python codec itself; None tells ``flatstream.schema`` to use it.
TableCodec = None

# Likewise the twin of the native schema verifier (``_native.SchemaVerifier``)
# is the verifier ``flatstream.schema.verifier`` compiles in Python.
SchemaVerifier = None


# -- columnar decode/encode: twins of ``src/columnar.rs`` (``ColumnarDecoder``,
# ``ColumnarEncoder``). They take the plans ``flatstream.schema.columnar``
# compiles and answer every input as the native classes do: the same bytes,
# the same errors (frame or column, and reason).

_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_SIZES = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8}

ColumnTuple = Tuple[int, int, int, str, str, int, bytes, bool]
ColumnOut = Tuple[bytearray, Optional[bytearray], Optional[bytearray]]


class _Refused(Exception):
    pass


def _past_end(what: str, at: int, size: int, length: int) -> _Refused:
    return _Refused(f"{what} ({size} bytes at byte {at}) runs past the end of the {length}-byte buffer")


def _locate(buf: Any, fields: Sequence[Tuple[int, int]], max_size: int) -> List[Optional[int]]:
    """``codec::locate``: each field's inline position, or None when absent."""
    n = len(buf)
    if n > max_size:
        raise _Refused(f"the payload is {n} bytes, over the limit of {max_size}")
    if n < 4:
        raise _past_end("the root offset", 0, 4, n)
    pos = _U32(buf, 0)[0]
    if pos + 4 > n:
        raise _past_end("the root table", pos, 4, n)
    soffset = _U32(buf, pos)[0]
    if soffset >= 1 << 31:
        soffset -= 1 << 32
    vt = pos - soffset
    if vt < 0 or vt > n:
        raise _Refused(f"the vtable of the root table at byte {pos} is outside the buffer")
    if vt + 2 > n:
        raise _past_end("the vtable length", vt, 2, n)
    vlen = _U16(buf, vt)[0]
    if vlen < 4 or vlen & 1:
        raise _Refused(f"the vtable at byte {vt} is {vlen} bytes: not a vtable")
    if vt + vlen > n:
        raise _past_end("the vtable", vt, vlen, n)
    entries = (vlen - 4) // 2
    out: List[Optional[int]] = []
    for fid, size in fields:
        slot = _U16(buf, vt + 4 + 2 * fid)[0] if fid < entries else 0
        if slot == 0:
            out.append(None)
            continue
        at = pos + slot
        if at + size > n:
            raise _past_end("a field", at, size, n)
        out.append(at)
    return out


def _span(buf: Any, at: int, elem: int, what: str) -> Tuple[int, int]:
    n = len(buf)
    target = at + _U32(buf, at)[0]
    if target + 4 > n:
        raise _Refused(f"{what} at byte {target} runs past the end of the {n}-byte payload")
    count = _U32(buf, target)[0]
    if target + 4 + count * elem > n:
        raise _Refused(f"{what} of {count} elements at byte {target} runs past the end of the {n}-byte payload")
    return target + 4, count


class ColumnarDecoder:
    """Twin of ``flatstream._native.ColumnarDecoder``."""

    def __init__(self, columns: Sequence[ColumnTuple], max_size: int) -> None:
        self.columns: List[ColumnTuple] = [
            (int(c[0]), int(c[1]), int(c[2]), str(c[3]), str(c[4]), int(c[5]), bytes(c[6]), bool(c[7]))
            for c in columns
        ]
        fields: Dict[int, int] = {}
        for fid, inline, _align, kind, code, offset, default, _nullable in self.columns:
            if fields.setdefault(fid, inline) != inline:
                raise ValueError(f"field {fid} is given two inline sizes")
            if kind == "fixed":
                if offset + _SIZES[code] > inline or len(default) != _SIZES[code]:
                    raise ValueError(f"column of field {fid} does not fit its field")
            elif kind not in ("string", "vector"):
                raise ValueError(f"unknown column kind {kind!r}")
        self.fields = sorted(fields.items())
        index = {fid: n for n, (fid, _) in enumerate(self.fields)}
        self.field_of = [index[c[0]] for c in self.columns]
        self.max_size = max_size

    def _row(self, buf: Any, off: int, length: int) -> Tuple[Any, List[Any]]:
        if off + length > len(buf):
            raise _Refused(
                f"the payload ({length} bytes at offset {off}) is outside the {len(buf)}-byte buffer"
            )
        payload = buf[off : off + length]
        positions = _locate(payload, self.fields, self.max_size)
        locs: List[Any] = []
        for c, (_fid, _inline, _align, kind, code, offset, _d, _n) in enumerate(self.columns):
            at = positions[self.field_of[c]]
            if at is None:
                locs.append(None)
            elif kind == "fixed":
                locs.append(at + offset)
            elif kind == "string":
                start, count = _span(payload, at, 1, "a string")
                try:
                    bytes(payload[start : start + count]).decode("utf-8")
                except UnicodeDecodeError:
                    raise _Refused(f"the string at byte {start} is not UTF-8") from None
                locs.append((start, count))
            else:
                locs.append(_span(payload, at, _SIZES[code], "a vector"))
        return payload, locs

    def decode(
        self, buffer: Any, offsets: Any, lengths: Any, skip: bool
    ) -> Tuple[List[ColumnOut], Optional[bytearray], Optional[Tuple[int, str]]]:
        buf = memoryview(buffer).cast("B")
        offs = memoryview(bytes(offsets)).cast("Q") if len(bytes(offsets)) % 8 == 0 else None
        lens = memoryview(bytes(lengths)).cast("I") if len(bytes(lengths)) % 4 == 0 else None
        offs_l = list(offs) if offs is not None else []
        lens_l = list(lens) if lens is not None else []
        if len(offs_l) != len(lens_l):
            return [], None, (min(len(offs_l), len(lens_l)), "offsets and lengths differ in length")
        values = [bytearray() for _ in self.columns]
        valid: List[Optional[bytearray]] = [
            bytearray() if c[3] != "fixed" or c[7] else None for c in self.columns
        ]
        ends: List[Optional[List[int]]] = [[0] if c[3] != "fixed" else None for c in self.columns]
        rows_valid = bytearray()
        for frame, (off, length) in enumerate(zip(offs_l, lens_l)):
            try:
                payload, locs = self._row(buf, off, length)
                rows_valid.append(1)
            except _Refused as exc:
                if not skip:
                    return [], None, (frame, str(exc))
                rows_valid.append(0)
                payload, locs = b"", [None] * len(self.columns)
            for c, (_fid, _inl, _al, kind, code, _o, default, _nl) in enumerate(self.columns):
                loc = locs[c]
                out_valid = valid[c]
                if kind == "fixed":
                    if loc is None:
                        values[c] += default
                    else:
                        values[c] += payload[loc : loc + len(default)]
                    if out_valid is not None:
                        out_valid.append(loc is not None)
                    continue
                elem = 1 if kind == "string" else _SIZES[code]
                if loc is not None:
                    start, count = loc
                    values[c] += payload[start : start + count * elem]
                assert out_valid is not None
                out_valid.append(loc is not None)
                column_ends = ends[c]
                assert column_ends is not None
                column_ends.append(len(values[c]) // elem)
        out: List[ColumnOut] = []
        for c in range(len(self.columns)):
            column_ends = ends[c]
            packed = None if column_ends is None else bytearray(struct.pack(f"<{len(column_ends)}q", *column_ends))
            out.append((values[c], valid[c], packed))
        return out, (rows_valid if skip else None), None

    def decode_stream(
        self, buffer: Any, start: int, width: int, verify: Optional[str], max_frame_len: int, threads: int,
        skip: bool,
    ) -> Optional[Tuple[List[ColumnOut], Optional[bytearray], Optional[Tuple[int, str]], Tuple[int, ...]]]:
        """Twin of the native one-pass ``decode_stream``: ``scan_all`` then
        ``decode`` of its payloads (None past as many frames as 8-byte payloads fit)."""
        if any(c[3] != "fixed" for c in self.columns):
            raise ValueError("decode_stream takes fixed columns only")
        offsets, lengths, frames, payload_bytes, stop, status, a, b = scan_all(
            buffer, start, width, verify, max_frame_len, threads, True
        )
        summary = (frames, payload_bytes, stop, status, a, b)
        if frames > max(len(memoryview(buffer)) - start, 0) // (4 + width + 8) + 1:
            return None
        header = 4 + width
        payloads = struct.pack(f"<{frames}Q", *(o + header for o in memoryview(offsets or b"").cast("Q")))
        cols, rows_valid, error = self.decode(buffer, payloads, lengths or b"", skip)
        return cols, rows_valid, error, summary


def plan(
    fields: Sequence[Tuple[int, int, int, bool]], mask: int, slots: int, ident: bytes
) -> Tuple[bytes, List[Optional[int]]]:
    """``codec::plan``: the template buffer and each field's position for the
    present ``fields`` (``(id, size, align, is_struct)``) in ``mask``."""
    u = 0
    minalign = 1
    slot_end: List[Optional[int]] = [None] * len(fields)
    for n, (_fid, size, align, is_struct) in enumerate(fields):
        if not mask >> n & 1:
            continue
        pad = (align - (u + size) % align) % align if is_struct else (size - u % size) % size
        u += pad + size
        minalign = max(minalign, align)
        slot_end[n] = u
    u += (4 - u % 4) % 4 + 4
    minalign = max(minalign, 4)
    obj = u
    entries = [0] * slots
    for n, (fid, _s, _a, _st) in enumerate(fields):
        end = slot_end[n]
        if end is not None:
            entries[fid] = obj - end
    while entries and entries[-1] == 0:
        entries.pop()
    vlen = 4 + 2 * len(entries)
    used = obj + vlen
    pad = (minalign - (used + 4 + len(ident)) % minalign) % minalign
    root = vlen + pad + len(ident) + 4
    template = bytearray(struct.pack("<I", root))
    template += ident
    template += bytes(pad)
    template += struct.pack(f"<HH{len(entries)}H", vlen, obj, *entries)
    template += struct.pack("<i", vlen)
    template += bytes(root + obj - len(template))
    positions = [None if end is None else root + obj - end for end in slot_end]
    return bytes(template), positions


EncodeFieldTuple = Tuple[int, int, int, bool, Sequence[Tuple[int, str, int]], Optional[int]]


class ColumnarEncoder:
    """Twin of ``flatstream._native.ColumnarEncoder``."""

    def __init__(self, fields: Sequence[EncodeFieldTuple], ident: bytes) -> None:
        if len(fields) > 64:
            raise ValueError("at most 64 fields")
        for _fid, size, _align, is_struct, scalars, _presence in fields:
            if not is_struct and (len(scalars) != 1 or scalars[0][0] != 0 or _SIZES[scalars[0][1]] != size):
                raise ValueError("a scalar field has one scalar")
        self.fields: List[EncodeFieldTuple] = [
            (int(f[0]), int(f[1]), int(f[2]), bool(f[3]), list(f[4]), None if f[5] is None else int(f[5]))
            for f in fields
        ]
        self.layout = [(f[0], f[1], f[2], f[3]) for f in self.fields]
        self.slots = max((f[0] + 1 for f in self.fields), default=0)
        self.ident = bytes(ident)
        self.plans: Dict[int, Tuple[bytes, List[Optional[int]]]] = {}

    def encode(
        self, columns: Sequence[Any], rows: int, width: Optional[int] = None, algorithm: Optional[str] = None
    ) -> Tuple[Any, Optional[Tuple[int, str]]]:
        views = [memoryview(c).cast("B") for c in columns]
        for _fid, _size, _align, _st, scalars, presence in self.fields:
            checks = [(col, rows * _SIZES[code]) for _off, code, col in scalars]
            if presence is not None:
                checks.append((presence, rows))
            for col, want in checks:
                if col >= len(views):
                    return None, (col, "is missing")
                if len(views[col]) != want:
                    return None, (col, f"holds {len(views[col])} bytes, not the {want} its rows need")
        if width is not None:
            name = algorithm or "none"
            if _algorithm(name)[0] != width:
                raise ValueError("width does not match the algorithm")
        payloads: List[bytes] = []
        for row in range(rows):
            mask = 0
            for n, field in enumerate(self.fields):
                presence = field[5]
                if presence is None or views[presence][row]:
                    mask |= 1 << n
            made = self.plans.get(mask)
            if made is None:
                made = self.plans[mask] = plan(self.layout, mask, self.slots, self.ident)
            template, positions = made
            out = bytearray(template)
            for n, (_fid, _size, _align, _st, scalars, _p) in enumerate(self.fields):
                at = positions[n]
                if at is None:
                    continue
                for off, code, col in scalars:
                    size = _SIZES[code]
                    out[at + off : at + off + size] = views[col][row * size : (row + 1) * size]
            payloads.append(bytes(out))
        if width is None:
            return payloads, None
        return frame_many(payloads, width, algorithm or "none", 0xFFFFFFFF)[0], None
