#!/usr/bin/env bash
# The web console's browser tests (issue 13): Debian's Chromium driven by Playwright for Python
# (launched with executable_path; no browser is downloaded) against a release `trainyard serve`
# WITH authentication, on a free port, in a temporary data directory. A screenshot of every page
# is saved under $TRAINYARD_CI_LOG_DIR/console (default target/ci-logs/console; printed at the end).
# Usage: .ci/console.sh [TRAINYARD_BIN]     (default: target/release/trainyard)
# Needs scikit-learn (installed by .ci/run) for the digits example.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${1:-$ROOT/target/release/trainyard}
LOGS=${TRAINYARD_CI_LOG_DIR:-$ROOT/target/ci-logs}/console
mkdir -p "$LOGS"
rm -f "$LOGS"/*.png

if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi
python3 -m pip install --quiet --disable-pip-version-check playwright==1.65.3 pytest==9.2.0
chromium --version 2>/dev/null | head -1 || true

WORK=$(mktemp -d)
chmod 755 "$WORK"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" > "$LOGS/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  if [ "${rc:-1}" != 0 ]; then echo "---- server log (tail)"; tail -n 40 "$LOGS/server.log" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 150); do
  [ -s "$WORK/data/credentials.json" ] && curl -sf -o /dev/null "http://127.0.0.1:$PORT/v3" && break
  sleep 0.2
done
[ -s "$WORK/data/credentials.json" ] || { echo "server did not write credentials.json"; exit 1; }
# the job's code and output live in the run's temporary directory
cp -r examples/digits "$WORK/digits"
mkdir -p "$WORK/out"
chmod -R a+rX "$WORK/digits" && chmod 777 "$WORK/out"

rc=0
TRAINYARD_URL="http://127.0.0.1:$PORT" \
TRAINYARD_CREDENTIALS="$WORK/data/credentials.json" \
TRAINYARD_DIGITS_DIR="$WORK/digits" \
TRAINYARD_WORK="$WORK/out" \
TRAINYARD_SCREENSHOTS="$LOGS" \
CHROMIUM=/usr/bin/chromium \
  python3 -m pytest -v -s -p no:cacheprovider tests/console/test_console.py || rc=$?
echo "console screenshots: $LOGS ($(ls "$LOGS"/*.png 2>/dev/null | wc -l) pages)"
exit $rc
