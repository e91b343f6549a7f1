"""FlatBuffers as JSON text, both ways, as ``flatc`` writes and reads it.

:func:`to_json` prints a buffer as ``flatc --json --strict-json`` does: the
fields present in the buffer (absent ones omitted, even when the schema has
a default for them; ``defaults=True`` prints absent scalars with their
defaults, as ``--defaults-json`` does), in id order; enums by name
(``"Blue"``, bit flags as ``"Read Write"``) when the value has one, else as
a number; a union as ``"<field>_type": "Member"`` then ``"<field>": {...}``;
structs as objects; a ``nested_flatbuffer`` field as the nested table's
object, a ``flexbuffer`` field as its JSON value; strings with non-ASCII
characters as ``\\uXXXX`` escapes; floats in fixed notation with 6 decimals
(``float``) or 12 (``double``), trailing zeros cut, ``nan``/``-nan``/``inf``
bare (not JSON, but what flatc writes). ``exact_floats=True`` prints floats as the
shortest text that reads back to the same value instead. The layout (two
spaces per level, one value per line) is flatc's too.

:func:`from_json` reads such text (strict JSON, plus flatc's bare ``nan``
and ``inf``) into an object of the codec's Python class, which the codec
encodes: enum names or numbers, ``<field>_type`` by name or number, nested
flatbuffers as objects or byte lists, flexbuffers as any JSON value (an array too: it is the
flexbuffer's content, not its bytes).
Unknown field names are refused, as flatc refuses them.

The printer walks the buffer itself (a decoded object no longer says which
fields were present); the codec verifies the buffer first by default.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any, Dict, List, Optional

from .errors import DecodeError, EncodeError
from .model import SCALARS, BaseType, FieldDef, FieldType, Schema, SchemaError, TableDef
from .pyclasses import init_order
from .types import UnionValue

__all__ = ["to_json", "from_json"]

_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U16 = struct.Struct("<H").unpack_from

# The decimals flatc's JSON printer gives a float and a double.
_DECIMALS = {BaseType.FLOAT: 6, BaseType.DOUBLE: 12}

_NAMED_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
_NOT_PRINTABLE = re.compile(r'[^\x20\x21\x23-\x5b\x5d-\x7e]')


def _escape_char(match: "re.Match[str]") -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    base = code - 0x10000
    return f"\\u{0xD800 + (base >> 10):04X}\\u{0xDC00 + (base & 0x3FF):04X}"


def json_string(text: str) -> str:
    """``text`` as flatc quotes it: printable ASCII as is, the rest escaped."""
    return '"' + _NOT_PRINTABLE.sub(_escape_char, text) + '"'


def _float_text(value: float, base: BaseType, exact: bool) -> str:
    if math.isnan(value):
        return "-nan" if math.copysign(1.0, value) < 0 else "nan"  # printf's spelling
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if exact:
        if base is BaseType.FLOAT:
            import numpy as np

            # numpy's shortest text that reads back to the same float32.
            return str(np.float32(value))
        return repr(value)
    text = f"{value:.{_DECIMALS[base]}f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


# -- printing ---------------------------------------------------------------------


def _block(open_: str, close: str, items: List[str], indent: int) -> str:
    """flatc's layout: one item per line, two spaces deeper than ``indent``
    (an empty vector keeps its blank line, an empty table has none)."""
    inner = " " * (indent + 2)
    body = ",".join("\n" + inner + item for item in items)
    if not items and open_ == "[":
        body = "\n"
    return open_ + body + "\n" + " " * indent + close


class _Printer:
    def __init__(self, schema: Schema, defaults: bool, exact: bool) -> None:
        self.schema = schema
        self.defaults = defaults
        self.exact = exact

    # scalars

    def scalar(self, value: Any, ftype: FieldType, base: BaseType) -> str:
        if base is BaseType.BOOL:
            return "true" if value else "false"
        if base.is_float:
            return _float_text(value, base, self.exact)
        ref = ftype.ref
        if base is BaseType.UTYPE and ref in self.schema.unions:
            member = self.schema.unions[ref].member_for_value(value)
            return json_string(member.name) if member is not None else str(value)
        if ref is not None and ref in self.schema.enums:
            name = self.enum_name(ref, value)
            if name is not None:
                return json_string(name)
        return str(value)

    def enum_name(self, ref: str, value: int) -> Optional[str]:
        enum = self.schema.enums[ref]
        for name, number in enum.values.items():
            if number == value:
                return name
        if enum.bit_flags and value:
            names = [name for name, number in enum.values.items() if number and value & number == number]
            covered = 0
            for name in names:
                covered |= enum.values[name]
            if covered == value:
                return " ".join(names)
        return None

    def default(self, fdef: FieldDef) -> str:
        if fdef.optional or fdef.default is None:
            return "null"
        return self.scalar(fdef.default, fdef.type, fdef.type.base)

    # objects

    def table(self, name: str, buf: Any, pos: int, indent: int) -> str:
        table = self.schema.tables[name]
        vt = pos - _I32(buf, pos)[0]
        vlen = _U16(buf, vt)[0]
        present: Dict[int, int] = {}
        items = []
        for fdef in table.fields:
            slot = 4 + 2 * fdef.id
            offset = _U16(buf, vt + slot)[0] if slot + 2 <= vlen else 0
            if offset:
                present[fdef.id] = pos + offset
            if fdef.deprecated:
                continue
            if not offset:
                if self.defaults and fdef.type.is_scalar:
                    items.append(f"{json_string(fdef.name)}: {self.default(fdef)}")
                continue
            text = self.field(table, fdef, buf, pos + offset, indent + 2, present)
            if text is not None:
                items.append(f"{json_string(fdef.name)}: {text}")
        return _block("{", "}", items, indent)

    def struct(self, name: str, buf: Any, pos: int, indent: int) -> str:
        sdef = self.schema.structs[name]
        items = []
        for fdef in sdef.fields:
            at = pos + fdef.offset
            ftype = fdef.type
            if ftype.base is BaseType.OBJ:
                text = self.struct(ftype.ref or "", buf, at, indent + 2)
            elif ftype.base is BaseType.ARRAY:
                text = self.array(ftype, buf, at, indent + 2)
            else:
                value = struct.unpack_from("<" + SCALARS[ftype.base].code, buf, at)[0]
                text = self.scalar(value, ftype, ftype.base)
            items.append(f"{json_string(fdef.name)}: {text}")
        return _block("{", "}", items, indent)

    def array(self, ftype: FieldType, buf: Any, pos: int, indent: int) -> str:
        """A struct's fixed-length array."""
        element = ftype.element
        if element is BaseType.OBJ:
            size = self.schema.structs[ftype.ref or ""].bytesize
            items = [self.struct(ftype.ref or "", buf, pos + i * size, indent + 2) for i in range(ftype.fixed_length)]
        else:
            info = SCALARS[element]
            values = struct.unpack_from(f"<{ftype.fixed_length}{info.code}", buf, pos)
            items = [self.scalar(v, ftype, element) for v in values]
        return _block("[", "]", items, indent)

    def field(
        self, table: TableDef, fdef: FieldDef, buf: Any, at: int, indent: int, present: Dict[int, int]
    ) -> Optional[str]:
        ftype = fdef.type
        base = ftype.base
        if base.is_scalar:
            return self.scalar(struct.unpack_from("<" + SCALARS[base].code, buf, at)[0], ftype, base)
        if base is BaseType.OBJ and ftype.ref in self.schema.structs:
            return self.struct(ftype.ref or "", buf, at, indent)
        target = at + _U32(buf, at)[0]
        if base is BaseType.STRING:
            return json_string(_read_string(buf, target))
        if base is BaseType.OBJ:
            return self.table(ftype.ref or "", buf, target, indent)
        if base is BaseType.UNION:
            type_at = present.get(fdef.id - 1)
            number = buf[type_at] if type_at is not None else 0
            member = self.schema.unions[ftype.ref or ""].member_for_value(number)
            if member is None or (member.kind == "table" and member.table is None):
                return None  # NONE, or a member this schema does not know: nothing to print
            return self.member(member, buf, target, indent)
        if base is BaseType.VECTOR and ftype.element is BaseType.UNION:
            type_at = present.get(fdef.id - 1)
            if type_at is None:
                raise DecodeError(f"{table.name}.{fdef.name}: a vector of unions without its type vector")
            types_at = type_at + _U32(buf, type_at)[0]
            count = _U32(buf, target)[0]
            if _U32(buf, types_at)[0] != count:
                raise DecodeError(f"{table.name}.{fdef.name}: the union and type vectors differ in length")
            union = self.schema.unions[ftype.ref or ""]
            items = []
            for i, p in enumerate(_slots(target + 4, count)):
                element = union.member_for_value(buf[types_at + 4 + i])
                if element is None or (element.kind == "table" and element.table is None):
                    items.append("null")
                else:
                    items.append(self.member(element, buf, p + _U32(buf, p)[0], indent + 2))
            return _block("[", "]", items, indent)
        if base is BaseType.VECTOR:
            return self.vector(table, fdef, buf, target, indent)
        raise SchemaError(f"{table.name}.{fdef.name}: {base.name} fields cannot be printed")

    def member(self, member: Any, buf: Any, pos: int, indent: int) -> str:
        """A union member's value (a table, a struct out of line, a string) at ``pos``."""
        if member.kind == "string":
            return json_string(_read_string(buf, pos))
        if member.kind == "struct":
            return self.struct(member.table or "", buf, pos, indent)
        return self.table(member.table or "", buf, pos, indent)

    def vector(self, table: TableDef, fdef: FieldDef, buf: Any, pos: int, indent: int) -> str:
        ftype = fdef.type
        element = ftype.element
        count = _U32(buf, pos)[0]
        start = pos + 4
        if element.is_scalar:
            info = SCALARS[element]
            if start + count * info.size > len(buf):
                raise DecodeError(f"a vector of {count} runs past the end of the buffer")
            nested = self.schema.nested_root(table, fdef)
            if nested is not None:
                inner = memoryview(buf)[start : start + count]
                return self.table(nested, inner, _U32(inner, 0)[0], indent)
            if "flexbuffer" in fdef.attributes:
                flex = _flex_text(bytes(buf[start : start + count]))
                if flex is not None:
                    return flex
            values = struct.unpack_from(f"<{count}{info.code}", buf, start)
            items = [self.scalar(v, ftype, element) for v in values]
        elif element is BaseType.STRING:
            items = [json_string(_read_string(buf, p + _U32(buf, p)[0])) for p in _slots(start, count)]
        elif element is BaseType.OBJ and ftype.ref in self.schema.structs:
            size = self.schema.structs[ftype.ref or ""].bytesize
            items = [self.struct(ftype.ref or "", buf, start + i * size, indent + 2) for i in range(count)]
        elif element is BaseType.OBJ:
            items = [self.table(ftype.ref or "", buf, p + _U32(buf, p)[0], indent + 2) for p in _slots(start, count)]
        else:
            raise SchemaError(f"{table.name}.{fdef.name}: vectors of {element.name} cannot be printed")
        return _block("[", "]", items, indent)


