"""Compiled codecs: one specialised encoder and decoder per table, generated
as Python source and ``exec``-ed once (the technique of ``attrs`` and
``dataclasses``).

Encoding writes what the official ``flatbuffers.Builder`` writes when the
flatc-generated object API packs the same object (``Pack``: children in field
order, then the fields in id order): the same alignment, the same defaults
omitted, the same shared vtables. A table's inline part, vtable included, is
one ``struct.pack`` whose layout is compiled the first time a combination of
present fields and alignment is seen; a table of scalars and structs only is
one ``pack`` for the whole buffer.

Decoding reads a table's vtable once and looks its bytes up in a cache of
unpackers specialised to that vtable (every inline field in one
``unpack_from``); for the root table the lookup key is every byte before the
table's inline data, so one slice and one dict lookup find the unpacker. A
buffer whose vtables are not yet known compiles new unpackers, up to a limit
per table, then falls back to a generic reader.

Decoded vectors of scalars are zero-copy numpy views of the payload
(read-only over ``bytes``); a ``bytes``-annotated field decodes to ``bytes``;
vectors of strings, tables and structs to lists.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import itertools
import linecache
import math
import struct
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _runtime as rt
from .errors import DecodeError, EncodeError
from .model import (
    SCALARS,
    BaseType,
    FieldDef,
    Schema,
    SchemaError,
    StructDef,
    TableDef,
)

__all__ = ["Codec", "codec", "MAX_BUFFER_SIZE"]

#: The largest FlatBuffer (32-bit offsets): 2 GiB - 1.
MAX_BUFFER_SIZE = 0x7FFFFFFF

# Specialised unpackers compiled per table before falling back to the generic reader.
_VTABLE_CACHE_LIMIT = 64
# Layouts compiled per table (one per combination of present fields and alignment).
_LAYOUT_CACHE_LIMIT = 256
_ROOT_CACHE_LIMIT = 256

_I32 = struct.Struct("<i").unpack_from
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from

_codec_serial = itertools.count()


def codec(
    cls: Any,
    *,
    force_defaults: bool = False,
    max_size: Optional[int] = None,
    file_identifier: Any = True,
) -> "Codec":
    """The codec of an ``@fs.table`` class, compiled on first use and cached.

    ``force_defaults``: write scalar fields even when they equal their default
    (``Builder.ForceDefaults(True)``). ``max_size``: refuse to encode or
    decode buffers larger than this (default and ceiling: 2 GiB - 1).
    ``file_identifier``: ``True`` writes the table's declared identifier,
    ``None``/``False`` none, a 4-character string that one.
    """
    from .decorators import is_table, schema_of

    if isinstance(cls, Codec):
        return cls
    if not is_table(cls):
        raise TypeError(f"{cls!r} is not an @flatstream.table class")
    schema = schema_of(cls)
    codec: Codec = schema.codec(
        None, force_defaults=force_defaults, max_size=max_size, file_identifier=file_identifier
    )
    return codec


class Codec:
    """Encoder and decoder for one table of a schema.

    ``encode(obj)`` returns ``bytes`` holding a finished FlatBuffer with the
    table as root; ``obj`` is any object with the fields as attributes (an
    ``@fs.table`` instance, an instance of :attr:`type`, ...). ``decode(payload)``
    takes any bytes-like and returns an instance of :attr:`type`. Both raise
    :class:`EncodeError`/:class:`DecodeError` (``ValueError``\\ s). The decoder
    bounds-checks what it reads but does not verify everything: use
    :meth:`verify` (or :meth:`verifier` as a stream validator) on untrusted
    input.
    """

    def __init__(
        self,
        schema: Schema,
        table: TableDef,
        *,
        force_defaults: bool = False,
        max_size: Optional[int] = None,
        file_identifier: Any = True,
    ) -> None:
        if max_size is None:
            max_size = MAX_BUFFER_SIZE
        if not 8 <= max_size <= MAX_BUFFER_SIZE:
            raise ValueError(f"max_size must be between 8 and {MAX_BUFFER_SIZE}")
        if file_identifier is True:
            ident = schema.file_identifier if table.name == schema.root_table else None
        elif file_identifier in (None, False):
            ident = None
        else:
            ident = str(file_identifier)
        ident_bytes = b"" if ident is None else ident.encode("ascii")
        if len(ident_bytes) not in (0, 4):
            raise ValueError(f"a file identifier is 4 ASCII characters, not {ident!r}")
        self.schema = schema
        self.table = table
        self.name = table.name
        self.force_defaults = force_defaults
        self.max_size = max_size
        self.file_identifier = ident
        compiler = _compiler(schema, force_defaults)
        self.type: type = compiler.python_class(table.name)
        self._pure_encode = compiler.root_encoder(table.name, ident_bytes, max_size)
        self._pure_decode = compiler.root_decoder(
            table.name, max_size, compiler.fixed_prefix(table.name, ident_bytes)
        )
        from ._native import bind, native_codec

        #: The native twin (``flatstream._native.TableCodec``) of this codec,
        #: or None (no extension, or fields it does not handle).
        self.native: Any = native_codec(
            compiler, table, self._pure_encode, self._pure_decode, ident_bytes, max_size
        )
        self.encode: Callable[[Any], bytes]
        self.decode: Callable[[Any], Any]
        self.encode, self.decode = bind(self.native, self._pure_encode, self._pure_decode)
        self._size_limited = max_size < MAX_BUFFER_SIZE and not any(
            item.kind == "offset" for item in compiler.items(table)
        )
        if self._size_limited:
            # A table of scalars and structs is packed whole, past the size
            # check rt.finish makes for the others: check here, for both twins.
            unlimited = self.encode
            self.encode = lambda obj: self._within_limit(unlimited(obj))
        self._view_class: Any = None

    def encode_many(self, objs: Any) -> List[bytes]:
        """``[encode(obj) for obj in objs]``, in one native call when the codec
        has a native twin (see :attr:`native`)."""
        from .. import _kernels

        if self.native is not None and _kernels.TableCodec is not None:
            encoded: List[bytes] = self.native.encode_many(objs)
        else:
            encode = self._pure_encode
            encoded = [encode(obj) for obj in objs]
        if self._size_limited:
            for data in encoded:
                self._within_limit(data)
        return encoded

    def _within_limit(self, data: bytes) -> bytes:
        if len(data) > self.max_size:
            raise EncodeError(f"the buffer is {len(data)} bytes, over the limit of {self.max_size}")
        return data

    def decode_many(self, payloads: Any) -> List[Any]:
        """``[decode(p) for p in payloads]``, in one native call when the codec
        has a native twin."""
        from .. import _kernels

        if self.native is not None and _kernels.TableCodec is not None:
            return self.native.decode_many(payloads)  # type: ignore[no-any-return]
        decode = self._pure_decode
        return [decode(payload) for payload in payloads]

    def view(self, payload: Any) -> Any:
        """A lazy view of ``payload``: each attribute is decoded when read
        (and again each time), so reading a few fields of a wide table costs
        a few field reads. Nested tables, vectors and unions decode as
        :meth:`decode` does. ``view.to_object()`` decodes everything. The view
        keeps ``payload`` alive; it checks nothing until read."""
        view_class = self._view_class
        if view_class is None:
            view_class = self._view_class = _compiler(self.schema, self.force_defaults).view_class(self.name)
        return view_class(payload, self.decode)

    def verifier(self, **options: Any) -> Any:
        """A validator (``name``, ``validate(payload)``) for readers and writers
        that verifies payloads against this table; see
        :class:`flatstream.schema.SchemaVerifier` for the options."""
        from .verifier import SchemaVerifier

        options.setdefault("max_size", self.max_size)
        if self.file_identifier is not None:
            options.setdefault("file_identifier", self.file_identifier)
        return SchemaVerifier(self.schema, self.table, **options)

    @functools.cached_property
    def verify(self) -> Callable[[Any], None]:
        """``verify(payload)``: return if ``payload`` is a valid buffer of this
        table, raise :class:`VerificationError` if not (the default options of
        :meth:`verifier`). Built on first use; a native call where the
        extension covers the schema."""
        return self.verifier().bound()

    def decode_columns(self, source: Any, fields: Any = None, **options: Any) -> Any:
        """Decode many payloads into numpy columns: see
        :func:`flatstream.schema.columnar.decode_columns`."""
        from .columnar import decode_columns

        return decode_columns(self, source, fields, **options)

    def encode_columns(self, columns: Any, **options: Any) -> Any:
        """Encode rows given as numpy columns: see
        :func:`flatstream.schema.columnar.encode_columns`."""
        from .columnar import encode_columns

        return encode_columns(self, columns, **options)

    def to_fbs(self) -> str:
        return self.schema.to_fbs()

    def __repr__(self) -> str:
        return f"<Codec {self.name}>"


# -- compiling ------------------------------------------------------------------------


def fixed_message(schema: Schema, name: str, ident: Optional[str]) -> Optional[Tuple[bytes, int]]:
    """For a table of scalars and structs: the bytes before its inline data,
    and the length, of every buffer the official builder (and a codec) makes
    with all its fields present and ``ident`` as file identifier; None for
    other tables. The verifier checks such buffers by comparison."""
    return _compiler(schema, False).fixed_message(name, ident.encode("ascii") if ident else b"")


def _compiler(schema: Schema, force_defaults: bool) -> "_Compiler":
    compilers = schema.__dict__.setdefault("_compilers", {})
    compiler = compilers.get(force_defaults)
    if compiler is None:
        compiler = compilers[force_defaults] = _Compiler(schema, force_defaults)
    return compiler  # type: ignore[no-any-return]


def _scalar_literal(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INF" if value > 0 else "-INF"
        return repr(value)
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    return repr(value)


class _Source:
    """Lines of generated code with indentation."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.depth = 0

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def block(self) -> "_Indent":
        return _Indent(self)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class _Indent:
    def __init__(self, source: _Source) -> None:
        self.source = source

    def __enter__(self) -> None:
        self.source.depth += 1

    def __exit__(self, *exc: Any) -> None:
        self.source.depth -= 1


