#!/usr/bin/env bash
# The package as a user gets it: builds the wheel, installs it into clean
# virtualenvs outside the source tree and with no Rust toolchain on PATH, and
#   1. with the newest dependencies pip resolves (test extra included): a
#      smoke test, `flatstream --help`, and the whole test suite;
#   2. with the lowest version of every dependency range (constraints/min.txt):
#      the whole test suite.
# Run by scripts/test.sh (so by CI); arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== wheel: build"
"$python" -m pip wheel --quiet --no-deps -w "$work/dist" .
wheel=$(ls "$work"/dist/flatstream-*.whl)
echo "built $(basename "$wheel")"

# No cargo, no rustc, no source tree: only the system's binaries and the venv's.
clean_path="$work/bin-none:/usr/local/bin:/usr/bin:/bin"

run_suite() {  # $1: the venv
    (cd "$repo" && PATH="$1/bin:$clean_path" "$1/bin/python" -m pytest -q -p no:cacheprovider "${@:2}")
}

echo "== wheel: clean venv, newest dependencies"
"$python" -m venv "$work/latest"
"$work/latest/bin/python" -m pip install --quiet --upgrade "pip>=24"
"$work/latest/bin/python" -m pip install --quiet "$wheel[test]"
cp scripts/smoke.py "$work/smoke.py"
(cd "$work" && PATH="$work/latest/bin:$clean_path" "$work/latest/bin/python" smoke.py)
(cd "$work" && PATH="$work/latest/bin:$clean_path" flatstream --help >/dev/null)
echo "flatstream --help: ok"
"$work/latest/bin/python" -m pip list --format=freeze | grep -iE '^(numpy|flatbuffers|xxhash|crc32c|click|tqdm)=' | tr '\n' ' '; echo
run_suite "$work/latest" "$@"

echo "== wheel: clean venv, lowest dependencies (constraints/min.txt)"
"$python" -m venv "$work/min"
"$work/min/bin/python" -m pip install --quiet --upgrade "pip>=24"
"$work/min/bin/python" -m pip install --quiet "$wheel[test]" -c constraints/min.txt
"$work/min/bin/python" -m pip list --format=freeze | grep -iE '^(numpy|flatbuffers|xxhash|crc32c|click|tqdm)=' | tr '\n' ' '; echo
run_suite "$work/min" "$@"
