"""Every test runs twice: once on the native kernels, once on their pure-Python
twins. The kernels module is looked up at call time by every caller, so
switching its kernels (``_kernels.selected``) switches the whole package."""

from __future__ import annotations

from typing import Any, Dict, Iterator

import pytest

from flatstream import _kernels

MODES = ["native", "python"] if _kernels.native is not None else ["python"]


@pytest.fixture(params=MODES, autouse=True)
def kernel_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with _kernels.selected(request.param):
        yield request.param


@pytest.fixture(scope="session")
def cpp_oracle(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``cpp_oracle(case)``: the official C++ verifier of a conformance case
    (tests/conformance_cases.py), compiled once per session; skips the test
    with the reason when g++ or the flatc package's headers are missing."""
    from conformance_cases import Case
    from cpp_verifier import CppVerifier, missing_reason

    built: Dict[str, CppVerifier] = {}

    def oracle(case: Case) -> CppVerifier:
        reason = missing_reason()
        if reason is not None:
            pytest.skip(reason)
        if case.name not in built:
            workdir = tmp_path_factory.mktemp(f"cpp-{case.name}")
            built[case.name] = CppVerifier.build(case.fbs, case.cpp_root, workdir, case.include)
        return built[case.name]

    return oracle