class _Item:
    """One field as the table's inline data holds it."""

    def __init__(self, fdef: FieldDef, kind: str, code: str, size: int, align: int) -> None:
        self.fdef = fdef
        self.kind = kind  # "scalar", "offset" or "struct"
        self.code = code  # struct format of the inline bytes
        self.size = size
        self.align = align


class _Compiler:
    """Generates the encoders and decoders of one schema (per force_defaults)."""

    def __init__(self, schema: Schema, force_defaults: bool) -> None:
        self.schema = schema
        self.force_defaults = force_defaults
        self.serial = next(_codec_serial)
        self.ns: Dict[str, Any] = {
            "__builtins__": __builtins__,
            "rt": rt,
            "np": np,
            "Out": rt.Out,
            "DecodeError": DecodeError,
            "EncodeError": EncodeError,
            "struct_error": struct.error,
            "I32": _I32,
            "U16": _U16,
            "U32": _U32,
            "NAN": math.nan,
            "INF": math.inf,
            "rt_encode_error": _encode_error,
            "rt_union_entry": _union_entry,
            "rt_decode_union": _decode_union,
            "struct_unpack_from": struct.unpack_from,
        }
        self.ns["NS"] = self.ns
        self.counter = 0
        self.encoders: Dict[str, str] = {}
        self.decoders: Dict[str, str] = {}
        self.struct_packers: Dict[str, str] = {}
        self.struct_makers: Dict[str, str] = {}
        self.enum_maps: Dict[str, str] = {}
        self.vtable_caches: Dict[str, Dict[bytes, Any]] = {}
        self.misses: Dict[str, Callable[[bytes, int], Any]] = {}

    # -- plumbing --------------------------------------------------------

    def const(self, value: Any, hint: str = "k") -> str:
        name = f"{hint}_{self.counter}"
        self.counter += 1
        self.ns[name] = value
        return name

    def run(self, source: _Source, label: str) -> None:
        text = source.text()
        filename = f"<flatstream codec {self.serial}:{self.counter}:{label}>"
        self.counter += 1
        # Registered so tracebacks through generated code show its lines.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        exec(compile(text, filename, "exec"), self.ns)

    # -- python types ----------------------------------------------------

    def python_class(self, name: str) -> Any:
        return self.schema.python_type(name)

    def enum_map(self, ref: Optional[str]) -> Optional[str]:
        """Name of a dict int -> enum member for decoding, if ``ref`` is an enum."""
        if ref is None or ref not in self.schema.enums:
            return None
        cached = self.enum_maps.get(ref)
        if cached is None:
            cls = self.schema.python_type(ref)
            mapping: Dict[int, Any] = (
                _FlagMap(cls) if issubclass(cls, enum.Flag) else {}
            )
            mapping.update({int(member.value): member for member in cls.__members__.values()})
            cached = self.enum_maps[ref] = self.const(mapping, "E")
        return cached

    def wants_bytes(self, owner: str, fdef: FieldDef) -> bool:
        """Whether a [ubyte]/[byte] field decodes to bytes (its class says ``bytes``)."""
        if fdef.type.base is not BaseType.VECTOR or fdef.type.element not in (
            BaseType.UBYTE, BaseType.BYTE
        ):
            return False
        cls = self.schema.python_types.get(owner)
        if cls is None or not dataclasses.is_dataclass(cls):
            return False
        from .decorators import class_hints

        hint = class_hints(cls).get(fdef.name)
        args = typing.get_args(hint) or (hint,)
        return any(a in (bytes, bytearray, memoryview) for a in args)

    # -- structs ---------------------------------------------------------

    def struct_format(self, sdef: StructDef, expr: str) -> Tuple[str, List[str]]:
        """The struct's bytes as a ``struct`` format, and the expressions of
        its scalar values (fields of ``expr``) in that order."""
        fmt = ""
        exprs: List[str] = []
        for fdef in sdef.fields:
            sub = f"{expr}.{fdef.name}"
            if fdef.type.base is BaseType.OBJ:
                inner_fmt, inner = self.struct_format(self.schema.structs[fdef.type.ref or ""], sub)
                fmt += inner_fmt
                exprs += inner
            elif fdef.type.base is BaseType.ARRAY:
                raise SchemaError(f"{sdef.name}.{fdef.name}: fixed-length arrays in structs are not supported")
            else:
                fmt += SCALARS[fdef.type.base].code
                exprs.append(sub)
            if fdef.padding:
                fmt += f"{fdef.padding}x"
        return fmt, exprs

    def struct_packer(self, name: str) -> str:
        """A function struct object -> its bytes."""
        fn = self.struct_packers.get(name)
        if fn is not None:
            return fn
        sdef = self.schema.structs[name]
        fmt, exprs = self.struct_format(sdef, "s")
        layout = struct.Struct("<" + fmt)
        if layout.size != sdef.bytesize:
            raise SchemaError(f"struct {name}: layout is {layout.size} bytes, the schema says {sdef.bytesize}")
        fn = self.struct_packers[name] = f"spack_{self.counter}"
        src = _Source()
        src(f"def {fn}(s):")
        with src.block():
            src(f"return {self.const(layout.pack, 'P')}({', '.join(exprs)})")
        self.run(src, f"pack {name}")
        return fn

    def struct_maker(self, name: str) -> Tuple[str, int]:
        """(a function taking the struct's flattened scalars -> struct object, how many)."""
        cached = self.struct_makers.get(name)
        sdef = self.schema.structs[name]
        if cached is not None:
            return cached, len(self.struct_format(sdef, "s")[1])
        fn = self.struct_makers[name] = f"smake_{self.counter}"
        self.counter += 1
        params: List[str] = []
        expr = self.struct_value(name, params)
        src = _Source()
        src(f"def {fn}({', '.join(params)}):")
        with src.block():
            src(f"return {expr}")
        self.run(src, f"make {name}")
        return fn, len(params)

    def struct_value(self, name: str, params: List[str]) -> str:
        """The expression building struct ``name`` from fresh names appended to ``params``."""
        sdef = self.schema.structs[name]
        args = []
        for fdef in sdef.fields:
            if fdef.type.base is BaseType.OBJ:
                args.append(self.struct_value(fdef.type.ref or "", params))
                continue
            var = f"a{len(params)}"
            params.append(var)
            emap = self.enum_map(fdef.type.ref)
            args.append(f"{emap}.get({var}, {var})" if emap else var)
        return f"{self.const(self.python_class(name), 'C')}({', '.join(args)})"

    def struct_dtype(self, name: str) -> Any:
        sdef = self.schema.structs[name]
        names, formats, offsets = [], [], []
        for fdef in sdef.fields:
            names.append(fdef.name)
            offsets.append(fdef.offset)
            if fdef.type.base is BaseType.OBJ:
                formats.append(self.struct_dtype(fdef.type.ref or ""))
            else:
                formats.append(SCALARS[fdef.type.base].dtype)
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": sdef.bytesize}
        )

    # -- encoding --------------------------------------------------------

    def items(self, table: TableDef) -> List[_Item]:
        items = []
        for fdef in table.fields:
            if fdef.deprecated:
                continue
            base = fdef.type.base
            if base.is_scalar:
                info = SCALARS[base]
                items.append(_Item(fdef, "scalar", info.code, info.size, info.size))
            elif base is BaseType.OBJ and fdef.type.ref in self.schema.structs:
                sdef = self.schema.structs[fdef.type.ref or ""]
                fmt, _ = self.struct_format(sdef, "s")
                items.append(_Item(fdef, "struct", fmt, sdef.bytesize, sdef.minalign))
            elif base in (BaseType.STRING, BaseType.VECTOR, BaseType.OBJ, BaseType.UNION):
                items.append(_Item(fdef, "offset", "I", 4, 4))
            else:
                raise SchemaError(f"{table.name}.{fdef.name}: {base.name} fields are not supported")
        return items

    def encoder(self, name: str) -> str:
        """The name of ``enc(out, obj) -> offset`` for table ``name``."""
        fn = self.encoders.get(name)
        if fn is not None:
            return fn
        fn = self.encoders[name] = f"enc_{self.counter}"
        self.counter += 1
        table = self.schema.tables[name]
        items = self.items(table)
        src = _Source()
        src(f"def {fn}(out, obj):")
        with src.block():
            args = self.encode_body(src, table, items)
            align = max([4] + [item.align for item in items])
            layout_dict: Dict[int, Any] = {}
            layouts = self.const(layout_dict, "L")
            maker = self.const(self.layout_maker(table, items, align, layout_dict), "M")
            src(f"m = {self.mask_expr(items)}")
            src("u = out.used")
            src(f"k = m << 8 | u & {align - 1}")
            src(f"lay = {layouts}.get(k)")
            src("if lay is None:")
            with src.block():
                src(f"lay = {maker}(k)")
            src(f"return lay(out, u{''.join(', ' + a for a in args)})")
        self.run(src, f"encode {name}")
        return fn

    def encode_body(self, src: _Source, table: TableDef, items: List[_Item]) -> List[str]:
        """Read the fields of ``obj`` and build the children; return, per item,
        the name of the value the layout function takes for it."""
        args = []
        for item in items:
            if item.fdef.type.base is BaseType.UNION:
                # The type is known once the value is encoded; absent means NONE.
                src(f"t_{item.fdef.name} = 0")
        for n, item in enumerate(items):
            fdef = item.fdef
            var = f"v{n}"
            where = f"{table.name}.{fdef.name}"
            if fdef.type.base is BaseType.UTYPE:
                args.append(f"t_{_union_value_field(items, fdef)}")
                continue
            src(f"{var} = obj.{fdef.name}")
            if fdef.required:
                src(f"if {var} is None:")
                with src.block():
                    src(f"raise EncodeError({where + ' is required'!r})")
            if item.kind == "offset":
                out_var = f"o{n}"
                src(f"{out_var} = 0")
                src(f"if {var} is not None:")
                with src.block():
                    self.encode_child(src, fdef, var, out_var, where)
                args.append(out_var)
            else:
                args.append(var)
        return args

    def encode_child(self, src: _Source, fdef: FieldDef, var: str, out_var: str, where: str) -> None:
        ftype = fdef.type
        base = ftype.base
        if base is BaseType.STRING:
            src(f"{out_var} = rt.put_string(out, {var})")
        elif base is BaseType.OBJ:
            src(f"{out_var} = {self.encoder(ftype.ref or '')}(out, {var})")
        elif base is BaseType.UNION:
            union = self.schema.unions[ftype.ref or ""]
            by_class: Dict[Any, Tuple[int, str]] = {}
            by_value: Dict[int, str] = {}
            for member in union.members:
                if member.table is None:
                    continue
                enc = self.encoder(member.table)
                by_value[member.value] = enc
                by_class.setdefault(self.python_class(member.table), (member.value, enc))
            classes = self.const(by_class, "UC")
            values = self.const(by_value, "UV")
            src(f"entry = {classes}.get(type({var}))")
            src("if entry is None:")
            with src.block():
                src(f"entry = rt_union_entry({values}, obj, {fdef.name + '_type'!r}, {var}, {where!r})")
            src(f"t_{fdef.name} = entry[0]")
            # By name: a member's encoder may still be being compiled.
            src(f"{out_var} = NS[entry[1]](out, {var})")
        elif base is BaseType.VECTOR:
            element = ftype.element
            if element.is_scalar:
                info = SCALARS[element]
                src(
                    f"{out_var} = rt.put_scalar_vector(out, {var}, {info.code!r}, {info.dtype!r}, "
                    f"{info.size}, {_scalar_literal(info.min)}, {_scalar_literal(info.max)})"
                )
            elif element is BaseType.STRING:
                src(f"{out_var} = rt.put_offset_vector(out, [rt.put_string(out, x) for x in {var}])")
            elif element is BaseType.OBJ and ftype.ref in self.schema.structs:
                sdef = self.schema.structs[ftype.ref or ""]
                packer = self.struct_packer(sdef.name)
                dtype = self.const(self.struct_dtype(sdef.name), "D")
                src(
                    f"{out_var} = rt.put_struct_vector(out, {var}, {packer}, {dtype}, "
                    f"{sdef.bytesize}, {sdef.minalign})"
                )
            elif element is BaseType.OBJ:
                enc = self.encoder(ftype.ref or "")
                src(f"{out_var} = rt.put_offset_vector(out, [{enc}(out, x) for x in {var}])")
            else:
                raise SchemaError(f"{where}: vectors of {element.name} are not supported")
        else:
            raise SchemaError(f"{where}: {base.name} fields are not supported")

    def mask_expr(self, items: List[_Item]) -> str:
        terms = []
        for n, item in enumerate(items):
            fdef = item.fdef
            if fdef.type.base is BaseType.UTYPE:
                union_field = _union_value_field(items, fdef)
                var = f"t_{union_field}"
                test = f"({var} != 0)" if not self.force_defaults else "True"
            elif item.kind == "offset":
                test = f"(v{n} is not None)"
            elif item.kind == "struct":
                test = f"(v{n} is not None)"
            elif fdef.optional:
                test = f"(v{n} is not None)"
            elif self.force_defaults:
                test = "True"
            else:
                test = f"(v{n} != {_scalar_literal(fdef.default)})"
            terms.append(test if n == 0 else f"({test} << {n})")
        return " | ".join(terms) if terms else "0"

    def layout_maker(
        self, table: TableDef, items: List[_Item], align: int, layouts: Dict[int, Any]
    ) -> Callable[[int], Any]:
        """A function key -> layout function for that key, compiled and kept
        in ``layouts`` for the first ``_LAYOUT_CACHE_LIMIT`` keys (a table
        with many optional fields has many), interpreted after that."""
        slots = 1 + max([f.id for f in table.fields], default=-1)
        flatteners = {
            n: self.ns[self.struct_flattener(item.fdef.type.ref or "")]
            for n, item in enumerate(items) if item.kind == "struct"
        }

        def make(key: int) -> Any:
            mask, rem = key >> 8, key & 0xFF
            plan = _plan(items, mask, rem, slots)
            if len(layouts) >= _LAYOUT_CACHE_LIMIT:
                return _interpreted_layout(plan, items, flatteners)
            fn = f"lay_{self.counter}"
            self.counter += 1
            params = ", ".join(["out", "u"] + [f"a{n}" for n in range(len(items))])
            values = []
            for n, rel in plan.order:
                item = items[n]
                if item.kind == "offset":
                    values.append(f"u + {rel} - a{n}")
                elif item.kind == "struct":
                    sdef = self.schema.structs[item.fdef.type.ref or ""]
                    values += self.struct_format(sdef, f"a{n}")[1]
                else:
                    values.append(f"a{n}")
            tail = "".join(", " + v for v in values)
            with_vt = self.const(struct.Struct(f"<{len(plan.vtable)}si{plan.fmt}").pack, "S")
            without_vt = self.const(struct.Struct(f"<i{plan.fmt}").pack, "S")
            vt = self.const(plan.vtable, "VT")
            src = _Source()
            src(f"def {fn}({params}):")
            with src.block():
                src(f"obj = u + {plan.object_rel}")
                src("vts = out.vtables")
                src(f"at = vts.get({vt})")
                src("if at is None:")
                with src.block():
                    src(f"out.parts.append({with_vt}({vt}, {len(plan.vtable)}{tail}))")
                    src(f"out.used = vts[{vt}] = obj + {len(plan.vtable)}")
                src("else:")
                with src.block():
                    src(f"out.parts.append({without_vt}(at - obj{tail}))")
                    src("out.used = obj")
                src(f"if out.minalign < {plan.minalign}:")
                with src.block():
                    src(f"out.minalign = {plan.minalign}")
                src("return obj")
            self.run(src, f"layout {table.name} {key:#x}")
            layouts[key] = self.ns[fn]
            return self.ns[fn]

        return make

    def struct_flattener(self, name: str) -> str:
        """A function struct object -> the tuple of its scalars, in layout order."""
        fn = f"sflat_{self.counter}"
        self.counter += 1
        _fmt, exprs = self.struct_format(self.schema.structs[name], "s")
        src = _Source()
        src(f"def {fn}(s):")
        with src.block():
            src(f"return ({', '.join(exprs)},)")
        self.run(src, f"flatten {name}")
        return fn

    def root_encoder(self, name: str, ident: bytes, max_size: int) -> Callable[[Any], bytes]:
        table = self.schema.tables[name]
        items = self.items(table)
        fixed = all(item.kind != "offset" for item in items)
        fn = f"encode_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(obj):")
        with src.block():
            src("try:")
            with src.block():
                if fixed:
                    self.fixed_root_body(src, table, items, ident, max_size)
                else:
                    enc = self.encoder(name)
                    src("out = Out()")
                    src(f"return rt.finish(out, {enc}(out, obj), {ident!r}, {max_size})")
            src("except (EncodeError, MemoryError):")
            with src.block():
                src("raise")
            src("except (struct_error, TypeError, ValueError, OverflowError, AttributeError, RecursionError) as exc:")
            with src.block():
                # RecursionError: tables nested too deep, or an object containing itself.
                src(f"raise rt_encode_error({name!r}, obj, exc) from exc")
        self.run(src, f"root encode {name}")
        return self.ns[fn]  # type: ignore[no-any-return]

    def fixed_message(self, name: str, ident: bytes) -> Optional[Tuple[bytes, int]]:
        """(``fixed_prefix``, the whole buffer's length) for a table of scalars
        and structs with every field present; None for other tables."""
        header = self.fixed_prefix(name, ident)
        if header is None:
            return None
        table = self.schema.tables[name]
        items = self.items(table)
        slots = 1 + max([f.id for f in table.fields], default=-1)
        plan = _plan(items, (1 << len(items)) - 1, 0, slots)
        return header, len(header) + struct.calcsize("<" + plan.fmt)

    def fixed_prefix(self, name: str, ident: bytes) -> Optional[bytes]:
        """For a table of scalars and structs: the bytes before its inline
        data in a buffer this codec writes with every field present (and
        not deprecated); None for other tables."""
        table = self.schema.tables[name]
        items = self.items(table)
        if not items or any(item.kind == "offset" for item in items):
            return None
        slots = 1 + max([f.id for f in table.fields], default=-1)
        return _message_header(_plan(items, (1 << len(items)) - 1, 0, slots), ident)

    def fixed_root_body(
        self, src: _Source, table: TableDef, items: List[_Item], ident: bytes, max_size: int
    ) -> None:
        """A table of scalars and structs as root: the whole buffer is one
        ``pack`` whose header (root offset, identifier, vtable, vtable
        offset) is a constant per set of present fields."""
        for n, item in enumerate(items):
            if item.fdef.type.base is BaseType.UTYPE:
                raise SchemaError("unreachable: a union makes a table not fixed")
            src(f"v{n} = obj.{item.fdef.name}")
        slots = 1 + max([f.id for f in table.fields], default=-1)
        messages = self.const({}, "MSG")

        def pack_call(mask: int, var: str) -> str:
            """``pack(header, values...)`` of the message for ``mask``, its
            values named ``{var}0``, ``{var}1``... by item."""
            plan = _plan(items, mask, 0, slots)
            header = _message_header(plan, ident)
            values = []
            for n, _rel in plan.order:
                item = items[n]
                if item.kind == "struct":
                    sdef = self.schema.structs[item.fdef.type.ref or ""]
                    values += self.struct_format(sdef, f"{var}{n}")[1]
                else:
                    values.append(f"{var}{n}")
            packer = self.const(struct.Struct(f"<{len(header)}s{plan.fmt}").pack, "S")
            head = self.const(header, "H")
            return f"{packer}({head}{''.join(', ' + v for v in values)})"

        message_dict: Dict[int, Any] = self.ns[messages]

        def make(mask: int) -> Any:
            if len(message_dict) >= _LAYOUT_CACHE_LIMIT:
                return None  # the caller takes the general path
            fn = f"msg_{self.counter}"
            self.counter += 1
            src2 = _Source()
            src2(f"def {fn}({', '.join(f'a{n}' for n in range(len(items)))}):")
            with src2.block():
                src2(f"return {pack_call(mask, 'a')}")
            self.run(src2, f"message {table.name} {mask:#x}")
            message_dict[mask] = self.ns[fn]
            return self.ns[fn]

        maker = self.const(make, "M")
        full = (1 << len(items)) - 1
        args = ", ".join(f"v{n}" for n in range(len(items)))
        src(f"m = {self.mask_expr(items)}")
        src(f"if m == {full}:")
        with src.block():
            src(f"return {pack_call(full, 'v')}")  # the usual case, inline
        src(f"f = {messages}.get(m)")
        src("if f is None:")
        with src.block():
            src(f"f = {maker}(m)")
            src("if f is None:")
            with src.block():
                src("out = Out()")
                src(f"return rt.finish(out, {self.encoder(table.name)}(out, obj), {ident!r}, {max_size})")
        src(f"return f({args})")

    # -- decoding --------------------------------------------------------

    def decoder(self, name: str) -> str:
        """The name of ``dec(buf, pos) -> object`` for the table at ``pos``."""
        fn = self.decoders.get(name)
        if fn is not None:
            return fn
        fn = self.decoders[name] = f"dec_{self.counter}"
        self.counter += 1
        cache_dict: Dict[bytes, Any] = {}
        self.vtable_caches[name] = cache_dict
        self.misses[name] = self.vtable_specialiser(name, cache_dict)
        cache = self.const(cache_dict, "VC")
        miss = self.const(self.misses[name], "MISS")
        src = _Source()
        src(f"def {fn}(buf, pos):")
        with src.block():
            src("vt = pos - I32(buf, pos)[0]")
            src("if vt < 0:")
            with src.block():
                src("raise DecodeError(f'the vtable of the table at byte {pos} is before the buffer')")
            src("vl = U16(buf, vt)[0]")
            src("key = buf[vt:vt + vl]")
            src("if type(key) is not bytes:")
            with src.block():
                src("key = bytes(key)")
            src(f"f = {cache}.get(key)")
            src("if f is None:")
            with src.block():
                src(f"f = {miss}(key, vt)")
            src("return f(buf, pos)")
        self.run(src, f"decode {name}")
        return fn

    def vtable_specialiser(self, name: str, cache: Dict[bytes, Any]) -> Callable[[bytes, int], Any]:
        generic: List[Any] = []

        def miss(key: bytes, vt: int) -> Any:
            size = len(key)
            if size < 4 or size & 1:
                raise DecodeError(f"the vtable at byte {vt} is {size} bytes: not a vtable")
            declared = struct.unpack_from("<H", key)[0]
            if declared != size:
                raise DecodeError(f"the vtable at byte {vt} runs past the end of the buffer")
            if len(cache) >= _VTABLE_CACHE_LIMIT:
                if not generic:
                    generic.append(self.generic_decoder(name))
                return generic[0]
            entries = struct.unpack_from(f"<{(size - 4) // 2}H", key, 4)
            fn = self.specialised_decoder(name, entries)
            cache[key] = fn
            return fn

        return miss

    def specialised_decoder(self, name: str, entries: Sequence[int]) -> Any:
        """The decoder of table ``name`` for one vtable (``entries``: field offsets by id)."""
        fn = f"dv_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(buf, pos):")
        with src.block():
            if not self.specialised_body(src, name, entries):
                return self.generic_decoder(name)
        self.run(src, f"decode {name} vtable {list(entries)}")
        return self.ns[fn]

    def specialised_body(self, src: _Source, name: str, entries: Sequence[int]) -> bool:
        """Statements decoding table ``name`` at ``pos`` for one vtable, ending
        in ``return``; False (and nothing written) if the vtable's fields
        overlap, which one ``unpack`` cannot read."""
        table = self.schema.tables[name]
        items = self.items(table)
        present = [
            item for item in items
            if item.fdef.id < len(entries) and entries[item.fdef.id]
        ]
        present.sort(key=lambda item: entries[item.fdef.id])
        overlap = any(
            entries[a.fdef.id] + a.size > entries[b.fdef.id] for a, b in zip(present, present[1:])
        )
        if overlap:
            return False
        values: Dict[str, str] = {}  # field name -> expression of its decoded value
        raw: Dict[str, List[str]] = {}
        if present:
            low = entries[present[0].fdef.id]
            fmt = ""
            cursor = low
            for k, item in enumerate(present):
                offset = entries[item.fdef.id]
                if offset > cursor:
                    fmt += f"{offset - cursor}x"
                fmt += item.code
                cursor = offset + item.size
                if item.kind == "struct":
                    count = self.struct_scalars(item.fdef.type.ref or "")
                    raw[item.fdef.name] = [f"x{k}_{j}" for j in range(count)]
                else:
                    raw[item.fdef.name] = [f"x{k}"]
            unpack = self.const(struct.Struct("<" + fmt).unpack_from, "UN")
            flat = [v for item in present for v in raw[item.fdef.name]]
            target = flat[0] + "," if len(flat) == 1 else ", ".join(flat)
            src(f"{target} = {unpack}(buf, pos + {low})")
        for item in items:
            fdef = item.fdef
            if fdef.name not in raw:
                continue
            type_expr = "0"
            if fdef.type.base is BaseType.UNION:
                type_field = _type_field_of(table, fdef)
                type_expr = raw[type_field.name][0] if type_field.name in raw else "0"
            where = f"pos + {entries[fdef.id]}"
            values[fdef.name] = self.decode_value(src, table, item, raw[fdef.name], where, type_expr)
        self.decode_construct(src, table, values)
        return True

    def struct_scalars(self, name: str) -> int:
        return len(self.struct_format(self.schema.structs[name], "s")[1])

    def generic_decoder(self, name: str) -> Any:
        """The decoder of table ``name`` that reads the vtable at run time."""
        table = self.schema.tables[name]
        items = self.items(table)
        slots = 1 + max([f.id for f in table.fields], default=-1)
        fn = f"dg_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(buf, pos):")
        values: Dict[str, str] = {}
        with src.block():
            src("vt = pos - I32(buf, pos)[0]")
            src("n = (U16(buf, vt)[0] - 4) >> 1")
            src(f"e = struct_unpack_from(f'<{{n}}H', buf, vt + 4) + {(0,) * slots!r}")
            for k, item in enumerate(items):
                fdef = item.fdef
                var = f"g{k}"
                if item.kind == "struct":
                    group = [f"{var}_{j}" for j in range(self.struct_scalars(fdef.type.ref or ""))]
                else:
                    group = [f"{var}r"]
                type_expr = "0"
                if fdef.type.base is BaseType.UNION:
                    type_field = _type_field_of(table, fdef)
                    type_expr = values.get(type_field.name, "0")
                unpack = self.const(struct.Struct("<" + item.code).unpack_from, "UN")
                src(f"o = e[{fdef.id}]")
                src("if o:")
                with src.block():
                    target = group[0] + "," if len(group) == 1 else ", ".join(group)
                    src(f"{target} = {unpack}(buf, pos + o)")
                    expr = self.decode_value(src, table, item, group, "pos + o", type_expr)
                    src(f"{var} = {expr}")
                src("else:")
                with src.block():
                    src(f"{var} = {self.absent_value(fdef)}")
                values[fdef.name] = var
            self.decode_construct(src, table, values)
        self.run(src, f"generic decode {name}")
        return self.ns[fn]

    def absent_value(self, fdef: FieldDef) -> str:
        if fdef.type.is_scalar and not fdef.optional:
            emap = self.enum_map(fdef.type.ref)
            literal = _scalar_literal(fdef.default)
            return f"{emap}.get({literal}, {literal})" if emap else literal
        return "None"

    def decode_value(
        self, src: _Source, table: TableDef, item: _Item, group: List[str], where: str, type_expr: str
    ) -> str:
        """The expression of one present field's decoded value: ``group``
        holds its inline value(s), ``where`` is its position, ``type_expr``
        a union's type."""
        fdef = item.fdef
        ftype = fdef.type
        base = ftype.base
        if item.kind == "scalar":
            emap = self.enum_map(ftype.ref) if base is not BaseType.UTYPE else None
            var = group[0]
            return f"{emap}.get({var}, {var})" if emap else var
        if item.kind == "struct":
            maker, _count = self.struct_maker(ftype.ref or "")
            return f"{maker}({', '.join(group)})"
        target = f"{where} + {group[0]}"
        if base is BaseType.STRING:
            return f"rt.read_string(buf, {target})"
        if base is BaseType.OBJ:
            return f"{self.decoder(ftype.ref or '')}(buf, {target})"
        if base is BaseType.UNION:
            union = self.schema.unions[ftype.ref or ""]
            dispatch = {
                member.value: self.ns[self.decoder(member.table)]
                for member in union.members
                if member.table is not None
            }
            return f"rt_decode_union({self.const(dispatch, 'UD')}, {type_expr}, buf, {target})"
        if base is BaseType.VECTOR:
            element = ftype.element
            if element.is_scalar:
                if self.wants_bytes(table.name, fdef):
                    return f"rt.read_bytes(buf, {target})"
                info = SCALARS[element]
                dtype = self.const(np.dtype(info.dtype), "D")
                return f"rt.read_scalar_vector(buf, {target}, {dtype}, {info.size})"
            if element is BaseType.STRING:
                return f"rt.read_string_vector(buf, {target})"
            if element is BaseType.OBJ and ftype.ref in self.schema.structs:
                sdef = self.schema.structs[ftype.ref or ""]
                fmt, _ = self.struct_format(sdef, "s")
                maker, _count = self.struct_maker(sdef.name)
                layout = self.const(struct.Struct("<" + fmt), "SL")
                return f"rt.read_struct_vector(buf, {target}, {layout}, {maker})"
            if element is BaseType.OBJ:
                return f"rt.read_table_vector(buf, {target}, {self.decoder(ftype.ref or '')})"
        raise SchemaError(f"{table.name}.{fdef.name}: cannot decode {base.name}")

    def decode_construct(self, src: _Source, table: TableDef, values: Dict[str, str]) -> None:
        cls = self.python_class(table.name)
        args = []
        for name in _init_order(cls):
            if name in values:
                args.append(values[name])
            else:
                fdef = _field_or_none(table, name)
                args.append(self.absent_value(fdef) if fdef is not None else "None")
        src(f"return {self.const(cls, 'C')}({', '.join(args)})")

    def root_decoder(self, name: str, max_size: int, expected: Optional[bytes] = None) -> Callable[[Any], Any]:
        """``decode(payload)``. ``expected``: the bytes before the inline data
        of the buffers this codec writes itself when every field is present
        (for a table of scalars and structs); such a buffer is decoded
        inline, without a lookup."""
        cache = self.const({}, "RC")
        find = self.const(self.root_finder(name), "RF")
        fn = f"decode_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(buf):")
        with src.block():
            src("try:")
            with src.block():
                if max_size < MAX_BUFFER_SIZE:
                    src(f"if len(buf) > {max_size}:")
                    with src.block():
                        src(f"raise DecodeError(f'the payload is {{len(buf)}} bytes, over the limit of {max_size}')")
                if expected is not None:
                    vt = struct.unpack_from("<I", expected)[0] - struct.unpack_from("<i", expected, len(expected) - 4)[0]
                    vl = struct.unpack_from("<H", expected, vt)[0]
                    entries = struct.unpack_from(f"<{(vl - 4) // 2}H", expected, vt + 4)
                    src(f"if buf[:{len(expected)}] == {self.const(expected, 'HDR')}:")
                    with src.block():
                        src(f"pos = {len(expected) - 4}")
                        if not self.specialised_body(src, name, entries):
                            src("pass")
                src("pos = U32(buf, 0)[0]")
                src("key = buf[:pos + 4]")
                src("if type(key) is not bytes:")
                with src.block():
                    src("key = bytes(key)")
                src(f"f = {cache}.get(key)")
                src("if f is None:")
                with src.block():
                    src(f"f = {find}(buf, pos, key, {cache})")
                src("return f(buf, pos)")
            src("except DecodeError:")
            with src.block():
                src("raise")
            src("except (struct_error, ValueError, IndexError, RecursionError, OverflowError) as exc:")
            with src.block():
                src(f"raise DecodeError(f'cannot decode a {name}: {{exc}}') from exc")
        self.run(src, f"root decode {name}")
        return self.ns[fn]  # type: ignore[no-any-return]

    def view_class(self, name: str) -> type:
        """A class of lazy views of a root table ``name`` (see ``Codec.view``)."""
        table = self.schema.tables[name]
        items = self.items(table)
        slots = 1 + max([f.id for f in table.fields], default=-1)
        by_id = {item.fdef.id: item for item in items}
        fn = f"view_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"class {fn}:")
        with src.block():
            src(f"{table.documentation[0] if table.documentation else 'A lazy view of a ' + name + '.'!r}")
            src("__slots__ = ('_buf', '_pos', '_e', '_decode')")
            src("def __init__(self, buf, decode):")
            with src.block():
                src("try:")
                with src.block():
                    src("pos = U32(buf, 0)[0]")
                    src("vt = pos - I32(buf, pos)[0]")
                    src("if vt < 0:")
                    with src.block():
                        src("raise DecodeError('the root vtable is before the buffer')")
                    src("n = (U16(buf, vt)[0] - 4) >> 1")
                    src(f"e = struct_unpack_from(f'<{{n}}H', buf, vt + 4) + {(0,) * slots!r}")
                src("except (struct_error, ValueError) as exc:")
                with src.block():
                    src(f"raise DecodeError(f'cannot view a {name}: {{exc}}') from exc")
                src("self._buf, self._pos, self._e, self._decode = buf, pos, e, decode")
            src("def to_object(self):")
            with src.block():
                src("return self._decode(self._buf)")
            for item in items:
                fdef = item.fdef
                if fdef.type.base is BaseType.UTYPE and not _in_init(self.python_class(name), fdef.name):
                    continue
                src("@property")
                src(f"def {fdef.name}(self):")
                with src.block():
                    src("buf, pos, e = self._buf, self._pos, self._e")
                    src(f"o = e[{fdef.id}]")
                    src("if not o:")
                    with src.block():
                        src(f"return {self.absent_value(fdef)}")
                    if item.kind == "struct":
                        group = [f"r{j}" for j in range(self.struct_scalars(fdef.type.ref or ""))]
                    else:
                        group = ["r"]
                    unpack = self.const(struct.Struct("<" + item.code).unpack_from, "UN")
                    src("try:")
                    with src.block():
                        type_expr = "0"
                        if fdef.type.base is BaseType.UNION:
                            # Inside the try: the type field may lie past the buffer too.
                            type_field = _type_field_of(table, fdef)
                            type_item = by_id[type_field.id]
                            type_unpack = self.const(struct.Struct("<" + type_item.code).unpack_from, "UN")
                            src(f"t = e[{type_field.id}]")
                            src(f"t = {type_unpack}(buf, pos + t)[0] if t else 0")
                            type_expr = "t"
                        target = group[0] + "," if len(group) == 1 else ", ".join(group)
                        src(f"{target} = {unpack}(buf, pos + o)")
                        src(f"return {self.decode_value(src, table, item, group, 'pos + o', type_expr)}")
                    src("except DecodeError:")
                    with src.block():
                        src("raise")
                    src("except (struct_error, ValueError, IndexError, RecursionError, OverflowError) as exc:")
                    with src.block():
                        src(f"raise DecodeError(f'cannot decode {name}.{fdef.name}: {{exc}}') from exc")
            src("def __repr__(self):")
            with src.block():
                src(f"return '<{_short(name)} view>'")
        self.run(src, f"view {name}")
        cls: type = self.ns[fn]
        cls.__name__ = cls.__qualname__ = f"{_short(name)}View"
        return cls

    def root_finder(self, name: str) -> Callable[..., Any]:
        self.decoder(name)
        vtable_cache = self.vtable_caches[name]
        miss = self.misses[name]

        def find(buf: Any, pos: int, key: bytes, cache: Dict[bytes, Any]) -> Any:
            vt = pos - _I32(buf, pos)[0]
            if vt < 0:
                raise DecodeError(f"the vtable of the root table at byte {pos} is before the buffer")
            vl = _U16(buf, vt)[0]
            vkey = bytes(buf[vt : vt + vl])
            fn = vtable_cache.get(vkey)
            if fn is None:
                fn = miss(vkey, vt)
            # Cache by the whole prefix only when it holds the vtable: equal
            # prefixes then mean equal root position, vtable and layout.
            if 4 <= vt and vt + vl <= pos and len(key) == pos + 4 and len(cache) < _ROOT_CACHE_LIMIT:
                if vtable_cache.get(vkey) is fn:
                    cache[key] = fn
            return fn

        return find


