"""Decoder generation: unpackers specialised per vtable (cached per table, up
to a limit, then a generic reader), the root finder and lazy view classes."""

from __future__ import annotations

import functools
import struct
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ._compiler_base import _CompilerBase
from . import _runtime as rt
from ._gen import MAX_BUFFER_SIZE
from .pyclasses import short_name
from ._gen import (
    I32 as _I32,
)
from ._gen import (
    U16 as _U16,
)
from ._gen import (
    Item as _Item,
)
from ._gen import (
    Source as _Source,
)
from ._gen import (
    field_or_none as _field_or_none,
)
from ._gen import (
    type_field_of as _type_field_of,
)
from .errors import DecodeError
from .model import (
    SCALARS,
    BaseType,
    FieldDef,
    SchemaError,
    TableDef,
)
from .pyclasses import in_init as _in_init
from .pyclasses import init_order as _init_order
from .pyclasses import scalar_literal as _scalar_literal

# Specialised unpackers compiled per table before falling back to the generic reader.
_VTABLE_CACHE_LIMIT = 64
_ROOT_CACHE_LIMIT = 256


def _type_vector_of(table: TableDef, value_field: FieldDef) -> FieldDef:
    """The type vector (``[UTYPE]`` at ``id - 1``) of a vector of unions."""
    for fdef in table.fields:
        if fdef.id == value_field.id - 1 and fdef.type.element is BaseType.UTYPE:
            return fdef
    raise SchemaError(f"{table.name}.{value_field.name}: the vector of unions has no type vector")


class _Decoder(_CompilerBase):
    """The decoding half of the codec compiler."""

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
            elif fdef.type.element is BaseType.UNION:
                type_expr = values.get(_type_vector_of(table, fdef).name, "None")
            where = f"pos + {entries[fdef.id]}"
            values[fdef.name] = self.decode_value(src, table, item, raw[fdef.name], where, type_expr)
        self.decode_construct(src, table, values)
        return True

    def struct_scalars(self, name: str) -> int:
        return self.struct_count(name)

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
                elif fdef.type.element is BaseType.UNION:
                    type_expr = values.get(_type_vector_of(table, fdef).name, "None")
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
                member.value: self.member_decoder(member.kind, member.table)
                for member in union.members
                if member.kind != "table" or member.table is not None
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
            if element is BaseType.UNION:
                union = self.schema.unions[ftype.ref or ""]
                dispatch = {
                    member.value: self.member_decoder(member.kind, member.table)
                    for member in union.members
                    if member.kind != "table" or member.table is not None
                }
                return f"rt.read_union_vector(buf, {target}, {self.const(dispatch, 'UD')}, {type_expr})"
            if element is BaseType.OBJ and ftype.ref in self.schema.structs:
                sdef = self.schema.structs[ftype.ref or ""]
                fmt, _ = self.struct_format(sdef, "s")
                maker, _count = self.struct_maker(sdef.name)
                layout = self.const(struct.Struct("<" + fmt), "SL")
                return f"rt.read_struct_vector(buf, {target}, {layout}, {maker})"
            if element is BaseType.OBJ:
                return f"rt.read_table_vector(buf, {target}, {self.decoder(ftype.ref or '')})"
        raise SchemaError(f"{table.name}.{fdef.name}: cannot decode {base.name}")

    def member_decoder(self, kind: str, name: Optional[str]) -> Any:
        """``dec(buf, pos) -> value`` of a union member: a table's decoder, a
        struct stored out of line, a string."""
        if kind == "table":
            return self.ns[self.decoder(name or "")]
        if kind == "string":
            return rt.read_string
        sdef = self.schema.structs[name or ""]
        fmt, _ = self.struct_format(sdef, "s")
        maker, _count = self.struct_maker(sdef.name)
        return functools.partial(rt.read_struct, struct.Struct("<" + fmt), self.ns[maker])

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

    def root_decoder(
        self,
        name: str,
        max_size: int,
        expected: Optional[bytes] = None,
        verify: Optional[Callable[[Any], None]] = None,
    ) -> Callable[..., Any]:
        """``decode(payload, verify=False)``. ``expected``: the bytes before
        the inline data of the buffers this codec writes itself when every
        field is present (for a table of scalars and structs); such a buffer
        is decoded inline, without a lookup. ``verify``: what
        ``decode(payload, verify=True)`` runs first (its error propagates)."""
        cache = self.const({}, "RC")
        find = self.const(self.root_finder(name), "RF")
        fn = f"decode_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(buf, verify=False):")
        with src.block():
            src("if verify:")
            with src.block():
                if verify is None:
                    src("raise ValueError('this codec has no verifier to run')")
                else:
                    src(f"{self.const(verify, 'VERIFY')}(buf)")
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
                        elif fdef.type.element is BaseType.UNION:
                            type_field = _type_vector_of(table, fdef)
                            src(f"t = e[{type_field.id}] if {type_field.id} < len(e) else 0")
                            src(f"t = rt.read_scalar_vector(buf, pos + t + U32(buf, pos + t)[0], {self.const(np.dtype('u1'), 'D')}, 1) if t else None")
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
                src(f"return '<{short_name(name)} view>'")
        self.run(src, f"view {name}")
        cls: type = self.ns[fn]
        cls.__name__ = cls.__qualname__ = f"{short_name(name)}View"
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

