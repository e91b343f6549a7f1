"""Helpers the generated codec functions call.

Encoding emulates the official ``flatbuffers.Builder`` exactly: the buffer is
built back to front (children before their parent), every object aligned the
way ``Builder.Prep`` aligns it, vtables shared within a buffer when their bytes
are equal. Instead of one ``bytearray`` grown downwards, each object becomes
one ``bytes`` chunk in ``Out.parts`` (in build order) and ``Out.used`` counts
the bytes built so far, which is the builder's ``Offset()``; the finished
buffer is the chunks joined in reverse.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .errors import DecodeError, EncodeError

__all__ = [
    "Out",
    "put_string",
    "put_vector_bytes",
    "put_scalar_vector",
    "put_offset_vector",
    "put_struct_vector",
    "finish",
    "read_string",
    "read_bytes",
    "read_scalar_vector",
    "read_string_vector",
    "read_table_vector",
    "read_struct_vector",
]

ZEROS = bytes(256)
_pack_u32 = struct.Struct("<I").pack
_u32 = struct.Struct("<I").unpack_from


class Out:
    """The state of one buffer being built (the builder's head, minalign and
    vtable cache)."""

    __slots__ = ("parts", "used", "minalign", "vtables")

    def __init__(self) -> None:
        self.parts: List[bytes] = []
        self.used = 0
        self.minalign = 1
        self.vtables: Dict[bytes, int] = {}


def put_string(out: Out, value: Any) -> int:
    """``Builder.CreateString``: a str (UTF-8) or a bytes-like, as is."""
    if type(value) is str:
        data = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise EncodeError(f"a string field takes str or bytes, not {type(value).__name__}")
    n = len(data)
    used = out.used
    pad = -(used + n + 1) & 3
    out.parts.append(_pack_u32(n) + data + ZEROS[: pad + 1])
    used += n + pad + 5
    out.used = used
    if out.minalign < 4:
        out.minalign = 4
    return used


def put_vector_bytes(out: Out, data: bytes, count: int, align: int) -> int:
    """``Builder.StartVector`` + the element bytes + ``EndVector``."""
    used = out.used
    size = len(data)
    pad = -(used + size) & 3
    pad += -(used + pad + size) & (align - 1)
    out.parts.append(_pack_u32(count) + data + ZEROS[:pad])
    used += pad + size + 4
    out.used = used
    if out.minalign < align:
        out.minalign = align
    if out.minalign < 4:
        out.minalign = 4
    return used


def _array_bytes(array: Any, dtype: str, lo: Any, hi: Any) -> bytes:
    if array.ndim != 1:
        raise EncodeError(f"a vector takes a 1-dimensional array, not {array.ndim}-dimensional")
    target = np.dtype(dtype)
    if array.dtype != target:
        if array.dtype.kind in "iu" and target.kind in "iu" and array.size:
            if int(array.min()) < lo or int(array.max()) > hi:
                raise EncodeError(f"array values do not fit {target}")
            converted = array.astype(target)
        else:
            try:
                converted = array.astype(target, casting="same_kind")
            except TypeError as exc:
                raise EncodeError(f"cannot store a {array.dtype} array as {target}: {exc}") from None
        array = converted
    return array.tobytes()  # type: ignore[no-any-return]


def put_scalar_vector(out: Out, value: Any, code: str, dtype: str, size: int, lo: Any, hi: Any) -> int:
    """A vector of scalars from a list/tuple/iterable, a numpy array (any
    dtype that converts without loss of kind), or for 1-byte elements a
    bytes-like."""
    if type(value) is list or type(value) is tuple:
        count = len(value)
        data = struct.pack(f"<{count}{code}", *value)
    elif isinstance(value, np.ndarray):
        data = _array_bytes(value, dtype, lo, hi)
        count = value.size
    elif size == 1 and isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        count = len(data)
    elif isinstance(value, (str, bytes, bytearray, memoryview)):
        raise EncodeError(f"a vector of {dtype} takes a sequence of numbers, not {type(value).__name__}")
    else:
        items = list(value)
        count = len(items)
        data = struct.pack(f"<{count}{code}", *items)
    return put_vector_bytes(out, data, count, size)


def put_offset_vector(out: Out, offsets: Sequence[Any], holes: bool = False) -> int:
    """A vector of offsets to objects already built (tables or strings);
    ``holes``: None stands for no object (a NONE in a vector of unions),
    written as offset 0."""
    count = len(offsets)
    used = out.used
    pad = -used & 3
    base = used + pad + 4 * count
    if holes:
        values = [0 if off is None else base - off - 4 * i for i, off in enumerate(offsets)]
    else:
        values = [base - off for off in offsets]
        for i in range(count):
            values[i] -= 4 * i
    out.parts.append(struct.pack(f"<{count + 1}I", count, *values) + ZEROS[:pad])
    used = base + 4
    out.used = used
    if out.minalign < 4:
        out.minalign = 4
    return used


def put_struct_vector(
    out: Out, value: Any, pack_one: Callable[[Any], bytes], dtype: Any, size: int, align: int
) -> int:
    """A vector of structs from struct objects, or a numpy array of the
    struct's dtype (or one whose fields convert to it)."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise EncodeError("a vector of structs takes a 1-dimensional array")
        if value.dtype.names is None:
            raise EncodeError(f"a vector of structs takes a structured array of {dtype}")
        if value.dtype != dtype or _has_padding(dtype):
            # Field by field into zeros: padding must not carry stray memory.
            clean = np.zeros(value.shape, dtype)
            for name in dtype.names:
                clean[name] = value[name]
            value = clean
        return put_vector_bytes(out, value.tobytes(), value.size, align)
    items = value if type(value) is list else list(value)
    data = b"".join([pack_one(item) for item in items])
    return put_vector_bytes(out, data, len(items), align)


