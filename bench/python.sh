#!/usr/bin/env bash
# The Python SDK benchmark (issue 11): get_job_list through the `trainyard` package (and the
# `modelarts` compatibility call) vs the same request made with `requests`, same server, same
# run; the package's import time; the wheel's size.
#   bash bench/python.sh [JOBS]   (default 5000 imported jobs)
# Builds the release server and the wheel, starts `trainyard serve` WITH authentication on a
# free loopback port in a temporary directory, imports JOBS generated jobs, runs
# bench/python_sdk.py in a fresh virtual environment, and stops the server by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-5000}
shift || true
cargo build --release --locked -q -p trainyard
WORK=$(mktemp -d /tmp/ty-python-bench.XXXXXX)
SERVER=""
trap '[ -n "$SERVER" ] && { kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; }; rm -rf "$WORK"' EXIT
python3 -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$WORK/wheels" ./python ./python/modelarts
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check "$WORK"/wheels/*.whl requests
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/trainyard serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" > "$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 150); do
  [ -s "$WORK/data/credentials.json" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/v3" && break
  sleep 0.2
done
./target/release/trainyard bench gen --jobs "$JOBS" --seed 7 --out "$WORK/jobs.ndjson" > /dev/null
TRAINYARD_ENDPOINT="http://127.0.0.1:$PORT" TRAINYARD_CREDENTIALS_FILE="$WORK/data/credentials.json" \
  ./target/release/trainyard import "$WORK/jobs.ndjson" > /dev/null
for w in "$WORK"/wheels/*.whl; do echo "wheel $(basename "$w"): $(stat -c %s "$w") bytes"; done
"$WORK/venv/bin/python" bench/python_sdk.py --endpoint "http://127.0.0.1:$PORT" \
  --credentials "$WORK/data/credentials.json" "$@"
