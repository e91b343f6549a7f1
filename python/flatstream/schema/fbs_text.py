"""Printing a :class:`~flatstream.schema.model.Schema` as ``.fbs`` text.

The text compiles with ``flatc`` to the same schema (the tests compile it and
compare), so code generated for other languages reads what the codecs write.
Enums and unions come first because ``flatc`` needs an enum declared before a
field uses it; every reference is fully qualified.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

from .model import (
    SCALARS,
    BaseType,
    EnumDef,
    FieldDef,
    FieldType,
    Schema,
    StructDef,
    TableDef,
    UnionDef,
    register_builder,
)

__all__ = ["schema_to_fbs"]

# Attributes flatc knows without an `attribute "name";` declaration.
_BUILTIN_ATTRIBUTES = {
    "id", "deprecated", "required", "key", "shared", "force_align", "bit_flags",
    "nested_flatbuffer", "flexbuffer", "hash", "original_order", "native_inline",
    "native_default", "native_custom_alloc", "native_type", "native_type_pack_name",
    "cpp_type", "cpp_ptr_type", "cpp_ptr_type_get", "cpp_str_type", "cpp_str_flex_ctor",
    "streaming", "idempotent", "private", "offset64", "vector64", "csharp_partial",
}
# Attributes this printer writes from the model itself (not from `attributes`).
_FROM_MODEL = {"id", "deprecated", "required", "key", "force_align", "bit_flags"}


def _split(name: str) -> Tuple[str, str]:
    namespace, _, short = name.rpartition(".")
    return namespace, short


def _doc_lines(doc: Iterable[str], indent: str = "") -> List[str]:
    return [f"{indent}///{(' ' + line) if line else ''}" for line in doc]


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attributes(pairs: List[Tuple[str, Optional[str]]]) -> str:
    if not pairs:
        return ""
    parts = [key if value is None else f"{key}: {value}" for key, value in pairs]
    return " (" + ", ".join(parts) + ")"


def _custom(attributes: Dict[str, str]) -> List[Tuple[str, Optional[str]]]:
    out: List[Tuple[str, Optional[str]]] = []
    for key, value in attributes.items():
        if key in _FROM_MODEL:
            continue
        out.append((key, _quote(value) if value else None))
    return out


def _type_name(ftype: FieldType) -> str:
    base = ftype.base
    if base is BaseType.STRING:
        return "string"
    if base in (BaseType.OBJ, BaseType.UNION, BaseType.UTYPE):
        return ftype.ref or "?"
    if base in (BaseType.VECTOR, BaseType.VECTOR64):
        return "[" + _type_name(FieldType(ftype.element, ref=ftype.ref)) + "]"
    if base is BaseType.ARRAY:
        return f"[{_type_name(FieldType(ftype.element, ref=ftype.ref))}:{ftype.fixed_length}]"
    if ftype.ref is not None:
        return ftype.ref
    return SCALARS[base].fbs


def _number(value: Union[int, float], base: BaseType) -> str:
    if base is BaseType.BOOL:
        return "true" if value else "false"
    if base.is_float:
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return str(int(value))


def _default(fdef: FieldDef, schema: Schema) -> str:
    if fdef.optional:
        return " = null"
    if not fdef.type.is_scalar or fdef.type.base is BaseType.UTYPE:
        return ""
    ref = fdef.type.ref
    if ref is not None and ref in schema.enums:
        enum = schema.enums[ref]
        for name, value in enum.values.items():
            if value == fdef.default:
                return f" = {name}"
        if enum.bit_flags and fdef.default:
            names = [n for n, v in enum.values.items() if v & int(fdef.default)]
            return " = " + _quote(" ".join(names))
    return f" = {_number(fdef.default, fdef.type.base)}"


def _needs_ids(table: TableDef) -> bool:
    expected = 0
    for fdef in table.fields:
        if fdef.type.base is BaseType.UTYPE:
            continue
        if fdef.type.base is BaseType.UNION:
            expected += 1  # the hidden type field comes first
        if fdef.id != expected:
            return True
        expected += 1
    return False


def _table(table: TableDef, schema: Schema) -> List[str]:
    lines = _doc_lines(table.documentation)
    lines.append(f"table {_split(table.name)[1]}{_attributes(_custom(table.attributes))} {{")
    ids = _needs_ids(table)
    for fdef in table.fields:
        if fdef.type.base is BaseType.UTYPE:
            continue
        attrs: List[Tuple[str, Optional[str]]] = []
        if ids:
            attrs.append(("id", str(fdef.id)))
        if fdef.deprecated:
            attrs.append(("deprecated", None))
        if fdef.required:
            attrs.append(("required", None))
        if fdef.key:
            attrs.append(("key", None))
        attrs += _custom(fdef.attributes)
        lines += _doc_lines(fdef.documentation, "  ")
        lines.append(
            f"  {fdef.name}: {_type_name(fdef.type)}{_default(fdef, schema)}{_attributes(attrs)};"
        )
    lines.append("}")
    return lines


def _struct(struct: StructDef, schema: Schema) -> List[str]:
    attrs = _custom(struct.attributes)
    if "force_align" in struct.attributes:
        attrs.insert(0, ("force_align", struct.attributes["force_align"]))
    lines = _doc_lines(struct.documentation)
    lines.append(f"struct {_split(struct.name)[1]}{_attributes(attrs)} {{")
    for fdef in struct.fields:
        lines += _doc_lines(fdef.documentation, "  ")
        default = ""
        if fdef.type.is_scalar and fdef.default:
            default = _default(fdef, schema)
        lines.append(f"  {fdef.name}: {_type_name(fdef.type)}{default}{_attributes(_custom(fdef.attributes))};")
    lines.append("}")
    return lines


def _enum(enum: EnumDef) -> List[str]:
    attrs = _custom(enum.attributes)
    if enum.bit_flags:
        attrs.insert(0, ("bit_flags", None))
    lines = _doc_lines(enum.documentation)
    lines.append(
        f"enum {_split(enum.name)[1]} : {SCALARS[enum.underlying].fbs}{_attributes(attrs)} {{"
    )
    entries = []
    for name, value in enum.values.items():
        shown = value.bit_length() - 1 if enum.bit_flags else value
        entries.append(f"  {name} = {shown}")
    lines.append(",\n".join(entries))
    lines.append("}")
    return lines


def _union(union: UnionDef) -> List[str]:
    lines = _doc_lines(union.documentation)
    lines.append(f"union {_split(union.name)[1]}{_attributes(_custom(union.attributes))} {{")
    entries = []
    for member in union.members:
        if member.kind == "string":
            entries.append(f"  {member.name}: string = {member.value}")
            continue
        if member.table is None:
            continue
        # Always "alias: type": a qualified type alone would name the member "ns_Type".
        entries.append(f"  {member.name}: {member.table} = {member.value}")
    lines.append(",\n".join(entries))
    lines.append("}")
    return lines


def _struct_order(schema: Schema) -> List[StructDef]:
    done: Dict[str, StructDef] = {}

    def visit(struct: StructDef) -> None:
        if struct.name in done:
            return
        for fdef in struct.fields:
            if fdef.type.base is BaseType.OBJ and fdef.type.ref in schema.structs:
                visit(schema.structs[fdef.type.ref])
        done[struct.name] = struct

    for struct in schema.structs.values():
        visit(struct)
    return list(done.values())


def schema_to_fbs(schema: Schema) -> str:
    """``.fbs`` text for ``schema``."""
    out: List[str] = ["// Generated by flatstream (Schema.to_fbs)."]
    custom: Set[str] = set()
    for definition in schema.definitions():
        custom.update(definition.attributes)
        for fdef in getattr(definition, "fields", ()):
            custom.update(fdef.attributes)
    for name in sorted(custom - _BUILTIN_ATTRIBUTES):
        out.append(f"attribute {_quote(name)};")

    current = ""
    blocks: List[Tuple[str, List[str]]] = []
    for enum in schema.enums.values():
        blocks.append((enum.name, _enum(enum)))
    for union in schema.unions.values():
        blocks.append((union.name, _union(union)))
    for struct in _struct_order(schema):
        blocks.append((struct.name, _struct(struct, schema)))
    for table in schema.tables.values():
        blocks.append((table.name, _table(table, schema)))
    for name, lines in blocks:
        namespace = _split(name)[0]
        if namespace != current:
            out.append("")
            out.append(f"namespace {namespace};" if namespace else "namespace ;")
            current = namespace
        out.append("")
        out += lines
    out.append("")
    if schema.root_table is not None:
        out.append(f"root_type {schema.root_table};")
    if schema.file_identifier is not None:
        out.append(f"file_identifier {_quote(schema.file_identifier)};")
    if schema.file_extension is not None:
        out.append(f"file_extension {_quote(schema.file_extension)};")
    return "\n".join(out) + "\n"


register_builder("to_fbs", schema_to_fbs)
