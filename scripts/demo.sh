#!/usr/bin/env bash
# Fresh machine to running demo in one command: creates .venv, builds the
# package and its Rust extension, runs the telemetry demo. Arguments go to
# `flatstream demo` (e.g. --events 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -e . -c constraints/ci.txt
exec .venv/bin/flatstream demo "$@"
