"""The kernels: native (Rust, ``flatstream._native``) or their pure-Python twins.

Both implement the same three functions with the same signatures and results:

``checksum(name, data) -> int``
    A built-in checksum of a bytes-like object.
``scan(data, start, width, verify, max_frame_len, max_frames) -> ScanResult``
    Frame boundaries in ``data[start:]`` (see :mod:`flatstream._kernels.pure`).
``frame_many(payloads, width, algorithm) -> bytes``
    Every payload framed, back to back, in one buffer.

``FLATSTREAM_PURE_PYTHON=1`` selects the twins; so does a build without the
extension. ``IMPLEMENTATION`` says which is in use.
"""

from __future__ import annotations

import os
from typing import Tuple

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
    except ImportError:  # a source checkout that was never built
        native = None

if native is None:
    IMPLEMENTATION = "python"
    checksum = pure.checksum
    scan = pure.scan
    frame_many = pure.frame_many
else:
    IMPLEMENTATION = "native"
    checksum = native.checksum
    scan = native.scan
    frame_many = native.frame_many

__all__ = [
    "IMPLEMENTATION",
    "checksum",
    "scan",
    "frame_many",
    "pure",
    "native",
    "CLEAN",
    "PARTIAL",
    "LIMIT",
    "CHECKSUM",
    "MAX_FRAMES",
]
