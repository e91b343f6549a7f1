"""Every test runs twice: once on the native kernels, once on their pure-Python
twins. The kernels module is looked up at call time by every caller, so
swapping its functions switches the whole package."""

from __future__ import annotations

import pytest

from flatstream import _kernels
from flatstream.decoder import PyFrameDecoder

MODES = ["native", "python"] if _kernels.native is not None else ["python"]


@pytest.fixture(params=MODES, autouse=True)
def kernel_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    source = _kernels.native if request.param == "native" else _kernels.pure
    for name in (
        "checksum", "scan", "frame_many", "FrameSink", "scan_all", "TableCodec", "SchemaVerifier",
        "ColumnarDecoder", "ColumnarEncoder",
    ):
        monkeypatch.setattr(_kernels, name, getattr(source, name))
    decoder = _kernels.native.FrameDecoder if request.param == "native" else PyFrameDecoder
    monkeypatch.setattr(_kernels, "FrameDecoder", decoder)
    monkeypatch.setattr(_kernels, "IMPLEMENTATION", request.param)
    return request.param  # type: ignore[no-any-return]
