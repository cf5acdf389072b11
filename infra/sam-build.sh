#!/usr/bin/env bash
# Builds every function as SAM deploys it: `sam build --beta-features` with cargo-lambda, which
# cross-compiles each crate to an arm64 `bootstrap` (zig comes with cargo-lambda). Installs the
# SAM CLI and cargo-lambda into .venv-sam. This compiles everything again in release mode for
# arm64, so it is not part of the test command.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv-sam"
cd "$ROOT"
if [ ! -x "$VENV/bin/sam" ] || ! cmp -s infra/requirements-sam.txt "$VENV/.requirements"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r infra/requirements-sam.txt
  cp infra/requirements-sam.txt "$VENV/.requirements"
fi
export PATH="$VENV/bin:$PATH" SAM_CLI_TELEMETRY=0
sam build --beta-features "$@"
for bootstrap in .aws-sam/build/*/bootstrap; do
  printf '%-40s %s\n' "$bootstrap" "$(file -b "$bootstrap" | cut -d, -f1-2)"
done
