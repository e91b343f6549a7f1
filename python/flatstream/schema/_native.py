"""The native (Rust) twin of a compiled root codec, for tables of scalars and
structs (bools, enums and optional scalars included).

The layout handed to ``flatstream._native.TableCodec`` is compiled here from
the same schema model and ``_Compiler`` the pure codec uses, and the pure
encoder and decoder go with it: the native side hands them whatever it does
not handle itself (values of other types, values out of range, payloads
without the byte buffer protocol), so both give the same results and errors.
Which of the two runs is decided at each call by ``flatstream._kernels``
(``_kernels.TableCodec is None`` selects the pure codec), as for every kernel.
"""

from __future__ import annotations

import inspect
import struct
import types
from typing import Any, Callable, List, Optional, Tuple, Union

from .. import _kernels
from ._decoder import _Decoder as _Compiler
from ._gen import field_or_none as _field_or_none
from .errors import DecodeError
from .model import SCALARS, BaseType, SchemaError, StructDef, TableDef
from .pyclasses import init_order as _init_order

__all__ = ["native_codec", "bind"]

_MAX_FIELDS = 64


#: A step from a struct object to one of its scalars: an attribute, or
#: ``(index, length)`` into a fixed-length array.
_Step = Union[str, Tuple[int, int]]


def _struct_scalars(
    compiler: "_Compiler", sdef: StructDef, base: int, path: Tuple[_Step, ...]
) -> List[Tuple[int, str, List[_Step]]]:
    """(offset, struct code, path) of each scalar of ``sdef``, in the order
    and at the offsets of the pure codec's ``struct`` format."""
    out: List[Tuple[int, str, List[_Step]]] = []
    cursor = base
    for fdef in sdef.fields:
        if fdef.type.base is BaseType.OBJ:
            inner = compiler.schema.structs[fdef.type.ref or ""]
            out += _struct_scalars(compiler, inner, cursor, path + (fdef.name,))
            cursor += struct.calcsize("<" + compiler.struct_format(inner, "s")[0])
        elif fdef.type.base is BaseType.ARRAY:
            length = fdef.type.fixed_length
            if fdef.type.element is BaseType.OBJ:
                inner = compiler.schema.structs[fdef.type.ref or ""]
                size = struct.calcsize("<" + compiler.struct_format(inner, "s")[0])
                for i in range(length):
                    out += _struct_scalars(compiler, inner, cursor, path + (fdef.name, (i, length)))
                    cursor += size
            else:
                info = SCALARS[fdef.type.element]
                for i in range(length):
                    out.append((cursor, info.code, list(path + (fdef.name, (i, length)))))
                    cursor += info.size
        elif fdef.type.base.is_scalar:
            info = SCALARS[fdef.type.base]
            out.append((cursor, info.code, list(path + (fdef.name,))))
            cursor += info.size
        else:
            raise SchemaError(f"{sdef.name}.{fdef.name}: not a scalar or struct")
        cursor += fdef.padding
    return out


def native_codec(
    compiler: "_Compiler",
    table: TableDef,
    pure_encode: Callable[[Any], bytes],
    pure_decode: Callable[[Any], Any],
    ident: bytes,
    max_size: int,
    verify: Optional[Callable[[Any], None]] = None,
) -> Optional[Any]:
    """A ``flatstream._native.TableCodec`` for ``table`` as a root, or None when
    the extension is missing or the table has fields the native codec does not
    handle (strings, vectors, tables, unions)."""
    native_class = getattr(_kernels.native, "TableCodec", None)
    if native_class is None:
        return None
    items = compiler.items(table)
    if not items or len(items) > _MAX_FIELDS:
        return None
    fields: List[Tuple[Any, ...]] = []
    try:
        for item in items:
            fdef = item.fdef
            if item.kind == "scalar" and fdef.type.base is not BaseType.UTYPE:
                emap = compiler.enum_map(fdef.type.ref)
                default = None if fdef.optional else fdef.default
                fields.append(
                    (fdef.name, fdef.id, item.code, default, fdef.optional,
                     compiler.ns[emap] if emap else None, None, None)
                )
            elif item.kind == "struct":
                sdef = compiler.schema.structs[fdef.type.ref or ""]
                maker, _count = compiler.struct_maker(sdef.name)
                layout = (sdef.bytesize, sdef.minalign, _struct_scalars(compiler, sdef, 0, ()))
                fields.append((fdef.name, fdef.id, None, None, False, None, layout, compiler.ns[maker]))
            else:
                return None
    except SchemaError:
        return None
    index = {item.fdef.name: n for n, item in enumerate(items)}
    cls = compiler.python_class(table.name)
    args: List[Tuple[int, Any]] = []
    for name in _init_order(cls):
        named = _field_or_none(table, name)
        # The generated decoder's own expression for an absent field, evaluated
        # in its namespace: the same object (enum member, literal) it passes.
        absent = eval(compiler.absent_value(named), compiler.ns) if named is not None else None
        args.append((index.get(name, -1), absent))
    slots = 1 + max(f.id for f in table.fields)
    return native_class(
        fields, cls, args, DecodeError, pure_encode, pure_decode, slots, ident, max_size,
        compiler.force_defaults, _encode_slots(cls, [item.fdef.name for item in items]),
        _decode_slots(cls, [name for name in _init_order(cls)]),
        _decode_attributes(cls, [name for name in _init_order(cls)]),
        verify,
    )


