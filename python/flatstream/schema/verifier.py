"""The schema-driven verifier: is a buffer a well-formed FlatBuffer of a table?

It checks what the official C++ ``flatbuffers::Verifier`` checks (stricter
checks C++ does not make are options, off by default: see
:class:`VerifyOptions`): the root offset, every table's vtable (inside the
buffer, aligned, even-sized), every field inside the buffer and aligned to
its size, every offset non-zero and inside the buffer, every
string and vector inside the buffer (strings NUL-terminated, optionally valid
UTF-8), every vector element, union member and nested table verified in
turn, required fields present, a ``nested_flatbuffer`` field's bytes verified
as a buffer of its table, and limits on nesting depth, table count and
buffer size. Unknown union types are accepted (newer writers may add
members), as the C++ verifier does.

    verify(schema, "TelemetryEvent", payload)          # None, or raises
    validator = schema.verifier("TelemetryEvent")      # for readers and writers

Like the codecs it compiles one small function per table and vtable (the
vtable's bytes are the cache key), so verifying a message whose layout was
seen before costs a few comparisons per field. It raises
:class:`~flatstream.schema.VerificationError` (a
:class:`~flatstream.ValidationFailed`) and nothing else.

The native twin (``flatstream._native.SchemaVerifier``, ``src/verifier.rs``)
takes the same checks, lowered once into a plain description (`_lower`), and
answers every buffer as these functions do: accepted, or refused with the
same reason and position. It is chosen at each call while
``flatstream._kernels.SchemaVerifier`` is set (not under
``FLATSTREAM_PURE_PYTHON=1``); a schema or options it cannot describe, and
objects that are not flat byte buffers, are left to the functions here.

Why one module of ~950 lines: most of it is one class, the compiler, whose
per-construct methods generate one verifying function per table and call each
other for nested tables, vectors, unions and nested buffers; their shared
state (the generated functions, the options, the lowering for the native
twin) is that class. What stands apart has been moved out
(``_verify_members`` for union members and vectors of unions, ``_compiler``
for the message helpers the codec compilers share); splitting the class
itself would spread one recursion over files.
"""

from __future__ import annotations

import functools
import itertools
import linecache
import struct
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .. import _kernels
from ._compiler import fixed_message
from ._verify_members import lowered_member, member_check, union_vector_check
from .errors import VerificationError
from .model import SCALARS, BaseType, Schema, SchemaError, TableDef, register_builder

__all__ = ["VerifyOptions", "SchemaVerifier", "verify", "compile_verifier"]

_MAX_BUFFER_SIZE = 0x7FFFFFFF
_CACHE_LIMIT = 64
_ROOT_CACHE_LIMIT = 256

_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_HH = struct.Struct("<HH").unpack_from

_serial = itertools.count()


@dataclass(frozen=True)
class VerifyOptions:
    """What the verifier checks, and its limits.

    ``max_depth``: tables nested deeper than this are refused (the root is at
    depth 1). ``max_tables``: at most this many tables in one buffer (bounds
    the work on buffers whose offsets share subtrees). ``max_size``: the
    largest buffer accepted. ``check_utf8``: refuse strings that are not
    UTF-8. ``check_alignment``: refuse misaligned scalars, offsets and
    vtables (the C++ default). ``file_identifier``: 4 characters the buffer
    must carry at bytes 4-7, or ``None`` not to check.

    By default the verdict is the official C++ ``flatbuffers::Verifier``'s.
    Two stricter checks are options, off by default because C++ accepts
    what they refuse: ``check_length`` refuses a buffer whose length is not
    a multiple of 4 (every builder pads a finished buffer to at least 4, so
    this catches a truncation that cut only trailing padding, which no
    structural check can see); ``check_table_size`` refuses a field that
    lies outside its table's declared inline size (the vtable's second
    entry) or overlaps the table's vtable offset, and a table whose
    declared size runs past the buffer. C++ bounds each field by the buffer
    alone, and real writers rely on it: the official Python builder of
    release 24.3.25 declares sizes too small when a field needs alignment
    padding.
    """

    max_depth: int = 64
    max_tables: int = 1_000_000
    max_size: int = _MAX_BUFFER_SIZE
    check_utf8: bool = False
    check_alignment: bool = True
    check_length: bool = False
    file_identifier: Optional[str] = None
    check_table_size: bool = False

    def __post_init__(self) -> None:
        if self.max_depth < 1 or self.max_tables < 1:
            raise ValueError("max_depth and max_tables must be positive")
        if not 8 <= self.max_size <= _MAX_BUFFER_SIZE:
            raise ValueError(f"max_size must be between 8 and {_MAX_BUFFER_SIZE}")
        if self.file_identifier is not None and len(self.file_identifier.encode("ascii")) != 4:
            raise ValueError("a file identifier is 4 ASCII characters")