class _Plan:
    """The inline layout of a table for one set of present fields."""

    def __init__(self) -> None:
        self.order: List[Tuple[int, int]] = []  # (item index, its slot position rel. to u) low to high
        self.fmt = ""  # the fields after the vtable offset, low to high
        self.vtable = b""
        self.object_rel = 0
        self.minalign = 4


def _plan(items: List[_Item], mask: int, rem: int, slots: int) -> _Plan:
    """Lay out the present fields as ``Builder`` would, starting ``rem`` bytes
    past an alignment boundary (positions relative to the start)."""
    u = rem
    minalign = 1
    built: List[Tuple[int, int, int]] = []  # (item index, pad above it, slot end) in build order
    slot_of: Dict[int, int] = {}
    for n, item in enumerate(items):
        if not mask >> n & 1:
            continue
        if item.kind == "struct":
            pad = -(u + item.size) & (item.align - 1)
        else:
            pad = -u & (item.size - 1)
        u += pad + item.size
        minalign = max(minalign, item.align)
        built.append((n, pad, u))
        slot_of[item.fdef.id] = u
    pad_soffset = -u & 3
    u += pad_soffset + 4
    minalign = max(minalign, 4)
    obj = u
    entries = [obj - slot_of[i] if i in slot_of else 0 for i in range(slots)]
    while entries and entries[-1] == 0:
        entries.pop()
    plan = _Plan()
    plan.vtable = struct.pack(f"<{2 + len(entries)}H", 4 + 2 * len(entries), obj - rem, *entries)
    plan.object_rel = obj - rem
    plan.minalign = minalign
    fmt = f"{pad_soffset}x" if pad_soffset else ""
    for n, pad, end in reversed(built):
        fmt += items[n].code
        if pad:
            fmt += f"{pad}x"
        plan.order.append((n, end - rem))
    plan.fmt = fmt
    return plan


