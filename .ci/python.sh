#!/usr/bin/env bash
# CI for the Python SDK (issue 11): install the `trainyard` + `modelarts` packages with the
# README's one command in a fresh virtual environment (pip fetches maturin, cargo builds the
# extension in release), build the wheel, start a release server with authentication on a free
# port in a temporary directory, and run pytest (python/tests) against it with its output in
# the log. Everything it starts is stopped by PID on exit, failure included.
# Usage: .ci/python.sh [TRAINYARD_BIN] (default ./target/release/trainyard, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${1:-$ROOT/target/release/trainyard}
SHARED=${TRAINYARD_SHARED:-$ROOT/../shared}
PY=${PYTHON:-python3}

T0=$(date +%s)
LAST=$T0
part() {
  local now; now=$(date +%s)
  printf '\n---- python: %s (%s, +%ss since the previous part)\n' "$*" "$(date -u +%H:%M:%S)" "$((now - LAST))"
  LAST=$now
}

WORK=$(mktemp -d /tmp/ty-python-ci.XXXXXX)
chmod 755 "$WORK"
SERVER=""
cleanup() {
  local rc=$?
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -f "$WORK/server/server.log" ]; then
    echo "---- server log (tail)"; tail -n 60 "$WORK/server/server.log" || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

[ -x "$BIN" ] || cargo build --release --locked -p trainyard

part "fresh venv + the README's install command: pip install ./python ./python/modelarts"
"$PY" -m venv "$WORK/fresh"
"$WORK/fresh/bin/pip" install --disable-pip-version-check ./python ./python/modelarts

part "wheel (python -m pip wheel: the same build, reused)"
"$PY" -m pip wheel --disable-pip-version-check --no-deps -w "$WORK/wheels" ./python ./python/modelarts
ls -l "$WORK"/wheels/
WHEEL=$(ls "$WORK"/wheels/trainyard-*.whl)
echo "wheel size: $(stat -c %s "$WHEEL") bytes ($(basename "$WHEEL"))"

part "test venv: the wheels + pytest and requests (the independent REST client of the tests)"
"$PY" -m venv "$WORK/test"
"$WORK/test/bin/pip" install --disable-pip-version-check --quiet "$WORK"/wheels/*.whl pytest requests
"$WORK/test/bin/python" -X importtime -c "import trainyard" 2> "$WORK/importtime.txt"
echo "import trainyard: $(tail -n 1 "$WORK/importtime.txt")"

part "release server with authentication"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/server" "$WORK/jobs"
chmod 777 "$WORK/jobs"
# Quotas above the default 4: the tests keep a few jobs running at once (the seed lists RUNNING jobs).
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/server" --quotas 16 --max-running 16 \
  > "$WORK/server/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
  [ -s "$WORK/server/credentials.json" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/v3" && break
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited"; exit 1; }
  sleep 0.2
done
[ -s "$WORK/server/credentials.json" ] || { echo "server did not write credentials.json"; exit 1; }

part "pytest python/tests"
TRAINYARD_REQUIRE_PYTHON_SDK=1 \
TRAINYARD_TEST_ENDPOINT="http://127.0.0.1:$PORT" \
TRAINYARD_TEST_DATA_DIR="$WORK/server" \
TRAINYARD_TEST_FRESH_PYTHON="$WORK/fresh/bin/python" \
TRAINYARD_TEST_WORK_DIR="$WORK/jobs" \
TRAINYARD_BIN="$BIN" \
TRAINYARD_SHARED="$SHARED" \
  "$WORK/test/bin/python" -m pytest python/tests -v -rfEs -p no:cacheprovider

part "done"
echo "python CI part: $(( $(date +%s) - T0 )) s in all"
