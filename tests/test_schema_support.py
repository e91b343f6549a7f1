"""Helpers for the schema tests (this module holds no tests).

Everything here is independent of the codecs under test: values are
generated from the schema model, built into buffers with the official
``flatbuffers`` runtime through classes ``flatc`` generates at test time, and
read back with those classes or with ``flatc --json`` (a C++ decoder). A
"normal form" (plain dicts, lists, ints, floats, strings) lets the three
readings be compared.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import struct
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Optional

import flatbuffers
import numpy as np
from helpers import flatc_path
from hypothesis import strategies as st

from flatstream.schema import BaseType, Schema
from flatstream.schema.model import SCALARS, FieldDef

SCHEMAS = Path(__file__).resolve().parent.parent / "examples" / "schemas"

#: A schema with every feature the codecs support.
FEATURES_FBS = """
namespace feat;

enum Color : ubyte { Red = 0, Green = 2, Blue = 3 }

enum Perm : ushort (bit_flags) { Read, Write, Exec }

/// A position.
struct Vec3 {
  x: float;
  y: float;
  z: float;
  color: Color;
}

/// A struct holding a struct, with padding inside and at the end.
struct Pair {
  a: ubyte;
  v: Vec3;
  d: double;
  tail: short;
}

table Inner {
  a: int;
  s: string;
}

table Other {
  b: ulong = 7;
  words: [string];
}

union Any { Inner, Other }

table Everything {
  flag: bool = true;
  i8v: byte = -3;
  u8v: ubyte;
  i16v: short = 1000;
  u16v: ushort;
  i32v: int;
  u32v: uint;
  i64v: long;
  u64v: ulong;
  f32v: float = 1.5;
  f64v: double;
  name: string;
  raw: [ubyte];
  ids: [int];
  doubles: [double];
  bools: [bool];
  colors: [Color];
  names: [string];
  inners: [Inner];
  vecs: [Vec3];
  pairs: [Pair];
  pos: Vec3;
  pair: Pair;
  child: Inner;
  thing: Any;
  opt: ubyte = null;
  opt_f: double = null;
  color: Color = Blue;
  perm: Perm = Read;
  dep: int (deprecated);
  req: string (required);
  next: Everything;
}

root_type Everything;
file_identifier "EVRY";
"""

_module_ids = itertools.count()


def write_fbs(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.fbs"
    path.write_text(text)
    return path


def generate_module(fbs: Path, out_dir: Path) -> ModuleType:
    """flatc's Python classes (one file, object API) for ``fbs``, imported
    under a name of their own."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [flatc_path(), "--python", "--gen-onefile", "--gen-object-api", "-o", str(out_dir), str(fbs)],
        check=True,
        capture_output=True,
    )
    path = out_dir / f"{fbs.stem}_generated.py"
    spec = importlib.util.spec_from_file_location(f"flatc_gen_{next(_module_ids)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flatc_json(fbs: Path, payloads: List[bytes], work: Path) -> List[Dict[str, Any]]:
    """``flatc --json --raw-binary --strict-json`` of each payload."""
    work.mkdir(parents=True, exist_ok=True)
    names = []
    for n, payload in enumerate(payloads):
        path = work / f"buf{n}.bin"
        path.write_bytes(bytes(payload))
        names.append(str(path))
    subprocess.run(
        [flatc_path(), "--json", "--raw-binary", "--strict-json", "-o", str(work), str(fbs), "--", *names],
        check=True,
        capture_output=True,
    )
    return [json.loads((work / f"buf{n}.json").read_text()) for n in range(len(payloads))]


def flatc_binary(fbs: Path, documents: List[Dict[str, Any]], work: Path) -> List[bytes]:
    """``flatc -b`` of each JSON document: buffers built by the C++ builder
    (which orders fields differently from the Python one)."""
    work.mkdir(parents=True, exist_ok=True)
    names = []
    for n, document in enumerate(documents):
        path = work / f"doc{n}.json"
        path.write_text(json.dumps(document))
        names.append(str(path))
    subprocess.run(
        [flatc_path(), "-b", "-o", str(work), str(fbs), *names], check=True, capture_output=True
    )
    return [(work / f"doc{n}.bin").read_bytes() for n in range(len(documents))]


def camel(name: str) -> str:
    """flatc's Python object-API attribute name for a field."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


# -- the normal form --------------------------------------------------------------


def _fields(schema: Schema, name: str) -> List[FieldDef]:
    return [f for f in schema.object(name).fields if not f.deprecated]


def _scalar(value: Any, base: BaseType) -> Any:
    if value is None:
        return None
    if base is BaseType.BOOL:
        return bool(value)
    if base.is_float:
        return float(value)
    return int(value)


def _union_member_value(schema: Schema, union: str, obj: Any, objapi: bool) -> int:
    name = type(obj).__name__
    if objapi:
        assert name.endswith("T")
        name = name[:-1]
    for member in schema.unions[union].members:
        if member.table is not None and short(member.table) == name:
            return member.value
    raise AssertionError(f"{type(obj).__name__} is no member of {union}")


def normal(schema: Schema, name: str, obj: Any, objapi: bool = False) -> Optional[Dict[str, Any]]:
    """The normal form of a table or struct object: a codec's (``objapi``
    False) or one of flatc's object API (camelCase attributes, bytes strings)."""
    if obj is None:
        return None
    out: Dict[str, Any] = {}
    fields = _fields(schema, name)
    for fdef in fields:
        ftype = fdef.type
        if ftype.base is BaseType.UTYPE:
            continue
        attr = camel(fdef.name) if objapi else fdef.name
        value = getattr(obj, attr)
        if ftype.base is BaseType.UNION:
            if value is None:
                out[fdef.name] = None
            else:
                number = _union_member_value(schema, ftype.ref or "", value, objapi)
                member = schema.unions[ftype.ref or ""].member_for_value(number)
                assert member is not None and member.table is not None
                out[fdef.name] = (number, normal(schema, member.table, value, objapi))
            continue
        out[fdef.name] = _normal_value(schema, fdef, value, objapi)
    return out