def _interpreted_layout(plan: _Plan, items: List[_Item], flatteners: Dict[int, Any]) -> Callable[..., int]:
    """A layout function for ``plan`` that is not compiled (past the cache limit)."""
    with_vt = struct.Struct(f"<{len(plan.vtable)}si{plan.fmt}").pack
    without_vt = struct.Struct(f"<i{plan.fmt}").pack
    vtable = plan.vtable
    order = plan.order

    def lay(out: rt.Out, u: int, *args: Any) -> int:
        values: List[Any] = []
        for n, rel in order:
            kind = items[n].kind
            if kind == "offset":
                values.append(u + rel - args[n])
            elif kind == "struct":
                values.extend(flatteners[n](args[n]))
            else:
                values.append(args[n])
        obj = u + plan.object_rel
        at = out.vtables.get(vtable)
        if at is None:
            out.parts.append(with_vt(vtable, len(vtable), *values))
            out.used = out.vtables[vtable] = obj + len(vtable)
        else:
            out.parts.append(without_vt(at - obj, *values))
            out.used = obj
        if out.minalign < plan.minalign:
            out.minalign = plan.minalign
        return obj

    return lay


def _message_header(plan: _Plan, ident: bytes) -> bytes:
    """Root offset, identifier, padding, vtable and vtable offset of a buffer
    holding only one table laid out by ``plan`` (built from offset 0)."""
    used = plan.object_rel + len(plan.vtable)
    pad = -(used + 4 + len(ident)) & (plan.minalign - 1)
    used += pad + len(ident)
    return (
        struct.pack("<I", used + 4 - plan.object_rel)
        + ident
        + bytes(pad)
        + plan.vtable
        + struct.pack("<i", len(plan.vtable))
    )


