"""The schema model: plain dataclasses describing a FlatBuffers schema.

The same model comes out of ``@fs.table`` classes, of a ``.bfbs`` binary schema
(through FlatBuffers' reflection schema) and of a ``.fbs`` file compiled by
``flatc``; codecs and the verifier are compiled from it, and
:meth:`Schema.to_fbs` prints it back as ``.fbs`` text.

Names are fully qualified (``"ns.sub.Name"``). A table's fields are listed in
id order; a union field appears as the two fields the wire format has: the
hidden ``<name>_type`` (``UTYPE``) at ``id - 1`` and ``<name>`` (``UNION``).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

__all__ = [
    "BaseType",
    "ScalarInfo",
    "SCALARS",
    "FieldType",
    "FieldDef",
    "StructDef",
    "TableDef",
    "EnumDef",
    "UnionMember",
    "UnionDef",
    "Definition",
    "Schema",
    "SchemaError",
]


# What a Schema does with itself beyond holding data (make Python classes,
# compile codecs and verifiers, print .fbs) lives in layers above the model.
# Those modules register their entry points here when imported (importing
# ``flatstream.schema`` imports them all), so the model imports none of them
# and the import graph stays one-way: model <- loaders, model <- compilers.
_BUILDERS: Dict[str, Callable[..., Any]] = {}


def register_builder(kind: str, fn: Callable[..., Any]) -> None:
    """Install the implementation of a :class:`Schema` method that lives
    above the model (``python_type``, ``codec``, ``verifier``, ``to_fbs``)."""
    _BUILDERS[kind] = fn


def _builder(kind: str) -> Callable[..., Any]:
    fn = _BUILDERS.get(kind)
    if fn is None:  # only if a model module is used without its package
        raise SchemaError(f"no {kind} implementation is registered (import flatstream.schema)")
    return fn


class SchemaError(ValueError):
    """A schema is malformed, or a name is not in it."""


class BaseType(enum.IntEnum):
    """The base types of ``reflection.fbs`` (same numbers)."""

    NONE = 0
    UTYPE = 1
    BOOL = 2
    BYTE = 3
    UBYTE = 4
    SHORT = 5
    USHORT = 6
    INT = 7
    UINT = 8
    LONG = 9
    ULONG = 10
    FLOAT = 11
    DOUBLE = 12
    STRING = 13
    VECTOR = 14
    OBJ = 15
    UNION = 16
    ARRAY = 17
    VECTOR64 = 18

    @property
    def is_scalar(self) -> bool:
        return BaseType.UTYPE <= self <= BaseType.DOUBLE

    @property
    def is_integer(self) -> bool:
        return BaseType.UTYPE <= self <= BaseType.ULONG and self is not BaseType.BOOL

    @property
    def is_float(self) -> bool:
        return self in (BaseType.FLOAT, BaseType.DOUBLE)


@dataclass(frozen=True)
class ScalarInfo:
    """How a scalar base type is spelled in ``.fbs``, packed by ``struct`` and
    viewed by numpy."""

    fbs: str
    code: str  # struct format character
    size: int
    dtype: str  # numpy dtype, little-endian
    min: Union[int, float]
    max: Union[int, float]


def _int(fbs: str, code: str, size: int, signed: bool) -> ScalarInfo:
    bits = 8 * size
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    kind = "i" if signed else "u"
    return ScalarInfo(fbs, code, size, f"<{kind}{size}" if size > 1 else f"{kind}1", lo, hi)


SCALARS: Dict[BaseType, ScalarInfo] = {
    BaseType.UTYPE: _int("ubyte", "B", 1, False),
    BaseType.BOOL: ScalarInfo("bool", "?", 1, "?", 0, 1),
    BaseType.BYTE: _int("byte", "b", 1, True),
    BaseType.UBYTE: _int("ubyte", "B", 1, False),
    BaseType.SHORT: _int("short", "h", 2, True),
    BaseType.USHORT: _int("ushort", "H", 2, False),
    BaseType.INT: _int("int", "i", 4, True),
    BaseType.UINT: _int("uint", "I", 4, False),
    BaseType.LONG: _int("long", "q", 8, True),
    BaseType.ULONG: _int("ulong", "Q", 8, False),
    BaseType.FLOAT: ScalarInfo("float", "f", 4, "<f4", -math.inf, math.inf),
    BaseType.DOUBLE: ScalarInfo("double", "d", 8, "<f8", -math.inf, math.inf),
}


@dataclass(frozen=True)
class FieldType:
    """The type of a field.

    ``base`` is the kind; ``element`` the element kind of a ``VECTOR`` or
    ``ARRAY``; ``ref`` names the table, struct, enum or union the field refers
    to (``OBJ``, ``UNION``, ``UTYPE``, an enum-typed scalar, or the element of
    a vector); ``fixed_length`` is the length of a struct's fixed ``ARRAY``.
    """

    base: BaseType
    element: BaseType = BaseType.NONE
    ref: Optional[str] = None
    fixed_length: int = 0

    @property
    def is_scalar(self) -> bool:
        return self.base.is_scalar


@dataclass
class FieldDef:
    """One field of a table or struct.

    ``default`` is the scalar default (``None`` for optional scalars and for
    every non-scalar); ``offset`` is the byte offset of a struct field, or
    the vtable slot of a table field (``4 + 2 * id``, as flatc records it);
    ``padding`` the bytes of padding a struct has after a field.
    """

    name: str
    type: FieldType
    id: int = 0
    default: Any = 0
    deprecated: bool = False
    required: bool = False
    key: bool = False
    optional: bool = False
    offset: int = 0
    padding: int = 0
    documentation: Tuple[str, ...] = field(default=(), compare=False)
    attributes: Dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def voffset(self) -> int:
        """The field's slot in a vtable (bytes from the vtable start)."""
        return 4 + 2 * self.id


