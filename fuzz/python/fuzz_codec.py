"""atheris target: schema verify + decode over arbitrary bytes, and the
round trip of whatever verifies.

Input: a schema choice (the four example schemas, a rich .fbs table with
strings, vectors of every kind, nested tables, a union of tables, a
struct and a string and a vector of it, a nested
flatbuffer and structs holding fixed-length arrays, a rich ``@fs.table``
class with ``bytes``, optional scalars and a union of classes, and a table
of scalars and an array-holding struct, which has a native twin), a flags byte (bytes, bytearray or memoryview), then the
payload. Properties:

- the verifier (``check_utf8`` off, the codec's default, and on) accepts or
  raises its own VerificationError, nothing else;
- ``decode`` of any bytes returns an object or raises DecodeError, nothing
  else; so does every attribute of ``Codec.view``;
- what the UTF-8-checking verifier accepts decodes without error; what only
  the default verifier accepts may fail to decode only with a DecodeError
  (its strings are not UTF-8: the decoder makes ``str``);
- a codec's native twin (tables of scalars and structs) decodes and
  encodes exactly as the pure codec, refusals included;
- the decoded object re-encodes (plain and ``force_defaults`` codecs), the
  result verifies and decodes to an equal object (floats compared with NaN
  equal to NaN), encoding that again gives the same bytes, and every
  attribute of a view of the payload equals the decoded one.

Generated code (the codecs' and verifier's ``exec``-ed functions) is
instrumented as it is compiled, so a new vtable layout reached by the fuzzer
counts as new coverage.

Run: scripts/fuzz.sh codec [seconds]
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from fuzz_common import Input, atheris, instrumented, run

with instrumented():
    import flatstream as fs
    from flatstream.schema import codecs as _codecs_module
    from flatstream.schema import verifier as _verifier_module
    from flatstream.schema.model import SCALARS, BaseType, Schema

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "schemas"

#: A table with every kind of field the codecs support (including a nested
#: flatbuffer and a union), as .fbs text loaded through flatc.
RICH_FBS = """
namespace rich;

enum Color : ubyte { Red = 0, Green = 2, Blue = 3 }
enum Perm : ushort (bit_flags) { Read, Write, Exec }

struct Vec3 { x: float; y: float; z: float; color: Color; }
struct Pair { a: ubyte; v: Vec3; d: double; tail: short; }
struct Cell { a: [int:2]; b: Color; c: [ubyte:3]; }
struct Grid { x: float; cells: [Cell:2]; colors: [Color:2]; d: [long:2]; }

table Inner { a: int; s: string; }
table Other { b: ulong = 7; words: [string]; inner: Inner; }

union Any { Inner, Other, Vec3, Label: string }

table Rich {
  flag: bool = true;
  i8v: byte = -3;
  u16v: ushort;
  i64v: long;
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
  nested: [ubyte] (nested_flatbuffer: "Inner");
  next: Rich;
  grid: Grid;
  grids: [Grid];
  things: [Any];
}

root_type Rich;
file_identifier "RICH";
"""


@fs.table
class Leaf:
    n: fs.i32
    text: Optional[str] = None


@fs.table
class Branch:
    leaves: List[Leaf] = fs.field(default_factory=list)
    tag: Optional[bytes] = None


@fs.table(file_identifier="PKT1")
class Packet:
    seq: fs.u64
    blob: Optional[bytes] = None
    label: Optional[str] = None
    words: List[str] = fs.field(default_factory=list)
    scale: Optional[fs.f32] = None
    leaf: Optional[Leaf] = None
    body: Optional[Leaf | Branch] = None  # noqa: UP007  (a union of tables)
    samples: List[fs.i16] = fs.field(default_factory=list)


def _load(name: str, text: Optional[str] = None) -> Schema:
    if text is None:
        return fs.load_schema(EXAMPLES / f"{name}.fbs")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.fbs"
        path.write_text(text)
        return fs.load_schema(path)


#: A table of scalars and a struct holding fixed-length arrays (of scalars,
#: enums and structs): it has a native twin, whose array paths are fuzzed.
ARRAYS_FBS = """
namespace arrays;

