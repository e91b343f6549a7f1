#!/usr/bin/env bash
# The benchmark suite: flatstream against msgpack, pickle, orjson, protobuf,
# pyarrow, the official FlatBuffers runtime and a naive struct loop, in one
# run; writes BENCHMARKS.md.
#
#   bash scripts/bench.sh                      # full run (about 15-25 min on 2 shared cores)
#   bash scripts/bench.sh --quick              # smoke run: small sizes, few repeats
#   bash scripts/bench.sh --only bulk,codec    # some workloads or families (see --list)
#   bash scripts/bench.sh --big-file-mib 256   # a smaller on-disk file
#
# Installs the "bench" extra's peers, pinned by constraints/ci.txt, into .venv; never reinstalls or
# rebuilds flatstream itself (build it with scripts/test.sh first).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import flatstream._native" 2>/dev/null; then
    echo "flatstream is not built into .venv: run 'bash scripts/test.sh' first" >&2
    exit 1
fi

# The peers of pyproject.toml's "bench" extra, at the exact versions of
# constraints/ci.txt (ranges for users, pins for measurements).
mapfile -t peers < <(.venv/bin/python - <<'PY'
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["bench"]))
PY
)
.venv/bin/python -m pip install --quiet "${peers[@]}" -c constraints/ci.txt

export FLATSTREAM_BENCH_COMMAND="bash scripts/bench.sh${*:+ $*}"
exec .venv/bin/python -m benchmarks "$@"
