#!/usr/bin/env bash
# PostgreSQL and replica figures of issue 12, side by side with SQLite in one run:
#   bash bench/postgres.sh [N]        (default N = 1000000)
# Builds release, starts a throwaway PostgreSQL cluster (.ci/postgres.sh; stopped by PID at
# exit), then runs on fresh databases:
#   1. `trainyard bench list --jobs N` on SQLite (the reference of the same run),
#   2. `trainyard bench list --jobs N --database postgres://…` (import jobs/s, list p50/p99,
#      differential against list_jobs_sql on PostgreSQL, restart-to-serving),
#   3. `trainyard bench replicas --database postgres://…` (create latency, cross-replica
#      visibility, leader failover after SIGKILL).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
cargo build --release -p trainyard
eval "$(bash .ci/postgres.sh start)"
trap 'bash .ci/postgres.sh stop "$TRAINYARD_PG_DIR"' EXIT
BIN=target/release/trainyard
echo "== SQLite, N = $N"
$BIN bench list --jobs "$N" --wrk-secs 0
echo "== PostgreSQL, N = $N"
$BIN bench list --jobs "$N" --wrk-secs 0 --database "$(bash .ci/postgres.sh createdb bench_list)"
echo "== replicas on PostgreSQL"
$BIN bench replicas --database "$(bash .ci/postgres.sh createdb bench_replicas)"
