"""Decoded messages as JSON-safe values, and back: what ``flatstream cat``
prints and ``flatstream convert --from jsonl`` reads.

The shape follows ``flatc --json`` where that is simple:

* tables and structs are objects keyed by field name; absent tables,
  strings, vectors and null optional scalars are left out (scalars are
  always written, defaults included, as ``flatc --defaults-json`` does);
* enums are written by name (a value the enum does not name stays a number);
  bit-flag enums as their names joined by spaces (``"A C"``), 0 as ``0``;
* a union is two keys, ``<name>_type`` (the member's name) and ``<name>``
  (the member table);
* vectors are lists, ``[ubyte]``/``bytes`` fields included (lists of numbers);
* floats that JSON cannot hold are the strings ``"nan"``, ``"inf"``, ``"-inf"``
  (``flatc`` writes them unquoted, which is not JSON).

:func:`from_json` reverses :func:`to_json` for one schema: it builds the
objects a codec encodes (``schema.python_type`` classes) and refuses keys the
table does not have, with the path of the offending key.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .model import BaseType, FieldDef, FieldType, Schema, SchemaError, StructDef, TableDef
from .types import UnionValue

__all__ = ["to_json", "from_json"]

JsonValue = Union[None, bool, int, float, str, List[Any], Dict[str, Any]]

_FLOAT_WORDS = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
                "infinity": math.inf, "-infinity": -math.inf}


def to_json(schema: Schema, obj: Any, name: Optional[str] = None) -> Dict[str, Any]:
    """``obj`` (a decoded table of ``schema``; ``name`` the table, the root
    table by default) as a dict that ``json.dumps`` writes as strict JSON."""
    return _writer(schema, schema.object(name or schema.table().name).name)(obj)


def from_json(schema: Schema, data: Dict[str, Any], name: Optional[str] = None) -> Any:
    """An object of table ``name`` (the root table by default) built from
    ``data`` as :func:`to_json` writes it, ready for the table's codec.
    Raises :class:`SchemaError` (a ``ValueError``) naming the key at fault."""
    definition = schema.object(name or schema.table().name)
    return _object_from_json(schema, definition, data, definition.name.rsplit(".", 1)[-1])


# -- to JSON ---------------------------------------------------------------------------
#
# One writer function per table or struct, built on first use and kept on the
# schema: per message only the field loop runs, each field with the
# conversion its type needs chosen once (nothing for ints and strings).

Convert = Optional[Callable[[Any], Any]]


def _writer(schema: Schema, name: str) -> Callable[[Any], Dict[str, Any]]:
    cache: Dict[str, Callable[[Any], Dict[str, Any]]] = schema.__dict__.setdefault("_json_writers", {})
    writer = cache.get(name)
    if writer is None:
        writer = cache[name] = _build_writer(schema, schema.object(name))
    return writer


def _build_writer(schema: Schema, definition: Union[TableDef, StructDef]) -> Callable[[Any], Dict[str, Any]]:
    fields = [f for f in definition.fields if not f.deprecated]
    by_name = {f.name: f for f in fields}
    # (field, conversion, the union value field a *_type field belongs to)
    steps: List[Tuple[str, Convert, Optional[str]]] = []
    for fdef in fields:
        if fdef.type.base is BaseType.UTYPE:
            value_field = fdef.name[: -len("_type")] if fdef.name.endswith("_type") else ""
            if value_field in by_name:
                members = schema.unions[fdef.type.ref or ""].members
                steps.append((fdef.name, _tag_converter({m.value: m.name for m in members}),
                              value_field))
            continue
        steps.append((fdef.name, _field_converter(schema, fdef), None))

    def write(obj: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name, convert, union_value in steps:
            value = getattr(obj, name, None)
            if value is None or (union_value is not None and getattr(obj, union_value, None) is None):
                continue  # absent; a union of NONE writes neither key, as flatc does
            out[name] = value if convert is None else convert(value)
        return out

    return write


def _tag_converter(names: Dict[int, str]) -> Callable[[Any], Any]:
    """A union's type by member name (a number no member has stays a number)."""
    return lambda tag: names.get(int(tag), int(tag))


