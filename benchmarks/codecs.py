"""Codec workloads (issue 4): records encoded, decoded, and sent through a stream.

For each message type of :mod:`benchmarks.schemas` (the telemetry event at
100 and at many events, the LOBSTER ``MessageEvent``, a 10-level
``OrderBookSnapshot``, a 64-scalar + 1 string wide frame), every candidate:

* **encode**: its in-memory object -> bytes, per message;
* **decode**: bytes -> every field as a Python value, per message. Eager
  decoders (dataclass codecs, msgpack, pickle, the object API, orjson) have
  done that when they return; lazy ones (flatc-generated accessors, protobuf
  messages) are made to read every field into a tuple, as a consumer would;
* **cycle**: encode, frame, read, decode every message through an in-memory
  stream (flatstream framing for the FlatBuffers candidates, each peer's own
  streaming idiom for the others);
* for the flatstream codec also **verify**: the schema verifier on each
  payload (issue 4's target compares it with a decode).

Each candidate starts from its natural in-memory form, built before timing:
a dataclass instance for the flatstream codec and orjson, an object-API
``...T`` object, a protobuf message, a tuple for msgpack, pickle, the official
``Builder`` (whose code is written out field by field, as a user would) and
the hand-written ``struct`` reference. Before timing, every candidate's bytes
are decoded back and compared with the sample values, and the flatstream
codec and the official runtime read each other's bytes.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import struct
import typing
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import flatstream as fs

from . import peers, schemas
from .harness import MODES, Case, Row, Settings, Workload, kernel_mode, log, run_cases, unavailable
from .schemas import Message

__all__ = ["workloads", "OFFICIAL", "CODEC"]

OFFICIAL = "flatbuffers Builder + generated accessors"
OBJECT_API = "flatbuffers object API (Pack / InitFromPackedBuf)"
CODEC = "flatstream codec (@fs.table dataclass)"
CODEC_FBS = "flatstream codec (fs.load_schema .fbs)"
CODEC_BATCHED = "flatstream codec, write_many + iter_batches + decode_many"
CODEC_MANY = "flatstream codec, encode_many / decode_many"
#: Appended to the names of rows measured on the pure-Python twins.
PURE_SUFFIX = " [pure-Python kernels]"
HAND_STRUCT = "hand-written struct.pack (not a FlatBuffer)"


def _camel(name: str) -> str:
    """flatc's Python method name for a field: ``device_id`` -> ``DeviceId``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _lower_camel(name: str) -> str:
    """flatc's object-API attribute name: ``device_id`` -> ``deviceId``."""
    camel = _camel(name)
    return camel[:1].lower() + camel[1:]


def _compile(source: str, namespace: Dict[str, Any], name: str) -> Any:
    code = compile(source, f"<benchmarks.codecs {name}>", "exec")
    exec(code, namespace)
    return namespace[name]


def _api(name: str) -> Any:
    """``fs.<name>``, or the schema package's while the top level does not export it yet."""
    found = getattr(fs, name, None)
    if found is None:
        try:
            import flatstream.schema as schema_package
        except ImportError:
            return None
        found = getattr(schema_package, name, None)
    return found


# -- the official runtime, written out as a user would ---------------------------


def official_builder(message: Message) -> Callable[[Any, Tuple[Any, ...]], None]:
    """``build(builder, values)``: Clear, fill and Finish the builder with flatc's functions."""
    fb = peers.generated().fb
    module = fb[message.name]
    namespace: Dict[str, Any] = {"Start": module.Start, "End": module.End}
    if "Level" in fb:
        namespace["CreateLevel"] = fb["Level"].CreateLevel
    lines = ["def build(b, v):", "    b.Clear()"]
    refs = {}
    for i, f in enumerate(message.fields):
        add = f"Add{_camel(f.name)}"
        namespace[add] = getattr(module, add)
        if f.type == "string":
            lines.append(f"    r{i} = b.CreateString(v[{i}])")
            refs[i] = f"r{i}"
        elif f.vector_of:
            start = f"Start{_camel(f.name)}Vector"
            namespace[start] = getattr(module, start)
            lines.append(f"    {start}(b, len(v[{i}]))")
            lines.append(f"    for price, size in reversed(v[{i}]):")
            lines.append("        CreateLevel(b, price, size)")
            lines.append(f"    r{i} = b.EndVector()")
            refs[i] = f"r{i}"
    lines.append("    Start(b)")
    for i, f in enumerate(message.fields):
        lines.append(f"    Add{_camel(f.name)}(b, {refs.get(i, f'v[{i}]')})")
    lines.append("    b.Finish(End(b))")
    return _compile("\n".join(lines) + "\n", namespace, "build")  # type: ignore[no-any-return]


