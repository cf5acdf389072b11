#!/usr/bin/env bash
# Runs the portal locally: moto (DynamoDB, SNS, SES) on 127.0.0.1:$MOTO_PORT, the table from
# template.yaml, demo data, the local API with every function's router on $PORTAL_PORT, and a
# local ECD (FHIR R4 server with recorded demo data) on $ECD_PORT that the hourly sync reads.
# SMS codes and e-mails the stack sends are printed here. Ctrl-C stops everything.
set -euo pipefail
source "$(dirname "$0")/scripts/common.sh"
export MOTO_PORT="${MOTO_PORT:-5055}" PORTAL_PORT="${PORTAL_PORT:-3000}" ECD_PORT="${ECD_PORT:-3080}"
export TABLE_NAME="${TABLE_NAME:-client-portal-local}"

ensure_venv
mkdir -p "$ROOT/infra/.local"
start_moto "$ROOT/infra/.local/moto.log"
trap 'stop_pid "${MOTO_PID:-}"' EXIT INT TERM
echo "==> moto on $AWS_ENDPOINT_URL"
cd "$ROOT"
cargo run --quiet -p local-stack
