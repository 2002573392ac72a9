#!/usr/bin/env bash
# The cost of metrics on the job list's throughput, side by side: two copies of one data
# directory of JOBS imported jobs, served at the same time by two servers, one with
# `--metrics public` and one with `--metrics off`, each loaded by its own wrk (-t1 -c16, the
# default list query, per_page 10) for SECS seconds, both at once. Running both together puts
# every bit of machine noise (other people's builds on a shared machine) on both alike; the
# kernel shares the CPU between them, so the requests per second of each measure its cost per
# request; each server's CPU time (utime + stime from /proc) over the measured seconds divided
# by the requests it answered gives its CPU cost per request, which machine load does not skew.
# ROUNDS rounds, the ports and the start order swapped every round. Prints every run, then N,
# median and p99 of req/s, latency and CPU per request per mode, the median of the per-round
# ratios, and the overhead of metrics.
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
  eval "PID_$1=$!"
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
echo "round mode req_per_s p50_ms p99_ms cpu_us_per_req"
for r in $(seq 1 "$ROUNDS"); do
  if (( r % 2 )); then order="public off"; pp=$P1; po=$P2; else order="off public"; pp=$P2; po=$P1; fi
  for mode in $order; do
    if [ "$mode" = public ]; then start public "$WORK/public" "$pp"; else start off "$WORK/off" "$po"; fi
  done
  # warm-up, both at once
  wrk -t1 -c16 -d2s "$(url "$pp")" > /dev/null & w1=$!
  wrk -t1 -c16 -d2s "$(url "$po")" > /dev/null & w2=$!
  wait "$w1" "$w2"
  t0_public=$(cpu_ticks "$PID_public"); t0_off=$(cpu_ticks "$PID_off")
  wrk -t1 -c16 -d"${SECS}s" --latency "$(url "$pp")" > "$WORK/public.out" & w1=$!
  wrk -t1 -c16 -d"${SECS}s" --latency "$(url "$po")" > "$WORK/off.out" & w2=$!
  wait "$w1" "$w2"
  t1_public=$(cpu_ticks "$PID_public"); t1_off=$(cpu_ticks "$PID_off")
  stop
  for mode in public off; do
    out=$(cat "$WORK/$mode.out")
    rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    n=$(awk '/requests in/{print $1}' <<<"$out")
    t0=t0_$mode; t1=t1_$mode
    cpu=$(python3 -c "print(f'{($((${!t1} - ${!t0}))) * $TICK_US / $n:.2f}')")
    echo "$r $mode $rps $p50 $p99 $cpu" | tee -a "$WORK/runs.txt"
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
    r, mode, rps, p50, p99, cpu = line.split()
    runs.setdefault(mode, []).append((float(rps), ms(p50), ms(p99), float(cpu)))
    rounds.setdefault(r, {})[mode] = (float(rps), float(cpu))
print(f"\njobs {sys.argv[2]}; per round both servers at once, each under wrk -t1 -c16 -d{sys.argv[3]}s "
      "on the default list query (per_page 10)")
print("| metrics | N runs | req/s median | req/s worst | latency p50 median (ms) | latency p99 median (ms) | latency p99 worst (ms) | CPU µs/request median | CPU µs/request p99 |")
print("|---|---|---|---|---|---|---|---|---|")
med = {}
for mode in ("public", "off"):
    r = runs[mode]
    med[mode] = statistics.median(x[0] for x in r)
    print(f"| {mode} | {len(r)} | {med[mode]:.0f} | {min(x[0] for x in r):.0f} | "
          f"{statistics.median(x[1] for x in r):.3f} | {statistics.median(x[2] for x in r):.3f} | {max(x[2] for x in r):.3f} | "
          f"{statistics.median(x[3] for x in r):.2f} | {sorted(x[3] for x in r)[min(len(r) - 1, round(0.99 * (len(r) - 1)))]:.2f} |")
pairs = [v for v in rounds.values() if len(v) == 2]
rps = sorted(v["public"][0] / v["off"][0] for v in pairs)
cpu = sorted(v["public"][1] / v["off"][1] for v in pairs)
print(f"per-round throughput ratio public/off: median {statistics.median(rps):.3f}, min {rps[0]:.3f}, max {rps[-1]:.3f} (N {len(rps)})")
print(f"per-round CPU-per-request ratio public/off: median {statistics.median(cpu):.3f}, min {cpu[0]:.3f}, max {cpu[-1]:.3f} (N {len(cpu)})")
print(f"overhead of metrics: throughput {100 * (1 - statistics.median(rps)):.1f}% (median of per-round ratios; "
      f"{100 * (med['off'] - med['public']) / med['off']:.1f}% as ratio of medians), "
      f"CPU per request {100 * (statistics.median(cpu) - 1):.1f}% (median of per-round ratios); target <= 3%")
PY
