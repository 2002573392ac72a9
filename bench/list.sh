#!/usr/bin/env bash
# The job-list benchmark (issue 6; issue 2's first benchmark is N=100000):
#   bash bench/list.sh [N] [extra `trainyard bench list` flags...]
# Builds release, starts `trainyard serve --insecure-no-auth` on 127.0.0.1 with a fresh data
# directory, imports N generated jobs, prints the query table, the differential check against
# the SQL reference, wrk throughput (if installed), RSS and restart-to-serving time.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
shift || true
cargo build --release -p trainyard
exec target/release/trainyard bench list --jobs "$N" "$@"