def _has_padding(dtype: Any) -> bool:
    fields = dtype.fields or {}
    return sum(f[0].itemsize for f in fields.values()) != dtype.itemsize or any(
        f[0].names is not None and _has_padding(f[0]) for f in fields.values()
    )


class _Typed:
    """The owner ``union_entry`` reads one element's type from."""

    __slots__ = ("t",)

    def __init__(self, t: Any) -> None:
        self.t = t


def union_vector(
    union_entry: Callable[..., Any], classes: Dict[Any, Any], by_value: Dict[int, str], by_name: Dict[str, int], aliased: Dict[Any, Any],
    types: Any, values: Any, where: str,
) -> Any:
    """(type numbers, member encoders, values) of a vector of unions: each
    value's member from its class, a ``UnionValue``, or ``types[i]``
    (``union_entry`` is :func:`._gen.union_entry`)."""
    values = list(values)
    if types is not None and len(types) != len(values):
        types = None  # stale types (the values changed): go by the values alone
    numbers: List[int] = []
    encoders: List[Optional[str]] = []
    plain: List[Any] = []
    for i, value in enumerate(values):
        entry = classes.get(type(value))
        if value is None:
            entry = (0, None)  # NONE: type 0, no value (as a decoded NONE element reads)
        elif entry is None:
            entry, value = union_entry(
                by_value, by_name, aliased, _Typed(None if types is None else types[i]), "t", value, f"{where}[{i}]"
            )
        numbers.append(entry[0])
        encoders.append(entry[1])
        plain.append(value)
    return numbers, encoders, plain


def read_union_vector(buf: Any, pos: int, dispatch: Dict[int, Any], types: Any) -> List[Any]:
    """A vector of unions, its types from the type vector ``types``."""
    offsets = _offsets(buf, pos)
    if types is None or len(types) != len(offsets):
        raise DecodeError(f"the vector of unions at byte {pos} and its type vector differ in length")
    base = pos + 4
    out = []
    for i, off in enumerate(offsets):
        decode = dispatch.get(int(types[i]))
        out.append(None if decode is None else decode(buf, base + 4 * i + off))
    return out


def put_struct(out: Out, data: bytes, align: int) -> int:
    """A struct outside a table (a union member's value): ``Builder.Prep(align,
    len(data))`` then the struct's bytes; its offset."""
    size = len(data)
    pad = -(out.used + size) & (align - 1)
    out.parts.append(data + ZEROS[:pad] if pad else data)
    out.used += size + pad
    if out.minalign < align:
        out.minalign = align
    return out.used


