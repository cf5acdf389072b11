# Shared by infra/run.sh and infra/test.sh: the project virtualenv, moto in server mode, and the
# SDK's standard variables pointing at it. Source it; it defines functions only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv"

# Installs the pinned Python tools into .venv when they are missing or the pins changed.
ensure_venv() {
  local stamp="$VENV/.requirements"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
  fi
  if ! cmp -s "$ROOT/infra/requirements.txt" "$stamp"; then
    echo "==> installing pinned Python tools into .venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/infra/requirements.txt"
    cp "$ROOT/infra/requirements.txt" "$stamp"
  fi
}

# Starts moto on 127.0.0.1:$MOTO_PORT (one request at a time: see moto_serial.py), waits until it
# answers, and points the SDK at it.
start_moto() {
  local log="$1"
  "$VENV/bin/python" "$ROOT/infra/scripts/moto_serial.py" 127.0.0.1 "$MOTO_PORT" >"$log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$MOTO_PORT/moto-api/data.json" >/dev/null 2>&1; then
      break
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "moto did not start; see $log" >&2
      return 1
    fi
    sleep 0.2
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=eu-west-1
  # No instance metadata or profile look-ups on a developer's machine.
  export AWS_EC2_METADATA_DISABLED=true
}

stop_pid() {
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null || true
  fi
}
