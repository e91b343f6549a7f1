#!/usr/bin/env bash
# Coverage-guided fuzzing of flatstream (see FUZZING.md).
#
#   scripts/fuzz.sh [target|all|rust|python] [seconds]
#
# Rust kernels (cargo-fuzz / libFuzzer): scan_any, frame_roundtrip, checksum, verifier, columnar, columnar_stream, resync, journal_records
# Python paths (atheris / libFuzzer):    decoder, validator, recover, salvage, codec, journal, columns
#
# Runs one target, or each in turn, for `seconds` (default 600) of wall clock.
# Corpora live in fuzz/corpus/<target> and grow across runs; crashes are
# written to fuzz/artifacts/<target>/, and each run's log to
# fuzz/artifacts/<target>/run-<UTC time>.log. Environment:
#   FUZZ_NICE=10       niceness of the fuzzer (the machine is shared)
#   FUZZ_ARGS="..."    extra libFuzzer flags, e.g. "-max_len=65536"
#   FUZZ_FRESH_EXTENSION=1
#                      Python targets: fuzz the Rust extension built from the
#                      tree as it is now (into fuzz/target/ext, with a copy of
#                      python/flatstream beside it first on PYTHONPATH) instead
#                      of the one installed in .venv, without touching .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned tools. cargo-fuzz needs nightly-only rustc flags (-Zsanitizer, the
# sancov passes); RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
CARGO_FUZZ_VERSION=0.13.2
ATHERIS_VERSION=3.0.0 # keep equal to atheris in constraints/ci.txt
export RUSTC_BOOTSTRAP=1

RUST_TARGETS=(scan_any frame_roundtrip checksum verifier columnar columnar_stream resync journal_records)
PYTHON_TARGETS=(decoder validator recover salvage codec journal columns)

what=${1:-all}
seconds=${2:-600}
nice_level=${FUZZ_NICE:-10}
read -r -a extra <<<"${FUZZ_ARGS:-}"

case "$what" in
    all) targets=("${RUST_TARGETS[@]}" "${PYTHON_TARGETS[@]}") ;;
    rust) targets=("${RUST_TARGETS[@]}") ;;
    python) targets=("${PYTHON_TARGETS[@]}") ;;
    -h | --help)
        sed -n '2,21p' "$0"
        exit 0
        ;;
    *) targets=("$what") ;;
esac

is_rust() { [[ " ${RUST_TARGETS[*]} " == *" $1 "* ]]; }
is_python() { [[ " ${PYTHON_TARGETS[*]} " == *" $1 "* ]]; }

for t in "${targets[@]}"; do
    if ! is_rust "$t" && ! is_python "$t"; then
        echo "unknown target '$t'; one of: ${RUST_TARGETS[*]} ${PYTHON_TARGETS[*]} (or all, rust, python)" >&2
        exit 2
    fi
done

ensure_cargo_fuzz() {
    if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

ensure_atheris() {
    if [ ! -x .venv/bin/python ]; then
        echo "no .venv: run scripts/test.sh first (it builds flatstream into .venv)" >&2
        exit 1
    fi
    if ! .venv/bin/python -c "import flatstream" 2>/dev/null; then
        echo "flatstream is not installed in .venv: run scripts/test.sh first" >&2
        exit 1
    fi
    if [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("atheris"))' 2>/dev/null)" != "$ATHERIS_VERSION" ]; then
        .venv/bin/python -m pip install --quiet "atheris==$ATHERIS_VERSION"
    fi
}

fresh_extension() {
    local ext=fuzz/target/ext suffix
    # One package copy per run: two runs at once must not rewrite each other's.
    pkg=$ext/pkg-$$
    PYO3_BUILD_EXTENSION_MODULE=1 PYO3_PYTHON="$PWD/.venv/bin/python" CARGO_TARGET_DIR="$ext" \
        nice -n "$nice_level" cargo build --release --features python
    rm -rf "$pkg"
    mkdir -p "$pkg"
    trap 'rm -rf "$pkg"' EXIT
    cp -r python/flatstream "$pkg/"
    rm -f "$pkg"/flatstream/_native*.so
    suffix=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
    cp "$ext/release/libflatstream_native.so" "$pkg/flatstream/_native$suffix"
    export PYTHONPATH="$PWD/$pkg${PYTHONPATH:+:$PYTHONPATH}"
    echo "== fuzzing flatstream from $pkg (extension built from the tree at $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src python || echo ' plus uncommitted changes'))"
}

need_rust=0
need_python=0
for t in "${targets[@]}"; do
    if is_rust "$t"; then need_rust=1; else need_python=1; fi
done
[ "$need_rust" = 1 ] && ensure_cargo_fuzz
if [ "$need_python" = 1 ]; then
    ensure_atheris
    if [ "${FUZZ_FRESH_EXTENSION:-0}" = 1 ]; then
        fresh_extension
    fi
    .venv/bin/python -c 'import flatstream as fs; print("== flatstream from", fs.__file__, "kernels:", fs.KERNELS)'
fi
if [ "$need_rust" = 1 ]; then
    # Build once up front so the timed runs below fuzz instead of compile.
    (cd fuzz && nice -n "$nice_level" cargo fuzz build -O)
fi

for t in "${targets[@]}"; do
    corpus=fuzz/corpus/$t
    artifacts=fuzz/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    log=$artifacts/run-$(date -u +%Y%m%dT%H%M%SZ).log
    echo "== $t for ${seconds}s (corpus $corpus, log $log)"
    start=$(date +%s)
    set +e
    if is_rust "$t"; then
        # cargo fuzz runs from fuzz/ and writes crashes to fuzz/artifacts/<target>/.
        (cd fuzz && nice -n "$nice_level" cargo fuzz run -O "$t" "corpus/$t" -- \
            -max_total_time="$seconds" -print_final_stats=1 "${extra[@]}") \
            2>&1 | tee "$log"
    else
        if [ -z "$(ls -A "$corpus")" ]; then
            .venv/bin/python fuzz/python/seeds.py "$t" "$corpus"
        fi
        nice -n "$nice_level" .venv/bin/python "fuzz/python/fuzz_$t.py" "$corpus" \
            -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" \
            2>&1 | tee "$log"
    fi
    status=${PIPESTATUS[0]}
    set -e
    echo "== $t: exit $status after $(($(date +%s) - start))s; corpus now $(ls "$corpus" | wc -l) files" | tee -a "$log"
    if [ "$status" -ne 0 ]; then
        echo "== $t found a failure: see $artifacts/ and $log" >&2
        exit "$status"
    fi
done