def _slots(start: int, count: int) -> range:
    return range(start, start + 4 * count, 4)


def _read_string(buf: Any, pos: int) -> str:
    length = _U32(buf, pos)[0]
    if pos + 4 + length > len(buf):
        raise DecodeError("a string runs past the end of the buffer")
    try:
        return str(buf[pos + 4 : pos + 4 + length], "utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"a string is not UTF-8 ({exc.reason}): flatc refuses it too") from None


def _flex_text(data: bytes) -> Optional[str]:
    """A flexbuffer's value as JSON (flatc's one-line layout), or None if
    ``data`` is not a flexbuffer."""
    from flatbuffers import flexbuffers

    try:
        value = flexbuffers.Loads(data)
    except Exception:  # the runtime's reader raises anything on bad bytes
        return None
    return _flex_value(value)


def _flex_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value, BaseType.DOUBLE, False)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, (bytes, bytearray)):
        return "[ " + ", ".join(str(b) for b in value) + " ]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json_string(str(k))}: {_flex_value(v)}" for k, v in value.items()) + " }"
    return "[ " + ", ".join(_flex_value(v) for v in value) + " ]"


def to_json(
    schema: Schema, table: str, payload: Any, *, defaults: bool = False, exact_floats: bool = False
) -> str:
    """The JSON text flatc prints for ``payload``, a buffer whose root is
    ``table`` (a full name). Does not verify: :meth:`Codec.to_json` does."""
    printer = _Printer(schema, defaults, exact_floats)
    try:
        return printer.table(table, payload, _U32(payload, 0)[0], 0) + "\n"
    except (struct.error, IndexError, ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(f"cannot print a {table}: {exc}") from None


# -- reading ----------------------------------------------------------------------

# A JSON string (kept as is) or one of flatc's bare non-finite numbers.
_NON_FINITE = re.compile(r'"(?:[^"\\]|\\.)*"|(-?)\b(nan|inf|infinity)\b', re.IGNORECASE)


def _finite_spelling(match: "re.Match[str]") -> str:
    if match.group(2) is None:
        return match.group()
    if match.group(2).lower() == "nan":
        return "NaN"  # -nan too: flatc -b reads it as a NaN without its sign
    return match.group(1) + "Infinity"


class _Reader:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def table(self, name: str, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise EncodeError(f"{where}: a {name} is a JSON object, not {type(data).__name__}")
        table = self.schema.tables[name]
        cls = self.schema.python_type(name)
        accepted = set(init_order(cls))
        known = {f.name: f for f in table.fields}
        for key in data:
            if key not in known:
                raise EncodeError(f"{where}: {name} has no field {key!r}")
        kwargs: Dict[str, Any] = {}
        for fdef in table.fields:
            if fdef.name not in data or fdef.deprecated or BaseType.UTYPE in (fdef.type.base, fdef.type.element):
                continue
            value = data[fdef.name]
            here = f"{where}.{fdef.name}"
            if fdef.type.base is BaseType.UNION:
                type_name = f"{fdef.name}_type"
                if value is None:
                    kwargs[fdef.name] = None
                    continue
                union = self.schema.unions[fdef.type.ref or ""]
                given = data.get(type_name)
                member = next(
                    (m for m in union.members if given in (m.name, m.value) and not isinstance(given, bool)),
                    None,
                )
                if member is None or (member.kind == "table" and member.table is None):
                    raise EncodeError(f"{here}: {type_name} {given!r} is not a member of {union.name}")
                obj = self.member(member, value, here)
                if type_name in accepted:
                    kwargs[type_name] = member.value
                    kwargs[fdef.name] = obj
                else:
                    kwargs[fdef.name] = UnionValue(member.name, obj)
                continue
            if fdef.type.element is BaseType.UNION:
                kwargs[fdef.name] = self.union_vector(fdef, value, data.get(f"{fdef.name}_type"), here)
                continue
            kwargs[fdef.name] = self.value(table, fdef, fdef.type, value, here)
        return cls(**{k: v for k, v in kwargs.items() if k in accepted})

    def member(self, member: Any, value: Any, where: str) -> Any:
        """The object of a union member's JSON value (a table, struct or string)."""
        if member.kind == "string":
            if not isinstance(value, str):
                raise EncodeError(f"{where}: the member {member.name} is a string, not {value!r}")
            return value
        if member.kind == "struct":
            return self.struct(member.table or "", value, where)
        return self.table(member.table or "", value, where)

    def union_vector(self, fdef: FieldDef, values: Any, types: Any, where: str) -> Any:
        """A vector of unions from its values and ``<name>_type`` list, each
        element a :class:`UnionValue` naming its member."""
        if values is None:
            return None
        if not isinstance(values, list) or not isinstance(types, list) or len(types) != len(values):
            raise EncodeError(f"{where}: a vector of unions needs a {fdef.name}_type list of the same length")
        union = self.schema.unions[fdef.type.ref or ""]
        out = []
        for i, (given, value) in enumerate(zip(types, values)):
            member = next(
                (m for m in union.members if given in (m.name, m.value) and not isinstance(given, bool)), None
            )
            if member is None or (member.kind == "table" and member.table is None):
                raise EncodeError(f"{where}[{i}]: {given!r} is not a member of {union.name}")
            out.append(UnionValue(member.name, self.member(member, value, f"{where}[{i}]")))
        return out

    def struct(self, name: str, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise EncodeError(f"{where}: a {name} is a JSON object, not {type(data).__name__}")
        sdef = self.schema.structs[name]
        known = {f.name: f for f in sdef.fields}
        for key in data:
            if key not in known:
                raise EncodeError(f"{where}: {name} has no field {key!r}")
        kwargs = {}
        for fdef in sdef.fields:
            if fdef.name in data:
                kwargs[fdef.name] = self.value(None, fdef, fdef.type, data[fdef.name], f"{where}.{fdef.name}")
        return self.schema.python_type(name)(**kwargs)

    def scalar(self, ftype: FieldType, base: BaseType, value: Any, where: str) -> Any:
        if value is None:
            return None
        ref = ftype.ref
        if isinstance(value, str) and ref in self.schema.enums:
            enum = self.schema.enums[ref or ""]
            number = 0
            for part in value.split():
                if part not in enum.values:
                    raise EncodeError(f"{where}: {part!r} is not a value of {enum.name}")
                number |= enum.values[part]
            if len(value.split()) > 1 and not enum.bit_flags:
                raise EncodeError(f"{where}: {enum.name} is not a bit_flags enum")
            return self.schema.python_type(enum.name)(number) if number in enum.values.values() or enum.bit_flags else number
        if isinstance(value, str):  # flatc takes numbers in quotes too
            try:
                value = float(value) if base.is_float else int(value, 0)
            except ValueError:
                raise EncodeError(f"{where}: {value!r} is not a number") from None
        if base is BaseType.BOOL:
            if value not in (True, False, 0, 1):
                raise EncodeError(f"{where}: {value!r} is not a bool")
            return bool(value)
        if base.is_float:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise EncodeError(f"{where}: {value!r} is not a number")
            return float(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise EncodeError(f"{where}: {value!r} is not an integer")
        if ref in self.schema.enums:
            enum = self.schema.enums[ref or ""]
            if value in enum.values.values() and not enum.bit_flags:
                return self.schema.python_type(enum.name)(value)
        return value

    def value(self, table: Optional[TableDef], fdef: FieldDef, ftype: FieldType, value: Any, where: str) -> Any:
        base = ftype.base
        if value is None:
            return None
        if base.is_scalar:
            return self.scalar(ftype, base, value, where)
        if base is BaseType.STRING:
            if not isinstance(value, str):
                raise EncodeError(f"{where}: {value!r} is not a string")
            return value
        if base is BaseType.OBJ:
            if ftype.ref in self.schema.structs:
                return self.struct(ftype.ref or "", value, where)
            return self.table(ftype.ref or "", value, where)
        if base in (BaseType.VECTOR, BaseType.ARRAY):
            element = ftype.element
            if table is not None and base is BaseType.VECTOR:
                nested = self.schema.nested_root(table, fdef)
                if nested is not None and isinstance(value, dict):
                    # flatc writes a nested buffer without a file identifier.
                    codec = self.schema.codec(nested, file_identifier=None)
                    return list(codec.encode(self.table(nested, value, where)))
                if "flexbuffer" in fdef.attributes:  # any JSON value, an array too (as flatc)
                    from flatbuffers import flexbuffers

                    return list(flexbuffers.Dumps(value))
            if not isinstance(value, list):
                raise EncodeError(f"{where}: a vector is a JSON array, not {type(value).__name__}")
            one = FieldType(element, ref=ftype.ref)
            return [self.value(None, fdef, one, v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise EncodeError(f"{where}: {base.name} fields cannot be read from JSON")


def from_json(schema: Schema, table: str, text: str) -> Any:
    """An object of table ``table``'s Python class from JSON text as flatc
    writes it (strict JSON, bare ``nan``/``inf`` allowed). Raises
    :class:`EncodeError` for text that is not JSON or does not fit the table."""
    try:
        data = json.loads(_NON_FINITE.sub(_finite_spelling, text))
    except json.JSONDecodeError as exc:
        raise EncodeError(f"not JSON: {exc}") from None
    return _Reader(schema).table(table, data, schema.tables[table].name)
