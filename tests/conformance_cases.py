"""The schemas and JSON samples of the conformance suite and the C++
differential test (tests/conformance/). A new schema or construct is one more
:class:`Case`; one not supported yet carries ``unsupported`` (the reason),
which makes its tests strict xfails that flip when support lands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

HERE = Path(__file__).parent
CONFORMANCE = HERE / "conformance"
SCHEMAS = HERE / "schemas"


@dataclass(frozen=True)
class Case:
    """One schema, its root table as C++ names it, and its JSON samples."""

    name: str
    fbs: Path
    cpp_root: str
    samples: Tuple[Path, ...]
    include: Tuple[Path, ...] = ()
    unsupported: Optional[str] = None


CASES = [
    Case(
        "conformance",
        CONFORMANCE / "conformance.fbs",
        "conf::main::Root",
        tuple(sorted(CONFORMANCE.glob("root_*.json"))),
        include=(CONFORMANCE,),
    ),
    Case("sample", SCHEMAS / "sample.fbs", "sample::Record", (CONFORMANCE / "sample_full.json",)),
    Case(
        "fixed_array",
        CONFORMANCE / "fixed_array.fbs",
        "conf::arrays::Root",
        (CONFORMANCE / "fixed_array.json",),
    ),
    Case(
        "union_struct_string",
        CONFORMANCE / "union_struct_string.fbs",
        "conf::unions::Root",
        (CONFORMANCE / "union_struct_string.json",),
    ),
    Case(
        "union_vector",
        CONFORMANCE / "union_vector.fbs",
        "conf::uvec::Root",
        (CONFORMANCE / "union_vector.json",),
    ),
    Case(
        "offset64",
        CONFORMANCE / "offset64.fbs",
        "conf::big::Root",
        (CONFORMANCE / "offset64.json",),
        unsupported="64-bit offsets (offset64, vector64) are not supported yet",
    ),
]


def flatc_binary(case: Case, sample: Path, out: Path) -> bytes:
    """``flatc -b`` of a JSON sample: the buffer the official tools build."""
    import subprocess

    from flatstream.schema import find_flatc

    out.mkdir(parents=True, exist_ok=True)
    command = [find_flatc(), "-b", "-o", str(out)]
    for directory in case.include:
        command += ["-I", str(directory)]
    subprocess.run(command + [str(case.fbs), str(sample)], check=True, capture_output=True)
    (produced,) = [p for p in out.iterdir() if p.stem == sample.stem and p.suffix != ".json"]
    data = produced.read_bytes()
    produced.unlink()
    return data


def flatc_json(case: Case, buffer: bytes, out: Path) -> object:
    """What ``flatc --json --strict-json`` reads in ``buffer``, parsed."""
    import json
    import subprocess

    from flatstream.schema import find_flatc

    out.mkdir(parents=True, exist_ok=True)
    source = out / "buffer.bin"
    source.write_bytes(buffer)
    command = [find_flatc(), "--json", "--strict-json", "--raw-binary", "-o", str(out)]
    for directory in case.include:
        command += ["-I", str(directory)]
    subprocess.run(command + [str(case.fbs), "--", str(source)], check=True, capture_output=True)
    return json.loads((out / "buffer.json").read_text())
