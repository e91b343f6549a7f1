"""The kernels: native (Rust, ``flatstream._native``) or their pure-Python twins.

Both implement the same three functions with the same signatures and results:

``checksum(name, data) -> int``
    A built-in checksum of a bytes-like object.
``scan(data, start, width, verify, max_frame_len, max_frames) -> ScanResult``
    Frame boundaries in ``data[start:]`` (see :mod:`flatstream._kernels.pure`).
``frame_many(payloads, width, algorithm, max_len) -> (bytes, None)``
    Every payload framed, back to back, in one buffer.
``FrameSink(write, width, algorithm, fast_below, slow, write_all)``
    A writer's per-message path: frames a small payload and writes it.
``scan_all(data, start, width, verify, max_frame_len, threads, collect)``
    Every frame of a whole buffer, optionally with its index; the native
    kernel releases the GIL over immutable buffers and verifies on threads.
``TableCodec``
    The native twin of a schema codec; its twin is the generated pure-Python
    codec, selected when this is None.
``SchemaVerifier``
    The native twin of the schema verifier; its twin is the verifier
    ``flatstream.schema`` compiles in Python, selected when this is
    None.
``ColumnarDecoder``, ``ColumnarEncoder``
    Columnar decode and encode of a root table (``src/columnar.rs``); their
    twins are in :mod:`flatstream._kernels.pure`.
``resync(data, start, algorithm, max_frame_len)``
    The salvage scanner; its twin is the body of
    ``flatstream.io.salvage.find_resync``, selected when this is None.
``read_record(payload, kinds)``
    The journal metadata table reader; its twin is ``_read_record`` in
    ``flatstream.journal.records``, selected when this is None.
``FrameDecoder``
    The frame decoder (see :mod:`flatstream.wire.decoder`); its twin is
    ``flatstream.wire.decoder.PyFrameDecoder``, selected when this is None.

``FLATSTREAM_PURE_PYTHON=1`` selects the twins; so does a build without the
extension. ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, Dict, Iterator, Tuple

from . import pure

# Scan statuses (values shared with the Rust kernel).
CLEAN = 0
PARTIAL = 1
LIMIT = 2
CHECKSUM = 3
MAX_FRAMES = 4

ScanResult = Tuple[bytes, bytes, int, int, int, int]

_force_pure = os.environ.get("FLATSTREAM_PURE_PYTHON", "").strip() not in ("", "0")

if _force_pure:
    native = None
else:
    try:
        from .. import _native as native  # type: ignore[attr-defined,no-redef]
    except ImportError as exc:  # a source checkout never built, a wheel for another platform
        native = None
        warnings.warn(
            f"flatstream: the native extension could not be loaded ({exc}); using the "
            "pure-Python kernels, which give the same results more slowly. Set "
            "FLATSTREAM_PURE_PYTHON=1 to choose them without this warning.",
            RuntimeWarning,
            stacklevel=2,
        )

if native is None:
    IMPLEMENTATION = "python"
    checksum = pure.checksum
    scan = pure.scan
    frame_many = pure.frame_many
    FrameSink: Any = pure.FrameSink
    scan_all = pure.scan_all
else:
    IMPLEMENTATION = "native"
    checksum = native.checksum
    scan = native.scan
    frame_many = native.frame_many
    FrameSink = native.FrameSink
    scan_all = native.scan_all

# The native frame decoder; None selects its twin, which lives with the
# decoder concept (``flatstream.wire.decoder.PyFrameDecoder``) because it is
# written over the scan kernel above, so this module never imports it.
FrameDecoder: Any = getattr(native, "FrameDecoder", None)

# The salvage scanner and the journal metadata reader; None selects their
# twins, which live with their concepts (``flatstream.io.salvage``,
# ``flatstream.journal.records``), above this module.
resync: Any = getattr(native, "resync", None)
read_record: Any = getattr(native, "read_record", None)

# The native twin of a compiled schema codec (``flatstream.schema._native``);
# None selects the pure-Python generated codecs.
TableCodec: Any = getattr(native, "TableCodec", None)

# The native twin of the schema verifier (``flatstream.schema.verifier``);
# None selects the pure-Python verifier.
SchemaVerifier: Any = getattr(native, "SchemaVerifier", None)

# Columnar decode/encode (``flatstream.schema.columnar``): native, or the twins.
ColumnarDecoder: Any = getattr(native, "ColumnarDecoder", pure.ColumnarDecoder)
ColumnarEncoder: Any = getattr(native, "ColumnarEncoder", pure.ColumnarEncoder)

#: The pure-Python twin of every kernel name above (None: the twin is the
#: Python code the caller falls back to), for code that switches kernels.
TWINS: Dict[str, Any] = {
    "checksum": pure.checksum,
    "scan": pure.scan,
    "frame_many": pure.frame_many,
    "FrameSink": pure.FrameSink,
    "scan_all": pure.scan_all,
    "TableCodec": None,
    "SchemaVerifier": None,
    "ColumnarDecoder": pure.ColumnarDecoder,
    "ColumnarEncoder": pure.ColumnarEncoder,
    "FrameDecoder": None,
    "resync": None,
    "read_record": None,
}


@contextlib.contextmanager
def selected(mode: str) -> Iterator[None]:
    """Within the block every kernel is the native one (``mode="native"``) or
    its pure-Python twin (``"python"``); the previous ones come back after.
    Callers look kernels up here at call time, so this switches the whole
    package in this process (the test suite runs each test in both modes)."""
    if mode == "native" and native is None:
        raise RuntimeError("the native extension is not built")
    if mode not in ("native", "python"):
        raise ValueError(f"kernel mode must be 'native' or 'python', not {mode!r}")
    namespace = globals()
    saved = {name: namespace[name] for name in [*TWINS, "IMPLEMENTATION"]}
    try:
        for name, twin in TWINS.items():
            namespace[name] = getattr(native, name) if mode == "native" else twin
        namespace["IMPLEMENTATION"] = mode
        yield
    finally:
        namespace.update(saved)

__all__ = [
    "IMPLEMENTATION",
    "checksum",
    "scan",
    "frame_many",
    "FrameSink",
    "scan_all",
    "FrameDecoder",
    "resync",
    "read_record",
    "TableCodec",
    "SchemaVerifier",
    "ColumnarDecoder",
    "ColumnarEncoder",
    "pure",
    "TWINS",
    "selected",
    "native",
    "CLEAN",
    "PARTIAL",
    "LIMIT",
    "CHECKSUM",
    "MAX_FRAMES",
]