def official_reader(message: Message) -> Callable[[Any], Tuple[Any, ...]]:
    """``read(payload)``: GetRootAs, then every field through its accessor, as a tuple."""
    module = peers.generated().fb[message.name]
    namespace: Dict[str, Any] = {"GetRootAs": getattr(module, message.name).GetRootAs}
    values = []
    for f in message.fields:
        method = f"e.{_camel(f.name)}"
        if f.type == "string":
            values.append(f"{method}().decode()")
        elif f.vector_of:
            values.append(
                f"tuple((x.Price(), x.Size()) for x in map({method}, range({method}Length())))"
            )
        else:
            values.append(f"{method}()")
    source = "def read(p):\n    e = GetRootAs(p, 0)\n    return (" + ", ".join(values) + ",)\n"
    return _compile(source, namespace, "read")  # type: ignore[no-any-return]


def object_api_maker(message: Message) -> Callable[[Tuple[Any, ...]], Any]:
    fb = peers.generated().fb
    cls = getattr(fb[message.name], message.name + "T")
    level = getattr(fb["Level"], "LevelT")

    def make(values: Tuple[Any, ...]) -> Any:
        obj = cls()
        for f, value in zip(message.fields, values):
            if f.vector_of:
                value = [level(price, size) for price, size in value]
            setattr(obj, _lower_camel(f.name), value)
        return obj

    return make


def object_api_values(message: Message, obj: Any) -> Tuple[Any, ...]:
    out = []
    for f in message.fields:
        value = getattr(obj, _lower_camel(f.name))
        if f.vector_of:
            value = tuple((x.price, x.size) for x in value)
        elif f.type == "string" and isinstance(value, bytes):
            value = value.decode()
        out.append(value)
    return tuple(out)


# -- protobuf ----------------------------------------------------------------------


def protobuf_maker(message: Message) -> Callable[[Tuple[Any, ...]], Any]:
    pb = peers.generated().pb
    cls, level = getattr(pb, message.name), pb.Level

    def make(values: Tuple[Any, ...]) -> Any:
        kwargs = {}
        for f, value in zip(message.fields, values):
            kwargs[f.name] = [level(price=p, size=s) for p, s in value] if f.vector_of else value
        return cls(**kwargs)

    return make


def protobuf_reader(message: Message) -> Callable[[Any], Tuple[Any, ...]]:
    """``read(payload)``: parse, then every field (upb makes Python values on access)."""
    namespace = {"parse": getattr(peers.generated().pb, message.name).FromString}
    values = []
    for f in message.fields:
        if f.vector_of:
            values.append(f"tuple((x.price, x.size) for x in m.{f.name})")
        else:
            values.append(f"m.{f.name}")
    source = "def read(p):\n    m = parse(p)\n    return (" + ", ".join(values) + ",)\n"
    return _compile(source, namespace, "read")  # type: ignore[no-any-return]


# -- dataclasses (@fs.table, or plain ones for orjson when the codec is missing) ---

_FS_TYPES = {
    "ulong": "u64",
    "long": "i64",
    "double": "f64",
    "uint": "u32",
    "int": "i32",
    "float": "f32",
    "ushort": "u16",
    "short": "i16",
    "ubyte": "u8",
    "byte": "i8",
}


def dataclasses_for(messages: Sequence[Message]) -> Tuple[Dict[str, type], bool]:
    """One dataclass per message; ``@fs.table``/``@fs.struct`` ones when flatstream has them."""
    table, struct_decorator = _api("table"), _api("struct")
    typed = table is not None and struct_decorator is not None
    classes: Dict[str, type] = {}
    for message in (schemas.LEVEL, *messages):
        if message.name in classes:
            continue
        fields: List[Any] = []
        for f in message.fields:
            if f.vector_of:
                annotation: Any = typing.List[classes[f.vector_of]]  # type: ignore[name-defined]
                fields.append((f.name, annotation, dataclasses.field(default_factory=list)))
                continue
            if f.type == "string":
                annotation = str
            elif f.type == "bool":
                annotation = bool
            else:
                annotation = _api(_FS_TYPES[f.type]) if typed else (float if "f" in f.type else int)
            fields.append((f.name, annotation))
        cls = dataclasses.make_dataclass(message.name, fields)
        cls.__module__ = __name__
        if typed:
            decorate = struct_decorator if message.struct else table
            cls = decorate(cls)
        classes[message.name] = cls
    return classes, typed


