#!/usr/bin/env bash
# Slurm executor benchmarks (figures for the notes, not timed tests): create->RUNNING vs plain
# sbatch, Slurm calls and server CPU with 1,000 versions queued/running, list latency at 100k jobs
# while versions churn. Starts a two-node Slurm cluster (tests/slurm/slurm-local-up.sh) and a
# release server (--executor slurm, Slurm commands behind logging wrappers that count calls) in a
# temporary directory on free ports, and stops both by PID at the end. Extra arguments go to
# bench/slurm.py (e.g. --n 40 --versions 1000 --window 60 --only latency,poll,list).
set -euo pipefail
cd "$(dirname "$0")/.."
# TRAINYARD_BIN: an already built binary to measure (e.g. main's, for a before/after)
if [ -z "${TRAINYARD_BIN:-}" ]; then
  cargo build --release -q --locked -p trainyard
fi
BIN=${TRAINYARD_BIN:-$PWD/target/release/trainyard}
W=$(mktemp -d /tmp/ty-slurm-bench.XXXXXX)
chmod 755 "$W"   # munged wants every directory above its socket a+x
read -r CTLD SLURMD PORT < <(python3 -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
taken = set()
def pick(n):
    while True:
        p = random.randint(20000, 59000)
        span = set(range(p, p + n))
        if not (span & taken) and all(free(q) for q in span):
            taken.update(span); return p
print(pick(1), pick(2), pick(1))')
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  bash tests/slurm/slurm-local-down.sh "$W/cluster" --purge >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
SLURM_LOCAL_CTLD_PORT=$CTLD SLURM_LOCAL_SLURMD_PORT=$SLURMD SLURM_LOCAL_NODES=2 SLURM_LOCAL_CPUS=8 \
SLURM_LOCAL_WARMUP=1 bash tests/slurm/slurm-local-up.sh "$W/cluster" > "$W/up.log"
export SLURM_CONF=$W/cluster/etc/slurm.conf
# the server's Slurm commands, each call logged (one line per call) before running the real one
mkdir -p "$W/bin"
for c in sbatch squeue sacct scancel scontrol sinfo srun; do
  real=$(command -v "$c")
  printf '#!/bin/sh\necho %s >> %s/calls\nexec %s "$@"\n' "$c" "$W" "$real" > "$W/bin/$c"
  chmod 755 "$W/bin/$c"
done
INTERVAL=${INTERVAL_MS:-1000}
mkdir -p "$W/data"
cat > "$W/data/trainyard.toml" <<EOF
quotas = 5000
max_running = 5000
max_jobs = 200000
stop_grace_secs = 2
[executor]
kind = "slurm"
[executor.slurm]
bin_dir = "$W/bin"
shared_dir = "$W/shared"
poll_interval_ms = $INTERVAL
EOF
"$BIN" serve --insecure-no-auth --listen "127.0.0.1:$PORT" --data-dir "$W/data" > "$W/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/v1/0123456789abcdef0123456789abcdef/job/ai-engines" >/dev/null 2>&1 && break
  sleep 0.1
done
# 100,000 jobs in the project (history import), so the list is measured at that size
JOBS=${JOBS:-100000}
"$BIN" bench gen --jobs "$JOBS" --seed 1 --out "$W/jobs.ndjson"
split -l 20000 "$W/jobs.ndjson" "$W/part."
for f in "$W"/part.*; do
  curl -sf -XPOST -H 'content-type: application/x-ndjson' --data-binary "@$f" \
    "http://127.0.0.1:$PORT/trainyard/v1/0123456789abcdef0123456789abcdef/job-history" >/dev/null
done
echo "# trainyard Slurm executor benchmark: 2 slurmd nodes x 8 CPUs on this host, poll every ${INTERVAL} ms, $JOBS imported jobs"
python3 bench/slurm.py --bin "$BIN" --endpoint "http://127.0.0.1:$PORT" --pid "$SERVER" --calls "$W/calls" \
  --interval-ms "$INTERVAL" "$@"
