"""Plumbing shared by the codec compiler's parts: generated-source buffers,
the inline layout planner that mirrors ``flatbuffers.Builder``, and the small
runtime helpers the generated code calls. Imports only the model."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _runtime as rt
from .errors import EncodeError
from .types import UnionValue
from .model import (
    BaseType,
    FieldDef,
    SchemaError,
    TableDef,
)

#: The largest FlatBuffer (32-bit offsets): 2 GiB - 1.
MAX_BUFFER_SIZE = 0x7FFFFFFF

I32 = struct.Struct("<i").unpack_from
U16 = struct.Struct("<H").unpack_from
U32 = struct.Struct("<I").unpack_from

class Source:
    """Lines of generated code with indentation."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.depth = 0

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def block(self) -> "Indent":
        return Indent(self)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Indent:
    def __init__(self, source: Source) -> None:
        self.source = source

    def __enter__(self) -> None:
        self.source.depth += 1

    def __exit__(self, *exc: Any) -> None:
        self.source.depth -= 1


class Item:
    """One field as the table's inline data holds it."""

    def __init__(self, fdef: FieldDef, kind: str, code: str, size: int, align: int) -> None:
        self.fdef = fdef
        self.kind = kind  # "scalar", "offset" or "struct"
        self.code = code  # struct format of the inline bytes
        self.size = size
        self.align = align


class Plan:
    """The inline layout of a table for one set of present fields."""

    def __init__(self) -> None:
        self.order: List[Tuple[int, int]] = []  # (item index, its slot position rel. to u) low to high
        self.fmt = ""  # the fields after the vtable offset, low to high
        self.vtable = b""
        self.object_rel = 0
        self.minalign = 4


def plan(items: List[Item], mask: int, rem: int, slots: int) -> Plan:
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
    plan = Plan()
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


def interpreted_layout(plan: Plan, items: List[Item], flatteners: Dict[int, Any]) -> Callable[..., int]:
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


def message_header(plan: Plan, ident: bytes) -> bytes:
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


def union_value_field(items: List[Item], type_field: FieldDef) -> str:
    for item in items:
        if item.fdef.type.base is BaseType.UNION and item.fdef.type.ref == type_field.type.ref and item.fdef.id == type_field.id + 1:
            return item.fdef.name
    raise SchemaError(f"the union type field {type_field.name} has no value field")


def type_field_of(table: TableDef, value_field: FieldDef) -> FieldDef:
    for fdef in table.fields:
        if fdef.type.base is BaseType.UTYPE and fdef.id == value_field.id - 1:
            return fdef
    raise SchemaError(f"{table.name}.{value_field.name}: the union has no type field")


def field_or_none(table: TableDef, name: str) -> Optional[FieldDef]:
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


def union_entry(
    by_value: Dict[int, str],
    by_name: Dict[str, int],
    aliased: Dict[Any, Tuple[int, ...]],
    obj: Any,
    type_attr: str,
    value: Any,
    where: str,
) -> Tuple[Tuple[int, str], Any]:
    """The member (type number, encoder name) a union value is written as,
    and the value to encode, where its class alone does not say: a
    :class:`UnionValue` names its member; a class several members hold
    (aliased members) takes the member ``obj.<field>_type`` names; any other
    object takes ``<field>_type`` too."""
    if type(value) is UnionValue:
        number = _member_number(by_name, value.member)
        if number is None or number not in by_value:
            raise EncodeError(
                f"{where}: {value.member!r} is not a member of the union "
                f"(members: {', '.join(by_name)})"
            )
        return (number, by_value[number]), value.value
    number = _member_number(by_name, getattr(obj, type_attr, None))
    members = aliased.get(type(value))
    if members is not None:
        if number in members:
            return (number, by_value[number]), value
        names = ", ".join(n for n, v in by_name.items() if v in members)
        raise EncodeError(
            f"{where}: a {type(value).__name__} is any of the members {names}: set "
            f"{type_attr} to the one meant, or give flatstream.schema.UnionValue(name, value)"
        )
    if number is None or number not in by_value:
        raise EncodeError(
            f"{where}: cannot tell which union member a {type(value).__name__} is "
            f"(give an instance of a member table, set {type_attr}, or give "
            "flatstream.schema.UnionValue(name, value))"
        )
    return (number, by_value[number]), value


def _member_number(by_name: Dict[str, int], member: Any) -> Optional[int]:
    """A member's type number from its name or number (None: neither)."""
    if member is None:
        return None
    if isinstance(member, str):
        return by_name.get(member)
    try:
        return int(member)
    except (TypeError, ValueError):
        return None


class FlagMap(dict):  # type: ignore[type-arg]
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


def decode_union(dispatch: Dict[int, Any], number: int, buf: Any, pos: int) -> Any:
    decode = dispatch.get(number)
    return None if decode is None else decode(buf, pos)


def encode_error(name: str, obj: Any, exc: BaseException) -> EncodeError:
    return EncodeError(f"cannot encode {type(obj).__name__} as a {name}: {exc}")


# -- classes for schemas loaded from .fbs / .bfbs --------------------------------------
