"""``@fs.table`` and ``@fs.struct``: schemas written as Python dataclasses.

    @fs.struct
    class Level:
        price: fs.i64
        size: fs.u64

    @fs.table(file_identifier="BOOK")
    class OrderBookSnapshot:
        timestamp: fs.f64
        asks: list[Level] = fs.field(default_factory=list)
        bids: list[Level] = fs.field(default_factory=list)

Annotations: the scalar types ``fs.u8`` ... ``fs.f64``, ``bool``, ``str``,
``bytes`` (a ``[ubyte]`` vector), ``int`` (``long``), ``float`` (``double``),
``IntEnum``/``IntFlag`` classes, ``@fs.struct`` and ``@fs.table`` classes,
``list[X]`` (or ``typing.List``/``Sequence``) of any of those but unions (in
a struct, ``Annotated[list[X], fs.FixedLength(n)]``: a fixed-length array of
scalars, enums or structs), a
union ``A | B`` of tables, structs and ``str`` (``None`` allowed), and ``X | None`` /
``Optional[X]`` (for a scalar, an optional scalar: absent and ``None`` are
distinct from the default). ``fs.field(id=..., deprecated=..., required=...,
key=..., union=...)`` sets the FlatBuffers attributes of one field.

The schema is built from the annotations the first time a codec is compiled,
so a table may name classes defined after it.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from dataclasses import MISSING, dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union, overload

from .model import (
    SCALARS,
    BaseType,
    EnumDef,
    FieldDef,
    FieldType,
    Schema,
    SchemaError,
    StructDef,
    TableDef,
    UnionDef,
    UnionMember,
    check_scalar_default,
)
from .pyclasses import class_hints
from .struct_layout import layout_struct
from .types import FixedLength, Scalar

if typing.TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Callable[[Any], Any]:
        return lambda fn: fn


__all__ = ["table", "struct", "field", "FieldOptions", "schema_of", "is_table", "is_struct"]

T = TypeVar("T")

_META = "flatstream"


@dataclass(frozen=True)
class FieldOptions:
    """The FlatBuffers attributes of a dataclass field (see :func:`field`)."""

    id: Optional[int] = None
    deprecated: bool = False
    required: bool = False
    key: bool = False
    union: Optional[str] = None
    doc: Optional[str] = None


def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    id: Optional[int] = None,
    deprecated: bool = False,
    required: bool = False,
    key: bool = False,
    union: Optional[str] = None,
    doc: Optional[str] = None,
    **kwargs: Any,
) -> Any:
    """A dataclass field with FlatBuffers attributes.

    ``id``: the field's slot (give every field an id, or none, as in
    ``.fbs``; a union's id is its value's, its hidden type field takes
    ``id - 1``). ``deprecated``: the slot stays reserved but is never written
    and decodes as the default. ``required``: encoding and verifying refuse a
    missing value. ``union``: the name of the union type of a union field.
    Other keyword arguments go to :func:`dataclasses.field`.
    """
    options = FieldOptions(id, deprecated, required, key, union, doc)
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_META] = options
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot give both default and default_factory")
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


@dataclass(frozen=True)
class TableOptions:
    name: str
    file_identifier: Optional[str]
    file_extension: Optional[str]
    doc: Optional[str]


@dataclass(frozen=True)
class StructOptions:
    name: str
    force_align: Optional[int]
    doc: Optional[str]


def _caller_locals() -> Optional[Dict[str, Any]]:
    """The local names of the scope defining a class (outside this module), so
    annotations naming classes local to a function can be resolved later."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_locals is frame.f_globals:
        return None
    return dict(frame.f_locals)


def _dataclass_of(cls: Any) -> Any:
    # A subclass of a dataclass is not itself one until decorated.
    if "__dataclass_fields__" in cls.__dict__:
        return cls
    return dataclasses.dataclass(cls)


def _qualified(cls: type, name: Optional[str], namespace: Optional[str]) -> str:
    base = name or cls.__name__
    return f"{namespace}.{base}" if namespace else base


@overload
def table(cls: type[T]) -> type[T]: ...


@overload
def table(
    cls: None = None,
    *,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    file_identifier: Optional[str] = None,
    file_extension: Optional[str] = None,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field, dataclasses.field))