def dataclass_maker(message: Message, classes: Dict[str, type]) -> Callable[[Tuple[Any, ...]], Any]:
    cls, level = classes[message.name], classes["Level"]

    def make(values: Tuple[Any, ...]) -> Any:
        args = [
            [level(p, s) for p, s in value] if f.vector_of else value  # type: ignore[call-arg]
            for f, value in zip(message.fields, values)
        ]
        return cls(*args)

    return make


def object_values(message: Message, obj: Any) -> Tuple[Any, ...]:
    """The sample tuple back from any object with the fields as attributes."""
    out = []
    for f in message.fields:
        value = getattr(obj, f.name)
        if f.vector_of:
            value = tuple((int(x.price), int(x.size)) for x in value)
        out.append(value)
    return tuple(out)


def dict_values(message: Message, obj: Dict[str, Any]) -> Tuple[Any, ...]:
    out = []
    for f in message.fields:
        value = obj[f.name]
        if f.vector_of:
            value = tuple((x["price"], x["size"]) for x in value)
        out.append(value)
    return tuple(out)


# -- candidates --------------------------------------------------------------------


@dataclasses.dataclass
class Candidate:
    """A way to encode and decode one message type (see the module docstring)."""

    name: str
    objects: List[Any]
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]
    values: Callable[[Any], Tuple[Any, ...]]  # decoded -> sample tuple, for the check
    cycle: Callable[[], None]
    verify: Optional[Callable[[Any], None]] = None
    batch: bool = False  # encode/decode whole lists at once (columnar)
    mode: Optional[str] = None  # flatstream kernel mode (the codec twin, the framing)
    cycle_only: bool = False  # measured for the cycle only (its encode/decode are another row's)
    encode_decode_only: bool = False  # its cycle is another row's


def _flatstream_cycle(
    objects: List[Any], encode_into: Callable[[Any, Any], None], decode: Callable[[Any], Any]
) -> Callable[[], None]:
    def cycle() -> None:
        sink = io.BytesIO()
        writer = fs.StreamWriter(sink)
        for obj in objects:
            encode_into(writer, obj)
        for payload in fs.StreamReader(sink.getvalue()):
            decode(payload)

    return cycle


