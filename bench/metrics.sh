#!/usr/bin/env bash
# The cost of metrics on the job list's throughput, side by side: two copies of one data
# directory of JOBS imported jobs, served at the same time by two servers, one with
# `--metrics public` and one with `--metrics off`, each loaded by its own wrk (-t1 -c16, the
# default list query, per_page 10) for SECS seconds, both at once. Running both together puts
# every bit of machine noise (other people's builds on a shared machine) on both alike; the
# kernel shares the CPU between them, so the requests per second of each measure its cost per
# request. ROUNDS rounds, the ports and the start order swapped every round. Prints every run,
# then N, median and p99 of req/s and latency per mode, the median of the per-round ratios,
# and the overhead of metrics.
# Usage: bash bench/metrics.sh [JOBS] [ROUNDS] [SECS]   (needs wrk: apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-100000}
ROUNDS=${2:-10}
SECS=${3:-10}
BIN=${TRAINYARD_BIN:-./target/release/trainyard}
[ -x "$BIN" ] || cargo build --release --locked -p trainyard
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install -y wrk)"; exit 1; }
WORK=$(mktemp -d)
PROJECT=bench0123456789
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop; rm -rf "$WORK"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # mode data-dir port
  "$BIN" serve --insecure-no-auth --listen "127.0.0.1:$3" --data-dir "$2" --metrics "$1" --max-jobs 10000000 \
    > "$WORK/server-$1.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$3/healthz" && return; sleep 0.1; done
  echo "server did not start"; exit 1
}
P1=$(free_port); P2=$(free_port)
"$BIN" bench gen --jobs "$JOBS" --seed 1 --out "$WORK/h.ndjson"
start public "$WORK/public" "$P1"
"$BIN" --endpoint "http://127.0.0.1:$P1" --project "$PROJECT" import "$WORK/h.ndjson" > /dev/null
stop
cp -a "$WORK/public" "$WORK/off"
rm -f "$WORK/off/serve.lock"
url() { echo "http://127.0.0.1:$1/v1/$PROJECT/training-jobs?per_page=10&page=1&sortBy=create_time&order=desc"; }
echo "round mode req_per_s p50_ms p99_ms"
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then order="public off"; pp=$P1; po=$P2; else order="off public"; pp=$P2; po=$P1; fi
  for mode in $order; do
    if [ "$mode" = public ]; then start public "$WORK/public" "$pp"; else start off "$WORK/off" "$po"; fi
  done
  # warm-up, both at once
  wrk -t1 -c16 -d2s "$(url "$pp")" > /dev/null & w1=$!
  wrk -t1 -c16 -d2s "$(url "$po")" > /dev/null & w2=$!
  wait "$w1" "$w2"
  wrk -t1 -c16 -d"${SECS}s" --latency "$(url "$pp")" > "$WORK/public.out" & w1=$!
  wrk -t1 -c16 -d"${SECS}s" --latency "$(url "$po")" > "$WORK/off.out" & w2=$!
  wait "$w1" "$w2"
  stop
  for mode in public off; do
    out=$(cat "$WORK/$mode.out")
    rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    echo "$r $mode $rps $p50 $p99" | tee -a "$WORK/runs.txt"
  done
done
python3 - "$WORK/runs.txt" "$JOBS" "$SECS" <<'PY'
import statistics, sys
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit) and (unit != "s" or not v.endswith(("us", "ms"))):
            return float(v[: -len(unit)]) * f
    return float(v)
runs, rounds = {}, {}
for line in open(sys.argv[1]):
    r, mode, rps, p50, p99 = line.split()
    runs.setdefault(mode, []).append((float(rps), ms(p50), ms(p99)))
    rounds.setdefault(r, {})[mode] = float(rps)
print(f"\njobs {sys.argv[2]}; per round both servers at once, each under wrk -t1 -c16 -d{sys.argv[3]}s "
      "on the default list query (per_page 10)")
print("| metrics | N runs | req/s median | req/s worst | latency p50 median (ms) | latency p99 median (ms) | latency p99 worst (ms) |")
print("|---|---|---|---|---|---|---|")
med = {}
for mode in ("public", "off"):
    r = runs[mode]
    med[mode] = statistics.median(x[0] for x in r)
    print(f"| {mode} | {len(r)} | {med[mode]:.0f} | {min(x[0] for x in r):.0f} | "
          f"{statistics.median(x[1] for x in r):.3f} | {statistics.median(x[2] for x in r):.3f} | {max(x[2] for x in r):.3f} |")
ratios = sorted(v["public"] / v["off"] for v in rounds.values() if len(v) == 2)
print(f"per-round ratio public/off: median {statistics.median(ratios):.3f}, min {ratios[0]:.3f}, max {ratios[-1]:.3f} (N {len(ratios)})")
print(f"overhead of metrics: {100 * (1 - statistics.median(ratios)):.1f}% (median of per-round ratios), "
      f"{100 * (med['off'] - med['public']) / med['off']:.1f}% (ratio of medians); target <= 3%")
PY