def _union_value_field(items: List[_Item], type_field: FieldDef) -> str:
    for item in items:
        if item.fdef.type.base is BaseType.UNION and item.fdef.type.ref == type_field.type.ref and item.fdef.id == type_field.id + 1:
            return item.fdef.name
    raise SchemaError(f"the union type field {type_field.name} has no value field")


def _type_field_of(table: TableDef, value_field: FieldDef) -> FieldDef:
    for fdef in table.fields:
        if fdef.type.base is BaseType.UTYPE and fdef.id == value_field.id - 1:
            return fdef
    raise SchemaError(f"{table.name}.{value_field.name}: the union has no type field")


def _field_or_none(table: TableDef, name: str) -> Optional[FieldDef]:
    for fdef in table.fields:
        if fdef.name == name:
            return fdef
    return None


def _in_init(cls: Any, name: str) -> bool:
    return name in _init_order(cls)


def _init_order(cls: Any) -> List[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(getattr(cls, "__flatstream_fields__", ()))


def _union_entry(by_value: Dict[int, str], obj: Any, type_attr: str, value: Any, where: str) -> Tuple[int, str]:
    number = getattr(obj, type_attr, None)
    if number is None or int(number) not in by_value:
        raise EncodeError(
            f"{where}: cannot tell which union member a {type(value).__name__} is "
            f"(give an instance of a member table, or set {type_attr})"
        )
    return int(number), by_value[int(number)]


class _FlagMap(dict):  # type: ignore[type-arg]
    """int -> member of a bit-flags enum, combinations made (and kept) on demand."""

    def __init__(self, cls: Any) -> None:
        super().__init__()
        self.cls = cls

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            pass
        try:
            value = self.cls(key)
        except ValueError:
            return default
        if len(self) < 4096:
            self[key] = value
        return value


def _decode_union(dispatch: Dict[int, Any], number: int, buf: Any, pos: int) -> Any:
    decode = dispatch.get(number)
    return None if decode is None else decode(buf, pos)


def _encode_error(name: str, obj: Any, exc: BaseException) -> EncodeError:
    return EncodeError(f"cannot encode {type(obj).__name__} as a {name}: {exc}")


# -- classes for schemas loaded from .fbs / .bfbs --------------------------------------


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


def _make_class(schema: Schema, name: str) -> type:
    """A class with the fields of table or struct ``name`` as attributes."""
    definition = schema.object(name)
    fields = [f for f in definition.fields if not f.deprecated]
    names = [f.name for f in fields]
    defaults = {}
    for fdef in fields:
        if fdef.type.is_scalar and not fdef.optional and fdef.type.base is not BaseType.UTYPE:
            defaults[fdef.name] = fdef.default
        elif fdef.type.base is BaseType.UTYPE:
            defaults[fdef.name] = 0
        else:
            defaults[fdef.name] = None
    params = ", ".join(f"{n}={_scalar_literal(defaults[n])}" for n in names)
    body = "".join(f"    self.{n} = {n}\n" for n in names) or "    pass\n"
    source = f"def __init__(self, {params}):\n{body}" if names else "def __init__(self):\n    pass\n"
    namespace: Dict[str, Any] = {"NAN": math.nan, "INF": math.inf}
    exec(source, namespace)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{_short(name)}({inner})"

    def __eq__(self: Any, other: Any) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_values_equal(getattr(self, n), getattr(other, n)) for n in names)

    attrs = {
        "__slots__": tuple(names),
        "__init__": namespace["__init__"],
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": None,
        "__flatstream_fields__": tuple(names),
        # StreamWriter.write(obj) and typed reading find the codec through this.
        "__flatstream_codec__": None if definition.is_struct else staticmethod(lambda: schema.codec(name)),
        "__doc__": "\n".join(definition.documentation) or f"The {'struct' if definition.is_struct else 'table'} {name}.",
        "__module__": "flatstream.schema.generated",
    }
    return type(_short(name), (), attrs)


def _make_enum(schema: Schema, name: str) -> Any:
    definition = schema.enums[name]
    base: Any = enum.IntFlag if definition.bit_flags else enum.IntEnum
    return base(_short(name), list(definition.values.items()))