def table(
    cls: Any = None,
    *,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    file_identifier: Optional[str] = None,
    file_extension: Optional[str] = None,
) -> Any:
    """Make ``cls`` a FlatBuffers table (and a dataclass, if it is not one).

    ``name``/``namespace`` give its schema name (default: the class name, no
    namespace); ``file_identifier`` (4 ASCII characters) is written at bytes
    4-7 of every buffer the codec makes with this table as root.
    ``fs.codec(cls)`` compiles its codec; ``StreamWriter.write(obj)`` and
    ``StreamReader.typed_messages(cls)`` use it.
    """
    if file_identifier is not None:
        ident = file_identifier.encode("ascii") if isinstance(file_identifier, str) else b""
        if len(ident) != 4:
            raise ValueError(f"a file_identifier is 4 ASCII characters, not {file_identifier!r}")

    def wrap(cls: Any) -> Any:
        cls = _dataclass_of(cls)
        cls.__flatstream_locals__ = _caller_locals()
        cls.__flatstream_table__ = TableOptions(
            _qualified(cls, name, namespace), file_identifier, file_extension, cls.__doc__
        )
        return cls

    return wrap if cls is None else wrap(cls)


@overload
def struct(cls: type[T]) -> type[T]: ...


@overload
def struct(
    cls: None = None,
    *,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    force_align: Optional[int] = None,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(field, dataclasses.field))
def struct(
    cls: Any = None,
    *,
    name: Optional[str] = None,
    namespace: Optional[str] = None,
    force_align: Optional[int] = None,
) -> Any:
    """Make ``cls`` a FlatBuffers struct (and a dataclass, if it is not one).

    A struct holds scalars, enums and other structs in a fixed layout (that of
    ``flatc``: each field aligned to its size, the whole to its largest
    alignment, or ``force_align``), stored inline in tables and vectors.
    """
    if force_align is not None and (force_align < 1 or force_align & (force_align - 1)):
        raise ValueError("force_align must be a power of two")

    def wrap(cls: Any) -> Any:
        cls = _dataclass_of(cls)
        cls.__flatstream_locals__ = _caller_locals()
        cls.__flatstream_struct__ = StructOptions(
            _qualified(cls, name, namespace), force_align, cls.__doc__
        )
        return cls

    return wrap if cls is None else wrap(cls)


def is_table(cls: Any) -> bool:
    return isinstance(cls, type) and getattr(cls, "__flatstream_table__", None) is not None


def is_struct(cls: Any) -> bool:
    return isinstance(cls, type) and getattr(cls, "__flatstream_struct__", None) is not None


def schema_of(cls: Any) -> Schema:
    """The schema of an ``@fs.table`` class, with that table as root (built once)."""
    cached = cls.__dict__.get("__flatstream_schema__")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if not is_table(cls):
        raise TypeError(f"{cls!r} is not an @flatstream.table class")
    builder = _Builder()
    root = builder.table(cls)
    options: TableOptions = cls.__flatstream_table__
    schema = builder.schema
    schema.root_table = root
    schema.file_identifier = options.file_identifier
    schema.file_extension = options.file_extension
    cls.__flatstream_schema__ = schema
    return schema


# -- annotations to the model -------------------------------------------------------


def _doc(text: Optional[str]) -> Tuple[str, ...]:
    if not text:
        return ()
    return tuple(line.strip() for line in text.strip().splitlines())


def _class_doc(cls: Any) -> Tuple[str, ...]:
    doc = cls.__dict__.get("__doc__")
    if not doc or doc.startswith(cls.__name__ + "("):
        return ()
    return _doc(doc)


_UNION_TYPES: Tuple[Any, ...] = (Union,)
if sys.version_info >= (3, 10):
    _UNION_TYPES = (Union, types.UnionType)

_SEQUENCES = {list, List, tuple, typing.Sequence}
try:  # collections.abc.Sequence[...] has origin collections.abc.Sequence
    import collections.abc as _abc

    _SEQUENCES.add(_abc.Sequence)  # type: ignore[arg-type]
except ImportError:  # pragma: no cover
    pass


