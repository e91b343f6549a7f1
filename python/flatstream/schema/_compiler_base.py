"""The codec compiler's common part: generated-code namespace, Python types,
struct formats and the inline items of a table. :mod:`._encoder` and
:mod:`._decoder` build on it; :mod:`._compiler` joins them."""

from __future__ import annotations

import dataclasses
import enum
import itertools
import linecache
import math
import struct
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from . import _runtime as rt
from ._gen import (
    I32 as _I32,
)
from ._gen import (
    U16 as _U16,
)
from ._gen import (
    U32 as _U32,
)
from ._gen import (
    FlagMap as _FlagMap,
)
from ._gen import (
    Item as _Item,
)
from ._gen import (
    Source as _Source,
)
from ._gen import (
    decode_union as _decode_union,
)
from ._gen import (
    encode_error as _encode_error,
)
from ._gen import (
    union_entry as _union_entry,
)
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
from .pyclasses import class_hints

_codec_serial = itertools.count()


class _CompilerBase:
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
        self.struct_flatteners: Dict[str, str] = {}
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
                inner_fmt, star = self.array_format(sdef, fdef, sub)
                fmt += inner_fmt
                exprs.append(star)
            else:
                fmt += SCALARS[fdef.type.base].code
                exprs.append(sub)
            if fdef.padding:
                fmt += f"{fdef.padding}x"
        return fmt, exprs

    def array_format(self, sdef: StructDef, fdef: FieldDef, expr: str) -> Tuple[str, str]:
        """A fixed-length array field of a struct: its ``struct`` format and
        the starred expression of its scalars (the sequence's length checked,
        an array of structs flattened element by element)."""
        ftype = fdef.type
        where = f"{sdef.name}.{fdef.name}"
        length = ftype.fixed_length
        if length <= 0:
            raise SchemaError(f"{where}: a fixed-length array needs a length of at least 1")
        if ftype.element is BaseType.OBJ:
            inner = self.schema.structs.get(ftype.ref or "")
            if inner is None:
                raise SchemaError(f"{where}: arrays hold scalars, enums or structs, not {ftype.ref}")
            inner_fmt, _ = self.struct_format(inner, "s")
            flat = self.const(self.ns[self.struct_flattener(inner.name)], "SF")
            return inner_fmt * length, f"*rt.struct_array({expr}, {length}, {flat}, {where!r})"
        if not ftype.element.is_scalar:
            raise SchemaError(f"{where}: arrays hold scalars, enums or structs, not {ftype.element.name}")
        code = SCALARS[ftype.element].code
        return f"{length}{code}", f"*rt.fixed_array({expr}, {length}, {where!r})"

    def struct_count(self, name: str) -> int:
        """How many scalars struct ``name`` holds, through nested structs and arrays."""
        count = 0
        for fdef in self.schema.structs[name].fields:
            ftype = fdef.type
            if ftype.base is BaseType.OBJ:
                count += self.struct_count(ftype.ref or "")
            elif ftype.base is BaseType.ARRAY and ftype.element is BaseType.OBJ:
                count += ftype.fixed_length * self.struct_count(ftype.ref or "")
            elif ftype.base is BaseType.ARRAY:
                count += ftype.fixed_length
            else:
                count += 1
        return count

    def struct_flattener(self, name: str) -> str:
        """A function struct object -> the tuple of its scalars, in layout order."""
        fn = self.struct_flatteners.get(name)
        if fn is not None:
            return fn
        fn = self.struct_flatteners[name] = f"sflat_{self.counter}"
        self.counter += 1
        _fmt, exprs = self.struct_format(self.schema.structs[name], "s")
        src = _Source()
        src(f"def {fn}(s):")
        with src.block():
            src(f"return ({', '.join(exprs)},)")
        self.run(src, f"flatten {name}")
        return fn

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
        if cached is not None:
            return cached, self.struct_count(name)
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
            if fdef.type.base is BaseType.ARRAY:
                args.append(self.array_value(fdef, params))
                continue
            var = f"a{len(params)}"
            params.append(var)
            emap = self.enum_map(fdef.type.ref)
            args.append(f"{emap}.get({var}, {var})" if emap else var)
        return f"{self.const(self.python_class(name), 'C')}({', '.join(args)})"

    def array_value(self, fdef: FieldDef, params: List[str]) -> str:
        """The list expression of a fixed-length array field, from fresh names
        appended to ``params`` (decoded as a list, as vectors of structs are)."""
        ftype = fdef.type
        elements = []
        for _ in range(ftype.fixed_length):
            if ftype.element is BaseType.OBJ:
                elements.append(self.struct_value(ftype.ref or "", params))
                continue
            var = f"a{len(params)}"
            params.append(var)
            emap = self.enum_map(ftype.ref)
            elements.append(f"{emap}.get({var}, {var})" if emap else var)
        return f"[{', '.join(elements)}]"

    def struct_dtype(self, name: str) -> Any:
        sdef = self.schema.structs[name]
        names, formats, offsets = [], [], []
        for fdef in sdef.fields:
            names.append(fdef.name)
            offsets.append(fdef.offset)
            if fdef.type.base is BaseType.OBJ:
                formats.append(self.struct_dtype(fdef.type.ref or ""))
            elif fdef.type.base is BaseType.ARRAY:
                element = (
                    self.struct_dtype(fdef.type.ref or "")
                    if fdef.type.element is BaseType.OBJ
                    else np.dtype(SCALARS[fdef.type.element].dtype)
                )
                formats.append((element, (fdef.type.fixed_length,)))
            else:
                formats.append(SCALARS[fdef.type.base].dtype)
        return np.dtype(
            {"names": names, "formats": formats, "offsets": offsets, "itemsize": sdef.bytesize}
        )

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

