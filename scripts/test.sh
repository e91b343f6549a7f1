#!/usr/bin/env bash
# The test command: sets up .venv if needed, builds the package and its Rust
# extension, then runs every check CI runs: cargo fmt/clippy/test, ruff, mypy,
# pytest in both kernel modes, and the installed wheel in clean virtualenvs at
# the newest and the lowest dependency versions (scripts/check-wheel.sh). Long benchmarks and fuzz campaigns
# are not here (see README: scripts/bench.sh, scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
# CI (CI=true) always starts from a fresh virtualenv, so nothing installed
# by hand into an old one can make it pass.
if [ -n "${CI:-}" ]; then
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade "pip>=24"
.venv/bin/python -m pip install --quiet -e ".[test]" -c constraints/ci.txt

echo "== cargo fmt / clippy / test"
cargo fmt --check
cargo clippy --all-targets --features python -- -D warnings
cargo test --quiet

echo "== ruff / mypy"
.venv/bin/ruff check .
.venv/bin/mypy

echo "== pytest (every test in both kernel modes)"
set +e
.venv/bin/python -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    exit "$status"
fi

# Last, so the closing pytest line CI reads is the main run's twin: the
# wheel's suites print their own.
bash scripts/check-wheel.sh "$@"