def candidates(
    message: Message, values: List[Tuple[Any, ...]], classes: Dict[str, type], typed: bool
) -> Tuple[List[Candidate], List[Tuple[str, str]]]:
    """Every candidate for ``message`` over ``values``, and (name, why) of those unavailable."""
    import flatbuffers
    import msgpack
    import orjson

    out: List[Candidate] = []
    missing: List[Tuple[str, str]] = []
    fields = [f.name for f in message.fields]

    # flatstream's compiled codecs, on the native codec twin and on the pure one
    codec_fn = _api("codec")
    if typed and codec_fn is not None:
        objects = [dataclass_maker(message, classes)(v) for v in values]
        codec = codec_fn(classes[message.name])
        to_values = lambda d: object_values(message, d)  # noqa: E731

        def typed_cycle(objects: List[Any] = objects, codec: Any = codec) -> None:
            sink = io.BytesIO()
            write = fs.StreamWriter(sink).write
            for obj in objects:
                write(obj)
            for _ in fs.StreamReader(sink.getvalue()).typed_messages(codec):
                pass

        decode_many = getattr(codec, "decode_many", None)

        def batched_cycle(objects: List[Any] = objects, codec: Any = codec) -> None:
            sink = io.BytesIO()
            fs.StreamWriter(sink).write_many(objects)
            reader = fs.StreamReader(sink.getvalue())
            if decode_many is not None:
                for batch in reader.iter_batches(4096):
                    decode_many(batch)
            else:
                decode = codec.decode
                for batch in reader.iter_batches(4096):
                    for payload in batch:
                        decode(payload)

        for mode in MODES:
            suffix = "" if mode == "native" else PURE_SUFFIX
            out.append(
                Candidate(
                    CODEC + suffix,
                    objects,
                    codec.encode,
                    codec.decode,
                    to_values,
                    typed_cycle,
                    verify=getattr(codec, "verify", None),
                    mode=mode,
                )
            )
            out.append(
                Candidate(
                    CODEC_BATCHED + suffix,
                    objects,
                    codec.encode,
                    codec.decode,
                    to_values,
                    batched_cycle,
                    mode=mode,
                    cycle_only=True,
                )
            )
            if decode_many is not None:
                out.append(
                    Candidate(
                        CODEC_MANY + suffix,
                        [objects],
                        codec.encode_many,
                        decode_many,
                        lambda ds: [object_values(message, d) for d in ds],
                        batched_cycle,
                        batch=True,
                        mode=mode,
                        encode_decode_only=True,
                    )
                )
        load_schema = _api("load_schema")
        if load_schema is not None:
            schema_codec = load_schema(peers.generated().fbs_path).codec(
                f"{schemas.NAMESPACE}.{message.name}"
            )

            def encode_schema(writer: Any, obj: Any, encode: Any = schema_codec.encode) -> None:
                writer.write_payload(encode(obj))

            out.append(
                Candidate(
                    CODEC_FBS,
                    objects,
                    schema_codec.encode,
                    schema_codec.decode,
                    lambda d: object_values(message, d),
                    _flatstream_cycle(objects, encode_schema, schema_codec.decode),
                )
            )
    else:
        why = "not available: flatstream has no fs.codec/fs.table in this build"
        missing += [(CODEC, why), (CODEC_FBS, why)]

    # the official runtime
    build, read = official_builder(message), official_reader(message)
    builder = flatbuffers.Builder(1024)

    def encode_official(v: Tuple[Any, ...]) -> bytes:
        build(builder, v)
        return builder.Output()  # type: ignore[no-any-return]

    def write_official(writer: Any, v: Tuple[Any, ...]) -> None:
        build(builder, v)
        writer.write_finished(builder)

    out.append(
        Candidate(
            OFFICIAL,
            list(values),
            encode_official,
            read,
            lambda d: d,
            _flatstream_cycle(list(values), write_official, read),
        )
    )

    make_t = object_api_maker(message)
    t_class = getattr(peers.generated().fb[message.name], message.name + "T")
    t_objects = [make_t(v) for v in values]
    t_builder = flatbuffers.Builder(1024)
    unpack_t = t_class.InitFromPackedBuf

    def encode_t(obj: Any) -> bytes:
        t_builder.Clear()
        t_builder.Finish(obj.Pack(t_builder))
        return t_builder.Output()  # type: ignore[no-any-return]

    def write_t(writer: Any, obj: Any) -> None:
        t_builder.Clear()
        t_builder.Finish(obj.Pack(t_builder))
        writer.write_finished(t_builder)

    out.append(
        Candidate(
            OBJECT_API,
            t_objects,
            encode_t,
            unpack_t,
            lambda d: object_api_values(message, d),
            _flatstream_cycle(t_objects, write_t, unpack_t),
        )
    )

    # msgpack: tuples, array-encoded (its most compact and fastest form)
    packer = msgpack.Packer()
    tuples = list(values)

    def unpack(payload: Any) -> Any:
        return msgpack.unpackb(payload, use_list=False)

    def msgpack_cycle() -> None:
        sink = io.BytesIO()
        write, pack = sink.write, msgpack.Packer().pack
        for v in tuples:
            write(pack(v))
        for _ in msgpack.Unpacker(io.BytesIO(sink.getvalue()), use_list=False):
            pass

    out.append(Candidate(peers.MSGPACK, tuples, packer.pack, unpack, lambda d: d, msgpack_cycle))

    def pickle_encode(v: Any) -> bytes:
        return pickle.dumps(v, 5)

    def pickle_cycle() -> None:
        sink = io.BytesIO()
        write, dumps = sink.write, pickle.dumps
        for v in tuples:
            write(dumps(v, 5))
        load = pickle.Unpickler(io.BytesIO(sink.getvalue())).load
        try:
            while True:
                load()
        except EOFError:
            pass

    out.append(
        Candidate(
            "pickle (tuples, protocol 5)",
            tuples,
            pickle_encode,
            pickle.loads,
            lambda d: d,
            pickle_cycle,
        )
    )

    # protobuf, varint-delimited in the cycle
    from google.protobuf.internal.decoder import _DecodeVarint32
    from google.protobuf.internal.encoder import _VarintBytes

    pb_objects = [protobuf_maker(message)(v) for v in values]
    pb_read = protobuf_reader(message)

    def pb_encode(m: Any) -> bytes:
        return m.SerializeToString()  # type: ignore[no-any-return]

    def pb_cycle() -> None:
        sink = io.BytesIO()
        write = sink.write
        for m in pb_objects:
            body = m.SerializeToString()
            write(_VarintBytes(len(body)))
            write(body)
        data = sink.getvalue()
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            size, pos = _DecodeVarint32(data, pos)
            pb_read(view[pos : pos + size])
            pos += size

    out.append(
        Candidate(
            "protobuf (upb), varint-delimited",
            pb_objects,
            pb_encode,
            pb_read,
            lambda d: d,
            pb_cycle,
        )
    )

    # orjson: dataclasses to JSON lines
    dc_objects = [dataclass_maker(message, classes)(v) for v in values]

    def orjson_cycle() -> None:
        sink = io.BytesIO()
        write, dumps = sink.write, orjson.dumps
        for obj in dc_objects:
            write(dumps(obj))
            write(b"\n")
        loads = orjson.loads
        for line in sink.getvalue().splitlines():
            loads(line)

    out.append(
        Candidate(
            "orjson (dataclass, JSON lines)",
            dc_objects,
            orjson.dumps,
            orjson.loads,
            lambda d: dict_values(message, d),
            orjson_cycle,
        )
    )

    # hand-written struct: the one-struct-call-per-message reference of issue 4
    formats = {schemas.TELEMETRY.name: "<QQd", schemas.MESSAGE_EVENT.name: "<dBQIqb"}
    if message.name in formats:
        layout = struct.Struct(formats[message.name])
        pack, unpack_from = layout.pack, layout.unpack_from
        length = struct.Struct("<I")

        def struct_encode(v: Tuple[Any, ...]) -> bytes:
            return pack(*v)

        def struct_cycle() -> None:
            sink = io.BytesIO()
            write, pack_len, size = sink.write, length.pack, layout.size
            for v in tuples:
                write(pack_len(size) + pack(*v))
            data = sink.getvalue()
            pos, end, unpack_len = 0, len(data), length.unpack_from
            while pos < end:
                (n,) = unpack_len(data, pos)
                unpack_from(data, pos + 4)
                pos += 4 + n

        out.append(
            Candidate(HAND_STRUCT, tuples, struct_encode, layout.unpack, lambda d: d, struct_cycle)
        )

    # pyarrow: columnar, a whole batch at a time (telemetry only: flat scalars)
    if message is schemas.TELEMETRY:
        import pyarrow as pa

        arrow_schema = pa.schema(
            [("device_id", pa.uint64()), ("timestamp", pa.uint64()), ("value", pa.float64())]
        )

        def arrow_encode(rows: List[Tuple[Any, ...]]) -> Any:
            columns = [pa.array(c, t) for c, t in zip(zip(*rows), arrow_schema.types)]
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, arrow_schema) as writer:
                writer.write_batch(pa.record_batch(columns, schema=arrow_schema))
            return sink.getvalue()

        def arrow_decode(data: Any) -> List[Tuple[Any, ...]]:
            table = pa.ipc.open_stream(data).read_all()
            return list(zip(*(column.to_pylist() for column in table.columns)))

        def arrow_cycle() -> None:
            arrow_decode(arrow_encode(tuples))

        out.append(
            Candidate(
                "pyarrow IPC (columnar batch, rows as tuples)",
                [tuples],
                arrow_encode,
                arrow_decode,
                lambda d: d,
                arrow_cycle,
                batch=True,
            )
        )
    del fields
    return out, missing