def _slot_descriptors(cls: Any, names: List[str]) -> Optional[List[Any]]:
    """The ``__slots__`` member descriptors through which ``getattr`` finds
    ``names`` on instances of exactly ``cls``, or None (then the native side
    uses ``getattr``; it checks the descriptors again itself)."""
    if getattr(cls, "__getattribute__", None) is not object.__getattribute__:
        return None
    found = []
    for name in names:
        try:
            desc = inspect.getattr_static(cls, name)
        except AttributeError:
            return None
        if type(desc) is not types.MemberDescriptorType:
            return None
        found.append(desc)
    return found


def _encode_slots(cls: Any, names: List[str]) -> Optional[Tuple[Any, List[Any]]]:
    found = _slot_descriptors(cls, names)
    return None if found is None else (cls, found)


def _decode_slots(cls: Any, names: List[str]) -> Optional[List[Any]]:
    """For a class ``codecs._make_class`` made (its ``__init__`` stores each
    argument in the slot of that name, nothing else): the slots' descriptors,
    which the native decoder fills instead of calling the class."""
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    if (
        cls.__module__ != "flatstream.schema.generated"
        or cls.__bases__ != (object,)
        or cls.__new__ is not object.__new__
        or tuple(cls.__dict__.get("__slots__", ())) != tuple(names)
        or tuple(getattr(cls, "__flatstream_fields__", ())) != tuple(names)
        or code is None
        or code.co_filename != "<string>"
        or code.co_varnames[1 : 1 + len(names)] != tuple(names)
        or code.co_argcount != 1 + len(names)
    ):
        return None
    return _slot_descriptors(cls, names)


def _decode_attributes(cls: Any, names: List[str]) -> Optional[List[str]]:
    """For a plain dataclass whose generated ``__init__`` does nothing but
    ``self.name = name`` for each argument: ``names``, which the native decoder
    sets on ``object.__new__(cls)`` itself instead of calling the class (the
    same attribute stores without a Python frame). None for anything else: a
    ``__post_init__``, ``init=False`` fields, a frozen or slotted class, a
    custom ``__new__``/``__setattr__``/metaclass or a hand-written ``__init__``."""
    import dataclasses

    params = cls.__dict__.get("__dataclass_params__")
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    if (
        params is None
        or not params.init
        or params.frozen
        or type(cls) is not type
        or cls.__new__ is not object.__new__
        or cls.__setattr__ is not object.__setattr__
        or hasattr(cls, "__post_init__")
        or "__slots__" in cls.__dict__
        or code is None
        or code.co_filename != "<string>"
        or getattr(init, "__qualname__", "") != f"{cls.__qualname__}.__init__"
        or code.co_argcount != 1 + len(names)
        or code.co_kwonlyargcount != 0
        or code.co_varnames[1 : 1 + len(names)] != tuple(names)
        or [f.name for f in dataclasses.fields(cls)] != names
    ):
        return None
    return names


def bind(
    native: Optional[Any], pure_encode: Callable[[Any], bytes], pure_decode: Callable[[Any], Any]
) -> Tuple[Callable[[Any], bytes], Callable[[Any], Any]]:
    """``encode`` and ``decode`` functions that run ``native`` unless the
    kernels are the pure-Python twins at the time of the call: the native
    methods themselves, which look at ``_kernels.TableCodec`` on each call and
    hand over to ``pure_encode``/``pure_decode`` while it is None (no Python
    frame between the caller and the native codec)."""
    if native is None:
        return pure_encode, pure_decode
    return native.encode, native.decode
