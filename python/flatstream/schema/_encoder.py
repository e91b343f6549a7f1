"""Encoder generation: per table a function writing the children, then one
``struct.pack`` of the inline part whose layout is compiled per set of present
fields, as the official ``flatbuffers.Builder`` lays it out."""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

from ._compiler_base import _CompilerBase
from ._gen import (
    Item as _Item,
)
from ._gen import (
    Source as _Source,
)
from ._gen import (
    interpreted_layout as _interpreted_layout,
)
from ._gen import (
    message_header as _message_header,
)
from ._gen import (
    plan as _plan,
)
from ._gen import (
    union_value_field as _union_value_field,
)
from . import _runtime as rt
from .model import (
    SCALARS,
    BaseType,
    FieldDef,
    SchemaError,
    TableDef,
)
from .pyclasses import scalar_literal as _scalar_literal

# Layouts compiled per table (one per combination of present fields and alignment).
_LAYOUT_CACHE_LIMIT = 256


class _Encoder(_CompilerBase):
    """The encoding half of the codec compiler."""

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
            if fdef.type.base is BaseType.VECTOR and fdef.type.element is BaseType.UTYPE:
                self.encode_type_vector(src, table, items, n, where)
                args.append(f"o{n}")
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

    def encode_type_vector(self, src: _Source, table: TableDef, items: List[_Item], n: int, where: str) -> None:
        """The type vector of a vector of unions: present when the values
        are; each value's member resolved here (by class, a
        :class:`UnionValue`, or ``<field>_type[i]``) and kept for the values."""
        fdef = items[n].fdef
        value = next(
            (i.fdef for i in items if i.fdef.id == fdef.id + 1 and i.fdef.type.element is BaseType.UNION), None
        )
        if value is None:
            raise SchemaError(f"{where}: a vector of union types without its union vector")
        classes, values, names, shared = self.union_tables(fdef.type.ref or "")
        src(f"v{n} = obj.{value.name}")
        src(f"o{n} = 0")
        src(f"if v{n} is not None:")
        with src.block():
            src(
                f"ut, ue_{value.name}, ux_{value.name} = rt.union_vector(rt_union_entry, {classes}, "
                f"{values}, {names}, {shared}, getattr(obj, {fdef.name!r}, None), v{n}, {where[:-5]!r})"
            )
            src(f"o{n} = rt.put_scalar_vector(out, ut, 'B', 'u1', 1, 0, 255)")

    def encode_child(self, src: _Source, fdef: FieldDef, var: str, out_var: str, where: str) -> None:
        ftype = fdef.type
        base = ftype.base
        if base is BaseType.STRING:
            src(f"{out_var} = rt.put_string(out, {var})")
        elif base is BaseType.OBJ:
            src(f"{out_var} = {self.encoder(ftype.ref or '')}(out, {var})")
        elif base is BaseType.UNION:
            classes, values, names, shared = self.union_tables(ftype.ref or "")
            src(f"entry = {classes}.get(type({var}))")
            src("if entry is None:")
            with src.block():
                src(
                    f"entry, {var} = rt_union_entry({values}, {names}, {shared}, obj, "
                    f"{fdef.name + '_type'!r}, {var}, {where!r})"
                )
            src(f"t_{fdef.name} = entry[0]")
            # By name: a member's encoder may still be being compiled.
            src(f"{out_var} = NS[entry[1]](out, {var})")
        elif base is BaseType.VECTOR and ftype.element is BaseType.UNION:
            # The members were resolved with the type vector (written first,
            # as it comes first by id).
            src(
                f"{out_var} = rt.put_offset_vector(out, [None if e is None else NS[e](out, x) "
                f"for e, x in zip(ue_{fdef.name}, ux_{fdef.name})], True)"
            )
        elif base is BaseType.VECTOR and ftype.element is BaseType.UTYPE:
            raise SchemaError(f"{where}: a vector of union types without its union vector")
        elif base is BaseType.VECTOR:
            self.encode_vector(src, fdef, var, out_var, where)
        else:
            raise SchemaError(f"{where}: {base.name} fields are not supported")

    def union_tables(self, ref: str) -> Tuple[str, str, str, str]:
        """Names of the lookups that say which member a union value is: by
        class (unaliased members), encoder by number, number by name, and
        the numbers of each aliased class."""
        cached = self.__dict__.setdefault("_union_tables", {}).get(ref)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        union = self.schema.unions[ref]
        by_class: Dict[Any, Tuple[int, str]] = {}
        by_value: Dict[int, str] = {}
        by_name: Dict[str, int] = {}
        members_of: Dict[Any, List[int]] = {}
        for member in union.members:
            if member.kind == "table" and member.table is None:
                continue
            enc = self.member_encoder(member.kind, member.table)
            by_value[member.value] = enc
            by_name[member.name] = member.value
            cls = str if member.kind == "string" else self.python_class(member.table or "")
            members_of.setdefault(cls, []).append(member.value)
            by_class.setdefault(cls, (member.value, enc))
        # A class several members hold (aliased members) says nothing by
        # itself: those values take the slow path, which reads `<f>_type`.
        aliased = {cls: tuple(v) for cls, v in members_of.items() if len(v) > 1}
        for cls in aliased:
            del by_class[cls]
        classes = self.const(by_class, "UC")
        values = self.const(by_value, "UV")
        names = self.const(by_name, "UN")
        shared = self.const(aliased, "UA")
        found = self.__dict__["_union_tables"][ref] = (classes, values, names, shared)
        return found

    def encode_vector(self, src: _Source, fdef: FieldDef, var: str, out_var: str, where: str) -> None:
        ftype = fdef.type
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

    def member_encoder(self, kind: str, name: Optional[str]) -> str:
        """The name (in the namespace) of ``enc(out, value) -> offset`` for a
        union member: a table's encoder, a struct written out of line (as
        the official builder's ``CreateX`` does outside a table), a string."""
        if kind == "table":
            return self.encoder(name or "")
        if kind == "string":
            self.ns["rt_put_string"] = rt.put_string
            return "rt_put_string"
        sdef = self.schema.structs[name or ""]
        fn = f"uenc_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(out, s):")
        with src.block():
            src(f"return rt.put_struct(out, {self.struct_packer(sdef.name)}(s), {sdef.minalign})")
        self.run(src, f"union struct {sdef.name}")
        return fn

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