def _check(message: Message, candidate: Candidate, values: List[Tuple[Any, ...]]) -> List[Any]:
    """Every payload of the candidate, after checking it decodes to the samples."""
    payloads = [candidate.encode(obj) for obj in candidate.objects]
    decoded = [candidate.values(candidate.decode(p)) for p in payloads]
    expected: List[Any] = [values] if candidate.batch else values
    if candidate.batch:
        decoded = [list(decoded[0])]
    if decoded != expected:
        raise AssertionError(f"{candidate.name} did not decode its own bytes back to the samples")
    return payloads


def _interop(
    message: Message,
    by_name: Dict[str, Candidate],
    payloads: Dict[str, List[Any]],
    values: List[Tuple[Any, ...]],
) -> None:
    """The codec reads the official Builder's bytes and the accessors read the codec's."""
    codec, official = by_name.get(CODEC), by_name.get(OFFICIAL)
    if codec is None or official is None:
        return
    n = min(len(values), 100)
    from_official = [object_values(message, codec.decode(p)) for p in payloads[OFFICIAL][:n]]
    from_codec = [official.decode(p) for p in payloads[CODEC][:n]]
    if from_official != values[:n] or from_codec != values[:n]:
        raise AssertionError("the flatstream codec and the official runtime disagree")


def _run(message: Message, n: int, title: str, settings: Settings) -> List[Row]:
    values = schemas.samples(message, n)
    classes, typed = dataclasses_for([message])
    found, missing = candidates(message, values, classes, typed)
    rows = [
        unavailable(title, name, figure, why)
        for name, why in missing
        for figure in ("encode", "decode", "cycle")
    ]
    payloads: Dict[str, List[Any]] = {}
    good: List[Candidate] = []
    for candidate in found:
        try:
            with kernel_mode(candidate.mode):
                payloads[candidate.name] = _check(message, candidate, values)
            good.append(candidate)
        except Exception as error:  # a broken candidate is reported, not fatal to the run
            log(f"  {candidate.name}: check failed: {error!r}")
            rows += [
                unavailable(title, candidate.name, fig, f"failed its check: {error!r}")
                for fig in ("encode", "decode", "cycle")
            ]
    by_name = {c.name: c for c in good}
    interop_note = ""
    try:
        _interop(message, by_name, payloads, values)
        if CODEC in by_name:
            interop_note = "codec and official runtime read each other's bytes"
    except AssertionError as error:
        interop_note = f"interop check failed: {error}"
        log(f"  {interop_note}")

    cases: List[Case] = []
    for candidate in good:
        encoded = payloads[candidate.name]
        size = sum(sum(map(len, p)) if isinstance(p, list) else len(p) for p in encoded)
        extra: Dict[str, Any] = {"bytes_per_message": size / n}
        if candidate.name == CODEC and interop_note:
            extra["interop"] = interop_note
        mode = candidate.mode

        def case(figure: str, fn: Callable[[], Any], c: Candidate = candidate) -> Case:
            return Case(title, c.name, figure, fn, n, size, mode=mode, extra=extra)

        if not candidate.cycle_only:
            if candidate.batch:

                def encode_all(c: Candidate = candidate) -> None:
                    c.encode(c.objects[0])

                def decode_all(c: Candidate = candidate, p: Any = encoded[0]) -> None:
                    c.decode(p)

            else:

                def encode_all(c: Candidate = candidate) -> None:
                    encode = c.encode
                    for obj in c.objects:
                        encode(obj)

                def decode_all(c: Candidate = candidate, encoded: List[Any] = encoded) -> None:
                    decode = c.decode
                    for p in encoded:
                        decode(p)

            cases.append(case("encode", encode_all))
            cases.append(case("decode", decode_all))
        if not candidate.encode_decode_only:
            cases.append(case("cycle", candidate.cycle))
        if candidate.verify is not None:
            verify = candidate.verify

            def verify_all(
                verify: Callable[[Any], None] = verify, encoded: List[Any] = encoded
            ) -> None:
                for p in encoded:
                    verify(p)

            cases.append(case("verify", verify_all))
    return rows + run_cases(cases, settings)


def workloads(settings: Settings) -> List[Workload]:
    big = settings.size(100_000, 5_000)
    sizes = [
        ("codec-telemetry-100", schemas.TELEMETRY, 100),
        ("codec-telemetry-big", schemas.TELEMETRY, big),
        ("codec-lobster", schemas.MESSAGE_EVENT, settings.size(20_000, 1_000)),
        ("codec-book10", schemas.ORDER_BOOK, settings.size(5_000, 300)),
        ("codec-wide", schemas.WIDE, settings.size(5_000, 300)),
    ]
    out = []
    for key, message, n in sizes:
        title = f"{message.name} x{n:,}"

        def run(
            settings: Settings, message: Message = message, n: int = n, title: str = title
        ) -> List[Row]:
            return _run(message, n, title, settings)

        out.append(Workload(key, "codec", f"codecs: {title}", run))
    return out