def fixed_array(value: Any, length: int, where: str) -> Any:
    """The values of a struct's fixed-length array field: a sequence (list,
    tuple, numpy array) of exactly ``length`` items."""
    if isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__len__"):
        raise EncodeError(f"{where} takes a sequence of {length} values, not {type(value).__name__}")
    if len(value) != length:
        raise EncodeError(f"{where} takes exactly {length} values, got {len(value)}")
    return value


def struct_array(value: Any, length: int, flatten: Callable[[Any], Any], where: str) -> List[Any]:
    """The scalars of a struct's fixed-length array of structs, element after element."""
    flat: List[Any] = []
    for item in fixed_array(value, length, where):
        flat.extend(flatten(item))
    return flat


def finish(out: Out, root: int, ident: bytes, max_size: int) -> bytes:
    """``Builder.Finish(root, file_identifier)``: the finished buffer."""
    used = out.used
    pad = -(used + 4 + len(ident)) & (out.minalign - 1)
    used += pad + len(ident)
    parts = out.parts
    parts.append(_pack_u32(used + 4 - root) + ident + ZEROS[:pad])
    parts.reverse()
    data = b"".join(parts)
    if len(data) > max_size:
        raise EncodeError(f"the buffer is {len(data)} bytes, over the limit of {max_size}")
    return data


# -- reading ------------------------------------------------------------------------


def _span(buf: Any, pos: int, size: int, what: str) -> int:
    """The end of ``size`` bytes at ``pos``, checked against the buffer."""
    end = pos + size
    if end > len(buf):
        raise DecodeError(f"{what} at byte {pos} runs past the end of the {len(buf)}-byte buffer")
    return end


def read_string(buf: Any, pos: int) -> str:
    n = _u32(buf, pos)[0]
    start = pos + 4
    return str(buf[start : _span(buf, start, n, "a string")], "utf-8")


def read_bytes(buf: Any, pos: int) -> bytes:
    n = _u32(buf, pos)[0]
    start = pos + 4
    return bytes(buf[start : _span(buf, start, n, "a byte vector")])


def read_scalar_vector(buf: Any, pos: int, dtype: Any, size: int) -> Any:
    """A zero-copy numpy view of a vector of scalars."""
    n = _u32(buf, pos)[0]
    _span(buf, pos + 4, n * size, "a vector")
    return np.frombuffer(buf, dtype, n, pos + 4)


def _offsets(buf: Any, pos: int) -> Any:
    n = _u32(buf, pos)[0]
    _span(buf, pos + 4, 4 * n, "a vector")
    return struct.unpack_from(f"<{n}I", buf, pos + 4)


def read_string_vector(buf: Any, pos: int) -> List[str]:
    base = pos + 4
    return [read_string(buf, base + 4 * i + off) for i, off in enumerate(_offsets(buf, pos))]


def read_table_vector(buf: Any, pos: int, decode: Callable[[Any, int], Any]) -> List[Any]:
    base = pos + 4
    return [decode(buf, base + 4 * i + off) for i, off in enumerate(_offsets(buf, pos))]


def read_struct_vector(buf: Any, pos: int, layout: struct.Struct, make: Callable[..., Any]) -> List[Any]:
    n = _u32(buf, pos)[0]
    start = pos + 4
    end = _span(buf, start, n * layout.size, "a vector of structs")
    return [make(*values) for values in layout.iter_unpack(buf[start:end])]


def read_struct(layout: struct.Struct, make: Callable[..., Any], buf: Any, pos: int) -> Any:
    """A struct stored out of line (a union member's value)."""
    _span(buf, pos, layout.size, "a struct")
    return make(*layout.unpack_from(buf, pos))


def read_struct_array(buf: Any, pos: int, dtype: Any) -> Any:
    """A zero-copy numpy structured view of a vector of structs."""
    n = _u32(buf, pos)[0]
    _span(buf, pos + 4, n * dtype.itemsize, "a vector of structs")
    return np.frombuffer(buf, dtype, n, pos + 4)