class _Check:
    """How to verify one field (shared by the compiled and the generic checks)."""

    def __init__(self, fdef: Any, where: str) -> None:
        self.fdef = fdef
        self.where = where
        self.kind = ""
        self.width = 4
        self.alignment = 4
        self.element = 0
        self.target = ""  # the function (by name) that checks what the field points to
        self.members: Dict[int, str] = {}
        self.type_id = -1
        self.nested = ""  # the full name of a nested flatbuffer's root table


class _Fault(Exception):
    """Raised inside the compiled functions; the entry point names the verifier."""

    def __init__(self, reason: str, position: Optional[int]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.position = position


def _fail(reason: str, position: Optional[int] = None) -> Any:
    raise _Fault(reason, position)


# -- checks the compiled functions call --------------------------------------------


def _offset_target(buf: Any, at: int, n: int) -> int:
    """The position a uoffset stored at ``at`` points to (``at`` already checked)."""
    off = _U32(buf, at)[0]
    if off == 0 or off >= 0x80000000:
        _fail(f"offset {off} is not a valid forward offset", at)
    target = at + off
    if target >= n:
        _fail(f"offset {off} points past the end of the {n}-byte buffer", at)
    return target


def _vector_length(buf: Any, pos: int, n: int, element_size: int, align_check: bool) -> int:
    """Check a vector's (or string's) length field and that its elements fit."""
    if align_check and pos & 3:
        _fail("a vector's length is not 4-byte aligned", pos)
    if pos + 4 > n:
        _fail("a vector's length runs past the end of the buffer", pos)
    count = _U32(buf, pos)[0]
    if pos + 4 + count * element_size > n:
        _fail(f"a vector of {count} elements runs past the end of the {n}-byte buffer", pos)
    return count  # type: ignore[no-any-return]


def _check_string(buf: Any, pos: int, n: int, utf8: bool, align_check: bool) -> None:
    length = _vector_length(buf, pos, n, 1, align_check)
    end = pos + 4 + length
    if end >= n:
        _fail("a string's terminating NUL is past the end of the buffer", pos)
    if buf[end] != 0:
        _fail("a string is not NUL-terminated", end)
    if utf8:
        try:
            str(buf[pos + 4 : end], "utf-8")
        except UnicodeDecodeError as exc:
            _fail(f"a string is not UTF-8: {exc.reason} at its byte {exc.start}", pos + 4 + exc.start)


def _check_string_vector(buf: Any, pos: int, n: int, utf8: bool, align_check: bool) -> None:
    count = _vector_length(buf, pos, n, 4, align_check)
    for i in range(count):
        at = pos + 4 + 4 * i
        _check_string(buf, _offset_target(buf, at, n), n, utf8, align_check)


def _check_table_vector(
    buf: Any, pos: int, n: int, table: Callable[..., None], depth: int, st: List[int], align_check: bool
) -> None:
    count = _vector_length(buf, pos, n, 4, align_check)
    for i in range(count):
        at = pos + 4 + 4 * i
        table(buf, _offset_target(buf, at, n), depth, st)


# -- compiling ---------------------------------------------------------------------


class _Source:
    def __init__(self) -> None:
        self.lines: List[str] = []
        self.depth = 0

    def __call__(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def indent(self) -> None:
        self.depth += 1

    def dedent(self) -> None:
        self.depth -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class _Compiler:
    """Generates the verifier functions of one schema for one set of options."""

    def __init__(self, schema: Schema, options: VerifyOptions) -> None:
        self.schema = schema
        self.options = options
        self.serial = next(_serial)
        self.counter = 0
        self.ns: Dict[str, Any] = {
            "__builtins__": __builtins__,
            "fail": _fail,
            "I32": _I32,
            "U32": _U32,
            "HH": _HH,
            "target": _offset_target,
            "vlen": _vector_length,
            "vstring": _check_string,
            "vstrings": _check_string_vector,
            "vtables": _check_table_vector,
            "vunions": union_vector_check(_vector_length, _offset_target, _fail),
        }
        self.ns["NS"] = self.ns
        self.tables: Dict[str, str] = {}
        self.caches: Dict[str, Dict[bytes, Any]] = {}
        self.misses: Dict[str, Callable[[bytes, int], Any]] = {}
        self.roots: Dict[Tuple[str, Optional[str]], Callable[[Any], None]] = {}
        self.field_checks: Dict[str, List[_Check]] = {}
        # (table, vtable bytes) -> (table length, [(field offset, alignment)]) for
        # tables whose present fields are all inline
        self.fixed: Dict[Tuple[str, bytes], Tuple[int, List[Tuple[int, int]]]] = {}
        # (table, file identifier) -> its native twin, or None where there is none
        self.natives: Dict[Tuple[str, Optional[str]], Any] = {}

    def const(self, value: Any, hint: str) -> str:
        name = f"{hint}_{self.counter}"
        self.counter += 1
        self.ns[name] = value
        return name

    def run(self, src: _Source, label: str) -> None:
        text = src.text()
        filename = f"<flatstream verifier {self.serial}:{self.counter}:{label}>"
        self.counter += 1
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        exec(compile(text, filename, "exec"), self.ns)

    def table(self, name: str) -> str:
        """The name of ``check(buf, pos, depth, st)`` for a table at ``pos``."""
        fn = self.tables.get(name)
        if fn is not None:
            return fn
        fn = self.tables[name] = f"vt_{self.counter}"
        self.counter += 1
        cache: Dict[bytes, Any] = {}
        self.caches[name] = cache
        self.misses[name] = self.specialiser(name, cache)
        cache_name = self.const(cache, "VC")
        miss = self.const(self.misses[name], "MISS")
        align = self.options.check_alignment
        src = _Source()
        src(f"def {fn}(buf, pos, depth, st):")
        src.indent()
        src("n = len(buf)")
        if align:
            src("if pos & 3:")
            src(f"    fail('the table {name} is not 4-byte aligned', pos)")
        src("if pos + 4 > n:")
        src(f"    fail('the table {name} starts past the end of the buffer', pos)")
        src(f"if depth > {self.options.max_depth}:")
        src(f"    fail('tables nest deeper than {self.options.max_depth}', pos)")
        src("st[0] -= 1")
        src("if st[0] < 0:")
        src(f"    fail('the buffer holds more than {self.options.max_tables} tables', pos)")
        src("vt = pos - I32(buf, pos)[0]")
        src(f"if vt < 0 or vt + 4 > n{' or vt & 1' if align else ''}:")
        src("    fail(f'the vtable offset of a table points to byte {vt}, outside the buffer', pos)")
        src("vl, tl = HH(buf, vt)")
        src("if vl < 4 or vl & 1 or vt + vl > n:")
        src("    fail(f'the vtable at byte {vt} has an invalid size {vl}', vt)")
        src("key = buf[vt:vt + vl]")
        src("if type(key) is not bytes:")
        src("    key = bytes(key)")
        src(f"f = {cache_name}.get(key)")
        src("if f is None:")
        src(f"    f = {miss}(key, vt)")
        src("f(buf, pos, depth, st)")
        self.run(src, f"table {name}")
        return fn

    def specialiser(self, name: str, cache: Dict[bytes, Any]) -> Callable[[bytes, int], Any]:
        generic: List[Any] = []

        def miss(key: bytes, vt: int) -> Any:
            if len(cache) >= _CACHE_LIMIT:
                # Too many layouts (hostile input?): interpret instead of compiling more.
                if not generic:
                    generic.append(self.generic(name))
                return generic[0]
            fn = self.specialised(name, key)
            cache[key] = fn
            return fn

        return miss

    def checks(self, name: str) -> List[_Check]:
        """What to check for each field of table ``name``."""
        cached = self.field_checks.get(name)
        if cached is not None:
            return cached
        table = self.schema.tables[name]
        out: List[_Check] = []
        type_ids = {f.id: f for f in table.fields if f.type.base is BaseType.UTYPE}
        for fdef in table.fields:
            base = fdef.type.base
            where = f"{name}.{fdef.name}"
            check = _Check(fdef, where)
            if base.is_scalar:
                check.width = check.alignment = SCALARS[base].size
                check.kind = "scalar"
            elif base is BaseType.OBJ and fdef.type.ref in self.schema.structs:
                struct_def = self.schema.structs[fdef.type.ref or ""]
                check.width, check.alignment = struct_def.bytesize, struct_def.minalign
                check.kind = "struct"
            elif base is BaseType.STRING:
                check.kind = "string"
            elif base is BaseType.OBJ:
                check.kind = "table"
                check.target = self.table(fdef.type.ref or "")
            elif base is BaseType.UNION:
                check.kind = "union"
                union = self.schema.unions[fdef.type.ref or ""]
                check.members = {
                    m.value: self.member(m.kind, m.table)
                    for m in union.members if m.kind != "table" or m.table is not None
                }
                type_field = type_ids.get(fdef.id - 1)
                check.type_id = type_field.id if type_field is not None else -1
            elif base is BaseType.VECTOR:
                element = fdef.type.element
                if element.is_scalar:
                    check.element = SCALARS[element].size
                    nested = self.schema.nested_root(table, fdef)
                    if nested is not None:
                        check.kind = "nested"
                        check.nested = nested
                        check.target = self.nested_root(nested, where)
                    else:
                        check.kind = "vector"
                elif element is BaseType.STRING:
                    check.kind = "strings"
                elif element is BaseType.UNION:
                    # Checked with its type vector (``id - 1``) by `vunions`.
                    check.kind = "unions"
                    union = self.schema.unions[fdef.type.ref or ""]
                    check.members = {
                        m.value: self.member(m.kind, m.table)
                        for m in union.members if m.kind != "table" or m.table is not None
                    }
                    check.type_id = fdef.id - 1
                elif element is BaseType.UTYPE:
                    check.kind = "utypes"  # its vector of unions (``id + 1``) checks it
                    check.type_id = fdef.id + 1
                elif element is BaseType.OBJ and fdef.type.ref in self.schema.structs:
                    check.kind = "vector"
                    check.element = self.schema.structs[fdef.type.ref or ""].bytesize
                elif element is BaseType.OBJ:
                    check.kind = "tables"
                    check.target = self.table(fdef.type.ref or "")
                else:
                    raise SchemaError(f"{where}: vectors of {element.name} are not supported")
            else:
                raise SchemaError(f"{where}: {base.name} fields are not supported")
            out.append(check)
        # Kept only when complete: a SchemaError above is raised again next time.
        self.field_checks[name] = out
        return out

    def member(self, kind: str, name: Optional[str]) -> str:
        """The function (by name) that checks a union member's value: a
        table's, or for a struct or string member one made by
        :func:`._verify_members.member_check`."""
        if kind == "table":
            return self.table(name or "")
        fn = f"um_{self.counter}"
        self.counter += 1
        size = self.schema.structs[name or ""].bytesize if kind == "struct" else 0
        self.ns[fn] = member_check(
            kind, size, self.options.check_utf8, self.options.check_alignment, _check_string, _fail
        )
        return fn

    def inline_problem(self, check: _Check, offset: int, table_len: int) -> Optional[str]:
        """Why a field at ``offset`` of a table of ``table_len`` bytes is
        refused whatever the table's position (None if it is not)."""
        if self.options.check_table_size and (offset < 4 or offset + check.width > table_len):
            return f"the field {check.where} at offset {offset} lies outside its table of {table_len} bytes"
        if self.options.check_alignment and 1 < check.alignment <= 4 and offset % check.alignment:
            return f"the field {check.where} is not {check.alignment}-byte aligned"
        return None

    def extent(self, checks: List[_Check], entries: Tuple[int, ...], table_len: int) -> int:
        """The bytes from a table's start that must lie in the buffer: its
        declared size under ``check_table_size``, else (as C++) its first 4
        and every present field."""
        if self.options.check_table_size:
            return table_len
        reach = 4
        for check in checks:
            fid = check.fdef.id
            offset = entries[fid] if fid < len(entries) else 0
            if offset:
                reach = max(reach, offset + check.width)
        return reach

    def overrun_message(self, name: str, extent: Any) -> str:
        """Why a table whose ``extent`` bytes do not fit is refused (``extent``:
        a number, or the text of an f-string field)."""
        if self.options.check_table_size:
            return f"the table {name} ({extent} bytes) runs past the end of the buffer"
        return f"the fields of the table {name} ({extent} bytes) run past the end of the buffer"

    def specialised(self, name: str, key: bytes) -> Any:
        """The checks of table ``name`` compiled for one vtable (``key``: its bytes)."""
        size = len(key)
        table_len = struct.unpack_from("<H", key, 2)[0]
        entries = struct.unpack_from(f"<{(size - 4) // 2}H", key, 4)
        fn = f"sv_{self.counter}"
        self.counter += 1
        checks = self.checks(name)
        extent = self.extent(checks, entries, table_len)
        src = _Source()
        src(f"def {fn}(buf, pos, depth, st):")
        src.indent()
        src("n = len(buf)")
        src(f"if pos + {extent} > n:")
        src(f"    fail({self.overrun_message(name, extent)!r}, pos)")
        problems: List[str] = []
        present: Dict[int, int] = {}
        for check in checks:
            fid = check.fdef.id
            offset = entries[fid] if fid < len(entries) else 0
            if not offset:
                if check.fdef.required:
                    problems.append(f"the required field {check.where} is missing")
                continue
            problem = self.inline_problem(check, offset, table_len)
            if problem:
                problems.append(problem)
                continue
            present[fid] = offset
            if self.options.check_alignment and check.alignment > 4:
                src(f"if (pos + {offset}) & {check.alignment - 1}:")
                src(f"    fail('the field {check.where} is not {check.alignment}-byte aligned', pos + {offset})")
        if problems:
            # Found from the vtable alone: every buffer with this vtable is refused.
            src = _Source()
            src(f"def {fn}(buf, pos, depth, st):")
            src(f"    fail({problems[0]!r}, pos)")
            self.run(src, f"refuse {name}")
            return self.ns[fn]
        utf8, align = self.options.check_utf8, self.options.check_alignment
        if all(check.kind in ("scalar", "struct") for check in checks if check.fdef.id in present):
            # Nothing to follow: given its position, such a table is checked
            # by its length and alignment alone (see `root`).
            wide = [
                (present[c.fdef.id], c.alignment) for c in checks
                if c.fdef.id in present and align and c.alignment > 4
            ]
            self.fixed[(name, key)] = (extent, wide)
        for check in checks:
            offset = present.get(check.fdef.id, 0)
            kind = check.kind
            if not offset or kind in ("scalar", "struct"):
                continue
            if kind in ("unions", "utypes"):
                value_offset = offset if kind == "unions" else present.get(check.type_id, 0)
                type_offset = present.get(check.type_id, 0) if kind == "unions" else offset
                if kind == "unions" or not value_offset:
                    src(f"vunions(buf, pos, {value_offset}, {type_offset}, n, NS, {check.members!r}, depth + 1, st, {align})")
                continue
            if kind == "union":
                type_offset = present.get(check.type_id, 0)
                if not type_offset:
                    continue  # type NONE: the value is ignored, as the C++ verifier does
                src(f"t = buf[pos + {type_offset}]")
                for number, (value, target) in enumerate(check.members.items()):
                    src(f"{'if' if number == 0 else 'elif'} t == {value}:")
                    src(f"    {target}(buf, target(buf, pos + {offset}, n), depth + 1, st)")
                continue
            src(f"p = target(buf, pos + {offset}, n)")
            if kind == "string":
                src(f"vstring(buf, p, n, {utf8}, {align})")
            elif kind == "table":
                src(f"{check.target}(buf, p, depth + 1, st)")
            elif kind == "vector":
                src(f"vlen(buf, p, n, {check.element}, {align})")
            elif kind == "nested":
                src(f"c = vlen(buf, p, n, 1, {align})")
                src(f"{check.target}(buf[p + 4:p + 4 + c], p + 4, depth)")
            elif kind == "strings":
                src(f"vstrings(buf, p, n, {utf8}, {align})")
            elif kind == "tables":
                src(f"vtables(buf, p, n, {check.target}, depth + 1, st, {align})")
        self.run(src, f"table {name} vtable {list(entries)}")
        return self.ns[fn]

    def generic(self, name: str) -> Callable[[Any, int, int, List[int]], None]:
        """The checks of table ``name`` for any vtable, interpreted (the
        vtable itself was checked by the caller)."""
        checks = self.checks(name)
        ns = self.ns
        options = self.options
        utf8, align = options.check_utf8, options.check_alignment

        def check_table(buf: Any, pos: int, depth: int, st: List[int]) -> None:
            n = len(buf)
            vt = pos - _I32(buf, pos)[0]
            vl, table_len = _HH(buf, vt)
            entries = struct.unpack_from(f"<{(vl - 4) // 2}H", buf, vt + 4)
            # In the order of `specialised`: faults of the vtable alone, then
            # the table's length, then the alignment of wide fields.
            for check in checks:
                fid = check.fdef.id
                offset = entries[fid] if fid < len(entries) else 0
                if not offset:
                    if check.fdef.required:
                        _fail(f"the required field {check.where} is missing", pos)
                    continue
                problem = self.inline_problem(check, offset, table_len)
                if problem:
                    _fail(problem, pos)
            extent = self.extent(checks, entries, table_len)
            if pos + extent > n:
                _fail(self.overrun_message(name, extent), pos)
            for check in checks:
                fid = check.fdef.id
                offset = entries[fid] if fid < len(entries) else 0
                if offset and align and check.alignment > 4 and (pos + offset) & (check.alignment - 1):
                    _fail(f"the field {check.where} is not {check.alignment}-byte aligned", pos + offset)
            for check in checks:
                fid = check.fdef.id
                offset = entries[fid] if fid < len(entries) else 0
                kind = check.kind
                if not offset or kind in ("scalar", "struct"):
                    continue
                if kind in ("unions", "utypes"):
                    other = entries[check.type_id] if 0 <= check.type_id < len(entries) else 0
                    value_offset, type_offset = (offset, other) if kind == "unions" else (other, offset)
                    if kind == "unions" or not value_offset:
                        ns["vunions"](buf, pos, value_offset, type_offset, n, ns, check.members, depth + 1, st, align)
                    continue
                if kind == "union":
                    type_offset = entries[check.type_id] if 0 <= check.type_id < len(entries) else 0
                    fn = check.members.get(buf[pos + type_offset]) if type_offset else None
                    if fn is not None:
                        ns[fn](buf, _offset_target(buf, pos + offset, n), depth + 1, st)
                    continue
                p = _offset_target(buf, pos + offset, n)
                if kind == "string":
                    _check_string(buf, p, n, utf8, align)
                elif kind == "table":
                    ns[check.target](buf, p, depth + 1, st)
                elif kind == "vector":
                    _vector_length(buf, p, n, check.element, align)
                elif kind == "nested":
                    count = _vector_length(buf, p, n, 1, align)
                    ns[check.target](buf[p + 4 : p + 4 + count], p + 4, depth)
                elif kind == "strings":
                    _check_string_vector(buf, p, n, utf8, align)
                elif kind == "tables":
                    _check_table_vector(buf, p, n, ns[check.target], depth + 1, st, align)

        return check_table

    def nested_root(self, name: str, where: str) -> str:
        """A function (bytes, position) checking a nested FlatBuffer of table
        ``name`` (a full name, from ``Schema.nested_root``)."""
        inner = self.root(name, None)

        def check(data: Any, position: int, depth: int) -> None:
            try:
                inner(data, depth + 1)  # type: ignore[call-arg]
            except _Fault as fault:
                where_inner = None if fault.position is None else position + fault.position
                _fail(f"in the nested flatbuffer {where}: {fault.reason}", where_inner)

        return self.const(check, "NEST")

    def known_shape(self, name: str, ident: Optional[str]) -> Optional[Tuple[bytes, int]]:
        """``codecs.fixed_message`` for ``name``, if this verifier accepts
        that shape (checked once, on a buffer of zeros after the header)."""
        try:
            shape = fixed_message(self.schema, name, ident)
        except SchemaError:
            return None
        if shape is None or shape[1] > self.options.max_size:
            return None
        header, length = shape
        sample = header + bytes(length - len(header))
        probe = _Compiler(self.schema, self.options)
        try:
            probe.root(name, ident, shortcut=False)(sample)
        except (_Fault, struct.error, IndexError, ValueError):
            return None
        return shape

    def root(self, name: str, ident: Optional[str], shortcut: bool = True) -> Callable[[Any], None]:
        """``check(buf)`` for a buffer with table ``name`` at its root;
        ``shortcut``: accept the shape of ``known_shape`` by comparison."""
        cached = self.roots.get((name, ident))
        if cached is not None:
            return cached
        check = self.table(name)
        vtable_cache = self.caches[name]
        miss = self.misses[name]
        cache: Dict[bytes, Any] = {}
        fixed_cache: Dict[bytes, int] = {}
        options = self.options
        align = options.check_alignment
        fixed = self.fixed

        def find(buf: Any, pos: int, key: bytes, n: int) -> Any:
            """Check the root's vtable as the table check does, return its
            specialised function and remember it by the buffer's prefix."""
            if align and pos & 3:
                _fail("the root table is not 4-byte aligned", pos)
            if pos + 4 > n:
                _fail("the root offset points past the end of the buffer", 0)
            vt = pos - _I32(buf, pos)[0]
            if vt < 0 or vt + 4 > n or (align and vt & 1):
                _fail(f"the vtable offset of the root table points to byte {vt}, outside the buffer", pos)
            vl = _HH(buf, vt)[0]
            if vl < 4 or vl & 1 or vt + vl > n:
                _fail(f"the vtable at byte {vt} has an invalid size {vl}", vt)
            vkey = bytes(buf[vt : vt + vl])
            fn = vtable_cache.get(vkey)
            if fn is None:
                fn = miss(vkey, vt)
            if 4 <= vt and vt + vl <= pos and len(key) == pos + 4 and len(cache) < _ROOT_CACHE_LIMIT:
                info = fixed.get((name, vkey))
                if info is not None and all((pos + off) % a == 0 for off, a in info[1]):
                    # Equal prefixes mean an equal, already checked layout: the
                    # buffer's length is all that is left to check.
                    fixed_cache[key] = info[0]
                elif vtable_cache.get(vkey) is fn:
                    cache[key] = fn
            return fn

        ident_bytes = ident.encode("ascii") if ident is not None else None
        fn = f"root_{self.counter}"
        self.counter += 1
        src = _Source()
        src(f"def {fn}(buf, depth=1):")
        src.indent()
        # depth > 1 for a nested flatbuffer: it counts toward the nesting limit.
        src(f"if depth > {self.options.max_depth}:")
        src(f"    fail('tables nest deeper than {self.options.max_depth}', 0)")
        known = self.known_shape(name, ident) if shortcut else None
        if known is not None:
            # The shape every builder gives this table with all fields present:
            # equal leading bytes and length leave nothing else to check.
            header, length = known
            src(f"if buf[:{len(header)}] == {self.const(header, 'HDR')} and len(buf) == {length}:")
            src("    return")
        src("n = len(buf)")
        src(f"if n < {8 if ident_bytes else 4}:")
        src("    fail(f'{n} bytes cannot hold a FlatBuffer', 0)")
        src(f"if n > {options.max_size}:")
        src(f"    fail(f'the buffer is {{n}} bytes, over the limit of {options.max_size}', 0)")
        if options.check_length:
            src("if n & 3:")
            src("    fail(f'the buffer is {n} bytes, not a multiple of 4: truncated or padded', n)")
        if ident_bytes is not None:
            src(f"if buf[4:8] != {ident_bytes!r}:")
            wanted = repr(ident)
            src(f"    fail(f'the file identifier is {{bytes(buf[4:8])!r}}, not \"{wanted[1:-1]}\"', 4)")
        src("pos = U32(buf, 0)[0]")
        src("key = buf[:pos + 4]")
        src("if type(key) is not bytes:")
        src("    key = bytes(key)")
        src(f"m = {self.const(fixed_cache, 'RX')}.get(key)")
        src("if m is not None:")
        src("    if pos + m > n:")
        # The refusal the table's own check gives (see `specialised`).
        src(f"        fail(f{self.overrun_message(name, '{m}')!r}, pos)")
        src("    return")
        src(f"f = {self.const(cache, 'RC')}.get(key)")
        src("if f is None:")
        src(f"    f = {self.const(find, 'RF')}(buf, pos, key, n)")
        # The root counts as one table at depth 1; its children go through `check`.
        src(f"f(buf, pos, depth, [{options.max_tables - 1}])")
        self.run(src, f"root {name}")
        del check
        root = self.ns[fn]
        self.roots[(name, ident)] = root
        return root  # type: ignore[no-any-return]


    def native(self, name: str, ident: Optional[str]) -> Any:
        """The native twin of ``root(name, ident)`` (a
        ``flatstream._native.SchemaVerifier``), or None if the native
        verifier cannot match it (or the extension is missing). Whether it
        runs is decided per call (see ``SchemaVerifier.native``)."""
        key = (name, ident)
        if key in self.natives:
            return self.natives[key]
        twin = None
        native_class: Any = getattr(_kernels.native, "SchemaVerifier", None)
        description = _lower(self, name, ident) if native_class is not None else None
        if description is not None:
            try:
                twin = native_class(
                    *description, f"SchemaVerifier({name})", VerificationError
                )
            except (ValueError, OverflowError, TypeError):
                twin = None  # limits past the native ones (max_depth)
        self.natives[key] = twin
        return twin


# -- the native twin's description ----------------------------------------------------

# `_Check.kind` as the native verifier numbers it (`Kind::from_code`).
_KINDS = {
    "scalar": 0, "struct": 1, "string": 2, "table": 3, "union": 4,
    "vector": 5, "nested": 6, "strings": 7, "tables": 8, "unions": 9, "utypes": 10,
}


def _lower(compiler: _Compiler, name: str, ident: Optional[str]) -> Optional[Tuple[Any, ...]]:
    """The arguments of ``_native.SchemaVerifier`` (before its name and error
    type) for ``compiler.root(name, ident)``: every table reachable from
    ``name`` with its field checks, and the roots (``name`` first, then each
    table a nested flatbuffer holds). None where the twins could not agree:
    a schema the pure checks refuse, or a file identifier its message would
    not show as it is."""
    if ident is not None and any(c in ident for c in "'{}"):
        return None
    schema, options = compiler.schema, compiler.options
    # A compiler of its own: finding the checks compiles functions and caches
    # them, and the shared compiler must meet them in its own time.
    lowering = _Compiler(schema, options)
    order: List[str] = []
    tables: Dict[str, int] = {}
    roots: List[Tuple[int, Optional[bytes], Optional[Tuple[bytes, int]]]] = []
    nested: Dict[str, int] = {}

    def table_id(table: str) -> int:
        if table not in tables:
            tables[table] = len(order)
            order.append(table)
        return tables[table]

    def root_id(table: str, ident: Optional[str]) -> int:
        roots.append((
            table_id(table),
            None if ident is None else ident.encode("ascii"),
            lowering.known_shape(table, ident),
        ))
        return len(roots) - 1

    described: List[Tuple[str, List[Tuple[Any, ...]]]] = []
    try:
        root_id(name, ident)
        while len(described) < len(order):
            table = order[len(described)]
            checks = lowering.checks(table)
            by_function = {fn: t for t, fn in lowering.tables.items()}
            fields: List[Tuple[Any, ...]] = []
            for check in checks:
                target, members = -1, []
                if check.kind in ("table", "tables"):
                    target = table_id(by_function[check.target])
                elif check.kind == "nested":
                    inner = check.nested
                    if inner not in nested:
                        nested[inner] = root_id(inner, None)
                    target = nested[inner]
                elif check.kind in ("union", "unions"):
                    # Only a byte is compared: other numbers never match.
                    members = [
                        (value,) + lowered_member(fn, lowering.ns, lambda f: table_id(by_function[f]))
                        for value, fn in check.members.items() if 0 <= value <= 255
                    ]
                fields.append((
                    _KINDS[check.kind], check.fdef.id, bool(check.fdef.required), check.width,
                    check.alignment, check.element, target, check.type_id, members, check.where,
                ))
            described.append((table, fields))
    except (SchemaError, LookupError):
        return None  # the pure checks raise it when they meet it; leave it to them
    return (
        described, roots, options.max_depth, options.max_tables, options.max_size,
        options.check_utf8, options.check_alignment, options.check_length,
        options.check_table_size,
    )


def _compiler(schema: Schema, options: VerifyOptions) -> _Compiler:
    """The schema's compiler for ``options`` (any file identifier)."""
    compilers = schema.__dict__.setdefault("_verifiers", {})
    key = replace(options, file_identifier=None)
    compiler = compilers.get(key)
    if compiler is None:
        # A model not made by a loader (which checks it) fails here, when
        # the verifier is made, rather than on the first buffer.
        schema.check_references()
        compiler = compilers[key] = _Compiler(schema, key)
    return compiler  # type: ignore[no-any-return]


def compile_verifier(schema: Schema, table: Union[str, TableDef, None], options: VerifyOptions) -> Callable[[Any], None]:
    """The compiled root check of ``table`` (raises an internal fault; use
    :func:`verify` or :class:`SchemaVerifier`)."""
    name = table.name if isinstance(table, TableDef) else schema.table(table).name
    return _compiler(schema, options).root(name, options.file_identifier)


# What reading a buffer object can raise besides the checks' own faults: a
# guard, since every read is range-checked first (RecursionError: nested
# flatbuffers inside nested flatbuffers; BufferError, NotImplementedError:
# memoryviews that are not contiguous or not of plain bytes).
_MALFORMED = (
    struct.error, IndexError, ValueError, TypeError, OverflowError, RecursionError,
    BufferError, NotImplementedError,
)


def _run(check: Callable[[Any], None], buffer: Any, name: str) -> None:
    try:
        check(buffer)
    except _Fault as fault:
        raise VerificationError(name, fault.reason, position=fault.position) from None
    except _MALFORMED as exc:
        raise VerificationError(name, f"malformed buffer ({type(exc).__name__}: {exc})") from None


def verify(
    schema: Schema,
    table: Union[str, TableDef, None],
    buffer: Any,
    options: Optional[VerifyOptions] = None,
) -> None:
    """Verify that ``buffer`` (any bytes-like) is a FlatBuffer whose root is
    ``table`` of ``schema`` (``None``: the schema's root table). Returns
    None, or raises :class:`VerificationError`."""
    options = options or VerifyOptions()
    name = table.name if isinstance(table, TableDef) else schema.table(table).name
    compiler = _compiler(schema, options)
    if _kernels.SchemaVerifier is not None:
        twin = compiler.native(name, options.file_identifier)
        if twin is not None and twin.verify(buffer):
            return
    _run(compiler.root(name, options.file_identifier), buffer, f"SchemaVerifier({name})")


_UNBUILT: Any = object()


def _not_native(payload: Any) -> bool:
    return False


class SchemaVerifier:
    """A validator (``name``, ``validate(payload)``) that verifies each payload
    against a table of a schema; attach it to a framer or deframer with
    ``with_validator``.

    Keyword options are those of :class:`VerifyOptions`; ``file_identifier``
    defaults to the schema's when ``table`` is its root table (pass ``None``
    not to check).
    """

    _UNSET: Any = object()

    def __init__(
        self,
        schema: Schema,
        table: Union[str, TableDef, None] = None,
        *,
        file_identifier: Any = _UNSET,
        **options: Any,
    ) -> None:
        definition = table if isinstance(table, TableDef) else schema.table(table)
        if file_identifier is SchemaVerifier._UNSET:
            file_identifier = (
                schema.file_identifier if definition.name == schema.root_table else None
            )
        self.options = VerifyOptions(file_identifier=file_identifier, **options)
        self.schema = schema
        self.table = definition
        self.name = f"SchemaVerifier({definition.name})"
        self._compiler = _compiler(schema, self.options)
        self._check = self._compiler.root(definition.name, file_identifier)
        self._twin: Any = _UNBUILT
        # The twin's `verify` once built (`_first_native` builds it), or
        # `_not_native` where there is no twin: one call in `validate`.
        self._verify_native: Callable[[Any], bool] = self._first_native

    @property
    def native(self) -> Any:
        """The native twin that verifies for this validator now
        (``flatstream._native.SchemaVerifier``), or None: pure-Python kernels
        selected, or a schema the native verifier does not cover."""
        if _kernels.SchemaVerifier is None:
            return None
        if self._twin is _UNBUILT:
            self._twin = self._compiler.native(self.table.name, self.options.file_identifier)
            self._verify_native = _not_native if self._twin is None else self._twin.verify
        return self._twin

    def _first_native(self, payload: Any) -> bool:
        twin = self.native
        return twin is not None and twin.verify(payload)  # type: ignore[no-any-return]

    def validate(self, payload: Any) -> None:
        """Return if ``payload`` is a valid buffer; raise :class:`VerificationError` if not."""
        # The twin raises the same VerificationError; False: not a flat byte
        # buffer (or no twin), so the pure checks answer.
        if _kernels.SchemaVerifier is not None and self._verify_native(payload):
            return
        _run(self._check, payload, self.name)

    __call__ = validate

    def bound(self) -> Callable[[Any], None]:
        """:meth:`validate` as one callable for hot loops: the native twin's
        own ``validate`` where there is one (it runs the pure checks itself
        while the pure-Python kernels are selected, and for payloads it does
        not read), no Python frame in between; else :meth:`validate`."""
        twin = self._compiler.native(self.table.name, self.options.file_identifier)
        if twin is None:
            return self.validate
        # Not bound to self: the twin is shared through the compiler's cache.
        twin.bind_fallback(functools.partial(_run, self._check, name=self.name), vars(_kernels))
        return twin.validate  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<{self.name}>"


register_builder("verifier", SchemaVerifier)
