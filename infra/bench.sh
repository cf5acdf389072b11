#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: cold start of every function against the floor (an empty
# lambda_http function), arm64 package sizes (from `infra/sam-build.sh`, if it ran), peak memory,
# warm latency with DynamoDB requests per route, login cost, and sync and sweep cost. Starts its
# own moto.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
export MOTO_PORT="${MOTO_PORT:-5057}" ECD_PORT="${ECD_PORT:-3058}"
cd "$ROOT"

ensure_venv
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
LOGS="$(mktemp -d)"
trap 'stop_pid "${MOTO_PID:-}"' EXIT INT TERM
# The bench's own moto and a fresh table, started once the builds are done.
start_bench_moto() {
  start_moto "$LOGS/moto.log"
  export TABLE_NAME="bench-$(date +%s)"
}

# BENCH_ONLY=jobs: only the sync and sweep tables, printed (BENCHMARKS.md is left as it is).
if [ "${BENCH_ONLY:-}" = jobs ]; then
  cargo build --quiet -p bench
  start_bench_moto
  "$TARGET/debug/bench"
  exit 0
fi
# BENCH_ONLY=first-request: only the first DynamoDB request of a cold auth-verify, printed.
if [ "${BENCH_ONLY:-}" = first-request ]; then
  cargo build --release --quiet -p auth-verify -p bench
  start_bench_moto
  BENCH_BIN_DIR="$TARGET/release" "$TARGET/release/bench"
  exit 0
fi
echo "==> release build of every function and the floor"
packages=(-p bench-floor)
for crate in functions/*/; do
  packages+=(-p "$(basename "$crate")")
done
cargo build --release --quiet "${packages[@]}"
# In release too: the warm figures' own time is our code's, so it must be optimised as deployed.
cargo build --release --quiet -p bench
# The floor's arm64 package, next to the functions' from `sam build`, when cargo-lambda is here.
if [ -x "$ROOT/.venv-sam/bin/cargo-lambda" ]; then
  PATH="$ROOT/.venv-sam/bin:$PATH" cargo lambda build --release --arm64 --quiet -p bench-floor
fi

start_bench_moto
BENCH_BIN_DIR="$TARGET/release" "$TARGET/release/bench" >"$LOGS/tables.md"

{
  sed -n '1,/^<!-- figures -->$/p' BENCHMARKS.md
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(rustc --version)."
  echo
  cat "$LOGS/tables.md"
} >"$LOGS/BENCHMARKS.md"
mv "$LOGS/BENCHMARKS.md" BENCHMARKS.md
cat "$LOGS/tables.md"
