"""Every test runs twice: once on the native kernels, once on their pure-Python
twins. The kernels module is looked up at call time by every caller, so
switching its kernels (``_kernels.selected``) switches the whole package."""

from __future__ import annotations

from typing import Iterator

import pytest

from flatstream import _kernels

MODES = ["native", "python"] if _kernels.native is not None else ["python"]


@pytest.fixture(params=MODES, autouse=True)
def kernel_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with _kernels.selected(request.param):
        yield request.param
