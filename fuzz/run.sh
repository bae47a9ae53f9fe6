#!/usr/bin/env bash
# Runs the fuzz targets: every one (or those named) for SECONDS each, one
# after the other on one core, from the seed corpus in fuzz/corpus/<target>.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# New inputs found go to a scratch corpus ($KPL_FUZZ_WORK, default a fresh
# temporary directory), never into the repository; a crash stops the run
# with its input in fuzz/artifacts/<target>/ (reproduce it with
# `cargo fuzz run -s none <target> <file>`, then make it a regression test).
# Needs cargo-fuzz (installed here if missing) and, on a stable toolchain,
# RUSTC_BOOTSTRAP=1 for the sanitizer-coverage flags (set here).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
work=${KPL_FUZZ_WORK:-$(mktemp -d)}

# No sanitizer: ledger-core forbids unsafe code, and the targets look for
# panics and wrong round trips. Debug assertions stay on (cargo-fuzz's default).
# KPL_FUZZ_DEV=1 builds without optimisation: half the build time, fewer
# executions per second; for CI's short runs.
profile=()
if [ "${KPL_FUZZ_DEV:-0}" = 1 ]; then
    profile=(--dev)
fi
cargo fuzz build "${profile[@]}" -s none

printf '%-18s %12s %8s\n' target executions seconds
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "corpus/$t"
    log="$work/$t.log"
    if ! cargo fuzz run "${profile[@]}" -s none "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz target $t failed: see fuzz/artifacts/$t/" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    printf '%-18s %12s %8s\n' "$t" "${runs:-?}" "${took:-$secs}"
done
