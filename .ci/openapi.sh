#!/usr/bin/env bash
# 1. /metrics of a fresh release server parsed by prometheus_client's text-format parser,
#    against values computed from what the check did (tests/ops/metrics_check.py).
# 2. The API fuzzer: Schemathesis (from PyPI, in a temporary venv) reads the committed OpenAPI
# document and sends generated requests (valid and invalid) to a release server WITH
# authentication (a token from POST /v3/auth/tokens), then checks every answer:
#   not_a_server_error            no 5xx
#   status_code_conformance       the status is documented for the operation
#   content_type_conformance      the Content-Type is documented
#   response_headers_conformance  documented headers are present and valid
#   response_schema_conformance   the body matches the documented schema
# Bounded: --max-examples per operation and --max-time overall. The summary goes to the log.
# Jobs the fuzzer creates really run: the server runs as `nobody` (when we are root) in a
# temporary directory, with a small job quota, and is stopped by PID at the end.
# Usage: .ci/openapi.sh [TRAINYARD_BIN]   (default ./target/release/trainyard)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-./target/release/trainyard}")
MAX_EXAMPLES=${OPENAPI_MAX_EXAMPLES:-40}
MAX_TIME=${OPENAPI_MAX_TIME:-240}
# OPENAPI_SEED: the fuzzer's seed (CI keeps 14; other seeds explore other inputs)
WORK=$(mktemp -d)
chmod 755 "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER=
cleanup() {
  rc=$?
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  if [ "$rc" != 0 ] && [ -f "$WORK/server.log" ]; then echo "---- server log (tail)"; tail -n 30 "$WORK/server.log"; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT

echo "---- installing schemathesis and prometheus-client into a temporary venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5 prometheus-client==0.26.0

echo "---- /metrics parsed by prometheus_client (tests/ops/metrics_check.py)"
"$WORK/venv/bin/python" tests/ops/metrics_check.py "$BIN"

mkdir -p "$WORK/data" "$WORK/run"
RUN=()
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  chown nobody "$WORK/data" "$WORK/run"
  RUN=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi
(cd "$WORK/run" && exec "${RUN[@]}" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
   --max-jobs 5000 --quotas 2 --stop-grace-secs 1) > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do
  [ -s "$WORK/data/credentials.json" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/readyz" || { echo "the server did not become ready"; exit 1; }

# A token for the default account (the fuzzer sends it as X-Auth-Token).
read -r PROJECT BODY < <(python3 - "$WORK/data/credentials.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": c["username"], "password": c["password"], "domain": {"name": c["domain"]}}}},
    "scope": {"project": {"id": c["project_id"]}}}}
print(c["project_id"], json.dumps(body, separators=(",", ":")))
PY
)
TOKEN=$(curl -s -D - -o /dev/null -X POST "http://127.0.0.1:$PORT/v3/auth/tokens" \
  -H 'Content-Type: application/json' -d "$BODY" | awk 'tolower($1)=="x-subject-token:"{print $2}' | tr -d '\r')
[ -n "$TOKEN" ] || { echo "no token"; exit 1; }

# The project path parameter is fixed to the account's project, so requests get past the
# project check and reach the handlers (other values are answered 403, also checked).
cat > "$WORK/schemathesis.toml" <<TOML
[parameters]
"path.project_id" = "$PROJECT"
TOML

export PYTHONPATH=$PWD/.ci SCHEMATHESIS_HOOKS=openapi_hooks
fuzz() { # CONFIG_FILE [extra schemathesis args...]
  local config=$1; shift
  "$WORK/venv/bin/schemathesis" --config-file "$config" run openapi.json \
    --url "http://127.0.0.1:$PORT" \
    -H "X-Auth-Token: $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" \
    --request-timeout 30 --workers 1 --seed "${OPENAPI_SEED:-14}" --no-color "$@"
}
set +e
echo "---- run 1: every operation, any ids (max $MAX_EXAMPLES examples per operation, $MAX_TIME s)"
fuzz "$WORK/schemathesis.toml" --phases examples,coverage,fuzzing --report junit --report-dir "$WORK/report1"
rc1=$?
# Run 2 targets one real job, version and config (created now, after run 1 and its deletes),
# so the handlers behind the ids are exercised too; it leaves out the deletes.
JOB=$(curl -sf -X POST "http://127.0.0.1:$PORT/v1/$PROJECT/training-jobs" -H "X-Auth-Token: $TOKEN" \
  -H 'Content-Type: application/json' \
  -d '{"job_name":"fuzz-target","config":{"worker_server_num":1,"spec_id":1,"user_command":"echo fuzz; sleep 1"}}')
JOB_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["job_id"])' "$JOB")
VERSION_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["version_id"])' "$JOB")
curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/$PROJECT/training-job-configs" -H "X-Auth-Token: $TOKEN" \
  -H 'Content-Type: application/json' -d '{"config_name":"fuzz-config","config_desc":"d","spec_id":1}'
cat > "$WORK/schemathesis-ids.toml" <<TOML
[parameters]
"path.project_id" = "$PROJECT"
"path.job_id" = $JOB_ID
"path.version_id" = $VERSION_ID
"path.config_name" = "fuzz-config"
TOML

echo "---- run 2: one real job $JOB_ID, version $VERSION_ID, config fuzz-config; no deletes"
fuzz "$WORK/schemathesis-ids.toml" --exclude-method DELETE --phases examples,fuzzing --report junit --report-dir "$WORK/report2"
rc2=$?
rc=$((rc1 || rc2))
set -e
# The server's own count of what it answered, by status class (from /metrics).
curl -sf "http://127.0.0.1:$PORT/metrics" | "$WORK/venv/bin/python" -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
by = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == "trainyard_http_requests_total":
            k = s.labels["status"][0] + "xx"
            by[k] = by.get(k, 0) + int(s.value)
print("---- the server answered " + ", ".join(f"{v} {k}" for k, v in sorted(by.items())))
sys.exit(1 if by.get("5xx") else 0)
' || { echo "server errors (5xx) were answered"; rc=1; }
echo "---- openapi fuzzing: run 1 exit $rc1, run 2 exit $rc2"
echo "---- .ci/openapi.sh took ${SECONDS} s"
exit $rc