def _split_optional(hint: Any) -> Tuple[Any, bool]:
    """(hint without None, whether None was allowed)."""
    if typing.get_origin(hint) in _UNION_TYPES:
        args = typing.get_args(hint)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) != len(args):
            if len(rest) == 1:
                return rest[0], True
            return Union[rest], True  # type: ignore[return-value]
    return hint, False


def _union_members(hint: Any) -> Optional[Tuple[Any, ...]]:
    if typing.get_origin(hint) in _UNION_TYPES:
        return typing.get_args(hint)
    return None


def _enum_underlying(cls: Any) -> BaseType:
    declared = cls.__dict__.get("__flatstream_underlying__")
    if declared is not None:
        marker = _scalar_marker(declared)
        if marker is None or not marker.base.is_integer:
            raise SchemaError(f"{cls.__name__}.__flatstream_underlying__ must be an integer type")
        return marker.base
    values = [int(m.value) for m in cls.__members__.values()]
    lo, hi = min(values, default=0), max(values, default=0)
    order = (
        [BaseType.UBYTE, BaseType.USHORT, BaseType.UINT, BaseType.ULONG]
        if lo >= 0
        else [BaseType.BYTE, BaseType.SHORT, BaseType.INT, BaseType.LONG]
    )
    for base in order:
        if SCALARS[base].min <= lo and hi <= SCALARS[base].max:
            return base
    raise SchemaError(f"the values of {cls.__name__} do not fit in 64 bits")


def _scalar_marker(hint: Any) -> Optional[Scalar]:
    for extra in getattr(hint, "__metadata__", ()):
        if isinstance(extra, Scalar):
            return extra
    return None


