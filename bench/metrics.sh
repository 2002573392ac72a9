#!/usr/bin/env bash
# The cost of metrics on the job list's throughput, side by side: one data directory of N
# imported jobs, served alternately with `--metrics public` and `--metrics off` (ROUNDS rounds
# each, interleaved so that machine noise hits both alike), each measured with wrk on the
# default list query (per_page 10) after a warm-up. Prints every run, then N, median and p99
# of req/s and latency per mode, and the overhead of metrics on the median throughput.
# Usage: bash bench/metrics.sh [JOBS] [ROUNDS] [SECS]   (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-100000}
ROUNDS=${2:-5}
SECS=${3:-10}
BIN=${TRAINYARD_BIN:-./target/release/trainyard}
[ -x "$BIN" ] || cargo build --release --locked -p trainyard
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
WORK=$(mktemp -d)
PROJECT=bench0123456789
SERVER=
stop() { if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; SERVER=; fi; }
trap 'stop; rm -rf "$WORK"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() { # metrics mode
  "$BIN" serve --insecure-no-auth --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --metrics "$1" --max-jobs 10000000 \
    > "$WORK/server-$1.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" && return; sleep 0.1; done
  echo "server did not start"; exit 1
}
"$BIN" bench gen --jobs "$JOBS" --seed 1 --out "$WORK/h.ndjson"
start public
"$BIN" --endpoint "http://127.0.0.1:$PORT" --project "$PROJECT" import "$WORK/h.ndjson" > /dev/null
stop
URL="http://127.0.0.1:$PORT/v1/$PROJECT/training-jobs?per_page=10&page=1&sortBy=create_time&order=desc"
echo "mode round req_per_s p50_ms p99_ms"
for r in $(seq 1 "$ROUNDS"); do
  for mode in public off; do
    start "$mode"
    wrk -t2 -c32 -d2s "$URL" > /dev/null   # warm-up
    out=$(wrk -t2 -c32 -d"${SECS}s" --latency "$URL")
    stop
    rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    echo "$mode $r $rps $p50 $p99" | tee -a "$WORK/runs.txt"
  done
done
python3 - "$WORK/runs.txt" "$JOBS" "$SECS" <<'PY'
import statistics, sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit) and (unit != "s" or not v.endswith(("us", "ms"))):
            return float(v[: -len(unit)]) * f
    return float(v)
runs = {}
for line in open(sys.argv[1]):
    mode, _, rps, p50, p99 = line.split()
    runs.setdefault(mode, []).append((float(rps), ms(p50), ms(p99)))
print(f"\njobs {sys.argv[2]}, wrk -t2 -c32 -d{sys.argv[3]}s on the default list query, runs interleaved")
print("| metrics | N runs | req/s median | req/s worst | latency p50 median (ms) | latency p99 median (ms) | latency p99 worst (ms) |")
print("|---|---|---|---|---|---|---|")
med = {}
for mode in ("public", "off"):
    r = runs[mode]
    med[mode] = statistics.median(x[0] for x in r)
    print(f"| {mode} | {len(r)} | {med[mode]:.0f} | {min(x[0] for x in r):.0f} | "
          f"{statistics.median(x[1] for x in r):.3f} | {statistics.median(x[2] for x in r):.3f} | {max(x[2] for x in r):.3f} |")
print(f"overhead of metrics on median throughput: {100 * (med['off'] - med['public']) / med['off']:.1f}% (target <= 3%)")
PY
