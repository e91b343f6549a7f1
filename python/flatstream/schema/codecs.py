"""Compiled codecs: one specialised encoder and decoder per table, generated
as Python source and ``exec``-ed once (the technique of ``attrs`` and
``dataclasses``).

Encoding writes what the official ``flatbuffers.Builder`` writes when the
flatc-generated object API packs the same object (``Pack``: children in field
order, then the fields in id order): the same alignment, the same defaults
omitted, the same shared vtables. A table's inline part, vtable included, is
one ``struct.pack`` whose layout is compiled the first time a combination of
present fields and alignment is seen; a table of scalars and structs only is
one ``pack`` for the whole buffer.

Decoding reads a table's vtable once and looks its bytes up in a cache of
unpackers specialised to that vtable (every inline field in one
``unpack_from``); for the root table the lookup key is every byte before the
table's inline data, so one slice and one dict lookup find the unpacker. A
buffer whose vtables are not yet known compiles new unpackers, up to a limit
per table, then falls back to a generic reader.

Decoded vectors of scalars are zero-copy numpy views of the payload
(read-only over ``bytes``); a ``bytes``-annotated field decodes to ``bytes``;
vectors of strings, tables and structs to lists.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, List, Optional

from ._gen import MAX_BUFFER_SIZE
from ._compiler import compiler_for as _compiler
from ._native import bind, native_codec
from .errors import EncodeError
from .model import (
    Schema,
    TableDef,
    register_builder,
)
from .verifier import SchemaVerifier

__all__ = ["Codec", "MAX_BUFFER_SIZE"]



class Codec:
    """Encoder and decoder for one table of a schema.

    ``encode(obj)`` returns ``bytes`` holding a finished FlatBuffer with the
    table as root; ``obj`` is any object with the fields as attributes (an
    ``@fs.table`` instance, an instance of :attr:`type`, ...). ``decode(payload)``
    takes any bytes-like and returns an instance of :attr:`type`. Both raise
    :class:`EncodeError`/:class:`DecodeError` (``ValueError``\\ s). The decoder
    bounds-checks what it reads but does not verify everything: on untrusted
    input use ``decode(payload, verify=True)`` (the verifier runs first and
    raises :class:`VerificationError`), or :meth:`verifier` as a stream
    validator.
    """

    def __init__(
        self,
        schema: Schema,
        table: TableDef,
        *,
        force_defaults: bool = False,
        max_size: Optional[int] = None,
        file_identifier: Any = True,
    ) -> None:
        if max_size is None:
            max_size = MAX_BUFFER_SIZE
        if not 8 <= max_size <= MAX_BUFFER_SIZE:
            raise ValueError(f"max_size must be between 8 and {MAX_BUFFER_SIZE}")
        if file_identifier is True:
            ident = schema.file_identifier if table.name == schema.root_table else None
        elif file_identifier in (None, False):
            ident = None
        else:
            ident = str(file_identifier)
        ident_bytes = b"" if ident is None else ident.encode("ascii")
        if len(ident_bytes) not in (0, 4):
            raise ValueError(f"a file identifier is 4 ASCII characters, not {ident!r}")
        self.schema = schema
        self.table = table
        self.name = table.name
        self.force_defaults = force_defaults
        self.max_size = max_size
        self.file_identifier = ident
        compiler = _compiler(schema, force_defaults)
        self.type: type = compiler.python_class(table.name)
        self._pure_encode = compiler.root_encoder(table.name, ident_bytes, max_size)
        # verify=True runs this codec's verifier (built on first use) first.
        self._pure_decode = compiler.root_decoder(
            table.name, max_size, compiler.fixed_prefix(table.name, ident_bytes), self._verify_first
        )
        #: The native twin (``flatstream._native.TableCodec``) of this codec,
        #: or None (no extension, or fields it does not handle).
        self.native: Any = native_codec(
            compiler, table, self._pure_encode, self._pure_decode, ident_bytes, max_size,
            self._verify_first,
        )
        self.encode: Callable[[Any], bytes]
        #: ``decode(payload, verify=False)``: an instance of :attr:`type`.
        #: ``verify=True`` runs :meth:`verify` first, so a buffer the
        #: verifier refuses raises its :class:`VerificationError` and never
        #: becomes an object: use it for payloads of untrusted origin.
        self.decode: Callable[..., Any]
        self.encode, self.decode = bind(self.native, self._pure_encode, self._pure_decode)
        self._size_limited = max_size < MAX_BUFFER_SIZE and not any(
            item.kind == "offset" for item in compiler.items(table)
        )
        if self._size_limited:
            # A table of scalars and structs is packed whole, past the size
            # check rt.finish makes for the others: check here, for both twins.
            unlimited = self.encode
            self.encode = lambda obj: self._within_limit(unlimited(obj))
        self._view_class: Any = None

    def encode_many(self, objs: Any) -> List[bytes]:
        """``[encode(obj) for obj in objs]``, in one native call when the codec
        has a native twin (see :attr:`native`)."""
        from .. import _kernels

        if self.native is not None and _kernels.TableCodec is not None:
            encoded: List[bytes] = self.native.encode_many(objs)
        else:
            encode = self._pure_encode
            encoded = [encode(obj) for obj in objs]
        if self._size_limited:
            for data in encoded:
                self._within_limit(data)
        return encoded

    def _within_limit(self, data: bytes) -> bytes:
        if len(data) > self.max_size:
            raise EncodeError(f"the buffer is {len(data)} bytes, over the limit of {self.max_size}")
        return data

    def decode_many(self, payloads: Any, verify: bool = False) -> List[Any]:
        """``[decode(p, verify) for p in payloads]``, in one native call when
        the codec has a native twin."""
        from .. import _kernels

        if self.native is not None and _kernels.TableCodec is not None:
            return self.native.decode_many(payloads, verify)  # type: ignore[no-any-return]
        decode = self._pure_decode
        return [decode(payload, verify) for payload in payloads]

    def _verify_first(self, payload: Any) -> None:
        self.verify(payload)

    def view(self, payload: Any, verify: bool = False) -> Any:
        """A lazy view of ``payload``: each attribute is decoded when read
        (and again each time), so reading a few fields of a wide table costs
        a few field reads. Nested tables, vectors and unions decode as
        :meth:`decode` does. ``view.to_object()`` decodes everything. The view
        keeps ``payload`` alive; it checks nothing until read, unless
        ``verify`` runs the verifier on it first."""
        if verify:
            self.verify(payload)
        view_class = self._view_class
        if view_class is None:
            view_class = self._view_class = _compiler(self.schema, self.force_defaults).view_class(self.name)
        return view_class(payload, self.decode)

    def verifier(self, **options: Any) -> Any:
        """A validator (``name``, ``validate(payload)``) for readers and writers
        that verifies payloads against this table; see
        :class:`flatstream.schema.SchemaVerifier` for the options."""
        options.setdefault("max_size", self.max_size)
        if self.file_identifier is not None:
            options.setdefault("file_identifier", self.file_identifier)
        return SchemaVerifier(self.schema, self.table, **options)

    @functools.cached_property
    def verify(self) -> Callable[[Any], None]:
        """``verify(payload)``: return if ``payload`` is a valid buffer of this
        table, raise :class:`VerificationError` if not (the default options of
        :meth:`verifier`). Built on first use; a native call where the
        extension covers the schema."""
        return self.verifier().bound()

    def decode_columns(self, source: Any, fields: Any = None, **options: Any) -> Any:
        """Decode many payloads into numpy columns: see
        :func:`flatstream.schema.columnar.decode_columns`."""
        from .columnar import decode_columns

        return decode_columns(self, source, fields, **options)

    def encode_columns(self, columns: Any, **options: Any) -> Any:
        """Encode rows given as numpy columns: see
        :func:`flatstream.schema.columnar.encode_columns`."""
        from .columnar import encode_columns

        return encode_columns(self, columns, **options)

    def to_json(
        self, payload: Any, *, verify: bool = True, defaults: bool = False, exact_floats: bool = False
    ) -> str:
        """``payload`` as the JSON text ``flatc --json --strict-json`` prints
        for it (see :mod:`flatstream.schema.json_text`). ``verify``: run
        :meth:`verify` first (flatc does not, and crashes on damaged
        buffers); ``defaults``: print absent scalars with their defaults
        (``--defaults-json``); ``exact_floats``: print floats as the shortest
        text that reads back exactly, not flatc's 6 (``float``) or 12
        (``double``) decimals."""
        from .json_text import to_json

        if verify:
            self.verify(payload)
        return to_json(self.schema, self.name, payload, defaults=defaults, exact_floats=exact_floats)

    def from_json(self, text: str) -> bytes:
        """The buffer :meth:`encode` writes for the JSON text ``text`` (what
        ``flatc -b`` reads, as strict JSON); :class:`EncodeError` if the text
        is not JSON or does not fit the table."""
        return self.encode(self.object_from_json(text))

    def object_from_json(self, text: str) -> Any:
        """The object of :attr:`type` that JSON text ``text`` describes."""
        from .json_text import from_json

        return from_json(self.schema, self.name, text)

    def to_fbs(self) -> str:
        return self.schema.to_fbs()

    def __repr__(self) -> str:
        return f"<Codec {self.name}>"


# -- compiling ------------------------------------------------------------------------


register_builder("codec", Codec)
