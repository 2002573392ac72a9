#!/usr/bin/env bash
# PostgreSQL and replica figures of issue 12, side by side with SQLite in one run:
#   bash bench/postgres.sh [N]        (default N = 1000000)
# Builds release, starts a throwaway PostgreSQL cluster (.ci/postgres.sh; stopped by PID at
# exit), then runs on fresh databases:
#   1. `trainyard bench list --jobs N` on SQLite (the reference of the same run),
#   2. `trainyard bench list --jobs N --database postgres://…` (import jobs/s, list p50/p99,
#      differential against list_jobs_sql on PostgreSQL, restart-to-serving),
#   3. `trainyard bench create --database postgres://…` (create latency on an idle server,
#      SQLite and PostgreSQL side by side: each job ends before the next create),
#   4. `trainyard bench replicas --database postgres://…` (create latency with runs executing,
#      cross-replica visibility, leader failover after SIGKILL).
# Bounded: list repetitions REPS (default 100) per query, DIFF (default 10) differential
# queries per engine, CREATES (default 1000) idle creates per engine; about 10-15 min at 1M on
# the 2-core machine when it is quiet. `uptime` is printed before and after (say the load).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
REPS="${REPS:-100}"
DIFF="${DIFF:-10}"
CREATES="${CREATES:-1000}"
cargo build --release -p trainyard
eval "$(bash .ci/postgres.sh start)"
trap 'bash .ci/postgres.sh stop "$TRAINYARD_PG_DIR"' EXIT
BIN=target/release/trainyard
echo "== load before: $(uptime)"
echo "== SQLite, N = $N"
$BIN bench list --jobs "$N" --wrk-secs 0 --reps "$REPS" --diff-queries "$DIFF"
echo "== PostgreSQL, N = $N"
$BIN bench list --jobs "$N" --wrk-secs 0 --reps "$REPS" --diff-queries "$DIFF" \
  --database "$(bash .ci/postgres.sh createdb bench_list)"
echo "== create on an idle server, SQLite and PostgreSQL"
$BIN bench create --creates "$CREATES" --database "$(bash .ci/postgres.sh createdb bench_create)"
echo "== replicas on PostgreSQL"
$BIN bench replicas --database "$(bash .ci/postgres.sh createdb bench_replicas)"
echo "== load after: $(uptime)"