def _normal_value(schema: Schema, fdef: FieldDef, value: Any, objapi: bool) -> Any:
    ftype = fdef.type
    base = ftype.base
    if value is None:
        return None
    if base.is_scalar:
        return _scalar(value, base)
    if base is BaseType.STRING:
        return value.decode("utf-8") if isinstance(value, bytes) else value
    if base is BaseType.OBJ:
        return normal(schema, ftype.ref or "", value, objapi)
    if base is BaseType.VECTOR:
        element = ftype.element
        if element.is_scalar:
            if isinstance(value, np.ndarray):
                value = value.tolist()
            return [_scalar(v, element) for v in value]
        if element is BaseType.STRING:
            return [v.decode("utf-8") if isinstance(v, bytes) else v for v in value]
        return [normal(schema, ftype.ref or "", v, objapi) for v in value]
    raise AssertionError(base)


def normal_from_json(schema: Schema, name: str, data: Optional[Dict[str, Any]]) -> Any:
    """The normal form of ``flatc --json`` output for table/struct ``name``."""
    if data is None:
        return None
    out: Dict[str, Any] = {}
    for fdef in _fields(schema, name):
        ftype = fdef.type
        if ftype.base is BaseType.UTYPE:
            continue
        value = data.get(fdef.name)
        if ftype.base is BaseType.UNION:
            type_name = data.get(fdef.name + "_type")
            if type_name is None or value is None:
                out[fdef.name] = None
                continue
            union = schema.unions[ftype.ref or ""]
            member = next(m for m in union.members if m.name == type_name)
            assert member.table is not None
            out[fdef.name] = (member.value, normal_from_json(schema, member.table, value))
            continue
        if value is None:
            if ftype.is_scalar and not fdef.optional:
                value = fdef.default
            else:
                out[fdef.name] = None
                continue
        out[fdef.name] = _json_value(schema, fdef.type.base, fdef.type.element, fdef.type.ref, value)
    return out


def _enum_number(schema: Schema, ref: Optional[str], value: Any) -> int:
    if isinstance(value, str) and ref in schema.enums:
        values = schema.enums[ref or ""].values
        number = 0
        for part in value.split():
            number |= values[part]
        return number
    return int(value)


def _json_value(schema: Schema, base: BaseType, element: BaseType, ref: Optional[str], value: Any) -> Any:
    if base.is_scalar:
        if ref in schema.enums:
            return _enum_number(schema, ref, value)
        return _scalar(value, base)
    if base is BaseType.STRING:
        return value
    if base is BaseType.OBJ:
        return normal_from_json(schema, ref or "", value)
    if base is BaseType.VECTOR:
        return [_json_value(schema, element, BaseType.NONE, ref, v) for v in value]
    raise AssertionError(base)


def same(a: Any, b: Any, rel: float = 0.0) -> bool:
    """Deep equality of normal forms; NaN equals NaN; floats within ``rel``
    (and as much absolute error: flatc prints a fixed number of decimals)."""
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or (rel > 0 and math.isclose(a, b, rel_tol=rel, abs_tol=rel))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], rel) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rel) for x, y in zip(a, b))
    return bool(a == b) and type(a) is type(b)


