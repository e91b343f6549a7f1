"""Python classes for the definitions of a schema loaded from ``.fbs``/``.bfbs``
(a keyword constructor with the schema's defaults, ``==``, ``repr``; enums as
``IntEnum``/``IntFlag``), and the class introspection the compilers share.

Model layer: imports only :mod:`.model`; registers itself as the model's
``python_type`` maker so :meth:`Schema.python_type` works without the model
importing it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import typing
from typing import Any, Dict, List

import numpy as np

from .model import (
    BaseType,
    Schema,
    SchemaError,
    register_builder,
)


def scalar_literal(value: Any) -> str:
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



def class_hints(cls: Any) -> Dict[str, Any]:
    """The resolved annotations of a decorated class (``Annotated`` kept)."""
    local = dict(cls.__dict__.get("__flatstream_locals__") or {})
    local.setdefault(cls.__name__, cls)
    try:
        return typing.get_type_hints(cls, localns=local, include_extras=True)
    except NameError as exc:
        raise SchemaError(
            f"cannot resolve the annotations of {cls.__qualname__}: {exc} "
            "(define the classes it names before it, or at module level)"
        ) from exc


def in_init(cls: Any, name: str) -> bool:
    """Whether ``name`` is a constructor parameter of ``cls``."""
    return name in init_order(cls)


def init_order(cls: Any) -> List[str]:
    """The constructor parameters of a decorated or generated class, in order."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(getattr(cls, "__flatstream_fields__", ()))


def short_name(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
    return bool(a == b)


def make_class(schema: Schema, name: str) -> type:
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
    params = ", ".join(f"{n}={scalar_literal(defaults[n])}" for n in names)
    body = "".join(f"    self.{n} = {n}\n" for n in names) or "    pass\n"
    source = f"def __init__(self, {params}):\n{body}" if names else "def __init__(self):\n    pass\n"
    namespace: Dict[str, Any] = {"NAN": math.nan, "INF": math.inf}
    exec(source, namespace)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        return f"{short_name(name)}({inner})"

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
    return type(short_name(name), (), attrs)


def make_enum(schema: Schema, name: str) -> Any:
    definition = schema.enums[name]
    base: Any = enum.IntFlag if definition.bit_flags else enum.IntEnum
    return base(short_name(name), list(definition.values.items()))


def python_type(schema: Schema, name: str) -> Any:
    """The class made for definition ``name`` (a full name) of ``schema``."""
    return make_enum(schema, name) if name in schema.enums else make_class(schema, name)


register_builder("python_type", python_type)
