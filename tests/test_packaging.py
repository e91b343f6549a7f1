"""How the package loads: the native extension, or the pure twins with a
clear warning when the extension cannot load (never silently slow)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import flatstream as fs

PROBE = """
import sys, warnings
if {block}:
    sys.modules["flatstream._native"] = None   # makes `import flatstream._native` fail
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import flatstream as fs
    with fs.open(sys.argv[1], "wb", checksum="xxh3_64") as w:
        w.write_payload(b"abc")
    with fs.open(sys.argv[1], "rb", checksum="xxh3_64") as r:
        assert [bytes(p) for p in r] == [b"abc"]
print(fs.KERNELS)
for w in caught:
    print("WARNING", w.category.__name__, w.message)
"""


def _probe(tmp_path, block: bool, pure_env: bool) -> list:
    env = dict(os.environ)
    env.pop("FLATSTREAM_PURE_PYTHON", None)
    if pure_env:
        env["FLATSTREAM_PURE_PYTHON"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(block=block), str(tmp_path / "s.fs")],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    return out.splitlines()


def test_an_extension_that_cannot_load_falls_back_with_a_warning(tmp_path) -> None:
    lines = _probe(tmp_path, block=True, pure_env=False)
    assert lines[0] == "python"
    warnings = [line for line in lines if line.startswith("WARNING RuntimeWarning")]
    assert len(warnings) == 1
    assert "native extension could not be loaded" in warnings[0]
    assert "FLATSTREAM_PURE_PYTHON=1" in warnings[0]


def test_choosing_the_twins_is_silent(tmp_path) -> None:
    lines = _probe(tmp_path, block=True, pure_env=True)
    assert lines == ["python"]


@pytest.mark.skipif(fs._kernels.native is None, reason="this build has no native extension")
def test_the_built_extension_loads_without_warning(tmp_path) -> None:
    assert _probe(tmp_path, block=False, pure_env=False) == ["native"]