enum Kind : byte { A = 0, B = 1, C = 5 }
struct Cell { a: [int:2]; b: Kind; c: [ubyte:3]; }
struct Grid { x: float; cells: [Cell:2]; kinds: [Kind:2]; d: [long:2]; flags: [bool:3]; }

table Fixed { grid: Grid; n: int; tail: ushort = 3; }

root_type Fixed;
"""


#: (label, codec, force_defaults codec) by the input's first byte.
SCHEMAS: List[Tuple[str, Any, Any]] = []


def _setup() -> None:
    for label, schema in (
        ("telemetry", _load("telemetry")),
        ("lobster", _load("lobster_message")),
        ("order_book", _load("order_book")),
        ("wide_frame", _load("wide_frame")),
        ("rich", _load("rich", RICH_FBS)),
    ):
        SCHEMAS.append((label, schema.codec(), schema.codec(force_defaults=True)))
    SCHEMAS.append(("packet", fs.codec(Packet), fs.codec(Packet, force_defaults=True)))
    arrays = _load("arrays", ARRAYS_FBS)
    SCHEMAS.append(("arrays", arrays.codec(), arrays.codec(force_defaults=True)))


def _instrument_generated() -> None:
    """Instrument the functions the codec and verifier compilers exec, as
    they are compiled (their code is where decoding and verifying happen)."""
    if atheris is None:
        return
    for module in (_codecs_module, _verifier_module):
        compiler = module._Compiler
        original = compiler.run

        def patched(self: Any, source: Any, label: str, _original: Any = original) -> None:
            before = set(self.ns)
            _original(self, source, label)
            for name in set(self.ns) - before:
                value = self.ns[name]
                if callable(value) and hasattr(value, "__code__"):
                    self.ns[name] = atheris.instrument_func(value)
                elif isinstance(value, type):
                    for attr, member in list(vars(value).items()):
                        if hasattr(member, "__code__"):
                            setattr(value, attr, atheris.instrument_func(member))
                        elif isinstance(member, property) and member.fget is not None:
                            atheris.instrument_func(member.fget)

        compiler.run = patched


_instrument_generated()
_setup()


# -- comparing decoded objects ------------------------------------------------------


def _fields_of(obj: Any) -> Optional[Tuple[str, ...]]:
    if isinstance(obj, type):
        return None
    return _fields_of_class(type(obj))


def _fields_of_class(cls: Any) -> Optional[Tuple[str, ...]]:
    names = getattr(cls, "__flatstream_fields__", None)
    if names is not None:
        return tuple(names)
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def normal(value: Any) -> Any:
    """A comparable form: NaN equals NaN, arrays and enums become lists and
    ints. A union type field whose value decoded to None (an unknown member,
    or a type without a value) is left out (in a vector of unions, 0): the codec writes the type of the
    value it encodes, so such a type cannot survive a round trip (the C++ and
    Python object APIs drop unknown members too)."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else value
    if isinstance(value, enum.Enum):
        return int(value.value)
    if isinstance(value, np.ndarray):
        return [normal(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return normal(value.item())
    if isinstance(value, (list, tuple)):
        return [normal(v) for v in value]
    names = _fields_of(value)
    if names is None:
        return value
    out = {}
    for name in names:
        if name.endswith("_type") and name[:-5] in names and getattr(value, name[:-5]) is None:
            continue
        if name.endswith("_type") and name[:-5] in names and isinstance(getattr(value, name[:-5]), list):
            # A vector of unions: an element that decoded to None is NONE (0) once re-encoded.
            elements = getattr(value, name[:-5])
            types = normal(getattr(value, name))
            out[name] = [0 if e is None else t for t, e in zip(types, elements)] if types is not None else None
            continue
        out[name] = normal(getattr(value, name))
    return (type(value).__name__, out)


# -- the target ---------------------------------------------------------------------


def outcome(call: Any) -> Optional[str]:
    """None when the verifier accepts, else its reason."""
    try:
        call()
    except fs.VerificationError as refusal:
        assert isinstance(refusal.reason, str) and refusal.reason, refusal
        return refusal.reason
    return None


def decoded(codec: Any, payload: Any) -> Tuple[bool, Any]:
    """(True, object) or (False, the DecodeError); anything else escapes."""
    try:
        return True, codec.decode(payload)
    except fs.DecodeError as error:
        assert isinstance(error.reason, str) and error.reason, error
        return False, error


def view_attributes(codec: Any, payload: Any) -> Optional[Dict[str, Any]]:
    """Every attribute of a lazy view: a value, or the DecodeError raised."""
    try:
        view = codec.view(payload)
    except fs.DecodeError:
        return None
    names = _fields_of_class(codec.type)
    out: Dict[str, Any] = {}
    for name in names or ():
        if not hasattr(type(view), name):
            continue  # a union's type field, kept out of a dataclass's init
        try:
            out[name] = getattr(view, name)
        except fs.DecodeError as error:
            out[name] = error
    return out


def native_agrees(codec: Any, payload: Any, ok: bool, obj: Any) -> None:
    """The codec's native twin (tables of scalars and structs, when the
    extension has one) decodes exactly as the pure decoder, refuses what it
    refuses with a DecodeError, and re-encodes to the same bytes."""
    native = getattr(codec, "native", None)
    if native is None:
        return
    results = []
    for decode in (native.decode, codec._pure_decode):
        try:
            results.append((True, normal(decode(payload))))
        except fs.DecodeError:
            results.append((False, None))
    assert results[0] == results[1], ("native and pure decode differ", results)
    if ok:
        assert results[0] == (True, normal(obj))
        assert native.encode(obj) == codec._pure_encode(obj), "native and pure encode differ"


def TestOneInput(data: bytes) -> None:
    inp = Input(data)
    label, codec, forced = SCHEMAS[inp.byte() % len(SCHEMAS)]
    flags = inp.byte()
    raw = inp.rest()
    payload: Any = (raw, bytearray(raw), memoryview(raw))[flags % 3]

    loose = outcome(lambda: codec.verify(payload))
    strict = outcome(lambda: codec.verifier(check_utf8=True).validate(payload))
    if loose is not None:
        assert strict is not None, (label, "check_utf8 accepted what the default refused", loose)

    ok, obj = decoded(codec, payload)
    native_agrees(codec, payload, ok, obj)
    attributes = view_attributes(codec, payload)
    if strict is None:
        assert ok, (label, "verified, but decode failed", obj)
    elif loose is None and not ok:
        return  # strings that are not UTF-8: the decoder refuses them
    if not ok or loose is not None:
        return

    # Verified: views agree with decode, and the object round-trips.
    want = normal(obj)
    assert attributes is not None, (label, "verified, but the view refused it")
    for name, value in attributes.items():
        assert not isinstance(value, fs.DecodeError), (label, name, value)
        if name in want[1]:  # (not a union type left out by `normal`)
            assert normal(value) == normal(getattr(obj, name)), (label, name)
    for encoder in (codec, forced):
        again = encoder.encode(obj)
        assert outcome(lambda: codec.verify(again)) is None, (label, again)
        if strict is None:  # (a nested flatbuffer's strings are bytes to the decoder)
            assert outcome(lambda: codec.verifier(check_utf8=True).validate(again)) is None, (label, again)
        back = codec.decode(again)
        assert normal(back) == want, (label, encoder.force_defaults, want, normal(back))
        assert encoder.encode(back) == again, (label, "encoding is not deterministic")


# -- seeds --------------------------------------------------------------------------


def _value(schema: Schema, ftype: Any, rng: random.Random, depth: int) -> Any:
    """A random value of a field's type (``depth`` bounds recursion)."""
    base = ftype.base
    if base is BaseType.ARRAY:
        inner = type(ftype)(ftype.element, ref=ftype.ref)
        return [_value(schema, inner, rng, depth) for _ in range(ftype.fixed_length)]
    if base is BaseType.VECTOR:
        count = rng.randrange(0, 4)
        if ftype.element is BaseType.OBJ:
            return [_object(schema, ftype.ref, rng, depth + 1) for _ in range(count)]
        inner = type(ftype)(ftype.element, ref=ftype.ref)
        return [_value(schema, inner, rng, depth) for _ in range(count)]
    if base is BaseType.STRING:
        return rng.choice(["", "x", "héllo", "a" * rng.randrange(1, 20)])
    if base is BaseType.OBJ:
        return _object(schema, ftype.ref, rng, depth + 1)
    if base is BaseType.UNION:
        members = [m for m in schema.unions[ftype.ref].members if m.value]
        member = rng.choice(members)
        if member.kind == "string":
            return rng.choice(["", "label", "héllo"])
        return _object(schema, member.table, rng, depth + 1)
    if ftype.ref in schema.enums:
        return rng.choice(list(schema.enums[ftype.ref].values.values()))
    info = SCALARS[base]
    if base is BaseType.BOOL:
        return rng.random() < 0.5
    if base.is_float:
        return rng.choice([0.0, -1.5, 3.25, 1e300 if info.size == 8 else 1e30, math.inf])
    return rng.choice([0, 1, info.min, info.max, rng.randint(int(info.min), int(info.max))])


def _object(schema: Schema, name: str, rng: random.Random, depth: int) -> Any:
    cls = schema.python_type(name)
    definition = schema.object(name)
    kwargs = {}
    needed = set()
    if dataclasses.is_dataclass(cls):
        needed = {
            f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
    for fdef in definition.fields:
        if fdef.deprecated or BaseType.UTYPE in (fdef.type.base, fdef.type.element):
            continue
        optional = not definition.is_struct and not fdef.required and fdef.name not in needed
        if optional and (depth > 3 or rng.random() < 0.3):
            continue
        if fdef.type.base is BaseType.OBJ and fdef.type.ref == name and depth > 1:
            continue
        kwargs[fdef.name] = _value(schema, fdef.type, rng, depth)
        if fdef.attributes.get("nested_flatbuffer"):
            inner = schema.codec(fdef.attributes["nested_flatbuffer"])
            kwargs[fdef.name] = np.frombuffer(inner.encode(_object(schema, inner.name, rng, depth + 1)), np.uint8)
        elif cls is not None and dataclasses.is_dataclass(cls) and fdef.type.element in (BaseType.UBYTE,):
            kwargs[fdef.name] = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 9)))
    return cls(**kwargs)


def seeds() -> List[bytes]:
    """Valid buffers of each schema from its codecs (empty, and random
    objects, plain and force_defaults), and a few damaged ones."""
    rng = random.Random(20261122)
    out = []
    for index, (_label, codec, forced) in enumerate(SCHEMAS):
        schema = codec.schema
        objects = [_object(schema, codec.name, random.Random(k), 0) for k in range(6)]
        for k, obj in enumerate(objects):
            for enc in (codec, forced):
                try:
                    buf = enc.encode(obj)
                except fs.EncodeError:
                    continue
                head = bytes([index, (k * 7 + enc.force_defaults) % 256])
                out.append(head + buf)
                if k == 0:
                    out.append(head + buf[:-4])
                    flipped = bytearray(buf)
                    flipped[rng.randrange(len(buf))] ^= 0x10
                    out.append(head + bytes(flipped))
    return out


if __name__ == "__main__":
    run(TestOneInput)
    sys.exit(0)