@dataclass
class StructDef:
    """A struct: fixed layout, stored inline."""

    name: str
    fields: List[FieldDef]
    minalign: int = 1
    bytesize: int = 0
    documentation: Tuple[str, ...] = field(default=(), compare=False)
    attributes: Dict[str, str] = field(default_factory=dict, compare=False)

    is_struct = True


@dataclass
class TableDef:
    """A table: fields found through a vtable, any of them absent."""

    name: str
    fields: List[FieldDef]
    documentation: Tuple[str, ...] = field(default=(), compare=False)
    attributes: Dict[str, str] = field(default_factory=dict, compare=False)

    is_struct = False

    def field_named(self, name: str) -> FieldDef:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemaError(f"table {self.name} has no field {name!r}")


@dataclass
class EnumDef:
    """An enum over an integer base type; ``values`` maps names to numbers in
    declaration order."""

    name: str
    underlying: BaseType
    values: Dict[str, int]
    bit_flags: bool = False
    documentation: Tuple[str, ...] = field(default=(), compare=False)
    attributes: Dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class UnionMember:
    """A member of a union: ``name`` (usually the type's short name), its type
    number ``value`` and what it holds: ``kind`` ``"table"`` (``table`` names
    it; ``None`` for ``NONE``), ``"struct"`` (``table`` names the struct,
    stored out of line) or ``"string"`` (``table`` is None)."""

    name: str
    value: int
    table: Optional[str]
    kind: str = "table"

    @property
    def holds_table(self) -> bool:
        """Whether the member holds a table (not NONE, a struct or a string)."""
        return self.kind == "table" and self.table is not None


@dataclass
class UnionDef:
    """A union of tables; ``members`` include ``NONE`` (value 0)."""

    name: str
    members: List[UnionMember]
    documentation: Tuple[str, ...] = field(default=(), compare=False)
    attributes: Dict[str, str] = field(default_factory=dict, compare=False)

    def member_for_value(self, value: int) -> Optional[UnionMember]:
        for m in self.members:
            if m.value == value:
                return m
        return None


