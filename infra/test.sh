#!/usr/bin/env bash
# Runs every test: formatting, clippy, cfn-lint, the Rust tests against moto, and schemathesis
# against the local API with a logged-in session. Installs what it needs into .venv.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
export MOTO_PORT="${MOTO_PORT:-5056}" PORTAL_PORT="${PORTAL_PORT:-3056}" ECD_PORT="${ECD_PORT:-3057}"
cd "$ROOT"

ensure_venv
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cfn-lint template.yaml"
"$VENV/bin/cfn-lint" template.yaml
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

LOGS="$(mktemp -d)"
PORTAL_PID=""
cleanup() {
  stop_pid "$PORTAL_PID"
  stop_pid "${MOTO_PID:-}"
}
trap cleanup EXIT INT TERM
start_moto "$LOGS/moto.log"

echo "==> cargo test (against moto on $AWS_ENDPOINT_URL)"
cargo test --workspace --quiet 2>&1 | tee "$LOGS/cargo-test.log"

echo "==> schemathesis against the local API"
# A fresh moto: the one the Rust tests filled answers /moto-api/data.json (where the SMS codes
# are read) ever more slowly.
stop_pid "${MOTO_PID:-}"
start_moto "$LOGS/moto-schemathesis.log"
export TABLE_NAME="schemathesis-$(date +%s)"
cargo build --quiet -p local-stack
"${CARGO_TARGET_DIR:-$ROOT/target}/debug/local-stack" >"$LOGS/local-stack.log" 2>&1 &
PORTAL_PID=$!
"$VENV/bin/python" infra/scripts/schemathesis.py "http://127.0.0.1:$PORTAL_PORT" | tee "$LOGS/schemathesis.log" || {
  echo "--- local-stack log"; tail -50 "$LOGS/local-stack.log"; exit 1
}

# One closing line for the whole run: Rust tests, end-to-end tests and schemathesis cases.
read -r rust_passed rust_failed < <(awk '
  /^test result:/ { p += $4; f += $6 }
  /^e2e: [0-9]+ passed, [0-9]+ failed/ { p += $2; f += $4 }
  END { print p + 0, f + 0 }' "$LOGS/cargo-test.log")
cases=$(sed -n 's/^ *\([0-9]\+\) generated, \([0-9]\+\) passed.*/\2/p' "$LOGS/schemathesis.log" | awk '{ n += $1 } END { print n + 0 }')
echo
echo "Rust and end-to-end tests: $rust_passed passed; schemathesis: ${cases:-0} cases passed"
echo "all: $((rust_passed + ${cases:-0})) passed, $rust_failed failed"
