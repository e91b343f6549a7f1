#!/usr/bin/env bash
# The full fan-in load of issue 13: 50 concurrent asyncio producers x 100,000
# frames each over real TCP sockets into one raw file and into one journal,
# every frame checked present exactly once (the CI suite runs 50 x 200).
#   bash scripts/fanin_load.sh [frames-per-producer]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
FLATSTREAM_FANIN_FRAMES=${1:-100000} "$PY" -m pytest -q -p no:cacheprovider --durations=0 \
    tests/test_aio_live.py -k many_concurrent_producers