class _Builder:
    """Walks ``@fs.table`` classes into one :class:`Schema`."""

    def __init__(self) -> None:
        self.schema = Schema()
        self.names: Dict[str, Any] = {}
        self.by_class: Dict[Any, str] = {}

    def _claim(self, name: str, cls: Any) -> bool:
        """Reserve ``name`` for ``cls``; False when already done for it."""
        owner = self.names.get(name)
        if owner is cls:
            return False
        if owner is not None:
            raise SchemaError(f"two different classes are both named {name!r} in one schema")
        self.names[name] = cls
        self.by_class[cls] = name
        self.schema.python_types[name] = cls
        return True

    # -- definitions -----------------------------------------------------

    def table(self, cls: Any) -> str:
        options: TableOptions = cls.__flatstream_table__
        name = options.name
        if not self._claim(name, cls):
            return name
        table = TableDef(name, [], documentation=_class_doc(cls))
        self.schema.tables[name] = table  # before the fields: tables may nest themselves
        table.fields = self._table_fields(cls, name)
        return name

    def struct(self, cls: Any) -> str:
        options: StructOptions = cls.__flatstream_struct__
        name = options.name
        if not self._claim(name, cls):
            if name not in self.schema.structs:
                raise SchemaError(f"struct {name} contains itself")
            return name
        fields: List[FieldDef] = []
        hints = self._hints(cls)
        for dc_field in dataclasses.fields(cls):
            hint = hints[dc_field.name]
            where = f"{name}.{dc_field.name}"
            ftype = self._type(hint, where, in_struct=True)
            if not (ftype.is_scalar or ftype.base is BaseType.ARRAY or (ftype.base is BaseType.OBJ and ftype.ref in self.schema.structs)):
                raise SchemaError(f"{where}: a struct holds only scalars, enums and structs")
            if ftype.ref in self.schema.enums and 0 not in self.schema.enums[ftype.ref or ""].values.values():
                raise SchemaError(f"{where}: an enum in a struct must have a value 0 (flatc's rule)")
            default = dc_field.default if dc_field.default is not MISSING else 0
            fields.append(
                FieldDef(dc_field.name, ftype, id=len(fields), default=default if ftype.is_scalar else None)
            )
        struct = StructDef(name, fields, documentation=_class_doc(cls))
        layout_struct(struct, self.schema, options.force_align)
        if options.force_align is not None:
            struct.attributes["force_align"] = str(options.force_align)
        self.schema.structs[name] = struct
        return name

    def enum(self, cls: Any) -> str:
        name = cls.__dict__.get("__flatstream_name__") or cls.__name__
        if not self._claim(name, cls):
            return name
        underlying = _enum_underlying(cls)
        values = {key: int(member.value) for key, member in cls.__members__.items()}
        bit_flags = issubclass(cls, enum.IntFlag)
        if bit_flags and any(v <= 0 or v & (v - 1) for v in values.values()):
            raise SchemaError(f"{name}: every bit_flags value must be a single bit")
        definition = EnumDef(name, underlying, values, bit_flags, documentation=_class_doc(cls))
        if bit_flags:
            definition.attributes["bit_flags"] = ""
        self.schema.enums[name] = definition
        return name

    def union(self, owner: str, field_name: str, members: Tuple[Any, ...], explicit: Optional[str]) -> str:
        name = explicit or owner + "".join(p.capitalize() for p in field_name.split("_"))
        union = UnionDef(name, [UnionMember("NONE", 0, None)])
        for value, member in enumerate(members, 1):
            # A table, a struct (stored out of line) or str (a string member, named "String").
            if is_table(member):
                full, kind = self.table(member), "table"
            elif is_struct(member):
                full, kind = self.struct(member), "struct"
            elif member is str:
                union.members.append(UnionMember("String", value, None, "string"))
                continue
            else:
                raise SchemaError(
                    f"{owner}.{field_name}: a union holds @fs.table or @fs.struct classes and str, not {member!r}"
                )
            union.members.append(UnionMember(full.rsplit(".", 1)[-1], value, full, kind))
        existing = self.schema.unions.get(name)
        if existing is not None:
            if existing.members != union.members:
                raise SchemaError(f"two different unions are both named {name!r}")
            return name
        if name in self.names:
            raise SchemaError(f"the union name {name!r} is taken")
        self.schema.unions[name] = union
        return name

    # -- fields ----------------------------------------------------------

    @staticmethod
    def _hints(cls: Any) -> Dict[str, Any]:
        return class_hints(cls)


    def _table_fields(self, cls: Any, owner: str) -> List[FieldDef]:
        hints = self._hints(cls)
        fields: List[FieldDef] = []
        explicit_ids = 0
        dc_fields = dataclasses.fields(cls)
        for dc_field in dc_fields:
            options: FieldOptions = dc_field.metadata.get(_META) or FieldOptions()
            where = f"{owner}.{dc_field.name}"
            hint, nullable = _split_optional(hints[dc_field.name])
            members = _union_members(hint)
            if options.id is not None:
                explicit_ids += 1
            doc = _doc(options.doc)
            if members is not None:
                union = self.union(owner, dc_field.name, members, options.union)
                type_field = FieldDef(
                    f"{dc_field.name}_type", FieldType(BaseType.UTYPE, ref=union), default=0,
                    deprecated=options.deprecated,
                )
                value_field = FieldDef(
                    dc_field.name, FieldType(BaseType.UNION, ref=union), default=None,
                    deprecated=options.deprecated, required=options.required, documentation=doc,
                )
                if options.id is not None:
                    if options.id < 1:
                        raise SchemaError(f"{where}: a union's id must be at least 1")
                    type_field.id, value_field.id = options.id - 1, options.id
                fields += [type_field, value_field]
                continue
            ftype = self._type(hint, where)
            optional = nullable and ftype.is_scalar
            if ftype.is_scalar:
                default = self._scalar_default(dc_field, ftype, optional, where)
            else:
                default = None
                if options.key:
                    raise SchemaError(f"{where}: only scalar and string fields can be keys")
            if options.required and ftype.is_scalar:
                raise SchemaError(f"{where}: only non-scalar fields can be required")
            fdef = FieldDef(
                dc_field.name, ftype, default=default, deprecated=options.deprecated,
                required=options.required, key=options.key, optional=optional, documentation=doc,
            )
            if options.id is not None:
                fdef.id = options.id
            fields.append(fdef)
        if explicit_ids:
            if explicit_ids != len(dc_fields):
                raise SchemaError(f"{owner}: give every field an id, or none")
            ids = sorted(f.id for f in fields)
            if ids != list(range(len(fields))):
                raise SchemaError(f"{owner}: field ids must be 0..{len(fields) - 1} without gaps or repeats")
            fields.sort(key=lambda f: f.id)
        else:
            for number, fdef in enumerate(fields):
                fdef.id = number
        for fdef in fields:
            fdef.offset = fdef.voffset  # what flatc records for a table field
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise SchemaError(f"{owner}: a union's hidden field clashes with another field's name")
        return fields

    def _scalar_default(self, dc_field: Any, ftype: FieldType, optional: bool, where: str) -> Any:
        value = dc_field.default
        if optional:
            if value not in (MISSING, None):
                raise SchemaError(f"{where}: an optional scalar's default is None")
            return None
        if value is MISSING or value is None:
            if ftype.ref is not None and ftype.ref in self.schema.enums:
                values = self.schema.enums[ftype.ref].values.values()
                return 0 if 0 in values or not values else next(iter(values))
            return False if ftype.base is BaseType.BOOL else (0.0 if ftype.base.is_float else 0)
        if isinstance(value, enum.Enum):
            value = value.value
        if ftype.base is BaseType.BOOL:
            value = bool(value)
        elif ftype.base.is_float:
            value = float(value)
        check_scalar_default(value, ftype.base, where)
        return value

    def _type(self, hint: Any, where: str, in_struct: bool = False) -> FieldType:
        length = next((m.length for m in getattr(hint, "__metadata__", ()) if isinstance(m, FixedLength)), None)
        if length is not None:
            return self._array_type(hint.__origin__, length, where, in_struct)
        marker = _scalar_marker(hint)
        if marker is not None:
            return FieldType(marker.base)
        if hint is bool:
            return FieldType(BaseType.BOOL)
        if hint is int:
            return FieldType(BaseType.LONG)
        if hint is float:
            return FieldType(BaseType.DOUBLE)
        if isinstance(hint, type):
            if issubclass(hint, enum.Enum):
                if not issubclass(hint, int):
                    raise SchemaError(f"{where}: use an IntEnum or IntFlag, not {hint.__name__}")
                name = self.enum(hint)
                return FieldType(self.schema.enums[name].underlying, ref=name)
            if is_struct(hint):
                return FieldType(BaseType.OBJ, ref=self.struct(hint))
            if in_struct:
                raise SchemaError(f"{where}: a struct holds only scalars, enums and structs")
            if hint is str:
                return FieldType(BaseType.STRING)
            if hint in (bytes, bytearray, memoryview):
                return FieldType(BaseType.VECTOR, BaseType.UBYTE)
            if is_table(hint):
                return FieldType(BaseType.OBJ, ref=self.table(hint))
        if not in_struct and typing.get_origin(hint) in _SEQUENCES:
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                args = args[:1]
            if len(args) != 1:
                raise SchemaError(f"{where}: a vector is list[X]")
            element = self._type(args[0], where)
            if element.base in (BaseType.VECTOR, BaseType.UNION, BaseType.UTYPE):
                raise SchemaError(f"{where}: vectors of vectors or unions are not supported")
            return FieldType(BaseType.VECTOR, element.base, element.ref)
        raise SchemaError(f"{where}: cannot map the annotation {hint!r} to a FlatBuffers type")

    def _array_type(self, hint: Any, length: int, where: str, in_struct: bool) -> FieldType:
        """``Annotated[list[X], FixedLength(n)]``: a struct's fixed-length array."""
        if not in_struct:
            raise SchemaError(f"{where}: fixed-length arrays are struct fields (a table takes list[X])")
        args = typing.get_args(hint)
        if typing.get_origin(hint) not in _SEQUENCES or len(args) != 1:
            raise SchemaError(f"{where}: a fixed-length array is Annotated[list[X], FixedLength(n)]")
        if not isinstance(length, int) or not 1 <= length <= 0xFFFF:
            raise SchemaError(f"{where}: a fixed-length array has 1 to 65535 items, not {length!r}")
        element = self._type(args[0], where, in_struct=True)
        if not (element.is_scalar or element.base is BaseType.OBJ):
            raise SchemaError(f"{where}: arrays hold scalars, enums and structs")
        return FieldType(BaseType.ARRAY, element.base, element.ref, fixed_length=length)
