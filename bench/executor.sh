#!/usr/bin/env bash
# Supervisor benchmarks (figures for the notes, not timed tests): create->RUNNING latency,
# server CPU while supervising 500 `sleep` workers, list latency while 200 versions start and
# stop. Builds the release binary, runs a server on a temporary data directory on loopback,
# and stops it (and every run) at the end. Pass extra arguments to bench/executor.py.
# TRAINYARD_BIN: an already built binary to measure; PORT: the port [default: a free one].
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRAINYARD_BIN:-}" ]; then
  cargo build --release -q -p trainyard
fi
BIN=${TRAINYARD_BIN:-$PWD/target/release/trainyard}
DATA=$(mktemp -d)
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
"$BIN" serve --insecure-no-auth --listen 127.0.0.1:$PORT --data-dir "$DATA" \
  --quotas 1000 --max-running 1000 --stop-grace-secs 2 > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$PORT/v1/bench/job/ai-engines" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 bench/executor.py --bin "$BIN" --endpoint "http://127.0.0.1:$PORT" --pid $SERVER "$@"