def _field_converter(schema: Schema, fdef: FieldDef) -> Convert:
    ftype = fdef.type
    base = ftype.base
    if base.is_scalar:
        return _scalar_converter(schema, base, ftype.ref)
    if base is BaseType.STRING:
        return None
    if base is BaseType.OBJ:
        ref = schema.object(ftype.ref or "").name
        return lambda value: _writer(schema, ref)(value)
    if base in (BaseType.VECTOR, BaseType.VECTOR64) and ftype.element in (BaseType.UNION, BaseType.UTYPE):
        # A vector of unions: the types by member name, the values as members.
        one = _field_converter(schema, FieldDef(fdef.name, FieldType(ftype.element, ref=ftype.ref)))
        if ftype.element is BaseType.UTYPE:
            one = _tag_converter({m.value: m.name for m in schema.unions[ftype.ref or ""].members})
        assert one is not None
        return lambda value: [one(v) for v in value]
    if base is BaseType.UNION:
        members = [m.table for m in schema.unions[ftype.ref or ""].members if m.table is not None]
        by_class = {schema.python_type(t): t for t in members}

        def union(value: Any) -> Any:
            if isinstance(value, str):
                return value  # a string member
            table = by_class.get(type(value))
            if table is None:
                raise SchemaError(f"{type(value).__name__} is not a member of union {ftype.ref}")
            return _writer(schema, table)(value)

        return union
    if base in (BaseType.VECTOR, BaseType.VECTOR64, BaseType.ARRAY):
        element = ftype.element
        if element.is_scalar:
            each = _scalar_converter(schema, element, ftype.ref)

            def scalars(value: Any) -> Any:
                if isinstance(value, (bytes, bytearray, memoryview)):
                    items = list(bytes(value))
                else:
                    items = value.tolist() if hasattr(value, "tolist") else list(value)
                return items if each is None else [each(v) for v in items]

            return scalars
        if element is BaseType.STRING:
            return list
        if element is BaseType.OBJ:
            ref = schema.object(ftype.ref or "").name
            return lambda value: [_writer(schema, ref)(v) for v in value]
    raise SchemaError(f"{fdef.name}: cannot write a {base.name} field as JSON")


def _scalar_converter(schema: Schema, base: BaseType, ref: Optional[str]) -> Convert:
    if base is BaseType.BOOL:
        return bool
    if base.is_float:
        return _float_to_json
    if ref is None or ref not in schema.enums:
        return int  # an IntEnum member of a non-enum field would print by name otherwise
    enum_def = schema.enums[ref]
    names = {v: k for k, v in enum_def.values.items()}
    if not enum_def.bit_flags:
        return lambda value: names.get(int(value), int(value))
    flags = [(k, v) for k, v in enum_def.values.items() if v]

    def bit_flags(value: Any) -> Any:
        number = int(value)
        if number == 0:
            return 0
        parts = [k for k, v in flags if number & v == v]
        covered = 0
        for k, v in flags:
            if number & v == v:
                covered |= v
        return " ".join(parts) if covered == number else number

    return bit_flags


def _float_to_json(value: Any) -> Any:
    number = float(value)
    if number != number:
        return "nan"
    if number in (math.inf, -math.inf):
        return "inf" if number > 0 else "-inf"
    return number


# -- from JSON -------------------------------------------------------------------------


def _object_from_json(schema: Schema, definition: Union[TableDef, StructDef], data: Any,
                      where: str) -> Any:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected a JSON object for {definition.name}, got {type(data).__name__}")
    fields = {f.name: f for f in definition.fields if not f.deprecated}
    unknown = [key for key in data if key not in fields]
    if unknown:
        raise SchemaError(f"{where}: {definition.name} has no field {unknown[0]!r}")
    values: Dict[str, Any] = {}
    for key, raw in data.items():
        fdef = fields[key]
        if raw is None:
            continue
        if fdef.type.base is BaseType.UTYPE:
            values[key] = _union_type_from_json(schema, fdef, raw, f"{where}.{key}")
            continue
        if fdef.type.element is BaseType.UTYPE:
            continue  # read with its vector of unions
        if fdef.type.element is BaseType.UNION:
            values[key + "_type"], values[key] = _union_vector_from_json(schema, fields, key, data, where)
            continue
        if fdef.type.base is BaseType.UNION:
            type_key = key + "_type"
            if type_key not in data:
                raise SchemaError(f"{where}.{key}: a union value needs {type_key!r} beside it")
            tag = _union_type_from_json(schema, fields[type_key], data[type_key], f"{where}.{type_key}")
            member = schema.unions[fdef.type.ref or ""].member_for_value(tag)
            if member is None or (member.kind == "table" and member.table is None):
                raise SchemaError(f"{where}.{type_key}: {data[type_key]!r} names no member of the union")
            if member.kind == "string":
                if not isinstance(raw, str):
                    raise SchemaError(f"{where}.{key}: the member {member.name} is a string, not {raw!r}")
                values[key] = raw
            else:
                values[key] = _object_from_json(schema, schema.object(member.table or ""), raw, f"{where}.{key}")
            continue
        values[key] = _value_from_json(schema, fdef, raw, f"{where}.{key}")
    if definition.is_struct:
        missing = [name for name in fields if name not in values]
        if missing:
            raise SchemaError(f"{where}: struct {definition.name} needs {missing[0]!r}")
    return schema.python_type(definition.name)(**values)