def explain(a: Any, b: Any, path: str = "") -> str:
    """Where two normal forms differ (for assertion messages)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only on one side"
            if not same(a[key], b[key]):
                return explain(a[key], b[key], f"{path}.{key}")
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b)):
            if not same(x, y):
                return explain(x, y, f"{path}[{n}]")
    return f"{path}: {a!r} != {b!r}"


# -- building objects from the normal form ------------------------------------------


def build(schema: Schema, name: str, form: Optional[Dict[str, Any]]) -> Any:
    """An object of the codec's Python class for ``name`` holding ``form``."""
    if form is None:
        return None
    cls = schema.python_type(name)
    accepted = _init_fields(cls)
    kwargs: Dict[str, Any] = {}
    for fdef in _fields(schema, name):
        ftype = fdef.type
        if ftype.base is BaseType.UTYPE or fdef.name not in form:
            continue  # absent from the form: the class's default
        value = form[fdef.name]
        if ftype.base is BaseType.UNION:
            if value is not None:
                number, inner = value
                member = schema.unions[ftype.ref or ""].member_for_value(number)
                assert member is not None and member.table is not None
                kwargs[fdef.name] = build(schema, member.table, inner)
                type_name = _type_field(schema, name, fdef)
                if type_name in accepted:
                    kwargs[type_name] = number
            else:
                kwargs[fdef.name] = None
            continue
        kwargs[fdef.name] = _build_value(schema, fdef, value, cls)
    return cls(**{k: v for k, v in kwargs.items() if k in accepted})


def _type_field(schema: Schema, owner: str, value_field: FieldDef) -> str:
    for fdef in schema.object(owner).fields:
        if fdef.type.base is BaseType.UTYPE and fdef.id == value_field.id - 1:
            return fdef.name
    raise AssertionError("no union type field")


def _init_fields(cls: Any) -> List[str]:
    import dataclasses

    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return list(cls.__flatstream_fields__)


def _build_value(schema: Schema, fdef: FieldDef, value: Any, owner_cls: Any) -> Any:
    ftype = fdef.type
    if value is None:
        return None
    if ftype.base.is_scalar:
        if ftype.ref in schema.enums:
            enum_cls = schema.python_type(ftype.ref or "")
            try:
                return enum_cls(value)
            except ValueError:
                return value
        return value
    if ftype.base is BaseType.OBJ:
        return build(schema, ftype.ref or "", value)
    if ftype.base is BaseType.VECTOR:
        if ftype.element is BaseType.OBJ:
            return [build(schema, ftype.ref or "", v) for v in value]
        if ftype.element.is_scalar and _wants_bytes(owner_cls, fdef.name):
            return bytes(value)
        return list(value)
    return value


def _wants_bytes(cls: Any, name: str) -> bool:
    import typing

    try:
        hint = typing.get_type_hints(cls).get(name)
    except Exception:
        return False
    return any(a is bytes for a in (typing.get_args(hint) or (hint,)))


def build_objapi(module: ModuleType, schema: Schema, name: str, form: Optional[Dict[str, Any]]) -> Any:
    """An object of flatc's Python object API (``<Name>T``) holding ``form``."""
    if form is None:
        return None
    obj = getattr(module, short(name) + "T")()
    for fdef in _fields(schema, name):
        ftype = fdef.type
        attr = camel(fdef.name)
        if ftype.base is BaseType.UTYPE or fdef.name not in form:
            continue  # absent from the form: the generated class's default
        value = form[fdef.name]
        if ftype.base is BaseType.UNION:
            type_attr = camel(_type_field(schema, name, fdef))
            if value is None:
                setattr(obj, type_attr, 0)
                setattr(obj, attr, None)
            else:
                number, inner = value
                member = schema.unions[ftype.ref or ""].member_for_value(number)
                assert member is not None and member.table is not None
                setattr(obj, type_attr, number)
                setattr(obj, attr, build_objapi(module, schema, member.table, inner))
            continue
        if value is not None and ftype.base is BaseType.OBJ:
            value = build_objapi(module, schema, ftype.ref or "", value)
        elif value is not None and ftype.base is BaseType.VECTOR and ftype.element is BaseType.OBJ:
            value = [build_objapi(module, schema, ftype.ref or "", v) for v in value]
        elif value is not None and ftype.base is BaseType.VECTOR and ftype.element.is_scalar:
            # A numpy array makes Pack call CreateNumpyVector: the same layout as
            # its element loop, which cannot write negative [byte] elements
            # (flatbuffers' Builder.PrependByte packs as uint8).
            value = np.array(value, dtype=SCALARS[ftype.element].dtype)
        elif value is not None and ftype.base is BaseType.VECTOR:
            value = list(value)
        setattr(obj, attr, value)
    return obj


def pack_objapi(module: ModuleType, schema: Schema, name: str, form: Dict[str, Any], ident: Optional[str]) -> bytes:
    """The official builder's buffer for ``form`` (the object API's ``Pack``)."""
    builder = flatbuffers.Builder(0)
    root = build_objapi(module, schema, name, form).Pack(builder)
    builder.Finish(root, ident.encode() if ident else None)
    return bytes(builder.Output())


