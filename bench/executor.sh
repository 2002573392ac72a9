#!/usr/bin/env bash
# Supervisor benchmarks (figures for the notes, not timed tests): create->RUNNING latency,
# server CPU while supervising 500 `sleep` workers, list latency while 200 versions start and
# stop. Builds the release binary, runs a server on a temporary data directory on loopback,
# and stops it (and every run) at the end. Pass extra arguments to bench/executor.py.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p trainyard
DATA=$(mktemp -d)
PORT=${PORT:-18799}
./target/release/trainyard serve --insecure-no-auth --listen 127.0.0.1:$PORT --data-dir "$DATA" \
  --quotas 1000 --max-running 1000 --stop-grace-secs 2 > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/v1/bench/job/ai-engines" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 bench/executor.py --endpoint "http://127.0.0.1:$PORT" --pid $SERVER "$@"