def _union_vector_from_json(
    schema: Schema, fields: Dict[str, FieldDef], key: str, data: Dict[str, Any], where: str
) -> Tuple[List[int], List[Any]]:
    """(type numbers, members as UnionValue) of a vector of unions."""
    raw, types = data[key], data.get(key + "_type")
    if not isinstance(raw, list) or not isinstance(types, list) or len(raw) != len(types):
        raise SchemaError(f"{where}.{key}: a vector of unions needs a {key}_type list of the same length")
    union = schema.unions[fields[key].type.ref or ""]
    numbers, members = [], []
    for i, (tag_raw, value) in enumerate(zip(types, raw)):
        here = f"{where}.{key}[{i}]"
        tag = _union_type_from_json(schema, fields[key + "_type"], tag_raw, here)
        member = union.member_for_value(tag)
        if member is None or (member.kind == "table" and member.table is None):
            raise SchemaError(f"{here}: {tag_raw!r} names no member of the union")
        if member.kind == "string":
            if not isinstance(value, str):
                raise SchemaError(f"{here}: the member {member.name} is a string, not {value!r}")
            obj: Any = value
        else:
            obj = _object_from_json(schema, schema.object(member.table or ""), value, here)
        numbers.append(tag)
        members.append(UnionValue(member.name, obj))
    return numbers, members


def _union_type_from_json(schema: Schema, fdef: FieldDef, raw: Any, where: str) -> int:
    union = schema.unions[fdef.type.ref or ""]
    if isinstance(raw, str):
        for member in union.members:
            if member.name == raw or (member.table or "").rsplit(".", 1)[-1] == raw:
                return member.value
        raise SchemaError(f"{where}: {raw!r} is not a member of union {union.name}")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise SchemaError(f"{where}: a union type is a member name or number, not {raw!r}")


def _value_from_json(schema: Schema, fdef: FieldDef, raw: Any, where: str) -> Any:
    ftype = fdef.type
    base = ftype.base
    if base.is_scalar:
        return _scalar_from_json(schema, base, ftype.ref, raw, where)
    if base is BaseType.STRING:
        if not isinstance(raw, str):
            raise SchemaError(f"{where}: expected a string, got {raw!r}")
        return raw
    if base is BaseType.OBJ:
        return _object_from_json(schema, schema.object(ftype.ref or ""), raw, where)
    if base in (BaseType.VECTOR, BaseType.VECTOR64, BaseType.ARRAY):
        if not isinstance(raw, list):
            raise SchemaError(f"{where}: expected a list, got {type(raw).__name__}")
        element = ftype.element
        if element.is_scalar:
            return [_scalar_from_json(schema, element, ftype.ref, v, f"{where}[{i}]")
                    for i, v in enumerate(raw)]
        if element is BaseType.STRING:
            bad = [i for i, v in enumerate(raw) if not isinstance(v, str)]
            if bad:
                raise SchemaError(f"{where}[{bad[0]}]: expected a string, got {raw[bad[0]]!r}")
            return list(raw)
        if element is BaseType.OBJ:
            definition = schema.object(ftype.ref or "")
            return [_object_from_json(schema, definition, v, f"{where}[{i}]") for i, v in enumerate(raw)]
    raise SchemaError(f"{where}: cannot read a {base.name} field from JSON")


def _scalar_from_json(schema: Schema, base: BaseType, ref: Optional[str], raw: Any, where: str) -> Any:
    if base is BaseType.BOOL:
        if isinstance(raw, bool):
            return raw
        if raw in (0, 1):
            return bool(raw)
        raise SchemaError(f"{where}: expected true or false, got {raw!r}")
    if base.is_float:
        if isinstance(raw, str) and raw.lower() in _FLOAT_WORDS:
            return _FLOAT_WORDS[raw.lower()]
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        raise SchemaError(f"{where}: expected a number, got {raw!r}")
    if isinstance(raw, str) and ref is not None and ref in schema.enums:
        enum_def = schema.enums[ref]
        number = 0
        for word in raw.split() if enum_def.bit_flags else [raw]:
            if word not in enum_def.values:
                raise SchemaError(f"{where}: {word!r} is not a value of {enum_def.name}")
            number |= enum_def.values[word]
        return number
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise SchemaError(f"{where}: expected an integer, got {raw!r}")