Definition = Union[TableDef, StructDef, EnumDef, UnionDef]


@dataclass
class Schema:
    """A whole schema: its definitions by fully qualified name, the root table
    and the file identifier.

    ``codec(name)`` compiles (once) a codec for a table; ``to_fbs()`` prints the
    schema as ``.fbs`` text. ``python_types`` maps definition names to the
    Python classes a codec decodes into (the ``@fs.table`` classes, or classes
    made for the schema on first use).
    """

    tables: Dict[str, TableDef] = field(default_factory=dict)
    structs: Dict[str, StructDef] = field(default_factory=dict)
    enums: Dict[str, EnumDef] = field(default_factory=dict)
    unions: Dict[str, UnionDef] = field(default_factory=dict)
    root_table: Optional[str] = None
    file_identifier: Optional[str] = None
    file_extension: Optional[str] = None
    python_types: Dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    _codecs: Dict[Tuple[str, Tuple[Any, ...]], Any] = field(
        default_factory=dict, compare=False, repr=False
    )

    # -- lookup ------------------------------------------------------------

    def definitions(self) -> Iterator[Definition]:
        yield from self.enums.values()
        yield from self.unions.values()
        yield from self.structs.values()
        yield from self.tables.values()

    def resolve(self, name: str) -> str:
        """The fully qualified name for ``name`` (a full name, or a short name
        that only one definition has)."""
        for space in (self.tables, self.structs, self.enums, self.unions):
            if name in space:
                return name
        matches = [d.name for d in self.definitions() if d.name.rsplit(".", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SchemaError(f"no definition named {name!r} in the schema")
        raise SchemaError(f"{name!r} is ambiguous: {', '.join(sorted(matches))}")

    def defines(self, name: str) -> bool:
        """Whether ``name`` is the full name of a definition."""
        return any(name in space for space in (self.tables, self.structs, self.enums, self.unions))

    def lookup(self, name: str, namespace: str = "") -> str:
        """The full name ``name`` means when written inside ``namespace``,
        as flatc resolves it: ``namespace.name`` first, then each parent
        namespace's ``parent.name``, then ``name`` itself (so inside
        ``MyGame.Example``, ``"Monster"`` is ``MyGame.Example.Monster`` even
        when ``MyGame.Example2.Monster`` exists too). A name defined in none
        of those places but by exactly one definition (flatc also binds a
        reference to a definition that follows it) is that definition."""
        parts = namespace.split(".") if namespace else []
        for keep in range(len(parts), -1, -1):
            candidate = ".".join(parts[:keep] + [name])
            if self.defines(candidate):
                return candidate
        where = f" from namespace {namespace}" if namespace else ""
        matches = [d.name for d in self.definitions() if d.name.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise SchemaError(f"no definition named {name!r}{where}")
        raise SchemaError(f"{name!r}{where} is ambiguous: {', '.join(sorted(matches))}")

    def nested_root(self, table: Union[str, "TableDef"], fdef: "FieldDef") -> Optional[str]:
        """The full name of the table a ``nested_flatbuffer`` field of ``table``
        holds (resolved in the table's namespace, as flatc does), or None for
        a field without the attribute. Raises :class:`SchemaError` if the
        name is not a table of the schema."""
        name = fdef.attributes.get("nested_flatbuffer")
        if not name:
            return None
        owner = table if isinstance(table, str) else table.name
        where = f"{owner}.{fdef.name}"
        if fdef.type.base not in (BaseType.VECTOR, BaseType.VECTOR64) or fdef.type.element not in (
            BaseType.UBYTE, BaseType.BYTE,
        ):
            raise SchemaError(f"{where}: nested_flatbuffer applies to a vector of ubyte only")
        try:
            full = self.lookup(name, owner.rpartition(".")[0])
        except SchemaError as exc:
            raise SchemaError(f"{where}: nested_flatbuffer {name!r}: {exc}") from None
        if full not in self.tables:
            raise SchemaError(f"{where}: nested_flatbuffer names {full}, which is not a table")
        return full

    def check_references(self) -> None:
        """Raise :class:`SchemaError` for a reference a table makes by name
        that does not resolve (a ``nested_flatbuffer`` root): loaders call it
        so a broken schema fails when it is loaded, not when a buffer is
        verified."""
        for table in self.tables.values():
            for fdef in table.fields:
                self.nested_root(table, fdef)

    def table(self, name: Optional[str] = None) -> TableDef:
        """The table called ``name``; the root table when ``name`` is None."""
        if name is None:
            if self.root_table is None:
                raise SchemaError("the schema has no root_type: name the table")
            name = self.root_table
        full = self.resolve(name)
        try:
            return self.tables[full]
        except KeyError:
            raise SchemaError(f"{full} is not a table") from None

    def struct(self, name: str) -> StructDef:
        full = self.resolve(name)
        try:
            return self.structs[full]
        except KeyError:
            raise SchemaError(f"{full} is not a struct") from None

    def object(self, name: str) -> Union[TableDef, StructDef]:
        full = self.resolve(name)
        if full in self.tables:
            return self.tables[full]
        if full in self.structs:
            return self.structs[full]
        raise SchemaError(f"{full} is not a table or struct")

    def python_type(self, name: str) -> Any:
        """The Python class a codec decodes definition ``name`` into (and
        encodes from): the ``@fs.table``/``@fs.struct`` class or enum of a
        schema written in Python, or for a loaded schema a class made on first
        use (keyword constructor with the schema's defaults, ``==``, ``repr``)
        or an ``IntEnum``/``IntFlag``."""
        full = self.resolve(name)
        cls = self.python_types.get(full)
        if cls is None:
            cls = self.python_types[full] = _builder("python_type")(self, full)
        return cls

    # -- codecs ------------------------------------------------------------

    def codec(
        self,
        name: Optional[str] = None,
        *,
        force_defaults: bool = False,
        max_size: Optional[int] = None,
        file_identifier: Any = True,
    ) -> Any:
        """The codec for table ``name`` (the root table by default), compiled
        once per set of options. See :func:`flatstream.schema.codec`."""
        table = self.table(name)
        options = (force_defaults, max_size, file_identifier)
        key = (table.name, options)
        codec = self._codecs.get(key)
        if codec is None:
            codec = _builder("codec")(
                self,
                table,
                force_defaults=force_defaults,
                max_size=max_size,
                file_identifier=file_identifier,
            )
            self._codecs[key] = codec
        return codec

    def verifier(self, name: Optional[str] = None, **options: Any) -> Any:
        """A validator (``name``, ``validate(payload)``) that verifies payloads
        against table ``name`` (the root table by default)."""
        return _builder("verifier")(self, self.table(name), **options)

    # -- .fbs text ---------------------------------------------------------

    def to_fbs(self) -> str:
        """The schema as ``.fbs`` text that ``flatc`` compiles to the same schema."""
        return _builder("to_fbs")(self)  # type: ignore[no-any-return]

    def __str__(self) -> str:
        return self.to_fbs()


def check_scalar_default(value: Any, base: BaseType, where: str) -> None:
    """Refuse a default that does not fit ``base``."""
    if value is None:
        return
    info = SCALARS[base]
    if base is BaseType.BOOL:
        if value not in (0, 1):
            raise SchemaError(f"{where}: default {value!r} is not a bool")
        return
    if base.is_float:
        if not isinstance(value, (int, float)):
            raise SchemaError(f"{where}: default {value!r} is not a number")
        return
    if not isinstance(value, int) or not info.min <= value <= info.max:
        raise SchemaError(f"{where}: default {value!r} does not fit {info.fbs}")
