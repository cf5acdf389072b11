"""Runs schemathesis against the local API with a logged-in session.

Logs in as a demo account the way a person would (password, then the SMS code that moto
received), then lets schemathesis call every operation of infra/openapi.yaml with that session's
bearer token: no response may be a 5xx, and every response must match the description.
The two logout operations are left to the Rust tests: they would end the session under test.
Revoking a session by id runs last, in a run of its own: schemathesis reuses ids that earlier
responses showed, so it revokes the session under test, and every operation after it would only
see 401s.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_USER, DEMO_PHONE, DEMO_PASSWORD = "anna.devries", "+31610000001", "Oktober-demo-2026"


def call(url, body=None):
    request = urllib.request.Request(url, method="POST" if body is not None else "GET")
    data = None
    if body is not None:
        request.add_header("content-type", "application/json")
        data = json.dumps(body).encode()
    with urllib.request.urlopen(request, data, timeout=30) as response:
        return json.load(response)


def wait_for(base):
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            return call(f"{base}/terms")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    sys.exit(f"the local API at {base} did not come up")


def latest_code(moto, phone):
    data = call(f"{moto}/moto-api/data.json")
    for sms in reversed(data["sns"]["SMS"]):
        if sms["phone_number"] == phone:
            return sms["message"].split()[0]
    sys.exit(f"moto holds no SMS to {phone}")


def main():
    base = sys.argv[1]
    moto = os.environ["AWS_ENDPOINT_URL"]
    wait_for(base)
    started = call(f"{base}/auth/login", {"username": DEMO_USER, "password": DEMO_PASSWORD})
    code = latest_code(moto, DEMO_PHONE)
    tokens = call(f"{base}/auth/verify", {"challenge_id": started["challenge_id"], "code": code})
    common = [
        str(ROOT / ".venv/bin/schemathesis"), "run", str(ROOT / "infra/openapi.yaml"),
        "--url", base,
        "--header", f"Authorization: Bearer {tokens['access_token']}",
        "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                    "response_headers_conformance,response_schema_conformance",
        "--exclude-path", "/auth/logout",
        "--exclude-path", "/auth/logout-all",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40"),
        "--seed", os.environ.get("SCHEMATHESIS_SEED", "20261203"),
        "--generation-database", "none",
        "--no-color",
    ]
    revoke = ["--include-method", "DELETE", "--include-path", "/auth/sessions/{id}"]
    keeping = ["--exclude-path", "/auth/sessions/{id}"]
    failed = subprocess.call(common + keeping, cwd=ROOT)
    failed |= subprocess.call(common + revoke, cwd=ROOT)
    sys.exit(failed)


if __name__ == "__main__":
    main()