def unpack_objapi(module: ModuleType, schema: Schema, name: str, payload: Any) -> Any:
    """The normal form of ``payload`` read by flatc's generated classes."""
    cls = getattr(module, short(name) + "T")
    return normal(schema, name, cls.InitFromPackedBuf(bytes(payload), 0), objapi=True)


# -- values from the schema ---------------------------------------------------------


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]  # type: ignore[no-any-return]


def scalar_values(schema: Schema, base: BaseType, ref: Optional[str], finite: bool) -> Any:
    if ref in schema.enums:
        definition = schema.enums[ref or ""]
        values = list(definition.values.values())
        if definition.bit_flags:
            return st.lists(st.sampled_from(values), max_size=3).map(lambda vs: sum(set(vs)))
        return st.sampled_from(values)
    if base is BaseType.BOOL:
        return st.booleans()
    info = SCALARS[base]
    if base is BaseType.FLOAT:
        return st.floats(width=32, allow_nan=not finite, allow_infinity=not finite)
    if base is BaseType.DOUBLE:
        return st.floats(allow_nan=not finite, allow_infinity=not finite)
    bounds = st.integers(int(info.min), int(info.max))
    return st.one_of(st.sampled_from([0, int(info.min), int(info.max)]), bounds)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def values(schema: Schema, name: str, depth: int = 2, finite: bool = False) -> Any:
    """A strategy of normal forms for table or struct ``name``."""
    definition = schema.object(name)
    parts: Dict[str, Any] = {}
    for fdef in _fields(schema, name):
        ftype = fdef.type
        base = ftype.base
        if base is BaseType.UTYPE:
            continue
        if base.is_scalar:
            strategy = scalar_values(schema, base, ftype.ref, finite)
            if fdef.optional:
                strategy = st.none() | strategy
            elif not definition.is_struct:
                strategy = st.just(fdef.default) | strategy
            parts[fdef.name] = strategy
            continue
        if base is BaseType.STRING:
            strategy = _TEXT
        elif base is BaseType.OBJ and ftype.ref in schema.structs:
            strategy = values(schema, ftype.ref or "", depth, finite)
        elif base is BaseType.OBJ:
            if depth <= 0:
                parts[fdef.name] = st.none()
                continue
            strategy = values(schema, ftype.ref or "", depth - 1, finite)
        elif base is BaseType.UNION:
            members = [m for m in schema.unions[ftype.ref or ""].members if m.table is not None]
            if depth <= 0 or not members:
                parts[fdef.name] = st.none()
                continue
            strategy = st.one_of(
                [values(schema, m.table or "", depth - 1, finite).map(lambda v, n=m.value: (n, v)) for m in members]
            )
        elif base is BaseType.VECTOR:
            element = ftype.element
            if element.is_scalar:
                inner = scalar_values(schema, element, ftype.ref, finite)
            elif element is BaseType.STRING:
                inner = _TEXT
            elif ftype.ref in schema.structs:
                inner = values(schema, ftype.ref or "", depth, finite)
            elif depth <= 0:
                parts[fdef.name] = st.none() | st.just([])
                continue
            else:
                inner = values(schema, ftype.ref or "", depth - 1, finite)
            strategy = st.lists(inner, max_size=4)
        else:
            raise AssertionError(base)
        parts[fdef.name] = strategy if fdef.required or definition.is_struct else st.none() | strategy
    return st.fixed_dictionaries(parts)


def canonical(schema: Schema, name: str, form: Any) -> Any:
    """``form`` as a decoder must give it back: float32 values rounded to
    float32, integer enum values kept, absent scalars at their default."""
    if form is None:
        return None
    out = {}
    for fdef in _fields(schema, name):
        ftype = fdef.type
        if ftype.base is BaseType.UTYPE:
            continue
        value = form.get(fdef.name)
        if ftype.base is BaseType.UNION and value is not None:
            member = schema.unions[ftype.ref or ""].member_for_value(value[0])
            assert member is not None and member.table is not None
            value = (value[0], canonical(schema, member.table, value[1]))
        elif value is not None:
            value = _canonical_value(schema, ftype.base, ftype.element, ftype.ref, value)
        out[fdef.name] = value
    return out


def _canonical_value(schema: Schema, base: BaseType, element: BaseType, ref: Optional[str], value: Any) -> Any:
    if base is BaseType.FLOAT:
        return _f32(value)
    if base.is_scalar:
        return _scalar(value, base)
    if base is BaseType.OBJ:
        return canonical(schema, ref or "", value)
    if base is BaseType.VECTOR:
        return [_canonical_value(schema, element, BaseType.NONE, ref, v) for v in value]
    return value
